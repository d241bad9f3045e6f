//! Interop: Sigstore bundles made by independent producers — npm `@sigstore/mock` 0.13 served
//! on 127.0.0.1, signing with `@sigstore/sign` 5.1, the `@sigstore/cli` 0.10.3 `attest`
//! command and the sigstore-python 4.5.1 CLI (`sigstore --trust-config … sign`) — verify offline with `trustpull verify-bundle` for the identity that signed them, and
//! are rejected for another identity, issuer, digest, predicate type or trust root.
//!
//! The fixtures are vendored in `tests/fixtures/interop` (its README says how they were made);
//! no node or python runs here. `cargo xtask interop` makes fresh ones and runs the same checks.

use std::path::PathBuf;

use crate::trustpull;

const IDENTITY: &str =
    "https://github.com/trustpull/interop-fixture/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// sha256 of `manifest.json`, the signed OCI image manifest.
const DIGEST: &str = "sha256:879a76336e7544f0390330ca7714c32ff636fa205c78b17e4e062f483734ccdd";
/// sha256 of `{}` (the image's config blob): content the producer did not sign.
const OTHER_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const COSIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Bundles a conforming verifier must accept: (file, is DSSE).
const VERIFYING: [(&str, bool); 7] = [
    ("message.sigstore.json", false),
    ("message-no-tsa.sigstore.json", false),
    ("dsse-cli.sigstore.json", true),
    ("dsse-intoto.sigstore.json", true),
    // sigstore-python, Rekor v1, with and without an RFC 3161 timestamp.
    ("python-message.sigstore.json", false),
    ("python-message-no-tsa.sigstore.json", false),
    // The mock TSA's genTime has milliseconds (`….500Z`); verified since issue 9.
    ("message-tsa-fraction.sigstore.json", false),
];

/// Known gaps (see the README): each is rejected, and for this reason. When one starts to
/// verify, the gap is closed: move it to `VERIFYING` and mark it `verify` in the producer.
const KNOWN_GAPS: [(&str, &str); 3] = [
    // The mock Rekor logs the proposed dsse entry, not the canonical body Rekor stores.
    ("dsse-rekor1-dsse.sigstore.json", "envelopeHash"),
    // The mock Rekor v2 inclusion proof puts the log index outside its one-leaf tree and writes
    // the root hash in hex (and the mock's v2 body is its request object).
    ("dsse-rekor2.sigstore.json", "differs from the entry"),
    ("message-rekor2.sigstore.json", "differs from the entry"),
];

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/interop")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// What `verify-bundle` must end with.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Exit 0, naming the signer.
    Verified,
    /// Exit 1 with this text in the message.
    Rejected(&'static str),
}

/// One run of `verify-bundle`.
struct Run<'a> {
    bundle: &'a str,
    identity: &'a str,
    issuer: &'a str,
    /// `None`: the embedded public-good root.
    trusted_root: Option<String>,
    predicate_type: Option<&'a str>,
    artifact: String,
}

impl<'a> Run<'a> {
    fn of(bundle: &'a str) -> Self {
        Run {
            bundle,
            identity: IDENTITY,
            issuer: ISSUER,
            trusted_root: Some(fixture("trusted_root.json")),
            predicate_type: None,
            artifact: DIGEST.to_owned(),
        }
    }

