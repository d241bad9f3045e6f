//! Sigstore signature discovery for a digest.
//!
//! 1. `GET /v2/R/referrers/D?artifactType=<bundle type>` (OCI 1.1 referrers API). A 200 with an
//!    index content type is used, following `Link: rel="next"` pages up to the page and
//!    descriptor limits (a page seen twice ends the walk). The artifactType filter is always
//!    re-applied here, whether or not the registry says `OCI-Filters-Applied: artifactType`.
//! 2. 404, 400, 406, or a 200 that is not an index → the referrers tag schema: the index tagged
//!    `sha256-<hex>`. Its 404 means no signatures.
//! 3. Any other failure (401/403/429/5xx, timeouts) is an error of kind
//!    [`crate::RegistryErrorKind::Unavailable`], never an empty list.
//! 4. Candidates: descriptors whose artifactType is a bundle type ("typed"); those with an
//!    empty, missing or `application/vnd.oci.empty.v1+json` artifactType (older cosign
//!    fallback indexes, "untyped") are decided by fetching their manifest (its artifactType or
//!    single layer must be a bundle, and its subject must be D), at most
//!    [`crate::Limits::max_untyped_fetches`] of them, in the order below by their descriptor's
//!    annotation. At most [`crate::Limits::max_candidates`] candidates are returned.
//!
//! # Order
//!
//! Anyone who can push a referrer chooses its `org.opencontainers.image.created` annotation, so
//! the order must not let one pusher starve the others. Candidates are sorted by:
//!
//! 1. how plausible the date is: an RFC 3339 date not after [`DiscoveryOptions::now`] first,
//!    then undated candidates, then dates after `now` or text that does not parse (these last
//!    keep listing order: a farther future buys nothing). Without `now` every parsable date is
//!    plausible, so callers should pass the time;
//! 2. within that, typed descriptors before untyped ones;
//! 3. then newest date first, then listing order.
//!
//! This takes away the advantage of future dates, not every way to crowd the list: a pusher
//! can still date junk just before `now`. That is why every cut is reported (below), so that a
//! crowded list ends as inconclusive rather than as a rejection.
//!
//! # Never silently
//!
//! Whatever a limit drops (pages, descriptors, untyped descriptors left unclassified,
//! candidates past the cap), or a next page that is not followed, is reported in
//! [`Discovery::truncated`] as a [`DiscoveryTruncation`] naming the limit: the first one hit,
//! listing first, then classification, then the candidate cap. A caller that finds no valid
//! signature among a truncated list must treat the result as inconclusive, not as "unsigned".
//!
//! [`RegistryClient::fetch_signature_bundle`] then fetches a candidate's manifest by digest,
//! checks its subject (registries can lie, the fallback index is just a tag anyone with push
//! rights can move), requires exactly one bundle layer, and fetches it by digest, capped.

mod order;

use std::collections::HashSet;
use std::fmt;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::LINK;
use reqwest::Url;
use trustpull_policy::Digest;

use crate::client::{content_type, parse_document, status_error, RequestOptions};
use crate::manifest::{
    is_bundle_media_type, Descriptor, ImageIndex, ImageManifest, ANNOTATION_CREATED,
    MANIFEST_ACCEPT, OCI_EMPTY, OCI_INDEX, SIGSTORE_BUNDLE_V03,
};
use crate::{
    RegistryClient, RegistryError, RegistryErrorKind, Repository, COSIGN_SIGNATURE_ARTIFACT_TYPE,
};

/// Where a candidate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiscoverySource {
    /// The OCI 1.1 referrers API.
    ReferrersApi,
    /// The referrers tag schema (`sha256-<hex>` index).
    FallbackTag,
}

/// A referrer manifest that may carry a Sigstore bundle for the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureCandidate {
    /// The referrer manifest's digest.
    pub manifest_digest: Digest,
    /// Its artifactType (from the descriptor, or from the manifest when the descriptor had none).
    pub artifact_type: Option<String>,
    /// Its `org.opencontainers.image.created` annotation (untrusted; ordering only).
    pub created: Option<String>,
}

