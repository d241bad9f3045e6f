//! Integration tests for the pull pipeline: resolve once, platform choice, verify before fetch,
//! by-digest fetch with size and digest checks, cancellation, atomic install, and OCI layouts.

// Test support code outside #[test] fns: a panic is how it reports a broken fixture.
#![allow(clippy::unwrap_used)]

mod legacy;
mod mirror;
mod registry;
mod support;
mod tarball;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use support::*;
use trustpull_downloader::{
    DestinationError, Downloader, DownloaderBuilder, ErrorKind, ExistingDestination, ImageSource,
    LayoutSource, Platform, PullError, PullOutcome,
};
use trustpull_policy::Digest;
use trustpull_referrers::DiscoveryOptions;
use trustpull_verifier::{
    ImageSubject, ImageVerifier, NoopVerifier, SignatureSource, StrictVerifier, Verification,
    VerifyError,
};

/// Records every subject it is asked about and checks nothing.
#[derive(Debug, Default)]
struct Recording(Mutex<Vec<ImageSubject>>);

#[async_trait]
impl ImageVerifier for Recording {
    async fn verify(
        &self,
        subject: &ImageSubject,
        signatures: &dyn SignatureSource,
    ) -> Result<Verification, VerifyError> {
        self.0.lock().unwrap().push(subject.clone());
        NoopVerifier::new("test").verify(subject, signatures).await
    }
}

/// A builder for linux/amd64 with `verifier`.
fn builder(verifier: Arc<dyn ImageVerifier>) -> DownloaderBuilder {
    Downloader::builder()
        .verifier(verifier)
        .platform(Platform::new("linux", "amd64"))
}

fn downloader(verifier: Arc<dyn ImageVerifier>) -> Downloader {
    builder(verifier).build().unwrap()
}

fn noop() -> Arc<dyn ImageVerifier> {
    Arc::new(NoopVerifier::new("t"))
}

/// Pulls `source` into a fresh parent with `d`; the pull must fail.
async fn pull_err_with(d: &Downloader, source: &MemorySource) -> (PullError, Parent) {
    let parent = Parent::new();
    let err = d.pull_from(source, &parent.dest()).await.unwrap_err();
    (err, parent)
}

/// Pulls `source` into a fresh parent without verification; the pull must fail.
async fn pull_err(source: &MemorySource) -> (PullError, Parent) {
    pull_err_with(&downloader(noop()), source).await
}

/// Pulls `source` for `platform` into a fresh parent, recording what is verified.
async fn pull_recorded(
    source: &MemorySource,
    platform: Platform,
) -> (Result<PullOutcome, PullError>, Parent, Arc<Recording>) {
    let parent = Parent::new();
    let recording = Arc::new(Recording::default());
    let d = Downloader::builder()
        .verifier(recording.clone())
        .platform(platform)
        .build()
        .unwrap();
    let r = d.pull_from(source, &parent.dest()).await;
    (r, parent, recording)
}

fn linux_amd64() -> Platform {
    Platform::new("linux", "amd64")
}

/// The one blob of `store` that starts with `magic` (gzip `1f 8b`, zstd `28 b5`).
fn blob_starting_with(store: &Store, magic: &[u8]) -> Digest {
    store
        .blobs
        .iter()
        .find(|(_, b)| b.starts_with(magic))
        .unwrap()
        .0
        .clone()
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5];

fn two_layer_store() -> (Store, (Digest, u64)) {
    let mut store = Store::default();
    let lower = gzip(&tar(&[
        ("etc/", b""),
        ("etc/app.conf", b"v1"),
        ("bin/old", b"old"),
        ("data/", b""),
        ("data/x", b"x"),
    ]));
    let upper = zstd(&tar(&[
        ("bin/.wh.old", b""),
        ("bin/new", b"new"),
        ("data/.wh..wh..opq", b""),
        ("data/y", b"y"),
    ]));
    let image = store.image(&[(LAYER_GZIP, lower), (LAYER_ZSTD, upper)]);
    (store, image)
}

struct Parent {
    dir: tempfile::TempDir,
}

impl Parent {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn dest(&self) -> std::path::PathBuf {
        self.dir.path().join("dest")
    }
    /// Nothing at all beside where dest would be: no dest, no staging, no layer files.
    fn assert_empty(&self) {
        assert_eq!(listing(self.dir.path()), Vec::<String>::new());
    }
}

