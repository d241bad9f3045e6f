//! In-process verification of one bundle with a warm trust root:
//! sigstore-verify alone (parse + verify + identity/issuer check) against trustpull's
//! `verify_bundle` (parse + binding checks + verify + certificate facts + policy), on the
//! sigstore-conformance `happy-path-v0.3` bundle. Run by `cargo xtask bench verify`
//! (or `cargo bench -p trustpull-verifier --bench verify`).

// A benchmark program: it prints its table.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use sigstore_trust_root::TrustedRoot;
use sigstore_types::{Bundle, Sha256Hash};
use sigstore_verify::{VerificationPolicy, Verifier};
use trustpull_policy::{Digest, PolicySpec, TrustPolicy};
use trustpull_verifier::{verify_bundle, TrustRoot};

const IDENTITY: &str =
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const ROUNDS: usize = 30;
const PER_ROUND: usize = 100;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance");
    let bundle_bytes =
        std::fs::read(data.join("bundle-verify/happy-path-v0.3/bundle.sigstore.json"))
            .expect("vendored bundle");
    let root_json =
        std::fs::read(data.join("production_trusted_root.json")).expect("vendored root");
    let artifact = std::fs::read(data.join("bundle-verify/a.txt")).expect("vendored artifact");
    let digest = Digest::of(&artifact);

    // Warm trust roots, built once, outside the timed loops.
    let sigstore_root = TrustedRoot::from_json(std::str::from_utf8(&root_json).expect("utf8"))
        .expect("root parses");
    let sigstore_verifier = Verifier::new(&sigstore_root).expect("root prepares");
    let sigstore_policy = VerificationPolicy::new(IDENTITY, ISSUER);
    let ours_root = TrustRoot::from_json(&root_json, "production").expect("root prepares");
    let ours_policy = TrustPolicy::new(PolicySpec {
        identity: Some(IDENTITY.into()),
        issuer: Some(ISSUER.into()),
        ..PolicySpec::default()
    })
    .expect("valid");

    let alone = || {
        let text = std::str::from_utf8(black_box(&bundle_bytes)).expect("utf8");
        let bundle = Bundle::from_json(text).expect("parses");
        sigstore_verifier
            .verify(Sha256Hash::new(digest.bytes()), &bundle, &sigstore_policy)
            .expect("verifies");
    };
    let ours = || {
        verify_bundle(black_box(&bundle_bytes), &digest, &ours_policy, &ours_root)
            .expect("verifies");
    };
    for _ in 0..PER_ROUND {
        alone();
        ours();
    }
    // Interleaved rounds, so drift on a shared machine hits both sides alike.
    let (mut a, mut o) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            alone();
        }
        a.push(t.elapsed() / PER_ROUND as u32);
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            ours();
        }
        o.push(t.elapsed() / PER_ROUND as u32);
    }
    let (a, o) = (median(a), median(o));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("## verify one bundle in-process, warm trust root (happy-path-v0.3)\n");
    println!("median of {ROUNDS} rounds x {PER_ROUND} verifications\n");
    println!("| what | per bundle | ratio |");
    println!("|---|---|---|");
    println!(
        "| sigstore-verify alone (parse + verify + identity/issuer) | {:.3} ms | 1.00x |",
        ms(a)
    );
    println!("| trustpull verify_bundle (parse + verify + facts + policy) | {:.3} ms | {:.2}x (target <= 1.10x) |", ms(o), ms(o) / ms(a));
}
