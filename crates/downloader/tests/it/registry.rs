//! Pulls through `RegistryClient` from a wiremock registry on 127.0.0.1: a tag moved between
//! resolve and fetch, and a tampered blob.

use std::sync::Arc;

use trustpull_downloader::{Downloader, Platform, PullError};
use trustpull_referrers::{Limits, RegistryClient};
use trustpull_verifier::NoopVerifier;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

const REPO: &str = "acme/app";

async fn serve_blobs(server: &MockServer, store: &Store) {
    for (d, bytes) in &store.blobs {
        for kind in ["blobs", "manifests"] {
            Mock::given(method("GET"))
                .and(path(format!("/v2/{REPO}/{kind}/{d}")))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_raw(bytes.to_vec(), "application/octet-stream"),
                )
                .with_priority(5)
                .mount(server)
                .await;
        }
    }
}

fn downloader(server: &MockServer) -> Downloader {
    let client = RegistryClient::builder()
        .plain_http_host(server.address().to_string())
        .limits(Limits::without_backoff())
        .build()
        .unwrap();
    Downloader::builder()
        .client(client)
        .verifier(Arc::new(NoopVerifier::new("test")))
        .platform(Platform::new("linux", "amd64"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn tag_moved_between_resolve_and_fetch_installs_the_resolved_digest() {
    let mut store = Store::default();
    let (v1, _) = store.image(&[(LAYER_GZIP, gzip(&tar(&[("version", b"1")])))]);
    let (v2, _) = store.image(&[(LAYER_GZIP, gzip(&tar(&[("version", b"2")])))]);
    let server = MockServer::start().await;
    serve_blobs(&server, &store).await;
    // The tag names v1 exactly once; every later lookup of the tag sees v2.
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/manifests/v1")))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(store.blobs[&v1].to_vec(), OCI_MANIFEST),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/manifests/v1")))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(store.blobs[&v2].to_vec(), OCI_MANIFEST),
        )
        .with_priority(2)
        .mount(&server)
        .await;

    let dest_parent = tempfile::tempdir().unwrap();
    let dest = dest_parent.path().join("dest");
    let reference = format!("{}/{REPO}:v1", server.address());
    let outcome = downloader(&server)
        .pull(&loc(&reference), &dest)
        .await
        .unwrap();
    assert_eq!(outcome.digest, v1);
    assert_eq!(std::fs::read(dest.join("version")).unwrap(), b"1");

    let requests = server.received_requests().await.unwrap();
    let tag_lookups = requests
        .iter()
        .filter(|r| r.url.path().ends_with("/manifests/v1"))
        .count();
    assert_eq!(
        tag_lookups, 1,
        "the tag is resolved once; everything after is by digest"
    );
}

#[tokio::test]
async fn registry_serving_a_tampered_layer_installs_nothing() {
    let mut store = Store::default();
    let layer = gzip(&tar(&[("f", b"data")]));
    let (image, _) = store.image(&[(LAYER_GZIP, layer.clone())]);
    let layer_digest = trustpull_policy::Digest::of(&layer);
    let server = MockServer::start().await;
    let mut evil = layer.clone();
    let last = evil.len() - 1;
    evil[last] ^= 0xff;
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/blobs/{layer_digest}")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(evil, "application/octet-stream"))
        .with_priority(1)
        .mount(&server)
        .await;
    serve_blobs(&server, &store).await;

    let dest_parent = tempfile::tempdir().unwrap();
    let dest = dest_parent.path().join("dest");
    let reference = format!("{}/{REPO}@{image}", server.address());
    let err = downloader(&server)
        .pull(&loc(&reference), &dest)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PullError::DigestMismatch { what: "layer", expected, .. } if *expected == layer_digest),
        "{err:?}"
    );
    assert_eq!(listing(dest_parent.path()), Vec::<String>::new());
}

#[tokio::test]
async fn registry_reference_without_client_is_a_config_error() {
    let d = Downloader::builder()
        .verifier(Arc::new(NoopVerifier::new("t")))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = d
        .pull(&loc("127.0.0.1:1/acme/app:v1"), &dir.path().join("d"))
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::NoRegistryClient { .. }));
    assert_eq!(err.kind(), trustpull_downloader::ErrorKind::Config);
}
