//! The virtual Sigstore's bundles verify, and each single fault is rejected for its reason.

use trustpull_policy::Digest;
use trustpull_testkit::sigstore::{
    default_policy, BundleFormat, Fault, SignRequest, VirtualSigstore,
};
use trustpull_verifier::{verify_bundle, BundleRejection as R};

#[test]
fn good_bundles_verify_in_both_formats() {
    let sigstore = VirtualSigstore::new();
    let root = sigstore.trust_root();
    let digest = Digest::of(b"manifest");
    for req in [
        SignRequest::dsse(digest.clone()),
        SignRequest::message(digest.clone()),
    ] {
        let bundle = sigstore.sign(&req);
        let got = verify_bundle(&bundle, &digest, &default_policy(), &root);
        assert!(got.is_ok(), "{:?}: {got:?}", req.format);
    }
}

/// The rejection each fault must produce.
fn expected(fault: Fault, format: BundleFormat, r: &R) -> bool {
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
        // Bundle v0.3 requires an inclusion proof: structurally invalid.
        Fault::NoTlogEntry | Fault::NoInclusionProof => matches!(r, R::Malformed { .. }),
        Fault::BadInclusionProof
        | Fault::BadCheckpointSignature
        | Fault::BadInclusionPromise
        | Fault::TamperedIntegratedTime
        | Fault::UnknownRekorLog => {
            matches!(r, R::TransparencyLog { .. })
        }
        Fault::NoInclusionPromise | Fault::BadTimestamp | Fault::TimestampForOtherSignature => {
            matches!(r, R::Timestamp { .. })
        }
        Fault::TlogBodyForOtherContent => match format {
            BundleFormat::Dsse => matches!(r, R::TransparencyLog { .. }),
            BundleFormat::MessageSignature => matches!(r, R::ArtifactMismatch { .. }),
        },
        _ => false,
    }
}

#[test]
fn every_fault_is_rejected_for_its_reason_in_both_formats() {
    let sigstore = VirtualSigstore::new();
    let root = sigstore.trust_root();
    let digest = Digest::of(b"manifest");
    let mut checked = 0;
    for fault in Fault::ALL {
        for req in [
            SignRequest::dsse(digest.clone()),
            SignRequest::message(digest.clone()),
        ] {
            let format = req.format;
            if matches!(fault, Fault::WrongPayloadType | Fault::WrongStatementType)
                && format != BundleFormat::Dsse
            {
                continue;
            }
            let bundle = sigstore.sign(&req.with_fault(fault));
            match verify_bundle(&bundle, &digest, &default_policy(), &root) {
                Ok(_) => panic!("{fault:?} {format:?} was accepted"),
                Err(r) => assert!(
                    expected(fault, format, &r),
                    "{fault:?} {format:?}: unexpected rejection {r}"
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * Fault::ALL.len() - 2);
}

#[test]
fn identity_is_uri_else_email_else_other_name() {
    use trustpull_policy::{PolicySpec, TrustPolicy};
    use trustpull_testkit::sigstore::{default_spec, San};
    let sigstore = VirtualSigstore::new();
    let root = sigstore.trust_root();
    let digest = Digest::of(b"manifest");
    for (san, identity) in [
        (
            San::Uri("https://ci.test/workflow".into()),
            "https://ci.test/workflow",
        ),
        (San::Email("dev@acme.test".into()), "dev@acme.test"),
        (San::OtherName("dev!acme.test".into()), "dev!acme.test"),
    ] {
        let bundle = sigstore.sign(&SignRequest {
            san,
            ..SignRequest::dsse(digest.clone())
        });
        let policy = TrustPolicy::new(PolicySpec {
            identity: Some(identity.into()),
            ..default_spec()
        })
        .expect("valid");
        let got = verify_bundle(&bundle, &digest, &policy, &root);
        assert!(
            matches!(&got, Ok(v) if v.facts().identity == identity),
            "{identity}: {got:?}"
        );
    }
}

#[test]
fn rfc3161_timestamps_date_the_signature_and_the_earliest_time_counts() {
    use chrono::Duration;
    use trustpull_policy::{PolicySpec, PolicyViolation, TrustPolicy};
    use trustpull_testkit::sigstore::{default_signed_at, default_spec};
    let sigstore = VirtualSigstore::new();
    let root = sigstore.trust_root();
    let digest = Digest::of(b"manifest");
    let at = default_signed_at();
    let tsa_time = at - Duration::seconds(30);
    for format in [BundleFormat::Dsse, BundleFormat::MessageSignature] {
        let base = SignRequest {
            format,
            timestamp: Some(tsa_time),
            ..SignRequest::dsse(digest.clone())
        };

        // TSA only: no SET, the RFC 3161 timestamp is the only verified time.
        let tsa_only = sigstore.sign(&base.clone().with_fault(Fault::NoInclusionPromise));
        let got = verify_bundle(&tsa_only, &digest, &default_policy(), &root);
        assert!(
            matches!(&got, Ok(v) if v.facts().verified_timestamps == vec![tsa_time]),
            "{format:?}: {got:?}"
        );

        // Both: two verified times; not_before is compared with the earlier one.
        let both = sigstore.sign(&base);
        let got = verify_bundle(&both, &digest, &default_policy(), &root);
        assert!(
            matches!(&got, Ok(v) if v.facts().verified_timestamps == vec![tsa_time, at]),
            "{format:?}: {got:?}"
        );
        let cutoff = |t: chrono::DateTime<chrono::Utc>| {
            TrustPolicy::new(PolicySpec {
                not_before: Some(t.to_rfc3339()),
                ..default_spec()
            })
            .expect("valid")
        };
        assert!(verify_bundle(&both, &digest, &cutoff(tsa_time), &root).is_ok());
        assert!(matches!(
            verify_bundle(
                &both,
                &digest,
                &cutoff(tsa_time + Duration::seconds(1)),
                &root
            ),
            Err(R::Policy(PolicyViolation::SignedBeforeCutoff { .. }))
        ));
    }
}
