//! cosign's legacy simple-signing signatures, verified through the one bundle
//! core: [`verify_legacy`] checks the payload's binding to the image, converts the layer into
//! the Sigstore v0.1 bundle it is equivalent to, and hands that to [`crate::verify_bundle`]
//! with the payload's sha256 as the artifact.
//!
//! The conversion:
//!
//! | legacy layer | v0.1 bundle |
//! |---|---|
//! | payload bytes | the artifact (`messageSignature.messageDigest` = its sha256) |
//! | `dev.cosignproject.cosign/signature` | `messageSignature.signature` |
//! | `dev.sigstore.cosign/certificate` | `x509CertificateChain` with the leaf only |
//! | `dev.sigstore.cosign/bundle` (`SignedEntryTimestamp`, `Payload.{body, integratedTime, logIndex, logID}`) | one tlog entry: `inclusionPromise` = the SET, `kindVersion` from the body |
//! | `dev.sigstore.cosign/rfc3161timestamp` (`SignedRFC3161Timestamp`) | `timestampVerificationData.rfc3161Timestamps` |
//!
//! So sigstore-verify checks, exactly as for any bundle: the chain to the trust root's Fulcio CA
//! at the integrated time (and at an RFC 3161 time when present), the SCT, the SET against the
//! trust root's Rekor key, the signature over the payload by the leaf's key, and that the log
//! body is a `hashedrekord` recording this payload's sha256, this signature and this
//! certificate (sigstore-verify's log-consistency step; tested in `tests/it/legacy.rs`). The
//! verified times are the integrated time and the RFC 3161 time, as for bundles.
//!
//! The `dev.sigstore.cosign/chain` annotation is not read: the trust root holds the Fulcio CA
//! certificates (sigstore-verify anchors every certificate of a CA's chain), so a chain the
//! signature brings could only add certificates the trust root does not vouch for.
//!
//! Before any cryptography, the payload must name the image: `critical.image.
//! docker-manifest-digest` = the digest and `critical.type` = [`COSIGN_SIGNATURE_TYPE`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use trustpull_policy::{Digest, TrustPolicy};

use crate::{
    verify_bundle, LegacyRejection, LegacySignature, TrustRoot, VerifiedBundle, ANNOTATION_BUNDLE,
    ANNOTATION_CERTIFICATE, ANNOTATION_RFC3161, ANNOTATION_SIGNATURE,
};

/// `critical.type` of a cosign container image signature payload.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

/// The largest simple-signing payload accepted, in bytes (cosign's are a few hundred).
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

const BUNDLE_V01: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";

/// Verifies a legacy signature for `digest` against `root` and authorizes its signer with
/// `policy` (see the module docs). Every failure is a [`LegacyRejection`]; no input panics.
///
/// It does not look at the policy's `formats:` (the verifier refuses legacy candidates before
/// reading them when the policy does not accept them).
pub fn verify_legacy(
    signature: &LegacySignature,
    digest: &Digest,
    policy: &TrustPolicy,
    root: &TrustRoot,
) -> Result<VerifiedBundle, LegacyRejection> {
    check_payload(&signature.payload, digest)?;
    let bundle = to_bundle(signature)?;
    verify_bundle(&bundle, &Digest::of(&signature.payload), policy, root)
        .map_err(LegacyRejection::Bundle)
}

