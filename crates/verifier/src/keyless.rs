//! Keyless bundle verification in one pass: every check sigstore-verify 0.15.1 makes for a
//! keyless bundle with SCT and transparency-log checks required, each made once, on a leaf
//! certificate parsed once.
//!
//! sigstore-verify's `Verifier::verify` verifies each Rekor SET twice (once to establish the
//! signing time, once with the inclusion proof) and parses the leaf certificate three times; its
//! steps are private, so they cannot be called one by one. The profile in BENCHMARKS.md put that
//! repeated work at about a fifth of a verification. This module makes the same checks on the
//! same public primitives (sigstore-crypto keys, sigstore-merkle, sigstore-tsa, webpki, the
//! Rekor body types), in sigstore-verify's order:
//!
//! 0. structure: sigstore-bundle's rules (a v0.1 bundle has a SET, a v0.2/v0.3 bundle an
//!    inclusion proof with a checkpoint whose root is the proof's, v0.3 one certificate);
//! 1. times: each RFC 3161 token verified against the trust root's TSAs (whole-second ones by
//!    sigstore-tsa and again by [`crate::timestamp`]'s stricter framing rules, fractional ones by
//!    [`crate::timestamp`]); each Rekor v1 SET verified with the log key valid at its integrated
//!    time, which, when present and not in the future, is a verified time. At least one time;
//! 2. the leaf chains to a Fulcio CA valid at every verified time, is valid itself then, allows
//!    code signing ([`crate::fulcio::verify_chain`]) and carries a valid SCT;
//! 3. the DSSE (or message) signature verifies with the leaf's key;
//! 4. every Rekor v1 entry: its inclusion proof reaches the proof's root, the checkpoint with
//!    that root carries a signature by a trust-root Rekor key, and its body describes exactly
//!    this content, signature and certificate (the CVE-2022-36056 class); a `hashedrekord`
//!    integrated time lies within the leaf's validity;
//! 5. every Rekor v2 entry ([`crate::rekor_v2`]): its body, its inclusion proof and a checkpoint
//!    signed by the log the entry names, whose key is valid at every verified time.
//!
//! The conformance suite (every case), byte-flip mutants and a differential test against
//! sigstore-verify on the same inputs (crates/verifier/tests/it/keyless.rs) hold it to
//! sigstore-verify's verdicts.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use der::Encode;
use sha2::{Digest as _, Sha256};
use sigstore_types::bundle::InclusionProof;
use sigstore_types::{
    Bundle, DerPublicKey, HashAlgorithm, KindVersion, Sha256Hash, SignatureBytes, SignatureContent,
    TransparencyLogEntry,
};
use sigstore_verify::crypto::{KeyAlgorithm, Keyring};
use sigstore_verify::rekor::body::RekorEntryBody;
use trustpull_policy::Digest;
use x509_cert::Certificate;

use crate::certificate::CertificateFacts;
use crate::rekor_v2::V2Entry;
use crate::{BundleRejection, TrustRoot};

/// What [`verify`] established.
pub(crate) struct Verified {
    /// What the verified leaf says about its subject.
    pub(crate) facts: CertificateFacts,
    /// Every verified time, unsorted.
    pub(crate) times: Vec<DateTime<Utc>>,
    /// The first log entry's index.
    pub(crate) log_index: Option<u64>,
}

fn tlog(reason: impl Into<String>) -> BundleRejection {
    BundleRejection::TransparencyLog {
        reason: reason.into(),
    }
}

fn timestamp(reason: impl Into<String>) -> BundleRejection {
    BundleRejection::Timestamp {
        reason: reason.into(),
    }
}

