//! [`RegistryClient`]: authenticated, bounded, retrying reads from an OCI registry.
//!
//! Every request goes through [`RegistryClient::send`], which owns the rules:
//! plain HTTP only for listed hosts; on a 401 from the registry's own origin one authentication
//! round (Basic, or a bearer token from the challenge's realm) and one replay, while a 401 from a
//! redirect target stands (see [`auth`]); retries with exponential backoff and full jitter for
//! connection errors, timeouts, 429 and 502/503/504, honouring `Retry-After`; redirects followed
//! by hand so credentials are only sent to the registry's own origin.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;

use trustpull_policy::Digest;

mod auth;
#[cfg(fuzzing)]
pub use auth::fuzz_challenge;
mod url_fetch;

/// Fuzzing only (`--cfg fuzzing`): answers every request a [`RegistryClient`] would send over
/// the network, so the `discovery` fuzz target drives the real client (authentication,
/// retries, redirects, caps, discovery) over an in-memory registry, with no socket.
#[cfg(fuzzing)]
pub type FuzzResponder = Arc<dyn Fn(&reqwest::Request) -> Response + Send + Sync>;

use self::auth::AuthorizationValue;
use crate::credentials::{Credential, Credentials};
use crate::manifest::{effective_media_type, MANIFEST_ACCEPT};
use crate::{ImageReference, Limits, RegistryError, Repository};

/// Builds a [`RegistryClient`].
///
/// ```
/// use trustpull_referrers::{Credentials, Limits, RegistryClient};
/// let client = RegistryClient::builder()
///     .credentials(Credentials::anonymous())
///     .plain_http_host("127.0.0.1:5000")
///     .limits(Limits::default())
///     .build()?;
/// # let _ = client;
/// # Ok::<(), trustpull_referrers::RegistryError>(())
/// ```
#[derive(Clone, Default)]
pub struct RegistryClientBuilder {
    credentials: Credentials,
    plain_http: BTreeSet<String>,
    extra_ca_pem: Vec<Vec<u8>>,
    host_ca_pem: Vec<(String, Vec<u8>)>,
    limits: Limits,
    user_agent: Option<String>,
    #[cfg(fuzzing)]
    fuzz_responder: Option<FuzzResponder>,
}

