//! [`CosignVerifier`]: the [`ImageVerifier`] that requires a Sigstore bundle signature
//! satisfying a [`TrustPolicy`].
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
//!
//! Formats (policy `formats:`): Sigstore bundles are tried first. Only when none passed, and the
//! policy accepts legacy signatures, does it ask the source for legacy candidates (the
//! `sha256-<hex>.sig` tag's layers and old-format referrers), each verified by
//! [`crate::verify_legacy`] through the same bundle core, with its own candidate budget so
//! neither format can starve the other. A rejection lists the candidates of both formats;
//! candidates of a format the policy refuses are listed as such and never fetched.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use trustpull_policy::{Digest, Platform, SignedBy, TrustPolicy};

use trustpull_policy::SignatureFormat;

use crate::repository;

use crate::{
    verify_bundle, verify_legacy, CacheScope, CandidateList, CandidateReason, CandidateRejection,
    ImageSubject, ImageVerifier, Receipt, Rejection, SignatureCandidate, SignatureSource,
    SignatureSourceError, SignedTarget, TrustRoot, Verification, VerifiedBundle, VerifyError,
};

/// How many candidates are verified at most, by default.
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

    /// How many candidates are verified at most.
    pub(crate) fn max_candidates(&self) -> usize {
        self.max_candidates
    }

    /// How many candidates are verified at once.
    pub(crate) fn concurrency(&self) -> usize {
        self.concurrency
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
    pub(crate) fn targets(&self, subject: &ImageSubject) -> Vec<(Digest, SignedTarget)> {
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
        if !self.policy.accepts(candidate.format()) {
            return Err(CandidateReason::FormatRefused {
                format: candidate.format(),
                accepted: self
                    .policy
                    .formats()
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        match candidate.format() {
            SignatureFormat::Legacy => {
                let signature = signatures
                    .legacy_signature(subject, candidate)
                    .await
                    .map_err(CandidateReason::Source)?;
                let verified = verify_legacy(&signature, signs, &self.policy, &self.root)
                    .map_err(CandidateReason::Legacy)?;
                repository::check(
                    self.policy.repository(),
                    repository::of_payload(&signature.payload),
                )?;
                Ok(verified)
            }
            _ => {
                let bundle = signatures
                    .bundle(subject, candidate)
                    .await
                    .map_err(CandidateReason::Source)?;
                let verified = verify_bundle(&bundle, signs, &self.policy, &self.root)
                    .map_err(CandidateReason::Bundle)?;
                repository::check(
                    self.policy.repository(),
                    repository::of_bundle(&bundle, signs),
                )?;
                Ok(verified)
            }
        }
    }

    /// Verifies `work` (at most `max_candidates` of it, `concurrency` at a time) until one
    /// passes; records every failure in `attempt`.
    async fn try_candidates(
        &self,
        signatures: &dyn SignatureSource,
        subject: &ImageSubject,
        mut work: Vec<(Digest, SignedTarget, SignatureCandidate)>,
        attempt: &mut Attempt,
    ) -> Option<Receipt> {
        if work.len() > self.max_candidates {
            attempt.truncated.get_or_insert(format!(
                "the verifier's bound of {} candidates ({} listed)",
                self.max_candidates,
                work.len()
            ));
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
                    return Some(receipt(subject, signs, *target, candidate, &v));
                }
                Outcome::Failed(reason) => failures.push((i, reason)),
            }
        }
        failures.sort_by_key(|(i, _)| *i);
        attempt
            .failures
            .extend(failures.into_iter().map(|(i, reason)| CandidateRejection {
                candidate: work[i].2.clone(),
                signs: work[i].0.clone(),
                reason,
            }));
        None
    }
}

/// What the candidates tried so far left behind: every failure, and which limit cut a list.
#[derive(Default)]
pub(crate) struct Attempt {
    pub(crate) failures: Vec<CandidateRejection>,
    pub(crate) truncated: Option<String>,
}

impl Attempt {
    /// The answer when no candidate passed. If any candidate could not be fetched for a
    /// retryable reason, it is "unavailable": that candidate might have passed. Likewise when
    /// a limit left candidates unread. Otherwise a rejection listing every candidate.
    pub(crate) fn into_error(self, subject: &ImageSubject) -> VerifyError {
        let unavailable = |source: SignatureSourceError| VerifyError::Unavailable {
            image: subject.name(),
            digest: subject.digest().clone(),
            source,
        };
        if let Some(source) = self.failures.iter().find_map(|f| match &f.reason {
            CandidateReason::Source(e) if e.is_unavailable() => Some(e.clone()),
            _ => None,
        }) {
            return unavailable(source);
        }
        if let Some(limit) = self.truncated {
            return unavailable(SignatureSourceError::Inconclusive {
                image: subject.to_string(),
                limit,
            });
        }
        VerifyError::Rejected(Rejection {
            image: subject.name(),
            digest: subject.digest().clone(),
            candidates: self.failures,
        })
    }

    /// Takes in a listing: its truncation and the candidates the source found unusable.
    pub(crate) fn listed(&mut self, signs: &Digest, list: &mut CandidateList) {
        if let Some(t) = list.truncated.take() {
            self.truncated.get_or_insert(t);
        }
        for (candidate, e) in list.unusable.drain(..) {
            self.failures.push(CandidateRejection {
                candidate,
                signs: signs.clone(),
                reason: CandidateReason::Source(e),
            });
        }
    }
}

/// Checks that the index a manifest was selected from is the one its digest names and lists
/// the manifest (for the subject's platform): only then does an index signature vouch for it.
pub(crate) fn check_index_membership(subject: &ImageSubject) -> Result<(), VerifyError> {
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
        let mut receipt = self.verify_signatures(subject, signatures).await?;
        // Required attestations (`require_attestations:`), each by a signer the same policy
        // accepts, for the digests `signed:` allows; only once a signature passed.
        for predicate_type in self.policy.require_attestations() {
            match self
                .verify_attestations(subject, signatures, predicate_type)
                .await
            {
                Ok(_) => receipt.attestations.push(predicate_type.clone()),
                Err(VerifyError::Rejected(rejection)) => {
                    return Err(VerifyError::MissingAttestation {
                        image: subject.name(),
                        digest: subject.digest().clone(),
                        predicate_type: predicate_type.clone(),
                        rejection: Box::new(rejection),
                    })
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Verification::Verified(receipt))
    }
}

impl CosignVerifier {
    async fn verify_signatures(
        &self,
        subject: &ImageSubject,
        signatures: &dyn SignatureSource,
    ) -> Result<Receipt, VerifyError> {
        let unavailable = |source: SignatureSourceError| VerifyError::Unavailable {
            image: subject.name(),
            digest: subject.digest().clone(),
            source,
        };
        check_index_membership(subject)?;
        let targets = self.targets(subject);
        let mut attempt = Attempt::default();
        // Bundles first: they cost the listing every verification makes anyway.
        let mut bundles = Vec::new();
        let mut legacy_referrers = Vec::new();
        for (digest, target) in &targets {
            match signatures.candidates(subject, digest).await {
                Ok(mut found) => {
                    attempt.listed(digest, &mut found);
                    let (legacy, bundle): (Vec<_>, Vec<_>) = found
                        .candidates
                        .into_iter()
                        .partition(|c| c.format() == SignatureFormat::Legacy);
                    bundles.push((digest.clone(), *target, bundle));
                    legacy_referrers.push(legacy);
                }
                Err(SignatureSourceError::BadCandidate { candidate, reason }) => {
                    attempt.failures.push(CandidateRejection {
                        candidate: SignatureCandidate::new(candidate.clone()),
                        signs: digest.clone(),
                        reason: CandidateReason::Source(SignatureSourceError::BadCandidate {
                            candidate,
                            reason,
                        }),
                    });
                    legacy_referrers.push(Vec::new());
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        if let Some(r) = self
            .try_candidates(signatures, subject, interleave(bundles), &mut attempt)
            .await
        {
            return Ok(r);
        }
        // Then legacy signatures (the `.sig` tag costs a request), if the policy accepts them.
        if self.policy.accepts(SignatureFormat::Legacy) {
            let mut lists = Vec::new();
            for ((digest, target), referrers) in targets.iter().zip(&legacy_referrers) {
                match signatures
                    .legacy_candidates(subject, digest, referrers, crate::LegacyKind::Signature)
                    .await
                {
                    Ok(mut found) => {
                        attempt.listed(digest, &mut found);
                        lists.push((digest.clone(), *target, found.candidates));
                    }
                    Err(SignatureSourceError::BadCandidate { candidate, reason }) => {
                        attempt.failures.push(CandidateRejection {
                            candidate: SignatureCandidate::legacy_referrer(candidate.clone()),
                            signs: digest.clone(),
                            reason: CandidateReason::Source(SignatureSourceError::BadCandidate {
                                candidate,
                                reason,
                            }),
                        });
                    }
                    Err(e) => return Err(unavailable(e)),
                }
            }
            if let Some(r) = self
                .try_candidates(signatures, subject, interleave(lists), &mut attempt)
                .await
            {
                return Ok(r);
            }
        } else {
            for ((digest, _), referrers) in targets.iter().zip(legacy_referrers) {
                for candidate in referrers {
                    attempt.failures.push(CandidateRejection {
                        signs: digest.clone(),
                        reason: CandidateReason::FormatRefused {
                            format: candidate.format(),
                            accepted: SignatureFormat::Bundle.name().to_owned(),
                        },
                        candidate,
                    });
                }
            }
        }
        Err(attempt.into_error(subject))
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
        format: candidate.format(),
        attestations: Vec::new(),
        trust_root_fingerprint: v.trust_root_fingerprint().clone(),
        policy_fingerprint: v.policy_fingerprint().clone(),
    }
}
