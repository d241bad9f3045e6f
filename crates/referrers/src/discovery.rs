//! Sigstore signature discovery for a digest (DESIGN.md §5).
//!
//! 1. `GET /v2/R/referrers/D?artifactType=<bundle type>` (OCI 1.1 referrers API). A 200 with an
//!    index content type is used, following `Link: rel="next"` pages up to the page and
//!    descriptor limits (a page seen twice ends the walk). The artifactType filter is always
//!    re-applied here, whether or not the registry says `OCI-Filters-Applied: artifactType`.
//! 2. 404, 400, 406, or a 200 that is not an index → the referrers tag schema: the index tagged
//!    `sha256-<hex>`. Its 404 means no signatures.
//! 3. Any other failure (401/403/429/5xx, timeouts) is an error of kind
//!    [`crate::ErrorKind::Unavailable`], never an empty list.
//! 4. Candidates: descriptors whose artifactType is a bundle type; those with an empty, missing
//!    or `application/vnd.oci.empty.v1+json` artifactType (older cosign fallback indexes) are
//!    decided by fetching their manifest (its artifactType or single layer must be a bundle,
//!    and its subject must be D). Newest `org.opencontainers.image.created` first, at most
//!    [`crate::Limits::max_candidates`].
//!
//! [`RegistryClient::fetch_signature_bundle`] then fetches a candidate's manifest by digest,
//! checks its subject (registries can lie, the fallback index is just a tag anyone with push
//! rights can move), requires exactly one bundle layer, and fetches it by digest, capped.

use std::collections::HashSet;

use bytes::Bytes;
use reqwest::header::LINK;
use reqwest::Url;
use trustpull_policy::Digest;

use crate::client::{content_type, parse_document, status_error, RequestOptions};
use crate::manifest::{
    is_bundle_media_type, Descriptor, ImageIndex, ImageManifest, ANNOTATION_CREATED,
    MANIFEST_ACCEPT, OCI_EMPTY, OCI_INDEX, SIGSTORE_BUNDLE_V03,
};
use crate::{RegistryClient, RegistryError, RegistryErrorKind, Repository};

/// Where a candidate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiscoverySource {
    /// The OCI 1.1 referrers API.
    ReferrersApi,
    /// The referrers tag schema (`sha256-<hex>` index).
    FallbackTag,
}

/// A referrer manifest that may carry a Sigstore bundle for the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureCandidate {
    /// The referrer manifest's digest.
    pub manifest_digest: Digest,
    /// Its artifactType (from the descriptor, or from the manifest when the descriptor had none).
    pub artifact_type: Option<String>,
    /// Its `org.opencontainers.image.created` annotation (untrusted; ordering only).
    pub created: Option<String>,
}

/// A descriptor that was listed but is not a candidate, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct SkippedReferrer {
    /// The referrer manifest digest.
    pub manifest_digest: Digest,
    /// Why it was skipped.
    pub reason: RegistryError,
}

/// The result of [`RegistryClient::discover_signatures`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Discovery {
    /// Where the list came from.
    pub source: DiscoverySource,
    /// Candidates, newest first. Empty means the registry lists no signatures for the digest.
    pub candidates: Vec<SignatureCandidate>,
    /// Listed descriptors that turned out not to be candidates (decided by fetching them).
    pub skipped: Vec<SkippedReferrer>,
    /// True when a limit cut the list (pages, descriptors or candidates).
    pub truncated: bool,
}

/// A candidate's bundle, fetched by digest and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureBundle {
    /// The referrer manifest digest.
    pub manifest_digest: Digest,
    /// The bundle layer's digest.
    pub bundle_digest: Digest,
    /// The bundle layer's media type.
    pub media_type: String,
    /// The bundle JSON.
    pub bytes: Bytes,
}

enum Listing {
    Found {
        descriptors: Vec<Descriptor>,
        truncated: bool,
    },
    NoReferrersApi,
}

