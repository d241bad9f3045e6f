//! [`ImageLocation`]: where an image lives, parsed once.
//!
//! Every command (verify, pull, install, upgrade, verify-installed) turns its image string into
//! an `ImageLocation` here and nowhere else: a registry reference (`host[:port]/repo[:tag|@digest]`,
//! an `oci://` prefix allowed, Docker Hub shorthand normalised) or a local OCI image layout
//! (`oci-layout:PATH[:tag|@digest]`). This is the only code that knows the `oci-layout:` prefix.

use std::fmt;
use std::path::PathBuf;

use trustpull_policy::Digest;
use trustpull_referrers::ImageReference;

use crate::SourceLocation;

/// The reference prefix for local OCI image layouts.
pub const LAYOUT_SCHEME: &str = "oci-layout:";

/// The `registry` an image subject carries for layout images.
pub const LAYOUT_REGISTRY: &str = "oci-layout";

/// The reference prefix for OCI image archives (a tar of a layout; LocalAI's `ocifile://`).
pub const ARCHIVE_SCHEME: &str = "ocifile://";

/// The `registry` an image subject carries for archive images.
pub const ARCHIVE_REGISTRY: &str = "ocifile";

/// Where an image lives. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageLocation {
    /// An image in a registry.
    Registry(ImageReference),
    /// An image in a local OCI image layout.
    Layout(LayoutLocation),
    /// An image in an OCI image archive (`ocifile://PATH[@digest]`): `root` is the archive
    /// file, read as the layout it holds ([`crate::ArchiveSource`]).
    Archive(LayoutLocation),
}

/// An image in a local OCI image layout: the directory and what selects the image in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutLocation {
    /// The layout directory (holding `index.json` and `blobs/`).
    pub root: PathBuf,
    /// Which image of the layout.
    pub selector: LayoutSelector,
}

/// What selects an image inside a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutSelector {
    /// The layout's only image (an error when it holds several).
    Only,
    /// The `index.json` entry whose `org.opencontainers.image.ref.name` is this tag.
    Tag(String),
    /// The manifest or index with this digest.
    Digest(Digest),
}

/// An image string that is not a location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct LocationError {
    /// The string given.
    pub reference: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ImageLocation {
    /// Parses an image string (see the module docs).
    pub fn parse(input: &str) -> Result<Self, LocationError> {
        let bad = |reason: String| LocationError {
            reference: input.to_owned(),
            reason,
        };
        if let Some(spec) = input.strip_prefix(LAYOUT_SCHEME) {
            return LayoutLocation::parse(spec).map(Self::Layout).map_err(bad);
        }
        if let Some(spec) = input.strip_prefix(ARCHIVE_SCHEME) {
            return LayoutLocation::parse_archive(spec)
                .map(Self::Archive)
                .map_err(bad);
        }
        if let Some((scheme, _)) = input.split_once("://").filter(|(s, _)| *s != "oci") {
            return Err(bad(format!(
                "{scheme}:// is not an image source trustpull can verify (registry references, oci-layout: and ocifile:// are); refusing to install what cannot be verified"
            )));
        }
        ImageReference::parse(input)
            .map(Self::Registry)
            .map_err(|e| bad(e.to_string()))
    }

    /// The same image pinned to `digest` (no tag lookup when it is resolved).
    #[must_use]
    pub fn with_digest(&self, digest: Digest) -> Self {
        match self {
            Self::Registry(r) => {
                Self::Registry(ImageReference::by_digest(r.repository().clone(), digest))
            }
            Self::Layout(l) => Self::Layout(LayoutLocation {
                root: l.root.clone(),
                selector: LayoutSelector::Digest(digest),
            }),
            Self::Archive(l) => Self::Archive(LayoutLocation {
                root: l.root.clone(),
                selector: LayoutSelector::Digest(digest),
            }),
        }
    }

    /// The digest the location names, if it names one: resolving it must return exactly the
    /// document with this digest.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            Self::Registry(r) => r.digest(),
            Self::Layout(l) | Self::Archive(l) => match &l.selector {
                LayoutSelector::Digest(d) => Some(d),
                _ => None,
            },
        }
    }

    /// The registry host, or [`LAYOUT_REGISTRY`].
    pub fn registry(&self) -> &str {
        match self {
            Self::Registry(r) => r.repository().registry(),
            Self::Layout(_) => LAYOUT_REGISTRY,
            Self::Archive(_) => ARCHIVE_REGISTRY,
        }
    }

    /// The repository path, or the layout directory.
    pub fn repository(&self) -> String {
        match self {
            Self::Registry(r) => r.repository().name().to_owned(),
            Self::Layout(l) | Self::Archive(l) => l.root.display().to_string(),
        }
    }
}

impl From<&ImageLocation> for SourceLocation {
    fn from(location: &ImageLocation) -> Self {
        SourceLocation {
            registry: location.registry().to_owned(),
            repository: location.repository(),
            reference: location.to_string(),
            digest: location.digest().cloned(),
        }
    }
}

impl LayoutLocation {
    /// Parses `PATH[@sha256:…]` (the part after `ocifile://`): the archive holds one image
    /// unless a digest selects it.
    fn parse_archive(spec: &str) -> Result<Self, String> {
        let (path, selector) = match spec.rsplit_once("@sha256:") {
            Some((path, hex)) => {
                let digest = Digest::parse(&format!("sha256:{hex}")).map_err(|e| e.to_string())?;
                (path, LayoutSelector::Digest(digest))
            }
            None => (spec, LayoutSelector::Only),
        };
        if path.is_empty() {
            return Err("the archive path is empty; use ocifile://PATH[@sha256:…]".to_owned());
        }
        Ok(Self {
            root: PathBuf::from(path),
            selector,
        })
    }

