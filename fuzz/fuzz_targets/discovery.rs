//! Signature discovery end to end (`RegistryClient::discover_signatures`) over an in-memory
//! registry whose every answer comes from the input: the referrers API pages (or their 404,
//! which forces the referrers tag), the tag index, and each referrer's manifest (the fetch that
//! classifies untyped referrers), with statuses, content types, `Link` headers, duplicate
//! digests, sizes that lie, tampered bytes, redirects and a bearer-token challenge. The real
//! client runs (authentication, retries, redirects, caps, parsing, the fair order); only the
//! socket is replaced, through the `--cfg fuzzing` seam `RegistryClientBuilder::fuzz_responder`.
//! One current-thread tokio runtime, no network.
//!
//! Asserted (a panic is a finding):
//! - every candidate was listed by a response the client read, and is classified by the
//!   media-type rule: typed through its descriptor's artifactType, or untyped (no artifactType,
//!   empty, or the OCI empty type) with a fetched manifest whose bytes have the listed digest,
//!   whose subject is the digest asked about, and whose artifactType or single layer is a
//!   bundle type; its `created` is the manifest's, else the descriptor's;
//! - with nothing truncated, every such referrer is a candidate (nothing dropped silently), and
//!   every listed legacy `.sig`-type referrer is reported;
//! - no request other than listing pages, the tag, the token and untyped referrers' manifests;
//!   at most one manifest fetch per listed untyped digest (duplicates are not fetched twice),
//!   within `max_untyped_fetches`, the most plausibly dated first; at most `max_referrer_pages`
//!   pages; the tag only after the API said it has no referrers API; per URL no more requests
//!   than `max_attempts` plus one replay after the token;
//! - the order is the fair order of `discovery`'s module docs: plausible dates, then undated,
//!   then future or unparsable; typed before untyped within a rank; newest first; then listing
//!   order.
//!
//! Then each candidate's bundle is fetched (`fetch_signature_bundle`, as a verifier would): one
//! it accepts comes from a manifest with the candidate's digest and our subject, with exactly
//! one bundle layer, and has that layer's digest and exactly its stated size, within
//! `max_bundle_bytes` (a layer's blob is its media type's text; its stated size may lie).
//!
//! The input is JSON (see [`Input`]; every field may be left out). `cargo xtask fuzz` seeds it
//! with the shapes of a real referrers listing (xtask/src/fuzz.rs, `inline_seeds`): cosign 3's
//! typed bundle, an older cosign's untyped fallback entry, a legacy `.sig` referrer and an
//! SBOM; then the same through the tag fallback with duplicates, future dates and lies.
#![no_main]

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use trustpull_policy::Digest;
use trustpull_referrers::{
    is_bundle_media_type, Descriptor, Discovery, DiscoveryOptions, DiscoverySource,
    DiscoveryTruncation, ImageIndex, ImageManifest, Limits, RegistryClient, Repository,
    SignatureBundle, ANNOTATION_CREATED, COSIGN_SIGNATURE_ARTIFACT_TYPE, MANIFEST_ACCEPT,
    OCI_EMPTY, OCI_INDEX, OCI_MANIFEST,
};

const HOST: &str = "registry.fuzz";
const NAME: &str = "acme/backend";
const TOKEN: &str = "fuzz-token";
const NOW: &str = "2026-06-01T00:00:00Z";

