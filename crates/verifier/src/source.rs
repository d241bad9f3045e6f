//! Where signature candidates come from: the [`SignatureSource`] trait.
//!
//! A source answers, for an image digest, which signature artifacts might sign it and what they
//! hold, in two formats:
//!
//! - Sigstore bundles: [`SignatureSource::candidates`] lists them (one request or two on a
//!   registry), [`SignatureSource::bundle`] reads one.
//! - cosign's legacy simple-signing signatures: [`SignatureSource::legacy_candidates`] lists the
//!   layers of the `sha256-<hex>.sig` tag (and of old-format referrers that
//!   [`SignatureSource::candidates`] listed with [`SignatureFormat::Legacy`]), each layer one
//!   candidate carrying its [`LegacyLayer`] (payload descriptor + annotations);
//!   [`SignatureSource::legacy_signature`] reads its payload. The verifier asks for legacy
//!   candidates only when no bundle passed and the policy accepts legacy signatures, so a
//!   bundle-signed image costs no extra request.
//!
//! It decides nothing about trust; the verifier checks everything it returns.
//!
//! Implementations (the trait lives here, in the trait-only part of the crate, so that both can
//! be written without the `cosign` feature's crypto dependencies):
//!
//! - registries (the referrers API with the referrers-tag fallback) and local OCI
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
//! - Bound what you read (bundle ≤ 4 MiB, ≤ 1,000 descriptors) and check digests
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
use trustpull_policy::{Digest, SignatureFormat};

use crate::ImageSubject;

/// One signature artifact that may sign an image: a referrer manifest whose single layer is a
/// Sigstore bundle, or one simple-signing layer of a legacy signature manifest.
///
/// Identity: the manifest digest, plus the layer index for a legacy layer (several layers of
/// one `.sig` manifest may carry the same payload with different signatures).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignatureCandidate {
    digest: Digest,
    artifact_type: Option<String>,
    created: Option<String>,
    #[serde(default)]
    format: SignatureFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layer: Option<LegacyLayer>,
}

/// The annotation holding a legacy layer's base64 signature over the payload.
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The annotation holding a legacy layer's PEM signing certificate.
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding a legacy layer's PEM certificate chain (intermediates, root).
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";
/// The annotation holding a legacy layer's Rekor bundle (the SET and the entry it signs).
pub const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";
/// The annotation holding a legacy layer's RFC 3161 timestamp (optional).
pub const ANNOTATION_RFC3161: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// The media type of a legacy signature layer (the payload).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The artifactType of cosign's old-format signatures stored as OCI 1.1 referrers.
pub const LEGACY_SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// The media type of a legacy attestation layer (a DSSE envelope with an in-toto statement).
pub const DSSE_ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// Which of cosign's legacy tags to read: `sha256-<hex>.sig` (simple-signing signatures) or
/// `sha256-<hex>.att` (DSSE attestations). Both carry the same annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LegacyKind {
    /// The `.sig` tag: layers of [`SIMPLE_SIGNING_MEDIA_TYPE`].
    Signature,
    /// The `.att` tag: layers of [`DSSE_ENVELOPE_MEDIA_TYPE`].
    Attestation,
}

impl LegacyKind {
    /// The tag suffix: `sig` or `att`.
    pub fn tag_suffix(self) -> &'static str {
        match self {
            Self::Signature => "sig",
            Self::Attestation => "att",
        }
    }

    /// The media type of the layers that are candidates.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Self::Signature => SIMPLE_SIGNING_MEDIA_TYPE,
            Self::Attestation => DSSE_ENVELOPE_MEDIA_TYPE,
        }
    }
}

/// One simple-signing layer of a legacy signature manifest: where its payload is and the
/// annotations that carry its signature, certificate, chain and Rekor bundle. Untrusted until
/// the verifier has checked it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LegacyLayer {
    /// The layer's position in its manifest.
    pub index: usize,
    /// The payload blob's digest.
    pub digest: Digest,
    /// The payload blob's size, from the descriptor.
    pub size: u64,
    /// The layer descriptor's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// A legacy signature read by [`SignatureSource::legacy_signature`]: the payload bytes (already
/// checked against the layer's digest) and the layer's annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySignature {
    /// The simple-signing payload, the bytes that were signed.
    pub payload: Vec<u8>,
    /// The layer's annotations (signature, certificate, chain, Rekor bundle, timestamp).
    pub annotations: BTreeMap<String, String>,
}

impl SignatureCandidate {
    /// A candidate identified by `digest`: the referrer manifest digest for registries and
    /// layouts, or the bundle's own digest when there is no manifest around it.
    pub fn new(digest: Digest) -> Self {
        Self {
            digest,
            artifact_type: None,
            created: None,
            format: SignatureFormat::Bundle,
            layer: None,
        }
    }

    /// A legacy candidate: layer `layer` of the signature manifest `manifest`.
    pub fn legacy(manifest: Digest, layer: LegacyLayer) -> Self {
        Self {
            format: SignatureFormat::Legacy,
            layer: Some(layer),
            ..Self::new(manifest)
        }
    }

