//! `trustpull list --galleries FILE`: the backends every configured gallery offers.

use std::path::PathBuf;

use serde::Serialize;
use trustpull_gallery::{load_index, registry_client, OperatorConfig};
use trustpull_referrers::Credentials;

use crate::output::{self, Output};
use crate::{CliError, Status};

/// Arguments of `trustpull list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The operator config naming the galleries.
    #[arg(long)]
    galleries: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
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

/// Loads the config and every gallery index (local or remote, see `fetch_index`), then prints
/// the entries.
pub async fn run(args: Args) -> Result<(), CliError> {
    let config =
        OperatorConfig::load(&args.galleries).map_err(|e| CliError::new(Status::Usage, e))?;
    let client = registry_client(&config, Credentials::anonymous())
        .map_err(|e| CliError::of(e.kind(), e))?;
    let mut indexes = Vec::new();
    for gallery in &config.galleries {
        let index = load_index(gallery, &client)
            .await
            .map_err(|e| CliError::of(e.kind(), e))?;
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
        Output::Json => output::json(
            "listed",
            serde_json::json!({ "backends": output::to_json(&listed)? }),
        ),
        Output::Text => {
            for l in &listed {
                let what = if l.meta {
                    "meta"
                } else {
                    l.uri.unwrap_or("(no uri)")
                };
                let signed = if l.signed { "signed" } else { "unsigned" };
                output::line(format_args!("{}/{}\t{signed}\t{what}", l.gallery, l.name));
            }
        }
    }
    Ok(())
}
