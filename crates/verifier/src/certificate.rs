//! Reading the signer facts out of a Fulcio signing certificate: identity (SAN), OIDC issuer
//! and the Fulcio claims, keyed by [`FulcioClaim`] name.
//!
//! The facts are read before the chain is verified, but only returned with a verified bundle;
//! parsing failures here are rejections, never panics.

use std::collections::BTreeMap;

use const_oid::ObjectIdentifier;
use der::asn1::{Ia5StringRef, Utf8StringRef};
use der::Decode;
use trustpull_policy::FulcioClaim;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

use crate::BundleRejection;

/// `1.3.6.1.4.1.57264.1`, the Fulcio extension arc.
const FULCIO_ARC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1");
/// Legacy OIDC issuer (bare string).
const ISSUER_V1_ARC: u8 = 1;
/// OIDC issuer (DER UTF8String).
const ISSUER_V2_ARC: u8 = 8;

/// What the certificate says about its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateFacts {
    pub(crate) identity: String,
    pub(crate) issuer: Option<String>,
    pub(crate) extensions: BTreeMap<String, String>,
}

fn malformed(what: &str, e: impl std::fmt::Display) -> BundleRejection {
    BundleRejection::Certificate {
        reason: format!("{what}: {e}"),
    }
}

/// The last arc of an OID directly under the Fulcio arc, if it is one (arcs below 128).
fn fulcio_arc(oid: &ObjectIdentifier) -> Option<u8> {
    let prefix = FULCIO_ARC.as_bytes();
    match oid.as_bytes().strip_prefix(prefix) {
        Some([arc]) if *arc < 0x80 => Some(*arc),
        _ => None,
    }
}

fn der_utf8(bytes: &[u8]) -> Option<String> {
    Utf8StringRef::from_der(bytes)
        .ok()
        .map(|s| s.as_str().to_owned())
}

fn bare_utf8(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

/// Parses a DER signing certificate.
pub(crate) fn parse(der: &[u8]) -> Result<Certificate, BundleRejection> {
    Certificate::from_der(der).map_err(|e| malformed("cannot parse the signing certificate", e))
}

/// Reads identity, issuer and claims from a parsed certificate.
pub(crate) fn certificate_facts(cert: &Certificate) -> Result<CertificateFacts, BundleRejection> {
    let identity = san_identity(cert)?.ok_or(BundleRejection::NoIdentity)?;
    let mut issuer_v1 = None;
    let mut issuer_v2 = None;
    let mut extensions = BTreeMap::new();
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let Some(arc) = fulcio_arc(&ext.extn_id) else {
            continue;
        };
        let bytes = ext.extn_value.as_bytes();
        match arc {
            ISSUER_V1_ARC => issuer_v1 = der_utf8(bytes).or_else(|| bare_utf8(bytes)),
            ISSUER_V2_ARC => {
                issuer_v2 =
                    Some(der_utf8(bytes).ok_or_else(|| {
                        malformed("OIDC issuer extension", "not a DER UTF8String")
                    })?)
            }
            _ => {
                let Some(claim) = FulcioClaim::ALL
                    .into_iter()
                    .find(|c| c.oid_arc() == u32::from(arc))
                else {
                    continue;
                };
                // .2 to .6 (deprecated GitHub claims) hold bare strings; .9 onwards DER UTF8String.
                let value = if arc < ISSUER_V2_ARC {
                    bare_utf8(bytes)
                } else {
                    der_utf8(bytes)
                };
                if let Some(value) = value {
                    extensions.insert(claim.name().to_owned(), value);
                }
            }
        }
    }
    Ok(CertificateFacts {
        identity,
        issuer: issuer_v2.or(issuer_v1),
        extensions,
    })
}

/// The PEM `CERTIFICATE` blocks of `text`, as DER, in order. Only whitespace may stand around
/// and between the blocks: text with anything else in it is refused, not read past. The error
/// says what is wrong.
pub(crate) fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine as _;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        if !rest[..start].trim().is_empty() {
            return Err("text outside the PEM blocks".into());
        }
        let body = &rest[start + BEGIN.len()..];
        let end = body
            .find(END)
            .ok_or_else(|| "a PEM block without its END line".to_owned())?;
        let b64: String = body[..end].split_whitespace().collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("not base64 ({e})"))?;
        out.push(der);
        rest = &body[end + END.len()..];
    }
    if out.is_empty() {
        return Err("not a PEM certificate".into());
    }
    if !rest.trim().is_empty() {
        return Err("text outside the PEM blocks".into());
    }
    Ok(out)
}

/// The SAN identity: the first URI, else the first email, else the first UTF-8 OtherName.
fn san_identity(cert: &Certificate) -> Result<Option<String>, BundleRejection> {
    let san = cert
        .tbs_certificate
        .get::<SubjectAltName>()
        .map_err(|e| malformed("subject alternative name extension", e))?;
    let Some((_, san)) = san else { return Ok(None) };
    let uri = san.0.iter().find_map(|n| match n {
        GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
        _ => None,
    });
    let email = || {
        san.0.iter().find_map(|n| match n {
            GeneralName::Rfc822Name(e) => Some(e.to_string()),
            _ => None,
        })
    };
    let other = || {
        san.0.iter().find_map(|n| match n {
            GeneralName::OtherName(o) => {
                let bytes = o.value.value();
                o.value
                    .decode_as::<Utf8StringRef<'_>>()
                    .map(|s| s.as_str().to_owned())
                    .ok()
                    .or_else(|| {
                        o.value
                            .decode_as::<Ia5StringRef<'_>>()
                            .map(|s| s.as_str().to_owned())
                            .ok()
                    })
                    .or_else(|| bare_utf8(bytes))
            }
            _ => None,
        })
    };
    Ok(uri.or_else(email).or_else(other))
}
