//! `cargo xtask ci`: everything CI checks, in the order that fails fastest: fmt, clippy, the
//! trait-only crate setups compiled alone, the tests, then e2e.
//!
//! The last step, `cargo xtask e2e`, needs Debian's `docker-registry` and `apache2-utils`
//! (installed with apt-get when run as root).

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
    util::run(cargo().args(["test", "--workspace", "--locked"]))?;
    crate::e2e::run(&[])?;
    Ok(())
}

/// Entry point; `ci` takes no arguments.
pub fn run(args: &[String]) -> Result<(), String> {
    util::no_args("ci", args)?;
    run_ci()
}
