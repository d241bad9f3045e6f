//! Embedding trustpull: an [`Installer`] with a verification cache and a swapped verifier,
//! installing the offline demo (`examples/backends.yaml`, the `oci-layout` demo image signed by
//! the demo's fixture Sigstore) and re-checking it.
//!
//! The swap: an [`AuditedCosign`] factory gives, for the cells where the decision table says
//! "cosign", a `CosignVerifier` with a tighter candidate limit, wrapped in a verifier that
//! counts what it really checks, behind the installer's cache. Every other cell is left to
//! the default [`DecisionTable`]. No gallery code changes.
//!
//! Run from anywhere: `cargo run -p trustpull --example embed`.

// An example prints what it did.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use trustpull::{
    async_trait, CosignVerifier, DecisionTable, ImageSubject, ImageVerifier, InstallError,
    Installer, MonotonicClock, OperatorConfig, SignatureSource, TrustRoot, Verification,
    VerificationCache, VerifierChoice, VerifierFactory, VerifierRequest, VerifyError,
};

/// Counts the verifications that reach it (the cache answers the others).
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn ImageVerifier>,
    count: Arc<AtomicUsize>,
}

#[async_trait]
impl ImageVerifier for Counted {
    async fn verify(
        &self,
        subject: &ImageSubject,
        signatures: &dyn SignatureSource,
    ) -> Result<Verification, VerifyError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(subject, signatures).await
    }
}

/// Cosign cells: a cosign verifier reading at most 8 candidates, counted, cached.
#[derive(Debug, Default)]
struct AuditedCosign {
    verified: Arc<AtomicUsize>,
}

impl VerifierFactory for AuditedCosign {
    fn verifier(
        &self,
        request: &VerifierRequest<'_>,
    ) -> Result<Arc<dyn ImageVerifier>, InstallError> {
        let VerifierChoice::Cosign(policy) = request.choice else {
            return DecisionTable.verifier(request);
        };
        let cosign = CosignVerifier::new(Arc::new(policy.clone()), request.trust_root()?)
            .with_max_candidates(8);
        let scope = cosign.cache_scope();
        let counted = Arc::new(Counted {
            inner: Arc::new(cosign),
            count: Arc::clone(&self.verified),
        });
        Ok(request.cached(counted, scope))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // examples/backends.yaml names the layout relative to the repository root.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::set_current_dir(&repo)?;
    let config = OperatorConfig::load(Path::new("examples/galleries.yaml"))?;
    let root = Arc::new(TrustRoot::from_file(Path::new(
        "examples/trusted_root.json",
    ))?);
    let cache = Arc::new(VerificationCache::new(Arc::new(MonotonicClock)));
    let factory = Arc::new(AuditedCosign::default());
    let installer = Installer::builder(config)
        .trust_root(root)
        .cache(Arc::clone(&cache))
        .verifiers(Arc::clone(&factory) as Arc<dyn VerifierFactory>)
        .build()?;

    let dest = tempfile_dir()?;
    let outcome = installer.install("demo", &dest).await?;
    println!(
        "installed {} {} into {} (verified: {})",
        outcome.receipt.name,
        outcome.receipt.digest,
        outcome.dest.display(),
        outcome.receipt.verified
    );
    for check in installer.verify_installed(&dest).await? {
        println!("re-checked {}: {:?}", check.name, check.status);
    }
    println!(
        "signatures checked: {} (the re-check was answered by the cache: {} entry)",
        factory.verified.load(Ordering::SeqCst),
        cache.len()
    );
    std::fs::remove_dir_all(&dest)?;
    Ok(())
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("trustpull-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
