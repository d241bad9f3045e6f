//! Debian packages the e2e and bench commands need: installed with `apt-get` when missing and
//! running as root; otherwise the exact command is printed and the command fails.

use std::path::Path;
use std::process::Command;

use crate::util;

/// A program to look for and the Debian package that provides it.
pub struct Needed {
    /// The program: a name looked up on `PATH`, or an absolute path.
    pub program: &'static str,
    /// The Debian package that installs it.
    pub package: &'static str,
}

/// Makes sure every program in `needed` is there, for `what` (e.g. "cargo xtask e2e").
pub fn ensure(what: &str, needed: &[Needed]) -> Result<(), String> {
    let mut packages: Vec<&str> = needed
        .iter()
        .filter(|n| !found(n.program))
        .map(|n| n.package)
        .collect();
    packages.dedup();
    if packages.is_empty() {
        return Ok(());
    }
    let command = format!("apt-get install -y {}", packages.join(" "));
    if !is_root()? {
        return Err(format!(
            "{what} needs the Debian package(s) {}; install them with:\n  sudo {command}",
            packages.join(", ")
        ));
    }
    let install = || {
        util::run(
            Command::new("apt-get")
                .args(["install", "-y"])
                .args(&packages),
        )
    };
    if install().is_err() {
        // A fresh container has no package lists yet.
        util::run(Command::new("apt-get").arg("update"))?;
        install()?;
    }
    match needed.iter().find(|n| !found(n.program)) {
        Some(n) => Err(format!(
            "`{command}` ran, but {} is still not found",
            n.program
        )),
        None => Ok(()),
    }
}

/// Whether `program` is an existing absolute path or a file on `PATH`.
fn found(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

fn is_root() -> Result<bool, String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run id -u: {e}"))?;
    Ok(String::from_utf8_lossy(&uid.stdout).trim() == "0")
}
