//! The one `SignatureSource` test double of this crate's tests: a [`StaticSource`] seen through
//! hooks that count listings and can replace a listing or a bundle fetch (an outage, a list a
//! limit cut, a bad candidate). It is not in the testkit: a dev-dependency on the testkit would
//! turn the verifier's `cosign` and `tuf` features on in every test build (see ARCHITECTURE.md);
//! xtask's bench keeps its own slow source.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use trustpull_policy::Digest;
use trustpull_verifier::{
    CandidateList, ImageSubject, LegacyKind, LegacySignature, SignatureCandidate, SignatureSource,
    SignatureSourceError, StaticSource,
};

type ListHook =
    Box<dyn Fn(CandidateList) -> Result<CandidateList, SignatureSourceError> + Send + Sync>;
type BundleHook = Box<dyn Fn(Vec<u8>) -> Result<Vec<u8>, SignatureSourceError> + Send + Sync>;

/// `inner`'s answers, each candidate listing counted and passed through `on_list`, each bundle
/// through `on_bundle` (both pass everything through unless a test sets them); legacy lookups
/// are `inner`'s unchanged.
pub(crate) struct Interposed {
    inner: StaticSource,
    lists: AtomicUsize,
    on_list: ListHook,
    on_bundle: BundleHook,
}

impl std::fmt::Debug for Interposed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interposed")
            .field("inner", &self.inner)
            .field("lists", &self.lists)
            .finish_non_exhaustive()
    }
}

impl Interposed {
    /// `inner`, unchanged (but counted).
    pub(crate) fn new(inner: StaticSource) -> Self {
        Self {
            inner,
            lists: AtomicUsize::new(0),
            on_list: Box::new(Ok),
            on_bundle: Box::new(Ok),
        }
    }

    /// Every listing becomes what `hook` makes of `inner`'s.
    pub(crate) fn on_list(
        mut self,
        hook: impl Fn(CandidateList) -> Result<CandidateList, SignatureSourceError>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.on_list = Box::new(hook);
        self
    }

    /// Every bundle fetch becomes what `hook` makes of `inner`'s bytes.
    pub(crate) fn on_bundle(
        mut self,
        hook: impl Fn(Vec<u8>) -> Result<Vec<u8>, SignatureSourceError> + Send + Sync + 'static,
    ) -> Self {
        self.on_bundle = Box::new(hook);
        self
    }

    /// How often candidates were listed.
    pub(crate) fn lists(&self) -> usize {
        self.lists.load(Ordering::SeqCst)
    }
}

/// A retryable lookup failure (a registry's 503).
pub(crate) fn outage() -> SignatureSourceError {
    SignatureSourceError::Unavailable {
        location: "http://127.0.0.1:5000/v2/acme/b/referrers".into(),
        reason: "HTTP 503".into(),
        status: Some(503),
    }
}

#[async_trait]
impl SignatureSource for Interposed {
    async fn candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<CandidateList, SignatureSourceError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        (self.on_list)(self.inner.candidates(subject, digest).await?)
    }
    async fn bundle(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        (self.on_bundle)(self.inner.bundle(subject, candidate).await?)
    }
    async fn legacy_candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
        referrers: &[SignatureCandidate],
        kind: LegacyKind,
    ) -> Result<CandidateList, SignatureSourceError> {
        self.inner
            .legacy_candidates(subject, digest, referrers, kind)
            .await
    }
    async fn legacy_signature(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<LegacySignature, SignatureSourceError> {
        self.inner.legacy_signature(subject, candidate).await
    }
}
