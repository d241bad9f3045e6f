//! What the gallery commands (`install`, `upgrade`, `verify-installed`, `list --installed`)
//! share: loading the operator config, strict mode from `--require-integrity` and the
//! `TRUSTPULL_REQUIRE_INTEGRITY` environment variable, and building the one
//! [`Installer`] a command uses (Docker credentials, platform, progress, the current time for
//! signature discovery).

use std::path::Path;

use trustpull_gallery::{Installer, OperatorConfig};

use crate::trust_args::{discovery_now, docker_credentials};
use crate::{CliError, Status};

/// The environment variable that forces strict mode on, like
/// `--require-integrity`.
pub const REQUIRE_INTEGRITY_ENV: &str = "TRUSTPULL_REQUIRE_INTEGRITY";

/// Loads the operator config (exit 2 when it does not load).
pub fn load(path: &Path) -> Result<OperatorConfig, CliError> {
    OperatorConfig::load(path).map_err(|e| CliError::new(Status::Usage, e))
}

/// Strict mode from the flag or [`REQUIRE_INTEGRITY_ENV`]: `1` or `true` turn it on; `0`,
/// `false` or empty leave it as the flag says; anything else is a usage error (a typo must not
/// silently leave strict mode off).
pub fn require_integrity(flag: bool) -> Result<bool, CliError> {
    let value = std::env::var_os(REQUIRE_INTEGRITY_ENV);
    let forced = match value.as_ref().map(|v| v.to_str()) {
        None => false,
        Some(Some(v)) => parse_switch(v).ok_or_else(|| bad_switch(v))?,
        Some(None) => return Err(bad_switch("(not UTF-8)")),
    };
    Ok(flag || forced)
}

fn parse_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" | "" => Some(false),
        _ => None,
    }
}

fn bad_switch(value: &str) -> CliError {
    CliError::new(
        Status::Usage,
        format!("{REQUIRE_INTEGRITY_ENV}={value:?} is not understood; set it to 1 or true (strict mode on), or 0 or false"),
    )
}

/// The installer a gallery command runs with; its trust root follows
/// [`resolve_trust_root`](crate::trust_args::resolve_trust_root)'s order: the config's (loaded
/// by the installer when a signature is first checked), else a TUF-refreshed one (loaded here,
/// once, and handed over), else the embedded one (loaded by the installer when needed).
pub fn installer(
    config: OperatorConfig,
    strict: bool,
    platform: Option<trustpull_downloader::Platform>,
    capability: Option<&str>,
    quiet: bool,
) -> Result<Installer, CliError> {
    let cached = match config.trusted_root {
        Some(_) => None,
        None => crate::trust_args::cached_tuf_root()?,
    };
    let mut builder = Installer::builder(config)
        .credentials(docker_credentials()?)
        .require_integrity(strict)
        .discovery(discovery_now())
        .progress(crate::progress::observer(quiet));
    if let Some(root) = cached {
        builder = builder.trust_root(std::sync::Arc::new(root));
    }
    if let Some(platform) = platform {
        builder = builder.platform(platform);
    }
    if let Some(capability) = capability {
        builder = builder.capability(capability);
    }
    builder.build().map_err(|e| CliError::of(e.kind(), e))
}

#[cfg(test)]
mod tests {
    use super::parse_switch;

    #[test]
    fn switch_values() {
        for (value, expected) in [
            ("1", Some(true)),
            ("true", Some(true)),
            ("TRUE", Some(true)),
            ("0", Some(false)),
            ("false", Some(false)),
            ("", Some(false)),
            ("yes", None),
            ("2", None),
        ] {
            assert_eq!(parse_switch(value), expected, "{value:?}");
        }
    }
}
