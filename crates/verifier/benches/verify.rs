//! In-process verification of one bundle with a warm trust root:
//! sigstore-verify alone (parse + verify + identity/issuer check) against trustpull's
//! `verify_bundle` (parse + binding checks + verify + certificate facts + policy), on the
//! sigstore-conformance `happy-path-v0.3` bundle, and both against the cryptographic floor: the
//! bundle's ECDSA verifications alone, with aws-lc-rs (the library sigstore-crypto verifies
//! with). Run by `cargo xtask bench verify` (or `cargo bench -p trustpull-verifier --bench
//! verify`). With `-- --only ours N` (or `alone`, `floor`) it runs that side N times and prints
//! nothing: the loop `cargo xtask bench verify-profile` runs under callgrind.

// A benchmark program: it prints its table.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, KeyPair as _, ParsedPublicKey, UnparsedPublicKey,
    VerificationAlgorithm,
};
use base64::Engine as _;
use der::{Decode as _, Encode as _};

use sigstore_trust_root::TrustedRoot;
use sigstore_types::{Bundle, Sha256Hash};
use sigstore_verify::{VerificationPolicy, Verifier};
use trustpull_policy::{Digest, PolicySpec, TrustPolicy};
use trustpull_verifier::{verify_bundle, TrustRoot};

