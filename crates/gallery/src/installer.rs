//! [`Installer`]: the library entry point. One per process or per
//! configuration, it owns what many installs share — the operator config, the registry client
//! (connections, tokens), the trust root (loaded once), an optional verification cache,
//! progress — and the [`VerifierFactory`] that turns each plan cell into a verifier.
//!
//! What a caller shares across calls lives here (the context); what changes per call is an
//! argument: the backend name and the install directory. The methods are in the modules of
//! their flows: `install` (install.rs), `upgrade` (upgrade.rs), `uninstall` and
//! `list_installed` (uninstall.rs, receipt.rs), `verify_installed` (verify.rs).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use trustpull_downloader::{Downloader, DownloaderBuilder, NoProgress, Platform, ProgressObserver};
use trustpull_referrers::{Credentials, DiscoveryOptions, RegistryClient};
use trustpull_verifier::{
    CacheScope, CachingVerifier, CosignVerifier, ImageVerifier, NoopVerifier, TrustRoot,
    VerificationCache,
};

use crate::{
    load_index, registry_client, trust_root, BackendEntry, BackendIndex, EntryName, Gallery,
    InstallError, LookupError, OperatorConfig, VerifierChoice,
};

/// Chooses the verifier for one plan cell (a gallery's entry at one location, with the
/// [`VerifierChoice`] the decision table made). The default, [`DecisionTable`], runs the table
/// as the table writes it; a test or an embedding program passes its own to swap verifiers
/// (a counting one, a key-based one, one that consults an allowlist) without touching the
/// gallery code. The install flow still refuses what the table refuses outright (tarballs from
/// signed galleries, entries without a uri) before any factory is asked.
pub trait VerifierFactory: Send + Sync + fmt::Debug {
    /// The verifier for `request`, or an error that refuses the cell (e.g.
    /// [`InstallError::StrictRefusal`] for [`VerifierChoice::Strict`]).
    fn verifier(
        &self,
        request: &VerifierRequest<'_>,
    ) -> Result<Arc<dyn ImageVerifier>, InstallError>;
}

/// One plan cell, as a [`VerifierFactory`] sees it, with access to the installer's shared
/// trust root and cache.
#[derive(Debug)]
pub struct VerifierRequest<'a> {
    /// The gallery the entry comes from.
    pub gallery: &'a Gallery,
    /// The concrete entry being installed, upgraded or checked.
    pub backend: &'a EntryName,
    /// The location (the entry's uri or a mirror), as the index wrote it.
    pub location: &'a str,
    /// What the decision table chose for this cell.
    pub choice: &'a VerifierChoice,
    installer: &'a Installer,
}

impl VerifierRequest<'_> {
    /// The installer's trust root (the one it was given, or the config's, loaded once).
    pub fn trust_root(&self) -> Result<Arc<TrustRoot>, InstallError> {
        self.installer.trust_root()
    }

    /// The installer's verification cache, if it has one.
    pub fn cache(&self) -> Option<&Arc<VerificationCache>> {
        self.installer.cache.as_ref()
    }

    /// `verifier` behind the installer's cache ([`CachingVerifier`] with `scope`), or
    /// `verifier` itself when the installer has no cache. `scope` must name everything the
    /// verifier's answers depend on besides the subject (`CosignVerifier::cache_scope`).
    pub fn cached(
        &self,
        verifier: Arc<dyn ImageVerifier>,
        scope: CacheScope,
    ) -> Arc<dyn ImageVerifier> {
        match self.cache() {
            Some(cache) => Arc::new(CachingVerifier::new(verifier, Arc::clone(cache), scope)),
            None => verifier,
        }
    }
}

/// The default [`VerifierFactory`]: the decision table. `Cosign` → [`CosignVerifier`] with
/// the gallery's policy and the installer's trust root, behind the installer's cache if it has
/// one; `Noop` → [`NoopVerifier`] (the install warns); `Strict` → refused before anything is
/// resolved or fetched ([`InstallError::StrictRefusal`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct DecisionTable;

impl VerifierFactory for DecisionTable {
    fn verifier(
        &self,
        request: &VerifierRequest<'_>,
    ) -> Result<Arc<dyn ImageVerifier>, InstallError> {
        match request.choice {
            VerifierChoice::Cosign(policy) => {
                let cosign = CosignVerifier::new(Arc::new(policy.clone()), request.trust_root()?);
                let scope = cosign.cache_scope();
                Ok(request.cached(Arc::new(cosign), scope))
            }
            VerifierChoice::Noop { warning } => Ok(Arc::new(NoopVerifier::new(warning.clone()))),
            VerifierChoice::Strict { reason } => Err(InstallError::StrictRefusal {
                name: request.backend.to_string(),
                gallery: request.gallery.name.clone(),
                reason: reason.clone(),
            }),
        }
    }
}

