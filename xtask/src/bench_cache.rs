//! `cargo xtask bench cache`: what the verification cache costs and saves.
//!
//! The inner verifier is a real `CosignVerifier` over an in-memory source holding one bundle
//! signed by the testkit's virtual Sigstore, wrapped in a counter. Measured:
//! - a cache hit (median of rounds of 10,000 hits; target ≤ 10 µs), next to an uncached
//!   verification and a miss through the cache;
//! - inner calls for 100 concurrent verifications of one digest (target 1), with the source
//!   answering after 5 ms (a registry round trip) so that every call starts before the first
//!   ends: once for a pass, and once for an outage (`Unavailable` is never stored, so 1 inner
//!   call there is coalescing alone).

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use trustpull_policy::Digest;
use trustpull_testkit::doubles::CountingVerifier;
use trustpull_testkit::sigstore::{default_policy, SignRequest, VirtualSigstore};
use trustpull_verifier::{
    CachingVerifier, CandidateList, CosignVerifier, ImageSubject, ImageVerifier, MonotonicClock,
    SignatureCandidate, SignatureSource, SignatureSourceError, StaticSource, Verification,
    VerificationCache, VerifyError,
};

const HITS_PER_ROUND: u32 = 10_000;
const ROUNDS: usize = 30;
const COLD_RUNS: usize = 30;
const CONCURRENT: usize = 100;
const REGISTRY_DELAY: Duration = Duration::from_millis(5);

