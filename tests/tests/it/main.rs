//! Cross-crate tests: the verifier against bundles from the virtual Sigstore.

mod attestation;
mod cosign;
mod determinism;
mod differential;
mod faults;
mod legacy;
mod mutation;
mod rekor_v2;
mod repository;
mod scenarios;
mod tuf;
