//! Verified, atomic installation of OCI images.
//!
//! A [`Downloader`] resolves a reference once, pins it to a digest, selects the platform child
//! of an index, verifies the pinned digest through an `ImageVerifier` (required: pass a
//! `NoopVerifier` on purpose to install unverified), fetches the layers by digest (streamed to
//! temporary files, size- and digest-checked, bounded parallelism, flat memory), extracts them
//! safely into a staging directory beside the destination, and renames it into place
//! (DESIGN.md §7). Any error or cancellation leaves the destination as it was. A
//! [`TreeListing`] (and its digest) describes an installed tree, for receipts and
//! `verify-installed`.
//!
//! Sources: registries (`trustpull-referrers`) and local OCI image layouts ([`LayoutSource`],
//! which is also a `SignatureSource`, so layout images are verified like registry images), or
//! any [`ImageSource`].
//!
//! It knows only the verifier trait, never an implementation; it reads no environment and
//! prints nothing.
//!
//! ```no_run
//! use std::sync::Arc;
//! use trustpull_downloader::Downloader;
//! use trustpull_verifier::NoopVerifier;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let downloader = Downloader::builder()
//!     .verifier(Arc::new(NoopVerifier::new("demo: installing without a policy on purpose")))
//!     .build()?;
//! let outcome = downloader.pull("oci-layout:examples/demo-image:v1", "/tmp/demo".as_ref()).await?;
//! assert_eq!(outcome.dest, std::path::PathBuf::from("/tmp/demo"));
//! # Ok(()) }
//! ```

mod downloader;
mod error;
mod extract;
mod layout;
mod limits;
mod manifest;
mod progress;
mod registry;
mod source;
mod tree;

pub use downloader::{Downloader, DownloaderBuilder, MissingVerifier, PullOutcome};
pub use error::{ErrorKind, PullError};
pub use extract::{Compression, ExtractError, ExtractStats, UnsafeReason, MAX_METADATA_BYTES};
pub use layout::{LayoutSource, LAYOUT_REGISTRY, SCHEME as LAYOUT_SCHEME};
pub use limits::PullLimits;
pub use progress::{NoProgress, ProgressEvent, ProgressObserver};
pub use registry::RegistrySource;
pub use source::{
    BlobStream, BoxError, ImageSource, ImageSourceError, SourceDocument, SourceLocation,
};
pub use tree::{
    recover_sidecar, DestinationError, Sidecar, TreeChange, TreeDifference, TreeEntry,
    TreeEntryKind, TreeError, TreeListing,
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
