//! [`RegistrySource`]: one image in a registry, serving both the image ([`ImageSource`]) and its
//! signatures ([`SignatureSource`]) through `trustpull-referrers`' `RegistryClient` (auth,
//! retries, capped and hashed reads).
//!
//! Signature candidates come from [`RegistryClient::discover_signatures`] (referrers API, else
//! the `sha256-<hex>` tag; old-format cosign referrers it lists become legacy
//! candidates), legacy ones from [`RegistryClient::discover_legacy_signatures`] (the
//! `sha256-<hex>.sig` tag, one candidate per simple-signing layer, payloads by
//! [`RegistryClient::fetch_legacy_payload`]); bundles from [`RegistryClient::fetch_signature_bundle`],
//! which fetches the referrer manifest and its single bundle layer by digest, capped, and checks
//! that the manifest's subject is the image (or, for a platform child, its index).
//!
//! Error mapping for signatures: a failed discovery is `Unavailable` (a 401/403/429/5xx, timeout
//! or unreadable referrers index is never "no signatures"), a list a limit cut says so
//! (`truncated`); a candidate that fails for a retryable reason is `Unavailable`, any other
//! candidate failure (not found, digest mismatch, wrong subject, not a bundle, too large) is
//! `BadCandidate`.

use async_trait::async_trait;
use futures::StreamExt;
use trustpull_policy::Digest;
use trustpull_referrers::{
    DiscoveryOptions, ImageReference, LegacyTag, RegistryClient, RegistryError, RegistryErrorKind,
};
use trustpull_verifier::{
    CandidateList, ImageSubject, LegacyKind, LegacyLayer, LegacySignature, SignatureCandidate,
    SignatureSource, SignatureSourceError,
};

use crate::location::ImageLocation;
use crate::source::{BlobStream, ImageSource, ImageSourceError, SourceDocument, SourceLocation};

/// One image in a registry, read through a [`RegistryClient`].
#[derive(Debug, Clone)]
pub struct RegistrySource {
    client: RegistryClient,
    image: ImageReference,
    discovery: DiscoveryOptions,
}

impl RegistrySource {
    /// The image `image` names, read through `client` (cheap to clone).
    pub fn new(client: RegistryClient, image: ImageReference) -> Self {
        Self {
            client,
            image,
            discovery: DiscoveryOptions::default(),
        }
    }

    /// The image this source reads (on the host it reads from).
    pub fn image(&self) -> &ImageReference {
        &self.image
    }

    /// How signatures are discovered (e.g. the time that tells a plausible `created` date from
    /// one in the future, so junk referrers cannot crowd out the real signature).
    #[must_use]
    pub fn with_discovery(mut self, options: DiscoveryOptions) -> Self {
        self.discovery = options;
        self
    }

    fn error(&self, what: impl Into<String>, e: RegistryError) -> ImageSourceError {
        let location = self.image.repository().to_string();
        let what = what.into();
        match e.kind() {
            RegistryErrorKind::NotFound => ImageSourceError::NotFound {
                location,
                what,
                source: Some(Box::new(e)),
            },
            RegistryErrorKind::Rejected => ImageSourceError::Invalid {
                location,
                what,
                source: Box::new(e),
            },
            RegistryErrorKind::Config => ImageSourceError::BadReference {
                reference: self.image.to_string(),
                reason: e.to_string(),
            },
            _ => ImageSourceError::Unavailable {
                location,
                what,
                source: Box::new(e),
            },
        }
    }

    fn signature_error(&self, digest: &Digest, e: &RegistryError) -> SignatureSourceError {
        SignatureSourceError::Unavailable {
            location: format!("{}@{digest}", self.image.repository()),
            reason: e.to_string(),
            status: e.status(),
        }
    }
}

#[async_trait]
impl ImageSource for RegistrySource {
    fn location(&self) -> SourceLocation {
        (&ImageLocation::Registry(self.image.clone())).into()
    }

    async fn resolve(&self) -> Result<SourceDocument, ImageSourceError> {
        let m = self
            .client
            .resolve(&self.image)
            .await
            .map_err(|e| self.error(self.image.to_string(), e))?;
        Ok(SourceDocument {
            media_type: m.media_type,
            bytes: m.bytes,
        })
    }

    async fn fetch_manifest(&self, digest: &Digest) -> Result<SourceDocument, ImageSourceError> {
        let m = self
            .client
            .fetch_manifest(self.image.repository(), digest)
            .await
            .map_err(|e| self.error(digest.to_string(), e))?;
        Ok(SourceDocument {
            media_type: m.media_type,
            bytes: m.bytes,
        })
    }

