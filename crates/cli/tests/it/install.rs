//! `trustpull install` and `trustpull verify-installed` on the offline demo layout in examples/:
//! signed, wrong identity, no policy (warning / strict refusal), meta entries, mirrors only when
//! the primary is unavailable, and receipts re-checked against a changed policy.

// Helpers outside #[test] fns: a panic is how they report a broken fixture.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::{assert_exit, copy_dir, examples, trustpull, IDENTITY, ISSUER};

fn demo_ref() -> String {
    format!("oci-layout:{}:v1", examples().join("demo-image").display())
}

/// The verification block for `identity`, plus `extra` policy lines.
fn policy(identity: &str, extra: &str) -> String {
    format!("    verification:\n      issuer: {ISSUER}\n      identity: {identity}\n{extra}")
}

/// Writes galleries.yaml (one gallery "demo" with `verification`) and backends.yaml
/// (`index`) into `dir`; returns the config path.
fn setup(dir: &Path, verification: &str, index: &str) -> PathBuf {
    let config = dir.join("galleries.yaml");
    std::fs::write(
        &config,
        format!(
            "trusted_root: {}\ngalleries:\n  - name: demo\n    url: ./backends.yaml\n{verification}",
            examples().join("trusted_root.json").display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("backends.yaml"), index).unwrap();
    config
}

fn demo_index() -> String {
    format!("- name: demo\n  uri: {}\n", demo_ref())
}

fn install(config: &Path, dest: &Path, name: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "install",
        name,
        "--galleries",
        config.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    trustpull(&args)
}

fn verify_installed(config: &Path, dest: &Path) -> std::process::Output {
    trustpull(&[
        "verify-installed",
        "--galleries",
        config.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
    ])
}

fn receipt(dest: &Path, name: &str) -> serde_json::Value {
    let text = std::fs::read(dest.join(format!("{name}.receipt.json"))).unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// Nothing was written: the directory is missing or empty.
fn assert_nothing_written(dest: &Path) {
    let entries: Vec<_> = match std::fs::read_dir(dest) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(entries.is_empty(), "{entries:?}");
}

#[test]
fn signed_entry_installs_with_a_receipt() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path(), &policy(IDENTITY, ""), &demo_index());
    let dest = tmp.path().join("backends");
    let out = install(&config, &dest, "demo", &["--output", "json"]);
    assert_exit(&out, 0);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["verified"], true);
    assert_eq!(
        (printed["schema"].as_u64(), printed["status"].as_str()),
        (Some(1), Some("installed"))
    );
    assert!(dest.join("demo").is_dir());
    assert!(std::fs::read_dir(dest.join("demo"))
        .unwrap()
        .next()
        .is_some());
    let r = receipt(&dest, "demo");
    assert_eq!(r["verified"], true);
    assert_eq!(r["gallery"], "demo");
    assert_eq!(r["source"], demo_ref().as_str());
    assert_eq!(r["verification"]["identity"], IDENTITY);
    assert!(r["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(r["policy_fingerprint"].is_string());

    // A reinstall swaps the tree (Replace semantics) and succeeds.
    assert_exit(&install(&config, &dest, "demo", &[]), 0);
}

#[test]
fn wrong_identity_is_rejected_and_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(
        tmp.path(),
        &policy(
            "https://github.com/evil/x/.github/workflows/r.yml@refs/heads/main",
            "",
        ),
        &demo_index(),
    );
    let dest = tmp.path().join("backends");
    let out = install(&config, &dest, "demo", &[]);
    assert_exit(&out, 1);
    assert_nothing_written(&dest);
}