/// Shows the settings, never a secret: [`Credentials`]' own `Debug` redacts them, and CA
/// certificates are counted rather than printed.
impl std::fmt::Debug for RegistryClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClientBuilder")
            .field("credentials", &self.credentials)
            .field("plain_http", &self.plain_http)
            .field("extra_ca_pem", &self.extra_ca_pem.len())
            .field(
                "host_ca_pem",
                &self.host_ca_pem.iter().map(|(h, _)| h).collect::<Vec<_>>(),
            )
            .field("limits", &self.limits)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl RegistryClientBuilder {
    /// Where credentials come from (default: anonymous).
    #[must_use]
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Talks plain HTTP to `host[:port]` (exactly as written in references). Every other host
    /// is HTTPS only.
    #[must_use]
    pub fn plain_http_host(mut self, host: impl Into<String>) -> Self {
        self.plain_http.insert(host.into());
        self
    }

    /// Trusts the CA certificates in `pem` (one or more PEM blocks) in addition to the system
    /// and webpki roots.
    #[must_use]
    pub fn add_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_ca_pem.push(pem.into());
        self
    }

    /// Trusts the CA certificates in `pem` for `host[:port]` only (as written in references and
    /// URLs; the port only when it is not the scheme's default), beside the system roots: an
    /// operator's private CA for one host does not vouch for any other. Applies to registry
    /// requests and to [`RegistryClient::get_url`] alike.
    #[must_use]
    pub fn host_root_certificates_pem(
        mut self,
        host: impl Into<String>,
        pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.host_ca_pem.push((host.into(), pem.into()));
        self
    }

    /// The bounds to enforce (default: [`Limits::default`]).
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The `User-Agent` to send (default `trustpull/<version>`).
    #[must_use]
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// Fuzzing only (`--cfg fuzzing`): `responder` answers every request instead of the
    /// network (see [`FuzzResponder`]).
    #[cfg(fuzzing)]
    #[must_use]
    pub fn fuzz_responder(mut self, responder: FuzzResponder) -> Self {
        self.fuzz_responder = Some(responder);
        self
    }

    /// Builds the client. Fails only on unusable configuration (a CA file that does not parse).
    ///
    /// Building is cheap: the system root store (read from disk, about 10 ms) is loaded the
    /// first time an `https://` URL is requested, once per client (clones share it). A client
    /// that only talks to plain-HTTP hosts never loads it.
    pub fn build(self) -> Result<RegistryClient, RegistryError> {
        let user_agent = self
            .user_agent
            .unwrap_or_else(|| format!("trustpull/{}", env!("CARGO_PKG_VERSION")));
        let mut extra_roots = Vec::new();
        for pem in &self.extra_ca_pem {
            extra_roots.extend(parse_ca_pem(pem)?);
        }
        let mut host_tls: HashMap<String, HostTls> = HashMap::new();
        for (host, pem) in &self.host_ca_pem {
            let roots = parse_ca_pem(pem)?;
            host_tls
                .entry(host.clone())
                .or_insert_with(|| HostTls {
                    roots: extra_roots.clone(),
                    client: tokio::sync::OnceCell::new(),
                })
                .roots
                .extend(roots);
        }
        // For `http://` URLs only (see `RegistryClient::http_for`): no TLS root at all, so it
        // could not complete a TLS handshake even if it were handed an https URL.
        let plain = http_builder(&self.limits, &user_agent)
            .tls_certs_only(Vec::new())
            .build()
            .map_err(|e| RegistryError::Config {
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                plain,
                tls: tokio::sync::OnceCell::new(),
                extra_roots,
                host_tls,
                user_agent,
                credentials: self.credentials,
                plain_http: self.plain_http,
                limits: self.limits,
                auth: Mutex::new(HashMap::new()),
                credential_cache: tokio::sync::Mutex::new(HashMap::new()),
                jitter: AtomicU64::new(0),
                jitter_state: std::collections::hash_map::RandomState::new(),
                #[cfg(fuzzing)]
                fuzz_responder: self.fuzz_responder.map(FuzzResponderCell),
            }),
        })
    }
}

/// The certificates of a CA PEM file (one or more blocks); none at all is an error.
fn parse_ca_pem(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let parsed = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| RegistryError::Config {
        reason: format!("CA certificate PEM does not parse: {e}"),
    })?;
    if parsed.is_empty() {
        return Err(RegistryError::Config {
            reason: "CA certificate file holds no PEM certificate".to_owned(),
        });
    }
    Ok(parsed)
}

/// The HTTPS client of one host with its own CA (see
/// [`RegistryClientBuilder::host_root_certificates_pem`]), built on first use.
#[derive(Debug)]
struct HostTls {
    /// The system roots are added when the client is built; these are the extra ones.
    roots: Vec<reqwest::Certificate>,
    client: tokio::sync::OnceCell<reqwest::Client>,
}

/// The settings every HTTP client of a [`RegistryClient`] shares: redirects are followed by
/// hand (see [`RegistryClient::send`]), timeouts come from [`Limits`].
fn http_builder(limits: &Limits, user_agent: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(limits.connect_timeout)
        .read_timeout(limits.read_timeout)
        .user_agent(user_agent)
}

/// A registry client: cheap to clone (an `Arc` inside), all methods take `&self`.
///
/// Public operations:
/// - [`RegistryClient::resolve`]: a tag or digest reference → manifest/index bytes, media type
///   and digest (a digest reference never looks up a tag);
/// - [`RegistryClient::fetch_manifest`]: by digest, capped and digest-checked;
/// - [`RegistryClient::fetch_blob`]: small blobs by digest into memory, capped and checked;
/// - [`RegistryClient::blob_stream`]: large blobs as a raw stream; the caller bounds and hashes
///   it (the downloader's layer fetch is the one bounded, hashed reader for layers);
/// - [`RegistryClient::discover_signatures`] and [`RegistryClient::fetch_signature_bundle`]:
///   signature discovery (see [`crate::discovery`]).
#[derive(Debug, Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// For `http://` URLs: built with no TLS roots.
    plain: reqwest::Client,
    /// For `https://` URLs: system roots plus `extra_roots`, built on first use.
    tls: tokio::sync::OnceCell<reqwest::Client>,
    extra_roots: Vec<reqwest::Certificate>,
    /// `host[:port]` → its HTTPS client with its own CA beside the system roots.
    host_tls: HashMap<String, HostTls>,
    user_agent: String,
    credentials: Credentials,
    plain_http: BTreeSet<String>,
    limits: Limits,
    /// (api host, repository) → `Authorization` value that worked last (redacted in `Debug`).
    auth: Mutex<HashMap<(String, String), AuthorizationValue>>,
    /// api host → credentials looked up (helpers run at most once per host).
    credential_cache: tokio::sync::Mutex<HashMap<String, Option<Credential>>>,
    jitter: AtomicU64,
    jitter_state: std::collections::hash_map::RandomState,
    #[cfg(fuzzing)]
    fuzz_responder: Option<FuzzResponderCell>,
}

