//! `cargo xtask e2e-pull`: `trustpull pull` against Debian's `docker-registry` (distribution
//! 2.8, no referrers API: signatures are found through the `sha256-<hex>` fallback tag) on
//! 127.0.0.1, with a generated config and temporary storage.
//!
//! Cases: a signed image with the right identity installs (exit 0); the wrong identity is
//! refused (exit 1) and nothing is written; an unsigned image installs only through
//! `NoopVerifier` (in-process) and is refused by `trustpull pull` (exit 1); a layer blob
//! overwritten inside the registry's storage is refused (exit 1) with nothing written.
//! Needs `docker-registry` (`apt-get install -y docker-registry`).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use trustpull_policy::Digest;
use trustpull_testkit::sigstore::{SignRequest, VirtualSigstore, IDENTITY, ISSUER};

use crate::bench_downloader::start_registry;
use crate::util;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

struct Push {
    http: reqwest::Client,
    base: String,
    repo: String,
}

impl Push {
    async fn blob(&self, bytes: &[u8]) -> Result<Value, String> {
        let digest = Digest::of(bytes);
        let start = self
            .http
            .post(format!("{}/v2/{}/blobs/uploads/", self.base, self.repo))
            .send()
            .await
            .map_err(|e| format!("start upload: {e}"))?;
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                format!(
                    "upload start answered HTTP {} without Location",
                    start.status()
                )
            })?
            .to_owned();
        let mut url = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let put = self
            .http
            .put(url)
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| format!("upload: {e}"))?;
        if put.status().as_u16() != 201 {
            return Err(format!("upload {digest}: HTTP {}", put.status()));
        }
        Ok(json!({"digest": digest, "size": bytes.len()}))
    }

    async fn manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), String> {
        let put = self
            .http
            .put(format!(
                "{}/v2/{}/manifests/{reference}",
                self.base, self.repo
            ))
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| format!("put manifest: {e}"))?;
        if put.status().as_u16() != 201 {
            return Err(format!(
                "put manifest {reference}: HTTP {}: {}",
                put.status(),
                put.text().await.unwrap_or_default()
            ));
        }
        Ok(())
    }
}

fn gzip_tar(files: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, *data)
            .map_err(|e| format!("tar: {e}"))?;
    }
    let tar = builder.into_inner().map_err(|e| format!("tar: {e}"))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).map_err(|e| format!("gzip: {e}"))?;
    gz.finish().map_err(|e| format!("gzip: {e}"))
}

/// Pushes a one-layer image tagged `tag`; when `sigstore` is given, also its signature as a
/// referrer and the `sha256-<hex>` fallback index. Returns (manifest digest, layer digest).
async fn push_image(
    p: &Push,
    tag: &str,
    content: &[u8],
    sigstore: Option<&VirtualSigstore>,
) -> Result<(Digest, Digest), String> {
    let mut config = p.blob(br#"{"architecture":"amd64","os":"linux"}"#).await?;
    config["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    let layer_bytes = gzip_tar(&[("app/content.txt", content)])?;
    let mut layer = p.blob(&layer_bytes).await?;
    layer["mediaType"] = json!(LAYER);
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}))
        .map_err(|e| e.to_string())?;
    p.manifest(tag, OCI_MANIFEST, &manifest).await?;
    let digest = Digest::of(&manifest);
    if let Some(sigstore) = sigstore {
        let bundle = sigstore.sign(&SignRequest::dsse(digest.clone()));
        let mut bundle_desc = p.blob(&bundle).await?;
        bundle_desc["mediaType"] = json!(BUNDLE);
        let mut empty = p.blob(b"{}").await?;
        empty["mediaType"] = json!("application/vnd.oci.empty.v1+json");
        let referrer = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE, "config": empty,
            "layers": [bundle_desc],
            "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len()},
        }))
        .map_err(|e| e.to_string())?;
        let referrer_digest = Digest::of(&referrer);
        p.manifest(referrer_digest.as_str(), OCI_MANIFEST, &referrer)
            .await?;
        let fallback = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": referrer_digest, "size": referrer.len(), "artifactType": BUNDLE}]}))
        .map_err(|e| e.to_string())?;
        p.manifest(&format!("sha256-{}", digest.hex()), OCI_INDEX, &fallback)
            .await?;
    }
    Ok((digest, Digest::of(&layer_bytes)))
}

