//! Keeping a [`TrustRoot`] fresh over TUF (feature `tuf`): [`TufCache::update`]
//! refreshes Sigstore's `trusted_root.json` target from a [`TufMirror`] and keeps the last good
//! root in a directory the caller owns; [`TufCache::load`] reads it back without the network.
//!
//! The TUF client is sigstore-tuf's `Updater` (root rotation chain, signature thresholds,
//! expiry checked at the `now` the caller passes, rollback floors kept across runs, freeze
//! protection, snapshot/targets pins, consistent snapshots, target length and hash, bounded
//! downloads). What this module adds is the transaction around it:
//!
//! - A refresh runs against a staged copy of the cached metadata; only a refresh that ends with
//!   a verified, usable `trusted_root.json` writes anything. A failed refresh (unreachable,
//!   bad signature, expired, rollback, freeze, hash mismatch, garbage) leaves every byte of the
//!   cache as it was and records nothing: the next call simply tries again.
//! - Every file is written atomically (temporary file in the same directory, then rename), and
//!   the root becomes current only when `current.json`, the commit point, is renamed into place:
//!   a crash mid-update leaves the previous root current.
//!
//! Layout of the cache directory:
//!
//! ```text
//! DIR/current.json                  the commit point: mirror, time, fingerprint, root file
//! DIR/roots/<sha256 hex>.json       the last good trusted_root.json (content-addressed)
//! DIR/tuf/<mirror>/…                verified TUF metadata per mirror (root history, timestamp,
//!                                   snapshot, targets, cached target), the rollback floor
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sigstore_tuf::{FileStore, HttpRepository, MetadataStore, TrustedMetadataSet, Updater};
use trustpull_policy::Digest;

use super::{TrustRoot, TrustRootSource};

/// Sigstore's public-good TUF repository.
pub const PUBLIC_GOOD_MIRROR: &str = "https://tuf-repo-cdn.sigstore.dev";

/// The public-good repository's `root.json` that trust starts from: the bytes
/// sigstore-trust-root 0.15.1 ships (`repository/tuf_root.json`, version 16). Newer roots are
/// reached by walking the rotation chain from it.
const PUBLIC_GOOD_TUF_ROOT: &[u8] = include_bytes!("public-good-tuf-root.json");

/// The TUF target holding Sigstore's trusted root.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";

/// The largest `trusted_root.json` a refresh accepts (public-good's is about 10 KiB).
pub const MAX_TRUSTED_ROOT_BYTES: u64 = 1 << 20;

/// The version of `current.json`'s shape.
const RECORD_SCHEMA: u32 = 1;

/// A TUF repository and the `root.json` trust in it starts from (no trust on first use).
#[derive(Clone)]
pub struct TufMirror {
    url: String,
    anchor: Vec<u8>,
}

impl std::fmt::Debug for TufMirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TufMirror")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl TufMirror {
    /// Sigstore's public-good repository with the embedded TUF root.
    pub fn public_good() -> Self {
        Self {
            url: PUBLIC_GOOD_MIRROR.to_owned(),
            anchor: PUBLIC_GOOD_TUF_ROOT.to_vec(),
        }
    }

    /// The repository at `url` (`https://` or `http://`: TUF metadata is signed, the transport
    /// adds nothing), trusted from `root_json`, which must be a TUF root signed by its own
    /// root keys to threshold. `origin` names the root in messages (e.g. its path).
    pub fn new(url: &str, root_json: Vec<u8>, origin: &str) -> Result<Self, TufError> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(TufError::BadMirrorUrl {
                url: url.to_owned(),
            });
        }
        TrustedMetadataSet::from_root(&root_json).map_err(|e| TufError::BadAnchor {
            origin: origin.to_owned(),
            reason: chain(&e),
        })?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            anchor: root_json,
        })
    }

    /// The repository URL (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// What kind of mirror problem stopped a refresh. Every kind leaves the last good root in
/// place; a retry after the mirror is fixed succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TufFailure {
    /// The mirror could not be reached, answered an error status, sent too much, or lacked a
    /// metadata file.
    Unreachable,
    /// Metadata was not signed to threshold by the keys the trusted root names (a forged
    /// repository, or a rotated root that the previous root did not sign).
    BadSignature,
    /// Metadata had expired at the time of the refresh; an expired `timestamp` is a freeze
    /// (the mirror replays an old, once-valid view).
    Expired {
        /// The expired role.
        role: String,
    },
    /// A version went backwards (or a root skipped a version).
    Rollback,
    /// A file did not match the length, hash or version its parent pinned.
    Integrity,
    /// Metadata was not valid TUF JSON.
    Malformed,
    /// The verified targets do not list `trusted_root.json`.
    TargetMissing,
    /// The verified `trusted_root.json` is not a usable Sigstore trusted root.
    UnusableTarget,
}

