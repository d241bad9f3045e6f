//! The virtual Sigstore's keys: P-256 ECDSA keys derived from a seed and a label, signing
//! deterministically (RFC 6979), so one seed always produces the same certificates, signatures
//! and bundles, byte for byte.
//!
//! sigstore-crypto's `KeyPair` (aws-lc) draws a fresh nonce for every signature, which is why
//! the fixture signer uses the `p256` crate instead. Verification still goes through the
//! production code (sigstore-verify on aws-lc): only the fixture's signing side is different.

use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use sha2::{Digest as _, Sha256};

/// Domain separation for every key derivation.
const DOMAIN: &[u8] = b"trustpull-testkit virtual sigstore key v1";

/// A fixture signing key (ECDSA P-256 with SHA-256, DER signatures).
pub(crate) struct FixtureKey(SigningKey);

impl FixtureKey {
    /// The key named `label` of the instance seeded with `seed`: the first of
    /// SHA-256(domain ‖ len(seed) ‖ seed ‖ len(label) ‖ label ‖ counter), counter = 0, 1, …
    /// that is a valid P-256 scalar (a hash is ≥ the group order with probability ~2⁻³²).
    pub(crate) fn derive(seed: &[u8], label: &str) -> Self {
        (0u32..)
            .find_map(|counter| {
                let mut h = Sha256::new();
                h.update(DOMAIN);
                h.update((seed.len() as u64).to_be_bytes());
                h.update(seed);
                h.update((label.len() as u64).to_be_bytes());
                h.update(label.as_bytes());
                h.update(counter.to_be_bytes());
                SigningKey::from_slice(&h.finalize()).ok().map(Self)
            })
            .expect("some counter yields a valid scalar")
    }

    /// The DER SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        self.0
            .verifying_key()
            .to_public_key_der()
            .expect("a P-256 public key encodes as SPKI")
            .as_bytes()
            .to_vec()
    }

    /// A DER ECDSA signature over SHA-256(`data`), deterministic (RFC 6979).
    pub(crate) fn sign(&self, data: &[u8]) -> Vec<u8> {
        let sig: Signature = self.0.sign(data);
        sig.to_der().as_bytes().to_vec()
    }

    /// A DER ECDSA signature over an already computed SHA-256 `digest`, deterministic.
    pub(crate) fn sign_digest(&self, digest: &[u8; 32]) -> Vec<u8> {
        let sig: Signature = self
            .0
            .sign_prehash(digest)
            .expect("a 32-byte prehash signs with P-256");
        sig.to_der().as_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_label_give_the_same_key_and_signatures() {
        let a = FixtureKey::derive(b"seed", "rekor");
        let b = FixtureKey::derive(b"seed", "rekor");
        assert_eq!(a.spki_der(), b.spki_der());
        assert_eq!(a.sign(b"data"), b.sign(b"data"));
        assert_eq!(a.sign_digest(&[7; 32]), b.sign_digest(&[7; 32]));
    }

    #[test]
    fn another_seed_or_label_gives_another_key() {
        let a = FixtureKey::derive(b"seed", "rekor").spki_der();
        assert_ne!(a, FixtureKey::derive(b"seed", "ct").spki_der());
        assert_ne!(a, FixtureKey::derive(b"seeds", "rekor").spki_der());
        // Length prefixes keep (seed, label) pairs apart even when their concatenation is equal.
        assert_ne!(
            FixtureKey::derive(b"ab", "c").spki_der(),
            FixtureKey::derive(b"a", "bc").spki_der()
        );
    }

    #[test]
    fn signatures_verify_with_the_public_key() {
        use p256::ecdsa::signature::Verifier;
        let key = FixtureKey::derive(b"seed", "leaf");
        let sig = Signature::from_der(&key.sign(b"data")).expect("DER signature");
        assert!(key.0.verifying_key().verify(b"data", &sig).is_ok());
    }
}
