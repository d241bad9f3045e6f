//! `trustpull verify-bundle` against the vendored sigstore-conformance suite: every case, with
//! the artifact path and with its `sha256:` digest, through the built binary (140 runs).

use std::path::{Path, PathBuf};
use std::process::Command;

use trustpull_testkit::conformance::{cases, data_dir, ArtifactMode};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn all_conformance_cases_both_ways() {
    let data = data_dir(&workspace_root());
    let cases = cases(&data).expect("the vendored conformance data is readable");
    assert_eq!(
        cases.len(),
        70,
        "expected the 70 vendored bundle-verify cases"
    );
    let mut wrong = Vec::new();
    let mut runs = 0;
    for case in &cases {
        for mode in ArtifactMode::BOTH {
            let args = case.args(&data, mode).expect("case files are readable");
            let out = Command::new(env!("CARGO_BIN_EXE_trustpull"))
                .arg("verify-bundle")
                .args(&args)
                .output()
                .expect("the trustpull binary runs");
            runs += 1;
            let code = out.status.code();
            let stderr = String::from_utf8_lossy(&out.stderr);
            // A pass is exit 0; a `_fail` case is a rejection (1), or a config error (2) for the
            // two cases whose key / trusted root file is itself unusable; never a crash.
            let ok = code == Some(case.expected_exit());
            if !ok || stderr.contains("panicked") {
                wrong.push(format!("{} ({mode:?}): exit {code:?}: {stderr}", case.name));
            }
        }
    }
    assert_eq!(runs, 140);
    assert!(
        wrong.is_empty(),
        "{} of 140 runs wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_trustpull"))
        .args(["verify-bundle", "--bundle", "x.json", "sha256:00"])
        .output()
        .expect("the trustpull binary runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "no identity and no key is a usage error"
    );
}