/// A descriptor that was listed but is not a candidate, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct SkippedReferrer {
    /// The referrer manifest digest.
    pub manifest_digest: Digest,
    /// Why it was skipped.
    pub reason: RegistryError,
}

/// The result of [`RegistryClient::discover_signatures`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Discovery {
    /// Where the list came from.
    pub source: DiscoverySource,
    /// Candidates in the fair order of the module docs ("Order"). Empty with `truncated` unset
    /// means the registry lists no signatures for the digest.
    pub candidates: Vec<SignatureCandidate>,
    /// Listed descriptors that turned out not to be candidates (decided by fetching them).
    pub skipped: Vec<SkippedReferrer>,
    /// Set when something listed was not considered: which limit cut the list (the first one
    /// hit). Then the absence of a valid signature among `candidates` proves nothing.
    pub truncated: Option<DiscoveryTruncation>,
    /// Listed descriptors of artifactType [`crate::COSIGN_SIGNATURE_ARTIFACT_TYPE`] (cosign's
    /// old-format signatures in referrers mode), for
    /// [`RegistryClient::discover_legacy_signatures`]. Found only when the listing includes
    /// them: the referrers tag index always does, a referrers API that applies the bundle
    /// artifactType filter does not.
    pub legacy_referrers: Vec<Digest>,
}

/// Per-call settings of [`RegistryClient::discover_signatures`].
///
/// ```
/// use trustpull_referrers::DiscoveryOptions;
/// let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")?.to_utc();
/// let options = DiscoveryOptions::at(now);
/// assert_eq!(options.now, Some(now));
/// # Ok::<(), chrono::ParseError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryOptions {
    /// The current time (the library reads no clock). Candidates dated after it rank below
    /// every plausibly dated and every undated candidate. `None` (the default) treats every
    /// parsable date as plausible, which lets a pusher with future dates go first: pass it.
    pub now: Option<DateTime<Utc>>,
}

impl DiscoveryOptions {
    /// Options for discovering at time `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self { now: Some(now) }
    }

    /// The place in the fair order (module docs, "Order") of a candidate whose `created`
    /// annotation says `created`, `typed` when its descriptor named a bundle artifactType: sort
    /// by it (stable) so every source orders candidates by the same rule.
    pub fn rank(&self, created: Option<&str>, typed: bool) -> CandidateRank {
        CandidateRank(order::order_key(created, typed, self.now))
    }
}

/// A candidate's place in the fair order ([`DiscoveryOptions::rank`]); smaller sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CandidateRank(order::OrderKey);

/// Which limit cut a [`Discovery`]'s list, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryTruncation {
    /// The referrers API had more `Link: rel="next"` pages than
    /// [`crate::Limits::max_referrer_pages`].
    ReferrerPages {
        /// The limit.
        limit: usize,
    },
    /// More referrer descriptors were listed than [`crate::Limits::max_referrers`].
    Referrers {
        /// The limit.
        limit: usize,
    },
    /// A `Link: rel="next"` page was not followed: it is on another origin than the registry
    /// (credentials and limits apply per registry) or not a URL.
    UnfollowedNextPage {
        /// The link target: its origin when it is on another origin, else the raw text
        /// (at most 200 characters).
        link: String,
    },
    /// More untyped descriptors needed a fetch to classify than
    /// [`crate::Limits::max_untyped_fetches`]; the rest were left unclassified.
    UntypedFetches {
        /// The limit.
        limit: usize,
    },
    /// More candidates were found than [`crate::Limits::max_candidates`].
    Candidates {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for DiscoveryTruncation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReferrerPages { limit } => write!(
                f,
                "more than {limit} referrers pages (Limits::max_referrer_pages)"
            ),
            Self::Referrers { limit } => write!(
                f,
                "more than {limit} referrer descriptors (Limits::max_referrers)"
            ),
            Self::UnfollowedNextPage { link } => write!(
                f,
                "a next referrers page at {link} that was not followed (another origin, or not a URL)"
            ),
            Self::UntypedFetches { limit } => write!(
                f,
                "more than {limit} untyped referrers to classify (Limits::max_untyped_fetches)"
            ),
            Self::Candidates { limit } => write!(
                f,
                "more than {limit} signature candidates (Limits::max_candidates)"
            ),
        }
    }
}

