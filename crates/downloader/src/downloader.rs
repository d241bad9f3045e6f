//! [`Downloader`]: resolve once → pin → pick the platform → verify → fetch layers by digest →
//! extract into staging → rename.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;
use trustpull_policy::Digest;
use trustpull_referrers::{Descriptor, DiscoveryOptions, Limits};
use trustpull_verifier::{ImageVerifier, Verification};

use crate::extract::{self, CancelFlag, DeclaredCompression, Extractor};
use crate::location::ImageLocation;
use crate::pin::{pin, PinnedImage, PlatformChoice};
use crate::progress::{NoProgress, ProgressEvent, ProgressObserver};
use crate::tree::{DestinationLock, Sidecar, StagingDir, TreeListing};
use crate::{
    ArchiveSource, ExistingDestination, ExtractStats, ImageSource, LayoutSource, MirroredSource,
    Platform, PullError, PullLimits, RegistryMirrors, RegistrySource,
};

/// Installs OCI images, verified, into a directory. Build it with [`Downloader::builder`].
///
/// The verifier is required: to install without verification the caller passes a
/// `NoopVerifier` on purpose, and the outcome then says [`Verification::Unverified`].
#[derive(Debug, Clone)]
pub struct Downloader {
    verifier: Arc<dyn ImageVerifier>,
    pub(crate) client: Option<trustpull_referrers::RegistryClient>,
    platform: Platform,
    pub(crate) limits: PullLimits,
    concurrency: usize,
    pub(crate) existing: ExistingDestination,
    pub(crate) progress: Arc<dyn ProgressObserver>,
    discovery: DiscoveryOptions,
    mirrors: RegistryMirrors,
}

/// Builds a [`Downloader`]. Only the verifier is required.
#[derive(Debug, Default)]
pub struct DownloaderBuilder {
    verifier: Option<Arc<dyn ImageVerifier>>,
    client: Option<trustpull_referrers::RegistryClient>,
    platform: Option<Platform>,
    limits: Option<PullLimits>,
    concurrency: Option<usize>,
    existing: ExistingDestination,
    progress: Option<Arc<dyn ProgressObserver>>,
    discovery: DiscoveryOptions,
    mirrors: RegistryMirrors,
}

/// A [`DownloaderBuilder`] without a verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a Downloader needs a verifier: pass CosignVerifier for a policy, or NoopVerifier to install unverified on purpose")]
pub struct MissingVerifier;