    /// Parses `PATH[:tag|@digest]` (the part after `oci-layout:`). A `:` after the last `/`
    /// starts a tag; `@sha256:` starts a digest.
    fn parse(spec: &str) -> Result<Self, String> {
        let (path, selector) = if let Some((path, digest)) = spec.rsplit_once('@') {
            let digest = Digest::parse(digest).map_err(|e| e.to_string())?;
            (path, LayoutSelector::Digest(digest))
        } else {
            let last_slash = spec.rfind('/').map_or(0, |i| i + 1);
            match spec[last_slash..].rfind(':') {
                Some(i) => {
                    let (path, tag) = spec.split_at(last_slash + i);
                    (path, LayoutSelector::Tag(tag[1..].to_owned()))
                }
                None => (spec, LayoutSelector::Only),
            }
        };
        if path.is_empty() {
            return Err("the layout path is empty; use oci-layout:PATH[:tag|@digest]".to_owned());
        }
        if matches!(&selector, LayoutSelector::Tag(t) if t.is_empty()) {
            return Err("the tag after ':' is empty".to_owned());
        }
        Ok(Self {
            root: PathBuf::from(path),
            selector,
        })
    }
}

impl fmt::Display for ImageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry(r) => write!(f, "{r}"),
            Self::Layout(l) => {
                write!(f, "{LAYOUT_SCHEME}{}", l.root.display())?;
                match &l.selector {
                    LayoutSelector::Only => Ok(()),
                    LayoutSelector::Tag(t) => write!(f, ":{t}"),
                    LayoutSelector::Digest(d) => write!(f, "@{d}"),
                }
            }
            Self::Archive(l) => {
                write!(f, "{ARCHIVE_SCHEME}{}", l.root.display())?;
                match &l.selector {
                    LayoutSelector::Digest(d) => write!(f, "@{d}"),
                    // An archive is only ever selected by digest or as its only image.
                    _ => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(input: &str) -> LayoutLocation {
        match ImageLocation::parse(input) {
            Ok(ImageLocation::Layout(l)) => l,
            other => panic!("{input}: {other:?}"),
        }
    }

    #[test]
    fn parses_layouts_and_registries_once() {
        let d = Digest::of(b"x");
        for (input, root, selector) in [
            (
                "oci-layout:examples/demo-image:v1",
                "examples/demo-image",
                LayoutSelector::Tag("v1".into()),
            ),
            (
                "oci-layout:examples/demo-image",
                "examples/demo-image",
                LayoutSelector::Only,
            ),
            (
                "oci-layout:./a:b/layout",
                "./a:b/layout",
                LayoutSelector::Only,
            ),
            (
                &format!("oci-layout:/tmp/l@{d}"),
                "/tmp/l",
                LayoutSelector::Digest(d.clone()),
            ),
        ] {
            let l = layout(input);
            assert_eq!(
                (l.root, l.selector),
                (PathBuf::from(root), selector),
                "{input}"
            );
            assert_eq!(
                ImageLocation::parse(input).map(|l| l.to_string()),
                Ok(input.to_owned())
            );
        }
        for bad in [
            "oci-layout:",
            "oci-layout:p@sha256:zz",
            "oci-layout:p:",
            "UPPER/case:x",
            "",
        ] {
            assert!(ImageLocation::parse(bad).is_err(), "{bad}");
        }
        let r = ImageLocation::parse("127.0.0.1:5000/acme/b:v1").expect("registry");
        assert_eq!(
            (r.registry(), r.repository().as_str(), r.digest()),
            ("127.0.0.1:5000", "acme/b", None)
        );
        let pinned = r.with_digest(d.clone());
        assert_eq!(pinned.to_string(), format!("127.0.0.1:5000/acme/b@{d}"));
        let a = ImageLocation::parse("ocifile:///srv/backend.tar").expect("archive");
        assert_eq!(
            (a.registry(), a.repository().as_str(), a.digest()),
            (ARCHIVE_REGISTRY, "/srv/backend.tar", None)
        );
        let pinned = a.with_digest(d.clone());
        assert_eq!(
            pinned.to_string(),
            format!("ocifile:///srv/backend.tar@{d}")
        );
        assert_eq!(ImageLocation::parse(&pinned.to_string()), Ok(pinned));
        for refused in [
            "ollama://gemma:2b",
            "huggingface://a/b",
            "https://e.com/x.tar",
        ] {
            let err = ImageLocation::parse(refused).expect_err(refused);
            assert!(err.reason.contains("can verify"), "{err}");
        }
        assert!(ImageLocation::parse("oci://quay.io/a/b:v1").is_ok());
        // LocalAI's per-entry mirrors use Docker Hub shorthand: resolved as docker does.
        for (short, repository) in [
            (
                "localai/localai-backends:latest-cpu-llama-cpp",
                "localai/localai-backends",
            ),
            ("alpine:3", "library/alpine"),
        ] {
            let l = ImageLocation::parse(short).expect("docker hub shorthand");
            assert_eq!(
                (l.registry(), l.repository().as_str()),
                ("docker.io", repository)
            );
        }
        let l = ImageLocation::parse("oci-layout:/x:v1")
            .expect("layout")
            .with_digest(d.clone());
        assert_eq!(l.digest(), Some(&d));
    }
}
