//! `trustpull pull` on the offline demo layout in examples/: exit codes 0 / 1 / 2, what is
//! written, and the JSON output.

// Helpers outside #[test] fns: a panic is how they report a broken fixture.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::{assert_exit, examples, names, trustpull, IDENTITY, ISSUER};

fn pull(dest: &Path, identity: &str, extra: &[&str]) -> std::process::Output {
    pull_tag("v1", dest, identity, extra)
}

/// `trustpull pull` of the demo layout's `tag` into `dest`, signed by `identity`.
fn pull_tag(tag: &str, dest: &Path, identity: &str, extra: &[&str]) -> std::process::Output {
    let image = format!(
        "oci-layout:{}:{tag}",
        examples().join("demo-image").display()
    );
    let root = examples().join("trusted_root.json");
    let mut args = vec![
        "pull",
        &image,
        "--dest",
        dest.to_str().unwrap(),
        "--trusted-root",
        root.to_str().unwrap(),
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        ISSUER,
    ];
    args.extend_from_slice(extra);
    trustpull(&args)
}

#[test]
fn pull_demo_installs_and_prints_the_receipt() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("demo");
    let out = pull(&dest, IDENTITY, &["--output", "json"]);
    assert_exit(&out, 0);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verified"], true);
    assert!(json["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(json["dest"], dest.to_str().unwrap());
    assert_eq!(names(parent.path()), vec!["demo"]);
    assert_eq!(
        names(&dest.join("demo")),
        vec!["README.txt", "bin", "share"]
    );
}

#[test]
fn pull_wrong_identity_is_rejected_with_nothing_written() {
    let parent = tempfile::tempdir().unwrap();
    let out = pull(
        &parent.path().join("demo"),
        "https://github.com/evil/x/.github/workflows/r.yml@refs/heads/main",
        &[],
    );
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("verification failed"));
    assert!(names(parent.path()).is_empty());
}

#[test]
fn pull_into_non_empty_destination_is_a_usage_error_unless_replace() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("demo");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("keep"), b"x").unwrap();
    let out = pull(&dest, IDENTITY, &[]);
    assert_exit(&out, 2);
    assert_eq!(names(&dest), vec!["keep"]);

    let out = pull(&dest, IDENTITY, &["--replace"]);
    assert_exit(&out, 0);
    assert_eq!(names(&dest), vec!["demo"]);
    assert_eq!(names(parent.path()), vec!["demo"]);
}

#[test]
fn pull_usage_errors() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("demo");
    // No policy at all.
    let out = trustpull(&[
        "pull",
        "oci-layout:nowhere:v1",
        "--dest",
        dest.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    // A bad platform.
    let out = pull(&dest, IDENTITY, &["--platform", "linux"]);
    assert_eq!(out.status.code(), Some(2));
    // A tag the layout does not have.
    let out = pull_tag("v2", &dest, IDENTITY, &[]);
    assert_exit(&out, 2);
    assert!(names(parent.path()).is_empty());
}