#[tokio::test]
async fn installs_layers_with_whiteouts_and_leaves_nothing_else() {
    let (store, (manifest, _)) = two_layer_store();
    let source = MemorySource::new(store, manifest.clone());
    let (r, parent, recording) = pull_recorded(&source, linux_amd64()).await;
    let outcome = r.unwrap();

    assert_eq!(outcome.digest, manifest);
    assert!(matches!(
        outcome.verification,
        Verification::Unverified { .. }
    ));
    assert_eq!(listing(parent.dir.path()), vec!["dest"]);
    let dest = parent.dest();
    assert_eq!(listing(&dest), vec!["bin", "data", "etc"]);
    assert_eq!(listing(&dest.join("bin")), vec!["new"]);
    assert_eq!(listing(&dest.join("data")), vec!["y"]);
    assert_eq!(std::fs::read(dest.join("etc/app.conf")).unwrap(), b"v1");
    let subjects = recording.0.lock().unwrap();
    assert_eq!(subjects.len(), 1);
    assert_eq!(subjects[0].digest(), &manifest);
    assert_eq!(subjects[0].index_digest(), None);
}

#[tokio::test]
async fn tampered_layer_installs_nothing() {
    let (store, (manifest, _)) = two_layer_store();
    let mut source = MemorySource::new(store.clone(), manifest);
    let layer = blob_starting_with(&store, GZIP_MAGIC);
    source.serve.insert(layer.clone(), Serve::Tampered);
    let (err, parent) = pull_err(&source).await;
    assert!(
        matches!(&err, PullError::DigestMismatch { what: "layer", expected, .. } if *expected == layer),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Rejected);
    parent.assert_empty();
}

#[tokio::test]
async fn truncated_and_overlong_streams_install_nothing() {
    for serve in [Serve::Truncated, Serve::TooLong] {
        let (store, (manifest, _)) = two_layer_store();
        let mut source = MemorySource::new(store.clone(), manifest);
        let layer = blob_starting_with(&store, ZSTD_MAGIC);
        source.serve.insert(layer.clone(), serve.clone());
        let (err, parent) = pull_err(&source).await;
        assert!(
            matches!(&err, PullError::SizeMismatch { what: "layer", digest, .. } if *digest == layer),
            "{serve:?}: {err:?}"
        );
        parent.assert_empty();
    }
}

#[tokio::test]
async fn cancellation_mid_download_leaves_no_destination_and_no_staging() {
    let (store, (manifest, _)) = two_layer_store();
    let mut source = MemorySource::new(store.clone(), manifest);
    let notify = Arc::new(tokio::sync::Notify::new());
    for layer in store.blobs.keys() {
        source
            .serve
            .insert(layer.clone(), Serve::Stall(notify.clone()));
    }
    let parent = Parent::new();
    let d = downloader(noop());
    let dest = parent.dest();
    let pull = d.pull_from(&source, &dest);
    tokio::select! {
        r = pull => panic!("the pull cannot finish while its layers stall: {r:?}"),
        () = notify.notified() => {}
    }
    // `pull` was dropped by select!: that is the cancellation.
    parent.assert_empty();
}

/// Drops `tx` before the wrapped future, so an extraction thread blocked on `rx` resumes only
/// once the pull is being cancelled.
struct CancelWhileExtracting<F> {
    release: Option<std::sync::mpsc::Sender<()>>,
    pull: Option<std::pin::Pin<Box<F>>>,
}

impl<F> Drop for CancelWhileExtracting<F> {
    fn drop(&mut self) {
        drop(self.release.take());
        drop(self.pull.take());
    }
}

