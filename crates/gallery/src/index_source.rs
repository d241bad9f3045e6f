//! Where a gallery's backend index comes from: a local file, `file://`, a path
//! relative to the config, `https://` (system roots plus the host's `ca_file`), `http://` only
//! for hosts listed `plain_http: true`, and `github:OWNER/REPO/PATH[@REF]` (read as
//! `https://raw.githubusercontent.com/OWNER/REPO/REF/PATH`, REF `main` by default, as LocalAI
//! writes gallery URLs).
//!
//! Network reads go through the run's [`RegistryClient`] ([`RegistryClient::get_url_capped`]):
//! the same transport rules as registries (plain HTTP only for listed hosts, per-host CAs,
//! retries, redirects never downgrading, no credentials sent) and one connection pool for the
//! whole run. Every read is capped at [`MAX_INDEX_BYTES`] while it streams.
//!
//! The gallery's `mirrors:` are tried, in order, only when the url is *unavailable*: a
//! connection failure, a timeout, a 5xx or another error status. A 404, a document over the
//! cap, a document that does not parse, an unreadable local file, or a refused `http://` URL is
//! the gallery's answer (exit 2), never a reason to try a mirror.

use std::io::Read;
use std::path::{Path, PathBuf};

use trustpull_downloader::ErrorKind;
use trustpull_referrers::{RegistryClient, RegistryError, RegistryErrorKind};

use crate::{BackendIndex, Gallery, IndexError, IndexLocation, MAX_INDEX_BYTES};

/// The prefix of GitHub gallery URLs.
pub const GITHUB_SCHEME: &str = "github:";

/// `github:OWNER/REPO/PATH[@REF]` → `https://raw.githubusercontent.com/OWNER/REPO/REF/PATH`
/// (REF `main` when absent). `spec` is the text after `github:`.
///
/// ```
/// assert_eq!(
///     trustpull_gallery::github_raw_url("mudler/LocalAI/backend/index.yaml@v3.5.0").as_deref(),
///     Ok("https://raw.githubusercontent.com/mudler/LocalAI/v3.5.0/backend/index.yaml"),
/// );
/// ```
pub fn github_raw_url(spec: &str) -> Result<String, String> {
    let (path, reference) = match spec.rsplit_once('@') {
        Some((path, reference)) => (path, reference),
        None => (spec, "main"),
    };
    let mut parts = path.splitn(3, '/');
    let (Some(owner), Some(repo), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "{GITHUB_SCHEME}{spec} must be {GITHUB_SCHEME}OWNER/REPO/PATH[@REF]"
        ));
    };
    let plain = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if !plain(owner) || !plain(repo) {
        return Err(format!(
            "{GITHUB_SCHEME}{spec}: owner and repository must be plain names"
        ));
    }
    // PATH and REF may have slashes (a branch `release/v1`), but no empty, `.` or `..` part.
    if !file.split('/').all(plain) || !reference.split('/').all(plain) {
        return Err(format!(
            "{GITHUB_SCHEME}{spec}: the path and ref may not have empty, `.` or `..` parts or characters other than letters, digits, - _ ."
        ));
    }
    Ok(format!(
        "https://raw.githubusercontent.com/{owner}/{repo}/{reference}/{file}"
    ))
}

/// Why a gallery's index could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexSourceError {
    /// A local index file could not be read.
    #[error("cannot read index {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The server answered that the index does not exist (404): the gallery's url is wrong.
    #[error("index {url} does not exist; check the gallery's url")]
    NotFound {
        /// The URL.
        url: String,
        /// What the server said.
        #[source]
        source: RegistryError,
    },
    /// The URL may not be fetched as configured (plain `http://` for a host not listed
    /// `plain_http: true`, a bad CA file, not a URL).
    #[error("index {url} cannot be fetched as configured")]
    Refused {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: RegistryError,
    },
    /// The index is over [`MAX_INDEX_BYTES`]; nothing past the limit was read.
    #[error("index {location} is larger than the {limit}-byte limit; refusing it")]
    TooLarge {
        /// The file or URL.
        location: String,
        /// The limit.
        limit: usize,
    },
    /// The index does not parse.
    #[error("index {location} is not a valid backend index")]
    Parse {
        /// The file or URL.
        location: String,
        /// The parse error.
        #[source]
        source: IndexError,
    },
    /// The server or network failed (connection, timeout, 5xx or another error status): a
    /// retry may help, and this is what sends the read to a mirror.
    #[error("index {url} is unavailable; retry later")]
    Unavailable {
        /// The URL.
        url: String,
        /// The transport or status error.
        #[source]
        source: RegistryError,
    },
    /// The url and every mirror were unavailable.
    #[error("the index and its {} mirror(s) were all unavailable ({}); retry later", tried.len().saturating_sub(1), tried.join(", "))]
    AllUnavailable {
        /// The locations tried, in order.
        tried: Vec<String>,
        /// The last error.
        #[source]
        source: Box<IndexSourceError>,
    },
}

