//! The verification cache: [`CachingVerifier`] wraps any [`ImageVerifier`] and
//! remembers its answers in a [`VerificationCache`] the caller owns and shares by `Arc`.
//!
//! - Key: the whole [`ImageSubject`] (registry, repository, manifest digest, media type and the
//!   index digest when there is one) plus the policy and trust-root fingerprints of a
//!   [`CacheScope`]. The design's key is (digest, policy, trust root); the subject's name is in
//!   the key too because a receipt names the image and signatures are looked up per repository,
//!   so an answer for `a/x@d` is not reused for `b/y@d`.
//! - What is kept: `Verified` for [`VerificationCache::with_verified_ttl`] (default 1 hour), and
//!   only when the receipt's digest and fingerprints match the key; a definitive
//!   [`VerifyError::Rejected`] only when [`VerificationCache::with_rejected_ttl`] was set
//!   (default: not kept). `Unavailable` is never kept; `Unverified` and `Refused` are not kept
//!   either (they are cheap and policy-less).
//! - Time comes from a [`Clock`] the caller passes ([`MonotonicClock`] in production).
//! - Size: at most [`VerificationCache::with_max_entries`] answers (default 1024). Inserting
//!   into a full cache first drops expired answers, then the one that expires soonest. Expired
//!   answers are also dropped when looked up.
//! - Single flight: concurrent calls for one key run the inner verifier once; the others wait
//!   for its answer, whatever it is (an `Unavailable` is shared with the calls that were
//!   already waiting, but not kept for later ones). If the leading call is cancelled (its future
//!   dropped) or its verifier panics, one waiter takes over and runs the verifier once more;
//!   the others keep waiting for that answer. A call that finds a flight whose leader was
//!   cancelled and that nobody took over takes it over itself.
//!   Nothing is spawned; a `std` lock guards only the map operations, never an `.await`.
//!
//! ```
//! use std::sync::Arc;
//! use trustpull_verifier::{CacheScope, CachingVerifier, ImageVerifier, MonotonicClock, StrictVerifier, VerificationCache};
//! use trustpull_policy::Digest;
//! let cache = Arc::new(VerificationCache::new(Arc::new(MonotonicClock)));
//! let inner: Arc<dyn ImageVerifier> = Arc::new(StrictVerifier::new("no policy"));
//! // With the `cosign` feature, `CosignVerifier::cache_scope()` gives the scope of a verifier.
//! let scope = CacheScope::new(Digest::of(b"policy"), Digest::of(b"trust root"));
//! let verifier: Arc<dyn ImageVerifier> = Arc::new(CachingVerifier::new(inner, cache.clone(), scope));
//! assert!(cache.is_empty());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::watch;
use trustpull_policy::Digest;

use crate::{ImageSubject, ImageVerifier, SignatureSource, Verification, VerifyError};

/// How long a `Verified` answer is kept by default.
pub const DEFAULT_VERIFIED_TTL: Duration = Duration::from_secs(60 * 60);
/// How many answers a cache keeps at most by default.
pub const DEFAULT_MAX_ENTRIES: usize = 1024;

/// Where a cache reads the time from. Only differences between instants matter.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The process's monotonic clock ([`Instant::now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// What the inner verifier's answers depend on besides the subject: the fingerprints of its
/// policy and trust root. The cache cannot look inside a verifier, so the caller states them;
/// with the `cosign` feature `CosignVerifier::cache_scope` gives the right one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheScope {
    policy: Digest,
    trust_root: Digest,
}

impl CacheScope {
    /// The scope of a verifier requiring the policy with `policy_fingerprint` and trusting the
    /// root with `trust_root_fingerprint`.
    pub fn new(policy_fingerprint: Digest, trust_root_fingerprint: Digest) -> Self {
        Self {
            policy: policy_fingerprint,
            trust_root: trust_root_fingerprint,
        }
    }

    /// The policy fingerprint.
    pub fn policy_fingerprint(&self) -> &Digest {
        &self.policy
    }

    /// The trust-root fingerprint.
    pub fn trust_root_fingerprint(&self) -> &Digest {
        &self.trust_root
    }
}

type Outcome = Result<Verification, VerifyError>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    subject: ImageSubject,
    scope: CacheScope,
}

#[derive(Debug)]
struct Entry {
    outcome: Arc<Outcome>,
    /// `None`: the TTL is too large to represent as an instant, so it never expires.
    expires: Option<Instant>,
}

impl Entry {
    fn fresh(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| now < at)
    }
}

/// A verification in progress. Its waiters hold receivers of `tx`; `leader` is the token of
/// the call running the inner verifier, `None` after that call was cancelled and before a
/// waiter took over.
#[derive(Debug)]
struct Flight {
    id: u64,
    leader: Option<u64>,
    tx: watch::Sender<Signal>,
}

/// What a flight's waiters are told.
#[derive(Debug, Clone)]
enum Signal {
    Running,
    /// The leader was cancelled (or panicked) without an answer: one waiter must take over.
    Orphaned,
    Done(Arc<Outcome>),
}