#[test]
fn gallery_without_policy_warns_and_strict_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path(), "", &demo_index());
    let strict_dest = tmp.path().join("strict");
    let out = install(&config, &strict_dest, "demo", &["--require-integrity"]);
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no verification policy"), "{stderr}");
    assert_nothing_written(&strict_dest);

    let dest = tmp.path().join("backends");
    let out = install(&config, &dest, "demo", &[]);
    assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("no verification policy"),
        "{stderr}"
    );
    assert_eq!(receipt(&dest, "demo")["verified"], false);
    assert!(dest.join("demo").is_dir());

    // verify-installed: nothing to check, but not a failure (strict off).
    let out = verify_installed(&config, &dest);
    assert_exit(&out, 0);
}

#[test]
fn meta_entry_resolves_by_capability() {
    let tmp = tempfile::tempdir().unwrap();
    let index = format!(
        "{}- name: meta\n  capabilities:\n    default: demo\n    nvidia: missing-gpu\n",
        demo_index()
    );
    let config = setup(tmp.path(), &policy(IDENTITY, ""), &index);
    let dest = tmp.path().join("backends");
    let out = install(&config, &dest, "meta", &[]);
    assert_exit(&out, 0);
    assert!(dest.join("demo").is_dir());
    let r = receipt(&dest, "demo");
    assert_eq!(r["requested"], "meta");
    assert_eq!(r["name"], "demo");

    // A capability the meta entry maps to a name the index lacks: a config error.
    let other = tmp.path().join("other");
    let out = install(&config, &other, "meta", &["--capability", "nvidia"]);
    assert_exit(&out, 2);
    assert_nothing_written(&other);

    // A name no gallery has: a config error naming the galleries searched.
    let out = install(&config, &other, "nope", &[]);
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"demo\""));
}

#[test]
fn verify_installed_ok_then_fails_after_not_before_moves() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path(), &policy(IDENTITY, ""), &demo_index());
    let dest = tmp.path().join("backends");
    assert_exit(&install(&config, &dest, "demo", &[]), 0);
    let out = verify_installed(&config, &dest);
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK") && stdout.contains("demo"), "{stdout}");

    // Today's policy only accepts signatures made after 2099: the installed one no longer passes.
    setup(
        tmp.path(),
        &policy(IDENTITY, "      not_before: \"2099-01-01T00:00:00Z\"\n"),
        &demo_index(),
    );
    let out = verify_installed(&config, &dest);
    assert_exit(&out, 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAILED") && stdout.contains("demo") && stdout.contains("not_before"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("demo"));
}

#[test]
fn unavailable_primary_falls_through_to_a_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("not-mounted");
    let index = format!(
        "- name: demo\n  uri: oci-layout:{}:v1\n  mirrors:\n    - {}\n",
        missing.display(),
        demo_ref()
    );
    let config = setup(tmp.path(), &policy(IDENTITY, ""), &index);
    let dest = tmp.path().join("backends");
    let out = install(&config, &dest, "demo", &[]);
    assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unavailable"), "{stderr}");
    assert_eq!(receipt(&dest, "demo")["source"], demo_ref().as_str());

    // With no mirror, an unavailable primary is exit 3.
    let index = format!("- name: demo\n  uri: oci-layout:{}:v1\n", missing.display());
    let config = setup(tmp.path(), &policy(IDENTITY, ""), &index);
    let other = tmp.path().join("other");
    assert_exit(&install(&config, &other, "demo", &[]), 3);
    assert_nothing_written(&other);
}

/// A copy of the demo layout without its signature (the referrer dropped from index.json).
fn unsigned_copy(dir: &Path) -> PathBuf {
    let src = examples().join("demo-image");
    let dst = dir.join("unsigned-image");
    copy_dir(&src, &dst);
    let index_path = dst.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m.get("artifactType").is_none());
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    dst
}

