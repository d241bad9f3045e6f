//! Tarballs: `https://…/x.tar`, `.tar.gz` / `.tgz`, `.tar.zst`, or the same names as a local
//! `file://PATH`, installed only when their sha256 is the one the caller gives.
//!
//! [`Downloader::stage_tarball`]: under the destination's per-name lock, the body (an HTTP
//! response or the local file, opened as one byte stream; everything after that is the same
//! code) is streamed to a temporary file beside the destination (capped at [`crate::PullLimits::max_download_bytes`],
//! hashed while it streams); nothing is decompressed or parsed until the whole file hashed to
//! the expected sha256. Then the same safe extractor and atomic tree install as images: a
//! private staging directory, [`StagedImage::commit`] with the receipt. A failed or mismatching
//! download leaves the destination as it was.
//!
//! There is no signature: the sha256 is the check, and it is only as trustworthy as whoever
//! wrote it (the decision table refuses tarballs from a gallery with a signature policy). The
//! outcome says [`Verification::Unverified`] with that reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;
use trustpull_policy::Digest;
use trustpull_referrers::{RegistryClient, RegistryError, RegistryErrorKind};
use trustpull_verifier::Verification;

use crate::downloader::ExtractionGuard;
use crate::extract::{CancelFlag, DeclaredCompression, Extractor};
use crate::progress::ProgressEvent;
use crate::tree::DestinationLock;
use crate::{Compression, Downloader, ImageSourceError, PullError, PullOutcome, StagedImage};

/// The compression a tarball URL's name says (`.tar`, `.tar.gz`, `.tgz`, `.tar.zst`), or `None`
/// for any other name. Query strings and fragments are not part of the name.
///
/// ```
/// use trustpull_downloader::{tarball_compression, Compression};
/// assert_eq!(tarball_compression("https://e.com/b/x.tar.gz?sig=1"), Some(Compression::Gzip));
/// assert_eq!(tarball_compression("https://e.com/b/x.zip"), None);
/// ```
pub fn tarball_compression(url: &str) -> Option<Compression> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    if path.ends_with(".tar") {
        Some(Compression::None)
    } else if path.ends_with(".tar.gz") || path.ends_with(".tgz") {
        Some(Compression::Gzip)
    } else if path.ends_with(".tar.zst") {
        Some(Compression::Zstd)
    } else {
        None
    }
}

/// The scheme of a local tarball: `file://PATH`, PATH as written (a relative one against the
/// current directory, like `oci-layout:` and `ocifile://`; no percent-decoding, as LocalAI).
const FILE_SCHEME: &str = "file://";

/// Where a tarball's bytes come from.
enum Origin<'a> {
    /// `http(s)://`, through the downloader's registry client.
    Http(&'a RegistryClient),
    /// `file://PATH`.
    File(PathBuf),
}

/// A tarball's bytes as they arrive: the length when known before reading (untrusted for HTTP),
/// then the chunks, each error already a [`PullError`].
struct TarballBody {
    length: Option<u64>,
    chunks: BoxStream<'static, Result<Bytes, PullError>>,
}

