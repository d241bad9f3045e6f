//! Policy scenarios: every committed fixture folder (tests/fixtures/scenarios/) and a fresh
//! in-memory build give the expected outcome for each bundle/policy pair, and every scenario has
//! a run that passes and one that fails. The committed folder is exactly what make-scenarios
//! writes with the seeded signer, byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use trustpull_policy::{PolicyViolation as V, TrustPolicy};
use trustpull_testkit::scenarios::{build, files, Case, Expect, SEED};
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

/// Every file under `dir`, by `/`-separated path relative to `root`.
fn committed_files(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("fixtures exist") {
        let path = entry.expect("readable").path();
        if path.is_dir() {
            committed_files(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("under the root");
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.insert(name, std::fs::read(&path).expect("readable"));
        }
    }
}

#[test]
fn committed_scenarios_are_what_make_scenarios_writes_byte_for_byte() {
    let sigstore = VirtualSigstore::from_seed(SEED);
    let fresh: BTreeMap<String, Vec<u8>> = files(&sigstore.trusted_root_json(), &build(&sigstore))
        .expect("scenario files render")
        .into_iter()
        .collect();
    let mut committed = BTreeMap::new();
    committed_files(&fixtures(), &fixtures(), &mut committed);
    let stale: Vec<&String> = fresh
        .keys()
        .chain(committed.keys())
        .filter(|name| fresh.get(*name) != committed.get(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "tests/fixtures/scenarios is out of date ({stale:?}): run `cargo run -p trustpull-testkit --bin make-scenarios`"
    );
}
