//! [`RegistrySource`]: an [`ImageSource`] over `trustpull-referrers`' `RegistryClient`.

use async_trait::async_trait;
use futures::StreamExt;
use trustpull_policy::Digest;
use trustpull_referrers::{ErrorKind, ImageReference, RegistryClient, RegistryError};

use crate::source::{BlobStream, ImageSource, SourceDocument, SourceError, SourceLocation};

/// One image in a registry, read through a [`RegistryClient`] (auth, retries, capped reads).
#[derive(Debug, Clone)]
pub struct RegistrySource {
    client: RegistryClient,
    image: ImageReference,
    reference: String,
}

impl RegistrySource {
    /// Parses `host[:port]/repo[:tag|@digest]` (an `oci://` prefix is allowed).
    pub fn new(client: RegistryClient, reference: &str) -> Result<Self, SourceError> {
        let image = ImageReference::parse(reference).map_err(|e| SourceError::BadReference {
            reference: reference.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            client,
            image,
            reference: reference.to_owned(),
        })
    }

    fn error(&self, what: impl Into<String>, e: RegistryError) -> SourceError {
        let location = self.image.repository().to_string();
        let what = what.into();
        match e.kind() {
            ErrorKind::NotFound => SourceError::NotFound { location, what },
            ErrorKind::Rejected => SourceError::Invalid {
                location,
                what,
                source: Box::new(e),
            },
            ErrorKind::Config => SourceError::BadReference {
                reference: self.reference.clone(),
                reason: e.to_string(),
            },
            _ => SourceError::Unavailable {
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

    async fn resolve(&self) -> Result<SourceDocument, SourceError> {
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

    async fn fetch_manifest(&self, digest: &Digest) -> Result<SourceDocument, SourceError> {
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

    async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, SourceError> {
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
