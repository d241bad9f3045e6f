//! [`pin`]: resolve once, select the platform, and return the [`PinnedImage`] every command
//! verifies and installs ("one spine").
//!
//! The source resolves the location ONCE (a tag lookup, or the document a digest names); from
//! then on everything is by digest. For an index, the child for the requested platform is
//! fetched by its digest and checked against the index descriptor's size; the index bytes go
//! into the subject so the verifier can check that an index signature really lists the child.

use trustpull_policy::Digest;
use trustpull_referrers::{
    effective_media_type, is_index_media_type, is_manifest_media_type, Descriptor, ImageIndex,
    ImageManifest, Platform, PlatformChoiceError,
};
use trustpull_verifier::ImageSubject;

use crate::progress::{ProgressEvent, ProgressObserver};
use crate::{extract, ImageSource, PullError, PullLimits};

/// The platform this program was built for, in OCI names (`macos` → `darwin`, `x86_64` →
/// `amd64`, `powerpc64` → `ppc64le` or `ppc64` by byte order, …; see
/// [`Platform::of_rust_target`]): the default a [`crate::Downloader`] picks from an index.
pub fn host_platform() -> Platform {
    Platform::of_rust_target(
        std::env::consts::OS,
        std::env::consts::ARCH,
        cfg!(target_endian = "little"),
    )
}

/// Which manifest of an index to pin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlatformChoice {
    /// The child for this platform (the only choice for installs).
    Platform(Platform),
    /// An index is pinned as itself (`trustpull verify` without `--platform`: cosign's default).
    IndexItself,
}

/// An image pinned by digest: the subject the verifier decides about and, for a manifest, the
/// layers that are then fetched by digest.
#[derive(Debug, Clone)]
pub struct PinnedImage {
    reference: String,
    subject: ImageSubject,
    layers: Vec<Descriptor>,
}

impl PinnedImage {
    /// The location as given, for messages.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// What the verifier is asked about (digest, media type, index digest and bytes, platform).
    pub fn subject(&self) -> &ImageSubject {
        &self.subject
    }

    /// The pinned manifest (or, for [`PlatformChoice::IndexItself`], index) digest.
    pub fn digest(&self) -> &Digest {
        self.subject.digest()
    }

    /// The index the manifest was selected from, if any.
    pub fn index_digest(&self) -> Option<&Digest> {
        self.subject.index_digest()
    }

    /// The layers, in order (empty for an index pinned as itself).
    pub fn layers(&self) -> &[Descriptor] {
        &self.layers
    }
}

/// Resolves `source` once and pins it (see the module docs). `limits` bound the manifest list;
/// `max_document` the size of each manifest or index.
pub(crate) async fn pin(
    source: &dyn ImageSource,
    choice: &PlatformChoice,
    limits: &PullLimits,
    max_document: u64,
    progress: &dyn ProgressObserver,
) -> Result<PinnedImage, PullError> {
    let location = source.location();
    let image = location.reference.clone();
    let source_err = |source| PullError::Source {
        image: image.clone(),
        source,
    };
    let too_large = |len: usize| {
        (len as u64 > max_document).then(|| PullError::ManifestTooLarge {
            image: image.clone(),
            limit: max_document,
        })
    };
    let invalid = |digest: &Digest| {
        let digest = digest.clone();
        let image = image.clone();
        move |source| PullError::InvalidManifest {
            image: image.clone(),
            digest: digest.clone(),
            source,
        }
    };

    let top = source.resolve().await.map_err(source_err)?;
    if let Some(e) = too_large(top.bytes.len()) {
        return Err(e);
    }
    let top_digest = Digest::of(&top.bytes);
    if let Some(expected) = location.digest.clone() {
        if expected != top_digest {
            return Err(PullError::DigestMismatch {
                image,
                what: "manifest",
                expected,
                actual: top_digest,
            });
        }
    }
    let top_type =
        effective_media_type(&top.bytes, &top.media_type).map_err(invalid(&top_digest))?;
    progress.on_event(&ProgressEvent::Resolved {
        reference: image.clone(),
        digest: top_digest.clone(),
        media_type: top_type.clone(),
    });
    let subject = |digest: Digest, media_type: String| {
        ImageSubject::new(
            location.registry.clone(),
            location.repository.clone(),
            digest,
            media_type,
        )
    };

    let platform = match choice {
        PlatformChoice::Platform(p) if is_index_media_type(&top_type) => p,
        PlatformChoice::IndexItself if is_index_media_type(&top_type) => {
            return Ok(PinnedImage {
                reference: image,
                subject: subject(top_digest, top_type),
                layers: Vec::new(),
            })
        }
        _ => {
            let layers = layers(&image, &top_digest, &top_type, &top.bytes, limits)?;
            return Ok(PinnedImage {
                reference: image,
                subject: subject(top_digest, top_type),
                layers,
            });
        }
    };
    let index: ImageIndex = serde_json::from_slice(&top.bytes).map_err(invalid(&top_digest))?;
    let child = index
        .select_platform(platform)
        .map_err(|e| platform_error(&image, &top_digest, platform, e))?;
    let doc = source
        .fetch_manifest(&child.digest)
        .await
        .map_err(source_err)?;
    if let Some(e) = too_large(doc.bytes.len()) {
        return Err(e);
    }
    let actual = Digest::of(&doc.bytes);
    if actual != child.digest {
        return Err(PullError::DigestMismatch {
            image,
            what: "manifest",
            expected: child.digest.clone(),
            actual,
        });
    }
    if doc.bytes.len() as u64 != child.size {
        return Err(PullError::SizeMismatch {
            image,
            what: "manifest",
            digest: child.digest.clone(),
            expected: child.size,
            actual: doc.bytes.len() as u64,
        });
    }
    let media_type =
        effective_media_type(&doc.bytes, &child.media_type).map_err(invalid(&actual))?;
    progress.on_event(&ProgressEvent::PlatformSelected {
        platform: platform.clone(),
        digest: actual.clone(),
    });
    let layers = layers(&image, &actual, &media_type, &doc.bytes, limits)?;
    Ok(PinnedImage {
        subject: subject(actual, media_type)
            .with_index(top_digest, top.bytes.to_vec())
            .with_platform(platform.clone()),
        reference: image,
        layers,
    })
}