/// The result of one locked look-up.
enum Step {
    Stored(Arc<Outcome>),
    Wait {
        flight: u64,
        rx: watch::Receiver<Signal>,
    },
    Lead {
        flight: u64,
        leader: u64,
    },
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Key, Entry>,
    flights: HashMap<Key, Flight>,
    next_token: u64,
}

impl State {
    fn token(&mut self) -> u64 {
        self.next_token = self.next_token.wrapping_add(1);
        self.next_token
    }

    /// Makes the caller the leader of `key`'s flight `flight` if it has none.
    fn claim(&mut self, key: &Key, flight: u64) -> Option<u64> {
        let token = self.token();
        let f = self.flights.get_mut(key).filter(|f| f.id == flight)?;
        if f.leader.is_some() {
            return None;
        }
        f.leader = Some(token);
        f.tx.send_replace(Signal::Running);
        Some(token)
    }
}

/// Remembered verification answers, shared by `Arc` between the [`CachingVerifier`]s that
/// should see each other's results. Two caches never share anything; there is no global one.
pub struct VerificationCache {
    clock: Arc<dyn Clock>,
    verified_ttl: Duration,
    rejected_ttl: Option<Duration>,
    max_entries: usize,
    state: Mutex<State>,
}

impl fmt::Debug for VerificationCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationCache")
            .field("clock", &self.clock)
            .field("verified_ttl", &self.verified_ttl)
            .field("rejected_ttl", &self.rejected_ttl)
            .field("max_entries", &self.max_entries)
            .field("len", &self.len())
            .finish()
    }
}

impl VerificationCache {
    /// An empty cache reading time from `clock`: `Verified` kept for 1 hour, rejections not
    /// kept, at most 1024 answers.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            verified_ttl: DEFAULT_VERIFIED_TTL,
            rejected_ttl: None,
            max_entries: DEFAULT_MAX_ENTRIES,
            state: Mutex::new(State::default()),
        }
    }

    /// Keeps `Verified` answers for `ttl` (zero: not kept).
    #[must_use]
    pub fn with_verified_ttl(mut self, ttl: Duration) -> Self {
        self.verified_ttl = ttl;
        self
    }

    /// Keeps definitive rejections for `ttl` (`None`, the default: not kept). Keep it short: a
    /// rejected image may be signed a minute later.
    #[must_use]
    pub fn with_rejected_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.rejected_ttl = ttl;
        self
    }

    /// Keeps at most `max` answers (at least 1).
    #[must_use]
    pub fn with_max_entries(mut self, max: usize) -> Self {
        self.max_entries = max.max(1);
        self
    }

    /// How many answers are stored (expired ones included until they are dropped).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when no answer is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every stored answer (verifications in progress are not affected).
    pub fn clear(&self) {
        self.lock().entries.clear();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; if something did, the maps are still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for `key`: stored, awaited from a verification in progress, or computed by
    /// `inner` (this call then leads the flight for `key`).
    async fn verify_through(
        &self,
        inner: &dyn ImageVerifier,
        signatures: &dyn SignatureSource,
        key: Key,
    ) -> Outcome {
        'look_up: loop {
            let (flight, mut rx) = match self.look_up(&key) {
                Step::Stored(outcome) => return Outcome::clone(&outcome),
                Step::Lead { flight, leader } => {
                    return self.lead(inner, signatures, &key, flight, leader).await
                }
                Step::Wait { flight, rx } => (flight, rx),
            };
            loop {
                if rx.changed().await.is_err() {
                    // The flight is gone without telling us (it cannot be, but look again).
                    continue 'look_up;
                }
                let signal = rx.borrow_and_update().clone();
                match signal {
                    Signal::Done(outcome) => return Outcome::clone(&outcome),
                    Signal::Running => {}
                    Signal::Orphaned => {
                        let claimed = self.lock().claim(&key, flight);
                        if let Some(leader) = claimed {
                            return self.lead(inner, signatures, &key, flight, leader).await;
                        }
                        // Another waiter took over: keep waiting for its answer.
                    }
                }
            }
        }
    }

    /// One locked step: a fresh stored answer, a flight to wait for, or a flight to lead.
    fn look_up(&self, key: &Key) -> Step {
        let mut state = self.lock();
        let now = self.clock.now();
        match state.entries.get(key) {
            Some(entry) if entry.fresh(now) => return Step::Stored(Arc::clone(&entry.outcome)),
            Some(_) => {
                state.entries.remove(key);
            }
            None => {}
        }
        if let Some((flight, orphaned)) = state.flights.get(key).map(|f| (f.id, f.leader.is_none()))
        {
            if orphaned {
                // Its leader was cancelled and no waiter took over yet: take it over.
                if let Some(leader) = state.claim(key, flight) {
                    return Step::Lead { flight, leader };
                }
            }
            if let Some(f) = state.flights.get(key) {
                // A new receiver has seen the current value: it wakes at the next signal.
                return Step::Wait {
                    flight,
                    rx: f.tx.subscribe(),
                };
            }
        }
        // Flights orphaned after every waiter left too: nobody will take them over.
        state
            .flights
            .retain(|_, f| f.leader.is_some() || f.tx.receiver_count() > 0);
        let (flight, leader) = (state.token(), state.token());
        let (tx, _) = watch::channel(Signal::Running);
        state.flights.insert(
            key.clone(),
            Flight {
                id: flight,
                leader: Some(leader),
                tx,
            },
        );
        Step::Lead { flight, leader }
    }

    async fn lead(
        &self,
        inner: &dyn ImageVerifier,
        signatures: &dyn SignatureSource,
        key: &Key,
        flight: u64,
        leader: u64,
    ) -> Outcome {
        let mut guard = FlightGuard {
            cache: self,
            key,
            flight,
            leader,
            landed: false,
        };
        let outcome = inner.verify(&key.subject, signatures).await;
        guard.land(&outcome);
        outcome
    }

    /// How long `outcome` may be kept under `key`, if at all.
    fn ttl(&self, key: &Key, outcome: &Outcome) -> Option<Duration> {
        match outcome {
            Ok(Verification::Verified(receipt))
                if receipt.digest() == key.subject.digest()
                    && receipt.policy_fingerprint() == &key.scope.policy
                    && receipt.trust_root_fingerprint() == &key.scope.trust_root =>
            {
                Some(self.verified_ttl).filter(|ttl| !ttl.is_zero())
            }
            Err(VerifyError::Rejected(_)) => self.rejected_ttl.filter(|ttl| !ttl.is_zero()),
            _ => None,
        }
    }

    fn store(&self, state: &mut State, key: &Key, outcome: Arc<Outcome>, ttl: Duration) {
        let now = self.clock.now();
        if !state.entries.contains_key(key) && state.entries.len() >= self.max_entries {
            state.entries.retain(|_, e| e.fresh(now));
            if state.entries.len() >= self.max_entries {
                let soonest = state
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires.map_or((1, now), |at| (0, at)))
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    state.entries.remove(&k);
                }
            }
        }
        state.entries.insert(
            key.clone(),
            Entry {
                outcome,
                expires: now.checked_add(ttl),
            },
        );
    }
}

