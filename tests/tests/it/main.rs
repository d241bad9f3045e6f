//! Cross-crate tests: the verifier against bundles from the virtual Sigstore.

mod cosign;
mod determinism;
mod faults;
mod mutation;
mod rekor_v2;
mod scenarios;
mod tuf;
