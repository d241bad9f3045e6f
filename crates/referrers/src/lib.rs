//! Registry access and Sigstore signature discovery for trustpull.
//!
//! [`RegistryClient`] reads from OCI registries: it resolves references to manifests, fetches
//! manifests and blobs by digest (every body capped, every by-digest fetch hash-checked), and
//! discovers the Sigstore bundles attached to a digest through the OCI 1.1 referrers API or the
//! referrers tag schema ([`discovery`]), in an order no single pusher can
//! monopolise and never silently cut (a [`DiscoveryTruncation`] names the limit). It
//! authenticates from explicit credentials or a parsed Docker `config.json` (including
//! credential helpers) only when the registry's own origin asks (never for a redirect target,
//! never to a plain-HTTP token service on another host), retries transient failures with
//! jittered backoff, and talks plain HTTP only to hosts the caller lists. `Debug` never shows a
//! secret.
//!
//! It does NOT decide trust: it finds candidates and hands their bytes to `trustpull-verifier`.
//! It reads no environment, no clock and no files of its own: the caller passes the Docker
//! config bytes and, for discovery, the current time ([`DiscoveryOptions`]).
//!
//! Errors carry an [`RegistryErrorKind`]: `Unavailable` (retry may help; a 401/403/429/5xx or timeout
//! during discovery is this, never "no signatures"), `NotFound`, `Rejected` (wrong content) and
//! `Config`.
//!
//! Why this crate speaks HTTP through reqwest rather than oci-client's pull methods: oci-client
//! 0.18 reads bodies whole with no size cap, follows redirects with reqwest's default policy,
//! has no retries or `Retry-After`, its `pull_referrers` turns registry errors into an empty
//! list, and its `auth()` makes an extra `/v2/` round trip per token (which breaks the
//! 3-requests-per-verify budget). oci-client is used for image reference parsing (Docker Hub
//! normalisation); none of its types appear in this API.
//!
//! ```no_run
//! use trustpull_referrers::{DiscoveryOptions, ImageReference, RegistryClient};
//! # async fn demo(now: chrono::DateTime<chrono::Utc>) -> Result<(), trustpull_referrers::RegistryError> {
//! let client = RegistryClient::builder().plain_http_host("127.0.0.1:5000").build()?;
//! let image: ImageReference = "127.0.0.1:5000/acme/backend:v1".parse()?;
//! let manifest = client.resolve(&image).await?;
//! let options = DiscoveryOptions::at(now);
//! let found = client.discover_signatures(image.repository(), &manifest.digest, &options).await?;
//! if let Some(limit) = &found.truncated {
//!     println!("inconclusive if nothing verifies: {limit}");
//! }
//! for c in &found.candidates {
//!     let bundle = client.fetch_signature_bundle(image.repository(), &c.manifest_digest, &[manifest.digest.clone()]).await?;
//!     println!("{} bytes of bundle from {}", bundle.bytes.len(), c.manifest_digest);
//! }
//! # Ok(()) }
//! ```

mod client;
mod credentials;
pub mod discovery;
mod error;
mod legacy;
mod limits;
mod manifest;
mod reference;

/// Entry points for the fuzz targets under `fuzz/` (built only with `--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub use client::{fuzz_challenge, FuzzResponder};
pub use client::{BlobStream, FetchedManifest, RegistryClient, RegistryClientBuilder};
pub use credentials::{Credential, Credentials, DockerConfig};
pub use discovery::{
    CandidateRank, Discovery, DiscoveryOptions, DiscoverySource, DiscoveryTruncation,
    SignatureBundle, SignatureCandidate, SkippedReferrer,
};
pub use error::{RegistryError, RegistryErrorKind};
pub use legacy::{
    LegacyDiscovery, LegacyManifest, LegacySource, LegacyTag, COSIGN_SIGNATURE_ARTIFACT_TYPE,
    COSIGN_SIMPLE_SIGNING, DSSE_ENVELOPE,
};
pub use limits::Limits;
pub use manifest::{
    effective_media_type, is_bundle_media_type, is_index_media_type, is_manifest_media_type,
    Descriptor, ImageIndex, ImageManifest, PlatformChoiceError, ANNOTATION_CREATED,
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, MANIFEST_ACCEPT, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST,
    SIGSTORE_BUNDLE_V03,
};
pub use reference::{ImageReference, Repository};
pub use trustpull_policy::{Platform, PlatformParseError};