/// Runs `trustpull pull`; returns its exit code.
fn pull(bin: &Path, image: &str, dest: &Path, root: &Path, identity: &str) -> Result<i32, String> {
    let out = Command::new(bin)
        .args([
            "pull",
            image,
            "--plain-http",
            "--platform",
            "linux/amd64",
            "--dest",
        ])
        .arg(dest)
        .arg("--trusted-root")
        .arg(root)
        .args([
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            ISSUER,
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        eprintln!(
            "    stderr: {}",
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', "\n            ")
        );
    }
    out.status
        .code()
        .ok_or_else(|| "trustpull was killed by a signal".to_owned())
}

/// Entry point: `cargo xtask e2e-pull`.
pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!(
            "`cargo xtask e2e-pull` takes no arguments, got {extra:?}"
        ));
    }
    util::run(util::cargo().args(["build", "-q", "-p", "trustpull", "--bin", "trustpull"]))?;
    let bin = util::built_binary("debug", "trustpull");
    let work = tempfile::Builder::new()
        .prefix("trustpull-e2e-pull-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let registry = start_registry(&work.path().join("registry"))?;
    let sigstore = VirtualSigstore::new();
    let root = work.path().join("trusted_root.json");
    std::fs::write(&root, sigstore.trusted_root_json())
        .map_err(|e| format!("trusted root: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let push = Push {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("http: {e}"))?,
        base: format!("http://{}", registry.host),
        repo: "e2e/pull".to_owned(),
    };
    let (_, _) = runtime.block_on(push_image(
        &push,
        "signed",
        b"signed content",
        Some(&sigstore),
    ))?;
    let (unsigned, _) =
        runtime.block_on(push_image(&push, "unsigned", b"unsigned content", None))?;
    let (_, tampered_layer) = runtime.block_on(push_image(
        &push,
        "tampered",
        b"tampered content",
        Some(&sigstore),
    ))?;
    let image = |tag: &str| format!("{}/{}:{tag}", registry.host, push.repo);

    let mut failures = Vec::new();
    let mut check = |name: &str, ok: bool| {
        eprintln!("e2e-pull: {} {name}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures.push(name.to_owned());
        }
    };
    let nothing_at = |dest: &Path| {
        !dest.exists()
            && std::fs::read_dir(work.path().join("out"))
                .map(|d| d.count() == 0)
                .unwrap_or(true)
    };

    let dest = work.path().join("out/signed");
    let code = pull(&bin, &image("signed"), &dest, &root, IDENTITY)?;
    check(
        "signed image, right identity: installed (exit 0)",
        code == 0
            && std::fs::read(dest.join("app/content.txt")).ok().as_deref()
                == Some(&b"signed content"[..]),
    );
    let _ = std::fs::remove_dir_all(work.path().join("out"));

    let dest = work.path().join("out/wrong");
    let code = pull(
        &bin,
        &image("signed"),
        &dest,
        &root,
        "https://github.com/evil/x/.github/workflows/r.yml@refs/heads/main",
    )?;
    check(
        "signed image, wrong identity: refused (exit 1), nothing written",
        code == 1 && nothing_at(&dest),
    );

    let dest = work.path().join("out/unsigned");
    let code = pull(&bin, &image("unsigned"), &dest, &root, IDENTITY)?;
    check(
        "unsigned image: refused by trustpull pull (exit 1), nothing written",
        code == 1 && nothing_at(&dest),
    );

    let installed = runtime.block_on(async {
        use trustpull_downloader::{Downloader, Platform};
        let client = trustpull_referrers::RegistryClient::builder()
            .plain_http_host(registry.host.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let downloader = Downloader::builder()
            .client(client)
            .verifier(Arc::new(trustpull_verifier::NoopVerifier::new(
                "e2e: unsigned on purpose",
            )))
            .platform(Platform::new("linux", "amd64"))
            .build()
            .map_err(|e| e.to_string())?;
        let dest = work.path().join("noop");
        let outcome = downloader
            .pull(&image("unsigned"), &dest)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<bool, String>(
            outcome.digest == unsigned
                && matches!(
                    outcome.verification,
                    trustpull_verifier::Verification::Unverified { .. }
                )
                && std::fs::read(dest.join("app/content.txt")).ok().as_deref()
                    == Some(&b"unsigned content"[..]),
        )
    })?;
    check(
        "unsigned image with NoopVerifier: installed, reported unverified",
        installed,
    );

    // Overwrite the layer inside the registry's storage: same digest path, other bytes.
    let data = work
        .path()
        .join("registry/storage/docker/registry/v2/blobs/sha256")
        .join(&tampered_layer.hex()[..2])
        .join(tampered_layer.hex())
        .join("data");
    let mut bytes = std::fs::read(&data).map_err(|e| format!("read {}: {e}", data.display()))?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, bytes).map_err(|e| format!("write {}: {e}", data.display()))?;
    let dest = work.path().join("out/tampered");
    let code = pull(&bin, &image("tampered"), &dest, &root, IDENTITY)?;
    check(
        "layer overwritten in registry storage: refused (exit 1), nothing written",
        code == 1 && nothing_at(&dest),
    );

    drop(registry);
    if failures.is_empty() {
        eprintln!("e2e-pull: all cases passed");
        Ok(())
    } else {
        Err(format!(
            "{} e2e-pull case(s) failed: {}",
            failures.len(),
            failures.join("; ")
        ))
    }
}
