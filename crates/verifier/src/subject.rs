//! [`ImageSubject`]: the image a verifier is asked about, pinned by digest.

use std::fmt;

use serde::{Deserialize, Serialize};
use trustpull_policy::Digest;

/// An image pinned by digest: what [`crate::ImageVerifier::verify`] decides about.
///
/// When the manifest was selected from an index (multi-arch), [`ImageSubject::index_digest`]
/// is the index it was read from; the caller must have fetched that index by its digest, so the
/// child digest is vouched for by an index signature too (DESIGN.md §6).
///
/// ```
/// use trustpull_verifier::ImageSubject;
/// let d = trustpull_policy::Digest::of(b"manifest");
/// let s = ImageSubject::new("ghcr.io", "acme/b", d.clone(), "application/vnd.oci.image.manifest.v1+json");
/// assert_eq!(s.to_string(), format!("ghcr.io/acme/b@{d}"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageSubject {
    registry: String,
    repository: String,
    digest: Digest,
    media_type: String,
    index_digest: Option<Digest>,
}

impl ImageSubject {
    /// An image manifest `registry/repository@digest` with its media type.
    pub fn new(
        registry: impl Into<String>,
        repository: impl Into<String>,
        digest: Digest,
        media_type: impl Into<String>,
    ) -> Self {
        Self {
            registry: registry.into(),
            repository: repository.into(),
            digest,
            media_type: media_type.into(),
            index_digest: None,
        }
    }

    /// Records that the manifest was selected from the index with digest `index`.
    #[must_use]
    pub fn with_index(mut self, index: Digest) -> Self {
        self.index_digest = Some(index);
        self
    }

    /// The registry host (`ghcr.io`, `127.0.0.1:5000`), or a layout marker such as `oci-layout`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path (`acme/backend`), or the layout path.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The manifest digest being verified.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The manifest media type.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The index digest the manifest was selected from, if any.
    pub fn index_digest(&self) -> Option<&Digest> {
        self.index_digest.as_ref()
    }

    /// `registry/repository`, for messages.
    pub fn name(&self) -> String {
        if self.registry.is_empty() {
            self.repository.clone()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }
}

impl fmt::Display for ImageSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name(), self.digest)
    }
}
