//! Legacy cosign signatures through the real sources: `CosignVerifier` over `RegistrySource`
//! (a wiremock registry on 127.0.0.1 without a referrers API, the common case on
//! distribution 2.8) and `LayoutSource`. Request counts, outages, `formats:`, old-format
//! referrers, and a byte-flip mutation run over the `.sig` manifest and its annotations.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use trustpull_downloader::RegistrySource;
use trustpull_policy::{Digest, PolicySpec, SignatureFormat, TrustPolicy};
use trustpull_referrers::{ImageReference, Limits, RegistryClient};
use trustpull_testkit::sigstore::{
    default_spec, legacy_manifest, San, SignRequest, VirtualSigstore,
};
use trustpull_verifier::{
    CosignVerifier, ImageSubject, ImageVerifier, LegacySignature, SignatureSourceError,
    Verification, VerifyError, ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_RFC3161,
    ANNOTATION_SIGNATURE,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO: &str = "acme/app";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Blobs served by digest.
type Blobs = Vec<(Digest, Vec<u8>)>;
/// A referrer: its descriptor in the referrers index, its manifest and its blobs.
type Referrer = (Value, Vec<u8>, Blobs);

fn image_digest() -> Digest {
    Digest::of(b"a legacy-signed image manifest")
}

fn subject(server: &MockServer) -> ImageSubject {
    ImageSubject::new(
        server.address().to_string(),
        REPO,
        image_digest(),
        OCI_MANIFEST,
    )
}

fn verifier(sigstore: &VirtualSigstore, spec: PolicySpec) -> CosignVerifier {
    CosignVerifier::new(
        Arc::new(TrustPolicy::new(spec).expect("valid policy")),
        Arc::new(sigstore.trust_root()),
    )
}

fn source(server: &MockServer) -> RegistrySource {
    let client = RegistryClient::builder()
        .plain_http_host(server.address().to_string())
        .limits(Limits::without_backoff())
        .build()
        .expect("client");
    let image: ImageReference = format!("{}/{REPO}@{}", server.address(), image_digest())
        .parse()
        .expect("reference");
    RegistrySource::new(client, image)
}

/// Mounts `GET at` answering `response`, expected `times` times when given (checked when the
/// server drops).
async fn mount(server: &MockServer, at: &str, response: ResponseTemplate, times: Option<u64>) {
    let mock = Mock::given(method("GET"))
        .and(path(at))
        .respond_with(response);
    match times {
        Some(times) => mock.expect(times).mount(server).await,
        None => mock.mount(server).await,
    }
}

/// Serves `blobs` by digest (not counted).
async fn serve_blobs(server: &MockServer, blobs: &[(Digest, Vec<u8>)]) {
    for (d, bytes) in blobs {
        mount(server, &format!("/v2/{REPO}/blobs/{d}"), blob(bytes), None).await;
    }
}

/// A legacy signature over [`image_digest`] by `sigstore`'s default signer.
fn good(sigstore: &VirtualSigstore) -> LegacySignature {
    sigstore.sign_legacy(&SignRequest::message(image_digest()))
}

/// `sigstore`'s verifier under `spec`, asked about the image on `server`.
async fn verify_on(
    sigstore: &VirtualSigstore,
    spec: PolicySpec,
    server: &MockServer,
) -> Result<Verification, VerifyError> {
    verifier(sigstore, spec)
        .verify(&subject(server), &source(server))
        .await
}

fn blob(bytes: &[u8]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(bytes.to_vec(), "application/octet-stream")
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"errors": [{"code": "MANIFEST_UNKNOWN"}]}))
}

/// The registry without a referrers API: the referrers endpoint and the referrers tag both 404,
/// the legacy tag `sha256-<hex>.<suffix>` (`sig` or `att`) answers `answer`, and `blobs` are
/// served. With `tag_times`, the legacy tag must be asked that often and each discovery
/// endpoint once; without, nothing is counted (a server reused across runs).
async fn legacy_registry_with(
    server: &MockServer,
    suffix: &str,
    blobs: &[(Digest, Vec<u8>)],
    answer: ResponseTemplate,
    tag_times: Option<u64>,
) {
    let hex = image_digest().hex().to_owned();
    let v2 = format!("/v2/{REPO}");
    let once = tag_times.map(|_| 1);
    let referrers = format!("{v2}/referrers/{}", image_digest());
    mount(server, &referrers, not_found(), once).await;
    let referrers_tag = format!("{v2}/manifests/sha256-{hex}");
    mount(server, &referrers_tag, not_found(), once).await;
    let legacy_tag = format!("{v2}/manifests/sha256-{hex}.{suffix}");
    mount(server, &legacy_tag, answer, tag_times).await;
    serve_blobs(server, blobs).await;
}