impl TufFailure {
    /// Whether this is a freeze: the timestamp has expired.
    pub fn is_freeze(&self) -> bool {
        matches!(self, Self::Expired { role } if role == "timestamp")
    }
}

impl std::fmt::Display for TufFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable => f.write_str("unreachable"),
            Self::BadSignature => f.write_str("bad signature"),
            Self::Expired { role } if role == "timestamp" => {
                f.write_str("expired timestamp (freeze)")
            }
            Self::Expired { role } => write!(f, "expired {role} metadata"),
            Self::Rollback => f.write_str("rollback"),
            Self::Integrity => f.write_str("length, hash or version mismatch"),
            Self::Malformed => f.write_str("malformed metadata"),
            Self::TargetMissing => write!(f, "no {TRUSTED_ROOT_TARGET} target"),
            Self::UnusableTarget => write!(f, "unusable {TRUSTED_ROOT_TARGET}"),
        }
    }
}

/// Why a TUF refresh or a cache read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TufError {
    /// The mirror could not give a verified root now. Retryable: the last good root is kept.
    #[error("TUF mirror {mirror}: {failure}: {reason}; the last good trusted root was kept; retry later or ask the mirror's operator")]
    Mirror {
        /// The repository URL.
        mirror: String,
        /// What kind of problem.
        failure: TufFailure,
        /// The TUF client's account of it.
        reason: String,
    },
    /// The `root.json` given to start trust from is not a usable TUF root.
    #[error("TUF root {origin} cannot start a refresh: {reason}; pass the root.json the repository's owners publish")]
    BadAnchor {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The mirror URL is not `http://` or `https://`.
    #[error("TUF mirror {url:?} is not an http:// or https:// URL")]
    BadMirrorUrl {
        /// The URL given.
        url: String,
    },
    /// The cache directory could not be read or written.
    #[error(
        "cannot {action} {path}: {reason}; check that the trust-root cache directory is writable"
    )]
    CacheIo {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        reason: String,
    },
    /// The cached root is not what its record says (edited or damaged on disk).
    #[error("the cached trusted root in {path} is damaged: {reason}; run `trustpull trust-root update` or remove the directory")]
    CacheCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl TufError {
    /// Whether a retry may help (a mirror problem), as opposed to a local one (a bad root file,
    /// URL or cache directory).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Mirror { .. })
    }

    /// The mirror failure's kind, if this is one.
    pub fn failure(&self) -> Option<&TufFailure> {
        match self {
            Self::Mirror { failure, .. } => Some(failure),
            _ => None,
        }
    }
}

/// The TUF versions a successful refresh ended at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TufVersions {
    /// `root` version.
    pub root: u64,
    /// `timestamp` version.
    pub timestamp: u64,
    /// `snapshot` version.
    pub snapshot: u64,
    /// `targets` version.
    pub targets: u64,
}

/// What `current.json` records about the last good root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedRootRecord {
    /// The shape's version.
    pub schema: u32,
    /// The repository the root was fetched from.
    pub mirror: String,
    /// When the refresh succeeded.
    pub fetched_at: DateTime<Utc>,
    /// sha256 of the `trusted_root.json` bytes.
    pub fingerprint: Digest,
    /// The TUF versions the refresh ended at.
    pub versions: TufVersions,
}

/// A successful refresh.
#[derive(Debug)]
pub struct TufUpdate {
    /// The refreshed root (source: TUF, with the mirror and time).
    pub root: TrustRoot,
    /// The fingerprint of the root that was current before, if there was one.
    pub previous: Option<Digest>,
    /// The TUF versions the refresh ended at.
    pub versions: TufVersions,
}

impl TufUpdate {
    /// Whether the refresh changed the current root.
    pub fn changed(&self) -> bool {
        self.previous.as_ref() != Some(self.root.fingerprint())
    }
}

