//! JSON bytes with every object's keys in sorted order, whichever way serde_json is built.
//!
//! serde_json sorts object keys unless its `preserve_order` feature is on, and cargo turns that
//! feature on for the whole workspace as soon as any crate asks for it. Fixtures that are
//! committed and compared byte for byte (`examples/`, `tests/fixtures/scenarios/`) are written
//! through these functions so such a change elsewhere cannot alter them.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// `value` as compact JSON, object keys sorted.
pub fn to_vec(value: &Value) -> Vec<u8> {
    serde_json::to_vec(&Sorted(value)).expect("JSON values encode")
}

/// `value` as compact JSON text, object keys sorted.
pub fn to_string(value: &Value) -> String {
    String::from_utf8(to_vec(value)).expect("serde_json writes UTF-8")
}

/// `value` as pretty-printed JSON (two-space indent), object keys sorted.
pub fn to_vec_pretty(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(&Sorted(value)).expect("JSON values encode")
}

struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Sorted(value))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Sorted(item))?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let mut inner = serde_json::Map::new();
        inner.insert("z".into(), json!(1));
        inner.insert("a".into(), json!([{"y": 2, "b": 3}]));
        let mut outer = serde_json::Map::new();
        outer.insert("m".into(), serde_json::Value::Object(inner));
        outer.insert("c".into(), json!("x"));
        assert_eq!(
            super::to_vec(&serde_json::Value::Object(outer)),
            br#"{"c":"x","m":{"a":[{"b":3,"y":2}],"z":1}}"#
        );
    }
}
