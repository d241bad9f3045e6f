//! Manifest and index documents from a registry: media-type detection, parsing and platform
//! selection never panic, and a selected child is one the index lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustpull_referrers::{
    effective_media_type, ImageIndex, ImageManifest, Platform, DOCKER_MANIFEST_LIST, OCI_INDEX,
    OCI_MANIFEST,
};

fuzz_target!(|data: &[u8]| {
    for reported in [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
        "",
        "text/plain",
    ] {
        let _ = effective_media_type(data, reported);
    }
    let _ = serde_json::from_slice::<ImageManifest>(data);
    if let Ok(index) = serde_json::from_slice::<ImageIndex>(data) {
        for wanted in ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"] {
            let wanted: Platform = wanted.parse().expect("a fixed platform parses");
            if let Ok(child) = index.select_platform(&wanted) {
                assert!(index.manifests.iter().any(|d| d == child));
            }
        }
    }
});
