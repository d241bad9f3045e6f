//! [`ProgressObserver`]: what a pull reports while it runs, for progress bars and logs.

use std::fmt::Debug;
use std::path::PathBuf;

use trustpull_policy::Digest;

use crate::{ExtractStats, Platform};

/// One step of a pull, in the order they happen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// The reference was resolved (once) to this digest.
    Resolved {
        /// The reference as given.
        reference: String,
        /// The digest of the manifest or index it named.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// An image of a host with registry mirrors was resolved by `host` (a mirror, or the
    /// upstream after every mirror was skipped); everything else of the image is read there.
    ServedBy {
        /// The upstream registry host the image names.
        upstream: String,
        /// The host that resolved it.
        host: String,
        /// The hosts skipped before it, each with why (unavailable, or it lacks the image).
        skipped: Vec<String>,
    },
    /// A child was selected from an index.
    PlatformSelected {
        /// The platform asked for.
        platform: Platform,
        /// The child manifest digest.
        digest: Digest,
    },
    /// The verifier passed the image.
    Verified {
        /// The manifest digest.
        digest: Digest,
        /// The signing identity.
        identity: String,
    },
    /// The verifier checked nothing (a `NoopVerifier`): warn the user.
    Unverified {
        /// The manifest digest.
        digest: Digest,
        /// Why nothing was checked.
        reason: String,
    },
    /// A layer download started.
    LayerStarted {
        /// Layer position (0-based) in the manifest.
        index: usize,
        /// The layer count.
        count: usize,
        /// The layer digest.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// Bytes of a layer arrived.
    LayerBytes {
        /// The layer digest.
        digest: Digest,
        /// Bytes received so far.
        received: u64,
        /// The layer size.
        size: u64,
    },
    /// A layer was downloaded and its size and digest checked.
    LayerFinished {
        /// The layer digest.
        digest: Digest,
    },
    /// Extraction of a layer started.
    Extracting {
        /// Layer position (0-based).
        index: usize,
        /// The layer count.
        count: usize,
        /// The layer digest.
        digest: Digest,
    },
    /// The image is installed at the destination.
    Done {
        /// The manifest digest.
        digest: Digest,
        /// The destination.
        dest: PathBuf,
        /// What extraction did.
        stats: ExtractStats,
    },
}

/// Receives [`ProgressEvent`]s. Called from the pulling task and from the extraction thread,
/// so it must be cheap and must not block.
pub trait ProgressObserver: Send + Sync + Debug {
    /// Called once per event.
    fn on_event(&self, event: &ProgressEvent);
}

/// Ignores every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressObserver for NoProgress {
    fn on_event(&self, _event: &ProgressEvent) {}
}
