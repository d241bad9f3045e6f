//! The optional `repository:` binding: which repository a verified signature
//! names. A legacy payload names it in `critical.identity.docker-reference`; a DSSE statement
//! in the `name` of the subject entry that holds the digest. A message-signature bundle names
//! none, so it cannot satisfy a binding.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use trustpull_policy::Digest;

use crate::CandidateReason;

/// The repositories a legacy simple-signing payload names (one, or none).
pub(crate) fn of_payload(payload: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| {
            v.pointer("/critical/identity/docker-reference")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .into_iter()
        .collect()
}

/// The names of `statement`'s subject entries whose sha256 is `digest`.
pub(crate) fn of_statement(statement: &Value, digest: &Digest) -> Vec<String> {
    statement
        .get("subject")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.pointer("/digest/sha256").and_then(Value::as_str) == Some(digest.hex()))
        .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The names a bundle's DSSE statement gives `digest` (none for a message signature).
pub(crate) fn of_bundle(bundle: &[u8], digest: &Digest) -> Vec<String> {
    let statement = serde_json::from_slice::<Value>(bundle)
        .ok()
        .and_then(|doc| {
            doc.pointer("/dsseEnvelope/payload")
                .and_then(Value::as_str)
                .and_then(|p| STANDARD.decode(p).ok())
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    statement
        .map(|s| of_statement(&s, digest))
        .unwrap_or_default()
}

/// `Ok` when `expected` is unset or among `found`.
pub(crate) fn check(expected: Option<&str>, found: Vec<String>) -> Result<(), CandidateReason> {
    match expected {
        Some(repo) if !found.iter().any(|f| f == repo) => Err(CandidateReason::Repository {
            expected: repo.to_owned(),
            found,
        }),
        _ => Ok(()),
    }
}
