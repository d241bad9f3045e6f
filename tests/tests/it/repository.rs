//! The optional `repository:` binding: off by default; when set, a legacy
//! payload's `critical.identity.docker-reference`, or the DSSE statement subject's name, must
//! equal it, for signatures and attestations alike.

use std::sync::Arc;

use trustpull_policy::{Digest, PolicySpec, TrustPolicy};
use trustpull_testkit::sigstore::{
    default_spec, simple_signing_payload, SignRequest, VirtualSigstore, DOCKER_REFERENCE,
};
use trustpull_verifier::{
    CandidateReason, CosignVerifier, ImageSubject, ImageVerifier, StaticSource, Verification,
    VerifyError, COSIGN_SIGNATURE_TYPE,
};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn digest() -> Digest {
    Digest::of(b"a repository-bound manifest")
}

fn verifier(sigstore: &VirtualSigstore, repository: Option<&str>) -> CosignVerifier {
    let spec = PolicySpec {
        repository: repository.map(str::to_owned),
        ..default_spec()
    };
    CosignVerifier::new(
        Arc::new(TrustPolicy::new(spec).expect("valid")),
        Arc::new(sigstore.trust_root()),
    )
}

fn subject() -> ImageSubject {
    ImageSubject::new("registry.test", "acme/backend", digest(), MANIFEST)
}

/// The reason of the only candidate of a rejection.
fn only_reason(got: Result<Verification, VerifyError>) -> CandidateReason {
    match got {
        Err(VerifyError::Rejected(r)) if r.candidates.len() == 1 => {
            r.candidates.into_iter().next().expect("one").reason
        }
        other => panic!("expected one rejected candidate, got {other:?}"),
    }
}

#[tokio::test]
async fn a_legacy_payload_must_name_the_bound_repository() {
    let sigstore = VirtualSigstore::new();
    let legacy = StaticSource::new().with_legacy(
        digest(),
        sigstore.sign_legacy(&SignRequest::message(digest())),
    );
    let got = verifier(&sigstore, Some(DOCKER_REFERENCE))
        .verify(&subject(), &legacy)
        .await;
    assert!(matches!(got, Ok(Verification::Verified(_))), "{got:?}");

    let elsewhere = simple_signing_payload(
        digest().as_str(),
        "registry.test/evil/other",
        COSIGN_SIGNATURE_TYPE,
    );
    let source = StaticSource::new().with_legacy(
        digest(),
        sigstore.sign_legacy_payload(&SignRequest::message(digest()), elsewhere),
    );
    let reason = only_reason(
        verifier(&sigstore, Some(DOCKER_REFERENCE))
            .verify(&subject(), &source)
            .await,
    );
    assert!(
        matches!(&reason, CandidateReason::Repository { expected, found } if expected == DOCKER_REFERENCE && found == &["registry.test/evil/other"]),
        "{reason:?}"
    );
    // Off by default: the same signature passes without `repository:`.
    let got = verifier(&sigstore, None).verify(&subject(), &source).await;
    assert!(matches!(got, Ok(Verification::Verified(_))), "{got:?}");
}

#[tokio::test]
async fn a_dsse_statement_must_name_the_bound_repository_and_a_message_signature_cannot() {
    let sigstore = VirtualSigstore::new();
    let named = StaticSource::new().with_bundle(
        digest(),
        sigstore.sign(&SignRequest {
            subject_name: Some(DOCKER_REFERENCE.into()),
            ..SignRequest::dsse(digest())
        }),
    );
    let got = verifier(&sigstore, Some(DOCKER_REFERENCE))
        .verify(&subject(), &named)
        .await;
    assert!(matches!(got, Ok(Verification::Verified(_))), "{got:?}");

    let unnamed =
        StaticSource::new().with_bundle(digest(), sigstore.sign(&SignRequest::dsse(digest())));
    let reason = only_reason(
        verifier(&sigstore, Some(DOCKER_REFERENCE))
            .verify(&subject(), &unnamed)
            .await,
    );
    assert!(
        matches!(&reason, CandidateReason::Repository { found, .. } if found == &["image"]),
        "{reason:?}"
    );
    let message =
        StaticSource::new().with_bundle(digest(), sigstore.sign(&SignRequest::message(digest())));
    let reason = only_reason(
        verifier(&sigstore, Some(DOCKER_REFERENCE))
            .verify(&subject(), &message)
            .await,
    );
    assert!(
        matches!(&reason, CandidateReason::Repository { found, .. } if found.is_empty()),
        "{reason:?}"
    );
}

#[tokio::test]
async fn an_attestation_must_name_the_bound_repository() {
    let sigstore = VirtualSigstore::new();
    let slsa = "https://slsa.dev/provenance/v1";
    let attest = |name: &str| SignRequest {
        predicate_type: slsa.into(),
        subject_name: Some(name.into()),
        ..SignRequest::dsse(digest())
    };
    let source =
        StaticSource::new().with_bundle(digest(), sigstore.sign(&attest(DOCKER_REFERENCE)));
    let got = verifier(&sigstore, Some(DOCKER_REFERENCE))
        .verify_attestations(&subject(), &source, slsa)
        .await;
    assert!(got.is_ok(), "{got:?}");
    let source =
        StaticSource::new().with_bundle(digest(), sigstore.sign(&attest("registry.test/other")));
    let got = verifier(&sigstore, Some(DOCKER_REFERENCE))
        .verify_attestations(&subject(), &source, slsa)
        .await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if matches!(r.candidates[0].reason, CandidateReason::Repository { .. })),
        "{got:?}"
    );
}
