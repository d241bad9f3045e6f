//! A registry on 127.0.0.1 (wiremock) serving one image `acme/app` (tag `v1` and by digest),
//! optionally signed by the testkit's virtual Sigstore through the referrers API (and/or a
//! legacy `.sig` tag), with the
//! matching `trusted_root.json` in a temp dir. Used by the `verify` and `interrupt` tests.

use serde_json::json;
use trustpull_policy::{Digest, FulcioClaim};
use trustpull_testkit::sigstore::{legacy_manifest, SignRequest, VirtualSigstore};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The repository the image is in.
pub const REPO: &str = "acme/app";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The GitHub workflow claims the signature's certificate carries besides the testkit's
/// defaults (which include `github_workflow_repository` = `acme/backends`).
pub const WORKFLOW_CLAIMS: [(FulcioClaim, &str); 4] = [
    (FulcioClaim::GithubWorkflowRef, "refs/heads/main"),
    (
        FulcioClaim::GithubWorkflowSha,
        "0123456789abcdef0123456789abcdef01234567",
    ),
    (FulcioClaim::GithubWorkflowName, "release"),
    (FulcioClaim::GithubWorkflowTrigger, "push"),
];

/// What the image is made of.
pub struct Image<'a> {
    /// The config blob.
    pub config: &'a [u8],
    /// The layer blobs (gzip tars), in order.
    pub layers: &'a [&'a [u8]],
    /// Attach a signature (a referrer through the referrers API).
    pub signed: bool,
    /// The referrers API answers this status instead (e.g. 503).
    pub referrers_status: Option<u16>,
    /// Attach a legacy cosign signature (the `sha256-<hex>.sig` tag).
    pub legacy: bool,
    /// Attach an attestation of this predicate type (a DSSE bundle referrer).
    pub attested: Option<&'a str>,
}

/// The running registry.
pub struct Registry {
    /// The wiremock server.
    pub server: MockServer,
    /// Holds `trusted_root.json` (and serves as an empty `DOCKER_CONFIG`).
    pub dir: tempfile::TempDir,
    /// The image manifest's digest.
    pub digest: Digest,
}

impl Registry {
    /// `trustpull GLOBAL… pull HOST/acme/app@DIGEST --plain-http --dest DEST EXTRA…`, with this
    /// registry's trust root, the signer's identity and issuer, and its empty `DOCKER_CONFIG`;
    /// not started. `host` is the registry's address or a proxy's in front of it.
    pub fn pull_command(
        &self,
        host: &str,
        dest: &std::path::Path,
        global: &[&str],
        extra: &[&str],
    ) -> std::process::Command {
        use trustpull_testkit::sigstore::{IDENTITY as SIGNER, ISSUER as SIGNER_ISSUER};
        let image = format!("{host}/{REPO}@{}", self.digest);
        let root = self.dir.path().join("trusted_root.json");
        let mut args = global.to_vec();
        args.extend([
            "pull",
            &image,
            "--plain-http",
            "--dest",
            dest.to_str().expect("UTF-8 path"),
            "--trusted-root",
            root.to_str().expect("UTF-8 path"),
            "--certificate-identity",
            SIGNER,
            "--certificate-oidc-issuer",
            SIGNER_ISSUER,
        ]);
        args.extend(extra);
        let mut command = crate::trustpull_command(&args);
        command.env("DOCKER_CONFIG", self.dir.path());
        command
    }
}

