//! Rekor v2 bundles (cosign 3's shape: a DSSE envelope logged as `dsse` v0.0.2, or a
//! `hashedrekord` v0.0.2 entry; no integrated time, no SET) and RFC 3161 times with fractional
//! seconds: they verify through `verify_bundle` and `CosignVerifier`, and each thing that can be
//! wrong with them is rejected for its reason.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use trustpull_policy::{Digest, TrustPolicy, COSIGN_SIGN_PREDICATE};
use trustpull_testkit::sigstore::{
    default_policy, default_signed_at, default_spec, BundleFormat, Fault, Rekor, SignRequest,
    VirtualSigstore,
};
use trustpull_verifier::{
    verify_bundle, BundleRejection as R, CosignVerifier, ImageSubject, ImageVerifier, StaticSource,
    Verification, VerifiedBundle,
};

fn digest() -> Digest {
    Digest::of(b"manifest")
}

/// A quarter of a second after the signing time: a `genTime` of `….25Z`.
fn fractional() -> DateTime<Utc> {
    default_signed_at() + Duration::milliseconds(250)
}

/// cosign 3: DSSE over the image digest with cosign's sign predicate, Rekor v2 `dsse` v0.0.2,
/// an RFC 3161 time with fractions.
fn cosign3() -> SignRequest {
    SignRequest {
        rekor: Rekor::V2Dsse,
        timestamp: Some(fractional()),
        ..SignRequest::dsse(digest())
    }
}

fn verify(sigstore: &VirtualSigstore, req: &SignRequest) -> Result<VerifiedBundle, R> {
    verify_bundle(
        &sigstore.sign(req),
        &digest(),
        &default_policy(),
        &sigstore.trust_root(),
    )
}

#[test]
fn a_cosign3_rekor_v2_dsse_bundle_with_a_fractional_tsa_time_verifies() {
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    let got = verify(&sigstore, &cosign3()).expect("cosign 3 bundle verifies");
    assert_eq!(got.facts().verified_timestamps, vec![fractional()]);
    assert_eq!(
        got.facts().predicate_type.as_deref(),
        Some(COSIGN_SIGN_PREDICATE)
    );
    // Rekor v2's log index is the leaf index in the log's tree.
    assert_eq!(got.rekor_log_index(), Some(5));
}

#[test]
fn every_rekor_v2_shape_verifies_with_whole_and_fractional_seconds() {
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    let whole = default_signed_at() - Duration::seconds(30);
    for (rekor, format) in [
        (Rekor::V2Dsse, BundleFormat::Dsse),
        (Rekor::V2HashedRekord, BundleFormat::Dsse),
        (Rekor::V2HashedRekord, BundleFormat::MessageSignature),
    ] {
        for at in [whole, fractional()] {
            let req = SignRequest {
                rekor,
                format,
                timestamp: Some(at),
                ..SignRequest::dsse(digest())
            };
            let got = verify(&sigstore, &req);
            assert!(
                matches!(&got, Ok(v) if v.facts().verified_timestamps == vec![at]),
                "{rekor:?} {format:?} at {at}: {got:?}"
            );
        }
    }
}

#[test]
fn a_rekor_v1_bundle_with_a_fractional_tsa_time_verifies_with_both_times() {
    let sigstore = VirtualSigstore::new();
    let early = default_signed_at() - Duration::milliseconds(29_500);
    for format in [BundleFormat::Dsse, BundleFormat::MessageSignature] {
        let req = SignRequest {
            format,
            timestamp: Some(early),
            ..SignRequest::dsse(digest())
        };
        let got = verify(&sigstore, &req);
        assert!(
            matches!(&got, Ok(v) if v.facts().verified_timestamps == vec![early, default_signed_at()]),
            "{format:?}: {got:?}"
        );
        // The fractional time dates the signature too: not_before compares the earlier one.
        let cutoff = TrustPolicy::new(trustpull_policy::PolicySpec {
            not_before: Some((early + Duration::milliseconds(1)).to_rfc3339()),
            ..default_spec()
        })
        .expect("valid");
        assert!(verify_bundle(
            &sigstore.sign(&req),
            &digest(),
            &cutoff,
            &sigstore.trust_root()
        )
        .is_err());
    }
}

#[tokio::test]
async fn cosign_verifier_accepts_a_rekor_v2_candidate_and_records_its_time() {
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    let source = StaticSource::new().with_bundle(digest(), sigstore.sign(&cosign3()));
    let verifier = CosignVerifier::new(Arc::new(default_policy()), Arc::new(sigstore.trust_root()));
    let subject = ImageSubject::new(
        "127.0.0.1:5000",
        "acme/backend",
        digest(),
        "application/vnd.oci.image.manifest.v1+json",
    );
    let got = verifier.verify(&subject, &source).await;
    let Ok(Verification::Verified(receipt)) = got else {
        panic!("expected a pass, got {got:?}")
    };
    assert_eq!(receipt.verified_timestamps(), &[fractional()]);
    assert_eq!(receipt.rekor_log_index(), Some(5));
    assert_eq!(receipt.predicate_type(), Some(COSIGN_SIGN_PREDICATE));
}

