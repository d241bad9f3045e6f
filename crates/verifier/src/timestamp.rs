//! RFC 3161 timestamp tokens whose `genTime` has fractional seconds.
//!
//! sigstore-tsa 0.15.1 decodes `TSTInfo.genTime` with `der`'s `GeneralizedTime`, which only
//! takes the whole-second form `YYYYMMDDHHMMSSZ`; RFC 3161 §2.4.2 allows a fraction
//! (`YYYYMMDDHHMMSS.fffZ`, no trailing zeros) and common TSAs write one. The token's signature
//! covers the TSTInfo bytes, so a normalised copy cannot be handed to sigstore-tsa; this module
//! verifies such a token completely instead, with the same checks sigstore-tsa makes:
//!
//! 1. `ContentInfo` → `SignedData` whose encapsulated content is a `TSTInfo`;
//! 2. the message imprint is the hash (SHA-256/384/512) of the bundle's signature bytes;
//! 3. exactly one `SignerInfo`, whose signer is the trust root authority's own leaf (matched by
//!    issuer and serial or by subject key identifier; certificates inside the token are ignored);
//! 4. signed attributes: content type `id-ct-TSTInfo`, message digest = hash of the TSTInfo;
//! 5. the signature over the signed attributes (re-encoded as a `SET OF`) by the leaf's key;
//! 6. the leaf chains to the authority's root through the authority's intermediates at
//!    `genTime`, with the `timeStamping` extended key usage;
//! 7. `genTime` lies in the authority's `validFor` window.
//!
//! Whole-second tokens keep going through sigstore-tsa ([`has_fractional_seconds`] decides).

use chrono::{DateTime, NaiveDate, Utc};
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, Int, OctetString, OctetStringRef};
use der::{Decode, Encode, FixedTag, Header, Reader, Tag};
use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use sigstore_types::TsaAuthority;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// `id-kp-timeStamping`, DER value bytes of 1.3.6.1.5.5.7.3.8.
const EKU_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// Why a fractional-second timestamp token was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TimestampError {
    /// The token is not a well-formed RFC 3161 TimeStampToken.
    #[error("malformed RFC 3161 token: {0}")]
    Malformed(String),
    /// The message imprint is not the hash of this bundle's signature.
    #[error("the RFC 3161 token timestamps other data than this bundle's signature")]
    ImprintMismatch,
    /// No trusted authority signed it, or its signature or chain does not verify.
    #[error("no timestamp authority of the trust root vouches for this token ({0})")]
    Untrusted(String),
    /// The authority that signed it was not valid at its time.
    #[error("the token's time {time} is outside its timestamp authority's validity")]
    OutsideAuthorityValidity {
        /// The token's `genTime`.
        time: DateTime<Utc>,
    },
}

/// `genTime` with an optional fraction of a second (RFC 3161 §2.4.2 DER rules: `Z`, no
/// trailing zeros in the fraction, no empty fraction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GenTime {
    at: DateTime<Utc>,
    fractional: bool,
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> der::DecodeValue<'a> for GenTime {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let len = usize::try_from(header.length)?;
        if len > 32 {
            return Err(Tag::GeneralizedTime.value_error());
        }
        let mut buf = [0u8; 32];
        let bytes = reader.read_into(&mut buf[..len])?;
        parse_gen_time(bytes).ok_or_else(|| Tag::GeneralizedTime.value_error())
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn parse_gen_time(b: &[u8]) -> Option<GenTime> {
    let (body, rest) = b.split_at_checked(14)?;
    let frac = match rest {
        [b'Z'] => None,
        [b'.', f @ .., b'Z'] => Some(f),
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(digits(&body[0..4])?).ok()?,
        digits(&body[4..6])?,
        digits(&body[6..8])?,
    )?;
    let (h, m, s) = (
        digits(&body[8..10])?,
        digits(&body[10..12])?,
        digits(&body[12..14])?,
    );
    let nanos = match frac {
        None => 0,
        // DER: at least one digit, no trailing zero; at most nanosecond precision.
        Some(f) if f.is_empty() || f.len() > 9 || f.last() == Some(&b'0') => return None,
        Some(f) => digits(f)? * 10u32.pow(9 - u32::try_from(f.len()).ok()?),
    };
    let at = date.and_hms_nano_opt(h, m, s, nanos)?.and_utc();
    Some(GenTime {
        at,
        fractional: frac.is_some(),
    })
}

#[derive(der::Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// The leading fields of `TSTInfo` (the rest are optional and not needed; the signature covers
/// the whole encoding, which is checked separately).
struct TstInfoHead {
    message_imprint: MessageImprint,
    gen_time: GenTime,
}

