//! The CLI's error type: an error plus the exit status its kind maps to.

use std::error::Error;

/// The process exit status, by kind of outcome (DESIGN.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A signature, policy or integrity check rejected the image, or strict mode refused it.
    Rejected = 1,
    /// The command line or a config file is wrong.
    Usage = 2,
    /// A registry, the network or the trust root could not be reached; retrying may help.
    Unavailable = 3,
}

/// An error on its way to the user, with the exit status it maps to.
#[derive(Debug)]
pub struct CliError {
    status: Status,
    error: Box<dyn Error + Send + Sync>,
}

impl CliError {
    /// Wraps `error` with the status its kind maps to.
    pub fn new(status: Status, error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self {
            status,
            error: error.into(),
        }
    }

    /// The exit status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Prints the error to stderr; with `verbose`, every cause on its own line.
    pub fn report(&self, verbose: bool) {
        eprintln!("error: {}", self.error);
        let mut cause = self.error.source();
        while let Some(c) = cause {
            if verbose {
                eprintln!("  caused by: {c}");
            }
            cause = c.source();
        }
        if !verbose && self.error.source().is_some() {
            eprintln!("  (run with -v for the cause)");
        }
    }
}
