//! Discovery against hostile and ordinary registries: referrers API, fallback tag, pagination,
//! filtering, subject cross-checks, and errors that must stay `Unavailable`.

use trustpull_referrers::{
    DiscoverySource, DiscoveryTruncation, Limits, RegistryError, RegistryErrorKind, OCI_EMPTY,
    SIGSTORE_BUNDLE_V03,
};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{
    bundle_descriptor, bundle_json, descriptor, edited, error_body, index_response, referrers_path,
    signature, signature_with, subject, Registry, Signature, REPO,
};

/// A registry whose referrers endpoint for [`subject`] answers `response`.
async fn answering(response: ResponseTemplate) -> (Registry, trustpull_policy::Digest) {
    let reg = Registry::start().await;
    let d = subject();
    reg.referrers(&d, response).await;
    (reg, d)
}

/// A referrers page listing `sig` whose `Link` points to the referrers of `d` with `query`.
fn page_linking(d: &trustpull_policy::Digest, sig: &Signature, query: &str) -> ResponseTemplate {
    let next = format!("<{}?{query}>; rel=\"next\"", referrers_path(d));
    index_response(vec![bundle_descriptor(sig)]).insert_header("Link", next.as_str())
}

#[tokio::test]
async fn referrers_api_with_filter_finds_the_bundle_in_three_requests() {
    let reg = Registry::start().await;
    let d = subject();
    let sig = signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z");
    Mock::given(method("GET"))
        .and(path(referrers_path(&d)))
        .and(query_param("artifactType", SIGSTORE_BUNDLE_V03))
        .respond_with(
            index_response(vec![bundle_descriptor(&sig)])
                .insert_header("OCI-Filters-Applied", "artifactType"),
        )
        .expect(1)
        .mount(&reg.server)
        .await;
    reg.push_signature(&sig).await;

    let found = reg.discover(&d).await;
    assert_eq!(found.source, DiscoverySource::ReferrersApi);
    assert_eq!(found.candidates.len(), 1);
    let bundle = reg
        .fetch_bundle(&found.candidates[0].manifest_digest, &d)
        .await
        .unwrap();
    assert_eq!(bundle.bytes.as_ref(), sig.bundle.as_slice());
    assert_eq!(reg.server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn referrers_404_then_fallback_tag_found() {
    let reg = Registry::start().await;
    let d = subject();
    let sig = signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z");
    reg.referrers_status(&d, 404).await;
    reg.fallback_index(&d, vec![bundle_descriptor(&sig)]).await;
    reg.push_signature(&sig).await;

    let found = reg.discover(&d).await;
    assert_eq!(found.source, DiscoverySource::FallbackTag);
    assert_eq!(found.candidates.len(), 1);
    assert_eq!(found.candidates[0].manifest_digest, sig.manifest_digest);
    let bundle = reg.fetch_bundle(&sig.manifest_digest, &d).await.unwrap();
    assert_eq!(bundle.bytes.as_ref(), sig.bundle.as_slice());
    assert_eq!(reg.server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn no_referrers_api_and_no_fallback_tag_means_no_signatures() {
    let reg = Registry::start().await;
    let d = subject();
    reg.referrers_status(&d, 404).await;
    let found = reg.discover(&d).await;
    assert_eq!(found.source, DiscoverySource::FallbackTag);
    assert!(found.candidates.is_empty());
}

#[tokio::test]
async fn a_200_that_is_not_an_index_falls_back() {
    let (reg, d) =
        answering(ResponseTemplate::new(200).set_body_raw("<html>catch-all</html>", "text/html"))
            .await;
    let found = reg.discover(&d).await;
    assert_eq!(found.source, DiscoverySource::FallbackTag);
}

/// 401/403/429/500/503 on the referrers call or on the fallback tag are `Unavailable` with the
/// status and the registry's message, never an empty list.
#[tokio::test]
async fn errors_on_referrers_or_fallback_are_unavailable() {
    for (on_fallback, status) in [
        (false, 401),
        (false, 403),
        (false, 429),
        (false, 500),
        (false, 503),
        (true, 403),
        (true, 429),
        (true, 500),
    ] {
        let reg = Registry::start().await;
        let d = subject();
        let failing = if on_fallback {
            reg.referrers_status(&d, 404).await;
            format!("/v2/{REPO}/manifests/sha256-{}", d.hex())
        } else {
            referrers_path(&d)
        };
        Mock::given(method("GET"))
            .and(path(failing.clone()))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(error_body("DENIED", "go away")),
            )
            .mount(&reg.server)
            .await;
        let err = reg.discover_err(&d).await;
        assert!(
            matches!(&err, RegistryError::Status { status: s, message, .. } if *s == status && message == "DENIED: go away"),
            "status {status} fallback {on_fallback}: {err:?}"
        );
        assert_eq!(err.kind(), RegistryErrorKind::Unavailable);
        let tries = reg.count(&failing).await;
        let expected_tries = if matches!(status, 429 | 503) { 4 } else { 1 };
        assert_eq!(
            tries, expected_tries,
            "status {status}: retried {tries} times"
        );
    }
}

#[tokio::test]
async fn retry_after_is_honoured_then_success() {
    let reg = Registry::start().await;
    let d = subject();
    Mock::given(method("GET"))
        .and(path(referrers_path(&d)))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(2)
        .mount(&reg.server)
        .await;
    reg.referrers(&d, index_response(vec![])).await;
    let found = reg.discover(&d).await;
    assert_eq!(found.source, DiscoverySource::ReferrersApi);
    assert_eq!(reg.count(&format!("/v2/{REPO}/referrers/")).await, 3);
}

#[tokio::test]
async fn retry_after_longer_than_allowed_is_unavailable_without_waiting() {
    let (reg, d) = answering(ResponseTemplate::new(503).insert_header("Retry-After", "3600")).await;
    let err = reg.discover_err(&d).await;
    assert!(
        matches!(err, RegistryError::RetryAfterTooLong { .. }),
        "{err:?}"
    );
    assert!(err.is_unavailable());
}

#[tokio::test]
async fn link_pagination_collects_every_page() {
    let reg = Registry::start().await;
    let d = subject();
    let a = signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z");
    let b = signature(&d, &bundle_json(2), "2026-02-01T00:00:00Z");
    Mock::given(method("GET"))
        .and(path(referrers_path(&d)))
        .and(query_param("page", "2"))
        .respond_with(index_response(vec![bundle_descriptor(&b)]))
        .mount(&reg.server)
        .await;
    reg.referrers(&d, page_linking(&d, &a, "artifactType=x&page=2"))
        .await;
    let found = reg.discover(&d).await;
    let digests: Vec<_> = found
        .candidates
        .iter()
        .map(|c| c.manifest_digest.clone())
        .collect();
    assert_eq!(
        digests,
        vec![b.manifest_digest, a.manifest_digest],
        "newest first"
    );
    assert_eq!(found.truncated, None);
}

#[tokio::test]
async fn a_link_loop_stops() {
    let reg = Registry::start().await;
    let d = subject();
    let a = signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z");
    // Every page points to itself.
    reg.referrers(&d, page_linking(&d, &a, "artifactType=x&page=1"))
        .await;
    let found = reg.discover(&d).await;
    assert_eq!(found.candidates.len(), 1);
    assert_eq!(
        reg.count("/v2/").await,
        2,
        "page 1, then its self-link once"
    );
}

#[tokio::test]
async fn an_endless_chain_of_pages_is_capped() {
    let reg = Registry::start().await;
    let d = subject();
    let a = signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z");
    // Page n links to page n+1 forever, with distinct URLs.
    for n in 0..50 {
        let mut m = Mock::given(method("GET")).and(path(referrers_path(&d)));
        if n > 0 {
            m = m.and(query_param("page", n.to_string()));
        }
        m.respond_with(page_linking(&d, &a, &format!("page={}", n + 1)))
            .with_priority(if n > 0 { 1 } else { 5 })
            .mount(&reg.server)
            .await;
    }
    let found = reg.discover(&d).await;
    assert_eq!(
        found.truncated,
        Some(DiscoveryTruncation::ReferrerPages { limit: 10 })
    );
    assert_eq!(found.candidates.len(), 1, "duplicates collapse");
    assert_eq!(reg.count("/v2/").await, 10, "max_referrer_pages");
}

#[tokio::test]
async fn without_filters_applied_the_client_filters() {
    let reg = Registry::start().await;
    let d = subject();
    let sig = signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z");
    let sbom = signature_with(
        &d,
        b"{\"spdx\":1}",
        "2026-03-01T00:00:00Z",
        Some("application/spdx+json"),
        "application/spdx+json",
    );
    reg.referrers(
        &d,
        index_response(vec![
            descriptor(&sbom, Some("application/spdx+json")),
            bundle_descriptor(&sig),
        ]),
    )
    .await;
    let found = reg.discover(&d).await;
    assert_eq!(found.candidates.len(), 1);
    assert_eq!(found.candidates[0].manifest_digest, sig.manifest_digest);
    assert_eq!(reg.count("/v2/").await, 1, "the SBOM is not fetched");
}

/// Older cosign wrote fallback indexes with an empty or missing artifactType: decided by the
/// manifest. One with a bundle layer is a candidate; one with another layer is skipped.
#[tokio::test]
async fn untyped_fallback_entries_are_decided_by_their_manifest() {
    let reg = Registry::start().await;
    let d = subject();
    let old = signature_with(
        &d,
        &bundle_json(1),
        "2025-01-01T00:00:00Z",
        None,
        SIGSTORE_BUNDLE_V03,
    );
    let other = signature_with(
        &d,
        b"{}",
        "2025-02-01T00:00:00Z",
        None,
        "application/vnd.dev.cosign.simplesigning.v1+json",
    );
    reg.referrers_status(&d, 404).await;
    reg.fallback_index(
        &d,
        vec![descriptor(&other, Some(OCI_EMPTY)), descriptor(&old, None)],
    )
    .await;
    reg.push_signature(&old).await;
    reg.push_signature(&other).await;
    let found = reg.discover(&d).await;
    assert_eq!(found.candidates.len(), 1);
    assert_eq!(found.candidates[0].manifest_digest, old.manifest_digest);
    assert_eq!(
        found.candidates[0].artifact_type.as_deref(),
        Some(SIGSTORE_BUNDLE_V03)
    );
    assert_eq!(found.skipped.len(), 1);
    assert!(matches!(
        found.skipped[0].reason,
        RegistryError::NotABundle { .. }
    ));
}

/// The fallback index is just a tag: an entry whose manifest names another subject is not used.
#[tokio::test]
async fn a_fallback_entry_for_another_subject_is_ignored() {
    let reg = Registry::start().await;
    let d = subject();
    let foreign = trustpull_policy::Digest::of(b"some other image");
    let lying = signature(&foreign, &bundle_json(9), "2026-05-01T00:00:00Z");
    let lying_untyped = signature_with(
        &foreign,
        &bundle_json(8),
        "2026-05-02T00:00:00Z",
        None,
        SIGSTORE_BUNDLE_V03,
    );
    reg.referrers_status(&d, 404).await;
    reg.fallback_index(
        &d,
        vec![bundle_descriptor(&lying), descriptor(&lying_untyped, None)],
    )
    .await;
    reg.push_signature(&lying).await;
    reg.push_signature(&lying_untyped).await;
    let found = reg.discover(&d).await;
    assert!(matches!(
        found.skipped[0].reason,
        RegistryError::SubjectMismatch { .. }
    ));
    assert_eq!(
        found.candidates.len(),
        1,
        "typed entries are listed, then checked on fetch"
    );
    let err = reg
        .fetch_bundle(&lying.manifest_digest, &d)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::SubjectMismatch { found: Some(f), .. } if *f == foreign.to_string()),
        "{err:?}"
    );
    assert_eq!(err.kind(), RegistryErrorKind::Rejected);
    assert_eq!(
        reg.count(&format!("/v2/{REPO}/blobs/")).await,
        0,
        "no bundle fetched for a foreign subject"
    );
}

/// A junk candidate listed (and newer) before a valid one: the junk fails on its own, the valid
/// one still yields its bundle.
#[tokio::test]
async fn a_junk_candidate_before_a_valid_one() {
    let reg = Registry::start().await;
    let d = subject();
    let valid = signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z");
    let junk = signature(&d, &bundle_json(2), "2026-06-01T00:00:00Z");
    let two_layers = edited(junk.clone(), |v| {
        let layer = v["layers"][0].clone();
        v["layers"] = serde_json::json!([layer.clone(), layer]);
    })
    .manifest;
    let junk_digest = trustpull_policy::Digest::of(&two_layers);
    let mut junk_descriptor = bundle_descriptor(&junk);
    junk_descriptor["digest"] = serde_json::json!(junk_digest.to_string());
    let not_json_digest = trustpull_policy::Digest::of(b"not json");
    let mut not_json_descriptor = junk_descriptor.clone();
    not_json_descriptor["digest"] = serde_json::json!(not_json_digest.to_string());
    reg.referrers(
        &d,
        index_response(vec![
            junk_descriptor,
            not_json_descriptor,
            bundle_descriptor(&valid),
        ]),
    )
    .await;
    reg.manifest(
        junk_digest.as_str(),
        &two_layers,
        trustpull_referrers::OCI_MANIFEST,
    )
    .await;
    reg.manifest(
        not_json_digest.as_str(),
        b"not json",
        trustpull_referrers::OCI_MANIFEST,
    )
    .await;
    reg.push_signature(&valid).await;

    let found = reg.discover(&d).await;
    assert_eq!(found.candidates.len(), 3);
    assert_eq!(
        found.candidates[2].manifest_digest, valid.manifest_digest,
        "the valid one is the oldest"
    );
    let mut results = Vec::new();
    for c in &found.candidates {
        results.push(reg.fetch_bundle(&c.manifest_digest, &d).await);
    }
    assert!(
        matches!(&results[0], Err(RegistryError::NotABundle { reason, .. }) if reason.contains("2 layers")),
        "{:?}",
        results[0]
    );
    assert!(
        matches!(&results[1], Err(RegistryError::InvalidDocument { .. })),
        "{:?}",
        results[1]
    );
    assert!(matches!(&results[2], Ok(b) if b.bytes.as_ref() == valid.bundle.as_slice()));
}

#[tokio::test]
async fn candidates_are_capped_newest_first() {
    let mut limits = trustpull_referrers::Limits::without_backoff();
    limits.max_candidates = 2;
    let reg = Registry::start_with(limits).await;
    let d = subject();
    let sigs: Vec<_> = (1..=4)
        .map(|n| signature(&d, &bundle_json(n), &format!("2026-0{n}-01T00:00:00Z")))
        .collect();
    reg.referrers(
        &d,
        index_response(sigs.iter().map(bundle_descriptor).collect()),
    )
    .await;
    let found = reg.discover(&d).await;
    assert_eq!(
        found.truncated,
        Some(DiscoveryTruncation::Candidates { limit: 2 })
    );
    let got: Vec<_> = found
        .candidates
        .iter()
        .map(|c| c.manifest_digest.clone())
        .collect();
    assert_eq!(
        got,
        vec![
            sigs[3].manifest_digest.clone(),
            sigs[2].manifest_digest.clone()
        ]
    );
}

/// 32 junk referrers whose `created` is in the future, unparsable or missing, listed before
/// one real signature dated in the past (typed, or untyped as older cosign wrote them): the
/// real one comes first, and the junk cut by `max_candidates` is reported.
#[tokio::test]
async fn junk_with_future_or_odd_dates_cannot_push_out_a_real_signature() {
    for junk_created in [Some("2099-01-01T00:00:00Z"), Some("next tuesday"), None] {
        for real_typed in [true, false] {
            let case = format!("junk created {junk_created:?}, real typed {real_typed}");
            let reg = Registry::start().await;
            let d = subject();
            let mut listed: Vec<_> = (0..32)
                .map(|n| {
                    let junk = signature(&d, &bundle_json(100 + n), junk_created.unwrap_or(""));
                    let mut desc = bundle_descriptor(&junk);
                    if junk_created.is_none() {
                        desc.as_object_mut().unwrap().remove("annotations");
                    }
                    desc
                })
                .collect();
            let real = if real_typed {
                signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z")
            } else {
                signature_with(
                    &d,
                    &bundle_json(1),
                    "2026-01-01T00:00:00Z",
                    None,
                    SIGSTORE_BUNDLE_V03,
                )
            };
            listed.push(descriptor(&real, real_typed.then_some(SIGSTORE_BUNDLE_V03)));
            reg.push_signature(&real).await;
            reg.referrers(&d, index_response(listed)).await;

            let found = reg.discover(&d).await;

            assert_eq!(found.candidates.len(), 32, "{case}");
            assert_eq!(
                found.candidates[0].manifest_digest, real.manifest_digest,
                "{case}"
            );
            assert_eq!(
                found.truncated,
                Some(DiscoveryTruncation::Candidates { limit: 32 }),
                "{case}"
            );
        }
    }
}

/// 40 plausibly dated candidates and the default cap of 32: the 32 newest are kept and the
/// truncation names `max_candidates` and its value.
#[tokio::test]
async fn more_candidates_than_the_cap_are_reported_as_truncated() {
    let reg = Registry::start().await;
    let d = subject();
    let sigs: Vec<_> = (0..40)
        .map(|n| {
            let created = format!("2026-01-01T00:{n:02}:00Z");
            signature(&d, &bundle_json(n), &created)
        })
        .collect();
    reg.referrers(
        &d,
        index_response(sigs.iter().map(bundle_descriptor).collect()),
    )
    .await;

    let found = reg.discover(&d).await;

    let truncated = found.truncated.expect("40 candidates, 32 allowed");
    assert_eq!(truncated, DiscoveryTruncation::Candidates { limit: 32 });
    assert_eq!(
        truncated.to_string(),
        "more than 32 signature candidates (Limits::max_candidates)"
    );
    let got: Vec<_> = found
        .candidates
        .iter()
        .map(|c| &c.manifest_digest)
        .collect();
    let newest: Vec<_> = sigs
        .iter()
        .rev()
        .take(32)
        .map(|s| &s.manifest_digest)
        .collect();
    assert_eq!(got, newest);
}

/// Untyped descriptors cost a fetch each: with a budget of 2, the two most plausible are
/// classified (the future-dated one is not among them), the rest are reported, never
/// dropped silently; the typed one needs no fetch and comes first.
#[tokio::test]
async fn untyped_classification_is_bounded_and_reported() {
    let mut limits = Limits::without_backoff();
    limits.max_untyped_fetches = 2;
    let reg = Registry::start_with(limits).await;
    let d = subject();
    let untyped = |n: u32, created: &str| {
        signature_with(&d, &bundle_json(n), created, None, SIGSTORE_BUNDLE_V03)
    };
    let future = untyped(1, "2099-01-01T00:00:00Z");
    let old = untyped(2, "2026-01-01T00:00:00Z");
    let oldest = untyped(3, "2025-01-01T00:00:00Z");
    let newest = untyped(4, "2026-03-01T00:00:00Z");
    let typed = signature(&d, &bundle_json(5), "2024-01-01T00:00:00Z");
    for sig in [&future, &old, &oldest, &newest, &typed] {
        reg.push_signature(sig).await;
    }
    reg.referrers_status(&d, 404).await;
    reg.fallback_index(
        &d,
        vec![
            descriptor(&future, None),
            descriptor(&old, Some(OCI_EMPTY)),
            descriptor(&oldest, None),
            descriptor(&newest, Some("")),
            bundle_descriptor(&typed),
        ],
    )
    .await;

    let found = reg.discover(&d).await;

    let truncated = found.truncated.expect("4 untyped, budget 2");
    assert_eq!(truncated, DiscoveryTruncation::UntypedFetches { limit: 2 });
    assert_eq!(
        truncated.to_string(),
        "more than 2 untyped referrers to classify (Limits::max_untyped_fetches)"
    );
    let got: Vec<_> = found
        .candidates
        .iter()
        .map(|c| &c.manifest_digest)
        .collect();
    assert_eq!(
        got,
        vec![
            &typed.manifest_digest,
            &newest.manifest_digest,
            &old.manifest_digest
        ]
    );
    assert_eq!(
        reg.count(&format!("/v2/{REPO}/manifests/sha256:")).await,
        2,
        "two classification fetches"
    );
}

/// A `Link: rel="next"` to another origin is not followed, and that is reported.
#[tokio::test]
async fn a_next_page_on_another_origin_is_reported_not_followed() {
    let reg = Registry::start().await;
    let d = subject();
    let sig = signature(&d, &bundle_json(1), "2026-01-01T00:00:00Z");
    reg.referrers(
        &d,
        index_response(vec![bundle_descriptor(&sig)]).insert_header(
            "Link",
            "<http://elsewhere.example/v2/acme/app/referrers/x?page=2>; rel=\"next\"",
        ),
    )
    .await;

    let found = reg.discover(&d).await;

    assert_eq!(found.candidates.len(), 1);
    assert_eq!(
        found.truncated,
        Some(DiscoveryTruncation::UnfollowedNextPage {
            link: "http://elsewhere.example".to_owned()
        })
    );
    assert_eq!(reg.count("/v2/").await, 1);
}

/// Untyped candidates of equal rank keep listing order, whatever their descriptors' dates.
/// Those dates pick which untyped entries are fetched first; the manifests' own dates rank
/// them. Found by the `discovery` fuzz target: the second entry listed (its descriptor dated
/// plausibly) came out before the first (its descriptor dated in the future), though both
/// manifests carry the same date.
#[tokio::test]
async fn untyped_candidates_of_equal_rank_keep_listing_order() {
    let reg = Registry::start().await;
    let d = subject();
    let untyped = |n: u32| {
        signature_with(
            &d,
            &bundle_json(n),
            "2026-01-01T00:00:00Z",
            None,
            SIGSTORE_BUNDLE_V03,
        )
    };
    let (first, second) = (untyped(1), untyped(2));
    reg.push_signature(&first).await;
    reg.push_signature(&second).await;
    let dated = |sig: &Signature, created: &str| {
        let mut d = descriptor(sig, None);
        d["annotations"]["org.opencontainers.image.created"] = created.into();
        d
    };
    reg.referrers_status(&d, 404).await;
    reg.fallback_index(
        &d,
        vec![
            dated(&first, "2099-01-01T00:00:00Z"),
            dated(&second, "2025-01-01T00:00:00Z"),
        ],
    )
    .await;

    let found = reg.discover(&d).await;

    assert_eq!(found.truncated, None);
    let got: Vec<_> = found
        .candidates
        .iter()
        .map(|c| (&c.manifest_digest, c.created.as_deref()))
        .collect();
    let created = Some("2026-01-01T00:00:00Z");
    assert_eq!(
        got,
        vec![
            (&first.manifest_digest, created),
            (&second.manifest_digest, created)
        ]
    );
}