fn decode_tst_info(der_bytes: &[u8]) -> der::Result<TstInfoHead> {
    let mut reader = der::SliceReader::new(der_bytes)?;
    let head = reader.sequence(|r| {
        let version: u8 = r.decode()?;
        if version != 1 {
            return Err(Tag::Integer.value_error());
        }
        let _policy: ObjectIdentifier = r.decode()?;
        let message_imprint: MessageImprint = r.decode()?;
        let _serial: Int = r.decode()?;
        let gen_time: GenTime = r.decode()?;
        // accuracy, ordering, nonce, tsa, extensions: skipped.
        while !r.is_finished() {
            let _: Any = r.decode()?;
        }
        Ok(TstInfoHead {
            message_imprint,
            gen_time,
        })
    })?;
    reader.finish(head)
}

fn hash(alg: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    match *alg {
        ID_SHA256 => Some(Sha256::digest(data).to_vec()),
        ID_SHA384 => Some(Sha384::digest(data).to_vec()),
        ID_SHA512 => Some(Sha512::digest(data).to_vec()),
        _ => None,
    }
}

/// The parts of a token this module reads.
struct Token {
    signed_data: SignedData,
    tst_der: Vec<u8>,
    tst: TstInfoHead,
}

fn parse_token(token: &[u8]) -> Result<Token, TimestampError> {
    let malformed = |what: &str, e: der::Error| TimestampError::Malformed(format!("{what}: {e}"));
    let info = match ContentInfo::from_der(token) {
        Ok(info) => info,
        // A whole TimeStampResp (status + token), as many clients store it.
        Err(e) => time_stamp_resp_token(token)
            .map_err(|_| malformed("ContentInfo or TimeStampResp", e))??,
    };
    if info.content_type != ID_SIGNED_DATA {
        return Err(TimestampError::Malformed(
            "the content is not SignedData".into(),
        ));
    }
    let signed_data = info
        .content
        .decode_as::<SignedData>()
        .map_err(|e| malformed("SignedData", e))?;
    if signed_data.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(TimestampError::Malformed(
            "the encapsulated content is not a TSTInfo".into(),
        ));
    }
    let tst_der = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| TimestampError::Malformed("the token has no TSTInfo".into()))?
        .decode_as::<OctetString>()
        .map_err(|e| malformed("TSTInfo octets", e))?
        .into_bytes();
    let tst = decode_tst_info(&tst_der).map_err(|e| malformed("TSTInfo", e))?;
    Ok(Token {
        signed_data,
        tst_der,
        tst,
    })
}

/// The TimeStampToken of a `TimeStampResp` (RFC 3161 §2.4.2) whose status is granted (0) or
/// granted with modifications (1). Outer `Err`: not a TimeStampResp.
fn time_stamp_resp_token(bytes: &[u8]) -> der::Result<Result<ContentInfo, TimestampError>> {
    let mut reader = der::SliceReader::new(bytes)?;
    let out = reader.sequence(|r| {
        let status = r.sequence(|s| {
            let status: u8 = s.decode()?;
            while !s.is_finished() {
                let _: Any = s.decode()?;
            }
            Ok(status)
        })?;
        let token: Option<ContentInfo> = if r.is_finished() {
            None
        } else {
            Some(r.decode()?)
        };
        Ok(match (status, token) {
            (0 | 1, Some(token)) => Ok(token),
            (0 | 1, None) => Err(TimestampError::Malformed(
                "the TimeStampResp has no token".into(),
            )),
            (status, _) => Err(TimestampError::Malformed(format!(
                "the TimeStampResp was not granted (status {status})"
            ))),
        })
    })?;
    reader.finish(out)
}

/// Whether `token` parses far enough to show a `genTime` with a fraction of a second.
/// Tokens that do not parse are left to sigstore-tsa, which rejects them.
pub(crate) fn has_fractional_seconds(token: &[u8]) -> bool {
    parse_token(token).is_ok_and(|t| t.tst.gen_time.fractional)
}

/// Verifies `token` over `signature` against the trust root's timestamp `authorities`
/// (see the module docs); the first authority that vouches for it gives its time.
pub(crate) fn verify(
    token: &[u8],
    signature: &[u8],
    authorities: &[TsaAuthority],
) -> Result<DateTime<Utc>, TimestampError> {
    let parsed = parse_token(token)?;
    let imprint = &parsed.tst.message_imprint;
    let expected = hash(&imprint.hash_algorithm.oid, signature).ok_or_else(|| {
        TimestampError::Malformed(format!(
            "unsupported imprint hash algorithm {}",
            imprint.hash_algorithm.oid
        ))
    })?;
    if expected.as_slice() != imprint.hashed_message.as_bytes() {
        return Err(TimestampError::ImprintMismatch);
    }
    let time = parsed.tst.gen_time.at;
    let mut reasons = Vec::new();
    for authority in authorities {
        match verify_with(&parsed, authority, time) {
            Ok(()) => {
                let in_window = authority
                    .valid_for
                    .as_ref()
                    .is_none_or(|w| crate::rekor_v2::to_jiff(time).is_some_and(|t| w.contains(t)));
                return if in_window {
                    Ok(time)
                } else {
                    Err(TimestampError::OutsideAuthorityValidity { time })
                };
            }
            Err(reason) => reasons.push(reason),
        }
    }
    if reasons.is_empty() {
        reasons.push("the trust root has no timestamp authorities".into());
    }
    Err(TimestampError::Untrusted(reasons.join("; ")))
}

