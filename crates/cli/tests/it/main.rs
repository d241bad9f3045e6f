//! Integration tests for the `trustpull` binary: exit codes and output, one module per command.

// Helpers outside #[test] fns: a panic is how they report a broken fixture.
#![allow(clippy::unwrap_used)]

mod attestation;
mod completions;
mod disk;
mod faults;
mod install;
mod interop;
mod interrupt;
mod list;
mod pull;
mod registry;
mod trust_root;
mod upgrade;
mod verify;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The identity that signed the offline demo in examples/.
pub const IDENTITY: &str =
    "https://github.com/acme/backends/.github/workflows/release.yml@refs/heads/main";
/// The issuer of the demo's signing certificate.
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The repository's examples/ directory (the offline demo), absolute.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .canonicalize()
        .unwrap()
}

/// Copies the directory tree `src` to `dst`.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// Every name in `dir`, dot-files included, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Asserts the exit code, showing stdout and stderr when it differs.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The built `trustpull` binary with `args`, not started.
pub fn trustpull_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trustpull"));
    // No trust root a developer refreshed with `trust-root update` leaks into the tests: the
    // cache directory is one nothing writes (tests of the cache set their own).
    command
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-xdg-cache"),
        )
        .args(args);
    command
}

/// A gzip tar of one regular file at `path` holding `content`.
pub fn gzip_tar(path: &str, content: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, path, content).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// Runs `command` to its end off the test's runtime.
pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Runs the built `trustpull` binary with `args`.
pub fn trustpull(args: &[&str]) -> Output {
    trustpull_command(args)
        .output()
        .expect("the trustpull binary was built by cargo for this test")
}

/// One entry of a [`snapshot`]: what it is, its mode, and a file's bytes or a link's target.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// A directory and its mode.
    Dir(u32),
    /// A file, its mode and bytes.
    File(u32, Vec<u8>),
    /// A symbolic link and its target.
    Symlink(PathBuf),
}

/// Everything under `dir`, recursively, by relative path: the state a test compares.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode();
            let entry = if meta.is_symlink() {
                Entry::Symlink(std::fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                walk(root, &path, out);
                Entry::Dir(mode)
            } else {
                Entry::File(mode, std::fs::read(&path).unwrap())
            };
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            out.insert(relative, entry);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Panics naming the paths whose entries differ between `before` and `after`.
pub fn assert_unchanged(
    before: &BTreeMap<String, Entry>,
    after: &BTreeMap<String, Entry>,
    when: &str,
) {
    let paths: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changed: Vec<&&String> = paths
        .iter()
        .filter(|p| before.get(**p) != after.get(**p))
        .collect();
    assert!(changed.is_empty(), "{when}: changed or new: {changed:?}");
}
