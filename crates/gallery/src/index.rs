//! The backend index: LocalAI's `backend/index.yaml` shape, parsed from untrusted text.
//!
//! An index is someone else's format and hostile input: unknown fields are kept (not rejected),
//! anchors, aliases and `!!merge <<:` keys are resolved, and every problem is a typed error
//! rather than a panic. The index never carries trust: policies live in the operator config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use yaml_serde::Value;

use crate::EntryName;

/// The largest index accepted, in bytes. LocalAI's real index is about 250 KiB.
pub const MAX_INDEX_BYTES: usize = 16 * 1024 * 1024;

/// One entry of a backend index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendEntry {
    /// The entry's name, unique within the index; a single safe path component.
    pub name: EntryName,
    /// Where the backend comes from: an OCI reference, `oci-layout:…`, or an HTTP(S) or `file://` tarball.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Other locations of the same backend, tried only when `uri` is unavailable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<String>,
    /// The expected sha256 of a tarball.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The name under which the backend is installed, when it differs from `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<EntryName>,
    /// A version label (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// For meta entries: capability (`default`, `nvidia`, `metal`, …) → concrete entry name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capabilities: BTreeMap<String, EntryName>,
    /// Every other field, kept as written.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl BackendEntry {
    /// A meta entry names other entries by capability and has no location of its own.
    pub fn is_meta(&self) -> bool {
        !self.capabilities.is_empty() && self.uri.as_deref().is_none_or(|u| u.trim().is_empty())
    }
}

/// A parsed backend index.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendIndex {
    entries: Vec<BackendEntry>,
}

/// Why an index could not be parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The text is larger than [`MAX_INDEX_BYTES`].
    #[error("backend index is {size} bytes, over the {MAX_INDEX_BYTES}-byte limit")]
    TooLarge {
        /// The size seen.
        size: usize,
    },
    /// The text is not YAML, or a merge key is malformed.
    #[error("backend index is not valid YAML{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Yaml {
        /// The parser's line, 1-based, when it gives one.
        line: Option<usize>,
        /// What the parser said.
        message: String,
    },
    /// The document is not a list of entries.
    #[error("backend index must be a YAML list of entries, found {found}")]
    NotAList {
        /// What the document is instead.
        found: &'static str,
    },
    /// An entry does not have the shape of a backend entry.
    #[error("backend index entry #{position}{}: {message}", name.as_ref().map(|n| format!(" ({n:?})")).unwrap_or_default())]
    BadEntry {
        /// 1-based position in the list.
        position: usize,
        /// The entry's name, when it has a readable one.
        name: Option<String>,
        /// What is wrong.
        message: String,
    },
}

/// Why a name could not be resolved to a concrete entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// No entry has that name or alias.
    #[error("no backend named {name:?} in the index; `trustpull list` shows the available names")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// Several different entries share the name, so picking one would be a guess.
    #[error("the index has {count} different entries named {name:?}; refusing to guess which one to install")]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// How many distinct entries carry it.
        count: usize,
    },
    /// A meta entry has neither the capability nor `default`.
    #[error("meta backend {name:?} has no entry for capability {capability:?} and no default; it offers: {offered}")]
    NoCapability {
        /// The meta entry.
        name: String,
        /// The capability asked for.
        capability: String,
        /// The capabilities it has, comma separated.
        offered: String,
    },
    /// A meta entry points at another meta entry (chains are not followed).
    #[error("meta backend {name:?} maps capability {capability:?} to {target:?}, which is itself a meta entry")]
    MetaChain {
        /// The meta entry.
        name: String,
        /// The capability used.
        capability: String,
        /// The entry it points at.
        target: String,
    },
}

