//! `cargo xtask bench`: the measurements behind BENCHMARKS.md. Each section
//! lives in its own module and prints its own markdown table.

use crate::{
    bench_cache, bench_downloader, bench_gallery, bench_process, bench_registry, bench_verify,
};

/// Entry point: `cargo xtask bench [verify|verify-profile|process|downloader|registry|cache|gallery]`
/// (no argument: every section).
pub fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        None => {
            bench_verify::run()?;
            bench_verify::profile()?;
            bench_process::run()?;
            bench_registry::run()?;
            bench_cache::run()?;
            bench_downloader::run()?;
            bench_gallery::run()
        }
        Some("verify") => bench_verify::run(),
        Some("verify-profile") => bench_verify::profile(),
        Some("process") => bench_process::run(),
        Some("downloader") => bench_downloader::run(),
        Some("registry") => bench_registry::run(),
        Some("cache") => bench_cache::run(),
        Some("gallery") => bench_gallery::run(),
        Some(other) => Err(format!(
            "unknown bench section {other:?}; sections: verify, verify-profile, process, downloader, registry, cache, gallery"
        )),
    }
}
