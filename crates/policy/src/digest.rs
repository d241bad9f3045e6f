//! `Digest`: a content address that has been checked to be a well-formed sha256 digest.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A sha256 content digest, `sha256:` followed by 64 lowercase hex characters.
///
/// Holding a `Digest` proves the string was checked; no other algorithm is accepted, because
/// every digest trustpull compares must be comparable byte for byte.
///
/// ```
/// use trustpull_policy::Digest;
/// let d: Digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000".parse()?;
/// assert_eq!(d.hex().len(), 64);
/// assert!("sha512:abcd".parse::<Digest>().is_err());
/// # Ok::<(), trustpull_policy::DigestError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

/// Why a string is not a `Digest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The algorithm prefix is not `sha256:`.
    #[error("digest {value:?} is not a sha256 digest; expected \"sha256:\" followed by 64 lowercase hex characters")]
    UnsupportedAlgorithm {
        /// The rejected input.
        value: String,
    },
    /// The hex part has the wrong length or characters.
    #[error("digest {value:?} must have exactly 64 lowercase hex characters after \"sha256:\"")]
    BadHex {
        /// The rejected input.
        value: String,
    },
}

impl Digest {
    /// Checks `value` and wraps it.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let Some(hex) = value.strip_prefix("sha256:") else {
            return Err(DigestError::UnsupportedAlgorithm {
                value: value.to_owned(),
            });
        };
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::BadHex {
                value: value.to_owned(),
            });
        }
        Ok(Self(value.to_owned()))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(bytes).into())
    }

    /// Wraps a finished sha256 hash.
    pub fn from_sha256(hash: [u8; 32]) -> Self {
        Self(format!("sha256:{}", hex::encode(hash)))
    }

    /// The full `sha256:<hex>` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The raw 32 bytes of the hash.
    pub fn bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(self.hex(), &mut out)
            .expect("a Digest holds 64 hex characters by construction");
        out
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, ok: bool) {
        assert_eq!(Digest::parse(input).is_ok(), ok, "input {input:?}");
    }

    #[test]
    fn accepts_only_lowercase_sha256() {
        let zeros = "0".repeat(64);
        check(&format!("sha256:{zeros}"), true);
        check(&format!("sha256:{}", "A".repeat(64)), false);
        check(&format!("sha256:{}", "0".repeat(63)), false);
        check(&format!("sha256:{}", "0".repeat(65)), false);
        check(&format!("sha512:{zeros}"), false);
        check(&zeros, false);
        check("", false);
        check(&format!("sha256:{}é", "0".repeat(62)), false);
    }

    #[test]
    fn of_matches_known_vector() {
        assert_eq!(
            Digest::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::of(b"").bytes()[0], 0xe3);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in ".*") {
            if let Ok(d) = Digest::parse(&s) {
                proptest::prop_assert_eq!(d.as_str(), s.as_str());
            }
        }
    }
}