/// Verifies a legacy attestation (a `.att` layer: a DSSE envelope, with the same annotations
/// as a signature) for `digest`, through the same core: the envelope and annotations become a
/// v0.1 DSSE bundle (its log entry an `intoto` or `dsse` entry), verified by
/// [`verify_bundle`], which checks that the statement's subject holds `digest` and that its
/// predicate type is one `policy` accepts. Returns the verified bundle and the statement.
pub fn verify_legacy_attestation(
    attestation: &LegacySignature,
    digest: &Digest,
    policy: &TrustPolicy,
    root: &TrustRoot,
) -> Result<(VerifiedBundle, Value), LegacyRejection> {
    if attestation.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(LegacyRejection::PayloadTooLarge {
            size: attestation.payload.len(),
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    let envelope: Value =
        serde_json::from_slice(&attestation.payload).map_err(|e| LegacyRejection::Payload {
            reason: format!("not a DSSE envelope: {e}"),
        })?;
    let field = |name: &str| -> Result<&str, LegacyRejection> {
        envelope
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| LegacyRejection::Payload {
                reason: format!("the DSSE envelope has no {name}"),
            })
    };
    let (payload, payload_type) = (field("payload")?, field("payloadType")?);
    let signatures = envelope
        .get("signatures")
        .and_then(Value::as_array)
        .filter(|s| s.len() == 1)
        .ok_or_else(|| LegacyRejection::Payload {
            reason: "the DSSE envelope must carry exactly one signature".into(),
        })?;
    let sig = signatures[0]
        .get("sig")
        .and_then(Value::as_str)
        .ok_or_else(|| LegacyRejection::Payload {
            reason: "the DSSE signature has no sig".into(),
        })?;
    let statement: Value = STANDARD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| LegacyRejection::Payload {
            reason: "the DSSE payload is not a base64 JSON statement".into(),
        })?;
    let leaf = certificates(
        ANNOTATION_CERTIFICATE,
        annotation(attestation, ANNOTATION_CERTIFICATE)?,
    )?;
    let [leaf] = leaf.as_slice() else {
        return Err(bad(
            ANNOTATION_CERTIFICATE,
            format!("{} certificates, expected exactly 1", leaf.len()),
        ));
    };
    let entry = tlog_entry(
        annotation(attestation, ANNOTATION_BUNDLE)?,
        &["intoto", "dsse"],
    )?;
    let bundle = json!({
        "mediaType": BUNDLE_V01,
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [{"rawBytes": STANDARD.encode(leaf)}]},
            "tlogEntries": [entry],
        },
        "dsseEnvelope": {
            "payload": payload,
            "payloadType": payload_type,
            "signatures": [{"sig": sig, "keyid": ""}],
        },
    });
    let bytes = serde_json::to_vec(&bundle).map_err(|e| bad(ANNOTATION_BUNDLE, e.to_string()))?;
    let verified = verify_bundle(&bytes, digest, policy, root).map_err(LegacyRejection::Bundle)?;
    Ok((verified, statement))
}

/// The payload must be a simple-signing document for `digest`.
fn check_payload(payload: &[u8], digest: &Digest) -> Result<(), LegacyRejection> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(LegacyRejection::PayloadTooLarge {
            size: payload.len(),
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    let doc: Value = serde_json::from_slice(payload).map_err(|e| LegacyRejection::Payload {
        reason: e.to_string(),
    })?;
    let text = |pointer: &str| -> Result<String, LegacyRejection> {
        doc.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| LegacyRejection::Payload {
                reason: format!("no string at {pointer}"),
            })
    };
    let found = text("/critical/image/docker-manifest-digest")?;
    if found != digest.as_str() {
        return Err(LegacyRejection::PayloadDigest {
            expected: digest.clone(),
            found,
        });
    }
    let kind = text("/critical/type")?;
    if kind != COSIGN_SIGNATURE_TYPE {
        return Err(LegacyRejection::PayloadType { found: kind });
    }
    Ok(())
}

fn annotation<'a>(
    signature: &'a LegacySignature,
    key: &'static str,
) -> Result<&'a str, LegacyRejection> {
    signature
        .annotations
        .get(key)
        .map(String::as_str)
        .ok_or(LegacyRejection::Annotation {
            annotation: key,
            reason: "missing".into(),
        })
}

fn bad(annotation: &'static str, reason: impl Into<String>) -> LegacyRejection {
    LegacyRejection::Annotation {
        annotation,
        reason: reason.into(),
    }
}

fn decode(key: &'static str, text: &str) -> Result<Vec<u8>, LegacyRejection> {
    STANDARD
        .decode(text.trim())
        .map_err(|e| bad(key, format!("not base64 ({e})")))
}

/// The PEM `CERTIFICATE` blocks of an annotation, as DER (see
/// [`crate::certificate::pem_certificates`]: a signed artifact's metadata should not carry text
/// nobody checks).
fn certificates(key: &'static str, text: &str) -> Result<Vec<Vec<u8>>, LegacyRejection> {
    crate::certificate::pem_certificates(text).map_err(|reason| bad(key, reason))
}

