//! [`Platform`]: an index entry's `platform` field, and the platform a caller asks for
//! (`os/architecture[/variant]`, parsed and printed in that form).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An OCI platform: `os/architecture[/variant]`.
///
/// ```
/// use trustpull_referrers::Platform;
/// let p: Platform = "linux/arm64/v8".parse()?;
/// assert_eq!(p.to_string(), "linux/arm64/v8");
/// assert!("linux".parse::<Platform>().is_err());
/// # Ok::<(), trustpull_referrers::PlatformParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Platform {
    /// `linux`, `windows`, …
    pub os: String,
    /// `amd64`, `arm64`, … (OCI names, not Rust's).
    pub architecture: String,
    /// `v7`, `v8`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A platform string that is not `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("platform {value:?} is not os/architecture[/variant], e.g. linux/amd64 or linux/arm/v7")]
pub struct PlatformParseError {
    /// The rejected input.
    pub value: String,
}

impl Platform {
    /// A platform without a variant.
    pub fn new(os: impl Into<String>, architecture: impl Into<String>) -> Self {
        Self {
            os: os.into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// The platform this program was built for, in OCI names (`x86_64` → `amd64`, `aarch64` →
    /// `arm64`).
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Self::new(std::env::consts::OS, architecture)
    }

    /// Does an index entry's platform (`offered`) satisfy this request? os and architecture
    /// exactly; the variant only when one was asked for.
    pub fn accepts(&self, offered: &Platform) -> bool {
        self.os == offered.os
            && self.architecture == offered.architecture
            && self
                .variant
                .as_ref()
                .is_none_or(|v| offered.variant.as_ref() == Some(v))
    }
}

impl FromStr for Platform {
    type Err = PlatformParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PlatformParseError {
            value: s.to_owned(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Self::new(*os, *arch)),
            [os, arch, variant] => Ok(Self {
                variant: Some((*variant).to_owned()),
                ..Self::new(*os, *arch)
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}