const IDENTITY: &str =
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const ROUNDS: usize = 30;
const PER_ROUND: usize = 100;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One signature check of the floor: algorithm, public key (SPKI DER or SEC1 point), message,
/// signature, and what it stands for.
struct Check {
    alg: &'static dyn VerificationAlgorithm,
    key: Vec<u8>,
    msg: Vec<u8>,
    sig: Vec<u8>,
    what: &'static str,
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

/// The ECDSA verifications a v0.3 message-signature bundle with a Rekor v1 entry needs, on the
/// bundle's own data except the SCT (its signed data is the precertificate TBS, rebuilt from the
/// leaf; here a fresh P-256 key signs a message of the same length instead).
fn floor_checks(bundle: &[u8], root: &[u8], artifact: &[u8]) -> Vec<Check> {
    let bundle: serde_json::Value = serde_json::from_slice(bundle).expect("bundle json");
    let root: serde_json::Value = serde_json::from_slice(root).expect("root json");
    let material = &bundle["verificationMaterial"];
    let leaf_der = b64(material["certificate"]["rawBytes"].as_str().expect("leaf"));
    let leaf = x509_cert::Certificate::from_der(&leaf_der).expect("leaf parses");
    let issuer = leaf.tbs_certificate.issuer.clone();
    // The Fulcio intermediate that issued the leaf (the CA whose chain names it as subject).
    let intermediate = root["certificateAuthorities"]
        .as_array()
        .expect("cas")
        .iter()
        .flat_map(|ca| ca["certChain"]["certificates"].as_array().expect("chain"))
        .map(|c| {
            x509_cert::Certificate::from_der(&b64(c["rawBytes"].as_str().expect("der")))
                .expect("ca parses")
        })
        .find(|c| c.tbs_certificate.subject == issuer)
        .expect("issuer in the trust root");
    let spki = |c: &x509_cert::Certificate| {
        c.tbs_certificate
            .subject_public_key_info
            .to_der()
            .expect("spki")
    };
    let tlog = &material["tlogEntries"][0];
    let log_id = tlog["logId"]["keyId"].as_str().expect("log id");
    let rekor_key = root["tlogs"]
        .as_array()
        .expect("tlogs")
        .iter()
        .find(|t| t["logId"]["keyId"] == log_id)
        .map(|t| b64(t["publicKey"]["rawBytes"].as_str().expect("key")))
        .expect("rekor key in the trust root");
    // The SET signs the canonical JSON of the entry (keys sorted, no spaces).
    let set_msg = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        tlog["canonicalizedBody"].as_str().expect("body"),
        tlog["integratedTime"].as_str().expect("time"),
        hex_lower(&b64(log_id)),
        tlog["logIndex"].as_str().expect("index"),
    );
    // The checkpoint is a signed note: text up to the blank line, then "— name base64(hint||sig)".
    let note = tlog["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .expect("checkpoint");
    let (text, sigs) = note.split_once("\n\n").expect("note");
    let note_sig = b64(sigs.trim_end().rsplit(' ').next().expect("signature"));
    // SCT stand-in: same curve, a message as long as the precertificate TBS plus SCT header.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
    let ct = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
        .expect("key");
    let sct_msg = vec![0x5a; leaf.tbs_certificate.to_der().expect("tbs").len() + 47];
    let sct_sig = ct.sign(&rng, &sct_msg).expect("signs").as_ref().to_vec();
    vec![
        Check {
            alg: &sig::ECDSA_P384_SHA384_ASN1,
            key: spki(&intermediate),
            msg: leaf.tbs_certificate.to_der().expect("tbs"),
            sig: leaf.signature.raw_bytes().to_vec(),
            what: "leaf certificate by the Fulcio intermediate (P-384)",
        },
        Check {
            alg: &sig::ECDSA_P256_SHA256_ASN1,
            key: ct.public_key().as_ref().to_vec(),
            msg: sct_msg,
            sig: sct_sig,
            what: "SCT (P-256, equivalent data)",
        },
        Check {
            alg: &sig::ECDSA_P256_SHA256_ASN1,
            key: rekor_key.clone(),
            msg: set_msg.into_bytes(),
            sig: b64(tlog["inclusionPromise"]["signedEntryTimestamp"]
                .as_str()
                .expect("set")),
            what: "Rekor SET (P-256)",
        },
        Check {
            alg: &sig::ECDSA_P256_SHA256_ASN1,
            key: rekor_key,
            msg: format!("{text}\n").into_bytes(),
            sig: note_sig[4..].to_vec(),
            what: "Rekor checkpoint (P-256)",
        },
        Check {
            alg: &sig::ECDSA_P256_SHA256_ASN1,
            key: spki(&leaf),
            msg: artifact.to_vec(),
            sig: b64(bundle["messageSignature"]["signature"]
                .as_str()
                .expect("signature")),
            what: "artifact signature by the leaf key (P-256)",
        },
    ]
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance");
    let bundle_bytes =
        std::fs::read(data.join("bundle-verify/happy-path-v0.3/bundle.sigstore.json"))
            .expect("vendored bundle");
    let root_json =
        std::fs::read(data.join("production_trusted_root.json")).expect("vendored root");
    let artifact = std::fs::read(data.join("bundle-verify/a.txt")).expect("vendored artifact");
    let digest = Digest::of(&artifact);

    // Warm trust roots, built once, outside the timed loops.
    let sigstore_root = TrustedRoot::from_json(std::str::from_utf8(&root_json).expect("utf8"))
        .expect("root parses");
    let sigstore_verifier = Verifier::new(&sigstore_root).expect("root prepares");
    let sigstore_policy = VerificationPolicy::new(IDENTITY, ISSUER);
    let ours_root = TrustRoot::from_json(&root_json, "production").expect("root prepares");
    let ours_policy = TrustPolicy::new(PolicySpec {
        identity: Some(IDENTITY.into()),
        issuer: Some(ISSUER.into()),
        ..PolicySpec::default()
    })
    .expect("valid");

    let alone = || {
        let text = std::str::from_utf8(black_box(&bundle_bytes)).expect("utf8");
        let bundle = Bundle::from_json(text).expect("parses");
        sigstore_verifier
            .verify(Sha256Hash::new(digest.bytes()), &bundle, &sigstore_policy)
            .expect("verifies");
    };
    let ours = || {
        verify_bundle(black_box(&bundle_bytes), &digest, &ours_policy, &ours_root)
            .expect("verifies");
    };
    let checks = floor_checks(&bundle_bytes, &root_json, &artifact);
    let parsed: Vec<ParsedPublicKey> = checks
        .iter()
        .map(|c| {
            ParsedPublicKey::new(c.alg, &c.key).unwrap_or_else(|e| panic!("{}: key: {e}", c.what))
        })
        .collect();
    for (c, k) in checks.iter().zip(&parsed) {
        k.verify_sig(&c.msg, &c.sig)
            .unwrap_or_else(|_| panic!("floor check fails: {}", c.what));
    }
    // The floor: keys parsed once (as a prepared trust root would hold them) ...
    let floor = || {
        for (c, k) in checks.iter().zip(&parsed) {
            k.verify_sig(black_box(&c.msg), &c.sig).expect("verifies");
        }
    };
    // ... and with every key parsed on each call.
    let floor_unparsed = || {
        for c in &checks {
            UnparsedPublicKey::new(c.alg, black_box(&c.key))
                .verify(&c.msg, &c.sig)
                .expect("verifies");
        }
    };
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--only") {
        let n: usize = args.get(i + 2).and_then(|n| n.parse().ok()).unwrap_or(200);
        let side: &dyn Fn() = match args.get(i + 1).map(String::as_str) {
            Some("ours") => &ours,
            Some("alone") => &alone,
            Some("floor") => &floor,
            other => panic!("--only ours|alone|floor N, not {other:?}"),
        };
        for _ in 0..n {
            side();
        }
        return;
    }
    for _ in 0..PER_ROUND {
        alone();
        ours();
        floor();
        floor_unparsed();
    }
    // Interleaved rounds, so drift on a shared machine hits both sides alike.
    let (mut a, mut o, mut f, mut u) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            alone();
        }
        a.push(t.elapsed() / PER_ROUND as u32);
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            ours();
        }
        o.push(t.elapsed() / PER_ROUND as u32);
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            floor();
        }
        f.push(t.elapsed() / PER_ROUND as u32);
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            floor_unparsed();
        }
        u.push(t.elapsed() / PER_ROUND as u32);
    }
    let (a, o, f, u) = (median(a), median(o), median(f), median(u));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("## verify one bundle in-process, warm trust root (happy-path-v0.3)\n");
    println!("median of {ROUNDS} rounds x {PER_ROUND} verifications\n");
    println!("| what | per bundle | ratio |");
    println!("|---|---|---|");
    println!(
        "| sigstore-verify alone (parse + verify + identity/issuer) | {:.3} ms | 1.00x |",
        ms(a)
    );
    println!("| trustpull verify_bundle (parse + verify + facts + policy) | {:.3} ms | {:.2}x (target <= 1.10x) |", ms(o), ms(o) / ms(a));
    println!("\n### against the cryptographic floor (aws-lc-rs, same run)\n");
    for c in &checks {
        println!("- {}: {} bytes signed", c.what, c.msg.len());
    }
    println!("\n| what | per bundle | trustpull verify_bundle is |");
    println!("|---|---|---|");
    println!(
        "| floor: the {} ECDSA verifications, keys parsed once | {:.3} ms | {:.2}x the floor (target <= 1.30x) |",
        checks.len(),
        ms(f),
        ms(o) / ms(f)
    );
    println!(
        "| floor, every key parsed on each call | {:.3} ms | {:.2}x |",
        ms(u),
        ms(o) / ms(u)
    );
}
