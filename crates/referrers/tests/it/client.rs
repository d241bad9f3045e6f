//! The client's transport rules against a hostile registry: authentication flows, redirects,
//! size caps, digest checks, Accept headers, connection failures.

use trustpull_policy::Digest;
use trustpull_referrers::{
    Credential, Credentials, DiscoveryOptions, ImageReference, Limits, RegistryClient,
    RegistryError, RegistryErrorKind, Repository, OCI_INDEX, OCI_MANIFEST,
};
use wiremock::matchers::{header, header_exists, header_regex, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    bundle_descriptor, bundle_json, edited, index_response, referrers_path, signature, subject,
    Registry, REPO,
};

fn client_for(server: &MockServer, credentials: Credentials) -> (RegistryClient, Repository) {
    client_at(&server.address().to_string(), true, credentials)
}

/// A client for [`REPO`] at `host` without backoff waits; plain HTTP to it if `plain_http`.
fn client_at(
    host: &str,
    plain_http: bool,
    credentials: Credentials,
) -> (RegistryClient, Repository) {
    let mut builder = RegistryClient::builder()
        .credentials(credentials)
        .limits(Limits::without_backoff());
    if plain_http {
        builder = builder.plain_http_host(host);
    }
    (
        builder.build().unwrap(),
        Repository::new(host, REPO).unwrap(),
    )
}

/// `reg`'s repository at `tag_or_digest` (`:v1`, `:moved@sha256:…`).
fn reference(reg: &Registry, tag_or_digest: &str) -> ImageReference {
    format!("{}/{REPO}{tag_or_digest}", reg.server.address())
        .parse()
        .unwrap()
}

/// Answers every request not matched otherwise with a 401 Basic challenge.
async fn basic_challenge(server: &MockServer, priority: Option<u8>) {
    let mut m = Mock::given(method("GET")).respond_with(
        ResponseTemplate::new(401).insert_header("WWW-Authenticate", "Basic realm=\"registry\""),
    );
    if let Some(p) = priority {
        m = m.with_priority(p);
    }
    m.mount(server).await;
}

/// Serves `blob` at its digest only to requests that carry `authorization`.
async fn blob_for(server: &MockServer, blob: &[u8], authorization: &str) -> Digest {
    let d = Digest::of(blob);
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/blobs/{d}")))
        .and(header("authorization", authorization))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(blob.to_vec()))
        .with_priority(1)
        .mount(server)
        .await;
    d
}

/// Discovers the signatures of [`subject`] in `repo`; discovery must fail.
async fn discover_err(client: &RegistryClient, repo: &Repository) -> RegistryError {
    client
        .discover_signatures(repo, &subject(), &DiscoveryOptions::default())
        .await
        .unwrap_err()
}

/// `client` fetches blob `d` of `repo` (limit 100 bytes) and gets `blob`.
async fn assert_fetches(client: &RegistryClient, repo: &Repository, d: &Digest, blob: &[u8]) {
    assert_eq!(
        client.fetch_blob(repo, d, 100).await.unwrap().as_ref(),
        blob
    );
}

#[tokio::test]
async fn tag_resolution_sends_oci_and_docker_accept_types() {
    let reg = Registry::start().await;
    let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    // Like distribution 2.8: an OCI manifest is only served when Accept lists the OCI type.
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/manifests/v1")))
        .and(header_regex(
            "accept",
            "application/vnd\\.oci\\.image\\.manifest\\.v1\\+json",
        ))
        .and(header_regex(
            "accept",
            "application/vnd\\.docker\\.distribution\\.manifest\\.v2\\+json",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.to_vec(), OCI_MANIFEST))
        .mount(&reg.server)
        .await;
    let got = reg.client.resolve(&reference(&reg, ":v1")).await.unwrap();
    assert_eq!(got.digest, Digest::of(body));
    assert_eq!(got.media_type, OCI_MANIFEST);
}

#[tokio::test]
async fn a_digest_reference_never_looks_up_the_tag() {
    let reg = Registry::start().await;
    let body = br#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let d = Digest::of(body);
    reg.manifest(d.as_str(), body, OCI_INDEX).await;
    let got = reg
        .client
        .resolve(&reference(&reg, &format!(":moved@{d}")))
        .await
        .unwrap();
    assert_eq!((got.digest, got.media_type.as_str()), (d, OCI_INDEX));
    assert_eq!(reg.count(&format!("/v2/{REPO}/manifests/moved")).await, 0);
}

