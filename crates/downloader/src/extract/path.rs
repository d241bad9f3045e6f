//! `SafeRelativePath`: an archive path that has been checked to stay inside the extraction root.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// A non-empty path made only of normal components: no `..`, no root, no `.`.
///
/// Built from a tar entry path by dropping a leading `/` and any `./`; a `..` anywhere is refused
/// (even `a/../b`, which would stay inside: archives that need it are malformed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SafeRelativePath(PathBuf);

/// Why an archive path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathProblem {
    /// A `..` component.
    ParentComponent,
}

impl SafeRelativePath {
    /// Normalises `raw`. `Ok(None)` means the path names the root itself (`/`, `.`, `./`).
    pub(crate) fn parse(raw: &Path) -> Result<Option<Self>, PathProblem> {
        let mut out = PathBuf::new();
        for component in raw.components() {
            match component {
                Component::Normal(name) => out.push(name),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir => return Err(PathProblem::ParentComponent),
                // Windows prefixes cannot come out of a unix path; treat them as unsafe.
                Component::Prefix(_) => return Err(PathProblem::ParentComponent),
            }
        }
        if out.as_os_str().is_empty() {
            Ok(None)
        } else {
            Ok(Some(Self(out)))
        }
    }

    /// The relative path.
    pub(crate) fn as_path(&self) -> &Path {
        &self.0
    }

    /// The last component.
    pub(crate) fn file_name(&self) -> OsString {
        self.0
            .file_name()
            .map(ToOwned::to_owned)
            .unwrap_or_default()
    }

    /// The parent, or `None` when the path has a single component.
    pub(crate) fn parent(&self) -> Option<Self> {
        self.0
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| Self(p.to_path_buf()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Result<Option<&str>, PathProblem>) {
        let got = SafeRelativePath::parse(Path::new(raw));
        let got = got.map(|p| p.map(|p| p.as_path().to_string_lossy().into_owned()));
        assert_eq!(got, expected.map(|p| p.map(str::to_owned)), "input {raw:?}");
    }

    #[test]
    fn normalises_and_refuses() {
        check("a/b", Ok(Some("a/b")));
        check("/a/b", Ok(Some("a/b")));
        check("./a/./b/", Ok(Some("a/b")));
        check("//a//b", Ok(Some("a/b")));
        check("./", Ok(None));
        check("/", Ok(None));
        check("", Ok(None));
        check("../a", Err(PathProblem::ParentComponent));
        check("a/../../b", Err(PathProblem::ParentComponent));
        check("a/..", Err(PathProblem::ParentComponent));
        check("/../etc/passwd", Err(PathProblem::ParentComponent));
    }

    #[test]
    fn parent_and_name() {
        let p = SafeRelativePath::parse(Path::new("a/b/c"))
            .unwrap()
            .unwrap();
        assert_eq!(p.file_name(), OsString::from("c"));
        assert_eq!(p.parent().unwrap().as_path(), Path::new("a/b"));
        let single = SafeRelativePath::parse(Path::new("a")).unwrap().unwrap();
        assert_eq!(single.parent(), None);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn parsed_paths_are_relative_and_have_no_parent_components(raw in "[a./]{0,12}|.{0,40}") {
            match SafeRelativePath::parse(Path::new(&raw)) {
                Ok(Some(p)) => {
                    proptest::prop_assert!(p.as_path().is_relative());
                    proptest::prop_assert!(p.as_path().components().all(|c| matches!(c, Component::Normal(_))));
                }
                Ok(None) => proptest::prop_assert!(Path::new(&raw).components().all(|c| matches!(c, Component::RootDir | Component::CurDir))),
                Err(PathProblem::ParentComponent) => proptest::prop_assert!(raw.split('/').any(|c| c == "..")),
            }
        }
    }
}
