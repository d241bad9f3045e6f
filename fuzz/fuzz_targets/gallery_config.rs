//! The operator's gallery config: parsing never panics; a config that loads has only
//! galleries whose policies validated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustpull_gallery::OperatorConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = OperatorConfig::parse(text, std::path::Path::new("/fuzz/galleries.yaml")) {
        for gallery in &config.galleries {
            assert!(config.gallery(&gallery.name).is_some());
        }
    }
});