impl DownloaderBuilder {
    /// The verifier every pull goes through (required).
    #[must_use]
    pub fn verifier(mut self, verifier: Arc<dyn ImageVerifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// The registry client for registry references (`oci-layout:` references need none).
    #[must_use]
    pub fn client(mut self, client: trustpull_referrers::RegistryClient) -> Self {
        self.client = Some(client);
        self
    }

    /// The platform to select from multi-arch indexes. Default: [`crate::host_platform`].
    #[must_use]
    pub fn platform(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
        self
    }

    /// Bounds on manifests, layers and extraction. Default: [`PullLimits::default`].
    #[must_use]
    pub fn limits(mut self, limits: PullLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// How many layers download at once. Default: 3. Zero is treated as one.
    #[must_use]
    pub fn concurrency(mut self, layers: usize) -> Self {
        self.concurrency = Some(layers);
        self
    }

    /// What to do when the destination exists and is not empty. Default: refuse.
    #[must_use]
    pub fn existing_destination(mut self, existing: ExistingDestination) -> Self {
        self.existing = existing;
        self
    }

    /// Where progress events go. Default: nowhere.
    #[must_use]
    pub fn progress(mut self, observer: Arc<dyn ProgressObserver>) -> Self {
        self.progress = Some(observer);
        self
    }

    /// How registry signatures are discovered; pass `DiscoveryOptions::at(now)` so candidates
    /// dated in the future sort last (libraries never read the clock). Default: no time.
    #[must_use]
    pub fn discovery(mut self, options: DiscoveryOptions) -> Self {
        self.discovery = options;
        self
    }

    /// Registry mirrors per upstream host (see [`crate::MirroredSource`]): images of a host
    /// with mirrors are read from them first. Default: none.
    #[must_use]
    pub fn mirrors(mut self, mirrors: RegistryMirrors) -> Self {
        self.mirrors = mirrors;
        self
    }

    /// Builds the downloader; fails only when no verifier was given.
    pub fn build(self) -> Result<Downloader, MissingVerifier> {
        Ok(Downloader {
            verifier: self.verifier.ok_or(MissingVerifier)?,
            client: self.client,
            platform: self.platform.unwrap_or_else(crate::host_platform),
            limits: self.limits.unwrap_or_default(),
            concurrency: self.concurrency.unwrap_or(3).max(1),
            existing: self.existing,
            progress: self.progress.unwrap_or_else(|| Arc::new(NoProgress)),
            discovery: self.discovery,
            mirrors: self.mirrors,
        })
    }
}

/// What a successful pull installed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PullOutcome {
    /// The reference as given.
    pub reference: String,
    /// The installed image manifest's digest.
    pub digest: Digest,
    /// The index it was selected from, if any.
    pub index_digest: Option<Digest>,
    /// The platform it was selected for, when it came from an index.
    pub platform: Option<Platform>,
    /// The digest of the installed tree ([`TreeListing::digest`]).
    pub tree_digest: Digest,
    /// The verifier's answer (a receipt, or why nothing was checked).
    pub verification: Verification,
    /// Where the image filesystem is.
    pub dest: PathBuf,
    /// What extraction did.
    pub stats: ExtractStats,
}

/// A verified image extracted into a private staging directory beside its destination, not yet
/// in place (see [`Downloader::stage`]). Dropping it removes the staging directory and releases
/// the destination's lock; the destination is as it was.
#[derive(Debug)]
pub struct StagedImage {
    pub(crate) outcome: PullOutcome,
    pub(crate) tree: TreeListing,
    pub(crate) staging: StagingDir,
    pub(crate) lock: DestinationLock,
    pub(crate) progress: Arc<dyn ProgressObserver>,
}

impl StagedImage {
    /// What will be installed (digest, verification, statistics, the tree's digest).
    pub fn outcome(&self) -> &PullOutcome {
        &self.outcome
    }

    /// The staged tree: sorted paths, modes, file hashes, link targets.
    pub fn tree(&self) -> &TreeListing {
        &self.tree
    }

    /// Swaps the staged tree into place (atomically, with the old tree swapped out) together
    /// with `sidecar` (a file `DEST<suffix>` beside it, e.g. a receipt): a crash at any moment
    /// leaves either the old tree with its old sidecar or the new tree with the new one.
    ///
    /// The renames, fsyncs and the removal of the previous tree (which can be large) run on
    /// tokio's blocking pool, not on the caller's executor thread. Once started, the commit runs
    /// to its end even if this future is dropped: the destination is never left half-swapped.
    pub async fn commit(self, sidecar: Option<Sidecar>) -> Result<PullOutcome, PullError> {
        let image = self.outcome.reference.clone();
        let dest = self.outcome.dest.clone();
        match tokio::task::spawn_blocking(move || self.commit_blocking(sidecar)).await {
            Ok(result) => result,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(join) => Err(PullError::Install {
                image,
                source: crate::DestinationError::Io {
                    action: "finish installing",
                    path: dest,
                    source: std::io::Error::other(join),
                },
            }),
        }
    }

    fn commit_blocking(self, sidecar: Option<Sidecar>) -> Result<PullOutcome, PullError> {
        self.staging
            .commit(self.lock, sidecar)
            .map_err(|source| PullError::Install {
                image: self.outcome.reference.clone(),
                source,
            })?;
        self.progress.on_event(&ProgressEvent::Done {
            digest: self.outcome.digest.clone(),
            dest: self.outcome.dest.clone(),
            stats: self.outcome.stats.clone(),
        });
        Ok(self.outcome)
    }
}

/// An image pinned and verified, nothing fetched: what `trustpull verify` reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedImage {
    /// The pinned image.
    pub pinned: PinnedImage,
    /// The verifier's answer.
    pub verification: Verification,
}

impl Downloader {
    /// Starts a [`DownloaderBuilder`].
    pub fn builder() -> DownloaderBuilder {
        DownloaderBuilder::default()
    }

