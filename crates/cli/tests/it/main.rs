//! Integration tests for the `trustpull` binary: exit codes and output, one module per command.

mod install;
mod interop;
mod list;
mod pull;
mod verify;

use std::process::{Command, Output};

/// Runs the built `trustpull` binary with `args`.
pub fn trustpull(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trustpull"))
        .args(args)
        .output()
        .expect("the trustpull binary was built by cargo for this test")
}
