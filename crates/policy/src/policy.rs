//! `TrustPolicy`: the validated `verification:` block, and the raw `PolicySpec` it is built from.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::{Digest, FulcioClaim};

/// The predicate type cosign writes for `cosign sign --new-bundle-format`.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Which digest must carry the signature when an image is selected from an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignedBy {
    /// The platform (child) manifest digest must be signed (`cosign sign --recursive`).
    Platform,
    /// The index digest must be signed.
    Index,
    /// Either is accepted: the child digest is read from index bytes fetched by their digest.
    #[default]
    Either,
}

/// A signature format a policy accepts: `formats: [bundle, legacy]`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SignatureFormat {
    /// A Sigstore bundle (v0.1–v0.3) found as an OCI referrer (`cosign sign --new-bundle-format`).
    #[default]
    Bundle,
    /// cosign's simple-signing signature: a `sha256-<hex>.sig` tag (or an old-format referrer)
    /// whose layers carry the payload, with signature, certificate and Rekor SET in annotations.
    Legacy,
}

impl SignatureFormat {
    /// Every format, in the order a verifier tries them.
    pub const ALL: [SignatureFormat; 2] = [SignatureFormat::Bundle, SignatureFormat::Legacy];

    /// The name used in policies and receipts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bundle => "bundle",
            Self::Legacy => "legacy",
        }
    }
}

impl fmt::Display for SignatureFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `verification:` block as written, before validation. Unknown keys are rejected.
///
/// Build a [`TrustPolicy`] from it with [`TrustPolicy::new`]; nothing else consumes a spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Exact OIDC issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// OIDC issuer regex (full match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_regex: Option<String>,
    /// Exact certificate identity (SAN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Certificate identity regex (full match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_regex: Option<String>,
    /// Revocation cutoff, RFC 3339: signatures made earlier are rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// Fulcio certificate claims by name, exact match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, String>,
    /// Accepted in-toto predicate types for DSSE bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate_types: Option<Vec<String>>,
    /// Which digest must carry the signature for an image selected from an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<SignedBy>,
    /// Which signature formats count (default: both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formats: Option<Vec<SignatureFormat>>,
    /// Predicate types (URIs) that must each be attested for the image, by a signer this policy
    /// accepts. Empty or absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require_attestations: Vec<String>,
    /// Bind signatures to a repository (off by default): the legacy payload's
    /// `critical.identity.docker-reference`, or the in-toto subject's name, must equal this
    /// (`registry/repository`, e.g. `quay.io/go-skynet/local-ai-backends`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

/// Why a `verification:` block is not a usable policy. Raised at load time, never at install.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Nothing was set.
    #[error("verification policy is empty; add `issuer` (or `issuer_regex`) and `identity` (or `identity_regex`) naming who must have signed")]
    Empty,
    /// Neither issuer nor issuer_regex.
    #[error("verification policy has no issuer; add `issuer` or `issuer_regex` (e.g. https://token.actions.githubusercontent.com)")]
    MissingIssuer,
    /// Neither identity nor identity_regex.
    #[error("verification policy has no identity; add `identity` or `identity_regex` (e.g. the signing workflow URI)")]
    MissingIdentity,
    /// A field is present but blank.
    #[error("`{field}` is blank; give it a value or remove it")]
    Blank {
        /// The field name.
        field: String,
    },
    /// A regex does not compile.
    #[error("`{field}` is not a valid regex ({pattern:?}): {reason}")]
    BadRegex {
        /// The field name.
        field: &'static str,
        /// The pattern as written.
        pattern: String,
        /// What the regex compiler said.
        reason: String,
    },
    /// `not_before` is not RFC 3339.
    #[error("`not_before` {value:?} is not an RFC 3339 time ({reason}); write e.g. \"2026-05-01T00:00:00Z\"")]
    BadNotBefore {
        /// The value as written.
        value: String,
        /// What the parser said.
        reason: String,
    },
    /// An `extensions:` key that is not a Fulcio claim.
    #[error("`extensions.{name}` is not a Fulcio certificate claim; known claims: {known}")]
    UnknownExtension {
        /// The key as written.
        name: String,
        /// The accepted names, comma separated.
        known: String,
    },
    /// `predicate_types: []`.
    #[error("`predicate_types` is empty, so no DSSE bundle could pass; remove it to accept {COSIGN_SIGN_PREDICATE} or list the types to accept")]
    NoPredicateTypes,
    /// A `require_attestations:` entry that is not a predicate type URI.
    #[error("`require_attestations` entry {value:?} is not a predicate type URI; write the URI, e.g. https://slsa.dev/provenance/v1")]
    BadAttestationType {
        /// The entry as written.
        value: String,
    },
    /// `formats: []`.
    #[error("`formats` is empty, so no signature could pass; remove it to accept both `bundle` and `legacy`, or list the formats to accept")]
    NoFormats,
}