/// Installs, upgrades, removes, lists and re-checks backends from the configured galleries.
/// Build it with [`Installer::builder`]; share it (`&Installer` or `Arc`) across installs.
///
/// ```no_run
/// use std::sync::Arc;
/// use trustpull_gallery::{Installer, OperatorConfig};
/// use trustpull_verifier::{MonotonicClock, TrustRoot, VerificationCache};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = OperatorConfig::load("examples/galleries.yaml".as_ref())?;
/// let root = Arc::new(TrustRoot::from_file("examples/trusted_root.json".as_ref())?);
/// let installer = Installer::builder(config)
///     .trust_root(root)
///     .cache(Arc::new(VerificationCache::new(Arc::new(MonotonicClock))))
///     .build()?;
/// let outcome = installer.install("demo", "/tmp/backends".as_ref()).await?;
/// assert!(outcome.receipt.verified);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Installer {
    pub(crate) config: OperatorConfig,
    pub(crate) client: RegistryClient,
    trust_root: Mutex<Option<Arc<TrustRoot>>>,
    pub(crate) cache: Option<Arc<VerificationCache>>,
    pub(crate) verifiers: Arc<dyn VerifierFactory>,
    pub(crate) progress: Arc<dyn ProgressObserver>,
    pub(crate) platform: Platform,
    pub(crate) capability: String,
    pub(crate) discovery: DiscoveryOptions,
    pub(crate) strict: bool,
}

/// Builds an [`Installer`]. Only the config is required.
#[derive(Debug)]
pub struct InstallerBuilder {
    config: OperatorConfig,
    client: Option<RegistryClient>,
    credentials: Credentials,
    trust_root: Option<Arc<TrustRoot>>,
    cache: Option<Arc<VerificationCache>>,
    verifiers: Arc<dyn VerifierFactory>,
    progress: Arc<dyn ProgressObserver>,
    platform: Option<Platform>,
    capability: String,
    discovery: DiscoveryOptions,
    require_integrity: bool,
}

impl InstallerBuilder {
    /// The registry client every install shares (connections, tokens). Default: one built
    /// from the config's `registries:` ([`registry_client`]) with the builder's credentials.
    #[must_use]
    pub fn client(mut self, client: RegistryClient) -> Self {
        self.client = Some(client);
        self
    }

    /// Credentials for the client built when none is given. Default: anonymous.
    #[must_use]
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// The trust root cosign verification uses. Default: the config's `trusted_root:` or the
    /// embedded public-good root, loaded once, the first time a cosign cell needs it.
    #[must_use]
    pub fn trust_root(mut self, root: Arc<TrustRoot>) -> Self {
        self.trust_root = Some(root);
        self
    }

    /// A verification cache shared with whoever else holds it. Default: none.
    #[must_use]
    pub fn cache(mut self, cache: Arc<VerificationCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The verifier for each plan cell. Default: [`DecisionTable`].
    #[must_use]
    pub fn verifiers(mut self, factory: Arc<dyn VerifierFactory>) -> Self {
        self.verifiers = factory;
        self
    }

    /// Where download progress goes. Default: nowhere.
    #[must_use]
    pub fn progress(mut self, observer: Arc<dyn ProgressObserver>) -> Self {
        self.progress = observer;
        self
    }

    /// The platform to pick from multi-arch indexes. Default: this machine's.
    #[must_use]
    pub fn platform(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
        self
    }

    /// The capability that resolves meta entries (`nvidia`, `metal`, …). Default: `default`.
    #[must_use]
    pub fn capability(mut self, capability: impl Into<String>) -> Self {
        self.capability = capability.into();
        self
    }

    /// How registry signatures are discovered (pass `DiscoveryOptions::at(now)`: the library
    /// reads no clock). Default: no time.
    #[must_use]
    pub fn discovery(mut self, options: DiscoveryOptions) -> Self {
        self.discovery = options;
        self
    }

    /// Forces strict mode on (`--require-integrity`); the config's `require_integrity` also
    /// does. It cannot turn the config's strict mode off.
    #[must_use]
    pub fn require_integrity(mut self, on: bool) -> Self {
        self.require_integrity = on;
        self
    }

    /// Builds the installer; fails only when the registry client cannot be built.
    pub fn build(self) -> Result<Installer, InstallError> {
        let client = match self.client {
            Some(client) => client,
            None => registry_client(&self.config, self.credentials)?,
        };
        Ok(Installer {
            strict: self.config.require_integrity || self.require_integrity,
            config: self.config,
            client,
            trust_root: Mutex::new(self.trust_root),
            cache: self.cache,
            verifiers: self.verifiers,
            progress: self.progress,
            platform: self
                .platform
                .unwrap_or_else(trustpull_downloader::host_platform),
            capability: self.capability,
            discovery: self.discovery,
        })
    }
}

/// A backend found in the galleries: the gallery, the concrete entry to install and, when the
/// name was a meta entry, that entry's name.
#[derive(Debug)]
pub(crate) struct Found<'c> {
    pub(crate) gallery: &'c Gallery,
    pub(crate) entry: BackendEntry,
    pub(crate) meta: Option<EntryName>,
    /// Index mirrors used because the gallery's url was unavailable, as warnings.
    pub(crate) warnings: Vec<String>,
}

