//! `trustpull verify-attestation IMAGE --type T` against a registry on 127.0.0.1 (wiremock)
//! serving testkit-signed attestations: the JSON document, exit 1 for a missing type or
//! another identity, exit 2 for an unknown type name.

use std::process::Output;

use serde_json::{json, Value};
use trustpull_testkit::sigstore::{IDENTITY, ISSUER};

use crate::registry::{Image, Registry, REPO};

const SLSA1: &str = "https://slsa.dev/provenance/v1";

async fn registry(attested: Option<&str>) -> Registry {
    crate::registry::start(Image {
        config: b"cfg",
        layers: &[],
        signed: true,
        referrers_status: None,
        legacy: false,
        attested,
    })
    .await
}

async fn verify_attestation(f: &Registry, kind: &str, identity: &str) -> Output {
    run_verify_attestation(f, kind, identity, &["--output", "json"]).await
}

/// `trustpull verify-attestation … EXTRA`: `extra` are output or global flags (`-v`).
async fn run_verify_attestation(
    f: &Registry,
    kind: &str,
    identity: &str,
    extra: &[&str],
) -> Output {
    let image = format!("{}/{REPO}:v1", f.server.address());
    let root = f.dir.path().join("trusted_root.json");
    let docker_config = f.dir.path().to_path_buf();
    let (kind, identity) = (kind.to_owned(), identity.to_owned());
    let extra: Vec<String> = extra.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        crate::trustpull_command(&[])
            .args(["verify-attestation", &image, "--type", &kind])
            .args(["--certificate-identity", &identity])
            .args(["--certificate-oidc-issuer", ISSUER])
            .args(&extra)
            .args(["--plain-http", "--trusted-root"])
            .arg(root)
            .env("DOCKER_CONFIG", docker_config)
            .output()
            .expect("the trustpull binary was built by cargo for this test")
    })
    .await
    .expect("the blocking task finishes")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attested_type_verifies_by_cosign_name_with_its_statement() {
    let f = registry(Some(SLSA1)).await;
    let out = verify_attestation(&f, "slsaprovenance1", IDENTITY).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            doc["schema"].clone(),
            doc["status"].clone(),
            doc["verified"].clone()
        ),
        (json!(1), json!("verified"), json!(true))
    );
    assert_eq!(doc["digest"], json!(f.digest.as_str()));
    let attestations = doc["attestations"].as_array().unwrap();
    assert_eq!(attestations.len(), 1, "{doc}");
    let a = &attestations[0];
    assert_eq!(a["predicate_type"], json!(SLSA1));
    assert_eq!(a["identity"], json!(IDENTITY));
    assert_eq!(a["issuer"], json!(ISSUER));
    assert_eq!(a["format"], json!("bundle"));
    assert_eq!(a["statement"]["predicateType"], json!(SLSA1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_type_or_another_identity_exits_1() {
    let f = registry(Some(SLSA1)).await;
    let out = verify_attestation(&f, "spdxjson", IDENTITY).await;
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (doc["status"].clone(), doc["verified"].clone()),
        (json!("rejected"), json!(false))
    );
    assert_eq!(doc["digest"], json!(f.digest.as_str()));
    // The reason names the type and the image, then the verifier's cause.
    let spdx = "https://spdx.dev/Document";
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("no {spdx} attestation for ")) && error.contains(REPO),
        "{error}"
    );
    assert!(error.contains(f.digest.as_str()), "{error}");
    // With -v the verifier's answer is a separate cause, not part of the first line.
    let out = run_verify_attestation(&f, "spdxjson", IDENTITY, &["-v"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("error: "))
        .collect();
    assert!(
        lines.first().is_some_and(|l| l.ends_with("verifies")) && lines.len() >= 2,
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("  caused by: ") && lines[1].contains(f.digest.as_str()),
        "{stderr}"
    );
    let out = verify_attestation(
        &f,
        SLSA1,
        "https://github.com/evil/x/.github/workflows/r.yml@refs/heads/main",
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_type_name_is_a_usage_error() {
    let f = registry(None).await;
    let out = verify_attestation(&f, "provenance", IDENTITY).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("slsaprovenance1"));
}

/// `trustpull install` from a gallery whose policy says `require_attestations: [T]`, over a
/// plain-HTTP registry on 127.0.0.1: refused (exit 1, nothing installed) unless T is attested
/// for the image by the gallery's signer; the receipt lists the attested types.
async fn install_requiring(f: &Registry, dir: &std::path::Path) -> (Output, std::path::PathBuf) {
    let host = f.server.address().to_string();
    std::fs::write(
        dir.join("backends.yaml"),
        format!("- name: demo\n  uri: {host}/{REPO}:v1\n"),
    )
    .unwrap();
    let config = dir.join("galleries.yaml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  - host: \"{host}\"\n    plain_http: true\ntrusted_root: {}\ngalleries:\n  - name: demo\n    url: ./backends.yaml\n    verification:\n      issuer: {ISSUER}\n      identity: {IDENTITY}\n      require_attestations: [{SLSA1}]\n",
            f.dir.path().join("trusted_root.json").display()
        ),
    )
    .unwrap();
    let dest = dir.join("backends");
    let docker_config = f.dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking({
        let dest = dest.clone();
        move || {
            crate::trustpull_command(&[])
                .args(["install", "demo", "--output", "json", "--galleries"])
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
    (out, dest)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gallery_requiring_an_attestation_installs_only_attested_images() {
    let attested = registry(Some(SLSA1)).await;
    let tmp = tempfile::tempdir().unwrap();
    let (out, dest) = install_requiring(&attested, tmp.path()).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let receipt: Value =
        serde_json::from_slice(&std::fs::read(dest.join("demo.receipt.json")).unwrap()).unwrap();
    assert_eq!(receipt["verification"]["attestations"], json!([SLSA1]));

    let signed_only = registry(None).await;
    let tmp = tempfile::tempdir().unwrap();
    let (out, dest) = install_requiring(&signed_only, tmp.path()).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("requires a https://slsa.dev/provenance/v1 attestation"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!dest.join("demo").exists());
}
