//! Credentials stay with the registry they belong to: never sent to, nor a token requested on
//! the word of, a redirect target; never sent to a plain-HTTP token service on another host;
//! never shown by `Debug`, before or after a token was fetched and cached.

use base64::Engine as _;
use trustpull_policy::Digest;
use trustpull_referrers::{
    Credential, Credentials, DockerConfig, Limits, RegistryClient, RegistryError,
    RegistryErrorKind, Repository,
};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::REPO;

/// The distinctive secret every credential in these tests is built from.
const SECRET: &str = "s3cr3t-XYZ";

fn client(server: &MockServer, credential: Credential) -> (RegistryClient, Repository) {
    let host = server.address().to_string();
    let client = RegistryClient::builder()
        .credentials(Credentials::anonymous().with(&host, credential))
        .plain_http_host(host.clone())
        .limits(Limits::without_backoff())
        .build()
        .unwrap();
    (client, Repository::new(&host, REPO).unwrap())
}

fn alice() -> Credential {
    Credential::Basic {
        username: "alice".into(),
        password: SECRET.into(),
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The registry at `registry` answers blob `d` (with any credentials or none) by a redirect to
/// `storage`, which answers 401 with `challenge`; `storage` also runs a token service that must
/// never be called.
async fn redirect_to_a_challenging_storage(
    registry: &MockServer,
    storage: &MockServer,
    d: &Digest,
    challenge: &str,
) {
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/blobs/{d}")))
        .respond_with(ResponseTemplate::new(307).insert_header(
            "Location",
            format!("{}/storage/object?X-Signature=presigned", storage.uri()).as_str(),
        ))
        .mount(registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/storage/object"))
        .respond_with(ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge))
        .mount(storage)
        .await;
    Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"token": "t"})))
        .expect(0)
        .named("token service on the redirect target")
        .mount(storage)
        .await;
}

/// A blob CDN (another origin) answering 401 with a Basic or a Bearer challenge gets no
/// `Authorization`, no token is requested from its realm, and the 401 is an `Unavailable`
/// error naming the registry URL (not the presigned redirect URL).
#[tokio::test]
async fn a_401_from_a_redirect_target_gets_no_credentials_and_no_token_request() {
    for scheme in ["Basic", "Bearer"] {
        let registry = MockServer::start().await;
        let storage = MockServer::start().await;
        let challenge = match scheme {
            "Basic" => "Basic realm=\"storage\"".to_owned(),
            _ => format!(
                "Bearer realm=\"{}/token\",service=\"storage\",scope=\"blob:read\"",
                storage.uri()
            ),
        };
        let d = Digest::of(b"bundle bytes");
        redirect_to_a_challenging_storage(&registry, &storage, &d, &challenge).await;
        let (client, repo) = client(&registry, alice());

        let err = client.fetch_blob(&repo, &d, 100).await.unwrap_err();

        assert!(
            matches!(&err, RegistryError::Status { status: 401, url, .. }
                if url.contains(&registry.address().to_string()) && !url.contains("presigned")),
            "{scheme}: {err:?}"
        );
        assert_eq!(err.kind(), RegistryErrorKind::Unavailable, "{scheme}");
        let at_storage = storage.received_requests().await.unwrap();
        assert_eq!(
            at_storage.len(),
            1,
            "{scheme}: one request to the object, no replay and no token request"
        );
        let at_registry = registry.received_requests().await.unwrap();
        assert_eq!(at_registry.len(), 1, "{scheme}: no authentication round");
        for r in at_storage.iter().chain(&at_registry) {
            assert!(
                !r.headers.contains_key("authorization"),
                "{scheme}: {} received credentials",
                r.url
            );
        }
        // `expect(0)` on the token service is checked when `storage` drops; check it now too.
        storage.verify().await;
    }
}