/// Verifies a keyless `bundle` (already bound to `digest` by the caller) whose Rekor v2
/// entries, if any, were taken out into `v2`; see the module docs.
pub(crate) fn verify(
    bundle: &Bundle,
    v2: &[V2Entry],
    digest: &Digest,
    root: &TrustRoot,
) -> Result<Verified, BundleRejection> {
    let trusted = root.trusted_root();
    structure(bundle, v2)?;
    let (leaf_der, intermediates) = crate::rekor_v2::leaf_and_intermediates(bundle)?;
    let leaf = crate::certificate::parse(leaf_der)?;
    let facts = crate::certificate::certificate_facts(&leaf)?;
    let signature = crate::rekor_v2::content_signature(bundle)?;

    // 1. Times.
    let mut times = token_times(bundle, signature, trusted)?;
    for entry in &bundle.verification_material.tlog_entries {
        if let Some(time) = verify_set(entry, root.rekor_keys())? {
            times.push(time);
        }
    }
    if times.is_empty() {
        return Err(timestamp(if v2.is_empty() {
            "no verified timestamp: the bundle needs an RFC 3161 timestamp or a Rekor entry with an integrated time and a signed entry timestamp"
        } else {
            "no verified timestamp: a Rekor v2 entry has no integrated time, so the bundle needs an RFC 3161 timestamp"
        }));
    }

    // 2. The certificate at every time, then its SCT.
    let mut issuer = None;
    for t in &times {
        issuer = Some(crate::fulcio::verify_chain(
            leaf_der,
            &leaf,
            &intermediates,
            trusted,
            *t,
        )?);
    }
    let issuer = issuer.ok_or_else(|| timestamp("no verified timestamp"))?;
    crate::fulcio::verify_sct(&leaf, &issuer, trusted)?;

    // 3. The signature over the content.
    let key = spki(&leaf)?;
    let algorithm = KeyAlgorithm::from_spki(&key).map_err(|e| BundleRejection::Certificate {
        reason: format!("the signing key: {e}"),
    })?;
    verify_content_signature(bundle, &key, algorithm, digest)?;

    // 4. Rekor v1 entries.
    for (i, entry) in bundle.verification_material.tlog_entries.iter().enumerate() {
        if let Some(proof) = &entry.inclusion_proof {
            verify_v1_inclusion(i, entry, proof, root.rekor_keys())?;
        }
        verify_v1_body(i, entry, bundle, leaf_der, &leaf, &key, digest)?;
    }

    // 5. Rekor v2 entries.
    for (i, entry) in v2.iter().enumerate() {
        crate::rekor_v2::verify_body(i, entry, bundle, leaf_der, digest)?;
        crate::rekor_v2::verify_inclusion(i, entry, trusted, &times)?;
    }
    let log_index = bundle
        .verification_material
        .tlog_entries
        .first()
        .map(|e| e.log_index.get())
        .or_else(|| v2.first().map(V2Entry::log_index));
    Ok(Verified {
        facts,
        times,
        log_index,
    })
}

/// sigstore-bundle's structural rules. With Rekor v2 entries taken out, the rest may hold no
/// entry and no time (this module requires both itself), and may not hold a v1 entry too.
fn structure(bundle: &Bundle, v2: &[V2Entry]) -> Result<(), BundleRejection> {
    use sigstore_verify::bundle::{validate_bundle_with_options, Error as E, ValidationOptions};
    let malformed = |e: E| BundleRejection::Malformed {
        reason: e.to_string(),
    };
    if v2.is_empty() {
        let options = ValidationOptions::default()
            .with_require_inclusion_proof(true)
            .with_require_timestamp(false);
        return validate_bundle_with_options(bundle, &options).map_err(malformed);
    }
    let options = ValidationOptions::default()
        .with_require_inclusion_proof(false)
        .with_require_timestamp(false);
    match validate_bundle_with_options(bundle, &options) {
        Ok(()) | Err(E::MissingSigningTimeEvidence) => {}
        Err(e) => return Err(malformed(e)),
    }
    if !bundle.verification_material.tlog_entries.is_empty() {
        return Err(tlog(
            "a Rekor v1 entry next to a Rekor v2 entry is not supported",
        ));
    }
    Ok(())
}

/// Each RFC 3161 token's verified time; any token that does not verify rejects the bundle.
fn token_times(
    bundle: &Bundle,
    signature: &[u8],
    trusted: &sigstore_trust_root::TrustedRoot,
) -> Result<Vec<DateTime<Utc>>, BundleRejection> {
    let tokens = &bundle
        .verification_material
        .timestamp_verification_data
        .rfc3161_timestamps;
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let authorities = trusted.tsa_authorities();
    let sig = SignatureBytes::new(signature.to_vec());
    let mut times = Vec::new();
    for t in tokens {
        let token = t.signed_timestamp.as_bytes();
        // sigstore-tsa's checks for a whole-second token (it cannot decode a fractional one),
        // then this crate's, stricter on framing, for every token.
        let theirs = if crate::timestamp::has_fractional_seconds(token) {
            None
        } else {
            Some(sigstore_tsa_time(&t.signed_timestamp, &sig, &authorities)?)
        };
        let time = crate::timestamp::verify(token, signature, &authorities)
            .map_err(|e| timestamp(e.to_string()))?;
        if let Some(theirs) = theirs {
            if theirs != time {
                return Err(timestamp(format!(
                    "the RFC 3161 token's time reads {time} here and {theirs} in sigstore-tsa"
                )));
            }
        }
        times.push(time);
    }
    Ok(times)
}