#[test]
fn rejected_primary_does_not_fall_through() {
    let tmp = tempfile::tempdir().unwrap();
    let unsigned = unsigned_copy(tmp.path());
    let index = format!(
        "- name: demo\n  uri: oci-layout:{}:v1\n  mirrors:\n    - {}\n",
        unsigned.display(),
        demo_ref()
    );
    let config = setup(tmp.path(), &policy(IDENTITY, ""), &index);
    let dest = tmp.path().join("backends");
    let out = install(&config, &dest, "demo", &[]);
    assert_exit(&out, 1);
    assert_nothing_written(&dest);

    // A primary the decision table refuses (a tarball in a signed gallery) is final too.
    let index = format!(
        "- name: demo\n  uri: https://example.invalid/demo.tar.gz\n  mirrors:\n    - {}\n",
        demo_ref()
    );
    let config = setup(tmp.path(), &policy(IDENTITY, ""), &index);
    let out = install(&config, &dest, "demo", &[]);
    assert_exit(&out, 1);
    assert_nothing_written(&dest);
}

/// A tar.gz of one file `VERSION` containing `content`.
fn tarball(content: &[u8]) -> Vec<u8> {
    crate::gzip_tar("VERSION", content)
}

/// `demo` (the [`tarball`] of `1`) is installed under `dest` with a receipt saying it is not
/// verified and naming its `sha256`.
fn assert_tarball_installed(dest: &Path, sha256: &trustpull_policy::Digest) {
    assert_eq!(std::fs::read(dest.join("demo/VERSION")).unwrap(), b"1");
    let receipt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("demo.receipt.json")).unwrap()).unwrap();
    assert_eq!(receipt["verified"], serde_json::json!(false));
    assert_eq!(receipt["digest"], serde_json::json!(sha256.as_str()));
}

/// Tarball entries from a gallery without a policy: with their sha256, downloaded, checked,
/// then installed like an image (receipt `verified: false`); a wrong sha256 is a rejection
/// (exit 1) that writes nothing; without a sha256, installed with a warning that nothing
/// checked the content, and refused in strict mode (exit 1, nothing written).
#[tokio::test(flavor = "multi_thread")]
async fn tarball_entries_follow_the_decision_table() {
    use wiremock::{matchers::path, Mock, MockServer, ResponseTemplate};

    let body = tarball(b"1");
    let server = MockServer::start().await;
    Mock::given(path("/demo.tar.gz"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body.clone()))
        .mount(&server)
        .await;
    let host = server.address().to_string();
    let url = format!("http://{host}/demo.tar.gz");
    let sha = trustpull_policy::Digest::of(&body);
    let wrong = trustpull_policy::Digest::of(b"another tarball");
    for (sha256, strict, code) in [
        (Some(wrong.hex()), false, 1),
        (None, true, 1),
        (None, false, 0),
        (Some(sha.hex()), false, 0),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let index = match sha256 {
            Some(s) => format!("- name: demo\n  uri: {url}\n  sha256: {s}\n"),
            None => format!("- name: demo\n  uri: {url}\n"),
        };
        let config = setup(tmp.path(), "", &index);
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            format!("registries:\n  - host: \"{host}\"\n    plain_http: true\n{text}"),
        )
        .unwrap();
        let dest = tmp.path().join("backends");
        let out = tokio::task::spawn_blocking({
            let (config, dest) = (config.clone(), dest.clone());
            let extra: &'static [&'static str] = if strict {
                &["--require-integrity"]
            } else {
                &[]
            };
            move || install(&config, &dest, "demo", extra)
        })
        .await
        .unwrap();
        assert_exit(&out, code);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if sha256.is_none() && code == 0 {
            assert!(stderr.contains("was not checked"), "{stderr}");
        }
        if code == 0 {
            assert_tarball_installed(&dest, &sha);
        } else {
            assert_nothing_written(&dest);
        }
    }
}

