//! `cargo xtask conformance`: builds `trustpull` and runs every vendored sigstore-conformance
//! `bundle-verify` case through `trustpull verify-bundle`, with the artifact path and with its
//! digest, printing one line per run and a total. Exit status is failure unless all are right.
//!
//! The same runs are a cargo test: `cargo test -p trustpull --test verify_bundle`.

use std::process::Command;

#[path = "../../tests/src/conformance.rs"]
mod cases;

use cases::ArtifactMode;

use crate::util;

pub fn run(_args: &[String]) -> Result<(), String> {
    util::run(util::cargo().args(["build", "--quiet", "-p", "trustpull"]))?;
    let root = util::root();
    let bin = util::built_binary("debug", "trustpull");
    let data = cases::data_dir(&root);
    let all = cases::cases(&data).map_err(|e| format!("cannot read {}: {e}", data.display()))?;
    let (mut right, mut total) = (0, 0);
    for case in &all {
        for mode in ArtifactMode::BOTH {
            let args = case
                .args(&data, mode)
                .map_err(|e| format!("case {}: {e}", case.name))?;
            let out = Command::new(&bin)
                .arg("verify-bundle")
                .args(&args)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
            total += 1;
            let code = out.status.code();
            let ok = code == Some(case.expected_exit());
            let expected = match case.expected_exit() {
                0 => "verify (exit 0)",
                1 => "reject (exit 1)",
                _ => "config error (exit 2)",
            };
            let mark = if ok { "ok   " } else { "WRONG" };
            println!(
                "{mark} {:<60} {:<6} expected {expected}, got exit {code:?}",
                case.name,
                format!("{mode:?}").to_lowercase()
            );
            if ok {
                right += 1;
            } else {
                println!("      {}", String::from_utf8_lossy(&out.stderr).trim());
            }
        }
    }
    println!("\n{right}/{total} conformance runs correct");
    if right == total {
        Ok(())
    } else {
        Err(format!("{} conformance runs wrong", total - right))
    }
}
