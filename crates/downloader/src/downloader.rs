//! [`Downloader`]: resolve once → pin → pick the platform → verify → fetch layers by digest →
//! extract into staging → rename (DESIGN.md §7).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;
use trustpull_policy::Digest;
use trustpull_verifier::{ImageSubject, ImageVerifier, Verification};

use crate::extract::{self, CancelFlag, DeclaredCompression, Extractor};
use trustpull_referrers::{
    is_index_media_type, is_manifest_media_type, Descriptor, ImageIndex, ImageManifest,
    PlatformChoiceError,
};

use crate::manifest;
use crate::progress::{NoProgress, ProgressEvent, ProgressObserver};
use crate::tree::DestinationLock;
use crate::{ExistingDestination, ExtractStats, ImageSource, Platform, PullError, PullLimits};

/// Installs OCI images, verified, into a directory. Build it with [`Downloader::builder`].
///
/// The verifier is required: to install without verification the caller passes a
/// `NoopVerifier` on purpose, and the outcome then says [`Verification::Unverified`].
#[derive(Debug, Clone)]
pub struct Downloader {
    verifier: Arc<dyn ImageVerifier>,
    client: Option<trustpull_referrers::RegistryClient>,
    platform: Platform,
    limits: PullLimits,
    concurrency: usize,
    existing: ExistingDestination,
    progress: Arc<dyn ProgressObserver>,
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

    /// The platform to select from multi-arch indexes. Default: [`Platform::host`].
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