/// A [`FuzzResponder`] in [`Inner`] (which derives `Debug`).
#[cfg(fuzzing)]
struct FuzzResponderCell(FuzzResponder);

#[cfg(fuzzing)]
impl std::fmt::Debug for FuzzResponderCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FuzzResponder")
    }
}

/// A manifest or index read from a registry, with the digest of exactly these bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedManifest {
    /// sha256 of `bytes` (equal to the requested digest when fetched by digest).
    pub digest: Digest,
    /// The document's `mediaType` field, else the response `Content-Type`.
    pub media_type: String,
    /// The raw bytes, as hashed.
    pub bytes: Bytes,
}

/// A blob body as a stream of chunks. Size and digest are NOT checked: the caller checks them
/// (the downloader does, for every layer).
pub struct BlobStream {
    /// The `Content-Length` the registry announced, if any (untrusted).
    pub content_length: Option<u64>,
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, RegistryError>> + Send>>,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes, RegistryError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Parses a JSON document read from `url`; `what` names it in the error.
pub(crate) fn parse_document<T: serde::de::DeserializeOwned>(
    url: &Url,
    bytes: &[u8],
    what: &'static str,
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|source| RegistryError::InvalidDocument {
        url: url.to_string(),
        what,
        source,
    })
}

/// How a request should be sent.
#[derive(Clone, Copy)]
pub(crate) struct RequestOptions<'a> {
    pub accept: &'a str,
    /// Whole-request timeout; `None` for streamed blobs (then only connect/read timeouts apply).
    pub whole_timeout: bool,
}

enum Attempt {
    /// The first non-redirect response, and the URL that answered it (after redirects).
    Response {
        response: Response,
        answered_by: Url,
    },
    Failed(RegistryError),
}