/// `file://` tarball entries: installed after the same sha256 check (exit 0, receipt
/// `verified: false`), a wrong sha256 is exit 1 and a missing file exit 2 naming the path, both
/// writing nothing.
#[test]
fn file_tarball_entries_install_and_a_missing_file_is_a_local_error() {
    let files = tempfile::tempdir().unwrap();
    let body = tarball(b"1");
    let file = files.path().join("demo.tar.gz");
    std::fs::write(&file, &body).unwrap();
    let gone = files.path().join("gone.tar.gz");
    let sha = trustpull_policy::Digest::of(&body);
    let wrong = trustpull_policy::Digest::of(b"another tarball");
    for (path, sha256, code) in [(&file, &sha, 0), (&file, &wrong, 1), (&gone, &sha, 2)] {
        let tmp = tempfile::tempdir().unwrap();
        let index = format!(
            "- name: demo\n  uri: file://{}\n  sha256: {}\n",
            path.display(),
            sha256.hex()
        );
        let config = setup(tmp.path(), "", &index);
        let dest = tmp.path().join("backends");
        let out = install(&config, &dest, "demo", &[]);
        assert_exit(&out, code);
        if code == 0 {
            assert_tarball_installed(&dest, &sha);
        } else {
            assert_nothing_written(&dest);
        }
        if code == 2 {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(&gone.display().to_string()), "{stderr}");
        }
    }
}

