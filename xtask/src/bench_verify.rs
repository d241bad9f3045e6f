//! `cargo xtask bench verify`: one Sigstore bundle verified in-process with a warm trust root,
//! sigstore-verify alone against trustpull's `verify_bundle` (DESIGN.md §11, first row).
//!
//! The measurement itself is the `verify` bench of trustpull-verifier (harness-less, release
//! profile), so it links the real crates; this only runs it.

use crate::util;

/// Runs the verify bench; it prints a markdown table.
pub fn run() -> Result<(), String> {
    util::run(util::cargo().args([
        "bench",
        "--quiet",
        "-p",
        "trustpull-verifier",
        "--bench",
        "verify",
    ]))
}