impl BackendIndex {
    /// Parses index text (YAML with anchors, aliases and merge keys).
    pub fn parse(text: &str) -> Result<Self, IndexError> {
        if text.len() > MAX_INDEX_BYTES {
            return Err(IndexError::TooLarge { size: text.len() });
        }
        let yaml_err = |e: yaml_serde::Error| IndexError::Yaml {
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        };
        let mut doc: Value = yaml_serde::from_str(text).map_err(yaml_err)?;
        doc.apply_merge().map_err(yaml_err)?;
        let items = match doc {
            Value::Sequence(items) => items,
            Value::Null => Vec::new(),
            other => {
                return Err(IndexError::NotAList {
                    found: kind(&other),
                })
            }
        };
        let entries = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let name = item.get("name").and_then(Value::as_str).map(str::to_owned);
                yaml_serde::from_value::<BackendEntry>(item).map_err(|e| IndexError::BadEntry {
                    position: i + 1,
                    name,
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { entries })
    }

    /// Every entry, in index order (duplicates included, as written).
    pub fn entries(&self) -> &[BackendEntry] {
        &self.entries
    }

    /// The entry called `name` (or, failing that, the single entry whose alias is `name`).
    /// Identical duplicates are one entry; differing duplicates are [`LookupError::Ambiguous`].
    pub fn get(&self, name: &str) -> Result<&BackendEntry, LookupError> {
        let by_name: Vec<&BackendEntry> = self.entries.iter().filter(|e| e.name == *name).collect();
        let candidates = if by_name.is_empty() {
            self.entries
                .iter()
                .filter(|e| e.alias.as_ref().is_some_and(|a| a == name))
                .collect()
        } else {
            by_name
        };
        let mut distinct: Vec<&BackendEntry> = Vec::new();
        for entry in candidates {
            if !distinct.contains(&entry) {
                distinct.push(entry);
            }
        }
        match distinct.as_slice() {
            [] => Err(LookupError::NotFound {
                name: name.to_owned(),
            }),
            [one] => Ok(one),
            many => Err(LookupError::Ambiguous {
                name: name.to_owned(),
                count: many.len(),
            }),
        }
    }

    /// Resolves `name` to a concrete entry: a meta entry maps `capability` (falling back to
    /// `default`) to the entry to install.
    pub fn resolve(&self, name: &str, capability: &str) -> Result<&BackendEntry, LookupError> {
        let entry = self.get(name)?;
        if !entry.is_meta() {
            return Ok(entry);
        }
        let (used, target) = entry
            .capabilities
            .get_key_value(capability)
            .or_else(|| entry.capabilities.get_key_value("default"))
            .ok_or_else(|| LookupError::NoCapability {
                name: entry.name.to_string(),
                capability: capability.to_owned(),
                offered: entry
                    .capabilities
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let concrete = self.get(target.as_str())?;
        if concrete.is_meta() {
            return Err(LookupError::MetaChain {
                name: entry.name.to_string(),
                capability: used.clone(),
                target: target.to_string(),
            });
        }
        Ok(concrete)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_anchor_and_unknown_fields() {
        let text = "
- &base
  name: meta
  license: mit
  capabilities: { default: cpu-x, nvidia: cuda-x }
- !!merge <<: *base
  name: cpu-x
  uri: example.com/x:cpu
- <<: *base
  name: cuda-x
  uri: example.com/x:cuda
  mirrors: [mirror.example.com/x:cuda]
";
        let index = BackendIndex::parse(text).unwrap();
        assert_eq!(index.entries().len(), 3);
        let cpu = index.resolve("meta", "intel").unwrap();
        assert_eq!(
            cpu.uri.as_deref(),
            Some("example.com/x:cpu"),
            "unknown capability falls back to default"
        );
        assert_eq!(
            cpu.extra.get("license"),
            Some(&Value::String("mit".into())),
            "unknown fields are kept"
        );
        assert_eq!(
            index.resolve("meta", "nvidia").unwrap().mirrors,
            ["mirror.example.com/x:cuda"]
        );
        assert!(
            !cpu.is_meta(),
            "an entry that inherited capabilities but has a uri is concrete"
        );
    }

    #[test]
    fn lookup_errors() {
        let index = BackendIndex::parse(
            "[{name: a, uri: x}, {name: a, uri: y}, {name: m, capabilities: {nvidia: a}}, {name: c, capabilities: {default: m}}]",
        )
        .unwrap();
        assert!(matches!(
            index.get("a"),
            Err(LookupError::Ambiguous { count: 2, .. })
        ));
        assert!(matches!(index.get("zz"), Err(LookupError::NotFound { .. })));
        assert!(matches!(
            index.resolve("m", "metal"),
            Err(LookupError::NoCapability { .. })
        ));
        assert!(matches!(
            index.resolve("c", "default"),
            Err(LookupError::MetaChain { .. })
        ));
    }

    #[test]
    fn parse_errors_are_typed() {
        assert!(matches!(
            BackendIndex::parse("name: x"),
            Err(IndexError::NotAList { found: "a mapping" })
        ));
        assert!(matches!(
            BackendIndex::parse("- [unclosed"),
            Err(IndexError::Yaml { line: Some(_), .. })
        ));
        assert!(matches!(
            BackendIndex::parse("- {uri: x}"),
            Err(IndexError::BadEntry {
                position: 1,
                name: None,
                ..
            })
        ));
        assert!(matches!(
            BackendIndex::parse("- <<: 3\n  name: x"),
            Err(IndexError::Yaml { .. })
        ));
        assert!(matches!(
            BackendIndex::parse("- *nope"),
            Err(IndexError::Yaml { .. })
        ));
        assert_eq!(BackendIndex::parse("").unwrap().entries().len(), 0);
    }

    #[test]
    fn hostile_names_are_load_errors_naming_the_entry() {
        for (text, position, named) in [
            ("[{name: '..', uri: x}]", 1, Some("..")),
            ("[{name: /abs, uri: x}]", 1, Some("/abs")),
            ("[{name: '', uri: x}]", 1, Some("")),
            ("[{name: a/b, uri: x}]", 1, Some("a/b")),
            ("[{name: '.', uri: x}]", 1, Some(".")),
            (
                "[{name: x.receipt.json, uri: x}]",
                1,
                Some("x.receipt.json"),
            ),
            (
                "[{name: ok, uri: x}, {name: llama, capabilities: {default: ../victim}}]",
                2,
                Some("llama"),
            ),
            (
                "[{name: llama, capabilities: {default: /etc}}]",
                1,
                Some("llama"),
            ),
            ("[{name: ok, uri: x, alias: ../victim}]", 1, Some("ok")),
            ("[{name: ok, uri: x, alias: ''}]", 1, Some("ok")),
            ("[{name: 7, uri: x}]", 1, None),
        ] {
            match BackendIndex::parse(text) {
                Err(IndexError::BadEntry {
                    position: p,
                    name,
                    message,
                }) => {
                    assert_eq!((p, name.as_deref()), (position, named), "{text}");
                    assert!(
                        message.contains("is not a valid backend name") || named.is_none(),
                        "{text}: {message}"
                    );
                }
                other => panic!("{text}: expected a bad entry, got {other:?}"),
            }
        }
    }

    #[test]
    fn billion_laughs_is_an_error_not_a_hang() {
        let mut text = String::from("- &a0 {name: x}\n");
        for i in 1..30 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!(
                "- &a{i} [{prev}, {prev}, {prev}, {prev}, {prev}, {prev}, {prev}, {prev}]\n"
            ));
        }
        assert!(BackendIndex::parse(&text).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in ".{0,400}") {
            let _ = BackendIndex::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_yamlish(text in "([-:&*<!{}\\[\\], \n]|name|uri|a|b){0,80}") {
            if let Ok(index) = BackendIndex::parse(&text) {
                for e in index.entries() {
                    let _ = index.resolve(e.name.as_str(), "default");
                }
            }
        }
    }
}
