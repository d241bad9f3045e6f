//! cosign's legacy simple-signing signatures through `CosignVerifier`: the
//! issue 9 table — each case gets exactly one thing wrong and must be rejected for that reason.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use trustpull_policy::{Digest, PolicySpec, SignatureFormat, TrustPolicy};
use trustpull_testkit::sigstore::{
    default_signed_at, default_spec, simple_signing_payload, Fault, San, SignRequest,
    VirtualSigstore, DOCKER_REFERENCE, IDENTITY,
};
use trustpull_verifier::{
    BundleRejection, CandidateReason, CosignVerifier, ImageSubject, ImageVerifier, LegacyRejection,
    LegacySignature, StaticSource, Verification, VerifyError, ANNOTATION_BUNDLE,
    COSIGN_SIGNATURE_TYPE,
};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn digest() -> Digest {
    Digest::of(b"a legacy-signed manifest")
}

fn subject() -> ImageSubject {
    ImageSubject::new("registry.test", "acme/backend", digest(), MANIFEST)
}

async fn verify(
    sigstore: &VirtualSigstore,
    source: StaticSource,
    spec: PolicySpec,
) -> Result<Verification, VerifyError> {
    CosignVerifier::new(
        Arc::new(TrustPolicy::new(spec).expect("valid policy")),
        Arc::new(sigstore.trust_root()),
    )
    .verify(&subject(), &source)
    .await
}

/// Verifies one legacy layer under the default policy; returns the only candidate's reason.
async fn reason_for(sigstore: &VirtualSigstore, signature: LegacySignature) -> CandidateReason {
    let source = StaticSource::new().with_legacy(digest(), signature);
    match verify(sigstore, source, default_spec()).await {
        Err(VerifyError::Rejected(r)) if r.candidates.len() == 1 => {
            r.candidates.into_iter().next().expect("one").reason
        }
        other => panic!("expected one rejected candidate, got {other:?}"),
    }
}

/// A legacy signature over [`digest`] by `sigstore`'s default signer.
fn good(sigstore: &VirtualSigstore) -> LegacySignature {
    sigstore.sign_legacy(&SignRequest::message(digest()))
}

/// The same, with `fault`.
fn faulty(sigstore: &VirtualSigstore, fault: Fault) -> LegacySignature {
    sigstore.sign_legacy(&SignRequest::message(digest()).with_fault(fault))
}

/// One signature per fault in `faults`, each rejected for a reason that `expected` accepts.
async fn check_faults(faults: &[Fault], expected: impl Fn(&CandidateReason) -> bool) {
    let sigstore = VirtualSigstore::new();
    for &fault in faults {
        let reason = reason_for(&sigstore, faulty(&sigstore, fault)).await;
        assert!(expected(&reason), "{fault:?}: {reason:?}");
    }
}

/// The SET annotation edited by `edit`.
fn edit_rekor_bundle(signature: &mut LegacySignature, edit: impl FnOnce(&mut Value)) {
    let text = signature.annotations.get(ANNOTATION_BUNDLE).expect("a SET");
    let mut v: Value = serde_json::from_str(text).expect("JSON");
    edit(&mut v);
    signature
        .annotations
        .insert(ANNOTATION_BUNDLE.into(), v.to_string());
}

#[tokio::test]
async fn a_valid_legacy_signature_passes_with_a_legacy_receipt() {
    let sigstore = VirtualSigstore::new();
    let source = StaticSource::new().with_legacy(digest(), good(&sigstore));
    let got = verify(&sigstore, source, default_spec()).await;
    let Ok(Verification::Verified(receipt)) = got else {
        panic!("expected a pass, got {got:?}")
    };
    assert_eq!(receipt.format(), SignatureFormat::Legacy);
    assert_eq!(receipt.identity(), IDENTITY);
    assert_eq!(receipt.digest(), &digest());
    assert_eq!(receipt.verified_timestamps(), &[default_signed_at()]);
    assert_eq!(receipt.rekor_log_index(), Some(1005));
    let json = serde_json::to_value(&receipt).expect("serializes");
    assert_eq!(json["format"], "legacy");
}

#[tokio::test]
async fn an_rfc3161_time_is_a_verified_timestamp_too() {
    let sigstore = VirtualSigstore::new();
    let at = default_signed_at() + chrono::Duration::seconds(30);
    let signature = sigstore.sign_legacy(&SignRequest {
        timestamp: Some(at),
        ..SignRequest::message(digest())
    });
    let source = StaticSource::new().with_legacy(digest(), signature);
    let got = verify(&sigstore, source, default_spec()).await;
    assert!(
        matches!(&got, Ok(Verification::Verified(r)) if r.verified_timestamps() == [default_signed_at(), at]),
        "{got:?}"
    );
    // A timestamp from another TSA key fails the signature.
    assert!(matches!(
        reason_for(&sigstore, faulty(&sigstore, Fault::BadTimestamp)).await,
        CandidateReason::Legacy(LegacyRejection::Bundle(BundleRejection::Timestamp { .. }))
    ));
}

