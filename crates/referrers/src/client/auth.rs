//! Answering a registry's 401: HTTP Basic, or a bearer token from the challenge's realm, and
//! the rules that keep credentials with the registry they belong to.
//!
//! - Only a 401 answered by the origin the request was made to starts a flow. When a request
//!   was redirected (to a blob CDN, object storage, any other origin) and the redirect target
//!   answers 401, nothing is authenticated and no credential or token request goes anywhere:
//!   the 401 stands and becomes an `Unavailable` error like any other 401.
//! - A bearer realm must be `https`, or plain `http` on the registry's own host when the
//!   registry itself is spoken to over plain HTTP (a host the caller listed); see
//!   [`check_token_realm`]. Anything else is [`RegistryError::InsecureTokenRealm`], before any
//!   credential is looked up.
//! - Secrets never reach `Debug`: cached `Authorization` values are [`AuthorizationValue`]s,
//!   whose `Debug` is redacted, and [`Credential`]'s `Debug` shows only a user name.

use std::fmt;

use base64::Engine as _;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::Url;
use serde::Deserialize;

use super::{parse_document, registry_message, transport_error, RegistryClient};
use crate::credentials::Credential;
use crate::{RegistryError, Repository};

/// An `Authorization` header value (`Basic …` or `Bearer …`) as cached per registry and
/// repository. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct AuthorizationValue(String);

impl AuthorizationValue {
    fn basic(username: &str, password: &str) -> Self {
        Self(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
        ))
    }

    fn bearer(token: &str) -> Self {
        Self(format!("Bearer {token}"))
    }

    /// The header value, to be sent to the registry's own origin only.
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthorizationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.0.split_once(' ').map_or("", |(scheme, _)| scheme);
        write!(f, "AuthorizationValue({scheme} <redacted>)")
    }
}

/// Whether a token service at `realm` may be asked for a token on behalf of the registry at
/// `registry` (the URL of the request that was answered with the bearer challenge).
///
/// Allowed: any `https` realm; a plain `http` realm only when the registry itself is spoken
/// to over plain HTTP and the realm is on the same host (any port: the same machine, so
/// credentials cross no other network path than the registry's own requests). Refused: an
/// `http` realm on another host, an `http` realm for an `https` registry, any other scheme.
pub(super) fn check_token_realm(
    registry: &Url,
    realm: &Url,
    registry_name: &str,
) -> Result<(), RegistryError> {
    let allowed = match realm.scheme() {
        "https" => true,
        "http" => {
            registry.scheme() == "http"
                && realm.host_str().is_some()
                && realm.host_str() == registry.host_str()
        }
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(RegistryError::InsecureTokenRealm {
            registry: registry_name.to_owned(),
            registry_origin: registry.origin().ascii_serialization(),
            realm: realm.origin().ascii_serialization(),
        })
    }
}

impl RegistryClient {
    /// The `Authorization` value that worked last for `key` (api host, repository).
    pub(super) fn cached_authorization(
        &self,
        key: &(String, String),
    ) -> Option<AuthorizationValue> {
        self.inner
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    pub(super) fn store_authorization(&self, key: (String, String), value: AuthorizationValue) {
        self.inner
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, value);
    }

    async fn credential_for(&self, host: &str) -> Result<Option<Credential>, RegistryError> {
        let mut cache = self.inner.credential_cache.lock().await;
        if let Some(c) = cache.get(host) {
            return Ok(c.clone());
        }
        let found = self
            .inner
            .credentials
            .lookup(host, self.inner.limits.request_timeout)
            .await?;
        cache.insert(host.to_owned(), found.clone());
        Ok(found)
    }

