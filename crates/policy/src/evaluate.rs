//! `evaluate`: does a verified signer satisfy a policy? Pure, deterministic, no clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::TrustPolicy;

/// What a cryptographically verified signature says about its signer.
///
/// The verifier fills this in only after the bundle verified; the policy layer never sees
/// unverified data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerFacts {
    /// The certificate subject alternative name (URI, else email, else OtherName).
    pub identity: String,
    /// The Fulcio OIDC issuer extension (`.8`, falling back to `.1`), if the certificate has one.
    pub issuer: Option<String>,
    /// Fulcio claims by policy name (see [`crate::FulcioClaim`]).
    pub extensions: BTreeMap<String, String>,
    /// Verified signing times (Rekor integrated time, RFC 3161 timestamps).
    pub verified_timestamps: Vec<DateTime<Utc>>,
    /// The in-toto predicate type, for DSSE bundles; `None` for message signatures.
    pub predicate_type: Option<String>,
}

impl SignerFacts {
    /// The earliest verified timestamp, the one `not_before` is compared with.
    pub fn earliest_timestamp(&self) -> Option<DateTime<Utc>> {
        self.verified_timestamps.iter().min().copied()
    }
}

/// How a verified signer fails a policy: what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// The OIDC issuer is not the expected one.
    #[error("issuer mismatch: expected {expected}, found {}{}", show(found), partial_hint(*partial_match, "issuer"))]
    Issuer {
        /// The expectation, rendered.
        expected: String,
        /// The certificate's issuer, if it has one.
        found: Option<String>,
        /// The regex matched part of the value but not all of it.
        partial_match: bool,
    },
    /// The certificate identity is not the expected one.
    #[error("identity mismatch: expected {expected}, found {found:?}{}", partial_hint(*partial_match, "identity"))]
    Identity {
        /// The expectation, rendered.
        expected: String,
        /// The certificate's identity.
        found: String,
        /// The regex matched part of the value but not all of it.
        partial_match: bool,
    },
    /// A Fulcio claim differs or is absent.
    #[error(
        "certificate claim {name} mismatch: expected {expected:?}, found {}",
        show(found)
    )]
    Extension {
        /// The claim name.
        name: &'static str,
        /// The required value.
        expected: String,
        /// The certificate's value, if present.
        found: Option<String>,
    },
    /// The DSSE statement's predicate type is not accepted.
    #[error("predicate type {found:?} is not accepted; the policy accepts {accepted:?} (set predicate_types to accept others)")]
    PredicateType {
        /// What the policy accepts.
        accepted: Vec<String>,
        /// What the statement declared.
        found: String,
    },
    /// `not_before` is set but nothing dates the signature.
    #[error("the policy sets not_before but the signature has no verified timestamp")]
    NoVerifiedTimestamp,
    /// The signature is older than the revocation cutoff.
    #[error("signed at {signed_at}, before the policy's not_before {not_before}; re-sign the image after the cutoff")]
    SignedBeforeCutoff {
        /// The cutoff.
        not_before: DateTime<Utc>,
        /// The earliest verified timestamp.
        signed_at: DateTime<Utc>,
    },
}

fn show(v: &Option<String>) -> String {
    v.as_ref()
        .map_or_else(|| "none".to_owned(), |s| format!("{s:?}"))
}

fn partial_hint(partial: bool, what: &str) -> String {
    if partial {
        format!(" (the regex matches only part of it; {what}_regex must match the whole {what})")
    } else {
        String::new()
    }
}

