//! [`LayoutSource`]: a local OCI image layout (`index.json`, `blobs/sha256/…`) as an image source
//! and as a signature source, so layout images are verified exactly like registry images.
//!
//! References: `oci-layout:PATH[:tag|@digest]`. A tag is the
//! `org.opencontainers.image.ref.name` annotation of an `index.json` entry; without a tag or
//! digest the layout must hold exactly one untagged-or-tagged image entry. Signatures are
//! referrer manifests listed in `index.json` (directly, or inside an index listed there, such as
//! a `sha256-<hex>` referrers-tag index) whose `subject` is the digest and whose artifactType or
//! single layer is a Sigstore bundle. Legacy cosign signatures: the manifest `index.json` tags
//! `sha256-<hex>.sig` (its simple-signing layers), and old-format referrers (artifactType
//! `application/vnd.dev.cosign.artifact.sig.v1+json`) listed like bundle referrers.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncReadExt;
use trustpull_policy::Digest;
use trustpull_verifier::{
    CandidateList, ImageSubject, LegacyLayer, LegacySignature, SignatureCandidate, SignatureSource,
};

use trustpull_referrers::{
    is_bundle_media_type, is_index_media_type, is_manifest_media_type, Descriptor,
    DiscoveryOptions, ImageIndex, ImageManifest, Limits, ANNOTATION_CREATED,
    COSIGN_SIGNATURE_ARTIFACT_TYPE,
};

use crate::location::{ImageLocation, LayoutLocation, LayoutSelector};
use crate::source::{BlobStream, ImageSource, ImageSourceError, SourceDocument, SourceLocation};

/// The annotation naming a tag in an OCI image layout's `index.json`.
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A local OCI image layout, bound to one image in it.
#[derive(Debug, Clone)]
pub struct LayoutSource {
    layout: LayoutLocation,
    limits: Limits,
    discovery: DiscoveryOptions,
}

impl LayoutSource {
    /// The layout image `location` names, read within `limits` (documents and bundles at most
    /// `max_manifest_bytes` / `max_bundle_bytes`, `index.json` at most `max_referrers` entries).
    pub fn new(location: &LayoutLocation, limits: &Limits) -> Self {
        Self {
            layout: location.clone(),
            limits: limits.clone(),
            discovery: DiscoveryOptions::default(),
        }
    }

    /// Orders signature candidates by the same fair rule as registry discovery (the time that
    /// tells a plausible `created` date from one in the future).
    #[must_use]
    pub fn with_discovery(mut self, options: DiscoveryOptions) -> Self {
        self.discovery = options;
        self
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.layout.root
    }

    fn image_location(&self) -> ImageLocation {
        ImageLocation::Layout(self.layout.clone())
    }

    fn location_name(&self) -> String {
        self.layout.root.display().to_string()
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.layout
            .root
            .join("blobs")
            .join("sha256")
            .join(digest.hex())
    }

    fn unavailable(&self, what: impl Into<String>, source: std::io::Error) -> ImageSourceError {
        ImageSourceError::Unavailable {
            location: self.location_name(),
            what: what.into(),
            source: Box::new(source),
        }
    }

    fn invalid(
        &self,
        what: impl Into<String>,
        source: impl Into<crate::source::BoxError>,
    ) -> ImageSourceError {
        ImageSourceError::Invalid {
            location: self.location_name(),
            what: what.into(),
            source: source.into(),
        }
    }

