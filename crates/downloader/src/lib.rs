//! Verified, atomic installation of OCI images.
//!
//! This crate will resolve a reference once, pin it to a digest, verify it through an
//! `ImageVerifier`, fetch layers by digest and extract them safely into a staging directory that
//! is renamed into place (DESIGN.md §7). It knows only the verifier trait, never an
//! implementation.
//!
//! Nothing is implemented yet; see the downloader issue.
