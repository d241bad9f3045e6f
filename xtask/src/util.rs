//! Small helpers shared by xtask commands: running processes and locating the workspace.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of the xtask crate).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// A binary cargo built in `profile` (`debug` or `release`).
pub fn built_binary(profile: &str, name: &str) -> PathBuf {
    target_dir()
        .join(profile)
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// A `cargo` command run from the workspace root, using the cargo that runs xtask.
pub fn cargo() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root());
    cmd
}

/// For commands that take no arguments: an error naming `command` and the first extra one.
pub fn no_args(command: &str, args: &[String]) -> Result<(), String> {
    match args.first() {
        Some(extra) => Err(format!(
            "`cargo xtask {command}` takes no arguments, got {extra:?}"
        )),
        None => Ok(()),
    }
}

/// The end of a run of cases: `Ok` with a line on stderr when none failed, else an error
/// listing the failures, one a line.
pub fn verdict(what: &str, failures: &[String]) -> Result<(), String> {
    if failures.is_empty() {
        eprintln!("{what}: all cases passed");
        Ok(())
    } else {
        Err(format!(
            "{} {what} case(s) failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}

/// Runs `cmd`, echoing it first; an unsuccessful exit is an error naming the command.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {}: {e}", display(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", display(cmd)))
    }
}

fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
