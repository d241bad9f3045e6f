//! The few fields of OCI / Docker manifests and indexes the downloader reads, and media types.
//!
//! Own minimal serde types (unknown fields ignored), so nothing from a registry client leaks
//! into this crate's API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trustpull_policy::Digest;

use crate::Platform;

/// `application/vnd.oci.image.manifest.v1+json`
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.docker.distribution.manifest.v2+json`
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// `application/vnd.docker.distribution.manifest.list.v2+json`
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The annotation naming a tag in an OCI image layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation carrying a creation time.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// True for OCI and Docker index media types.
pub(crate) fn is_index(media_type: &str) -> bool {
    matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST)
}

/// True for OCI and Docker image manifest media types.
pub(crate) fn is_manifest(media_type: &str) -> bool {
    matches!(media_type, OCI_MANIFEST | DOCKER_MANIFEST)
}

/// True for Sigstore bundle media types (`…bundle.v0.N+json`, `…bundle+json;version=0.N`).
pub(crate) fn is_bundle(media_type: &str) -> bool {
    let t = media_type.trim();
    let minor = t
        .strip_prefix("application/vnd.dev.sigstore.bundle.v0.")
        .and_then(|r| r.strip_suffix("+json"))
        .or_else(|| {
            t.strip_prefix("application/vnd.dev.sigstore.bundle+json;")
                .map(|r| r.trim_start())
                .and_then(|r| r.strip_prefix("version=0."))
        });
    minor.is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An image index / manifest list.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// An image manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// Required (a document without it is not an image manifest), never read.
    #[serde(rename = "config")]
    pub _config: serde::de::IgnoredAny,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub subject: Option<Descriptor>,
}

/// Just the `mediaType` and whether `manifests` is present: enough to tell an index from a
/// manifest when the source's media type is vague.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Probe {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Option<serde_json::Value>,
}

/// The document's media type: its own `mediaType` field wins over what the source said; a
/// document with `manifests` and no type is an OCI index, otherwise an OCI manifest.
pub(crate) fn effective_media_type(
    bytes: &[u8],
    reported: &str,
) -> Result<String, serde_json::Error> {
    let probe: Probe = serde_json::from_slice(bytes)?;
    Ok(match probe.media_type.filter(|m| !m.is_empty()) {
        Some(m) => m,
        None if is_index(reported) || is_manifest(reported) => reported.to_owned(),
        None if probe.manifests.is_some() => OCI_INDEX.to_owned(),
        None => OCI_MANIFEST.to_owned(),
    })
}