impl RegistryClient {
    /// Lists the Sigstore signature candidates for `digest` in `repo`. See the module docs.
    pub async fn discover_signatures(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Discovery, RegistryError> {
        let (source, descriptors, mut truncated) = match self.list_referrers(repo, digest).await? {
            Listing::Found {
                descriptors,
                truncated,
            } => (DiscoverySource::ReferrersApi, descriptors, truncated),
            Listing::NoReferrersApi => {
                let (descriptors, truncated) = self.list_fallback(repo, digest).await?;
                (DiscoverySource::FallbackTag, descriptors, truncated)
            }
        };
        let mut seen = HashSet::new();
        let mut candidates = Vec::new();
        let mut skipped = Vec::new();
        for d in descriptors {
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            let artifact_type = d
                .artifact_type
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty());
            match artifact_type {
                Some(t) if is_bundle_media_type(t) => candidates.push(SignatureCandidate {
                    manifest_digest: d.digest.clone(),
                    artifact_type: Some(t.to_owned()),
                    created: d.annotations.get(ANNOTATION_CREATED).cloned(),
                }),
                None | Some(OCI_EMPTY) => match self.classify_untyped(repo, digest, &d).await {
                    Ok(c) => candidates.push(c),
                    Err(e) if e.kind() == RegistryErrorKind::Unavailable => return Err(e),
                    Err(reason) => skipped.push(SkippedReferrer {
                        manifest_digest: d.digest.clone(),
                        reason,
                    }),
                },
                Some(_) => {}
            }
        }
        // Newest first; undated ones last, in listing order.
        candidates.sort_by_key(|c| std::cmp::Reverse(created_key(c)));
        if candidates.len() > self.limits().max_candidates {
            candidates.truncate(self.limits().max_candidates);
            truncated = true;
        }
        Ok(Discovery {
            source,
            candidates,
            skipped,
            truncated,
        })
    }

    /// Fetches `candidate`'s referrer manifest by digest, checks that its subject is one of
    /// `subjects` (the digest it was listed for; a caller verifying a platform child may also
    /// pass the index digest), that it carries exactly one Sigstore bundle layer, and fetches
    /// that layer by digest, capped at [`crate::Limits::max_bundle_bytes`].
    pub async fn fetch_signature_bundle(
        &self,
        repo: &Repository,
        candidate: &Digest,
        subjects: &[Digest],
    ) -> Result<SignatureBundle, RegistryError> {
        let (manifest, _) = self
            .fetch_referrer_manifest(repo, candidate, subjects)
            .await?;
        let not_bundle = |reason: String| RegistryError::NotABundle {
            manifest: candidate.clone(),
            reason,
        };
        let [layer] = manifest.layers.as_slice() else {
            return Err(not_bundle(format!(
                "{} layers, expected exactly 1 bundle layer",
                manifest.layers.len()
            )));
        };
        let typed = manifest
            .artifact_type
            .as_deref()
            .is_some_and(is_bundle_media_type)
            || is_bundle_media_type(&layer.media_type);
        if !typed {
            return Err(not_bundle(format!(
                "artifactType {:?} and layer media type {:?} are not Sigstore bundle types",
                manifest.artifact_type.as_deref().unwrap_or(""),
                layer.media_type
            )));
        }
        let limit = self.limits().max_bundle_bytes;
        let url = self.repo_url(repo, &format!("blobs/{}", layer.digest))?;
        if layer.size > limit {
            return Err(RegistryError::TooLarge {
                url: url.to_string(),
                what: "bundle",
                limit,
            });
        }
        let bytes = self.fetch_blob(repo, &layer.digest, layer.size).await?;
        if bytes.len() as u64 != layer.size {
            return Err(RegistryError::SizeMismatch {
                url: url.to_string(),
                expected: layer.size,
                actual: bytes.len() as u64,
            });
        }
        Ok(SignatureBundle {
            manifest_digest: candidate.clone(),
            bundle_digest: layer.digest.clone(),
            media_type: layer.media_type.clone(),
            bytes,
        })
    }

    async fn fetch_referrer_manifest(
        &self,
        repo: &Repository,
        candidate: &Digest,
        subjects: &[Digest],
    ) -> Result<(ImageManifest, String), RegistryError> {
        let fetched = self.fetch_manifest(repo, candidate).await?;
        let url = self.repo_url(repo, &format!("manifests/{candidate}"))?;
        let manifest: ImageManifest = parse_document(&url, &fetched.bytes, "referrer manifest")?;
        let found = manifest.subject.as_ref().map(|s| s.digest.clone());
        if !found.as_ref().is_some_and(|f| subjects.contains(f)) {
            return Err(RegistryError::SubjectMismatch {
                manifest: candidate.clone(),
                expected: subjects
                    .first()
                    .cloned()
                    .unwrap_or_else(|| candidate.clone()),
                found: found.map(String::from),
            });
        }
        Ok((manifest, fetched.media_type))
    }

