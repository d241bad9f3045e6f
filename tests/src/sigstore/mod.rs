//! A "virtual Sigstore" that signs like the real one: a Fulcio-like CA (root + intermediate)
//! issuing short-lived leaf certificates with an embedded SCT from a fixture CT log, a fixture
//! Rekor v1 log that returns an entry with a signed entry timestamp (SET), an RFC 6962 inclusion
//! proof and a signed checkpoint, optionally an RFC 3161 timestamp from a fixture TSA
//! ([`SignRequest::timestamp`], with fractional seconds when the time has them), and the
//! `trusted_root.json` that trusts exactly these.
//!
//! A Rekor v2 log ([`SignRequest::rekor`], trusted by instances made
//! [`VirtualSigstore::with_rekor_v2`]) logs `dsse` or `hashedrekord` v0.0.2 entries with an
//! inclusion proof and a signed-note checkpoint, and no integrated time or SET: as with the real
//! Rekor v2, only an RFC 3161 timestamp dates such a bundle.
//!
//! Its bundles pass the same sigstore-verify checks as production bundles; nothing in
//! production code is switched off for them. A [`SignRequest`] can be told to get any single
//! thing wrong ([`Fault`]), or to sign for another identity, issuer, digest or predicate type.
//!
//! ```
//! use trustpull_testkit::sigstore::{SignRequest, VirtualSigstore};
//! let sigstore = VirtualSigstore::new();
//! let digest = trustpull_policy::Digest::of(b"an image manifest");
//! let bundle = sigstore.sign(&SignRequest::dsse(digest.clone()));
//! let root = sigstore.trust_root();
//! let policy = trustpull_testkit::sigstore::default_policy();
//! assert!(trustpull_verifier::verify_bundle(&bundle, &digest, &policy, &root).is_ok());
//! ```

mod cert;
pub(crate) mod key;
mod legacy;
mod rekor;
mod tsa;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use trustpull_policy::{Digest, FulcioClaim, PolicySpec, TrustPolicy, COSIGN_SIGN_PREDICATE};
use trustpull_verifier::TrustRoot;

use cert::{Authority, LeafSpec};
pub use cert::{IssuerExtension, San};
use key::FixtureKey;
pub use legacy::{
    legacy_manifest, legacy_manifest_of, pem_certificates, simple_signing_payload, DOCKER_REFERENCE,
};

/// The identity fixture bundles are signed by unless a request says otherwise.
pub const IDENTITY: &str =
    "https://github.com/acme/backends/.github/workflows/release.yml@refs/heads/main";
/// The OIDC issuer fixture bundles carry unless a request says otherwise.
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The source repository claim fixture bundles carry.
pub const SOURCE_REPOSITORY: &str = "https://github.com/acme/backends";

/// A policy that accepts the default fixture signer exactly.
pub fn default_policy() -> TrustPolicy {
    TrustPolicy::new(default_spec()).expect("the default fixture policy is valid")
}

/// The spec of [`default_policy`], to modify in tests.
pub fn default_spec() -> PolicySpec {
    PolicySpec {
        issuer: Some(ISSUER.into()),
        identity: Some(IDENTITY.into()),
        ..PolicySpec::default()
    }
}

/// The default signing time: fixed, in the past, so `cargo test` never depends on the clock.
pub fn default_signed_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

/// When the Rekor v2 log's key becomes valid in the trusted root (signing times before it are
/// outside the log key's validity).
pub const REKOR_V2_VALID_FROM: &str = "2026-01-01T00:00:00Z";

/// Which kind of bundle to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleFormat {
    /// A DSSE envelope with an in-toto statement (cosign `sign --new-bundle-format`).
    Dsse,
    /// A message signature over the digest (hashedrekord).
    MessageSignature,
}

