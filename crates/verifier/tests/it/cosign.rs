//! `CosignVerifier` over `SignatureSource`s built from the vendored conformance bundles, whose
//! artifact `a.txt` stands in for an image manifest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use trustpull_policy::{Digest, PolicySpec, SignedBy, TrustPolicy};
use trustpull_verifier::{
    verify_bundle, BundleRejection, CandidateReason, CosignVerifier, ImageSubject, ImageVerifier,
    SignatureCandidate, SignatureSource, SignatureSourceError, SignedTarget, StaticSource,
    TrustRoot, Verification, VerifyError,
};

pub(crate) const IDENTITY: &str =
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
}

pub(crate) fn case(name: &str) -> Vec<u8> {
    std::fs::read(
        data()
            .join("bundle-verify")
            .join(name)
            .join("bundle.sigstore.json"),
    )
    .expect("vendored case")
}

pub(crate) fn artifact_digest() -> Digest {
    Digest::of(&std::fs::read(data().join("bundle-verify/a.txt")).expect("a.txt"))
}

pub(crate) fn root() -> Arc<TrustRoot> {
    Arc::new(
        TrustRoot::from_file(&data().join("production_trusted_root.json"))
            .expect("production root loads"),
    )
}

pub(crate) fn policy(identity: &str) -> Arc<TrustPolicy> {
    Arc::new(
        TrustPolicy::new(PolicySpec {
            issuer: Some(ISSUER.into()),
            identity: Some(identity.into()),
            ..PolicySpec::default()
        })
        .expect("valid"),
    )
}

pub(crate) fn subject() -> ImageSubject {
    ImageSubject::new(
        "127.0.0.1:5000",
        "acme/b",
        artifact_digest(),
        "application/vnd.oci.image.manifest.v1+json",
    )
}

fn verifier(source: impl SignatureSource + 'static, identity: &str) -> CosignVerifier {
    CosignVerifier::new(Arc::new(source), policy(identity), root())
}

#[tokio::test]
async fn passes_when_any_candidate_passes_and_records_a_receipt() {
    let source = StaticSource::new()
        .with_bundle(artifact_digest(), case("signature-mismatch_fail"))
        .with_bundle(artifact_digest(), b"{not json".to_vec())
        .with_bundle(artifact_digest(), case("happy-path-v0.3"));
    let got = verifier(source, IDENTITY).verify(&subject()).await;
    let Ok(Verification::Verified(receipt)) = got else {
        panic!("expected a pass, got {got:?}")
    };
    assert_eq!(receipt.identity(), IDENTITY);
    assert_eq!(receipt.issuer(), Some(ISSUER));
    assert_eq!(receipt.digest(), &artifact_digest());
    assert_eq!(receipt.signed_target(), SignedTarget::Manifest);
    assert_eq!(
        receipt.referrer(),
        Some(&Digest::of(&case("happy-path-v0.3")))
    );
    assert!(
        !receipt.verified_timestamps().is_empty(),
        "a Rekor v1 bundle has an integrated time"
    );
    assert!(receipt.rekor_log_index().is_some());
    assert_eq!(receipt.trust_root_fingerprint(), root().fingerprint());
    let json = serde_json::to_value(&receipt).expect("receipts serialize");
    assert_eq!(json["identity"], IDENTITY);
}

#[tokio::test]
async fn rejection_lists_every_candidate_with_its_reason() {
    let source = StaticSource::new()
        .with_bundle(artifact_digest(), case("happy-path-v0.3"))
        .with_bundle(artifact_digest(), case("set-invalid-signature_fail"))
        .with_bundle(artifact_digest(), b"[]".to_vec());
    let got = verifier(source, "https://github.com/acme/other")
        .verify(&subject())
        .await;
    let Err(VerifyError::Rejected(rejection)) = got else {
        panic!("expected a rejection, got {got:?}")
    };
    assert_eq!(rejection.candidates.len(), 3);
    assert!(rejection.candidates.iter().any(|c| matches!(
        c.reason,
        CandidateReason::Bundle(BundleRejection::Policy(_))
    )));
    assert!(rejection.candidates.iter().any(|c| matches!(
        c.reason,
        CandidateReason::Bundle(BundleRejection::TransparencyLog { .. })
    )));
    assert!(rejection.candidates.iter().any(|c| matches!(
        c.reason,
        CandidateReason::Bundle(BundleRejection::Malformed { .. })
    )));
    assert!(rejection.to_string().contains("3 tried"), "{rejection}");
}

