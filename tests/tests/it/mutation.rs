//! Mutation test: flip bytes across every field of good bundles (DSSE and message signature);
//! no mutant may be accepted and none may panic.
//!
//! Base64 fields are decoded, flipped and re-encoded (flipping base64 text could hit padding
//! bits and leave the bytes unchanged). The checkpoint's signed body is flipped as text and its
//! signature blob as bytes; the signer name on the signature line is not signed, so it is not a
//! field that can make a difference. Empty fields (DSSE `keyid`) have nothing to flip. Raw
//! byte flips over the whole document add mutants of structure and key names.

use std::panic::{catch_unwind, AssertUnwindSafe};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use trustpull_policy::Digest;
use trustpull_testkit::sigstore::{
    default_policy, default_signed_at, BundleFormat, Rekor, SignRequest, VirtualSigstore,
};
use trustpull_verifier::{verify_bundle, TrustRoot};

const POSITIONS_PER_FIELD: usize = 16;

fn spread(len: usize) -> Vec<usize> {
    if len <= POSITIONS_PER_FIELD {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..POSITIONS_PER_FIELD)
        .map(|i| i * (len - 1) / (POSITIONS_PER_FIELD - 1))
        .collect();
    v.dedup();
    v
}

fn is_base64_field(key: &str) -> bool {
    matches!(
        key,
        "rawBytes"
            | "keyId"
            | "signedEntryTimestamp"
            | "rootHash"
            | "canonicalizedBody"
            | "payload"
            | "sig"
            | "signature"
            | "digest"
            | "signedTimestamp"
    ) || key.starts_with("hashes/")
}

/// Every string leaf as (JSON pointer, last key).
fn leaves(v: &Value, pointer: String, key: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| leaves(v, format!("{pointer}/{k}"), k.clone(), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, format!("{pointer}/{i}"), format!("{key}/{i}"), out)),
        Value::String(_) => out.push((pointer, key)),
        _ => {}
    }
}

pub(crate) fn mutants_of(bundle: &Value) -> Vec<(String, Vec<u8>)> {
    let mut fields = Vec::new();
    leaves(bundle, String::new(), String::new(), &mut fields);
    let mut out = Vec::new();
    for (pointer, key) in fields {
        let Some(Value::String(text)) = bundle.pointer(&pointer) else {
            continue;
        };
        let variants: Vec<String> = if key == "envelope" {
            // Checkpoint: flip the signed body as text, the signature blob as bytes.
            let (body, sigs) = text
                .split_once("\n\n")
                .expect("a checkpoint has a blank line");
            let mut v: Vec<String> = spread(body.len())
                .into_iter()
                .map(|i| format!("{}\n\n{sigs}", flip_text(body, i)))
                .collect();
            let line = sigs.trim_end();
            let (head, blob) = line.rsplit_once(' ').expect("signature line has a blob");
            let bytes = STANDARD
                .decode(blob)
                .expect("checkpoint signature is base64");
            v.extend(
                spread(bytes.len())
                    .into_iter()
                    .map(|i| format!("{body}\n\n{head} {}\n", STANDARD.encode(flip(&bytes, i)))),
            );
            v
        } else if is_base64_field(&key) {
            let bytes = STANDARD.decode(text).expect("fixture base64 decodes");
            spread(bytes.len())
                .into_iter()
                .map(|i| STANDARD.encode(flip(&bytes, i)))
                .collect()
        } else {
            spread(text.len())
                .into_iter()
                .map(|i| flip_text(text, i))
                .collect()
        };
        for (n, variant) in variants.into_iter().enumerate() {
            let mut m = bundle.clone();
            if let Some(slot) = m.pointer_mut(&pointer) {
                *slot = Value::String(variant);
            }
            out.push((
                format!("{pointer} #{n}"),
                serde_json::to_vec(&m).expect("JSON encodes"),
            ));
        }
    }
    // Raw byte flips over the serialized document (mostly malformed JSON, some not), except
    // in unsigned, optional spots where a change means nothing: the names of the optional
    // fields `keyid` and `messageDigest` (renaming one is omitting it, which the format allows)
    // and the signer name on the checkpoint's signature line (not covered by the signature).
    // With a SET (Rekor v1), the RFC 3161 timestamps are optional too: renaming their field is
    // omitting them. And the other way round: with an RFC 3161 timestamp and an inclusion proof,
    // the SET is optional (a v0.2+ bundle needs only the proof; the token gives the time).
    let raw = serde_json::to_vec(bundle).expect("JSON encodes");
    let mut optional = vec![
        "\"keyid\"",
        "\"messageDigest\"",
        " rekor.trustpull.test ",
        " log2026-1.rekor.trustpull.test ",
    ];
    if bundle
        .pointer("/verificationMaterial/tlogEntries/0/inclusionPromise")
        .is_some()
    {
        optional.extend(["\"timestampVerificationData\"", "\"rfc3161Timestamps\""]);
    }
    if bundle
        .pointer("/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0")
        .is_some()
        && bundle
            .pointer("/verificationMaterial/tlogEntries/0/inclusionProof")
            .is_some()
    {
        optional.push("\"inclusionPromise\"");
    }
    let benign: Vec<std::ops::Range<usize>> = optional
        .iter()
        .flat_map(|needle| {
            let raw = &raw;
            (0..raw.len())
                .filter(move |&i| raw[i..].starts_with(needle.as_bytes()))
                .map(move |i| i..i + needle.len())
        })
        .collect();
    for i in (0..raw.len()).step_by(raw.len() / 60 + 1) {
        if benign.iter().any(|r| r.contains(&i)) {
            continue;
        }
        out.push((format!("raw byte {i}"), flip(&raw, i)));
    }
    out
}

