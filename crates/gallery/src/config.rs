//! The operator config: which galleries to use and the policy each must satisfy.
//!
//! This file is trusted (it is the operator's, never fetched from the network) and strict:
//! unknown keys, half policies and bad regexes are errors at load time, naming the file, the
//! gallery and the field, so nothing surprises an install later.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use trustpull_policy::{PolicyError, PolicySpec, TrustPolicy};

/// The validated operator config.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Strict mode: refuse what cannot be proven (the CLI's `--require-integrity` forces it on).
    pub require_integrity: bool,
    /// A trusted root file, resolved against the config's directory; `None` = embedded default.
    pub trusted_root: Option<PathBuf>,
    /// Per-registry settings.
    pub registries: Vec<RegistrySettings>,
    /// The galleries, in the order they were written.
    pub galleries: Vec<Gallery>,
}

/// Settings for one registry host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// `host[:port]`, as written in image references.
    pub host: String,
    /// Talk plain HTTP to this host (loopback test registries, gallery indexes, tarballs).
    #[serde(default)]
    pub plain_http: bool,
    /// Registry mirrors (`host[:port]`, containerd `hosts.toml` semantics): content for images
    /// of this host is fetched from these first, in order, at the same repository path, then
    /// from the host itself. Trust does not depend on them: everything is verified by digest
    /// and signature whichever host served it.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// A CA certificate file (PEM) trusted for this host only, beside the system roots;
    /// relative paths are resolved against the config's directory.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// One gallery: where its index is and who must have signed its images.
#[derive(Debug, Clone)]
pub struct Gallery {
    /// The gallery's name, unique in the config.
    pub name: String,
    /// Where the index is.
    pub url: IndexLocation,
    /// Other copies of the index, tried only when `url` is unavailable.
    pub mirrors: Vec<IndexLocation>,
    /// The policy its OCI images must satisfy; `None` means the gallery is unsigned.
    pub verification: Option<TrustPolicy>,
}

/// Where a backend index is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexLocation {
    /// A local file (relative paths and `file://` URLs resolved against the config's directory).
    File(PathBuf),
    /// An `http://` or `https://` URL.
    Url(String),
}

impl IndexLocation {
    /// `https://` and `http://` URLs as written; `github:OWNER/REPO/PATH[@REF]` as its
    /// raw.githubusercontent.com URL; `file://` and paths relative to `base`.
    fn parse(raw: &str, base: &Path) -> Result<Self, String> {
        if raw.starts_with("https://") || raw.starts_with("http://") {
            Ok(Self::Url(raw.to_owned()))
        } else if let Some(spec) = raw.strip_prefix(crate::index_source::GITHUB_SCHEME) {
            crate::github_raw_url(spec).map(Self::Url)
        } else if raw.contains("://") && !raw.starts_with("file://") {
            Err(format!(
                "{raw}: an index url is https://, http:// (plain_http hosts), file://, github:OWNER/REPO/PATH[@REF] or a path"
            ))
        } else {
            let path = Path::new(raw.strip_prefix("file://").unwrap_or(raw));
            Ok(Self::File(base.join(path)))
        }
    }
}

