//! The verification fixture the `bundle` and `legacy` targets share: the scenarios' trust root,
//! the policy their signer satisfies, and the digest their seeds sign.

use std::sync::LazyLock;

use trustpull_policy::{Digest, PolicySpec, TrustPolicy};
use trustpull_verifier::TrustRoot;

/// The digest the seeds sign (tests/fixtures/scenarios/extension-mismatch's bundle; the legacy
/// seed xtask/src/fuzz.rs signs names the same one).
const DIGEST: &str = "sha256:b22c7289dd3b4785a3795c90e15d16bd66bd29b444b8974fe29ed0443ce50405";

pub struct Fixture {
    pub root: TrustRoot,
    pub policy: TrustPolicy,
    pub digest: Digest,
}

// A fuzz target is a process of its own: loading the root once per process is the harness,
// not library state.
pub static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| Fixture {
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
