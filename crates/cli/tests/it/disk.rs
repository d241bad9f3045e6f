//! A full disk without root (RELIABILITY.md). `cargo xtask e2e` fills a real size-limited tmpfs,
//! which needs root; these rows run anywhere. trustpull runs under a file-size limit instead:
//! `sh` ignores SIGXFSZ, sets RLIMIT_FSIZE (`ulimit -f`) and execs the binary, so its write past
//! the limit fails with EFBIG exactly where a write to a full disk fails with ENOSPC. It is the
//! kernel refusing a real write: trustpull has no test seam for it. (`sh` rather than
//! `pre_exec` + setrlimit: unsafe code is forbidden in the workspace, tests included.)
//!
//! Each case installs a good tree first, then replaces it with an image that does not fit:
//! exit 2 (a local problem) saying a file is over the size limit and what to do, the destination's directory byte for byte as
//! before (no staging, no temporary layer file), and the same command without the limit
//! installs the new image.

use std::path::Path;
use std::process::Command;

use crate::registry::Registry;
use crate::{assert_exit, assert_unchanged, gzip_tar, names, run, snapshot};

/// The largest file trustpull may write under the limit: 256 KiB (`ulimit -f` counts 512-byte
/// blocks). Far above the demo image's files, the receipt and any metadata.
const LIMIT_BLOCKS: u64 = 512;
/// The one file of each image that does not fit: 1 MiB, four times the limit.
const TOO_BIG: usize = 1 << 20;

/// Runs `command` with the file-size limit: a write past [`LIMIT_BLOCKS`] fails with EFBIG
/// (SIGXFSZ ignored, as the disposition survives exec) instead of killing the process.
fn under_file_size_limit(command: &Command) -> Command {
    let mut limited = Command::new("sh");
    limited
        .args([
            "-c",
            "trap '' XFSZ && ulimit -f \"$1\" && shift && exec \"$@\"",
        ])
        .arg("sh")
        .arg(LIMIT_BLOCKS.to_string())
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => limited.env(key, value),
            None => limited.env_remove(key),
        };
    }
    limited
}

/// `trustpull pull HOST/acme/app@DIGEST --dest DEST --replace`, not started.
fn pull(registry: &Registry, dest: &Path) -> Command {
    registry.pull_command(
        &registry.server.address().to_string(),
        dest,
        &[],
        &["--replace"],
    )
}

/// `len` bytes that do not compress (xorshift64).
fn incompressible(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The case: a good tree at `parent/app`, then `layer` (whose file `app/NAME` is `content`)
/// pulled over it under the limit and, after that, without it.
async fn a_file_too_large_keeps_the_tree_then_a_rerun_installs(
    name: &str,
    content: &[u8],
    layer: Vec<u8>,
) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("out");
    std::fs::create_dir(&parent).unwrap();
    let dest = parent.join("app");
    let (good, _) = crate::registry::start_with_demo_layer().await;
    assert_exit(&run(pull(&good, &dest)).await, 0);
    let before = snapshot(&parent);

    let registry = crate::registry::start_with_layer(&layer).await;
    let out = run(under_file_size_limit(&pull(&registry, &dest))).await;
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // The OS's reason and what to do about it.
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(stderr.contains("file-size limit (ulimit -f)"), "{stderr}");
    assert_eq!(names(&parent), ["app"], "{stderr}");
    assert_unchanged(&before, &snapshot(&parent), "after the failed pull");

    let out = run(pull(&registry, &dest)).await;
    assert_exit(&out, 0);
    assert_eq!(names(&parent), ["app"]);
    assert!(
        std::fs::read(dest.join("app").join(name)).unwrap() == content,
        "app/{name} is not the layer's file"
    );
    stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_size_limit_hit_while_downloading_a_layer_exits_2_and_keeps_the_tree() {
    // 1 MiB that does not compress: the layer blob itself does not fit.
    let content = incompressible(TOO_BIG);
    let layer = gzip_tar("app/data.bin", &content);
    assert!(layer.len() > TOO_BIG, "the layer compressed");
    let stderr =
        a_file_too_large_keeps_the_tree_then_a_rerun_installs("data.bin", &content, layer).await;
    assert!(stderr.contains("temporary file"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_size_limit_hit_during_extraction_exits_2_and_keeps_the_tree() {
    // 1 MiB of zeros: a layer of a few KiB (it downloads) whose file does not fit.
    let content = vec![0u8; TOO_BIG];
    let layer = gzip_tar("app/zeros.bin", &content);
    assert!(layer.len() < 64 << 10, "{} bytes", layer.len());
    let stderr =
        a_file_too_large_keeps_the_tree_then_a_rerun_installs("zeros.bin", &content, layer).await;
    assert!(stderr.contains("could not be extracted"), "{stderr}");
}
