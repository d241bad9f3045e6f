//! `CosignVerifier::verify_attestations`: in-toto statements of one predicate type, verified
//! like signatures (issue 9 table: right type, missing type, wrong identity, another subject).

use std::sync::Arc;

use trustpull_policy::{Digest, TrustPolicy};
use trustpull_testkit::sigstore::{default_spec, San, SignRequest, VirtualSigstore, IDENTITY};
use trustpull_verifier::{
    predicate_type_uri, BundleRejection, CandidateReason, CosignVerifier, ImageSubject,
    StaticSource, VerifyError,
};

const SLSA: &str = "https://slsa.dev/provenance/v1";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn digest() -> Digest {
    Digest::of(b"an attested manifest")
}

fn attest(digest: &Digest, predicate_type: &str) -> SignRequest {
    SignRequest {
        predicate_type: predicate_type.to_owned(),
        ..SignRequest::dsse(digest.clone())
    }
}

async fn attestations(
    sigstore: &VirtualSigstore,
    requests: &[SignRequest],
    predicate_type: &str,
) -> Result<Vec<trustpull_verifier::VerifiedAttestation>, VerifyError> {
    let source = requests.iter().fold(StaticSource::new(), |s, r| {
        s.with_bundle(digest(), sigstore.sign(r))
    });
    let verifier = CosignVerifier::new(
        Arc::new(TrustPolicy::new(default_spec()).expect("valid")),
        Arc::new(sigstore.trust_root()),
    );
    let subject = ImageSubject::new("registry.test", "acme/backend", digest(), MANIFEST);
    verifier
        .verify_attestations(&subject, &source, predicate_type)
        .await
}

#[tokio::test]
async fn the_right_type_passes_with_its_statement() {
    let sigstore = VirtualSigstore::new();
    let got = attestations(
        &sigstore,
        &[SignRequest::dsse(digest()), attest(&digest(), SLSA)],
        SLSA,
    )
    .await
    .expect("the SLSA attestation verifies");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].predicate_type(), SLSA);
    assert_eq!(got[0].identity(), IDENTITY);
    assert_eq!(got[0].statement()["predicateType"], SLSA);
    assert_eq!(
        got[0].statement()["subject"][0]["digest"]["sha256"],
        digest().hex()
    );
}

#[tokio::test]
async fn a_missing_type_is_rejected_listing_what_was_there() {
    let sigstore = VirtualSigstore::new();
    let got = attestations(&sigstore, &[SignRequest::dsse(digest())], SLSA).await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if r.candidates.len() == 1
            && matches!(r.candidates[0].reason, CandidateReason::Bundle(BundleRejection::Policy(_)))),
        "{got:?}"
    );
}

#[tokio::test]
async fn the_wrong_identity_is_rejected() {
    let sigstore = VirtualSigstore::new();
    let evil = SignRequest {
        san: San::Email("mallory@evil.test".into()),
        ..attest(&digest(), SLSA)
    };
    let got = attestations(&sigstore, &[evil], SLSA).await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if matches!(r.candidates[0].reason, CandidateReason::Bundle(BundleRejection::Policy(_)))),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_statement_about_another_digest_is_rejected() {
    let sigstore = VirtualSigstore::new();
    let other = SignRequest {
        statement_subject: Some(Digest::of(b"another image")),
        ..attest(&digest(), SLSA)
    };
    let got = attestations(&sigstore, &[other], SLSA).await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if matches!(r.candidates[0].reason, CandidateReason::Bundle(BundleRejection::SubjectDigest { .. }))),
        "{got:?}"
    );
}

#[test]
fn cosign_type_names_map_to_their_uris() {
    for (name, uri) in [
        ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
        ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
        ("slsaprovenance1", SLSA),
        ("spdx", "https://spdx.dev/Document"),
        ("spdxjson", "https://spdx.dev/Document"),
        ("cyclonedx", "https://cyclonedx.org/bom"),
        ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
        ("openvex", "https://openvex.dev/ns"),
        ("link", "https://in-toto.io/Link/v1"),
        (SLSA, SLSA),
    ] {
        assert_eq!(predicate_type_uri(name).as_deref(), Some(uri), "{name}");
    }
    assert_eq!(predicate_type_uri("provenance"), None);
}

/// `require_attestations:`: the verifier refuses a signed image unless each type is attested.
mod required {
    use super::*;
    use trustpull_policy::{Platform, PolicySpec, SignedBy};
    use trustpull_verifier::{ImageVerifier, Verification};

    async fn verify(
        sigstore: &VirtualSigstore,
        source: StaticSource,
        subject: &ImageSubject,
        signed: SignedBy,
    ) -> Result<Verification, VerifyError> {
        let spec = PolicySpec {
            require_attestations: vec![SLSA.into()],
            signed: Some(signed),
            ..default_spec()
        };
        CosignVerifier::new(
            Arc::new(TrustPolicy::new(spec).expect("valid")),
            Arc::new(sigstore.trust_root()),
        )
        .verify(subject, &source)
        .await
    }

    fn subject() -> ImageSubject {
        ImageSubject::new("registry.test", "acme/backend", digest(), MANIFEST)
    }

