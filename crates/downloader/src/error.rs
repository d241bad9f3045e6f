//! [`PullError`] and its [`ErrorKind`].

use std::path::PathBuf;

use trustpull_policy::Digest;
use trustpull_verifier::VerifyError;

use crate::{DestinationError, ExtractError, ImageSourceError};

/// How a caller should treat a [`PullError`]. Decide on this, never on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Deterministic: the signature or policy check failed, the content is wrong or hostile, or
    /// strict mode refused. Retrying will not help.
    Rejected,
    /// The registry, network, trust root or local disk failed; a retry may help.
    Unavailable,
    /// The caller's input is wrong: a bad reference, a missing image or platform, a destination
    /// that exists.
    Config,
}

/// Why a pull failed. In every case the destination is as it was before the pull and no
/// staging directory or temporary file is left.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// Reading a manifest or blob from the source failed.
    #[error("could not read {image}")]
    Source {
        /// The image reference.
        image: String,
        /// The source's error.
        #[source]
        source: ImageSourceError,
    },
    /// Content did not hash to the digest it was fetched by.
    #[error("{image}: {what} fetched as {expected} hashed to {actual}; the source served tampered or corrupt content, nothing was installed")]
    DigestMismatch {
        /// The image reference.
        image: String,
        /// `manifest`, `index` or `layer`.
        what: &'static str,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// A blob was longer or shorter than its descriptor says.
    #[error("{image}: {what} {digest} is {actual} bytes, its descriptor says {expected}; nothing was installed")]
    SizeMismatch {
        /// The image reference.
        image: String,
        /// `manifest` or `layer`.
        what: &'static str,
        /// The digest.
        digest: Digest,
        /// The descriptor size.
        expected: u64,
        /// The bytes that arrived (a lower bound when the stream was cut off early for being
        /// too long).
        actual: u64,
    },
    /// A manifest or index is over the registry client's `Limits::max_manifest_bytes`.
    #[error("{image}: the manifest is larger than {limit} bytes; raise Limits::max_manifest_bytes of the registry client if it is trusted")]
    ManifestTooLarge {
        /// The image reference.
        image: String,
        /// The limit.
        limit: u64,
    },
    /// A manifest or index does not parse.
    #[error("{image}: {digest} is not a valid manifest or index")]
    InvalidManifest {
        /// The image reference.
        image: String,
        /// Its digest.
        digest: Digest,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest, index child or layer has a media type this crate cannot install.
    #[error("{image}: {digest} has media type {media_type:?}, which is not an installable image manifest or filesystem layer")]
    UnsupportedMediaType {
        /// The image reference.
        image: String,
        /// The digest.
        digest: Digest,
        /// The media type found.
        media_type: String,
    },
    /// No index entry matches the requested platform.
    #[error("{image}: index {index} has no image for platform {wanted}; it offers [{}]; pass one of them as the platform", offered.join(", "))]
    NoMatchingPlatform {
        /// The image reference.
        image: String,
        /// The index digest.
        index: Digest,
        /// The platform asked for (`os/arch[/variant]`).
        wanted: String,
        /// The platforms the index offers.
        offered: Vec<String>,
    },
    /// Several index entries match the requested platform; a variant is needed to choose.
    #[error("{image}: index {index} has several images for platform {wanted} ([{}]); add the variant to the platform", offered.join(", "))]
    AmbiguousPlatform {
        /// The image reference.
        image: String,
        /// The index digest.
        index: Digest,
        /// The platform asked for (`os/arch[/variant]`).
        wanted: String,
        /// The matching platforms.
        offered: Vec<String>,
    },
    /// More layers than [`crate::PullLimits::max_layers`].
    #[error("{image}: the manifest lists {count} layers, more than the limit of {limit}")]
    TooManyLayers {
        /// The image reference.
        image: String,
        /// The count.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Layers larger in total than [`crate::PullLimits::max_download_bytes`].
    #[error("{image}: the layers total {total} bytes, more than the limit of {limit}")]
    DownloadTooLarge {
        /// The image reference.
        image: String,
        /// The sum of the layer sizes.
        total: u64,
        /// The limit.
        limit: u64,
    },
    /// The verifier refused the image (or could not decide). Nothing was fetched past the
    /// manifest.
    #[error("{image}: verification failed, no layer was fetched")]
    Verify {
        /// The image reference.
        image: String,
        /// The verifier's error (boxed: it carries every candidate's rejection).
        #[source]
        source: Box<VerifyError>,
    },
    /// A layer could not be extracted.
    #[error("{image}: layer {layer} could not be extracted; nothing was installed")]
    Extract {
        /// The image reference.
        image: String,
        /// The layer digest.
        layer: Digest,
        /// The extraction error.
        #[source]
        source: ExtractError,
    },
    /// The extraction task was cancelled (the runtime is shutting down); nothing was installed.
    #[error("{image}: the pull was cancelled before it finished; nothing was installed")]
    Cancelled {
        /// The reference.
        image: String,
    },
    /// The destination could not be prepared or the staged tree renamed into place.
    #[error("could not install {image}")]
    Install {
        /// The image reference.
        image: String,
        /// The install error.
        #[source]
        source: DestinationError,
    },
    /// A temporary layer file could not be written.
    #[error("could not write temporary file {path:?}{}", out_of_room(.source).unwrap_or("; check free space beside the destination"))]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A tarball URL whose name does not end in `.tar`, `.tar.gz`, `.tgz` or `.tar.zst`.
    #[error("{url} is not a tarball trustpull can install (the name must end in .tar, .tar.gz, .tgz or .tar.zst); nothing was fetched")]
    NotATarball {
        /// The URL.
        url: String,
    },
    /// A local `file://` tarball could not be opened or read (missing, unreadable, a directory).
    #[error("could not read the tarball {path:?}; check the file:// path in the index entry and that the file is readable")]
    TarballFile {
        /// The path after `file://`.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A registry reference was given but the downloader has no registry client.
    #[error("{image} is a registry reference but this downloader has no registry client; build it with .client(..) or use an oci-layout: reference")]
    NoRegistryClient {
        /// The image reference.
        image: String,
    },
}

/// Linux `ENAMETOOLONG`.
const ENAMETOOLONG: i32 = 36;

/// The next step (`; …`) when a write failed for want of room: the disk is full (ENOSPC), the
/// user's quota is used up (EDQUOT), or a file grew past the file system's or the process's
/// file-size limit, `ulimit -f` (EFBIG). `None` for any other error. All three are local
/// problems ([`ErrorKind::Config`], exit 2 in the CLI), never a reason to try a mirror.
pub(crate) fn out_of_room(e: &std::io::Error) -> Option<&'static str> {
    use rustix::io::Errno;
    let code = e.raw_os_error()?;
    if code == Errno::NOSPC.raw_os_error() {
        Some("; the disk beside the destination is full: free space there, then rerun")
    } else if code == Errno::DQUOT.raw_os_error() {
        Some("; the disk quota beside the destination is used up: free space there, then rerun")
    } else if code == Errno::FBIG.raw_os_error() {
        Some("; a file is larger than the file system or this process's file-size limit (ulimit -f) allows: raise the limit or install on another file system, then rerun")
    } else {
        None
    }
}

impl PullError {
    /// How to treat the error; see [`ErrorKind`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Source { source, .. } => match source {
                ImageSourceError::NotFound { .. } | ImageSourceError::BadReference { .. } => {
                    ErrorKind::Config
                }
                ImageSourceError::Unavailable { .. } => ErrorKind::Unavailable,
                ImageSourceError::Invalid { .. } => ErrorKind::Rejected,
            },
            Self::Verify { source, .. } => {
                if source.is_unavailable() {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::Rejected
                }
            }
            Self::Extract { source, .. } => match source {
                // A name the filesystem refuses (ENAMETOOLONG) comes from the image: retrying
                // will not help.
                ExtractError::Io { source, .. } if source.raw_os_error() == Some(ENAMETOOLONG) => {
                    ErrorKind::Rejected
                }
                // Writing the tree failed here (disk full, permissions, a name the filesystem
                // refuses): a local problem, never a reason to try a mirror.
                ExtractError::Io { .. } => ErrorKind::Config,
                ExtractError::Cancelled => ErrorKind::Unavailable,
                _ => ErrorKind::Rejected,
            },
            // The destination (not writable, under a file, a failed swap) and temporary files
            // beside it are local: exit 2, and an install never moves on to a mirror for them.
            Self::Install { .. } | Self::Io { .. } => ErrorKind::Config,
            // A local tarball that is missing or unreadable: the operator's file, not a server.
            Self::TarballFile { .. } => ErrorKind::Config,
            Self::Cancelled { .. } => ErrorKind::Unavailable,
            Self::NoMatchingPlatform { .. }
            | Self::AmbiguousPlatform { .. }
            | Self::NoRegistryClient { .. }
            | Self::NotATarball { .. } => ErrorKind::Config,
            Self::DigestMismatch { .. }
            | Self::SizeMismatch { .. }
            | Self::ManifestTooLarge { .. }
            | Self::InvalidManifest { .. }
            | Self::UnsupportedMediaType { .. }
            | Self::TooManyLayers { .. }
            | Self::DownloadTooLarge { .. } => ErrorKind::Rejected,
        }
    }
}

