//! cosign's legacy simple-signing signatures (a `.sig` layer: payload + annotations), through
//! the whole legacy verification against the scenarios' fixture root: no input panics. The
//! input is `{"payload": "<the signed bytes>", "annotations": {...}}`; `cargo xtask fuzz`
//! seeds it with a signature that passes, so mutations explore past the parsers.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use trustpull_policy::{Digest, PolicySpec, TrustPolicy};
use trustpull_verifier::{verify_legacy, LegacySignature, TrustRoot};

/// The digest the seed signature names (xtask/src/fuzz.rs signs the same one).
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

#[derive(serde::Deserialize)]
struct Input {
    payload: String,
    annotations: BTreeMap<String, String>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Input>(data) else {
        return;
    };
    let f = &*FIXTURE;
    let signature = LegacySignature {
        payload: input.payload.into_bytes(),
        annotations: input.annotations,
    };
    let _ = verify_legacy(&signature, &f.digest, &f.policy, &f.root);
});
