//! `cargo xtask bench process`: whole processes, as a user or a CI step runs them.
//!
//! 1. One bundle verified offline by a fresh process: `trustpull verify-bundle` (release build)
//!    against the sigstore-python CLI (`sigstore --trust-config FILE verify identity --offline`,
//!    the pinned venv of [`bench_verify::python_venv`]) and a sigstore-js script
//!    (`xtask/interop/bench_verify.cjs`: npm `@sigstore/verify`, from `xtask/interop`'s lock
//!    file). Same bundle, trusted root, artifact file, exact identity and issuer.
//! 2. Cold start: `trustpull --version`, and `trustpull verify` of the digest-pinned offline
//!    demo image (`oci-layout:examples/demo-image@sha256:…`).
//!
//! Every command runs once per round, rounds interleaved (a busy shared machine drifts alike
//! for all), stdout/stderr discarded; each must exit 0. Medians are reported, with the load
//! average before and after.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{bench_verify, util};

const CASE: &str = "tests/conformance/bundle-verify/happy-path-v0.3/bundle.sigstore.json";
const ARTIFACT: &str = "tests/conformance/bundle-verify/a.txt";
const TRUSTED_ROOT: &str = "tests/conformance/production_trusted_root.json";
const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The offline demo (README): image, its pinned digest, root and signer.
const DEMO_IMAGE: &str =
    "oci-layout:examples/demo-image@sha256:73ce8f1e8845746a02a9ab75ea204ef5f29854feb973c8e929adbbfeaa62784a";
const DEMO_ROOT: &str = "examples/trusted_root.json";
const DEMO_IDENTITY: &str =
    "https://github.com/acme/backends/.github/workflows/release.yml@refs/heads/main";
/// Rounds: sigstore-python takes ~1.5 s per process, so its row sets the run time.
const ROUNDS: usize = 15;
/// The target: a whole verify process this many times faster than each tool.
const TARGET_PYTHON: f64 = 50.0;
const TARGET_JS: f64 = 20.0;

/// Builds what it needs, runs the rounds, prints two markdown tables.
pub fn run() -> Result<(), String> {
    let root = util::root();
    util::run(util::cargo().args([
        "build",
        "--release",
        "-p",
        "trustpull",
        "--bin",
        "trustpull",
    ]))?;
    let trustpull = util::built_binary("release", "trustpull");
    let python = bench_verify::python_venv()?.join("bin/python");
    let config = trust_config(&root)?;
    let node_dir = node_modules(&root)?;

    let path = |p: &str| root.join(p).display().to_string();
    let ours: Vec<String> = [
        "verify-bundle",
        "--bundle",
        &path(CASE),
        "--trusted-root",
        &path(TRUSTED_ROOT),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        &path(ARTIFACT),
    ]
    .map(String::from)
    .to_vec();
    let python_args: Vec<String> = [
        "-m",
        "sigstore",
        "--trust-config",
        &config.display().to_string(),
        "verify",
        "identity",
        "--offline",
        "--bundle",
        &path(CASE),
        "--cert-identity",
        IDENTITY,
        "--cert-oidc-issuer",
        ISSUER,
        &path(ARTIFACT),
    ]
    .map(String::from)
    .to_vec();
    let js_args: Vec<String> = [
        &node_dir.join("bench_verify.cjs").display().to_string(),
        &path(TRUSTED_ROOT),
        &path(CASE),
        &path(ARTIFACT),
        IDENTITY,
        ISSUER,
    ]
    .map(String::from)
    .to_vec();
    let demo: Vec<String> = [
        "verify",
        DEMO_IMAGE,
        "--trusted-root",
        DEMO_ROOT,
        "--certificate-identity",
        DEMO_IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ]
    .map(String::from)
    .to_vec();
    let version = vec!["--version".to_owned()];
    let cmds: Vec<(&str, PathBuf, &[String])> = vec![
        ("`trustpull verify-bundle`", trustpull.clone(), &ours),
        (
            "sigstore-python 4.5.1 CLI, `verify identity --offline`",
            python.clone(),
            &python_args,
        ),
        (
            "sigstore-js (`@sigstore/verify` 4.1.3 script, node)",
            PathBuf::from("node"),
            &js_args,
        ),
        ("`trustpull --version`", trustpull.clone(), &version),
        (
            "`trustpull verify` of the digest-pinned oci-layout demo",
            trustpull.clone(),
            &demo,
        ),
    ];
    for (what, program, args) in &cmds {
        eprintln!("$ {} {}", program.display(), args.join(" "));
        once(program, args, &root).map_err(|e| format!("{what}: {e}"))?;
    }
    let load_before = load();
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cmds.len()];
    for _ in 0..ROUNDS {
        for ((_, program, args), t) in cmds.iter().zip(&mut times) {
            t.push(once(program, args, &root)?);
        }
    }
    let load_after = load();
    let ms: Vec<f64> = times
        .into_iter()
        .map(|mut t| {
            t.sort();
            t[t.len() / 2].as_secs_f64() * 1e3
        })
        .collect();
    let met = |r: f64, target: f64| if r >= target { "met" } else { "NOT met" };
    println!("\n## Whole processes: verify one bundle offline, cold start\n");
    println!(
        "median of {ROUNDS} interleaved rounds; load average {load_before} before, {load_after} after\n"
    );
    println!("| process | median wall | trustpull verify-bundle is |");
    println!("|---|---|---|");
    println!("| {} | {:.1} ms | |", cmds[0].0, ms[0]);
    for (i, target) in [(1, TARGET_PYTHON), (2, TARGET_JS)] {
        let r = ms[i] / ms[0];
        println!(
            "| {} | {:.1} ms | {r:.0}x faster (target >= {target}x: {}) |",
            cmds[i].0,
            ms[i],
            met(r, target)
        );
    }
    println!("\n| cold start (release build) | median wall |");
    println!("|---|---|");
    for i in 3..cmds.len() {
        println!("| {} | {:.1} ms |", cmds[i].0, ms[i]);
    }
    Ok(())
}

