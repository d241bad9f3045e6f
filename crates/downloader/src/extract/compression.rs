//! Layer media types and compression: which decoder a layer blob needs.

use std::io::{BufRead, BufReader, Read};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (one or more members).
    Gzip,
    /// zstd (one or more frames).
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// What a layer media type says about its compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeclaredCompression {
    /// The type names the compression.
    Known(Compression),
    /// The type says plain `tar`; registries and tools are known to push compressed blobs under
    /// it, so the first bytes decide.
    Sniff,
}

/// Maps an OCI or Docker layer media type to its compression; `None` for a type that is not a
/// filesystem layer this crate can extract.
pub(crate) fn declared(media_type: &str) -> Option<DeclaredCompression> {
    use Compression::{Gzip, Zstd};
    use DeclaredCompression::{Known, Sniff};
    Some(match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Sniff,
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Known(Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Known(Zstd),
        _ => return None,
    })
}

/// Looks at the first bytes of a blob.
pub(crate) fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `blob` in the decoder it needs. Sniffing peeks without consuming.
pub(crate) fn decoder<'a, R: Read + Send + 'a>(
    blob: R,
    declared: DeclaredCompression,
) -> std::io::Result<(Compression, Box<dyn Read + Send + 'a>)> {
    let mut reader = BufReader::with_capacity(64 * 1024, blob);
    let compression = match declared {
        DeclaredCompression::Known(c) => c,
        DeclaredCompression::Sniff => sniff(reader.fill_buf()?),
    };
    let decoded: Box<dyn Read + Send + 'a> = match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    };
    Ok((compression, decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert_eq!(
            declared("application/vnd.oci.image.layer.v1.tar+gzip"),
            Some(DeclaredCompression::Known(Compression::Gzip))
        );
        assert_eq!(
            declared("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(DeclaredCompression::Known(Compression::Gzip))
        );
        assert_eq!(
            declared("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(DeclaredCompression::Known(Compression::Zstd))
        );
        assert_eq!(
            declared("application/vnd.oci.image.layer.v1.tar"),
            Some(DeclaredCompression::Sniff)
        );
        assert_eq!(
            declared("application/vnd.dev.sigstore.bundle.v0.3+json"),
            None
        );
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(sniff(&ZSTD_MAGIC), Compression::Zstd);
        assert_eq!(sniff(b"ustar"), Compression::None);
        assert_eq!(sniff(&[]), Compression::None);
    }
}
