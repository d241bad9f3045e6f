//! [`TrustRoot`]: the Sigstore trust material bundles are verified against, prepared once, with
//! where it came from ([`TrustRootSource`]) and when its keys are valid ([`KeyValidity`]).
//!
//! Sources: the embedded public-good snapshot, a file, or (feature `tuf`) the last good root a
//! TUF refresh left in a cache directory the caller owns (module `tuf`).

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sigstore_trust_root::{TrustedRoot, SIGSTORE_PRODUCTION_TRUSTED_ROOT};
use sigstore_verify::Verifier;
use trustpull_policy::Digest;

#[cfg(feature = "tuf")]
pub mod tuf;

/// A parsed and prepared `trusted_root.json`: Fulcio CAs, Rekor and CT log keys, TSAs.
///
/// Load it once and share it (`Arc<TrustRoot>`): preparing the keys is the expensive part, and
/// verifying with a warm root costs only the signature checks. There is no global instance;
/// two installers with different roots never see each other's.
///
/// ```
/// let root = trustpull_verifier::TrustRoot::public_good()?;
/// assert!(root.fingerprint().as_str().starts_with("sha256:"));
/// # Ok::<(), trustpull_verifier::TrustRootError>(())
/// ```
pub struct TrustRoot {
    verifier: Verifier,
    rekor_keys: sigstore_verify::crypto::Keyring,
    trusted: TrustedRoot,
    fingerprint: Digest,
    origin: String,
    source: TrustRootSource,
    validity: Vec<KeyValidity>,
}

/// Where a [`TrustRoot`] came from, for `trust-root show` and messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TrustRootSource {
    /// The public-good snapshot compiled into the binary.
    Embedded,
    /// A `trusted_root.json` file the caller named.
    File {
        /// The file.
        path: PathBuf,
    },
    /// The last good root a TUF refresh stored in a cache directory.
    Tuf {
        /// The TUF repository it was fetched from.
        mirror: String,
        /// When the refresh that fetched it succeeded.
        fetched_at: DateTime<Utc>,
        /// The cached file.
        path: PathBuf,
    },
    /// JSON bytes handed in by the caller ([`TrustRoot::from_json`]).
    Bytes {
        /// What the caller called them.
        origin: String,
    },
}

/// Which Sigstore service a trust-root key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Service {
    /// A Fulcio certificate authority.
    Fulcio,
    /// A Rekor transparency log.
    Rekor,
    /// A certificate-transparency log.
    CtLog,
    /// An RFC 3161 timestamp authority.
    Tsa,
}

/// When one key or CA of a trust root is valid (its `validFor` range).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValidity {
    /// The service.
    pub service: Service,
    /// Its URL (CA uri, log base URL, TSA uri; empty when the root names none).
    pub url: String,
    /// Valid from (inclusive); `None` when the root gives no range.
    pub start: Option<DateTime<Utc>>,
    /// Valid until (inclusive); `None` while still valid.
    pub end: Option<DateTime<Utc>>,
}