#[tokio::test]
async fn the_wrong_identity_is_a_policy_rejection() {
    let sigstore = VirtualSigstore::new();
    let signature = sigstore.sign_legacy(&SignRequest {
        san: San::Uri("https://github.com/evil/x/.github/workflows/r.yml@refs/heads/main".into()),
        ..SignRequest::message(digest())
    });
    assert!(matches!(
        reason_for(&sigstore, signature).await,
        CandidateReason::Legacy(LegacyRejection::Bundle(BundleRejection::Policy(_)))
    ));
}

#[tokio::test]
async fn a_payload_naming_another_digest_is_rejected_before_any_crypto() {
    let sigstore = VirtualSigstore::new();
    let other = Digest::of(b"another image");
    let payload = simple_signing_payload(other.as_str(), DOCKER_REFERENCE, COSIGN_SIGNATURE_TYPE);
    let signature = sigstore.sign_legacy_payload(&SignRequest::message(digest()), payload);
    assert!(matches!(
        reason_for(&sigstore, signature).await,
        CandidateReason::Legacy(LegacyRejection::PayloadDigest { expected, found })
            if expected == digest() && found == other.as_str()
    ));
}

#[tokio::test]
async fn a_payload_of_another_type_is_rejected() {
    let sigstore = VirtualSigstore::new();
    let payload = simple_signing_payload(
        digest().as_str(),
        DOCKER_REFERENCE,
        "atomic container signature",
    );
    let signature = sigstore.sign_legacy_payload(&SignRequest::message(digest()), payload);
    assert!(matches!(
        reason_for(&sigstore, signature).await,
        CandidateReason::Legacy(LegacyRejection::PayloadType { found }) if found == "atomic container signature"
    ));
}

#[tokio::test]
async fn a_flipped_set_is_rejected() {
    let sigstore = VirtualSigstore::new();
    let mut signature = good(&sigstore);
    edit_rekor_bundle(&mut signature, |v| {
        let set = v["SignedEntryTimestamp"].as_str().expect("SET");
        let mut bytes = STANDARD.decode(set).expect("base64");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        v["SignedEntryTimestamp"] = Value::String(STANDARD.encode(bytes));
    });
    assert!(matches!(
        reason_for(&sigstore, signature).await,
        CandidateReason::Legacy(LegacyRejection::Bundle(
            BundleRejection::TransparencyLog { .. }
        ))
    ));
}

#[tokio::test]
async fn a_set_signed_by_another_key_or_with_another_time_is_rejected() {
    check_faults(
        &[
            Fault::BadInclusionPromise,
            Fault::TamperedIntegratedTime,
            Fault::UnknownRekorLog,
        ],
        |reason| {
            matches!(
                reason,
                CandidateReason::Legacy(LegacyRejection::Bundle(
                    BundleRejection::TransparencyLog { .. } | BundleRejection::TrustRoot { .. }
                ))
            )
        },
    )
    .await;
}

#[tokio::test]
async fn a_set_for_another_body_is_rejected() {
    let sigstore = VirtualSigstore::new();
    // The log recorded another artifact hash (a valid SET over that body).
    let reason = reason_for(&sigstore, faulty(&sigstore, Fault::TlogBodyForOtherContent)).await;
    assert!(
        matches!(
            reason,
            CandidateReason::Legacy(LegacyRejection::Bundle(
                BundleRejection::ArtifactMismatch { .. }
            ))
        ),
        "{reason:?}"
    );
    // The log entry (valid SET, same payload) of ANOTHER signature and certificate: the body's
    // signature and certificate must be exactly this layer's.
    let (mine, theirs) = (good(&sigstore), good(&sigstore));
    assert_eq!(mine.payload, theirs.payload);
    let mut swapped = mine.clone();
    swapped.annotations.insert(
        ANNOTATION_BUNDLE.into(),
        theirs.annotations[ANNOTATION_BUNDLE].clone(),
    );
    let reason = reason_for(&sigstore, swapped).await;
    assert!(
        matches!(
            reason,
            CandidateReason::Legacy(LegacyRejection::Bundle(
                BundleRejection::Malformed { .. } | BundleRejection::TransparencyLog { .. }
            ))
        ),
        "{reason:?}"
    );
    // A body of another kind is refused by name.
    let mut rekord = mine;
    edit_rekor_bundle(&mut rekord, |v| {
        let body = v["Payload"]["body"].as_str().expect("body");
        let mut body: Value =
            serde_json::from_slice(&STANDARD.decode(body).expect("base64")).expect("JSON");
        body["kind"] = Value::String("rekord".into());
        v["Payload"]["body"] = Value::String(STANDARD.encode(body.to_string()));
    });
    assert!(matches!(
        reason_for(&sigstore, rekord).await,
        CandidateReason::Legacy(LegacyRejection::Annotation { annotation: ANNOTATION_BUNDLE, reason })
            if reason.contains("hashedrekord")
    ));
}

