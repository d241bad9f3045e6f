//! Test support for trustpull.
//!
//! This crate will hold the fixture signer (a "virtual Sigstore": Fulcio, CT log, Rekor, TSA),
//! OCI image builders and the cross-crate tests. It is never published.
