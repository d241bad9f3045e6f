//! Trust-root refresh over TUF: the verifier's `TufCache` against the testkit's
//! TUF repository served from wiremock. Each way a mirror fails is a typed, retryable error that
//! leaves the cache byte for byte as it was; the next refresh, once the mirror is fixed,
//! succeeds. Expiry is checked at a `now` the test passes in, never the wall clock.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use trustpull_policy::Digest;
use trustpull_testkit::sigstore::VirtualSigstore;
use trustpull_testkit::tuf::{long_ago, TufFault, TufRepository, TufState};
use trustpull_verifier::{TrustRootSource, TufCache, TufError, TufFailure, TufMirror, TufUpdate};
use wiremock::MockServer;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

struct Fixture {
    server: MockServer,
    repo: TufRepository,
    mirror: TufMirror,
    cache: TufCache,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let server = MockServer::start().await;
    let repo = TufRepository::new(b"tuf-tests");
    let mirror =
        TufMirror::new(&server.uri(), repo.initial_root(), "1.root.json").expect("a valid root");
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = TufCache::new(dir.path().join("cache"));
    Fixture {
        server,
        repo,
        mirror,
        cache,
        _dir: dir,
    }
}

impl Fixture {
    /// The mirror now serves `state`.
    async fn serve(&self, state: &TufState) {
        self.repo.serve(state, &self.server).await;
    }

    /// One refresh of the cache from the mirror, with `at` as the time.
    async fn refresh_at(&self, at: DateTime<Utc>) -> Result<TufUpdate, TufError> {
        self.cache.update(&self.mirror, at).await
    }

    /// One refresh at [`now`].
    async fn refresh(&self) -> Result<TufUpdate, TufError> {
        self.refresh_at(now()).await
    }
}

/// A fixture whose mirror serves `state` and whose cache holds that first, successful refresh.
async fn refreshed(state: TufState) -> (Fixture, TufUpdate) {
    let f = fixture().await;
    f.serve(&state).await;
    let update = f.refresh().await.expect("the first refresh succeeds");
    (f, update)
}

fn target(seed: &[u8]) -> Vec<u8> {
    VirtualSigstore::from_seed(seed).trusted_root_json()
}

/// Every file under `dir`, by relative path.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                out.insert(rel, std::fs::read(&path).expect("a readable file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[tokio::test]
async fn a_refresh_stores_the_target_and_load_reads_it_back_with_its_source() {
    let good = target(b"one");
    let (f, update) = refreshed(TufState::new(1, good.clone())).await;
    assert!(update.changed() && update.previous.is_none());
    assert_eq!(update.root.fingerprint(), &Digest::of(&good));
    assert_eq!((update.versions.root, update.versions.timestamp), (1, 1));

    let loaded = f
        .cache
        .load()
        .expect("a readable cache")
        .expect("a cached root");
    assert_eq!(loaded.fingerprint(), &Digest::of(&good));
    match loaded.source() {
        TrustRootSource::Tuf {
            mirror, fetched_at, ..
        } => {
            assert_eq!(mirror, f.mirror.url());
            assert_eq!(*fetched_at, now());
        }
        other => panic!("expected a TUF source, found {other:?}"),
    }

    // The same repository again: nothing new, the root unchanged.
    let again = f.refresh().await.expect("a second refresh");
    assert!(!again.changed());
}

#[tokio::test]
async fn with_no_cache_a_failed_refresh_leaves_nothing() {
    let f = fixture().await;
    f.serve(&TufState::new(1, target(b"one")).with_fault(TufFault::BadSignature))
        .await;
    let err = f.refresh().await.expect_err("a forged timestamp");
    assert_eq!(err.failure(), Some(&TufFailure::BadSignature));
    assert!(f.cache.load().expect("a readable cache").is_none());
    assert!(!f.cache.dir().join("current.json").exists());
}