#[derive(Debug)]
struct BlockOnExtract {
    started: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl trustpull_downloader::ProgressObserver for BlockOnExtract {
    fn on_event(&self, event: &trustpull_downloader::ProgressEvent) {
        if let trustpull_downloader::ProgressEvent::Extracting { index: 0, .. } = event {
            if let Some(tx) = self.started.lock().unwrap().take() {
                let _ = tx.send(());
            }
            let _ = self.release.lock().unwrap().recv();
        }
    }
}

#[tokio::test]
async fn cancellation_mid_extraction_leaves_no_destination_and_no_staging() {
    let (store, (manifest, _)) = two_layer_store();
    let source = MemorySource::new(store, manifest);
    let parent = Parent::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    let observer = Arc::new(BlockOnExtract {
        started: Mutex::new(Some(started_tx)),
        release: Mutex::new(release_rx),
    });
    let d = builder(noop()).progress(observer).build().unwrap();
    let dest = parent.dest();
    let mut wrapper = CancelWhileExtracting {
        release: Some(release_tx),
        pull: Some(Box::pin(d.pull_from(&source, &dest))),
    };
    let pull = wrapper.pull.as_mut().unwrap();
    tokio::select! {
        r = pull => panic!("the pull cannot finish while extraction is held: {r:?}"),
        _ = started_rx => {}
    }
    drop(wrapper);
    parent.assert_empty();
}

#[tokio::test]
async fn tag_moved_after_resolve_installs_the_resolved_digest() {
    let mut store = Store::default();
    let (v1, _) = store.image(&[(LAYER_GZIP, gzip(&tar(&[("version", b"1")])))]);
    let (v2, _) = store.image(&[(LAYER_GZIP, gzip(&tar(&[("version", b"2")])))]);
    let mut source = MemorySource::new(store, v1.clone());
    source.move_tag_to = Some(v2);
    let parent = Parent::new();
    let outcome = downloader(noop())
        .pull_from(&source, &parent.dest())
        .await
        .unwrap();
    assert_eq!(outcome.digest, v1);
    assert_eq!(
        source.resolves.load(Ordering::SeqCst),
        1,
        "the tag is looked up exactly once"
    );
    assert_eq!(std::fs::read(parent.dest().join("version")).unwrap(), b"1");
}

#[tokio::test]
async fn verification_error_aborts_before_any_layer_fetch() {
    let (store, (manifest, _)) = two_layer_store();
    let source = MemorySource::new(store, manifest.clone());
    let strict = downloader(Arc::new(StrictVerifier::new("gallery g has no policy")));
    let (err, parent) = pull_err_with(&strict, &source).await;
    assert!(
        matches!(&err, PullError::Verify { source, .. } if matches!(**source, VerifyError::Refused { ref digest, .. } if *digest == manifest)),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(source.blob_fetches.load(Ordering::SeqCst), 0);
    parent.assert_empty();
}

fn multi_arch() -> (Store, Digest, Digest, Digest, Digest) {
    let mut store = Store::default();
    let amd = store.image(&[(LAYER_GZIP, gzip(&tar(&[("arch", b"amd64")])))]);
    let arm64 = store.image(&[(LAYER_GZIP, gzip(&tar(&[("arch", b"arm64")])))]);
    let armv7 = store.image(&[(LAYER_GZIP, gzip(&tar(&[("arch", b"armv7")])))]);
    let armv6 = store.image(&[(LAYER_GZIP, gzip(&tar(&[("arch", b"armv6")])))]);
    let attestation = store.image(&[]);
    let (index, _) = store.index(&[
        ("unknown/unknown", attestation),
        ("linux/amd64", amd.clone()),
        ("linux/arm64/v8", arm64.clone()),
        ("linux/arm/v7", armv7.clone()),
        ("linux/arm/v6", armv6),
    ]);
    (store, index, amd.0, arm64.0, armv7.0)
}

async fn pull_platform(platform: &str) -> (Result<PullOutcome, PullError>, Parent, Arc<Recording>) {
    let (store, index, ..) = multi_arch();
    let source = MemorySource::new(store, index);
    pull_recorded(&source, platform.parse().unwrap()).await
}

#[tokio::test]
async fn multi_arch_selects_exact_platform_and_verifies_the_child() {
    let (_, index, amd, arm64, armv7) = multi_arch();
    for (platform, expected, content) in [
        ("linux/amd64", &amd, "amd64"),
        ("linux/arm64", &arm64, "arm64"),
        ("linux/arm64/v8", &arm64, "arm64"),
        ("linux/arm/v7", &armv7, "armv7"),
    ] {
        let (r, parent, recording) = pull_platform(platform).await;
        let outcome = r.unwrap();
        assert_eq!(&outcome.digest, expected, "{platform}");
        assert_eq!(outcome.index_digest.as_ref(), Some(&index));
        assert_eq!(
            std::fs::read_to_string(parent.dest().join("arch")).unwrap(),
            content
        );
        let subjects = recording.0.lock().unwrap();
        assert_eq!(subjects[0].digest(), expected);
        assert_eq!(subjects[0].index_digest(), Some(&index));
    }
}

#[tokio::test]
async fn multi_arch_without_a_match_lists_what_is_offered() {
    let (r, parent, recording) = pull_platform("windows/amd64").await;
    let err = r.unwrap_err();
    assert!(
        matches!(&err, PullError::NoMatchingPlatform { wanted, offered, .. }
            if wanted == "windows/amd64" && offered == &["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6"]),
        "{err:?}"
    );
    assert!(
        recording.0.lock().unwrap().is_empty(),
        "nothing is verified without a platform"
    );
    parent.assert_empty();

    let (r, parent, _) = pull_platform("linux/arm").await;
    assert!(matches!(r, Err(PullError::AmbiguousPlatform { .. })));
    parent.assert_empty();
}

#[tokio::test]
async fn index_child_with_wrong_bytes_is_rejected() {
    let (mut store, index, amd, ..) = multi_arch();
    let bytes = store.blobs[&amd].to_vec();
    let mut evil = bytes.clone();
    evil[10] ^= 1;
    store.blobs.insert(amd.clone(), evil.into());
    let source = MemorySource::new(store, index);
    let (err, parent) = pull_err(&source).await;
    assert!(
        matches!(&err, PullError::DigestMismatch { what: "manifest", expected, .. } if *expected == amd),
        "{err:?}"
    );
    parent.assert_empty();
}

#[tokio::test]
async fn existing_destination_is_refused_before_fetching_or_replaced_on_request() {
    let (store, (manifest, _)) = two_layer_store();
    let source = MemorySource::new(store, manifest);
    let parent = Parent::new();
    std::fs::create_dir(parent.dest()).unwrap();
    std::fs::write(parent.dest().join("old"), b"old").unwrap();

    let err = downloader(noop())
        .pull_from(&source, &parent.dest())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            PullError::Install {
                source: DestinationError::DestinationExists { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(source.resolves.load(Ordering::SeqCst), 0);
    assert_eq!(listing(&parent.dest()), vec!["old"]);

    let d = builder(noop())
        .existing_destination(ExistingDestination::Replace)
        .build()
        .unwrap();
    d.pull_from(&source, &parent.dest()).await.unwrap();
    assert_eq!(listing(&parent.dest()), vec!["bin", "data", "etc"]);
    assert_eq!(listing(parent.dir.path()), vec!["dest"]);
}

#[tokio::test]
async fn limits_are_enforced_before_download() {
    let (store, (manifest, _)) = two_layer_store();
    let source = MemorySource::new(store, manifest);
    let d = builder(noop())
        .limits(trustpull_downloader::PullLimits {
            max_layers: 1,
            ..Default::default()
        })
        .build()
        .unwrap();
    let (err, parent) = pull_err_with(&d, &source).await;
    assert!(matches!(
        err,
        PullError::TooManyLayers {
            count: 2,
            limit: 1,
            ..
        }
    ));
    assert_eq!(source.blob_fetches.load(Ordering::SeqCst), 0);
    parent.assert_empty();
}

#[test]
fn builder_requires_a_verifier() {
    assert!(matches!(
        Downloader::builder().build(),
        Err(trustpull_downloader::MissingVerifier)
    ));
}

// --- OCI image layout ---

/// A Sigstore bundle artifact manifest (empty config, `bundle` as its one layer), no subject.
fn bundle_artifact(store: &mut Store, bundle: &[u8]) -> serde_json::Value {
    let (empty, empty_size) = store.put(bytes::Bytes::from_static(b"{}"));
    let (b, b_size) = store.put(bundle.to_vec());
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": empty_size},
        "layers": [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "digest": b, "size": b_size}],
    })
}

fn referrer(
    store: &mut Store,
    subject: &(Digest, u64),
    bundle: &[u8],
    created: &str,
) -> (Digest, u64) {
    let mut m = bundle_artifact(store, bundle);
    m["subject"] =
        serde_json::json!({"mediaType": OCI_MANIFEST, "digest": subject.0, "size": subject.1});
    m["annotations"] = serde_json::json!({"org.opencontainers.image.created": created});
    store.put(serde_json::to_vec(&m).unwrap())
}

#[tokio::test]
async fn layout_pull_by_tag_and_digest() {
    let (mut store, image) = two_layer_store();
    let (other, _) = store.image(&[(LAYER_GZIP, gzip(&tar(&[("other", b"o")])))]);
    let layout = tempfile::tempdir().unwrap();
    store.write_layout(
        layout.path(),
        &[("v1", &image.0, OCI_MANIFEST), ("v2", &other, OCI_MANIFEST)],
        &[],
    );
    let d = downloader(noop());

    let parent = Parent::new();
    let r = format!("oci-layout:{}:v1", layout.path().display());
    let outcome = d.pull(&loc(&r), &parent.dest()).await.unwrap();
    assert_eq!(outcome.digest, image.0);
    assert_eq!(listing(&parent.dest().join("bin")), vec!["new"]);

    let parent = Parent::new();
    let r = format!("oci-layout:{}@{}", layout.path().display(), other);
    assert_eq!(
        d.pull(&loc(&r), &parent.dest()).await.unwrap().digest,
        other
    );

    let parent = Parent::new();
    let r = format!("oci-layout:{}:nope", layout.path().display());
    let err = d.pull(&loc(&r), &parent.dest()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            PullError::Source {
                source: trustpull_downloader::ImageSourceError::NotFound { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Config);

    let r = format!("oci-layout:{}", layout.path().display());
    let err = d.pull(&loc(&r), &parent.dest()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            PullError::Source {
                source: trustpull_downloader::ImageSourceError::BadReference { .. },
                ..
            }
        ),
        "{err:?}"
    );
    parent.assert_empty();
}

#[tokio::test]
async fn layout_tampered_blob_installs_nothing() {
    let (store, image) = two_layer_store();
    let layout = tempfile::tempdir().unwrap();
    store.write_layout(layout.path(), &[("v1", &image.0, OCI_MANIFEST)], &[]);
    // Overwrite one layer blob inside the layout's storage.
    let layer = blob_starting_with(&store, ZSTD_MAGIC);
    let path = layout.path().join("blobs/sha256").join(layer.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();

    let parent = Parent::new();
    let r = format!("oci-layout:{}:v1", layout.path().display());
    let err = downloader(noop())
        .pull(&loc(&r), &parent.dest())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PullError::DigestMismatch { what: "layer", .. }),
        "{err:?}"
    );
    parent.assert_empty();
}

#[tokio::test]
async fn layout_signature_discovery_by_subject() {
    let (mut store, image) = two_layer_store();
    let (other, other_size) = store.image(&[]);
    let older = referrer(
        &mut store,
        &image,
        b"{\"bundle\":\"older\"}",
        "2026-01-01T00:00:00Z",
    );
    let newer = referrer(
        &mut store,
        &image,
        b"{\"bundle\":\"newer\"}",
        "2026-02-01T00:00:00Z",
    );
    let foreign = referrer(
        &mut store,
        &(other.clone(), other_size),
        b"{\"bundle\":\"foreign\"}",
        "2026-03-01T00:00:00Z",
    );
    // `newer` and `foreign` are listed directly; `older` sits in a referrers-tag index.
    let (fallback, fallback_size) = store.put(
        serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": older.0, "size": older.1,
             "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}]}),
        )
        .unwrap(),
    );
    let layout = tempfile::tempdir().unwrap();
    let desc = |d: &(Digest, u64)| serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d.0, "size": d.1});
    store.write_layout(
        layout.path(),
        &[("v1", &image.0, OCI_MANIFEST)],
        &[
            desc(&newer),
            desc(&foreign),
            serde_json::json!({"mediaType": OCI_INDEX, "digest": fallback, "size": fallback_size,
                "annotations": {"org.opencontainers.image.ref.name": format!("sha256-{}", image.0.hex())}}),
        ],
    );
    let source = layout_at(layout.path(), "v1");
    let subject = ImageSubject::new(
        "oci-layout",
        layout.path().display().to_string(),
        image.0.clone(),
        OCI_MANIFEST,
    );
    let found = source.candidates(&subject, &image.0).await.unwrap();
    let digests: Vec<&Digest> = found.candidates.iter().map(|c| c.digest()).collect();
    assert_eq!(digests, vec![&newer.0, &older.0]);
    assert_eq!(
        source.bundle(&subject, &found.candidates[0]).await.unwrap(),
        b"{\"bundle\":\"newer\"}"
    );

    // The image itself still resolves by its tag (the referrer entries are not images to pull).
    assert_eq!(source.resolve().await.unwrap().bytes, store.blobs[&image.0]);
    let none = source
        .candidates(&subject, &Digest::of(b"unsigned"))
        .await
        .unwrap();
    assert!(none.candidates.is_empty());
}