/// [`legacy_registry_with`] for the `.sig` tag, asked `sig_times`.
async fn legacy_registry(
    server: &MockServer,
    blobs: &[(Digest, Vec<u8>)],
    sig: ResponseTemplate,
    sig_times: u64,
) {
    legacy_registry_with(server, "sig", blobs, sig, Some(sig_times)).await;
}

fn sig_manifest(manifest: &[u8]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(manifest.to_vec(), OCI_MANIFEST)
}

#[tokio::test]
async fn a_sig_tag_verifies_in_four_requests_on_a_registry_without_referrers() {
    let sigstore = VirtualSigstore::new();
    let (manifest, blobs) = legacy_manifest(&[good(&sigstore)]);
    let server = MockServer::start().await;
    legacy_registry(&server, &blobs, sig_manifest(&manifest), 1).await;
    let got = verify_on(&sigstore, default_spec(), &server).await;
    assert!(
        matches!(&got, Ok(Verification::Verified(r)) if r.format() == SignatureFormat::Legacy && r.referrer() == Some(&Digest::of(&manifest))),
        "{got:?}"
    );
    // referrers API + referrers tag (bundles) + `.sig` tag + one payload blob.
    assert_eq!(server.received_requests().await.expect("recorded").len(), 4);
}

#[tokio::test]
async fn a_docker_v2_sig_manifest_is_accepted() {
    let sigstore = VirtualSigstore::new();
    let (manifest, blobs) = legacy_manifest(&[good(&sigstore)]);
    let mut docker: Value = serde_json::from_slice(&manifest).expect("JSON");
    docker["mediaType"] = json!("application/vnd.docker.distribution.manifest.v2+json");
    let docker = serde_json::to_vec(&docker).expect("JSON");
    let server = MockServer::start().await;
    let answer = ResponseTemplate::new(200).set_body_raw(
        docker.clone(),
        "application/vnd.docker.distribution.manifest.v2+json",
    );
    legacy_registry(&server, &blobs, answer, 1).await;
    let got = verify_on(&sigstore, default_spec(), &server).await;
    assert!(matches!(got, Ok(Verification::Verified(_))), "{got:?}");
}

#[tokio::test]
async fn a_sig_tag_answering_500_is_unavailable() {
    let sigstore = VirtualSigstore::new();
    let server = MockServer::start().await;
    legacy_registry(&server, &[], ResponseTemplate::new(500), 1).await;
    let got = verify_on(&sigstore, default_spec(), &server).await;
    assert!(
        matches!(
            &got,
            Err(VerifyError::Unavailable {
                source: SignatureSourceError::Unavailable {
                    status: Some(500),
                    ..
                },
                ..
            })
        ),
        "{got:?}"
    );
}

#[tokio::test]
async fn no_sig_tag_is_no_legacy_signature() {
    let sigstore = VirtualSigstore::new();
    let server = MockServer::start().await;
    legacy_registry(&server, &[], not_found(), 1).await;
    let got = verify_on(&sigstore, default_spec(), &server).await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if r.candidates.is_empty()),
        "{got:?}"
    );
}

#[tokio::test]
async fn formats_bundle_never_fetches_the_sig_tag() {
    let sigstore = VirtualSigstore::new();
    let (manifest, blobs) = legacy_manifest(&[good(&sigstore)]);
    let server = MockServer::start().await;
    legacy_registry(&server, &blobs, sig_manifest(&manifest), 0).await;
    let spec = PolicySpec {
        formats: Some(vec![SignatureFormat::Bundle]),
        ..default_spec()
    };
    let got = verify_on(&sigstore, spec, &server).await;
    assert!(
        matches!(&got, Err(VerifyError::Rejected(r)) if r.candidates.is_empty()),
        "{got:?}"
    );
}