    /// Answers a 401 challenge that the registry's own origin (`url`) sent: the
    /// `Authorization` value to replay with, or `None` when there is nothing to try (the 401
    /// then stands). The caller never calls this for a 401 from a redirect target.
    pub(super) async fn authenticate(
        &self,
        repo: &Repository,
        url: &Url,
        headers: &HeaderMap,
    ) -> Result<Option<AuthorizationValue>, RegistryError> {
        let Some(challenge) = headers.get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()) else {
            return Ok(None);
        };
        let challenge = Challenge::parse(challenge);
        match challenge.scheme.to_ascii_lowercase().as_str() {
            "basic" => Ok(match self.credential_for(repo.registry()).await? {
                Some(Credential::Basic { username, password }) => {
                    Some(AuthorizationValue::basic(&username, &password))
                }
                Some(Credential::Bearer(token)) => Some(AuthorizationValue::bearer(&token)),
                _ => None,
            }),
            "bearer" => {
                // Checked before any credential is looked up (a helper may run for that).
                let realm = token_realm(repo, url, &challenge)?;
                let credential = self.credential_for(repo.registry()).await?;
                if let Some(Credential::Bearer(token)) = &credential {
                    return Ok(Some(AuthorizationValue::bearer(token)));
                }
                let token = self
                    .fetch_token(repo, realm, &challenge, credential.as_ref())
                    .await?;
                Ok(Some(AuthorizationValue::bearer(&token)))
            }
            _ => Ok(None),
        }
    }

    async fn fetch_token(
        &self,
        repo: &Repository,
        mut realm_url: Url,
        challenge: &Challenge,
        credential: Option<&Credential>,
    ) -> Result<String, RegistryError> {
        let auth_error = |reason: String| RegistryError::Auth {
            registry: repo.registry().to_owned(),
            reason,
        };
        let scope = challenge
            .param("scope")
            .map_or_else(|| format!("repository:{}:pull", repo.name()), str::to_owned);
        let service = challenge.param("service");
        let limits = &self.inner.limits;
        let http = self.http_for(&realm_url).await?;
        let request = if let Some(Credential::IdentityToken(refresh)) = credential {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", refresh);
            form.append_pair("client_id", "trustpull");
            form.append_pair("scope", &scope);
            if let Some(s) = service {
                form.append_pair("service", s);
            }
            http.post(realm_url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.finish())
        } else {
            {
                let mut q = realm_url.query_pairs_mut();
                q.append_pair("scope", &scope);
                if let Some(s) = service {
                    q.append_pair("service", s);
                }
            }
            let mut request = http.get(realm_url.clone());
            if let Some(Credential::Basic { username, password }) = credential {
                request = request.header(
                    AUTHORIZATION,
                    AuthorizationValue::basic(username, password).as_str(),
                );
            }
            request
        };
        let resp = self
            .execute(request.timeout(limits.request_timeout))
            .await
            .map_err(|e| transport_error(realm_url.as_str(), e, limits.request_timeout))?;
        let status = resp.status();
        let body = self
            .read_capped(&realm_url, resp, 1024 * 1024, "token response")
            .await?;
        if !status.is_success() {
            return Err(auth_error(format!(
                "token service {} answered HTTP {}: {}",
                realm_url.origin().ascii_serialization(),
                status.as_u16(),
                registry_message(&body)
            )));
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let parsed: TokenResponse = parse_document(&realm_url, &body, "token response")?;
        parsed
            .token
            .filter(|t| !t.is_empty())
            .or(parsed.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| auth_error("the token service answered without a token".to_owned()))
    }
}

/// The bearer challenge's realm, parsed and checked with [`check_token_realm`].
fn token_realm(repo: &Repository, url: &Url, challenge: &Challenge) -> Result<Url, RegistryError> {
    let auth_error = |reason: String| RegistryError::Auth {
        registry: repo.registry().to_owned(),
        reason,
    };
    let realm = challenge
        .param("realm")
        .ok_or_else(|| auth_error("the bearer challenge has no realm".to_owned()))?;
    let realm_url = Url::parse(realm)
        .map_err(|e| auth_error(format!("the bearer realm {realm:?} is not a URL: {e}")))?;
    check_token_realm(url, &realm_url, repo.registry())?;
    Ok(realm_url)
}