impl Downloader {
    /// Downloads the tarball at `url` (`https://`, `http://` for a plain-HTTP host of the
    /// client, or a local `file://PATH`), checks it against `sha256` when one is given, and extracts it into a staging
    /// directory beside `dest`; [`StagedImage::commit`] puts it in place (see the module docs).
    /// The outcome's `digest` is the tarball's sha256 (as downloaded) and its verification is
    /// `Unverified`, saying whether the sha256 was checked. Without `sha256` nothing vouches
    /// for the content: the caller decides whether that is acceptable.
    ///
    /// Errors: a URL not ending in a tarball suffix is [`PullError::NotATarball`] (nothing is
    /// fetched); a body that does not hash to `sha256` is [`PullError::DigestMismatch`]
    /// (rejected: nothing was extracted); a body over the download limit is
    /// [`PullError::DownloadTooLarge`]; HTTP failures are [`PullError::Source`]; a local file
    /// that cannot be opened or read is [`PullError::TarballFile`] (a local error, naming the
    /// path). A local file gets exactly the checks a download gets.
    pub async fn stage_tarball(
        &self,
        url: &str,
        sha256: Option<&Digest>,
        dest: &Path,
    ) -> Result<StagedImage, PullError> {
        let Some(compression) = tarball_compression(url) else {
            return Err(PullError::NotATarball {
                url: url.to_owned(),
            });
        };
        let origin = match url.strip_prefix(FILE_SCHEME) {
            Some(path) => Origin::File(PathBuf::from(path)),
            None => match &self.client {
                Some(client) => Origin::Http(client),
                None => {
                    return Err(PullError::NoRegistryClient {
                        image: url.to_owned(),
                    })
                }
            },
        };
        let install_err = |source| PullError::Install {
            image: url.to_owned(),
            source,
        };
        let lock = DestinationLock::acquire(dest, self.existing)
            .await
            .map_err(install_err)?;
        let download_dir = lock.layer_dir().map_err(install_err)?;
        let file = download_dir.path().join("tarball");
        let body = open(origin, url).await?;
        let digest = self.download_checked(body, url, sha256, &file).await?;

        let mut staging = lock.staging().map_err(install_err)?;
        let root = staging.root_handle().map_err(install_err)?;
        let extractor = extract_one(
            root,
            &self.limits,
            file,
            DeclaredCompression::Known(compression),
            url,
            &digest,
        )
        .await?;
        drop(download_dir);
        let stats = extractor.stats().clone();
        let tree = staging.finish(extractor).map_err(install_err)?;
        Ok(StagedImage {
            outcome: PullOutcome {
                reference: url.to_owned(),
                verification: Verification::Unverified {
                    reason: match sha256 {
                        Some(_) => format!(
                            "{url} is a tarball: no signature, only its sha256 {digest} was checked"
                        ),
                        None => format!(
                            "{url} is a tarball without sha256: its content ({digest}) was not checked"
                        ),
                    },
                },
                digest,
                index_digest: None,
                platform: None,
                tree_digest: tree.digest(),
                dest: dest.to_path_buf(),
                stats,
            },
            tree,
            staging,
            lock,
            progress: Arc::clone(&self.progress),
        })
    }

    /// Streams `body` (read from `url`) into `file`, capped and hashed; the hash must be
    /// `sha256`.
    async fn download_checked(
        &self,
        body: TarballBody,
        url: &str,
        expected: Option<&Digest>,
        file: &Path,
    ) -> Result<Digest, PullError> {
        // Progress events name a download by its digest: only when it is known in advance
        // (a tarball without sha256 downloads without progress events).
        let key = expected.cloned();
        let event = |make: &dyn Fn(&Digest) -> ProgressEvent| {
            if let Some(key) = &key {
                self.progress.on_event(&make(key));
            }
        };
        let limit = self.limits.max_download_bytes;
        let too_large = |total| PullError::DownloadTooLarge {
            image: url.to_owned(),
            total,
            limit,
        };
        let TarballBody {
            length,
            chunks: mut stream,
        } = body;
        if let Some(len) = length.filter(|&len| len > limit) {
            return Err(too_large(len));
        }
        let io_err = |source| PullError::Io {
            path: file.to_owned(),
            source,
        };
        let out = tokio::fs::File::create(file).await.map_err(io_err)?;
        let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, out);
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        event(&|digest| ProgressEvent::LayerStarted {
            index: 0,
            count: 1,
            digest: digest.clone(),
            size: length.unwrap_or(0),
        });
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            received += chunk.len() as u64;
            if received > limit {
                return Err(too_large(received));
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(io_err)?;
            event(&|digest| ProgressEvent::LayerBytes {
                digest: digest.clone(),
                received,
                size: length.unwrap_or(received),
            });
        }
        out.flush().await.map_err(io_err)?;
        let actual = Digest::from_sha256(hasher.finalize().into());
        if let Some(expected) = expected.filter(|e| **e != actual) {
            return Err(PullError::DigestMismatch {
                image: url.to_owned(),
                what: "tarball",
                expected: expected.clone(),
                actual,
            });
        }
        event(&|digest| ProgressEvent::LayerFinished {
            digest: digest.clone(),
        });
        Ok(actual)
    }
}

