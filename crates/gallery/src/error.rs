//! [`InstallError`]: why an install, upgrade, uninstall or check could not run, and its
//! [`kind`](InstallError::kind) (rejected / unavailable / config), which the CLI maps to an
//! exit code and the install flow uses to decide whether a mirror may be tried.

use std::path::PathBuf;

use trustpull_downloader::{DestinationError, ErrorKind, LocationError, PullError};
use trustpull_referrers::RegistryError;
use trustpull_verifier::TrustRootError;

use crate::{IndexError, LookupError};

/// Why an install or a check could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// No configured gallery has the backend.
    #[error("no configured gallery has a backend named {name:?} (searched: {searched:?}); run `trustpull list` to see what is offered")]
    UnknownBackend {
        /// The name asked for.
        name: String,
        /// The galleries searched, in order.
        searched: Vec<String>,
    },
    /// A gallery's index could not be read (a local file, or a URL and its mirrors).
    #[error("gallery {gallery:?}")]
    IndexSource {
        /// The gallery.
        gallery: String,
        /// Why; its `kind()` says whether a retry may help.
        #[source]
        source: Box<crate::IndexSourceError>,
    },
    /// A gallery's index does not parse.
    #[error("gallery {gallery:?}: bad index: {source}")]
    Index {
        /// The gallery.
        gallery: String,
        /// The parse error.
        source: IndexError,
    },
    /// The name exists but does not resolve (meta entry without the capability, chains...).
    #[error("gallery {gallery:?}: {source}")]
    Lookup {
        /// The gallery.
        gallery: String,
        /// The lookup error.
        source: LookupError,
    },
    /// The trust root could not be loaded.
    #[error("cannot load the trust root")]
    TrustRoot {
        /// The trust root error.
        #[from]
        source: TrustRootError,
    },
    /// The registry client could not be built.
    #[error("cannot set up the registry client")]
    Registry {
        /// The registry error.
        #[from]
        source: RegistryError,
    },
    /// Strict mode refused: the gallery has no policy.
    #[error("refusing to install {name:?} from gallery {gallery:?}: {reason}")]
    StrictRefusal {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// The reason and what to do.
        reason: String,
    },
    /// The decision table refused the location.
    #[error("refusing to install {name:?} from {location:?} (gallery {gallery:?}): {reason}")]
    Refused {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// The location refused.
        location: String,
        /// The reason and what to do.
        reason: String,
    },
    /// `upgrade --dry-run` met a tarball entry without a sha256: its content is known only by
    /// downloading it, which a dry run does not do.
    #[error("backend {name:?} (gallery {gallery:?}) is a tarball at {url} without a sha256: a dry run cannot tell whether it changed without downloading it; run `trustpull upgrade` without --dry-run, or add its sha256 to the index")]
    TarballUpgrade {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// The tarball URL.
        url: String,
    },
    /// The pull failed.
    #[error("backend {name:?} (gallery {gallery:?}) from {reference}: {source}")]
    Pull {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// The location pulled.
        reference: String,
        /// The pull error.
        source: Box<PullError>,
    },
    /// The primary and every mirror were unavailable; `last` is the last error.
    #[error("backend {name:?}: every location was unavailable ({tried:?}); retry later; last error: {source}")]
    AllUnavailable {
        /// The backend.
        name: String,
        /// The locations tried, in order.
        tried: Vec<String>,
        /// The last error.
        source: Box<InstallError>,
    },
    /// An index entry's location is not an image reference or `oci-layout:` path.
    #[error("backend {name:?} (gallery {gallery:?}) has an unusable location")]
    BadLocation {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// What is wrong with it.
        #[source]
        source: LocationError,
    },
    /// An install directory would not be a direct child of the destination.
    #[error("backend name {name:?} does not name a directory directly inside {}; nothing was written", dest.display())]
    OutsideDestination {
        /// The name.
        name: String,
        /// The destination root.
        dest: PathBuf,
    },
    /// The install directory to check does not exist.
    #[error("{} does not exist; pass the --dest an install used", path.display())]
    NoInstallDir {
        /// The directory.
        path: PathBuf,
    },
    /// A receipt left pending by a crashed install could not be settled.
    #[error("cannot settle the receipts left pending in {}", path.display())]
    Recover {
        /// The install directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: DestinationError,
    },
    /// The receipt could not be written or read.
    #[error("receipt {}", path.display())]
    ReceiptIo {
        /// The receipt file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No installed backend answers to the name (its concrete name, meta name or alias).
    #[error("no backend named {name:?} is installed in {}; `trustpull list --installed --dest {}` shows what is", dest.display(), dest.display())]
    NotInstalled {
        /// The name asked for.
        name: String,
        /// The install directory.
        dest: PathBuf,
    },
    /// Several installed backends answer to the name (a meta name installed for two
    /// capabilities); removing one would be a guess.
    #[error("{name:?} names several installed backends ({}); uninstall one of them by its own name", candidates.join(", "))]
    AmbiguousInstalled {
        /// The name asked for.
        name: String,
        /// The concrete names it matches.
        candidates: Vec<String>,
    },
    /// Removing an installed tree failed.
    #[error("cannot uninstall {name:?}")]
    Uninstall {
        /// The backend.
        name: String,
        /// What failed.
        #[source]
        source: DestinationError,
    },
    /// The verifier factory refused to give a verifier for this plan cell.
    #[error("refusing to verify {name:?} from {location:?} (gallery {gallery:?}): {reason}")]
    NoVerifier {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// The location.
        location: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A receipt names another backend than its file name does (edited or copied by hand):
    /// acting on it could touch another backend's tree.
    #[error("receipt {} names backend {name:?}, not the one its file name says; restore it or remove the backend's files by hand", path.display())]
    ReceiptMismatch {
        /// The receipt file.
        path: PathBuf,
        /// The name inside it.
        name: String,
    },
    /// The receipt could not be encoded or decoded.
    #[error("receipt {} is not valid JSON of the expected shape", path.display())]
    ReceiptJson {
        /// The receipt file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

impl InstallError {
    /// How to treat the error: rejected (exit 1), config (exit 2) or unavailable (exit 3).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::StrictRefusal { .. } | Self::Refused { .. } | Self::NoVerifier { .. } => {
                ErrorKind::Rejected
            }
            Self::Pull { source, .. } => source.kind(),
            Self::IndexSource { source, .. } => source.kind(),
            Self::AllUnavailable { .. } => ErrorKind::Unavailable,
            // Everything else is local (an unreadable index or trust-root file, a receipt that
            // cannot be written, a bad name or location): exit 2, and never a reason to try a mirror.
            _ => ErrorKind::Config,
        }
    }
}