/// A good refresh at version 5, then `bad` served: the error is `expected`, retryable, and the
/// cache is unchanged byte for byte; then a fixed mirror (version 9, a new target) succeeds.
async fn fails_then_recovers(bad: TufState, expected: TufFailure) {
    let good = target(b"one");
    let (f, _) = refreshed(TufState::new(5, good.clone())).await;
    let before = snapshot(f.cache.dir());

    f.serve(&bad).await;
    let err = f.refresh().await.expect_err("the bad mirror fails");
    assert!(
        matches!(&err, TufError::Mirror { failure, .. } if *failure == expected),
        "expected {expected:?}, found {err:?}"
    );
    assert!(err.is_unavailable(), "{err}");
    assert_eq!(
        snapshot(f.cache.dir()),
        before,
        "the cache changed after {expected:?}"
    );
    let kept = f
        .cache
        .load()
        .expect("a readable cache")
        .expect("the last good root");
    assert_eq!(kept.fingerprint(), &Digest::of(&good));

    let fixed = target(b"two");
    f.serve(&TufState::new(9, fixed.clone()).with_root_version(bad.root_version.max(1)))
        .await;
    let update = f.refresh().await.expect("the fixed mirror succeeds");
    assert!(update.changed());
    assert_eq!(update.previous, Some(Digest::of(&good)));
    let loaded = f.cache.load().expect("a readable cache").expect("a root");
    assert_eq!(loaded.fingerprint(), &Digest::of(&fixed));
}

/// What an attacker (or a broken mirror) serves after the good version 5: version 6 of another
/// target (each test adds its fault).
fn evil() -> TufState {
    TufState::new(6, target(b"evil"))
}

/// `TufFailure::Expired` for `role`.
fn expired(role: &str) -> TufFailure {
    TufFailure::Expired {
        role: role.to_owned(),
    }
}

#[tokio::test]
async fn an_unreachable_mirror_keeps_the_last_good_root() {
    let (f, _) = refreshed(TufState::new(1, target(b"one"))).await;
    let before = snapshot(f.cache.dir());
    // A loopback port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let gone = TufMirror::new(
        &format!("http://127.0.0.1:{port}"),
        f.repo.initial_root(),
        "1.root.json",
    )
    .expect("a mirror");
    let err = f
        .cache
        .update(&gone, now())
        .await
        .expect_err("nothing listens");
    assert_eq!(err.failure(), Some(&TufFailure::Unreachable), "{err}");
    assert_eq!(snapshot(f.cache.dir()), before);
}

#[tokio::test]
async fn a_mirror_answering_404_is_unreachable() {
    let (f, _) = refreshed(TufState::new(1, target(b"one"))).await;
    f.server.reset().await;
    let err = f.refresh().await.expect_err("no timestamp");
    assert_eq!(err.failure(), Some(&TufFailure::Unreachable), "{err}");
}

#[tokio::test]
async fn a_bad_signature_is_refused() {
    let bad = evil().with_fault(TufFault::BadSignature);
    fails_then_recovers(bad, TufFailure::BadSignature).await;
}

#[tokio::test]
async fn garbage_metadata_is_refused() {
    let bad = evil().with_fault(TufFault::Garbage);
    fails_then_recovers(bad, TufFailure::Malformed).await;
}

#[tokio::test]
async fn a_target_that_does_not_match_its_hash_is_refused() {
    let bad = evil().with_fault(TufFault::TargetHashMismatch);
    fails_then_recovers(bad, TufFailure::Integrity).await;
}

#[tokio::test]
async fn expired_metadata_is_refused() {
    let bad = TufState {
        expires: long_ago(),
        ..evil()
    };
    fails_then_recovers(bad, expired("snapshot")).await;
}

#[tokio::test]
async fn an_older_version_is_a_rollback() {
    let bad = TufState::new(4, target(b"old"));
    fails_then_recovers(bad, TufFailure::Rollback).await;
}

#[tokio::test]
async fn an_expired_timestamp_is_a_freeze() {
    let bad = TufState {
        timestamp_expires: long_ago(),
        ..evil()
    };
    fails_then_recovers(bad, expired("timestamp")).await;
}

