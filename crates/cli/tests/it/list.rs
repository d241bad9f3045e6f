//! `trustpull list`: JSON output and exit codes for good and bad configs.

use crate::trustpull;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp dir is writable");
    path.to_string_lossy().into_owned()
}

#[test]
fn lists_entries_as_json() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "index.yaml", "- &m\n  name: meta\n  capabilities: {default: cpu}\n- <<: *m\n  name: cpu\n  uri: example.com/b:cpu\n");
    let config = write(
        dir.path(),
        "galleries.yaml",
        "galleries:\n  - name: acme\n    url: index.yaml\n    verification: {issuer: https://i, identity: me}\n",
    );
    let out = trustpull(&["list", "--galleries", &config, "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (doc["schema"].as_u64(), doc["status"].as_str()),
        (Some(1), Some("listed"))
    );
    let listed = &doc["backends"];
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["meta", "cpu"]);
    assert_eq!(listed[1]["uri"], "example.com/b:cpu");
    assert_eq!(listed[1]["signed"], true);
    assert_eq!(listed[0]["meta"], true);
}

#[test]
fn a_half_policy_is_a_config_error_naming_gallery_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "galleries.yaml",
        "galleries:\n  - name: acme\n    url: index.yaml\n    verification: {issuer: https://i}\n",
    );
    let out = trustpull(&["list", "--galleries", &config]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"acme\"")
            && stderr.contains("verification.identity")
            && stderr.contains("galleries.yaml"),
        "{stderr}"
    );
}

#[test]
fn a_missing_local_index_is_a_local_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "galleries.yaml",
        "galleries:\n  - name: acme\n    url: nowhere.yaml\n",
    );
    let out = trustpull(&["list", "--galleries", &config]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
