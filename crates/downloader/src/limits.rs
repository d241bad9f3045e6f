//! `PullLimits`: the bounds every pull enforces on what a registry or layout may make us do.

/// Bounds on one pull. Every field has a documented default ([`PullLimits::default`]); raise them
/// for unusually large images, never set them to "unbounded".
///
/// ```
/// let limits = trustpull_downloader::PullLimits { max_entries: 10_000, ..Default::default() };
/// assert_eq!(limits.max_layers, 128);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullLimits {
    /// Most layers one image manifest may list. Default: 128.
    pub max_layers: usize,
    /// Largest sum of the layer descriptors' sizes (compressed bytes downloaded). Default: 32 GiB.
    pub max_download_bytes: u64,
    /// Most tar entries (files, directories, links, whiteouts, skipped specials) across all
    /// layers. Default: 1,000,000.
    pub max_entries: u64,
    /// Largest sum of regular-file sizes written during extraction, across all layers (the
    /// guard against decompression bombs). Default: 64 GiB.
    pub max_extracted_bytes: u64,
}

impl Default for PullLimits {
    fn default() -> Self {
        Self {
            max_layers: 128,
            max_download_bytes: 32 * 1024 * 1024 * 1024,
            max_entries: 1_000_000,
            max_extracted_bytes: 64 * 1024 * 1024 * 1024,
        }
    }
}
