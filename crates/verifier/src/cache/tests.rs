//! Tests of the verification cache: a counting, scripted inner verifier, a fake clock and a
//! gate the test opens (no sleeps, no wall clock).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::join_all;
use tokio::sync::Semaphore;
use trustpull_policy::Digest;

use super::*;
use crate::{Receipt, Rejection, SignatureSourceError, SignedTarget};

/// An inner verifier that counts its calls, answers what the test set, and optionally waits
/// for a permit of `gate` before answering.
#[derive(Debug)]
struct Scripted {
    calls: AtomicUsize,
    answer: Mutex<Outcome>,
    gate: Option<Arc<Semaphore>>,
}

impl Scripted {
    fn answering(answer: Outcome) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            answer: Mutex::new(answer),
            gate: None,
        })
    }

    fn gated(answer: Outcome, gate: Arc<Semaphore>) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            answer: Mutex::new(answer),
            gate: Some(gate),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn answer_from_now_on(&self, answer: Outcome) {
        *self.answer.lock().unwrap() = answer;
    }
}

#[async_trait]
impl ImageVerifier for Scripted {
    async fn verify(&self, _subject: &ImageSubject, _signatures: &dyn SignatureSource) -> Outcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            let _permit = gate
                .acquire()
                .await
                .expect("the test never closes the gate");
        }
        self.answer.lock().unwrap().clone()
    }
}

/// A clock that moves only when the test says so.
#[derive(Debug)]
struct FakeClock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl FakeClock {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        })
    }

    fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().unwrap()
    }
}

/// The signature source the cache passes through to the scripted verifier (which ignores it).
static NO_SIGNATURES: crate::StaticSource = crate::StaticSource::new();

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn subject(name: &[u8]) -> ImageSubject {
    ImageSubject::new("127.0.0.1:5000", "acme/b", Digest::of(name), MANIFEST)
}

fn scope() -> CacheScope {
    CacheScope::new(Digest::of(b"policy"), Digest::of(b"trust root"))
}

fn receipt(subject: &ImageSubject, scope: &CacheScope) -> Receipt {
    Receipt {
        image: subject.name(),
        digest: subject.digest().clone(),
        signed_digest: subject.digest().clone(),
        signed_target: SignedTarget::Manifest,
        identity: "https://github.com/acme/b/.github/workflows/release.yml@refs/tags/v1".into(),
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        extensions: BTreeMap::new(),
        verified_timestamps: Vec::new(),
        predicate_type: None,
        rekor_log_index: Some(7),
        referrer: Some(Digest::of(b"referrer")),
        format: trustpull_policy::SignatureFormat::Bundle,
        attestations: Vec::new(),
        trust_root_fingerprint: scope.trust_root_fingerprint().clone(),
        policy_fingerprint: scope.policy_fingerprint().clone(),
    }
}

fn verified(subject: &ImageSubject) -> Outcome {
    Ok(Verification::Verified(receipt(subject, &scope())))
}

fn rejected(subject: &ImageSubject) -> Outcome {
    Err(VerifyError::Rejected(Rejection {
        image: subject.name(),
        digest: subject.digest().clone(),
        candidates: Vec::new(),
    }))
}

fn unavailable(subject: &ImageSubject) -> Outcome {
    Err(VerifyError::Unavailable {
        image: subject.name(),
        digest: subject.digest().clone(),
        source: SignatureSourceError::Unavailable {
            location: "http://127.0.0.1:5000/v2/acme/b/referrers".into(),
            reason: "HTTP 503: service unavailable".into(),
            status: Some(503),
        },
    })
}

fn caching(
    inner: &Arc<Scripted>,
    cache: &Arc<VerificationCache>,
    scope: CacheScope,
) -> CachingVerifier {
    CachingVerifier::new(inner.clone(), cache.clone(), scope)
}

fn cache_with(clock: &Arc<FakeClock>) -> VerificationCache {
    VerificationCache::new(clock.clone())
}

/// How many calls are waiting for a verification in progress.
fn waiters(cache: &VerificationCache) -> usize {
    cache
        .lock()
        .flights
        .values()
        .map(|f| f.tx.receiver_count())
        .sum()
}

fn is_verified_with(outcome: &Outcome, expected: &Receipt) -> bool {
    matches!(outcome, Ok(Verification::Verified(r)) if r == expected)
}