/// The Sigstore v0.1 bundle equivalent to `signature` (module docs, "The conversion").
fn to_bundle(signature: &LegacySignature) -> Result<Vec<u8>, LegacyRejection> {
    let sig = decode(
        ANNOTATION_SIGNATURE,
        annotation(signature, ANNOTATION_SIGNATURE)?,
    )?;
    let leaf = certificates(
        ANNOTATION_CERTIFICATE,
        annotation(signature, ANNOTATION_CERTIFICATE)?,
    )?;
    let [leaf] = leaf.as_slice() else {
        return Err(bad(
            ANNOTATION_CERTIFICATE,
            format!("{} certificates, expected exactly 1", leaf.len()),
        ));
    };
    let entry = tlog_entry(annotation(signature, ANNOTATION_BUNDLE)?, &["hashedrekord"])?;
    let mut material = json!({
        "x509CertificateChain": {"certificates": [{"rawBytes": STANDARD.encode(leaf)}]},
        "tlogEntries": [entry],
    });
    if let Some(text) = signature.annotations.get(ANNOTATION_RFC3161) {
        let ts: Value = serde_json::from_str(text)
            .map_err(|e| bad(ANNOTATION_RFC3161, format!("not JSON ({e})")))?;
        let token = ts
            .get("SignedRFC3161Timestamp")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(ANNOTATION_RFC3161, "missing SignedRFC3161Timestamp"))?;
        decode(ANNOTATION_RFC3161, token)?;
        material["timestampVerificationData"] =
            json!({"rfc3161Timestamps": [{"signedTimestamp": token.trim()}]});
    }
    let bundle = json!({
        "mediaType": BUNDLE_V01,
        "verificationMaterial": material,
        "messageSignature": {
            "messageDigest": {
                "algorithm": "SHA2_256",
                "digest": STANDARD.encode(Digest::of(&signature.payload).bytes()),
            },
            "signature": STANDARD.encode(&sig),
        },
    });
    serde_json::to_vec(&bundle).map_err(|e| bad(ANNOTATION_BUNDLE, e.to_string()))
}

/// The transparency-log entry of cosign's Rekor bundle annotation:
/// `{"SignedEntryTimestamp": b64, "Payload": {"body": b64, "integratedTime": n, "logIndex": n,
/// "logID": hex}}`.
fn tlog_entry(text: &str, kinds: &[&str]) -> Result<Value, LegacyRejection> {
    const K: &str = ANNOTATION_BUNDLE;
    let rekor: Value = serde_json::from_str(text).map_err(|e| bad(K, format!("not JSON ({e})")))?;
    let set = rekor
        .get("SignedEntryTimestamp")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(K, "missing SignedEntryTimestamp"))?;
    decode(K, set)?;
    let payload = rekor
        .get("Payload")
        .ok_or_else(|| bad(K, "missing Payload"))?;
    let body_b64 = payload
        .get("body")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(K, "missing Payload.body"))?;
    let body: Value = serde_json::from_slice(&decode(K, body_b64)?)
        .map_err(|e| bad(K, format!("Payload.body is not JSON ({e})")))?;
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    let version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !kinds.contains(&kind) {
        return Err(bad(
            K,
            format!(
                "Payload.body is a {kind:?} entry, expected {}",
                kinds.join(" or ")
            ),
        ));
    }
    let number = |field: &str| -> Result<i64, LegacyRejection> {
        payload
            .get(field)
            .and_then(Value::as_i64)
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad(K, format!("Payload.{field} is not a non-negative integer")))
    };
    let integrated_time = number("integratedTime")?;
    let log_index = number("logIndex")?;
    let log_id = payload
        .get("logID")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(K, "missing Payload.logID"))?;
    let log_id = hex_decode(log_id).ok_or_else(|| bad(K, "Payload.logID is not hex"))?;
    Ok(json!({
        "logIndex": log_index.to_string(),
        "logId": {"keyId": STANDARD.encode(log_id)},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": set.trim()},
        "canonicalizedBody": body_b64.trim(),
    }))
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_read_in_order() {
        let pem = "-----BEGIN CERTIFICATE-----\nYWJj\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nZGVm\n-----END CERTIFICATE-----\n";
        assert_eq!(
            certificates(ANNOTATION_CERTIFICATE, pem).unwrap(),
            vec![b"abc".to_vec(), b"def".to_vec()]
        );
        assert!(certificates(ANNOTATION_CERTIFICATE, "garbage").is_err());
        assert!(certificates(ANNOTATION_CERTIFICATE, "").is_err());
        for extra in ["x", "]n", "-----END CERTIFICATE-----"] {
            assert!(
                certificates(ANNOTATION_CERTIFICATE, &format!("{pem}{extra}")).is_err(),
                "after: {extra}"
            );
            assert!(
                certificates(ANNOTATION_CERTIFICATE, &format!("{extra}{pem}")).is_err(),
                "before: {extra}"
            );
        }
        assert!(certificates(ANNOTATION_CERTIFICATE, "-----BEGIN CERTIFICATE-----\nYWJj").is_err());
    }

    #[test]
    fn hex_is_strict() {
        assert_eq!(hex_decode("0aff"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex_decode("0af"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode("é1"), None);
    }
}
