//! Sigstore bundles, through the whole verification against a fixture trust root (the
//! scenarios' virtual Sigstore): no input panics, and only a bundle that really passes every
//! check is accepted (seeded with one that does, so mutations explore deep paths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustpull_verifier::verify_bundle;

#[path = "../common/fixture.rs"]
mod fixture;
use fixture::FIXTURE;

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let _ = verify_bundle(data, &f.digest, &f.policy, &f.root);
});