    /// An old-format referrer (artifactType [`LEGACY_SIGNATURE_ARTIFACT_TYPE`]) not yet
    /// expanded into its layers: [`SignatureSource::candidates`] lists it,
    /// [`SignatureSource::legacy_candidates`] expands it.
    pub fn legacy_referrer(manifest: Digest) -> Self {
        Self {
            format: SignatureFormat::Legacy,
            artifact_type: Some(LEGACY_SIGNATURE_ARTIFACT_TYPE.to_owned()),
            ..Self::new(manifest)
        }
    }

    /// Which format the candidate is.
    pub fn format(&self) -> SignatureFormat {
        self.format
    }

    /// The legacy layer, for a legacy candidate expanded into its layers.
    pub fn layer(&self) -> Option<&LegacyLayer> {
        self.layer.as_ref()
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

    /// The digest that identifies the candidate (referrer or legacy signature manifest digest).
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
    /// Candidates the source found but could not use (e.g. an old-format referrer whose
    /// manifest names another subject), each with why; the verifier lists them in a rejection.
    pub unusable: Vec<(SignatureCandidate, SignatureSourceError)>,
}

impl CandidateList {
    /// A complete list.
    pub fn complete(candidates: Vec<SignatureCandidate>) -> Self {
        Self {
            candidates,
            truncated: None,
            unusable: Vec::new(),
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

    /// The legacy candidates of `kind` for `digest`, one per layer of
    /// [`LegacyKind::layer_media_type`]: the layers of the `sha256-<hex>.sig` (or `.att`)
    /// manifest, and of each old-format referrer in `referrers` (the
    /// [`SignatureFormat::Legacy`] candidates [`SignatureSource::candidates`] listed for this
    /// digest; signatures only). No such tag means none (an empty list); a failed lookup is
    /// [`SignatureSourceError::Unavailable`]. The verifier asks for signatures only when no
    /// bundle passed, and for attestations only when asked for attestations.
    async fn legacy_candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
        referrers: &[SignatureCandidate],
        kind: LegacyKind,
    ) -> Result<CandidateList, SignatureSourceError>;

    /// The payload of legacy `candidate` (fetched by its layer digest, size-bounded and
    /// digest-checked) with its annotations.
    async fn legacy_signature(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<LegacySignature, SignatureSourceError>;
}

/// An in-memory source: bundles keyed by the digest they sign. Candidates are identified by
/// the bundle's own digest. For tests and for verifying bundles already on disk.
#[derive(Debug, Clone, Default)]
pub struct StaticSource {
    bundles: BTreeMap<Digest, Vec<Vec<u8>>>,
    legacy: BTreeMap<(LegacyKind, Digest), Vec<LegacySignature>>,
}

impl StaticSource {
    /// An empty source: every image has no signatures.
    pub const fn new() -> Self {
        Self {
            bundles: BTreeMap::new(),
            legacy: BTreeMap::new(),
        }
    }

    /// Adds a legacy signature (payload + annotations) for images with digest `signs`. All
    /// legacy signatures for one digest are layers of one manifest, identified by the digest of
    /// their payloads.
    #[must_use]
    pub fn with_legacy(mut self, signs: Digest, signature: LegacySignature) -> Self {
        self.legacy
            .entry((LegacyKind::Signature, signs))
            .or_default()
            .push(signature);
        self
    }

    /// Adds a legacy attestation (DSSE envelope + annotations, as in a `.att` layer) for images
    /// with digest `signs`.
    #[must_use]
    pub fn with_legacy_attestation(mut self, signs: Digest, attestation: LegacySignature) -> Self {
        self.legacy
            .entry((LegacyKind::Attestation, signs))
            .or_default()
            .push(attestation);
        self
    }

    fn legacy_manifest(signatures: &[LegacySignature]) -> Digest {
        let mut all = Vec::new();
        for s in signatures {
            all.extend_from_slice(Digest::of(&s.payload).as_str().as_bytes());
        }
        Digest::of(&all)
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

    async fn legacy_candidates(
        &self,
        _subject: &ImageSubject,
        digest: &Digest,
        _referrers: &[SignatureCandidate],
        kind: LegacyKind,
    ) -> Result<CandidateList, SignatureSourceError> {
        let Some(signatures) = self.legacy.get(&(kind, digest.clone())) else {
            return Ok(CandidateList::default());
        };
        let manifest = Self::legacy_manifest(signatures);
        Ok(CandidateList::complete(
            signatures
                .iter()
                .enumerate()
                .map(|(index, s)| {
                    SignatureCandidate::legacy(
                        manifest.clone(),
                        LegacyLayer {
                            index,
                            digest: Digest::of(&s.payload),
                            size: s.payload.len() as u64,
                            annotations: s.annotations.clone(),
                        },
                    )
                })
                .collect(),
        ))
    }

    async fn legacy_signature(
        &self,
        _subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<LegacySignature, SignatureSourceError> {
        let layer = candidate.layer();
        self.legacy
            .values()
            .find(|sigs| Self::legacy_manifest(sigs) == *candidate.digest())
            .and_then(|sigs| layer.and_then(|l| sigs.get(l.index)))
            .cloned()
            .ok_or_else(|| SignatureSourceError::BadCandidate {
                candidate: candidate.digest().clone(),
                reason: "no legacy signature layer with this digest in the static source".into(),
            })
    }
}
