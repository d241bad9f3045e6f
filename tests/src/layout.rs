//! OCI image layouts for tests: small images (one plain-tar layer each), tags that can be
//! re-pointed, and cosign-style signatures stored as referrers (what `cosign sign
//! --new-bundle-format` attaches; `LayoutSource` finds them by `subject`). Used to test
//! installs, upgrades (a tag moved to a new signed, or unsigned, digest) and the verification
//! cache (signatures removed after a first check) without a registry.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use trustpull_policy::Digest;

use crate::sigstore::{SignRequest, VirtualSigstore};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI image layout being built in memory; [`Layout::write`] puts it on disk (again after
/// every change: tags and signatures live in `index.json`).
#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    blobs: BTreeMap<Digest, Vec<u8>>,
    tags: BTreeMap<String, Digest>,
    referrers: Vec<Value>,
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of(bytes), "size": bytes.len()})
}

/// A plain tar of regular files (`path`, contents), directories implied.
pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(data.len() as u64);
        builder
            .append_data(&mut header, path, *data)
            .expect("a tar in memory is written");
    }
    builder.into_inner().expect("a tar in memory is finished")
}

impl Layout {
    /// An empty layout that [`Layout::write`] writes at `root`.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            blobs: BTreeMap::new(),
            tags: BTreeMap::new(),
            referrers: Vec::new(),
        }
    }

    /// Where the layout is written.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `oci-layout:ROOT:TAG`, the location an index entry names.
    pub fn location(&self, tag: &str) -> String {
        format!("oci-layout:{}:{tag}", self.root.display())
    }

    fn put(&mut self, bytes: Vec<u8>) -> Digest {
        let digest = Digest::of(&bytes);
        self.blobs.insert(digest.clone(), bytes);
        digest
    }

    /// Adds an image (linux/amd64) whose one layer holds `files`; returns its manifest digest.
    pub fn image(&mut self, files: &[(&str, &[u8])]) -> Digest {
        let layer = tar(files);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [Digest::of(&layer)]},
        }))
        .expect("JSON encodes");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config),
            "layers": [descriptor(LAYER_TAR, &layer)],
        }))
        .expect("JSON encodes");
        self.put(layer);
        self.put(config);
        self.put(manifest)
    }

    /// Signs the image `digest` with `sigstore`'s default signer (a DSSE bundle) and stores
    /// the signature as a referrer listed in `index.json`.
    pub fn sign(&mut self, sigstore: &VirtualSigstore, digest: &Digest) {
        let manifest = self
            .blobs
            .get(digest)
            .cloned()
            .expect("sign an image of this layout");
        let bundle = sigstore.sign(&SignRequest::dsse(digest.clone()));
        let referrer = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE,
            "config": descriptor(OCI_EMPTY, b"{}"),
            "layers": [descriptor(BUNDLE, &bundle)],
            "subject": descriptor(OCI_MANIFEST, &manifest),
        }))
        .expect("JSON encodes");
        self.put(b"{}".to_vec());
        self.put(bundle);
        let mut listed = descriptor(OCI_MANIFEST, &referrer);
        listed["artifactType"] = json!(BUNDLE);
        self.put(referrer);
        self.referrers.push(listed);
    }

    /// Points `tag` at the image `digest` (moving it if it pointed elsewhere).
    pub fn tag(&mut self, tag: &str, digest: &Digest) {
        self.tags.insert(tag.to_owned(), digest.clone());
    }

    /// Forgets every signature (their referrers leave `index.json` at the next write).
    pub fn remove_signatures(&mut self) {
        self.referrers.clear();
    }

    /// Writes `oci-layout`, every blob and `index.json` (tags, then signatures).
    pub fn write(&self) -> io::Result<()> {
        let blobs = self.root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs)?;
        std::fs::write(
            self.root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        for (digest, bytes) in &self.blobs {
            std::fs::write(blobs.join(digest.hex()), bytes)?;
        }
        let mut manifests: Vec<Value> = self
            .tags
            .iter()
            .map(|(tag, digest)| {
                let mut d = json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": self.blobs[digest].len()});
                d["annotations"] = json!({REF_NAME: tag});
                d
            })
            .collect();
        manifests.extend(self.referrers.iter().cloned());
        let index = serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
        )
        .expect("JSON encodes");
        let tmp = self.root.join("index.json.tmp");
        std::fs::write(&tmp, index)?;
        std::fs::rename(tmp, self.root.join("index.json"))
    }
}
