//! The one place where trustpull decides trust.
//!
//! - [`ImageVerifier`]: the object-safe trait installers call with an [`ImageSubject`] (an image
//!   pinned by digest). It answers [`Verification::Verified`] with a [`Receipt`],
//!   [`Verification::Unverified`], or a [`VerifyError`] that keeps deterministic rejections
//!   ([`VerifyError::Rejected`], listing every candidate and why) apart from retryable failures
//!   ([`VerifyError::Unavailable`]) and strict-mode refusals ([`VerifyError::Refused`]).
//! - [`NoopVerifier`] and [`StrictVerifier`]: the verifiers for galleries without a policy.
//! - [`SignatureSource`]: where signature candidates come from (registries, OCI layouts).
//! - [`CachingVerifier`]: wraps any verifier with a [`VerificationCache`] the caller owns:
//!   passes kept for a TTL, rejections only if asked, `Unavailable` never,
//!   concurrent identical verifications coalesced.
//! - With the default feature `cosign`: `verify_bundle` (bundle bytes + digest + policy + trust
//!   root, no registry), `TrustRoot` (embedded public-good root or a file, with a fingerprint)
//!   and `CosignVerifier` (a `SignatureSource` + `verify_bundle` over every candidate).
//! - With feature `tuf`: `TufCache` and `TufMirror`, a TUF refresh of Sigstore's
//!   `trusted_root.json` into a directory the caller owns, keeping the last good root on any
//!   failure (the caller passes the directory and the time; the crate has no default for either).
//!
//! It does not fetch layers or extract images, and reads no environment. The wall clock is read
//! in two places only, as sigstore-verify does: a transparency-log time in the future is
//! rejected, and Rekor keys must have started being valid (the cache reads the monotonic clock
//! only through the [`Clock`] its caller passes). Verification times come from the bundle's
//! verified timestamps.
//! Without default features the crate has no crypto dependencies, so the downloader can depend
//! on the trait alone.
//!
//! ```
//! use trustpull_verifier::{ImageSubject, ImageVerifier, StrictVerifier, VerifyError};
//! # tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(async {
//! let subject = ImageSubject::new("ghcr.io", "acme/b", trustpull_policy::Digest::of(b"m"), "application/vnd.oci.image.manifest.v1+json");
//! let strict = StrictVerifier::new("gallery acme has no verification policy");
//! assert!(matches!(strict.verify(&subject, &trustpull_verifier::StaticSource::new()).await, Err(VerifyError::Refused { .. })));
//! # });
//! ```

mod cache;
mod error;
mod receipt;
mod source;
mod subject;
mod verifier;

pub use cache::{
    CacheScope, CachingVerifier, Clock, MonotonicClock, VerificationCache, DEFAULT_MAX_ENTRIES,
    DEFAULT_VERIFIED_TTL,
};
pub use error::{
    BundleRejection, CandidateReason, CandidateRejection, LegacyRejection, Rejection, VerifyError,
};
pub use receipt::{Receipt, SignedTarget, Verification};
pub use source::{
    CandidateList, LegacyKind, LegacyLayer, LegacySignature, SignatureCandidate, SignatureSource,
    SignatureSourceError, StaticSource, ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE,
    ANNOTATION_CHAIN, ANNOTATION_RFC3161, ANNOTATION_SIGNATURE, DSSE_ENVELOPE_MEDIA_TYPE,
    LEGACY_SIGNATURE_ARTIFACT_TYPE, SIMPLE_SIGNING_MEDIA_TYPE,
};
pub use subject::ImageSubject;
pub use trustpull_policy::SignatureFormat;
pub use verifier::{ImageVerifier, NoopVerifier, StrictVerifier};

#[cfg(feature = "cosign")]
mod attestation;
#[cfg(feature = "cosign")]
mod bundle;
#[cfg(feature = "cosign")]
mod certificate;
#[cfg(feature = "cosign")]
mod cosign;
#[cfg(feature = "cosign")]
mod fulcio;
#[cfg(feature = "cosign")]
mod keyless;
#[cfg(feature = "cosign")]
mod legacy;
#[cfg(feature = "cosign")]
mod rekor_v2;
#[cfg(feature = "cosign")]
mod repository;
#[cfg(feature = "cosign")]
mod timestamp;
#[cfg(feature = "cosign")]
mod trust_root;

#[cfg(feature = "cosign")]
pub use attestation::{predicate_type_uri, VerifiedAttestation, COSIGN_PREDICATE_TYPES};
#[cfg(feature = "cosign")]
pub use bundle::{
    verify_bundle, verify_signature, verify_with_key, KeyError, ManagedKey, SignedBundle,
    VerifiedBundle, IN_TOTO_PAYLOAD_TYPE, MAX_BUNDLE_BYTES,
};
#[cfg(feature = "cosign")]
pub use cosign::{CosignVerifier, DEFAULT_CONCURRENCY, DEFAULT_MAX_CANDIDATES};
#[cfg(feature = "cosign")]
pub use legacy::{
    verify_legacy, verify_legacy_attestation, COSIGN_SIGNATURE_TYPE, MAX_PAYLOAD_BYTES,
};
#[cfg(feature = "tuf")]
pub use trust_root::tuf::{
    CachedRootRecord, TufCache, TufError, TufFailure, TufMirror, TufUpdate, TufVersions,
    MAX_TRUSTED_ROOT_BYTES, PUBLIC_GOOD_MIRROR, TRUSTED_ROOT_TARGET,
};
#[cfg(feature = "cosign")]
pub use trust_root::{KeyValidity, Service, TrustRoot, TrustRootError, TrustRootSource};