#[tokio::test]
async fn layout_candidates_follow_the_fair_order_of_registries() {
    let (mut store, image) = two_layer_store();
    let junk = referrer(
        &mut store,
        &image,
        b"{\"bundle\":\"junk\"}",
        "2999-01-01T00:00:00Z",
    );
    let real = referrer(
        &mut store,
        &image,
        b"{\"bundle\":\"real\"}",
        "2026-01-01T00:00:00Z",
    );
    let layout = tempfile::tempdir().unwrap();
    let dated = |d: &(Digest, u64), created: &str| {
        serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d.0, "size": d.1,
            "annotations": {"org.opencontainers.image.created": created}})
    };
    store.write_layout(
        layout.path(),
        &[("v1", &image.0, OCI_MANIFEST)],
        &[
            dated(&junk, "2999-01-01T00:00:00Z"),
            dated(&real, "2026-01-01T00:00:00Z"),
        ],
    );
    let subject = ImageSubject::new("oci-layout", "l", image.0.clone(), OCI_MANIFEST);
    async fn order(source: LayoutSource, subject: &ImageSubject) -> Vec<Digest> {
        let found = source.candidates(subject, subject.digest()).await.unwrap();
        found
            .candidates
            .iter()
            .map(|c| c.digest().clone())
            .collect()
    }
    // Without a time every parsable date is plausible: the far future goes first.
    assert_eq!(
        order(layout_at(layout.path(), "v1"), &subject).await,
        [junk.0.clone(), real.0.clone()]
    );
    // With one, a date in the future ranks last, as in registry discovery.
    let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let source = layout_at(layout.path(), "v1").with_discovery(DiscoveryOptions::at(now));
    assert_eq!(order(source, &subject).await, [real.0, junk.0]);
}

