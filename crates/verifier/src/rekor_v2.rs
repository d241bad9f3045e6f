//! Rekor v2 log entries (`dsse` and `hashedrekord` v0.0.2). sigstore-types 0.15.1 cannot parse
//! a `dsse` v0.0.2 entry (its `KindVersion` has no such kind, so the bundle does not even parse),
//! and sigstore-verify does not bind a `hashedrekord` v0.0.2 checkpoint to the log the entry
//! names.
//!
//! [`split`] takes the Rekor v2 entries out of the bundle JSON; the rest parses with
//! sigstore-types, and [`crate::keyless`] verifies the bundle, calling [`verify_body`] and
//! [`verify_inclusion`] for each Rekor v2 entry:
//!
//! - every log entry is Rekor v2 (a v1 entry in the same bundle is refused) and its body
//!   describes exactly this content: payload hash (DSSE) or artifact digest (hashedrekord: the
//!   image digest, or the PAE hash for an envelope), the one signature, and the certificate;
//! - the RFC 6962 inclusion proof of the body's leaf hash at the entry's log index reaches the
//!   root of the entry's checkpoint; the checkpoint's origin is the host of a trust-root log
//!   whose log id is the entry's, it carries a valid signature by that log's key (matched by the
//!   signed-note key hint, the first four bytes of the log id), and that key's `validFor` covers
//!   every verified time (a Rekor v2 entry has no integrated time and no SET: the times are the
//!   RFC 3161 tokens').
//!
//! Managed-key bundles still go through sigstore-verify; for `hashedrekord` v0.0.2 entries
//! [`confirm`] adds the Rekor v2 checks it does not make.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use sigstore_trust_root::TrustedRoot;
use sigstore_types::bundle::VerificationMaterialContent;
use sigstore_types::{Bundle, Checkpoint, HashAlgorithm, Sha256Hash, SignatureContent};
use sigstore_verify::rekor::body::RekorEntryBody;
use trustpull_policy::Digest;

use crate::{BundleRejection, TrustRoot};

/// A chrono time as jiff's (sigstore's time type).
pub(crate) fn to_jiff(t: DateTime<Utc>) -> Option<jiff::Timestamp> {
    jiff::Timestamp::new(
        t.timestamp(),
        i32::try_from(t.timestamp_subsec_nanos()).ok()?,
    )
    .ok()
}

/// The two Rekor v2 entry kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dsse,
    HashedRekord,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Dsse => "dsse",
            Self::HashedRekord => "hashedrekord",
        }
    }
}

/// A Rekor v2 log entry as the bundle carries it.
#[derive(Debug, Clone)]
pub(crate) struct V2Entry {
    kind: Kind,
    log_index: u64,
    log_id: Vec<u8>,
    body: Vec<u8>,
    hashes: Vec<Sha256Hash>,
    checkpoint: String,
}

impl V2Entry {
    /// The entry's index in its log.
    pub(crate) fn log_index(&self) -> u64 {
        self.log_index
    }

    /// Whether it is a `dsse` entry (sigstore-verify cannot take those).
    pub(crate) fn is_dsse(&self) -> bool {
        self.kind == Kind::Dsse
    }
}

/// A bundle with its Rekor v2 entries taken out.
#[derive(Debug)]
pub(crate) struct Split {
    /// The bundle JSON without them.
    pub(crate) rest: String,
    /// The entries.
    pub(crate) entries: Vec<V2Entry>,
}

fn malformed_entry(i: usize, what: &str) -> BundleRejection {
    BundleRejection::TransparencyLog {
        reason: format!("Rekor v2 entry {i}: {what}"),
    }
}

fn b64_field(v: &Value, pointer: &str, i: usize) -> Result<Vec<u8>, BundleRejection> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|s| STANDARD.decode(s).ok())
        .ok_or_else(|| malformed_entry(i, &format!("{pointer} is missing or not base64")))
}

