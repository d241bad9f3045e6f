//! Verified, atomic installation of OCI images.
//!
//! The spine every command follows: an image string is parsed once into an
//! [`ImageLocation`] (registry reference or `oci-layout:`); [`Downloader::open`] gives the one
//! [`ImageSource`] for it, which serves the image AND its signatures (every image source is a
//! `SignatureSource`); [`Downloader::pin`] resolves it once and returns the [`PinnedImage`]
//! (subject with digest, media type, platform child, the index bytes it was selected from, the
//! layers); the verifier decides on that subject with signatures from the same source
//! ([`Downloader::verify`] stops there); [`Downloader::pull`] then fetches the layers by digest
//! (streamed to temporary files, size- and digest-checked, bounded parallelism, flat memory),
//! extracts them safely into a staging directory beside the destination and renames it into
//! place. Any error or cancellation leaves the destination as it was.
//! A [`TreeListing`] (and its digest) describes an installed tree, for receipts and
//! `verify-installed`.
//!
//! Sources: [`RegistrySource`] (`trustpull-referrers`), [`MirroredSource`] (a registry's
//! mirrors first, then the registry: [`DownloaderBuilder::mirrors`]), [`LayoutSource`] (a local
//! OCI image layout, verified exactly like a registry), [`ArchiveSource`] (`ocifile://`, an OCI
//! image archive read as its layout), or any [`ImageSource`] a caller implements.
//! [`Downloader::stage_tarball`] installs an HTTP(S) or `file://` tarball checked against its sha256 with the
//! same extractor and atomic install (no signature: the sha256 is the check).
//!
//! It knows only the verifier trait, never an implementation; it reads no environment and
//! prints nothing.
//!
//! ```no_run
//! use std::sync::Arc;
//! use trustpull_downloader::{Downloader, ImageLocation};
//! use trustpull_verifier::NoopVerifier;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let downloader = Downloader::builder()
//!     .verifier(Arc::new(NoopVerifier::new("demo: installing without a policy on purpose")))
//!     .build()?;
//! let image = ImageLocation::parse("oci-layout:examples/demo-image:v1")?;
//! let outcome = downloader.pull(&image, "/tmp/demo".as_ref()).await?;
//! assert_eq!(outcome.dest, std::path::PathBuf::from("/tmp/demo"));
//! # Ok(()) }
//! ```

mod archive;
mod downloader;
mod error;
mod extract;
mod layout;
mod limits;
mod location;
mod mirror;
mod pin;
mod progress;
mod registry;
mod source;
mod tarball;
mod tree;

pub use archive::ArchiveSource;
pub use downloader::{
    Downloader, DownloaderBuilder, MissingVerifier, PullOutcome, StagedImage, VerifiedImage,
};
pub use error::{error_chain, error_messages, ErrorKind, PullError};
/// Entry point for the fuzz targets under `fuzz/` (built only with `--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub use extract::fuzz_extract;
pub use extract::{Compression, ExtractError, ExtractStats, UnsafeReason, MAX_METADATA_BYTES};
pub use layout::LayoutSource;
pub use limits::PullLimits;
pub use location::{
    ImageLocation, LayoutLocation, LayoutSelector, LocationError, ARCHIVE_REGISTRY, ARCHIVE_SCHEME,
    LAYOUT_REGISTRY, LAYOUT_SCHEME,
};
pub use mirror::{MirroredSource, RegistryMirrors};
pub use pin::{host_platform, PinnedImage, PlatformChoice};
pub use progress::{NoProgress, ProgressEvent, ProgressObserver};
pub use registry::RegistrySource;
pub use source::{
    BlobStream, BoxError, ImageSource, ImageSourceError, SourceDocument, SourceLocation,
};
pub use tarball::tarball_compression;
pub use tree::{
    recover_sidecar, recover_sidecars_in, remove, DestinationError, Removed, Sidecar, TreeChange,
    TreeDifference, TreeEntry, TreeEntryKind, TreeError, TreeListing,
};
pub use trustpull_referrers::{Platform, PlatformParseError};

/// What to do when the destination directory already exists and is not empty.
///
/// A missing destination or an empty directory is always replaced by one atomic rename. A
/// symlink or a file at the destination is always refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExistingDestination {
    /// Refuse before anything is fetched (the default).
    #[default]
    Refuse,
    /// Swap it out: exchange the old tree and the new one in one `renameat2(RENAME_EXCHANGE)`
    /// (two renames where the filesystem lacks it), then delete the old tree; if anything after
    /// the swap fails the old tree is swapped back.
    Replace,
}