/// What one fuzz input says the registry holds.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Input {
    /// The referrers API. Absent: it answers 404, so discovery reads the referrers tag.
    api: Option<Listing>,
    /// The referrers tag `sha256-<hex>`. Absent: 404 (no signatures).
    tag: Option<Listing>,
    /// The listed descriptors in listing order, each with the manifest behind its digest.
    referrers: Vec<Referrer>,
    /// Limits the client enforces (0: the default).
    limits: SmallLimits,
    /// The registry answers 401 with a bearer challenge until it gets the token.
    auth: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Listing {
    /// HTTP status (default 200).
    status: Option<u16>,
    /// Content-Type (default the OCI index type; "" sends none).
    content_type: Option<String>,
    /// API only: the number of pages; referrer N is on page `N.page % pages`.
    pages: u8,
    /// Replaces the generated `Link` header on every page ("" sends none).
    link: Option<String>,
    /// Replaces the generated body on every page.
    raw: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Referrer {
    /// The descriptor's artifactType.
    artifact_type: Option<String>,
    /// The descriptor's mediaType (default the OCI manifest type).
    media_type: Option<String>,
    /// The descriptor's `org.opencontainers.image.created`.
    created: Option<String>,
    /// The descriptor's size (default the true one).
    size: Option<u64>,
    /// List the digest of referrer N instead of this one's own (a duplicate).
    same_as: Option<usize>,
    /// The API page it is listed on.
    page: u8,
    /// What the registry serves at its digest.
    manifest: Manifest,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Manifest {
    /// HTTP status (default 200).
    status: Option<u16>,
    /// Content-Type (default the OCI manifest type; "" sends none).
    content_type: Option<String>,
    /// The manifest's artifactType.
    artifact_type: Option<String>,
    /// Its layers' media types.
    layers: Vec<String>,
    /// "ours" (default: the digest discovered), "other", or "none".
    subject: Option<String>,
    /// Its `org.opencontainers.image.created`.
    created: Option<String>,
    /// Replaces the generated body.
    raw: Option<String>,
    /// Serve bytes other than those the listed digest names.
    tamper: bool,
    /// Answer 307 to a same-origin URL that serves it.
    redirect: bool,
    /// The size its layer descriptors state (default the true one). A layer's blob is its
    /// media type's text.
    layer_size: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SmallLimits {
    untyped_fetches: u8,
    candidates: u8,
    referrers: u16,
    pages: u8,
    /// Attempts per request: 1 + this % 3.
    retries: u8,
    manifest_bytes: u32,
    bundle_bytes: u32,
}

impl SmallLimits {
    fn limits(&self) -> Limits {
        let mut l = Limits::without_backoff();
        // No waiting: any `Retry-After` above zero fails as unavailable.
        l.max_retry_after = Duration::ZERO;
        l.max_attempts = 1 + u32::from(self.retries % 3);
        let pick = |v: usize, default: usize| if v == 0 { default } else { v };
        l.max_untyped_fetches = pick(self.untyped_fetches.into(), l.max_untyped_fetches);
        l.max_candidates = pick(self.candidates.into(), l.max_candidates);
        l.max_referrers = pick(self.referrers.into(), l.max_referrers);
        l.max_referrer_pages = pick(self.pages.into(), l.max_referrer_pages);
        if self.manifest_bytes != 0 {
            l.max_manifest_bytes = self.manifest_bytes.into();
        }
        if self.bundle_bytes != 0 {
            l.max_bundle_bytes = self.bundle_bytes.into();
        }
        l
    }
}

/// One HTTP answer of the in-memory registry.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn new(
        status: Option<u16>,
        content_type: Option<&str>,
        default_type: &str,
        body: Vec<u8>,
    ) -> Self {
        let mut headers = Vec::new();
        match content_type {
            Some("") => {}
            Some(t) => headers.push(("content-type", t.to_owned())),
            None => headers.push(("content-type", default_type.to_owned())),
        }
        // What the client sees: a status HTTP cannot carry is sent as 400.
        let status = status
            .filter(|s| http::StatusCode::from_u16(*s).is_ok())
            .unwrap_or(if status.is_some() { 400 } else { 200 });
        Self {
            status,
            headers,
            body,
        }
    }

    fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn into_response(self) -> reqwest::Response {
        let status = http::StatusCode::from_u16(self.status).expect("statuses are valid");
        let mut response = http::Response::new(self.body);
        *response.status_mut() = status;
        for (name, value) in self.headers {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        response.into()
    }
}

/// What a request was, by path and `Accept` (the client asks for listing pages with the index
/// type only, for manifests and the tag with [`MANIFEST_ACCEPT`]).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Page,
    Tag,
    Manifest(String),
    /// A blob by digest: only `fetch_signature_bundle` reads one.
    Blob(String),
    Token,
    Other,
}

/// A request the client sent and what it got.
#[derive(Debug)]
struct Exchange {
    url: String,
    kind: Kind,
    answer: Answer,
}

/// The registry the input describes.
struct Registry {
    subject: Digest,
    api: Option<Listing>,
    tag: Option<Listing>,
    auth: bool,
    pages: usize,
    /// Per referrer: its descriptor JSON and its page.
    listed: Vec<(Value, usize)>,
    /// Manifest digest → the answer at it (the first referrer with that digest wins).
    manifests: HashMap<String, (Manifest, Vec<u8>)>,
    /// Blob digest → bytes: every manifest's layers.
    blobs: HashMap<String, Vec<u8>>,
    log: Mutex<Vec<Exchange>>,
}

fn created_annotations(created: &Option<String>) -> Value {
    let mut map = Map::new();
    if let Some(c) = created {
        map.insert(ANNOTATION_CREATED.to_owned(), Value::String(c.clone()));
    }
    Value::Object(map)
}

/// The bytes the registry serves for `m` (its `raw` text, else a manifest built from it).
fn manifest_bytes(m: &Manifest, subject: &Digest) -> Vec<u8> {
    if let Some(raw) = &m.raw {
        return raw.clone().into_bytes();
    }
    let layers: Vec<Value> = m
        .layers
        .iter()
        .map(|t| json!({"mediaType": t, "digest": Digest::of(t.as_bytes()).to_string(), "size": m.layer_size.unwrap_or(t.len() as u64)}))
        .collect();
    let mut doc = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_EMPTY, "digest": Digest::of(b"{}").to_string(), "size": 2},
        "layers": layers,
        "annotations": created_annotations(&m.created),
    });
    if let Some(t) = &m.artifact_type {
        doc["artifactType"] = Value::String(t.clone());
    }
    let other = Digest::of(b"another image");
    let s = match m.subject.as_deref() {
        Some("none") => None,
        Some("other") => Some(&other),
        _ => Some(subject),
    };
    if let Some(s) = s {
        doc["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": s.to_string(), "size": 100});
    }
    serde_json::to_vec(&doc).expect("JSON values serialize")
}

