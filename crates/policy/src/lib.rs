//! Trust policy for trustpull: who must have signed an image, and the pure check of a verified
//! signer against it.
//!
//! This crate does no IO and runs no async code: it parses and validates the `verification:`
//! block of a gallery ([`TrustPolicy`]), checks content digests ([`Digest`]), and decides whether
//! the facts a verifier extracted from a signing certificate satisfy a policy ([`evaluate`]).
//! It also holds [`Platform`], the OCI platform rule shared by the downloader (which picks an
//! index child by it) and the verifier (which checks that an index lists the child for it).
//! It does NOT verify signatures; `trustpull-verifier` does that and hands the facts here.
//!
//! Regexes are full-match: `identity_regex: acme` does not accept `https://evil/acme`. cosign
//! and sigstore-go match substrings, a known footgun this crate closes.
//!
//! ```
//! use trustpull_policy::{evaluate, PolicySpec, SignerFacts, TrustPolicy};
//! let policy = TrustPolicy::new(PolicySpec {
//!     issuer: Some("https://token.actions.githubusercontent.com".into()),
//!     identity_regex: Some(r"https://github\.com/acme/b/\.github/workflows/r\.yml@refs/heads/main".into()),
//!     ..PolicySpec::default()
//! })?;
//! let facts = SignerFacts {
//!     identity: "https://github.com/acme/b/.github/workflows/r.yml@refs/heads/main".into(),
//!     issuer: Some("https://token.actions.githubusercontent.com".into()),
//!     ..SignerFacts::default()
//! };
//! assert_eq!(evaluate(&policy, &facts), Ok(()));
//! # Ok::<(), trustpull_policy::PolicyError>(())
//! ```

mod claims;
mod digest;
mod evaluate;
mod platform;
mod policy;

pub use claims::{FulcioClaim, FULCIO_OID_ARC};
pub use digest::{Digest, DigestError};
pub use evaluate::{evaluate, PolicyViolation, SignerFacts};
pub use platform::{Platform, PlatformParseError};
pub use policy::{
    PolicyError, PolicySpec, SignatureFormat, SignedBy, TrustPolicy, COSIGN_SIGN_PREDICATE,
};
