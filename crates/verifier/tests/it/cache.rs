//! `CachingVerifier` in front of a real `CosignVerifier`: `cache_scope()` files its receipts so
//! that a second verification is answered without looking up signatures, and a verifier with
//! another policy sharing the cache does not get them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use trustpull_policy::Digest;
use trustpull_verifier::{
    CachingVerifier, CandidateList, CosignVerifier, ImageSubject, ImageVerifier, LegacySignature,
    MonotonicClock, SignatureCandidate, SignatureSource, SignatureSourceError, StaticSource,
    Verification, VerificationCache, VerifyError,
};

use crate::cosign::{artifact_digest, case, policy, root, subject, IDENTITY};

/// A source that counts how often candidates are listed.
#[derive(Debug)]
struct Counting {
    inner: StaticSource,
    lists: AtomicUsize,
}

#[async_trait]
impl SignatureSource for Counting {
    async fn candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<CandidateList, SignatureSourceError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.candidates(subject, digest).await
    }
    async fn bundle(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        self.inner.bundle(subject, candidate).await
    }
    async fn legacy_candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
        referrers: &[SignatureCandidate],
        kind: trustpull_verifier::LegacyKind,
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

fn counting() -> Arc<Counting> {
    Arc::new(Counting {
        inner: StaticSource::new().with_bundle(artifact_digest(), case("happy-path-v0.3")),
        lists: AtomicUsize::new(0),
    })
}

fn cached(identity: &str, cache: &Arc<VerificationCache>) -> CachingVerifier {
    let cosign = CosignVerifier::new(policy(identity), root());
    let scope = cosign.cache_scope();
    CachingVerifier::new(Arc::new(cosign), cache.clone(), scope)
}

#[tokio::test]
async fn a_cosign_receipt_is_kept_under_the_verifiers_scope() {
    let source = counting();
    let cache = Arc::new(VerificationCache::new(Arc::new(MonotonicClock)));
    let v = cached(IDENTITY, &cache);
    assert_eq!(
        v.scope().policy_fingerprint(),
        policy(IDENTITY).fingerprint()
    );
    assert_eq!(v.scope().trust_root_fingerprint(), root().fingerprint());
    let first = v.verify(&subject(), source.as_ref()).await;
    let Ok(Verification::Verified(receipt)) = &first else {
        panic!("expected a pass, got {first:?}")
    };
    assert_eq!(receipt.policy_fingerprint(), v.scope().policy_fingerprint());
    assert_eq!(v.verify(&subject(), source.as_ref()).await, first);
    assert_eq!(source.lists.load(Ordering::SeqCst), 1);
    assert_eq!(cache.len(), 1);

    // Another policy sharing the cache is a miss, and its rejection is not kept.
    let strict = cached("https://github.com/acme/other", &cache);
    for expected_lists in [2, 3] {
        let got = strict.verify(&subject(), source.as_ref()).await;
        assert!(matches!(got, Err(VerifyError::Rejected(_))), "{got:?}");
        assert_eq!(source.lists.load(Ordering::SeqCst), expected_lists);
    }
    assert_eq!(cache.len(), 1);
}