fn verify_with(token: &Token, authority: &TsaAuthority, time: DateTime<Utc>) -> Result<(), String> {
    let leaf = Certificate::from_der(authority.leaf.as_bytes())
        .map_err(|e| format!("the authority's leaf does not parse: {e}"))?;
    let [signer] = token.signed_data.signer_infos.0.as_slice() else {
        return Err(format!(
            "the token has {} signer infos, expected one",
            token.signed_data.signer_infos.0.len()
        ));
    };
    // The unsigned framing must be consistent too (RFC 5652 §5.1, §5.3): nothing in an
    // accepted token may say something the signature does not back.
    use cms::content_info::CmsVersion;
    let sid_version = match signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
    };
    if token.signed_data.version != CmsVersion::V3 || signer.version != sid_version {
        return Err("the token's CMS versions are not the ones RFC 5652 prescribes".into());
    }
    if !token
        .signed_data
        .digest_algorithms
        .iter()
        .any(|a| a.oid == signer.digest_alg.oid)
    {
        return Err("the signer's digest algorithm is not among the token's".into());
    }
    if signature_algorithm_hash(&signer.signature_algorithm.oid)
        .is_some_and(|h| h != signer.digest_alg.oid)
        || signature_algorithm_hash(&signer.signature_algorithm.oid).is_none()
            && !GENERIC_SIGNATURE_ALGORITHMS.contains(&signer.signature_algorithm.oid)
    {
        return Err(format!(
            "signature algorithm {} does not go with digest {}",
            signer.signature_algorithm.oid, signer.digest_alg.oid
        ));
    }
    if !signer_is(&signer.sid, &leaf) {
        return Err("the token's signer is not this authority's certificate".into());
    }
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or("the token has no signed attributes")?;
    let single = |oid: ObjectIdentifier| -> Result<&Any, String> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(a), None) if a.values.len() == 1 => a
                .values
                .get(0)
                .ok_or_else(|| format!("attribute {oid} is empty")),
            _ => Err(format!("attribute {oid} must appear once with one value")),
        }
    };
    let content_type: ObjectIdentifier = single(ID_CONTENT_TYPE)?
        .decode_as()
        .map_err(|e| format!("content-type attribute: {e}"))?;
    if content_type != ID_CT_TST_INFO {
        return Err("the signed content type is not TSTInfo".into());
    }
    let digest_any = single(ID_MESSAGE_DIGEST)?;
    let digest = OctetStringRef::try_from(digest_any)
        .map_err(|e| format!("message-digest attribute: {e}"))?;
    let want = hash(&signer.digest_alg.oid, &token.tst_der)
        .ok_or_else(|| format!("unsupported digest algorithm {}", signer.digest_alg.oid))?;
    if digest.as_bytes() != want.as_slice() {
        return Err("the signed message digest is not the TSTInfo's".into());
    }
    let signed = attrs
        .to_der()
        .map_err(|e| format!("signed attributes do not re-encode: {e}"))?;
    let spki = leaf
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("the leaf key does not encode: {e}"))?;
    let spki = sigstore_types::DerPublicKey::new(spki);
    let scheme = signing_scheme(&spki, &signer.digest_alg.oid)?;
    sigstore_verify::crypto::verify_signature(
        &spki,
        &signed,
        &sigstore_types::SignatureBytes::new(signer.signature.as_bytes().to_vec()),
        scheme,
    )
    .map_err(|e| format!("the token's signature does not verify: {e}"))?;
    chain(authority, time)
}

/// Key-only signature algorithm identifiers some TSAs write (the hash is the digest algorithm).
const GENERIC_SIGNATURE_ALGORITHMS: [ObjectIdentifier; 2] = [
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"), // id-ecPublicKey
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1"), // rsaEncryption
];

/// The hash a combined signature algorithm identifier names.
fn signature_algorithm_hash(oid: &ObjectIdentifier) -> Option<ObjectIdentifier> {
    match oid.to_string().as_str() {
        "1.2.840.10045.4.3.2" | "1.2.840.113549.1.1.11" => Some(ID_SHA256),
        "1.2.840.10045.4.3.3" | "1.2.840.113549.1.1.12" => Some(ID_SHA384),
        "1.2.840.10045.4.3.4" | "1.2.840.113549.1.1.13" => Some(ID_SHA512),
        _ => None,
    }
}

