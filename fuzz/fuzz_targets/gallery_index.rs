//! A backend index (someone else's YAML, fetched from the network): parsing never panics or
//! hangs on aliases, and every name it yields is a safe single path component.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustpull_gallery::BackendIndex;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(index) = BackendIndex::parse(text) {
        for entry in index.entries() {
            let name = entry.name.as_str();
            assert!(!name.is_empty() && !name.contains('/') && name != "." && name != "..");
            let _ = index.resolve(name, "default");
        }
    }
});
