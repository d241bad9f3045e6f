//! The fair order of signature candidates (see the [`super`] module docs, "Order").
//!
//! `created` annotations are written by whoever pushed the referrer, so they are untrusted:
//! they only order candidates, and a date after the caller's `now` (or one that does not parse)
//! ranks a candidate below every candidate with a plausible date and below the undated ones.
//! Within each rank, typed bundle descriptors come before untyped ones that needed a fetch to
//! classify, then newest first, then listing order.

use std::cmp::Reverse;

use chrono::{DateTime, Utc};

/// How believable a `created` annotation is, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum DateRank {
    /// An RFC 3339 date not after `now` (every parsable date when no `now` was given).
    Plausible,
    /// No `created` annotation.
    Undated,
    /// A date after `now`, or text that is not an RFC 3339 date: ordered by listing only, so
    /// that a far-future date buys nothing.
    Implausible,
}

/// The sort key of a candidate: smaller sorts first. `sort_by_key` is stable, so equal keys
/// keep listing order.
pub(super) type OrderKey = (DateRank, bool, Reverse<(i64, u32)>);

/// The key of a candidate created at `created` (its annotation, untrusted), `typed` when its
/// descriptor named a bundle artifactType (no fetch was needed to classify it).
pub(super) fn order_key(
    created: Option<&str>,
    typed: bool,
    now: Option<DateTime<Utc>>,
) -> OrderKey {
    let (rank, at) = date_rank(created, now);
    (rank, !typed, Reverse(at))
}

/// The rank of `created` and, for plausible dates, its seconds and nanoseconds since the epoch
/// (zero for the other ranks, so that they keep listing order).
fn date_rank(created: Option<&str>, now: Option<DateTime<Utc>>) -> (DateRank, (i64, u32)) {
    let Some(text) = created else {
        return (DateRank::Undated, (0, 0));
    };
    match DateTime::parse_from_rfc3339(text.trim()) {
        Ok(at) if now.is_none_or(|now| at <= now) => (
            DateRank::Plausible,
            (at.timestamp(), at.timestamp_subsec_nanos()),
        ),
        _ => (DateRank::Implausible, (0, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Sorts `(name, created, typed)` rows by [`order_key`] and returns the names.
    fn check(now: Option<DateTime<Utc>>, rows: &[(&str, Option<&str>, bool)], expected: &[&str]) {
        let mut sorted = rows.to_vec();
        sorted.sort_by_key(|(_, created, typed)| order_key(*created, *typed, now));
        let got: Vec<&str> = sorted.iter().map(|(name, ..)| *name).collect();
        assert_eq!(got, expected, "now {now:?}");
    }

    #[test]
    fn plausible_then_undated_then_future_or_unparsable() {
        check(
            Some(now()),
            &[
                ("future-far", Some("9999-12-31T23:59:59Z"), true),
                ("garbage", Some("yesterday"), true),
                ("undated", None, true),
                ("future-near", Some("2026-06-01T00:00:01Z"), true),
                ("old", Some("2025-01-01T00:00:00Z"), true),
                ("exactly-now", Some("2026-06-01T00:00:00Z"), true),
                ("new-offset", Some("2026-05-31T23:00:00-00:30"), true),
            ],
            &[
                "exactly-now",
                "new-offset",
                "old",
                "undated",
                // implausible ones keep listing order: a farther future buys nothing
                "future-far",
                "garbage",
                "future-near",
            ],
        );
    }

    #[test]
    fn typed_before_untyped_within_a_rank() {
        check(
            Some(now()),
            &[
                ("untyped-new", Some("2026-05-01T00:00:00Z"), false),
                ("typed-old", Some("2025-01-01T00:00:00Z"), true),
                ("untyped-undated", None, false),
                ("typed-undated", None, true),
                ("typed-future", Some("2030-01-01T00:00:00Z"), true),
                ("untyped-old", Some("2024-01-01T00:00:00Z"), false),
            ],
            &[
                "typed-old",
                "untyped-new",
                "untyped-old",
                "typed-undated",
                "untyped-undated",
                "typed-future",
            ],
        );
    }

    #[test]
    fn without_now_every_parsable_date_is_plausible() {
        check(
            None,
            &[
                ("old", Some("2025-01-01T00:00:00Z"), true),
                ("garbage", Some("soon"), true),
                ("future", Some("2999-01-01T00:00:00Z"), true),
                ("undated", None, true),
            ],
            &["future", "old", "undated", "garbage"],
        );
    }
}