impl Registry {
    fn new(input: Input, subject: Digest) -> Self {
        let own: Vec<(Digest, Vec<u8>)> = input
            .referrers
            .iter()
            .map(|r| {
                let bytes = manifest_bytes(&r.manifest, &subject);
                (Digest::of(&bytes), bytes)
            })
            .collect();
        let pages = match &input.api {
            Some(api) => usize::from(api.pages.clamp(1, 16)),
            None => 1,
        };
        let mut listed = Vec::new();
        let mut manifests = HashMap::new();
        let blobs = input
            .referrers
            .iter()
            .flat_map(|r| &r.manifest.layers)
            .map(|t| (Digest::of(t.as_bytes()).to_string(), t.clone().into_bytes()))
            .collect();
        for (i, r) in input.referrers.into_iter().enumerate() {
            let (digest, bytes) = match r.same_as {
                Some(j) if j < own.len() => &own[j],
                _ => &own[i],
            };
            let mut d = json!({
                "mediaType": r.media_type.as_deref().unwrap_or(OCI_MANIFEST),
                "digest": digest.to_string(),
                "size": r.size.unwrap_or(bytes.len() as u64),
                "annotations": created_annotations(&r.created),
            });
            if let Some(t) = &r.artifact_type {
                d["artifactType"] = Value::String(t.clone());
            }
            listed.push((d, usize::from(r.page) % pages));
            // The manifest lives at this referrer's own digest (the first one there wins).
            let (own_digest, own_bytes) = &own[i];
            manifests
                .entry(own_digest.to_string())
                .or_insert_with(|| (r.manifest, own_bytes.clone()));
        }
        Self {
            subject,
            api: input.api,
            tag: input.tag,
            auth: input.auth,
            pages,
            listed,
            manifests,
            blobs,
            log: Mutex::new(Vec::new()),
        }
    }

    fn base(&self) -> String {
        format!("/v2/{NAME}")
    }

    fn page_path(&self, page: usize) -> String {
        format!("{}/referrers/{}?page={page}", self.base(), self.subject)
    }