    /// The source of the image `location` names: a registry (through the builder's client) or
    /// a local layout. It serves both the image and its signatures.
    pub fn open(&self, location: &ImageLocation) -> Result<Box<dyn ImageSource>, PullError> {
        Ok(match location {
            ImageLocation::Registry(reference) => {
                let Some(client) = &self.client else {
                    return Err(PullError::NoRegistryClient {
                        image: location.to_string(),
                    });
                };
                let mirrors = self.mirrors.mirrors_of(reference.repository().registry());
                if !mirrors.is_empty() {
                    return MirroredSource::new(client, reference, mirrors, &self.discovery)
                        .map(|source| {
                            Box::new(source.with_progress(Arc::clone(&self.progress)))
                                as Box<dyn ImageSource>
                        })
                        .map_err(|source| PullError::Source {
                            image: location.to_string(),
                            source,
                        });
                }
                Box::new(
                    RegistrySource::new(client.clone(), reference.clone())
                        .with_discovery(self.discovery.clone()),
                )
            }
            ImageLocation::Layout(layout) => Box::new(
                LayoutSource::new(layout, &self.document_limits())
                    .with_discovery(self.discovery.clone()),
            ),
            ImageLocation::Archive(archive) => Box::new(
                ArchiveSource::new(archive, &self.limits, &self.document_limits())
                    .with_discovery(self.discovery.clone()),
            ),
        })
    }

    /// The bounds on manifests, indexes and signature documents: the registry client's, or the
    /// defaults when there is none.
    fn document_limits(&self) -> Limits {
        self.client
            .as_ref()
            .map(|c| c.limits().clone())
            .unwrap_or_default()
    }

    /// Resolves `source` once and pins the image `choice` names (see [`PinnedImage`]).
    pub async fn pin(
        &self,
        source: &dyn ImageSource,
        choice: &PlatformChoice,
    ) -> Result<PinnedImage, PullError> {
        pin(
            source,
            choice,
            &self.limits,
            self.document_limits().max_manifest_bytes,
            self.progress.as_ref(),
        )
        .await
    }

    /// Pins and verifies the image `location` names, fetching no layer.
    pub async fn verify(
        &self,
        location: &ImageLocation,
        choice: &PlatformChoice,
    ) -> Result<VerifiedImage, PullError> {
        let source = self.open(location)?;
        let pinned = self.pin(source.as_ref(), choice).await?;
        let verification = self.verify_pinned(source.as_ref(), &pinned).await?;
        Ok(VerifiedImage {
            pinned,
            verification,
        })
    }

    /// Verifies an image pinned from `source` (see [`Downloader::pin`]), with signatures from
    /// the same source. [`Downloader::verify`] is `open` + `pin` + this; a caller that must
    /// check the pinned digest first (re-checking an install) calls them one by one.
    pub async fn verify_pinned(
        &self,
        source: &dyn ImageSource,
        pinned: &PinnedImage,
    ) -> Result<Verification, PullError> {
        let verification = self
            .verifier
            .verify(pinned.subject(), source)
            .await
            .map_err(|e| PullError::Verify {
                image: pinned.reference().to_owned(),
                source: Box::new(e),
            })?;
        let digest = pinned.digest().clone();
        if let Some(event) = match &verification {
            Verification::Verified(receipt) => Some(ProgressEvent::Verified {
                digest,
                identity: receipt.identity().to_owned(),
            }),
            Verification::Unverified { reason } => Some(ProgressEvent::Unverified {
                digest,
                reason: reason.clone(),
            }),
            // Verification is non_exhaustive: a newer outcome is reported by its caller.
            _ => None,
        } {
            self.progress.on_event(&event);
        }
        Ok(verification)
    }

    /// Pulls the image `location` names into `dest`.
    pub async fn pull(
        &self,
        location: &ImageLocation,
        dest: &Path,
    ) -> Result<PullOutcome, PullError> {
        let source = self.open(location)?;
        self.pull_from(source.as_ref(), dest).await
    }

    /// Pulls the image `source` serves into `dest`: pin (for the builder's platform) → verify
    /// (signatures from the same source) → fetch layers by digest → extract → rename. Dropping
    /// the future cancels the pull and leaves `dest` as it was, with no staging directory or
    /// temporary file behind.
    pub async fn pull_from(
        &self,
        source: &dyn ImageSource,
        dest: &Path,
    ) -> Result<PullOutcome, PullError> {
        self.stage_from(source, dest).await?.commit(None).await
    }