#[tokio::test]
async fn layout_missing_index_is_unavailable_for_signatures() {
    let source = layout_at(Path::new("/nonexistent/layout"), "v1");
    let subject = ImageSubject::new(
        "oci-layout",
        "/nonexistent/layout",
        Digest::of(b"x"),
        OCI_MANIFEST,
    );
    let err = source
        .candidates(&subject, &Digest::of(b"x"))
        .await
        .unwrap_err();
    assert!(
        err.is_unavailable(),
        "a missing layout is never 'no signatures': {err:?}"
    );
}

#[tokio::test]
async fn hostile_first_layer_stops_the_other_downloads_and_installs_nothing() {
    let mut store = Store::default();
    let mut hostile = tar(&[("ok", b"x")]);
    // Rewrite the entry name to `../ok` (same length budget: the name field is 100 bytes).
    hostile[..5].copy_from_slice(b"../ok");
    let mut header = tar::Header::from_byte_slice(&hostile[..512]).clone();
    header.set_cksum();
    hostile[..512].copy_from_slice(header.as_bytes());
    let stalled = gzip(&tar(&[("never", b"y")]));
    let (image, _) = store.image(&[(LAYER_GZIP, gzip(&hostile)), (LAYER_GZIP, stalled.clone())]);
    let mut source = MemorySource::new(store, image);
    source.serve.insert(
        Digest::of(&stalled),
        Serve::Stall(Arc::new(tokio::sync::Notify::new())),
    );
    let (err, parent) = pull_err(&source).await;
    assert!(
        matches!(
            &err,
            PullError::Extract {
                source: trustpull_downloader::ExtractError::UnsafeEntry {
                    reason: trustpull_downloader::UnsafeReason::ParentComponent,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Rejected);
    parent.assert_empty();
}

#[tokio::test]
async fn docker_schema2_manifest_and_sniffed_plain_tar_layers() {
    let mut store = Store::default();
    let (config, config_size) = store.put(bytes::Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux"}"#,
    ));
    let gz = gzip(&tar(&[("a", b"from docker gzip")]));
    let zst = zstd(&tar(&[("b", b"zstd pushed as plain tar")]));
    let (gz_d, gz_size) = store.put(gz);
    let (zst_d, zst_size) = store.put(zst);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": config_size},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": gz_d, "size": gz_size},
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "digest": zst_d, "size": zst_size},
        ],
    });
    let (m, _) = store.put(serde_json::to_vec(&manifest).unwrap());
    let source = MemorySource::new(store, m.clone());
    let (r, parent, recording) = pull_recorded(&source, linux_amd64()).await;
    let outcome = r.unwrap();
    assert_eq!(outcome.digest, m);
    assert_eq!(
        std::fs::read(parent.dest().join("a")).unwrap(),
        b"from docker gzip"
    );
    assert_eq!(
        std::fs::read(parent.dest().join("b")).unwrap(),
        b"zstd pushed as plain tar"
    );
    assert_eq!(
        recording.0.lock().unwrap()[0].media_type(),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
}

