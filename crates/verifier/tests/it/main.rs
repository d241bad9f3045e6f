//! Integration tests of the cosign verifier over real Sigstore bundles (the vendored
//! conformance data): any-passes, every candidate listed on rejection, unavailable kept apart;
//! and the verification cache in front of it.

mod cache;
mod cosign;
mod doubles;