/// The messages of an error and its causes, in order, each cause dropped when a message before
/// it already says it (many errors print their cause): what a user should read, once.
pub fn error_messages(e: &dyn std::error::Error) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for cause in std::iter::successors(Some(e), |&e| e.source()) {
        let text = cause.to_string();
        if !out.iter().any(|seen| seen.contains(&text)) {
            out.push(text);
        }
    }
    out
}

/// An error and its causes on one line (`a: b: c`, see [`error_messages`]), for the few places
/// that must carry an error as text (a signature source's reason, a per-backend check result).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    error_messages(e).join(": ")
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use rustix::io::Errno;

    use super::*;

    /// A write refused for want of room says so and what to do, whatever the errno; it is a
    /// local problem, never "unavailable" (which would send an install to a mirror).
    #[test]
    fn a_write_out_of_room_names_the_cause_and_is_local() {
        let cases = [
            (Errno::NOSPC, "the disk beside the destination is full"),
            (Errno::DQUOT, "quota beside the destination is used up"),
            (Errno::FBIG, "file-size limit (ulimit -f)"),
        ];
        for (errno, says) in cases {
            let os = || io::Error::from_raw_os_error(errno.raw_os_error());
            let download = PullError::Io {
                path: PathBuf::from("/srv/.app.trustpull-layers-x/0000-ab"),
                source: os(),
            };
            let extract = PullError::Extract {
                image: "r.example/app:v1".to_owned(),
                layer: Digest::of(b"layer"),
                source: ExtractError::Io {
                    path: PathBuf::from("app/big.bin"),
                    source: os(),
                },
            };
            for err in [download, extract] {
                let text = error_chain(&err);
                assert!(text.contains(says), "{errno:?}: {text}");
                // The OS's own words stay (the e2e full-disk row looks for "No space left").
                assert!(text.contains(&os().to_string()), "{errno:?}: {text}");
                assert_eq!(err.kind(), ErrorKind::Config, "{errno:?}: {text}");
            }
        }
        // Any other write error keeps the general advice and no "room" diagnosis.
        let denied = PullError::Io {
            path: PathBuf::from("/srv/x"),
            source: io::Error::from_raw_os_error(Errno::ACCESS.raw_os_error()),
        };
        let text = denied.to_string();
        assert!(
            text.ends_with("; check free space beside the destination"),
            "{text}"
        );
    }
}
