//! Rekor v2 bundles sigstore-verify 0.15.1 cannot take: a `dsse` v0.0.2 log entry (its
//! `KindVersion` has no such kind, so the bundle does not even parse) or an RFC 3161 token whose
//! `genTime` has fractional seconds (sigstore-tsa's decoder refuses it, and a Rekor v2 bundle
//! has no other time). Everything else keeps going through sigstore-verify unchanged.
//!
//! [`split`] takes such entries and tokens out of the bundle JSON; the rest parses with
//! sigstore-types. When only fractional-second tokens were taken out (a Rekor v1 bundle),
//! sigstore-verify verifies the rest and [`verify_fractional_times`] adds each token's time
//! and the certificate chain at it. When Rekor v2 entries were taken out, [`verify`] checks the
//! bundle completely, with every check a Rekor v1 bundle gets from sigstore-verify, on sigstore's
//! public primitives (sigstore-verify cannot take part: a Rekor v2 bundle's only times are its
//! RFC 3161 tokens, and sigstore-verify makes its certificate checks only at times it verified
//! itself):
//!
//! - times: each RFC 3161 token verified against the trust root's TSAs (whole-second ones by
//!   sigstore-tsa, fractional ones by [`crate::timestamp`]); at least one is required, because a
//!   Rekor v2 entry has no integrated time and no SET;
//! - the signing certificate chains to a Fulcio CA valid at every verified time, is itself valid
//!   then, allows code signing, and carries a valid SCT ([`crate::fulcio`]);
//! - the DSSE (or message) signature verifies with the certificate's key;
//! - every log entry is Rekor v2 (`dsse` or `hashedrekord` v0.0.2; a v1 entry in the same
//!   bundle is refused) and its body describes exactly this content: payload hash (DSSE) or
//!   artifact digest (hashedrekord: the image digest, or the PAE hash for an envelope), the one
//!   signature, and the certificate;
//! - the RFC 6962 inclusion proof of the body's leaf hash at the entry's log index reaches the
//!   root of the entry's checkpoint; the checkpoint's origin is the host of a trust-root log
//!   whose log id is the entry's, it carries a valid signature by that log's key (matched by the
//!   signed-note key hint, the first four bytes of the log id), and that key's `validFor` covers
//!   every verified time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use sigstore_trust_root::TrustedRoot;
use sigstore_types::bundle::VerificationMaterialContent;
use sigstore_types::{
    Bundle, Checkpoint, DerPublicKey, HashAlgorithm, Sha256Hash, SignatureBytes, SignatureContent,
};
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
struct V2Entry {
    kind: Kind,
    log_index: u64,
    log_id: Vec<u8>,
    body: Vec<u8>,
    hashes: Vec<Sha256Hash>,
    checkpoint: String,
}

/// A bundle with its Rekor v2 entries and fractional-second timestamps taken out.
#[derive(Debug)]
pub(crate) struct Split {
    /// The bundle JSON without them.
    pub(crate) rest: String,
    entries: Vec<V2Entry>,
    fractional_tokens: Vec<Vec<u8>>,
    has_dsse: bool,
}

/// Who verifies a bundle [`split`] found something in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Rekor v2 entries sigstore-verify cannot take (`dsse`, or times it cannot read):
    /// [`verify`] on the rest, completely.
    Own,
    /// Rekor v1 with fractional-second tokens: sigstore-verify on the rest, then
    /// [`verify_fractional_times`].
    SigstoreThenFractional,
    /// `hashedrekord` v0.0.2 with whole-second tokens: sigstore-verify on the whole bundle,
    /// then [`confirm`].
    SigstoreThenConfirm,
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

/// Takes the Rekor v2 entries and fractional-second RFC 3161 tokens out of `text`. `None` when
/// the bundle has neither a `dsse` v0.0.2 entry nor a fractional-second token: sigstore-verify
/// verifies it whole (it knows `hashedrekord` v0.0.2), and so does a document that is not
/// bundle-shaped JSON (its parser names the problem).
pub(crate) fn split(text: &str) -> Result<Option<Split>, BundleRejection> {
    let Ok(mut doc) = serde_json::from_str::<Value>(text) else {
        return Ok(None);
    };
    let mut entries = Vec::new();
    let mut has_dsse = false;
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
            has_dsse |= kind == Kind::Dsse;
            entries.push(parse_entry(&e, kind, i)?);
        }
        *list = kept;
    }
    let mut fractional_tokens = Vec::new();
    if let Some(list) = doc
        .pointer_mut("/verificationMaterial/timestampVerificationData/rfc3161Timestamps")
        .and_then(Value::as_array_mut)
    {
        list.retain(|t| {
            let token = t
                .pointer("/signedTimestamp")
                .and_then(Value::as_str)
                .and_then(|s| STANDARD.decode(s).ok());
            match token {
                Some(token) if crate::timestamp::has_fractional_seconds(&token) => {
                    fractional_tokens.push(token);
                    false
                }
                _ => true,
            }
        });
    }
    if entries.is_empty() && fractional_tokens.is_empty() {
        return Ok(None);
    }
    let rest = serde_json::to_string(&doc).map_err(|e| BundleRejection::Malformed {
        reason: e.to_string(),
    })?;
    Ok(Some(Split {
        rest,
        entries,
        fractional_tokens,
        has_dsse,
    }))
}

