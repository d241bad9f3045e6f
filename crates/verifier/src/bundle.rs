//! The registry-free check: Sigstore bundle bytes + image digest + policy + trust root →
//! [`VerifiedBundle`] or a [`BundleRejection`].
//!
//! Two steps with two types, so a caller cannot mistake "the cryptography holds" for "the
//! signer is trusted":
//!
//! 1. [`verify_signature`] parses the bundle (v0.1–v0.3), checks that it signs the digest
//!    (DSSE: payload type in-toto, a statement subject with `sha256` = the digest; message
//!    signature: the message digest = the digest) and runs sigstore-verify with SCT and
//!    transparency-log checks required (for what sigstore-verify 0.15.1 cannot read — Rekor v2
//!    `dsse` entries, RFC 3161 times with fractional seconds — `rekor_v2` makes the same checks,
//!    see ARCHITECTURE.md). It yields a [`SignedBundle`] whose [`SignerFacts`] are verified but
//!    not yet authorized.
//! 2. [`SignedBundle::authorize`] evaluates a [`TrustPolicy`] on those facts and yields a
//!    [`VerifiedBundle`].
//!
//! [`verify_bundle`] does both. [`verify_with_key`] checks managed-key bundles (no certificate,
//! so no identity policy) for the conformance protocol's `--key`.

use chrono::{DateTime, Utc};
use sigstore_types::{
    Bundle, DerPublicKey, HashAlgorithm, Sha256Hash, SignatureContent, Statement,
};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy};
use trustpull_policy::{evaluate, Digest, SignerFacts, TrustPolicy};

use crate::certificate::certificate_facts;
use crate::rekor_v2::Route;
use crate::{BundleRejection, TrustRoot};

/// The largest bundle accepted, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;

/// The DSSE payload type cosign and every in-toto producer use.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

const KNOWN_BUNDLE_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];

/// A bundle whose cryptography verified for a digest; its signer is not yet authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBundle {
    digest: Digest,
    facts: SignerFacts,
    rekor_log_index: Option<u64>,
    trust_root_fingerprint: Digest,
}

impl SignedBundle {
    /// What the verified certificate and timestamps say about the signer.
    pub fn facts(&self) -> &SignerFacts {
        &self.facts
    }

    /// The digest the bundle signs.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Checks the signer against `policy`.
    pub fn authorize(self, policy: &TrustPolicy) -> Result<VerifiedBundle, BundleRejection> {
        evaluate(policy, &self.facts).map_err(BundleRejection::Policy)?;
        Ok(VerifiedBundle {
            signed: self,
            policy_fingerprint: policy.fingerprint().clone(),
        })
    }
}

/// A bundle that verified for a digest and whose signer satisfies a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    signed: SignedBundle,
    policy_fingerprint: Digest,
}

impl VerifiedBundle {
    /// The verified signer facts (timestamps sorted, earliest first).
    pub fn facts(&self) -> &SignerFacts {
        &self.signed.facts
    }
    /// The digest the bundle signs.
    pub fn digest(&self) -> &Digest {
        &self.signed.digest
    }
    /// The Rekor log index of the bundle's first transparency-log entry.
    pub fn rekor_log_index(&self) -> Option<u64> {
        self.signed.rekor_log_index
    }
    /// The trust root the bundle verified against.
    pub fn trust_root_fingerprint(&self) -> &Digest {
        &self.signed.trust_root_fingerprint
    }
    /// The policy the signer satisfied.
    pub fn policy_fingerprint(&self) -> &Digest {
        &self.policy_fingerprint
    }
}

/// Verifies `bundle` for `digest` against `root` and authorizes its signer with `policy`.
///
/// Every failure is a [`BundleRejection`]; no input makes it panic.
pub fn verify_bundle(
    bundle: &[u8],
    digest: &Digest,
    policy: &TrustPolicy,
    root: &TrustRoot,
) -> Result<VerifiedBundle, BundleRejection> {
    verify_signature(bundle, digest, root)?.authorize(policy)
}

