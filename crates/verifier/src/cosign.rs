//! [`CosignVerifier`]: the [`ImageVerifier`] that requires a Sigstore bundle signature
//! satisfying a [`TrustPolicy`] (DESIGN.md §6).
//!
//! For the digests the policy accepts (`signed:` platform, index or either), it asks its
//! [`SignatureSource`] for every candidate, fetches and verifies them with bounded concurrency,
//! and passes as soon as one passes. If none passes it returns [`VerifyError::Rejected`] listing
//! every candidate and why. A source that is unavailable makes the result
//! [`VerifyError::Unavailable`], never "no signatures".

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use trustpull_policy::{Digest, SignedBy, TrustPolicy};

use crate::{
    verify_bundle, CacheScope, CandidateReason, CandidateRejection, ImageSubject, ImageVerifier,
    Receipt, Rejection, SignatureCandidate, SignatureSource, SignatureSourceError, SignedTarget,
    TrustRoot, Verification, VerifiedBundle, VerifyError,
};

/// How many candidates are verified at most, by default (DESIGN.md §5).
pub const DEFAULT_MAX_CANDIDATES: usize = 32;
/// How many candidates are fetched and verified at once, by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Verifies images with cosign / Sigstore bundles from a [`SignatureSource`].
///
/// Cheap to share: hold it in an `Arc<dyn ImageVerifier>`. The policy and trust root are values
/// the caller created, so two verifiers with different policies never affect each other.
#[derive(Debug, Clone)]
pub struct CosignVerifier {
    source: Arc<dyn SignatureSource>,
    policy: Arc<TrustPolicy>,
    root: Arc<TrustRoot>,
    max_candidates: usize,
    concurrency: usize,
}