    fn listing_body(&self, listing: &Listing, page: Option<usize>) -> Vec<u8> {
        if let Some(raw) = &listing.raw {
            return raw.clone().into_bytes();
        }
        let manifests: Vec<&Value> = self
            .listed
            .iter()
            .filter(|(_, p)| page.is_none_or(|page| *p == page))
            .map(|(d, _)| d)
            .collect();
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
        )
        .expect("JSON values serialize")
    }

    fn answer(&self, request: &reqwest::Request) -> (Kind, Answer) {
        let url = request.url();
        let path = url.path();
        let accept = request
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if path == "/token" {
            return (
                Kind::Token,
                Answer::new(
                    None,
                    None,
                    "application/json",
                    br#"{"token":"fuzz-token"}"#.to_vec(),
                ),
            );
        }
        let authorized = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {TOKEN}"));
        let kind = if accept == OCI_INDEX {
            Kind::Page
        } else if accept == MANIFEST_ACCEPT {
            let tag = format!("{}/manifests/sha256-{}", self.base(), self.subject.hex());
            if path == tag {
                Kind::Tag
            } else if let Some(d) = path
                .strip_prefix(&format!("{}/manifests/", self.base()))
                .or_else(|| path.strip_prefix("/cdn/manifests/"))
            {
                Kind::Manifest(d.to_owned())
            } else {
                Kind::Other
            }
        } else if let Some(d) = path.strip_prefix(&format!("{}/blobs/", self.base())) {
            Kind::Blob(d.to_owned())
        } else {
            Kind::Other
        };
        if self.auth && !authorized && !path.starts_with("/cdn/") {
            let mut a = Answer::status(401);
            a.headers.push((
                "www-authenticate",
                format!(r#"Bearer realm="http://{HOST}/token",service="{HOST}""#),
            ));
            return (kind, a);
        }
        let answer = match &kind {
            Kind::Page => {
                let referrers = format!("{}/referrers/{}", self.base(), self.subject);
                match (&self.api, path == referrers) {
                    (Some(api), true) => {
                        let page = url
                            .query_pairs()
                            .find(|(k, _)| k == "page")
                            .and_then(|(_, v)| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        let mut a = Answer::new(
                            api.status,
                            api.content_type.as_deref(),
                            OCI_INDEX,
                            self.listing_body(api, Some(page)),
                        );
                        match &api.link {
                            Some(link) if link.is_empty() => {}
                            Some(link) => a.headers.push(("link", link.clone())),
                            None if page + 1 < self.pages => a.headers.push((
                                "link",
                                format!(r#"<{}>; rel="next""#, self.page_path(page + 1)),
                            )),
                            None => {}
                        }
                        a
                    }
                    _ => Answer::status(404),
                }
            }
            Kind::Tag => match &self.tag {
                Some(tag) => Answer::new(
                    tag.status,
                    tag.content_type.as_deref(),
                    OCI_INDEX,
                    self.listing_body(tag, None),
                ),
                None => Answer::status(404),
            },
            Kind::Manifest(d) => match self.manifests.get(d.as_str()) {
                Some((m, _)) if m.redirect && !path.starts_with("/cdn/") => {
                    let mut a = Answer::status(307);
                    a.headers.push(("location", format!("/cdn/manifests/{d}")));
                    a
                }
                Some((m, body)) => {
                    let mut body = body.clone();
                    if m.tamper {
                        body.push(b' ');
                    }
                    Answer::new(m.status, m.content_type.as_deref(), OCI_MANIFEST, body)
                }
                None => Answer::status(404),
            },
            Kind::Blob(d) => match self.blobs.get(d.as_str()) {
                Some(bytes) => Answer::new(None, None, "application/octet-stream", bytes.clone()),
                None => Answer::status(404),
            },
            Kind::Token | Kind::Other => Answer::status(404),
        };
        (kind, answer)
    }

    fn respond(&self, request: &reqwest::Request) -> reqwest::Response {
        let (kind, answer) = self.answer(request);
        self.log
            .lock()
            .expect("the log lock is not poisoned")
            .push(Exchange {
                url: request.url().to_string(),
                kind,
                answer: answer.clone(),
            });
        answer.into_response()
    }
}

/// The fair order's key, written from `discovery`'s module docs (not from order.rs): plausible
/// dates, undated, then implausible; typed first; newest first.
fn fair_key(
    created: Option<&str>,
    typed: bool,
    now: DateTime<Utc>,
) -> (u8, bool, Reverse<(i64, u32)>) {
    let (rank, at) = match created {
        None => (1, (0, 0)),
        Some(text) => match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(at) if at <= now => (0, (at.timestamp(), at.timestamp_subsec_nanos())),
            _ => (2, (0, 0)),
        },
    };
    (rank, !typed, Reverse(at))
}

fn trimmed_type(d: &Descriptor) -> Option<&str> {
    d.artifact_type
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn is_untyped(d: &Descriptor) -> bool {
    matches!(trimmed_type(d), None | Some(OCI_EMPTY))
}

/// The descriptors the exchanges of `kind` listed (successful, parsable answers; each URL once).
fn listed_by(log: &[Exchange], kind: &Kind) -> Vec<Descriptor> {
    let mut urls = HashSet::new();
    log.iter()
        .filter(|e| &e.kind == kind && e.answer.ok() && urls.insert(e.url.clone()))
        .filter_map(|e| serde_json::from_slice::<ImageIndex>(&e.answer.body).ok())
        .flat_map(|index| index.manifests)
        .collect()
}

/// The manifest bytes the client was finally served for `digest` (after a redirect), if a
/// success answer.
fn served_manifest<'a>(log: &'a [Exchange], digest: &Digest) -> Option<&'a [u8]> {
    log.iter()
        .filter(|e| e.kind == Kind::Manifest(digest.to_string()) && e.answer.ok())
        .map(|e| e.answer.body.as_slice())
        .next()
}