/// Which transparency log records the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rekor {
    /// Rekor v1: `hashedrekord` / `dsse` v0.0.1 with an integrated time and a SET.
    #[default]
    V1,
    /// Rekor v2, a DSSE envelope logged as `dsse` v0.0.2 (a message signature is logged as
    /// `hashedrekord` v0.0.2, the only kind Rekor v2 has for it).
    V2Dsse,
    /// Rekor v2, `hashedrekord` v0.0.2 (for a DSSE envelope: the SHA-256 of its PAE).
    V2HashedRekord,
}

/// One thing the signer gets wrong on purpose. Every fault must make verification fail (for a
/// Rekor v2 entry the SET faults change nothing: v2 has no SET or integrated time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The leaf is issued by a CA that is not in the trusted root.
    UntrustedCa,
    /// The leaf has no SCT.
    NoSct,
    /// The SCT is signed by a key that is not the CT log's.
    BadSctSignature,
    /// The leaf's extended key usage is server auth, not code signing.
    NotCodeSigning,
    /// The certificate expired before the signing time.
    CertificateExpiredAtSigning,
    /// The certificate becomes valid after the signing time.
    CertificateNotYetValid,
    /// The artifact / DSSE signature is made over other content.
    BadSignature,
    /// DSSE payload type is `application/json`.
    WrongPayloadType,
    /// The DSSE statement type is not in-toto.
    WrongStatementType,
    /// The bundle has no transparency-log entry.
    NoTlogEntry,
    /// The entry has no inclusion proof.
    NoInclusionProof,
    /// One hash of the inclusion proof is wrong.
    BadInclusionProof,
    /// The checkpoint is signed by a key that is not the log's.
    BadCheckpointSignature,
    /// The entry has no SET, so nothing dates the signature (no verified timestamp).
    NoInclusionPromise,
    /// The SET is signed by a key that is not the log's.
    BadInclusionPromise,
    /// The integrated time was changed after the SET was made.
    TamperedIntegratedTime,
    /// The entry comes from a log that is not in the trusted root.
    UnknownRekorLog,
    /// The log entry body records another artifact.
    TlogBodyForOtherContent,
    /// An RFC 3161 timestamp signed by a key that is not the TSA's (added at the signing
    /// time if the request has none).
    BadTimestamp,
    /// The TSA's RFC 3161 timestamp is over another signature (added at the signing time if
    /// the request has none).
    TimestampForOtherSignature,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 20] = [
        Fault::UntrustedCa,
        Fault::NoSct,
        Fault::BadSctSignature,
        Fault::NotCodeSigning,
        Fault::CertificateExpiredAtSigning,
        Fault::CertificateNotYetValid,
        Fault::BadSignature,
        Fault::WrongPayloadType,
        Fault::WrongStatementType,
        Fault::NoTlogEntry,
        Fault::NoInclusionProof,
        Fault::BadInclusionProof,
        Fault::BadCheckpointSignature,
        Fault::NoInclusionPromise,
        Fault::BadInclusionPromise,
        Fault::TamperedIntegratedTime,
        Fault::UnknownRekorLog,
        Fault::TlogBodyForOtherContent,
        Fault::BadTimestamp,
        Fault::TimestampForOtherSignature,
    ];
}

/// What to sign and how. Start from [`SignRequest::dsse`] or [`SignRequest::message`] and
/// change fields.
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// The image (manifest) digest the bundle is for.
    pub digest: Digest,
    /// DSSE or message signature.
    pub format: BundleFormat,
    /// The certificate identity.
    pub san: San,
    /// The OIDC issuer extension.
    pub issuer: IssuerExtension,
    /// Fulcio claims written into the certificate.
    pub claims: BTreeMap<FulcioClaim, String>,
    /// When it was signed (certificate validity, SCT, Rekor integrated time).
    pub signed_at: DateTime<Utc>,
    /// The in-toto predicate type (DSSE).
    pub predicate_type: String,
    /// DSSE: the statement subject digest, if not [`SignRequest::digest`].
    pub statement_subject: Option<Digest>,
    /// DSSE: the statement subject's `name` (`image` unless set; the `repository:` binding
    /// reads it).
    pub subject_name: Option<String>,
    /// Message signature: the digest actually signed, if not [`SignRequest::digest`].
    pub signed_digest: Option<Digest>,
    /// Add an RFC 3161 timestamp from the fixture TSA at this time (a time with a fraction of
    /// a second gives a fractional `genTime`).
    pub timestamp: Option<DateTime<Utc>>,
    /// The transparency log.
    pub rekor: Rekor,
    /// One thing to get wrong.
    pub fault: Option<Fault>,
}