async fn mount(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Starts a registry serving `image`.
pub async fn start(image: Image<'_>) -> Registry {
    let server = MockServer::start().await;
    let sigstore = VirtualSigstore::new();
    let layers: Vec<_> = image
        .layers
        .iter()
        .map(|l| json!({"mediaType": LAYER_GZIP, "digest": Digest::of(l), "size": l.len()}))
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(image.config), "size": image.config.len()},
        "layers": layers,
    }))
    .expect("JSON encodes");
    let digest = Digest::of(&manifest);
    let v2 = format!("/v2/{REPO}");
    for reference in ["v1".to_owned(), digest.to_string()] {
        let body = ResponseTemplate::new(200).set_body_raw(manifest.clone(), OCI_MANIFEST);
        mount(&server, &format!("{v2}/manifests/{reference}"), body).await;
    }
    let mut blobs: Vec<Vec<u8>> = vec![image.config.to_vec()];
    blobs.extend(image.layers.iter().map(|l| l.to_vec()));
    let mut descriptors = Vec::new();
    let mut requests = Vec::new();
    if image.signed {
        let mut request = SignRequest::dsse(digest.clone());
        request
            .claims
            .extend(WORKFLOW_CLAIMS.map(|(c, v)| (c, v.to_owned())));
        requests.push(request);
    }
    if let Some(predicate_type) = image.attested {
        requests.push(SignRequest {
            predicate_type: predicate_type.to_owned(),
            ..SignRequest::dsse(digest.clone())
        });
    }
    for request in &requests {
        let bundle = sigstore.sign(request);
        let referrer = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}"), "size": 2},
            "layers": [{"mediaType": BUNDLE, "digest": Digest::of(&bundle), "size": bundle.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len()},
        }))
        .expect("JSON encodes");
        let referrer_digest = Digest::of(&referrer);
        descriptors.push(json!({"mediaType": OCI_MANIFEST, "digest": referrer_digest, "size": referrer.len(), "artifactType": BUNDLE}));
        let body = ResponseTemplate::new(200).set_body_raw(referrer, OCI_MANIFEST);
        mount(&server, &format!("{v2}/manifests/{referrer_digest}"), body).await;
        blobs.push(bundle);
    }
    if image.legacy {
        let signature = sigstore.sign_legacy(&SignRequest::message(digest.clone()));
        let (sig_manifest, payloads) = legacy_manifest(&[signature]);
        let body = ResponseTemplate::new(200).set_body_raw(sig_manifest, OCI_MANIFEST);
        mount(
            &server,
            &format!("{v2}/manifests/sha256-{}.sig", digest.hex()),
            body,
        )
        .await;
        blobs.extend(payloads.into_iter().map(|(_, b)| b));
    }
    for blob in blobs {
        let at = format!("{v2}/blobs/{}", Digest::of(&blob));
        mount(
            &server,
            &at,
            ResponseTemplate::new(200).set_body_bytes(blob),
        )
        .await;
    }
    let referrers = match image.referrers_status {
        Some(status) => ResponseTemplate::new(status)
            .set_body_json(json!({"errors": [{"code": "UNAVAILABLE", "message": "maintenance"}]})),
        None => ResponseTemplate::new(200).set_body_raw(
            serde_json::to_vec(
                &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}),
            )
            .expect("JSON encodes"),
            OCI_INDEX,
        ),
    };
    mount(&server, &format!("{v2}/referrers/{digest}"), referrers).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(
        dir.path().join("trusted_root.json"),
        sigstore.trusted_root_json(),
    )
    .expect("the temp dir is writable");
    Registry {
        server,
        dir,
        digest,
    }
}

/// A registry serving the offline demo image's config and first layer (a real gzip layer),
/// signed; returns it and the layer's bytes.
pub async fn start_with_demo_layer() -> (Registry, Vec<u8>) {
    let demo = crate::examples().join("demo-image");
    let manifest = demo_manifest(&demo);
    let layer = demo_blob(&demo, &manifest["layers"][0]["digest"]);
    let registry = start_with_layer(&layer).await;
    (registry, layer)
}

/// A registry serving a signed image of the offline demo image's config and `layer` (a gzip
/// tar), e.g. one made to fill a disk.
pub async fn start_with_layer(layer: &[u8]) -> Registry {
    let demo = crate::examples().join("demo-image");
    let config = demo_blob(&demo, &demo_manifest(&demo)["config"]["digest"]);
    start(Image {
        config: &config,
        layers: &[layer],
        signed: true,
        referrers_status: None,
        legacy: false,
        attested: None,
    })
    .await
}

/// The blob of `digest` (a JSON string) in the demo layout at `demo`.
fn demo_blob(demo: &std::path::Path, digest: &serde_json::Value) -> Vec<u8> {
    let hex = digest.as_str().unwrap().strip_prefix("sha256:").unwrap();
    std::fs::read(demo.join("blobs/sha256").join(hex)).unwrap()
}

/// The image manifest tagged v1 in the demo layout at `demo`.
fn demo_manifest(demo: &std::path::Path) -> serde_json::Value {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(demo.join("index.json")).unwrap()).unwrap();
    let v1 = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
        .unwrap();
    serde_json::from_slice(&demo_blob(demo, &v1["digest"])).unwrap()
}