/// Upgrading tarball entries: with a sha256 in the index, compared without downloading
/// (`current`, `would-upgrade` on a dry run, then `upgraded` with the new content); without
/// one, `--dry-run` cannot tell (exit 2) and `upgrade` downloads to compare.
#[tokio::test(flavor = "multi_thread")]
async fn tarball_entries_upgrade_by_their_sha256() {
    use wiremock::{matchers::path, Mock, MockServer, ResponseTemplate};

    let (v1, v2) = (tarball(b"1"), tarball(b"2"));
    let server = MockServer::start().await;
    for (at, body) in [("/v1.tar.gz", &v1), ("/v2.tar.gz", &v2)] {
        Mock::given(path(at))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(body.clone()))
            .mount(&server)
            .await;
    }
    let host = server.address().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let write_index = |file: &str, sha: Option<&trustpull_policy::Digest>| {
        let entry = match sha {
            Some(d) => format!(
                "- name: demo\n  uri: http://{host}/{file}\n  sha256: {}\n",
                d.hex()
            ),
            None => format!("- name: demo\n  uri: http://{host}/{file}\n"),
        };
        std::fs::write(tmp.path().join("backends.yaml"), entry).unwrap();
    };
    let config = setup(tmp.path(), "", "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("registries:\n  - host: \"{host}\"\n    plain_http: true\n{text}"),
    )
    .unwrap();
    let dest = tmp.path().join("backends");
    let run = |args: Vec<String>| {
        let (config, dest) = (config.clone(), dest.clone());
        tokio::task::spawn_blocking(move || {
            let mut all: Vec<String> = args;
            all.extend([
                "--galleries".to_owned(),
                config.display().to_string(),
                "--dest".to_owned(),
                dest.display().to_string(),
            ]);
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            trustpull(&refs)
        })
    };
    let status = |out: &std::process::Output| -> String {
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["backends"][0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let sha1 = trustpull_policy::Digest::of(&v1);
    let sha2 = trustpull_policy::Digest::of(&v2);
    write_index("v1.tar.gz", Some(&sha1));
    assert_exit(
        &run(vec!["install".into(), "demo".into()]).await.unwrap(),
        0,
    );
    let upgrade = |dry: bool| {
        let mut args = vec![
            "upgrade".to_owned(),
            "--output".to_owned(),
            "json".to_owned(),
        ];
        if dry {
            args.push("--dry-run".to_owned());
        }
        run(args)
    };
    let out = upgrade(false).await.unwrap();
    assert_exit(&out, 0);
    assert_eq!(status(&out), "current");
    write_index("v2.tar.gz", Some(&sha2));
    let out = upgrade(true).await.unwrap();
    assert_eq!(status(&out), "would-upgrade");
    assert_eq!(std::fs::read(dest.join("demo/VERSION")).unwrap(), b"1");
    let out = upgrade(false).await.unwrap();
    assert_exit(&out, 0);
    assert_eq!(status(&out), "upgraded");
    assert_eq!(std::fs::read(dest.join("demo/VERSION")).unwrap(), b"2");
    // Without a sha256: a dry run cannot tell; upgrade downloads and finds the same content.
    write_index("v2.tar.gz", None);
    let out = upgrade(true).await.unwrap();
    assert_exit(&out, 2);
    let out = upgrade(false).await.unwrap();
    assert_exit(&out, 0);
    assert_eq!(status(&out), "current");
}

/// `registries: [{host, plain_http: true}]` applies: the install talks plain HTTP to the
/// registry on 127.0.0.1 (wiremock records the request), whose 500 makes the primary
/// unavailable, so the mirror is used.
#[tokio::test(flavor = "multi_thread")]
async fn registry_settings_apply_and_a_server_error_falls_through() {
    use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let host = server.address().to_string();
    let index = format!(
        "- name: demo\n  uri: {host}/acme/demo:v1\n  mirrors:\n    - {}\n",
        demo_ref()
    );
    let config = setup(tmp.path(), &policy(IDENTITY, ""), &index);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("registries:\n  - host: \"{host}\"\n    plain_http: true\n{text}"),
    )
    .unwrap();
    let dest = tmp.path().join("backends");
    let docker_config = tmp.path().to_path_buf();
    let out = tokio::task::spawn_blocking({
        let (config, dest) = (config.clone(), dest.clone());
        move || {
            crate::trustpull_command(&[])
                .arg("install")
                .arg("demo")
                .arg("--galleries")
                .arg(config)
                .arg("--dest")
                .arg(dest)
                .env("DOCKER_CONFIG", docker_config)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_exit(&out, 0);
    assert_eq!(receipt(&dest, "demo")["source"], demo_ref().as_str());
    let requests = server.received_requests().await.unwrap();
    assert!(
        !requests.is_empty(),
        "no plain-HTTP request reached the registry"
    );
}

/// Every file and directory under `dir`, relative, sorted.
fn tree_of(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_hostile_index_never_chooses_a_path_outside_dest() {
    let demo = demo_ref();
    for (case, index) in [
        ("dotdot via capabilities", format!("- {{name: llama, capabilities: {{default: '../victim'}}}}\n- {{name: '../victim', uri: '{demo}'}}\n")),
        ("absolute name", format!("- {{name: llama, capabilities: {{default: /abs}}}}\n- {{name: /abs, uri: '{demo}'}}\n")),
        ("empty name", format!("- {{name: llama, capabilities: {{default: ''}}}}\n- {{name: '', uri: '{demo}'}}\n")),
        ("slash name", format!("- {{name: 'a/b', uri: '{demo}'}}\n- {{name: llama, capabilities: {{default: 'a/b'}}}}\n")),
        ("dot name", format!("- {{name: '.', uri: '{demo}'}}\n- {{name: llama, capabilities: {{default: '.'}}}}\n")),
        ("receipt name", format!("- {{name: x.receipt.json, uri: '{demo}'}}\n- {{name: llama, capabilities: {{default: x.receipt.json}}}}\n")),
        ("dotdot via alias", format!("- {{name: llama, alias: '../victim', uri: '{demo}'}}\n")),
    ] {
        let top = tempfile::tempdir().unwrap();
        let config = setup(top.path(), &policy(IDENTITY, ""), &index);
        let parent = top.path().join("srv");
        std::fs::create_dir_all(parent.join("victim")).unwrap();
        std::fs::write(parent.join("victim/keep"), b"precious").unwrap();
        let dest = parent.join("b");
        let before = tree_of(top.path());
        let out = install(&config, &dest, "llama", &[]);
        assert_exit(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is not a valid backend name"), "{case}: {stderr}");
        assert_eq!(tree_of(top.path()), before, "{case}: nothing may change");
        assert_eq!(std::fs::read(parent.join("victim/keep")).unwrap(), b"precious");
    }
}

#[test]
fn a_receipt_and_its_tree_are_proven_by_verify_installed() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), &policy(IDENTITY, ""), &demo_index());
    let dest = dir.path().join("backends");
    assert_exit(&install(&config, &dest, "demo", &[]), 0);
    assert_exit(&verify_installed(&config, &dest), 0);
    let file = tree_of(&dest.join("demo"))
        .into_iter()
        .find(|p| dest.join("demo").join(p).is_file())
        .unwrap();
    std::fs::write(dest.join("demo").join(&file), b"edited").unwrap();
    let out = verify_installed(&config, &dest);
    assert_exit(&out, 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("changed on disk") && stdout.contains(&format!("{file} changed (content)")),
        "{stdout}"
    );
    // The JSON failure document carries the per-backend results with the error.
    let out = trustpull(&[
        "verify-installed",
        "--galleries",
        config.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_exit(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            doc["status"].as_str(),
            doc["backends"][0]["status"].as_str()
        ),
        (Some("rejected"), Some("failed")),
        "{doc}"
    );
    assert!(doc["backends"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("changed on disk"));
}

#[test]
fn a_failure_prints_one_json_document_with_schema_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), &policy(IDENTITY, ""), &demo_index());
    let out = install(
        &config,
        &dir.path().join("backends"),
        "nope",
        &["--output", "json"],
    );
    assert_exit(&out, 2);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            doc["schema"].as_u64(),
            doc["status"].as_str(),
            doc["exit_code"].as_u64()
        ),
        (Some(1), Some("error"), Some(2))
    );
    assert!(doc["error"].as_str().unwrap().contains("nope"), "{doc}");
}