impl RegistryClient {
    /// Starts a [`RegistryClientBuilder`].
    pub fn builder() -> RegistryClientBuilder {
        RegistryClientBuilder::default()
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The HTTP client to send `url` with. `http://` URLs (only ever made for hosts the caller
    /// listed, or reached by a redirect from one) use the client without TLS; `https://` URLs
    /// use the one with the system roots, built the first time one is needed.
    async fn http_for(&self, url: &Url) -> Result<&reqwest::Client, RegistryError> {
        if url.scheme() == "http" {
            return Ok(&self.inner.plain);
        }
        let (cell, roots) = match self.inner.host_tls.get(&url_host(url)) {
            Some(host) => (&host.client, &host.roots),
            None => (&self.inner.tls, &self.inner.extra_roots),
        };
        cell.get_or_try_init(|| async {
            let mut builder = http_builder(&self.inner.limits, &self.inner.user_agent);
            if !roots.is_empty() {
                builder = builder.tls_certs_merge(roots.clone());
            }
            builder.build().map_err(|e| RegistryError::Config {
                reason: format!("cannot build the HTTPS client (system root store): {e}"),
            })
        })
        .await
    }

    /// The base URL for a repository: `https://host/v2/name/` (http for listed hosts).
    pub(crate) fn repo_url(&self, repo: &Repository, rest: &str) -> Result<Url, RegistryError> {
        let scheme = if self.inner.plain_http.contains(repo.registry())
            || self.inner.plain_http.contains(repo.api_host())
        {
            "http"
        } else {
            "https"
        };
        let text = format!("{scheme}://{}/v2/{}/{rest}", repo.api_host(), repo.name());
        Url::parse(&text).map_err(|e| RegistryError::InvalidReference {
            reference: text.clone(),
            reason: e.to_string(),
        })
    }

    /// Resolves `reference` to its manifest or index. A digest reference is fetched by digest
    /// (checked); a tag reference is fetched by tag and its digest computed from the bytes
    /// (and compared with `Docker-Content-Digest` when the registry sends one).
    pub async fn resolve(
        &self,
        reference: &ImageReference,
    ) -> Result<FetchedManifest, RegistryError> {
        let repo = reference.repository();
        let rest = format!("manifests/{}", reference.manifest_reference());
        let (url, resp) = self.get(repo, &rest, MANIFEST_ACCEPT, true).await?;
        let resp = expect_success(&url, resp).await?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v).ok());
        let content_type = content_type(resp.headers());
        let bytes = self
            .read_capped(&url, resp, self.inner.limits.max_manifest_bytes, "manifest")
            .await?;
        let actual = Digest::of(&bytes);
        let expected = reference.digest().cloned().or(header_digest);
        if let Some(expected) = expected {
            if expected != actual {
                return Err(RegistryError::DigestMismatch {
                    url: url.to_string(),
                    expected,
                    actual,
                });
            }
        }
        let media_type = effective_media_type(&bytes, content_type.as_deref().unwrap_or(""))
            .map_err(|source| RegistryError::InvalidDocument {
                url: url.to_string(),
                what: "manifest",
                source,
            })?;
        Ok(FetchedManifest {
            digest: actual,
            media_type,
            bytes,
        })
    }

    /// Fetches the manifest or index `digest` from `repo`, capped at
    /// [`Limits::max_manifest_bytes`] and checked against `digest`.
    pub async fn fetch_manifest(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<FetchedManifest, RegistryError> {
        self.resolve(&ImageReference::by_digest(repo.clone(), digest.clone()))
            .await
    }

    /// Fetches blob `digest` into memory, refusing more than `max_bytes` (checked against
    /// `Content-Length` before reading, and while reading), and checks its digest.
    pub async fn fetch_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<Bytes, RegistryError> {
        let (url, resp) = self.get_blob(repo, digest, true).await?;
        let bytes = self.read_capped(&url, resp, max_bytes, "blob").await?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                url: url.to_string(),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Opens blob `digest` as a stream. Nothing is checked: the caller must bound the size and
    /// verify the digest. Only connect and
    /// between-bytes timeouts apply, so large blobs are not cut off.
    pub async fn blob_stream(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError> {
        let (url, resp) = self.get_blob(repo, digest, false).await?;
        let content_length = resp.content_length();
        let read_timeout = self.inner.limits.read_timeout;
        let url_text = url.to_string();
        let inner = resp
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| transport_error(&url_text, e, read_timeout)));
        Ok(BlobStream {
            content_length,
            inner: Box::pin(inner),
        })
    }

    /// GETs `rest` below `repo`'s `/v2/<name>/` through [`Self::send`]; returns the URL asked
    /// for with the response, whatever its status.
    pub(crate) async fn get(
        &self,
        repo: &Repository,
        rest: &str,
        accept: &str,
        whole_timeout: bool,
    ) -> Result<(Url, Response), RegistryError> {
        let url = self.repo_url(repo, rest)?;
        let opts = RequestOptions {
            accept,
            whole_timeout,
        };
        let resp = self.send(repo, url.clone(), opts).await?;
        Ok((url, resp))
    }

    /// GETs blob `digest` (any media type); a status other than success is an error.
    async fn get_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        whole_timeout: bool,
    ) -> Result<(Url, Response), RegistryError> {
        let (url, resp) = self
            .get(repo, &format!("blobs/{digest}"), "*/*", whole_timeout)
            .await?;
        let resp = expect_success(&url, resp).await?;
        Ok((url, resp))
    }

