//! Cross-crate tests: the verifier against bundles from the virtual Sigstore.

mod attestation;
mod cosign;
mod determinism;
mod faults;
mod legacy;
mod mutation;
mod repository;
mod scenarios;
