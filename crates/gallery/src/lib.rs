//! Galleries for trustpull: the operator config that says which galleries to trust and who must
//! have signed their images, the backend indexes they publish, and the decision of how each
//! entry may be installed.
//!
//! Parsing is strict where the operator writes (the config: unknown keys, half policies and bad
//! regexes are load-time errors) and tolerant where someone else writes (the index: unknown
//! fields kept, anchors and `!!merge <<:` keys resolved, bad input a typed error). Indexes are
//! read from files, `https://`, `http://` (plain-HTTP hosts only) or `github:` URLs, with the
//! gallery's mirrors when the url is unavailable ([`fetch_index`]). The
//! [`Installer`] (install, upgrade, uninstall, list, verify-installed) pulls through
//! `trustpull-downloader` (and the registry mirrors of `registries:`) with the verifier its
//! [`VerifierFactory`] gives for each cell of the decision table ([`DecisionTable`] by default).
//!
//! ```
//! use std::path::Path;
//! use trustpull_gallery::{plan, BackendIndex, OperatorConfig, SourcePlan, VerifierChoice};
//!
//! let config = OperatorConfig::parse(
//!     "galleries:\n  - name: acme\n    url: index.yaml\n    verification:\n      issuer: https://token.actions.githubusercontent.com\n      identity: https://github.com/acme/b/.github/workflows/r.yml@refs/heads/main\n",
//!     Path::new("/etc/trustpull/galleries.yaml"),
//! )?;
//! let index = BackendIndex::parse("- name: b\n  uri: quay.io/acme/b:v1\n")?;
//! let entry = index.resolve("b", "default")?;
//! let plan = plan(entry, config.gallery("acme").expect("configured"), config.require_integrity);
//! assert!(matches!(plan.primary, SourcePlan::Oci { verifier: VerifierChoice::Cosign(_), .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod error;
mod hosts;
mod index;
mod index_source;
mod install;
mod installer;
mod name;
mod plan;
mod receipt;
mod tarball;
mod uninstall;
mod upgrade;
mod verify;

pub use config::{ConfigError, Gallery, IndexLocation, OperatorConfig, RegistrySettings};
pub use error::InstallError;
pub use hosts::{client_builder, registry_mirrors};
pub use index::{BackendEntry, BackendIndex, IndexError, LookupError, MAX_INDEX_BYTES};
pub use index_source::{fetch_index, github_raw_url, IndexSourceError, LoadedIndex, GITHUB_SCHEME};
pub use install::{install_dir, load_index, registry_client, trust_root, InstallOutcome};
pub use installer::{DecisionTable, Installer, InstallerBuilder, VerifierFactory, VerifierRequest};
pub use name::{EntryName, NameError, MAX_NAME_LEN, RECEIPT_SUFFIX};
pub use plan::{plan, InstallPlan, SourcePlan, VerifierChoice};
pub use receipt::{installed, receipt_path, InstallReceipt, InstalledBackend};
pub use tarball::tarball_sha256;
pub use uninstall::{uninstall, UninstallOutcome};
pub use upgrade::{UpgradeReport, UpgradeStatus};
pub use verify::{CheckStatus, InstalledCheck};