/// Runs the section and prints its markdown table.
pub fn run() -> Result<(), String> {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let latency = single.block_on(latency())?;
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let pass = multi.block_on(concurrent(false))?;
    let outage = multi.block_on(concurrent(true))?;

    println!("\n### Verification cache (`cargo xtask bench cache`, {profile} build)\n");
    println!("| what | measured | target |");
    println!("|---|---|---|");
    println!(
        "| cache hit, `CachingVerifier::verify` (median of {ROUNDS} rounds x {HITS_PER_ROUND}; slowest round) | {:.2} µs ({:.2} µs) | ≤ 10 µs |",
        micros(latency.hit_median),
        micros(latency.hit_max)
    );
    println!(
        "| uncached `CosignVerifier::verify`, in-memory source (median of {COLD_RUNS}) | {:.1} µs | |",
        micros(latency.inner_median)
    );
    println!(
        "| cache miss through `CachingVerifier` (median of {COLD_RUNS}, fresh cache each) | {:.1} µs | |",
        micros(latency.miss_median)
    );
    for (what, c) in [("pass", &pass), ("outage (`Unavailable`)", &outage)] {
        println!(
            "| {CONCURRENT} concurrent verifications of one digest, {what}: inner calls (wall time) | {} ({:.1} ms) | 1 |",
            c.inner_calls,
            c.wall.as_secs_f64() * 1000.0
        );
        println!(
            "| the same without the cache: inner calls (wall time) | {} ({:.1} ms) | |",
            c.uncached_calls,
            c.uncached_wall.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Latency {
    hit_median: Duration,
    hit_max: Duration,
    inner_median: Duration,
    miss_median: Duration,
}

struct Concurrent {
    inner_calls: usize,
    wall: Duration,
    uncached_calls: usize,
    uncached_wall: Duration,
}

/// The image, its signature and a verifier requiring the testkit's default policy.
struct Setup {
    subject: ImageSubject,
    cosign: CosignVerifier,
    source: Arc<dyn SignatureSource>,
}

fn setup(source: impl Fn(StaticSource) -> Arc<dyn SignatureSource>) -> Setup {
    let sigstore = VirtualSigstore::new();
    let digest = Digest::of(b"bench cache image manifest");
    let bundle = sigstore.sign(&SignRequest::dsse(digest.clone()));
    let subject = ImageSubject::new(
        "127.0.0.1:5000",
        "bench/cache",
        digest.clone(),
        "application/vnd.oci.image.manifest.v1+json",
    );
    let cosign = CosignVerifier::new(Arc::new(default_policy()), Arc::new(sigstore.trust_root()));
    Setup {
        subject,
        cosign,
        source: source(StaticSource::new().with_bundle(digest, bundle)),
    }
}

fn caching(inner: Arc<dyn ImageVerifier>, cosign: &CosignVerifier) -> CachingVerifier {
    let cache = Arc::new(VerificationCache::new(Arc::new(MonotonicClock)));
    CachingVerifier::new(inner, cache, cosign.cache_scope())
}

fn expect_pass(outcome: &Result<Verification, VerifyError>) -> Result<(), String> {
    match outcome {
        Ok(Verification::Verified(_)) => Ok(()),
        other => Err(format!("bench verification did not pass: {other:?}")),
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn latency() -> Result<Latency, String> {
    let Setup {
        subject,
        cosign,
        source,
    } = setup(|s| Arc::new(s));
    let inner: Arc<dyn ImageVerifier> = Arc::new(cosign.clone());

    let mut inner_times = Vec::with_capacity(COLD_RUNS);
    let mut miss_times = Vec::with_capacity(COLD_RUNS);
    for _ in 0..COLD_RUNS {
        let start = Instant::now();
        let outcome = inner.verify(&subject, source.as_ref()).await;
        inner_times.push(start.elapsed());
        expect_pass(&outcome)?;
        let fresh = caching(inner.clone(), &cosign);
        let start = Instant::now();
        let outcome = fresh.verify(&subject, source.as_ref()).await;
        miss_times.push(start.elapsed());
        expect_pass(&outcome)?;
    }

    let cached = caching(inner, &cosign);
    expect_pass(&cached.verify(&subject, source.as_ref()).await)?;
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..HITS_PER_ROUND {
            black_box(cached.verify(black_box(&subject), source.as_ref()).await)
                .map_err(|e| e.to_string())?;
        }
        rounds.push(start.elapsed() / HITS_PER_ROUND);
    }
    let hit_max = rounds.iter().copied().max().unwrap_or_default();
    Ok(Latency {
        hit_median: median(rounds),
        hit_max,
        inner_median: median(inner_times),
        miss_median: median(miss_times),
    })
}

async fn concurrent(outage: bool) -> Result<Concurrent, String> {
    let Setup {
        subject,
        cosign,
        source,
    } = setup(|s| {
        Arc::new(SlowSource {
            inner: s,
            fail: outage,
        })
    });
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::new(CountingVerifier::new(
        Arc::new(cosign.clone()),
        Arc::clone(&calls),
    ));
    let cached: Arc<dyn ImageVerifier> = Arc::new(caching(counted.clone(), &cosign));
    let (answers, wall) = all_at_once(&cached, &subject, &source).await?;
    check_answers(&answers, outage)?;
    let inner_calls = calls.swap(0, Ordering::SeqCst);
    let direct: Arc<dyn ImageVerifier> = counted.clone();
    let (answers, uncached_wall) = all_at_once(&direct, &subject, &source).await?;
    check_answers(&answers, outage)?;
    Ok(Concurrent {
        inner_calls,
        wall,
        uncached_calls: calls.load(Ordering::SeqCst),
        uncached_wall,
    })
}

type Answers = Vec<Result<Verification, VerifyError>>;

/// Runs `CONCURRENT` verifications of `subject` as separate tasks and waits for them all.
async fn all_at_once(
    verifier: &Arc<dyn ImageVerifier>,
    subject: &ImageSubject,
    source: &Arc<dyn SignatureSource>,
) -> Result<(Answers, Duration), String> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENT {
        let (v, s, src) = (verifier.clone(), subject.clone(), source.clone());
        tasks.spawn(async move { v.verify(&s, src.as_ref()).await });
    }
    let mut answers = Vec::with_capacity(CONCURRENT);
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.map_err(|e| format!("bench task failed: {e}"))?);
    }
    Ok((answers, start.elapsed()))
}

fn check_answers(answers: &Answers, outage: bool) -> Result<(), String> {
    for a in answers {
        match (outage, a) {
            (false, Ok(Verification::Verified(_)))
            | (true, Err(VerifyError::Unavailable { .. })) => {}
            (_, other) => return Err(format!("unexpected bench answer: {other:?}")),
        }
    }
    Ok(())
}

/// Lists candidates after `REGISTRY_DELAY`, or fails to (an outage).
#[derive(Debug)]
struct SlowSource {
    inner: StaticSource,
    fail: bool,
}

#[async_trait]
impl SignatureSource for SlowSource {
    async fn candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<CandidateList, SignatureSourceError> {
        tokio::time::sleep(REGISTRY_DELAY).await;
        if self.fail {
            return Err(SignatureSourceError::Unavailable {
                location: "bench registry".into(),
                reason: "HTTP 503: service unavailable".into(),
                status: Some(503),
            });
        }
        self.inner.candidates(subject, digest).await
    }

    async fn bundle(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        self.inner.bundle(subject, candidate).await
    }

    async fn legacy_candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
        referrers: &[SignatureCandidate],
        kind: trustpull_verifier::LegacyKind,
    ) -> Result<CandidateList, SignatureSourceError> {
        self.inner
            .legacy_candidates(subject, digest, referrers, kind)
            .await
    }

    async fn legacy_signature(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<trustpull_verifier::LegacySignature, SignatureSourceError> {
        self.inner.legacy_signature(subject, candidate).await
    }
}
