//! [`RegistryError`]: everything that can go wrong talking to a registry, with its [`RegistryErrorKind`].

use std::time::Duration;

use trustpull_policy::Digest;

/// How a caller should treat a [`RegistryError`]. Decide on this, never on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegistryErrorKind {
    /// The registry or the network failed; a retry later may succeed (401/403/429/5xx, timeouts,
    /// connection errors, a failing credential helper, an insecure token realm). Never means
    /// "no signatures".
    Unavailable,
    /// The registry says the manifest or blob does not exist (404 / `MANIFEST_UNKNOWN`).
    NotFound,
    /// The registry answered with content that is wrong: a digest or size mismatch, an
    /// oversized body, a document that does not parse, a referrer for another subject.
    /// Retrying will not change it.
    Rejected,
    /// The caller's input or configuration is wrong (a bad reference, a bad CA certificate).
    Config,
}

/// An error from [`crate::RegistryClient`]. Every variant names what was being fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry answered with an error status that a retry may fix (401, 403, 429, 5xx,
    /// or any other unexpected status).
    #[error("registry answered HTTP {status} for {url}{}; check credentials and registry health, then retry", registry_message(.message))]
    Status {
        /// The request URL (no credentials in it).
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The registry's own message (`errors[].message` of a distribution error body, or the
        /// first bytes of the body), possibly empty.
        message: String,
    },
    /// The manifest or blob does not exist.
    #[error("{url} not found (HTTP {status}){}", registry_message(.message))]
    NotFound {
        /// The request URL.
        url: String,
        /// 404 (or 400/406 where the caller treats them alike).
        status: u16,
        /// The registry's message, possibly empty.
        message: String,
    },
    /// The connection failed (DNS, TCP, TLS, reset).
    #[error("could not reach {url}; check the registry address, TLS settings (--plain-http is only for listed hosts) and network")]
    Transport {
        /// The request URL.
        url: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The request did not finish in time.
    #[error("request to {url} timed out after {after:?}; retry later or raise the timeout")]
    Timeout {
        /// The request URL.
        url: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The registry asked to wait longer than the client is allowed to.
    #[error("registry asked to retry {url} after {retry_after:?}, longer than the allowed {max:?}; retry later")]
    RetryAfterTooLong {
        /// The request URL.
        url: String,
        /// What the registry asked for.
        retry_after: Duration,
        /// The configured maximum wait.
        max: Duration,
    },
    /// Authentication with the registry or its token service failed.
    #[error("authentication for {registry} failed: {reason}; check the credentials in the Docker config or the ones passed in")]
    Auth {
        /// The registry host.
        registry: String,
        /// What failed, e.g. `token service answered HTTP 401`.
        reason: String,
    },
    /// A registry's bearer challenge names a token service the client will not send
    /// credentials to: plain HTTP on another host than the registry's, or plain HTTP for an
    /// HTTPS registry, or not HTTP at all. Nothing was sent to it.
    #[error("refusing the token service {realm} named by registry {registry} ({registry_origin}): a bearer realm must be https, or plain http on the registry's own host; fix the registry's token realm or use an https one")]
    InsecureTokenRealm {
        /// The registry host (as in the image reference).
        registry: String,
        /// The origin the registry was spoken to (`http://host:port`), whose challenge it was.
        registry_origin: String,
        /// The refused realm's origin (`scheme://host[:port]`; path and query left out).
        realm: String,
    },
    /// A Docker credential helper failed.
    #[error("credential helper docker-credential-{helper} failed for {registry}: {reason}")]
    CredentialHelper {
        /// The helper name (`docker-credential-<name>`).
        helper: String,
        /// The registry host.
        registry: String,
        /// What failed.
        reason: String,
    },
    /// A body is larger than the limit; it was refused before being read whole.
    #[error("{url} is larger than the {limit}-byte limit ({what}); refusing to read it")]
    TooLarge {
        /// The request URL.
        url: String,
        /// What was being read (`manifest`, `bundle`, `referrers page`).
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// Content fetched by digest does not hash to that digest.
    #[error("{url} returned content with digest {actual}, expected {expected}; the registry or a proxy altered it")]
    DigestMismatch {
        /// The request URL.
        url: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// The blob has a different size than its descriptor says.
    #[error("{url} returned {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The request URL.
        url: String,
        /// The descriptor size.
        expected: u64,
        /// The number of bytes received (or announced).
        actual: u64,
    },
    /// A manifest, index or token response is not the JSON document it should be.
    #[error("{url} returned an invalid {what}")]
    InvalidDocument {
        /// The request URL.
        url: String,
        /// What was expected (`image index`, `image manifest`, `token response`).
        what: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A referrer manifest's `subject` is not the digest it was listed for.
    #[error("referrer manifest {manifest} names subject {}, not {expected}; ignoring it (registries can lie)", .found.as_deref().unwrap_or("(none)"))]
    SubjectMismatch {
        /// The referrer manifest digest.
        manifest: Digest,
        /// The digest the referrer was listed for.
        expected: Digest,
        /// The subject the manifest actually names, if any.
        found: Option<String>,
    },
    /// A referrer manifest does not carry exactly one Sigstore bundle.
    #[error("referrer manifest {manifest} is not a Sigstore bundle: {reason}")]
    NotABundle {
        /// The referrer manifest digest.
        manifest: Digest,
        /// Why, e.g. `artifactType application/spdx+json`, `2 layers, expected 1`.
        reason: String,
    },
    /// Too many redirects, or a redirect without a usable `Location`.
    #[error("{url} redirected badly: {reason}")]
    Redirect {
        /// The request URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The image reference does not parse.
    #[error("invalid image reference {reference:?}: {reason}; expected host[:port]/repository[:tag|@sha256:…]")]
    InvalidReference {
        /// The input.
        reference: String,
        /// Why.
        reason: String,
    },
    /// The client configuration is unusable (a CA certificate that does not parse).
    #[error("invalid registry client configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
}

fn registry_message(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(" ({message})")
    }
}

impl RegistryError {
    /// How to treat the error; see [`RegistryErrorKind`].
    pub fn kind(&self) -> RegistryErrorKind {
        match self {
            Self::Status { .. }
            | Self::Transport { .. }
            | Self::Timeout { .. }
            | Self::RetryAfterTooLong { .. }
            | Self::Auth { .. }
            | Self::InsecureTokenRealm { .. }
            | Self::CredentialHelper { .. }
            | Self::Redirect { .. } => RegistryErrorKind::Unavailable,
            Self::NotFound { .. } => RegistryErrorKind::NotFound,
            Self::TooLarge { .. }
            | Self::DigestMismatch { .. }
            | Self::SizeMismatch { .. }
            | Self::InvalidDocument { .. }
            | Self::SubjectMismatch { .. }
            | Self::NotABundle { .. } => RegistryErrorKind::Rejected,
            Self::InvalidReference { .. } | Self::Config { .. } => RegistryErrorKind::Config,
        }
    }

    /// True when a retry later may succeed.
    pub fn is_unavailable(&self) -> bool {
        self.kind() == RegistryErrorKind::Unavailable
    }

    /// The HTTP status behind the error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::NotFound { status, .. } => Some(*status),
            _ => None,
        }
    }
}
