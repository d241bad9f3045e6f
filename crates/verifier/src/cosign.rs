//! [`CosignVerifier`]: the [`ImageVerifier`] that requires a Sigstore bundle signature
//! satisfying a [`TrustPolicy`] (DESIGN.md §6).
//!
//! For the digests the policy accepts (`signed:` platform, index or either), it asks the image's
//! [`SignatureSource`] for every candidate, interleaves the targets' lists (so one digest's
//! flood of referrers cannot take every slot), fetches and verifies them with bounded
//! concurrency, and passes as soon as one passes. If none passes it returns
//! [`VerifyError::Rejected`] listing every candidate and why. A source that is unavailable makes
//! the result [`VerifyError::Unavailable`], never "no signatures"; so does a list a limit cut
//! short ([`SignatureSourceError::Inconclusive`]). An index signature counts only if the index
//! bytes hash to the index digest and list the manifest for the platform
//! ([`VerifyError::IndexMismatch`] otherwise).

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use trustpull_policy::{Digest, Platform, SignedBy, TrustPolicy};

use crate::{
    verify_bundle, CacheScope, CandidateReason, CandidateRejection, ImageSubject, ImageVerifier,
    Receipt, Rejection, SignatureCandidate, SignatureSource, SignatureSourceError, SignedTarget,
    TrustRoot, Verification, VerifiedBundle, VerifyError,
};

/// How many candidates are verified at most, by default (DESIGN.md §5).
pub const DEFAULT_MAX_CANDIDATES: usize = 32;
/// How many candidates are fetched and verified at once, by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Verifies images with cosign / Sigstore bundles read from the image's own
/// [`SignatureSource`] (the source passed to [`ImageVerifier::verify`]).
///
/// Cheap to share: hold it in an `Arc<dyn ImageVerifier>`. The policy and trust root are values
/// the caller created, so two verifiers with different policies never affect each other.
#[derive(Debug, Clone)]
pub struct CosignVerifier {
    policy: Arc<TrustPolicy>,
    root: Arc<TrustRoot>,
    max_candidates: usize,
    concurrency: usize,
}

impl CosignVerifier {
    /// A verifier requiring `policy`, trusting `root`.
    pub fn new(policy: Arc<TrustPolicy>, root: Arc<TrustRoot>) -> Self {
        Self {
            policy,
            root,
            max_candidates: DEFAULT_MAX_CANDIDATES,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Verifies at most `max` candidates (at least 1); if none of those passes and more were
    /// listed, the answer is inconclusive ([`SignatureSourceError::Inconclusive`]).
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
        signatures: &dyn SignatureSource,
        subject: &ImageSubject,
        signs: &Digest,
        candidate: &SignatureCandidate,
    ) -> Result<VerifiedBundle, CandidateReason> {
        let bundle = signatures
            .bundle(subject, candidate)
            .await
            .map_err(CandidateReason::Source)?;
        verify_bundle(&bundle, signs, &self.policy, &self.root).map_err(CandidateReason::Bundle)
    }
}

/// Checks that the index a manifest was selected from is the one its digest names and lists
/// the manifest (for the subject's platform): only then does an index signature vouch for it.
fn check_index_membership(subject: &ImageSubject) -> Result<(), VerifyError> {
    let (Some(index), Some(bytes)) = (subject.index_digest(), subject.index_bytes()) else {
        return Ok(());
    };
    let mismatch = |reason: String| VerifyError::IndexMismatch {
        image: subject.name(),
        digest: subject.digest().clone(),
        index: index.clone(),
        reason,
    };
    let actual = Digest::of(bytes);
    if &actual != index {
        return Err(mismatch(format!("the index bytes given hash to {actual}")));
    }
    #[derive(serde::Deserialize)]
    struct Index {
        manifests: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        digest: String,
        platform: Option<Platform>,
    }
    let parsed: Index = serde_json::from_slice(bytes)
        .map_err(|e| mismatch(format!("the index does not parse: {e}")))?;
    let listed: Vec<&Entry> = parsed
        .manifests
        .iter()
        .filter(|e| e.digest == subject.digest().as_str())
        .collect();
    if listed.is_empty() {
        return Err(mismatch("the index does not list it".to_owned()));
    }
    let Some(wanted) = subject.platform() else {
        return Ok(());
    };
    // The downloader's selection rule (`Platform::accepts`): os and architecture exactly, the
    // variant when one was asked for.
    if listed
        .iter()
        .any(|e| e.platform.as_ref().is_some_and(|p| wanted.accepts(p)))
    {
        Ok(())
    } else {
        Err(mismatch(format!(
            "the index lists it, but not for platform {wanted}"
        )))
    }
}

/// Interleaves the candidate lists of several targets (one from each in turn), so a flood of
/// candidates on one digest cannot take every slot from the others.
fn interleave(
    lists: Vec<(Digest, SignedTarget, Vec<SignatureCandidate>)>,
) -> Vec<(Digest, SignedTarget, SignatureCandidate)> {
    let mut iters: Vec<_> = lists
        .into_iter()
        .map(|(d, t, c)| (d, t, c.into_iter()))
        .collect();
    let mut out = Vec::new();
    loop {
        let mut progressed = false;
        for (digest, target, candidates) in &mut iters {
            if let Some(c) = candidates.next() {
                out.push((digest.clone(), *target, c));
                progressed = true;
            }
        }
        if !progressed {
            return out;
        }
    }
}

enum Outcome {
    Passed(Box<VerifiedBundle>),
    Failed(CandidateReason),
}

#[async_trait]
impl ImageVerifier for CosignVerifier {
    async fn verify(
        &self,
        subject: &ImageSubject,
        signatures: &dyn SignatureSource,
    ) -> Result<Verification, VerifyError> {
        let unavailable = |source: SignatureSourceError| VerifyError::Unavailable {
            image: subject.name(),
            digest: subject.digest().clone(),
            source,
        };
        check_index_membership(subject)?;
        let mut lists = Vec::new();
        // Which limit cut a list, if any: then a rejection is only "inconclusive".
        let mut truncated: Option<String> = None;
        // Candidates a source rejected while listing them (BadCandidate from `candidates`).
        let mut listed_bad: Vec<CandidateRejection> = Vec::new();
        for (digest, target) in self.targets(subject) {
            match signatures.candidates(subject, &digest).await {
                Ok(found) => {
                    truncated = truncated.or(found.truncated);
                    lists.push((digest, target, found.candidates));
                }
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
        let mut work = interleave(lists);
        if work.len() > self.max_candidates {
            truncated = truncated.or(Some(format!(
                "the verifier's bound of {} candidates ({} listed)",
                self.max_candidates,
                work.len()
            )));
            work.truncate(self.max_candidates);
        }

        // Boxed up front: a closure returning the future trips the compiler's Send inference.
        let checks: Vec<BoxFuture<'_, (usize, Outcome)>> = work
            .iter()
            .enumerate()
            .map(|(i, (signs, _, candidate))| {
                let check = self.check(signatures, subject, signs, candidate);
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
        // is "unavailable": that candidate might have passed. Likewise when a limit left
        // candidates unread.
        if let Some(source) = failures.iter().find_map(|(_, r)| match r {
            CandidateReason::Source(e) if e.is_unavailable() => Some(e.clone()),
            _ => None,
        }) {
            return Err(unavailable(source));
        }
        if let Some(limit) = truncated {
            return Err(unavailable(SignatureSourceError::Inconclusive {
                image: subject.to_string(),
                limit,
            }));
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