#[tokio::test]
async fn unsupported_layer_type_is_refused_before_verification_and_fetch() {
    let mut store = Store::default();
    let (image, _) = store.image(&[(
        "application/vnd.oci.image.layer.v1.tar+bzip2",
        b"BZh".to_vec(),
    )]);
    let source = MemorySource::new(store, image);
    let (r, parent, recording) = pull_recorded(&source, linux_amd64()).await;
    let err = r.unwrap_err();
    assert!(
        matches!(&err, PullError::UnsupportedMediaType { media_type, .. } if media_type.ends_with("+bzip2")),
        "{err:?}"
    );
    assert!(recording.0.lock().unwrap().is_empty());
    assert_eq!(source.blob_fetches.load(Ordering::SeqCst), 0);
    parent.assert_empty();
}

#[tokio::test]
async fn a_reference_naming_a_signature_artifact_is_not_installed() {
    let mut store = Store::default();
    // The reference names a signature-like artifact manifest, not an image.
    let artifact = bundle_artifact(&mut store, b"{}");
    let (m, _) = store.put(serde_json::to_vec(&artifact).unwrap());
    let source = MemorySource::new(store, m);
    let (err, parent) = pull_err(&source).await;
    assert!(
        matches!(&err, PullError::UnsupportedMediaType { .. }),
        "{err:?}"
    );
    parent.assert_empty();
}

