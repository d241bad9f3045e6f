//! `cargo xtask bench verify`: one Sigstore bundle verified in-process with a warm trust root
//! (the first target in BENCHMARKS.md): sigstore-verify alone against trustpull's `verify_bundle` and the
//! cryptographic floor (the bundle's ECDSA verifications alone, aws-lc-rs), then sigstore-python
//! on the same bundle, root and identity/issuer policy, and the ratios. [`profile`] counts
//! instructions per verification under callgrind (`cargo xtask bench verify-profile`).
//!
//! The Rust measurement is the `verify` bench of trustpull-verifier (harness-less, release
//! profile), so it links the real crates; this runs it and reads trustpull's median from its
//! table. The Python measurement is `xtask/python/bench_verify.py`, run with the venv of
//! [`python_venv`] (also used by `cargo xtask interop` for the `sigstore` CLI).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest as _, Sha256};

use crate::util;

/// The conformance case both sides verify, relative to the workspace root.
const CASE: &str = "tests/conformance/bundle-verify/happy-path-v0.3/bundle.sigstore.json";
const ARTIFACT: &str = "tests/conformance/bundle-verify/a.txt";
const TRUSTED_ROOT: &str = "tests/conformance/production_trusted_root.json";
/// The identity/issuer policy of the Rust bench (crates/verifier/benches/verify.rs).
const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The Rust bench's row for trustpull's `verify_bundle`.
const OURS_ROW: &str = "| trustpull verify_bundle";
/// The target: trustpull about 2.5–3x faster than sigstore-python (what <= 1.3x the
/// cryptographic floor gives); the lower end is the bar.
const TARGET: f64 = 2.5;

/// Runs the verify bench and the sigstore-python measurement; prints markdown tables.
pub fn run() -> Result<(), String> {
    let ours_ms = rust_bench()?;
    let python = python_bench()?;
    let field = |name: &str| {
        python
            .get(name)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| format!("sigstore-python bench output lacks a number {name:?}"))
    };
    let text = |name: &str| python.get(name).and_then(|v| v.as_str()).unwrap_or("?");
    let (verify_ms, parse_verify_ms) = (field("verify_ms")?, field("parse_verify_ms")?);
    let (rounds, per_round) = (field("rounds")?, field("per_round")?);
    let met = |ratio: f64| if ratio >= TARGET { "met" } else { "NOT met" };

    println!(
        "\n## sigstore-python {} in-process, same bundle, root and policy\n",
        text("sigstore")
    );
    println!(
        "Python {}, cryptography {}; median of {rounds} interleaved rounds x {per_round} \
         verifications; trustpull's figure is the row above, from this run\n",
        text("python"),
        text("cryptography"),
    );
    println!("| what | per bundle | trustpull verify_bundle ({ours_ms:.3} ms) is |");
    println!("|---|---|---|");
    for (what, ms) in [
        (
            "`Verifier.verify_artifact`, bundle parsed once outside the loop",
            verify_ms,
        ),
        (
            "`Bundle.from_json` + `Verifier.verify_artifact` (the work `verify_bundle` does)",
            parse_verify_ms,
        ),
    ] {
        let ratio = ms / ours_ms;
        println!(
            "| {what} | {ms:.3} ms | {ratio:.2}x faster (target >= {TARGET}x: {}) |",
            met(ratio)
        );
    }
    Ok(())
}

/// Runs the Rust bench, echoes its table and returns trustpull's median in milliseconds.
fn rust_bench() -> Result<f64, String> {
    let mut cmd = util::cargo();
    cmd.args([
        "bench",
        "--quiet",
        "-p",
        "trustpull-verifier",
        "--bench",
        "verify",
    ]);
    let table = output(&mut cmd)?;
    for line in table.lines() {
        println!("{line}");
    }
    table
        .lines()
        .find(|l| l.starts_with(OURS_ROW))
        .and_then(|l| l.split('|').nth(2))
        .and_then(|cell| cell.trim().strip_suffix(" ms"))
        .and_then(|ms| ms.parse().ok())
        .ok_or_else(|| format!("the verify bench printed no `{OURS_ROW} | N ms` row:\n{table}"))
}

/// Runs the sigstore-python script in the bench venv and returns its JSON report.
fn python_bench() -> Result<serde_json::Value, String> {
    let root = util::root();
    let python = python_venv()?.join("bin/python");
    let mut cmd = Command::new(python);
    cmd.current_dir(&root)
        .arg(root.join("xtask/python/bench_verify.py"))
        .arg("--trusted-root")
        .arg(root.join(TRUSTED_ROOT))
        .arg("--bundle")
        .arg(root.join(CASE))
        .arg("--artifact")
        .arg(root.join(ARTIFACT))
        .args(["--identity", IDENTITY, "--issuer", ISSUER]);
    let out = output(&mut cmd)?;
    serde_json::from_str(out.trim())
        .map_err(|e| format!("sigstore-python bench printed no JSON report ({e}):\n{out}"))
}

