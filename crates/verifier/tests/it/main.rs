//! Integration tests of the cosign verifier over real Sigstore bundles (the vendored
//! conformance data): any-passes, every candidate listed on rejection, unavailable kept apart.

mod cosign;