fn signing_scheme(
    spki: &sigstore_types::DerPublicKey,
    digest: &ObjectIdentifier,
) -> Result<sigstore_verify::crypto::SigningScheme, String> {
    use sigstore_verify::crypto::{KeyAlgorithm, SigningScheme};
    let alg = KeyAlgorithm::from_spki(spki).map_err(|e| format!("the leaf key: {e}"))?;
    match (alg, *digest) {
        (KeyAlgorithm::EcdsaP256, ID_SHA256) => Ok(SigningScheme::EcdsaP256Sha256),
        (KeyAlgorithm::EcdsaP256, ID_SHA384) => Ok(SigningScheme::EcdsaP256Sha384),
        (KeyAlgorithm::EcdsaP384, ID_SHA256) => Ok(SigningScheme::EcdsaP384Sha256),
        (KeyAlgorithm::EcdsaP384, ID_SHA384) => Ok(SigningScheme::EcdsaP384Sha384),
        (KeyAlgorithm::Rsa, ID_SHA256) => Ok(SigningScheme::RsaPkcs1Sha256),
        (KeyAlgorithm::Rsa, ID_SHA384) => Ok(SigningScheme::RsaPkcs1Sha384),
        (KeyAlgorithm::Rsa, ID_SHA512) => Ok(SigningScheme::RsaPkcs1Sha512),
        (alg, digest) => Err(format!(
            "unsupported token signature: {alg:?} key with digest {digest}"
        )),
    }
}

fn signer_is(sid: &SignerIdentifier, leaf: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            is.issuer == leaf.tbs_certificate.issuer
                && is.serial_number == leaf.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => leaf
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == ID_SUBJECT_KEY_IDENTIFIER)
            .any(|e| {
                x509_cert::ext::pkix::SubjectKeyIdentifier::from_der(e.extn_value.as_bytes())
                    .is_ok_and(|k| &k == ski)
            }),
    }
}

/// The authority's leaf chains to its root through its own intermediates at `time`, with the
/// `timeStamping` extended key usage.
fn chain(authority: &TsaAuthority, time: DateTime<Utc>) -> Result<(), String> {
    let root = CertificateDer::from(authority.root.as_bytes());
    let anchors = [webpki::anchor_from_trusted_cert(&root)
        .map_err(|e| format!("the authority's root is unusable: {e}"))?];
    let intermediates: Vec<CertificateDer<'_>> = authority
        .intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_bytes()))
        .collect();
    let leaf = CertificateDer::from(authority.leaf.as_bytes());
    let ee = webpki::EndEntityCert::try_from(&leaf)
        .map_err(|e| format!("the authority's leaf is unusable: {e}"))?;
    let secs = u64::try_from(time.timestamp()).map_err(|_| "a time before 1970".to_owned())?;
    let path = ee
        .verify_for_usage(
            sigstore_verify::crypto::WEBPKI_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)),
            webpki::KeyUsage::required(EKU_TIME_STAMPING),
            None,
            None,
        )
        .map_err(|e| format!("the authority's certificate chain does not verify at {time}: {e}"))?;
    // webpki compares whole seconds: a fractional time just past a notAfter must not pass.
    std::iter::once(leaf.clone())
        .chain(path.intermediate_certificates().map(|c| c.der()))
        .try_for_each(|der| {
            crate::fulcio::not_expired(&der, time)
                .map_err(|_| format!("the authority's certificates expired before {time}"))
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gen_time_takes_whole_and_fractional_seconds() {
        let t = parse_gen_time(b"20260301120000Z").expect("whole seconds");
        assert!(!t.fractional);
        assert_eq!(t.at.to_rfc3339(), "2026-03-01T12:00:00+00:00");
        let t = parse_gen_time(b"20260301120000.25Z").expect("a fraction");
        assert!(t.fractional);
        assert_eq!(t.at.timestamp_subsec_millis(), 250);
        let t = parse_gen_time(b"20260301120000.123456789Z").expect("nanoseconds");
        assert_eq!(t.at.timestamp_subsec_nanos(), 123_456_789);
    }

    #[test]
    fn gen_time_refuses_non_der_forms() {
        for bad in [
            &b"20260301120000.Z"[..],
            b"20260301120000.50Z",
            b"20260301120000.1234567891Z",
            b"20260301120000",
            b"202603011200Z",
            b"20260301120000+0100",
            b"20261301120000Z",
            b"2026030112000aZ",
            b"20260301120000.-1Z",
        ] {
            assert!(
                parse_gen_time(bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