impl PolicyError {
    /// The policy field the error is about, for messages that point at a file.
    pub fn field(&self) -> String {
        match self {
            Self::Empty => "verification".into(),
            Self::MissingIssuer => "issuer".into(),
            Self::MissingIdentity => "identity".into(),
            Self::Blank { field } => field.clone(),
            Self::BadRegex { field, .. } => (*field).into(),
            Self::BadNotBefore { .. } => "not_before".into(),
            Self::UnknownExtension { name, .. } => format!("extensions.{name}"),
            Self::NoPredicateTypes => "predicate_types".into(),
            Self::NoFormats => "formats".into(),
            Self::BadAttestationType { .. } => "require_attestations".into(),
        }
    }
}

/// A string constraint: exact value, full-match regex, or both (both must then match).
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub(crate) exact: Option<String>,
    pub(crate) regex: Option<FullRegex>,
}

/// A regex that must match the whole value; the unanchored form is kept to explain near misses.
#[derive(Debug, Clone)]
pub(crate) struct FullRegex {
    pub(crate) pattern: String,
    anchored: Regex,
    unanchored: Regex,
}

impl FullRegex {
    fn compile(field: &'static str, pattern: &str) -> Result<Self, PolicyError> {
        let bad = |e: regex::Error| PolicyError::BadRegex {
            field,
            pattern: pattern.to_owned(),
            reason: e.to_string(),
        };
        let unanchored = Regex::new(pattern).map_err(bad)?;
        let anchored = Regex::new(&format!("^(?:{pattern})$")).map_err(bad)?;
        Ok(Self {
            pattern: pattern.to_owned(),
            anchored,
            unanchored,
        })
    }

    pub(crate) fn is_full_match(&self, value: &str) -> bool {
        self.anchored.is_match(value)
    }

    pub(crate) fn is_partial_match(&self, value: &str) -> bool {
        !self.is_full_match(value) && self.unanchored.is_match(value)
    }
}

impl Matcher {
    fn new(
        exact_field: &'static str,
        exact: &Option<String>,
        regex_field: &'static str,
        regex: &Option<String>,
    ) -> Result<Option<Self>, PolicyError> {
        let exact = non_blank(exact_field, exact)?;
        let regex = non_blank(regex_field, regex)?
            .map(|p| FullRegex::compile(regex_field, &p))
            .transpose()?;
        Ok((exact.is_some() || regex.is_some()).then_some(Self { exact, regex }))
    }

    pub(crate) fn matches(&self, value: &str) -> bool {
        self.exact.as_deref().is_none_or(|e| e == value)
            && self.regex.as_ref().is_none_or(|r| r.is_full_match(value))
    }

    /// True when the regex matched part of the value but not all of it.
    pub(crate) fn partial_regex_match(&self, value: &str) -> bool {
        self.regex
            .as_ref()
            .is_some_and(|r| r.is_partial_match(value))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.exact, &self.regex) {
            (Some(e), None) => write!(f, "{e:?}"),
            (None, Some(r)) => write!(f, "a value fully matching /{}/", r.pattern),
            (Some(e), Some(r)) => write!(f, "{e:?} (also fully matching /{}/)", r.pattern),
            (None, None) => f.write_str("anything"),
        }
    }
}

fn non_blank(field: &str, value: &Option<String>) -> Result<Option<String>, PolicyError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(PolicyError::Blank {
            field: field.to_owned(),
        }),
        other => Ok(other.clone()),
    }
}

