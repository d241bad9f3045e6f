//! `CosignVerifier` over `SignatureSource`s built from the vendored conformance bundles, whose
//! artifact `a.txt` stands in for an image manifest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use trustpull_policy::{Digest, Platform, PolicySpec, SignedBy, TrustPolicy};
use trustpull_verifier::{
    verify_bundle, BundleRejection, CandidateReason, CosignVerifier, ImageSubject, ImageVerifier,
    SignatureSource, SignatureSourceError, SignedTarget, StaticSource, TrustRoot, Verification,
    VerifyError,
};

use crate::doubles::{outage, Interposed};

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

/// A verifier and the image source it reads signatures from, as the downloader pairs them.
pub(crate) struct Bound {
    verifier: CosignVerifier,
    source: Arc<dyn SignatureSource>,
}

impl Bound {
    pub(crate) async fn verify(&self, subject: &ImageSubject) -> Result<Verification, VerifyError> {
        self.verifier.verify(subject, self.source.as_ref()).await
    }

    fn with_max_candidates(self, n: usize) -> Self {
        Self {
            verifier: self.verifier.with_max_candidates(n),
            source: self.source,
        }
    }
}

fn verifier(source: impl SignatureSource + 'static, identity: &str) -> Bound {
    Bound {
        verifier: CosignVerifier::new(policy(identity), root()),
        source: Arc::new(source),
    }
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

#[tokio::test]
async fn an_unavailable_source_is_unavailable_never_no_signatures() {
    // Lookups fail with a retryable error.
    let got = verifier(
        Interposed::new(StaticSource::new()).on_list(|_| Err(outage())),
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
    let flaky_fetches = Interposed::new(inner).on_bundle(|bundle| {
        if bundle.len() > 100 {
            Err(outage())
        } else {
            Ok(bundle)
        }
    });
    let got = verifier(flaky_fetches, IDENTITY).verify(&subject()).await;
    assert!(
        matches!(&got, Err(VerifyError::Unavailable { .. })),
        "{got:?}"
    );
}

#[tokio::test]
async fn candidates_over_the_bound_make_a_failure_inconclusive_never_a_rejection() {
    let mut source = StaticSource::new();
    for i in 0..5 {
        source = source.with_bundle(artifact_digest(), format!("{{\"n\":{i}}}").into_bytes());
    }
    let got = verifier(source.clone(), IDENTITY)
        .with_max_candidates(3)
        .verify(&subject())
        .await;
    assert!(
        matches!(&got, Err(VerifyError::Unavailable { source: SignatureSourceError::Inconclusive { limit, .. }, .. }) if limit.contains("3 candidates (5 listed)")),
        "{got:?}"
    );
    // The real signature past the bound: still inconclusive, never a rejection.
    let source = source.with_bundle(artifact_digest(), case("happy-path-v0.3"));
    let got = verifier(source.clone(), IDENTITY)
        .with_max_candidates(5)
        .verify(&subject())
        .await;
    assert!(
        matches!(&got, Err(VerifyError::Unavailable { .. })),
        "{got:?}"
    );
    // Within the bound it passes.
    let got = verifier(source, IDENTITY)
        .with_max_candidates(6)
        .verify(&subject())
        .await;
    assert!(matches!(got, Ok(Verification::Verified(_))), "{got:?}");
}

#[tokio::test]
async fn a_truncated_list_from_the_source_is_inconclusive() {
    // The source found one candidate but says a limit cut its list.
    let truncating =
        Interposed::new(StaticSource::new().with_bundle(artifact_digest(), b"{}".to_vec()))
            .on_list(|mut list| {
                list.truncated = Some("more than 1000 referrer descriptors".into());
                Ok(list)
            });
    let got = verifier(truncating, IDENTITY).verify(&subject()).await;
    assert!(
        matches!(&got, Err(VerifyError::Unavailable { source: SignatureSourceError::Inconclusive { limit, .. }, .. }) if limit == "more than 1000 referrer descriptors"),
        "{got:?}"
    );
}

#[tokio::test]
async fn index_bytes_that_do_not_list_the_child_vouch_for_nothing() {
    // The happy-path bundle signs a.txt, here playing the index: its bytes hash to the index
    // digest but do not list the child, so no policy may accept the index signature.
    let a_txt = std::fs::read(data().join("bundle-verify/a.txt")).expect("a.txt");
    let child = ImageSubject::new(
        "r",
        "acme/b",
        Digest::of(b"child"),
        "application/vnd.oci.image.manifest.v1+json",
    );
    let source = || StaticSource::new().with_bundle(artifact_digest(), case("happy-path-v0.3"));
    let spec = |signed| PolicySpec {
        issuer: Some(ISSUER.into()),
        identity: Some(IDENTITY.into()),
        signed: Some(signed),
        ..PolicySpec::default()
    };
    let with = |signed| Bound {
        verifier: CosignVerifier::new(
            Arc::new(TrustPolicy::new(spec(signed)).expect("valid")),
            root(),
        ),
        source: Arc::new(source()),
    };
    let listing = |digest: &Digest, platform: &str| {
        let (os, arch) = platform.split_once('/').expect("os/arch");
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":1,"platform":{{"os":"{os}","architecture":"{arch}"}}}}]}}"#
        )
        .into_bytes()
    };
    let child_digest = Digest::of(b"child");
    for (index, bytes, platform, why) in [
        (
            artifact_digest(),
            a_txt.clone(),
            "linux/amd64",
            "does not parse",
        ),
        (
            Digest::of(b"other"),
            listing(&child_digest, "linux/amd64"),
            "linux/amd64",
            "hash to",
        ),
        (
            Digest::of(&listing(&Digest::of(b"x"), "linux/amd64")),
            listing(&Digest::of(b"x"), "linux/amd64"),
            "linux/amd64",
            "does not list it",
        ),
        (
            Digest::of(&listing(&child_digest, "linux/arm64")),
            listing(&child_digest, "linux/arm64"),
            "linux/amd64",
            "not for platform linux/amd64",
        ),
    ] {
        let subject = child
            .clone()
            .with_index(index, bytes)
            .with_platform(platform.parse().expect("platform"));
        for signed in [SignedBy::Either, SignedBy::Index, SignedBy::Platform] {
            let got = with(signed).verify(&subject).await;
            assert!(
                matches!(&got, Err(VerifyError::IndexMismatch { reason, .. }) if reason.contains(why)),
                "{why}: {got:?}"
            );
        }
    }
    // Listed for the platform: the membership check passes, and only the index signature
    // could count (none exists for these digests).
    let bytes = listing(&child_digest, "linux/amd64");
    let subject = child
        .clone()
        .with_index(Digest::of(&bytes), bytes)
        .with_platform(Platform::new("linux", "amd64"));
    let got = with(SignedBy::Either).verify(&subject).await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if r.candidates.is_empty()),
        "{got:?}"
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

#[tokio::test]
async fn a_bad_candidate_while_listing_is_a_rejection_not_an_outage() {
    // The source can only say one listed candidate is unusable.
    let lists_bad = Interposed::new(StaticSource::new()).on_list(|_| {
        Err(SignatureSourceError::BadCandidate {
            candidate: Digest::of(b"referrer"),
            reason: "manifest has 2 layers, expected 1 bundle layer".into(),
        })
    });
    let got = verifier(lists_bad, IDENTITY).verify(&subject()).await;
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