/// A referrers API listing `referrers`, each referrer manifest and blob served; the `.sig` tag
/// answers `sig` (asked `sig_times`) and `sig_blobs` (its payloads) are served.
async fn referrers_registry(
    server: &MockServer,
    referrers: &[Referrer],
    sig: ResponseTemplate,
    sig_blobs: &[(Digest, Vec<u8>)],
    sig_times: u64,
) {
    let v2 = format!("/v2/{REPO}");
    let descriptors: Vec<Value> = referrers.iter().map(|(d, _, _)| d.clone()).collect();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors});
    mount(
        server,
        &format!("{v2}/referrers/{}", image_digest()),
        ResponseTemplate::new(200)
            .set_body_raw(serde_json::to_vec(&index).expect("JSON"), OCI_INDEX),
        Some(1),
    )
    .await;
    for (d, manifest, blobs) in referrers {
        let digest = d["digest"].as_str().expect("digest");
        let at = format!("{v2}/manifests/{digest}");
        mount(server, &at, sig_manifest(manifest), None).await;
        serve_blobs(server, blobs).await;
    }
    let hex = image_digest().hex().to_owned();
    let at = format!("{v2}/manifests/sha256-{hex}.sig");
    mount(server, &at, sig, Some(sig_times)).await;
    serve_blobs(server, sig_blobs).await;
}

fn bundle_referrer(bundle: &[u8]) -> Referrer {
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}"), "size": 2},
        "layers": [{"mediaType": BUNDLE, "digest": Digest::of(bundle), "size": bundle.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": image_digest(), "size": 10},
    }))
    .expect("JSON");
    let descriptor = json!({"mediaType": OCI_MANIFEST, "digest": Digest::of(&manifest), "size": manifest.len(), "artifactType": BUNDLE});
    (
        descriptor,
        manifest,
        vec![(Digest::of(bundle), bundle.to_vec())],
    )
}

#[tokio::test]
async fn a_passing_bundle_means_the_sig_tag_is_never_fetched() {
    let sigstore = VirtualSigstore::new();
    let bundle = sigstore.sign(&SignRequest::dsse(image_digest()));
    let server = MockServer::start().await;
    referrers_registry(&server, &[bundle_referrer(&bundle)], not_found(), &[], 0).await;
    let got = verify_on(&sigstore, default_spec(), &server).await;
    assert!(
        matches!(&got, Ok(Verification::Verified(r)) if r.format() == SignatureFormat::Bundle),
        "{got:?}"
    );
    // referrers API + referrer manifest + bundle blob.
    assert_eq!(server.received_requests().await.expect("recorded").len(), 3);
}

#[tokio::test]
async fn a_failing_bundle_then_a_passing_sig_tag_and_both_listed_on_rejection() {
    let sigstore = VirtualSigstore::new();
    let evil = |r: SignRequest| SignRequest {
        san: San::Email("mallory@evil.test".into()),
        ..r
    };
    let bundle = sigstore.sign(&evil(SignRequest::dsse(image_digest())));
    // A registry listing the bundle as a referrer and serving `legacy` under the `.sig` tag.
    let verify_with = |legacy: LegacySignature| {
        let (sigstore, bundle) = (&sigstore, &bundle);
        async move {
            let (manifest, blobs) = legacy_manifest(&[legacy]);
            let server = MockServer::start().await;
            let referrers = [bundle_referrer(bundle)];
            referrers_registry(&server, &referrers, sig_manifest(&manifest), &blobs, 1).await;
            verify_on(sigstore, default_spec(), &server).await
        }
    };
    let got = verify_with(good(&sigstore)).await;
    assert!(
        matches!(&got, Ok(Verification::Verified(r)) if r.format() == SignatureFormat::Legacy),
        "{got:?}"
    );

    let bad = sigstore.sign_legacy(&evil(SignRequest::message(image_digest())));
    let got = verify_with(bad).await;
    let Err(VerifyError::Rejected(r)) = got else {
        panic!("expected a rejection, got {got:?}")
    };
    let formats: Vec<SignatureFormat> = r.candidates.iter().map(|c| c.candidate.format()).collect();
    assert_eq!(formats, [SignatureFormat::Bundle, SignatureFormat::Legacy]);
}