/// sigstore-tsa's verdict on a whole-second token: the first authority that verifies it, whose
/// own window must cover its time.
fn sigstore_tsa_time(
    token: &sigstore_types::TimestampToken,
    signature: &SignatureBytes,
    authorities: &[sigstore_types::TsaAuthority],
) -> Result<DateTime<Utc>, BundleRejection> {
    use sigstore_verify::tsa::{verify_timestamp_for_authority, Error as E};
    let mut last = None;
    for authority in authorities {
        match verify_timestamp_for_authority(token, signature, authority) {
            Ok(time) => return chrono_of(time),
            Err(e @ E::TimestampOutsideValidity { .. }) => return Err(timestamp(e.to_string())),
            Err(e) => last = Some(e.to_string()),
        }
    }
    Err(timestamp(format!(
        "no timestamp authority of the trust root vouches for an RFC 3161 token ({})",
        last.unwrap_or_else(|| "the trust root has no timestamp authorities".into())
    )))
}

fn chrono_of(t: jiff::Timestamp) -> Result<DateTime<Utc>, BundleRejection> {
    DateTime::<Utc>::from_timestamp(t.as_second(), t.subsec_nanosecond().unsigned_abs())
        .ok_or_else(|| timestamp(format!("verified time {t} is out of range")))
}

/// Verifies the entry's signed entry timestamp, if it has one, with the log key valid at the
/// entry's integrated time; returns that time when the SET covers one (it must not be in the
/// future).
fn verify_set(
    entry: &TransparencyLogEntry,
    keys: &Keyring,
) -> Result<Option<DateTime<Utc>>, BundleRejection> {
    let Some(promise) = &entry.inclusion_promise else {
        return Ok(None);
    };
    let log_id = entry.log_id.key_id.as_bytes();
    let id = Sha256Hash::try_from(log_id).map_err(|e| {
        tlog(format!(
            "inclusion promise: the Rekor log id is not a SHA-256 hash: {e}"
        ))
    })?;
    let key = match entry.integrated_time {
        Some(t) => keys.key_at(&id, t).ok_or_else(|| {
            tlog(format!(
                "inclusion promise: no Rekor key of the trust root with log id {} is valid at the integrated time {t}",
                entry.log_id.key_id
            ))
        })?,
        None => keys
            .key_started_by(&id, jiff::Timestamp::now())
            .ok_or_else(|| {
                tlog(format!(
                    "inclusion promise: the entry comes from log {}, which the trust root does not list",
                    entry.log_id.key_id
                ))
            })?,
    };
    // The payload Rekor v1 signs: the RFC 8785 canonical JSON of these four members (keys in
    // this order; an absent integrated time is the proto3 default 0).
    let payload = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        STANDARD.encode(entry.canonicalized_body.as_bytes()),
        entry.integrated_time.map_or(0, |t| t.as_second()),
        crate::bundle::hex_of(log_id),
        entry.log_index.as_i64(),
    );
    key.verify(
        payload.as_bytes(),
        &SignatureBytes::new(promise.signed_entry_timestamp.as_bytes().to_vec()),
    )
    .map_err(|e| {
        tlog(format!(
            "inclusion promise: the signed entry timestamp does not verify: {e}"
        ))
    })?;
    let Some(time) = entry.integrated_time else {
        return Ok(None);
    };
    if time > jiff::Timestamp::now() {
        return Err(tlog(format!("the integrated time {time} is in the future")));
    }
    chrono_of(time).map(Some)
}

