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
/// Parsing follows the grammar of Docker's `distribution/reference` package and its
/// normalisation: no host means `docker.io`, one-component Docker Hub names get `library/`, no
/// tag or digest means `:latest`. An `oci://` prefix is accepted. Only sha256 digests are
/// accepted, and tags are ASCII (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, as in Docker).
///
/// The parser is hand-written rather than oci-client's: that one compiles a Unicode regex on
/// first use, which costs about 40 ms of CPU, more than a whole manifest request on loopback.
/// A property test checks the two agree on ASCII input.
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
        let parts = split_reference(text).map_err(|reason| bad(reason.to_owned()))?;
        let repository = Repository::new(&parts.registry, &parts.name)?;
        let digest = parts
            .digest
            .map(|d| Digest::parse(d).map_err(|e| bad(e.to_string())))
            .transpose()?;
        let tag = match (parts.tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
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

/// The longest repository path Docker accepts (after normalisation, e.g. `library/` added).
const NAME_MAX: usize = 255;

/// A reference split into its parts, normalised but not yet checked as a [`Repository`].
struct ReferenceParts<'a> {
    registry: String,
    name: String,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Splits `name[:tag][@digest]` following Docker's reference grammar:
///
/// ```text
/// name      := [domain '/'] path
/// domain    := domain-component ('.' domain-component)* [':' [0-9]+]
/// path      := path-component ('/' path-component)*
/// path-component := [a-z0-9]+ (separator [a-z0-9]+)*      separator := '.' | '_' | '__' | '-'+
/// tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
/// digest    := algorithm ':' hex{32,}
/// ```
///
/// then normalises the name as Docker does: the first component is the registry only when it
/// contains `.` or `:` or is `localhost`; Docker Hub names get `library/` when they have one
/// component.
fn split_reference(text: &str) -> Result<ReferenceParts<'_>, &'static str> {
    if text.is_empty() {
        return Err("the reference is empty");
    }
    let invalid = "not a reference of the form host[:port]/repository[:tag][@digest]";
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => {
            if !is_digest(digest) {
                return Err(invalid);
            }
            (rest, Some(digest))
        }
        None => (text, None),
    };
    // A ':' after the last '/' starts the tag; one before it belongs to the domain's port.
    let last_component_start = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_component_start..].find(':') {
        Some(i) => {
            let at = last_component_start + i;
            (&rest[..at], Some(&rest[at + 1..]))
        }
        None => (rest, None),
    };
    if tag.is_some_and(|t| !is_tag(t)) {
        return Err(invalid);
    }
    let valid_name = is_path(name)
        || name
            .split_once('/')
            .is_some_and(|(domain, path)| is_domain(domain) && is_path(path));
    if !valid_name {
        return Err(invalid);
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
            (first, path.to_owned())
        }
        _ => ("docker.io", name.to_owned()),
    };
    let registry = if registry == "index.docker.io" {
        "docker.io"
    } else {
        registry
    };
    let path = if registry == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    if path.len() > NAME_MAX {
        return Err("the repository name is longer than 255 characters");
    }
    Ok(ReferenceParts {
        registry: registry.to_owned(),
        name: path,
        tag,
        digest,
    })
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` components joined by `/`.
fn is_path(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(is_path_component)
}

fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    // Every run of non-alphanumerics between two alphanumeric runs is a separator.
    let mut rest = bytes;
    while !rest.is_empty() {
        let run = rest.iter().take_while(|b| alnum(b)).count();
        rest = &rest[run..];
        let sep = rest.iter().take_while(|b| !alnum(b)).count();
        let ok = match &rest[..sep] {
            [] | [b'.'] | [b'_'] | [b'_', b'_'] => true,
            dashes => dashes.iter().all(|&b| b == b'-'),
        };
        if !ok {
            return false;
        }
        rest = &rest[sep..];
    }
    true
}

/// `domain-component ('.' domain-component)* [':' port]`, a component being
/// `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`.
fn is_domain(domain: &str) -> bool {
    let host = match domain.split_once(':') {
        Some((host, port)) => {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            host
        }
        None => domain,
    };
    host.split('.').all(|c| {
        let b = c.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    })
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let b = tag.as_bytes();
    b.first().is_some_and(word)
        && b.len() <= 128
        && b.iter().all(|x| word(x) || matches!(x, b'.' | b'-'))
}

/// `algorithm ':' hex{32,}` with `algorithm := [A-Za-z][A-Za-z0-9]* ([-_+.][A-Za-z][A-Za-z0-9]*)*`.
/// Which algorithms are accepted is [`Digest::parse`]'s business (sha256 only).
fn is_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let component = |c: &str| {
        let b = c.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic) && b.iter().all(u8::is_ascii_alphanumeric)
    };
    let mut rest = algorithm;
    loop {
        match rest.find(['-', '_', '+', '.']) {
            Some(i) => {
                if !component(&rest[..i]) {
                    return false;
                }
                rest = &rest[i + 1..];
            }
            None => {
                if !component(rest) {
                    return false;
                }
                break;
            }
        }
    }
    hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
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

    /// What oci-client's regex parser (Docker's grammar) makes of `input`, through the same
    /// checks as ours: the oracle for the hand-written parser.
    fn oci_client_view(input: &str) -> Option<(String, String, Option<String>, Option<String>)> {
        let text = input.strip_prefix("oci://").unwrap_or(input);
        let r = oci_client::Reference::from_str(text).ok()?;
        let repository = Repository::new(r.registry(), r.repository()).ok()?;
        let digest = r.digest().map(Digest::parse).transpose().ok()?;
        Some((
            repository.registry().to_owned(),
            repository.name().to_owned(),
            r.tag().map(str::to_owned),
            digest.map(|d| d.to_string()),
        ))
    }

    fn our_view(input: &str) -> Option<(String, String, Option<String>, Option<String>)> {
        let r = ImageReference::parse(input).ok()?;
        Some((
            r.repository().registry().to_owned(),
            r.repository().name().to_owned(),
            r.tag().map(str::to_owned),
            r.digest().map(|d| d.to_string()),
        ))
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_oci_client_on_shaped_references(
            s in "(oci://)?(([a-zA-Z0-9.-]{1,12}(:[0-9]{0,5})?|localhost|index.docker.io)/)?[a-z0-9._-]{1,12}(/[a-z0-9._-]{1,8}){0,2}(:[A-Za-z0-9_.-]{0,10})?(@sha(256|512):[0-9a-fA-F]{60,66})?"
        ) {
            proptest::prop_assert_eq!(our_view(&s), oci_client_view(&s), "input {:?}", s);
        }

        #[test]
        fn agrees_with_oci_client_on_ascii_noise(s in "[a-zA-Z0-9._:/@_-]{0,40}") {
            proptest::prop_assert_eq!(our_view(&s), oci_client_view(&s), "input {:?}", s);
        }
    }

    #[test]
    fn tags_are_ascii_as_in_docker() {
        // oci-client's regex reads `\w` as Unicode; Docker's grammar (Go regexp) does not.
        assert!(matches!(
            ImageReference::parse("127.0.0.1:5000/a/b:v\u{e9}"),
            Err(RegistryError::InvalidReference { .. })
        ));
        let long = "t".repeat(129);
        assert!(matches!(
            ImageReference::parse(&format!("127.0.0.1:5000/a/b:{long}")),
            Err(RegistryError::InvalidReference { .. })
        ));
        let longest = "t".repeat(128);
        check(
            &format!("127.0.0.1:5000/a/b:{longest}"),
            Some(("127.0.0.1:5000", "a/b", Some(longest.as_str()), false)),
        );
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
