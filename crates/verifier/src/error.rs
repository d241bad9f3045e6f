//! [`VerifyError`] and the rejection reasons it carries.

use std::fmt;

use trustpull_policy::{Digest, PolicyViolation, SignatureFormat};

use crate::{SignatureCandidate, SignatureSourceError};

/// Why a verifier did not vouch for an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Deterministic: no candidate signature satisfied the policy. Retrying will not help.
    #[error(transparent)]
    Rejected(Rejection),
    /// Signatures could not be looked up; retrying may help. Never means "no signatures".
    #[error("could not look up signatures for {image}@{digest}; retry later")]
    Unavailable {
        /// `registry/repository`.
        image: String,
        /// The manifest digest.
        digest: Digest,
        /// What failed.
        #[source]
        source: SignatureSourceError,
    },
    /// The subject says it was selected from an index whose bytes do not name it (or do not
    /// hash to the index digest): an index signature cannot vouch for it. Deterministic.
    #[error(
        "{image}@{digest} was selected from index {index}, but {reason}; nothing vouches for it"
    )]
    IndexMismatch {
        /// `registry/repository`.
        image: String,
        /// The manifest digest.
        digest: Digest,
        /// The index digest.
        index: Digest,
        /// What does not match.
        reason: String,
    },
    /// A signature passed, but the policy requires an attestation of `predicate_type` and none
    /// verified (`require_attestations:`). Deterministic.
    #[error("{image}@{digest} is signed, but the policy requires a {predicate_type} attestation and none verified: {rejection}")]
    MissingAttestation {
        /// `registry/repository`.
        image: String,
        /// The manifest digest.
        digest: Digest,
        /// The required predicate type.
        predicate_type: String,
        /// The attestation candidates and why each failed.
        rejection: Box<Rejection>,
    },
    /// A strict installer has no policy for this image ([`crate::StrictVerifier`]).
    #[error("refusing {image}@{digest}: {reason}")]
    Refused {
        /// `registry/repository`.
        image: String,
        /// The manifest digest.
        digest: Digest,
        /// What to change, e.g. which gallery needs a `verification:` block.
        reason: String,
    },
}

impl VerifyError {
    /// True when a retry may help.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// The manifest digest the verifier was asked about.
    pub fn digest(&self) -> &Digest {
        match self {
            Self::Rejected(r) => &r.digest,
            Self::Unavailable { digest, .. }
            | Self::MissingAttestation { digest, .. }
            | Self::IndexMismatch { digest, .. }
            | Self::Refused { digest, .. } => digest,
        }
    }
}

/// Every candidate signature for an image and why each failed. Empty means none was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `registry/repository`.
    pub image: String,
    /// The manifest digest.
    pub digest: Digest,
    /// Each candidate and why it failed, in the order tried.
    pub candidates: Vec<CandidateRejection>,
}

impl std::error::Error for Rejection {}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.candidates.is_empty() {
            return write!(
                f,
                "no signatures found for {}@{}; sign it (cosign sign --new-bundle-format) or check the verification policy",
                self.image, self.digest
            );
        }
        write!(
            f,
            "no signature for {}@{} satisfies the policy ({} tried)",
            self.image,
            self.digest,
            self.candidates.len()
        )?;
        for c in &self.candidates {
            write!(f, "; {c}")?;
        }
        Ok(())
    }
}

/// One candidate and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateRejection {
    /// The candidate.
    pub candidate: SignatureCandidate,
    /// The digest it was found for (the manifest or its index).
    pub signs: Digest,
    /// Why it failed.
    pub reason: CandidateReason,
}

impl fmt::Display for CandidateRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.candidate.layer() {
            Some(layer) => write!(
                f,
                "legacy signature {} layer {} (for {}): {}",
                self.candidate.digest(),
                layer.index,
                self.signs,
                self.reason
            ),
            None => write!(
                f,
                "candidate {} (for {}): {}",
                self.candidate.digest(),
                self.signs,
                self.reason
            ),
        }
    }
}

/// Why one candidate failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CandidateReason {
    /// The source could not produce a usable bundle for it.
    #[error(transparent)]
    Source(SignatureSourceError),
    /// The bundle was read and rejected.
    #[error(transparent)]
    Bundle(BundleRejection),
    /// The legacy (simple-signing) signature was read and rejected.
    #[error(transparent)]
    Legacy(LegacyRejection),
    /// The policy binds signatures to a repository (`repository:`) and this one names another
    /// (or none).
    #[error("the signature names repository {found:?}, the policy requires {expected}; sign in that repository or change `repository:`")]
    Repository {
        /// The policy's repository.
        expected: String,
        /// What the signature names (empty: nothing, e.g. a message-signature bundle).
        found: Vec<String>,
    },
    /// The policy's `formats:` does not accept this candidate's format.
    #[error("{format} signatures are not accepted by the policy (formats: {accepted}); sign in an accepted format or add `{format}` to `formats`")]
    FormatRefused {
        /// The candidate's format.
        format: SignatureFormat,
        /// The formats the policy accepts, comma separated.
        accepted: String,
    },
}

