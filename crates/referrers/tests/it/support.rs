//! Fixture builders: referrer manifests, indexes, and a registry mock wired to a client.

use serde_json::{json, Value};
use trustpull_policy::Digest;
use trustpull_referrers::{
    Discovery, DiscoveryOptions, Limits, RegistryClient, RegistryError, Repository,
    SignatureBundle, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, SIGSTORE_BUNDLE_V03,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The repository every test uses.
pub const REPO: &str = "acme/app";

/// A test registry plus a client that talks plain HTTP to it, without backoff waits.
pub struct Registry {
    pub server: MockServer,
    pub client: RegistryClient,
    pub repo: Repository,
}

impl Registry {
    pub async fn start() -> Self {
        Self::start_with(Limits::without_backoff()).await
    }

    pub async fn start_with(limits: Limits) -> Self {
        let server = MockServer::start().await;
        let host = server.address().to_string();
        let client = RegistryClient::builder()
            .plain_http_host(host.clone())
            .limits(limits)
            .build()
            .unwrap();
        let repo = Repository::new(&host, REPO).unwrap();
        Self {
            server,
            client,
            repo,
        }
    }

    /// Serves `bytes` as manifest `reference` (a digest or tag) with `media_type`.
    pub async fn manifest(&self, reference: &str, bytes: &[u8], media_type: &str) {
        Mock::given(method("GET"))
            .and(path(format!("/v2/{REPO}/manifests/{reference}")))
            .respond_with(ResponseTemplate::new(200).set_body_raw(bytes.to_vec(), media_type))
            .mount(&self.server)
            .await;
    }

    /// Serves `bytes` as blob `digest`.
    pub async fn blob(&self, digest: &Digest, bytes: &[u8]) {
        Mock::given(method("GET"))
            .and(path(format!("/v2/{REPO}/blobs/{digest}")))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(bytes.to_vec(), "application/octet-stream"),
            )
            .mount(&self.server)
            .await;
    }

    /// Answers `status` on the referrers endpoint for `subject`.
    pub async fn referrers_status(&self, subject: &Digest, status: u16) {
        self.referrers(
            subject,
            ResponseTemplate::new(status)
                .set_body_json(error_body("NAME_UNKNOWN", "no referrers api here")),
        )
        .await;
    }

    /// Answers `response` on the referrers endpoint for `subject` (any query).
    pub async fn referrers(&self, subject: &Digest, response: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(referrers_path(subject)))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    /// Serves `descriptors` as the fallback tag `sha256-<hex>` index of `subject`.
    pub async fn fallback_index(&self, subject: &Digest, descriptors: Vec<Value>) {
        self.manifest(
            &format!("sha256-{}", subject.hex()),
            &index(descriptors),
            OCI_INDEX,
        )
        .await;
    }

    /// Discovers the signatures of `subject` at [`now`]; discovery must succeed.
    pub async fn discover(&self, subject: &Digest) -> Discovery {
        self.client
            .discover_signatures(&self.repo, subject, &DiscoveryOptions::at(now()))
            .await
            .unwrap()
    }

    /// Discovers the signatures of `subject` at [`now`]; discovery must fail.
    pub async fn discover_err(&self, subject: &Digest) -> RegistryError {
        self.client
            .discover_signatures(&self.repo, subject, &DiscoveryOptions::at(now()))
            .await
            .unwrap_err()
    }

    /// Fetches the bundle of referrer `manifest`, which must name `subject`.
    pub async fn fetch_bundle(
        &self,
        manifest: &Digest,
        subject: &Digest,
    ) -> Result<SignatureBundle, RegistryError> {
        self.client
            .fetch_signature_bundle(&self.repo, manifest, std::slice::from_ref(subject))
            .await
    }

    /// Serves a signature (referrer manifest + bundle blob) and returns it.
    pub async fn push_signature(&self, sig: &Signature) {
        self.manifest(sig.manifest_digest.as_str(), &sig.manifest, OCI_MANIFEST)
            .await;
        self.blob(&sig.bundle_digest, &sig.bundle).await;
    }

    /// How many requests the server saw whose path starts with `prefix`.
    pub async fn count(&self, prefix: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().starts_with(prefix))
            .count()
    }
}

