//! `cargo xtask fixtures [--check]`: the offline demo in `examples/`.
//!
//! Generates:
//! - `examples/demo-image/`: an OCI image layout with a small two-layer demo image tagged `v1`
//!   (the second layer whites out a file of the first) and its signature stored as a referrer:
//!   a manifest with artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`, the empty
//!   config, one bundle layer, and `subject` = the image manifest (what `cosign sign
//!   --new-bundle-format` attaches to a registry image);
//! - `examples/trusted_root.json`: the trusted root of the testkit's virtual Sigstore that
//!   signed the bundle (a fixture root: it trusts nothing real);
//! - `examples/galleries.yaml` and `examples/backends.yaml`: an operator config and a backend
//!   index naming the demo image with the policy that accepts its signer.
//!
//! The image bytes are deterministic (fixed tar headers, mtime 0, gzip without a timestamp),
//! so `--check` regenerates them into a temp dir and compares byte for byte. The virtual
//! Sigstore uses fresh keys and randomized ECDSA on every run, so the signature files cannot be
//! compared byte for byte: `--check` instead verifies the committed bundle against the committed
//! trusted root and the demo policy for the committed image digest, and checks that the
//! referrer manifest points at exactly that bundle and image.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use trustpull_policy::{Digest, PolicySpec, TrustPolicy};
use trustpull_testkit::sigstore::{SignRequest, VirtualSigstore, IDENTITY, ISSUER};

use crate::util;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CREATED: &str = "org.opencontainers.image.created";
/// The fixed creation / signing time of the demo.
const DEMO_TIME: &str = "2026-03-01T12:00:00Z";

/// The demo image files: (path, mode, contents); a path ending in `/` is a directory.
type Entry = (&'static str, u32, &'static [u8]);

const LOWER: &[Entry] = &[
    ("demo/", 0o755, b""),
    ("demo/bin/", 0o755, b""),
    (
        "demo/bin/hello",
        0o755,
        b"#!/bin/sh\necho \"hello from a verified image\"\n",
    ),
    (
        "demo/README.txt",
        0o644,
        b"This tree was installed by trustpull after its Sigstore signature was verified.\n",
    ),
    (
        "demo/build-leftover.txt",
        0o644,
        b"removed by a whiteout in the next layer\n",
    ),
];

const UPPER: &[Entry] = &[
    ("demo/.wh.build-leftover.txt", 0o644, b""),
    ("demo/share/", 0o755, b""),
    ("demo/share/model.txt", 0o644, b"weights: 42\n"),
];

/// The demo layout's image, as blobs and the manifest digest.
struct DemoImage {
    blobs: Vec<Vec<u8>>,
    manifest: Vec<u8>,
}

fn tar_of(entries: &[Entry]) -> Result<Vec<u8>, String> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(data.len() as u64);
        header.set_entry_type(if path.ends_with('/') {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        builder
            .append_data(&mut header, path, *data)
            .map_err(|e| format!("tar {path}: {e}"))?;
    }
    builder.into_inner().map_err(|e| format!("tar: {e}"))
}

fn gzip(data: &[u8]) -> Result<Vec<u8>, String> {
    // GzBuilder writes mtime 0 and no file name unless told otherwise: reproducible bytes.
    let mut enc = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    enc.write_all(data).map_err(|e| format!("gzip: {e}"))?;
    enc.finish().map_err(|e| format!("gzip: {e}"))
}

fn digest(bytes: &[u8]) -> Digest {
    Digest::from_sha256(Sha256::digest(bytes).into())
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": digest(bytes), "size": bytes.len()})
}

fn to_json(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON values encode")
}

fn demo_image() -> Result<DemoImage, String> {
    let lower = tar_of(LOWER)?;
    let upper = tar_of(UPPER)?;
    let layers = [gzip(&lower)?, gzip(&upper)?];
    let config = to_json(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": DEMO_TIME,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [digest(&lower), digest(&upper)]},
    }));
    let manifest = to_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config),
        "layers": layers.iter().map(|l| descriptor(LAYER_GZIP, l)).collect::<Vec<_>>(),
        "annotations": {CREATED: DEMO_TIME, "org.opencontainers.image.title": "trustpull demo"},
    }));
    let mut blobs = vec![config];
    blobs.extend(layers);
    Ok(DemoImage { blobs, manifest })
}

fn referrer_manifest(image_manifest: &[u8], bundle: &[u8]) -> Vec<u8> {
    to_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE,
        "config": descriptor(OCI_EMPTY, b"{}"),
        "layers": [descriptor(BUNDLE, bundle)],
        "subject": descriptor(OCI_MANIFEST, image_manifest),
        "annotations": {CREATED: DEMO_TIME, "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"},
    }))
}