fn u64_field(v: &Value, pointer: &str, i: usize) -> Result<u64, BundleRejection> {
    match v.pointer(pointer) {
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
    .ok_or_else(|| malformed_entry(i, &format!("{pointer} is missing or not an integer")))
}

fn parse_entry(v: &Value, kind: Kind, i: usize) -> Result<V2Entry, BundleRejection> {
    if v.pointer("/inclusionProof").is_none() {
        return Err(malformed_entry(i, "it has no inclusion proof"));
    }
    // Protobuf JSON leaves out an empty list: a one-leaf tree's proof has no hashes.
    let hashes = match v.pointer("/inclusionProof/hashes") {
        None => &[][..],
        Some(h) => h
            .as_array()
            .ok_or_else(|| malformed_entry(i, "its inclusion proof hashes are not a list"))?,
    };
    let hashes = hashes
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|s| STANDARD.decode(s).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(Sha256Hash::new)
                .ok_or_else(|| malformed_entry(i, "an inclusion proof hash is not 32 bytes"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let checkpoint = v
        .pointer("/inclusionProof/checkpoint/envelope")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed_entry(i, "its inclusion proof has no checkpoint"))?
        .to_owned();
    let entry = V2Entry {
        kind,
        log_index: u64_field(v, "/logIndex", i)?,
        log_id: b64_field(v, "/logId/keyId", i)?,
        body: b64_field(v, "/canonicalizedBody", i)?,
        hashes,
        checkpoint,
    };
    // The proof repeats the index, size and root the checkpoint and entry state. Verification
    // uses the signed ones (as sigstore-verify does for Rekor v2); the copies must agree, so
    // that no unverified field of an accepted bundle can say something else.
    let parsed = Checkpoint::from_text(&entry.checkpoint)
        .map_err(|e| malformed_entry(i, &format!("its checkpoint does not parse: {e}")))?;
    if u64_field(v, "/inclusionProof/logIndex", i)? != entry.log_index
        || u64_field(v, "/inclusionProof/treeSize", i)? != parsed.tree_size()
        || b64_field(v, "/inclusionProof/rootHash", i)?.as_slice()
            != parsed.root_hash().as_bytes().as_slice()
    {
        return Err(malformed_entry(
            i,
            "its inclusion proof's log index, tree size or root hash differs from the entry's and the checkpoint's",
        ));
    }
    Ok(entry)
}

/// Takes the Rekor v2 entries out of `text`. `None` when it has none, or is not bundle-shaped
/// JSON (sigstore-types' parser then names the problem).
pub(crate) fn split(text: &str) -> Result<Option<Split>, BundleRejection> {
    let Ok(mut doc) = serde_json::from_str::<Value>(text) else {
        return Ok(None);
    };
    let mut entries = Vec::new();
    if let Some(list) = doc
        .pointer_mut("/verificationMaterial/tlogEntries")
        .and_then(Value::as_array_mut)
    {
        let mut kept = Vec::new();
        for (i, e) in std::mem::take(list).into_iter().enumerate() {
            let kind = e.pointer("/kindVersion/kind").and_then(Value::as_str);
            let version = e.pointer("/kindVersion/version").and_then(Value::as_str);
            let kind = match (kind, version) {
                (Some("dsse"), Some("0.0.2")) => Kind::Dsse,
                (Some("hashedrekord"), Some("0.0.2")) => Kind::HashedRekord,
                _ => {
                    kept.push(e);
                    continue;
                }
            };
            entries.push(parse_entry(&e, kind, i)?);
        }
        *list = kept;
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let rest = serde_json::to_string(&doc).map_err(|e| BundleRejection::Malformed {
        reason: e.to_string(),
    })?;
    Ok(Some(Split { rest, entries }))
}

/// After sigstore-verify accepted a bundle with `hashedrekord` v0.0.2 entries (and verified
/// `times`), the checks it does not make for Rekor v2: each entry's inclusion proof and
/// checkpoint again, now bound to the log the entry names (its origin, its key, the key's
/// validity at every verified time), and each RFC 3161 token again with this crate's stricter
/// framing rules (sigstore-tsa accepts tokens whose unsigned CMS framing was altered).
pub(crate) fn confirm(
    bundle: &Bundle,
    split: &Split,
    times: &[DateTime<Utc>],
    root: &TrustRoot,
) -> Result<(), BundleRejection> {
    let trusted = root.trusted_root();
    for (i, entry) in split.entries.iter().enumerate() {
        verify_inclusion(i, entry, trusted, times)?;
    }
    let signature = content_signature(bundle)?;
    let authorities = trusted.tsa_authorities();
    for t in &bundle
        .verification_material
        .timestamp_verification_data
        .rfc3161_timestamps
    {
        let time = crate::timestamp::verify(t.signed_timestamp.as_bytes(), signature, &authorities)
            .map_err(|e| BundleRejection::Timestamp {
                reason: e.to_string(),
            })?;
        if !times.contains(&time) {
            return Err(BundleRejection::Timestamp {
                reason: format!(
                    "the RFC 3161 token's time {time} is not the one sigstore-verify read"
                ),
            });
        }
    }
    Ok(())
}

pub(crate) fn leaf_and_intermediates(
    bundle: &Bundle,
) -> Result<(&[u8], Vec<&[u8]>), BundleRejection> {
    match &bundle.verification_material.content {
        VerificationMaterialContent::Certificate(c) => Ok((c.raw_bytes.as_bytes(), Vec::new())),
        VerificationMaterialContent::X509CertificateChain { certificates } => {
            let (first, more) =
                certificates
                    .split_first()
                    .ok_or_else(|| BundleRejection::Malformed {
                        reason: "the certificate chain is empty".into(),
                    })?;
            Ok((
                first.raw_bytes.as_bytes(),
                more.iter().map(|c| c.raw_bytes.as_bytes()).collect(),
            ))
        }
        _ => Err(BundleRejection::Malformed {
            reason: "the bundle has no signing certificate".into(),
        }),
    }
}

pub(crate) fn content_signature(bundle: &Bundle) -> Result<&[u8], BundleRejection> {
    match &bundle.content {
        SignatureContent::DsseEnvelope(e) => Ok(e.signature.sig.as_bytes()),
        SignatureContent::MessageSignature(m) => Ok(m.signature.as_bytes()),
        _ => Err(BundleRejection::Malformed {
            reason: "unknown signature content".into(),
        }),
    }
}

fn tlog(reason: impl Into<String>) -> BundleRejection {
    BundleRejection::TransparencyLog {
        reason: reason.into(),
    }
}

/// The entry body is of the entry's kind and records exactly this content, signature and
/// certificate.
pub(crate) fn verify_body(
    i: usize,
    entry: &V2Entry,
    bundle: &Bundle,
    leaf: &[u8],
    digest: &Digest,
) -> Result<(), BundleRejection> {
    let kind = entry.kind.name();
    let head: Value = serde_json::from_slice(&entry.body)
        .map_err(|e| malformed_entry(i, &format!("its body is not JSON: {e}")))?;
    if head.get("kind").and_then(Value::as_str) != Some(kind)
        || head.get("apiVersion").and_then(Value::as_str) != Some("0.0.2")
    {
        return Err(malformed_entry(
            i,
            &format!("its body is not a {kind} v0.0.2 body"),
        ));
    }
    let body = RekorEntryBody::from_json(&entry.body, kind, "0.0.2")
        .map_err(|e| malformed_entry(i, &format!("its body does not parse: {e}")))?;
    let mismatch = |what: &str| tlog(format!("Rekor v2 entry {i} records {what}"));
    match (&body, &bundle.content) {
        (RekorEntryBody::DsseV002(b), SignatureContent::DsseEnvelope(envelope)) => {
            let spec = &b.spec.dsse_v002;
            if spec.payload_hash.algorithm != HashAlgorithm::Sha2256
                || spec.payload_hash.digest.as_bytes()
                    != Sha256::digest(envelope.payload.as_bytes()).as_slice()
            {
                return Err(mismatch("another DSSE payload"));
            }
            let [sig] = spec.signatures.as_slice() else {
                return Err(mismatch(&format!(
                    "{} signatures, the envelope has one",
                    spec.signatures.len()
                )));
            };
            if sig.content.as_bytes() != envelope.signature.sig.as_bytes() {
                return Err(mismatch("another signature"));
            }
            let cert = sig.verifier.x509_certificate.as_ref();
            if sig.verifier.public_key.is_some()
                || cert.is_none_or(|c| c.raw_bytes.as_bytes() != leaf)
            {
                return Err(mismatch("another signing certificate"));
            }
        }
        (RekorEntryBody::HashedRekordV002(b), content) => {
            let spec = &b.spec.hashed_rekord_v002;
            let (expected, sig): (Vec<u8>, &[u8]) = match content {
                SignatureContent::DsseEnvelope(e) => {
                    (Sha256::digest(e.pae()).to_vec(), e.signature.sig.as_bytes())
                }
                SignatureContent::MessageSignature(m) => {
                    (digest.bytes().to_vec(), m.signature.as_bytes())
                }
                _ => return Err(mismatch("content of an unknown kind")),
            };
            if spec.data.algorithm != HashAlgorithm::Sha2256
                || spec.data.digest.as_bytes() != expected.as_slice()
            {
                return Err(mismatch("another artifact digest"));
            }
            if spec.signature.content.as_bytes() != sig {
                return Err(mismatch("another signature"));
            }
            let cert = spec.signature.verifier.x509_certificate.as_ref();
            if spec.signature.verifier.public_key.is_some()
                || cert.is_none_or(|c| c.raw_bytes.as_bytes() != leaf)
            {
                return Err(mismatch("another signing certificate"));
            }
        }
        _ => return Err(mismatch("a dsse body for a message signature")),
    }
    Ok(())
}

/// The host a log's `baseUrl` names: a Rekor v2 checkpoint's origin.
fn host(base_url: &str) -> &str {
    let rest = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

pub(crate) fn verify_inclusion(
    i: usize,
    entry: &V2Entry,
    trusted: &TrustedRoot,
    times: &[DateTime<Utc>],
) -> Result<(), BundleRejection> {
    let checkpoint = Checkpoint::from_text(&entry.checkpoint)
        .map_err(|e| malformed_entry(i, &format!("its checkpoint does not parse: {e}")))?;
    let leaf_hash = sigstore_merkle::hash_leaf(&entry.body);
    sigstore_merkle::verify_inclusion_proof(
        &leaf_hash,
        entry.log_index,
        checkpoint.tree_size(),
        &entry.hashes,
        checkpoint.root_hash(),
    )
    .map_err(|e| {
        tlog(format!(
            "Rekor v2 entry {i}: the inclusion proof does not verify: {e}"
        ))
    })?;

    let log = trusted
        .tlogs
        .iter()
        .find(|l| l.log_id.key_id.as_bytes() == entry.log_id.as_slice())
        .ok_or_else(|| {
            tlog(format!(
                "Rekor v2 entry {i} comes from log {}, which the trust root does not list",
                STANDARD.encode(&entry.log_id)
            ))
        })?;
    if checkpoint.origin() != host(&log.base_url) {
        return Err(tlog(format!(
            "Rekor v2 entry {i}: the checkpoint's origin {:?} is not the log's ({:?})",
            checkpoint.origin(),
            host(&log.base_url)
        )));
    }
    if let Some(window) = &log.public_key.valid_for {
        if let Some(t) = times
            .iter()
            .find(|t| to_jiff(**t).is_none_or(|j| !window.contains(j)))
        {
            return Err(tlog(format!(
                "Rekor v2 entry {i}: the log's key is not valid at the signing time {t}"
            )));
        }
    }
    let key = sigstore_verify::crypto::VerificationKey::from_spki(&log.public_key.raw_bytes)
        .map_err(|e| BundleRejection::TrustRoot {
            reason: format!("the key of log {} is unusable: {e}", log.base_url),
        })?;
    let hint = log.log_id.key_id.as_bytes().get(..4);
    let signed = checkpoint.signatures().iter().any(|s| {
        Some(s.key_id.as_bytes().as_slice()) == hint
            && key.verify(checkpoint.signed_data(), &s.signature).is_ok()
    });
    if !signed {
        return Err(tlog(format!(
            "Rekor v2 entry {i}: the checkpoint carries no valid signature by the log's key"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_the_host_of_the_base_url() {
        assert_eq!(
            host("https://log2025-1.rekor.sigstore.dev"),
            "log2025-1.rekor.sigstore.dev"
        );
        assert_eq!(host("https://log.example/path/x"), "log.example");
        assert_eq!(host("log.example"), "log.example");
    }

    #[test]
    fn bundles_without_v2_entries_are_not_split() {
        for text in [
            "not json",
            "{}",
            r#"{"verificationMaterial":{"tlogEntries":[{"kindVersion":{"kind":"hashedrekord","version":"0.0.1"}}]}}"#,
        ] {
            assert!(matches!(split(text), Ok(None)), "{text}");
        }
    }

    #[test]
    fn a_v2_entry_without_a_proof_or_with_a_disagreeing_proof_is_rejected() {
        let no_proof = r#"{"verificationMaterial":{"tlogEntries":[{"kindVersion":{"kind":"dsse","version":"0.0.2"},"logIndex":"1","logId":{"keyId":"AA=="},"canonicalizedBody":"e30="}]}}"#;
        assert!(matches!(
            split(no_proof),
            Err(BundleRejection::TransparencyLog { reason }) if reason.contains("no inclusion proof")
        ));
        let root = STANDARD.encode([7u8; 32]);
        let checkpoint = format!("log.example\n4\n{root}\n\n\u{2014} log.example AAAAAAAA\n");
        let entry = |proof_size: u64| {
            serde_json::json!({"verificationMaterial": {"tlogEntries": [{
                "kindVersion": {"kind": "dsse", "version": "0.0.2"},
                "logIndex": "1", "logId": {"keyId": "AA=="}, "canonicalizedBody": "e30=",
                "inclusionProof": {"logIndex": "1", "treeSize": proof_size.to_string(), "rootHash": root,
                    "checkpoint": {"envelope": checkpoint}},
            }]}})
            .to_string()
        };
        assert!(
            matches!(split(&entry(4)), Ok(Some(s)) if s.entries.len() == 1 && s.entries[0].is_dsse())
        );
        assert!(matches!(
            split(&entry(5)),
            Err(BundleRejection::TransparencyLog { reason }) if reason.contains("differs")
        ));
    }
}
