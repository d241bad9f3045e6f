//! cosign's legacy simple-signing signatures from the virtual Sigstore: the payload, and the
//! layer annotations cosign 1.x/2.x write (`dev.cosignproject.cosign/signature`,
//! `dev.sigstore.cosign/certificate`, `…/chain`, `…/bundle` with the Rekor SET, optionally
//! `…/rfc3161timestamp`), plus the `.sig` manifest that carries them.
//!
//! The signature is made exactly like a message-signature bundle over the payload's sha256 (an
//! ECDSA signature over the payload is one over its digest), so every [`Fault`] of a
//! [`SignRequest`] applies: the log entry, SET, certificate and timestamp are the ones
//! [`VirtualSigstore::sign_value`] makes, moved into cosign's annotations.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use trustpull_policy::Digest;
use trustpull_verifier::{
    LegacySignature, ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN,
    ANNOTATION_RFC3161, ANNOTATION_SIGNATURE, COSIGN_SIGNATURE_TYPE, SIMPLE_SIGNING_MEDIA_TYPE,
};

use super::{BundleFormat, Fault, SignRequest, VirtualSigstore};

/// The repository the fixture payloads name in `critical.identity.docker-reference`.
pub const DOCKER_REFERENCE: &str = "registry.test/acme/backend";

/// A simple-signing payload as cosign writes it, naming `digest` (`critical.image.
/// docker-manifest-digest`) with `critical.type` = `kind`.
pub fn simple_signing_payload(digest: &str, reference: &str, kind: &str) -> Vec<u8> {
    crate::json::to_vec(&json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": kind,
        },
        "optional": null,
    }))
}

/// PEM `CERTIFICATE` blocks of `ders`, concatenated.
pub fn pem_certificates<'a>(ders: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut out = String::new();
    for der in ders {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = STANDARD.encode(der);
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl VirtualSigstore {
    /// A legacy signature for `req.digest` (the payload names it, with the standard type), made
    /// with `req`'s signer, times and fault.
    pub fn sign_legacy(&self, req: &SignRequest) -> LegacySignature {
        let payload =
            simple_signing_payload(req.digest.as_str(), DOCKER_REFERENCE, COSIGN_SIGNATURE_TYPE);
        self.sign_legacy_payload(req, payload)
    }

    /// A legacy signature over `payload` as given (to name another digest or type), made with
    /// `req`'s signer, times and fault.
    pub fn sign_legacy_payload(&self, req: &SignRequest, payload: Vec<u8>) -> LegacySignature {
        let request = SignRequest {
            format: BundleFormat::MessageSignature,
            signed_digest: Some(Digest::of(&payload)),
            ..req.clone()
        };
        let bundle = self.sign_value(&request);
        let annotations = self.cosign_annotations(&bundle, req.fault);
        LegacySignature {
            payload,
            annotations,
        }
    }

    /// cosign's layer annotations for a fixture bundle's material (certificate, chain, the Rekor
    /// entry as cosign's bundle annotation, the RFC 3161 token).
    fn cosign_annotations(&self, bundle: &Value, fault: Option<Fault>) -> BTreeMap<String, String> {
        let cert = STANDARD
            .decode(text(bundle, "/verificationMaterial/certificate/rawBytes"))
            .expect("the fixture bundle carries its certificate");
        let chain: Vec<&[u8]> = if fault == Some(Fault::UntrustedCa) {
            vec![&self.rogue_intermediate.cert]
        } else {
            vec![&self.intermediate.cert, &self.root.cert]
        };
        let mut annotations = BTreeMap::from([
            (
                ANNOTATION_SIGNATURE.to_owned(),
                text(bundle, "/messageSignature/signature").to_owned(),
            ),
            (
                ANNOTATION_CERTIFICATE.to_owned(),
                pem_certificates([cert.as_slice()]),
            ),
            (ANNOTATION_CHAIN.to_owned(), pem_certificates(chain)),
        ]);
        if let Some(entry) = bundle.pointer("/verificationMaterial/tlogEntries/0") {
            let log_id = STANDARD
                .decode(text(entry, "/logId/keyId"))
                .expect("the fixture log id is base64");
            let number = |p: &str| text(entry, p).parse::<i64>().unwrap_or_default();
            let mut rekor = json!({
                "Payload": {
                    "body": text(entry, "/canonicalizedBody"),
                    "integratedTime": number("/integratedTime"),
                    "logIndex": number("/logIndex"),
                    "logID": hex::encode(log_id),
                },
            });
            if let Some(set) = entry.pointer("/inclusionPromise/signedEntryTimestamp") {
                rekor["SignedEntryTimestamp"] = set.clone();
            }
            annotations.insert(ANNOTATION_BUNDLE.to_owned(), crate::json::to_string(&rekor));
        }
        if let Some(token) = bundle.pointer(
            "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp",
        ) {
            annotations.insert(
                ANNOTATION_RFC3161.to_owned(),
                crate::json::to_string(&json!({"SignedRFC3161Timestamp": token})),
            );
        }
        annotations
    }

    /// A legacy attestation (a `.att` layer: the DSSE envelope, with cosign's annotations) for
    /// `req` (a DSSE request: its statement, signer, times and fault).
    pub fn sign_legacy_attestation(&self, req: &SignRequest) -> LegacySignature {
        let request = SignRequest {
            format: BundleFormat::Dsse,
            ..req.clone()
        };
        let bundle = self.sign_value(&request);
        let annotations = self.cosign_annotations(&bundle, req.fault);
        let envelope = json!({
            "payloadType": text(&bundle, "/dsseEnvelope/payloadType"),
            "payload": text(&bundle, "/dsseEnvelope/payload"),
            "signatures": [{"keyid": "", "sig": text(&bundle, "/dsseEnvelope/signatures/0/sig")}],
        });
        LegacySignature {
            payload: crate::json::to_vec(&envelope),
            annotations,
        }
    }
}

/// The `sha256-<hex>.sig` manifest cosign writes for `signatures` (one layer each, payloads
/// stored as blobs by their digest), and the blobs: `(manifest bytes, [(digest, payload)])`.
pub fn legacy_manifest(signatures: &[LegacySignature]) -> (Vec<u8>, Vec<(Digest, Vec<u8>)>) {
    legacy_manifest_of(signatures, SIMPLE_SIGNING_MEDIA_TYPE)
}

/// The manifest cosign writes for legacy layers of `media_type` (the `.att` tag's are
/// `application/vnd.dsse.envelope.v1+json`), and its blobs, as [`legacy_manifest`].
pub fn legacy_manifest_of(
    signatures: &[LegacySignature],
    media_type: &str,
) -> (Vec<u8>, Vec<(Digest, Vec<u8>)>) {
    let config = b"{}".to_vec();
    let layers: Vec<Value> = signatures
        .iter()
        .map(|s| {
            json!({
                "mediaType": media_type,
                "digest": Digest::of(&s.payload).as_str(),
                "size": s.payload.len(),
                "annotations": s.annotations,
            })
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": Digest::of(&config).as_str(),
            "size": config.len(),
        },
        "layers": layers,
    });
    let mut blobs: Vec<(Digest, Vec<u8>)> = signatures
        .iter()
        .map(|s| (Digest::of(&s.payload), s.payload.clone()))
        .collect();
    blobs.push((Digest::of(&config), config));
    (crate::json::to_vec(&manifest), blobs)
}
