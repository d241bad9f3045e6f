//! `trustpull list --galleries FILE`: the backends every configured gallery offers.

use std::path::PathBuf;

use serde::Serialize;
use trustpull_gallery::{BackendIndex, IndexLocation, OperatorConfig};

use crate::{CliError, Status};

/// Arguments of `trustpull list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The operator config naming the galleries.
    #[arg(long)]
    galleries: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// How to print results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// One line per entry.
    Text,
    /// A JSON array.
    Json,
}

#[derive(Serialize)]
struct Listed<'a> {
    name: &'a str,
    gallery: &'a str,
    signed: bool,
    meta: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    mirrors: &'a [String],
}

/// Loads the config and every gallery index, then prints the entries.
pub fn run(args: Args) -> Result<(), CliError> {
    let config =
        OperatorConfig::load(&args.galleries).map_err(|e| CliError::new(Status::Usage, e))?;
    let mut indexes = Vec::new();
    for gallery in &config.galleries {
        let text = match &gallery.url {
            IndexLocation::File(path) => std::fs::read_to_string(path).map_err(|e| {
                CliError::new(Status::Unavailable, format!("gallery {:?}: cannot read index {}: {e}", gallery.name, path.display()))
            })?,
            IndexLocation::Url(url) => {
                return Err(CliError::new(
                    Status::Unavailable,
                    format!("gallery {:?}: reading an index over HTTP ({url}) is not implemented yet; point url at a local copy", gallery.name),
                ))
            }
        };
        let index = BackendIndex::parse(&text).map_err(|e| {
            CliError::new(Status::Usage, format!("gallery {:?}: {e}", gallery.name))
        })?;
        indexes.push((gallery, index));
    }
    let listed: Vec<Listed<'_>> = indexes
        .iter()
        .flat_map(|(gallery, index)| {
            index.entries().iter().map(|e| Listed {
                name: &e.name,
                gallery: &gallery.name,
                signed: gallery.verification.is_some(),
                meta: e.is_meta(),
                uri: e.uri.as_deref(),
                mirrors: &e.mirrors,
            })
        })
        .collect();
    match args.output {
        Output::Json => {
            let json = serde_json::to_string_pretty(&listed)
                .expect("listed entries are plain strings and bools");
            println!("{json}");
        }
        Output::Text => {
            for l in &listed {
                let what = if l.meta {
                    "meta"
                } else {
                    l.uri.unwrap_or("(no uri)")
                };
                let signed = if l.signed { "signed" } else { "unsigned" };
                println!("{}/{}\t{signed}\t{what}", l.gallery, l.name);
            }
        }
    }
    Ok(())
}
