//! `trustpull verify IMAGE` against a registry on 127.0.0.1 (wiremock) serving a testkit-signed
//! cosign-style signature: exit codes 0 / 1 / 2 / 3 and the JSON receipt.

use std::process::{Command, Output};

use serde_json::{json, Value};
use trustpull_policy::Digest;
use trustpull_testkit::sigstore::{SignRequest, VirtualSigstore, IDENTITY, ISSUER};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO: &str = "acme/app";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

struct Fixture {
    server: MockServer,
    dir: tempfile::TempDir,
    image_digest: Digest,
}

/// A registry with image `acme/app:v1`; `signed` attaches a referrer through the referrers
/// API; `referrers_status` overrides the referrers answer (e.g. 503).
async fn registry(signed: bool, referrers_status: Option<u16>) -> Fixture {
    let server = MockServer::start().await;
    let sigstore = VirtualSigstore::new();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(b"cfg"), "size": 3},
        "layers": [],
    }))
    .expect("JSON encodes");
    let image_digest = Digest::of(&manifest);
    mount(
        &server,
        &format!("/v2/{REPO}/manifests/v1"),
        ResponseTemplate::new(200).set_body_raw(manifest, OCI_MANIFEST),
    )
    .await;
    let mut descriptors = Vec::new();
    if signed {
        let bundle = sigstore.sign(&SignRequest::dsse(image_digest.clone()));
        let referrer = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}"), "size": 2},
            "layers": [{"mediaType": BUNDLE, "digest": Digest::of(&bundle), "size": bundle.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": image_digest, "size": 1},
        }))
        .expect("JSON encodes");
        let referrer_digest = Digest::of(&referrer);
        descriptors.push(json!({"mediaType": OCI_MANIFEST, "digest": referrer_digest, "size": referrer.len(), "artifactType": BUNDLE}));
        mount(
            &server,
            &format!("/v2/{REPO}/manifests/{referrer_digest}"),
            ResponseTemplate::new(200).set_body_raw(referrer, OCI_MANIFEST),
        )
        .await;
        mount(
            &server,
            &format!("/v2/{REPO}/blobs/{}", Digest::of(&bundle)),
            ResponseTemplate::new(200).set_body_bytes(bundle),
        )
        .await;
    }
    let referrers = match referrers_status {
        Some(status) => ResponseTemplate::new(status)
            .set_body_json(json!({"errors": [{"code": "UNAVAILABLE", "message": "maintenance"}]})),
        None => ResponseTemplate::new(200).set_body_raw(
            serde_json::to_vec(
                &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}),
            )
            .expect("JSON encodes"),
            OCI_INDEX,
        ),
    };
    mount(
        &server,
        &format!("/v2/{REPO}/referrers/{image_digest}"),
        referrers,
    )
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(
        dir.path().join("trusted_root.json"),
        sigstore.trusted_root_json(),
    )
    .expect("the temp dir is writable");
    Fixture {
        server,
        dir,
        image_digest,
    }
}

async fn mount(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn verify(f: &Fixture, identity: &str) -> Output {
    let image = format!("{}/{REPO}:v1", f.server.address());
    let root = f.dir.path().join("trusted_root.json");
    let docker_config = f.dir.path().to_path_buf();
    let identity = identity.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_trustpull"))
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
            .env("DOCKER_CONFIG", docker_config)
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
    assert_eq!(doc["digest"], json!(f.image_digest.as_str()));
    assert_eq!(doc["receipt"]["identity"], json!(IDENTITY));
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
        (report["status"].clone(), report["exit_code"].clone()),
        (json!("rejected"), json!(1))
    );
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains(f.image_digest.as_str()),
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
    let out = Command::new(env!("CARGO_BIN_EXE_trustpull"))
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