#[tokio::test]
async fn wrong_bytes_for_a_by_digest_fetch_are_rejected() {
    let reg = Registry::start().await;
    let asked = Digest::of(b"{\"the\":\"real one\"}");
    reg.manifest(asked.as_str(), b"{\"a\":\"substitute\"}", OCI_MANIFEST)
        .await;
    let err = reg
        .client
        .fetch_manifest(&reg.repo, &asked)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::DigestMismatch { expected, actual, .. } if *expected == asked && *actual == Digest::of(b"{\"a\":\"substitute\"}"))
    );
    assert_eq!(err.kind(), RegistryErrorKind::Rejected);

    let blob = Digest::of(b"blob");
    reg.blob(&blob, b"other").await;
    let err = reg
        .client
        .fetch_blob(&reg.repo, &blob, 1024)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { .. }),
        "{err:?}"
    );
    let err = reg
        .client
        .fetch_blob(&reg.repo, &blob, 4)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn an_oversized_manifest_is_refused() {
    let reg = Registry::start().await;
    let big = vec![b' '; 4 * 1024 * 1024 + 1];
    let d = Digest::of(&big);
    reg.manifest(d.as_str(), &big, OCI_MANIFEST).await;
    let err = reg.client.fetch_manifest(&reg.repo, &d).await.unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::TooLarge {
                limit: 4194304,
                what: "manifest",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), RegistryErrorKind::Rejected);
}

/// A referrer manifest announcing a 5 MiB bundle is refused without fetching the blob; a
/// blob larger than its descriptor says is refused from its Content-Length.
#[tokio::test]
async fn an_oversized_bundle_is_refused_before_it_is_read() {
    let reg = Registry::start().await;
    let err = fetch_bundle_announced_as(&reg, 5 * 1024 * 1024).await;
    assert!(
        matches!(err, RegistryError::TooLarge { what: "bundle", .. }),
        "{err:?}"
    );
    assert_eq!(reg.count(&format!("/v2/{REPO}/blobs/")).await, 0);

    // The descriptor says 10 bytes; the registry serves more.
    let reg = Registry::start().await;
    let err = fetch_bundle_announced_as(&reg, 10).await;
    assert!(
        matches!(err, RegistryError::TooLarge { limit: 10, .. }),
        "{err:?}"
    );
}

/// Pushes a signature whose manifest announces a bundle of `size` bytes and fetches its bundle,
/// which must fail.
async fn fetch_bundle_announced_as(reg: &Registry, size: u64) -> RegistryError {
    let d = subject();
    let sig = edited(
        signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z"),
        |v| v["layers"][0]["size"] = serde_json::json!(size),
    );
    reg.push_signature(&sig).await;
    reg.fetch_bundle(&sig.manifest_digest, &d)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn basic_challenge_then_replay_with_credentials() {
    let server = MockServer::start().await;
    let (client, repo) = client_for(
        &server,
        Credentials::anonymous().with(&server.address().to_string(), basic("alice", "s3cret")),
    );
    let blob = b"hello";
    let d = blob_for(&server, blob, "Basic YWxpY2U6czNjcmV0").await;
    basic_challenge(&server, None).await;
    assert_fetches(&client, &repo, &d, blob).await;
    // The second fetch reuses the credentials without a new challenge.
    assert_fetches(&client, &repo, &d, blob).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_401_without_credentials_is_unavailable_with_status() {
    let server = MockServer::start().await;
    let (client, repo) = client_for(&server, Credentials::anonymous());
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", "Basic realm=\"registry\"")
                .set_body_json(crate::support::error_body(
                    "UNAUTHORIZED",
                    "authentication required",
                )),
        )
        .mount(&server)
        .await;
    let err = discover_err(&client, &repo).await;
    assert!(
        matches!(&err, RegistryError::Status { status: 401, message, .. } if message.contains("authentication required")),
        "{err:?}"
    );
    assert!(err.is_unavailable());
}

#[tokio::test]
async fn bearer_token_flow_with_scope_and_service() {
    let server = MockServer::start().await;
    let (client, repo) = client_for(
        &server,
        Credentials::anonymous().with(&server.address().to_string(), basic("bob", "pw")),
    );
    let d = subject();
    let sig = signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z");
    Mock::given(method("GET"))
        .and(path("/token"))
        .and(query_param("service", "test-registry"))
        .and(query_param("scope", format!("repository:{REPO}:pull")))
        .and(header("authorization", "Basic Ym9iOnB3"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"token": "tok-123"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(referrers_path(&d)))
        .and(header("authorization", "Bearer tok-123"))
        .respond_with(index_response(vec![bundle_descriptor(&sig)]))
        .mount(&server)
        .await;
    let challenge = format!(
        "Bearer realm=\"http://{}/token\",service=\"test-registry\",scope=\"repository:{REPO}:pull\"",
        server.address()
    );
    Mock::given(method("GET"))
        .and(path(referrers_path(&d)))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge.as_str()),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    let found = client
        .discover_signatures(&repo, &d, &DiscoveryOptions::default())
        .await
        .unwrap();
    assert_eq!(found.candidates.len(), 1);
}