    /// Decides a descriptor without a usable artifactType by fetching its manifest.
    async fn classify_untyped(
        &self,
        repo: &Repository,
        subject: &Digest,
        d: &Descriptor,
    ) -> Result<SignatureCandidate, RegistryError> {
        let (manifest, _) = self
            .fetch_referrer_manifest(repo, &d.digest, std::slice::from_ref(subject))
            .await?;
        let layer_type = match manifest.layers.as_slice() {
            [layer] if is_bundle_media_type(&layer.media_type) => Some(layer.media_type.clone()),
            _ => None,
        };
        let artifact_type = manifest
            .artifact_type
            .clone()
            .filter(|t| is_bundle_media_type(t))
            .or(layer_type)
            .ok_or_else(|| RegistryError::NotABundle {
                manifest: d.digest.clone(),
                reason: "neither its artifactType nor a single layer is a Sigstore bundle"
                    .to_owned(),
            })?;
        let created = manifest
            .annotations
            .get(ANNOTATION_CREATED)
            .or_else(|| d.annotations.get(ANNOTATION_CREATED))
            .cloned();
        Ok(SignatureCandidate {
            manifest_digest: d.digest.clone(),
            artifact_type: Some(artifact_type),
            created,
        })
    }

    async fn list_referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Listing, RegistryError> {
        let limits = self.limits().clone();
        let filter: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("artifactType", SIGSTORE_BUNDLE_V03)
            .finish();
        let mut url = self.repo_url(repo, &format!("referrers/{digest}?{filter}"))?;
        let mut descriptors = Vec::new();
        let mut seen_pages = HashSet::new();
        let mut truncated = false;
        let mut page = 0usize;
        loop {
            page += 1;
            seen_pages.insert(url.to_string());
            let resp = self
                .send(
                    repo,
                    url.clone(),
                    RequestOptions {
                        accept: OCI_INDEX,
                        whole_timeout: true,
                    },
                )
                .await?;
            let status = resp.status().as_u16();
            if page == 1 && matches!(status, 404 | 400 | 406) {
                return Ok(Listing::NoReferrersApi);
            }
            if !resp.status().is_success() {
                return Err(status_error(&url, resp).await);
            }
            let is_index = content_type(resp.headers()).is_some_and(|t| t == OCI_INDEX);
            if page == 1 && !is_index {
                return Ok(Listing::NoReferrersApi);
            }
            let next = next_link(&url, resp.headers());
            let body = self
                .read_capped(&url, resp, limits.max_manifest_bytes, "referrers page")
                .await?;
            let index: ImageIndex = parse_document(&url, &body, "referrers index")?;
            for d in index.manifests {
                if descriptors.len() >= limits.max_referrers {
                    truncated = true;
                    break;
                }
                descriptors.push(d);
            }
            let Some(next) = next else { break };
            if truncated || seen_pages.contains(next.as_str()) {
                break;
            }
            if page >= limits.max_referrer_pages {
                truncated = true;
                break;
            }
            url = next;
        }
        Ok(Listing::Found {
            descriptors,
            truncated,
        })
    }

    async fn list_fallback(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<(Vec<Descriptor>, bool), RegistryError> {
        let tag = format!("manifests/sha256-{}", digest.hex());
        let (url, resp) = self.get(repo, &tag, MANIFEST_ACCEPT, true).await?;
        if resp.status().as_u16() == 404 {
            return Ok((Vec::new(), false));
        }
        if !resp.status().is_success() {
            return Err(status_error(&url, resp).await);
        }
        let body = self
            .read_capped(
                &url,
                resp,
                self.limits().max_manifest_bytes,
                "referrers tag index",
            )
            .await?;
        let index: ImageIndex = parse_document(&url, &body, "referrers tag index")?;
        let mut descriptors = index.manifests;
        let truncated = descriptors.len() > self.limits().max_referrers;
        descriptors.truncate(self.limits().max_referrers);
        Ok((descriptors, truncated))
    }
}

/// The `Link: <url>; rel="next"` target, resolved against the current page and kept only if
/// it stays on the same origin (credentials and limits apply per registry).
fn next_link(current: &Url, headers: &reqwest::header::HeaderMap) -> Option<Url> {
    for value in headers.get_all(LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let mut parts = link.split(';');
            let target = parts.next()?.trim();
            let is_next = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if !is_next {
                continue;
            }
            let target = target.strip_prefix('<')?.strip_suffix('>')?;
            let next = current.join(target).ok()?;
            if next.origin() == current.origin() {
                return Some(next);
            }
            return None;
        }
    }
    None
}

fn created_key(c: &SignatureCandidate) -> (bool, i64, String) {
    match &c.created {
        Some(text) => match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(t) => (
                true,
                t.timestamp_nanos_opt().unwrap_or(i64::MAX),
                String::new(),
            ),
            Err(_) => (true, i64::MIN, text.clone()),
        },
        None => (false, 0, String::new()),
    }
}