    /// Builds the downloader; fails only when no verifier was given.
    pub fn build(self) -> Result<Downloader, MissingVerifier> {
        Ok(Downloader {
            verifier: self.verifier.ok_or(MissingVerifier)?,
            client: self.client,
            platform: self.platform.unwrap_or_else(Platform::host),
            limits: self.limits.unwrap_or_default(),
            concurrency: self.concurrency.unwrap_or(3).max(1),
            existing: self.existing,
            progress: self.progress.unwrap_or_else(|| Arc::new(NoProgress)),
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
    /// The verifier's answer (a receipt, or why nothing was checked).
    pub verification: Verification,
    /// Where the image filesystem is.
    pub dest: PathBuf,
    /// What extraction did.
    pub stats: ExtractStats,
}

/// An image pinned by digest, with its layers: what is verified and then fetched.
struct Pinned {
    digest: Digest,
    media_type: String,
    index_digest: Option<Digest>,
    layers: Vec<Descriptor>,
}

impl Downloader {
    /// Starts a [`DownloaderBuilder`].
    pub fn builder() -> DownloaderBuilder {
        DownloaderBuilder::default()
    }

    /// Pulls `reference` (`host/repo[:tag|@digest]`, `oci://…`, or `oci-layout:PATH[:tag|@digest]`)
    /// into `dest`.
    pub async fn pull(&self, reference: &str, dest: &Path) -> Result<PullOutcome, PullError> {
        if let Some(layout) = reference.strip_prefix(crate::layout::SCHEME) {
            let source = crate::LayoutSource::open_reference(layout).map_err(|source| {
                PullError::Source {
                    image: reference.to_owned(),
                    source,
                }
            })?;
            return self.pull_from(&source, dest).await;
        }
        let Some(client) = &self.client else {
            return Err(PullError::NoRegistryClient {
                image: reference.to_owned(),
            });
        };
        let source = crate::RegistrySource::new(client.clone(), reference).map_err(|source| {
            PullError::Source {
                image: reference.to_owned(),
                source,
            }
        })?;
        self.pull_from(&source, dest).await
    }

    /// Pulls the image `source` names into `dest`. Dropping the future cancels the pull and
    /// leaves `dest` as it was, with no staging directory or temporary file behind.
    pub async fn pull_from(
        &self,
        source: &dyn ImageSource,
        dest: &Path,
    ) -> Result<PullOutcome, PullError> {
        let location = source.location();
        let image = location.reference.clone();
        let lock = DestinationLock::acquire(dest, self.existing)
            .await
            .map_err(|source| PullError::Install {
                image: image.clone(),
                source,
            })?;

        let pinned = self.pin(source, &image).await?;
        let mut subject = ImageSubject::new(
            location.registry.clone(),
            location.repository.clone(),
            pinned.digest.clone(),
            pinned.media_type.clone(),
        );
        if let Some(index) = &pinned.index_digest {
            subject = subject.with_index(index.clone());
        }
        let verification =
            self.verifier
                .verify(&subject)
                .await
                .map_err(|source| PullError::Verify {
                    image: image.clone(),
                    source: Box::new(source),
                })?;
        self.progress.on_event(&match &verification {
            Verification::Verified(receipt) => ProgressEvent::Verified {
                digest: pinned.digest.clone(),
                identity: receipt.identity().to_owned(),
            },
            Verification::Unverified { reason } => ProgressEvent::Unverified {
                digest: pinned.digest.clone(),
                reason: reason.clone(),
            },
            // Verification is non_exhaustive: report anything newer as unverified.
            _ => ProgressEvent::Unverified {
                digest: pinned.digest.clone(),
                reason: "unknown verification outcome".into(),
            },
        });

        // Everything below is by digest. The layer files and the staging directory are removed
        // when this future ends or is dropped, after the extraction thread has stopped.
        let install_err = |source| PullError::Install {
            image: image.clone(),
            source,
        };
        let mut staging = lock.staging().map_err(install_err)?;
        let layer_dir = lock.layer_dir().map_err(install_err)?;
        let root = staging.root_handle().map_err(install_err)?;
        let extractor = self
            .fetch_and_extract(source, &image, &pinned.layers, layer_dir.path(), root)
            .await?;
        drop(layer_dir);
        let stats = extractor.stats().clone();
        staging.finish(extractor).map_err(install_err)?;
        staging.commit(lock, None).map_err(install_err)?;
        self.progress.on_event(&ProgressEvent::Done {
            digest: pinned.digest.clone(),
            dest: dest.to_path_buf(),
            stats: stats.clone(),
        });
        Ok(PullOutcome {
            reference: image,
            digest: pinned.digest,
            index_digest: pinned.index_digest,
            verification,
            dest: dest.to_path_buf(),
            stats,
        })
    }

    /// Resolves once, selects the platform child of an index, and reads the layer list.
    async fn pin(&self, source: &dyn ImageSource, image: &str) -> Result<Pinned, PullError> {
        let source_err = |source| PullError::Source {
            image: image.to_owned(),
            source,
        };
        let top = source.resolve().await.map_err(source_err)?;
        self.check_manifest_size(image, top.bytes.len())?;
        let top_digest = Digest::of(&top.bytes);
        if let Some(expected) = source.location().digest {
            if expected != top_digest {
                return Err(PullError::DigestMismatch {
                    image: image.to_owned(),
                    what: "manifest",
                    expected,
                    actual: top_digest,
                });
            }
        }
        let invalid = |digest: &Digest| {
            let digest = digest.clone();
            move |source| PullError::InvalidManifest {
                image: image.to_owned(),
                digest,
                source,
            }
        };
        let top_type = manifest::effective_media_type(&top.bytes, &top.media_type)
            .map_err(invalid(&top_digest))?;
        self.progress.on_event(&ProgressEvent::Resolved {
            reference: image.to_owned(),
            digest: top_digest.clone(),
            media_type: top_type.clone(),
        });

        let (digest, media_type, bytes, index_digest) = if is_index_media_type(&top_type) {
            let index: ImageIndex =
                serde_json::from_slice(&top.bytes).map_err(invalid(&top_digest))?;
            let child = self.select_platform(image, &top_digest, &index)?;
            let doc = source
                .fetch_manifest(&child.digest)
                .await
                .map_err(source_err)?;
            self.check_manifest_size(image, doc.bytes.len())?;
            let actual = Digest::of(&doc.bytes);
            if actual != child.digest {
                return Err(PullError::DigestMismatch {
                    image: image.to_owned(),
                    what: "manifest",
                    expected: child.digest.clone(),
                    actual,
                });
            }
            if doc.bytes.len() as u64 != child.size {
                return Err(PullError::SizeMismatch {
                    image: image.to_owned(),
                    what: "manifest",
                    digest: child.digest.clone(),
                    expected: child.size,
                    actual: doc.bytes.len() as u64,
                });
            }
            let media_type = manifest::effective_media_type(&doc.bytes, &child.media_type)
                .map_err(invalid(&actual))?;
            self.progress.on_event(&ProgressEvent::PlatformSelected {
                platform: self.platform.clone(),
                digest: actual.clone(),
            });
            (actual, media_type, doc.bytes, Some(top_digest))
        } else {
            (top_digest, top_type, top.bytes, None)
        };
        if !is_manifest_media_type(&media_type) {
            return Err(PullError::UnsupportedMediaType {
                image: image.to_owned(),
                digest,
                media_type,
            });
        }
        let parsed: ImageManifest = serde_json::from_slice(&bytes).map_err(invalid(&digest))?;
        if parsed.layers.len() > self.limits.max_layers {
            return Err(PullError::TooManyLayers {
                image: image.to_owned(),
                count: parsed.layers.len(),
                limit: self.limits.max_layers,
            });
        }
        let total = parsed
            .layers
            .iter()
            .fold(0u64, |acc, l| acc.saturating_add(l.size));
        if total > self.limits.max_download_bytes {
            return Err(PullError::DownloadTooLarge {
                image: image.to_owned(),
                total,
                limit: self.limits.max_download_bytes,
            });
        }
        for layer in &parsed.layers {
            if extract::declared(&layer.media_type).is_none() {
                return Err(PullError::UnsupportedMediaType {
                    image: image.to_owned(),
                    digest: layer.digest.clone(),
                    media_type: layer.media_type.clone(),
                });
            }
        }
        Ok(Pinned {
            digest,
            media_type,
            index_digest,
            layers: parsed.layers,
        })
    }

    fn check_manifest_size(&self, image: &str, len: usize) -> Result<(), PullError> {
        if len as u64 > self.limits.max_manifest_bytes {
            return Err(PullError::ManifestTooLarge {
                image: image.to_owned(),
                limit: self.limits.max_manifest_bytes,
            });
        }
        Ok(())
    }

    /// The one index child for the requested platform (rules: [`ImageIndex::select_platform`]).
    fn select_platform<'i>(
        &self,
        image: &str,
        index_digest: &Digest,
        index: &'i ImageIndex,
    ) -> Result<&'i Descriptor, PullError> {
        index.select_platform(&self.platform).map_err(|e| match e {
            PlatformChoiceError::Ambiguous { wanted, offered } => PullError::AmbiguousPlatform {
                image: image.to_owned(),
                index: index_digest.clone(),
                wanted,
                offered,
            },
            PlatformChoiceError::NoMatch { wanted, offered } => PullError::NoMatchingPlatform {
                image: image.to_owned(),
                index: index_digest.clone(),
                wanted,
                offered,
            },
            // The enum is non-exhaustive; a future reason is still "no usable child".
            _ => PullError::NoMatchingPlatform {
                image: image.to_owned(),
                index: index_digest.clone(),
                wanted: self.platform.to_string(),
                offered: Vec::new(),
            },
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
            let mut fetched = futures::stream::iter(layers.iter().enumerate())
                .map(|(index, layer)| self.fetch_layer(source, image, index, count, layer, dir))
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
                Err(_) => Err(PullError::Extract {
                    image: image.to_owned(),
                    layer: layers
                        .first()
                        .map(|l| l.digest.clone())
                        .unwrap_or_else(|| Digest::of(b"")),
                    source: crate::ExtractError::Cancelled,
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
struct ExtractionGuard {
    cancel: CancelFlag,
    done: Option<std::sync::mpsc::Receiver<()>>,
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