/// A plain-HTTP registry may name a plain-HTTP token service on its own host only; one on
/// another host is refused before any credential is looked up or sent.
#[tokio::test]
async fn an_http_token_realm_on_another_host_is_refused() {
    let server = MockServer::start().await;
    let (client, repo) = client(&server, alice());
    // `localhost` reaches the same server, but it is another host than `127.0.0.1`.
    let realm = format!("http://localhost:{}", server.address().port());
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/blobs/{}", Digest::of(b"x"))))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!("Bearer realm=\"{realm}/token\",service=\"registry\"").as_str(),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"token": "t"})))
        .expect(0)
        .mount(&server)
        .await;

    let err = client
        .fetch_blob(&repo, &Digest::of(b"x"), 100)
        .await
        .unwrap_err();

    let host = server.address().to_string();
    assert!(
        matches!(&err, RegistryError::InsecureTokenRealm { registry, realm: found, .. }
            if *registry == host && *found == realm),
        "{err:?}"
    );
    assert_eq!(err.kind(), RegistryErrorKind::Unavailable);
    let text = err.to_string();
    assert!(text.contains(&realm) && text.contains(&host), "{text}");
    let seen = server.received_requests().await.unwrap();
    assert_eq!(seen.len(), 1, "only the challenged request");
    assert!(!seen[0].headers.contains_key("authorization"));
    server.verify().await;
}

/// Asserts that neither form of `value` shows the secret, its base64, or alice's base64
/// `user:password`.
fn assert_redacted(what: &str, value: &dyn std::fmt::Debug) {
    for text in [format!("{value:?}"), format!("{value:#?}")] {
        for forbidden in [
            SECRET.to_owned(),
            b64(SECRET),
            b64(&format!("alice:{SECRET}")),
        ] {
            assert!(
                !text.contains(&forbidden),
                "{what} shows {forbidden:?}: {text}"
            );
        }
    }
}

/// Every type that holds a secret, formatted with `{:?}` and `{:#?}`: before use, and after a
/// Basic `Authorization` and a bearer token (exchanged for an identity token) were cached.
#[tokio::test]
async fn debug_output_never_shows_a_secret() {
    for credential in [
        alice(),
        Credential::IdentityToken(SECRET.into()),
        Credential::Bearer(SECRET.into()),
    ] {
        assert_redacted("Credential", &credential);
    }
    let config = DockerConfig::from_json(
        format!(
            r#"{{"auths": {{
                "basic.example": {{"auth": "{}"}},
                "plain.example": {{"username": "alice", "password": "{SECRET}"}},
                "identity.example": {{"identitytoken": "{SECRET}"}},
                "token.example": {{"registrytoken": "{SECRET}"}}
            }}, "credHelpers": {{"helper.example": "desktop"}}}}"#,
            b64(&format!("alice:{SECRET}"))
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(config.auth_for("basic.example"), Some(&alice()), "parsed");
    assert_redacted("DockerConfig", &config);
    let credentials = Credentials::from_docker_config(config)
        .with("explicit.example", Credential::Bearer(SECRET.into()));
    assert_redacted("Credentials", &credentials);
    let builder = RegistryClient::builder().credentials(credentials);
    assert_redacted("RegistryClientBuilder", &builder);
    assert_redacted("RegistryClient", &builder.build().unwrap());

    // A cached bearer token that contains the secret.
    let server = MockServer::start().await;
    let (with_token, repo) = client(&server, Credential::IdentityToken(SECRET.into()));
    let token = format!("tok-{SECRET}");
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": token})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let blob = b"data";
    let d = Digest::of(blob);
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/blobs/{d}")))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(blob.to_vec()))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!("Bearer realm=\"{}/token\"", server.uri()).as_str(),
        ))
        .with_priority(10)
        .mount(&server)
        .await;
    assert_eq!(
        with_token
            .fetch_blob(&repo, &d, 100)
            .await
            .unwrap()
            .as_ref(),
        blob
    );
    assert_redacted("RegistryClient with a cached token", &with_token);
    assert!(
        format!("{with_token:?}").contains("Bearer <redacted>"),
        "the cached token is in the client, redacted: {with_token:?}"
    );

    // A cached Basic `Authorization` header.
    let server = MockServer::start().await;
    let (with_basic, repo) = client(&server, alice());
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/blobs/{d}")))
        .and(header(
            "authorization",
            format!("Basic {}", b64(&format!("alice:{SECRET}"))).as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(blob.to_vec()))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", "Basic realm=\"r\""),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    assert_eq!(
        with_basic
            .fetch_blob(&repo, &d, 100)
            .await
            .unwrap()
            .as_ref(),
        blob
    );
    assert_redacted("RegistryClient with a cached Basic header", &with_basic);
    assert!(
        format!("{with_basic:?}").contains("Basic <redacted>"),
        "the cached header is in the client, redacted: {with_basic:?}"
    );
}
