//! X.509 for the virtual Sigstore: a Fulcio-like root and intermediate, and leaf certificates
//! with a SAN, the OIDC-issuer extension, Fulcio claims and an embedded SCT.

use chrono::{DateTime, Utc};
use const_oid::db::rfc5280::{
    ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE, ID_CE_SUBJECT_ALT_NAME,
};
use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, ID_KP_CODE_SIGNING, ID_KP_SERVER_AUTH};
use const_oid::db::rfc6962::CT_PRECERT_SCTS;
use const_oid::ObjectIdentifier;
use der::asn1::{BitString, GeneralizedTime, Ia5String, OctetString, Utf8StringRef};
use der::{Decode, Encode};
use sha2::{Digest as _, Sha256};
use std::str::FromStr;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use super::key::FixtureKey;

/// The signing certificate's subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    /// A URI SAN (CI workflow identities).
    Uri(String),
    /// An email SAN (human identities).
    Email(String),
    /// An OtherName SAN of type `1.3.6.1.4.1.57264.1.7` holding a UTF8String (Fulcio's
    /// username identities).
    OtherName(String),
}

/// How the OIDC issuer is written into the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerExtension {
    /// `1.3.6.1.4.1.57264.1.8`, a DER UTF8String (current Fulcio).
    V2(String),
    /// `1.3.6.1.4.1.57264.1.1`, a bare string (legacy Fulcio).
    Legacy(String),
    /// No issuer extension at all.
    None,
}

/// A key with a certificate: a certificate authority.
pub(crate) struct Authority {
    pub(crate) key: FixtureKey,
    pub(crate) cert: Vec<u8>,
    pub(crate) name: Name,
}

fn spki(key: &FixtureKey) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_der(&key.spki_der()).expect("p256 emits valid SPKI DER")
}

fn time(t: DateTime<Utc>) -> Time {
    let secs = u64::try_from(t.timestamp()).expect("fixture times are after 1970");
    Time::GeneralTime(
        GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
            .expect("fixture times are representable"),
    )
}

fn ext(oid: ObjectIdentifier, critical: bool, value: &impl Encode) -> Extension {
    let der = value.to_der().expect("extension values encode");
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(der).expect("extension value fits an OCTET STRING"),
    }
}

fn raw_ext(oid: ObjectIdentifier, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid,
        critical: false,
        extn_value: OctetString::new(value).expect("extension value fits an OCTET STRING"),
    }
}

fn alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA_256,
        parameters: None,
    }
}

fn serial(n: u64) -> SerialNumber {
    SerialNumber::new(&(n | 1 << 56).to_be_bytes()).expect("8-byte positive serial")
}

pub(crate) fn sign_tbs(tbs: TbsCertificate, issuer: &FixtureKey) -> Vec<u8> {
    let tbs_der = tbs.to_der().expect("TBS encodes");
    let sig = issuer.sign(&tbs_der);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg(),
        signature: BitString::from_bytes(&sig).expect("signature fits a BIT STRING"),
    };
    cert.to_der().expect("certificate encodes")
}

/// A CA certificate for `key` and `subject` (e.g. `CN=fixture-root,O=trustpull.test`), signed
/// by `issuer` (or self-signed), with serial `n`.
pub(crate) fn authority(
    key: FixtureKey,
    subject: &str,
    issuer: Option<&Authority>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    n: u64,
) -> Authority {
    let name = Name::from_str(subject).expect("fixture DN parses");
    let (issuer_name, issuer_key) = match issuer {
        Some(a) => (a.name.clone(), &a.key),
        None => (name.clone(), &key),
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial(n),
        signature: alg(),
        issuer: issuer_name,
        validity: Validity {
            not_before: time(from),
            not_after: time(to),
        },
        subject: name.clone(),
        subject_public_key_info: spki(&key),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(vec![
            ext(
                ID_CE_BASIC_CONSTRAINTS,
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                },
            ),
            ext(
                ID_CE_KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            ),
        ]),
    };
    let cert = sign_tbs(tbs, issuer_key);
    Authority { key, cert, name }
}

/// Everything that goes into a leaf certificate.
pub(crate) struct LeafSpec<'a> {
    pub(crate) key: &'a FixtureKey,
    pub(crate) san: &'a San,
    pub(crate) issuer: &'a IssuerExtension,
    pub(crate) claims: &'a [(u32, String)],
    pub(crate) not_before: DateTime<Utc>,
    pub(crate) not_after: DateTime<Utc>,
    pub(crate) code_signing: bool,
}

