//! The operator config's `registries:` as the library values that apply them: the registry
//! client's per-host transport settings (`plain_http`, `ca_file`) and the downloader's
//! [`RegistryMirrors`] (`mirrors`).

use trustpull_downloader::RegistryMirrors;
use trustpull_referrers::{RegistryClientBuilder, RegistryError};

use crate::OperatorConfig;

/// A registry client builder with every host's `plain_http` and `ca_file` (read here; an
/// unreadable file is a configuration error naming it).
pub fn client_builder(config: &OperatorConfig) -> Result<RegistryClientBuilder, RegistryError> {
    let mut builder = trustpull_referrers::RegistryClient::builder();
    for r in &config.registries {
        if r.plain_http {
            builder = builder.plain_http_host(r.host.clone());
        }
        if let Some(path) = &r.ca_file {
            let pem = std::fs::read(path).map_err(|e| RegistryError::Config {
                reason: format!(
                    "cannot read ca_file {} of registry {}: {e}",
                    path.display(),
                    r.host
                ),
            })?;
            builder = builder.host_root_certificates_pem(r.host.clone(), pem);
        }
    }
    Ok(builder)
}

/// The registry mirrors of `config`: for each host with `mirrors:`, its mirrors in order.
pub fn registry_mirrors(config: &OperatorConfig) -> RegistryMirrors {
    let mut mirrors = RegistryMirrors::default();
    for r in &config.registries {
        for m in &r.mirrors {
            mirrors = mirrors.with_mirror(r.host.clone(), m.clone());
        }
    }
    mirrors
}
