//! Test doubles around the verifier trait, for the crates that can depend on the testkit
//! (gallery, downloader and CLI tests, xtask's benches). The verifier's own tests cannot (a
//! dev-dependency back on the testkit would force its features on them) and keep theirs in
//! `crates/verifier/tests/it/doubles.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use trustpull_verifier::{ImageSubject, ImageVerifier, SignatureSource, Verification, VerifyError};

/// `inner`'s answers, each verification that reaches it counted in a counter the caller holds
/// (several verifiers may share one, e.g. every verifier a factory makes).
#[derive(Debug)]
pub struct CountingVerifier {
    inner: Arc<dyn ImageVerifier>,
    calls: Arc<AtomicUsize>,
}

impl CountingVerifier {
    /// Counts the verifications that reach `inner` in `calls`.
    pub fn new(inner: Arc<dyn ImageVerifier>, calls: Arc<AtomicUsize>) -> Self {
        Self { inner, calls }
    }
}

#[async_trait]
impl ImageVerifier for CountingVerifier {
    async fn verify(
        &self,
        subject: &ImageSubject,
        signatures: &dyn SignatureSource,
    ) -> Result<Verification, VerifyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(subject, signatures).await
    }
}