    #[tokio::test]
    async fn a_signed_and_attested_image_passes_and_the_receipt_lists_the_type() {
        let sigstore = VirtualSigstore::new();
        let source = StaticSource::new()
            .with_bundle(digest(), sigstore.sign(&SignRequest::dsse(digest())))
            .with_bundle(digest(), sigstore.sign(&attest(&digest(), SLSA)));
        let got = verify(&sigstore, source, &subject(), SignedBy::Either).await;
        assert!(
            matches!(&got, Ok(Verification::Verified(r)) if r.attestations() == [SLSA]),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn a_missing_or_foreign_attestation_is_refused() {
        let sigstore = VirtualSigstore::new();
        let signed_only =
            StaticSource::new().with_bundle(digest(), sigstore.sign(&SignRequest::dsse(digest())));
        let got = verify(&sigstore, signed_only, &subject(), SignedBy::Either).await;
        assert!(
            matches!(&got, Err(VerifyError::MissingAttestation { predicate_type, .. }) if predicate_type == SLSA),
            "{got:?}"
        );
        let foreign = StaticSource::new()
            .with_bundle(digest(), sigstore.sign(&SignRequest::dsse(digest())))
            .with_bundle(
                digest(),
                sigstore.sign(&SignRequest {
                    san: San::Email("mallory@evil.test".into()),
                    ..attest(&digest(), SLSA)
                }),
            );
        let got = verify(&sigstore, foreign, &subject(), SignedBy::Either).await;
        assert!(
            matches!(&got, Err(VerifyError::MissingAttestation { .. })),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn an_index_attestation_counts_only_when_signed_allows_the_index() {
        let sigstore = VirtualSigstore::new();
        let child = digest();
        let index_bytes = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{MANIFEST}","digest":"{child}","size":20,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        )
        .into_bytes();
        let index = Digest::of(&index_bytes);
        let subject = ImageSubject::new("registry.test", "acme/backend", child.clone(), MANIFEST)
            .with_index(index.clone(), index_bytes)
            .with_platform(Platform::new("linux", "amd64"));
        // The child is signed; the attestation names the index.
        let source = || {
            StaticSource::new()
                .with_bundle(
                    child.clone(),
                    sigstore.sign(&SignRequest::dsse(child.clone())),
                )
                .with_bundle(index.clone(), sigstore.sign(&attest(&index, SLSA)))
        };
        let got = verify(&sigstore, source(), &subject, SignedBy::Either).await;
        assert!(matches!(&got, Ok(Verification::Verified(_))), "{got:?}");
        let got = verify(&sigstore, source(), &subject, SignedBy::Platform).await;
        assert!(
            matches!(&got, Err(VerifyError::MissingAttestation { .. })),
            "{got:?}"
        );
    }
}

/// cosign's legacy `.att` attestations (DSSE envelopes in layers, with cosign's annotations).
mod legacy_att {
    use super::*;
    use trustpull_policy::{PolicySpec, SignatureFormat};
    use trustpull_verifier::{LegacyRejection, SignatureFormat as Format};

    async fn legacy(
        sigstore: &VirtualSigstore,
        requests: &[SignRequest],
        spec: PolicySpec,
    ) -> Result<Vec<trustpull_verifier::VerifiedAttestation>, VerifyError> {
        let source = requests.iter().fold(StaticSource::new(), |s, r| {
            s.with_legacy_attestation(digest(), sigstore.sign_legacy_attestation(r))
        });
        CosignVerifier::new(
            Arc::new(TrustPolicy::new(spec).expect("valid")),
            Arc::new(sigstore.trust_root()),
        )
        .verify_attestations(
            &ImageSubject::new("registry.test", "acme/backend", digest(), MANIFEST),
            &source,
            SLSA,
        )
        .await
    }

    #[tokio::test]
    async fn a_legacy_att_of_the_right_type_passes() {
        let sigstore = VirtualSigstore::new();
        let got = legacy(&sigstore, &[attest(&digest(), SLSA)], default_spec())
            .await
            .expect("verifies");
        assert_eq!(got[0].format(), Format::Legacy);
        assert_eq!(got[0].statement()["predicateType"], SLSA);
    }

    #[tokio::test]
    async fn a_legacy_att_is_rejected_for_type_identity_subject_and_log_faults() {
        let sigstore = VirtualSigstore::new();
        let cases = [
            SignRequest::dsse(digest()),
            SignRequest {
                san: San::Email("mallory@evil.test".into()),
                ..attest(&digest(), SLSA)
            },
            SignRequest {
                statement_subject: Some(Digest::of(b"another image")),
                ..attest(&digest(), SLSA)
            },
            attest(&digest(), SLSA)
                .with_fault(trustpull_testkit::sigstore::Fault::BadInclusionPromise),
            attest(&digest(), SLSA).with_fault(trustpull_testkit::sigstore::Fault::BadSignature),
        ];
        for case in cases {
            let got = legacy(&sigstore, std::slice::from_ref(&case), default_spec()).await;
            assert!(
                matches!(&got, Err(VerifyError::Rejected(r)) if matches!(r.candidates[0].reason, CandidateReason::Legacy(LegacyRejection::Bundle(_)))),
                "{case:?}: {got:?}"
            );
        }
    }

    #[tokio::test]
    async fn formats_bundle_does_not_read_att_tags() {
        let sigstore = VirtualSigstore::new();
        let spec = PolicySpec {
            formats: Some(vec![SignatureFormat::Bundle]),
            ..default_spec()
        };
        let got = legacy(&sigstore, &[attest(&digest(), SLSA)], spec).await;
        assert!(
            matches!(&got, Err(VerifyError::Rejected(r)) if r.candidates.is_empty()),
            "{got:?}"
        );
    }
}
