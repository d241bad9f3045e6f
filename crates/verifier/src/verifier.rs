//! The [`ImageVerifier`] trait and the two verifiers that need no signatures:
//! [`NoopVerifier`] and [`StrictVerifier`].

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{ImageSubject, SignatureSource, Verification, VerifyError};

/// Decides whether an image, pinned by digest, may be installed.
///
/// Object-safe: callers hold an `Arc<dyn ImageVerifier>` chosen by policy.
#[async_trait]
pub trait ImageVerifier: Send + Sync + Debug {
    /// Verifies `subject`, reading signature candidates from `signatures`: the same source
    /// that served the image (one source per backend). `Ok(Verified)` is a pass
    /// with a receipt, `Ok(Unverified)` means nothing was checked (the caller warns), `Err`
    /// aborts the install.
    async fn verify(
        &self,
        subject: &ImageSubject,
        signatures: &dyn SignatureSource,
    ) -> Result<Verification, VerifyError>;
}

/// Checks nothing and says so: for galleries without a policy when strict mode is off.
///
/// ```
/// # tokio_test_block_on(async {
/// use trustpull_verifier::{ImageSubject, ImageVerifier, NoopVerifier, Verification};
/// let s = ImageSubject::new("r", "a/b", trustpull_policy::Digest::of(b"m"), "application/vnd.oci.image.manifest.v1+json");
/// let v = NoopVerifier::new("gallery acme has no verification policy");
/// assert!(matches!(v.verify(&s, &trustpull_verifier::StaticSource::new()).await, Ok(Verification::Unverified { .. })));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct NoopVerifier {
    reason: String,
}

impl NoopVerifier {
    /// A verifier that answers `Unverified { reason }`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

#[async_trait]
impl ImageVerifier for NoopVerifier {
    async fn verify(
        &self,
        _subject: &ImageSubject,
        _signatures: &dyn SignatureSource,
    ) -> Result<Verification, VerifyError> {
        Ok(Verification::Unverified {
            reason: self.reason.clone(),
        })
    }
}

/// Refuses every image: what strict mode selects when a gallery has no policy.
#[derive(Debug, Clone)]
pub struct StrictVerifier {
    reason: String,
}

impl StrictVerifier {
    /// A verifier that answers `Err(Refused { reason })`. Make the reason actionable, e.g.
    /// "gallery acme has no verification policy; add verification: … or run without
    /// --require-integrity".
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

#[async_trait]
impl ImageVerifier for StrictVerifier {
    async fn verify(
        &self,
        subject: &ImageSubject,
        _signatures: &dyn SignatureSource,
    ) -> Result<Verification, VerifyError> {
        Err(VerifyError::Refused {
            image: subject.name(),
            digest: subject.digest().clone(),
            reason: self.reason.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use trustpull_policy::Digest;

    fn subject() -> ImageSubject {
        ImageSubject::new(
            "127.0.0.1:5000",
            "acme/b",
            Digest::of(b"m"),
            "application/vnd.oci.image.manifest.v1+json",
        )
    }

    #[tokio::test]
    async fn noop_and_strict_are_object_safe_and_answer_as_documented() {
        let verifiers: Vec<Arc<dyn ImageVerifier>> = vec![
            Arc::new(NoopVerifier::new("no policy")),
            Arc::new(StrictVerifier::new("add verification:")),
        ];
        assert!(
            matches!(verifiers[0].verify(&subject(), &crate::StaticSource::new()).await, Ok(Verification::Unverified { reason }) if reason == "no policy")
        );
        let err = verifiers[1]
            .verify(&subject(), &crate::StaticSource::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, VerifyError::Refused { reason, .. } if reason == "add verification:")
        );
        assert!(
            err.to_string().contains("127.0.0.1:5000/acme/b@sha256:"),
            "{err}"
        );
        assert!(!err.is_unavailable());
    }
}