/// `target/python-venv` with sigstore-python installed: created (`python3 -m venv`) and filled
/// from the pinned `xtask/python/requirements.txt` when missing or filled from other
/// requirements. Needs `python3` with the `venv` module and pip access to PyPI.
pub fn python_venv() -> Result<PathBuf, String> {
    let dir = util::target_dir().join("python-venv");
    let requirements = util::root().join("xtask/python/requirements.txt");
    let wanted = std::fs::read(&requirements)
        .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    let wanted = hex::encode(Sha256::digest(wanted));
    let stamp = dir.join("requirements.sha256");
    let python = dir.join("bin/python");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(dir);
    }
    if !python.exists() {
        util::run(Command::new("python3").arg("-m").arg("venv").arg(&dir))
            .map_err(|e| format!("{e}\ncreate it by hand: python3 -m venv {}", dir.display()))?;
    }
    util::run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&requirements),
    )
    .map_err(|e| {
        format!(
            "{e}\ninstall by hand: {} -m pip install -r {}",
            python.display(),
            requirements.display()
        )
    })?;
    write(&stamp, &wanted)?;
    Ok(dir)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs `cmd` with stderr shown, echoing it first, and returns its stdout; an unsuccessful
/// exit is an error naming the command.
fn output(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    eprintln!("$ {shown}");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{shown}` failed ({})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("`{shown}` printed non-UTF-8: {e}"))
}

/// `cargo xtask bench verify-profile`: instructions per verification (callgrind counts them
/// exactly, so a busy machine does not blur them) for trustpull's `verify_bundle`,
/// sigstore-verify alone and the cryptographic floor of the verify bench, then where
/// trustpull's instructions go (callgrind_annotate, inclusive, top entries). Each side runs the
/// bench binary as `--only SIDE N` for two N; the difference removes setup (trust root, keys).
pub fn profile() -> Result<(), String> {
    const FEW: u64 = 20;
    const MANY: u64 = 220;
    let bench = bench_binary()?;
    let dir = util::target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut per_verify = Vec::new();
    for side in ["ours", "alone", "floor"] {
        let mut totals = Vec::new();
        for n in [FEW, MANY] {
            let out = dir.join(format!("callgrind.{side}.{n}.out"));
            let mut cmd = Command::new("valgrind");
            cmd.arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg(&bench)
                .args(["--only", side, &n.to_string()])
                .current_dir(util::root().join("crates/verifier"));
            output(&mut cmd)
                .map_err(|e| format!("{e}\nvalgrind is needed: apt-get install valgrind"))?;
            totals.push(callgrind_total(&out)?);
        }
        per_verify.push((side, (totals[1] - totals[0]) / (MANY - FEW)));
    }
    let floor = per_verify[2].1 as f64;
    println!("\n## instructions per verification (callgrind, happy-path-v0.3)\n");
    println!("| what | instructions per bundle | vs floor |");
    println!("|---|---|---|");
    for (side, ir) in &per_verify {
        let what = match *side {
            "ours" => "trustpull verify_bundle",
            "alone" => "sigstore-verify alone",
            _ => "floor: the 5 ECDSA verifications (aws-lc-rs, keys parsed once)",
        };
        println!("| {what} | {ir} | {:.2}x |", *ir as f64 / floor);
    }
    let annotate = Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--threshold=99"])
        .arg(dir.join(format!("callgrind.ours.{MANY}.out")))
        .output()
        .map_err(|e| format!("could not run callgrind_annotate: {e}"))?;
    println!("\n### trustpull verify_bundle x {MANY} (plus setup), inclusive, top 60\n");
    println!("```");
    for line in String::from_utf8_lossy(&annotate.stdout)
        .lines()
        .filter(|l| l.contains(" (") || l.contains("PROGRAM TOTALS"))
        .take(60)
    {
        println!("{line}");
    }
    println!("```");
    Ok(())
}

/// The verify bench's binary (release profile), built if needed.
fn bench_binary() -> Result<PathBuf, String> {
    let mut cmd = util::cargo();
    cmd.args([
        "bench",
        "--no-run",
        "--message-format=json",
        "-p",
        "trustpull-verifier",
        "--bench",
        "verify",
    ]);
    let out = output(&mut cmd)?;
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == "verify")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo bench --no-run named no executable for the verify bench".to_owned())
}

/// The instruction total a callgrind output file records.
fn callgrind_total(file: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|n| n.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{} has no totals line", file.display()))
}
