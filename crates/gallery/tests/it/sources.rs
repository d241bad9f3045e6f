//! Tarball entries and `ocifile://` archives through the gallery's library functions: a
//! tarball staged by sha256 from a wiremock server on 127.0.0.1, and the signed demo layout of
//! examples/ packed as an OCI archive, verified with cosign against the examples' trust root.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use trustpull_downloader::{Downloader, ErrorKind, ImageLocation, PullError};
use trustpull_gallery::{EntryName, Installer, OperatorConfig};
use trustpull_policy::{Digest, PolicySpec, TrustPolicy};
use trustpull_referrers::{Limits, RegistryClient};
use trustpull_verifier::{CosignVerifier, TrustRoot, Verification, VerifyError};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const IDENTITY: &str =
    "https://github.com/acme/backends/.github/workflows/release.yml@refs/heads/main";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, name, *data)
            .expect("append");
    }
    builder.into_inner().expect("tar")
}

#[tokio::test]
async fn a_tarball_installs_into_dest_name_only_with_its_sha256() {
    let server = MockServer::start().await;
    let body = tar_of(&[("VERSION", b"1")]);
    Mock::given(method("GET"))
        .and(path("/backend.tar"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body.clone()))
        .mount(&server)
        .await;
    let url = format!("http://{}/backend.tar", server.address());
    let mut limits = Limits::without_backoff();
    limits.max_attempts = 1;
    let client = RegistryClient::builder()
        .plain_http_host(server.address().to_string())
        .limits(limits)
        .build()
        .expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let name = EntryName::parse("backend").expect("name");
    let config = OperatorConfig::parse("galleries: []\n", &dir.path().join("galleries.yaml"))
        .expect("config");
    let installer = Installer::builder(config)
        .client(client)
        .build()
        .expect("installer");
    let sha = Digest::of(&body);
    let staged = installer
        .stage_tarball("g", &url, Some(sha.hex()), dir.path(), &name)
        .await
        .expect("staged");
    assert_eq!(staged.outcome().digest, sha);
    staged.commit(None).await.expect("commit");
    assert_eq!(
        std::fs::read(dir.path().join("backend/VERSION")).expect("installed"),
        b"1"
    );

    let wrong = Digest::of(b"another tarball");
    let err = installer
        .stage_tarball("g", &url, Some(wrong.hex()), dir.path(), &name)
        .await
        .expect_err("mismatch");
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err:?}");
    assert_eq!(
        std::fs::read(dir.path().join("backend/VERSION")).expect("kept"),
        b"1"
    );
    let err = installer
        .stage_tarball("g", &url, Some("not-hex"), dir.path(), &name)
        .await
        .expect_err("bad sha");
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
}

/// A tar of the directory `layout`.
fn archive_of(layout: &Path, out: &Path) {
    let mut builder = tar::Builder::new(std::fs::File::create(out).expect("create"));
    builder.append_dir_all(".", layout).expect("append");
    builder.finish().expect("finish");
}

fn cosign() -> Downloader {
    let spec: PolicySpec = serde_json::from_value(serde_json::json!({
        "issuer": ISSUER,
        "identity": IDENTITY,
    }))
    .expect("spec");
    let policy = TrustPolicy::new(spec).expect("policy");
    let root = TrustRoot::from_file(&examples().join("trusted_root.json")).expect("root");
    Downloader::builder()
        .verifier(Arc::new(CosignVerifier::new(
            Arc::new(policy),
            Arc::new(root),
        )))
        .build()
        .expect("downloader")
}

#[tokio::test]
async fn a_signed_ocifile_archive_is_verified_and_an_unsigned_one_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signed = dir.path().join("signed.tar");
    archive_of(&examples().join("demo-image"), &signed);
    let location = ImageLocation::parse(&format!("ocifile://{}", signed.display())).expect("loc");
    let outcome = cosign()
        .pull(&location, &dir.path().join("demo"))
        .await
        .expect("verified install");
    assert!(
        matches!(&outcome.verification, Verification::Verified(r) if r.identity() == IDENTITY),
        "{:?}",
        outcome.verification
    );

    // The same image without its signature (the referrer dropped from index.json).
    let copy = dir.path().join("unsigned-layout");
    std::fs::create_dir_all(copy.join("blobs/sha256")).expect("mkdir");
    for entry in std::fs::read_dir(examples().join("demo-image/blobs/sha256")).expect("ls") {
        let entry = entry.expect("entry");
        std::fs::copy(
            entry.path(),
            copy.join("blobs/sha256").join(entry.file_name()),
        )
        .expect("copy");
    }
    std::fs::copy(
        examples().join("demo-image/oci-layout"),
        copy.join("oci-layout"),
    )
    .expect("copy");
    let mut index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(examples().join("demo-image/index.json")).expect("read"),
    )
    .expect("json");
    index["manifests"]
        .as_array_mut()
        .expect("list")
        .retain(|m| m.get("artifactType").is_none());
    std::fs::write(
        copy.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write");
    let unsigned = dir.path().join("unsigned.tar");
    archive_of(&copy, &unsigned);
    let location = ImageLocation::parse(&format!("ocifile://{}", unsigned.display())).expect("loc");
    let err = cosign()
        .pull(&location, &dir.path().join("refused"))
        .await
        .expect_err("unsigned");
    assert!(
        matches!(&err, PullError::Verify { source, .. } if matches!(**source, VerifyError::Rejected { .. })),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert!(!dir.path().join("refused").exists());
}

/// A gallery whose url is unavailable (a 503) is read from its mirror, and the install says so
/// in a warning: the operator's primary index source is down. (The entry is a tarball on the
/// same host: a gallery with a remote index may not name local files, mirror or not.)
#[tokio::test]
async fn an_index_read_from_a_mirror_is_a_warning() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/index.yaml"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let body = tar_of(&[("VERSION", b"1")]);
    Mock::given(method("GET"))
        .and(path("/demo.tar"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body.clone()))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("mirror.yaml"),
        format!(
            "- name: demo\n  uri: http://{}/demo.tar\n  sha256: {}\n",
            server.address(),
            Digest::of(&body).hex()
        ),
    )
    .expect("mirror index");
    let config = OperatorConfig::parse(
        &format!(
            "galleries:\n  - name: g\n    url: http://{}/index.yaml\n    mirrors: [./mirror.yaml]\n",
            server.address()
        ),
        &dir.path().join("galleries.yaml"),
    )
    .expect("config");
    let mut limits = Limits::without_backoff();
    limits.max_attempts = 1;
    let client = RegistryClient::builder()
        .plain_http_host(server.address().to_string())
        .limits(limits)
        .build()
        .expect("client");
    let installer = Installer::builder(config)
        .client(client)
        .build()
        .expect("installer");
    let outcome = installer
        .install("demo", &dir.path().join("backends"))
        .await
        .expect("installed from the mirror's index");
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("503") && w.contains("mirror.yaml")),
        "{:?}",
        outcome.warnings
    );
}