/// The leader's hold on its flight. Dropped without landing (the leader's future was dropped,
/// or the inner verifier panicked), it marks the flight orphaned so that one waiter takes over.
struct FlightGuard<'a> {
    cache: &'a VerificationCache,
    key: &'a Key,
    flight: u64,
    leader: u64,
    landed: bool,
}

impl FlightGuard<'_> {
    /// Stores `outcome` if it may be kept, ends the flight and hands `outcome` to its waiters.
    fn land(&mut self, outcome: &Outcome) {
        let ttl = self.cache.ttl(self.key, outcome);
        let shared = Arc::new(outcome.clone());
        let mut state = self.cache.lock();
        if let Some(ttl) = ttl {
            self.cache
                .store(&mut state, self.key, Arc::clone(&shared), ttl);
        }
        if self.leads(&state) {
            if let Some(f) = state.flights.remove(self.key) {
                f.tx.send_replace(Signal::Done(shared));
            }
        }
        self.landed = true;
    }

    fn leads(&self, state: &State) -> bool {
        state
            .flights
            .get(self.key)
            .is_some_and(|f| f.id == self.flight && f.leader == Some(self.leader))
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if self.landed {
            return;
        }
        let mut state = self.cache.lock();
        if !self.leads(&state) {
            return;
        }
        let waited_for = state
            .flights
            .get(self.key)
            .is_some_and(|f| f.tx.receiver_count() > 0);
        if !waited_for {
            state.flights.remove(self.key);
        } else if let Some(f) = state.flights.get_mut(self.key) {
            f.leader = None;
            f.tx.send_replace(Signal::Orphaned);
        }
    }
}

/// An [`ImageVerifier`] that answers from a [`VerificationCache`] and asks its inner verifier
/// only on a miss (see the module docs for what is kept and for how long).
#[derive(Debug, Clone)]
pub struct CachingVerifier {
    inner: Arc<dyn ImageVerifier>,
    cache: Arc<VerificationCache>,
    scope: CacheScope,
}

impl CachingVerifier {
    /// Caches the answers of `inner` in `cache`. `scope` must be the fingerprints of the
    /// policy and trust root `inner` uses: answers are filed under it.
    pub fn new(
        inner: Arc<dyn ImageVerifier>,
        cache: Arc<VerificationCache>,
        scope: CacheScope,
    ) -> Self {
        Self {
            inner,
            cache,
            scope,
        }
    }

    /// The scope answers are filed under.
    pub fn scope(&self) -> &CacheScope {
        &self.scope
    }
}

#[async_trait]
impl ImageVerifier for CachingVerifier {
    async fn verify(
        &self,
        subject: &ImageSubject,
        signatures: &dyn SignatureSource,
    ) -> Result<Verification, VerifyError> {
        let key = Key {
            subject: subject.clone(),
            scope: self.scope.clone(),
        };
        self.cache
            .verify_through(self.inner.as_ref(), signatures, key)
            .await
    }
}

#[cfg(test)]
mod tests;
