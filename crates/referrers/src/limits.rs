//! [`Limits`]: every bound the registry client enforces, with documented defaults.

use std::time::Duration;

/// Bounds on what the client reads and how long and how often it tries.
///
/// The defaults are the documented ones; change them only to tighten, or for a
/// registry you control. `Limits::default()`:
///
/// | field | default |
/// |---|---|
/// | `max_manifest_bytes` | 4 MiB (manifests, indexes, referrers pages) |
/// | `max_bundle_bytes` | 4 MiB |
/// | `max_referrers` | 1,000 descriptors |
/// | `max_referrer_pages` | 10 |
/// | `max_candidates` | 32 |
/// | `max_untyped_fetches` | 32 manifest fetches to classify untyped referrers |
/// | `max_attempts` | 4 (1 try + 3 retries) for connect errors, 429, 502, 503, 504 |
/// | `backoff_base` / `backoff_max` | 200 ms doubling, capped at 5 s, with full jitter |
/// | `max_retry_after` | 30 s (a longer `Retry-After` fails as unavailable instead of waiting) |
/// | `request_timeout` | 30 s per request for manifests, referrers, bundles, tokens |
/// | `connect_timeout` | 10 s |
/// | `read_timeout` | 60 s without a byte on a blob stream |
/// | `max_redirects` | 5 |
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest manifest, index or referrers page read, in bytes.
    pub max_manifest_bytes: u64,
    /// Largest Sigstore bundle read, in bytes.
    pub max_bundle_bytes: u64,
    /// Most referrer descriptors considered for one digest.
    pub max_referrers: usize,
    /// Most referrers API pages followed through `Link: rel="next"`.
    pub max_referrer_pages: usize,
    /// Most signature candidates returned by discovery (in the fair order of
    /// [`crate::discovery`]).
    pub max_candidates: usize,
    /// Most referrer manifests fetched during discovery to classify descriptors without a
    /// usable artifactType (older cosign fallback indexes). The most plausibly dated are
    /// classified first; any left over are reported as
    /// [`crate::DiscoveryTruncation::UntypedFetches`].
    pub max_untyped_fetches: usize,
    /// Attempts per request, including the first, for retryable failures.
    pub max_attempts: u32,
    /// First backoff delay; doubled per attempt.
    pub backoff_base: Duration,
    /// Largest backoff delay.
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// Whole-request timeout for small documents (manifests, referrers, bundles, tokens).
    pub request_timeout: Duration,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest pause between bytes on a streamed blob.
    pub read_timeout: Duration,
    /// Most redirects followed per request.
    pub max_redirects: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: 4 * 1024 * 1024,
            max_bundle_bytes: 4 * 1024 * 1024,
            max_referrers: 1_000,
            max_referrer_pages: 10,
            max_candidates: 32,
            max_untyped_fetches: 32,
            max_attempts: 4,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            max_redirects: 5,
        }
    }
}

impl Limits {
    /// The defaults with no waiting between retries: for tests against local servers.
    pub fn without_backoff() -> Self {
        Self {
            backoff_base: Duration::ZERO,
            backoff_max: Duration::ZERO,
            ..Self::default()
        }
    }
}