/// Verifies the cryptography of a keyless `bundle` for `digest` (see the module docs).
///
/// A bundle sigstore-verify 0.15.1 cannot take (a `dsse` v0.0.2 entry, or an RFC 3161 time with
/// fractional seconds) is verified by `rekor_v2` with the same checks, or by sigstore-verify
/// plus the step it lacks; a Rekor v2 `hashedrekord` bundle by sigstore-verify plus the Rekor v2
/// checks it does not make; every other bundle by sigstore-verify alone.
pub fn verify_signature(
    bundle: &[u8],
    digest: &Digest,
    root: &TrustRoot,
) -> Result<SignedBundle, BundleRejection> {
    let text = as_text(bundle)?;
    let split = crate::rekor_v2::split(text)?;
    let route = split.as_ref().map(crate::rekor_v2::Split::route);
    let own_text = match (&split, route) {
        (Some(s), Some(Route::Own | Route::SigstoreThenFractional)) => s.rest.as_str(),
        _ => text,
    };
    let parsed = parse_text(own_text)?;
    let predicate_type = check_binding(&parsed, digest)?;
    let cert = parsed
        .signing_certificate()
        .ok_or_else(|| BundleRejection::Malformed {
            reason: "the bundle has no signing certificate (a managed-key bundle needs --key)"
                .into(),
        })?;
    let cert_facts = certificate_facts(cert.as_bytes())?;
    let (mut verified_timestamps, rekor_log_index) = match (&split, route) {
        (Some(split), Some(Route::Own)) => {
            let v = crate::rekor_v2::verify(&parsed, split, digest, root)?;
            (v.times, v.log_index)
        }
        (Some(split), Some(Route::SigstoreThenFractional)) => {
            // Rekor v1 with fractional-second RFC 3161 tokens: sigstore-verify checks all the
            // rest (its times are the SETs' and any whole-second tokens'), then the certificate
            // must also hold at each fractional token's time.
            let mut times = sigstore_verify_keyless(&parsed, digest, root)?;
            times.extend(crate::rekor_v2::verify_fractional_times(
                &parsed, split, root,
            )?);
            (times, log_index(&parsed))
        }
        (Some(split), _) => {
            let times = sigstore_verify_keyless(&parsed, digest, root)?;
            crate::rekor_v2::confirm(&parsed, split, &times, root)?;
            (times, log_index(&parsed))
        }
        (None, _) => (
            sigstore_verify_keyless(&parsed, digest, root)?,
            log_index(&parsed),
        ),
    };
    verified_timestamps.sort();
    verified_timestamps.dedup();
    Ok(SignedBundle {
        digest: digest.clone(),
        facts: SignerFacts {
            identity: cert_facts.identity,
            issuer: cert_facts.issuer,
            extensions: cert_facts.extensions,
            verified_timestamps,
            predicate_type,
        },
        rekor_log_index,
        trust_root_fingerprint: root.fingerprint().clone(),
    })
}

/// sigstore-verify with SCT and transparency-log checks required; the verified times.
fn sigstore_verify_keyless(
    parsed: &Bundle,
    digest: &Digest,
    root: &TrustRoot,
) -> Result<Vec<DateTime<Utc>>, BundleRejection> {
    let result = root
        .verifier()
        .verify(
            Sha256Hash::new(digest.bytes()),
            parsed,
            &VerificationPolicy::any_identity(),
        )
        .map_err(|e| classify(e, digest))?;
    if !(result.certificate_verified() && result.sct_verified() && result.tlog_verified()) {
        // sigstore-verify sets these for the policy above; refuse rather than trust a default.
        return Err(BundleRejection::TransparencyLog {
            reason: "sigstore-verify did not confirm the certificate, SCT and log checks".into(),
        });
    }
    result
        .verified_timestamps()
        .iter()
        .map(|t| {
            let nanos = u32::try_from(t.subsec_nanosecond()).unwrap_or(0);
            DateTime::<Utc>::from_timestamp(t.as_second(), nanos).ok_or_else(|| {
                BundleRejection::Timestamp {
                    reason: format!("verified time {t} is out of range"),
                }
            })
        })
        .collect()
}

/// A managed public key for [`verify_with_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedKey(DerPublicKey);

/// Why a managed key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a PEM public key ({reason}); pass a `-----BEGIN PUBLIC KEY-----` file")]
pub struct KeyError {
    reason: String,
}

impl ManagedKey {
    /// Parses a `PUBLIC KEY` PEM block.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        DerPublicKey::from_pem(pem).map(Self).map_err(|e| KeyError {
            reason: e.to_string(),
        })
    }
}

/// Verifies a managed-key `bundle` for `digest`: signature with `key`, transparency log
/// against `root`. There is no certificate, so there is no identity to authorize.
pub fn verify_with_key(
    bundle: &[u8],
    digest: &Digest,
    key: &ManagedKey,
    root: &TrustRoot,
) -> Result<(), BundleRejection> {
    let text = as_text(bundle)?;
    let split = crate::rekor_v2::split(text)?;
    if split
        .as_ref()
        .is_some_and(|s| s.route() != Route::SigstoreThenConfirm)
    {
        return Err(BundleRejection::TransparencyLog {
            reason: "managed-key bundles with a Rekor v2 dsse entry or a fractional-second timestamp are not supported".into(),
        });
    }
    let parsed = parse_text(text)?;
    check_binding(&parsed, digest)?;
    let policy = PublicKeyVerificationPolicy::new(key.0.clone());
    let result = root
        .verifier()
        .verify(Sha256Hash::new(digest.bytes()), &parsed, &policy)
        .map_err(|e| classify(e, digest))?;
    if !result.tlog_verified() {
        return Err(BundleRejection::TransparencyLog {
            reason: "sigstore-verify did not confirm the log checks".into(),
        });
    }
    if let Some(split) = &split {
        // Rekor v2 hashedrekord: the checks sigstore-verify does not make, at the times it
        // verified (RFC 3161 tokens, if any: a managed key needs none).
        let times = result
            .verified_timestamps()
            .iter()
            .filter_map(|t| {
                DateTime::<Utc>::from_timestamp(
                    t.as_second(),
                    u32::try_from(t.subsec_nanosecond()).unwrap_or(0),
                )
            })
            .collect::<Vec<_>>();
        crate::rekor_v2::confirm(&parsed, split, &times, root)?;
    }
    Ok(())
}

