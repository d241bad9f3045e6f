//! A TUF repository for tests: signed `root` / `timestamp` / `snapshot` / `targets` metadata with
//! consistent snapshots, holding a `trusted_root.json` target (usually the virtual Sigstore's),
//! written to disk or served from wiremock, with a knob for each way a mirror can go wrong.
//!
//! Keys are the virtual Sigstore's deterministic P-256 keys (`ecdsa-sha2-nistp256`, DER
//! signatures in hex, key IDs the sha256 of the key's canonical JSON). Signatures cover OLPC
//! canonical JSON, encoded here independently of the client under test (sigstore-tuf has its
//! own encoder): a difference between the two shows up as a failed signature.
//!
//! Root version `k` names keys `root-k`, `timestamp-k`, `snapshot-k` and `targets-k`, and is
//! signed by root keys `k-1` and `k` (a valid rotation chain), so metadata signed for one root
//! does not pass under another.
//!
//! ```
//! use trustpull_testkit::tuf::{TufRepository, TufState};
//! let repo = TufRepository::new(b"seed");
//! let files = repo.files(&TufState::new(1, b"{}".to_vec()));
//! assert!(files.contains_key("timestamp.json"));
//! assert!(files.contains_key("1.snapshot.json"));
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::sigstore::key::FixtureKey;

/// The target name Sigstore's TUF repositories publish the trusted root under.
pub const TARGET: &str = "trusted_root.json";

/// One way to get the published repository wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TufFault {
    /// `timestamp.json` is signed by a key the root does not name (a forged repository).
    BadSignature,
    /// The target file served is not the one `targets` pins (same length, one byte differs).
    TargetHashMismatch,
    /// `timestamp.json` is not JSON at all.
    Garbage,
    /// The newest root is signed only by its own keys, not by the previous root's.
    BrokenRootChain,
}

/// What the repository publishes: versions, expiries, the target, and at most one fault.
#[derive(Debug, Clone)]
pub struct TufState {
    /// Version of `timestamp`, `snapshot` and `targets` (all the same, for simplicity).
    pub version: u64,
    /// The newest root version; roots `1..=root_version` are published (1 = no rotation).
    pub root_version: u64,
    /// The `trusted_root.json` target.
    pub target: Vec<u8>,
    /// Expiry of every root.
    pub root_expires: DateTime<Utc>,
    /// Expiry of the timestamp (in the past = a freeze).
    pub timestamp_expires: DateTime<Utc>,
    /// Expiry of snapshot and targets.
    pub expires: DateTime<Utc>,
    /// What to get wrong.
    pub fault: Option<TufFault>,
}

/// A time far in the future, for metadata that must not expire in a test.
pub fn far_future() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

/// A time far in the past, for metadata that must have expired.
pub fn long_ago() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

impl TufState {
    /// Version `version` holding `target`, root version 1, nothing expired, no fault.
    pub fn new(version: u64, target: Vec<u8>) -> Self {
        Self {
            version,
            root_version: 1,
            target,
            root_expires: far_future(),
            timestamp_expires: far_future(),
            expires: far_future(),
            fault: None,
        }
    }

    /// The same state with `fault`.
    #[must_use]
    pub fn with_fault(mut self, fault: TufFault) -> Self {
        self.fault = Some(fault);
        self
    }

    /// The same state with roots up to `root_version`.
    #[must_use]
    pub fn with_root_version(mut self, root_version: u64) -> Self {
        self.root_version = root_version;
        self
    }
}

/// A TUF repository's keys (derived from a seed) and the code that signs states with them.
pub struct TufRepository {
    seed: Vec<u8>,
}

impl TufRepository {
    /// The repository whose keys derive from `seed`.
    pub fn new(seed: &[u8]) -> Self {
        Self {
            seed: seed.to_vec(),
        }
    }

    fn key(&self, label: &str) -> FixtureKey {
        let mut seed = b"tuf:".to_vec();
        seed.extend_from_slice(&self.seed);
        FixtureKey::derive(&seed, label)
    }

    /// `1.root.json`: what a client is given to start trusting this repository from.
    pub fn initial_root(&self) -> Vec<u8> {
        self.root(1, far_future(), false)
    }

    /// Every file the repository serves for `state`, by path relative to its base URL
    /// (targets under `targets/`).
    pub fn files(&self, state: &TufState) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        let rv = state.root_version.max(1);
        for k in 1..=rv {
            let broken = state.fault == Some(TufFault::BrokenRootChain) && k == rv;
            files.insert(
                format!("{k}.root.json"),
                self.root(k, state.root_expires, broken),
            );
        }
        let v = state.version;
        let expires = iso(state.expires);