impl SignRequest {
    /// A cosign-style DSSE bundle for `digest` by the default signer.
    pub fn dsse(digest: Digest) -> Self {
        let claims = [
            (
                FulcioClaim::SourceRepositoryUri,
                SOURCE_REPOSITORY.to_owned(),
            ),
            (
                FulcioClaim::SourceRepositoryRef,
                "refs/heads/main".to_owned(),
            ),
            (FulcioClaim::RunnerEnvironment, "github-hosted".to_owned()),
            (FulcioClaim::BuildSignerUri, IDENTITY.to_owned()),
            (
                FulcioClaim::GithubWorkflowRepository,
                "acme/backends".to_owned(),
            ),
        ]
        .into();
        Self {
            digest,
            format: BundleFormat::Dsse,
            san: San::Uri(IDENTITY.into()),
            issuer: IssuerExtension::V2(ISSUER.into()),
            claims,
            signed_at: default_signed_at(),
            predicate_type: COSIGN_SIGN_PREDICATE.into(),
            statement_subject: None,
            subject_name: None,
            signed_digest: None,
            timestamp: None,
            rekor: Rekor::V1,
            fault: None,
        }
    }

    /// A message-signature bundle for `digest` by the default signer.
    pub fn message(digest: Digest) -> Self {
        Self {
            format: BundleFormat::MessageSignature,
            ..Self::dsse(digest)
        }
    }

    /// The same request with `fault`.
    #[must_use]
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }
}

/// The fixture Sigstore instance. Keys belong to the instance; nothing is global.
///
/// Every key (Fulcio-like root and intermediate, CT log, Rekor, TSA, the rogue keys of the
/// [`Fault`]s, and each bundle's leaf key) is derived from the instance's seed, signatures are
/// deterministic (RFC 6979) and times and certificate serials are fixed. So two instances made
/// by [`VirtualSigstore::from_seed`] with one seed produce the same trusted root and, for the
/// same sequence of [`VirtualSigstore::sign`] calls, the same bundles byte for byte (each call
/// takes the next leaf serial, starting at 100, and its leaf key is derived from that serial).
/// [`VirtualSigstore::new`] draws a random seed: two such instances never trust each other.
pub struct VirtualSigstore {
    seed: Vec<u8>,
    root: Authority,
    intermediate: Authority,
    rogue_intermediate: Authority,
    ct_key: FixtureKey,
    rekor_key: FixtureKey,
    rekor_v2_key: FixtureKey,
    trusts_rekor_v2: Option<String>,
    rogue_key: FixtureKey,
    tsa_root: Authority,
    tsa_key: FixtureKey,
    tsa_cert: Vec<u8>,
    tsa_serial: x509_cert::serial_number::SerialNumber,
    serial: AtomicU64,
    valid_from: DateTime<Utc>,
}

impl std::fmt::Debug for VirtualSigstore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualSigstore").finish_non_exhaustive()
    }
}

impl Default for VirtualSigstore {
    fn default() -> Self {
        Self::new()
    }
}

/// 32 random bytes: the SHA-256 of a public key freshly generated by aws-lc's CSPRNG (the
/// testkit needs no other source of randomness).
fn random_seed() -> [u8; 32] {
    let key = sigstore_crypto::KeyPair::generate_ecdsa_p256().expect("key generation works");
    Sha256::digest(key.public_key_bytes()).into()
}