/// A validated trust policy: who must have signed, and under which constraints.
///
/// The only way to get one is [`TrustPolicy::new`], so holding one proves every regex compiled,
/// `not_before` parsed, and issuer and identity are both constrained.
///
/// ```
/// use trustpull_policy::{PolicySpec, TrustPolicy};
/// let spec = PolicySpec {
///     issuer: Some("https://token.actions.githubusercontent.com".into()),
///     identity_regex: Some(r"https://github\.com/acme/.+".into()),
///     ..PolicySpec::default()
/// };
/// let policy = TrustPolicy::new(spec)?;
/// assert!(policy.fingerprint().as_str().starts_with("sha256:"));
/// assert!(TrustPolicy::new(PolicySpec::default()).is_err());
/// # Ok::<(), trustpull_policy::PolicyError>(())
/// ```
///
/// Cloning is cheap (the validated policy is shared), so every verifier and plan can hold one.
#[derive(Debug, Clone)]
pub struct TrustPolicy(Arc<Validated>);

#[derive(Debug)]
pub(crate) struct Validated {
    spec: PolicySpec,
    pub(crate) issuer: Matcher,
    pub(crate) identity: Matcher,
    pub(crate) extensions: BTreeMap<FulcioClaim, String>,
    pub(crate) not_before: Option<DateTime<Utc>>,
    pub(crate) predicate_types: Vec<String>,
    signed: SignedBy,
    formats: Vec<SignatureFormat>,
    fingerprint: Digest,
}

impl TrustPolicy {
    /// Validates `spec`. Every problem a policy can have is found here, at load time.
    pub fn new(spec: PolicySpec) -> Result<Self, PolicyError> {
        if spec == PolicySpec::default() {
            return Err(PolicyError::Empty);
        }
        let issuer = Matcher::new("issuer", &spec.issuer, "issuer_regex", &spec.issuer_regex)?
            .ok_or(PolicyError::MissingIssuer)?;
        let identity = Matcher::new(
            "identity",
            &spec.identity,
            "identity_regex",
            &spec.identity_regex,
        )?
        .ok_or(PolicyError::MissingIdentity)?;
        let not_before = match non_blank("not_before", &spec.not_before)? {
            None => None,
            Some(v) => Some(
                DateTime::parse_from_rfc3339(&v)
                    .map_err(|e| PolicyError::BadNotBefore {
                        value: v.clone(),
                        reason: e.to_string(),
                    })?
                    .with_timezone(&Utc),
            ),
        };
        let mut extensions = BTreeMap::new();
        for (name, value) in &spec.extensions {
            let claim =
                FulcioClaim::from_name(name).ok_or_else(|| PolicyError::UnknownExtension {
                    name: name.clone(),
                    known: FulcioClaim::ALL.map(FulcioClaim::name).join(", "),
                })?;
            if value.trim().is_empty() {
                return Err(PolicyError::Blank {
                    field: format!("extensions.{name}"),
                });
            }
            extensions.insert(claim, value.clone());
        }
        let predicate_types = match &spec.predicate_types {
            None => vec![COSIGN_SIGN_PREDICATE.to_owned()],
            Some(types) if types.is_empty() => return Err(PolicyError::NoPredicateTypes),
            Some(types) => {
                if types.iter().any(|t| t.trim().is_empty()) {
                    return Err(PolicyError::Blank {
                        field: "predicate_types".into(),
                    });
                }
                types.clone()
            }
        };
        let signed = spec.signed.unwrap_or_default();
        if let Some(bad) = spec
            .require_attestations
            .iter()
            .find(|t| !t.contains("://") || t.trim() != t.as_str())
        {
            return Err(PolicyError::BadAttestationType { value: bad.clone() });
        }
        let repository = non_blank("repository", &spec.repository)?;
        let formats = match &spec.formats {
            None => SignatureFormat::ALL.to_vec(),
            Some(f) if f.is_empty() => return Err(PolicyError::NoFormats),
            Some(f) => {
                let mut f = f.clone();
                f.sort();
                f.dedup();
                f
            }
        };
        // The fingerprint covers the policy with its defaults filled in, so two spellings of the
        // same policy share cache entries and a changed default changes the fingerprint.
        let normalized = PolicySpec {
            predicate_types: Some(predicate_types.clone()),
            signed: Some(signed),
            formats: Some(formats.clone()),
            repository,
            not_before: not_before.map(|t| t.to_rfc3339()),
            ..spec.clone()
        };
        let canonical =
            serde_json::to_vec(&normalized).expect("a PolicySpec always serializes to JSON");
        Ok(Self(Arc::new(Validated {
            fingerprint: Digest::of(&canonical),
            spec: normalized,
            issuer,
            identity,
            extensions,
            not_before,
            predicate_types,
            signed,
            formats,
        })))
    }

