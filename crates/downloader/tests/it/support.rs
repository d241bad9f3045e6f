//! Test images and an in-memory [`ImageSource`] whose misbehaviour each test chooses.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::json;
use trustpull_downloader::{
    BlobStream, ImageLocation, ImageSource, ImageSourceError, LayoutLocation, LayoutSelector,
    LayoutSource, SourceDocument, SourceLocation,
};
use trustpull_policy::Digest;
use trustpull_verifier::{
    CandidateList, ImageSubject, SignatureCandidate, SignatureSource, SignatureSourceError,
};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// A tar of regular files (`path`, contents); a path ending in `/` is a directory.
pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder.append_data(&mut header, path, &[][..]).unwrap();
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, path, *data).unwrap();
        }
    }
    builder.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

/// Content-addressed blobs plus tags: what a registry or layout holds.
#[derive(Debug, Default, Clone)]
pub struct Store {
    pub blobs: HashMap<Digest, Bytes>,
}

impl Store {
    pub fn put(&mut self, bytes: impl Into<Bytes>) -> (Digest, u64) {
        let bytes = bytes.into();
        let d = Digest::of(&bytes);
        let len = bytes.len() as u64;
        self.blobs.insert(d.clone(), bytes);
        (d, len)
    }

    /// An image manifest with these (media type, blob) layers; returns its digest and size.
    pub fn image(&mut self, layers: &[(&str, Vec<u8>)]) -> (Digest, u64) {
        let (config, config_size) = self.put(Bytes::from_static(
            br#"{"architecture":"amd64","os":"linux"}"#,
        ));
        let layers: Vec<_> = layers
            .iter()
            .map(|(mt, blob)| {
                let (d, size) = self.put(blob.clone());
                json!({"mediaType": mt, "digest": d, "size": size})
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
            "layers": layers,
        });
        self.put(serde_json::to_vec(&manifest).unwrap())
    }

    /// An index over (platform, manifest) entries.
    pub fn index(&mut self, entries: &[(&str, (Digest, u64))]) -> (Digest, u64) {
        let manifests: Vec<_> = entries
            .iter()
            .map(|(platform, (d, size))| {
                let parts: Vec<&str> = platform.split('/').collect();
                let mut p = json!({"os": parts[0], "architecture": parts[1]});
                if let Some(v) = parts.get(2) {
                    p["variant"] = json!(v);
                }
                json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size, "platform": p})
            })
            .collect();
        self.put(
            serde_json::to_vec(
                &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
            )
            .unwrap(),
        )
    }

    /// Writes an OCI image layout with `tags` in index.json (and any `extra` descriptors).
    pub fn write_layout(
        &self,
        dir: &Path,
        tags: &[(&str, &Digest, &str)],
        extra: &[serde_json::Value],
    ) {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        for (d, bytes) in &self.blobs {
            std::fs::write(dir.join("blobs/sha256").join(d.hex()), bytes).unwrap();
        }
        let mut manifests: Vec<_> = tags
            .iter()
            .map(|(tag, d, mt)| {
                json!({"mediaType": mt, "digest": d, "size": self.blobs[*d].len(),
                       "annotations": {"org.opencontainers.image.ref.name": tag}})
            })
            .collect();
        manifests.extend(extra.iter().cloned());
        std::fs::write(
            dir.join("index.json"),
            serde_json::to_vec(
                &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
            )
            .unwrap(),
        )
        .unwrap();
    }
}

/// How a blob is served.
#[derive(Debug, Clone)]
pub enum Serve {
    /// As stored, in 1 KiB chunks.
    Honest,
    /// With one byte flipped.
    Tampered,
    /// Only the first half.
    Truncated,
    /// With extra bytes appended.
    TooLong,
    /// The first chunk, then a signal, then never another byte.
    Stall(Arc<tokio::sync::Notify>),
}

/// An in-memory source. `tag` names a digest that tests may move.
#[derive(Debug)]
pub struct MemorySource {
    pub store: Store,
    pub tag: Mutex<Digest>,
    pub serve: HashMap<Digest, Serve>,
    pub resolves: AtomicUsize,
    pub blob_fetches: AtomicUsize,
    /// When set, the tag moves here right after the first resolve.
    pub move_tag_to: Option<Digest>,
    /// When set, the reference is a digest reference for this digest.
    pub pinned: Option<Digest>,
}