    /// Reads a body, refusing it before reading when `Content-Length` exceeds `limit` and as
    /// soon as the bytes read exceed it.
    pub(crate) async fn read_capped(
        &self,
        url: &Url,
        resp: Response,
        limit: u64,
        what: &'static str,
    ) -> Result<Bytes, RegistryError> {
        let too_large = || RegistryError::TooLarge {
            url: url.to_string(),
            what,
            limit,
        };
        if resp.content_length().is_some_and(|len| len > limit) {
            return Err(too_large());
        }
        let mut buf = BytesMut::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| transport_error(url.as_str(), e, self.inner.limits.request_timeout))?;
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Sends a GET with authentication, retries and redirects (see the module docs). Returns
    /// the final response whatever its status, except that transport failures and a too-long
    /// `Retry-After` are errors.
    pub(crate) async fn send(
        &self,
        repo: &Repository,
        url: Url,
        opts: RequestOptions<'_>,
    ) -> Result<Response, RegistryError> {
        self.send_as(Some(repo), url, opts).await
    }

    /// [`Self::send`] for `repo`, or without any credentials when `repo` is `None` (a gallery
    /// index or tarball URL: a 401 stands, nothing is looked up or sent).
    async fn send_as(
        &self,
        repo: Option<&Repository>,
        url: Url,
        opts: RequestOptions<'_>,
    ) -> Result<Response, RegistryError> {
        let limits = &self.inner.limits;
        let key = repo.map(|repo| (repo.api_host().to_owned(), repo.name().to_owned()));
        let mut attempt: u32 = 0;
        let mut authenticated_once = false;
        loop {
            attempt += 1;
            let authorization = key.as_ref().and_then(|key| self.cached_authorization(key));
            let outcome = self
                .send_following_redirects(
                    &url,
                    opts,
                    authorization.as_ref().map(AuthorizationValue::as_str),
                )
                .await;
            let retry_wait = match outcome {
                Attempt::Response {
                    response: resp,
                    answered_by,
                } => {
                    let status = resp.status();
                    tracing::debug!(%url, %answered_by, status = status.as_u16(), attempt, "registry answered");
                    if status == StatusCode::UNAUTHORIZED && !same_origin(&answered_by, &url) {
                        // A redirect target (a blob CDN, another origin) wants credentials:
                        // the registry's are not for it and no token is fetched on its word.
                        tracing::debug!(
                            %url,
                            target = %answered_by.origin().ascii_serialization(),
                            "a redirect target answered 401; not authenticating"
                        );
                        return Ok(resp);
                    }
                    if let (true, false, Some(repo), Some(key)) = (
                        status == StatusCode::UNAUTHORIZED,
                        authenticated_once,
                        repo,
                        &key,
                    ) {
                        authenticated_once = true;
                        if let Some(value) = self.authenticate(repo, &url, resp.headers()).await? {
                            self.store_authorization(key.clone(), value);
                            attempt -= 1;
                            continue;
                        }
                        return Ok(resp);
                    }
                    let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
                    if !retryable || attempt >= limits.max_attempts {
                        return Ok(resp);
                    }
                    match retry_after(resp.headers()) {
                        Some(wait) if wait > limits.max_retry_after => {
                            return Err(RegistryError::RetryAfterTooLong {
                                url: url.to_string(),
                                retry_after: wait,
                                max: limits.max_retry_after,
                            })
                        }
                        Some(wait) => wait,
                        None => self.backoff(attempt),
                    }
                }
                Attempt::Failed(err) => {
                    let retryable = matches!(
                        err,
                        RegistryError::Transport { .. } | RegistryError::Timeout { .. }
                    );
                    if !retryable || attempt >= limits.max_attempts {
                        return Err(err);
                    }
                    self.backoff(attempt)
                }
            };
            tracing::debug!(%url, attempt, ?retry_wait, "retrying registry request");
            tokio::time::sleep(retry_wait).await;
        }
    }