/// Why an operator config could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read gallery config {}", file.display())]
    Read {
        /// The config file.
        file: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or has an unknown key.
    #[error("gallery config {}{}: {message}", file.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Yaml {
        /// The config file.
        file: PathBuf,
        /// 1-based line, when the parser gives one.
        line: Option<usize>,
        /// What the parser said (it names unknown keys and the keys it expected).
        message: String,
    },
    /// A gallery's `verification:` block is not a usable policy.
    #[error("gallery config {}: gallery {gallery:?} field verification.{}: {source}", file.display(), source.field())]
    Policy {
        /// The config file.
        file: PathBuf,
        /// The gallery.
        gallery: String,
        /// Why (its `field()` names the policy field at fault).
        #[source]
        source: PolicyError,
    },
    /// A gallery has a blank name or url.
    #[error("gallery config {}: gallery #{position} has a blank `{field}`", file.display())]
    Blank {
        /// The config file.
        file: PathBuf,
        /// 1-based position of the gallery.
        position: usize,
        /// `name` or `url`.
        field: &'static str,
    },
    /// A gallery's url or mirror is not an index location.
    #[error("gallery config {}: gallery {gallery:?}: {reason}", file.display())]
    BadIndexUrl {
        /// The config file.
        file: PathBuf,
        /// The gallery.
        gallery: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// Two galleries share a name.
    #[error("gallery config {}: two galleries are named {name:?}; names must be unique", file.display())]
    DuplicateGallery {
        /// The config file.
        file: PathBuf,
        /// The repeated name.
        name: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    require_integrity: bool,
    #[serde(default)]
    trusted_root: Option<String>,
    #[serde(default)]
    registries: Vec<RegistrySettings>,
    #[serde(default)]
    galleries: Vec<RawGallery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGallery {
    name: String,
    url: String,
    #[serde(default)]
    mirrors: Vec<String>,
    /// Present-but-empty (`verification:`) is kept apart from absent: it is an error, not "unsigned".
    #[serde(default, deserialize_with = "present")]
    verification: Option<PolicySpec>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PolicySpec>, D::Error> {
    Ok(Some(
        Option::<PolicySpec>::deserialize(d)?.unwrap_or_default(),
    ))
}

impl OperatorConfig {
    /// Reads and validates the config at `file`.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        Self::parse(&text, file)
    }

    /// Validates config text; `file` names it in errors and anchors relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = yaml_serde::from_str(text).map_err(|e| ConfigError::Yaml {
            file: file.to_owned(),
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        let mut galleries: Vec<Gallery> = Vec::with_capacity(raw.galleries.len());
        for (i, g) in raw.galleries.into_iter().enumerate() {
            for (field, value) in [("name", &g.name), ("url", &g.url)] {
                if value.trim().is_empty() {
                    return Err(ConfigError::Blank {
                        file: file.to_owned(),
                        position: i + 1,
                        field,
                    });
                }
            }
            if galleries.iter().any(|existing| existing.name == g.name) {
                return Err(ConfigError::DuplicateGallery {
                    file: file.to_owned(),
                    name: g.name,
                });
            }
            let verification =
                g.verification
                    .map(TrustPolicy::new)
                    .transpose()
                    .map_err(|source| ConfigError::Policy {
                        file: file.to_owned(),
                        gallery: g.name.clone(),
                        source,
                    })?;
            let bad_url = |reason| ConfigError::BadIndexUrl {
                file: file.to_owned(),
                gallery: g.name.clone(),
                reason,
            };
            let url = IndexLocation::parse(&g.url, base).map_err(bad_url)?;
            let mirrors = g
                .mirrors
                .iter()
                .map(|m| IndexLocation::parse(m, base).map_err(bad_url))
                .collect::<Result<_, _>>()?;
            galleries.push(Gallery {
                url,
                mirrors,
                name: g.name,
                verification,
            });
        }
        let registries = raw
            .registries
            .into_iter()
            .map(|r| RegistrySettings {
                ca_file: r.ca_file.map(|ca| base.join(ca)),
                ..r
            })
            .collect();
        Ok(Self {
            require_integrity: raw.require_integrity,
            trusted_root: raw.trusted_root.map(|p| base.join(p)),
            registries,
            galleries,
        })
    }

    /// The gallery called `name`.
    pub fn gallery(&self, name: &str) -> Option<&Gallery> {
        self.galleries.iter().find(|g| g.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustpull_policy::SignedBy;

    const FILE: &str = "/etc/trustpull/galleries.yaml";

    fn parse(text: &str) -> Result<OperatorConfig, ConfigError> {
        OperatorConfig::parse(text, Path::new(FILE))
    }

    #[test]
    fn full_config() {
        let config = parse(
            r#"
require_integrity: true
trusted_root: ./trusted_root.json
registries:
  - host: 127.0.0.1:5000
    plain_http: true
  - host: quay.io
    mirrors: [127.0.0.1:5000, mirror.internal]
    ca_file: ./ca.pem
galleries:
  - name: acme
    url: ./index.yaml
    mirrors: [https://mirror.example/index.yaml, "file:///srv/index.yaml"]
    verification:
      issuer: https://token.actions.githubusercontent.com
      identity_regex: 'https://github\.com/acme/b/\.github/workflows/r\.yml@refs/(heads/main|tags/v.+)'
      not_before: "2026-05-01T00:00:00Z"
      extensions: { source_repository_uri: https://github.com/acme/b }
      signed: platform
  - name: community
    url: https://example.com/index.yaml
"#,
        )
        .unwrap();
        assert!(config.require_integrity);
        assert_eq!(
            config.trusted_root.as_deref(),
            Some(Path::new("/etc/trustpull/./trusted_root.json"))
        );
        assert_eq!(
            config.registries,
            [
                RegistrySettings {
                    host: "127.0.0.1:5000".into(),
                    plain_http: true,
                    mirrors: vec![],
                    ca_file: None,
                },
                RegistrySettings {
                    host: "quay.io".into(),
                    plain_http: false,
                    mirrors: vec!["127.0.0.1:5000".into(), "mirror.internal".into()],
                    ca_file: Some("/etc/trustpull/./ca.pem".into()),
                }
            ]
        );
        let acme = config.gallery("acme").unwrap();
        assert_eq!(
            acme.url,
            IndexLocation::File("/etc/trustpull/./index.yaml".into())
        );
        assert_eq!(
            acme.mirrors,
            [
                IndexLocation::Url("https://mirror.example/index.yaml".into()),
                IndexLocation::File("/srv/index.yaml".into())
            ]
        );
        assert_eq!(
            acme.verification.as_ref().unwrap().signed(),
            SignedBy::Platform
        );
        assert!(config.gallery("community").unwrap().verification.is_none());
    }

    #[test]
    fn index_urls() {
        let url = |u: &str| {
            parse(&format!("galleries: [{{name: g, url: '{u}'}}]"))
                .map(|c| c.galleries[0].url.clone())
        };
        assert_eq!(
            url("github:mudler/LocalAI/backend/index.yaml").unwrap(),
            IndexLocation::Url(
                "https://raw.githubusercontent.com/mudler/LocalAI/main/backend/index.yaml".into()
            )
        );
        assert_eq!(
            url("file:///srv/i.yaml").unwrap(),
            IndexLocation::File("/srv/i.yaml".into())
        );
        assert_eq!(
            url("i.yaml").unwrap(),
            IndexLocation::File("/etc/trustpull/i.yaml".into())
        );
        for bad in ["github:o/r", "ftp://x/i.yaml", "github:o/r/../../x"] {
            assert!(
                matches!(url(bad), Err(ConfigError::BadIndexUrl { ref gallery, .. }) if gallery == "g"),
                "{bad}"
            );
        }
    }

    fn policy_error(text: &str) -> (String, PolicyError) {
        match parse(text) {
            Err(ConfigError::Policy {
                gallery, source, ..
            }) => {
                assert_eq!(gallery, "g");
                (source.field(), source)
            }
            other => panic!("expected a policy error, got {other:?}"),
        }
    }

    #[test]
    fn bad_policies_name_gallery_and_field() {
        let head = "galleries:\n  - name: g\n    url: i.yaml\n    verification:";
        assert_eq!(
            policy_error(&format!("{head} {{}}")),
            ("verification".into(), PolicyError::Empty)
        );
        assert_eq!(
            policy_error(head),
            ("verification".into(), PolicyError::Empty)
        );
        assert_eq!(
            policy_error(&format!("{head} {{issuer: https://i}}")),
            ("identity".into(), PolicyError::MissingIdentity)
        );
        let (field, err) = policy_error(&format!(
            "{head} {{issuer: https://i, identity_regex: '('}}"
        ));
        assert_eq!(field, "identity_regex");
        assert!(matches!(err, PolicyError::BadRegex { .. }));
        let (field, _) = policy_error(&format!(
            "{head} {{issuer: https://i, identity: x, not_before: soon}}"
        ));
        assert_eq!(field, "not_before");
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let err = parse("galleries:\n  - name: g\n    url: i.yaml\n    verification:\n      issuer: https://i\n      identity: x\n      identity_regexp: y\n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::Yaml { line: Some(_), message, .. } if message.contains("identity_regexp")),
            "{err}"
        );
        let err = parse("galeries: []").unwrap_err();
        assert!(
            matches!(&err, ConfigError::Yaml { line: Some(1), .. }),
            "{err}"
        );
        assert!(err.to_string().contains(FILE), "{err}");
    }

    #[test]
    fn duplicate_and_blank_galleries() {
        assert!(matches!(
            parse("galleries: [{name: a, url: x}, {name: a, url: y}]"),
            Err(ConfigError::DuplicateGallery { name, .. }) if name == "a"
        ));
        assert!(matches!(
            parse("galleries: [{name: ' ', url: x}]"),
            Err(ConfigError::Blank { field: "name", .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in ".{0,300}") {
            let _ = parse(&text);
        }

        #[test]
        fn policy_fields_never_panic(issuer in ".{0,30}", identity in ".{0,30}", regex in ".{0,30}", nb in ".{0,30}") {
            let text = format!(
                "galleries:\n  - name: g\n    url: x\n    verification:\n      issuer: {issuer:?}\n      identity: {identity:?}\n      identity_regex: {regex:?}\n      not_before: {nb:?}\n"
            );
            let _ = parse(&text);
        }
    }
}
