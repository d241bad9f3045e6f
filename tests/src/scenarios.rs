//! Policy scenarios (issue "verifier", step 7): for each, a bundle/policy pair that must pass and
//! one that must fail, signed by one [`VirtualSigstore`].
//!
//! [`build()`] makes them in memory; [`write()`] stores them as scenario-named folders (each with a
//! README saying how it was made) under `tests/fixtures/scenarios/`, sharing one
//! `trusted_root.json`. `cargo run -p trustpull-testkit --bin make-scenarios` regenerates them
//! with the virtual Sigstore seeded with [`SEED`], so they are reproducible: the tests check the
//! committed files, that they equal a fresh build with that seed byte for byte, and a fresh
//! build with random keys.

use std::io;
use std::path::Path;

use chrono::{Duration, SecondsFormat};
use serde::{Deserialize, Serialize};
use trustpull_policy::{Digest, FulcioClaim, PolicySpec};

use crate::sigstore::{
    default_signed_at, default_spec, Fault, IssuerExtension, San, SignRequest, VirtualSigstore,
};

/// What a run must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Verified.
    Pass,
    /// Policy: identity mismatch.
    Identity,
    /// Policy: identity regex matches only a substring.
    IdentityPartial,
    /// Policy: issuer mismatch.
    Issuer,
    /// Policy: a Fulcio claim differs.
    Extension,
    /// Policy: signed before `not_before`.
    NotBefore,
    /// Policy: predicate type not accepted.
    PredicateType,
    /// The in-toto subject is another digest.
    SubjectDigest,
    /// The message signature signs another digest.
    ArtifactMismatch,
    /// The certificate does not chain to the trusted root.
    Certificate,
    /// No verified timestamp.
    Timestamp,
}

/// One verification to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// What this run shows.
    pub name: String,
    /// The bundle file in the scenario folder.
    pub bundle: String,
    /// The policy.
    pub policy: PolicySpec,
    /// The outcome.
    pub expect: Expect,
}

/// A scenario folder's `case.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    /// The image digest every bundle is verified for.
    pub digest: Digest,
    /// The runs.
    pub runs: Vec<Run>,
}

/// A scenario with its bundles.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Folder name.
    pub name: &'static str,
    /// How it was made, for the README.
    pub how: &'static str,
    /// Runs.
    pub case: Case,
    /// Bundle files: (file name, bytes).
    pub bundles: Vec<(String, Vec<u8>)>,
}

fn run(name: &str, bundle: &str, policy: PolicySpec, expect: Expect) -> Run {
    Run {
        name: name.into(),
        bundle: bundle.into(),
        policy,
        expect,
    }
}