#[tokio::test]
async fn a_hit_returns_the_same_receipt_without_calling_the_inner_verifier() {
    let s = subject(b"m");
    let inner = Scripted::answering(verified(&s));
    let cache = Arc::new(cache_with(&FakeClock::new()));
    let v = caching(&inner, &cache, scope());
    let first = v.verify(&s, &NO_SIGNATURES).await;
    let second = v.verify(&s, &NO_SIGNATURES).await;
    assert!(is_verified_with(&first, &receipt(&s, &scope())));
    assert_eq!(first, second);
    assert_eq!(inner.calls(), 1);
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn verified_answers_expire_after_their_ttl() {
    let s = subject(b"m");
    let inner = Scripted::answering(verified(&s));
    let clock = FakeClock::new();
    let cache = Arc::new(cache_with(&clock));
    let v = caching(&inner, &cache, scope());
    v.verify(&s, &NO_SIGNATURES).await.unwrap();
    clock.advance(DEFAULT_VERIFIED_TTL - Duration::from_secs(1));
    v.verify(&s, &NO_SIGNATURES).await.unwrap();
    assert_eq!(inner.calls(), 1, "still fresh one second before the TTL");
    clock.advance(Duration::from_secs(1));
    v.verify(&s, &NO_SIGNATURES).await.unwrap();
    assert_eq!(inner.calls(), 2, "expired at the TTL");
    v.verify(&s, &NO_SIGNATURES).await.unwrap();
    assert_eq!(inner.calls(), 2, "the new answer is kept again");
}

#[tokio::test]
async fn a_configured_verified_ttl_is_used_and_zero_keeps_nothing() {
    let s = subject(b"m");
    for (ttl, calls_after_one_minute) in [(Duration::from_secs(60), 2), (Duration::ZERO, 3)] {
        let inner = Scripted::answering(verified(&s));
        let clock = FakeClock::new();
        let cache = Arc::new(cache_with(&clock).with_verified_ttl(ttl));
        let v = caching(&inner, &cache, scope());
        v.verify(&s, &NO_SIGNATURES).await.unwrap();
        v.verify(&s, &NO_SIGNATURES).await.unwrap();
        clock.advance(Duration::from_secs(60));
        v.verify(&s, &NO_SIGNATURES).await.unwrap();
        assert_eq!(inner.calls(), calls_after_one_minute, "ttl {ttl:?}");
    }
}

#[tokio::test]
async fn unavailable_is_never_cached() {
    let s = subject(b"m");
    let inner = Scripted::answering(unavailable(&s));
    let cache = Arc::new(cache_with(&FakeClock::new()).with_rejected_ttl(Some(Duration::MAX)));
    let v = caching(&inner, &cache, scope());
    for _ in 0..2 {
        let err = v.verify(&s, &NO_SIGNATURES).await.unwrap_err();
        assert!(matches!(err, VerifyError::Unavailable { .. }), "{err:?}");
    }
    assert_eq!(inner.calls(), 2);
    assert!(cache.is_empty());
    // The registry comes back: the pass is kept from then on.
    inner.answer_from_now_on(verified(&s));
    v.verify(&s, &NO_SIGNATURES).await.unwrap();
    v.verify(&s, &NO_SIGNATURES).await.unwrap();
    assert_eq!(inner.calls(), 3);
}

#[tokio::test]
async fn rejections_are_not_cached_by_default() {
    let s = subject(b"m");
    let inner = Scripted::answering(rejected(&s));
    let cache = Arc::new(cache_with(&FakeClock::new()));
    let v = caching(&inner, &cache, scope());
    for _ in 0..2 {
        let err = v.verify(&s, &NO_SIGNATURES).await.unwrap_err();
        assert!(matches!(&err, VerifyError::Rejected(r) if r.digest == *s.digest()));
    }
    assert_eq!(inner.calls(), 2);
    // Signed a moment later: the next call sees it.
    inner.answer_from_now_on(verified(&s));
    assert!(is_verified_with(
        &v.verify(&s, &NO_SIGNATURES).await,
        &receipt(&s, &scope())
    ));
}

#[tokio::test]
async fn rejections_are_cached_for_the_configured_ttl() {
    let s = subject(b"m");
    let inner = Scripted::answering(rejected(&s));
    let clock = FakeClock::new();
    let cache = Arc::new(cache_with(&clock).with_rejected_ttl(Some(Duration::from_secs(30))));
    let v = caching(&inner, &cache, scope());
    let first = v.verify(&s, &NO_SIGNATURES).await.unwrap_err();
    inner.answer_from_now_on(verified(&s));
    clock.advance(Duration::from_secs(29));
    let second = v.verify(&s, &NO_SIGNATURES).await.unwrap_err();
    assert!(matches!(&second, VerifyError::Rejected(_)));
    assert_eq!(first, second);
    assert_eq!(inner.calls(), 1);
    clock.advance(Duration::from_secs(1));
    assert!(is_verified_with(
        &v.verify(&s, &NO_SIGNATURES).await,
        &receipt(&s, &scope())
    ));
    assert_eq!(inner.calls(), 2);
}

#[tokio::test]
async fn unverified_and_refused_are_not_cached() {
    let s = subject(b"m");
    let answers = [
        Ok(Verification::Unverified {
            reason: "no policy".into(),
        }),
        Err(VerifyError::Refused {
            image: s.name(),
            digest: s.digest().clone(),
            reason: "add verification:".into(),
        }),
    ];
    for answer in answers {
        let inner = Scripted::answering(answer.clone());
        let cache = Arc::new(cache_with(&FakeClock::new()).with_rejected_ttl(Some(Duration::MAX)));
        let v = caching(&inner, &cache, scope());
        assert_eq!(v.verify(&s, &NO_SIGNATURES).await, answer);
        assert_eq!(v.verify(&s, &NO_SIGNATURES).await, answer);
        assert_eq!(inner.calls(), 2, "{answer:?}");
        assert!(cache.is_empty());
    }
}

#[tokio::test]
async fn another_policy_trust_root_or_subject_is_a_miss() {
    let s = subject(b"m");
    let other_policy = CacheScope::new(Digest::of(b"policy v2"), Digest::of(b"trust root"));
    let other_root = CacheScope::new(Digest::of(b"policy"), Digest::of(b"trust root v2"));
    let cache = Arc::new(cache_with(&FakeClock::new()));
    // Each scope gets a verifier whose receipts carry that scope's fingerprints.
    for sc in [scope(), other_policy, other_root] {
        let inner = Scripted::answering(Ok(Verification::Verified(receipt(&s, &sc))));
        let v = caching(&inner, &cache, sc.clone());
        v.verify(&s, &NO_SIGNATURES).await.unwrap();
        v.verify(&s, &NO_SIGNATURES).await.unwrap();
        assert_eq!(inner.calls(), 1, "{sc:?}: first call misses, second hits");
    }
    assert_eq!(cache.len(), 3);
    // The same digest in another repository, or selected from an index: a miss as well.
    let elsewhere = ImageSubject::new("127.0.0.1:5000", "other/b", s.digest().clone(), MANIFEST);
    let from_index = s
        .clone()
        .with_index(Digest::of(b"index"), b"index".to_vec());
    for other in [elsewhere, from_index] {
        let inner = Scripted::answering(verified(&other));
        let v = caching(&inner, &cache, scope());
        v.verify(&other, &NO_SIGNATURES).await.unwrap();
        assert_eq!(inner.calls(), 1, "{other}");
    }
    assert_eq!(cache.len(), 5);
}

#[tokio::test]
async fn a_receipt_that_does_not_match_the_scope_is_returned_but_not_kept() {
    let s = subject(b"m");
    let wrong = CacheScope::new(Digest::of(b"policy v2"), Digest::of(b"trust root"));
    let mismatched = [
        Ok(Verification::Verified(receipt(&s, &wrong))),
        Ok(Verification::Verified(receipt(
            &subject(b"other"),
            &scope(),
        ))),
    ];
    for answer in mismatched {
        let inner = Scripted::answering(answer.clone());
        let cache = Arc::new(cache_with(&FakeClock::new()));
        let v = caching(&inner, &cache, scope());
        assert_eq!(v.verify(&s, &NO_SIGNATURES).await, answer);
        assert_eq!(v.verify(&s, &NO_SIGNATURES).await, answer);
        assert_eq!(inner.calls(), 2);
        assert!(cache.is_empty());
    }
}

#[tokio::test]
async fn two_caches_never_share_entries() {
    let s = subject(b"m");
    let inner = Scripted::answering(verified(&s));
    let clock = FakeClock::new();
    let a = Arc::new(cache_with(&clock));
    let b = Arc::new(cache_with(&clock));
    caching(&inner, &a, scope())
        .verify(&s, &NO_SIGNATURES)
        .await
        .unwrap();
    caching(&inner, &b, scope())
        .verify(&s, &NO_SIGNATURES)
        .await
        .unwrap();
    assert_eq!(inner.calls(), 2);
    // Two verifiers sharing one cache do share.
    caching(&inner, &a, scope())
        .verify(&s, &NO_SIGNATURES)
        .await
        .unwrap();
    assert_eq!(inner.calls(), 2);
    a.clear();
    assert!(a.is_empty());
    assert_eq!(b.len(), 1);
}

#[tokio::test]
async fn the_size_bound_evicts_the_answer_that_expires_soonest() {
    let clock = FakeClock::new();
    let cache = Arc::new(cache_with(&clock).with_max_entries(2));
    let subjects = [subject(b"1"), subject(b"2"), subject(b"3")];
    let inners: Vec<_> = subjects
        .iter()
        .map(|s| Scripted::answering(verified(s)))
        .collect();
    for (s, inner) in subjects.iter().zip(&inners) {
        caching(inner, &cache, scope())
            .verify(s, &NO_SIGNATURES)
            .await
            .unwrap();
        clock.advance(Duration::from_secs(1));
        assert!(cache.len() <= 2);
    }
    // "1" was stored first, so it expired soonest and was dropped for "3".
    for (s, inner) in subjects.iter().zip(&inners).rev() {
        caching(inner, &cache, scope())
            .verify(s, &NO_SIGNATURES)
            .await
            .unwrap();
    }
    let calls: Vec<usize> = inners.iter().map(|i| i.calls()).collect();
    assert_eq!(calls[1..], [1, 1]);
    assert_eq!(calls[0], 2);
    assert_eq!(cache.len(), 2);
    // A full cache whose answers expired drops them all first.
    clock.advance(DEFAULT_VERIFIED_TTL);
    let fourth = subject(b"4");
    let inner = Scripted::answering(verified(&fourth));
    caching(&inner, &cache, scope())
        .verify(&fourth, &NO_SIGNATURES)
        .await
        .unwrap();
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn a_hundred_concurrent_calls_run_the_inner_verifier_once() {
    let s = subject(b"m");
    // Verified is then kept; Unavailable is shared with the waiting calls but not kept.
    for (answer, kept) in [(verified(&s), 1), (unavailable(&s), 0)] {
        let gate = Arc::new(Semaphore::new(0));
        let inner = Scripted::gated(answer.clone(), gate.clone());
        let cache = Arc::new(cache_with(&FakeClock::new()));
        let v = caching(&inner, &cache, scope());
        let calls = (0..100).map(|_| v.verify(&s, &NO_SIGNATURES));
        let release = async {
            while waiters(&cache) < 99 {
                tokio::task::yield_now().await;
            }
            assert_eq!(inner.calls(), 1, "one leader is in the inner verifier");
            gate.add_permits(1);
        };
        let (outcomes, ()) = tokio::join!(join_all(calls), release);
        assert_eq!(outcomes.len(), 100);
        assert!(outcomes.iter().all(|o| *o == answer), "{answer:?}");
        assert_eq!(inner.calls(), 1, "{answer:?}");
        assert_eq!(cache.len(), kept);
        assert!(cache.lock().flights.is_empty());
    }
}

#[tokio::test]
async fn a_cancelled_leader_hands_over_to_one_waiter() {
    let s = subject(b"m");
    for answer in [verified(&s), unavailable(&s)] {
        let gate = Arc::new(Semaphore::new(0));
        let inner = Scripted::gated(answer.clone(), gate.clone());
        let cache = Arc::new(cache_with(&FakeClock::new()));
        let v = caching(&inner, &cache, scope());

        let mut leader = v.verify(&s, &NO_SIGNATURES);
        assert!(futures::poll!(leader.as_mut()).is_pending());
        assert_eq!(inner.calls(), 1);
        let mut waiting: Vec<_> = (0..3).map(|_| v.verify(&s, &NO_SIGNATURES)).collect();
        for w in &mut waiting {
            assert!(futures::poll!(w.as_mut()).is_pending());
        }
        assert_eq!(waiters(&cache), 3);

        drop(leader);
        gate.add_permits(1);
        let outcomes = join_all(waiting).await;
        assert!(outcomes.iter().all(|o| *o == answer), "{answer:?}");
        assert_eq!(inner.calls(), 2, "exactly one more inner call: {answer:?}");
        assert!(cache.lock().flights.is_empty());
    }
}

#[tokio::test]
async fn a_cancelled_leader_without_waiters_leaves_nothing_behind() {
    let s = subject(b"m");
    let gate = Arc::new(Semaphore::new(0));
    let inner = Scripted::gated(verified(&s), gate.clone());
    let cache = Arc::new(cache_with(&FakeClock::new()));
    let v = caching(&inner, &cache, scope());
    let mut leader = v.verify(&s, &NO_SIGNATURES);
    assert!(futures::poll!(leader.as_mut()).is_pending());
    drop(leader);
    assert!(cache.lock().flights.is_empty());
    assert!(cache.is_empty());
    gate.add_permits(1);
    assert!(is_verified_with(
        &v.verify(&s, &NO_SIGNATURES).await,
        &receipt(&s, &scope())
    ));
    assert_eq!(inner.calls(), 2);
}
