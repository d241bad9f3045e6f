//! The legacy cosign signature leg of `cargo xtask interop --registry` (issue 9): the
//! independent producer (sigstore-python, driven by `xtask/interop/produce.cjs`) signs cosign's
//! simple-signing payload for the interop manifest; this module assembles cosign's
//! `sha256-<hex>.sig` manifest around sigstore-python's bundle (sigstore-python writes bundles,
//! not OCI signatures), pushes the image and the `.sig` tag to the real registry, and runs
//! `trustpull verify`: the signature verifies, another identity is rejected, and so is a copy
//! whose signature annotation has one bit flipped.
//!
//! The assembly is the inverse of trustpull's own conversion (crates/verifier/src/legacy.rs),
//! written here from cosign's annotation format, not from that code: the bundle's
//! `messageSignature.signature` → `dev.cosignproject.cosign/signature`; its certificate (PEM) →
//! `dev.sigstore.cosign/certificate`; its Rekor v1 entry → `dev.sigstore.cosign/bundle`
//! (`SignedEntryTimestamp`, `Payload.{body, integratedTime, logIndex, logID}`); its RFC 3161
//! token → `dev.sigstore.cosign/rfc3161timestamp`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::push::{Pusher, OCI_MANIFEST};
use crate::registry::Registry;

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// What one check must end with: exit 0, or exit 1.
#[derive(Clone, Copy)]
enum Expect {
    Verified,
    Rejected,
}

/// Pushes and verifies every entry of `interop.json`'s `legacy` list; returns the failures and
/// how many runs were made.
pub fn check(
    trustpull: &Path,
    registry: &Registry,
    auth: (&str, &str),
    dir: &Path,
    doc: &Value,
    other_identity: &str,
) -> Result<(Vec<String>, usize), String> {
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (identity, issuer) = (text(doc, "identity"), text(doc, "issuer"));
    let entries = doc
        .get("legacy")
        .and_then(Value::as_array)
        .ok_or("interop.json has no `legacy` list (re-run the producer)")?;
    let image = std::fs::read(dir.join(text(doc, "artifact")))
        .map_err(|e| format!("read the interop manifest: {e}"))?;
    let root = dir.join("trusted_root.json");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let mut failures = Vec::new();
    let mut runs = 0;
    for (n, entry) in entries.iter().enumerate() {
        let payload = std::fs::read(dir.join(text(entry, "payload")))
            .map_err(|e| format!("read the legacy payload: {e}"))?;
        let bundle: Value = serde_json::from_slice(
            &std::fs::read(dir.join(text(entry, "bundle")))
                .map_err(|e| format!("read the legacy bundle: {e}"))?,
        )
        .map_err(|e| format!("the legacy bundle: {e}"))?;
        let annotations = annotations(&bundle)?;
        let mut flipped = annotations.clone();
        let sig = STANDARD
            .decode(&flipped["dev.cosignproject.cosign/signature"])
            .map_err(|e| format!("signature: {e}"))?;
        let mut sig = sig;
        let mid = sig.len() / 2;
        sig[mid] ^= 0x01;
        flipped.insert(
            "dev.cosignproject.cosign/signature".into(),
            STANDARD.encode(sig),
        );
        for (suffix, annotations, cases) in [
            (
                "",
                annotations,
                vec![
                    (
                        "verifies the legacy signature",
                        identity.as_str(),
                        Expect::Verified,
                    ),
                    ("rejects another identity", other_identity, Expect::Rejected),
                ],
            ),
            (
                "-flipped",
                flipped,
                vec![(
                    "rejects a flipped signature",
                    identity.as_str(),
                    Expect::Rejected,
                )],
            ),
        ] {
            let repo = format!("trustpull/interop-legacy-{n}{suffix}");
            let reference =
                runtime.block_on(push(registry, auth, &repo, &image, &payload, &annotations))?;
            for (what, who, expect) in cases {
                runs += 1;
                let output = Command::new(trustpull)
                    .args([
                        "verify",
                        &reference,
                        "--plain-http",
                        "--certificate-identity",
                        who,
                    ])
                    .args(["--certificate-oidc-issuer", &issuer, "--trusted-root"])
                    .arg(&root)
                    .env("DOCKER_CONFIG", dir.join("docker"))
                    .output()
                    .map_err(|e| format!("cannot run {}: {e}", trustpull.display()))?;
                let code = output.status.code();
                let ok = match expect {
                    Expect::Verified => code == Some(0),
                    Expect::Rejected => code == Some(1),
                };
                if ok {
                    eprintln!("ok    registry legacy {repo}: {what}");
                } else {
                    let message = format!(
                        "registry legacy {repo}: {what}: exit {code:?}: {}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    );
                    eprintln!("FAIL  {message}");
                    failures.push(message);
                }
            }
        }
    }
    Ok((failures, runs))
}

/// cosign's layer annotations for sigstore-python's message-signature bundle `bundle`.
fn annotations(bundle: &Value) -> Result<BTreeMap<String, String>, String> {
    let text = |pointer: &str| {
        bundle
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("the legacy bundle has no {pointer}"))
    };
    let number = |pointer: &str| -> Result<i64, String> {
        text(pointer)?
            .parse()
            .map_err(|e| format!("{pointer}: {e}"))
    };
    let cert = STANDARD
        .decode(text("/verificationMaterial/certificate/rawBytes")?)
        .map_err(|e| format!("certificate: {e}"))?;
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in STANDARD.encode(&cert).as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    let entry = "/verificationMaterial/tlogEntries/0";
    let log_id = STANDARD
        .decode(text(&format!("{entry}/logId/keyId"))?)
        .map_err(|e| format!("logId: {e}"))?;
    let rekor = json!({
        "SignedEntryTimestamp": text(&format!("{entry}/inclusionPromise/signedEntryTimestamp"))?,
        "Payload": {
            "body": text(&format!("{entry}/canonicalizedBody"))?,
            "integratedTime": number(&format!("{entry}/integratedTime"))?,
            "logIndex": number(&format!("{entry}/logIndex"))?,
            "logID": hex::encode(log_id),
        },
    });
    let mut out = BTreeMap::from([
        (
            "dev.cosignproject.cosign/signature".to_owned(),
            text("/messageSignature/signature")?,
        ),
        ("dev.sigstore.cosign/certificate".to_owned(), pem),
        ("dev.sigstore.cosign/bundle".to_owned(), rekor.to_string()),
    ]);
    if let Ok(token) =
        text("/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp")
    {
        out.insert(
            "dev.sigstore.cosign/rfc3161timestamp".to_owned(),
            json!({"SignedRFC3161Timestamp": token}).to_string(),
        );
    }
    Ok(out)
}

/// Pushes `image` (with its `{}` config) to `repo` and the `.sig` manifest for it; returns the
/// image reference by digest.
async fn push(
    registry: &Registry,
    auth: (&str, &str),
    repo: &str,
    image: &[u8],
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<String, String> {
    let pusher = Pusher::new(registry, repo, Some(auth), None)?;
    let config = pusher.blob(b"{}").await?;
    let pushed = pusher.manifest("interop", OCI_MANIFEST, image).await?;
    let payload_digest = pusher.blob(payload).await?;
    let sig = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{
            "mediaType": SIMPLE_SIGNING,
            "digest": payload_digest,
            "size": payload.len(),
            "annotations": annotations,
        }],
    });
    let tag = format!("sha256-{}.sig", pushed.digest.hex());
    pusher.json(&tag, OCI_MANIFEST, &sig).await?;
    Ok(format!("{}/{repo}@{}", registry.host, pushed.digest))
}