    async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, ImageSourceError> {
        let stream = self
            .client
            .blob_stream(self.image.repository(), digest)
            .await
            .map_err(|e| self.error(digest.to_string(), e))?;
        let this = self.clone();
        let what = digest.to_string();
        Ok(Box::pin(stream.map(move |chunk| {
            chunk.map_err(|e| this.error(what.clone(), e))
        })))
    }
}

#[async_trait]
impl SignatureSource for RegistrySource {
    async fn candidates(
        &self,
        _subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<CandidateList, SignatureSourceError> {
        let found = self
            .client
            .discover_signatures(self.image.repository(), digest, &self.discovery)
            .await
            .map_err(|e| self.signature_error(digest, &e))?;
        let mut list = CandidateList::complete(
            found
                .candidates
                .into_iter()
                .map(|c| {
                    let mut out = SignatureCandidate::new(c.manifest_digest);
                    if let Some(t) = c.artifact_type {
                        out = out.with_artifact_type(t);
                    }
                    if let Some(t) = c.created {
                        out = out.with_created(t);
                    }
                    out
                })
                .chain(
                    found
                        .legacy_referrers
                        .into_iter()
                        .map(SignatureCandidate::legacy_referrer),
                )
                .collect(),
        );
        list.truncated = found.truncated.map(|t| t.to_string());
        Ok(list)
    }

    async fn bundle(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        let mut subjects = vec![subject.digest().clone()];
        subjects.extend(subject.index_digest().cloned());
        match self
            .client
            .fetch_signature_bundle(self.image.repository(), candidate.digest(), &subjects)
            .await
        {
            Ok(bundle) => Ok(bundle.bytes.to_vec()),
            Err(e) if e.is_unavailable() => Err(self.signature_error(candidate.digest(), &e)),
            Err(e) => Err(SignatureSourceError::BadCandidate {
                candidate: candidate.digest().clone(),
                reason: e.to_string(),
            }),
        }
    }

    async fn legacy_candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
        referrers: &[SignatureCandidate],
        kind: LegacyKind,
    ) -> Result<CandidateList, SignatureSourceError> {
        let mut subjects = vec![subject.digest().clone()];
        subjects.extend(subject.index_digest().cloned());
        let referrers: Vec<Digest> = referrers.iter().map(|c| c.digest().clone()).collect();
        let found = match self
            .client
            .discover_legacy_signatures(
                self.image.repository(),
                digest,
                match kind {
                    LegacyKind::Attestation => LegacyTag::Attestations,
                    _ => LegacyTag::Signatures,
                },
                &referrers,
                &subjects,
            )
            .await
        {
            Ok(found) => found,
            Err(e) if e.is_unavailable() => return Err(self.signature_error(digest, &e)),
            Err(e) => {
                return Err(SignatureSourceError::BadCandidate {
                    candidate: digest.clone(),
                    reason: format!(
                        "the sha256-{}.{} manifest: {e}",
                        digest.hex(),
                        kind.tag_suffix()
                    ),
                })
            }
        };
        let mut list = CandidateList::complete(
            found
                .manifests
                .into_iter()
                .flat_map(|m| {
                    let manifest = m.digest;
                    m.layers.into_iter().map(move |(index, layer)| {
                        SignatureCandidate::legacy(
                            manifest.clone(),
                            LegacyLayer {
                                index,
                                digest: layer.digest,
                                size: layer.size,
                                annotations: layer.annotations,
                            },
                        )
                    })
                })
                .collect(),
        );
        list.unusable = found
            .skipped
            .into_iter()
            .map(|s| {
                (
                    SignatureCandidate::legacy_referrer(s.manifest_digest.clone()),
                    SignatureSourceError::BadCandidate {
                        candidate: s.manifest_digest,
                        reason: s.reason.to_string(),
                    },
                )
            })
            .collect();
        Ok(list)
    }

    async fn legacy_signature(
        &self,
        _subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<LegacySignature, SignatureSourceError> {
        let Some(layer) = candidate.layer() else {
            return Err(SignatureSourceError::BadCandidate {
                candidate: candidate.digest().clone(),
                reason: "not a legacy signature layer".into(),
            });
        };
        match self
            .client
            .fetch_legacy_payload(self.image.repository(), &layer.digest, layer.size)
            .await
        {
            Ok(payload) => Ok(LegacySignature {
                payload: payload.to_vec(),
                annotations: layer.annotations.clone(),
            }),
            Err(e) if e.is_unavailable() => Err(self.signature_error(&layer.digest, &e)),
            Err(e) => Err(SignatureSourceError::BadCandidate {
                candidate: candidate.digest().clone(),
                reason: format!("layer {}: {e}", layer.index),
            }),
        }
    }
}