/// What the media-type rule makes of a fetched untyped referrer: its bundle artifactType (the
/// manifest's, else its single layer's) and `created`, or `None` when it is not a bundle for
/// `subject`.
fn classify(
    bytes: &[u8],
    digest: &Digest,
    subject: &Digest,
    limits: &Limits,
) -> Option<(String, Option<String>)> {
    if &Digest::of(bytes) != digest || bytes.len() as u64 > limits.max_manifest_bytes {
        return None;
    }
    let m: ImageManifest = serde_json::from_slice(bytes).ok()?;
    if m.subject.as_ref().map(|s| &s.digest) != Some(subject) {
        return None;
    }
    let artifact_type = match (&m.artifact_type, m.layers.as_slice()) {
        (Some(t), _) if is_bundle_media_type(t) => t.clone(),
        (_, [layer]) if is_bundle_media_type(&layer.media_type) => layer.media_type.clone(),
        _ => return None,
    };
    Some((
        artifact_type,
        m.annotations.get(ANNOTATION_CREATED).cloned(),
    ))
}

fn check(
    found: &Result<Discovery, trustpull_referrers::RegistryError>,
    log: &[Exchange],
    subject: &Digest,
    limits: &Limits,
    now: DateTime<Utc>,
) {
    // Requests: only the expected kinds, within their budgets.
    let mut per_url: HashMap<&str, u32> = HashMap::new();
    for e in log {
        assert!(
            !matches!(e.kind, Kind::Other | Kind::Blob(_)),
            "discovery requested {}",
            e.url
        );
        *per_url.entry(e.url.as_str()).or_default() += 1;
    }
    for (url, n) in &per_url {
        assert!(
            *n <= limits.max_attempts + 1,
            "{url} requested {n} times with max_attempts {}",
            limits.max_attempts
        );
    }
    let distinct = |k: &dyn Fn(&Kind) -> bool| -> HashSet<&str> {
        log.iter()
            .filter(|e| k(&e.kind))
            .map(|e| e.url.as_str())
            .collect()
    };
    let pages = distinct(&|k| *k == Kind::Page);
    assert!(
        pages.len() <= limits.max_referrer_pages,
        "{} pages read",
        pages.len()
    );
    let tags = log.iter().filter(|e| e.kind == Kind::Tag).count();
    if tags > 0 {
        // The API's last answer to its first page (after any 401 and retries).
        let first_url = &log
            .iter()
            .find(|e| e.kind == Kind::Page)
            .expect("the API is asked first")
            .url;
        let first = log
            .iter()
            .rev()
            .find(|e| &e.url == first_url)
            .expect("the first page was answered");
        let index_type = first.answer.headers.iter().any(|(n, v)| {
            *n == "content-type" && v.split(';').next().unwrap_or_default().trim() == OCI_INDEX
        });
        assert!(
            matches!(first.answer.status, 400 | 404 | 406) || (first.answer.ok() && !index_type),
            "the tag was read after the API answered {} ({index_type})",
            first.answer.status
        );
    }
    // Every descriptor any listing answer offered, first occurrence per digest.
    let mut everything = listed_by(log, &Kind::Page);
    everything.extend(listed_by(log, &Kind::Tag));
    let fetched: Vec<Digest> = distinct(&|k| matches!(k, Kind::Manifest(_)))
        .into_iter()
        .filter_map(|u| u.rsplit('/').next().and_then(|d| Digest::parse(d).ok()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    assert!(
        fetched.len() <= limits.max_untyped_fetches,
        "{} manifests fetched, limit {}",
        fetched.len(),
        limits.max_untyped_fetches
    );
    for d in &fetched {
        assert!(
            everything.iter().any(|l| &l.digest == d && is_untyped(l)),
            "fetched {d}, which no listing offered untyped"
        );
    }
    let Ok(found) = found else {
        return;
    };
    let listed = match found.source {
        DiscoverySource::ReferrersApi => listed_by(log, &Kind::Page),
        DiscoverySource::FallbackTag => listed_by(log, &Kind::Tag),
        _ => unreachable!("a source this target does not know"),
    };
    let mut first: HashMap<&Digest, (usize, &Descriptor)> = HashMap::new();
    for (i, d) in listed.iter().enumerate() {
        first.entry(&d.digest).or_insert((i, d));
    }
    for d in &fetched {
        let (_, l) = first
            .get(d)
            .unwrap_or_else(|| panic!("fetched {d}, not in the listing used"));
        assert!(
            is_untyped(l),
            "fetched {d}, listed as typed {:?}",
            l.artifact_type
        );
    }
    // Budget order: every untyped digest left unfetched is dated no more plausibly than the
    // fetched ones (by its descriptor's annotation). Not when `max_referrers` cut the listing:
    // then the client did not see every descriptor the registry served.
    let saw_everything = !matches!(found.truncated, Some(DiscoveryTruncation::Referrers { .. }));
    let untyped: Vec<(&Digest, (usize, &Descriptor))> = first
        .iter()
        .filter(|(_, (_, d))| is_untyped(d))
        .map(|(k, v)| (*k, *v))
        .collect();
    let desc_key = |d: &Descriptor| {
        fair_key(
            d.annotations.get(ANNOTATION_CREATED).map(String::as_str),
            false,
            now,
        )
    };
    if let Some(worst_fetched) = untyped
        .iter()
        .filter(|_| saw_everything)
        .filter(|(g, _)| fetched.contains(g))
        .map(|(_, (_, d))| desc_key(d))
        .max()
    {
        for (g, (_, d)) in untyped.iter().filter(|(g, _)| !fetched.contains(g)) {
            assert!(
                desc_key(d) >= worst_fetched,
                "{g} was left unfetched though dated more plausibly than a fetched one"
            );
        }
    }
    // Classification.
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    for c in &found.candidates {
        assert!(
            seen.insert(&c.manifest_digest),
            "{} returned twice",
            c.manifest_digest
        );
        let (i, d) = *first
            .get(&c.manifest_digest)
            .unwrap_or_else(|| panic!("candidate {} was not listed", c.manifest_digest));
        let typed = trimmed_type(d).is_some_and(is_bundle_media_type);
        if typed {
            assert_eq!(
                c.artifact_type.as_deref(),
                trimmed_type(d),
                "typed {}",
                c.manifest_digest
            );
            assert_eq!(c.created.as_ref(), d.annotations.get(ANNOTATION_CREATED));
        } else {
            assert!(
                is_untyped(d),
                "{} of artifactType {:?} became a candidate",
                d.digest,
                d.artifact_type
            );
            let bytes = served_manifest(log, &d.digest)
                .unwrap_or_else(|| panic!("untyped {} is a candidate without a fetch", d.digest));
            let (artifact_type, created) = classify(bytes, &d.digest, subject, limits)
                .unwrap_or_else(|| panic!("untyped {} is a candidate but its manifest is not a bundle for the subject", d.digest));
            assert_eq!(c.artifact_type.as_deref(), Some(artifact_type.as_str()));
            let created = created.or_else(|| d.annotations.get(ANNOTATION_CREATED).cloned());
            assert_eq!(c.created, created, "created of {}", d.digest);
        }
        keys.push((
            fair_key(c.created.as_deref(), typed, now),
            i,
            &c.manifest_digest,
        ));
    }
    for pair in keys.windows(2) {
        let ((a, ai, ad), (b, bi, bd)) = (&pair[0], &pair[1]);
        assert!(a <= b, "{ad} {a:?} is ranked before {bd} {b:?}");
        if a == b {
            assert!(
                ai < bi,
                "{ad} (listed {ai}) before {bd} (listed {bi}) with equal keys"
            );
        }
    }
    assert!(found.candidates.len() <= limits.max_candidates);
    for s in &found.skipped {
        let (_, d) = first
            .get(&s.manifest_digest)
            .unwrap_or_else(|| panic!("skipped {} was not listed", s.manifest_digest));
        assert!(is_untyped(d), "skipped {} was not untyped", d.digest);
        assert!(
            !seen.contains(&s.manifest_digest),
            "{} both skipped and a candidate",
            d.digest
        );
    }
    for l in &found.legacy_referrers {
        let (_, d) = first
            .get(l)
            .unwrap_or_else(|| panic!("legacy {l} was not listed"));
        assert_eq!(trimmed_type(d), Some(COSIGN_SIGNATURE_ARTIFACT_TYPE));
    }
    if found.truncated.is_none() {
        // Nothing cut: every signature referrer is a candidate, every legacy one reported.
        for (g, (_, d)) in &first {
            let expected = trimmed_type(d).is_some_and(is_bundle_media_type)
                || (is_untyped(d)
                    && served_manifest(log, g)
                        .is_some_and(|b| classify(b, g, subject, limits).is_some()));
            assert_eq!(
                seen.contains(g),
                expected,
                "{g} ({:?}) silently dropped or added",
                d.artifact_type
            );
            if trimmed_type(d) == Some(COSIGN_SIGNATURE_ARTIFACT_TYPE) {
                assert!(
                    found.legacy_referrers.contains(g),
                    "legacy {g} not reported"
                );
            }
        }
    }
}

// A fuzz target is a process of its own: one runtime per process is the harness, not
// library state.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds")
});

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Input>(data) else {
        return;
    };
    if input.referrers.len() > 64 {
        return;
    }
    let now: DateTime<Utc> = NOW.parse().expect("a fixed time parses");
    let subject = Digest::of(b"the image the signatures are for");
    let limits = input.limits.limits();
    let registry = Arc::new(Registry::new(input, subject.clone()));
    let responder = Arc::clone(&registry);
    let client = RegistryClient::builder()
        .plain_http_host(HOST)
        .limits(limits.clone())
        .fuzz_responder(Arc::new(move |request: &reqwest::Request| {
            responder.respond(request)
        }))
        .build()
        .expect("the client builds");
    let repo = Repository::new(HOST, NAME).expect("a fixed repository parses");
    let found =
        RUNTIME.block_on(client.discover_signatures(&repo, &subject, &DiscoveryOptions::at(now)));
    {
        let log = registry.log.lock().expect("the log lock is not poisoned");
        check(&found, &log, &subject, &limits, now);
    }
    // Then each candidate's bundle, as a verifier would ask for it.
    let Ok(found) = found else {
        return;
    };
    for c in &found.candidates {
        let bundle = RUNTIME.block_on(client.fetch_signature_bundle(
            &repo,
            &c.manifest_digest,
            std::slice::from_ref(&subject),
        ));
        if let Ok(bundle) = bundle {
            let log = registry.log.lock().expect("the log lock is not poisoned");
            check_bundle(&bundle, &c.manifest_digest, &log, &subject, &limits);
        }
    }
});

