//! `cargo xtask ci`: everything CI checks, in the order that fails fastest: fmt, clippy, unused
//! dependencies (cargo-machete), a check with the toolchain `rust-version` names, the
//! trait-only crate setups compiled alone, the tests (the downloader's once more as an
//! unprivileged user when run as root), `cargo package` of the published crates, a fuzz smoke
//! run, then e2e.
//!
//! The last step, `cargo xtask e2e`, needs Debian's `docker-registry` and `apache2-utils`
//! (installed with apt-get when run as root).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::util::{self, cargo};

/// Runs formatting, lints, tests, and the end-to-end run against a real local registry.
pub fn run_ci() -> Result<(), String> {
    util::run(cargo().args(["fmt", "--all", "--check"]))?;
    util::run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    // No dependency is declared and unused (cargo-machete, pinned, installed when missing).
    unused_dependencies()?;
    // The declared rust-version builds everything.
    oldest_supported_rust()?;
    // The trait-only setups compile on their own (a workspace build unifies features and
    // would hide a missing `cfg` or dependency): the downloader without the cosign verifier,
    // and the verifier without its default features.
    util::run(cargo().args(["check", "--locked", "-p", "trustpull-downloader"]))?;
    util::run(cargo().args([
        "check",
        "--locked",
        "-p",
        "trustpull-verifier",
        "--no-default-features",
    ]))?;
    // Builds every example too: crates/cli/examples/embed.rs (the embedding example) must
    // keep compiling against the facade.
    util::run(cargo().args(["test", "--workspace", "--locked"]))?;
    // The facade alone, without the command line's dependencies, as an embedder builds it.
    util::run(cargo().args([
        "check",
        "--locked",
        "-p",
        "trustpull",
        "--lib",
        "--no-default-features",
    ]))?;
    unprivileged_tree_tests()?;
    // The published crates package and build from their tarballs alone (no file outside a
    // crate's directory, every path dependency versioned), in dependency order.
    forget_earlier_packages()?;
    util::run(cargo().args([
        "package",
        "--allow-dirty",
        "-p",
        "trustpull-policy",
        "-p",
        "trustpull-referrers",
        "-p",
        "trustpull-verifier",
        "-p",
        "trustpull-downloader",
        "-p",
        "trustpull-gallery",
        "-p",
        "trustpull",
    ]))?;
    // A smoke run of every fuzz target (the seeds plus a few seconds of search each).
    crate::fuzz::run(&["--seconds".to_owned(), "5".to_owned()])?;
    crate::e2e::run(&[])?;
    Ok(())
}

/// `cargo check --workspace --all-targets` with the toolchain the workspace's `rust-version`
/// names (installed with rustup, minimal profile, when missing), in its own target directory.
fn oldest_supported_rust() -> Result<(), String> {
    let manifest = std::fs::read_to_string(util::root().join("Cargo.toml"))
        .map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
    let version = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .ok_or("Cargo.toml declares no rust-version")?;
    let installed = Command::new("rustup")
        .args(["run", &version, "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        util::run(Command::new("rustup").args([
            "toolchain",
            "install",
            &version,
            "--profile",
            "minimal",
        ]))?;
    }
    util::run(
        Command::new("cargo")
            .current_dir(util::root())
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("RUSTC")
            .arg(format!("+{version}"))
            .args(["check", "--workspace", "--all-targets", "--locked"])
            .env("CARGO_TARGET_DIR", util::target_dir().join("oldest-rust")),
    )
}

/// Runs cargo-machete over the workspace: a dependency declared but not used fails CI (drop
/// it, or use it). Installed (pinned) when missing.
fn unused_dependencies() -> Result<(), String> {
    let installed = Command::new("cargo-machete")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        util::run(Command::new("cargo").args([
            "install",
            "--locked",
            "cargo-machete",
            "--version",
            "0.9.2",
        ]))?;
    }
    // Run directly on the workspace root (as a cargo subcommand under $CARGO it takes its own
    // name for the directory to scan).
    util::run(Command::new("cargo-machete").arg(util::root()))
}

/// `cargo package` verifies each crate against the ones packaged before it through a local
/// registry. Cargo treats a registry crate of one version as immutable: it never unpacks it
/// again under `$CARGO_HOME/registry/src/<that registry>/`, and never rebuilds what it compiled
/// of it in the target directory. A second run on the same machine would build against the
/// FIRST run's crates. So first remove our crates from every registry but crates.io, and the
/// build fingerprints of every `trustpull*` unit (the workspace's own are rebuilt when next
/// needed).
fn forget_earlier_packages() -> Result<(), String> {
    let fingerprints = util::target_dir().join("debug").join(".fingerprint");
    for entry in std::fs::read_dir(&fingerprints)
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with("trustpull") {
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| format!("remove {}: {e}", entry.path().display()))?;
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    for kind in ["src", "cache"] {
        let Ok(registries) = std::fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for registry in registries.flatten() {
            if registry
                .file_name()
                .to_string_lossy()
                .starts_with("index.crates.io")
            {
                continue;
            }
            for entry in std::fs::read_dir(registry.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if !entry.file_name().to_string_lossy().starts_with("trustpull") {
                    continue;
                }
                let path = entry.path();
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.map_err(|e| format!("remove {}: {e}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// CI runs as root, where permission bits do not stop anything: the downloader's unit tests
/// (extraction, the installed tree: read-only and sticky directories, sweeping them) run once
/// more as `nobody`, where they do. Skipped (and said so) when not root or without `runuser`.
fn unprivileged_tree_tests() -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let runuser = Path::new("/usr/sbin/runuser");
    if !root || !runuser.exists() {
        println!("ci: downloader tests as an unprivileged user skipped (needs root and runuser)");
        return Ok(());
    }
    let out = cargo()
        .args([
            "test",
            "--locked",
            "-p",
            "trustpull-downloader",
            "--lib",
            "--no-run",
            "--message-format=json",
        ])
        .output()
        .map_err(|e| format!("cargo test --no-run: {e}"))?;
    let binary = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|m| m["executable"].as_str().map(str::to_owned))
        .ok_or("cargo test --no-run named no test binary for trustpull-downloader")?;
    // A copy in a world-readable directory: the checkout itself may be under a private home.
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let copy = dir.path().join("downloader-tests");
    let perms = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(dir.path(), perms.clone())
        .and_then(|()| std::fs::copy(&binary, &copy).map(drop))
        .and_then(|()| std::fs::set_permissions(&copy, perms))
        .map_err(|e| format!("copy {binary} for the unprivileged run: {e}"))?;
    util::run(
        Command::new(runuser)
            .args(["-u", "nobody", "--"])
            .arg(&copy)
            .current_dir(dir.path()),
    )
}

/// Entry point; `ci` takes no arguments.
pub fn run(args: &[String]) -> Result<(), String> {
    util::no_args("ci", args)?;
    run_ci()
}
