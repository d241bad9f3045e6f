//! Attestations: in-toto statements in DSSE bundles, verified exactly like
//! signatures (chain, SCT, log, TSA, identity policy: the same [`crate::verify_bundle`]) and
//! selected by predicate type. [`CosignVerifier::verify_attestations`] returns every verified
//! statement of one type for an image; [`predicate_type_uri`] maps cosign's `--type` names.
//!
//! Sources: the bundle referrers the image's [`SignatureSource`] lists (`cosign attest
//! --new-bundle-format` and `@sigstore/cli attest` + `attach` write them with the bundle
//! artifactType), and, when the policy accepts legacy signatures, the layers of cosign's legacy
//! `sha256-<hex>.att` tag (DSSE envelopes with the same annotations as `.sig` layers, verified
//! by [`crate::verify_legacy_attestation`] through the same core).
//!
//! The statement's subject must hold the digest (the platform child's, or the index's when the
//! policy's `signed:` accepts index attestations), checked by the bundle core before any
//! cryptography, as for signatures.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use trustpull_policy::{Digest, PolicySpec, SignatureFormat, TrustPolicy};

use crate::cosign::Attempt;
use crate::{
    verify_bundle, verify_legacy_attestation, CandidateReason, CandidateRejection, CosignVerifier,
    ImageSubject, LegacyKind, SignatureCandidate, SignatureSource, SignatureSourceError,
    SignedTarget, VerifiedBundle, VerifyError,
};

/// cosign's `--type` short names and the predicate type URIs they stand for.
pub const COSIGN_PREDICATE_TYPES: [(&str, &str); 10] = [
    ("custom", "https://cosign.sigstore.dev/attestation/v1"),
    ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("spdx", "https://spdx.dev/Document"),
    ("spdxjson", "https://spdx.dev/Document"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
    ("openvex", "https://openvex.dev/ns"),
    ("link", "https://in-toto.io/Link/v1"),
];

/// The predicate type URI for `name`: a URI (anything with `://`) as given, or one of cosign's
/// short names ([`COSIGN_PREDICATE_TYPES`]); `None` for an unknown name.
///
/// ```
/// use trustpull_verifier::predicate_type_uri;
/// assert_eq!(predicate_type_uri("slsaprovenance1"), Some("https://slsa.dev/provenance/v1".to_owned()));
/// assert_eq!(predicate_type_uri("https://example.test/p"), Some("https://example.test/p".to_owned()));
/// assert_eq!(predicate_type_uri("sbom"), None);
/// ```
pub fn predicate_type_uri(name: &str) -> Option<String> {
    if name.contains("://") {
        return Some(name.to_owned());
    }
    COSIGN_PREDICATE_TYPES
        .iter()
        .find(|(short, _)| *short == name)
        .map(|(_, uri)| (*uri).to_owned())
}

/// One verified attestation: the in-toto statement and who signed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifiedAttestation {
    predicate_type: String,
    statement: Value,
    identity: String,
    issuer: Option<String>,
    format: SignatureFormat,
    signed_digest: Digest,
    signed_target: SignedTarget,
    referrer: Digest,
    verified_timestamps: Vec<DateTime<Utc>>,
}

impl VerifiedAttestation {
    /// The statement's predicate type.
    pub fn predicate_type(&self) -> &str {
        &self.predicate_type
    }
    /// The whole in-toto statement (subject, predicateType, predicate).
    pub fn statement(&self) -> &Value {
        &self.statement
    }
    /// The signer identity (certificate SAN).
    pub fn identity(&self) -> &str {
        &self.identity
    }
    /// The OIDC issuer claim.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }
    /// The signature format that carried it.
    pub fn format(&self) -> SignatureFormat {
        self.format
    }
    /// The digest the statement's subject names (the image's, or its index's).
    pub fn signed_digest(&self) -> &Digest {
        &self.signed_digest
    }
    /// Whether the manifest or its index was attested.
    pub fn signed_target(&self) -> SignedTarget {
        self.signed_target
    }
    /// The referrer manifest that held the bundle.
    pub fn referrer(&self) -> &Digest {
        &self.referrer
    }
    /// The verified signing times, earliest first.
    pub fn verified_timestamps(&self) -> &[DateTime<Utc>] {
        &self.verified_timestamps
    }
}

