//! [`EntryName`]: a backend index name that is proven to be one safe path component.
//!
//! Entry names, capability targets and aliases come from the index, which is hostile input, and
//! an entry's name becomes a directory under the install destination. So a name is parsed once,
//! when the index is loaded, into a type whose existence proves it matches
//! `[A-Za-z0-9][A-Za-z0-9._-]*` (at most [`MAX_NAME_LEN`] bytes) and does not end in the
//! receipt suffix: no `..`, no `/`, no absolute path, no empty name, no hidden name and no
//! `.trustpull-` in it (either could collide with trustpull's own `.NAME.trustpull-*` files
//! beside a tree), no name that is another name's receipt. Code downstream never re-checks.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest name accepted, in bytes (a file name is at most 255 bytes; the receipt and
/// staging names add to it).
pub const MAX_NAME_LEN: usize = 128;

/// The suffix of receipt files beside installed trees; no entry may be named `*.receipt.json`.
pub const RECEIPT_SUFFIX: &str = ".receipt.json";

/// A backend name that is a single safe path component. See the module docs.
///
/// ```
/// use trustpull_gallery::EntryName;
/// assert!(EntryName::parse("llama-cpp_2.1").is_ok());
/// for bad in ["", ".", "..", "../victim", "/abs", "a/b", ".hidden", "x.receipt.json"] {
///     assert!(EntryName::parse(bad).is_err(), "{bad:?}");
/// }
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntryName(String);

/// Debug-formats as the quoted name (`"llama-cpp"`), as messages built with `{:?}` expect.
impl fmt::Debug for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Why a string is not an [`EntryName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid backend name: {problem}; names are single path components matching [A-Za-z0-9][A-Za-z0-9._-]*")]
pub struct NameError {
    /// The rejected value.
    pub value: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl EntryName {
    /// Parses `value`; see the module docs for the rule.
    pub fn parse(value: &str) -> Result<Self, NameError> {
        let problem = if value.is_empty() {
            Some("it is empty")
        } else if value.len() > MAX_NAME_LEN {
            Some("it is longer than 128 bytes")
        } else if !value.as_bytes()[0].is_ascii_alphanumeric() {
            Some("it must start with a letter or digit")
        } else if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            Some("it may only contain letters, digits, '.', '_' and '-'")
        } else if value.ends_with(RECEIPT_SUFFIX) {
            Some("it ends in .receipt.json, the name of another backend's receipt")
        } else if value.contains(".trustpull-") {
            Some("it contains .trustpull-, which marks trustpull's own files beside a backend")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(NameError {
                value: value.to_owned(),
                problem,
            }),
            None => Ok(Self(value.to_owned())),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EntryName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EntryName> for String {
    fn from(name: EntryName) -> Self {
        name.0
    }
}

impl std::ops::Deref for EntryName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for EntryName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_safe_components() {
        for good in [
            "a",
            "A9",
            "llama-cpp",
            "cuda12-llama.cpp",
            "x_y",
            "1.2.3",
            "a..b",
        ] {
            assert_eq!(EntryName::parse(good).map(|n| n.0), Ok(good.to_owned()));
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for (bad, problem) in [
            ("", "it is empty"),
            (".", "it must start with a letter or digit"),
            ("..", "it must start with a letter or digit"),
            ("../victim", "it must start with a letter or digit"),
            ("/abs", "it must start with a letter or digit"),
            (
                "a/b",
                "it may only contain letters, digits, '.', '_' and '-'",
            ),
            (
                "a/../b",
                "it may only contain letters, digits, '.', '_' and '-'",
            ),
            (
                "a b",
                "it may only contain letters, digits, '.', '_' and '-'",
            ),
            (
                "a\0",
                "it may only contain letters, digits, '.', '_' and '-'",
            ),
            ("ü", "it must start with a letter or digit"),
            ("-rf", "it must start with a letter or digit"),
            (
                "x.receipt.json",
                "it ends in .receipt.json, the name of another backend's receipt",
            ),
            (long.as_str(), "it is longer than 128 bytes"),
        ] {
            assert_eq!(
                EntryName::parse(bad).map_err(|e| e.problem),
                Err(problem),
                "{bad:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn a_valid_name_is_one_normal_component(s in "\\PC{0,20}") {
            if let Ok(name) = EntryName::parse(&s) {
                let mut parts = std::path::Path::new(name.as_str()).components();
                let one = parts.next();
                proptest::prop_assert!(matches!(one, Some(std::path::Component::Normal(_))));
                proptest::prop_assert!(parts.next().is_none());
            }
        }
    }
}
