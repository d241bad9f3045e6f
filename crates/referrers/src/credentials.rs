//! Registry credentials: explicit ones, a parsed Docker `config.json`, or none.
//!
//! This module never reads the environment or the user's home: the caller (the CLI) finds the
//! Docker config file and passes its bytes to [`DockerConfig::from_json`]. Credential helpers
//! (`credHelpers`, `credsStore`) are run as `docker-credential-<name> get`, the Docker
//! credential-helper protocol, only when a registry actually asks for credentials.

use std::collections::BTreeMap;
use std::fmt;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::RegistryError;

/// One registry's credentials. `Debug` never shows secrets: a user name at most.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// Username and password (HTTP Basic, or exchanged for a bearer token).
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in config.json), exchanged for a bearer token.
    IdentityToken(String),
    /// A ready bearer token, sent as is.
    Bearer(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
            Self::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// The parts of a Docker `config.json` that say how to authenticate. `Debug` shows which hosts
/// have stored credentials and which helpers are named, never the credentials (nor the base64
/// `auth` field they came from, which is not kept).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    auths: BTreeMap<String, Credential>,
    cred_helpers: BTreeMap<String, String>,
    creds_store: Option<String>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("auths", &self.auths.keys().collect::<Vec<_>>())
            .field("cred_helpers", &self.cred_helpers)
            .field("creds_store", &self.creds_store)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl DockerConfig {
    /// Parses the bytes of a Docker `config.json`. Entries without usable credentials (as
    /// written when a `credsStore` holds them) are skipped.
    ///
    /// ```
    /// use trustpull_referrers::{Credential, DockerConfig};
    /// let c = DockerConfig::from_json(br#"{"auths":{"https://127.0.0.1:5000":{"auth":"dTpw"}}}"#)?;
    /// assert_eq!(c.auth_for("127.0.0.1:5000"), Some(&Credential::Basic { username: "u".into(), password: "p".into() }));
    /// # Ok::<(), trustpull_referrers::RegistryError>(())
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Self, RegistryError> {
        let raw: RawConfig = serde_json::from_slice(bytes).map_err(|e| RegistryError::Config {
            reason: format!("docker config.json does not parse: {e}"),
        })?;
        let mut auths = BTreeMap::new();
        for (key, entry) in raw.auths {
            let host = normalize_host(&key);
            let credential = if let Some(token) = entry.identitytoken.filter(|t| !t.is_empty()) {
                Some(Credential::IdentityToken(token))
            } else if let Some(token) = entry.registrytoken.filter(|t| !t.is_empty()) {
                Some(Credential::Bearer(token))
            } else if let (Some(username), Some(password)) =
                (entry.username.clone(), entry.password.clone())
            {
                Some(Credential::Basic { username, password })
            } else if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|e| RegistryError::Config {
                        reason: format!(
                            "docker config.json: auths[{key:?}].auth is not base64: {e}"
                        ),
                    })?;
                let decoded = String::from_utf8(decoded).map_err(|_| RegistryError::Config {
                    reason: format!("docker config.json: auths[{key:?}].auth is not UTF-8"),
                })?;
                let Some((username, password)) = decoded.split_once(':') else {
                    return Err(RegistryError::Config {
                        reason: format!(
                            "docker config.json: auths[{key:?}].auth must decode to user:password"
                        ),
                    });
                };
                Some(Credential::Basic {
                    username: username.to_owned(),
                    password: password.to_owned(),
                })
            } else {
                None
            };
            if let Some(c) = credential {
                auths.insert(host, c);
            }
        }
        let cred_helpers = raw
            .cred_helpers
            .into_iter()
            .map(|(k, v)| (normalize_host(&k), v))
            .collect();
        Ok(Self {
            auths,
            cred_helpers,
            creds_store: raw.creds_store.filter(|s| !s.is_empty()),
        })
    }

    /// The static credentials stored for `host` in `auths`, if any.
    pub fn auth_for(&self, host: &str) -> Option<&Credential> {
        self.auths.get(&normalize_host(host))
    }

    /// The credential helper that holds `host`'s credentials: its `credHelpers` entry, else
    /// `credsStore`.
    pub fn helper_for(&self, host: &str) -> Option<&str> {
        self.cred_helpers
            .get(&normalize_host(host))
            .or(self.creds_store.as_ref())
            .map(String::as_str)
    }
}

/// Where a [`crate::RegistryClient`] gets credentials: explicit per-host ones first, then the
/// config files in the order given (e.g. podman's `auth.json`, then Docker's `config.json`);
/// anonymous when none has an entry. `Debug` never shows secrets (it uses [`Credential`]'s and
/// [`DockerConfig`]'s redacting `Debug`).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    explicit: BTreeMap<String, Credential>,
    configs: Vec<DockerConfig>,
}

impl Credentials {
    /// No credentials at all: every request is anonymous (bearer tokens are still requested
    /// anonymously when a registry asks for them).
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Credentials from a parsed Docker config.
    pub fn from_docker_config(config: DockerConfig) -> Self {
        Self::anonymous().and_config(config)
    }

    /// Adds a config file consulted after those added before it: a host's `credHelpers` entry
    /// or `auths` entry in an earlier file wins; a `credsStore` is the last resort, the first
    /// file's that names one. Podman's `auth.json` has the same shape as Docker's
    /// `config.json`.
    #[must_use]
    pub fn and_config(mut self, config: DockerConfig) -> Self {
        self.configs.push(config);
        self
    }

    /// Adds explicit credentials for `host` (`host[:port]`); they win over the Docker config.
    #[must_use]
    pub fn with(mut self, host: &str, credential: Credential) -> Self {
        self.explicit.insert(normalize_host(host), credential);
        self
    }

