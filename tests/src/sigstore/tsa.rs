//! A fixture RFC 3161 timestamping authority: a CMS SignedData TimeStampToken over the
//! SHA-256 of a bundle's signature.

use chrono::{DateTime, Utc};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, ID_SHA_256};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Encode, Tag};
use sha2::{Digest as _, Sha256};
use x509_cert::attr::Attribute;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::key::FixtureKey;

/// `id-ct-TSTInfo` (RFC 3161).
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// The TSA's policy OID (a private arc; any OID will do).
const POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.99.1");

#[derive(der::Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(der::Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: u64,
    gen_time: Any,
}

/// `genTime` as DER GeneralizedTime: `YYYYMMDDHHMMSSZ`, with a fraction of a second when `at`
/// has one (RFC 3161 §2.4.2: no trailing zeros), as many TSAs write it.
fn gen_time(at: DateTime<Utc>) -> Any {
    let mut text = at.format("%Y%m%d%H%M%S").to_string();
    let nanos = at.timestamp_subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        text.push('.');
        text.push_str(frac.trim_end_matches('0'));
    }
    text.push('Z');
    Any::new(Tag::GeneralizedTime, text.into_bytes()).expect("a short time string")
}

/// The signing side of the fixture TSA.
pub(crate) struct Tsa<'a> {
    pub(crate) key: &'a FixtureKey,
    pub(crate) issuer: &'a Name,
    pub(crate) serial: &'a SerialNumber,
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    }
}

/// A DER `ContentInfo` TimeStampToken stating that `signature` existed at `at` (to the
/// nanosecond: a time with a fraction of a second gets a fractional `genTime`).
pub(crate) fn timestamp_token(
    tsa: &Tsa<'_>,
    signature: &[u8],
    at: DateTime<Utc>,
    n: u64,
) -> Vec<u8> {
    let tst = TstInfo {
        version: 1,
        policy: POLICY,
        message_imprint: MessageImprint {
            hash_algorithm: sha256_alg(),
            hashed_message: OctetString::new(Sha256::digest(signature).to_vec()).expect("32 bytes"),
        },
        serial_number: n,
        gen_time: gen_time(at),
    };
    let tst_der = tst.to_der().expect("TSTInfo encodes");
    let attr = |oid, value: Any| Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).expect("one value"),
    };
    let signed_attrs = SetOfVec::try_from(vec![
        attr(
            ID_CONTENT_TYPE,
            Any::encode_from(&ID_CT_TST_INFO).expect("OID encodes"),
        ),
        attr(
            ID_MESSAGE_DIGEST,
            Any::new(Tag::OctetString, Sha256::digest(&tst_der).to_vec()).expect("digest encodes"),
        ),
    ])
    .expect("distinct attributes");
    let sig = tsa
        .key
        .sign(&signed_attrs.to_der().expect("attributes encode"));
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tsa.issuer.clone(),
            serial_number: tsa.serial.clone(),
        }),
        digest_alg: sha256_alg(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA_256,
            parameters: None,
        },
        signature: OctetString::new(sig).expect("signature fits"),
        unsigned_attrs: None,
    };
    let signed_data = SignedData {
        version: CmsVersion::V3,
        digest_algorithms: SetOfVec::try_from(vec![sha256_alg()]).expect("one algorithm"),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_CT_TST_INFO,
            econtent: Some(Any::new(Tag::OctetString, tst_der).expect("TSTInfo fits")),
        },
        certificates: None,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).expect("one signer")),
    };
    let info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).expect("SignedData encodes"),
    };
    info.to_der().expect("ContentInfo encodes")
}
