//! [`RegistrySource`]: the [`SignatureSource`] over an OCI registry, through
//! `trustpull-referrers` (DESIGN.md §5).
//!
//! Candidates come from [`RegistryClient::discover_signatures`] (referrers API, else the
//! `sha256-<hex>` tag); bundles from [`RegistryClient::fetch_signature_bundle`], which fetches
//! the referrer manifest and its single bundle layer by digest, capped, and checks that the
//! manifest's subject is the image (or, for a platform child, the index it was selected from).
//!
//! Error mapping: any failed discovery is [`SignatureSourceError::Unavailable`] (a 401/403/429/5xx,
//! timeout or unreadable referrers index is never "no signatures"); a candidate that fails for
//! a retryable reason is `Unavailable`, any other candidate failure (not found, digest
//! mismatch, wrong subject, not a bundle, too large) is [`SignatureSourceError::BadCandidate`].

use async_trait::async_trait;
use trustpull_policy::Digest;
use trustpull_referrers::{RegistryClient, RegistryError, Repository};

use crate::{ImageSubject, SignatureCandidate, SignatureSource, SignatureSourceError};

/// Signature candidates and bundles read from the registry the image lives in.
///
/// The client is the caller's (credentials, plain-HTTP hosts, limits); cloning it is cheap.
#[derive(Debug, Clone)]
pub struct RegistrySource {
    client: RegistryClient,
}

impl RegistrySource {
    /// A source reading through `client`.
    pub fn new(client: RegistryClient) -> Self {
        Self { client }
    }

    fn repository(subject: &ImageSubject) -> Result<Repository, SignatureSourceError> {
        Repository::new(subject.registry(), subject.repository()).map_err(|e| {
            SignatureSourceError::Unavailable {
                location: subject.name(),
                reason: e.to_string(),
                status: None,
            }
        })
    }
}

fn unavailable(subject: &ImageSubject, digest: &Digest, e: &RegistryError) -> SignatureSourceError {
    SignatureSourceError::Unavailable {
        location: format!("{}@{digest}", subject.name()),
        reason: e.to_string(),
        status: e.status(),
    }
}

#[async_trait]
impl SignatureSource for RegistrySource {
    async fn candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<Vec<SignatureCandidate>, SignatureSourceError> {
        let repo = Self::repository(subject)?;
        let found = self
            .client
            .discover_signatures(&repo, digest)
            .await
            .map_err(|e| unavailable(subject, digest, &e))?;
        Ok(found
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
            .collect())
    }

    async fn bundle(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        let repo = Self::repository(subject)?;
        let mut subjects = vec![subject.digest().clone()];
        subjects.extend(subject.index_digest().cloned());
        match self
            .client
            .fetch_signature_bundle(&repo, candidate.digest(), &subjects)
            .await
        {
            Ok(bundle) => Ok(bundle.bytes.to_vec()),
            Err(e) if e.is_unavailable() => Err(unavailable(subject, candidate.digest(), &e)),
            Err(e) => Err(SignatureSourceError::BadCandidate {
                candidate: candidate.digest().clone(),
                reason: e.to_string(),
            }),
        }
    }
}
