//! Verified, atomic installation of OCI images.
//!
//! This crate resolves a reference once, pins it to a digest, verifies it through an
//! `ImageVerifier`, fetches layers by digest and extracts them safely into a staging directory
//! that is renamed into place (DESIGN.md §7). It knows only the verifier trait, never an
//! implementation.

mod extract;
mod limits;
mod staging;

pub use extract::{Compression, ExtractError, ExtractStats, UnsafeReason};
pub use limits::Limits;
pub use staging::InstallError;

/// What to do when the destination directory already exists and is not empty.
///
/// A missing destination or an empty directory is always replaced by one atomic rename. A
/// symlink or a file at the destination is always refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExistingDestination {
    /// Refuse before anything is fetched (the default).
    #[default]
    Refuse,
    /// Swap it out: rename the old tree aside, rename the new one in, then delete the old tree;
    /// if the second rename fails the old tree is renamed back.
    Replace,
}
