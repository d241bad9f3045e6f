//! Tarball entries: `http(s)://…` or a local `file://PATH`, ending in `.tar`, `.tar.gz` / `.tgz`
//! or `.tar.zst`, with the `sha256` the index entry gives. [`Installer::stage_tarball`] stages one into
//! `DEST/NAME` through the downloader ([`Downloader::stage_tarball`]: streamed, capped, sha256
//! checked before anything is extracted, the images' safe extractor, the atomic tree install);
//! the caller writes its receipt and commits, exactly as for an image.
//!
//! Which tarballs may be installed at all is the decision table's ([`crate::plan`]): this
//! module only knows how.

use std::path::Path;
use std::sync::Arc;

use trustpull_downloader::{ExistingDestination, LocationError, PullError, StagedImage};
use trustpull_policy::Digest;
use trustpull_verifier::NoopVerifier;

use crate::{install_dir, EntryName, InstallError, Installer};

/// The sha256 an index entry gives (`<64 hex>` as LocalAI writes it, or `sha256:<64 hex>`).
pub fn tarball_sha256(value: &str) -> Option<Digest> {
    let value = value.trim();
    let hex = value.strip_prefix("sha256:").unwrap_or(value);
    Digest::parse(&format!("sha256:{}", hex.to_ascii_lowercase())).ok()
}

impl Installer {
    /// Downloads the tarball `url` (through the installer's client; a `file://` one is read from
    /// disk the same way), checks it against
    /// `sha256` (as written in the index) when there is one, and extracts it into a staging
    /// directory for `dest_root/NAME` (replacing an existing tree only when committed).
    /// `gallery` names the gallery in errors. The staged outcome's `digest` is the tarball's
    /// sha256; it says `Unverified` (there is no signature). Whether a tarball without a
    /// sha256 may be installed at all is the decision table's call, not this method's.
    pub async fn stage_tarball(
        &self,
        gallery: &str,
        url: &str,
        sha256: Option<&str>,
        dest_root: &Path,
        name: &EntryName,
    ) -> Result<StagedImage, InstallError> {
        let digest = match sha256 {
            None => None,
            Some(text) => Some(
                tarball_sha256(text).ok_or_else(|| InstallError::BadLocation {
                    name: name.to_string(),
                    gallery: gallery.to_owned(),
                    source: LocationError {
                        reference: url.to_owned(),
                        reason: format!("its sha256 {text:?} is not 64 hex digits"),
                    },
                })?,
            ),
        };
        let pull_error = |source: PullError| InstallError::Pull {
            name: name.to_string(),
            gallery: gallery.to_owned(),
            reference: url.to_owned(),
            source: Box::new(source),
        };
        // The verifier is never asked: a tarball has no signature, its sha256 is the check.
        let downloader = self
            .downloader(Arc::new(NoopVerifier::new(
                "tarballs are checked by sha256",
            )))
            .existing_destination(ExistingDestination::Replace)
            .build()
            .map_err(|_| {
                pull_error(PullError::NoRegistryClient {
                    image: url.to_owned(),
                })
            })?;
        downloader
            .stage_tarball(url, digest.as_ref(), &install_dir(dest_root, name)?)
            .await
            .map_err(pull_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_forms() {
        let d = Digest::of(b"x");
        assert_eq!(tarball_sha256(d.hex()), Some(d.clone()));
        assert_eq!(tarball_sha256(&d.to_string()), Some(d.clone()));
        assert_eq!(tarball_sha256(&d.hex().to_ascii_uppercase()), Some(d));
        for bad in ["", "abc", "md5:00", &"g".repeat(64)] {
            assert_eq!(tarball_sha256(bad), None, "{bad}");
        }
    }
}