/// The rejection each fault must produce on a Rekor v2 bundle.
fn expected(fault: Fault, r: &R) -> bool {
    match fault {
        Fault::UntrustedCa
        | Fault::NoSct
        | Fault::BadSctSignature
        | Fault::NotCodeSigning
        | Fault::CertificateExpiredAtSigning
        | Fault::CertificateNotYetValid => matches!(r, R::Certificate { .. }),
        Fault::BadSignature => matches!(r, R::Signature { .. }),
        Fault::WrongPayloadType => matches!(r, R::PayloadType { .. }),
        Fault::WrongStatementType => matches!(r, R::Statement { .. }),
        // Nothing left for Rekor v2 handling: bundle v0.3 requires a log entry.
        Fault::NoTlogEntry => matches!(r, R::Malformed { .. }),
        Fault::NoInclusionProof
        | Fault::BadInclusionProof
        | Fault::BadCheckpointSignature
        | Fault::UnknownRekorLog
        | Fault::TlogBodyForOtherContent => matches!(r, R::TransparencyLog { .. }),
        Fault::BadTimestamp | Fault::TimestampForOtherSignature => {
            matches!(r, R::Timestamp { .. })
        }
        _ => false,
    }
}

#[test]
fn every_fault_of_a_rekor_v2_bundle_is_rejected_for_its_reason() {
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    let mut checked = 0;
    for fault in Fault::ALL {
        // Rekor v2 has no SET and no integrated time to get wrong.
        if matches!(
            fault,
            Fault::NoInclusionPromise | Fault::BadInclusionPromise | Fault::TamperedIntegratedTime
        ) {
            continue;
        }
        for (rekor, format) in [
            (Rekor::V2Dsse, BundleFormat::Dsse),
            (Rekor::V2HashedRekord, BundleFormat::Dsse),
            (Rekor::V2HashedRekord, BundleFormat::MessageSignature),
        ] {
            if matches!(fault, Fault::WrongPayloadType | Fault::WrongStatementType)
                && format != BundleFormat::Dsse
            {
                continue;
            }
            let req = SignRequest {
                rekor,
                format,
                timestamp: Some(fractional()),
                ..SignRequest::dsse(digest())
            }
            .with_fault(fault);
            match verify(&sigstore, &req) {
                Ok(_) => panic!("{fault:?} {rekor:?} {format:?} was accepted"),
                Err(r) => assert!(
                    expected(fault, &r),
                    "{fault:?} {rekor:?} {format:?}: unexpected rejection {r}"
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * (Fault::ALL.len() - 3) - 2);
}

#[test]
fn a_rekor_v2_bundle_without_a_timestamp_has_no_verified_time() {
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    for rekor in [Rekor::V2Dsse, Rekor::V2HashedRekord] {
        let req = SignRequest {
            rekor,
            timestamp: None,
            ..cosign3()
        };
        let got = verify(&sigstore, &req);
        assert!(
            matches!(&got, Err(R::Timestamp { .. })),
            "{rekor:?}: {got:?}"
        );
    }
}

#[test]
fn a_rekor_v2_log_the_trust_root_does_not_list_is_rejected() {
    // Same keys, but the trusted root has no Rekor v2 log.
    let sigstore = VirtualSigstore::new();
    let got = verify(&sigstore, &cosign3());
    assert!(
        matches!(&got, Err(R::TransparencyLog { reason }) if reason.contains("does not list")),
        "{got:?}"
    );
}

#[test]
fn a_fractional_time_just_past_the_certificate_is_rejected() {
    // The leaf is valid until signed_at + 9 min; half a second later it is not (whole-second
    // comparison would round this time down into the validity).
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    for rekor in [Rekor::V1, Rekor::V2Dsse] {
        let req = SignRequest {
            rekor,
            timestamp: Some(
                default_signed_at() + Duration::minutes(9) + Duration::milliseconds(500),
            ),
            ..cosign3()
        };
        let got = verify(&sigstore, &req);
        assert!(
            matches!(&got, Err(R::Certificate { reason }) if reason.contains("expired")),
            "{rekor:?}: {got:?}"
        );
    }
}

#[test]
fn a_fractional_time_outside_the_tsa_or_the_log_key_validity_is_rejected() {
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    // Before the fixture TSA's certificates (valid from 2020): no authority vouches for it.
    let before_tsa = Utc
        .with_ymd_and_hms(2019, 12, 31, 23, 59, 59)
        .single()
        .expect("valid date");
    // Before the Rekor v2 log key's validFor (2026-01-01): the TSA and the certificate are
    // fine, the log key is not.
    let before_log = Utc
        .with_ymd_and_hms(2025, 12, 31, 23, 59, 59)
        .single()
        .expect("valid date");
    for (signed_at, want) in [(before_tsa, "timestamp"), (before_log, "log's key")] {
        let req = SignRequest {
            signed_at,
            timestamp: Some(signed_at + Duration::milliseconds(500)),
            ..cosign3()
        };
        let got = verify(&sigstore, &req);
        let ok = match (&got, want) {
            (Err(R::Timestamp { .. }), "timestamp") => true,
            (Err(R::TransparencyLog { reason }), "log's key") => reason.contains(want),
            _ => false,
        };
        assert!(ok, "{signed_at}: {got:?}");
    }
}

#[test]
fn a_rekor_v2_entry_next_to_a_rekor_v1_entry_is_refused() {
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    let mut bundle = sigstore.sign_value(&cosign3());
    let v1 = sigstore.sign_value(&SignRequest {
        timestamp: Some(fractional()),
        ..SignRequest::dsse(digest())
    });
    let entries = bundle
        .pointer_mut("/verificationMaterial/tlogEntries")
        .and_then(serde_json::Value::as_array_mut)
        .expect("entries");
    entries.push(v1["verificationMaterial"]["tlogEntries"][0].clone());
    let got = verify_bundle(
        &serde_json::to_vec(&bundle).expect("JSON"),
        &digest(),
        &default_policy(),
        &sigstore.trust_root(),
    );
    assert!(
        matches!(&got, Err(R::TransparencyLog { reason }) if reason.contains("not supported")),
        "{got:?}"
    );
}

#[test]
fn a_checkpoint_whose_origin_is_not_the_trusted_logs_is_rejected() {
    // One seed: the same keys and bundles; the second root lists the log under another host.
    let signer = VirtualSigstore::from_seed(b"origin").with_rekor_v2();
    let elsewhere = VirtualSigstore::from_seed(b"origin")
        .with_rekor_v2_at("https://log2026-2.rekor.trustpull.test")
        .trust_root();
    for rekor in [Rekor::V2Dsse, Rekor::V2HashedRekord] {
        // Whole seconds too: a hashedrekord entry then goes through sigstore-verify, which does
        // not check the origin; the post-step does.
        for at in [fractional(), default_signed_at() - Duration::seconds(30)] {
            let bundle = signer.sign(&SignRequest {
                rekor,
                timestamp: Some(at),
                ..SignRequest::dsse(digest())
            });
            assert!(
                verify_bundle(&bundle, &digest(), &default_policy(), &signer.trust_root()).is_ok()
            );
            let got = verify_bundle(&bundle, &digest(), &default_policy(), &elsewhere);
            assert!(
                matches!(&got, Err(R::TransparencyLog { reason }) if reason.contains("origin")),
                "{rekor:?} at {at}: {got:?}"
            );
        }
    }
}

#[test]
fn a_fractional_time_just_past_the_tsa_certificates_is_rejected() {
    // The fixture TSA's (and Fulcio CA's) certificates are valid until 2040-01-01T00:00:00Z;
    // half a second later the token's own authority no longer vouches for it.
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    let end = Utc
        .with_ymd_and_hms(2040, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let req = SignRequest {
        signed_at: end - Duration::minutes(1),
        timestamp: Some(end + Duration::milliseconds(500)),
        ..cosign3()
    };
    let got = verify(&sigstore, &req);
    assert!(
        matches!(&got, Err(R::Timestamp { reason }) if reason.contains("expired")),
        "{got:?}"
    );
    // Exactly at the end it still verifies: the bound is inclusive.
    let req = SignRequest {
        timestamp: Some(end),
        ..req
    };
    let got = verify(&sigstore, &req);
    assert!(got.is_ok(), "{got:?}");
}

#[test]
fn a_token_whose_unsigned_signature_algorithm_was_altered_is_rejected() {
    // ecdsa-with-SHA256 (1.2.840.10045.4.3.2) → 1.3.840.10045.4.3.2 in the SignerInfo: outside
    // what the TSA signed, and accepted by sigstore-tsa 0.15.1; a Rekor v2 bundle's token must
    // not say something its signature does not back.
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    const ECDSA_SHA256: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    for (rekor, format) in [
        (Rekor::V2Dsse, BundleFormat::Dsse),
        (Rekor::V2HashedRekord, BundleFormat::MessageSignature),
    ] {
        let mut bundle = sigstore.sign_value(&SignRequest {
            rekor,
            format,
            timestamp: Some(default_signed_at() - Duration::seconds(30)),
            ..SignRequest::dsse(digest())
        });
        let pointer =
            "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp";
        let slot = bundle.pointer_mut(pointer).expect("a token");
        let mut token = STANDARD
            .decode(slot.as_str().expect("base64 text"))
            .expect("base64");
        let at = token
            .windows(ECDSA_SHA256.len())
            .position(|w| w == ECDSA_SHA256)
            .expect("the SignerInfo names ecdsa-with-SHA256");
        token[at + 2] = 0x2b;
        *slot = serde_json::Value::String(STANDARD.encode(&token));
        let got = verify_bundle(
            &serde_json::to_vec(&bundle).expect("JSON"),
            &digest(),
            &default_policy(),
            &sigstore.trust_root(),
        );
        assert!(
            matches!(&got, Err(R::Timestamp { reason }) if reason.contains("does not go with")),
            "{rekor:?} {format:?}: {got:?}"
        );
    }
}