#[tokio::test]
async fn an_old_format_referrer_is_a_legacy_candidate() {
    let sigstore = VirtualSigstore::new();
    let (manifest, blobs) = legacy_manifest(&[good(&sigstore)]);
    let mut referrer: Value = serde_json::from_slice(&manifest).expect("JSON");
    referrer["artifactType"] = json!("application/vnd.dev.cosign.artifact.sig.v1+json");
    referrer["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": image_digest(), "size": 10});
    let referrer = serde_json::to_vec(&referrer).expect("JSON");
    let descriptor = json!({
        "mediaType": OCI_MANIFEST,
        "digest": Digest::of(&referrer),
        "size": referrer.len(),
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
    });
    let server = MockServer::start().await;
    referrers_registry(
        &server,
        &[(descriptor, referrer.clone(), blobs)],
        not_found(),
        &[],
        1,
    )
    .await;
    let got = verify_on(&sigstore, default_spec(), &server).await;
    assert!(
        matches!(&got, Ok(Verification::Verified(r)) if r.format() == SignatureFormat::Legacy && r.referrer() == Some(&Digest::of(&referrer))),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_layout_with_a_sig_tag_verifies() {
    let sigstore = VirtualSigstore::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let digest = Digest::of(image);
    let signature = sigstore.sign_legacy(&SignRequest::message(digest.clone()));
    let (manifest, mut blobs) = legacy_manifest(&[signature]);
    blobs.push((Digest::of(&manifest), manifest.clone()));
    blobs.push((digest.clone(), image.to_vec()));
    std::fs::create_dir_all(root.join("blobs/sha256")).expect("mkdir");
    for (d, bytes) in &blobs {
        std::fs::write(root.join("blobs/sha256").join(d.hex()), bytes).expect("write");
    }
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write");
    let index = json!({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest, "size": image.len(), "annotations": {"org.opencontainers.image.ref.name": "v1"}},
        {"mediaType": OCI_MANIFEST, "digest": Digest::of(&manifest), "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": format!("sha256-{}.sig", digest.hex())}},
    ]});
    std::fs::write(
        root.join("index.json"),
        serde_json::to_vec(&index).expect("JSON"),
    )
    .expect("write");
    let layout = crate::support::layout_at(root, "v1");
    let subject = ImageSubject::new(
        "oci-layout",
        root.display().to_string(),
        digest,
        OCI_MANIFEST,
    );
    let got = verifier(&sigstore, default_spec())
        .verify(&subject, &layout)
        .await;
    assert!(
        matches!(&got, Ok(Verification::Verified(r)) if r.format() == SignatureFormat::Legacy),
        "{got:?}"
    );
}

