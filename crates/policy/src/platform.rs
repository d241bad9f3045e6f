//! [`Platform`]: an index entry's `platform` field, and the platform a caller asks for
//! (`os/architecture[/variant]`, parsed and printed in that form).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An OCI platform: `os/architecture[/variant]`.
///
/// ```
/// use trustpull_policy::Platform;
/// let p: Platform = "linux/arm64/v8".parse()?;
/// assert_eq!(p.to_string(), "linux/arm64/v8");
/// assert!("linux".parse::<Platform>().is_err());
/// # Ok::<(), trustpull_policy::PlatformParseError>(())
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

impl Platform {
    /// Maps Rust's target names (`consts::OS` / `consts::ARCH` of the standard library) to the OCI platform names image
    /// indexes use (the Go `GOOS`/`GOARCH` names).
    ///
    /// - os: `macos` → `darwin`; every other name (`linux`, `windows`, `freebsd`, …) is the same.
    /// - architecture: `x86_64` → `amd64`, `aarch64` → `arm64`, `x86` → `386`,
    ///   `loongarch64` → `loong64`; `powerpc64` → `ppc64le` on little-endian, else `ppc64`;
    ///   `mips64` → `mips64le` on little-endian, else `mips64`; `mips` → `mipsle` / `mips` alike;
    ///   every other name (`arm`, `s390x`, `riscv64`, …) is the same.
    ///
    /// A pure function (the host is an argument) so that every row is tested on any host.
    /// The host's platform is `trustpull_downloader::host_platform()`: this crate reads
    /// nothing of the machine.
    pub fn of_rust_target(os: &str, arch: &str, little_endian: bool) -> Self {
        let os = match os {
            "macos" => "darwin",
            other => other,
        };
        let architecture = match (arch, little_endian) {
            ("x86_64", _) => "amd64",
            ("aarch64", _) => "arm64",
            ("x86", _) => "386",
            ("loongarch64", _) => "loong64",
            ("powerpc64", true) => "ppc64le",
            ("powerpc64", false) => "ppc64",
            ("mips64", true) => "mips64le",
            ("mips64", false) => "mips64",
            ("mips", true) => "mipsle",
            ("mips", false) => "mips",
            (other, _) => other,
        };
        Platform::new(os, architecture)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `(os, arch, little_endian)` from Rust → the OCI `os/architecture`.
    #[test]
    fn rust_target_names_map_to_oci_names() {
        for (os, arch, little, expected) in [
            ("linux", "x86_64", true, "linux/amd64"),
            ("linux", "aarch64", true, "linux/arm64"),
            ("linux", "x86", true, "linux/386"),
            ("linux", "arm", true, "linux/arm"),
            ("linux", "powerpc64", true, "linux/ppc64le"),
            ("linux", "powerpc64", false, "linux/ppc64"),
            ("linux", "s390x", false, "linux/s390x"),
            ("linux", "riscv64", true, "linux/riscv64"),
            ("linux", "loongarch64", true, "linux/loong64"),
            ("linux", "mips64", true, "linux/mips64le"),
            ("linux", "mips64", false, "linux/mips64"),
            ("linux", "mips", true, "linux/mipsle"),
            ("linux", "mips", false, "linux/mips"),
            ("macos", "x86_64", true, "darwin/amd64"),
            ("macos", "aarch64", true, "darwin/arm64"),
            ("windows", "x86_64", true, "windows/amd64"),
            ("windows", "aarch64", true, "windows/arm64"),
            ("freebsd", "x86_64", true, "freebsd/amd64"),
            ("netbsd", "sparc64", false, "netbsd/sparc64"),
        ] {
            assert_eq!(
                Platform::of_rust_target(os, arch, little).to_string(),
                expected,
                "{os} {arch} little_endian={little}"
            );
        }
    }
}
