//! cosign's legacy simple-signing signatures (a `.sig` layer: payload + annotations), through
//! the whole legacy verification against the scenarios' fixture root: no input panics. The
//! input is `{"payload": "<the signed bytes>", "annotations": {...}}`; `cargo xtask fuzz`
//! seeds it with a signature that passes, so mutations explore past the parsers.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use trustpull_verifier::{verify_legacy, LegacySignature};

#[path = "../common/fixture.rs"]
mod fixture;
use fixture::FIXTURE;

#[derive(serde::Deserialize)]
struct Input {
    payload: String,
    annotations: BTreeMap<String, String>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Input>(data) else {
        return;
    };
    let f = &*FIXTURE;
    let signature = LegacySignature {
        payload: input.payload.into_bytes(),
        annotations: input.annotations,
    };
    let _ = verify_legacy(&signature, &f.digest, &f.policy, &f.root);
});