impl Split {
    /// Who verifies the bundle.
    pub(crate) fn route(&self) -> Route {
        if self.entries.is_empty() {
            Route::SigstoreThenFractional
        } else if self.has_dsse || !self.fractional_tokens.is_empty() {
            Route::Own
        } else {
            Route::SigstoreThenConfirm
        }
    }
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

fn leaf_and_intermediates(bundle: &Bundle) -> Result<(&[u8], Vec<&[u8]>), BundleRejection> {
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

fn content_signature(bundle: &Bundle) -> Result<&[u8], BundleRejection> {
    match &bundle.content {
        SignatureContent::DsseEnvelope(e) => Ok(e.signature.sig.as_bytes()),
        SignatureContent::MessageSignature(m) => Ok(m.signature.as_bytes()),
        _ => Err(BundleRejection::Malformed {
            reason: "unknown signature content".into(),
        }),
    }
}

/// For a bundle sigstore-verify verified without its fractional-second tokens: verifies each
/// such token and the signing certificate's chain at its time; returns those times.
pub(crate) fn verify_fractional_times(
    bundle: &Bundle,
    split: &Split,
    root: &TrustRoot,
) -> Result<Vec<DateTime<Utc>>, BundleRejection> {
    let trusted = root.trusted_root();
    let (leaf, intermediates) = leaf_and_intermediates(bundle)?;
    let signature = content_signature(bundle)?;
    let authorities = trusted.tsa_authorities();
    let mut times = Vec::new();
    for token in &split.fractional_tokens {
        let time = crate::timestamp::verify(token, signature, &authorities).map_err(|e| {
            BundleRejection::Timestamp {
                reason: e.to_string(),
            }
        })?;
        crate::fulcio::verify_chain(leaf, &intermediates, trusted, time)?;
        times.push(time);
    }
    Ok(times)
}

/// What [`verify`] established.
pub(crate) struct Verified {
    /// Every verified time (RFC 3161), unsorted.
    pub(crate) times: Vec<DateTime<Utc>>,
    /// The first entry's log index.
    pub(crate) log_index: Option<u64>,
}

fn tlog(reason: impl Into<String>) -> BundleRejection {
    BundleRejection::TransparencyLog {
        reason: reason.into(),
    }
}

/// Verifies `bundle` (the rest of `split`, already parsed and bound to `digest` by the caller)
/// completely; see the module docs.
pub(crate) fn verify(
    bundle: &Bundle,
    split: &Split,
    digest: &Digest,
    root: &TrustRoot,
) -> Result<Verified, BundleRejection> {
    let trusted = root.trusted_root();
    // sigstore-bundle's structural rules (a known media type; v0.3: one certificate, no chain).
    // Entries and times are this function's to require: the rest may hold neither.
    use sigstore_verify::bundle::{validate_bundle_with_options, Error as E, ValidationOptions};
    let options = ValidationOptions::default()
        .with_require_inclusion_proof(false)
        .with_require_timestamp(false);
    match validate_bundle_with_options(bundle, &options) {
        Ok(()) | Err(E::MissingSigningTimeEvidence) => {}
        Err(e) => {
            return Err(BundleRejection::Malformed {
                reason: e.to_string(),
            })
        }
    }
    if !bundle.verification_material.tlog_entries.is_empty() {
        return Err(tlog(
            "a Rekor v1 entry next to a Rekor v2 entry or a fractional-second timestamp is not supported",
        ));
    }
    if split.entries.is_empty() {
        return Err(tlog("the bundle has no transparency-log entry"));
    }
    let (leaf, intermediates) = leaf_and_intermediates(bundle)?;
    let signature = content_signature(bundle)?;

    // Times.
    let times = verified_times(bundle, split, signature, trusted)?;

    // Certificate at every time, then its SCT.
    let mut issuer = None;
    for t in &times {
        issuer = Some(crate::fulcio::verify_chain(
            leaf,
            &intermediates,
            trusted,
            *t,
        )?);
    }
    let issuer = issuer.ok_or_else(|| BundleRejection::Timestamp {
        reason: "no verified timestamp".into(),
    })?;
    crate::fulcio::verify_sct(leaf, &issuer, trusted)?;

    // Signature over the content.
    verify_content_signature(bundle, leaf, digest)?;

    // Log entries.
    for (i, entry) in split.entries.iter().enumerate() {
        verify_body(i, entry, bundle, leaf, digest)?;
        verify_inclusion(i, entry, trusted, &times)?;
    }
    Ok(Verified {
        times,
        log_index: split.entries.first().map(|e| e.log_index),
    })
}

fn verified_times(
    bundle: &Bundle,
    split: &Split,
    signature: &[u8],
    trusted: &TrustedRoot,
) -> Result<Vec<DateTime<Utc>>, BundleRejection> {
    let authorities = trusted.tsa_authorities();
    let mut times = Vec::new();
    let sig = SignatureBytes::new(signature.to_vec());
    for t in &bundle
        .verification_material
        .timestamp_verification_data
        .rfc3161_timestamps
    {
        let mut last = None;
        let mut found = None;
        for authority in &authorities {
            match sigstore_verify::tsa::verify_timestamp_for_authority(
                &t.signed_timestamp,
                &sig,
                authority,
            ) {
                Ok(time) => {
                    found = Some(time);
                    break;
                }
                Err(e @ sigstore_verify::tsa::Error::TimestampOutsideValidity { .. }) => {
                    return Err(BundleRejection::Timestamp {
                        reason: e.to_string(),
                    })
                }
                Err(e) => last = Some(e.to_string()),
            }
        }
        let time = found.ok_or_else(|| BundleRejection::Timestamp {
            reason: format!(
                "no timestamp authority of the trust root vouches for an RFC 3161 token ({})",
                last.unwrap_or_else(|| "the trust root has no timestamp authorities".into())
            ),
        })?;
        // The stricter framing rules of `timestamp.rs` too (as `confirm` applies them).
        crate::timestamp::verify(t.signed_timestamp.as_bytes(), signature, &authorities).map_err(
            |e| BundleRejection::Timestamp {
                reason: e.to_string(),
            },
        )?;
        let nanos = u32::try_from(time.subsec_nanosecond()).unwrap_or(0);
        times.push(
            DateTime::<Utc>::from_timestamp(time.as_second(), nanos).ok_or_else(|| {
                BundleRejection::Timestamp {
                    reason: format!("verified time {time} is out of range"),
                }
            })?,
        );
    }
    for token in &split.fractional_tokens {
        let time = crate::timestamp::verify(token, signature, &authorities).map_err(|e| {
            BundleRejection::Timestamp {
                reason: e.to_string(),
            }
        })?;
        times.push(time);
    }
    if times.is_empty() {
        return Err(BundleRejection::Timestamp {
            reason: "no verified timestamp: a Rekor v2 entry has no integrated time, so the bundle needs an RFC 3161 timestamp".into(),
        });
    }
    Ok(times)
}

fn leaf_key(
    leaf: &[u8],
) -> Result<(DerPublicKey, sigstore_verify::crypto::SigningScheme), BundleRejection> {
    use der::{Decode, Encode};
    let cert =
        x509_cert::Certificate::from_der(leaf).map_err(|e| BundleRejection::Certificate {
            reason: format!("the signing certificate does not parse: {e}"),
        })?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| BundleRejection::Certificate {
            reason: format!("the signing key does not encode: {e}"),
        })?;
    let key = DerPublicKey::new(spki);
    let scheme = sigstore_verify::crypto::KeyAlgorithm::from_spki(&key)
        .map_err(|e| BundleRejection::Certificate {
            reason: format!("the signing key: {e}"),
        })?
        .default_signing_scheme();
    Ok((key, scheme))
}

fn verify_content_signature(
    bundle: &Bundle,
    leaf: &[u8],
    digest: &Digest,
) -> Result<(), BundleRejection> {
    let (key, scheme) = leaf_key(leaf)?;
    let result = match &bundle.content {
        SignatureContent::DsseEnvelope(e) => sigstore_verify::crypto::verify_signature(
            &key,
            &e.pae(),
            &SignatureBytes::new(e.signature.sig.as_bytes().to_vec()),
            scheme,
        ),
        SignatureContent::MessageSignature(m) => {
            sigstore_verify::crypto::verify_signature_prehashed(
                &key,
                &digest.bytes(),
                &m.signature,
                scheme,
            )
        }
        _ => {
            return Err(BundleRejection::Malformed {
                reason: "unknown signature content".into(),
            })
        }
    };
    result.map_err(|e| BundleRejection::Signature {
        reason: e.to_string(),
    })
}

/// The entry body is of the entry's kind and records exactly this content, signature and
/// certificate.
fn verify_body(
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

fn verify_inclusion(
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
    fn bundles_without_v2_entries_or_fractional_times_are_left_to_sigstore_verify() {
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
        assert!(matches!(split(&entry(4)), Ok(Some(s)) if s.route() == Route::Own));
        assert!(matches!(
            split(&entry(5)),
            Err(BundleRejection::TransparencyLog { reason }) if reason.contains("differs")
        ));
    }
}
