//! Test support for trustpull.
//!
//! - [`conformance`]: the vendored sigstore-conformance `bundle-verify` cases and the
//!   `verify-bundle` command lines that run them.
//!
//! It will also hold the fixture signer (a "virtual Sigstore": Fulcio, CT log, Rekor, TSA),
//! OCI image builders and the cross-crate tests. It is never published.

pub mod conformance;
