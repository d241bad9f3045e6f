//! `trustpull uninstall NAME --dest DIR`: remove an installed backend's tree
//! and receipt, by its concrete name, meta name or alias. Not installed (or a name that names
//! several installed backends) exits 2.

use std::path::PathBuf;

use crate::output::{self, Output};
use crate::CliError;

/// Arguments of `trustpull uninstall`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backend (its concrete name, the meta name it was installed for, or its alias).
    #[arg(value_name = "NAME")]
    name: String,
    /// The install directory holding the backends and their receipts.
    #[arg(long, value_name = "DIR")]
    dest: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

/// Runs `trustpull uninstall`.
pub async fn run(args: Args) -> Result<(), CliError> {
    let outcome = trustpull_gallery::uninstall(&args.dest, &args.name)
        .await
        .map_err(|e| CliError::of(e.kind(), e))?;
    match args.output {
        Output::Json => output::json(
            "uninstalled",
            serde_json::json!({
                "name": outcome.name,
                "dir": outcome.dir,
                "receipt_path": outcome.receipt_path,
                "removed_tree": outcome.removed_tree,
            }),
        ),
        Output::Text => output::line(format_args!(
            "uninstalled {} ({}{}, receipt {})",
            outcome.name,
            outcome.dir.display(),
            if outcome.removed_tree {
                ""
            } else {
                ": the tree was already gone"
            },
            outcome.receipt_path.display()
        )),
    }
    Ok(())
}
