//! Differential test: trustpull's keyless verification (`keyless.rs`, one pass) against
//! sigstore-verify 0.15.1's `Verifier::verify` on the same bytes, digest and trust root. The two
//! must agree on every input sigstore-verify can read: the conformance suite's keyless cases and
//! byte-flip mutants of the virtual Sigstore's Rekor v1 bundles (including ones that verify).
//!
//! Inputs sigstore-verify cannot read have no verdict to compare (a Rekor v2 entry, whose
//! checkpoint it does not bind to its log; an RFC 3161 time with fractional seconds); the
//! conformance and mutation tests cover those.

use std::path::Path;

use sigstore_trust_root::TrustedRoot;
use sigstore_types::{Bundle, KindVersion, Sha256Hash};
use sigstore_verify::{VerificationPolicy, Verifier};
use trustpull_policy::Digest;
use trustpull_testkit::conformance::{cases, data_dir};
use trustpull_testkit::sigstore::{SignRequest, VirtualSigstore};
use trustpull_verifier::{verify_signature, TrustRoot};

/// sigstore-verify's verdict, or `None` when it cannot read the bundle the way trustpull does.
fn theirs(bundle: &[u8], digest: &Digest, root: &TrustedRoot) -> Option<bool> {
    let parsed = Bundle::from_json(std::str::from_utf8(bundle).ok()?).ok()?;
    let material = &parsed.verification_material;
    let v2 = material
        .tlog_entries
        .iter()
        .any(|e| e.kind_version == KindVersion::HashedRekordV002);
    let fractional = material
        .timestamp_verification_data
        .rfc3161_timestamps
        .iter()
        .any(|t| has_fraction(t.signed_timestamp.as_bytes()));
    if v2 || fractional {
        return None;
    }
    let verifier = Verifier::new(root).ok()?;
    Some(
        verifier
            .verify(
                Sha256Hash::new(digest.bytes()),
                &parsed,
                &VerificationPolicy::any_identity(),
            )
            .is_ok(),
    )
}

/// Whether an RFC 3161 token's `genTime` (a DER GeneralizedTime, tag 0x18) has a fraction.
fn has_fraction(token: &[u8]) -> bool {
    token.windows(2).enumerate().any(|(i, w)| {
        w[0] == 0x18
            && token
                .get(i + 2..i + 2 + usize::from(w[1]))
                .is_some_and(|t| {
                    t.len() > 15
                        && t.iter()
                            .all(|b| b.is_ascii_digit() || *b == b'.' || *b == b'Z')
                        && t.contains(&b'.')
                })
    })
}

/// Compares the verdicts on `inputs`; returns how many were compared and how many accepted.
fn compare(
    what: &str,
    inputs: &[(String, Vec<u8>)],
    digest: &Digest,
    root_json: &[u8],
) -> (usize, usize) {
    let ours_root = TrustRoot::from_json(root_json, what).expect("the trust root loads");
    let their_root =
        TrustedRoot::from_json(std::str::from_utf8(root_json).expect("UTF-8")).expect("loads");
    let (mut compared, mut accepted) = (0, 0);
    let mut disagreements = Vec::new();
    for (name, bytes) in inputs {
        let Some(theirs) = theirs(bytes, digest, &their_root) else {
            continue;
        };
        let ours = verify_signature(bytes, digest, &ours_root);
        compared += 1;
        accepted += usize::from(theirs);
        if ours.is_ok() != theirs {
            disagreements.push(format!(
                "{name}: trustpull {ours:?}, sigstore-verify {theirs}"
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{what}: {} of {compared} verdicts differ:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    (compared, accepted)
}

#[test]
fn keyless_verdicts_match_sigstore_verify_on_the_conformance_suite() {
    let data = data_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("root"),
    );
    let (mut compared, mut accepted) = (0, 0);
    for case in cases(&data).expect("the vendored cases") {
        if case.managed_key() {
            continue;
        }
        let bundle = std::fs::read(case.dir.join("bundle.sigstore.json")).expect("bundle");
        let artifact = std::fs::read(case.artifact(&data)).expect("artifact");
        let digest = Digest::of(&artifact);
        let root = std::fs::read(case.trusted_root(&data)).expect("root");
        if TrustedRoot::from_json(std::str::from_utf8(&root).expect("UTF-8"))
            .ok()
            .and_then(|r| Verifier::new(&r).ok())
            .is_none()
        {
            continue; // an unusable root: both refuse it before any bundle (config error)
        }
        let (c, a) = compare(&case.name, &[(case.name.clone(), bundle)], &digest, &root);
        compared += c;
        accepted += a;
    }
    // Most cases are compared, both ways: some verify, most are `_fail` cases.
    assert!(compared >= 30, "only {compared} cases compared");
    assert!(accepted >= 5, "only {accepted} compared cases verify");
}

#[test]
fn keyless_verdicts_match_sigstore_verify_on_mutants() {
    let sigstore = VirtualSigstore::new();
    let root = sigstore.trusted_root_json();
    let digest = Digest::of(b"manifest");
    let mut compared = 0;
    for request in [
        SignRequest::dsse(digest.clone()),
        SignRequest::message(digest.clone()),
    ] {
        let good = sigstore.sign_value(&request);
        let mut inputs = vec![(
            "unmutated".to_owned(),
            serde_json::to_vec(&good).expect("JSON encodes"),
        )];
        inputs.extend(crate::mutation::mutants_of(&good));
        let (c, a) = compare("virtual sigstore", &inputs, &digest, &root);
        assert!(a >= 1, "the unmutated bundle verifies on both sides");
        compared += c;
    }
    assert!(compared >= 200, "only {compared} mutants compared");
}
