//! The signing certificate checks of keyless verification ([`crate::keyless`]): the chain to
//! the trust root's Fulcio CAs at a verified time, and the embedded SCT.
//!
//! sigstore-verify 0.15.1 makes both checks inside `Verifier::verify` only and keeps them
//! private. These are the same checks on the same primitives (webpki path building, RFC 6962
//! §3.2 signed data, sigstore-crypto signature verification), on a leaf parsed once.

use chrono::{DateTime, Utc};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest as _, Sha256};
use sigstore_trust_root::TrustedRoot;
use sigstore_types::{DerPublicKey, SignatureBytes};
use x509_cert::ext::pkix::sct::{SignedCertificateTimestamp, SignedCertificateTimestampList};
use x509_cert::Certificate;

use crate::rekor_v2::to_jiff;
use crate::BundleRejection;

/// `id-kp-codeSigning`, DER value bytes of 1.3.6.1.5.5.7.3.3.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// RFC 6962 embedded SCT list extension.
const CT_PRECERT_SCTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

fn rejected(reason: impl Into<String>) -> BundleRejection {
    BundleRejection::Certificate {
        reason: reason.into(),
    }
}

/// Verifies that `leaf` (DER, and `parsed`; with the bundle's `intermediates`) chains to a
/// Fulcio CA of `root` whose validity covers `time`, is valid itself at `time` and allows code
/// signing. Returns the SubjectPublicKeyInfo of the leaf's issuer on the verified path (for the
/// SCT).
pub(crate) fn verify_chain(
    leaf: &[u8],
    parsed: &Certificate,
    intermediates: &[&[u8]],
    root: &TrustedRoot,
    time: DateTime<Utc>,
) -> Result<Vec<u8>, BundleRejection> {
    let at = to_jiff(time).ok_or_else(|| rejected(format!("time {time} is out of range")))?;
    let mut anchors = Vec::new();
    for ca in &root.certificate_authorities {
        if ca.valid_for.as_ref().is_some_and(|w| !w.contains(at)) {
            continue;
        }
        for cert in &ca.cert_chain.certificates {
            let der = CertificateDer::from(cert.raw_bytes.as_bytes());
            let anchor = webpki::anchor_from_trusted_cert(&der)
                .map_err(|e| rejected(format!("a Fulcio CA certificate is unusable: {e}")))?;
            anchors.push(anchor.to_owned());
        }
    }
    if anchors.is_empty() {
        return Err(rejected(format!(
            "no Fulcio CA of the trust root is valid at {time}"
        )));
    }
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(*c))
        .collect();
    let leaf_der = CertificateDer::from(leaf);
    let ee = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| rejected(format!("the signing certificate does not parse: {e}")))?;
    let secs = u64::try_from(time.timestamp())
        .map_err(|_| rejected(format!("time {time} is before 1970")))?;
    let path = ee
        .verify_for_usage(
            sigstore_verify::crypto::WEBPKI_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)),
            webpki::KeyUsage::required(EKU_CODE_SIGNING),
            None,
            None,
        )
        .map_err(|e| {
            rejected(format!(
                "certificate chain: the signing certificate does not chain to a Fulcio CA of the trust root at {time}: {e}"
            ))
        })?;
    // webpki compares whole seconds; the X.509 validity bounds are whole seconds too, but a
    // fractional time just past a notAfter (or before a notBefore) must not pass.
    within_validity(parsed, time)?;
    for der in path.intermediate_certificates().map(|c| c.der()) {
        not_expired(&der, time)?;
    }
    let issuer = match path.intermediate_certificates().next() {
        Some(issuer) => issuer.subject_public_key_info().as_ref().to_vec(),
        None => der::asn1::Any::new(
            der::Tag::Sequence,
            path.anchor().subject_public_key_info.as_ref(),
        )
        .and_then(|a| a.to_der())
        .map_err(|e| rejected(format!("the issuer key does not encode: {e}")))?,
    };
    Ok(issuer)
}

/// `der` is not past its notAfter at `time`, to the nanosecond.
pub(crate) fn not_expired(der: &[u8], time: DateTime<Utc>) -> Result<(), BundleRejection> {
    let cert = Certificate::from_der(der)
        .map_err(|e| rejected(format!("a certificate does not parse: {e}")))?;
    if nanos(time)?
        > cert
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_nanos()
    {
        return Err(rejected(format!(
            "the signing certificate or its issuer expired before {time}"
        )));
    }
    Ok(())
}

/// The signing certificate is valid at `time` (notBefore ≤ time ≤ notAfter), to the nanosecond.
pub(crate) fn within_validity(
    cert: &Certificate,
    time: DateTime<Utc>,
) -> Result<(), BundleRejection> {
    let validity = &cert.tbs_certificate.validity;
    let at = nanos(time)?;
    if at < validity.not_before.to_unix_duration().as_nanos() {
        return Err(rejected(format!(
            "the signing certificate is not yet valid at {time}"
        )));
    }
    if at > validity.not_after.to_unix_duration().as_nanos() {
        return Err(rejected(format!(
            "the signing certificate expired before {time}"
        )));
    }
    Ok(())
}

