//! The OCI / Docker manifest, index and descriptor shapes trustpull reads, and media types.
//!
//! These are our own minimal serde types (unknown fields ignored), so no oci-client type leaks
//! into the public API and a registry's extra fields never break parsing.

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
/// `application/vnd.oci.empty.v1+json`, the empty descriptor's media type.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The Sigstore bundle v0.3 media type, the artifactType cosign writes on referrers.
pub const SIGSTORE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The annotation carrying a creation time (RFC 3339).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// The `Accept` header for manifest requests: OCI and Docker types, manifests and indexes.
/// Distribution 2.8 answers 404 to an OCI manifest unless its type is listed here.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// True for the Sigstore bundle media types: `application/vnd.dev.sigstore.bundle.v0.N+json`
/// and `application/vnd.dev.sigstore.bundle+json;version=0.N`.
///
/// ```
/// use trustpull_referrers::is_bundle_media_type;
/// assert!(is_bundle_media_type("application/vnd.dev.sigstore.bundle.v0.3+json"));
/// assert!(is_bundle_media_type("application/vnd.dev.sigstore.bundle+json;version=0.2"));
/// assert!(!is_bundle_media_type("application/vnd.oci.empty.v1+json"));
/// ```
pub fn is_bundle_media_type(media_type: &str) -> bool {
    let t = media_type.trim();
    let minor = if let Some(rest) = t.strip_prefix("application/vnd.dev.sigstore.bundle.v0.") {
        rest.strip_suffix("+json")
    } else if let Some(rest) = t.strip_prefix("application/vnd.dev.sigstore.bundle+json;") {
        rest.trim_start().strip_prefix("version=0.")
    } else {
        None
    };
    minor.is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Descriptor {
    /// The media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// The digest of the referenced content.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The artifact type, on referrer descriptors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform, on index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor with only a media type, a digest and a size (no artifact type, annotations
    /// or platform).
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// An image index (or Docker manifest list, or referrers response).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ImageIndex {
    /// The declared media type, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The entries.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// Why an index has no single image for a platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformChoiceError {
    /// No image manifest in the index is for the platform.
    #[error("no image for platform {wanted}; the index offers [{}]", offered.join(", "))]
    NoMatch {
        /// The platform asked for.
        wanted: String,
        /// The platforms the index offers.
        offered: Vec<String>,
    },
    /// Several images match and nothing says which one is meant.
    #[error("several images for platform {wanted} ([{}]); add the variant", offered.join(", "))]
    Ambiguous {
        /// The platform asked for.
        wanted: String,
        /// The matching platforms.
        offered: Vec<String>,
    },
}

impl ImageIndex {
    /// The one child for `wanted`: exact os/architecture, the variant when asked for; when no
    /// variant was asked for and several match, the one without a variant, else an error.
    /// Entries that are not image manifests (attestations, nested indexes) and `unknown`
    /// platforms are never chosen: there is no silent "first child".
    pub fn select_platform(&self, wanted: &Platform) -> Result<&Descriptor, PlatformChoiceError> {
        let offered: Vec<(&Descriptor, &Platform)> = self
            .manifests
            .iter()
            .filter(|d| d.media_type.is_empty() || is_manifest_media_type(&d.media_type))
            .filter_map(|d| d.platform.as_ref().map(|p| (d, p)))
            .filter(|(_, p)| p.os != "unknown" && p.architecture != "unknown")
            .collect();
        let matches: Vec<&(&Descriptor, &Platform)> =
            offered.iter().filter(|(_, p)| wanted.accepts(p)).collect();
        let names =
            |list: &mut dyn Iterator<Item = &Platform>| list.map(ToString::to_string).collect();
        match matches.as_slice() {
            [(d, _)] => Ok(d),
            [] => Err(PlatformChoiceError::NoMatch {
                wanted: wanted.to_string(),
                offered: names(&mut offered.iter().map(|(_, p)| *p)),
            }),
            several => {
                let plain: Vec<_> = several
                    .iter()
                    .filter(|(_, p)| p.variant.is_none())
                    .collect();
                match plain.as_slice() {
                    [(d, _)] if wanted.variant.is_none() => Ok(d),
                    _ => Err(PlatformChoiceError::Ambiguous {
                        wanted: wanted.to_string(),
                        offered: names(&mut several.iter().map(|(_, p)| *p)),
                    }),
                }
            }
        }
    }
}

/// An image manifest (OCI or Docker v2), including the referrer fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ImageManifest {
    /// The declared media type, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, on artifact manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config descriptor.
    pub config: Descriptor,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// True for the index media types (OCI index, Docker manifest list).
pub fn is_index_media_type(media_type: &str) -> bool {
    matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST)
}

/// True for the image manifest media types (OCI image manifest, Docker v2 manifest).
pub fn is_manifest_media_type(media_type: &str) -> bool {
    matches!(media_type, OCI_MANIFEST | DOCKER_MANIFEST)
}

/// Just the `mediaType` and whether `manifests` is present: enough to tell an index from a
/// manifest when the transport's media type is vague.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaTypeProbe {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

/// The one rule for a document's media type: its own `mediaType` field wins over what the
/// transport reported (a `Content-Type`, a layout descriptor); a reported manifest or index type
/// is used next; otherwise a document with `manifests` is an OCI index, anything else an OCI
/// manifest. Errors only when the bytes are not a JSON object.
pub fn effective_media_type(bytes: &[u8], reported: &str) -> Result<String, serde_json::Error> {
    let probe: MediaTypeProbe = serde_json::from_slice(bytes)?;
    Ok(match probe.media_type.filter(|m| !m.is_empty()) {
        Some(m) => m,
        None if is_index_media_type(reported) || is_manifest_media_type(reported) => {
            reported.to_owned()
        }
        None if probe.manifests.is_some() => OCI_INDEX.to_owned(),
        None => OCI_MANIFEST.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_says_its_media_type_first() {
        for (doc, reported, want) in [
            (
                r#"{"mediaType":"application/x-own"}"#,
                OCI_INDEX,
                "application/x-own",
            ),
            (r#"{"mediaType":""}"#, DOCKER_MANIFEST, DOCKER_MANIFEST),
            (r#"{}"#, OCI_INDEX, OCI_INDEX),
            (r#"{"manifests":[]}"#, "application/octet-stream", OCI_INDEX),
            (r#"{"layers":[]}"#, "", OCI_MANIFEST),
        ] {
            assert_eq!(
                effective_media_type(doc.as_bytes(), reported).expect("json"),
                want,
                "{doc} / {reported}"
            );
        }
        assert!(effective_media_type(b"not json", OCI_MANIFEST).is_err());
    }

    #[test]
    fn bundle_media_types() {
        for (t, ok) in [
            ("application/vnd.dev.sigstore.bundle.v0.3+json", true),
            ("application/vnd.dev.sigstore.bundle.v0.1+json", true),
            ("application/vnd.dev.sigstore.bundle+json;version=0.3", true),
            (
                "application/vnd.dev.sigstore.bundle+json; version=0.1",
                true,
            ),
            ("application/vnd.dev.sigstore.bundle.v0.+json", false),
            ("application/vnd.dev.sigstore.bundle.v1.0+json", false),
            ("application/vnd.dev.cosign.simplesigning.v1+json", false),
            ("", false),
        ] {
            assert_eq!(is_bundle_media_type(t), ok, "{t}");
        }
    }
}