    /// Pulls the image `location` names into a staging directory beside `dest` and stops before
    /// the swap: the caller reads what was verified and staged ([`StagedImage::outcome`],
    /// [`StagedImage::tree`]), writes its receipt from it, and [`StagedImage::commit`]s tree
    /// and receipt together. Dropping the staged image removes the staging directory.
    pub async fn stage(
        &self,
        location: &ImageLocation,
        dest: &Path,
    ) -> Result<StagedImage, PullError> {
        let source = self.open(location)?;
        self.stage_from(source.as_ref(), dest).await
    }

    /// [`Downloader::stage`] for any image source.
    pub async fn stage_from(
        &self,
        source: &dyn ImageSource,
        dest: &Path,
    ) -> Result<StagedImage, PullError> {
        let image = source.location().reference;
        let install_err = |source| PullError::Install {
            image: image.clone(),
            source,
        };
        // The per-name lock is held until the commit: two installs of one name never interleave,
        // and what a crashed run left behind is swept first.
        let lock = DestinationLock::acquire(dest, self.existing)
            .await
            .map_err(install_err)?;
        let pinned = self
            .pin(source, &PlatformChoice::Platform(self.platform.clone()))
            .await?;
        let verification = self.verify_pinned(source, &pinned).await?;

        // Everything below is by digest. The layer files and the staging directory are removed
        // when this future ends or is dropped, after the extraction thread has stopped.
        let mut staging = lock.staging().map_err(install_err)?;
        let layer_dir = lock.layer_dir().map_err(install_err)?;
        let root = staging.root_handle().map_err(install_err)?;
        let extractor = self
            .fetch_and_extract(source, &image, pinned.layers(), layer_dir.path(), root)
            .await?;
        drop(layer_dir);
        let stats = extractor.stats().clone();
        let tree = staging.finish(extractor).map_err(install_err)?;
        Ok(StagedImage {
            outcome: PullOutcome {
                reference: image,
                digest: pinned.digest().clone(),
                index_digest: pinned.index_digest().cloned(),
                platform: pinned.subject().platform().cloned(),
                tree_digest: tree.digest(),
                verification,
                dest: dest.to_path_buf(),
                stats,
            },
            tree,
            staging,
            lock,
            progress: Arc::clone(&self.progress),
        })
    }