    async fn send_following_redirects(
        &self,
        url: &Url,
        opts: RequestOptions<'_>,
        authorization: Option<&str>,
    ) -> Attempt {
        let limits = &self.inner.limits;
        let mut current = url.clone();
        for _ in 0..=limits.max_redirects {
            let http = match self.http_for(&current).await {
                Ok(http) => http,
                Err(e) => return Attempt::Failed(e),
            };
            let mut request = http.get(current.clone()).header(ACCEPT, opts.accept);
            // Credentials go only to the origin the request was made to, never across a redirect.
            if let Some(value) = authorization.filter(|_| same_origin(&current, url)) {
                request = request.header(AUTHORIZATION, value);
            }
            if opts.whole_timeout {
                request = request.timeout(limits.request_timeout);
            }
            let resp = match self.execute(request).await {
                Ok(resp) => resp,
                Err(e) => {
                    return Attempt::Failed(transport_error(
                        current.as_str(),
                        e,
                        limits.request_timeout,
                    ))
                }
            };
            if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Attempt::Response {
                    response: resp,
                    answered_by: current,
                };
            }
            let Some(location) = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()) else {
                return Attempt::Failed(RegistryError::Redirect {
                    url: url.to_string(),
                    reason: "no Location header".to_owned(),
                });
            };
            let next = match current.join(location) {
                Ok(next) if matches!(next.scheme(), "https" | "http") => next,
                _ => {
                    return Attempt::Failed(RegistryError::Redirect {
                        url: url.to_string(),
                        reason: format!("unusable Location {location:?}"),
                    })
                }
            };
            if current.scheme() == "https" && next.scheme() == "http" {
                return Attempt::Failed(RegistryError::Redirect {
                    url: url.to_string(),
                    reason: format!("refusing a downgrade from https to {next}"),
                });
            }
            current = next;
        }
        Attempt::Failed(RegistryError::Redirect {
            url: url.to_string(),
            reason: format!("more than {} redirects", limits.max_redirects),
        })
    }

    /// Sends `request` over the network; in a fuzz build with a [`FuzzResponder`], hands it to
    /// the responder instead (the one place a request leaves the client).
    pub(crate) async fn execute(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Response, reqwest::Error> {
        #[cfg(fuzzing)]
        if let Some(responder) = &self.inner.fuzz_responder {
            let request = request.build()?;
            return Ok((responder.0)(&request));
        }
        request.send().await
    }

    /// Full-jitter exponential backoff for attempt `n` (1-based).
    fn backoff(&self, attempt: u32) -> Duration {
        let limits = &self.inner.limits;
        let ceiling = limits
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(limits.backoff_max);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        let mut hasher = self.inner.jitter_state.build_hasher();
        hasher.write_u64(self.inner.jitter.fetch_add(1, Ordering::Relaxed));
        Duration::from_nanos(hasher.finish() % (nanos + 1))
    }
}

/// Maps a non-success response to an error (404 → `NotFound`, else `Status`), reading at most
/// a few KiB of the body for the registry's message.
pub(crate) async fn status_error(url: &Url, resp: Response) -> RegistryError {
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= 8 * 1024 {
            body.truncate(8 * 1024);
            break;
        }
    }
    let message = registry_message(&body);
    if status == 404 {
        RegistryError::NotFound {
            url: url.to_string(),
            status,
            message,
        }
    } else {
        RegistryError::Status {
            url: url.to_string(),
            status,
            message,
        }
    }
}

async fn expect_success(url: &Url, resp: Response) -> Result<Response, RegistryError> {
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(status_error(url, resp).await)
    }
}

/// The distribution error body's `CODE: message` entries, else the start of the body.
pub(crate) fn registry_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        let joined: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{}: {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            })
            .collect();
        return joined.join("; ");
    }
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    text.trim().to_owned()
}

pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn transport_error(url: &str, e: reqwest::Error, timeout: Duration) -> RegistryError {
    if e.is_timeout() {
        RegistryError::Timeout {
            url: url.to_owned(),
            after: timeout,
        }
    } else {
        RegistryError::Transport {
            url: url.to_owned(),
            source: Box::new(e),
        }
    }
}