    /// Reads a small file, refusing more than `max` bytes.
    async fn read_capped(
        &self,
        path: &Path,
        what: &str,
        max: u64,
    ) -> Result<Bytes, ImageSourceError> {
        let file = match tokio::fs::File::open(path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ImageSourceError::NotFound {
                    location: self.location_name(),
                    what: what.to_owned(),
                    source: None,
                })
            }
            Err(e) => return Err(self.unavailable(what, e)),
        };
        let mut buf = Vec::new();
        file.take(max + 1)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| self.unavailable(what, e))?;
        if buf.len() as u64 > max {
            return Err(self.invalid(what, format!("larger than {max} bytes")));
        }
        Ok(Bytes::from(buf))
    }

    /// A blob by digest, size-capped and digest-checked.
    async fn read_blob(&self, digest: &Digest, max: u64) -> Result<Bytes, ImageSourceError> {
        let bytes = self
            .read_capped(&self.blob_path(digest), digest.as_str(), max)
            .await?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(self.invalid(digest.as_str(), format!("blob hashes to {actual}")));
        }
        Ok(bytes)
    }

    async fn index(&self) -> Result<ImageIndex, ImageSourceError> {
        // A layout directory that is not there is the local form of an unreachable registry
        // (an unmounted volume): unavailable, so a mirror may serve instead.
        if let Err(e) = tokio::fs::metadata(&self.layout.root).await {
            return Err(self.unavailable("the layout directory", e));
        }
        let bytes = self
            .read_capped(
                &self.layout.root.join("index.json"),
                "index.json",
                self.limits.max_manifest_bytes,
            )
            .await?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| self.invalid("index.json", e))?;
        if index.manifests.len() > self.limits.max_referrers {
            let limit = self.limits.max_referrers;
            return Err(self.invalid("index.json", format!("more than {limit} entries")));
        }
        Ok(index)
    }

    /// The `index.json` entry the reference names.
    async fn selected(&self) -> Result<Descriptor, ImageSourceError> {
        let index = self.index().await?;
        let images: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|d| is_index_media_type(&d.media_type) || is_manifest_media_type(&d.media_type))
            // Referrers (signatures, attestations) carry an artifactType; they are not images.
            .filter(|d| d.artifact_type.is_none())
            .collect();
        let found = match &self.layout.selector {
            LayoutSelector::Tag(tag) => images
                .iter()
                .find(|d| d.annotations.get(ANNOTATION_REF_NAME) == Some(tag))
                .copied(),
            LayoutSelector::Digest(digest) => images.iter().find(|d| &d.digest == digest).copied(),
            LayoutSelector::Only => {
                let tagged: Vec<&&Descriptor> = images
                    .iter()
                    .filter(|d| d.annotations.contains_key(ANNOTATION_REF_NAME))
                    .collect();
                match tagged.as_slice() {
                    [only] => Some(**only),
                    _ if images.len() == 1 => Some(images[0]),
                    _ => {
                        let tags: Vec<&str> = images
                            .iter()
                            .filter_map(|d| {
                                d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str)
                            })
                            .collect();
                        return Err(ImageSourceError::BadReference {
                            reference: self.image_location().to_string(),
                            reason: format!(
                                "the layout holds {} images; add :TAG (tags: {}) or @DIGEST",
                                images.len(),
                                tags.join(", ")
                            ),
                        });
                    }
                }
            }
        };
        match (found, &self.layout.selector) {
            (Some(d), _) => Ok(d.clone()),
            // A digest that is not listed in index.json may still be a blob of the layout.
            (None, LayoutSelector::Digest(digest)) => {
                Ok(Descriptor::new(String::new(), digest.clone(), 0))
            }
            (None, LayoutSelector::Tag(tag)) => Err(ImageSourceError::NotFound {
                location: self.location_name(),
                what: format!("tag {tag:?}"),
                source: None,
            }),
            (None, LayoutSelector::Only) => Err(ImageSourceError::NotFound {
                location: self.location_name(),
                what: "an image".to_owned(),
                source: None,
            }),
        }
    }

    /// Manifests listed in `index.json`, and in indexes listed there, one level deep. An
    /// unreadable nested index fails the whole listing: a listing with a hole in it could hide
    /// the signature. Returns whether the descriptor limit cut the list.
    async fn listed_manifests(&self) -> Result<(Vec<Descriptor>, bool), ImageSourceError> {
        let mut out = Vec::new();
        for d in self.index().await?.manifests {
            if is_index_media_type(&d.media_type) {
                let bytes = self
                    .read_blob(&d.digest, self.limits.max_manifest_bytes)
                    .await?;
                let nested: ImageIndex = serde_json::from_slice(&bytes)
                    .map_err(|e| self.invalid(d.digest.as_str(), e))?;
                out.extend(
                    nested
                        .manifests
                        .into_iter()
                        .filter(|c| is_manifest_media_type(&c.media_type)),
                );
            } else if is_manifest_media_type(&d.media_type) {
                out.push(d);
            }
            if out.len() > self.limits.max_referrers {
                out.truncate(self.limits.max_referrers);
                return Ok((out, true));
            }
        }
        Ok((out, false))
    }
}