#[tokio::test]
async fn no_signatures_is_an_empty_rejection() {
    let got = verifier(StaticSource::new(), IDENTITY)
        .verify(&subject())
        .await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if r.candidates.is_empty()),
        "{got:?}"
    );
}

/// A source whose lookups fail, or whose bundle fetches fail, with a retryable error.
#[derive(Debug)]
struct Flaky {
    list_fails: bool,
    inner: StaticSource,
}

fn outage() -> SignatureSourceError {
    SignatureSourceError::Unavailable {
        location: "http://127.0.0.1:5000/v2/acme/b/referrers".into(),
        reason: "HTTP 503".into(),
        status: Some(503),
    }
}

#[async_trait]
impl SignatureSource for Flaky {
    async fn candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<Vec<SignatureCandidate>, SignatureSourceError> {
        if self.list_fails {
            return Err(outage());
        }
        self.inner.candidates(subject, digest).await
    }
    async fn bundle(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        let bundle = self.inner.bundle(subject, candidate).await?;
        if bundle.len() > 100 {
            return Err(outage());
        }
        Ok(bundle)
    }
}

#[tokio::test]
async fn an_unavailable_source_is_unavailable_never_no_signatures() {
    let got = verifier(
        Flaky {
            list_fails: true,
            inner: StaticSource::new(),
        },
        IDENTITY,
    )
    .verify(&subject())
    .await;
    assert!(
        matches!(
            &got,
            Err(VerifyError::Unavailable {
                source: SignatureSourceError::Unavailable {
                    status: Some(503),
                    ..
                },
                ..
            })
        ),
        "{got:?}"
    );
    assert!(got.unwrap_err().is_unavailable());

    // One candidate is garbage, the other cannot be fetched: it might have passed, so retry.
    let inner = StaticSource::new()
        .with_bundle(artifact_digest(), b"{}".to_vec())
        .with_bundle(artifact_digest(), case("happy-path-v0.3"));
    let got = verifier(
        Flaky {
            list_fails: false,
            inner,
        },
        IDENTITY,
    )
    .verify(&subject())
    .await;
    assert!(
        matches!(&got, Err(VerifyError::Unavailable { .. })),
        "{got:?}"
    );
}

#[tokio::test]
async fn candidates_over_the_bound_are_listed_as_not_tried() {
    let mut source = StaticSource::new();
    for i in 0..5 {
        source = source.with_bundle(artifact_digest(), format!("{{\"n\":{i}}}").into_bytes());
    }
    let got = verifier(source, IDENTITY)
        .with_max_candidates(3)
        .verify(&subject())
        .await;
    let Err(VerifyError::Rejected(r)) = got else {
        panic!("{got:?}")
    };
    assert_eq!(r.candidates.len(), 5);
    assert_eq!(
        r.candidates
            .iter()
            .filter(|c| matches!(c.reason, CandidateReason::NotTried { limit: 3 }))
            .count(),
        2
    );
}

