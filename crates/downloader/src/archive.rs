//! [`ArchiveSource`]: `ocifile://PATH`, an OCI image archive (a tar of an OCI image layout, as
//! `docker save` / `skopeo copy oci-archive:` / LocalAI's `ocifile://` write) read as a layout
//! and verified like any image.
//!
//! Decision: the archive is unpacked once, on first use, into a private temporary directory
//! with the same safe extractor the image layers go through (no `..`, no writes through links,
//! setuid stripped), bounded by [`crate::PullLimits`]' `max_entries` and
//! `max_extracted_bytes`; then a [`LayoutSource`] reads it, so discovery, digest and size checks
//! are the layout's, exactly. The directory is removed when the source is dropped. A reader that
//! served blobs straight out of the tar would save the copy, but would need its own index of
//! tar offsets and a second implementation of the layout's rules; the copy is bounded and
//! private, so the simpler, already-tested path wins. The subject names the archive
//! (`registry` = `oci-layout`, `repository` = the archive path), not the temporary copy.

use async_trait::async_trait;
use trustpull_policy::Digest;
use trustpull_referrers::{DiscoveryOptions, Limits};
use trustpull_verifier::{
    CandidateList, ImageSubject, LegacyKind, LegacySignature, SignatureCandidate, SignatureSource,
    SignatureSourceError,
};

use crate::extract::DeclaredCompression;
use crate::location::{ImageLocation, LayoutLocation};
use crate::source::{BlobStream, ImageSource, ImageSourceError, SourceDocument, SourceLocation};
use crate::{LayoutSource, PullLimits};

/// An OCI image archive (`ocifile://PATH`), bound to one image in it. See the module docs.
#[derive(Debug)]
pub struct ArchiveSource {
    archive: LayoutLocation,
    limits: PullLimits,
    documents: Limits,
    discovery: DiscoveryOptions,
    unpacked: tokio::sync::OnceCell<(tempfile::TempDir, LayoutSource)>,
}

impl ArchiveSource {
    /// The image `archive` names (the archive file and the image selector in it); unpacking is
    /// bounded by `limits`, documents and bundles read by `documents`.
    pub fn new(archive: &LayoutLocation, limits: &PullLimits, documents: &Limits) -> Self {
        Self {
            archive: archive.clone(),
            limits: limits.clone(),
            documents: documents.clone(),
            discovery: DiscoveryOptions::default(),
            unpacked: tokio::sync::OnceCell::new(),
        }
    }

    /// Orders signature candidates like every other source (see [`LayoutSource::with_discovery`]).
    #[must_use]
    pub fn with_discovery(mut self, options: DiscoveryOptions) -> Self {
        self.discovery = options;
        self
    }

    fn name(&self) -> String {
        self.archive.root.display().to_string()
    }

    /// The unpacked layout, unpacking it the first time.
    async fn layout(&self) -> Result<&LayoutSource, ImageSourceError> {
        let (_, layout) = self
            .unpacked
            .get_or_try_init(|| async {
                let dir = self.unpack().await?;
                let layout = LayoutSource::new(
                    &LayoutLocation {
                        root: dir.path().to_owned(),
                        selector: self.archive.selector.clone(),
                    },
                    &self.documents,
                )
                .with_discovery(self.discovery.clone());
                Ok::<_, ImageSourceError>((dir, layout))
            })
            .await?;
        Ok(layout)
    }

    async fn unpack(&self) -> Result<tempfile::TempDir, ImageSourceError> {
        let name = self.name();
        let unavailable = |e: std::io::Error| ImageSourceError::Unavailable {
            location: name.clone(),
            what: "the archive".to_owned(),
            source: Box::new(e),
        };
        if let Err(e) = std::fs::metadata(&self.archive.root) {
            return Err(if e.kind() == std::io::ErrorKind::NotFound {
                ImageSourceError::NotFound {
                    location: name,
                    what: "the archive file".to_owned(),
                    source: Some(Box::new(e)),
                }
            } else {
                unavailable(e)
            });
        }
        let dir = tempfile::Builder::new()
            .prefix(".trustpull-ocifile-")
            .tempdir()
            .map_err(unavailable)?;
        let root = std::fs::File::open(dir.path()).map_err(unavailable)?;
        // The digest names the archive in errors; it is not a content address here.
        let label = Digest::of(name.as_bytes());
        let extractor = crate::tarball::extract_one(
            root.into(),
            &self.limits,
            self.archive.root.clone(),
            DeclaredCompression::Sniff,
            &name,
            &label,
        )
        .await
        .map_err(|e| ImageSourceError::Invalid {
            location: name.clone(),
            what: "the archive".to_owned(),
            source: Box::new(e),
        })?;
        // The layout is only read: directory modes are not applied (the directories stay ours,
        // so the temporary directory can always be removed).
        drop(extractor);
        Ok(dir)
    }

    fn signature_error(&self, e: ImageSourceError) -> SignatureSourceError {
        SignatureSourceError::Unavailable {
            location: self.name(),
            reason: crate::error_chain(&e),
            status: None,
        }
    }
}

#[async_trait]
impl ImageSource for ArchiveSource {
    fn location(&self) -> SourceLocation {
        (&ImageLocation::Archive(self.archive.clone())).into()
    }

    async fn resolve(&self) -> Result<SourceDocument, ImageSourceError> {
        self.layout().await?.resolve().await
    }

    async fn fetch_manifest(&self, digest: &Digest) -> Result<SourceDocument, ImageSourceError> {
        self.layout().await?.fetch_manifest(digest).await
    }

    async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, ImageSourceError> {
        self.layout().await?.open_blob(digest).await
    }
}

#[async_trait]
impl SignatureSource for ArchiveSource {
    async fn candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<CandidateList, SignatureSourceError> {
        let layout = self.layout().await.map_err(|e| self.signature_error(e))?;
        layout.candidates(subject, digest).await
    }

    async fn bundle(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        let layout = self.layout().await.map_err(|e| self.signature_error(e))?;
        layout.bundle(subject, candidate).await
    }

    async fn legacy_candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
        referrers: &[SignatureCandidate],
        kind: LegacyKind,
    ) -> Result<CandidateList, SignatureSourceError> {
        let layout = self.layout().await.map_err(|e| self.signature_error(e))?;
        layout
            .legacy_candidates(subject, digest, referrers, kind)
            .await
    }

    async fn legacy_signature(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<LegacySignature, SignatureSourceError> {
        let layout = self.layout().await.map_err(|e| self.signature_error(e))?;
        layout.legacy_signature(subject, candidate).await
    }
}