/// A trust-root cache in a directory the caller owns (the CLI passes
/// `$XDG_CACHE_HOME/trustpull`). No global state: two caches never see each other.
#[derive(Debug, Clone)]
pub struct TufCache {
    dir: PathBuf,
}

impl TufCache {
    /// A cache in `dir` (created on the first successful update).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn current_path(&self) -> PathBuf {
        self.dir.join("current.json")
    }

    fn roots_dir(&self) -> PathBuf {
        self.dir.join("roots")
    }

    /// The record of the last good root, or `None` when no update has succeeded yet.
    pub fn record(&self) -> Result<Option<CachedRootRecord>, TufError> {
        let path = self.current_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", &path, &e)),
        };
        let record: CachedRootRecord =
            serde_json::from_slice(&bytes).map_err(|e| TufError::CacheCorrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if record.schema != RECORD_SCHEMA {
            return Err(TufError::CacheCorrupt {
                path,
                reason: format!("record schema {} is not {RECORD_SCHEMA}", record.schema),
            });
        }
        Ok(Some(record))
    }

    /// The last good root, or `None` when no update has succeeded yet. Reads only the disk;
    /// the root's bytes must hash to the recorded fingerprint.
    pub fn load(&self) -> Result<Option<TrustRoot>, TufError> {
        let Some(record) = self.record()? else {
            return Ok(None);
        };
        let path = self.root_path(&record.fingerprint);
        let bytes = std::fs::read(&path).map_err(|e| TufError::CacheCorrupt {
            path: path.clone(),
            reason: format!("the recorded root cannot be read: {e}"),
        })?;
        let found = Digest::of(&bytes);
        if found != record.fingerprint {
            return Err(TufError::CacheCorrupt {
                path,
                reason: format!(
                    "it hashes to {found}, the record says {}",
                    record.fingerprint
                ),
            });
        }
        let root = TrustRoot::from_json(&bytes, &path.display().to_string()).map_err(|e| {
            TufError::CacheCorrupt {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?;
        Ok(Some(root.with_source(TrustRootSource::Tuf {
            mirror: record.mirror,
            fetched_at: record.fetched_at,
            path,
        })))
    }

    fn root_path(&self, fingerprint: &Digest) -> PathBuf {
        let hex = fingerprint
            .as_str()
            .strip_prefix("sha256:")
            .unwrap_or(fingerprint.as_str());
        self.roots_dir().join(format!("{hex}.json"))
    }

    fn metadata_dir(&self, mirror: &TufMirror) -> PathBuf {
        self.dir.join("tuf").join(dir_name(mirror.url()))
    }

    /// Refreshes `trusted_root.json` from `mirror`, checking expiry at `now`, and makes it the
    /// current root. On any error nothing in the cache has changed.
    pub async fn update(
        &self,
        mirror: &TufMirror,
        now: DateTime<Utc>,
    ) -> Result<TufUpdate, TufError> {
        // A damaged record must not block the refresh that repairs it.
        let previous = self.record().ok().flatten().map(|r| r.fingerprint);
        let validation_time =
            jiff::Timestamp::from_second(now.timestamp()).unwrap_or(jiff::Timestamp::MAX);
        let staged = StagedStore::new(FileStore::new(self.metadata_dir(mirror)));
        let mirror_error = |e: sigstore_tuf::Error| TufError::Mirror {
            mirror: mirror.url.clone(),
            failure: classify(&e),
            reason: chain(&e),
        };

        let repo = HttpRepository::new(&mirror.url).map_err(|e| TufError::BadMirrorUrl {
            url: format!("{} ({})", mirror.url, chain(&e)),
        })?;
        let mut config = sigstore_tuf::UpdaterConfig::default();
        config.target_max_length = MAX_TRUSTED_ROOT_BYTES;
        let mut updater = Updater::new(repo, &mirror.anchor)
            .map_err(|e| TufError::BadAnchor {
                origin: mirror.url.clone(),
                reason: chain(&e),
            })?
            .with_config(config)
            .with_store(staged.clone());
        updater
            .refresh(validation_time)
            .await
            .map_err(mirror_error)?;
        let bytes = updater
            .get_target(TRUSTED_ROOT_TARGET, validation_time)
            .await
            .map_err(mirror_error)?;
        let versions = versions_of(updater.trusted()).ok_or_else(|| TufError::Mirror {
            mirror: mirror.url.clone(),
            failure: TufFailure::Integrity,
            reason: "the refresh ended without timestamp, snapshot and targets".to_owned(),
        })?;
        let fingerprint = Digest::of(&bytes);
        let path = self.root_path(&fingerprint);
        let root = TrustRoot::from_json(
            &bytes,
            &format!("{TRUSTED_ROOT_TARGET} from {}", mirror.url),
        )
        .map_err(|e| TufError::Mirror {
            mirror: mirror.url.clone(),
            failure: TufFailure::UnusableTarget,
            reason: e.to_string(),
        })?;

        // Commit: the root file, then the verified metadata, then the record (the commit point).
        write_atomic(&self.roots_dir(), &path, &bytes)?;
        staged.commit()?;
        let record = CachedRootRecord {
            schema: RECORD_SCHEMA,
            mirror: mirror.url.clone(),
            fetched_at: now,
            fingerprint: fingerprint.clone(),
            versions,
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| TufError::CacheIo {
            action: "encode",
            path: self.current_path(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.dir, &self.current_path(), &json)?;
        self.prune_roots(&path);

        Ok(TufUpdate {
            root: root.with_source(TrustRootSource::Tuf {
                mirror: record.mirror,
                fetched_at: now,
                path,
            }),
            previous,
            versions,
        })
    }

    /// Removes root files other than `keep` (best effort: a leftover file is harmless).
    fn prune_roots(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(self.roots_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.path() != keep {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn versions_of(trusted: &TrustedMetadataSet) -> Option<TufVersions> {
    Some(TufVersions {
        root: trusted.root().version,
        timestamp: trusted.timestamp()?.version,
        snapshot: trusted.snapshot()?.version,
        targets: trusted.targets_role("targets")?.version,
    })
}

/// The kind of a sigstore-tuf error.
fn classify(e: &sigstore_tuf::Error) -> TufFailure {
    use sigstore_tuf::Error as E;
    match e {
        E::Transport { .. } | E::Io { .. } => TufFailure::Unreachable,
        E::ThresholdNotMet { .. }
        | E::DuplicateSignature { .. }
        | E::Crypto(_)
        | E::UnusableKey { .. }
        | E::UnsupportedScheme { .. } => TufFailure::BadSignature,
        E::Expired { role, .. } => TufFailure::Expired { role: role.clone() },
        E::Rollback { .. } | E::BadRootVersion { .. } => TufFailure::Rollback,
        E::IntegrityMismatch(_) => TufFailure::Integrity,
        E::TargetNotFound(_) => TufFailure::TargetMissing,
        _ => TufFailure::Malformed,
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn io_error(action: &'static str, path: &Path, e: &std::io::Error) -> TufError {
    TufError::CacheIo {
        action,
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// A file-system-safe, readable directory name for a mirror URL.
fn dir_name(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for b in url.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Writes `bytes` to `path` (inside `dir`, created if needed) through a temporary file in the
/// same directory, flushed to disk, then renamed over `path`.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), TufError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| io_error("create a temporary file in", dir, &e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io_error("write", tmp.path(), &e))?;
    tmp.persist(path)
        .map_err(|e| io_error("rename into", path, &e.error))?;
    Ok(())
}

/// The TUF client's store during a refresh: reads fall through to the cached metadata, writes
/// stay in memory until [`StagedStore::commit`], so a failed refresh writes nothing.
#[derive(Clone)]
struct StagedStore {
    base: FileStore,
    staged: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl StagedStore {
    fn new(base: FileStore) -> Self {
        Self {
            base,
            staged: Arc::default(),
        }
    }

    /// Writes every staged file to the base store (each atomically).
    fn commit(&self) -> Result<(), TufError> {
        let staged =
            std::mem::take(&mut *self.staged.lock().unwrap_or_else(PoisonError::into_inner));
        for (name, bytes) in staged {
            self.base
                .store(&name, &bytes)
                .map_err(|e| TufError::CacheIo {
                    action: "write TUF metadata",
                    path: PathBuf::from(&name),
                    reason: chain(&e),
                })?;
        }
        Ok(())
    }
}

impl MetadataStore for StagedStore {
    fn load(&self, name: &str) -> sigstore_tuf::Result<Option<Vec<u8>>> {
        if let Some(bytes) = self
            .staged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return Ok(Some(bytes.clone()));
        }
        self.base.load(name)
    }

    fn store(&self, name: &str, bytes: &[u8]) -> sigstore_tuf::Result<()> {
        self.staged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }
}