/// Builds every scenario with `sigstore`.
pub fn build(sigstore: &VirtualSigstore) -> Vec<Scenario> {
    let digest = Digest::of(
        b"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}",
    );
    let other = Digest::of(b"another image manifest");
    let good = sigstore.sign(&SignRequest::dsse(digest.clone()));
    let good_file = || ("good.sigstore.json".to_owned(), good.clone());
    let pass = || {
        run(
            "the default signer passes the default policy",
            "good.sigstore.json",
            default_spec(),
            Expect::Pass,
        )
    };
    let bad = |req: SignRequest| ("bad.sigstore.json".to_owned(), sigstore.sign(&req));
    let signed_at = default_signed_at();
    let at = |d: Duration| PolicySpec {
        not_before: Some((signed_at + d).to_rfc3339_opts(SecondsFormat::Secs, true)),
        ..default_spec()
    };
    let mut scenarios = vec![
        Scenario {
            name: "wrong-identity",
            how: "good: signed with SAN URI = the policy identity. bad: the same but the SAN URI is the release workflow of another repository.",
            case: Case {
                digest: digest.clone(),
                runs: vec![pass(), run("another workflow signed", "bad.sigstore.json", default_spec(), Expect::Identity)],
            },
            bundles: vec![good_file(), bad(SignRequest { san: San::Uri("https://github.com/evil/backends/.github/workflows/release.yml@refs/heads/main".into()), ..SignRequest::dsse(digest.clone()) })],
        },
        Scenario {
            name: "identity-regex-substring",
            how: "One good bundle, two policies: identity_regex matching the whole SAN passes; identity_regex `acme/backends`, which matches only a substring, fails (regexes are full-match).",
            case: Case {
                digest: digest.clone(),
                runs: vec![
                    run("full-match regex", "good.sigstore.json", PolicySpec { identity: None, identity_regex: Some(r"https://github\.com/acme/backends/\.github/workflows/release\.yml@refs/heads/.+".into()), ..default_spec() }, Expect::Pass),
                    run("substring-only regex", "good.sigstore.json", PolicySpec { identity: None, identity_regex: Some("acme/backends".into()), ..default_spec() }, Expect::IdentityPartial),
                ],
            },
            bundles: vec![good_file()],
        },
        Scenario {
            name: "wrong-issuer",
            how: "good: issuer in the legacy extension 1.3.6.1.4.1.57264.1.1 only (still accepted). bad: issuer extension .1.8 = https://accounts.google.com.",
            case: Case {
                digest: digest.clone(),
                runs: vec![
                    run("legacy issuer extension", "legacy.sigstore.json", default_spec(), Expect::Pass),
                    run("another issuer", "bad.sigstore.json", default_spec(), Expect::Issuer),
                ],
            },
            bundles: vec![
                ("legacy.sigstore.json".into(), sigstore.sign(&SignRequest { issuer: IssuerExtension::Legacy(crate::sigstore::ISSUER.into()), ..SignRequest::dsse(digest.clone()) })),
                bad(SignRequest { issuer: IssuerExtension::V2("https://accounts.google.com".into()), ..SignRequest::dsse(digest.clone()) }),
            ],
        },
        Scenario {
            name: "extension-mismatch",
            how: "One good bundle (source_repository_uri = https://github.com/acme/backends). Policy requiring that value passes; policy requiring https://github.com/acme/other fails.",
            case: Case {
                digest: digest.clone(),
                runs: vec![
                    run("matching claim", "good.sigstore.json", ext("https://github.com/acme/backends"), Expect::Pass),
                    run("other repository", "good.sigstore.json", ext("https://github.com/acme/other"), Expect::Extension),
                ],
            },
            bundles: vec![good_file()],
        },
        Scenario {
            name: "not-before",
            how: "One good bundle whose Rekor integrated time is 2026-03-01T12:00:00Z. not_before one second earlier and equal pass; one second later fails.",
            case: Case {
                digest: digest.clone(),
                runs: vec![
                    run("cutoff before signing", "good.sigstore.json", at(Duration::seconds(-1)), Expect::Pass),
                    run("cutoff equal to signing", "good.sigstore.json", at(Duration::zero()), Expect::Pass),
                    run("cutoff after signing", "good.sigstore.json", at(Duration::seconds(1)), Expect::NotBefore),
                ],
            },
            bundles: vec![good_file()],
        },
        Scenario {
            name: "predicate-type",
            how: "A DSSE bundle whose in-toto predicate type is https://slsa.dev/provenance/v1. The default policy (cosign sign predicate only) fails; a policy listing the SLSA type passes.",
            case: Case {
                digest: digest.clone(),
                runs: vec![
                    run("accepted type", "slsa.sigstore.json", PolicySpec { predicate_types: Some(vec!["https://slsa.dev/provenance/v1".into()]), ..default_spec() }, Expect::Pass),
                    run("default policy", "slsa.sigstore.json", default_spec(), Expect::PredicateType),
                ],
            },
            bundles: vec![("slsa.sigstore.json".into(), sigstore.sign(&SignRequest { predicate_type: "https://slsa.dev/provenance/v1".into(), ..SignRequest::dsse(digest.clone()) }))],
        },
        Scenario {
            name: "subject-digest-other-image",
            how: "bad: a correctly signed DSSE bundle whose in-toto subject is another image's digest.",
            case: Case { digest: digest.clone(), runs: vec![pass(), run("subject is another image", "bad.sigstore.json", default_spec(), Expect::SubjectDigest)] },
            bundles: vec![good_file(), bad(SignRequest { statement_subject: Some(other.clone()), ..SignRequest::dsse(digest.clone()) })],
        },
        Scenario {
            name: "message-signature-other-digest",
            how: "good: a message-signature (hashedrekord) bundle over the image digest. bad: a correctly signed and logged message signature over another digest.",
            case: Case {
                digest: digest.clone(),
                runs: vec![
                    run("message signature over the image", "message.sigstore.json", default_spec(), Expect::Pass),
                    run("message signature over another digest", "bad.sigstore.json", default_spec(), Expect::ArtifactMismatch),
                ],
            },
            bundles: vec![
                ("message.sigstore.json".into(), sigstore.sign(&SignRequest::message(digest.clone()))),
                bad(SignRequest { signed_digest: Some(other.clone()), ..SignRequest::message(digest.clone()) }),
            ],
        },
        Scenario {
            name: "untrusted-ca",
            how: "bad: the leaf certificate is issued by a rogue root + intermediate that are not in trusted_root.json (SCT and Rekor entry are otherwise valid).",
            case: Case { digest: digest.clone(), runs: vec![pass(), run("rogue CA", "bad.sigstore.json", default_spec(), Expect::Certificate)] },
            bundles: vec![good_file(), bad(SignRequest::dsse(digest.clone()).with_fault(Fault::UntrustedCa))],
        },
        Scenario {
            name: "no-timestamp",
            how: "bad: the Rekor entry has no inclusion promise (SET) and there is no RFC 3161 timestamp, so nothing dates the signature.",
            case: Case { digest: digest.clone(), runs: vec![pass(), run("no SET, no TSA", "bad.sigstore.json", default_spec(), Expect::Timestamp)] },
            bundles: vec![good_file(), bad(SignRequest::dsse(digest.clone()).with_fault(Fault::NoInclusionPromise))],
        },
        Scenario {
            name: "email-identity",
            how: "good: a leaf with an email SAN (a human signer). The policy naming that email passes; the default (workflow URI) policy fails.",
            case: Case {
                digest: digest.clone(),
                runs: vec![
                    run("email identity", "email.sigstore.json", PolicySpec { identity: Some("release@acme.test".into()), ..default_spec() }, Expect::Pass),
                    run("default policy", "email.sigstore.json", default_spec(), Expect::Identity),
                ],
            },
            bundles: vec![("email.sigstore.json".into(), sigstore.sign(&SignRequest { san: San::Email("release@acme.test".into()), ..SignRequest::dsse(digest.clone()) }))],
        },
    ];
    let tsa_time = signed_at - Duration::seconds(30);
    let with_tsa = SignRequest {
        timestamp: Some(tsa_time),
        ..SignRequest::dsse(digest.clone())
    };
    let tsa_cutoff = |d: Duration| PolicySpec {
        not_before: Some((tsa_time + d).to_rfc3339_opts(SecondsFormat::Secs, true)),
        ..default_spec()
    };
    scenarios.push(Scenario {
        name: "rfc3161-timestamp",
        how: "RFC 3161 timestamps from the fixture TSA (in trusted_root.json's timestampAuthorities), 30 s before the Rekor integrated time. tsa-only: no SET, the TSA time alone dates the signature. tsa-and-set: both; not_before is compared with the earlier (TSA) time. bad: the token is signed by a key that is not the TSA's.",
        case: Case {
            digest: digest.clone(),
            runs: vec![
                run("TSA time only", "tsa-only.sigstore.json", default_spec(), Expect::Pass),
                run("cutoff equal to the TSA time", "tsa-and-set.sigstore.json", tsa_cutoff(Duration::zero()), Expect::Pass),
                run("cutoff one second after the TSA time, before the Rekor time", "tsa-and-set.sigstore.json", tsa_cutoff(Duration::seconds(1)), Expect::NotBefore),
                run("token from an untrusted TSA key", "bad.sigstore.json", default_spec(), Expect::Timestamp),
            ],
        },
        bundles: vec![
            ("tsa-only.sigstore.json".into(), sigstore.sign(&with_tsa.clone().with_fault(Fault::NoInclusionPromise))),
            ("tsa-and-set.sigstore.json".into(), sigstore.sign(&with_tsa)),
            bad(SignRequest::dsse(digest.clone()).with_fault(Fault::BadTimestamp)),
        ],
    });
    scenarios.sort_by_key(|s| s.name);
    scenarios
}

