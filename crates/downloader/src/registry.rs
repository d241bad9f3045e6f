//! [`RegistrySource`]: an [`ImageSource`] over `trustpull-referrers`' `RegistryClient`.

use async_trait::async_trait;
use futures::StreamExt;
use trustpull_policy::Digest;
use trustpull_referrers::{ImageReference, RegistryClient, RegistryError, RegistryErrorKind};

use crate::source::{BlobStream, ImageSource, ImageSourceError, SourceDocument, SourceLocation};

/// One image in a registry, read through a [`RegistryClient`] (auth, retries, capped reads).
#[derive(Debug, Clone)]
pub struct RegistrySource {
    client: RegistryClient,
    image: ImageReference,
    reference: String,
}

impl RegistrySource {
    /// Parses `host[:port]/repo[:tag|@digest]` (an `oci://` prefix is allowed).
    pub fn new(client: RegistryClient, reference: &str) -> Result<Self, ImageSourceError> {
        let image =
            ImageReference::parse(reference).map_err(|e| ImageSourceError::BadReference {
                reference: reference.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            client,
            image,
            reference: reference.to_owned(),
        })
    }

    fn error(&self, what: impl Into<String>, e: RegistryError) -> ImageSourceError {
        let location = self.image.repository().to_string();
        let what = what.into();
        match e.kind() {
            RegistryErrorKind::NotFound => ImageSourceError::NotFound { location, what },
            RegistryErrorKind::Rejected => ImageSourceError::Invalid {
                location,
                what,
                source: Box::new(e),
            },
            RegistryErrorKind::Config => ImageSourceError::BadReference {
                reference: self.reference.clone(),
                reason: e.to_string(),
            },
            _ => ImageSourceError::Unavailable {
                location,
                what,
                source: Box::new(e),
            },
        }
    }
}

#[async_trait]
impl ImageSource for RegistrySource {
    fn location(&self) -> SourceLocation {
        let repo = self.image.repository();
        SourceLocation {
            registry: repo.registry().to_owned(),
            repository: repo.name().to_owned(),
            reference: self.reference.clone(),
            digest: self.image.digest().cloned(),
        }
    }

    async fn resolve(&self) -> Result<SourceDocument, ImageSourceError> {
        let m = self
            .client
            .resolve(&self.image)
            .await
            .map_err(|e| self.error(self.reference.clone(), e))?;
        Ok(SourceDocument {
            media_type: m.media_type,
            bytes: m.bytes,
        })
    }

    async fn fetch_manifest(&self, digest: &Digest) -> Result<SourceDocument, ImageSourceError> {
        let m = self
            .client
            .fetch_manifest(self.image.repository(), digest)
            .await
            .map_err(|e| self.error(digest.to_string(), e))?;
        Ok(SourceDocument {
            media_type: m.media_type,
            bytes: m.bytes,
        })
    }

    async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, ImageSourceError> {
        let stream = self
            .client
            .blob_stream(self.image.repository(), digest)
            .await
            .map_err(|e| self.error(digest.to_string(), e))?;
        let this = self.clone();
        let what = digest.to_string();
        Ok(Box::pin(stream.map(move |chunk| {
            chunk.map_err(|e| this.error(what.clone(), e))
        })))
    }
}
