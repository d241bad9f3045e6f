//! cosign's legacy simple-signing signatures: the `sha256-<hex>.sig` tag, and
//! old-format signatures stored as OCI 1.1 referrers (artifactType
//! [`COSIGN_SIGNATURE_ARTIFACT_TYPE`], which [`RegistryClient::discover_signatures`] lists in
//! [`crate::Discovery::legacy_referrers`] from the listing it makes anyway).
//!
//! [`RegistryClient::discover_legacy_signatures`] reads the `.sig` manifest (OCI or Docker v2;
//! a 404 means no legacy signatures, any other failure is an error of kind
//! [`crate::RegistryErrorKind::Unavailable`] or `Rejected`, never "none") and the given
//! referrer manifests (by digest, subject checked), and returns their simple-signing layers.
//! [`RegistryClient::fetch_legacy_payload`] then fetches one layer's payload by digest, capped
//! and hashed. Nothing here is trusted: the verifier checks every layer.

use trustpull_policy::Digest;

use crate::client::{parse_document, status_error};
use crate::discovery::SkippedReferrer;
use crate::manifest::{Descriptor, ImageManifest, MANIFEST_ACCEPT};
use crate::{RegistryClient, RegistryError, Repository};

/// The media type of a legacy signature layer (its blob is the simple-signing payload).
pub const COSIGN_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The artifactType of cosign's old-format signatures pushed as OCI 1.1 referrers.
pub const COSIGN_SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// Where a legacy signature manifest was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LegacySource {
    /// The `sha256-<hex>.sig` tag.
    SignatureTag,
    /// An OCI 1.1 referrer of artifactType [`COSIGN_SIGNATURE_ARTIFACT_TYPE`].
    Referrer,
}

/// One legacy signature manifest and its simple-signing layers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LegacyManifest {
    /// The manifest's digest (sha256 of the bytes read).
    pub digest: Digest,
    /// Where it was found.
    pub source: LegacySource,
    /// Its layers of media type [`COSIGN_SIMPLE_SIGNING`], with their position in the manifest.
    pub layers: Vec<(usize, Descriptor)>,
}

/// The result of [`RegistryClient::discover_legacy_signatures`].
#[derive(Debug)]
#[non_exhaustive]
pub struct LegacyDiscovery {
    /// The `.sig` manifest (if the tag exists) first, then the referrers, in the order given.
    pub manifests: Vec<LegacyManifest>,
    /// Referrers that turned out unusable (wrong subject, not a manifest, not found).
    pub skipped: Vec<SkippedReferrer>,
}

/// Which legacy tag to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LegacyTag {
    /// `sha256-<hex>.sig`, layers of [`COSIGN_SIMPLE_SIGNING`].
    Signatures,
    /// `sha256-<hex>.att`, layers of [`DSSE_ENVELOPE`].
    Attestations,
}

impl LegacyTag {
    fn suffix(self) -> &'static str {
        match self {
            Self::Signatures => "sig",
            Self::Attestations => "att",
        }
    }

    fn layer_media_type(self) -> &'static str {
        match self {
            Self::Signatures => COSIGN_SIMPLE_SIGNING,
            Self::Attestations => DSSE_ENVELOPE,
        }
    }
}

/// The media type of a legacy attestation layer (a DSSE envelope).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";

fn layers_of(manifest: &ImageManifest, media_type: &str) -> Vec<(usize, Descriptor)> {
    manifest
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.media_type == media_type)
        .map(|(i, l)| (i, l.clone()))
        .collect()
}

impl RegistryClient {
    /// Reads the legacy signature (or attestation) manifests for `digest` in `repo`: the
    /// `sha256-<hex>.sig` (`.att`) tag, then each of `referrers` (old-format referrer manifests, whose subject must be one
    /// of `subjects`). See the module docs.
    pub async fn discover_legacy_signatures(
        &self,
        repo: &Repository,
        digest: &Digest,
        which: LegacyTag,
        referrers: &[Digest],
        subjects: &[Digest],
    ) -> Result<LegacyDiscovery, RegistryError> {
        let mut manifests = Vec::new();
        let mut skipped = Vec::new();
        let media_type = which.layer_media_type();
        let tag = format!("manifests/sha256-{}.{}", digest.hex(), which.suffix());
        let (url, resp) = self.get(repo, &tag, MANIFEST_ACCEPT, true).await?;
        if resp.status().as_u16() != 404 {
            if !resp.status().is_success() {
                return Err(status_error(&url, resp).await);
            }
            let body = self
                .read_capped(
                    &url,
                    resp,
                    self.limits().max_manifest_bytes,
                    "signature manifest",
                )
                .await?;
            let manifest: ImageManifest = parse_document(&url, &body, "signature manifest")?;
            manifests.push(LegacyManifest {
                digest: Digest::of(&body),
                source: LegacySource::SignatureTag,
                layers: layers_of(&manifest, media_type),
            });
        }
        for referrer in referrers {
            let fetched = self.fetch_manifest(repo, referrer).await;
            let parsed = fetched.and_then(|f| {
                let url = self.repo_url(repo, &format!("manifests/{referrer}"))?;
                let manifest: ImageManifest =
                    parse_document(&url, &f.bytes, "signature referrer manifest")?;
                let found = manifest.subject.as_ref().map(|s| s.digest.clone());
                if !found.as_ref().is_some_and(|f| subjects.contains(f)) {
                    return Err(RegistryError::SubjectMismatch {
                        manifest: referrer.clone(),
                        expected: subjects.first().cloned().unwrap_or_else(|| digest.clone()),
                        found: found.map(String::from),
                    });
                }
                Ok(manifest)
            });
            match parsed {
                Ok(manifest) => manifests.push(LegacyManifest {
                    digest: referrer.clone(),
                    source: LegacySource::Referrer,
                    layers: layers_of(&manifest, media_type),
                }),
                Err(e) if e.is_unavailable() => return Err(e),
                Err(reason) => skipped.push(SkippedReferrer {
                    manifest_digest: referrer.clone(),
                    reason,
                }),
            }
        }
        Ok(LegacyDiscovery { manifests, skipped })
    }

    /// Fetches a legacy layer's payload by digest, refusing more than
    /// [`crate::Limits::max_bundle_bytes`] or a size other than the descriptor's.
    pub async fn fetch_legacy_payload(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
    ) -> Result<bytes::Bytes, RegistryError> {
        let limit = self.limits().max_bundle_bytes;
        let url = self.repo_url(repo, &format!("blobs/{digest}"))?;
        if size > limit {
            return Err(RegistryError::TooLarge {
                url: url.to_string(),
                what: "signature payload",
                limit,
            });
        }
        let bytes = self.fetch_blob(repo, digest, size).await?;
        if bytes.len() as u64 != size {
            return Err(RegistryError::SizeMismatch {
                url: url.to_string(),
                expected: size,
                actual: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }
}