pub fn error_body(code: &str, message: &str) -> Value {
    json!({"errors": [{"code": code, "message": message}]})
}

/// A cosign-style referrer: manifest bytes + digest, bundle bytes + digest.
#[derive(Clone)]
pub struct Signature {
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub bundle: Vec<u8>,
    pub bundle_digest: Digest,
    pub created: String,
}

/// Builds a referrer manifest for `subject` whose single layer is `bundle`.
pub fn signature(subject: &Digest, bundle: &[u8], created: &str) -> Signature {
    signature_with(
        subject,
        bundle,
        created,
        Some(SIGSTORE_BUNDLE_V03),
        SIGSTORE_BUNDLE_V03,
    )
}

pub fn signature_with(
    subject: &Digest,
    bundle: &[u8],
    created: &str,
    artifact_type: Option<&str>,
    layer_type: &str,
) -> Signature {
    let bundle_digest = Digest::of(bundle);
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_EMPTY, "digest": Digest::of(b"{}").to_string(), "size": 2},
        "layers": [{"mediaType": layer_type, "digest": bundle_digest.to_string(), "size": bundle.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.to_string(), "size": 100},
        "annotations": {"org.opencontainers.image.created": created}
    });
    if let Some(t) = artifact_type {
        manifest["artifactType"] = json!(t);
    }
    let manifest = serde_json::to_vec(&manifest).unwrap();
    Signature {
        manifest_digest: Digest::of(&manifest),
        manifest,
        bundle: bundle.to_vec(),
        bundle_digest,
        created: created.to_owned(),
    }
}

/// The descriptor of `sig` as a referrers index lists it.
pub fn descriptor(sig: &Signature, artifact_type: Option<&str>) -> Value {
    let mut d = json!({
        "mediaType": OCI_MANIFEST,
        "digest": sig.manifest_digest.to_string(),
        "size": sig.manifest.len(),
        "annotations": {"org.opencontainers.image.created": sig.created}
    });
    if let Some(t) = artifact_type {
        d["artifactType"] = json!(t);
    }
    d
}

/// The descriptor of `sig` typed as a Sigstore bundle.
pub fn bundle_descriptor(sig: &Signature) -> Value {
    descriptor(sig, Some(SIGSTORE_BUNDLE_V03))
}

/// `sig` with its manifest edited by `edit` (and its digest recomputed).
pub fn edited(mut sig: Signature, edit: impl FnOnce(&mut Value)) -> Signature {
    let mut v: Value = serde_json::from_slice(&sig.manifest).unwrap();
    edit(&mut v);
    sig.manifest = serde_json::to_vec(&v).unwrap();
    sig.manifest_digest = Digest::of(&sig.manifest);
    sig
}

/// The path of the referrers endpoint for `subject`.
pub fn referrers_path(subject: &Digest) -> String {
    format!("/v2/{REPO}/referrers/{subject}")
}

/// A 200 answer with the index of `descriptors`.
pub fn index_response(descriptors: Vec<Value>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(index(descriptors), OCI_INDEX)
}

pub fn index(descriptors: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}),
    )
    .unwrap()
}

/// The time every discovery in these tests runs at: after every fixture's `created` date
/// unless a test dates one in the future on purpose.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

/// The digest of a made-up image manifest.
pub fn subject() -> Digest {
    Digest::of(b"the image manifest")
}

pub fn bundle_json(n: u32) -> Vec<u8> {
    format!(r#"{{"mediaType":"{SIGSTORE_BUNDLE_V03}","n":{n}}}"#).into_bytes()
}