#[tokio::test]
async fn a_certificate_outside_its_validity_at_the_integrated_time_is_rejected() {
    check_faults(
        &[
            Fault::CertificateExpiredAtSigning,
            Fault::CertificateNotYetValid,
        ],
        |reason| {
            matches!(
                reason,
                CandidateReason::Legacy(LegacyRejection::Bundle(
                    BundleRejection::Certificate { .. } | BundleRejection::TransparencyLog { .. }
                ))
            )
        },
    )
    .await;
}

#[tokio::test]
async fn a_chain_to_another_root_is_rejected() {
    let sigstore = VirtualSigstore::new();
    assert!(matches!(
        reason_for(&sigstore, faulty(&sigstore, Fault::UntrustedCa)).await,
        CandidateReason::Legacy(LegacyRejection::Bundle(BundleRejection::Certificate { .. }))
    ));
    // And a good signature from another Sigstore instance (another Rekor key too).
    let stranger = VirtualSigstore::new();
    assert!(matches!(
        reason_for(&sigstore, good(&stranger)).await,
        CandidateReason::Legacy(LegacyRejection::Bundle(_))
    ));
}

#[tokio::test]
async fn other_faults_are_rejected_too() {
    check_faults(
        &[
            Fault::NoSct,
            Fault::BadSctSignature,
            Fault::NotCodeSigning,
            Fault::BadSignature,
            Fault::NoTlogEntry,
            Fault::NoInclusionPromise,
        ],
        |reason| matches!(reason, CandidateReason::Legacy(_)),
    )
    .await;
}

#[tokio::test]
async fn two_layers_where_only_the_second_passes() {
    let sigstore = VirtualSigstore::new();
    let first = sigstore.sign_legacy(&SignRequest {
        san: San::Email("mallory@evil.test".into()),
        ..SignRequest::message(digest())
    });
    let second = good(&sigstore);
    let source = StaticSource::new()
        .with_legacy(digest(), first.clone())
        .with_legacy(digest(), second);
    let got = verify(&sigstore, source, default_spec()).await;
    assert!(
        matches!(&got, Ok(Verification::Verified(r)) if r.format() == SignatureFormat::Legacy),
        "{got:?}"
    );
    // Without the second, the first's rejection names its layer.
    let source = StaticSource::new().with_legacy(digest(), first);
    let Err(VerifyError::Rejected(r)) = verify(&sigstore, source, default_spec()).await else {
        panic!("expected a rejection")
    };
    assert_eq!(r.candidates[0].candidate.layer().map(|l| l.index), Some(0));
    assert!(r.to_string().contains("legacy signature"), "{r}");
}

#[tokio::test]
async fn formats_bundle_refuses_a_legacy_only_image_and_legacy_refuses_bundles() {
    let sigstore = VirtualSigstore::new();
    let legacy = good(&sigstore);
    let bundle_only = PolicySpec {
        formats: Some(vec![SignatureFormat::Bundle]),
        ..default_spec()
    };
    let got = verify(
        &sigstore,
        StaticSource::new().with_legacy(digest(), legacy.clone()),
        bundle_only,
    )
    .await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if r.candidates.is_empty()),
        "{got:?}"
    );
    let legacy_only = PolicySpec {
        formats: Some(vec![SignatureFormat::Legacy]),
        ..default_spec()
    };
    let bundle = sigstore.sign(&SignRequest::dsse(digest()));
    let got = verify(
        &sigstore,
        StaticSource::new().with_bundle(digest(), bundle),
        legacy_only.clone(),
    )
    .await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if matches!(r.candidates[..], [ref c] if matches!(c.reason, CandidateReason::FormatRefused { format: SignatureFormat::Bundle, .. }))),
        "{got:?}"
    );
    let got = verify(
        &sigstore,
        StaticSource::new().with_legacy(digest(), legacy),
        legacy_only,
    )
    .await;
    assert!(matches!(got, Ok(Verification::Verified(_))), "{got:?}");
}

#[tokio::test]
async fn a_rejection_lists_the_candidates_of_both_formats() {
    let sigstore = VirtualSigstore::new();
    let evil = |req: SignRequest| SignRequest {
        san: San::Email("mallory@evil.test".into()),
        ..req
    };
    let source = StaticSource::new()
        .with_bundle(digest(), sigstore.sign(&evil(SignRequest::dsse(digest()))))
        .with_legacy(
            digest(),
            sigstore.sign_legacy(&evil(SignRequest::message(digest()))),
        );
    let Err(VerifyError::Rejected(r)) = verify(&sigstore, source, default_spec()).await else {
        panic!("expected a rejection")
    };
    let formats: Vec<SignatureFormat> = r.candidates.iter().map(|c| c.candidate.format()).collect();
    assert_eq!(formats, [SignatureFormat::Bundle, SignatureFormat::Legacy]);
}
