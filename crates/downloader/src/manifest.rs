//! What the downloader adds to the manifest types of `trustpull-referrers`: the annotation
//! naming a tag in an OCI image layout, and the effective media type of a document whose source
//! reports a vague one.

use serde::Deserialize;
use trustpull_referrers::{is_index_media_type, is_manifest_media_type, OCI_INDEX, OCI_MANIFEST};

/// The annotation naming a tag in an OCI image layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Just the `mediaType` and whether `manifests` is present: enough to tell an index from a
/// manifest when the source's media type is vague.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
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
        None if is_index_media_type(reported) || is_manifest_media_type(reported) => {
            reported.to_owned()
        }
        None if probe.manifests.is_some() => OCI_INDEX.to_owned(),
        None => OCI_MANIFEST.to_owned(),
    })
}