fn log_id(key: &FixtureKey) -> [u8; 32] {
    Sha256::digest(key.spki_der()).into()
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

impl VirtualSigstore {
    /// A fresh instance: new random CA, CT log, Rekor, TSA and rogue keys (a random seed).
    pub fn new() -> Self {
        Self::from_seed(&random_seed())
    }

    /// The instance whose every key is derived from `seed`: the same seed gives the same
    /// trusted root and the same bundles, byte for byte (see [`VirtualSigstore`]). For
    /// committed fixtures that `--check` regenerates and compares.
    pub fn from_seed(seed: &[u8]) -> Self {
        let key = |label: &str| FixtureKey::derive(seed, label);
        let from = Utc
            .with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
            .single()
            .expect("valid date");
        let to = Utc
            .with_ymd_and_hms(2040, 1, 1, 0, 0, 0)
            .single()
            .expect("valid date");
        let root = cert::authority(
            key("fulcio-root"),
            "CN=fixture-root,O=trustpull.test",
            None,
            from,
            to,
            1,
        );
        let intermediate = cert::authority(
            key("fulcio-intermediate"),
            "CN=fixture-intermediate,O=trustpull.test",
            Some(&root),
            from,
            to,
            2,
        );
        let rogue_root = cert::authority(
            key("rogue-root"),
            "CN=rogue-root,O=evil.test",
            None,
            from,
            to,
            3,
        );
        let rogue_intermediate = cert::authority(
            key("rogue-intermediate"),
            "CN=rogue-intermediate,O=evil.test",
            Some(&rogue_root),
            from,
            to,
            4,
        );
        let tsa_root = cert::authority(
            key("tsa-root"),
            "CN=fixture-tsa-root,O=trustpull.test",
            None,
            from,
            to,
            5,
        );
        let (tsa_key, tsa_cert, tsa_serial) = cert::tsa_leaf(key("tsa"), &tsa_root, from, to, 6);
        Self {
            seed: seed.to_vec(),
            root,
            intermediate,
            rogue_intermediate,
            ct_key: key("ct-log"),
            rekor_key: key("rekor"),
            rekor_v2_key: key("rekor-v2"),
            trusts_rekor_v2: None,
            rogue_key: key("rogue"),
            tsa_root,
            tsa_key,
            tsa_cert,
            tsa_serial,
            serial: AtomicU64::new(100),
            valid_from: from,
        }
    }

    /// The same instance whose trusted root also lists its Rekor v2 log (key valid from
    /// [`REKOR_V2_VALID_FROM`]). Without it the root is byte-identical to earlier versions of
    /// the testkit (committed fixtures keep matching), and Rekor v2 bundles come from a log the
    /// root does not know.
    #[must_use]
    pub fn with_rekor_v2(self) -> Self {
        self.with_rekor_v2_at(rekor::V2_URL)
    }

    /// [`VirtualSigstore::with_rekor_v2`], but the trusted root names the log `base_url` (same
    /// key and log id). Checkpoints keep the log's own origin, so with another host they name
    /// a log other than the one the root lists.
    #[must_use]
    pub fn with_rekor_v2_at(mut self, base_url: &str) -> Self {
        self.trusts_rekor_v2 = Some(base_url.to_owned());
        self
    }

    /// The `trusted_root.json` that trusts this instance's CA, CT log and Rekor log (and its
    /// Rekor v2 log, see [`VirtualSigstore::with_rekor_v2`]).
    pub fn trusted_root_json(&self) -> Vec<u8> {
        let start = self
            .valid_from
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let log = |key: &FixtureKey, url: &str| {
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(&key.spki_der()), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": {"start": start}},
                "logId": {"keyId": b64(&log_id(key))},
            })
        };
        let mut tlogs = vec![log(&self.rekor_key, "https://rekor.trustpull.test")];
        if let Some(base_url) = &self.trusts_rekor_v2 {
            tlogs.push(json!({
                "baseUrl": base_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(&self.rekor_v2_key.spki_der()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": REKOR_V2_VALID_FROM},
                },
                "logId": {"keyId": b64(&rekor::v2_log_id(&self.rekor_v2_key))},
            }));
        }
        let root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": tlogs,
            "certificateAuthorities": [{
                "subject": {"organization": "trustpull.test", "commonName": "fixture-intermediate"},
                "uri": "https://fulcio.trustpull.test",
                "certChain": {"certificates": [{"rawBytes": b64(&self.intermediate.cert)}, {"rawBytes": b64(&self.root.cert)}]},
                "validFor": {"start": start},
            }],
            "ctlogs": [log(&self.ct_key, "https://ctfe.trustpull.test")],
            "timestampAuthorities": [{
                "subject": {"organization": "trustpull.test", "commonName": "fixture-tsa"},
                "uri": "https://tsa.trustpull.test",
                "certChain": {"certificates": [{"rawBytes": b64(&self.tsa_cert)}, {"rawBytes": b64(&self.tsa_root.cert)}]},
                "validFor": {"start": start},
            }],
        });
        crate::json::to_vec_pretty(&root)
    }

    /// The [`TrustRoot`] of [`VirtualSigstore::trusted_root_json`].
    pub fn trust_root(&self) -> TrustRoot {
        TrustRoot::from_json(&self.trusted_root_json(), "virtual sigstore")
            .expect("the fixture trusted root is valid")
    }

    /// Signs `req` and returns the bundle (v0.3 JSON).
    pub fn sign(&self, req: &SignRequest) -> Vec<u8> {
        crate::json::to_vec(&self.sign_value(req))
    }

    /// Signs `req` and returns the bundle as a JSON value, for tests that edit it further.
    pub fn sign_value(&self, req: &SignRequest) -> Value {
        let fault = req.fault;
        let is = |f: Fault| fault == Some(f);
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        let signer = FixtureKey::derive(&self.seed, &format!("leaf-{n}"));

        // Certificate.
        let at = req.signed_at;
        let (not_before, not_after) = if is(Fault::CertificateExpiredAtSigning) {
            (at - Duration::minutes(20), at - Duration::minutes(10))
        } else if is(Fault::CertificateNotYetValid) {
            (at + Duration::minutes(1), at + Duration::minutes(11))
        } else {
            (at - Duration::minutes(1), at + Duration::minutes(9))
        };
        let ca = if is(Fault::UntrustedCa) {
            &self.rogue_intermediate
        } else {
            &self.intermediate
        };
        let claims: Vec<(u32, String)> = req
            .claims
            .iter()
            .map(|(c, v)| (c.oid_arc(), v.clone()))
            .collect();
        let spec = LeafSpec {
            key: &signer,
            san: &req.san,
            issuer: &req.issuer,
            claims: &claims,
            not_before,
            not_after,
            code_signing: !is(Fault::NotCodeSigning),
        };
        let mut tbs = cert::leaf_tbs(&spec, ca, n);
        if !is(Fault::NoSct) {
            let ct_key = if is(Fault::BadSctSignature) {
                &self.rogue_key
            } else {
                &self.ct_key
            };
            let sct = cert::sct_extension(
                &tbs,
                &ca.key.spki_der(),
                ct_key,
                log_id(&self.ct_key),
                not_before + Duration::seconds(5),
            );
            tbs.extensions.get_or_insert_with(Vec::new).push(sct);
        }
        let cert_der = cert::sign_tbs(tbs, &ca.key);

        // Content and log body.
        let other = Digest::of(b"some other content");
        let (content_key, content, body) = match req.format {
            BundleFormat::MessageSignature => {
                let signed = req
                    .signed_digest
                    .clone()
                    .unwrap_or_else(|| req.digest.clone());
                let sig_over = if is(Fault::BadSignature) {
                    &other
                } else {
                    &signed
                };
                let sig = signer.sign_digest(&sig_over.bytes());
                let logged = if is(Fault::TlogBodyForOtherContent) {
                    &other
                } else {
                    &signed
                };
                let body = if req.rekor == Rekor::V1 {
                    rekor::hashedrekord_body(logged.hex(), &sig, &cert_der)
                } else {
                    rekor::hashedrekord_v2_body(&logged.bytes(), &sig, &cert_der)
                };
                let content = json!({
                    "messageDigest": {"algorithm": "SHA2_256", "digest": b64(&signed.bytes())},
                    "signature": b64(&sig),
                });
                ("messageSignature", content, body)
            }
            BundleFormat::Dsse => {
                let subject = req
                    .statement_subject
                    .clone()
                    .unwrap_or_else(|| req.digest.clone());
                let payload =
                    statement(&subject, &req.predicate_type, is(Fault::WrongStatementType))
                        .with_name(req.subject_name.as_deref());
                let payload_type = if is(Fault::WrongPayloadType) {
                    "application/json"
                } else {
                    "application/vnd.in-toto+json"
                };
                let signed_payload = if is(Fault::BadSignature) {
                    statement(&other, &req.predicate_type, false)
                } else {
                    payload.clone()
                };
                let sig = signer.sign(&pae(payload_type, &signed_payload));
                let envelope = json!({
                    "payload": b64(&payload),
                    "payloadType": payload_type,
                    "signatures": [{"sig": b64(&sig), "keyid": ""}],
                });
                let envelope_bytes = crate::json::to_vec(&envelope);
                let logged = if is(Fault::TlogBodyForOtherContent) {
                    statement(&other, &req.predicate_type, false)
                } else {
                    payload
                };
                let body = match req.rekor {
                    Rekor::V1 => rekor::dsse_body(&envelope_bytes, &logged, &sig, &cert_der),
                    Rekor::V2Dsse => rekor::dsse_v2_body(&logged, &sig, &cert_der),
                    Rekor::V2HashedRekord => rekor::hashedrekord_v2_body(
                        &Sha256::digest(pae(payload_type, &logged)),
                        &sig,
                        &cert_der,
                    ),
                };
                ("dsseEnvelope", envelope, body)
            }
        };

        // Transparency log entry.
        let v2 = req.rekor != Rekor::V1;
        let (rekor_key, rekor_id, origin) = match (v2, is(Fault::UnknownRekorLog)) {
            (false, false) => (&self.rekor_key, log_id(&self.rekor_key), rekor::ORIGIN),
            (false, true) => (&self.rogue_key, log_id(&self.rogue_key), rekor::ORIGIN),
            (true, false) => (
                &self.rekor_v2_key,
                rekor::v2_log_id(&self.rekor_v2_key),
                rekor::V2_ORIGIN,
            ),
            (true, true) => (
                &self.rogue_key,
                rekor::v2_log_id(&self.rogue_key),
                rekor::V2_ORIGIN,
            ),
        };
        let (index, size) = (5usize, 8usize);
        // Rekor v1's logIndex is global across shards; Rekor v2's is the leaf index.
        let log_index = if v2 {
            index as u64
        } else {
            1000 + index as u64
        };
        let integrated = at.timestamp();
        let mut inclusion = rekor::include(&body, index, size);
        let checkpoint_key = if is(Fault::BadCheckpointSignature) {
            &self.rogue_key
        } else {
            rekor_key
        };
        let checkpoint =
            rekor::checkpoint(origin, checkpoint_key, &rekor_id, size, &inclusion.root);
        if is(Fault::BadInclusionProof) {
            inclusion.hashes[0][0] ^= 0x01;
        }
        let set_key = if is(Fault::BadInclusionPromise) {
            &self.rogue_key
        } else {
            rekor_key
        };
        let set = rekor::signed_entry_timestamp(set_key, &body, integrated, &rekor_id, log_index);
        let written_time = if is(Fault::TamperedIntegratedTime) {
            integrated - 3600
        } else {
            integrated
        };
        let mut entry = json!({
            "logIndex": log_index.to_string(),
            "logId": {"keyId": b64(&rekor_id)},
            "kindVersion": {"kind": if req.format == BundleFormat::Dsse { "dsse" } else { "hashedrekord" }, "version": "0.0.1"},
            "integratedTime": written_time.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": b64(&set)},
            "inclusionProof": {
                "logIndex": log_index.to_string(),
                "rootHash": b64(&inclusion.root),
                "treeSize": size.to_string(),
                "hashes": inclusion.hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": b64(&body),
        });
        if let Some(e) = entry.as_object_mut() {
            if v2 {
                let kind = if req.rekor == Rekor::V2Dsse && req.format == BundleFormat::Dsse {
                    "dsse"
                } else {
                    "hashedrekord"
                };
                e.insert(
                    "kindVersion".into(),
                    json!({"kind": kind, "version": "0.0.2"}),
                );
                e.remove("integratedTime");
                e.remove("inclusionPromise");
            }
            if is(Fault::NoInclusionProof) {
                e.remove("inclusionProof");
            }
            if is(Fault::NoInclusionPromise) {
                e.remove("inclusionPromise");
            }
        }
        let entries = if is(Fault::NoTlogEntry) {
            vec![]
        } else {
            vec![entry]
        };
        // Rekor v1's inclusion proof log index is the shard-local index of the leaf.
        let mut bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"certificate": {"rawBytes": b64(&cert_der)}, "tlogEntries": entries},
        });
        // RFC 3161 timestamp over the signature bytes.
        let ts_time = req
            .timestamp
            .or((is(Fault::BadTimestamp) || is(Fault::TimestampForOtherSignature)).then_some(at));
        if let Some(ts_time) = ts_time {
            let sig_b64 = content
                .pointer("/signature")
                .or_else(|| content.pointer("/signatures/0/sig"));
            let mut sig = sig_b64
                .and_then(Value::as_str)
                .and_then(|s| STANDARD.decode(s).ok())
                .expect("the content carries its signature");
            if is(Fault::TimestampForOtherSignature) {
                sig.push(0);
            }
            let key = if is(Fault::BadTimestamp) {
                &self.rogue_key
            } else {
                &self.tsa_key
            };
            let tsa = tsa::Tsa {
                key,
                issuer: &self.tsa_root.name,
                serial: &self.tsa_serial,
            };
            let token = tsa::timestamp_token(&tsa, &sig, ts_time, n);
            bundle["verificationMaterial"]["timestampVerificationData"] =
                json!({"rfc3161Timestamps": [{"signedTimestamp": b64(&token)}]});
        }
        bundle[content_key] = content;
        fix_proof_index(&mut bundle, index);
        bundle
    }
}

