//! Registry mirrors (`Downloader::builder().mirrors(..)`, containerd `hosts.toml` semantics)
//! against two wiremock registries: the mirror is asked first; an unavailable mirror (503,
//! connection refused) or one without the image (404) is skipped; anything the mirror serves
//! is judged as if the upstream had served it, and a rejection never reaches the upstream
//! (wiremock `expect(0)` fails the test on drop if it is contacted).

use std::sync::{Arc, Mutex};

use trustpull_downloader::{
    Downloader, ErrorKind, Platform, ProgressEvent, ProgressObserver, PullError, RegistryMirrors,
};
use trustpull_policy::Digest;
use trustpull_referrers::{Limits, RegistryClient};
use trustpull_verifier::{ImageVerifier, NoopVerifier, StrictVerifier, VerifyError};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

const REPO: &str = "acme/app";

/// Serves `store` (manifests and blobs by digest, `tag` → `manifest`) on `server`, expecting
/// `calls` requests in all (`None`: any number).
async fn serve(server: &MockServer, store: &Store, manifest: &Digest, calls: Option<u64>) {
    serve_kinds(server, store, manifest, calls, "manifests|blobs").await;
}

/// [`serve`] for the request kinds `kinds` (`manifests`, `blobs`) only.
async fn serve_kinds(
    server: &MockServer,
    store: &Store,
    manifest: &Digest,
    calls: Option<u64>,
    kinds: &str,
) {
    let store = store.clone();
    let tag = manifest.clone();
    let mock = Mock::given(method("GET"))
        .and(path_regex(format!("^/v2/{REPO}/({kinds})/.+$")))
        .respond_with(move |req: &wiremock::Request| {
            let last = req.url.path().rsplit('/').next().unwrap_or_default();
            let digest = if last == "v1" {
                tag.clone()
            } else {
                match Digest::parse(last) {
                    Ok(d) => d,
                    Err(_) => return ResponseTemplate::new(404),
                }
            };
            match store.blobs.get(&digest) {
                Some(bytes) => ResponseTemplate::new(200)
                    .insert_header("content-type", OCI_MANIFEST)
                    .set_body_bytes(bytes.to_vec()),
                None => ResponseTemplate::new(404),
            }
        });
    match calls {
        Some(n) => mock.expect(n),
        None => mock,
    }
    .mount(server)
    .await;
}

/// The `ServedBy` events of a pull: (host, number of hosts skipped).
#[derive(Debug, Default)]
struct ServedBy(Mutex<Vec<(String, usize)>>);

impl ProgressObserver for ServedBy {
    fn on_event(&self, event: &ProgressEvent) {
        if let ProgressEvent::ServedBy { host, skipped, .. } = event {
            self.0.lock().unwrap().push((host.clone(), skipped.len()));
        }
    }
}

fn downloader(upstream: &str, mirrors: &[String], verifier: Arc<dyn ImageVerifier>) -> Downloader {
    downloader_with(upstream, mirrors, verifier, Arc::new(ServedBy::default()))
}

fn downloader_with(
    upstream: &str,
    mirrors: &[String],
    verifier: Arc<dyn ImageVerifier>,
    progress: Arc<ServedBy>,
) -> Downloader {
    // One attempt: a mirror's 503 is seen once, then the next host is asked.
    let mut limits = Limits::without_backoff();
    limits.max_attempts = 1;
    let mut client = RegistryClient::builder().limits(limits);
    let mut map = RegistryMirrors::default();
    for host in std::iter::once(upstream.to_owned()).chain(mirrors.iter().cloned()) {
        client = client.plain_http_host(host);
    }
    for m in mirrors {
        map = map.with_mirror(upstream, m.clone());
    }
    Downloader::builder()
        .client(client.build().unwrap())
        .mirrors(map)
        .progress(progress)
        .verifier(verifier)
        .platform(Platform::new("linux", "amd64"))
        .build()
        .unwrap()
}

fn noop() -> Arc<dyn ImageVerifier> {
    Arc::new(NoopVerifier::new("test"))
}

fn image() -> (Store, Digest) {
    image_of(b"1")
}

fn image_of(version: &[u8]) -> (Store, Digest) {
    let mut store = Store::default();
    let (manifest, _) = store.image(&[(LAYER_GZIP, gzip(&tar(&[("version", version)])))]);
    (store, manifest)
}