fn index_json(image_manifest: &[u8], referrer: &[u8]) -> Vec<u8> {
    let mut image = descriptor(OCI_MANIFEST, image_manifest);
    image["annotations"] = json!({REF_NAME: "v1"});
    let mut sig = descriptor(OCI_MANIFEST, referrer);
    sig["artifactType"] = json!(BUNDLE);
    to_json(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [image, sig]}))
}

fn galleries_yaml() -> String {
    format!(
        "# Operator config for the offline demo (see examples/README.md).\n\
         require_integrity: true\n\
         trusted_root: ./trusted_root.json\n\
         galleries:\n  \
           - name: demo\n    \
             url: ./backends.yaml\n    \
             verification:\n      \
               issuer: {ISSUER}\n      \
               identity: {IDENTITY}\n"
    )
}

const BACKENDS_YAML: &str =
    "# Backend index for the offline demo; paths are relative to the repository root.\n\
- name: demo\n  \
  uri: oci-layout:examples/demo-image:v1\n  \
  version: \"1\"\n";

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("write {}: {e}", path.display()))
}

fn write_blob(layout: &Path, bytes: &[u8]) -> Result<(), String> {
    write(
        &layout.join("blobs/sha256").join(digest(bytes).hex()),
        bytes,
    )
}

/// Writes the deterministic image part of the demo layout into `out/demo-image`.
fn write_image(out: &Path, image: &DemoImage) -> Result<(), String> {
    let layout = out.join("demo-image");
    write(
        &layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    for blob in &image.blobs {
        write_blob(&layout, blob)?;
    }
    write_blob(&layout, &image.manifest)?;
    write_blob(&layout, b"{}")?;
    write(&out.join("galleries.yaml"), galleries_yaml().as_bytes())?;
    write(&out.join("backends.yaml"), BACKENDS_YAML.as_bytes())
}

/// Generates the whole demo into `out` (which should not hold an older demo layout).
fn generate(out: &Path) -> Result<Digest, String> {
    let image = demo_image()?;
    write_image(out, &image)?;
    let sigstore = VirtualSigstore::new();
    let image_digest = digest(&image.manifest);
    let bundle = sigstore.sign(&SignRequest::dsse(image_digest.clone()));
    let referrer = referrer_manifest(&image.manifest, &bundle);
    let layout = out.join("demo-image");
    write_blob(&layout, &bundle)?;
    write_blob(&layout, &referrer)?;
    write(
        &layout.join("index.json"),
        &index_json(&image.manifest, &referrer),
    )?;
    write(
        &out.join("trusted_root.json"),
        &sigstore.trusted_root_json(),
    )?;
    Ok(image_digest)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// Compares the deterministic files and checks the signature files of `examples/`.
fn check(examples: &Path) -> Result<(), String> {
    let fresh = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let image = demo_image()?;
    write_image(fresh.path(), &image)?;
    let mut stale = Vec::new();
    for file in walk(fresh.path())? {
        let rel = file
            .strip_prefix(fresh.path())
            .expect("walk yields paths under its root");
        if std::fs::read(examples.join(rel)).ok() != Some(read(&file)?) {
            stale.push(rel.display().to_string());
        }
    }
    if !stale.is_empty() {
        return Err(format!(
            "examples/ is out of date ({}); run `cargo xtask fixtures`",
            stale.join(", ")
        ));
    }

    let layout = examples.join("demo-image");
    let index: Value = serde_json::from_slice(&read(&layout.join("index.json"))?)
        .map_err(|e| format!("examples/demo-image/index.json: {e}"))?;
    let image_digest = digest(&image.manifest);
    let listed = |d: &Digest| {
        index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["digest"].as_str() == Some(d.as_str()))
    };
    if !listed(&image_digest) {
        return Err(format!(
            "index.json does not list the demo image {image_digest}; run `cargo xtask fixtures`"
        ));
    }
    let referrers: Vec<&Value> = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["artifactType"].as_str() == Some(BUNDLE))
        .collect();
    let [referrer] = referrers.as_slice() else {
        return Err(format!(
            "index.json lists {} signature referrers, expected 1",
            referrers.len()
        ));
    };
    let referrer_digest = referrer["digest"].as_str().unwrap_or_default();
    let referrer_bytes = read(
        &layout
            .join("blobs/sha256")
            .join(referrer_digest.trim_start_matches("sha256:")),
    )?;
    let m: Value =
        serde_json::from_slice(&referrer_bytes).map_err(|e| format!("referrer manifest: {e}"))?;
    let bundle_digest = m["layers"][0]["digest"].as_str().unwrap_or_default();
    let bundle = read(
        &layout
            .join("blobs/sha256")
            .join(bundle_digest.trim_start_matches("sha256:")),
    )?;
    if referrer_manifest(&image.manifest, &bundle) != referrer_bytes {
        return Err(
            "the signature referrer manifest does not match its bundle and the demo image".into(),
        );
    }
    let root = trustpull_verifier::TrustRoot::from_file(&examples.join("trusted_root.json"))
        .map_err(|e| format!("examples/trusted_root.json: {e}"))?;
    let policy = TrustPolicy::new(PolicySpec {
        issuer: Some(ISSUER.into()),
        identity: Some(IDENTITY.into()),
        ..PolicySpec::default()
    })
    .map_err(|e| format!("demo policy: {e}"))?;
    trustpull_verifier::verify_bundle(&bundle, &image_digest, &policy, &root).map_err(|e| {
        format!("the demo bundle no longer verifies: {e}; run `cargo xtask fixtures`")
    })?;
    let expected_index = index_json(&image.manifest, &referrer_bytes);
    if read(&layout.join("index.json"))? != expected_index {
        return Err(
            "examples/demo-image/index.json is out of date; run `cargo xtask fixtures`".into(),
        );
    }
    eprintln!("examples/ is up to date: image {image_digest}, signature verified");
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("list {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

/// Entry point: `cargo xtask fixtures [--check]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let examples = util::root().join("examples");
    match args.first().map(String::as_str) {
        None => {
            let layout = examples.join("demo-image");
            if layout.exists() {
                std::fs::remove_dir_all(&layout)
                    .map_err(|e| format!("remove {}: {e}", layout.display()))?;
            }
            let d = generate(&examples)?;
            eprintln!("wrote examples/ (demo image {d})");
            Ok(())
        }
        Some("--check") => check(&examples),
        Some(other) => Err(format!(
            "`cargo xtask fixtures` takes only --check, got {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use trustpull_downloader::{Downloader, OciLayout, Platform, PullError};
    use trustpull_verifier::{CosignVerifier, TrustRoot, Verification, VerifyError};

    use super::*;

    fn examples() -> PathBuf {
        util::root().join("examples")
    }

    #[test]
    fn committed_examples_are_up_to_date() {
        check(&examples()).unwrap();
    }

    fn pull_demo(
        identity: &str,
    ) -> (
        Result<trustpull_downloader::PullOutcome, PullError>,
        tempfile::TempDir,
    ) {
        let layout = examples().join("demo-image");
        let reference = format!("oci-layout:{}:v1", layout.display());
        let signatures = OciLayout::open_reference(&reference["oci-layout:".len()..]).unwrap();
        let root = TrustRoot::from_file(&examples().join("trusted_root.json")).unwrap();
        let policy = TrustPolicy::new(PolicySpec {
            issuer: Some(ISSUER.into()),
            identity: Some(identity.into()),
            ..PolicySpec::default()
        })
        .unwrap();
        let verifier = CosignVerifier::new(Arc::new(signatures), Arc::new(policy), Arc::new(root));
        let downloader = Downloader::builder()
            .verifier(Arc::new(verifier))
            .platform(Platform::new("linux", "amd64"))
            .build()
            .unwrap();
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("demo");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        (runtime.block_on(downloader.pull(&reference, &dest)), parent)
    }

    #[test]
    fn demo_layout_image_is_verified_and_installed() {
        let (result, parent) = pull_demo(IDENTITY);
        let outcome = result.unwrap();
        assert!(
            matches!(&outcome.verification, Verification::Verified(r) if r.identity() == IDENTITY)
        );
        let dest = parent.path().join("demo");
        assert_eq!(
            std::fs::read_to_string(dest.join("demo/bin/hello")).unwrap(),
            "#!/bin/sh\necho \"hello from a verified image\"\n"
        );
        assert!(dest.join("demo/share/model.txt").exists());
        assert!(
            !dest.join("demo/build-leftover.txt").exists(),
            "the whiteout in layer 2 applies"
        );
    }

    #[test]
    fn demo_layout_image_with_another_identity_is_refused_and_nothing_written() {
        let (result, parent) = pull_demo(
            "https://github.com/evil/backends/.github/workflows/release.yml@refs/heads/main",
        );
        let err = result.unwrap_err();
        assert!(
            matches!(&err, PullError::Verify { source, .. } if matches!(**source, VerifyError::Rejected(_))),
            "{err:?}"
        );
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    }
}