/// Why a trust root could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustRootError {
    /// The file could not be read.
    #[error(
        "cannot read trusted root {path}: {reason}; check the --trusted-root / trusted_root path"
    )]
    Unreadable {
        /// The path.
        path: String,
        /// The IO error.
        reason: String,
    },
    /// The JSON is not a usable Sigstore trusted root.
    #[error("trusted root {origin} is invalid: {reason}; use a trusted_root.json from your Sigstore instance")]
    Invalid {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

impl TrustRoot {
    /// The public-good Sigstore trusted root embedded at build time (offline default).
    pub fn public_good() -> Result<Self, TrustRootError> {
        Self::from_json(
            SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes(),
            "embedded public-good root",
        )
        .map(|r| r.with_source(TrustRootSource::Embedded))
    }

    /// A trusted root read from `path` (air-gapped or private Sigstore).
    pub fn from_file(path: &Path) -> Result<Self, TrustRootError> {
        let bytes = std::fs::read(path).map_err(|e| TrustRootError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_json(&bytes, &path.display().to_string()).map(|r| {
            r.with_source(TrustRootSource::File {
                path: path.to_owned(),
            })
        })
    }

    /// A trusted root from JSON bytes; `origin` names it in messages.
    pub fn from_json(json: &[u8], origin: &str) -> Result<Self, TrustRootError> {
        let invalid = |reason: String| TrustRootError::Invalid {
            origin: origin.to_owned(),
            reason,
        };
        let text = std::str::from_utf8(json).map_err(|e| invalid(e.to_string()))?;
        let root = TrustedRoot::from_json(text).map_err(|e| invalid(e.to_string()))?;
        let verifier = Verifier::new(&root).map_err(|e| invalid(e.to_string()))?;
        let rekor_keys = root.rekor_keys().map_err(|e| invalid(e.to_string()))?;
        let validity = validity_of(&root);
        Ok(Self {
            verifier,
            rekor_keys,
            trusted: root,
            fingerprint: Digest::of(json),
            origin: origin.to_owned(),
            source: TrustRootSource::Bytes {
                origin: origin.to_owned(),
            },
            validity,
        })
    }

    /// The same root, saying it came from `source`.
    #[must_use]
    pub fn with_source(mut self, source: TrustRootSource) -> Self {
        self.source = source;
        self
    }

    /// Where the root came from.
    pub fn source(&self) -> &TrustRootSource {
        &self.source
    }

    /// The validity range of every CA and key in the root, in the file's order (Fulcio CAs,
    /// Rekor logs, CT logs, TSAs).
    pub fn validity(&self) -> &[KeyValidity] {
        &self.validity
    }

    /// The newest `validFor` start in the root: the date of the last key change it knows,
    /// which dates a snapshot (e.g. the embedded one).
    pub fn newest_key_start(&self) -> Option<DateTime<Utc>> {
        self.validity.iter().filter_map(|v| v.start).max()
    }

    /// The sha256 of the trusted-root JSON bytes, for receipts and cache keys.
    pub fn fingerprint(&self) -> &Digest {
        &self.fingerprint
    }

    /// Where the root came from (a path, or "embedded public-good root").
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The parsed trust material, for the checks `keyless` makes itself.
    pub(crate) fn trusted_root(&self) -> &TrustedRoot {
        &self.trusted
    }

    /// The Rekor log keys with their validity windows, parsed once.
    pub(crate) fn rekor_keys(&self) -> &sigstore_verify::crypto::Keyring {
        &self.rekor_keys
    }
}

/// A jiff time (sigstore's) as chrono's; `None` when out of chrono's range.
fn chrono_of(t: jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.as_second(), t.subsec_nanosecond().unsigned_abs())
}

fn validity_of(root: &TrustedRoot) -> Vec<KeyValidity> {
    let entry = |service, url: &str, range: Option<&sigstore_types::TimeRange>| KeyValidity {
        service,
        url: url.to_owned(),
        start: range.and_then(|r| chrono_of(r.start)),
        end: range.and_then(|r| r.end).and_then(chrono_of),
    };
    let mut out = Vec::new();
    for ca in &root.certificate_authorities {
        out.push(entry(Service::Fulcio, &ca.uri, ca.valid_for.as_ref()));
    }
    for log in &root.tlogs {
        out.push(entry(
            Service::Rekor,
            &log.base_url,
            log.public_key.valid_for.as_ref(),
        ));
    }
    for log in &root.ctlogs {
        out.push(entry(
            Service::CtLog,
            &log.base_url,
            log.public_key.valid_for.as_ref(),
        ));
    }
    for tsa in &root.timestamp_authorities {
        out.push(entry(
            Service::Tsa,
            tsa.uri.as_deref().unwrap_or_default(),
            tsa.valid_for.as_ref(),
        ));
    }
    out
}

impl fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustRoot")
            .field("origin", &self.origin)
            .field("source", &self.source)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}