impl CosignVerifier {
    /// A verifier reading candidates from `source`, requiring `policy`, trusting `root`.
    pub fn new(
        source: Arc<dyn SignatureSource>,
        policy: Arc<TrustPolicy>,
        root: Arc<TrustRoot>,
    ) -> Self {
        Self {
            source,
            policy,
            root,
            max_candidates: DEFAULT_MAX_CANDIDATES,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Verifies at most `max` candidates (at least 1); the rest are listed as not tried.
    #[must_use]
    pub fn with_max_candidates(mut self, max: usize) -> Self {
        self.max_candidates = max.max(1);
        self
    }

    /// Fetches and verifies up to `n` candidates at once (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The policy this verifier requires.
    pub fn policy(&self) -> &TrustPolicy {
        &self.policy
    }

    /// The trust root this verifier uses.
    pub fn trust_root(&self) -> &TrustRoot {
        &self.root
    }

    /// The fingerprints its answers depend on, to file them in a [`crate::VerificationCache`]:
    /// `CachingVerifier::new(Arc::new(v.clone()), cache, v.cache_scope())`.
    pub fn cache_scope(&self) -> CacheScope {
        CacheScope::new(
            self.policy.fingerprint().clone(),
            self.root.fingerprint().clone(),
        )
    }

    /// The digests whose signatures count for `subject`, in the order they are tried.
    fn targets(&self, subject: &ImageSubject) -> Vec<(Digest, SignedTarget)> {
        let manifest = (subject.digest().clone(), SignedTarget::Manifest);
        let index = subject
            .index_digest()
            .map(|d| (d.clone(), SignedTarget::Index));
        match (self.policy.signed(), index) {
            (SignedBy::Platform, _) => vec![manifest],
            (SignedBy::Index, Some(index)) => vec![index],
            // Not selected from an index: the manifest is the top-level artifact.
            (SignedBy::Index, None) | (SignedBy::Either, None) => vec![manifest],
            (SignedBy::Either, Some(index)) => vec![manifest, index],
        }
    }

    async fn check(
        &self,
        subject: &ImageSubject,
        signs: &Digest,
        candidate: &SignatureCandidate,
    ) -> Result<VerifiedBundle, CandidateReason> {
        let bundle = self
            .source
            .bundle(subject, candidate)
            .await
            .map_err(CandidateReason::Source)?;
        verify_bundle(&bundle, signs, &self.policy, &self.root).map_err(CandidateReason::Bundle)
    }
}

enum Outcome {
    Passed(Box<VerifiedBundle>),
    Failed(CandidateReason),
}

#[async_trait]
impl ImageVerifier for CosignVerifier {
    async fn verify(&self, subject: &ImageSubject) -> Result<Verification, VerifyError> {
        let unavailable = |source: SignatureSourceError| VerifyError::Unavailable {
            image: subject.name(),
            digest: subject.digest().clone(),
            source,
        };
        let mut work: Vec<(Digest, SignedTarget, SignatureCandidate)> = Vec::new();
        // Candidates a source rejected while listing them (BadCandidate from `candidates`).
        let mut listed_bad: Vec<CandidateRejection> = Vec::new();
        for (digest, target) in self.targets(subject) {
            match self.source.candidates(subject, &digest).await {
                Ok(found) => work.extend(found.into_iter().map(|c| (digest.clone(), target, c))),
                Err(SignatureSourceError::BadCandidate { candidate, reason }) => {
                    listed_bad.push(CandidateRejection {
                        candidate: SignatureCandidate::new(candidate.clone()),
                        signs: digest.clone(),
                        reason: CandidateReason::Source(SignatureSourceError::BadCandidate {
                            candidate,
                            reason,
                        }),
                    })
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        let skipped = if work.len() > self.max_candidates {
            work.split_off(self.max_candidates)
        } else {
            Vec::new()
        };

        // Boxed up front: a closure returning the future trips the compiler's Send inference.
        let checks: Vec<BoxFuture<'_, (usize, Outcome)>> = work
            .iter()
            .enumerate()
            .map(|(i, (signs, _, candidate))| {
                let check = self.check(subject, signs, candidate);
                async move {
                    match check.await {
                        Ok(v) => (i, Outcome::Passed(Box::new(v))),
                        Err(reason) => (i, Outcome::Failed(reason)),
                    }
                }
                .boxed()
            })
            .collect();
        let mut results = stream::iter(checks).buffer_unordered(self.concurrency);
        let mut failures: Vec<(usize, CandidateReason)> = Vec::new();
        while let Some((i, outcome)) = results.next().await {
            match outcome {
                Outcome::Passed(v) => {
                    let (signs, target, candidate) = &work[i];
                    return Ok(Verification::Verified(receipt(
                        subject, signs, *target, candidate, &v,
                    )));
                }
                Outcome::Failed(reason) => failures.push((i, reason)),
            }
        }
        drop(results);
        // None passed. If any candidate could not be fetched for a retryable reason, the answer
        // is "unavailable": that candidate might have passed.
        if let Some(source) = failures.iter().find_map(|(_, r)| match r {
            CandidateReason::Source(e) if e.is_unavailable() => Some(e.clone()),
            _ => None,
        }) {
            return Err(unavailable(source));
        }
        failures.sort_by_key(|(i, _)| *i);
        let mut candidates: Vec<CandidateRejection> = failures
            .into_iter()
            .map(|(i, reason)| CandidateRejection {
                candidate: work[i].2.clone(),
                signs: work[i].0.clone(),
                reason,
            })
            .collect();
        candidates.extend(listed_bad);
        candidates.extend(
            skipped
                .into_iter()
                .map(|(signs, _, candidate)| CandidateRejection {
                    candidate,
                    signs,
                    reason: CandidateReason::NotTried {
                        limit: self.max_candidates,
                    },
                }),
        );
        Err(VerifyError::Rejected(Rejection {
            image: subject.name(),
            digest: subject.digest().clone(),
            candidates,
        }))
    }
}

fn receipt(
    subject: &ImageSubject,
    signs: &Digest,
    target: SignedTarget,
    candidate: &SignatureCandidate,
    v: &VerifiedBundle,
) -> Receipt {
    let facts = v.facts();
    Receipt {
        image: subject.name(),
        digest: subject.digest().clone(),
        signed_digest: signs.clone(),
        signed_target: target,
        identity: facts.identity.clone(),
        issuer: facts.issuer.clone(),
        extensions: facts.extensions.clone(),
        verified_timestamps: facts.verified_timestamps.clone(),
        predicate_type: facts.predicate_type.clone(),
        rekor_log_index: v.rekor_log_index(),
        referrer: Some(candidate.digest().clone()),
        trust_root_fingerprint: v.trust_root_fingerprint().clone(),
        policy_fingerprint: v.policy_fingerprint().clone(),
    }
}
