//! [`TrustRoot`]: the Sigstore trust material bundles are verified against, prepared once.

use std::fmt;
use std::path::Path;

use sigstore_trust_root::{TrustedRoot, SIGSTORE_PRODUCTION_TRUSTED_ROOT};
use sigstore_verify::Verifier;
use trustpull_policy::Digest;

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
    trusted: TrustedRoot,
    fingerprint: Digest,
    origin: String,
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
    }

    /// A trusted root read from `path` (air-gapped or private Sigstore).
    pub fn from_file(path: &Path) -> Result<Self, TrustRootError> {
        let bytes = std::fs::read(path).map_err(|e| TrustRootError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_json(&bytes, &path.display().to_string())
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
        Ok(Self {
            verifier,
            trusted: root,
            fingerprint: Digest::of(json),
            origin: origin.to_owned(),
        })
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

    /// The parsed trust material, for the Rekor v2 checks sigstore-verify cannot make.
    pub(crate) fn trusted_root(&self) -> &TrustedRoot {
        &self.trusted
    }
}

impl fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustRoot")
            .field("origin", &self.origin)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}