fn ext(source_repository_uri: &str) -> PolicySpec {
    let mut spec = default_spec();
    spec.extensions.insert(
        FulcioClaim::SourceRepositoryUri.name().into(),
        source_repository_uri.into(),
    );
    spec
}

/// The seed of the virtual Sigstore that signs the committed scenarios: with it, [`build()`] and
/// [`files()`] reproduce `tests/fixtures/scenarios/` byte for byte.
pub const SEED: &[u8] = b"trustpull tests/fixtures/scenarios v1";

/// Every file of the scenarios folder: (path relative to it, `/`-separated, bytes).
pub fn files(trusted_root: &[u8], scenarios: &[Scenario]) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = vec![("trusted_root.json".to_owned(), trusted_root.to_vec())];
    for s in scenarios {
        for (file, bytes) in &s.bundles {
            out.push((format!("{}/{file}", s.name), bytes.clone()));
        }
        let case = serde_json::to_vec_pretty(&s.case).map_err(io::Error::other)?;
        out.push((format!("{}/case.json", s.name), case));
        let runs: String = s
            .case
            .runs
            .iter()
            .map(|r| {
                format!(
                    "- `{}` with {}: expect `{:?}`\n",
                    r.bundle, r.name, r.expect
                )
            })
            .collect();
        let readme = format!(
            "# {}\n\nMade by `cargo run -p trustpull-testkit --bin make-scenarios` (tests/src/scenarios.rs) with the\n\
             testkit's virtual Sigstore; `../trusted_root.json` trusts its CA, CT log and Rekor log.\nSigned at 2026-03-01T12:00:00Z \
             (Rekor integrated time) for the digest in `case.json`.\n\n{}\n\nRuns (`case.json`):\n\n{runs}",
            s.name, s.how
        );
        out.push((format!("{}/README.md", s.name), readme.into_bytes()));
    }
    Ok(out)
}

/// Writes [`files()`] under `dir` (replacing files of the same names).
pub fn write(dir: &Path, trusted_root: &[u8], scenarios: &[Scenario]) -> io::Result<()> {
    for (name, bytes) in files(trusted_root, scenarios)? {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}