/// The Merkle proof of the entry's body reaches the proof's root, and a checkpoint with that
/// root carries a valid signature by a Rekor key of the trust root (matched by key hint).
fn verify_v1_inclusion(
    i: usize,
    entry: &TransparencyLogEntry,
    proof: &InclusionProof,
    keys: &Keyring,
) -> Result<(), BundleRejection> {
    let leaf_hash = sigstore_merkle::hash_leaf(entry.canonicalized_body.as_bytes());
    sigstore_merkle::verify_inclusion_proof(
        &leaf_hash,
        proof.log_index.get(),
        proof.tree_size,
        &proof.hashes,
        &proof.root_hash,
    )
    .map_err(|e| {
        tlog(format!(
            "Rekor entry {i}: the inclusion proof does not verify: {e}"
        ))
    })?;
    let checkpoint = proof
        .checkpoint
        .checkpoint()
        .ok_or_else(|| tlog(format!("Rekor entry {i}: the checkpoint does not parse")))?;
    if checkpoint.root_hash() != &proof.root_hash {
        return Err(tlog(format!(
            "Rekor entry {i}: the checkpoint's root hash is not the inclusion proof's"
        )));
    }
    let now = jiff::Timestamp::now();
    let signed = checkpoint.signatures().iter().any(|s| {
        keys.keys_by_hint(&s.key_id, now)
            .any(|key| key.verify(checkpoint.signed_data(), &s.signature).is_ok())
    });
    if !signed {
        return Err(tlog(format!(
            "Rekor entry {i}: the checkpoint carries no valid signature by a Rekor key of the trust root"
        )));
    }
    Ok(())
}

/// The leaf's SubjectPublicKeyInfo, DER.
fn spki(leaf: &Certificate) -> Result<DerPublicKey, BundleRejection> {
    leaf.tbs_certificate
        .subject_public_key_info
        .to_der()
        .map(DerPublicKey::new)
        .map_err(|e| BundleRejection::Certificate {
            reason: format!("the signing key does not encode: {e}"),
        })
}

fn verify_content_signature(
    bundle: &Bundle,
    key: &DerPublicKey,
    algorithm: KeyAlgorithm,
    digest: &Digest,
) -> Result<(), BundleRejection> {
    let signature_error = |e: sigstore_verify::crypto::Error| BundleRejection::Signature {
        reason: e.to_string(),
    };
    match &bundle.content {
        SignatureContent::DsseEnvelope(e) => sigstore_verify::crypto::verify_signature(
            key,
            &e.pae(),
            &e.signature.sig,
            algorithm.default_signing_scheme(),
        )
        .map_err(signature_error),
        SignatureContent::MessageSignature(m) => {
            let scheme = match &m.message_digest {
                Some(md) => algorithm
                    .resolve_signing_scheme(md.algorithm)
                    .map_err(signature_error)?,
                None => algorithm.default_signing_scheme(),
            };
            // The image digest is SHA-256: a scheme that hashes otherwise (or not at all)
            // cannot be checked against it.
            if scheme.hash_algorithm() != Some(HashAlgorithm::Sha2256) {
                return Err(BundleRejection::Signature {
                    reason: format!(
                        "a {} message signature cannot be checked against a SHA-256 digest",
                        scheme.name()
                    ),
                });
            }
            sigstore_verify::crypto::verify_signature_prehashed(
                key,
                &digest.bytes(),
                &m.signature,
                scheme,
            )
            .map_err(signature_error)
        }
        _ => Err(BundleRejection::Malformed {
            reason: "unknown signature content".into(),
        }),
    }
}