#[tokio::test]
async fn a_serving_mirror_means_the_upstream_is_never_contacted() {
    let (store, manifest) = image();
    let (mirror, upstream) = (MockServer::start().await, MockServer::start().await);
    serve(&mirror, &store, &manifest, None).await;
    serve(&upstream, &store, &manifest, Some(0)).await;
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("app");
    let up = upstream.address().to_string();
    let served = Arc::new(ServedBy::default());
    let outcome = downloader_with(&up, &[mirror.address().to_string()], noop(), served.clone())
        .pull(&loc(&format!("{up}/{REPO}:v1")), &dest)
        .await
        .unwrap();
    assert_eq!(outcome.digest, manifest);
    assert_eq!(
        *served.0.lock().unwrap(),
        [(mirror.address().to_string(), 0)]
    );
    assert_eq!(std::fs::read(dest.join("version")).unwrap(), b"1");
    // Manifest and blobs (config is not fetched: layers only) came from the mirror.
    assert!(mirror.received_requests().await.unwrap().len() >= 2);
}

#[tokio::test]
async fn unavailable_or_empty_mirrors_are_skipped_in_order() {
    let (store, manifest) = image();
    let (down, empty, upstream) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&down)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&empty)
        .await;
    serve(&upstream, &store, &manifest, None).await;
    // A port nothing listens on: connection refused.
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("app");
    let up = upstream.address().to_string();
    let mirrors = [
        refused,
        down.address().to_string(),
        empty.address().to_string(),
    ];
    let served = Arc::new(ServedBy::default());
    let outcome = downloader_with(&up, &mirrors, noop(), served.clone())
        .pull(&loc(&format!("{up}/{REPO}:v1")), &dest)
        .await
        .unwrap();
    assert_eq!(*served.0.lock().unwrap(), [(up.clone(), 3)]);
    assert_eq!(outcome.digest, manifest);
    assert_eq!(std::fs::read(dest.join("version")).unwrap(), b"1");
}

#[tokio::test]
async fn a_rejection_of_what_a_mirror_served_is_final() {
    let (store, manifest) = image();
    let (mirror, upstream) = (MockServer::start().await, MockServer::start().await);
    serve(&mirror, &store, &manifest, None).await;
    serve(&upstream, &store, &manifest, Some(0)).await;
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("app");
    let up = upstream.address().to_string();
    let strict = Arc::new(StrictVerifier::new("gallery g has no policy"));
    let err = downloader(&up, &[mirror.address().to_string()], strict)
        .pull(&loc(&format!("{up}/{REPO}:v1")), &dest)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PullError::Verify { source, .. } if matches!(**source, VerifyError::Refused { .. })),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert!(!dest.exists());
}

#[tokio::test]
async fn a_mirror_serving_other_bytes_for_a_pinned_digest_is_rejected_not_skipped() {
    let (store, manifest) = image();
    let (mut other, other_manifest) = image_of(b"2");
    // The mirror answers the pinned digest with another (valid) manifest.
    other
        .blobs
        .insert(manifest.clone(), other.blobs[&other_manifest].clone());
    let (mirror, upstream) = (MockServer::start().await, MockServer::start().await);
    serve(&mirror, &other, &other_manifest, None).await;
    serve(&upstream, &store, &manifest, Some(0)).await;
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("app");
    let up = upstream.address().to_string();
    let err = downloader(&up, &[mirror.address().to_string()], noop())
        .pull(&loc(&format!("{up}/{REPO}@{manifest}")), &dest)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err:?}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn blobs_a_mirror_cannot_serve_come_from_the_upstream_by_digest() {
    let (store, manifest) = image();
    let (mirror, upstream) = (MockServer::start().await, MockServer::start().await);
    serve_kinds(&mirror, &store, &manifest, None, "manifests").await;
    Mock::given(method("GET"))
        .and(path_regex(format!("^/v2/{REPO}/blobs/.+$")))
        .respond_with(ResponseTemplate::new(503))
        .mount(&mirror)
        .await;
    // The upstream is asked for the layer only: never for the tag.
    serve_kinds(&upstream, &store, &manifest, Some(1), "blobs").await;
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("app");
    let up = upstream.address().to_string();
    let served = Arc::new(ServedBy::default());
    let outcome = downloader_with(&up, &[mirror.address().to_string()], noop(), served.clone())
        .pull(&loc(&format!("{up}/{REPO}:v1")), &dest)
        .await
        .unwrap();
    assert_eq!(outcome.digest, manifest);
    assert_eq!(std::fs::read(dest.join("version")).unwrap(), b"1");
    assert_eq!(
        *served.0.lock().unwrap(),
        [(mirror.address().to_string(), 0)]
    );
}
