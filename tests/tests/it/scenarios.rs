//! Policy scenarios: every committed fixture folder (tests/fixtures/scenarios/) and a fresh
//! in-memory build give the expected outcome for each bundle/policy pair, and every scenario has
//! a run that passes and one that fails.

use std::path::{Path, PathBuf};

use trustpull_policy::{PolicyViolation as V, TrustPolicy};
use trustpull_testkit::scenarios::{build, Case, Expect};
use trustpull_testkit::sigstore::VirtualSigstore;
use trustpull_verifier::{verify_bundle, BundleRejection as R, TrustRoot, VerifiedBundle};

fn matches_expect(expect: Expect, got: &Result<VerifiedBundle, R>) -> bool {
    match expect {
        Expect::Pass => got.is_ok(),
        Expect::Identity => matches!(
            got,
            Err(R::Policy(V::Identity {
                partial_match: false,
                ..
            }))
        ),
        Expect::IdentityPartial => matches!(
            got,
            Err(R::Policy(V::Identity {
                partial_match: true,
                ..
            }))
        ),
        Expect::Issuer => matches!(got, Err(R::Policy(V::Issuer { .. }))),
        Expect::Extension => matches!(got, Err(R::Policy(V::Extension { found: Some(_), .. }))),
        Expect::NotBefore => matches!(got, Err(R::Policy(V::SignedBeforeCutoff { .. }))),
        Expect::PredicateType => matches!(got, Err(R::Policy(V::PredicateType { .. }))),
        Expect::SubjectDigest => matches!(got, Err(R::SubjectDigest { .. })),
        Expect::ArtifactMismatch => matches!(got, Err(R::ArtifactMismatch { .. })),
        Expect::Certificate => matches!(got, Err(R::Certificate { .. })),
        Expect::Timestamp => matches!(got, Err(R::Timestamp { .. })),
    }
}

fn check_case(scenario: &str, case: &Case, bundle: impl Fn(&str) -> Vec<u8>, root: &TrustRoot) {
    assert!(
        case.runs.iter().any(|r| r.expect == Expect::Pass),
        "{scenario}: needs a passing run"
    );
    assert!(
        case.runs.iter().any(|r| r.expect != Expect::Pass),
        "{scenario}: needs a failing run"
    );
    for run in &case.runs {
        let policy = TrustPolicy::new(run.policy.clone()).expect("scenario policies are valid");
        let got = verify_bundle(&bundle(&run.bundle), &case.digest, &policy, root);
        assert!(
            matches_expect(run.expect, &got),
            "{scenario} / {}: expected {:?}, got {got:?}",
            run.name,
            run.expect
        );
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scenarios")
}

#[test]
fn committed_scenario_fixtures() {
    let root = TrustRoot::from_file(&fixtures().join("trusted_root.json"))
        .expect("fixture trusted root loads");
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures()).expect("fixtures exist") {
        let dir = entry.expect("readable").path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            dir.join("README.md").exists(),
            "{name}: every scenario folder says how it was made"
        );
        let case: Case =
            serde_json::from_slice(&std::fs::read(dir.join("case.json")).expect("case.json"))
                .expect("case.json parses");
        check_case(
            &name,
            &case,
            |f| std::fs::read(dir.join(f)).expect("bundle file"),
            &root,
        );
        seen += 1;
    }
    assert_eq!(
        seen,
        build(&VirtualSigstore::new()).len(),
        "committed fixtures are out of date: run make-scenarios"
    );
}

#[test]
fn fresh_scenarios() {
    let sigstore = VirtualSigstore::new();
    let root = sigstore.trust_root();
    for s in build(&sigstore) {
        check_case(
            s.name,
            &s.case,
            |f| {
                s.bundles
                    .iter()
                    .find(|(n, _)| n == f)
                    .map(|(_, b)| b.clone())
                    .expect("bundle named in case")
            },
            &root,
        );
    }
}