/// The leaf's TBS without its SCT extension (the precertificate TBS the CT log signs).
pub(crate) fn leaf_tbs(spec: &LeafSpec<'_>, ca: &Authority, n: u64) -> TbsCertificate {
    let san = match spec.san {
        San::Uri(u) => {
            GeneralName::UniformResourceIdentifier(Ia5String::new(u).expect("fixture URI is ASCII"))
        }
        San::Email(e) => {
            GeneralName::Rfc822Name(Ia5String::new(e).expect("fixture email is ASCII"))
        }
        San::OtherName(name) => GeneralName::OtherName(x509_cert::ext::pkix::name::OtherName {
            type_id: fulcio_oid(7),
            value: der::Any::encode_from(&Utf8StringRef::new(name).expect("UTF-8"))
                .expect("UTF8String encodes"),
        }),
    };
    let eku = if spec.code_signing {
        ID_KP_CODE_SIGNING
    } else {
        ID_KP_SERVER_AUTH
    };
    let mut extensions = vec![
        ext(
            ID_CE_KEY_USAGE,
            true,
            &KeyUsage(KeyUsages::DigitalSignature.into()),
        ),
        ext(ID_CE_EXT_KEY_USAGE, false, &ExtendedKeyUsage(vec![eku])),
        ext(ID_CE_SUBJECT_ALT_NAME, true, &SubjectAltName(vec![san])),
    ];
    match spec.issuer {
        IssuerExtension::V2(i) => extensions.push(ext(
            fulcio_oid(8),
            false,
            &Utf8StringRef::new(i).expect("UTF-8"),
        )),
        IssuerExtension::Legacy(i) => {
            extensions.push(raw_ext(fulcio_oid(1), i.as_bytes().to_vec()))
        }
        IssuerExtension::None => {}
    }
    for (arc, value) in spec.claims {
        if *arc < 8 {
            extensions.push(raw_ext(fulcio_oid(*arc), value.as_bytes().to_vec()));
        } else {
            extensions.push(ext(
                fulcio_oid(*arc),
                false,
                &Utf8StringRef::new(value).expect("UTF-8"),
            ));
        }
    }
    TbsCertificate {
        version: Version::V3,
        serial_number: serial(n),
        signature: alg(),
        issuer: ca.name.clone(),
        validity: Validity {
            not_before: time(spec.not_before),
            not_after: time(spec.not_after),
        },
        subject: Name::default(),
        subject_public_key_info: spki(spec.key),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    }
}

pub(crate) fn fulcio_oid(arc: u32) -> ObjectIdentifier {
    ObjectIdentifier::from_str(&format!("1.3.6.1.4.1.57264.1.{arc}")).expect("Fulcio OIDs parse")
}

/// An RFC 6962 SCT over the precertificate `tbs`, issued by `ct_key` at `at`, and the
/// certificate extension that embeds it.
pub(crate) fn sct_extension(
    tbs: &TbsCertificate,
    issuer_spki: &[u8],
    ct_key: &FixtureKey,
    log_id: [u8; 32],
    at: DateTime<Utc>,
) -> Extension {
    let tbs_der = tbs.to_der().expect("TBS encodes");
    let timestamp = u64::try_from(at.timestamp_millis()).expect("fixture times are after 1970");
    let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
    signed.extend_from_slice(&timestamp.to_be_bytes());
    signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
    signed.extend_from_slice(&Sha256::digest(issuer_spki));
    let len = u32::try_from(tbs_der.len()).expect("TBS is small");
    signed.extend_from_slice(&len.to_be_bytes()[1..]); // u24 length
    signed.extend_from_slice(&tbs_der);
    signed.extend_from_slice(&0u16.to_be_bytes()); // no extensions
    let sig = ct_key.sign(&signed);

    let mut sct = vec![0u8]; // v1
    sct.extend_from_slice(&log_id);
    sct.extend_from_slice(&timestamp.to_be_bytes());
    sct.extend_from_slice(&0u16.to_be_bytes());
    sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
    sct.extend_from_slice(&u16::try_from(sig.len()).expect("short").to_be_bytes());
    sct.extend_from_slice(&sig);
    let mut list = Vec::new();
    list.extend_from_slice(&u16::try_from(sct.len() + 2).expect("short").to_be_bytes());
    list.extend_from_slice(&u16::try_from(sct.len()).expect("short").to_be_bytes());
    list.extend_from_slice(&sct);
    ext(
        CT_PRECERT_SCTS,
        false,
        &OctetString::new(list).expect("SCT list fits"),
    )
}

/// A timestamping leaf for `key` issued by `ca` with serial `n`: EKU time stamping (critical),
/// digital signature.
pub(crate) fn tsa_leaf(
    key: FixtureKey,
    ca: &Authority,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    n: u64,
) -> (FixtureKey, Vec<u8>, SerialNumber) {
    let serial = serial(n);
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial.clone(),
        signature: alg(),
        issuer: ca.name.clone(),
        validity: Validity {
            not_before: time(from),
            not_after: time(to),
        },
        subject: Name::from_str("CN=fixture-tsa,O=trustpull.test").expect("fixture DN parses"),
        subject_public_key_info: spki(&key),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(vec![
            ext(
                ID_CE_KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::DigitalSignature.into()),
            ),
            ext(
                ID_CE_EXT_KEY_USAGE,
                true,
                &ExtendedKeyUsage(vec![const_oid::db::rfc5280::ID_KP_TIME_STAMPING]),
            ),
        ]),
    };
    (key, sign_tbs(tbs, &ca.key), serial)
}
