//! [`RegistryClient::get_url`] and [`RegistryClient::get_url_capped`]: plain GETs of a URL that
//! is not a registry API path (a gallery index, a tarball), with the client's transport rules.
//!
//! The same rules as registry requests, minus credentials: `http://` only for hosts the caller
//! listed as plain HTTP, per-host CA certificates, retries with backoff for connection errors,
//! timeouts, 429 and 502/503/504 (honouring `Retry-After`), redirects followed by hand (never
//! from https down to http), the connection pool shared with the registry requests. No
//! `Authorization` header is ever sent: a 401 is an answer, not an invitation.

use bytes::Bytes;
use futures::StreamExt;
use reqwest::Url;

use super::{expect_success, transport_error, url_host, BlobStream, RequestOptions};
use crate::{RegistryClient, RegistryError};

impl RegistryClient {
    /// Opens `url` (`https://`, or `http://` for a plain-HTTP host) as a stream of chunks. The
    /// caller bounds and hashes it. Only connect and between-bytes timeouts apply.
    ///
    /// Errors: a 404 is [`RegistryError::NotFound`]; any other failure status is
    /// [`RegistryError::Status`]; an `http://` URL for a host not listed, or another scheme, is
    /// [`RegistryError::Config`] (nothing is sent).
    pub async fn get_url(&self, url: &str) -> Result<BlobStream, RegistryError> {
        let url = self.checked_url(url)?;
        let resp = self
            .send_as(
                None,
                url.clone(),
                RequestOptions {
                    accept: "*/*",
                    whole_timeout: false,
                },
            )
            .await?;
        let resp = expect_success(&url, resp).await?;
        let content_length = resp.content_length();
        let read_timeout = self.inner.limits.read_timeout;
        let text = url.to_string();
        let inner = resp
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| transport_error(&text, e, read_timeout)));
        Ok(BlobStream {
            content_length,
            inner: Box::pin(inner),
        })
    }

    /// Reads `url` whole into memory, refusing more than `limit` bytes (checked against
    /// `Content-Length` before reading, and while reading: [`RegistryError::TooLarge`]); `what`
    /// names the document in that error. Same rules as [`Self::get_url`], with the client's
    /// whole-request timeout.
    pub async fn get_url_capped(
        &self,
        url: &str,
        limit: u64,
        what: &'static str,
    ) -> Result<Bytes, RegistryError> {
        let url = self.checked_url(url)?;
        let resp = self
            .send_as(
                None,
                url.clone(),
                RequestOptions {
                    accept: "*/*",
                    whole_timeout: true,
                },
            )
            .await?;
        let resp = expect_success(&url, resp).await?;
        self.read_capped(&url, resp, limit, what).await
    }

    /// `url` parsed, if its scheme is https, or http for a listed plain-HTTP host.
    fn checked_url(&self, url: &str) -> Result<Url, RegistryError> {
        let parsed = Url::parse(url).map_err(|e| RegistryError::Config {
            reason: format!("{url:?} is not a URL: {e}"),
        })?;
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if self.inner.plain_http.contains(&url_host(&parsed)) => Ok(parsed),
            "http" => Err(RegistryError::Config {
                reason: format!(
                    "refusing plain http for {url}: host {} is not listed as a plain-HTTP host (plain_http: true in registries:); use https",
                    url_host(&parsed)
                ),
            }),
            other => Err(RegistryError::Config {
                reason: format!("{url}: scheme {other:?} is not http(s)"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, RegistryErrorKind};

    #[tokio::test]
    async fn plain_http_only_for_listed_hosts_and_nothing_else() {
        let client = RegistryClient::builder()
            .plain_http_host("127.0.0.1:1")
            .limits(Limits {
                max_attempts: 1,
                ..Limits::without_backoff()
            })
            .build()
            .unwrap();
        for refused in [
            "http://127.0.0.1:2/index.yaml",
            "http://localhost:1/index.yaml",
            "ftp://127.0.0.1:1/index.yaml",
            "not a url",
        ] {
            let err = client.get_url(refused).await.unwrap_err();
            assert_eq!(err.kind(), RegistryErrorKind::Config, "{refused}: {err}");
        }
        // The listed host is tried (and here refuses the connection: unavailable).
        let err = client
            .get_url_capped("http://127.0.0.1:1/index.yaml", 10, "index")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), RegistryErrorKind::Unavailable, "{err}");
    }
}