/// Why one legacy (simple-signing) signature does not vouch for a digest. Deterministic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LegacyRejection {
    /// An annotation is missing or unreadable.
    #[error("annotation {annotation} is {reason}")]
    Annotation {
        /// The annotation key.
        annotation: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The payload is bigger than the verifier accepts.
    #[error("payload is {size} bytes, over the {limit}-byte limit")]
    PayloadTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The payload is not a simple-signing JSON document.
    #[error("payload is not a simple-signing document: {reason}")]
    Payload {
        /// What the parser said.
        reason: String,
    },
    /// The payload signs another image.
    #[error("payload signs {found}, not {expected}; the signature is for another image")]
    PayloadDigest {
        /// The digest that had to be signed.
        expected: Digest,
        /// `critical.image.docker-manifest-digest` as written.
        found: String,
    },
    /// `critical.type` is not cosign's container image signature type.
    #[error("payload type {found:?} is not \"cosign container image signature\"")]
    PayloadType {
        /// `critical.type` as written.
        found: String,
    },
    /// The signature, certificate, chain or Rekor entry did not verify (the legacy signature
    /// was checked as the equivalent v0.1 bundle over the payload).
    #[error(transparent)]
    Bundle(BundleRejection),
}

/// Why one Sigstore bundle does not vouch for a digest under a policy. Deterministic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleRejection {
    /// The bundle is bigger than the verifier accepts.
    #[error("bundle is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a parseable Sigstore bundle.
    #[error("malformed bundle: {reason}")]
    Malformed {
        /// What the parser said.
        reason: String,
    },
    /// A bundle media type this verifier does not know.
    #[error("unsupported bundle version {media_type:?}; expected application/vnd.dev.sigstore.bundle v0.1 to v0.3")]
    UnsupportedVersion {
        /// The declared media type.
        media_type: String,
    },
    /// The signing certificate, its chain or its SCT was rejected.
    #[error("certificate rejected: {reason}")]
    Certificate {
        /// Detail.
        reason: String,
    },
    /// The transparency-log evidence (entry, SET, inclusion proof, checkpoint) was rejected.
    #[error("transparency log evidence rejected: {reason}")]
    TransparencyLog {
        /// Detail.
        reason: String,
    },
    /// A timestamp was rejected or none could be verified.
    #[error("timestamp rejected: {reason}")]
    Timestamp {
        /// Detail.
        reason: String,
    },
    /// The signature does not verify.
    #[error("signature invalid: {reason}")]
    Signature {
        /// Detail.
        reason: String,
    },
    /// The bundle signs something else (message digest or DSSE subject differs).
    #[error("bundle does not sign {expected}: {reason}")]
    ArtifactMismatch {
        /// The digest that had to be signed.
        expected: Digest,
        /// Detail.
        reason: String,
    },
    /// The trust root cannot verify this bundle (e.g. no key for its log).
    #[error("the trust root cannot verify this bundle: {reason}; check --trusted-root")]
    TrustRoot {
        /// Detail.
        reason: String,
    },
    /// A DSSE envelope with a payload type other than in-toto.
    #[error("DSSE payload type {found:?} is not application/vnd.in-toto+json")]
    PayloadType {
        /// The declared payload type.
        found: String,
    },
    /// The DSSE payload is not an in-toto statement v1.
    #[error("DSSE payload is not an in-toto statement: {reason}")]
    Statement {
        /// Detail.
        reason: String,
    },
    /// The in-toto statement's subjects do not include the image digest.
    #[error("in-toto statement subjects {found:?} do not include {expected}; the attestation is for another image")]
    SubjectDigest {
        /// The image digest.
        expected: Digest,
        /// The sha256 digests the statement names.
        found: Vec<String>,
    },
    /// The certificate has no identity (SAN) to check.
    #[error("signing certificate has no subject alternative name to check the identity against")]
    NoIdentity,
    /// The bundle verified but the signer does not satisfy the policy.
    #[error("policy not satisfied: {0}")]
    Policy(PolicyViolation),
}
