//! Pushes images and cosign-style signatures to a registry with the OCI distribution API
//! (monolithic blob uploads), for `cargo xtask e2e`.
//!
//! A signature is written from the OCI distribution spec 1.1: a referrer manifest with
//! `artifactType` = the Sigstore bundle type, the empty config, one bundle layer and a
//! `subject`, pushed by digest; then the fallback index under the `sha256-<hex>` tag, since
//! distribution 2.8 has no referrers API. The pusher remembers what each fallback index lists,
//! so several signatures of one subject end up in the same index.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use trustpull_policy::Digest;
use trustpull_testkit::sigstore::{SignRequest, VirtualSigstore};

use crate::registry::Registry;

/// An OCI gzip tar layer.
pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Sigstore bundle, as artifact and layer media type.
pub const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// When signatures are dated unless a case needs another time.
pub const SIGNED_AT: &str = "2026-03-01T12:00:00Z";

/// Pushes blobs and manifests into one repository of one registry.
pub struct Pusher {
    http: reqwest::Client,
    base: String,
    repo: String,
    authorization: Option<String>,
    /// What each `sha256-<hex>` fallback index lists so far, by the digest it is named after.
    fallback: Mutex<BTreeMap<Digest, Vec<Value>>>,
}

/// A pushed manifest, for descriptors and cases to refer to.
#[derive(Clone)]
pub struct Pushed {
    /// The manifest digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: &'static str,
    /// Its size in bytes.
    pub size: usize,
}