        let target_hash = hex::encode(Sha256::digest(&state.target));
        let targets = self.sign(
            &json!({
                "_type": "targets",
                "spec_version": "1.0.31",
                "version": v,
                "expires": expires,
                "targets": {TARGET: {"length": state.target.len(), "hashes": {"sha256": target_hash}}},
            }),
            &[self.key(&format!("targets-{rv}"))],
        );
        let snapshot = self.sign(
            &json!({
                "_type": "snapshot",
                "spec_version": "1.0.31",
                "version": v,
                "expires": expires,
                "meta": {"targets.json": {"version": v}},
            }),
            &[self.key(&format!("snapshot-{rv}"))],
        );
        let timestamp_signer = if state.fault == Some(TufFault::BadSignature) {
            self.key("intruder")
        } else {
            self.key(&format!("timestamp-{rv}"))
        };
        let timestamp = self.sign_as(
            &json!({
                "_type": "timestamp",
                "spec_version": "1.0.31",
                "version": v,
                "expires": iso(state.timestamp_expires),
                "meta": {"snapshot.json": {
                    "version": v,
                    "length": snapshot.len(),
                    "hashes": {"sha256": hex::encode(Sha256::digest(&snapshot))},
                }},
            }),
            &[(
                key_id(&self.key(&format!("timestamp-{rv}"))),
                &timestamp_signer,
            )],
        );
        let served_target = if state.fault == Some(TufFault::TargetHashMismatch) {
            let mut other = state.target.clone();
            if let Some(last) = other.last_mut() {
                *last ^= 0x20;
            }
            other
        } else {
            state.target.clone()
        };
        files.insert(format!("targets/{target_hash}.{TARGET}"), served_target);
        files.insert(format!("{v}.targets.json"), targets);
        files.insert(format!("{v}.snapshot.json"), snapshot);
        files.insert(
            "timestamp.json".to_owned(),
            if state.fault == Some(TufFault::Garbage) {
                b"\x00\x01 not json {".to_vec()
            } else {
                timestamp
            },
        );
        files
    }

    /// Writes `state`'s files under `dir`.
    pub fn write_to(&self, state: &TufState, dir: &Path) -> std::io::Result<()> {
        for (name, bytes) in self.files(state) {
            let path = dir.join(&name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, bytes)?;
        }
        Ok(())
    }

    /// Root version `k`: keys for version `k`, signed by root keys `k-1` (unless `broken`)
    /// and `k`.
    fn root(&self, k: u64, expires: DateTime<Utc>, broken: bool) -> Vec<u8> {
        let mut keys = Map::new();
        let mut roles = Map::new();
        for role in ["root", "timestamp", "snapshot", "targets"] {
            let key = self.key(&format!("{role}-{k}"));
            let id = key_id(&key);
            keys.insert(id.clone(), key_json(&key));
            roles.insert(role.to_owned(), json!({"keyids": [id], "threshold": 1}));
        }
        let signed = json!({
            "_type": "root",
            "spec_version": "1.0.31",
            "version": k,
            "expires": iso(expires),
            "consistent_snapshot": true,
            "keys": keys,
            "roles": roles,
        });
        let mut signers = vec![self.key(&format!("root-{k}"))];
        if k > 1 && !broken {
            signers.push(self.key(&format!("root-{}", k - 1)));
        }
        self.sign(&signed, &signers)
    }

    fn sign(&self, signed: &Value, keys: &[FixtureKey]) -> Vec<u8> {
        let labelled: Vec<(String, &FixtureKey)> = keys.iter().map(|k| (key_id(k), k)).collect();
        self.sign_as(signed, &labelled)
    }

    /// Signs with each key, labelling its signature with the key ID beside it (a forgery when
    /// they differ).
    fn sign_as(&self, signed: &Value, keys: &[(String, &FixtureKey)]) -> Vec<u8> {
        let bytes = canonical(signed);
        let signatures: Vec<Value> = keys
            .iter()
            .map(|(id, key)| json!({"keyid": id, "sig": hex::encode(key.sign(&bytes))}))
            .collect();
        crate::json::to_vec_pretty(&json!({"signed": signed, "signatures": signatures}))
    }

    /// Serves `state` from `server`, replacing whatever it served before; other paths answer
    /// 404 (which ends the client's walk of the root chain).
    pub async fn serve(&self, state: &TufState, server: &MockServer) {
        server.reset().await;
        for (name, bytes) in self.files(state) {
            Mock::given(method("GET"))
                .and(path(format!("/{name}")))
                .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes))
                .mount(server)
                .await;
        }
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

fn key_json(key: &FixtureKey) -> Value {
    json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": pem(&key.spki_der())}})
}

/// The TUF key ID: sha256 of the key object's canonical JSON.
fn key_id(key: &FixtureKey) -> String {
    hex::encode(Sha256::digest(canonical(&key_json(key))))
}

/// OLPC canonical JSON (what TUF signs): sorted keys, no whitespace, strings escaping only `\`
/// and `"`, integers only.
pub fn canonical(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => {
            out.push(b'"');
            for b in s.bytes() {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&Value::String(k.clone()), out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_keeps_newlines_raw() {
        let v = json!({"b": 1, "a": "x\ny\"z"});
        assert_eq!(canonical(&v), b"{\"a\":\"x\ny\\\"z\",\"b\":1}".to_vec());
    }

    #[test]
    fn a_state_publishes_consistent_snapshot_names() {
        let repo = TufRepository::new(b"t");
        let files = repo.files(&TufState::new(3, b"root".to_vec()).with_root_version(2));
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        let hash = hex::encode(Sha256::digest(b"root"));
        assert!(names.contains(&"1.root.json") && names.contains(&"2.root.json"));
        assert!(names.contains(&"3.snapshot.json") && names.contains(&"3.targets.json"));
        assert!(names.contains(&format!("targets/{hash}.trusted_root.json").as_str()));
    }
}