    /// Looks up `host`, running a credential helper if the Docker config names one.
    pub(crate) async fn lookup(
        &self,
        host: &str,
        timeout: Duration,
    ) -> Result<Option<Credential>, RegistryError> {
        let key = normalize_host(host);
        if let Some(c) = self.explicit.get(&key) {
            return Ok(Some(c.clone()));
        }
        for config in &self.configs {
            if let Some(helper) = config.cred_helpers.get(&key) {
                return run_helper(helper, host, timeout).await;
            }
            if let Some(c) = config.auths.get(&key) {
                return Ok(Some(c.clone()));
            }
        }
        if let Some(store) = self.configs.iter().find_map(|c| c.creds_store.as_ref()) {
            return run_helper(store, host, timeout).await;
        }
        Ok(None)
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://h:5000/x` → `h:5000`.
fn normalize_host(key: &str) -> String {
    let no_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = no_scheme
        .split('/')
        .next()
        .unwrap_or(no_scheme)
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        _ => host,
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

async fn run_helper(
    helper: &str,
    host: &str,
    timeout: Duration,
) -> Result<Option<Credential>, RegistryError> {
    let fail = |reason: String| RegistryError::CredentialHelper {
        helper: helper.to_owned(),
        registry: host.to_owned(),
        reason,
    };
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(fail(
            "the helper name must be letters, digits, '-', '_' or '.'".to_owned(),
        ));
    }
    let server = if normalize_host(host) == "docker.io" {
        "https://index.docker.io/v1/".to_owned()
    } else {
        host.to_owned()
    };
    let mut child = tokio::process::Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            fail(format!(
                "could not start it ({e}); install it or remove it from the Docker config"
            ))
        })?;
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(server.as_bytes()).await?;
        }
        let mut out = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            stdout.take(64 * 1024).read_to_end(&mut out).await?;
        }
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out))
    };
    let (status, out) = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| fail(format!("no answer within {timeout:?}")))?
        .map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        let text = String::from_utf8_lossy(&out);
        if text.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("exited with {status}")));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out)
        .map_err(|e| fail(format!("its answer is not the expected JSON: {e}")))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    if answer.username == "<token>" {
        return Ok(Some(Credential::IdentityToken(answer.secret)));
    }
    Ok(Some(Credential::Basic {
        username: answer.username,
        password: answer.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config_json_variants() {
        let json = br#"{
            "auths": {
                "https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="},
                "ghcr.io": {"username": "u", "password": "p"},
                "quay.io": {"identitytoken": "refresh"},
                "stored.example": {}
            },
            "credHelpers": {"gcr.io": "gcloud"},
            "credsStore": "desktop"
        }"#;
        let c = DockerConfig::from_json(json).unwrap();
        assert_eq!(
            c.auth_for("docker.io"),
            Some(&Credential::Basic {
                username: "user".into(),
                password: "pa:ss".into()
            })
        );
        assert_eq!(
            c.auth_for("ghcr.io"),
            Some(&Credential::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(
            c.auth_for("quay.io"),
            Some(&Credential::IdentityToken("refresh".into()))
        );
        assert_eq!(c.auth_for("stored.example"), None);
        assert_eq!(c.helper_for("gcr.io"), Some("gcloud"));
        assert_eq!(c.helper_for("stored.example"), Some("desktop"));
        assert!(!format!("{:?}", c.auth_for("ghcr.io")).contains("\"p\""));
    }

    #[test]
    fn rejects_bad_auth_field() {
        let err =
            DockerConfig::from_json(br#"{"auths":{"h":{"auth":"bm9jb2xvbg=="}}}"#).unwrap_err();
        assert!(matches!(err, RegistryError::Config { .. }));
    }

    #[tokio::test]
    async fn explicit_wins_and_missing_helper_is_an_error() {
        let docker = DockerConfig::from_json(
            br#"{"auths":{"h:1":{"auth":"YTpi"}},"credHelpers":{"x:1":"trustpull-test-missing"}}"#,
        )
        .unwrap();
        let creds =
            Credentials::from_docker_config(docker).with("h:1", Credential::Bearer("t".into()));
        assert_eq!(
            creds.lookup("h:1", Duration::from_secs(5)).await.unwrap(),
            Some(Credential::Bearer("t".into()))
        );
        assert_eq!(
            creds
                .lookup("other:1", Duration::from_secs(5))
                .await
                .unwrap(),
            None
        );
        let err = creds
            .lookup("x:1", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::CredentialHelper { ref helper, .. } if helper == "trustpull-test-missing")
        );
    }

    #[tokio::test]
    async fn earlier_config_files_win_and_a_creds_store_is_the_last_resort() {
        let podman = DockerConfig::from_json(br#"{"auths":{"h:1":{"auth":"cDpw"}}}"#).unwrap();
        let docker = DockerConfig::from_json(
            br#"{"auths":{"h:1":{"auth":"ZDpk"},"d:1":{"auth":"ZDpk"}},"credsStore":"trustpull-test-missing"}"#,
        )
        .unwrap();
        let creds = Credentials::from_docker_config(podman).and_config(docker);
        let basic = |u: &str, p: &str| {
            Some(Credential::Basic {
                username: u.into(),
                password: p.into(),
            })
        };
        let wait = Duration::from_secs(5);
        assert_eq!(creds.lookup("h:1", wait).await.unwrap(), basic("p", "p"));
        assert_eq!(creds.lookup("d:1", wait).await.unwrap(), basic("d", "d"));
        let err = creds.lookup("other:1", wait).await.unwrap_err();
        assert!(
            matches!(err, RegistryError::CredentialHelper { ref helper, .. } if helper == "trustpull-test-missing")
        );
    }
}
