//! Locking, staging, the swap with its sidecar, crash recovery and the sweep.

use super::*;
use std::fs;

/// The names in `dir`, sorted (also used by the extractor's tests).
pub(crate) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