/// Byte flips over every annotation that is read (decoded where base64 / PEM / JSON) and over
/// the `.sig` manifest's layers: at least 500 mutants, none accepted, none panicking. A flip
/// inside the `…/chain` annotation (ignored, see `verify_legacy`) or in an annotation key no
/// one reads changes nothing the verifier reads: such layer flips are recognised and not
/// counted.
#[tokio::test]
async fn no_mutant_of_the_sig_manifest_or_its_annotations_is_accepted() {
    let sigstore = VirtualSigstore::new();
    let good = good(&sigstore);
    let mut mutants: Vec<(Vec<u8>, Blobs)> = Vec::new();
    for signature in annotation_mutants(&good) {
        mutants.push(legacy_manifest(&[signature]));
    }
    let (manifest, blobs) = legacy_manifest(std::slice::from_ref(&good));
    // What the verifier reads of the manifest: each layer's type, digest, size and the
    // annotations it uses (not the chain, not unknown keys).
    let read_part = |bytes: &[u8]| -> Option<Value> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        let layers: Vec<Value> = v["layers"]
            .as_array()?
            .iter()
            .map(|l| {
                let used: BTreeMap<&str, &Value> = [
                    ANNOTATION_SIGNATURE,
                    ANNOTATION_CERTIFICATE,
                    ANNOTATION_BUNDLE,
                    ANNOTATION_RFC3161,
                ]
                .into_iter()
                .filter_map(|k| l["annotations"].get(k).map(|a| (k, a)))
                .collect();
                json!([l["mediaType"], l["digest"], l["size"], used])
            })
            .collect();
        Some(Value::Array(layers))
    };
    // The layers are what is read (the config of a signature manifest never is, and both OCI
    // and Docker manifest types are accepted): flip bytes across the `"layers":[…]` text.
    let text = String::from_utf8(manifest.clone()).expect("UTF-8");
    let start = text.find("\"layers\"").expect("layers");
    let end = text.rfind("],\"mediaType\"").expect("end of layers") + 1;
    let mut unread = 0;
    for i in spread(end - start, 400) {
        let mut m = manifest.clone();
        m[start + i] ^= 0x01;
        if read_part(&m).is_some() && read_part(&m) == read_part(&manifest) {
            unread += 1;
            continue;
        }
        mutants.push((m, blobs.clone()));
    }
    assert!(
        unread < 100,
        "{unread} flips landed in text that is not read"
    );
    // The payload itself, with the manifest naming the flipped bytes' digest.
    for i in spread(good.payload.len(), 40) {
        let mut s = good.clone();
        s.payload[i] ^= 0x01;
        mutants.push(legacy_manifest(&[s]));
    }
    assert!(mutants.len() >= 500, "only {} mutants", mutants.len());
    let verifier = verifier(&sigstore, default_spec());
    let server = MockServer::start().await;
    // The unmutated manifest passes through the same harness.
    serve_mutant(&server, &manifest, &blobs).await;
    let got = verifier.verify(&subject(&server), &source(&server)).await;
    assert!(matches!(got, Ok(Verification::Verified(_))), "{got:?}");
    for (n, (m, blobs)) in mutants.iter().enumerate() {
        serve_mutant(&server, m, blobs).await;
        let got = verifier.verify(&subject(&server), &source(&server)).await;
        assert!(
            !matches!(got, Ok(Verification::Verified(_))),
            "mutant {n} was accepted: {}",
            mutation(&manifest, m)
        );
    }
}

/// Where `mutant` differs from `good`, with some context.
fn mutation(good: &[u8], mutant: &[u8]) -> String {
    let at = good
        .iter()
        .zip(mutant)
        .position(|(a, b)| a != b)
        .unwrap_or(good.len().min(mutant.len()));
    let from = at.saturating_sub(60);
    format!(
        "at byte {at}: …{}… (was …{}…)",
        String::from_utf8_lossy(&mutant[from..(at + 20).min(mutant.len())]),
        String::from_utf8_lossy(&good[from..(at + 20).min(good.len())])
    )
}

/// The `.sig` tag answers `manifest` (payloads `blobs`) on a server cleared first; nothing is
/// counted, the server is reused for every mutant.
async fn serve_mutant(server: &MockServer, manifest: &[u8], blobs: &[(Digest, Vec<u8>)]) {
    server.reset().await;
    legacy_registry_with(server, "sig", blobs, sig_manifest(manifest), None).await;
}

fn spread(len: usize, n: usize) -> Vec<usize> {
    if len <= n {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..n).map(|i| i * (len - 1) / (n - 1)).collect();
    v.dedup();
    v
}

fn flip_b64(text: &str, at: usize) -> String {
    let mut bytes = STANDARD.decode(text.trim()).expect("base64");
    let i = at % bytes.len();
    bytes[i] ^= 0x01;
    STANDARD.encode(bytes)
}

fn pem_der(text: &str) -> Vec<Vec<u8>> {
    text.split("-----BEGIN CERTIFICATE-----")
        .filter_map(|b| b.split("-----END CERTIFICATE-----").next())
        .map(|b| b.split_whitespace().collect::<String>())
        .filter(|b| !b.is_empty())
        .map(|b| STANDARD.decode(b).expect("base64"))
        .collect()
}

fn with(good: &LegacySignature, key: &str, value: String) -> LegacySignature {
    let mut s = good.clone();
    s.annotations.insert(key.to_owned(), value);
    s
}