#[tokio::test]
async fn signed_by_selects_which_digests_count() {
    let child = ImageSubject::new(
        "r",
        "acme/b",
        Digest::of(b"child"),
        "application/vnd.oci.image.manifest.v1+json",
    )
    .with_index(artifact_digest());
    // The happy-path bundle signs a.txt, here playing the index.
    let source = || StaticSource::new().with_bundle(artifact_digest(), case("happy-path-v0.3"));
    let spec = |signed| PolicySpec {
        issuer: Some(ISSUER.into()),
        identity: Some(IDENTITY.into()),
        signed: Some(signed),
        ..PolicySpec::default()
    };
    let with = |signed| {
        CosignVerifier::new(
            Arc::new(source()),
            Arc::new(TrustPolicy::new(spec(signed)).expect("valid")),
            root(),
        )
    };
    let got = with(SignedBy::Either).verify(&child).await;
    assert!(
        matches!(&got, Ok(Verification::Verified(r)) if r.signed_target() == SignedTarget::Index && r.signed_digest() == &artifact_digest()),
        "{got:?}"
    );
    assert!(matches!(
        with(SignedBy::Index).verify(&child).await,
        Ok(Verification::Verified(_))
    ));
    assert!(
        matches!(with(SignedBy::Platform).verify(&child).await, Err(VerifyError::Rejected(r)) if r.candidates.is_empty())
    );
}

#[test]
fn verify_bundle_needs_no_registry() {
    let v = verify_bundle(
        &case("happy-path-v0.3"),
        &artifact_digest(),
        &policy(IDENTITY),
        &root(),
    )
    .expect("happy path verifies");
    assert_eq!(v.facts().identity, IDENTITY);
    assert!(
        v.facts().predicate_type.is_none(),
        "a message signature has no predicate type"
    );
    let other = Digest::of(b"another image");
    assert!(matches!(
        verify_bundle(&case("happy-path-v0.3"), &other, &policy(IDENTITY), &root()),
        Err(BundleRejection::ArtifactMismatch { .. } | BundleRejection::Signature { .. })
    ));
    let huge = vec![b' '; trustpull_verifier::MAX_BUNDLE_BYTES + 1];
    assert!(matches!(
        verify_bundle(&huge, &other, &policy(IDENTITY), &root()),
        Err(BundleRejection::TooLarge { .. })
    ));
    let mut unknown = String::from_utf8(case("happy-path-v0.3")).expect("utf8");
    unknown = unknown.replace(
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle.v9+json",
    );
    assert!(matches!(
        verify_bundle(
            unknown.as_bytes(),
            &artifact_digest(),
            &policy(IDENTITY),
            &root()
        ),
        Err(BundleRejection::UnsupportedVersion { .. })
    ));
}

/// A source that can only say one listed candidate is unusable.
#[derive(Debug)]
struct ListsBad;

#[async_trait]
impl SignatureSource for ListsBad {
    async fn candidates(
        &self,
        _: &ImageSubject,
        _: &Digest,
    ) -> Result<Vec<SignatureCandidate>, SignatureSourceError> {
        Err(SignatureSourceError::BadCandidate {
            candidate: Digest::of(b"referrer"),
            reason: "manifest has 2 layers, expected 1 bundle layer".into(),
        })
    }
    async fn bundle(
        &self,
        _: &ImageSubject,
        c: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        Err(SignatureSourceError::BadCandidate {
            candidate: c.digest().clone(),
            reason: "unreachable in this test".into(),
        })
    }
}

#[tokio::test]
async fn a_bad_candidate_while_listing_is_a_rejection_not_an_outage() {
    let got = verifier(ListsBad, IDENTITY).verify(&subject()).await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if r.candidates.len() == 1 && matches!(r.candidates[0].reason, CandidateReason::Source(SignatureSourceError::BadCandidate { .. }))),
        "{got:?}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    #[test]
    fn arbitrary_bytes_are_rejected_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        let root = root();
        proptest::prop_assert!(verify_bundle(&bytes, &artifact_digest(), &policy(IDENTITY), &root).is_err());
    }

    #[test]
    fn json_shaped_garbage_is_rejected_never_panics(media in "[a-z./+;=0-9]{0,60}", field in "[a-zA-Z]{1,20}", value in ".{0,40}") {
        let doc = serde_json::json!({"mediaType": media, "verificationMaterial": {field.clone(): value.clone()}, "messageSignature": {"signature": value}});
        let root = root();
        let bytes = serde_json::to_vec(&doc).expect("encodes");
        proptest::prop_assert!(verify_bundle(&bytes, &artifact_digest(), &policy(IDENTITY), &root).is_err());
    }
}