    async fn fetch_layer(
        &self,
        source: &dyn ImageSource,
        image: &str,
        index: usize,
        count: usize,
        layer: &Descriptor,
        dir: &Path,
    ) -> Result<PathBuf, PullError> {
        let digest = &layer.digest;
        self.progress.on_event(&ProgressEvent::LayerStarted {
            index,
            count,
            digest: digest.clone(),
            size: layer.size,
        });
        let path = dir.join(format!("{index:04}-{}", digest.hex()));
        let io_err = |source| PullError::Io {
            path: path.clone(),
            source,
        };
        let file = tokio::fs::File::create(&path).await.map_err(io_err)?;
        let mut file = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        let mut stream = source
            .open_blob(digest)
            .await
            .map_err(|source| PullError::Source {
                image: image.to_owned(),
                source,
            })?;
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        let size_mismatch = |actual| PullError::SizeMismatch {
            image: image.to_owned(),
            what: "layer",
            digest: digest.clone(),
            expected: layer.size,
            actual,
        };
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| PullError::Source {
                image: image.to_owned(),
                source,
            })?;
            received += chunk.len() as u64;
            if received > layer.size {
                return Err(size_mismatch(received));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io_err)?;
            self.progress.on_event(&ProgressEvent::LayerBytes {
                digest: digest.clone(),
                received,
                size: layer.size,
            });
        }
        if received != layer.size {
            return Err(size_mismatch(received));
        }
        let actual = Digest::from_sha256(hasher.finalize().into());
        if &actual != digest {
            return Err(PullError::DigestMismatch {
                image: image.to_owned(),
                what: "layer",
                expected: digest.clone(),
                actual,
            });
        }
        file.flush().await.map_err(io_err)?;
        self.progress.on_event(&ProgressEvent::LayerFinished {
            digest: digest.clone(),
        });
        Ok(path)
    }

    /// Downloads the layers into `dir`, `concurrency` at a time, and extracts each one, in
    /// order, on a blocking thread as soon as it and every layer before it have arrived and
    /// been checked, so extraction overlaps the remaining downloads.
    ///
    /// If this future is dropped, the thread is told to stop and the drop waits for it, so the
    /// caller's staging directory is never removed while something still writes into it.
    async fn fetch_and_extract(
        &self,
        source: &dyn ImageSource,
        image: &str,
        layers: &[Descriptor],
        dir: &Path,
        root: std::os::fd::OwnedFd,
    ) -> Result<Extractor, PullError> {
        let cancel = CancelFlag::default();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<PathBuf>();
        let guard = ExtractionGuard {
            cancel: cancel.clone(),
            done: Some(done_rx),
        };
        // Declared after `guard`, so dropped before it: a thread waiting for the next layer
        // wakes up (and stops) before the guard waits for it.
        let ready_tx = ready_tx;
        let jobs: Vec<(Digest, DeclaredCompression)> = layers
            .iter()
            .map(|l| {
                let declared =
                    extract::declared(&l.media_type).unwrap_or(DeclaredCompression::Sniff);
                (l.digest.clone(), declared)
            })
            .collect();
        let limits = self.limits.clone();
        let progress = Arc::clone(&self.progress);
        let owned_image = image.to_owned();
        let task = tokio::task::spawn_blocking(move || {
            let _done = done_tx;
            let mut extractor = Extractor::new(root, &limits, cancel);
            let count = jobs.len();
            for (index, (digest, declared)) in jobs.into_iter().enumerate() {
                let extract_err = |source| PullError::Extract {
                    image: owned_image.clone(),
                    layer: digest.clone(),
                    source,
                };
                // The sender is gone only when the downloads failed or the pull was dropped.
                let path = ready_rx
                    .recv()
                    .map_err(|_| extract_err(crate::ExtractError::Cancelled))?;
                progress.on_event(&ProgressEvent::Extracting {
                    index,
                    count,
                    digest: digest.clone(),
                });
                let file = std::fs::File::open(&path).map_err(|source| PullError::Io {
                    path: path.clone(),
                    source,
                })?;
                extractor
                    .extract_layer(file, declared)
                    .map_err(extract_err)?;
                // The blob is no longer needed: free its disk space early.
                let _ = std::fs::remove_file(&path);
            }
            Ok(extractor)
        });
        let count = layers.len();
        let downloads = async {
            // Indices, not `&Descriptor` items: a closure over borrowed items makes the future
            // not provably `Send` (rust-lang/rust#102211), and embedders spawn installs.
            let mut fetched = futures::stream::iter(0..count)
                .map(|index| self.fetch_layer(source, image, index, count, &layers[index], dir))
                .buffered(self.concurrency);
            while let Some(path) = fetched.try_next().await? {
                if ready_tx.send(path).is_err() {
                    // The extraction thread stopped; its error is what the join reports.
                    break;
                }
            }
            Ok::<(), PullError>(())
        };
        let extraction = async {
            match task.await {
                Ok(result) => result,
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                // The runtime is shutting down: nothing was installed.
                Err(_) => Err(PullError::Cancelled {
                    image: image.to_owned(),
                }),
            }
        };
        let result = futures::future::try_join(downloads, extraction)
            .await
            .map(|((), extractor)| extractor);
        drop(ready_tx);
        drop(guard);
        result
    }
}

/// Stops the extraction thread and waits for it when the pull is dropped mid-extraction.
pub(crate) struct ExtractionGuard {
    cancel: CancelFlag,
    done: Option<std::sync::mpsc::Receiver<()>>,
}

impl ExtractionGuard {
    /// A guard for the thread that drops `done`'s sender when it ends.
    pub(crate) fn new(cancel: CancelFlag, done: std::sync::mpsc::Receiver<()>) -> Self {
        Self {
            cancel,
            done: Some(done),
        }
    }
}

impl Drop for ExtractionGuard {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(done) = self.done.take() {
            // Returns as soon as the thread drops its sender: at the next entry or 64 KiB chunk,
            // or at once when it already finished (or never started).
            let _ = done.recv();
        }
    }
}
