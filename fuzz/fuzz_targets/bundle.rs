//! Sigstore bundles, through the whole verification against a fixture trust root (the
//! scenarios' virtual Sigstore): no input panics, and only a bundle that really passes every
//! check is accepted (seeded with one that does, so mutations explore deep paths).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use trustpull_policy::{Digest, PolicySpec, TrustPolicy};
use trustpull_verifier::{verify_bundle, TrustRoot};

/// The digest the seed bundle (tests/fixtures/scenarios/extension-mismatch) signs.
const DIGEST: &str = "sha256:b22c7289dd3b4785a3795c90e15d16bd66bd29b444b8974fe29ed0443ce50405";

struct Fixture {
    root: TrustRoot,
    policy: TrustPolicy,
    digest: Digest,
}

// A fuzz target is a process of its own: loading the root once per process is the harness,
// not library state.
static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| Fixture {
    root: TrustRoot::from_json(
        include_bytes!("../../tests/fixtures/scenarios/trusted_root.json"),
        "fuzz fixture root",
    )
    .expect("the fixture root loads"),
    policy: TrustPolicy::new(PolicySpec {
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        identity: Some(
            "https://github.com/acme/backends/.github/workflows/release.yml@refs/heads/main".into(),
        ),
        ..PolicySpec::default()
    })
    .expect("the fixture policy is valid"),
    digest: DIGEST.parse().expect("a fixed digest parses"),
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let _ = verify_bundle(data, &f.digest, &f.policy, &f.root);
});
