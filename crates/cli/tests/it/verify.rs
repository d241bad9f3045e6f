//! `trustpull verify IMAGE` against a registry on 127.0.0.1 (wiremock) serving a testkit-signed
//! cosign-style signature: exit codes 0 / 1 / 2 / 3 and the JSON receipt.

use std::process::Output;

use serde_json::{json, Value};
use trustpull_testkit::sigstore::{IDENTITY, ISSUER};

use crate::registry::{Image, Registry, REPO, WORKFLOW_CLAIMS};

/// A registry with image `acme/app:v1` (no layers); `signed` attaches a referrer through the
/// referrers API; `referrers_status` overrides the referrers answer (e.g. 503).
async fn registry(signed: bool, referrers_status: Option<u16>) -> Registry {
    crate::registry::start(Image {
        config: b"cfg",
        layers: &[],
        signed,
        referrers_status,
        legacy: false,
        attested: None,
    })
    .await
}

async fn verify(f: &Registry, identity: &str) -> Output {
    verify_with(f, identity, &[]).await
}

async fn verify_with(f: &Registry, identity: &str, extra: &[String]) -> Output {
    let extra = extra.to_vec();
    let image = format!("{}/{REPO}:v1", f.server.address());
    let root = f.dir.path().join("trusted_root.json");
    let docker_config = f.dir.path().to_path_buf();
    let identity = identity.to_owned();
    tokio::task::spawn_blocking(move || {
        crate::trustpull_command(&[])
            .args([
                "verify",
                &image,
                "--certificate-identity",
                &identity,
                "--certificate-oidc-issuer",
                ISSUER,
            ])
            .args(["--plain-http", "--output", "json", "--trusted-root"])
            .arg(root)
            .args(extra)
            .env("DOCKER_CONFIG", docker_config)
            .env_remove("RUST_LOG")
            .output()
            .expect("the trustpull binary was built by cargo for this test")
    })
    .await
    .expect("the blocking task finishes")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_image_verifies_with_a_json_receipt() {
    let f = registry(true, None).await;
    let out = verify(&f, IDENTITY).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (doc["schema"].clone(), doc["status"].clone()),
        (json!(1), json!("verified"))
    );
    assert_eq!(doc["verified"], json!(true));
    assert_eq!(doc["format"], json!("bundle"));
    assert_eq!(doc["digest"], json!(f.digest.as_str()));
    assert_eq!(doc["receipt"]["identity"], json!(IDENTITY));
}

#[tokio::test(flavor = "multi_thread")]
async fn platform_on_a_single_manifest_is_ignored_with_a_warning() {
    let f = registry(true, None).await;
    let flags = ["--platform".to_owned(), "linux/arm64".to_owned()];
    let out = verify_with(&f, IDENTITY, &flags).await;
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--platform linux/arm64 was ignored"),
        "{stderr}"
    );
    let quiet = verify_with(
        &f,
        IDENTITY,
        &[flags[0].clone(), flags[1].clone(), "--quiet".to_owned()],
    )
    .await;
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("ignored"));
}

#[tokio::test(flavor = "multi_thread")]
async fn debug_logs_of_registry_requests_need_vv() {
    let f = registry(true, None).await;
    let manifest_request = format!("/v2/{REPO}/manifests/v1");
    let quiet = verify(&f, IDENTITY).await;
    let logged = verify_with(&f, IDENTITY, &["-vv".to_owned()]).await;
    assert_eq!(
        (quiet.status.code(), logged.status.code()),
        (Some(0), Some(0))
    );
    let (quiet, logged) = (
        String::from_utf8_lossy(&quiet.stderr),
        String::from_utf8_lossy(&logged.stderr),
    );
    assert!(!quiet.contains("registry answered"), "{quiet}");
    assert!(
        logged
            .lines()
            .any(|l| l.contains("registry answered") && l.contains(&manifest_request)),
        "{logged}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_signed_image_verifies_with_format_legacy() {
    let f = crate::registry::start(Image {
        config: b"cfg",
        layers: &[],
        signed: false,
        referrers_status: None,
        legacy: true,
        attested: None,
    })
    .await;
    let out = verify(&f, IDENTITY).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["format"], json!("legacy"));
    assert_eq!(doc["receipt"]["format"], json!("legacy"));
    assert_eq!(doc["receipt"]["identity"], json!(IDENTITY));
}

/// cosign's GitHub workflow claim flags reach the policy: the certificate's value passes,
/// another value is rejected (exit 1), for each flag.
#[tokio::test(flavor = "multi_thread")]
async fn each_github_workflow_claim_flag_constrains_the_certificate() {
    let f = registry(true, None).await;
    let flags = [
        ("--certificate-github-workflow-repository", "acme/backends"),
        ("--certificate-github-workflow-ref", WORKFLOW_CLAIMS[0].1),
        ("--certificate-github-workflow-sha", WORKFLOW_CLAIMS[1].1),
        ("--certificate-github-workflow-name", WORKFLOW_CLAIMS[2].1),
        (
            "--certificate-github-workflow-trigger",
            WORKFLOW_CLAIMS[3].1,
        ),
    ];
    for (flag, value) in flags {
        let right = verify_with(&f, IDENTITY, &[flag.to_owned(), value.to_owned()]).await;
        assert_eq!(
            right.status.code(),
            Some(0),
            "{flag} {value}: {}",
            String::from_utf8_lossy(&right.stderr)
        );
        let wrong = verify_with(&f, IDENTITY, &[flag.to_owned(), format!("{value}-not")]).await;
        assert_eq!(wrong.status.code(), Some(1), "{flag} with another value");
        let report: Value = serde_json::from_slice(&wrong.stdout).unwrap();
        let claim = flag.trim_start_matches("--certificate-").replace('-', "_");
        assert!(
            report["error"].as_str().unwrap().contains(&claim),
            "{flag}: {report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_identity_is_rejected_with_exit_1() {
    let f = registry(true, None).await;
    let out = verify(
        &f,
        "https://github.com/evil/x/.github/workflows/r.yml@refs/heads/main",
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            report["status"].clone(),
            report["exit_code"].clone(),
            report["verified"].clone(),
            report["digest"].clone()
        ),
        (
            json!("rejected"),
            json!(1),
            json!(false),
            json!(f.digest.as_str())
        )
    );
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains(f.digest.as_str()),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_image_is_rejected_with_exit_1() {
    let f = registry(false, None).await;
    let out = verify(&f, IDENTITY).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no signatures found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_referrers_api_exits_3_not_unsigned() {
    let f = registry(true, Some(503)).await;
    let out = verify(&f, IDENTITY).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("maintenance"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_reference_is_a_usage_error() {
    let out = crate::trustpull_command(&[])
        .args([
            "verify",
            "Not A Reference",
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