/// Mutants of each annotation: decoded bytes flipped, re-encoded.
fn annotation_mutants(good: &LegacySignature) -> Vec<LegacySignature> {
    let a: &BTreeMap<String, String> = &good.annotations;
    let mut out = Vec::new();
    let sig = &a[ANNOTATION_SIGNATURE];
    let sig_len = STANDARD.decode(sig).expect("b64").len();
    for i in spread(sig_len, 24) {
        out.push(with(good, ANNOTATION_SIGNATURE, flip_b64(sig, i)));
    }
    // The chain annotation is not read (the trust root holds the CA certificates), so it has
    // no bytes that could matter; the leaf's do.
    for key in [ANNOTATION_CERTIFICATE] {
        let ders = pem_der(&a[key]);
        for (c, der) in ders.iter().enumerate() {
            for i in spread(der.len(), 40) {
                let mut ders = ders.clone();
                ders[c][i] ^= 0x01;
                let pem =
                    trustpull_testkit::sigstore::pem_certificates(ders.iter().map(Vec::as_slice));
                out.push(with(good, key, pem));
                let _ = der;
            }
        }
    }
    let rekor: Value = serde_json::from_str(&a[ANNOTATION_BUNDLE]).expect("JSON");
    let set = rekor["SignedEntryTimestamp"]
        .as_str()
        .expect("SET")
        .to_owned();
    for i in spread(STANDARD.decode(&set).expect("b64").len(), 24) {
        let mut r = rekor.clone();
        r["SignedEntryTimestamp"] = json!(flip_b64(&set, i));
        out.push(with(good, ANNOTATION_BUNDLE, r.to_string()));
    }
    let body = rekor["Payload"]["body"].as_str().expect("body").to_owned();
    for i in spread(STANDARD.decode(&body).expect("b64").len(), 60) {
        let mut r = rekor.clone();
        r["Payload"]["body"] = json!(flip_b64(&body, i));
        out.push(with(good, ANNOTATION_BUNDLE, r.to_string()));
    }
    for field in ["integratedTime", "logIndex"] {
        for delta in [1i64, -1, 3600] {
            let mut r = rekor.clone();
            let n = r["Payload"][field].as_i64().expect("number");
            r["Payload"][field] = json!(n + delta);
            out.push(with(good, ANNOTATION_BUNDLE, r.to_string()));
        }
    }
    let log_id = rekor["Payload"]["logID"]
        .as_str()
        .expect("logID")
        .to_owned();
    for i in spread(log_id.len(), 8) {
        let mut id: Vec<char> = log_id.chars().collect();
        id[i] = if id[i] == '0' { '1' } else { '0' };
        let mut r = rekor.clone();
        r["Payload"]["logID"] = json!(id.into_iter().collect::<String>());
        out.push(with(good, ANNOTATION_BUNDLE, r.to_string()));
    }
    // Each annotation removed (the timestamp is optional, so it is added broken instead).
    for key in [
        ANNOTATION_SIGNATURE,
        ANNOTATION_CERTIFICATE,
        ANNOTATION_BUNDLE,
    ] {
        let mut s = good.clone();
        s.annotations.remove(key);
        out.push(s);
    }
    out.push(with(
        good,
        ANNOTATION_RFC3161,
        json!({"SignedRFC3161Timestamp": STANDARD.encode(b"not a timestamp")}).to_string(),
    ));
    out
}

#[tokio::test]
async fn a_legacy_att_tag_is_read_for_attestations_only() {
    let sigstore = VirtualSigstore::new();
    let slsa = "https://slsa.dev/provenance/v1";
    let attestation = sigstore.sign_legacy_attestation(&SignRequest {
        predicate_type: slsa.into(),
        ..SignRequest::dsse(image_digest())
    });
    let (manifest, blobs) = trustpull_testkit::sigstore::legacy_manifest_of(
        &[attestation],
        "application/vnd.dsse.envelope.v1+json",
    );
    let server = MockServer::start().await;
    legacy_registry_with(&server, "att", &blobs, sig_manifest(&manifest), Some(1)).await;
    let got = verifier(&sigstore, default_spec())
        .verify_attestations(&subject(&server), &source(&server), slsa)
        .await;
    assert!(
        matches!(&got, Ok(a) if a.len() == 1 && a[0].format() == SignatureFormat::Legacy),
        "{got:?}"
    );
}
