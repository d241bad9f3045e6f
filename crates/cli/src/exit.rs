//! The CLI's error type and THE mapping from an error's kind to the exit status:
//! 0 success, 1 rejected, 2 usage / config / local, 3 unavailable, 130 interrupted. Every
//! command turns library errors into a [`CliError`] through [`Status::from`] on the error's
//! `kind()`; nothing decides on message text.

use std::error::Error;

use trustpull_downloader::{error_chain, error_messages, ErrorKind};

/// The process exit status, by kind of outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A signature, policy or integrity check rejected the image, or strict mode refused it.
    Rejected = 1,
    /// The command line, a config file or something local (a destination that cannot be
    /// written, a missing file, a bad index name, not implemented) is wrong.
    Usage = 2,
    /// A registry, the network, the trust root or the deadline failed; retrying may help.
    Unavailable = 3,
    /// Interrupted (SIGINT): nothing was installed and nothing left behind.
    Interrupted = 130,
}

impl From<ErrorKind> for Status {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Rejected => Self::Rejected,
            ErrorKind::Unavailable => Self::Unavailable,
            // Config and anything a newer library adds: a local problem, never "retry".
            _ => Self::Usage,
        }
    }
}

impl Status {
    /// The `status` of a JSON failure document.
    pub fn json_status(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::Usage => "error",
            Self::Unavailable => "unavailable",
            Self::Interrupted => "interrupted",
        }
    }
}

/// An error on its way to the user, with the exit status its kind maps to.
#[derive(Debug)]
pub struct CliError {
    status: Status,
    error: Box<dyn Error + Send + Sync>,
    /// Fields the `--output json` failure document carries besides the error (e.g. the
    /// per-backend results of `verify-installed`).
    details: Option<serde_json::Value>,
}

impl CliError {
    /// Wraps `error` with the status its kind maps to.
    pub fn new(status: Status, error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self {
            status,
            error: error.into(),
            details: None,
        }
    }

    /// Adds fields (a JSON object) to the `--output json` failure document.
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The fields added with [`CliError::with_details`].
    pub fn details(&self) -> Option<&serde_json::Value> {
        self.details.as_ref()
    }

    /// Wraps a library error by its kind.
    pub fn of(kind: ErrorKind, error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::new(Status::from(kind), error)
    }

    /// The exit status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The reason on one line: the error and its causes joined by `: `.
    pub fn one_line(&self) -> String {
        error_chain(self.error.as_ref())
    }

    /// Prints the error to stderr: one line by default; with `verbose`, one cause per line.
    pub fn report(&self, verbose: bool) {
        let messages = error_messages(self.error.as_ref());
        if verbose {
            let mut lines = messages.iter();
            if let Some(first) = lines.next() {
                eprintln!("error: {first}");
            }
            for cause in lines {
                eprintln!("  caused by: {cause}");
            }
        } else {
            eprintln!("error: {}", messages.join(": "));
        }
    }
}
