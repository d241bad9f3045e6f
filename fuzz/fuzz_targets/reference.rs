//! Image references and locations: parsing never panics, and what parses prints back to
//! something that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustpull_downloader::ImageLocation;
use trustpull_referrers::ImageReference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(reference) = ImageReference::parse(text) {
        let again = ImageReference::parse(&reference.to_string())
            .expect("a parsed reference prints as a valid reference");
        assert_eq!(again, reference, "{text:?} does not round-trip");
    }
    if let Ok(location) = ImageLocation::parse(text) {
        let again = ImageLocation::parse(&location.to_string())
            .expect("a parsed location prints as a valid location");
        assert_eq!(
            again.to_string(),
            location.to_string(),
            "{text:?} does not round-trip"
        );
    }
});