#[tokio::test]
async fn digest_reference_served_other_bytes_is_rejected() {
    let mut store = Store::default();
    let (wanted, _) = store.image(&[(LAYER_GZIP, gzip(&tar(&[("v", b"1")])))]);
    let (served, _) = store.image(&[(LAYER_GZIP, gzip(&tar(&[("v", b"2")])))]);
    let mut source = MemorySource::new(store, served.clone());
    source.pinned = Some(wanted.clone());
    let (err, parent) = pull_err(&source).await;
    assert!(
        matches!(&err, PullError::DigestMismatch { what: "manifest", expected, actual, .. } if *expected == wanted && *actual == served),
        "{err:?}"
    );
    parent.assert_empty();
}

#[tokio::test]
async fn failed_pull_removes_the_parent_directories_it_created() {
    let (store, (manifest, _)) = two_layer_store();
    let mut source = MemorySource::new(store.clone(), manifest);
    for layer in store.blobs.keys() {
        source.serve.insert(layer.clone(), Serve::Tampered);
    }
    let parent = Parent::new();
    let dest = parent.dir.path().join("a/b/dest");
    let err = downloader(noop())
        .pull_from(&source, &dest)
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::DigestMismatch { .. }), "{err:?}");
    parent.assert_empty();
}

#[tokio::test]
async fn layout_without_a_tag_picks_its_only_image_not_its_signature() {
    let (mut store, image) = two_layer_store();
    let sig = referrer(&mut store, &image, b"{}", "2026-01-01T00:00:00Z");
    let layout = tempfile::tempdir().unwrap();
    let sig_desc = serde_json::json!({"mediaType": OCI_MANIFEST, "digest": sig.0, "size": sig.1,
        "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"});
    let image_desc =
        serde_json::json!({"mediaType": OCI_MANIFEST, "digest": image.0, "size": image.1});
    store.write_layout(layout.path(), &[], &[image_desc, sig_desc]);
    let parent = Parent::new();
    let r = format!("oci-layout:{}", layout.path().display());
    let outcome = downloader(noop())
        .pull(&loc(&r), &parent.dest())
        .await
        .unwrap();
    assert_eq!(outcome.digest, image.0);
}
