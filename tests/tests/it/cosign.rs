//! `CosignVerifier` over virtual-Sigstore bundles for images: any-passes over candidates,
//! index signatures for multi-arch children, and what the receipt records.

use std::sync::Arc;

use trustpull_policy::{
    Digest, Platform, PolicySpec, SignedBy, TrustPolicy, COSIGN_SIGN_PREDICATE,
};
use trustpull_testkit::sigstore::{
    default_signed_at, default_spec, Fault, San, SignRequest, VirtualSigstore, IDENTITY, ISSUER,
    SOURCE_REPOSITORY,
};
use trustpull_verifier::{
    BundleRejection, CandidateReason, CosignVerifier, ImageSubject, ImageVerifier, Receipt,
    SignedTarget, StaticSource, Verification, VerifyError,
};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A verifier and the image's signature source, as the downloader pairs them.
struct Bound(CosignVerifier, StaticSource);

impl Bound {
    async fn verify(&self, subject: &ImageSubject) -> Result<Verification, VerifyError> {
        self.0.verify(subject, &self.1).await
    }
}

fn verifier(sigstore: &VirtualSigstore, source: StaticSource, spec: PolicySpec) -> Bound {
    Bound(
        CosignVerifier::new(
            Arc::new(TrustPolicy::new(spec).expect("valid")),
            Arc::new(sigstore.trust_root()),
        ),
        source,
    )
}

/// Verifies image `registry`/acme/backend at the digest of `manifest` under the default policy,
/// with one candidate bundle (in order) for each request `requests` makes for that digest.
async fn verify_candidates(
    registry: &str,
    requests: impl FnOnce(&Digest) -> Vec<SignRequest>,
) -> Result<Verification, VerifyError> {
    let sigstore = VirtualSigstore::new();
    let digest = Digest::of(b"manifest");
    let source = requests(&digest)
        .iter()
        .fold(StaticSource::new(), |source, r| {
            source.with_bundle(digest.clone(), sigstore.sign(r))
        });
    let subject = ImageSubject::new(registry, "acme/backend", digest, MANIFEST);
    verifier(&sigstore, source, default_spec())
        .verify(&subject)
        .await
}

#[tokio::test]
async fn a_good_signature_among_bad_ones_passes_with_a_full_receipt() {
    let got = verify_candidates("127.0.0.1:5000", |digest| {
        vec![
            SignRequest {
                san: San::Uri("https://github.com/evil/x".into()),
                ..SignRequest::dsse(digest.clone())
            },
            SignRequest::dsse(digest.clone()).with_fault(Fault::BadSctSignature),
            SignRequest::dsse(digest.clone()),
        ]
    })
    .await;
    let Ok(Verification::Verified(receipt)) = got else {
        panic!("expected a pass, got {got:?}")
    };
    assert_eq!(receipt.identity(), IDENTITY);
    assert_eq!(receipt.issuer(), Some(ISSUER));
    assert_eq!(
        receipt
            .extensions()
            .get("source_repository_uri")
            .map(String::as_str),
        Some(SOURCE_REPOSITORY)
    );
    assert_eq!(
        receipt
            .extensions()
            .get("github_workflow_repository")
            .map(String::as_str),
        Some("acme/backends")
    );
    assert_eq!(receipt.predicate_type(), Some(COSIGN_SIGN_PREDICATE));
    assert_eq!(receipt.verified_timestamps(), &[default_signed_at()]);
    assert_eq!(receipt.rekor_log_index(), Some(1005));
    assert_eq!(receipt.image(), "127.0.0.1:5000/acme/backend");
    let json = serde_json::to_string(&receipt).expect("serializes");
    let back: Receipt = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, receipt);
}

#[tokio::test]
async fn every_failing_candidate_is_listed_with_its_own_reason() {
    let got = verify_candidates("r", |digest| {
        vec![
            SignRequest {
                san: San::Email("mallory@evil.test".into()),
                ..SignRequest::dsse(digest.clone())
            },
            SignRequest::dsse(digest.clone()).with_fault(Fault::UntrustedCa),
            SignRequest {
                statement_subject: Some(Digest::of(b"other")),
                ..SignRequest::dsse(digest.clone())
            },
        ]
    })
    .await;
    let Err(VerifyError::Rejected(r)) = got else {
        panic!("expected a rejection, got {got:?}")
    };
    let reasons: Vec<&CandidateReason> = r.candidates.iter().map(|c| &c.reason).collect();
    assert_eq!(reasons.len(), 3);
    assert!(reasons
        .iter()
        .any(|c| matches!(c, CandidateReason::Bundle(BundleRejection::Policy(_)))));
    assert!(reasons.iter().any(|c| matches!(
        c,
        CandidateReason::Bundle(BundleRejection::Certificate { .. })
    )));
    assert!(reasons.iter().any(|c| matches!(
        c,
        CandidateReason::Bundle(BundleRejection::SubjectDigest { .. })
    )));
}

#[tokio::test]
async fn index_signatures_count_for_children_unless_the_policy_says_platform() {
    let sigstore = VirtualSigstore::new();
    let child = Digest::of(b"linux/amd64 manifest");
    let index_bytes = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{MANIFEST}","digest":"{child}","size":20,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
    )
    .into_bytes();
    let index = Digest::of(&index_bytes);
    let source = || {
        StaticSource::new().with_bundle(
            index.clone(),
            sigstore.sign(&SignRequest::dsse(index.clone())),
        )
    };
    let subject = ImageSubject::new("r", "acme/backend", child.clone(), MANIFEST)
        .with_index(index.clone(), index_bytes.clone())
        .with_platform(Platform::new("linux", "amd64"));
    let spec = |signed| PolicySpec {
        signed: Some(signed),
        ..default_spec()
    };

    let got = verifier(&sigstore, source(), spec(SignedBy::Either))
        .verify(&subject)
        .await;
    assert!(
        matches!(&got, Ok(Verification::Verified(r)) if r.signed_target() == SignedTarget::Index && r.signed_digest() == &index && r.digest() == &child),
        "{got:?}"
    );
    let got = verifier(&sigstore, source(), spec(SignedBy::Platform))
        .verify(&subject)
        .await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if r.candidates.is_empty()),
        "{got:?}"
    );

    // A bundle for the index verified as if it signed the child is rejected.
    let misfiled = StaticSource::new().with_bundle(
        child.clone(),
        sigstore.sign(&SignRequest::dsse(index.clone())),
    );
    let got = verifier(&sigstore, misfiled, spec(SignedBy::Platform))
        .verify(&subject)
        .await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if matches!(r.candidates[0].reason, CandidateReason::Bundle(BundleRejection::SubjectDigest { .. }))),
        "{got:?}"
    );
}
