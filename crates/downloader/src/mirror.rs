//! Registry mirrors (containerd `hosts.toml` semantics): [`RegistryMirrors`] maps
//! an upstream host to the hosts that serve its content first, and [`MirroredSource`] is the one
//! source of an image with mirrors.
//!
//! Decisions:
//! - The host is chosen when the image is resolved: each mirror in order, then the upstream,
//!   at the same repository path (`quay.io/acme/b:v1` → `MIRROR/acme/b:v1`; Docker Hub's
//!   `library/` included). A mirror that is unavailable (connection refused, timeout, 5xx, 401,
//!   429) or that does not have the image (404, as Spegel answers for content no peer holds) is
//!   skipped. Anything else it answers is final: content that is wrong (a digest other than the
//!   pinned one, a document that does not parse) is a rejection, never a reason to ask the next
//!   host.
//! - After that, every manifest, blob AND signature is read from the host that resolved the
//!   image, as a pull-through cache serves them; a manifest or blob (by digest) that host
//!   cannot serve (unavailable, 404) is asked of the hosts after it, the upstream last, as
//!   containerd does per request. Trust does not depend on the host: the
//!   downloader checks every byte against the pinned digests and the verifier checks the
//!   signatures, so a rejection is final whichever host served. A mirror that holds the image
//!   but not its signatures therefore makes the verifier reject; mirror with a pull-through
//!   cache (which fetches the signature tags from the upstream too), not with a copy of the
//!   image alone.
//! - The subject (registry and repository in receipts and cache keys) is the upstream's: the
//!   mirror is where bytes came from, not what the image is.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use trustpull_policy::Digest;
use trustpull_referrers::{DiscoveryOptions, ImageReference, RegistryClient};
use trustpull_verifier::{
    CandidateList, ImageSubject, LegacyKind, LegacySignature, SignatureCandidate, SignatureSource,
    SignatureSourceError,
};

use crate::location::ImageLocation;
use crate::source::{BlobStream, ImageSource, ImageSourceError, SourceDocument, SourceLocation};
use crate::{NoProgress, ProgressEvent, ProgressObserver, RegistrySource};

/// Upstream registry host → its mirrors (`host[:port]`, in the order they are tried). Hosts are
/// written as in image references (`docker.io` for Docker Hub).
///
/// ```
/// use trustpull_downloader::RegistryMirrors;
/// let mirrors = RegistryMirrors::default().with_mirror("quay.io", "127.0.0.1:5000");
/// assert_eq!(mirrors.mirrors_of("quay.io"), ["127.0.0.1:5000"]);
/// assert!(mirrors.mirrors_of("ghcr.io").is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryMirrors {
    hosts: BTreeMap<String, Vec<String>>,
}

impl RegistryMirrors {
    /// Adds `mirror` after the mirrors `upstream` already has.
    #[must_use]
    pub fn with_mirror(mut self, upstream: impl Into<String>, mirror: impl Into<String>) -> Self {
        self.hosts
            .entry(upstream.into())
            .or_default()
            .push(mirror.into());
        self
    }

    /// The mirrors of `upstream`, in order (empty when it has none).
    pub fn mirrors_of(&self, upstream: &str) -> &[String] {
        self.hosts.get(upstream).map_or(&[], Vec::as_slice)
    }

    /// True when no host has a mirror.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

/// One image served by its mirrors first, then its upstream (see the module docs).
#[derive(Debug)]
pub struct MirroredSource {
    /// The mirrors in order, the upstream last.
    hosts: Vec<RegistrySource>,
    upstream: ImageReference,
    /// The index in `hosts` of the host that resolved the image.
    served: OnceLock<usize>,
    progress: Arc<dyn ProgressObserver>,
}

impl MirroredSource {
    /// The image `upstream` names, read from `mirrors` (in order) first, then from its own
    /// registry, through `client`. A mirror that is not a `host[:port]` is a
    /// [`ImageSourceError::BadReference`].
    pub fn new(
        client: &RegistryClient,
        upstream: &ImageReference,
        mirrors: &[String],
        discovery: &DiscoveryOptions,
    ) -> Result<Self, ImageSourceError> {
        let mut hosts = Vec::with_capacity(mirrors.len() + 1);
        for mirror in mirrors {
            let reference = on_host(upstream, mirror)?;
            hosts.push(
                RegistrySource::new(client.clone(), reference).with_discovery(discovery.clone()),
            );
        }
        hosts.push(
            RegistrySource::new(client.clone(), upstream.clone()).with_discovery(discovery.clone()),
        );
        Ok(Self {
            hosts,
            upstream: upstream.clone(),
            served: OnceLock::new(),
            progress: Arc::new(NoProgress),
        })
    }

    /// Reports which host served ([`ProgressEvent::ServedBy`]) to `progress`.
    #[must_use]
    pub fn with_progress(mut self, progress: Arc<dyn ProgressObserver>) -> Self {
        self.progress = progress;
        self
    }

    /// The host that resolved the image (a mirror or the upstream), once it has been resolved.
    pub fn served_by(&self) -> Option<&str> {
        self.served
            .get()
            .and_then(|&i| self.hosts.get(i))
            .map(|h| h.image().repository().registry())
    }

    /// The host every read after resolution goes to (the upstream until one resolved).
    fn host(&self) -> &RegistrySource {
        let last = self.hosts.len() - 1;
        &self.hosts[*self.served.get().unwrap_or(&last)]
    }