/// The statement of a DSSE bundle that verified (its payload was checked by the bundle core).
fn statement_of(bundle: &[u8]) -> Result<Value, String> {
    let doc: Value = serde_json::from_slice(bundle).map_err(|e| e.to_string())?;
    let payload = doc
        .pointer("/dsseEnvelope/payload")
        .and_then(Value::as_str)
        .ok_or("the bundle has no DSSE payload")?;
    let bytes = STANDARD.decode(payload).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

enum Outcome {
    Passed(Box<(VerifiedBundle, Value)>),
    Failed(CandidateReason),
}

impl CosignVerifier {
    /// Every attestation of `predicate_type` (a URI) for `subject` that verifies under this
    /// verifier's policy and trust root, from `signatures`. `Ok` holds at least one;
    /// [`VerifyError::Rejected`] lists every candidate and why when none verified, and a source
    /// that could not answer (or a list a limit cut) is [`VerifyError::Unavailable`].
    pub async fn verify_attestations(
        &self,
        subject: &ImageSubject,
        signatures: &dyn SignatureSource,
        predicate_type: &str,
    ) -> Result<Vec<VerifiedAttestation>, VerifyError> {
        let unavailable = |source: SignatureSourceError| VerifyError::Unavailable {
            image: subject.name(),
            digest: subject.digest().clone(),
            source,
        };
        let policy = TrustPolicy::new(PolicySpec {
            predicate_types: Some(vec![predicate_type.to_owned()]),
            ..self.policy().spec().clone()
        })
        .map_err(|e| VerifyError::Refused {
            image: subject.name(),
            digest: subject.digest().clone(),
            reason: format!("predicate type {predicate_type:?}: {e}"),
        })?;
        let policy = Arc::new(policy);
        crate::cosign::check_index_membership(subject)?;
        let mut work = Vec::new();
        let mut attempt = Attempt::default();
        for (digest, target) in self.targets(subject) {
            let mut found = signatures
                .candidates(subject, &digest)
                .await
                .map_err(unavailable)?;
            attempt.listed(&digest, &mut found);
            work.extend(
                found
                    .candidates
                    .into_iter()
                    .filter(|c| c.format() == SignatureFormat::Bundle)
                    .map(|c| (digest.clone(), target, c)),
            );
            if policy.accepts(SignatureFormat::Legacy) {
                let mut found = signatures
                    .legacy_candidates(subject, &digest, &[], LegacyKind::Attestation)
                    .await
                    .map_err(unavailable)?;
                attempt.listed(&digest, &mut found);
                work.extend(
                    found
                        .candidates
                        .into_iter()
                        .map(|c| (digest.clone(), target, c)),
                );
            }
        }
        if work.len() > self.max_candidates() {
            attempt.truncated.get_or_insert(format!(
                "the verifier's bound of {} candidates ({} listed)",
                self.max_candidates(),
                work.len()
            ));
            work.truncate(self.max_candidates());
        }
        let root = self.trust_root();
        let checks: Vec<BoxFuture<'_, (usize, Outcome)>> = work
            .iter()
            .enumerate()
            .map(
                |(i, (signs, _, candidate)): (
                    usize,
                    &(Digest, SignedTarget, SignatureCandidate),
                )| {
                    let policy = Arc::clone(&policy);
                    async move {
                        if candidate.format() == SignatureFormat::Legacy {
                            let attestation = match signatures
                                .legacy_signature(subject, candidate)
                                .await
                            {
                                Ok(a) => a,
                                Err(e) => return (i, Outcome::Failed(CandidateReason::Source(e))),
                            };
                            return match verify_legacy_attestation(
                                &attestation,
                                signs,
                                &policy,
                                root,
                            ) {
                                Ok((v, statement)) => match crate::repository::check(
                                    policy.repository(),
                                    crate::repository::of_statement(&statement, signs),
                                ) {
                                    Ok(()) => (i, Outcome::Passed(Box::new((v, statement)))),
                                    Err(reason) => (i, Outcome::Failed(reason)),
                                },
                                Err(e) => (i, Outcome::Failed(CandidateReason::Legacy(e))),
                            };
                        }
                        let bundle = match signatures.bundle(subject, candidate).await {
                            Ok(b) => b,
                            Err(e) => return (i, Outcome::Failed(CandidateReason::Source(e))),
                        };
                        match verify_bundle(&bundle, signs, &policy, root) {
                            Ok(v) => match statement_of(&bundle) {
                                Ok(statement) => match crate::repository::check(
                                    policy.repository(),
                                    crate::repository::of_statement(&statement, signs),
                                ) {
                                    Ok(()) => (i, Outcome::Passed(Box::new((v, statement)))),
                                    Err(reason) => (i, Outcome::Failed(reason)),
                                },
                                Err(reason) => (
                                    i,
                                    Outcome::Failed(CandidateReason::Bundle(
                                        crate::BundleRejection::Statement { reason },
                                    )),
                                ),
                            },
                            Err(e) => (i, Outcome::Failed(CandidateReason::Bundle(e))),
                        }
                    }
                    .boxed()
                },
            )
            .collect();
        let mut results = stream::iter(checks).buffer_unordered(self.concurrency());
        let mut passed = Vec::new();
        let mut failed = Vec::new();
        while let Some((i, outcome)) = results.next().await {
            match outcome {
                Outcome::Passed(p) => passed.push((i, *p)),
                Outcome::Failed(reason) => failed.push((i, reason)),
            }
        }
        drop(results);
        if !passed.is_empty() {
            passed.sort_by_key(|(i, _)| *i);
            return Ok(passed
                .into_iter()
                .map(|(i, (v, statement))| {
                    let (signs, target, candidate) = &work[i];
                    let facts = v.facts();
                    VerifiedAttestation {
                        predicate_type: facts.predicate_type.clone().unwrap_or_default(),
                        statement,
                        identity: facts.identity.clone(),
                        issuer: facts.issuer.clone(),
                        format: candidate.format(),
                        signed_digest: signs.clone(),
                        signed_target: *target,
                        referrer: candidate.digest().clone(),
                        verified_timestamps: facts.verified_timestamps.clone(),
                    }
                })
                .collect());
        }
        failed.sort_by_key(|(i, _)| *i);
        attempt
            .failures
            .extend(failed.into_iter().map(|(i, reason)| CandidateRejection {
                candidate: work[i].2.clone(),
                signs: work[i].0.clone(),
                reason,
            }));
        Err(attempt.into_error(subject))
    }
}
