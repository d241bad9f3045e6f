//! Image references: [`ImageReference`] (`host[:port]/repo[:tag|@digest]`) and [`Repository`].

use std::fmt;
use std::str::FromStr;

use trustpull_policy::Digest;

use crate::RegistryError;

/// A registry host and a repository in it: where manifests and blobs are fetched from.
///
/// Both parts are checked so they cannot smuggle URL syntax (`?`, `#`, `..`) into request paths.
///
/// ```
/// use trustpull_referrers::Repository;
/// let r = Repository::new("127.0.0.1:5000", "acme/backend")?;
/// assert_eq!(r.to_string(), "127.0.0.1:5000/acme/backend");
/// assert!(Repository::new("127.0.0.1:5000", "acme/../x").is_err());
/// # Ok::<(), trustpull_referrers::RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    registry: String,
    name: String,
}

impl Repository {
    /// Checks and wraps `registry` (`host[:port]`) and `name` (`acme/backend`).
    pub fn new(registry: &str, name: &str) -> Result<Self, RegistryError> {
        let whole = format!("{registry}/{name}");
        let bad = |reason: &str| RegistryError::InvalidReference {
            reference: whole.clone(),
            reason: reason.to_owned(),
        };
        if registry.is_empty()
            || !registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(bad(
                "the registry must be a host name or address with an optional port",
            ));
        }
        if name.is_empty()
            || name.split('/').any(|component| {
                component.is_empty()
                    || !component.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'.' | b'_' | b'-')
                    })
                    || !component
                        .bytes()
                        .next()
                        .is_some_and(|b| b.is_ascii_alphanumeric())
                    || !component
                        .bytes()
                        .last()
                        .is_some_and(|b| b.is_ascii_alphanumeric())
            })
        {
            return Err(bad(
                "repository components must be lowercase letters, digits and separators (. _ -)",
            ));
        }
        Ok(Self {
            registry: registry.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The registry host as written in the reference (`docker.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path (`library/alpine`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host requests go to: Docker Hub's API host for `docker.io`, else the registry.
    pub fn api_host(&self) -> &str {
        match self.registry.as_str() {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

/// A parsed image reference: a repository plus a tag, a digest, or both.
///
/// Parsing follows Docker's rules (via oci-client's reference parser): no host means
/// `docker.io`, one-component Docker Hub names get `library/`, no tag or digest means `:latest`.
/// An `oci://` prefix is accepted. Only sha256 digests are accepted.
///
/// ```
/// use trustpull_referrers::ImageReference;
/// let r: ImageReference = "127.0.0.1:5000/acme/b:v1".parse()?;
/// assert_eq!((r.repository().registry(), r.repository().name(), r.tag()), ("127.0.0.1:5000", "acme/b", Some("v1")));
/// let d: ImageReference = "alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000".parse()?;
/// assert_eq!(d.repository().to_string(), "docker.io/library/alpine");
/// assert!(d.digest().is_some());
/// # Ok::<(), trustpull_referrers::RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    repository: Repository,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageReference {
    /// Parses `host[:port]/repo[:tag][@sha256:…]`, optionally prefixed by `oci://`.
    pub fn parse(input: &str) -> Result<Self, RegistryError> {
        let bad = |reason: String| RegistryError::InvalidReference {
            reference: input.to_owned(),
            reason,
        };
        let text = input.strip_prefix("oci://").unwrap_or(input);
        let parsed = oci_client::Reference::from_str(text).map_err(|e| bad(e.to_string()))?;
        let repository = Repository::new(parsed.registry(), parsed.repository())?;
        let digest = parsed
            .digest()
            .map(|d| Digest::parse(d).map_err(|e| bad(e.to_string())))
            .transpose()?;
        let tag = parsed.tag().map(str::to_owned);
        Ok(Self {
            repository,
            tag,
            digest,
        })
    }

    /// A reference to `digest` in `repository`.
    pub fn by_digest(repository: Repository, digest: Digest) -> Self {
        Self {
            repository,
            tag: None,
            digest: Some(digest),
        }
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one. A pinned digest is always used; the tag is not
    /// looked up.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to put after `/manifests/`: the digest when there is one, else the tag.
    pub(crate) fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }
}

impl FromStr for ImageReference {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<(&str, &str, Option<&str>, bool)>) {
        let got = ImageReference::parse(input).ok();
        let got = got.as_ref().map(|r| {
            (
                r.repository().registry(),
                r.repository().name(),
                r.tag(),
                r.digest().is_some(),
            )
        });
        assert_eq!(got, expected, "input {input:?}");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_keeps_urls_clean(s in ".*") {
            if let Ok(r) = ImageReference::parse(&s) {
                let text = format!("{}/{}", r.repository().api_host(), r.repository().name());
                proptest::prop_assert!(!text.contains(['?', '#', ' ', '\\']));
                proptest::prop_assert!(!r.repository().name().split('/').any(|c| c == ".." || c == "."));
            }
        }
    }

    #[test]
    fn parses_references() {
        let zeros = "0".repeat(64);
        check(
            "127.0.0.1:5000/a/b:v1",
            Some(("127.0.0.1:5000", "a/b", Some("v1"), false)),
        );
        check(
            "oci://127.0.0.1:5000/a/b:v1",
            Some(("127.0.0.1:5000", "a/b", Some("v1"), false)),
        );
        check(
            "localhost:5000/a",
            Some(("localhost:5000", "a", Some("latest"), false)),
        );
        check(
            &format!("ghcr.io/a/b@sha256:{zeros}"),
            Some(("ghcr.io", "a/b", None, true)),
        );
        check(
            &format!("ghcr.io/a/b:v2@sha256:{zeros}"),
            Some(("ghcr.io", "a/b", Some("v2"), true)),
        );
        check(
            "alpine",
            Some(("docker.io", "library/alpine", Some("latest"), false)),
        );
        check(&format!("ghcr.io/a/b@sha512:{zeros}"), None);
        check("ghcr.io/A/b", None);
        check("", None);
    }
}