    pub(crate) fn rules(&self) -> &Validated {
        &self.0
    }

    /// The policy with defaults filled in, as it is fingerprinted and recorded in receipts.
    pub fn spec(&self) -> &PolicySpec {
        &self.0.spec
    }

    /// A stable hash of the validated policy, for cache keys and receipts.
    pub fn fingerprint(&self) -> &Digest {
        &self.0.fingerprint
    }

    /// Which digest must carry the signature for an image selected from an index.
    pub fn signed(&self) -> SignedBy {
        self.0.signed
    }

    /// The accepted signature formats, in the order they are tried (bundles first).
    pub fn formats(&self) -> &[SignatureFormat] {
        &self.0.formats
    }

    /// The repository signatures must name, when the policy binds them to one.
    pub fn repository(&self) -> Option<&str> {
        self.0.spec.repository.as_deref()
    }

    /// The predicate types that must each be attested (in the order written).
    pub fn require_attestations(&self) -> &[String] {
        &self.0.spec.require_attestations
    }

    /// True when signatures of `format` count.
    pub fn accepts(&self, format: SignatureFormat) -> bool {
        self.0.formats.contains(&format)
    }

    /// The accepted in-toto predicate types.
    pub fn predicate_types(&self) -> &[String] {
        &self.0.predicate_types
    }

    /// The revocation cutoff, if any.
    pub fn not_before(&self) -> Option<DateTime<Utc>> {
        self.0.not_before
    }
}

