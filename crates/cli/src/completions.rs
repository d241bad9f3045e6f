//! `trustpull completions SHELL` and `trustpull man`: shell completion scripts and the
//! trustpull(1) man page, generated from the same clap definitions the parser uses, so they
//! cannot drift from the real flags.

use std::io::Write;

use crate::{CliError, Status};

/// Arguments of `trustpull completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Writes the completion script for `args.shell` to stdout, e.g.
/// `trustpull completions bash > /etc/bash_completion.d/trustpull`.
pub fn run(args: &Args, mut command: clap::Command) -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "trustpull", &mut out);
    write_stdout(&out)
}

/// Writes the trustpull(1) man page (roff) to stdout, e.g. `trustpull man > trustpull.1`.
pub fn man(command: clap::Command) -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .map_err(|e| CliError::new(Status::Usage, format!("cannot render the man page: {e}")))?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        // A closed stdout (`| head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::new(
            Status::Usage,
            format!("cannot write to stdout: {e}"),
        )),
        _ => Ok(()),
    }
}
