//! The one place where trustpull decides trust.
//!
//! This crate will hold the `ImageVerifier` trait, its cosign (Sigstore bundle), no-op and
//! strict implementations, the trust root and the verification cache (DESIGN.md §4 and §6).
//! It will not fetch layers or extract images.
//!
//! Nothing is implemented yet; see the verifier issue.