fn nanos(time: DateTime<Utc>) -> Result<u128, BundleRejection> {
    time.timestamp_nanos_opt()
        .and_then(|n| u128::try_from(n).ok())
        .ok_or_else(|| rejected(format!("time {time} is out of range")))
}

/// Verifies the leaf's one embedded SCT against the trust root's CT logs (RFC 6962 §3.2, a
/// precertificate entry: the TBS without the SCT extension, bound to the issuer key).
pub(crate) fn verify_sct(
    cert: &Certificate,
    issuer_spki: &[u8],
    root: &TrustedRoot,
) -> Result<(), BundleRejection> {
    let rejected =
        |reason: String| rejected(format!("signed certificate timestamp (SCT): {reason}"));
    let list: SignedCertificateTimestampList = match cert.tbs_certificate.get() {
        Ok(Some((_, list))) => list,
        Ok(None) => return Err(rejected("the signing certificate has none".into())),
        Err(e) => return Err(rejected(format!("the list does not parse: {e}"))),
    };
    let scts = list
        .parse_timestamps()
        .map_err(|e| rejected(format!("the list does not parse: {e:?}")))?;
    let [one] = scts.as_slice() else {
        return Err(rejected(format!(
            "the signing certificate has {}, expected one",
            scts.len()
        )));
    };
    let sct: SignedCertificateTimestamp = one
        .parse_timestamp()
        .map_err(|e| rejected(format!("it does not parse: {e:?}")))?;

    let mut tbs = cert.tbs_certificate.clone();
    tbs.extensions = tbs.extensions.map(|exts| {
        exts.into_iter()
            .filter(|e| e.extn_id != CT_PRECERT_SCTS)
            .collect()
    });
    let tbs_der = tbs
        .to_der()
        .map_err(|e| rejected(format!("the precertificate does not encode: {e}")))?;
    let tbs_len = u32::try_from(tbs_der.len())
        .ok()
        .filter(|l| *l < 1 << 24)
        .ok_or_else(|| rejected("the certificate is too large for one".into()))?;
    let ext = sct.extensions.as_slice();
    let ext_len =
        u16::try_from(ext.len()).map_err(|_| rejected("its extensions are too long".into()))?;
    let mut signed = Vec::with_capacity(tbs_der.len() + 64);
    signed.push(0); // v1
    signed.push(0); // certificate_timestamp
    signed.extend_from_slice(&sct.timestamp.to_be_bytes());
    signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
    signed.extend_from_slice(&Sha256::digest(issuer_spki));
    signed.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
    signed.extend_from_slice(&tbs_der);
    signed.extend_from_slice(&ext_len.to_be_bytes());
    signed.extend_from_slice(ext);

    use sigstore_verify::crypto::SigningScheme;
    use x509_cert::ext::pkix::sct::{HashAlgorithm as H, SignatureAlgorithm as S};
    let alg = &sct.signature.algorithm;
    let scheme = match (&alg.hash, &alg.signature) {
        (H::Sha256, S::Ecdsa) => SigningScheme::EcdsaP256Sha256,
        (H::Sha384, S::Ecdsa) => SigningScheme::EcdsaP384Sha384,
        (H::Sha256, S::Rsa) => SigningScheme::RsaPkcs1Sha256,
        (H::Sha384, S::Rsa) => SigningScheme::RsaPkcs1Sha384,
        (H::Sha512, S::Rsa) => SigningScheme::RsaPkcs1Sha512,
        (h, s) => {
            return Err(rejected(format!(
                "unsupported signature algorithm {h:?}/{s:?}"
            )))
        }
    };
    let issued_ms =
        i64::try_from(sct.timestamp).map_err(|_| rejected("its time is out of range".into()))?;
    let issued = jiff::Timestamp::from_millisecond(issued_ms)
        .map_err(|e| rejected(format!("its time is out of range: {e}")))?;
    let log = root
        .ctlogs
        .iter()
        .find(|l| l.log_id.key_id.as_bytes() == sct.log_id.key_id.as_slice())
        .ok_or_else(|| rejected("it comes from a CT log the trust root does not list".into()))?;
    if log
        .public_key
        .valid_for
        .as_ref()
        .is_some_and(|w| !w.contains(issued))
    {
        return Err(rejected(
            "it was issued outside its CT log key's validity".into(),
        ));
    }
    let key = DerPublicKey::new(log.public_key.raw_bytes.as_bytes().to_vec());
    sigstore_verify::crypto::verify_signature(
        &key,
        &signed,
        &SignatureBytes::new(sct.signature.signature.as_slice().to_vec()),
        scheme,
    )
    .map_err(|e| rejected(format!("its signature does not verify: {e}")))
}
