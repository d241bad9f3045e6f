//! The registry-free check: Sigstore bundle bytes + image digest + policy + trust root →
//! [`VerifiedBundle`] or a [`BundleRejection`].
//!
//! Two steps with two types, so a caller cannot mistake "the cryptography holds" for "the
//! signer is trusted":
//!
//! 1. [`verify_signature`] parses the bundle (v0.1–v0.3), checks that it signs the digest
//!    (DSSE: payload type in-toto, a statement subject with `sha256` = the digest; message
//!    signature: the message digest = the digest) and makes every check sigstore-verify makes
//!    with SCT and transparency-log checks required, each once (`keyless`, see ARCHITECTURE.md;
//!    Rekor v2 entries and fractional-second RFC 3161 times included). It yields a
//!    [`SignedBundle`] whose [`SignerFacts`] are verified but not yet authorized.
//! 2. [`SignedBundle::authorize`] evaluates a [`TrustPolicy`] on those facts and yields a
//!    [`VerifiedBundle`].
//!
//! [`verify_bundle`] does both. [`verify_with_key`] checks managed-key bundles (no certificate,
//! so no identity policy) for the conformance protocol's `--key`, with sigstore-verify.

use chrono::{DateTime, Utc};
use sigstore_types::{
    Bundle, DerPublicKey, HashAlgorithm, KindVersion, Sha256Hash, SignatureContent, Statement,
};
use sigstore_verify::PublicKeyVerificationPolicy;
use trustpull_policy::{evaluate, Digest, SignerFacts, TrustPolicy};

use crate::rekor_v2::V2Entry;
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
pub fn verify_signature(
    bundle: &[u8],
    digest: &Digest,
    root: &TrustRoot,
) -> Result<SignedBundle, BundleRejection> {
    let (parsed, v2) = parse_with_v2(as_text(bundle)?)?;
    let predicate_type = check_binding(&parsed, digest)?;
    if parsed.signing_certificate().is_none() {
        return Err(BundleRejection::Malformed {
            reason: "the bundle has no signing certificate (a managed-key bundle needs --key)"
                .into(),
        });
    }
    let verified = crate::keyless::verify(&parsed, &v2, digest, root)?;
    let mut verified_timestamps = verified.times;
    verified_timestamps.sort();
    verified_timestamps.dedup();
    Ok(SignedBundle {
        digest: digest.clone(),
        facts: SignerFacts {
            identity: verified.facts.identity,
            issuer: verified.facts.issuer,
            extensions: verified.facts.extensions,
            verified_timestamps,
            predicate_type,
        },
        rekor_log_index: verified.log_index,
        trust_root_fingerprint: root.fingerprint().clone(),
    })
}

/// The parsed bundle and its Rekor v2 entries, taken out first when it has any (sigstore-types
/// cannot parse a `dsse` v0.0.2 entry). A bundle without them is parsed once.
fn parse_with_v2(text: &str) -> Result<(Bundle, Vec<V2Entry>), BundleRejection> {
    if let Ok(parsed) = Bundle::from_json(text) {
        let has_v2 = parsed
            .verification_material
            .tlog_entries
            .iter()
            .any(|e| e.kind_version == KindVersion::HashedRekordV002);
        if !has_v2 {
            return Ok((parsed, Vec::new()));
        }
    }
    match crate::rekor_v2::split(text)? {
        Some(split) => Ok((parse_text(&split.rest)?, split.entries)),
        None => Ok((parse_text(text)?, Vec::new())),
    }
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
    let parsed = parse_text(text)?;
    let fractional = parsed
        .verification_material
        .timestamp_verification_data
        .rfc3161_timestamps
        .iter()
        .any(|t| crate::timestamp::has_fractional_seconds(t.signed_timestamp.as_bytes()));
    if fractional
        || split
            .as_ref()
            .is_some_and(|s| s.entries.iter().any(V2Entry::is_dsse))
    {
        return Err(BundleRejection::TransparencyLog {
            reason: "managed-key bundles with a Rekor v2 dsse entry or a fractional-second timestamp are not supported".into(),
        });
    }
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

pub(crate) fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