/// Opens the byte stream of the tarball `url` at `origin`.
async fn open(origin: Origin<'_>, url: &str) -> Result<TarballBody, PullError> {
    match origin {
        Origin::Http(client) => {
            let source_err = |e: RegistryError| PullError::Source {
                image: url.to_owned(),
                source: url_error(url, e),
            };
            let stream = client.get_url(url).await.map_err(source_err)?;
            let length = stream.content_length;
            let url = url.to_owned();
            Ok(TarballBody {
                length,
                chunks: stream
                    .map(move |chunk| {
                        chunk.map_err(|e| PullError::Source {
                            image: url.clone(),
                            source: url_error(&url, e),
                        })
                    })
                    .boxed(),
            })
        }
        Origin::File(path) => {
            let local_err = |source| PullError::TarballFile {
                path: path.clone(),
                source,
            };
            let file = tokio::fs::File::open(&path).await.map_err(local_err)?;
            let length = file.metadata().await.map_err(local_err)?.len();
            Ok(TarballBody {
                length: Some(length),
                chunks: tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
                    .map(move |chunk| {
                        chunk.map_err(|source| PullError::TarballFile {
                            path: path.clone(),
                            source,
                        })
                    })
                    .boxed(),
            })
        }
    }
}

/// A client error for `url` as a source error (same classes as a registry's).
fn url_error(url: &str, e: RegistryError) -> ImageSourceError {
    let location = url.to_owned();
    let what = "tarball".to_owned();
    match e.kind() {
        RegistryErrorKind::NotFound => ImageSourceError::NotFound {
            location,
            what,
            source: Some(Box::new(e)),
        },
        RegistryErrorKind::Config => ImageSourceError::BadReference {
            reference: location,
            reason: e.to_string(),
        },
        RegistryErrorKind::Rejected => ImageSourceError::Invalid {
            location,
            what,
            source: Box::new(e),
        },
        _ => ImageSourceError::Unavailable {
            location,
            what,
            source: Box::new(e),
        },
    }
}

/// Extracts the archive `file` into the directory open as `root` on a blocking thread with the
/// image extractor, and returns the extractor (for its stats and listing). Dropping the future
/// stops the thread and waits for it, like an image pull.
pub(crate) async fn extract_one(
    root: std::os::fd::OwnedFd,
    limits: &crate::PullLimits,
    file: PathBuf,
    declared: DeclaredCompression,
    name: &str,
    digest: &Digest,
) -> Result<Extractor, PullError> {
    let cancel = CancelFlag::default();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let guard = ExtractionGuard::new(cancel.clone(), done_rx);
    let limits = limits.clone();
    let (owned_name, owned_digest) = (name.to_owned(), digest.clone());
    let task = tokio::task::spawn_blocking(move || {
        let _done = done_tx;
        let mut extractor = Extractor::new(root, &limits, cancel);
        let opened = std::fs::File::open(&file).map_err(|source| PullError::Io {
            path: file.clone(),
            source,
        })?;
        extractor
            .extract_layer(opened, declared)
            .map_err(|source| PullError::Extract {
                image: owned_name,
                layer: owned_digest,
                source,
            })?;
        Ok(extractor)
    });
    let result = match task.await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(PullError::Cancelled {
            image: name.to_owned(),
        }),
    };
    drop(guard);
    result
}
