//! A seeded virtual Sigstore is reproducible byte for byte; another seed, or a fresh random
//! instance, gives other keys and other bytes.

use chrono::Duration;
use trustpull_policy::Digest;
use trustpull_testkit::sigstore::{
    default_policy, default_signed_at, Fault, SignRequest, VirtualSigstore,
};
use trustpull_verifier::{verify_bundle, BundleRejection};

/// The trusted root and one bundle of each kind (DSSE, message signature, with an RFC 3161
/// timestamp, with a fault using a rogue key), in that order.
fn outputs(sigstore: &VirtualSigstore) -> Vec<Vec<u8>> {
    let digest = Digest::of(b"manifest");
    let requests = [
        SignRequest::dsse(digest.clone()),
        SignRequest::message(digest.clone()),
        SignRequest {
            timestamp: Some(default_signed_at() - Duration::seconds(30)),
            ..SignRequest::dsse(digest.clone())
        },
        SignRequest::dsse(digest.clone()).with_fault(Fault::UntrustedCa),
        SignRequest::dsse(digest).with_fault(Fault::BadTimestamp),
    ];
    let mut out = vec![sigstore.trusted_root_json()];
    out.extend(requests.iter().map(|r| sigstore.sign(r)));
    out
}

#[test]
fn the_same_seed_gives_identical_bytes() {
    let a = outputs(&VirtualSigstore::from_seed(b"seed one"));
    let b = outputs(&VirtualSigstore::from_seed(b"seed one"));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            x == y,
            "output {i} differs between two instances with one seed"
        );
    }
}

#[test]
fn another_seed_gives_other_bytes_everywhere() {
    let a = outputs(&VirtualSigstore::from_seed(b"seed one"));
    let b = outputs(&VirtualSigstore::from_seed(b"seed two"));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(x != y, "output {i} is the same for two seeds");
    }
}

#[test]
fn each_signing_call_gets_its_own_leaf() {
    let sigstore = VirtualSigstore::from_seed(b"seed one");
    let req = SignRequest::dsse(Digest::of(b"manifest"));
    assert_ne!(sigstore.sign(&req), sigstore.sign(&req));
}

#[test]
fn seeded_bundles_verify_and_a_root_of_another_seed_rejects_them() {
    let digest = Digest::of(b"manifest");
    let one = VirtualSigstore::from_seed(b"seed one");
    let bundle = one.sign(&SignRequest::dsse(digest.clone()));
    let policy = default_policy();
    let got = verify_bundle(&bundle, &digest, &policy, &one.trust_root());
    assert!(got.is_ok(), "{got:?}");
    let two = VirtualSigstore::from_seed(b"seed two");
    let got = verify_bundle(&bundle, &digest, &policy, &two.trust_root());
    // Neither its Rekor log nor its CA is trusted; whichever is checked first says so.
    assert!(
        matches!(
            got,
            Err(BundleRejection::TransparencyLog { .. } | BundleRejection::Certificate { .. })
        ),
        "{got:?}"
    );
}

#[test]
fn new_instances_have_fresh_keys() {
    assert_ne!(
        VirtualSigstore::new().trusted_root_json(),
        VirtualSigstore::new().trusted_root_json()
    );
}
