//! Cross-crate tests: the verifier against bundles from the virtual Sigstore.

mod cosign;
mod determinism;
mod faults;
mod mutation;
mod scenarios;
mod tuf;