/// Checks verified signer facts against a policy. The first failing rule is returned; the order
/// is fixed (issuer, identity, claims by name, predicate type, timestamp) so results are stable.
///
/// ```
/// use trustpull_policy::{evaluate, PolicySpec, PolicyViolation, SignerFacts, TrustPolicy};
/// let policy = TrustPolicy::new(PolicySpec {
///     issuer: Some("https://issuer".into()),
///     identity_regex: Some("ci@acme".into()),
///     ..PolicySpec::default()
/// })?;
/// let facts = SignerFacts { identity: "ci@acme.evil".into(), issuer: Some("https://issuer".into()), ..SignerFacts::default() };
/// assert!(matches!(evaluate(&policy, &facts), Err(PolicyViolation::Identity { partial_match: true, .. })));
/// # Ok::<(), trustpull_policy::PolicyError>(())
/// ```
pub fn evaluate(policy: &TrustPolicy, facts: &SignerFacts) -> Result<(), PolicyViolation> {
    let policy = policy.rules();
    let issuer = facts.issuer.as_deref();
    if !issuer.is_some_and(|i| policy.issuer.matches(i)) {
        return Err(PolicyViolation::Issuer {
            expected: policy.issuer.to_string(),
            found: facts.issuer.clone(),
            partial_match: issuer.is_some_and(|i| policy.issuer.partial_regex_match(i)),
        });
    }
    if !policy.identity.matches(&facts.identity) {
        return Err(PolicyViolation::Identity {
            expected: policy.identity.to_string(),
            found: facts.identity.clone(),
            partial_match: policy.identity.partial_regex_match(&facts.identity),
        });
    }
    for (claim, expected) in &policy.extensions {
        let found = facts.extensions.get(claim.name());
        if found != Some(expected) {
            return Err(PolicyViolation::Extension {
                name: claim.name(),
                expected: expected.clone(),
                found: found.cloned(),
            });
        }
    }
    if let Some(found) = &facts.predicate_type {
        if !policy.predicate_types.contains(found) {
            return Err(PolicyViolation::PredicateType {
                accepted: policy.predicate_types.clone(),
                found: found.clone(),
            });
        }
    }
    if let Some(not_before) = policy.not_before {
        let signed_at = facts
            .earliest_timestamp()
            .ok_or(PolicyViolation::NoVerifiedTimestamp)?;
        if signed_at < not_before {
            return Err(PolicyViolation::SignedBeforeCutoff {
                not_before,
                signed_at,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PolicySpec;
    use proptest::prelude::*;

    const ISSUER: &str = "https://token.actions.githubusercontent.com";
    const ID: &str = "https://github.com/acme/b/.github/workflows/r.yml@refs/heads/main";

    fn policy(f: impl FnOnce(&mut PolicySpec)) -> TrustPolicy {
        let mut spec = PolicySpec {
            issuer: Some(ISSUER.into()),
            identity: Some(ID.into()),
            ..PolicySpec::default()
        };
        f(&mut spec);
        TrustPolicy::new(spec).expect("test policies are valid")
    }

    fn facts() -> SignerFacts {
        SignerFacts {
            identity: ID.into(),
            issuer: Some(ISSUER.into()),
            extensions: [(
                "source_repository_uri".to_owned(),
                "https://github.com/acme/b".to_owned(),
            )]
            .into(),
            verified_timestamps: vec![
                "2026-06-01T00:00:00Z".parse().unwrap(),
                "2026-05-01T00:00:00Z".parse().unwrap(),
            ],
            predicate_type: Some(crate::COSIGN_SIGN_PREDICATE.into()),
        }
    }

    #[test]
    fn evaluation_table() {
        type Case = (
            &'static str,
            fn(&mut PolicySpec),
            fn(&mut SignerFacts),
            fn(&Result<(), PolicyViolation>) -> bool,
        );
        let cases: Vec<Case> = vec![
            ("exact match", |_| {}, |_| {}, |r| r.is_ok()),
            (
                "wrong issuer",
                |_| {},
                |f| f.issuer = Some("https://evil".into()),
                |r| {
                    matches!(
                        r,
                        Err(PolicyViolation::Issuer {
                            partial_match: false,
                            ..
                        })
                    )
                },
            ),
            (
                "no issuer",
                |_| {},
                |f| f.issuer = None,
                |r| matches!(r, Err(PolicyViolation::Issuer { found: None, .. })),
            ),
            (
                "wrong identity",
                |_| {},
                |f| f.identity = "x".into(),
                |r| {
                    matches!(
                        r,
                        Err(PolicyViolation::Identity {
                            partial_match: false,
                            ..
                        })
                    )
                },
            ),
            (
                "regex full match",
                |s| {
                    s.identity = None;
                    s.identity_regex = Some(r"https://github\.com/acme/b/.+@refs/heads/main".into())
                },
                |_| {},
                |r| r.is_ok(),
            ),
            (
                "regex substring only",
                |s| {
                    s.identity = None;
                    s.identity_regex = Some(r"acme/b".into())
                },
                |_| {},
                |r| {
                    matches!(
                        r,
                        Err(PolicyViolation::Identity {
                            partial_match: true,
                            ..
                        })
                    )
                },
            ),
            (
                "exact and regex both required",
                |s| s.identity_regex = Some("nomatch".into()),
                |_| {},
                |r| matches!(r, Err(PolicyViolation::Identity { .. })),
            ),
            (
                "issuer regex substring",
                |s| {
                    s.issuer = None;
                    s.issuer_regex = Some("token".into())
                },
                |_| {},
                |r| {
                    matches!(
                        r,
                        Err(PolicyViolation::Issuer {
                            partial_match: true,
                            ..
                        })
                    )
                },
            ),
            (
                "extension match",
                |s| {
                    s.extensions.insert(
                        "source_repository_uri".into(),
                        "https://github.com/acme/b".into(),
                    );
                },
                |_| {},
                |r| r.is_ok(),
            ),
            (
                "extension mismatch",
                |s| {
                    s.extensions.insert(
                        "source_repository_uri".into(),
                        "https://github.com/acme/c".into(),
                    );
                },
                |_| {},
                |r| matches!(r, Err(PolicyViolation::Extension { found: Some(_), .. })),
            ),
            (
                "extension absent",
                |s| {
                    s.extensions
                        .insert("runner_environment".into(), "github-hosted".into());
                },
                |_| {},
                |r| matches!(r, Err(PolicyViolation::Extension { found: None, .. })),
            ),
            (
                "predicate not accepted",
                |s| s.predicate_types = Some(vec!["https://slsa.dev/provenance/v1".into()]),
                |_| {},
                |r| matches!(r, Err(PolicyViolation::PredicateType { .. })),
            ),
            (
                "message signature has no predicate",
                |s| s.predicate_types = Some(vec!["https://slsa.dev/provenance/v1".into()]),
                |f| f.predicate_type = None,
                |r| r.is_ok(),
            ),
            (
                "not_before before signing",
                |s| s.not_before = Some("2026-04-30T23:59:59Z".into()),
                |_| {},
                |r| r.is_ok(),
            ),
            (
                "not_before equal to earliest",
                |s| s.not_before = Some("2026-05-01T00:00:00Z".into()),
                |_| {},
                |r| r.is_ok(),
            ),
            (
                "not_before after earliest",
                |s| s.not_before = Some("2026-05-01T00:00:01Z".into()),
                |_| {},
                |r| matches!(r, Err(PolicyViolation::SignedBeforeCutoff { .. })),
            ),
            (
                "not_before without timestamps",
                |s| s.not_before = Some("2026-05-01T00:00:00Z".into()),
                |f| f.verified_timestamps.clear(),
                |r| matches!(r, Err(PolicyViolation::NoVerifiedTimestamp)),
            ),
        ];
        for (name, p, f, expect) in cases {
            let mut fa = facts();
            f(&mut fa);
            let result = evaluate(&policy(p), &fa);
            assert!(expect(&result), "case {name:?}: got {result:?}");
        }
    }

    #[test]
    fn partial_match_message_says_whole_identity() {
        let p = policy(|s| {
            s.identity = None;
            s.identity_regex = Some("acme".into())
        });
        let err = evaluate(&p, &facts()).unwrap_err();
        assert!(
            err.to_string()
                .contains("identity_regex must match the whole identity"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn regex_never_accepts_strict_substring(core in "[a-z./:@-]{1,20}", pre in "[a-z]{0,5}", post in "[a-z]{0,5}") {
            prop_assume!(!pre.is_empty() || !post.is_empty());
            let p = policy(|s| { s.identity = None; s.identity_regex = Some(regex::escape(&core)) });
            let f = SignerFacts { identity: format!("{pre}{core}{post}"), ..facts() };
            let result = evaluate(&p, &f);
            prop_assert!(matches!(result, Err(PolicyViolation::Identity { partial_match: true, .. })), "{:?}", result);
        }

        #[test]
        fn evaluate_is_deterministic(identity in ".*", issuer in proptest::option::of(".*"), regex in "[a-z.*+|()]{1,12}") {
            if let Ok(p) = TrustPolicy::new(PolicySpec { issuer: Some(ISSUER.into()), identity_regex: Some(regex), ..PolicySpec::default() }) {
                let f = SignerFacts { identity, issuer, ..facts() };
                prop_assert_eq!(evaluate(&p, &f), evaluate(&p, &f));
            }
        }
    }
}
