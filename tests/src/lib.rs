//! Test support for trustpull.
//!
//! - [`conformance`]: the vendored sigstore-conformance `bundle-verify` cases and the
//!   `verify-bundle` command lines that run them.
//! - [`doubles`]: `CountingVerifier`, a verifier that counts the verifications reaching it.
//! - [`json`]: JSON bytes with sorted keys, for fixtures compared byte for byte.
//! - [`sigstore`]: the fixture signer, a "virtual Sigstore" (Fulcio-like CA, CT log, Rekor, TSA) whose
//!   bundles pass the production checks, with knobs to get any single thing wrong.
//! - [`tuf`]: a signed TUF repository holding a `trusted_root.json`, on disk or served from
//!   wiremock, with a knob for each way a mirror fails.
//! - [`layout`]: OCI image layouts with small images, movable tags and signatures stored as
//!   referrers (installs, upgrades, the verification cache, without a registry).
//! - [`scenarios`]: policy scenarios (pass/fail pairs) stored in `tests/fixtures/scenarios/`.
//!
//! It is never published.

pub mod conformance;
pub mod doubles;
pub mod json;
pub mod layout;
pub mod scenarios;
pub mod sigstore;
pub mod tuf;