impl MemorySource {
    pub fn new(store: Store, tag: Digest) -> Self {
        Self {
            store,
            tag: Mutex::new(tag),
            serve: HashMap::new(),
            resolves: AtomicUsize::new(0),
            blob_fetches: AtomicUsize::new(0),
            move_tag_to: None,
            pinned: None,
        }
    }

    fn doc(&self, d: &Digest) -> Result<SourceDocument, ImageSourceError> {
        let bytes = self
            .store
            .blobs
            .get(d)
            .cloned()
            .ok_or_else(|| ImageSourceError::NotFound {
                location: "memory".into(),
                what: d.to_string(),
                source: None,
            })?;
        Ok(SourceDocument {
            media_type: String::new(),
            bytes,
        })
    }
}

/// An in-memory image has no signatures (the tests' verifiers do not look for any).
#[async_trait]
impl SignatureSource for MemorySource {
    async fn candidates(
        &self,
        _subject: &ImageSubject,
        _digest: &Digest,
    ) -> Result<CandidateList, SignatureSourceError> {
        Ok(CandidateList::default())
    }
    async fn bundle(
        &self,
        _subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        Err(SignatureSourceError::BadCandidate {
            candidate: candidate.digest().clone(),
            reason: "an in-memory source has no signatures".into(),
        })
    }
    async fn legacy_candidates(
        &self,
        _subject: &ImageSubject,
        _digest: &Digest,
        _referrers: &[SignatureCandidate],
        _kind: trustpull_verifier::LegacyKind,
    ) -> Result<CandidateList, SignatureSourceError> {
        Ok(CandidateList::default())
    }
    async fn legacy_signature(
        &self,
        _subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<trustpull_verifier::LegacySignature, SignatureSourceError> {
        Err(SignatureSourceError::BadCandidate {
            candidate: candidate.digest().clone(),
            reason: "an in-memory source has no signatures".into(),
        })
    }
}

/// Parses a location the tests write as text.
pub fn loc(text: &str) -> ImageLocation {
    ImageLocation::parse(text).expect("valid location")
}

/// The image tagged `tag` in the layout at `root`.
pub fn layout_at(root: &Path, tag: &str) -> LayoutSource {
    LayoutSource::new(
        &LayoutLocation {
            root: root.to_owned(),
            selector: LayoutSelector::Tag(tag.to_owned()),
        },
        &trustpull_referrers::Limits::default(),
    )
}

#[async_trait]
impl ImageSource for MemorySource {
    fn location(&self) -> SourceLocation {
        SourceLocation {
            registry: "memory".into(),
            repository: "test/image".into(),
            reference: "memory/test/image:v1".into(),
            digest: self.pinned.clone(),
        }
    }

    async fn resolve(&self) -> Result<SourceDocument, ImageSourceError> {
        self.resolves.fetch_add(1, Ordering::SeqCst);
        let current = self.tag.lock().unwrap().clone();
        let doc = self.doc(&current);
        if let Some(next) = &self.move_tag_to {
            *self.tag.lock().unwrap() = next.clone();
        }
        doc
    }

    async fn fetch_manifest(&self, digest: &Digest) -> Result<SourceDocument, ImageSourceError> {
        self.doc(digest)
    }

    async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, ImageSourceError> {
        self.blob_fetches.fetch_add(1, Ordering::SeqCst);
        let mut bytes = self.doc(digest)?.bytes.to_vec();
        let serve = self.serve.get(digest).cloned().unwrap_or(Serve::Honest);
        match &serve {
            Serve::Honest | Serve::Stall(_) => {}
            Serve::Tampered => {
                let mid = bytes.len() / 2;
                bytes[mid] ^= 0xff;
            }
            Serve::Truncated => bytes.truncate(bytes.len() / 2),
            Serve::TooLong => bytes.extend_from_slice(b"extra"),
        }
        let chunks: Vec<Result<Bytes, ImageSourceError>> = bytes
            .chunks(1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        if let Serve::Stall(notify) = serve {
            let first = chunks.into_iter().take(1);
            let signal = futures::stream::once(async move {
                notify.notify_one();
                futures::future::pending::<()>().await;
                Ok(Bytes::new())
            });
            return Ok(Box::pin(futures::stream::iter(first).chain(signal)));
        }
        Ok(Box::pin(futures::stream::iter(chunks)))
    }
}

use futures::StreamExt as _;

/// The names in a directory, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