/// Runs one process to completion, output discarded; its wall time, or why it failed.
fn once(program: &Path, args: &[String], dir: &Path) -> Result<Duration, String> {
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("could not start {}: {e}", program.display()))?;
    let took = start.elapsed();
    if !status.success() {
        return Err(format!(
            "`{} {}` failed ({status}); run it by hand to see why",
            program.display(),
            args.join(" ")
        ));
    }
    Ok(took)
}

/// The 1, 5 and 15 minute load averages.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// sigstore-python's client trust config for offline verification: the conformance production
/// root and a signing config it never contacts (`verify --offline` reads only the root).
fn trust_config(root: &Path) -> Result<PathBuf, String> {
    let trusted_root: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join(TRUSTED_ROOT))
            .map_err(|e| format!("cannot read {TRUSTED_ROOT}: {e}"))?,
    )
    .map_err(|e| format!("{TRUSTED_ROOT} is not JSON: {e}"))?;
    let service = |url: &str| {
        serde_json::json!({"url": url, "majorApiVersion": 1,
            "validFor": {"start": "2021-01-01T00:00:00Z"}, "operator": "sigstore.dev"})
    };
    let config = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": trusted_root,
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [service("https://fulcio.sigstore.dev")],
            "oidcUrls": [],
            "rekorTlogUrls": [service("https://rekor.sigstore.dev")],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        },
    });
    let dir = util::target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let file = dir.join("python-trust-config.json");
    std::fs::write(&file, config.to_string())
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(file)
}

/// `xtask/interop` with its npm packages installed (`npm ci` from the lock file when missing).
fn node_modules(root: &Path) -> Result<PathBuf, String> {
    let dir = root.join("xtask/interop");
    if !dir
        .join("node_modules/@sigstore/verify/package.json")
        .is_file()
    {
        util::run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
        )
        .map_err(|e| {
            format!(
                "{e}\ninstall Node.js 20+ with npm, then run `cd {} && npm ci`",
                dir.display()
            )
        })?;
    }
    Ok(dir)
}