fn flip(bytes: &[u8], i: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[i] ^= 0x01;
    b
}

fn flip_text(text: &str, i: usize) -> String {
    let b = flip(text.as_bytes(), i);
    String::from_utf8(b).unwrap_or_else(|_| format!("{text}x"))
}

fn check(name: &str, bundle: &Value, digest: &Digest, root: &TrustRoot) -> usize {
    let good = serde_json::to_vec(bundle).expect("JSON encodes");
    assert!(
        verify_bundle(&good, digest, &default_policy(), root).is_ok(),
        "{name}: the unmutated bundle must verify"
    );
    let mutants = mutants_of(bundle);
    let mut accepted = Vec::new();
    let mut panicked = Vec::new();
    for (what, bytes) in &mutants {
        match catch_unwind(AssertUnwindSafe(|| {
            verify_bundle(bytes, digest, &default_policy(), root)
        })) {
            Ok(Ok(_)) => accepted.push(what.clone()),
            Ok(Err(_)) => {}
            Err(_) => panicked.push(what.clone()),
        }
    }
    assert!(
        accepted.is_empty(),
        "{name}: {} mutants accepted: {accepted:?}",
        accepted.len()
    );
    assert!(
        panicked.is_empty(),
        "{name}: {} mutants panicked: {panicked:?}",
        panicked.len()
    );
    mutants.len()
}

#[test]
fn no_mutant_of_a_good_bundle_is_accepted_or_panics() {
    let sigstore = VirtualSigstore::new();
    let root = sigstore.trust_root();
    let digest = Digest::of(b"manifest");
    let dsse = sigstore.sign_value(&SignRequest::dsse(digest.clone()));
    let message = sigstore.sign_value(&SignRequest::message(digest.clone()));
    let total =
        check("dsse", &dsse, &digest, &root) + check("message signature", &message, &digest, &root);
    assert!(total >= 500, "only {total} mutants");
    eprintln!("{total} mutants, none accepted, none panicked");
}

#[test]
fn no_mutant_of_a_rekor_v2_or_fractional_time_bundle_is_accepted_or_panics() {
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    let root = sigstore.trust_root();
    let digest = Digest::of(b"manifest");
    let fractional = default_signed_at() + chrono::Duration::milliseconds(250);
    let whole = default_signed_at() - chrono::Duration::seconds(30);
    let mut total = 0;
    for (name, rekor, format, at) in [
        (
            "v2 dsse, whole seconds",
            Rekor::V2Dsse,
            BundleFormat::Dsse,
            whole,
        ),
        (
            "v2 dsse, fractional",
            Rekor::V2Dsse,
            BundleFormat::Dsse,
            fractional,
        ),
        (
            "v2 hashedrekord message, fractional",
            Rekor::V2HashedRekord,
            BundleFormat::MessageSignature,
            fractional,
        ),
        (
            "v2 hashedrekord message, whole seconds",
            Rekor::V2HashedRekord,
            BundleFormat::MessageSignature,
            whole,
        ),
        (
            "v1 dsse, fractional",
            Rekor::V1,
            BundleFormat::Dsse,
            fractional,
        ),
    ] {
        let bundle = sigstore.sign_value(&SignRequest {
            rekor,
            format,
            timestamp: Some(at),
            ..SignRequest::dsse(digest.clone())
        });
        total += check(name, &bundle, &digest, &root);
    }
    assert!(total >= 300, "only {total} mutants");
    eprintln!("{total} mutants, none accepted, none panicked");
}