#[tokio::test]
async fn a_failing_token_service_is_an_auth_error() {
    let server = MockServer::start().await;
    let (client, repo) = client_for(&server, Credentials::anonymous());
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(crate::support::error_body("DENIED", "no pull for you")),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(referrers_path(&subject())))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!("Bearer realm=\"http://{}/token\"", server.address()).as_str(),
        ))
        .mount(&server)
        .await;
    let err = discover_err(&client, &repo).await;
    assert!(
        matches!(&err, RegistryError::Auth { reason, .. } if reason.contains("403") && reason.contains("no pull for you")),
        "{err:?}"
    );
    assert!(err.is_unavailable());
}

/// A blob redirected to another host (as registries do to object storage) is followed, but the
/// registry's credentials do not go with it.
#[tokio::test]
async fn a_redirect_to_another_host_carries_no_credentials() {
    let registry = MockServer::start().await;
    let storage = MockServer::start().await;
    let (client, repo) = client_for(
        &registry,
        Credentials::anonymous().with(&registry.address().to_string(), basic("alice", "s3cret")),
    );
    let blob = b"bundle bytes";
    let d = Digest::of(blob);
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/blobs/{d}")))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(307).insert_header(
            "Location",
            format!("{}/storage/object", storage.uri()).as_str(),
        ))
        .mount(&registry)
        .await;
    basic_challenge(&registry, Some(10)).await;
    Mock::given(method("GET"))
        .and(path("/storage/object"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(blob.to_vec()))
        .mount(&storage)
        .await;
    assert_fetches(&client, &repo, &d, blob).await;
    let seen = storage.received_requests().await.unwrap();
    assert_eq!(seen.len(), 1);
    assert!(
        !seen[0].headers.contains_key("authorization"),
        "credentials leaked to {}",
        storage.uri()
    );
}

#[tokio::test]
async fn a_redirect_loop_is_unavailable() {
    let reg = Registry::start().await;
    let d = Digest::of(b"x");
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/blobs/{d}")))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("/v2/{REPO}/blobs/{d}").as_str()),
        )
        .mount(&reg.server)
        .await;
    let err = reg.client.fetch_blob(&reg.repo, &d, 100).await.unwrap_err();
    assert!(matches!(err, RegistryError::Redirect { .. }), "{err:?}");
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_after_bounded_retries() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (client, repo) = client_at(&format!("127.0.0.1:{port}"), true, Credentials::anonymous());
    let err = discover_err(&client, &repo).await;
    assert!(matches!(err, RegistryError::Transport { .. }), "{err:?}");
    assert!(err.is_unavailable());
}

#[tokio::test]
async fn https_is_the_default_for_unlisted_hosts() {
    let server = MockServer::start().await;
    let (client, repo) = client_at(
        &server.address().to_string(),
        false,
        Credentials::anonymous(),
    );
    let err = discover_err(&client, &repo).await;
    assert!(
        matches!(err, RegistryError::Transport { ref url, .. } if url.starts_with("https://")),
        "{err:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
}

fn basic(username: &str, password: &str) -> Credential {
    Credential::Basic {
        username: username.into(),
        password: password.into(),
    }
}

#[tokio::test]
async fn a_bearer_token_is_reused_and_an_identity_token_is_exchanged() {
    let server = MockServer::start().await;
    let host = server.address().to_string();
    let (client, repo) = client_for(
        &server,
        Credentials::anonymous().with(&host, Credential::IdentityToken("refresh-me".into())),
    );
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=refresh_token",
        ))
        .and(wiremock::matchers::body_string_contains(
            "refresh_token=refresh-me",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": "acc-1"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let blob = b"data";
    let d = blob_for(&server, blob, "Bearer acc-1").await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!("Bearer realm=\"http://{host}/token\"").as_str(),
        ))
        .with_priority(10)
        .mount(&server)
        .await;
    for _ in 0..3 {
        assert_fetches(&client, &repo, &d, blob).await;
    }
    // One 401, one token exchange, three authorized fetches.
    assert_eq!(server.received_requests().await.unwrap().len(), 5);
}

#[tokio::test]
async fn a_slow_registry_times_out_as_unavailable() {
    let mut limits = Limits::without_backoff();
    limits.request_timeout = std::time::Duration::from_millis(100);
    limits.max_attempts = 2;
    let reg = Registry::start_with(limits).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(5)))
        .mount(&reg.server)
        .await;
    let err = reg.discover_err(&subject()).await;
    assert!(matches!(err, RegistryError::Timeout { .. }), "{err:?}");
    assert!(err.is_unavailable());
    assert_eq!(reg.count("/v2/").await, 2, "bounded attempts");
}

#[tokio::test]
async fn a_tag_whose_docker_content_digest_disagrees_is_rejected() {
    let reg = Registry::start().await;
    let body = br#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/manifests/v1")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(body.to_vec(), OCI_INDEX)
                .insert_header(
                    "Docker-Content-Digest",
                    Digest::of(b"something else").as_str(),
                ),
        )
        .mount(&reg.server)
        .await;
    let err = reg
        .client
        .resolve(&reference(&reg, ":v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { .. }),
        "{err:?}"
    );
}