#[async_trait]
impl ImageSource for LayoutSource {
    fn location(&self) -> SourceLocation {
        (&self.image_location()).into()
    }

    async fn resolve(&self) -> Result<SourceDocument, ImageSourceError> {
        let entry = self.selected().await?;
        let bytes = self
            .read_blob(&entry.digest, self.limits.max_manifest_bytes)
            .await?;
        Ok(SourceDocument {
            media_type: entry.media_type,
            bytes,
        })
    }

    async fn fetch_manifest(&self, digest: &Digest) -> Result<SourceDocument, ImageSourceError> {
        let bytes = self
            .read_blob(digest, self.limits.max_manifest_bytes)
            .await?;
        Ok(SourceDocument {
            media_type: String::new(),
            bytes,
        })
    }

    async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, ImageSourceError> {
        let path = self.blob_path(digest);
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ImageSourceError::NotFound {
                    location: self.location_name(),
                    what: digest.to_string(),
                    source: None,
                })
            }
            Err(e) => return Err(self.unavailable(digest.as_str(), e)),
        };
        let location = self.location_name();
        let what = digest.to_string();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| {
                chunk.map_err(|e| ImageSourceError::Unavailable {
                    location: location.clone(),
                    what: what.clone(),
                    source: Box::new(e),
                })
            });
        Ok(Box::pin(stream))
    }
}

/// A layout that cannot be read answers "unavailable", never "no signatures".
fn lookup_failed(
    layout: &LayoutSource,
    e: &ImageSourceError,
) -> trustpull_verifier::SignatureSourceError {
    trustpull_verifier::SignatureSourceError::Unavailable {
        location: layout.location_name(),
        reason: crate::error::error_chain(e),
        status: None,
    }
}

#[async_trait]
impl SignatureSource for LayoutSource {
    async fn candidates(
        &self,
        _subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<CandidateList, trustpull_verifier::SignatureSourceError> {
        let (listed, cut) = self
            .listed_manifests()
            .await
            .map_err(|e| lookup_failed(self, &e))?;
        let mut found: Vec<SignatureCandidate> = Vec::new();
        for d in listed {
            if found.iter().any(|c| c.digest() == &d.digest) {
                continue;
            }
            let bytes = self
                .read_blob(&d.digest, self.limits.max_manifest_bytes)
                .await
                .map_err(|e| lookup_failed(self, &e))?;
            let m: ImageManifest = serde_json::from_slice(&bytes)
                .map_err(|e| lookup_failed(self, &self.invalid(d.digest.as_str(), e)))?;
            if m.subject.as_ref().map(|s| &s.digest) != Some(digest) {
                continue;
            }
            let artifact_type = m.artifact_type.clone().or_else(|| d.artifact_type.clone());
            if artifact_type.as_deref() == Some(COSIGN_SIGNATURE_ARTIFACT_TYPE) {
                found.push(SignatureCandidate::legacy_referrer(d.digest.clone()));
                continue;
            }
            let is_bundle = artifact_type.as_deref().is_some_and(is_bundle_media_type)
                || matches!(m.layers.as_slice(), [l] if is_bundle_media_type(&l.media_type));
            if !is_bundle {
                continue;
            }
            let mut candidate = SignatureCandidate::new(d.digest.clone());
            if let Some(t) = artifact_type {
                candidate = candidate.with_artifact_type(t);
            }
            if let Some(created) = d.annotations.get(ANNOTATION_CREATED) {
                candidate = candidate.with_created(created.clone());
            }
            found.push(candidate);
        }
        // The fair order registries use: plausible dates newest first, then undated, then
        // future or unparsable ones (every layout candidate was classified by its manifest).
        found.sort_by_key(|c| self.discovery.rank(c.created(), true));
        let limit = self.limits.max_referrers;
        let mut list = CandidateList::complete(found);
        list.truncated = cut.then(|| format!("more than {limit} manifests listed in the layout"));
        Ok(list)
    }

    async fn bundle(
        &self,
        _subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, trustpull_verifier::SignatureSourceError> {
        let bad = |reason: String| trustpull_verifier::SignatureSourceError::BadCandidate {
            candidate: candidate.digest().clone(),
            reason,
        };
        let bytes = self
            .read_blob(candidate.digest(), self.limits.max_manifest_bytes)
            .await
            .map_err(|e| bad(crate::error::error_chain(&e)))?;
        let m: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("referrer manifest does not parse: {e}")))?;
        let [layer] = m.layers.as_slice() else {
            return Err(bad(format!(
                "referrer manifest has {} layers, expected 1 bundle layer",
                m.layers.len()
            )));
        };
        let limit = self.limits.max_bundle_bytes;
        if layer.size > limit {
            return Err(bad(format!(
                "bundle layer is {} bytes, more than {limit}",
                layer.size
            )));
        }
        let bundle = self
            .read_blob(&layer.digest, limit)
            .await
            .map_err(|e| bad(crate::error::error_chain(&e)))?;
        Ok(bundle.to_vec())
    }