fn as_text(bytes: &[u8]) -> Result<&str, BundleRejection> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleRejection::TooLarge {
            size: bytes.len(),
            limit: MAX_BUNDLE_BYTES,
        });
    }
    std::str::from_utf8(bytes).map_err(|e| BundleRejection::Malformed {
        reason: format!("not UTF-8: {e}"),
    })
}

fn parse_text(text: &str) -> Result<Bundle, BundleRejection> {
    Bundle::from_json(text).map_err(|e| {
        // Only on failure: tell an unknown version apart from a broken document.
        let media_type = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            });
        match media_type {
            Some(m) if !KNOWN_BUNDLE_MEDIA_TYPES.contains(&m.as_str()) => {
                BundleRejection::UnsupportedVersion { media_type: m }
            }
            _ => BundleRejection::Malformed {
                reason: e.to_string(),
            },
        }
    })
}

/// Checks that the bundle's content signs `digest`; returns the DSSE predicate type.
fn check_binding(bundle: &Bundle, digest: &Digest) -> Result<Option<String>, BundleRejection> {
    match &bundle.content {
        SignatureContent::DsseEnvelope(envelope) => {
            if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
                return Err(BundleRejection::PayloadType {
                    found: envelope.payload_type.clone(),
                });
            }
            let statement: Statement = serde_json::from_slice(envelope.payload.as_bytes())
                .map_err(|e| BundleRejection::Statement {
                    reason: e.to_string(),
                })?;
            if !statement.type_.starts_with("https://in-toto.io/Statement/") {
                return Err(BundleRejection::Statement {
                    reason: format!("unknown statement type {:?}", statement.type_),
                });
            }
            let want = digest.bytes();
            if !statement.subject.iter().any(|s| {
                s.digest
                    .sha256
                    .as_ref()
                    .is_some_and(|h| *h.as_bytes() == want)
            }) {
                return Err(BundleRejection::SubjectDigest {
                    expected: digest.clone(),
                    found: statement
                        .subject
                        .iter()
                        .filter_map(|s| {
                            s.digest
                                .sha256
                                .as_ref()
                                .map(|h| format!("sha256:{}", h.to_hex()))
                        })
                        .collect(),
                });
            }
            Ok(Some(statement.predicate_type))
        }
        SignatureContent::MessageSignature(signature) => {
            if let Some(md) = &signature.message_digest {
                if md.algorithm != HashAlgorithm::Sha2256
                    || md.digest.as_bytes() != digest.bytes().as_slice()
                {
                    return Err(BundleRejection::ArtifactMismatch {
                        expected: digest.clone(),
                        reason: format!(
                            "the message digest is {:?} {}",
                            md.algorithm,
                            hex_of(md.digest.as_bytes())
                        ),
                    });
                }
            }
            Ok(None)
        }
        _ => Err(BundleRejection::Malformed {
            reason: "unknown signature content".into(),
        }),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn log_index(bundle: &Bundle) -> Option<u64> {
    bundle
        .verification_material
        .tlog_entries
        .first()
        .map(|e| e.log_index.get())
}

fn classify(e: sigstore_verify::Error, digest: &Digest) -> BundleRejection {
    use sigstore_verify::Error as E;
    let reason = e.to_string();
    match e {
        E::Certificate(_) | E::IdentityMismatch { .. } | E::IssuerMismatch { .. } => {
            BundleRejection::Certificate { reason }
        }
        E::TransparencyLog(_) => BundleRejection::TransparencyLog { reason },
        E::Timestamp(_) => BundleRejection::Timestamp { reason },
        E::SignatureInvalid(_) | E::Crypto(_) => BundleRejection::Signature { reason },
        E::ArtifactMismatch(_) => BundleRejection::ArtifactMismatch {
            expected: digest.clone(),
            reason,
        },
        E::InvalidTrustRoot(_) | E::TrustRoot(_) | E::TrustedCertificate(_) => {
            BundleRejection::TrustRoot { reason }
        }
        _ => BundleRejection::Malformed { reason },
    }
}
