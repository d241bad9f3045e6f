//! [`ImageSubject`]: the image a verifier is asked about, pinned by digest.

use std::fmt;

use trustpull_policy::{Digest, Platform};

/// An image pinned by digest: what [`crate::ImageVerifier::verify`] decides about.
///
/// When the manifest was selected from an index (multi-arch), [`ImageSubject::index_digest`]
/// is the index it was read from and [`ImageSubject::index_bytes`] the index document itself,
/// fetched by that digest; a verifier that accepts an index signature checks that these bytes
/// hash to the index digest and list the manifest for [`ImageSubject::platform`], so an index signature vouches only for the children it really names.
///
/// ```
/// use trustpull_verifier::ImageSubject;
/// let d = trustpull_policy::Digest::of(b"manifest");
/// let s = ImageSubject::new("ghcr.io", "acme/b", d.clone(), "application/vnd.oci.image.manifest.v1+json");
/// assert_eq!(s.to_string(), format!("ghcr.io/acme/b@{d}"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageSubject {
    registry: String,
    repository: String,
    digest: Digest,
    media_type: String,
    index: Option<IndexOrigin>,
    platform: Option<Platform>,
}

/// The index a manifest was selected from: its digest and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct IndexOrigin {
    digest: Digest,
    bytes: Vec<u8>,
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
            index: None,
            platform: None,
        }
    }

    /// Records that the manifest was selected from the index with digest `index`, whose
    /// document is `bytes` (as fetched by that digest).
    #[must_use]
    pub fn with_index(mut self, index: Digest, bytes: impl Into<Vec<u8>>) -> Self {
        self.index = Some(IndexOrigin {
            digest: index,
            bytes: bytes.into(),
        });
        self
    }

    /// Records the platform the manifest was selected for.
    #[must_use]
    pub fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
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
        self.index.as_ref().map(|i| &i.digest)
    }

    /// The index document the manifest was selected from, if any.
    pub fn index_bytes(&self) -> Option<&[u8]> {
        self.index.as_ref().map(|i| i.bytes.as_slice())
    }

    /// The platform the manifest was selected for, if it came from an index.
    pub fn platform(&self) -> Option<&Platform> {
        self.platform.as_ref()
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