impl Installer {
    /// Starts an [`InstallerBuilder`] for `config`.
    pub fn builder(config: OperatorConfig) -> InstallerBuilder {
        InstallerBuilder {
            config,
            client: None,
            credentials: Credentials::anonymous(),
            trust_root: None,
            cache: None,
            verifiers: Arc::new(DecisionTable),
            progress: Arc::new(NoProgress),
            platform: None,
            capability: "default".to_owned(),
            discovery: DiscoveryOptions::default(),
            require_integrity: false,
        }
    }

    /// The operator config.
    pub fn config(&self) -> &OperatorConfig {
        &self.config
    }

    /// Whether strict mode is on (config or builder).
    pub fn strict(&self) -> bool {
        self.strict
    }

    /// The verification cache, if any.
    pub fn cache(&self) -> Option<&Arc<VerificationCache>> {
        self.cache.as_ref()
    }

    /// The trust root: the one given to the builder, or the config's, loaded on first use and
    /// kept (a failed load is not kept: the next call tries again).
    pub fn trust_root(&self) -> Result<Arc<TrustRoot>, InstallError> {
        // Held across the file read only: two first calls at once load it once.
        let mut slot = self
            .trust_root
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(root) = slot.as_ref() {
            return Ok(Arc::clone(root));
        }
        let root = Arc::new(trust_root(&self.config)?);
        *slot = Some(Arc::clone(&root));
        Ok(root)
    }

    /// The index of `gallery`. Every index read of the installer goes through here.
    pub async fn index(&self, gallery: &Gallery) -> Result<BackendIndex, InstallError> {
        load_index(gallery, &self.client).await
    }

    /// The first gallery (config order) whose index has `name` (an entry name or alias), and
    /// the concrete entry it resolves to with the installer's capability. Only "not found"
    /// moves on to the next gallery: an ambiguous name is that gallery's answer.
    pub(crate) async fn find(&self, name: &str) -> Result<Found<'_>, InstallError> {
        for gallery in &self.config.galleries {
            let loaded = crate::fetch_index(gallery, &self.client)
                .await
                .map_err(|source| InstallError::IndexSource {
                    gallery: gallery.name.clone(),
                    source: Box::new(source),
                })?;
            let index = loaded.index;
            let lookup = |source| InstallError::Lookup {
                gallery: gallery.name.clone(),
                source,
            };
            let named = match index.get(name) {
                Err(LookupError::NotFound { .. }) => continue,
                Err(source) => return Err(lookup(source)),
                Ok(entry) => entry,
            };
            let meta = named.is_meta().then(|| named.name.clone());
            let entry = index.resolve(name, &self.capability).map_err(lookup)?;
            // An index read from a mirror because the url was unavailable is worth a warning:
            // the operator's primary index source is down.
            let warnings = loaded
                .skipped
                .iter()
                .map(|skipped| {
                    format!(
                        "gallery {:?}: index {skipped}; read from {} instead",
                        gallery.name, loaded.location
                    )
                })
                .collect();
            return Ok(Found {
                gallery,
                entry: entry.clone(),
                meta,
                warnings,
            });
        }
        Err(InstallError::UnknownBackend {
            name: name.to_owned(),
            searched: self
                .config
                .galleries
                .iter()
                .map(|g| g.name.clone())
                .collect(),
        })
    }

    /// The verifier for one plan cell, from the installer's [`VerifierFactory`].
    pub(crate) fn verifier_for(
        &self,
        gallery: &Gallery,
        backend: &EntryName,
        location: &str,
        choice: &VerifierChoice,
    ) -> Result<Arc<dyn ImageVerifier>, InstallError> {
        self.verifiers.verifier(&VerifierRequest {
            gallery,
            backend,
            location,
            choice,
            installer: self,
        })
    }

    /// A downloader builder with the installer's client, platform, progress and discovery.
    pub(crate) fn downloader(&self, verifier: Arc<dyn ImageVerifier>) -> DownloaderBuilder {
        Downloader::builder()
            .client(self.client.clone())
            .platform(self.platform.clone())
            .progress(Arc::clone(&self.progress))
            .discovery(self.discovery.clone())
            .mirrors(crate::registry_mirrors(&self.config))
            .verifier(verifier)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn send<T: Send>(_: &T) {}
    fn sync<T: Send + Sync>(_: &T) {}

    /// An embedding program shares one installer between tasks and spawns its calls.
    #[test]
    fn the_installer_is_shared_and_its_futures_can_be_spawned() {
        let config =
            OperatorConfig::parse("galleries: []\n", Path::new("/etc/g.yaml")).expect("config");
        let installer = Installer::builder(config).build().expect("installer");
        sync(&installer);
        let dest = Path::new("/nonexistent");
        send(&installer.install("x", dest));
        send(&installer.upgrade(&[], dest, true));
        send(&installer.uninstall("x", dest));
        send(&installer.list_installed(dest));
        send(&installer.verify_installed(dest));
    }
}
