//! Hostile-registry tests for trustpull-referrers: a wiremock registry on 127.0.0.1 that
//! misbehaves in one way per test, each asserting the typed error (or the typed result).

// Fixture builders outside #[test] fns panic on impossible failures; the panic is the report.
#![allow(clippy::unwrap_used)]

mod client;
mod credentials;
mod discovery;
mod support;
