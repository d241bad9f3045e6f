//! Where signature candidates come from: the [`SignatureSource`] trait.
//!
//! A source answers two questions for an image digest: which signature artifacts might sign it
//! ([`SignatureSource::candidates`]), and what bytes a given candidate's Sigstore bundle has
//! ([`SignatureSource::bundle`]). It decides nothing about trust; the verifier checks every
//! bundle it returns.
//!
//! Implementations (the trait lives here, in the trait-only part of the crate, so that both can
//! be written without the `cosign` feature's crypto dependencies):
//!
//! - registries (the referrers API with the referrers-tag fallback, DESIGN.md §5) and local OCI
//!   image layouts (bundles stored as referrers): `trustpull-downloader`'s image sources, so the
//!   one source that serves an image also serves its signatures. This crate never talks to a
//!   registry itself.
//! - [`StaticSource`], in-memory bundles, for tests and for `verify-bundle`-style use.
//!
//! # Contract for implementors
//!
//! - Return [`SignatureSourceError::Unavailable`] when the lookup as a whole failed and a retry may help:
//!   401/403/429/5xx, timeouts, connection errors, an unreadable layout. Never turn such a
//!   failure into an empty list: an empty list means "this image has no signatures", which is a
//!   definitive rejection.
//! - Return [`SignatureSourceError::BadCandidate`] from [`SignatureSource::bundle`] when one candidate
//!   is unusable (its manifest has no bundle layer, two layers, a digest mismatch, an oversized
//!   body). The verifier records it as that candidate's rejection reason and goes on with the
//!   others.
//! - Bound what you read (DESIGN.md §5: bundle ≤ 4 MiB, ≤ 1,000 descriptors) and check digests
//!   of everything fetched by digest.
//! - Order candidates newest first when you know their creation time; the verifier tries all of
//!   them (up to its own bound) and passes if any passes.
//! - When one of your limits cut the list, say so in [`CandidateList::truncated`]: if no
//!   candidate passes, the verifier then answers "inconclusive" (unavailable, never cached)
//!   instead of a rejection that an unread candidate might have overturned.

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trustpull_policy::Digest;

use crate::ImageSubject;

/// One signature artifact that may sign an image: typically a referrer manifest whose single
/// layer is a Sigstore bundle.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignatureCandidate {
    digest: Digest,
    artifact_type: Option<String>,
    created: Option<String>,
}

impl SignatureCandidate {
    /// A candidate identified by `digest`: the referrer manifest digest for registries and
    /// layouts, or the bundle's own digest when there is no manifest around it.
    pub fn new(digest: Digest) -> Self {
        Self {
            digest,
            artifact_type: None,
            created: None,
        }
    }

    /// Records the descriptor's `artifactType`.
    #[must_use]
    pub fn with_artifact_type(mut self, artifact_type: impl Into<String>) -> Self {
        self.artifact_type = Some(artifact_type.into());
        self
    }

    /// Records the `org.opencontainers.image.created` annotation.
    #[must_use]
    pub fn with_created(mut self, created: impl Into<String>) -> Self {
        self.created = Some(created.into());
        self
    }

    /// The digest that identifies the candidate (referrer manifest digest).
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The descriptor's `artifactType`, if known.
    pub fn artifact_type(&self) -> Option<&str> {
        self.artifact_type.as_deref()
    }

    /// The creation time annotation, if any (not trusted; only used for ordering).
    pub fn created(&self) -> Option<&str> {
        self.created.as_deref()
    }
}

/// What [`SignatureSource::candidates`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CandidateList {
    /// The candidates, in the order to try them.
    pub candidates: Vec<SignatureCandidate>,
    /// Which limit cut the list, if one did (e.g. "more than 1000 referrer descriptors").
    pub truncated: Option<String>,
}

impl CandidateList {
    /// A complete list.
    pub fn complete(candidates: Vec<SignatureCandidate>) -> Self {
        Self {
            candidates,
            truncated: None,
        }
    }
}

/// Why a [`SignatureSource`] could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureSourceError {
    /// The lookup as a whole failed; retrying may help. Never means "no signatures".
    #[error("signature lookup at {location} is unavailable ({reason}); retry later or check access to it")]
    Unavailable {
        /// What was being read: a registry URL, a layout path.
        location: String,
        /// What went wrong, e.g. `HTTP 503: service unavailable`, `timed out after 30s`.
        reason: String,
        /// The HTTP status, when there was one.
        status: Option<u16>,
    },
    /// No candidate that was read passed, and a limit left others unread: one of them might
    /// have passed, so the answer is neither yes nor no. Retryable (never cached).
    #[error("no signature read for {image} passed and {limit} left candidates unread, so the check is inconclusive; remove stale signatures or referrers, or raise the limit")]
    Inconclusive {
        /// The image, `registry/repository@digest`.
        image: String,
        /// The limit that cut the list.
        limit: String,
    },
    /// One candidate is unusable; the others are still tried.
    #[error("signature candidate {candidate} is unusable: {reason}")]
    BadCandidate {
        /// The candidate's digest.
        candidate: Digest,
        /// What is wrong with it, e.g. `manifest has 2 layers, expected 1 bundle layer`.
        reason: String,
    },
}

impl SignatureSourceError {
    /// True for [`SignatureSourceError::Unavailable`] and [`SignatureSourceError::Inconclusive`]:
    /// a retry (or a cleaner source) may change the answer.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Inconclusive { .. })
    }
}

/// A place signature bundles for images can be found. See the module docs for the contract.
#[async_trait]
pub trait SignatureSource: Send + Sync + Debug {
    /// The candidates that may sign `digest` (the subject's manifest digest, or its index
    /// digest when the policy accepts index signatures). An empty list means the image has no
    /// signatures there; a failed lookup is [`SignatureSourceError::Unavailable`].
    async fn candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<CandidateList, SignatureSourceError>;

    /// The Sigstore bundle bytes of `candidate` (a JSON document, size-bounded by the source).
    async fn bundle(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError>;
}

/// An in-memory source: bundles keyed by the digest they sign. Candidates are identified by
/// the bundle's own digest. For tests and for verifying bundles already on disk.
#[derive(Debug, Clone, Default)]
pub struct StaticSource {
    bundles: BTreeMap<Digest, Vec<Vec<u8>>>,
}

impl StaticSource {
    /// An empty source: every image has no signatures.
    pub const fn new() -> Self {
        Self {
            bundles: BTreeMap::new(),
        }
    }

    /// Adds a bundle for images with digest `signs`.
    #[must_use]
    pub fn with_bundle(mut self, signs: Digest, bundle: Vec<u8>) -> Self {
        self.bundles.entry(signs).or_default().push(bundle);
        self
    }
}

#[async_trait]
impl SignatureSource for StaticSource {
    async fn candidates(
        &self,
        _subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<CandidateList, SignatureSourceError> {
        Ok(CandidateList::complete(
            self.bundles
                .get(digest)
                .map(|bs| {
                    bs.iter()
                        .map(|b| SignatureCandidate::new(Digest::of(b)))
                        .collect()
                })
                .unwrap_or_default(),
        ))
    }

    async fn bundle(
        &self,
        _subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        self.bundles
            .values()
            .flatten()
            .find(|b| Digest::of(b) == *candidate.digest())
            .cloned()
            .ok_or_else(|| SignatureSourceError::BadCandidate {
                candidate: candidate.digest().clone(),
                reason: "no bundle with this digest in the static source".into(),
            })
    }
}