/// A candidate's bundle, fetched by digest and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureBundle {
    /// The referrer manifest digest.
    pub manifest_digest: Digest,
    /// The bundle layer's digest.
    pub bundle_digest: Digest,
    /// The bundle layer's media type.
    pub media_type: String,
    /// The bundle JSON.
    pub bytes: Bytes,
}

enum Listing {
    Found {
        descriptors: Vec<Descriptor>,
        truncated: Option<DiscoveryTruncation>,
    },
    NoReferrersApi,
}

/// A candidate and its place in the order.
struct Ranked {
    key: order::OrderKey,
    /// Its place in the listing: the tie-break among equal keys.
    position: usize,
    candidate: SignatureCandidate,
}

impl RegistryClient {
    /// Lists the Sigstore signature candidates for `digest` in `repo`, in the fair order of
    /// the module docs, with [`Discovery::truncated`] set when a limit cut the list.
    pub async fn discover_signatures(
        &self,
        repo: &Repository,
        digest: &Digest,
        options: &DiscoveryOptions,
    ) -> Result<Discovery, RegistryError> {
        let limits = self.limits().clone();
        let (source, descriptors, mut truncated) = match self.list_referrers(repo, digest).await? {
            Listing::Found {
                descriptors,
                truncated,
            } => (DiscoverySource::ReferrersApi, descriptors, truncated),
            Listing::NoReferrersApi => {
                let (descriptors, truncated) = self.list_fallback(repo, digest).await?;
                (DiscoverySource::FallbackTag, descriptors, truncated)
            }
        };
        let mut seen = HashSet::new();
        let mut ranked = Vec::new();
        let mut untyped = Vec::new();
        let mut legacy_referrers = Vec::new();
        for (position, d) in descriptors.into_iter().enumerate() {
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            let artifact_type = d
                .artifact_type
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty());
            match artifact_type {
                Some(t) if is_bundle_media_type(t) => {
                    let created = d.annotations.get(ANNOTATION_CREATED).cloned();
                    ranked.push(Ranked {
                        key: order::order_key(created.as_deref(), true, options.now),
                        position,
                        candidate: SignatureCandidate {
                            manifest_digest: d.digest.clone(),
                            artifact_type: Some(t.to_owned()),
                            created,
                        },
                    });
                }
                None | Some(OCI_EMPTY) => untyped.push((position, d)),
                Some(COSIGN_SIGNATURE_ARTIFACT_TYPE) => legacy_referrers.push(d.digest.clone()),
                Some(_) => {}
            }
        }
        // Untyped descriptors cost a fetch each: the most plausible first, within a budget.
        untyped.sort_by_key(|(_, d)| {
            let created = d.annotations.get(ANNOTATION_CREATED).map(String::as_str);
            order::order_key(created, false, options.now)
        });
        if untyped.len() > limits.max_untyped_fetches {
            untyped.truncate(limits.max_untyped_fetches);
            truncated.get_or_insert(DiscoveryTruncation::UntypedFetches {
                limit: limits.max_untyped_fetches,
            });
        }
        let mut skipped = Vec::new();
        for (position, d) in untyped {
            match self.classify_untyped(repo, digest, &d).await {
                Ok(candidate) => ranked.push(Ranked {
                    key: order::order_key(candidate.created.as_deref(), false, options.now),
                    position,
                    candidate,
                }),
                Err(e) if e.kind() == RegistryErrorKind::Unavailable => return Err(e),
                Err(reason) => skipped.push(SkippedReferrer {
                    manifest_digest: d.digest.clone(),
                    reason,
                }),
            }
        }
        // Equal keys keep listing order. Untyped candidates were pushed in fetch order (by
        // their descriptor's date), so a stable sort on the key alone would not do that.
        ranked.sort_by_key(|r| (r.key, r.position));
        if ranked.len() > limits.max_candidates {
            ranked.truncate(limits.max_candidates);
            truncated.get_or_insert(DiscoveryTruncation::Candidates {
                limit: limits.max_candidates,
            });
        }
        Ok(Discovery {
            source,
            candidates: ranked.into_iter().map(|r| r.candidate).collect(),
            skipped,
            truncated,
            legacy_referrers,
        })
    }

    /// Fetches `candidate`'s referrer manifest by digest, checks that its subject is one of
    /// `subjects` (the digest it was listed for; a caller verifying a platform child may also
    /// pass the index digest), that it carries exactly one Sigstore bundle layer, and fetches
    /// that layer by digest, capped at [`crate::Limits::max_bundle_bytes`].
    pub async fn fetch_signature_bundle(
        &self,
        repo: &Repository,
        candidate: &Digest,
        subjects: &[Digest],
    ) -> Result<SignatureBundle, RegistryError> {
        let (manifest, _) = self
            .fetch_referrer_manifest(repo, candidate, subjects)
            .await?;
        let not_bundle = |reason: String| RegistryError::NotABundle {
            manifest: candidate.clone(),
            reason,
        };
        let [layer] = manifest.layers.as_slice() else {
            return Err(not_bundle(format!(
                "{} layers, expected exactly 1 bundle layer",
                manifest.layers.len()
            )));
        };
        let typed = manifest
            .artifact_type
            .as_deref()
            .is_some_and(is_bundle_media_type)
            || is_bundle_media_type(&layer.media_type);
        if !typed {
            return Err(not_bundle(format!(
                "artifactType {:?} and layer media type {:?} are not Sigstore bundle types",
                manifest.artifact_type.as_deref().unwrap_or(""),
                layer.media_type
            )));
        }
        let limit = self.limits().max_bundle_bytes;
        let url = self.repo_url(repo, &format!("blobs/{}", layer.digest))?;
        if layer.size > limit {
            return Err(RegistryError::TooLarge {
                url: url.to_string(),
                what: "bundle",
                limit,
            });
        }
        let bytes = self.fetch_blob(repo, &layer.digest, layer.size).await?;
        if bytes.len() as u64 != layer.size {
            return Err(RegistryError::SizeMismatch {
                url: url.to_string(),
                expected: layer.size,
                actual: bytes.len() as u64,
            });
        }
        Ok(SignatureBundle {
            manifest_digest: candidate.clone(),
            bundle_digest: layer.digest.clone(),
            media_type: layer.media_type.clone(),
            bytes,
        })
    }

    async fn fetch_referrer_manifest(
        &self,
        repo: &Repository,
        candidate: &Digest,
        subjects: &[Digest],
    ) -> Result<(ImageManifest, String), RegistryError> {
        let fetched = self.fetch_manifest(repo, candidate).await?;
        let url = self.repo_url(repo, &format!("manifests/{candidate}"))?;
        let manifest: ImageManifest = parse_document(&url, &fetched.bytes, "referrer manifest")?;
        let found = manifest.subject.as_ref().map(|s| s.digest.clone());
        if !found.as_ref().is_some_and(|f| subjects.contains(f)) {
            return Err(RegistryError::SubjectMismatch {
                manifest: candidate.clone(),
                expected: subjects
                    .first()
                    .cloned()
                    .unwrap_or_else(|| candidate.clone()),
                found: found.map(String::from),
            });
        }
        Ok((manifest, fetched.media_type))
    }

    /// Decides a descriptor without a usable artifactType by fetching its manifest.
    async fn classify_untyped(
        &self,
        repo: &Repository,
        subject: &Digest,
        d: &Descriptor,
    ) -> Result<SignatureCandidate, RegistryError> {
        let (manifest, _) = self
            .fetch_referrer_manifest(repo, &d.digest, std::slice::from_ref(subject))
            .await?;
        let layer_type = match manifest.layers.as_slice() {
            [layer] if is_bundle_media_type(&layer.media_type) => Some(layer.media_type.clone()),
            _ => None,
        };
        let artifact_type = manifest
            .artifact_type
            .clone()
            .filter(|t| is_bundle_media_type(t))
            .or(layer_type)
            .ok_or_else(|| RegistryError::NotABundle {
                manifest: d.digest.clone(),
                reason: "neither its artifactType nor a single layer is a Sigstore bundle"
                    .to_owned(),
            })?;
        let created = manifest
            .annotations
            .get(ANNOTATION_CREATED)
            .or_else(|| d.annotations.get(ANNOTATION_CREATED))
            .cloned();
        Ok(SignatureCandidate {
            manifest_digest: d.digest.clone(),
            artifact_type: Some(artifact_type),
            created,
        })
    }

    async fn list_referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Listing, RegistryError> {
        let limits = self.limits().clone();
        let filter: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("artifactType", SIGSTORE_BUNDLE_V03)
            .finish();
        let mut url = self.repo_url(repo, &format!("referrers/{digest}?{filter}"))?;
        let mut descriptors = Vec::new();
        let mut seen_pages = HashSet::new();
        let mut truncated = None;
        let mut page = 0usize;
        loop {
            page += 1;
            seen_pages.insert(url.to_string());
            let resp = self
                .send(
                    repo,
                    url.clone(),
                    RequestOptions {
                        accept: OCI_INDEX,
                        whole_timeout: true,
                    },
                )
                .await?;
            let status = resp.status().as_u16();
            if page == 1 && matches!(status, 404 | 400 | 406) {
                return Ok(Listing::NoReferrersApi);
            }
            if !resp.status().is_success() {
                return Err(status_error(&url, resp).await);
            }
            let is_index = content_type(resp.headers()).is_some_and(|t| t == OCI_INDEX);
            if page == 1 && !is_index {
                return Ok(Listing::NoReferrersApi);
            }
            let next = next_link(&url, resp.headers());
            let body = self
                .read_capped(&url, resp, limits.max_manifest_bytes, "referrers page")
                .await?;
            let index: ImageIndex = parse_document(&url, &body, "referrers index")?;
            for d in index.manifests {
                if descriptors.len() >= limits.max_referrers {
                    truncated = Some(DiscoveryTruncation::Referrers {
                        limit: limits.max_referrers,
                    });
                    break;
                }
                descriptors.push(d);
            }
            let next = match next {
                NextPage::None => break,
                NextPage::Unfollowable(link) => {
                    truncated.get_or_insert(DiscoveryTruncation::UnfollowedNextPage { link });
                    break;
                }
                NextPage::Follow(next) => next,
            };
            if truncated.is_some() || seen_pages.contains(next.as_str()) {
                break;
            }
            if page >= limits.max_referrer_pages {
                truncated = Some(DiscoveryTruncation::ReferrerPages {
                    limit: limits.max_referrer_pages,
                });
                break;
            }
            url = next;
        }
        Ok(Listing::Found {
            descriptors,
            truncated,
        })
    }

    async fn list_fallback(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<(Vec<Descriptor>, Option<DiscoveryTruncation>), RegistryError> {
        let tag = format!("manifests/sha256-{}", digest.hex());
        let (url, resp) = self.get(repo, &tag, MANIFEST_ACCEPT, true).await?;
        if resp.status().as_u16() == 404 {
            return Ok((Vec::new(), None));
        }
        if !resp.status().is_success() {
            return Err(status_error(&url, resp).await);
        }
        let body = self
            .read_capped(
                &url,
                resp,
                self.limits().max_manifest_bytes,
                "referrers tag index",
            )
            .await?;
        let index: ImageIndex = parse_document(&url, &body, "referrers tag index")?;
        let mut descriptors = index.manifests;
        let limit = self.limits().max_referrers;
        let truncated =
            (descriptors.len() > limit).then_some(DiscoveryTruncation::Referrers { limit });
        descriptors.truncate(limit);
        Ok((descriptors, truncated))
    }
}