impl<'de> Deserialize<'de> for TrustPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TrustPolicy::new(PolicySpec::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for TrustPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.spec.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(issuer: &str, identity: &str) -> PolicySpec {
        PolicySpec {
            issuer: Some(issuer.into()),
            identity: Some(identity.into()),
            ..PolicySpec::default()
        }
    }

    fn check(spec: PolicySpec, expected: Result<(), PolicyError>) {
        assert_eq!(TrustPolicy::new(spec).map(|_| ()), expected);
    }

    #[test]
    fn validation_table() {
        check(spec("https://i", "me"), Ok(()));
        check(PolicySpec::default(), Err(PolicyError::Empty));
        check(
            PolicySpec {
                issuer: Some("https://i".into()),
                ..PolicySpec::default()
            },
            Err(PolicyError::MissingIdentity),
        );
        check(
            PolicySpec {
                identity: Some("me".into()),
                ..PolicySpec::default()
            },
            Err(PolicyError::MissingIssuer),
        );
        check(
            spec("  ", "me"),
            Err(PolicyError::Blank {
                field: "issuer".into(),
            }),
        );
        assert!(matches!(
            TrustPolicy::new(PolicySpec { identity_regex: Some("(".into()), identity: None, ..spec("https://i", "x") }),
            Err(PolicyError::BadRegex { field: "identity_regex", pattern, reason }) if pattern == "(" && reason.contains("unclosed group")
        ));
        assert!(matches!(
            TrustPolicy::new(PolicySpec {
                not_before: Some("yesterday".into()),
                ..spec("https://i", "me")
            }),
            Err(PolicyError::BadNotBefore { .. })
        ));
        let mut ext = spec("https://i", "me");
        ext.extensions.insert("source_repo".into(), "x".into());
        assert!(
            matches!(TrustPolicy::new(ext), Err(PolicyError::UnknownExtension { name, .. }) if name == "source_repo")
        );
        check(
            PolicySpec {
                predicate_types: Some(vec![]),
                ..spec("https://i", "me")
            },
            Err(PolicyError::NoPredicateTypes),
        );
        check(
            PolicySpec {
                formats: Some(vec![]),
                ..spec("https://i", "me")
            },
            Err(PolicyError::NoFormats),
        );
        check(
            PolicySpec {
                repository: Some(" ".into()),
                ..spec("https://i", "me")
            },
            Err(PolicyError::Blank {
                field: "repository".into(),
            }),
        );
    }

    #[test]
    fn required_attestations_are_uris_and_fingerprinted() {
        let none = TrustPolicy::new(spec("https://i", "me")).unwrap();
        assert!(none.require_attestations().is_empty());
        let slsa = TrustPolicy::new(PolicySpec {
            require_attestations: vec!["https://slsa.dev/provenance/v1".into()],
            ..spec("https://i", "me")
        })
        .unwrap();
        assert_eq!(
            slsa.require_attestations(),
            ["https://slsa.dev/provenance/v1"]
        );
        assert_ne!(none.fingerprint(), slsa.fingerprint());
        check(
            PolicySpec {
                require_attestations: vec!["slsaprovenance1".into()],
                ..spec("https://i", "me")
            },
            Err(PolicyError::BadAttestationType {
                value: "slsaprovenance1".into(),
            }),
        );
    }

    #[test]
    fn formats_default_to_both_and_are_fingerprinted() {
        let both = TrustPolicy::new(spec("https://i", "me")).unwrap();
        assert_eq!(both.formats(), SignatureFormat::ALL);
        let spelled = TrustPolicy::new(PolicySpec {
            formats: Some(vec![SignatureFormat::Legacy, SignatureFormat::Bundle]),
            ..spec("https://i", "me")
        })
        .unwrap();
        assert_eq!(both.fingerprint(), spelled.fingerprint());
        let bundle_only: TrustPolicy =
            serde_json::from_str(r#"{"issuer":"https://i","identity":"me","formats":["bundle"]}"#)
                .unwrap();
        assert!(!bundle_only.accepts(SignatureFormat::Legacy));
        assert!(bundle_only.accepts(SignatureFormat::Bundle));
        assert_ne!(both.fingerprint(), bundle_only.fingerprint());
        assert!(serde_json::from_str::<TrustPolicy>(
            r#"{"issuer":"https://i","identity":"me","formats":["sig"]}"#
        )
        .is_err());
    }

    #[test]
    fn fingerprint_ignores_spelling_of_defaults_but_not_content() {
        let a = TrustPolicy::new(spec("https://i", "me")).unwrap();
        let b = TrustPolicy::new(PolicySpec {
            predicate_types: Some(vec![COSIGN_SIGN_PREDICATE.into()]),
            signed: Some(SignedBy::Either),
            ..spec("https://i", "me")
        })
        .unwrap();
        let c = TrustPolicy::new(spec("https://i", "you")).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        let d = TrustPolicy::new(PolicySpec {
            not_before: Some("2026-05-01T02:00:00+02:00".into()),
            ..spec("https://i", "me")
        })
        .unwrap();
        let e = TrustPolicy::new(PolicySpec {
            not_before: Some("2026-05-01T00:00:00Z".into()),
            ..spec("https://i", "me")
        })
        .unwrap();
        assert_eq!(
            d.fingerprint(),
            e.fingerprint(),
            "the same instant in two offsets is one policy"
        );
    }

    #[test]
    fn deserializes_with_unknown_keys_rejected() {
        let ok: TrustPolicy =
            serde_json::from_str(r#"{"issuer":"https://i","identity":"me","signed":"platform"}"#)
                .unwrap();
        assert_eq!(ok.signed(), SignedBy::Platform);
        let err = serde_json::from_str::<TrustPolicy>(
            r#"{"issuer":"https://i","identity":"me","idenity_regex":"x"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("idenity_regex"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn validation_never_panics(
            issuer in proptest::option::of(".*"),
            issuer_regex in proptest::option::of(".*"),
            identity in proptest::option::of(".*"),
            identity_regex in proptest::option::of(".*"),
            not_before in proptest::option::of(".*"),
            ext_name in ".*", ext_value in ".*",
        ) {
            let mut extensions = BTreeMap::new();
            extensions.insert(ext_name, ext_value);
            let _ = TrustPolicy::new(PolicySpec {
                issuer, issuer_regex, identity, identity_regex, not_before, extensions,
                ..PolicySpec::default()
            });
        }
    }
}