    async fn legacy_candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
        referrers: &[SignatureCandidate],
        kind: trustpull_verifier::LegacyKind,
    ) -> Result<CandidateList, trustpull_verifier::SignatureSourceError> {
        let tag = format!("sha256-{}.{}", digest.hex(), kind.tag_suffix());
        let tagged: Vec<Digest> = self
            .index()
            .await
            .map_err(|e| lookup_failed(self, &e))?
            .manifests
            .into_iter()
            .filter(|d| d.annotations.get(ANNOTATION_REF_NAME) == Some(&tag))
            .map(|d| d.digest)
            .collect();
        let mut subjects = vec![subject.digest().clone()];
        subjects.extend(subject.index_digest().cloned());
        let mut list = CandidateList::default();
        let manifests = tagged
            .into_iter()
            .map(|d| (d, false))
            .chain(referrers.iter().map(|c| (c.digest().clone(), true)));
        for (manifest, is_referrer) in manifests {
            let unusable = |reason: String| {
                (
                    SignatureCandidate::legacy_referrer(manifest.clone()),
                    trustpull_verifier::SignatureSourceError::BadCandidate {
                        candidate: manifest.clone(),
                        reason,
                    },
                )
            };
            let m: ImageManifest = match self
                .read_blob(&manifest, self.limits.max_manifest_bytes)
                .await
            {
                Ok(bytes) => match serde_json::from_slice(&bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        list.unusable
                            .push(unusable(format!("signature manifest does not parse: {e}")));
                        continue;
                    }
                },
                Err(e) => {
                    list.unusable.push(unusable(crate::error::error_chain(&e)));
                    continue;
                }
            };
            if is_referrer
                && !m
                    .subject
                    .as_ref()
                    .is_some_and(|s| subjects.contains(&s.digest))
            {
                list.unusable
                    .push(unusable("its subject is not this image".to_owned()));
                continue;
            }
            for (index, layer) in m.layers.into_iter().enumerate() {
                if layer.media_type != kind.layer_media_type() {
                    continue;
                }
                list.candidates.push(SignatureCandidate::legacy(
                    manifest.clone(),
                    LegacyLayer {
                        index,
                        digest: layer.digest,
                        size: layer.size,
                        annotations: layer.annotations,
                    },
                ));
            }
        }
        Ok(list)
    }

    async fn legacy_signature(
        &self,
        _subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<LegacySignature, trustpull_verifier::SignatureSourceError> {
        let bad = |reason: String| trustpull_verifier::SignatureSourceError::BadCandidate {
            candidate: candidate.digest().clone(),
            reason,
        };
        let Some(layer) = candidate.layer() else {
            return Err(bad("not a legacy signature layer".into()));
        };
        let limit = self.limits.max_bundle_bytes;
        if layer.size > limit {
            return Err(bad(format!(
                "signature payload is {} bytes, more than {limit}",
                layer.size
            )));
        }
        let payload = self
            .read_blob(&layer.digest, layer.size)
            .await
            .map_err(|e| bad(crate::error::error_chain(&e)))?;
        Ok(LegacySignature {
            payload: payload.to_vec(),
            annotations: layer.annotations.clone(),
        })
    }
}