/// What a page's `Link` header says about the next page.
#[derive(Debug, PartialEq, Eq)]
enum NextPage {
    /// No `rel="next"` link: this was the last page.
    None,
    /// The next page, on the same origin.
    Follow(Url),
    /// A next page that is not followed (another origin, or not a URL): reported as
    /// [`DiscoveryTruncation::UnfollowedNextPage`], never ignored.
    Unfollowable(String),
}

/// The `Link: <url>; rel="next"` target, resolved against the current page and followed only
/// if it stays on the same origin (credentials and limits apply per registry).
fn next_link(current: &Url, headers: &reqwest::header::HeaderMap) -> NextPage {
    let unfollowable = |text: &str| NextPage::Unfollowable(text.chars().take(200).collect());
    for value in headers.get_all(LINK) {
        let Ok(value) = value.to_str() else {
            return unfollowable("(a Link header that is not text)");
        };
        for link in value.split(',') {
            let mut parts = link.split(';');
            let target = parts.next().unwrap_or_default().trim();
            let is_next = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if !is_next {
                continue;
            }
            let Some(inner) = target.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
                return unfollowable(target);
            };
            return match current.join(inner) {
                Ok(next) if next.origin() == current.origin() => NextPage::Follow(next),
                Ok(next) => unfollowable(&next.origin().ascii_serialization()),
                Err(_) => unfollowable(inner),
            };
        }
    }
    NextPage::None
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn truncations_name_the_limit_and_its_value() {
        for (truncation, expected) in [
            (
                DiscoveryTruncation::ReferrerPages { limit: 10 },
                "more than 10 referrers pages (Limits::max_referrer_pages)",
            ),
            (
                DiscoveryTruncation::Referrers { limit: 1000 },
                "more than 1000 referrer descriptors (Limits::max_referrers)",
            ),
            (
                DiscoveryTruncation::UnfollowedNextPage {
                    link: "https://elsewhere.example".to_owned(),
                },
                "a next referrers page at https://elsewhere.example that was not followed (another origin, or not a URL)",
            ),
            (
                DiscoveryTruncation::UntypedFetches { limit: 32 },
                "more than 32 untyped referrers to classify (Limits::max_untyped_fetches)",
            ),
            (
                DiscoveryTruncation::Candidates { limit: 32 },
                "more than 32 signature candidates (Limits::max_candidates)",
            ),
        ] {
            assert_eq!(truncation.to_string(), expected);
        }
    }

    /// `Link` header values → what the walk does next.
    #[test]
    fn next_links() {
        let current = Url::parse("http://r.example:5000/v2/a/referrers/x?artifactType=t").unwrap();
        let follow = |u: &str| NextPage::Follow(Url::parse(u).unwrap());
        let refuse = |s: &str| NextPage::Unfollowable(s.to_owned());
        for (header, expected) in [
            (None, NextPage::None),
            (
                Some(r#"</v2/a/referrers/x?page=2>; rel="prev""#),
                NextPage::None,
            ),
            (
                Some(r#"</v2/a/referrers/x?page=2>; rel="next""#),
                follow("http://r.example:5000/v2/a/referrers/x?page=2"),
            ),
            (
                Some(r#"<http://r.example:5000/p2>; rel=next"#),
                follow("http://r.example:5000/p2"),
            ),
            (
                Some(r#"<https://r.example:5000/p2>; rel="next""#),
                refuse("https://r.example:5000"),
            ),
            (
                Some(r#"<http://evil.example/p2>; rel="next""#),
                refuse("http://evil.example"),
            ),
            (Some(r#"/p2; rel="next""#), refuse("/p2")),
        ] {
            let mut headers = HeaderMap::new();
            if let Some(h) = header {
                headers.insert(LINK, HeaderValue::from_static(h));
            }
            assert_eq!(next_link(&current, &headers), expected, "{header:?}");
        }
    }
}