impl IndexSourceError {
    /// Unavailable for network failures (retry may help); config for everything else.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unavailable { .. } | Self::AllUnavailable { .. } => ErrorKind::Unavailable,
            _ => ErrorKind::Config,
        }
    }
}

/// A gallery's index and where it was read from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadedIndex {
    /// The parsed index.
    pub index: BackendIndex,
    /// The location that served it (the url, or the mirror used).
    pub location: String,
    /// The locations skipped as unavailable before it, with why (for a warning).
    pub skipped: Vec<String>,
}

/// Reads `gallery`'s index from its url, or from its mirrors in order when the url is
/// unavailable (see the module docs). `client` is the run's registry client (connections
/// reused; plain-HTTP hosts and CA files from the config's `registries:`).
pub async fn fetch_index(
    gallery: &Gallery,
    client: &RegistryClient,
) -> Result<LoadedIndex, IndexSourceError> {
    let mut tried = Vec::new();
    let mut skipped = Vec::new();
    let mut last = None;
    for location in std::iter::once(&gallery.url).chain(&gallery.mirrors) {
        let name = describe(location);
        match read_one(location, client).await {
            Ok(index) => {
                return Ok(LoadedIndex {
                    index,
                    location: name,
                    skipped,
                })
            }
            Err(e) if e.kind() == ErrorKind::Unavailable => {
                skipped.push(format!("{name}: {}", trustpull_downloader::error_chain(&e)));
                tried.push(name);
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    let last = last.expect("the url is always tried, so a failure was recorded");
    if tried.len() == 1 {
        return Err(last);
    }
    Err(IndexSourceError::AllUnavailable {
        tried,
        source: Box::new(last),
    })
}

fn describe(location: &IndexLocation) -> String {
    match location {
        IndexLocation::File(path) => path.display().to_string(),
        IndexLocation::Url(url) => url.clone(),
    }
}

async fn read_one(
    location: &IndexLocation,
    client: &RegistryClient,
) -> Result<BackendIndex, IndexSourceError> {
    let text = match location {
        IndexLocation::File(path) => read_file(path)?,
        IndexLocation::Url(url) => {
            let bytes = client
                .get_url_capped(url, MAX_INDEX_BYTES as u64, "gallery index")
                .await
                .map_err(|source| match source.kind() {
                    RegistryErrorKind::NotFound => IndexSourceError::NotFound {
                        url: url.clone(),
                        source,
                    },
                    RegistryErrorKind::Config => IndexSourceError::Refused {
                        url: url.clone(),
                        source,
                    },
                    RegistryErrorKind::Rejected => IndexSourceError::TooLarge {
                        location: url.clone(),
                        limit: MAX_INDEX_BYTES,
                    },
                    _ => IndexSourceError::Unavailable {
                        url: url.clone(),
                        source,
                    },
                })?;
            String::from_utf8(bytes.to_vec()).map_err(|e| IndexSourceError::Parse {
                location: url.clone(),
                source: IndexError::Yaml {
                    line: None,
                    message: format!("not UTF-8: {e}"),
                },
            })?
        }
    };
    BackendIndex::parse(&text).map_err(|source| IndexSourceError::Parse {
        location: describe(location),
        source,
    })
}

/// Reads a local index, never more than [`MAX_INDEX_BYTES`] + 1 bytes.
fn read_file(path: &Path) -> Result<String, IndexSourceError> {
    let io = |source| IndexSourceError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_INDEX_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() > MAX_INDEX_BYTES {
        return Err(IndexSourceError::TooLarge {
            location: path.display().to_string(),
            limit: MAX_INDEX_BYTES,
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OperatorConfig;
    use trustpull_referrers::Limits;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const INDEX: &str = "- name: b\n  uri: quay.io/acme/b:v1\n";

    /// A config in `dir` whose gallery `g` has `url` and `mirrors`, with `plain` hosts listed
    /// `plain_http: true`; and the client the install flow would build from it.
    fn setup(
        dir: &Path,
        url: &str,
        mirrors: &[&str],
        plain: &[String],
    ) -> (Gallery, RegistryClient) {
        let registries: String = plain
            .iter()
            .map(|h| format!("  - {{host: '{h}', plain_http: true}}\n"))
            .collect();
        let text = format!(
            "registries:\n{registries}galleries:\n  - name: g\n    url: '{url}'\n    mirrors: {mirrors:?}\n"
        );
        let config = OperatorConfig::parse(&text, &dir.join("galleries.yaml")).expect("config");
        let mut limits = Limits::without_backoff();
        limits.max_attempts = 1;
        let client = crate::client_builder(&config)
            .expect("builder")
            .limits(limits)
            .build()
            .expect("client");
        (config.galleries[0].clone(), client)
    }

    async fn server(status: u16, body: &str, calls: u64) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/index.yaml"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .expect(calls)
            .mount(&server)
            .await;
        server
    }

    fn url(server: &MockServer) -> String {
        format!("http://{}/index.yaml", server.address())
    }

    #[tokio::test]
    async fn plain_http_for_listed_hosts_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let listed = server(200, INDEX, 1).await;
        let (g, client) = setup(
            dir.path(),
            &url(&listed),
            &[],
            &[listed.address().to_string()],
        );
        let loaded = fetch_index(&g, &client).await.expect("index");
        assert_eq!(loaded.index.entries()[0].name.as_str(), "b");
        assert_eq!(loaded.location, url(&listed));

        let unlisted = server(200, INDEX, 0).await;
        let (g, client) = setup(dir.path(), &url(&unlisted), &[], &[]);
        let err = fetch_index(&g, &client).await.expect_err("refused");
        assert!(matches!(err, IndexSourceError::Refused { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[tokio::test]
    async fn mirrors_only_when_the_url_is_unavailable() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("copy.yaml"), INDEX).expect("write");
        let down = server(503, "", 1).await;
        let mirror = server(200, INDEX, 1).await;
        let plain = [down.address().to_string(), mirror.address().to_string()];
        let (g, client) = setup(dir.path(), &url(&down), &[&url(&mirror)], &plain);
        let loaded = fetch_index(&g, &client).await.expect("mirror");
        assert_eq!(loaded.location, url(&mirror));
        assert_eq!(loaded.skipped.len(), 1);

        // Connection refused, then a local copy.
        let refused = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").to_string()
        };
        let gone = format!("http://{refused}/index.yaml");
        let (g, client) = setup(
            dir.path(),
            &gone,
            &["copy.yaml"],
            std::slice::from_ref(&refused),
        );
        let loaded = fetch_index(&g, &client).await.expect("local mirror");
        assert!(loaded.location.ends_with("copy.yaml"));

        // Everything unavailable: unavailable, naming what was tried.
        let down2 = server(502, "", 1).await;
        let plain = [refused.clone(), down2.address().to_string()];
        let (g, client) = setup(dir.path(), &gone, &[&url(&down2)], &plain);
        let err = fetch_index(&g, &client).await.expect_err("all down");
        assert!(
            matches!(&err, IndexSourceError::AllUnavailable { tried, .. } if tried.len() == 2),
            "{err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn the_gallerys_own_answers_are_final() {
        let dir = tempfile::tempdir().expect("tempdir");
        let too_big = "#".repeat(MAX_INDEX_BYTES + 1);
        for (status, body, expect) in [
            (404, "", "not found"),
            (200, "{not: [a list", "parse"),
            (200, "name: not a list\n", "parse"),
            (200, too_big.as_str(), "too large"),
        ] {
            let primary = server(status, body, 1).await;
            let mirror = server(200, INDEX, 0).await;
            let plain = [primary.address().to_string(), mirror.address().to_string()];
            let (g, client) = setup(dir.path(), &url(&primary), &[&url(&mirror)], &plain);
            let err = fetch_index(&g, &client).await.expect_err(expect);
            let matched = match expect {
                "not found" => matches!(err, IndexSourceError::NotFound { .. }),
                "parse" => matches!(err, IndexSourceError::Parse { .. }),
                _ => matches!(err, IndexSourceError::TooLarge { .. }),
            };
            assert!(matched, "{expect}: {err:?}");
            assert_eq!(err.kind(), ErrorKind::Config, "{expect}");
        }
        // A local file over the cap is refused without reading past it.
        std::fs::write(dir.path().join("big.yaml"), &too_big).expect("write");
        let (g, client) = setup(dir.path(), "big.yaml", &[], &[]);
        assert!(matches!(
            fetch_index(&g, &client).await,
            Err(IndexSourceError::TooLarge { .. })
        ));
    }

    #[test]
    fn github_urls() {
        for (spec, url) in [
            (
                "mudler/LocalAI/backend/index.yaml",
                Some("https://raw.githubusercontent.com/mudler/LocalAI/main/backend/index.yaml"),
            ),
            (
                "o/r/index.yaml@release/v1",
                Some("https://raw.githubusercontent.com/o/r/release/v1/index.yaml"),
            ),
            ("o/r", None),
            ("o/r/", None),
            ("o/r/../x.yaml", None),
            ("o/r/x.yaml@", None),
            ("o/r/x.yaml@../../z", None),
            ("o/r/x y.yaml", None),
            ("../r/x.yaml", None),
        ] {
            assert_eq!(github_raw_url(spec).ok().as_deref(), url, "{spec}");
        }
    }
}
