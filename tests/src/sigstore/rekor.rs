//! Fixture Rekor logs: a v1 log (entry bodies, RFC 6962 Merkle inclusion proofs, signed
//! checkpoints, signed entry timestamps) and a v2 log (`hashedrekord` / `dsse` v0.0.2 bodies,
//! inclusion proofs and signed-note checkpoints; no SET and no integrated time).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::key::FixtureKey;

/// The v1 log's origin line in checkpoints.
pub(crate) const ORIGIN: &str = "rekor.trustpull.test - 1";
/// The v2 log's base URL in the trusted root; its checkpoints' origin is the host.
pub(crate) const V2_URL: &str = "https://log2026-1.rekor.trustpull.test";
/// The v2 log's checkpoint origin: the host of [`V2_URL`].
pub(crate) const V2_ORIGIN: &str = "log2026-1.rekor.trustpull.test";

fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = split(leaves.len());
    node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
}

fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// A tree with `body` at `index` among `size` leaves (the others are filler entries).
pub(crate) struct Inclusion {
    pub(crate) root: [u8; 32],
    pub(crate) hashes: Vec<[u8; 32]>,
}

pub(crate) fn include(body: &[u8], index: usize, size: usize) -> Inclusion {
    let leaves: Vec<[u8; 32]> = (0..size)
        .map(|i| {
            if i == index {
                leaf_hash(body)
            } else {
                leaf_hash(format!("filler entry {i}").as_bytes())
            }
        })
        .collect();
    Inclusion {
        root: root(&leaves),
        hashes: path(index, &leaves),
    }
}

/// A signed-note checkpoint of log `origin` for `root` over `size` leaves, signed by `key`
/// (hint = `log_id[..4]`).
pub(crate) fn checkpoint(
    origin: &str,
    key: &FixtureKey,
    log_id: &[u8; 32],
    size: usize,
    root: &[u8; 32],
) -> String {
    let body = format!("{origin}\n{size}\n{}\n", STANDARD.encode(root));
    let sig = key.sign(body.as_bytes());
    let mut blob = log_id[..4].to_vec();
    blob.extend_from_slice(&sig);
    let name = origin.split(' ').next().unwrap_or(origin);
    format!("{body}\n\u{2014} {name} {}\n", STANDARD.encode(blob))
}

/// The v2 log's id: like a signed-note key id, SHA-256 over the origin, a newline, a key-type
/// byte (here 0x02 for an ECDSA key, a testkit choice) and the SPKI. Verifiers match the
/// checkpoint's key hint against its first four bytes.
pub(crate) fn v2_log_id(key: &FixtureKey) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(V2_ORIGIN.as_bytes());
    h.update(b"\n\x02");
    h.update(key.spki_der());
    h.finalize().into()
}

/// A `hashedrekord` v0.0.2 body (Rekor v2): the digest signed (the artifact's, or the PAE's for
/// a DSSE envelope), the signature and the certificate, bytes as base64.
pub(crate) fn hashedrekord_v2_body(digest: &[u8], signature: &[u8], cert_der: &[u8]) -> Vec<u8> {
    let body = json!({
        "apiVersion": "0.0.2",
        "kind": "hashedrekord",
        "spec": {"hashedRekordV002": {
            "data": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
            "signature": {"content": STANDARD.encode(signature), "verifier": {
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "x509Certificate": {"rawBytes": STANDARD.encode(cert_der)},
            }},
        }},
    });
    crate::json::to_vec(&body)
}

/// A `dsse` v0.0.2 body (Rekor v2): the payload hash and the one signature with its certificate.
pub(crate) fn dsse_v2_body(payload: &[u8], signature: &[u8], cert_der: &[u8]) -> Vec<u8> {
    let body = json!({
        "apiVersion": "0.0.2",
        "kind": "dsse",
        "spec": {"dsseV002": {
            "payloadHash": {"algorithm": "SHA2_256", "digest": STANDARD.encode(Sha256::digest(payload))},
            "signatures": [{"content": STANDARD.encode(signature), "verifier": {
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "x509Certificate": {"rawBytes": STANDARD.encode(cert_der)},
            }}],
        }},
    });
    crate::json::to_vec(&body)
}

/// The SET: the log's signature over the canonical JSON of the entry.
pub(crate) fn signed_entry_timestamp(
    key: &FixtureKey,
    body: &[u8],
    integrated_time: i64,
    log_id: &[u8; 32],
    log_index: u64,
) -> Vec<u8> {
    // RFC 8785 canonical form: keys sorted, no whitespace.
    let payload = format!(
        r#"{{"body":"{}","integratedTime":{integrated_time},"logID":"{}","logIndex":{log_index}}}"#,
        STANDARD.encode(body),
        hex::encode(log_id)
    );
    key.sign(payload.as_bytes())
}

fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// A `hashedrekord` v0.0.1 body for a signature over the artifact with sha256 `digest_hex`.
pub(crate) fn hashedrekord_body(digest_hex: &str, signature: &[u8], cert_der: &[u8]) -> Vec<u8> {
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest_hex}},
            "signature": {"content": STANDARD.encode(signature), "publicKey": {"content": STANDARD.encode(pem(cert_der))}},
        },
    });
    crate::json::to_vec(&body)
}

/// A `dsse` v0.0.1 body for an envelope with `payload` and one `signature`.
pub(crate) fn dsse_body(
    envelope_json: &[u8],
    payload: &[u8],
    signature: &[u8],
    cert_der: &[u8],
) -> Vec<u8> {
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope_json))},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))},
            "signatures": [{"signature": STANDARD.encode(signature), "verifier": STANDARD.encode(pem(cert_der))}],
        },
    });
    crate::json::to_vec(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_follow_rfc6962_shapes() {
        for size in 1..9 {
            for index in 0..size {
                let inc = include(b"x", index, size);
                // Recompute the root from the proof (RFC 9162 §2.1.3.2).
                let (mut fn_, mut sn) = (index, size - 1);
                let mut r = leaf_hash(b"x");
                for h in &inc.hashes {
                    if fn_ % 2 == 1 || fn_ == sn {
                        r = node_hash(h, &r);
                        while fn_ % 2 == 0 && fn_ != 0 {
                            fn_ >>= 1;
                            sn >>= 1;
                        }
                    } else {
                        r = node_hash(&r, h);
                    }
                    fn_ >>= 1;
                    sn >>= 1;
                }
                assert_eq!(r, inc.root, "size {size} index {index}");
            }
        }
    }
}
