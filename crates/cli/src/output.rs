//! What goes to stdout: text lines and `--output json` documents.
//!
//! Every JSON document carries `"schema"` ([`SCHEMA`]) and `"status"` (`verified`, `installed`,
//! `rejected`, `unavailable`, `error`, `interrupted`, …), on success and on failure alike, so a
//! script reads one document whatever happened. A closed stdout (`trustpull list | head -1`) is
//! not an error: output stops quietly.

use std::io::Write;

use serde_json::Value;

use crate::CliError;

/// The version of the JSON documents' shape.
pub const SCHEMA: u32 = 1;

/// Output format (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Output {
    /// For people: summary lines on stdout, warnings and progress on stderr.
    #[default]
    Text,
    /// One JSON document on stdout, on success and on failure.
    Json,
}

/// Writes `text` and a newline to stdout; a closed pipe ends output silently.
pub fn line(text: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    // EPIPE (the reader went away) and other write errors: nothing useful left to do.
    let _ = writeln!(out, "{text}");
}

/// Prints `body` (an object) as the one JSON document, with `schema` and `status` set.
pub fn json(status: &str, body: Value) {
    let mut doc = match body {
        Value::Object(map) => map,
        other => {
            let mut map = serde_json::Map::new();
            map.insert("result".to_owned(), other);
            map
        }
    };
    doc.insert("schema".to_owned(), Value::from(SCHEMA));
    doc.insert("status".to_owned(), Value::from(status));
    line(Value::Object(doc));
}

/// The JSON document for a failure.
pub fn json_failure(error: &CliError) {
    let mut body = match error.details() {
        Some(Value::Object(details)) => details.clone(),
        _ => serde_json::Map::new(),
    };
    body.insert("error".to_owned(), Value::from(error.one_line()));
    body.insert("exit_code".to_owned(), Value::from(error.status() as u8));
    json(error.status().json_status(), Value::Object(body));
}

/// A value as JSON, for a document body.
pub fn to_json(value: &impl serde::Serialize) -> Result<Value, CliError> {
    serde_json::to_value(value).map_err(|e| {
        CliError::new(
            crate::Status::Usage,
            format!("cannot serialize the result: {e}"),
        )
    })
}
