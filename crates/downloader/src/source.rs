//! [`ImageSource`]: where manifests, layer blobs AND signatures come from (a registry, an OCI
//! image layout, or anything a caller implements), and [`ImageSourceError`].
//!
//! A source is bound to one image. It is trusted for nothing: the downloader checks every byte
//! it returns against the digest and size it asked for, and the verifier checks every
//! signature. Every image source is also the [`SignatureSource`] of that image (a supertrait),
//! so the image and its signatures can never come from two different places by accident.

use std::fmt::Debug;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use trustpull_policy::Digest;
use trustpull_verifier::SignatureSource;

/// An error type a source wraps (registry client errors, IO errors).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A blob body as a stream of chunks. The downloader bounds and hashes it.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, ImageSourceError>> + Send>>;

/// A manifest or index as the source served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDocument {
    /// The media type the source reports (the document's `mediaType`, a `Content-Type`, or the
    /// layout descriptor's type). The downloader re-reads `mediaType` from the bytes when present.
    pub media_type: String,
    /// The raw bytes; the downloader computes their digest itself.
    pub bytes: Bytes,
}

/// Where an image lives, for [`trustpull_verifier::ImageSubject`] and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// Registry host, or `oci-layout` for a local layout.
    pub registry: String,
    /// Repository path, or the layout directory.
    pub repository: String,
    /// The reference as the user gave it, for messages.
    pub reference: String,
    /// The digest the reference pins, if it names one: the downloader checks that
    /// [`ImageSource::resolve`] returned exactly these bytes.
    pub digest: Option<Digest>,
}

/// Why a source could not serve something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageSourceError {
    /// The tag, manifest or blob does not exist there.
    #[error("{what} was not found in {location}; check the reference")]
    NotFound {
        /// The registry or layout.
        location: String,
        /// The tag or digest looked up.
        what: String,
        /// What the registry said, when there was an answer (e.g. `MANIFEST_UNKNOWN`).
        #[source]
        source: Option<BoxError>,
    },
    /// The registry, network or disk failed; a retry may help.
    #[error("{location} is unavailable while reading {what}; retry later")]
    Unavailable {
        /// The registry or layout.
        location: String,
        /// The tag or digest being read.
        what: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The source served content that is wrong (bad document, oversized, digest mismatch).
    #[error("{location} served invalid content for {what}")]
    Invalid {
        /// The registry or layout.
        location: String,
        /// The tag or digest being read.
        what: String,
        /// What was wrong.
        #[source]
        source: BoxError,
    },
    /// The reference itself is malformed or names something the source cannot serve.
    #[error("invalid image reference {reference:?}: {reason}")]
    BadReference {
        /// The reference given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A place to read one image (and its signatures) from. See the module docs.
#[async_trait]
pub trait ImageSource: SignatureSource + Send + Sync + Debug {
    /// Where the image lives.
    fn location(&self) -> SourceLocation;

    /// Resolves the reference ONCE: a tag to the manifest or index it names now; a digest
    /// reference to that document, without any tag lookup.
    async fn resolve(&self) -> Result<SourceDocument, ImageSourceError>;

    /// The manifest (or index) with `digest`.
    async fn fetch_manifest(&self, digest: &Digest) -> Result<SourceDocument, ImageSourceError>;

    /// The blob with `digest`, as a stream.
    async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, ImageSourceError>;
}
