//! [`Verification`] and [`Receipt`]: what a verifier answers, and the record of a pass.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trustpull_policy::{Digest, SignatureFormat};

/// The outcome of a verification that did not fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
// One value per verification, matched by callers: boxing the receipt would only make matching awkward.
#[allow(clippy::large_enum_variant)]
pub enum Verification {
    /// A signature satisfied the policy.
    Verified(Receipt),
    /// Nothing was checked ([`crate::NoopVerifier`]); the caller should warn.
    Unverified {
        /// Why nothing was checked, for the warning.
        reason: String,
    },
}

/// Which digest carried the signature that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignedTarget {
    /// The platform manifest digest itself.
    Manifest,
    /// The index the manifest was selected from.
    Index,
}

/// The record of a successful verification: what was verified, by whom it was signed, and
/// against which policy and trust root.
///
/// A `Receipt` is created only inside this crate after a bundle verified and the policy passed.
/// It deserializes (receipts are stored beside installs), but a deserialized receipt is a
/// record, not proof: `verify-installed` re-checks it against today's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub(crate) image: String,
    pub(crate) digest: Digest,
    pub(crate) signed_digest: Digest,
    pub(crate) signed_target: SignedTarget,
    pub(crate) identity: String,
    pub(crate) issuer: Option<String>,
    pub(crate) extensions: BTreeMap<String, String>,
    pub(crate) verified_timestamps: Vec<DateTime<Utc>>,
    pub(crate) predicate_type: Option<String>,
    pub(crate) rekor_log_index: Option<u64>,
    pub(crate) referrer: Option<Digest>,
    /// Receipts written before legacy signatures were supported are bundle receipts.
    #[serde(default)]
    pub(crate) format: SignatureFormat,
    /// The predicate types the policy required and that verified (`require_attestations:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) attestations: Vec<String>,
    pub(crate) trust_root_fingerprint: Digest,
    pub(crate) policy_fingerprint: Digest,
}

impl Receipt {
    /// `registry/repository` of the verified image.
    pub fn image(&self) -> &str {
        &self.image
    }
    /// The manifest digest that was verified.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
    /// The digest the passing signature signed (the manifest, or its index).
    pub fn signed_digest(&self) -> &Digest {
        &self.signed_digest
    }
    /// Whether the manifest or its index carried the signature.
    pub fn signed_target(&self) -> SignedTarget {
        self.signed_target
    }
    /// The signer identity (certificate SAN).
    pub fn identity(&self) -> &str {
        &self.identity
    }
    /// The OIDC issuer claim.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }
    /// The Fulcio claims of the certificate, by name.
    pub fn extensions(&self) -> &BTreeMap<String, String> {
        &self.extensions
    }
    /// The verified signing times (transparency log, RFC 3161), earliest first.
    pub fn verified_timestamps(&self) -> &[DateTime<Utc>] {
        &self.verified_timestamps
    }
    /// The in-toto predicate type of a DSSE bundle; `None` for message signatures.
    pub fn predicate_type(&self) -> Option<&str> {
        self.predicate_type.as_deref()
    }
    /// The Rekor log index of the entry, if the bundle had one.
    pub fn rekor_log_index(&self) -> Option<u64> {
        self.rekor_log_index
    }
    /// The referrer manifest (signature candidate) that held the bundle.
    pub fn referrer(&self) -> Option<&Digest> {
        self.referrer.as_ref()
    }
    /// The format of the signature that passed: a Sigstore bundle or a legacy simple-signing
    /// signature.
    pub fn format(&self) -> SignatureFormat {
        self.format
    }
    /// The attestation predicate types the policy required, each verified for this image.
    pub fn attestations(&self) -> &[String] {
        &self.attestations
    }
    /// The fingerprint of the trust root used.
    pub fn trust_root_fingerprint(&self) -> &Digest {
        &self.trust_root_fingerprint
    }
    /// The fingerprint of the policy that passed.
    pub fn policy_fingerprint(&self) -> &Digest {
        &self.policy_fingerprint
    }
}