/// A gzip-compressed tar of regular files (mode 0644).
pub fn gzip_tar(files: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
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

/// `resp` when it has `status`; otherwise an error naming `what`, the status and the body.
async fn expect(
    resp: reqwest::Response,
    status: u16,
    what: &str,
) -> Result<reqwest::Response, String> {
    if resp.status().as_u16() == status {
        return Ok(resp);
    }
    Err(format!(
        "{what}: HTTP {}: {}",
        resp.status(),
        resp.text().await.unwrap_or_default()
    ))
}

impl Pusher {
    /// A pusher for `repo` on `registry` (HTTPS trusting `ca` when it serves TLS), with basic
    /// auth when given.
    pub fn new(
        registry: &Registry,
        repo: &str,
        auth: Option<(&str, &str)>,
        ca: Option<&Path>,
    ) -> Result<Self, String> {
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(ca) = ca.filter(|_| registry.tls) {
            let pem = std::fs::read(ca).map_err(|e| format!("read {}: {e}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("CA: {e}"))?;
            http = http.tls_certs_merge([cert]);
        }
        let http = http.build().map_err(|e| format!("http client: {e}"))?;
        let authorization = auth.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let scheme = if registry.tls { "https" } else { "http" };
        Ok(Self {
            http,
            base: format!("{scheme}://{}", registry.host),
            repo: repo.to_owned(),
            authorization,
            fallback: Mutex::new(BTreeMap::new()),
        })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.authorization {
            Some(a) => r.header("authorization", a),
            None => r,
        }
    }

    /// Uploads a blob; returns its digest.
    pub async fn blob(&self, bytes: &[u8]) -> Result<Digest, String> {
        let digest = Digest::of(bytes);
        let start = self
            .request(
                reqwest::Method::POST,
                &format!("{}/v2/{}/blobs/uploads/", self.base, self.repo),
            )
            .send()
            .await
            .map_err(|e| format!("start upload: {e}"))?;
        let start = expect(start, 202, "start upload").await?;
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or("upload without Location")?
            .to_owned();
        let mut url = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let put = self
            .request(reqwest::Method::PUT, &url)
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| format!("upload {digest}: {e}"))?;
        expect(put, 201, &format!("upload {digest}")).await?;
        Ok(digest)
    }

    /// Puts a manifest under `reference` (a tag or its digest).
    pub async fn manifest(
        &self,
        reference: &str,
        media_type: &'static str,
        bytes: &[u8],
    ) -> Result<Pushed, String> {
        let resp = self
            .request(
                reqwest::Method::PUT,
                &format!("{}/v2/{}/manifests/{reference}", self.base, self.repo),
            )
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| format!("put manifest {reference}: {e}"))?;
        expect(resp, 201, &format!("put manifest {reference}")).await?;
        Ok(Pushed {
            digest: Digest::of(bytes),
            media_type,
            size: bytes.len(),
        })
    }

    /// Puts `value` as JSON under `reference`.
    pub async fn json(
        &self,
        reference: &str,
        media_type: &'static str,
        value: &Value,
    ) -> Result<Pushed, String> {
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        self.manifest(reference, media_type, &bytes).await
    }

    /// A linux/`arch` image under `tag`: a config and the given layers `(media type, bytes)`.
    pub async fn image_with_layers(
        &self,
        tag: &str,
        arch: &str,
        layers: &[(&str, &[u8])],
    ) -> Result<Pushed, String> {
        let config = serde_json::to_vec(&json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}))
            .map_err(|e| e.to_string())?;
        let config_digest = self.blob(&config).await?;
        let mut descriptors = Vec::new();
        for (media_type, bytes) in layers {
            let digest = self.blob(bytes).await?;
            descriptors
                .push(json!({"mediaType": media_type, "digest": digest, "size": bytes.len()}));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": descriptors,
        });
        self.json(tag, OCI_MANIFEST, &manifest).await
    }

    /// An image whose one (uncompressed tar media type) layer is a line of text.
    pub async fn image(&self, tag: &str, arch: &str, content: &str) -> Result<Pushed, String> {
        let layer = format!("e2e layer: {content}").into_bytes();
        self.image_with_layers(
            tag,
            arch,
            &[("application/vnd.oci.image.layer.v1.tar", &layer)],
        )
        .await
    }

    /// A cosign-style signature for `subject`: the referrer manifest (pushed by digest) and
    /// the fallback index `sha256-<hex of listed_under>` listing it (together with what that
    /// index already listed). `listed_type: None` writes the entry like older cosign fallback
    /// indexes did: no artifactType on the descriptor.
    pub async fn attach(
        &self,
        subject: &Pushed,
        bundle: &[u8],
        created: &str,
        listed_type: Option<&str>,
        listed_under: &Digest,
    ) -> Result<Digest, String> {
        self.blob(b"{}").await?;
        let bundle_digest = self.blob(bundle).await?;
        let referrer = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE,
            "config": {"mediaType": OCI_EMPTY, "digest": Digest::of(b"{}"), "size": 2, "data": "e30="},
            "layers": [{"mediaType": BUNDLE, "digest": bundle_digest, "size": bundle.len()}],
            "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
            "annotations": {"org.opencontainers.image.created": created},
        });
        let bytes = serde_json::to_vec(&referrer).map_err(|e| e.to_string())?;
        let pushed = self
            .manifest(Digest::of(&bytes).as_str(), OCI_MANIFEST, &bytes)
            .await?;
        let mut descriptor = json!({
            "mediaType": OCI_MANIFEST,
            "digest": pushed.digest,
            "size": pushed.size,
            "annotations": {"org.opencontainers.image.created": created},
        });
        if let Some(t) = listed_type {
            descriptor["artifactType"] = json!(t);
        }
        let entries = {
            let mut fallback = self
                .fallback
                .lock()
                .map_err(|_| "fallback index map poisoned".to_owned())?;
            let entries = fallback.entry(listed_under.clone()).or_default();
            entries.push(descriptor);
            entries.clone()
        };
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
        self.json(&format!("sha256-{}", listed_under.hex()), OCI_INDEX, &index)
            .await?;
        Ok(pushed.digest)
    }

    /// Signs `subject` with `sigstore` and attaches the bundle the usual way.
    pub async fn sign(
        &self,
        subject: &Pushed,
        sigstore: &VirtualSigstore,
    ) -> Result<Digest, String> {
        let bundle = sigstore.sign(&SignRequest::dsse(subject.digest.clone()));
        self.attach(subject, &bundle, SIGNED_AT, Some(BUNDLE), &subject.digest)
            .await
    }
}