    fn check(self, want: Want) {
        let bundle = fixture(self.bundle);
        let mut args = vec![
            "verify-bundle",
            "--bundle",
            &bundle,
            "--certificate-identity",
            self.identity,
            "--certificate-oidc-issuer",
            self.issuer,
        ];
        if let Some(root) = &self.trusted_root {
            args.extend(["--trusted-root", root]);
        }
        if let Some(predicate) = self.predicate_type {
            args.extend(["--predicate-type", predicate]);
        }
        args.push(&self.artifact);
        let out = trustpull(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let context = format!(
            "trustpull {}\nstdout: {stdout}\nstderr: {stderr}",
            args.join(" ")
        );
        match want {
            Want::Verified => {
                assert_eq!(out.status.code(), Some(0), "{context}");
                assert!(
                    stdout.contains(DIGEST) && stdout.contains(IDENTITY),
                    "{context}"
                );
            }
            Want::Rejected(reason) => {
                assert_eq!(out.status.code(), Some(1), "{context}");
                assert!(stderr.contains(reason), "expected {reason:?}: {context}");
            }
        }
    }
}

#[test]
fn every_producer_bundle_verifies_by_file_and_by_digest() {
    for (bundle, _) in VERIFYING {
        Run::of(bundle).check(Want::Verified);
        Run {
            artifact: fixture("manifest.json"),
            ..Run::of(bundle)
        }
        .check(Want::Verified);
    }
}

#[test]
fn another_identity_of_the_same_issuer_is_rejected() {
    let other =
        "https://github.com/trustpull/interop-fixture/.github/workflows/other.yml@refs/heads/main";
    for (bundle, _) in VERIFYING {
        Run {
            identity: other,
            ..Run::of(bundle)
        }
        .check(Want::Rejected("identity mismatch"));
    }
}

#[test]
fn another_issuer_is_rejected() {
    for (bundle, _) in VERIFYING {
        Run {
            issuer: "https://accounts.google.com",
            ..Run::of(bundle)
        }
        .check(Want::Rejected("issuer mismatch"));
    }
}

#[test]
fn the_digest_of_other_content_is_rejected() {
    for (bundle, dsse) in VERIFYING {
        let reason = if dsse {
            "do not include"
        } else {
            "does not sign"
        };
        Run {
            artifact: OTHER_DIGEST.to_owned(),
            ..Run::of(bundle)
        }
        .check(Want::Rejected(reason));
        Run {
            artifact: fixture("statement.json"),
            ..Run::of(bundle)
        }
        .check(Want::Rejected(reason));
    }
}

#[test]
fn dsse_predicate_type_is_enforced_when_asked() {
    for (bundle, _) in VERIFYING.into_iter().filter(|(_, dsse)| *dsse) {
        Run {
            predicate_type: Some(COSIGN_PREDICATE),
            ..Run::of(bundle)
        }
        .check(Want::Verified);
        Run {
            predicate_type: Some("https://slsa.dev/provenance/v1"),
            ..Run::of(bundle)
        }
        .check(Want::Rejected("predicate type"));
    }
}

#[test]
fn the_public_good_root_does_not_trust_the_mock_sigstore() {
    for (bundle, _) in VERIFYING {
        Run {
            trusted_root: None,
            ..Run::of(bundle)
        }
        .check(Want::Rejected("does not verify"));
    }
}

/// Each key of the producer's Sigstore is checked: swap one for another key of the same root
/// and the bundles (those with a TSA timestamp, so all four are in play; one from each
/// producer) are rejected for it.
#[test]
fn every_key_in_the_producer_trust_root_is_checked() {
    let text = std::fs::read_to_string(fixture("trusted_root.json")).expect("vendored");
    let root: serde_json::Value = serde_json::from_str(&text).expect("trusted_root.json is JSON");
    let swapped = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut r = root.clone();
        edit(&mut r);
        r
    };
    let cases: [(&str, serde_json::Value, &str); 4] = [
        (
            "CT log key",
            swapped(&|r| r["ctlogs"] = r["tlogs"].clone()),
            "signed certificate timestamp",
        ),
        (
            "Rekor key",
            swapped(&|r| r["tlogs"] = r["ctlogs"].clone()),
            "inclusion promise",
        ),
        (
            "TSA chain",
            swapped(&|r| {
                r["timestampAuthorities"][0]["certChain"] =
                    r["certificateAuthorities"][0]["certChain"].clone()
            }),
            "trusted TSA certificate",
        ),
        (
            "Fulcio CA",
            swapped(&|r| {
                r["certificateAuthorities"][0]["certChain"] =
                    r["timestampAuthorities"][0]["certChain"].clone()
            }),
            "certificate chain",
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    for (what, root, reason) in cases {
        let path = dir.path().join("trusted_root.json");
        std::fs::write(&path, root.to_string()).expect("temp dir is writable");
        for bundle in [
            "message.sigstore.json",
            "dsse-cli.sigstore.json",
            "python-message.sigstore.json",
        ] {
            eprintln!("{bundle} with another {what}");
            Run {
                trusted_root: Some(path.to_string_lossy().into_owned()),
                ..Run::of(bundle)
            }
            .check(Want::Rejected(reason));
        }
    }
}

#[test]
fn known_gaps_are_rejected_for_the_recorded_reason() {
    for (bundle, reason) in KNOWN_GAPS {
        Run {
            artifact: fixture("manifest.json"),
            ..Run::of(bundle)
        }
        .check(Want::Rejected(reason));
    }
}

/// The producer's own record agrees with the tables above, so the fixtures and this test
/// cannot drift apart silently.
#[test]
fn the_producer_record_matches_these_tables() {
    let text = std::fs::read_to_string(fixture("interop.json")).expect("interop.json is vendored");
    let record: serde_json::Value = serde_json::from_str(&text).expect("interop.json is JSON");
    assert_eq!(record["identity"], IDENTITY);
    assert_eq!(record["issuer"], ISSUER);
    assert_eq!(record["digest"], DIGEST);
    assert_eq!(record["predicateType"], COSIGN_PREDICATE);
    assert_eq!(record["versions"]["@sigstore/mock"], "0.13.0");
    assert_eq!(record["versions"]["sigstore-python"], "4.5.1");
    let bundles = record["bundles"].as_array().expect("bundles is an array");
    let listed = |expect: &str| -> Vec<(String, String)> {
        bundles
            .iter()
            .filter(|b| b["expect"] == expect)
            .map(|b| {
                (
                    b["file"].as_str().unwrap_or_default().to_owned(),
                    b["reject"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let verifying: Vec<(String, String)> = VERIFYING
        .iter()
        .map(|(f, _)| ((*f).to_owned(), String::new()))
        .collect();
    let gaps: Vec<(String, String)> = KNOWN_GAPS
        .iter()
        .map(|(f, r)| ((*f).to_owned(), (*r).to_owned()))
        .collect();
    assert_eq!(listed("verify"), verifying);
    assert_eq!(listed("reject"), gaps);
    assert_eq!(bundles.len(), VERIFYING.len() + KNOWN_GAPS.len());
}
