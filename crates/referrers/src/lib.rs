//! Registry access and signature discovery for trustpull.
//!
//! This crate will hold the `RegistryClient` (a wrapper over oci-client: credentials, retries,
//! limits, plain HTTP only for listed hosts) and the discovery of Sigstore bundles attached to a
//! digest through the OCI referrers API or the referrers tag schema (DESIGN.md §5). It will not
//! decide trust: it finds candidates and hands them to `trustpull-verifier`.
//!
//! Nothing is implemented yet; see the registry/referrers issue.
