//! trustpull for embedding: install OCI images (plugins, model backends, tools) only when a
//! keyless cosign / Sigstore signature proves who built them — one dependency.
//!
//! This library target of the `trustpull` package re-exports the workspace's crates
//! ([`gallery`], [`downloader`], [`verifier`], [`referrers`], [`policy`]) and, at the top, the
//! types an embedding program starts from: the [`Installer`] (one per process or per
//! configuration; it owns the registry client, the trust root, an optional
//! [`VerificationCache`] and the [`VerifierFactory`] that picks each plan cell's verifier) and
//! its [`OperatorConfig`]. Depend on it with `default-features = false` to leave out the
//! command line's dependencies (clap, indicatif, the tokio runtime features of the binary).
//!
//! It adds no code of its own: it never prints, reads the environment or exits (that is the
//! `trustpull` binary's job).
//!
//! Installing the offline demo's signed image (`examples/` in the repository), verified with
//! cosign against the gallery's policy and the demo's fixture trust root:
//!
//! ```
//! use std::sync::Arc;
//! use trustpull::{Installer, MonotonicClock, OperatorConfig, TrustRoot, VerificationCache};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
//! # let dir = tempfile::tempdir()?;
//! # let layout = demo.join("demo-image");
//! # std::fs::write(dir.path().join("backends.yaml"), format!("- name: demo\n  uri: oci-layout:{}:v1\n", layout.display()))?;
//! // The operator's config: the galleries and who must have signed their images.
//! let config = OperatorConfig::parse(
//!     "galleries:
//!   - name: demo
//!     url: ./backends.yaml
//!     verification:
//!       issuer: https://token.actions.githubusercontent.com
//!       identity: https://github.com/acme/backends/.github/workflows/release.yml@refs/heads/main
//! ",
//!     &dir.path().join("galleries.yaml"),
//! )?;
//! // Shared by every install: the trust root (loaded once; here the demo's fixture Sigstore,
//! // by default the embedded public-good root) and a verification cache.
//! let root = Arc::new(TrustRoot::from_file(&demo.join("trusted_root.json"))?);
//! let installer = Installer::builder(config)
//!     .trust_root(root)
//!     .cache(Arc::new(VerificationCache::new(Arc::new(MonotonicClock))))
//!     .build()?;
//! let outcome = installer.install("demo", &dir.path().join("backends")).await?;
//! // The default verifier choice (DecisionTable) verified the cosign signature.
//! assert!(outcome.receipt.verified);
//! assert_eq!(
//!     outcome.receipt.verification.as_ref().map(|r| r.identity()),
//!     Some("https://github.com/acme/backends/.github/workflows/release.yml@refs/heads/main"),
//! );
//! # Ok(()) }
//! ```
//!
//! `examples/embed.rs` swaps the verifier through a [`VerifierFactory`].

pub use async_trait::async_trait;
pub use trustpull_downloader as downloader;
pub use trustpull_gallery as gallery;
pub use trustpull_policy as policy;
pub use trustpull_referrers as referrers;
pub use trustpull_verifier as verifier;

pub use trustpull_downloader::{ErrorKind, Platform, ProgressEvent, ProgressObserver, PullError};
pub use trustpull_gallery::{
    CheckStatus, DecisionTable, InstallError, InstallOutcome, InstallReceipt, InstalledBackend,
    InstalledCheck, Installer, InstallerBuilder, OperatorConfig, UninstallOutcome, UpgradeReport,
    UpgradeStatus, VerifierChoice, VerifierFactory, VerifierRequest,
};
pub use trustpull_policy::{Digest, PolicySpec, TrustPolicy};
pub use trustpull_referrers::{Credentials, RegistryClient, RegistryError};
pub use trustpull_verifier::{
    CacheScope, CachingVerifier, CosignVerifier, ImageSubject, ImageVerifier, MonotonicClock,
    NoopVerifier, Receipt, SignatureSource, StrictVerifier, TrustRoot, TrustRootError,
    Verification, VerificationCache, VerifyError,
};