    /// Where a manifest or blob is asked for by digest: the host that resolved, then the hosts
    /// after it (the upstream last). Content by digest is checked by the downloader whoever
    /// serves it, so a host that fails part-way (unavailable, or lacking a blob) costs a
    /// retry elsewhere, never trust.
    fn by_digest_order(&self) -> impl Iterator<Item = &RegistrySource> {
        let last = self.hosts.len() - 1;
        self.hosts[*self.served.get().unwrap_or(&last)..].iter()
    }

    fn no_host(&self) -> ImageSourceError {
        ImageSourceError::BadReference {
            reference: self.upstream.to_string(),
            reason: "no host to read it from".to_owned(),
        }
    }
}

/// `upstream`'s repository, tag and digest on `mirror`.
fn on_host(upstream: &ImageReference, mirror: &str) -> Result<ImageReference, ImageSourceError> {
    let mut text = format!("{mirror}/{}", upstream.repository().name());
    if let Some(tag) = upstream.tag() {
        text = format!("{text}:{tag}");
    }
    if let Some(digest) = upstream.digest() {
        text = format!("{text}@{digest}");
    }
    let reference = ImageReference::parse(&text).map_err(|e| ImageSourceError::BadReference {
        reference: text.clone(),
        reason: format!(
            "mirror {mirror:?} of {}: {e}",
            upstream.repository().registry()
        ),
    })?;
    // A mirror written without a dot or port (`mirror/x`) would parse as a Docker Hub path.
    if reference.repository().registry() != mirror {
        return Err(ImageSourceError::BadReference {
            reference: text,
            reason: format!("mirror {mirror:?} is not a registry host[:port]"),
        });
    }
    Ok(reference)
}

#[async_trait]
impl ImageSource for MirroredSource {
    fn location(&self) -> SourceLocation {
        (&ImageLocation::Registry(self.upstream.clone())).into()
    }

    async fn resolve(&self) -> Result<SourceDocument, ImageSourceError> {
        let last = self.hosts.len() - 1;
        let mut skipped = Vec::new();
        for (i, host) in self.hosts.iter().enumerate() {
            let name = host.image().repository().registry().to_owned();
            match host.resolve().await {
                Ok(document) => {
                    // Resolved once per source: a second call keeps the first host.
                    let _ = self.served.set(i);
                    self.progress.on_event(&ProgressEvent::ServedBy {
                        upstream: self.upstream.repository().registry().to_owned(),
                        host: name,
                        skipped,
                    });
                    return Ok(document);
                }
                // A mirror that is down or lacks the image is skipped; the upstream's answer
                // (the last host) is final, like every other answer.
                Err(
                    e @ (ImageSourceError::Unavailable { .. } | ImageSourceError::NotFound { .. }),
                ) if i < last => skipped.push(format!("{name}: {}", crate::error_chain(&e))),
                Err(e) => return Err(e),
            }
        }
        Err(self.no_host())
    }

    async fn fetch_manifest(&self, digest: &Digest) -> Result<SourceDocument, ImageSourceError> {
        let mut last = None;
        for host in self.by_digest_order() {
            match host.fetch_manifest(digest).await {
                Err(
                    e @ (ImageSourceError::Unavailable { .. } | ImageSourceError::NotFound { .. }),
                ) => {
                    last = Some(e);
                }
                answer => return answer,
            }
        }
        Err(last.unwrap_or_else(|| self.no_host()))
    }

    async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, ImageSourceError> {
        let mut last = None;
        for host in self.by_digest_order() {
            match host.open_blob(digest).await {
                Err(
                    e @ (ImageSourceError::Unavailable { .. } | ImageSourceError::NotFound { .. }),
                ) => {
                    last = Some(e);
                }
                answer => return answer,
            }
        }
        Err(last.unwrap_or_else(|| self.no_host()))
    }
}

#[async_trait]
impl SignatureSource for MirroredSource {
    async fn candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<CandidateList, SignatureSourceError> {
        self.host().candidates(subject, digest).await
    }

    async fn bundle(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        self.host().bundle(subject, candidate).await
    }

    async fn legacy_candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
        referrers: &[SignatureCandidate],
        kind: LegacyKind,
    ) -> Result<CandidateList, SignatureSourceError> {
        self.host()
            .legacy_candidates(subject, digest, referrers, kind)
            .await
    }

    async fn legacy_signature(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<LegacySignature, SignatureSourceError> {
        self.host().legacy_signature(subject, candidate).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_references_keep_the_repository_path() {
        let d = Digest::of(b"x");
        for (upstream, mirror, expected) in [
            (
                "quay.io/acme/b:v1",
                "127.0.0.1:5000",
                "127.0.0.1:5000/acme/b:v1",
            ),
            (
                "localai/x:tag",
                "mirror.internal",
                "mirror.internal/localai/x:tag",
            ),
            (
                "alpine",
                "m.example:443",
                "m.example:443/library/alpine:latest",
            ),
        ] {
            let upstream = ImageReference::parse(upstream).expect("valid");
            assert_eq!(
                on_host(&upstream, mirror)
                    .expect("valid mirror")
                    .to_string(),
                expected
            );
        }
        let pinned = ImageReference::parse(&format!("quay.io/a/b@{d}")).expect("valid");
        assert_eq!(
            on_host(&pinned, "127.0.0.1:5000").expect("valid").digest(),
            Some(&d)
        );
        let upstream = ImageReference::parse("quay.io/a/b:v1").expect("valid");
        for bad in ["mirror", "http://127.0.0.1:5000", "", "a b"] {
            assert!(on_host(&upstream, bad).is_err(), "{bad}");
        }
    }
}