/// The inclusion proof's `logIndex` is the leaf's position in the tree.
fn fix_proof_index(bundle: &mut Value, index: usize) {
    if let Some(proof) =
        bundle.pointer_mut("/verificationMaterial/tlogEntries/0/inclusionProof/logIndex")
    {
        *proof = Value::String(index.to_string());
    }
}

/// Renames a serialized statement's subject (for [`SignRequest::subject_name`]).
trait WithName {
    fn with_name(self, name: Option<&str>) -> Vec<u8>;
}

impl WithName for Vec<u8> {
    fn with_name(self, name: Option<&str>) -> Vec<u8> {
        let Some(name) = name else { return self };
        let mut v: Value = serde_json::from_slice(&self).expect("the statement is JSON");
        v["subject"][0]["name"] = Value::String(name.to_owned());
        crate::json::to_vec(&v)
    }
}

fn statement(subject: &Digest, predicate_type: &str, wrong_type: bool) -> Vec<u8> {
    let st = json!({
        "_type": if wrong_type { "https://example.test/NotAStatement" } else { "https://in-toto.io/Statement/v1" },
        "subject": [{"name": "image", "digest": {"sha256": subject.hex()}}],
        "predicateType": predicate_type,
        "predicate": {},
    });
    crate::json::to_vec(&st)
}

/// DSSE pre-authentication encoding.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}