/// A bundle `fetch_signature_bundle` accepted for `candidate`: from a manifest served with the
/// candidate's digest, for our subject, with exactly one layer, a bundle by its artifactType
/// or that layer's type; the bytes have the layer's digest and exactly its stated size, within
/// `max_bundle_bytes` (a lying size is refused).
fn check_bundle(
    bundle: &SignatureBundle,
    candidate: &Digest,
    log: &[Exchange],
    subject: &Digest,
    limits: &Limits,
) {
    assert_eq!(&bundle.manifest_digest, candidate);
    let bytes = served_manifest(log, candidate)
        .unwrap_or_else(|| panic!("a bundle for {candidate} without its manifest served"));
    assert_eq!(
        &Digest::of(bytes),
        candidate,
        "manifest bytes of another digest"
    );
    let m: ImageManifest = serde_json::from_slice(bytes).expect("the accepted manifest parses");
    assert_eq!(m.subject.as_ref().map(|s| &s.digest), Some(subject));
    let [layer] = m.layers.as_slice() else {
        panic!(
            "a bundle from {candidate}, which has {} layers",
            m.layers.len()
        );
    };
    assert!(
        m.artifact_type.as_deref().is_some_and(is_bundle_media_type)
            || is_bundle_media_type(&layer.media_type),
        "{candidate} is not a bundle manifest"
    );
    assert_eq!(bundle.bundle_digest, layer.digest);
    assert_eq!(bundle.media_type, layer.media_type);
    assert_eq!(Digest::of(&bundle.bytes), layer.digest);
    assert_eq!(
        bundle.bytes.len() as u64,
        layer.size,
        "a lying layer size was accepted"
    );
    assert!(layer.size <= limits.max_bundle_bytes);
}
