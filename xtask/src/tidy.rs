//! Tidy: project conventions enforced by `cargo test` (run as part of `cargo xtask ci`).
//!
//! Each check's failure message says what is wrong and how to fix it. The checks read the source
//! tree and `cargo metadata`; they never build anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{cargo, root};

/// Crates that may never appear (even transitively) under `trustpull-policy`: it is pure.
const IO_CRATES: [&str; 9] = [
    "tokio",
    "reqwest",
    "oci-client",
    "hyper",
    "mio",
    "async-std",
    "smol",
    "ureq",
    "socket2",
];

/// The allowed normal (non-dev) dependencies between workspace crates.
fn allowed_edges() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("trustpull-policy", &[][..]),
        ("trustpull-referrers", &["trustpull-policy"][..]),
        // The verifier sees signatures only through SignatureSource: no registry code.
        ("trustpull-verifier", &["trustpull-policy"][..]),
        (
            "trustpull-downloader",
            &[
                "trustpull-policy",
                "trustpull-verifier",
                "trustpull-referrers",
            ][..],
        ),
        (
            "trustpull-gallery",
            &[
                "trustpull-policy",
                "trustpull-verifier",
                "trustpull-referrers",
                "trustpull-downloader",
            ][..],
        ),
    ])
}

fn metadata() -> Value {
    let out = cargo()
        .args(["metadata", "--format-version", "1"])
        .output()
        .expect("cargo metadata runs (it is the cargo running this test)");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

fn packages(meta: &Value) -> &[Value] {
    meta["packages"].as_array().expect("metadata has packages")
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

fn is_normal(dep: &Value) -> bool {
    dep["kind"].is_null()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !matches!(name.to_str(), Some("target" | ".git" | "node_modules")) {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["crates", "tests", "xtask", "examples", "fuzz"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(
        files.len() > 10,
        "tidy found only {} .rs files; is it looking in the right place?",
        files.len()
    );
    files
}

/// RELIABILITY.md's table names the test behind each row: every name it gives must be a
/// function somewhere in the repository, so the table cannot outlive a renamed or deleted test.
#[test]
fn reliability_rows_name_tests_that_exist() {
    let table = std::fs::read_to_string(root().join("RELIABILITY.md")).expect("RELIABILITY.md");
    let sources: String = all_rust_files()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    let named: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with('|'))
        .flat_map(|l| l.split('`').skip(1).step_by(2))
        .filter(|w| {
            w.contains('_')
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(
        named.len() >= 10,
        "RELIABILITY.md names only {} tests",
        named.len()
    );
    let missing: Vec<&&str> = named
        .iter()
        .filter(|name| !sources.contains(&format!("fn {name}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "RELIABILITY.md names tests that do not exist (renamed or deleted?): {missing:?}"
    );
}

#[test]
fn every_rust_file_opens_with_module_docs() {
    let missing: Vec<String> = all_rust_files()
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|p| p.strip_prefix(root()).unwrap_or(&p).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with `//!` docs; add a first line saying what the file is for:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn no_ignored_or_should_panic_tests() {
    // Spelled in two pieces so this file does not match itself.
    let banned = [format!("#[{}", "ignore"), format!("#[{}", "should_panic")];
    let mut found = Vec::new();
    for path in all_rust_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if banned
                .iter()
                .any(|b| line.trim_start().starts_with(b.as_str()))
            {
                found.push(format!(
                    "{}:{}: {}",
                    path.strip_prefix(root()).unwrap_or(&path).display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "tests must run and assert the typed error: make an ignored test run (or delete it), \
         and turn a should_panic test into an assertion on the returned error:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn policy_depends_on_no_io_crate() {
    let meta = metadata();
    let resolve = &meta["resolve"]["nodes"];
    let nodes: BTreeMap<&str, &Value> = resolve
        .as_array()
        .expect("metadata has a resolve graph")
        .iter()
        .map(|n| (str_of(n, "id"), n))
        .collect();
    let name_of: BTreeMap<&str, &str> = packages(&meta)
        .iter()
        .map(|p| (str_of(p, "id"), str_of(p, "name")))
        .collect();
    let start = name_of
        .iter()
        .find(|(_, name)| **name == "trustpull-policy")
        .map(|(id, _)| *id)
        .expect("trustpull-policy is a workspace member");
    // Walk normal dependencies only: dev-dependencies (proptest) do not ship.
    let mut seen = BTreeSet::new();
    let mut stack = vec![(start, vec!["trustpull-policy"])];
    let mut offending = Vec::new();
    while let Some((id, path)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let kinds = dep["dep_kinds"].as_array().cloned().unwrap_or_default();
            if !kinds.iter().any(is_normal) {
                continue;
            }
            let dep_id = str_of(dep, "pkg");
            let dep_name = name_of.get(dep_id).copied().unwrap_or("?");
            let mut dep_path = path.clone();
            dep_path.push(dep_name);
            if IO_CRATES.contains(&dep_name) {
                offending.push(dep_path.join(" -> "));
            }
            stack.push((dep_id, dep_path));
        }
    }
    assert!(
        offending.is_empty(),
        "trustpull-policy must stay pure (no IO, no async runtime), but depends on:\n  {}\n\
         Move the IO into the crate that needs it (verifier, referrers, downloader) and pass plain values to policy.",
        offending.join("\n  ")
    );
    let src = root().join("crates/policy/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for banned in ["std::fs", "std::net", "std::env", "std::process"] {
            assert!(
                !text.contains(banned),
                "{} uses {banned}; trustpull-policy does no IO: take the data as a parameter instead",
                path.display()
            );
        }
    }
}

#[test]
fn workspace_dependencies_point_one_way() {
    let meta = metadata();
    let allowed = allowed_edges();
    let mut problems = Vec::new();
    for package in packages(&meta) {
        let name = str_of(package, "name");
        let Some(ok) = allowed.get(name) else {
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = str_of(dep, "name");
            if !is_normal(dep) || !dep_name.starts_with("trustpull") {
                continue;
            }
            if !ok.contains(&dep_name) {
                problems.push(format!("{name} -> {dep_name} (allowed: {ok:?})"));
            }
            if name == "trustpull-downloader" && dep_name == "trustpull-verifier" {
                let features: Vec<&str> = dep["features"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if dep["uses_default_features"].as_bool() != Some(false)
                    || features.contains(&"cosign")
                {
                    problems.push(format!(
                        "{name} -> {dep_name} must use default-features = false without the cosign feature \
                         (found features {features:?}): the downloader knows only the ImageVerifier trait"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "dependency direction (ARCHITECTURE.md: cli -> gallery -> downloader -> verifier -> policy) is broken:\n  {}\n\
         Move the code to the crate that is allowed to depend on the other, or pass a trait object in.",
        problems.join("\n  ")
    );
}

/// The workspace's `rust-version` is what the locked dependencies need at least (`cargo xtask
/// ci` also checks the workspace with that toolchain; clippy's `incompatible_msrv` checks our
/// own use of the standard library against it).
#[test]
fn rust_version_covers_every_locked_dependency() {
    fn parse(v: &str) -> Vec<u64> {
        v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
    }
    let meta = metadata();
    let ours = packages(&meta)
        .iter()
        .find(|p| str_of(p, "name") == "trustpull")
        .and_then(|p| p["rust_version"].as_str())
        .expect("the trustpull package declares rust-version");
    let needs: Vec<String> = packages(&meta)
        .iter()
        .filter_map(|p| {
            let v = p["rust_version"].as_str()?;
            (parse(v) > parse(ours))
                .then(|| format!("{} {} needs {v}", str_of(p, "name"), str_of(p, "version")))
        })
        .collect();
    assert!(
        needs.is_empty(),
        "rust-version = {ours} in Cargo.toml is below what locked dependencies need; raise it:\n  {}",
        needs.join("\n  ")
    );
}

#[test]
fn no_oci_client_types_in_public_api() {
    for path in all_rust_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            !text.contains(&format!("pub use {}", "oci_client")),
            "{} re-exports oci_client; wrap the type in one of ours so the registry library can change",
            path.display()
        );
    }
}