/// `file://` tarball entries take the decision table's tarball cells through
/// `Installer::install`: the right sha256 installs (receipt `verified: false`, digest = the
/// sha256), a wrong one is a rejection that writes nothing, none installs with a warning outside
/// strict mode and is refused in it, a signed gallery refuses the entry, and a missing file is a
/// local error naming the path.
#[tokio::test]
async fn file_tarball_entries_follow_the_decision_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = tar_of(&[("VERSION", b"1")]);
    let file = dir.path().join("demo.tar");
    std::fs::write(&file, &body).expect("tarball");
    let sha = Digest::of(&body);
    let wrong = Digest::of(b"another tarball");
    let gone = dir.path().join("gone.tar");
    let policy = format!("\n    verification:\n      issuer: {ISSUER}\n      identity: {IDENTITY}");
    // (case, tarball, sha256, gallery policy, strict, expected error kind)
    let (file, gone, policy) = (file.as_path(), gone.as_path(), policy.as_str());
    let cases = [
        ("checked", file, Some(&sha), "", false, None),
        ("unchecked", file, None, "", false, None),
        (
            "wrong-sha",
            file,
            Some(&wrong),
            "",
            false,
            Some(ErrorKind::Rejected),
        ),
        ("strict", file, None, "", true, Some(ErrorKind::Rejected)),
        (
            "signed",
            file,
            Some(&sha),
            policy,
            false,
            Some(ErrorKind::Rejected),
        ),
        (
            "missing",
            gone,
            Some(&sha),
            "",
            false,
            Some(ErrorKind::Config),
        ),
    ];
    for (case, tarball, sha256, verification, strict, expected) in cases {
        let case_dir = dir.path().join(case);
        std::fs::create_dir(&case_dir).expect("case dir");
        let uri = format!("file://{}", tarball.display());
        let entry = match sha256 {
            Some(s) => format!("- name: demo\n  uri: {uri}\n  sha256: {}\n", s.hex()),
            None => format!("- name: demo\n  uri: {uri}\n"),
        };
        std::fs::write(case_dir.join("index.yaml"), entry).expect("index");
        let config = OperatorConfig::parse(
            &format!("galleries:\n  - name: g\n    url: ./index.yaml{verification}\n"),
            &case_dir.join("galleries.yaml"),
        )
        .expect("config");
        let installer = Installer::builder(config)
            .require_integrity(strict)
            .build()
            .expect("installer");
        let dest = case_dir.join("backends");
        let result = installer.install("demo", &dest).await;
        match (expected, result) {
            (None, Ok(outcome)) => {
                assert_eq!(
                    std::fs::read(dest.join("demo/VERSION")).expect("installed"),
                    b"1",
                    "{case}"
                );
                assert!(!outcome.receipt.verified, "{case}");
                assert_eq!(outcome.receipt.digest, sha, "{case}");
                let unchecked = outcome.warnings.iter().any(|w| w.contains("not checked"));
                assert_eq!(
                    unchecked,
                    sha256.is_none(),
                    "{case}: {:?}",
                    outcome.warnings
                );
            }
            (Some(kind), Err(err)) => {
                assert_eq!(err.kind(), kind, "{case}: {err:?}");
                assert!(
                    !dest.exists() || std::fs::read_dir(&dest).expect("ls").next().is_none(),
                    "{case}: something was written"
                );
                if case == "missing" {
                    let text = trustpull_downloader::error_chain(&err);
                    assert!(text.contains(&gone.display().to_string()), "{text}");
                }
            }
            (expected, result) => panic!("{case}: expected {expected:?}, got {result:?}"),
        }
    }
}