/// Writes `bytes` as a blob of the layout at `layout`; returns its descriptor fields.
fn put_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = trustpull_policy::Digest::of(bytes);
    std::fs::write(layout.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
    (digest.to_string(), bytes.len())
}

/// An OCI index listing `digest` (`size` bytes) for `os/arch`.
fn index_listing(digest: &str, size: usize, os: &str, arch: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": size, "platform": {"os": os, "architecture": arch}}],
    }))
    .unwrap()
}

#[test]
fn an_index_receipt_is_rechecked_against_the_index_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    copy_dir(&examples().join("demo-image"), &layout);
    let index = format!("- name: demo\n  uri: oci-layout:{}:v1\n", layout.display());
    let config = setup(dir.path(), &policy(IDENTITY, ""), &index);
    let dest = dir.path().join("backends");
    assert_exit(&install(&config, &dest, "demo", &[]), 0);
    let receipt_file = dest.join("demo.receipt.json");
    let installed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&receipt_file).unwrap()).unwrap();
    let installed_digest = installed["digest"].as_str().unwrap().to_owned();

    // Another image manifest in the layout: the demo's, one layer fewer.
    let digest = trustpull_policy::Digest::parse(&installed_digest).unwrap();
    let manifest_bytes = std::fs::read(layout.join("blobs/sha256").join(digest.hex())).unwrap();
    let mut other: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    other["layers"].as_array_mut().unwrap().truncate(1);
    let (other_digest, other_size) = put_blob(&layout, &serde_json::to_vec(&other).unwrap());

    for (index_bytes, expected) in [
        // The index the receipt names selects another manifest for the platform.
        (
            index_listing(&other_digest, other_size, "linux", "amd64"),
            "now selects",
        ),
        // It lists the installed manifest, but not for the recorded platform.
        (
            index_listing(&installed_digest, manifest_bytes.len(), "linux", "arm64"),
            "has no image for platform linux/amd64",
        ),
    ] {
        let (index_digest, _) = put_blob(&layout, &index_bytes);
        let mut receipt = installed.clone();
        receipt["index_digest"] = serde_json::json!(index_digest);
        receipt["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
        std::fs::write(&receipt_file, serde_json::to_vec(&receipt).unwrap()).unwrap();
        let out = verify_installed(&config, &dest);
        assert_exit(&out, 1);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("FAILED") && stdout.contains(expected),
            "{expected}: {stdout}"
        );
    }
}