/// The layer list of an image manifest, within the limits, every layer of a media type the
/// extractor reads.
fn layers(
    image: &str,
    digest: &Digest,
    media_type: &str,
    bytes: &[u8],
    limits: &PullLimits,
) -> Result<Vec<Descriptor>, PullError> {
    if !is_manifest_media_type(media_type) {
        return Err(PullError::UnsupportedMediaType {
            image: image.to_owned(),
            digest: digest.clone(),
            media_type: media_type.to_owned(),
        });
    }
    let parsed: ImageManifest =
        serde_json::from_slice(bytes).map_err(|source| PullError::InvalidManifest {
            image: image.to_owned(),
            digest: digest.clone(),
            source,
        })?;
    if parsed.layers.len() > limits.max_layers {
        return Err(PullError::TooManyLayers {
            image: image.to_owned(),
            count: parsed.layers.len(),
            limit: limits.max_layers,
        });
    }
    let total = parsed
        .layers
        .iter()
        .fold(0u64, |acc, l| acc.saturating_add(l.size));
    if total > limits.max_download_bytes {
        return Err(PullError::DownloadTooLarge {
            image: image.to_owned(),
            total,
            limit: limits.max_download_bytes,
        });
    }
    if let Some(layer) = parsed
        .layers
        .iter()
        .find(|l| extract::declared(&l.media_type).is_none())
    {
        return Err(PullError::UnsupportedMediaType {
            image: image.to_owned(),
            digest: layer.digest.clone(),
            media_type: layer.media_type.clone(),
        });
    }
    Ok(parsed.layers)
}

fn platform_error(
    image: &str,
    index: &Digest,
    platform: &Platform,
    e: PlatformChoiceError,
) -> PullError {
    match e {
        PlatformChoiceError::Ambiguous { wanted, offered } => PullError::AmbiguousPlatform {
            image: image.to_owned(),
            index: index.clone(),
            wanted,
            offered,
        },
        PlatformChoiceError::NoMatch { wanted, offered } => PullError::NoMatchingPlatform {
            image: image.to_owned(),
            index: index.clone(),
            wanted,
            offered,
        },
        // The enum is non-exhaustive; a future reason is still "no usable child" (what the
        // index offers is not known here, so none is listed rather than made up).
        _ => PullError::NoMatchingPlatform {
            image: image.to_owned(),
            index: index.clone(),
            wanted: platform.to_string(),
            offered: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_platform_uses_oci_names() {
        let host = host_platform();
        assert_eq!(
            host,
            Platform::of_rust_target(
                std::env::consts::OS,
                std::env::consts::ARCH,
                cfg!(target_endian = "little")
            )
        );
        assert_ne!(host.os, "macos");
        assert_ne!(host.architecture, "x86_64");
        assert_ne!(host.architecture, "aarch64");
    }
}
