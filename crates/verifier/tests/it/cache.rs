//! `CachingVerifier` in front of a real `CosignVerifier`: `cache_scope()` files its receipts so
//! that a second verification is answered without looking up signatures, and a verifier with
//! another policy sharing the cache does not get them.

use std::sync::Arc;

use trustpull_verifier::{
    CachingVerifier, CosignVerifier, ImageVerifier, MonotonicClock, StaticSource, Verification,
    VerificationCache, VerifyError,
};

use crate::cosign::{artifact_digest, case, policy, root, subject, IDENTITY};
use crate::doubles::Interposed;

/// The happy-path bundle, its listings counted.
fn counting() -> Arc<Interposed> {
    Arc::new(Interposed::new(
        StaticSource::new().with_bundle(artifact_digest(), case("happy-path-v0.3")),
    ))
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
    assert_eq!(source.lists(), 1);
    assert_eq!(cache.len(), 1);

    // Another policy sharing the cache is a miss, and its rejection is not kept.
    let strict = cached("https://github.com/acme/other", &cache);
    for expected_lists in [2, 3] {
        let got = strict.verify(&subject(), source.as_ref()).await;
        assert!(matches!(got, Err(VerifyError::Rejected(_))), "{got:?}");
        assert_eq!(source.lists(), expected_lists);
    }
    assert_eq!(cache.len(), 1);
}