#[tokio::test]
async fn a_mirror_replaying_the_same_metadata_past_its_expiry_is_a_freeze() {
    // The mirror keeps serving what was valid at the first refresh; a day after the timestamp
    // expired, the refresh must fail rather than report the stale view as fresh.
    let mut state = TufState::new(1, target(b"one"));
    state.timestamp_expires = now() + Duration::days(1);
    let (f, _) = refreshed(state).await;
    let before = snapshot(f.cache.dir());
    let err = f
        .refresh_at(now() + Duration::days(2))
        .await
        .expect_err("frozen");
    assert!(err.failure().is_some_and(TufFailure::is_freeze), "{err}");
    assert_eq!(snapshot(f.cache.dir()), before);
}

#[tokio::test]
async fn a_root_rotation_is_followed_and_later_metadata_needs_the_new_keys() {
    let (f, _) = refreshed(TufState::new(1, target(b"one"))).await;
    let rotated = target(b"two");
    f.serve(&TufState::new(2, rotated.clone()).with_root_version(3))
        .await;
    let update = f.refresh().await.expect("the rotation chain 1→2→3");
    assert_eq!(update.versions.root, 3);
    assert_eq!(update.root.fingerprint(), &Digest::of(&rotated));
}

#[tokio::test]
async fn a_broken_root_chain_is_refused() {
    let bad = evil()
        .with_root_version(2)
        .with_fault(TufFault::BrokenRootChain);
    // Recovery serves a valid chain to root 2.
    fails_then_recovers(bad, TufFailure::BadSignature).await;
}

#[tokio::test]
async fn a_target_that_is_not_a_trusted_root_is_refused() {
    let bad = TufState::new(6, b"{\"not\": \"a trusted root\"}".to_vec());
    fails_then_recovers(bad, TufFailure::UnusableTarget).await;
}

#[tokio::test]
async fn a_root_that_does_not_sign_itself_cannot_start_trust() {
    let repo = TufRepository::new(b"tuf-tests");
    let mut root: serde_json::Value =
        serde_json::from_slice(&repo.initial_root()).expect("root JSON");
    root["signed"]["version"] = serde_json::json!(7);
    let tampered = serde_json::to_vec(&root).expect("JSON");
    let err = TufMirror::new("http://127.0.0.1:1", tampered, "root.json").expect_err("tampered");
    assert!(
        matches!(err, TufError::BadAnchor { .. }) && !err.is_unavailable(),
        "{err}"
    );
    let err = TufMirror::new("ftp://mirror", repo.initial_root(), "root.json").expect_err("ftp");
    assert!(matches!(err, TufError::BadMirrorUrl { .. }), "{err}");
}

#[tokio::test]
async fn a_damaged_cached_root_is_reported_not_used() {
    let (f, update) = refreshed(TufState::new(1, target(b"one"))).await;
    let TrustRootSource::Tuf { path, .. } = update.root.source().clone() else {
        panic!("a TUF source");
    };
    // Another valid trusted root in its place: only the recorded fingerprint tells.
    std::fs::write(&path, target(b"swapped")).expect("overwrite");
    let err = f
        .cache
        .load()
        .expect_err("the root no longer matches its record");
    assert!(matches!(err, TufError::CacheCorrupt { .. }), "{err}");
}

#[tokio::test]
async fn a_refresh_repairs_a_damaged_record() {
    let good = target(b"one");
    let (f, _) = refreshed(TufState::new(1, good.clone())).await;
    std::fs::write(f.cache.dir().join("current.json"), b"garbage").expect("overwrite");
    assert!(matches!(f.cache.load(), Err(TufError::CacheCorrupt { .. })));
    f.refresh().await.expect("the refresh repairs it");
    let root = f.cache.load().expect("readable").expect("a root");
    assert_eq!(root.fingerprint(), &Digest::of(&good));
}