/// A parsed `WWW-Authenticate` challenge: `Scheme k="v", k2=v2`.
pub(super) struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    pub(super) fn parse(header: &str) -> Self {
        let header = header.trim();
        let (scheme, rest) = header
            .split_once(char::is_whitespace)
            .unwrap_or((header, ""));
        let mut params = Vec::new();
        let mut rest = rest.trim_start();
        while !rest.is_empty() {
            let Some((key, after)) = rest.split_once('=') else {
                break;
            };
            let key = key
                .trim()
                .trim_start_matches(',')
                .trim()
                .to_ascii_lowercase();
            let after = after.trim_start();
            let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        _ => value.push(c),
                    }
                }
                (value, &quoted[end.min(quoted.len())..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            };
            params.push((key, value));
            rest = remaining.trim_start().trim_start_matches(',').trim_start();
        }
        Self {
            scheme: scheme.to_owned(),
            params,
        }
    }

    pub(super) fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("registry.example"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        let b = Challenge::parse(r#"Basic realm="basic-realm""#);
        assert_eq!(
            (b.scheme.as_str(), b.param("realm")),
            ("Basic", Some("basic-realm"))
        );
    }

    /// `(registry URL, realm URL, allowed?)`: https anywhere; http only on the plain-HTTP
    /// registry's own host.
    #[test]
    fn token_realm_rule() {
        for (registry, realm, allowed) in [
            (
                "https://r.example/v2/a/b/",
                "https://auth.example/token",
                true,
            ),
            ("https://r.example/v2/a/b/", "https://r.example/token", true),
            (
                "http://r.example:5000/v2/a/b/",
                "https://auth.example/token",
                true,
            ),
            (
                "http://r.example:5000/v2/a/b/",
                "http://r.example:5000/token",
                true,
            ),
            (
                "http://r.example:5000/v2/a/b/",
                "http://r.example:5001/token",
                true,
            ),
            (
                "http://127.0.0.1:5000/v2/a/b/",
                "http://127.0.0.1/token",
                true,
            ),
            (
                "http://r.example:5000/v2/a/b/",
                "http://auth.example/token",
                false,
            ),
            (
                "http://127.0.0.1:5000/v2/a/b/",
                "http://localhost:5000/token",
                false,
            ),
            ("https://r.example/v2/a/b/", "http://r.example/token", false),
            (
                "https://r.example/v2/a/b/",
                "http://auth.example/token",
                false,
            ),
            ("http://r.example/v2/a/b/", "ftp://r.example/token", false),
            ("http://r.example/v2/a/b/", "file:///etc/token", false),
        ] {
            let registry = Url::parse(registry).unwrap();
            let realm = Url::parse(realm).unwrap();
            let got = check_token_realm(&registry, &realm, "r.example");
            if allowed {
                assert!(got.is_ok(), "{registry} → {realm}: {got:?}");
            } else {
                assert!(
                    matches!(
                        &got,
                        Err(RegistryError::InsecureTokenRealm { registry: name, realm: found, .. })
                            if name == "r.example" && *found == realm.origin().ascii_serialization()
                    ),
                    "{registry} → {realm}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn authorization_values_are_redacted_in_debug() {
        for value in [
            AuthorizationValue::basic("alice", "s3cr3t-XYZ"),
            AuthorizationValue::bearer("s3cr3t-XYZ"),
        ] {
            for text in [format!("{value:?}"), format!("{value:#?}")] {
                assert!(!text.contains("s3cr3t-XYZ"), "{text}");
                let (_, secret) = value.0.split_once(' ').unwrap();
                assert!(!text.contains(secret), "{text}");
                assert!(text.contains("<redacted>"), "{text}");
            }
        }
    }
}

/// Fuzzing entry point (`cargo xtask fuzz`, built only with `--cfg fuzzing`): parses a
/// `WWW-Authenticate` value and checks its realm the way a challenge from `registry` is checked.
/// Returns the realm when it would be used.
#[cfg(fuzzing)]
pub fn fuzz_challenge(registry: &Url, header: &str) -> Option<Url> {
    let host = match registry.port() {
        Some(port) => format!("{}:{port}", registry.host_str()?),
        None => registry.host_str()?.to_owned(),
    };
    let repo = Repository::new(&host, "fuzz/repo").ok()?;
    token_realm(&repo, registry, &Challenge::parse(header)).ok()
}