/// `host[:port]` of `url` as an operator writes it: the port only when it is explicit.
pub(crate) fn url_host(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `Retry-After` as delay-seconds, or an HTTP date measured against the response's own `Date`
/// header (the library reads no clock).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let now = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    let now = chrono::DateTime::parse_from_rfc2822(now.trim()).ok()?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:10 GMT".parse().unwrap(),
        );
        h.insert(
            reqwest::header::DATE,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(10)));
    }

    proptest::proptest! {
        #[test]
        fn header_parsers_never_panic(header in ".*") {
            let c = super::auth::Challenge::parse(&header);
            let _ = c.param("realm");
            let mut h = HeaderMap::new();
            if let Ok(v) = header.parse() {
                h.insert(RETRY_AFTER, v);
                let _ = retry_after(&h);
            }
            let _ = registry_message(header.as_bytes());
        }
    }

    #[tokio::test]
    async fn the_tls_client_is_built_on_the_first_https_url_only() {
        let client = RegistryClient::builder()
            .plain_http_host("127.0.0.1:1")
            .limits(Limits {
                max_attempts: 1,
                ..Limits::without_backoff()
            })
            .build()
            .unwrap();
        let plain = Url::parse("http://127.0.0.1:1/v2/").unwrap();
        client.http_for(&plain).await.unwrap();
        // A plain-HTTP request (here: refused) never loads the system root store.
        let reference = ImageReference::parse("127.0.0.1:1/a/b:v1").unwrap();
        assert!(matches!(
            client.resolve(&reference).await,
            Err(RegistryError::Transport { .. })
        ));
        assert!(client.inner.tls.get().is_none());

        let secure = Url::parse("https://127.0.0.1:1/v2/").unwrap();
        client.http_for(&secure).await.unwrap();
        assert!(client.inner.tls.get().is_some());
        // Clones share it: built once per client, not per request or per clone.
        assert!(client.clone().inner.tls.get().is_some());
        let other = ImageReference::parse("localhost:1/a/b:v1").unwrap();
        assert!(matches!(
            client.resolve(&other).await,
            Err(RegistryError::Transport { .. })
        ));
    }

    /// A throwaway self-signed CA (openssl, P-256); only parsed, never used to sign.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjjCCATWgAwIBAgIUS3ifwKigLdr11oy5n3nujpNxtO8wCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRdHJ1c3RwdWxsIHRlc3QgQ0EwIBcNMjYxMTMwMDYyNDMyWhgP
MjEyNjExMDYwNjI0MzJaMBwxGjAYBgNVBAMMEXRydXN0cHVsbCB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEI7dzu4pfLz1kM61f//3pYcfdxbUVGZ21
Ol3vqK8dYIu6EAl1C7j+Katu34WNCGQsbi/tfC2mSr4A2m+KiT0KXKNTMFEwHQYD
VR0OBBYEFFuMKXffRACwrebh5sbjfyZ9K650MB8GA1UdIwQYMBaAFFuMKXffRACw
rebh5sbjfyZ9K650MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIg
WWAe+EFt0UhkrWqQaEPCCmZupSGJH+4R1lONl0eonL0CIBLxuSq5XI/igP+K4x2K
2mZlKDqffGtOiBbyRPkxoxiT
-----END CERTIFICATE-----\n";

    #[tokio::test]
    async fn a_host_ca_is_trusted_for_that_host_only() {
        let client = RegistryClient::builder()
            .host_root_certificates_pem("gallery.internal:8443", TEST_CA)
            .build()
            .unwrap();
        let own = Url::parse("https://gallery.internal:8443/index.yaml").unwrap();
        let other = Url::parse("https://gallery.internal/index.yaml").unwrap();
        let (own_client, other_client) = (
            client.http_for(&own).await.unwrap() as *const reqwest::Client,
            client.http_for(&other).await.unwrap() as *const reqwest::Client,
        );
        assert_ne!(own_client, other_client);
        let host = &client.inner.host_tls["gallery.internal:8443"];
        assert_eq!(host.roots.len(), 1);
        assert!(std::ptr::eq(host.client.get().unwrap(), own_client));
        assert!(std::ptr::eq(client.inner.tls.get().unwrap(), other_client));
        assert!(client.inner.extra_roots.is_empty());

        let err = RegistryClient::builder()
            .host_root_certificates_pem("h", "not a certificate")
            .build()
            .unwrap_err();
        assert!(matches!(err, RegistryError::Config { .. }), "{err}");
    }

    #[test]
    fn registry_messages() {
        assert_eq!(
            registry_message(br#"{"errors":[{"code":"DENIED","message":"no"}]}"#),
            "DENIED: no"
        );
        assert_eq!(registry_message(b"plain\ntext"), "plaintext");
    }
}
