//! Project automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! `ci` is what CI runs and what the README tells contributors to run: formatting, clippy with
//! warnings denied, and the whole test suite. Each command lives in its own module.

// xtask is a developer tool: it reads the environment, prints, and exits with a status.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

mod bench;
mod bench_cache;
mod bench_downloader;
mod bench_gallery;
mod bench_process;
mod bench_registry;
mod bench_verify;
mod ci;
mod conformance;
mod e2e;
mod e2e_faults;
mod e2e_gallery;
mod e2e_pull;
mod e2e_sources;
mod fixtures;
mod fuzz;
mod install;
mod interop;
mod interop_legacy;
mod interop_tuf;
mod push;
mod registry;
#[cfg(test)]
mod tidy;
mod util;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  bench         [verify|verify-profile|process|downloader|registry|cache|gallery] measure the
                targets in BENCHMARKS.md (verify-profile needs valgrind; process needs python3-venv
                and npm; the downloader section needs GNU time, skopeo, umoci and docker-registry:
                apt-get installs them when run as root)
  ci            fmt --check, clippy -D warnings, cargo test --workspace
  conformance   run the vendored sigstore-conformance cases through trustpull verify-bundle
  e2e           trustpull verify and pull against Debian's docker-registry on 127.0.0.1 (plain, basic
                auth, https with a private CA), then interop --registry
  e2e-gallery   only the gallery cases of e2e (install by meta name, upgrade to a new signed digest,
                a refused unsigned upgrade keeping the old tree, list --installed, uninstall)
  e2e-pull      only the pull cases of e2e (signed, unsigned, wrong identity, a layer overwritten in
                the registry's storage)
  fuzz          [--seconds N] [TARGET ...] run the libFuzzer targets in fuzz/ for N seconds each
                (default 10; installs cargo-fuzz when missing)
  fixtures      [--check] regenerate the offline demo in examples/ (or check it is up to date)
  interop       [--out DIR] [--registry] sign with an independent producer (npm @sigstore/mock on
                127.0.0.1, @sigstore/sign, @sigstore/cli; needs node + npm) and check trustpull
                verify-bundle; --registry: sigstore attach to docker-registry, then trustpull verify
  tuf-interop   trustpull trust-root update against a TUF repository written by python-tuf (PyPI tuf,
                pinned venv) and served by python -m http.server on 127.0.0.1 (also part of e2e)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench::run(&args[1..]),
        Some("bench-internal") => bench_downloader::run_internal(&args[1..]),
        Some("ci") => ci::run(&args[1..]),
        Some("conformance") => conformance::run(&args[1..]),
        Some("e2e-gallery") => e2e_gallery::run(&args[1..]),
        Some("e2e-pull") => e2e_pull::run(&args[1..]),
        Some("e2e-sources") => e2e_sources::run(&args[1..]),
        Some("e2e") => e2e::run(&args[1..]),
        Some("fixtures") => fixtures::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("interop") => interop::run(&args[1..]),
        Some("tuf-interop") => interop_tuf::run(&args[1..]),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
