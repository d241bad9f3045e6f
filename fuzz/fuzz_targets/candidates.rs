//! Ranking referrer candidates (a registry's referrers index, hostile): parsing and the fair
//! order never panic, and a descriptor dated after "now" never outranks an undated one, so a
//! pusher cannot buy the first slot with a future `created` date.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use trustpull_referrers::{is_bundle_media_type, DiscoveryOptions, ImageIndex, ANNOTATION_CREATED};

fuzz_target!(|data: &[u8]| {
    let Ok(index) = serde_json::from_slice::<ImageIndex>(data) else {
        return;
    };
    let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().expect("a fixed time parses");
    let options = DiscoveryOptions::at(now);
    let undated_untyped = options.rank(None, false);
    let mut ranked: Vec<_> = index
        .manifests
        .iter()
        .map(|d| {
            let created = d.annotations.get(ANNOTATION_CREATED).map(String::as_str);
            let typed = d.artifact_type.as_deref().is_some_and(is_bundle_media_type);
            let rank = options.rank(created, typed);
            let future = created
                .and_then(|c| DateTime::parse_from_rfc3339(c.trim()).ok())
                .is_some_and(|at| at > now);
            if future {
                assert!(
                    rank > undated_untyped,
                    "a future date outranked an undated candidate"
                );
            }
            (rank, d)
        })
        .collect();
    ranked.sort_by_key(|(rank, _)| *rank);
});
