//! `cargo xtask bench registry`: registry requests per digest-pinned verification
//! (the target: 3 with a referrers API, 4 on a fallback registry).
//!
//! A counting registry (wiremock on 127.0.0.1) serves one testkit-signed cosign-style
//! signature for a digest, once through the OCI 1.1 referrers API and once only through the
//! `sha256-<hex>` fallback tag. `CosignVerifier` over `RegistrySource` verifies the digest
//! (resolution is not part of it: the reference is already pinned); the server counts every
//! request it received. Wall time per verification over loopback is reported as a median.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use trustpull_downloader::RegistrySource;
use trustpull_policy::Digest;
use trustpull_referrers::{ImageReference, RegistryClient, Repository};
use trustpull_testkit::sigstore::{default_policy, SignRequest, VirtualSigstore};
use trustpull_verifier::{CosignVerifier, ImageSubject, ImageVerifier, Verification};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::push::{BUNDLE, OCI_INDEX, OCI_MANIFEST};

const REPO: &str = "bench/app";
const RUNS: usize = 50;

/// Runs the section and prints its markdown table.
pub fn run() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let rows = runtime
        .block_on(async { Ok::<_, String>(vec![measure(true).await?, measure(false).await?]) })?;
    println!(
        "\n### Registry requests per digest-pinned verification (`cargo xtask bench registry`)\n"
    );
    println!("| registry | requests (target) | requests seen | median wall time per verify, loopback ({RUNS} runs) |");
    println!("|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} ({}) | {} | {:.2} ms |",
            r.name,
            r.count,
            r.target,
            r.paths.join(", "),
            r.median.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

struct Row {
    name: &'static str,
    count: usize,
    target: usize,
    paths: Vec<String>,
    median: Duration,
}

async fn measure(referrers_api: bool) -> Result<Row, String> {
    let sigstore = VirtualSigstore::new();
    let root = Arc::new(sigstore.trust_root());
    let server = MockServer::start().await;
    let subject_digest = Digest::of(b"bench image manifest");
    let bundle = sigstore.sign(&SignRequest::dsse(subject_digest.clone()));
    let bundle_digest = Digest::of(&bundle);
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}"), "size": 2},
        "layers": [{"mediaType": BUNDLE, "digest": bundle_digest, "size": bundle.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": 100},
    }))
    .map_err(|e| e.to_string())?;
    let referrer_digest = Digest::of(&referrer);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": referrer_digest, "size": referrer.len(), "artifactType": BUNDLE}],
    }))
    .map_err(|e| e.to_string())?;

    let referrers_path = format!("/v2/{REPO}/referrers/{subject_digest}");
    if referrers_api {
        mount(
            &server,
            &referrers_path,
            ResponseTemplate::new(200).set_body_raw(index.clone(), OCI_INDEX),
        )
        .await;
    } else {
        mount(&server, &referrers_path, ResponseTemplate::new(404)).await;
        mount(
            &server,
            &format!("/v2/{REPO}/manifests/sha256-{}", subject_digest.hex()),
            ResponseTemplate::new(200).set_body_raw(index, OCI_INDEX),
        )
        .await;
    }
    mount(
        &server,
        &format!("/v2/{REPO}/manifests/{referrer_digest}"),
        ResponseTemplate::new(200).set_body_raw(referrer, OCI_MANIFEST),
    )
    .await;
    mount(
        &server,
        &format!("/v2/{REPO}/blobs/{bundle_digest}"),
        ResponseTemplate::new(200).set_body_raw(bundle, "application/octet-stream"),
    )
    .await;

    let host = server.address().to_string();
    let repo = Repository::new(&host, REPO).map_err(|e| e.to_string())?;
    let subject = ImageSubject::new(repo.registry(), repo.name(), subject_digest, OCI_MANIFEST);
    let mut times = Vec::with_capacity(RUNS);
    let mut count = 0;
    let mut paths = Vec::new();
    for run in 0..RUNS {
        // A fresh client and verifier per run: no connection, token or verification reuse.
        let client = RegistryClient::builder()
            .plain_http_host(host.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let verifier = CosignVerifier::new(Arc::new(default_policy()), root.clone());
        let source = RegistrySource::new(
            client,
            ImageReference::by_digest(repo.clone(), subject.digest().clone()),
        );
        let start = Instant::now();
        let outcome = verifier.verify(&subject, &source).await;
        times.push(start.elapsed());
        if !matches!(outcome, Ok(Verification::Verified(_))) {
            return Err(format!("bench verification did not pass: {outcome:?}"));
        }
        if run == 0 {
            // Only the first run's requests have been received so far.
            let seen = server.received_requests().await.unwrap_or_default();
            count = seen.len();
            paths = seen
                .iter()
                .map(|r| {
                    let p = r.url.path();
                    let short = p.strip_prefix(&format!("/v2/{REPO}/")).unwrap_or(p);
                    let kind = short.split('/').next().unwrap_or(short);
                    if short.starts_with("manifests/sha256-") {
                        "fallback tag".to_owned()
                    } else {
                        kind.to_owned()
                    }
                })
                .collect();
        }
    }
    times.sort();
    Ok(Row {
        name: if referrers_api {
            "referrers API (OCI 1.1)"
        } else {
            "fallback tag only (e.g. distribution 2.8)"
        },
        count,
        target: if referrers_api { 3 } else { 4 },
        paths,
        median: times[times.len() / 2],
    })
}

async fn mount(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(response)
        .mount(server)
        .await;
}