/// The Rekor v1 entry's body is of a kind that fits the content and records exactly this
/// content, signature and certificate.
fn verify_v1_body(
    i: usize,
    entry: &TransparencyLogEntry,
    bundle: &Bundle,
    leaf_der: &[u8],
    leaf: &Certificate,
    key: &DerPublicKey,
    digest: &Digest,
) -> Result<(), BundleRejection> {
    let mismatch = |what: &str| tlog(format!("Rekor entry {i} records {what}"));
    let kind = entry.kind_version;
    let body = RekorEntryBody::parse(&entry.canonicalized_body, kind)
        .map_err(|e| tlog(format!("Rekor entry {i}: its body does not parse: {e}")))?;
    match (&bundle.content, &body) {
        (SignatureContent::MessageSignature(m), RekorEntryBody::HashedRekordV001(b))
            if kind == KindVersion::HashedRekordV001 =>
        {
            let logged = Sha256Hash::from_hex(b.spec.data.hash.value.as_str())
                .map_err(|e| tlog(format!("Rekor entry {i}: its hash is not SHA-256 hex: {e}")))?;
            if logged.as_bytes() != &digest.bytes() {
                return Err(BundleRejection::ArtifactMismatch {
                    expected: digest.clone(),
                    reason: format!("Rekor entry {i} records sha256:{}", logged.to_hex()),
                });
            }
            if one_pem_certificate(b.spec.signature.public_key.content.as_bytes()).as_deref()
                != Some(leaf_der)
            {
                return Err(mismatch("another signing certificate"));
            }
            if b.spec.signature.content != m.signature {
                return Err(mismatch("another signature"));
            }
            if let Some(t) = entry.integrated_time {
                let t = chrono_of(t)?;
                crate::fulcio::within_validity(leaf, t).map_err(|_| {
                    tlog(format!(
                        "Rekor entry {i}: the integrated time {t} is outside the signing certificate's validity"
                    ))
                })?;
            }
        }
        (SignatureContent::DsseEnvelope(envelope), RekorEntryBody::DsseV001(b))
            if kind == KindVersion::DsseV001 =>
        {
            let spec = &b.spec;
            if spec.payload_hash.algorithm != HashAlgorithm::Sha2256
                || spec.payload_hash.value
                    != crate::bundle::hex_of(&Sha256::digest(envelope.payload.as_bytes()))
            {
                return Err(mismatch("another DSSE payload"));
            }
            let [sig] = spec.signatures.as_slice() else {
                return Err(mismatch(&format!(
                    "{} signatures, the envelope has one",
                    spec.signatures.len()
                )));
            };
            if sig.signature != envelope.signature.sig {
                return Err(mismatch("another signature"));
            }
            if one_pem_certificate(sig.verifier.as_bytes()).as_deref() != Some(leaf_der) {
                return Err(mismatch("another signing certificate"));
            }
        }
        (SignatureContent::DsseEnvelope(envelope), RekorEntryBody::IntotoV002(b))
            if kind == KindVersion::IntotoV002 =>
        {
            let content = &b.spec.content;
            let logged = content
                .payload_hash
                .value
                .decode()
                .map_err(|e| tlog(format!("Rekor entry {i}: its payload hash: {e}")))?;
            if content.payload_hash.algorithm != HashAlgorithm::Sha2256
                || logged.as_slice() != Sha256::digest(envelope.payload.as_bytes()).as_slice()
            {
                return Err(mismatch("another DSSE payload"));
            }
            if content.envelope.payload_type != envelope.payload_type {
                return Err(mismatch("another payload type"));
            }
            let [sig] = content.envelope.signatures.as_slice() else {
                return Err(mismatch(&format!(
                    "{} signatures, the envelope has one",
                    content.envelope.signatures.len()
                )));
            };
            if STANDARD.decode(sig.sig.as_bytes()).ok().as_deref()
                != Some(envelope.signature.sig.as_bytes())
            {
                return Err(mismatch("another signature"));
            }
            let logged_key = match sig.parse_certificate() {
                Ok(cert) => crate::certificate::parse(cert.as_bytes())
                    .and_then(|c| spki(&c))
                    .ok(),
                Err(_) => sig.parse_public_key().ok(),
            };
            if logged_key.as_ref() != Some(key) {
                return Err(mismatch("another signing key"));
            }
        }
        _ => {
            return Err(tlog(format!(
                "Rekor entry {i}: a {}/{} entry cannot record a {}",
                kind.kind(),
                kind.version(),
                match bundle.content {
                    SignatureContent::DsseEnvelope(_) => "DSSE envelope",
                    _ => "message signature",
                }
            )))
        }
    }
    Ok(())
}

/// The DER of `pem` when it is exactly one PEM certificate (and whitespace).
fn one_pem_certificate(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let mut certs = crate::certificate::pem_certificates(text).ok()?;
    (certs.len() == 1).then(|| certs.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pem_certificate_takes_exactly_one_block() {
        let one = "-----BEGIN CERTIFICATE-----\nYWJj\n-----END CERTIFICATE-----\n";
        assert_eq!(one_pem_certificate(one.as_bytes()), Some(b"abc".to_vec()));
        assert_eq!(one_pem_certificate(format!("{one}{one}").as_bytes()), None);
        assert_eq!(one_pem_certificate(b"YWJj"), None);
        assert_eq!(one_pem_certificate(&[0xff, 0xfe]), None);
    }
}
