//! `WWW-Authenticate` challenges: parsing never panics, and a realm is only ever accepted when
//! it is https, or plain http on the plain-http registry's own host (credentials never go to
//! another host in the clear).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustpull_referrers::fuzz_challenge;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    for registry in ["https://registry.example", "http://127.0.0.1:5000"] {
        let registry: url::Url = registry.parse().expect("a fixed URL parses");
        if let Some(realm) = fuzz_challenge(&registry, header) {
            let same_host_http = realm.scheme() == "http"
                && registry.scheme() == "http"
                && realm.host_str() == registry.host_str();
            assert!(
                realm.scheme() == "https" || same_host_http,
                "realm {realm} accepted for {registry}"
            );
        }
    }
});
