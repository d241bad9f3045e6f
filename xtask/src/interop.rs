//! `cargo xtask interop [--out DIR]`: check `trustpull verify-bundle` against Sigstore bundles
//! made by an independent producer.
//!
//! The producer is `xtask/interop/produce.cjs`: npm `@sigstore/mock` (Fulcio, CT log, Rekor v1/v2,
//! TSA) served on 127.0.0.1, signing with `@sigstore/sign`, the `@sigstore/cli` `attest`
//! command and the sigstore-python CLI (`sigstore --trust-config FILE sign`, from the pinned
//! venv `target/python-venv` that `cargo xtask bench verify` also uses). It writes the bundles, the signed manifest, a `trusted_root.json` and `interop.json`,
//! which says what each bundle is and whether a verifier must accept it. This command then runs
//! the built `trustpull verify-bundle` on every bundle:
//!
//! - bundles marked `verify` must pass for the expected identity and issuer (by file and by
//!   digest, and with the cosign predicate type for DSSE), and be rejected (exit 1) for another
//!   identity, another issuer, another digest, another predicate type, or the public-good root;
//! - bundles marked `reject` record a known gap (the mock's or trustpull's, see `why`): they must
//!   be rejected with the recorded reason, so a fix on either side fails loudly here and the
//!   bundle can move to the passing set.
//!
//! `--registry` adds the registry path: it starts Debian's `docker-registry` (distribution 2.8)
//! with basic auth on a free 127.0.0.1 port, pushes the signed image once per bundle and attaches
//! the bundle with `sigstore attach` (`xtask/interop/attach.cjs`; @sigstore/oci writes the
//! referrer manifest and the `sha256-<hex>` fallback index), then runs `trustpull verify` on
//! each image: bundles marked `verify` pass by digest and by tag and fail for another identity;
//! known gaps fail for their recorded reason. Then the legacy leg (`interop_legacy.rs`): the
//! simple-signing payload sigstore-python signed, assembled into cosign's `sha256-<hex>.sig`
//! manifest, pushed, and verified (and rejected for another identity or a flipped signature).
//! Attestations (`interop.json`'s `attestations`: an SLSA provenance v1 statement from
//! `@sigstore/cli attest`) are attached the same way and checked with `verify-attestation`.
//!
//! `--out DIR` keeps the producer's output there (`--out tests/fixtures/interop` refreshes the
//! vendored fixtures); without it a temporary directory is used and removed on success. Node.js
//! 20+ with npm and `python3` with `venv` are needed; `npm ci` runs in `xtask/interop` when its `node_modules` is missing.
//! `--registry` also needs `docker-registry` and `htpasswd` (installed with `apt-get install -y
//! docker-registry apache2-utils` when run as root; otherwise that command is printed).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::bench_verify;
use crate::registry::{self, Options, Registry};
use crate::util::{self, cargo};

/// Another workflow of the same repository: same issuer, wrong identity.
const OTHER_IDENTITY: &str =
    "https://github.com/trustpull/interop-fixture/.github/workflows/other.yml@refs/heads/main";
/// Another OIDC issuer.
const OTHER_ISSUER: &str = "https://accounts.google.com";
/// The digest of other content: `{}`, the signed image's config blob.
const OTHER_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// A predicate type the producer did not sign.
const OTHER_PREDICATE: &str = "https://slsa.dev/provenance/v1";

/// Test-only credentials of the throwaway registry `--registry` starts.
const REGISTRY_USER: &str = "interop";
const REGISTRY_PASSWORD: &str = "interop-password";
const NODE_HINT: &str =
    "install Node.js 20 or newer with npm (Debian 12's nodejs package is 18: too old)";

/// Entry point: `cargo xtask interop [--out DIR] [--registry]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let usage = || format!("usage: cargo xtask interop [--out DIR] [--registry], got {args:?}");
    let (mut out, mut registry) = (None, false);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--out" => out = Some(PathBuf::from(rest.next().ok_or_else(usage)?)),
            "--registry" => registry = true,
            _ => return Err(usage()),
        }
    }
    let (dir, temporary) = match out {
        Some(dir) => (dir, false),
        None => {
            let dir =
                std::env::temp_dir().join(format!("trustpull-interop-{}", std::process::id()));
            // A leftover from a crashed run with the same pid is ours to replace.
            let _ = std::fs::remove_dir_all(&dir);
            (dir, true)
        }
    };
    if registry {
        registry::ensure_installed("cargo xtask interop --registry")?;
    }
    let result = produce(&dir)
        .and_then(|()| util::run(cargo().args(["build", "-p", "trustpull"])))
        .and_then(|()| check_dir(&trustpull_binary(), &dir))
        .and_then(|()| {
            if registry {
                check_registry(&trustpull_binary(), &dir)
            } else {
                Ok(())
            }
        });
    match &result {
        Ok(()) if temporary => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(()) => {}
        Err(_) => eprintln!(
            "interop: the producer's output is kept in {}",
            dir.display()
        ),
    }
    result
}

/// Runs the independent producer into `out` (installing its npm packages first if needed).
pub fn produce(out: &Path) -> Result<(), String> {
    let producer = util::root().join("xtask").join("interop");
    let npm_ci = format!("cd {} && npm ci", producer.display());
    if !producer
        .join("node_modules/@sigstore/mock/package.json")
        .is_file()
    {
        if Command::new("npm").arg("--version").output().is_err() {
            return Err(format!(
                "npm is not installed; {NODE_HINT}, then run `{npm_ci}`"
            ));
        }
        util::run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&producer),
        )?;
    }
    // The Sigstore JS packages need Node.js 20+ (Debian 12 packages 18: use a newer nodejs).
    let version = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("node is not installed ({e}); {NODE_HINT}"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < 20) {
        return Err(format!("node {version:?} is too old; {NODE_HINT}"));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| format!("cannot create output directory {}: {e}", out.display()))?;
    // sigstore-python (PyPI `sigstore`, pinned in xtask/python) is the second producer.
    let sigstore_python = bench_verify::python_venv()?.join("bin/sigstore");
    util::run(
        Command::new("node")
            .arg(producer.join("produce.cjs"))
            .arg(out)
            .env("SIGSTORE_PYTHON", sigstore_python),
    )
}

/// The `trustpull` binary `cargo build -p trustpull` made.
fn trustpull_binary() -> PathBuf {
    util::built_binary("debug", "trustpull")
}

/// What a `verify-bundle` run must end with.
#[derive(Debug, Clone, Copy)]
enum Want<'a> {
    /// Exit 0.
    Verified,
    /// Exit 1 and, if given, this text in the message.
    Rejected(Option<&'a str>),
}

/// One `verify-bundle` run and its expected outcome.
struct Check<'a> {
    what: String,
    args: Vec<String>,
    want: Want<'a>,
}

/// Runs every check `dir/interop.json` calls for with `trustpull`; any surprise is an error.
pub fn check_dir(trustpull: &Path, dir: &Path) -> Result<(), String> {
    let manifest = dir.join("interop.json");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", manifest.display()))?;
    let field = |v: &Value, name: &str| -> Result<String, String> {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{} has no string field {name:?}", manifest.display()))
    };
    let identity = field(&doc, "identity")?;
    let issuer = field(&doc, "issuer")?;
    let digest = field(&doc, "digest")?;
    let predicate = field(&doc, "predicateType")?;
    let artifact = dir.join(field(&doc, "artifact")?);
    let root = dir.join("trusted_root.json");
    let bundles = doc
        .get("bundles")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{} has no bundles", manifest.display()))?;

    let mut failures = Vec::new();
    let (mut runs, mut verifying, mut gaps) = (0, 0, 0);
    for entry in bundles {
        let file = field(entry, "file")?;
        let expect = field(entry, "expect")?;
        let reason = entry.get("reject").and_then(Value::as_str);
        let bundle = dir.join(&file);
        let base = |identity: &str, issuer: &str, root: Option<&Path>| {
            let mut args = vec![
                "verify-bundle".to_owned(),
                "--bundle".to_owned(),
                bundle.display().to_string(),
                "--certificate-identity".to_owned(),
                identity.to_owned(),
                "--certificate-oidc-issuer".to_owned(),
                issuer.to_owned(),
            ];
            if let Some(root) = root {
                args.extend(["--trusted-root".to_owned(), root.display().to_string()]);
            }
            args
        };
        let with = |mut args: Vec<String>, extra: &[&str]| {
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            args
        };
        let ours = base(&identity, &issuer, Some(&root));
        let path = artifact.display().to_string();
        let checks = match expect.as_str() {
            "verify" => {
                verifying += 1;
                let mut checks = vec![
                    Check {
                        what: "verifies the file".into(),
                        args: with(ours.clone(), &[&path]),
                        want: Want::Verified,
                    },
                    Check {
                        what: "verifies the digest".into(),
                        args: with(ours.clone(), &[&digest]),
                        want: Want::Verified,
                    },
                    Check {
                        what: "rejects another identity".into(),
                        args: with(base(OTHER_IDENTITY, &issuer, Some(&root)), &[&digest]),
                        want: Want::Rejected(Some("identity mismatch")),
                    },
                    Check {
                        what: "rejects another issuer".into(),
                        args: with(base(&identity, OTHER_ISSUER, Some(&root)), &[&digest]),
                        want: Want::Rejected(Some("issuer mismatch")),
                    },
                    Check {
                        what: "rejects another digest".into(),
                        args: with(ours.clone(), &[OTHER_DIGEST]),
                        want: Want::Rejected(Some(OTHER_DIGEST)),
                    },
                    Check {
                        what: "rejects it under the public-good root".into(),
                        args: with(base(&identity, &issuer, None), &[&digest]),
                        want: Want::Rejected(None),
                    },
                ];
                if field(entry, "kind")? == "dsse" {
                    checks.push(Check {
                        what: "verifies with the cosign predicate type".into(),
                        args: with(ours.clone(), &["--predicate-type", &predicate, &digest]),
                        want: Want::Verified,
                    });
                    checks.push(Check {
                        what: "rejects another predicate type".into(),
                        args: with(
                            ours.clone(),
                            &["--predicate-type", OTHER_PREDICATE, &digest],
                        ),
                        want: Want::Rejected(Some("predicate type")),
                    });
                }
                checks
            }
            "reject" => {
                gaps += 1;
                vec![Check {
                    what: format!(
                        "is rejected as recorded ({})",
                        entry
                            .get("why")
                            .and_then(Value::as_str)
                            .unwrap_or("no reason recorded")
                    ),
                    args: with(ours.clone(), &[&path]),
                    want: Want::Rejected(reason),
                }]
            }
            other => {
                return Err(format!(
                    "{file}: unknown expectation {other:?} in interop.json"
                ))
            }
        };
        for check in checks {
            runs += 1;
            let output = Command::new(trustpull)
                .args(&check.args)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", trustpull.display()))?;
            match judge(&output, check.want) {
                Ok(()) => eprintln!("ok    {file}: {}", check.what),
                Err(surprise) => {
                    eprintln!("FAIL  {file}: {}: {surprise}", check.what);
                    failures.push(format!(
                        "{file}: {}: {surprise}\n      trustpull {}",
                        check.what,
                        check.args.join(" ")
                    ));
                }
            }
        }
    }
    if verifying == 0 {
        return Err(format!(
            "{} lists no bundle that must verify",
            manifest.display()
        ));
    }
    if failures.is_empty() {
        eprintln!(
            "interop: {runs} runs as expected: {verifying} bundles from the independent producers verify; {gaps} known gaps rejected as recorded"
        );
        Ok(())
    } else {
        Err(format!(
            "{} of {runs} interop runs went wrong:\n  {}\n(a known gap that now verifies: mark it `verify` in xtask/interop/produce.cjs and refresh tests/fixtures/interop)",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}

/// Compares one run with what it must end with.
fn judge(output: &Output, want: Want<'_>) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code();
    match want {
        Want::Verified if code == Some(0) => Ok(()),
        Want::Verified => Err(format!("expected exit 0, got {code:?}: {}", stderr.trim())),
        Want::Rejected(_) if code != Some(1) => Err(format!(
            "expected exit 1 (rejected), got {code:?}: {}{}",
            String::from_utf8_lossy(&output.stdout).trim(),
            stderr.trim()
        )),
        Want::Rejected(Some(reason)) if !stderr.contains(reason) => Err(format!(
            "rejected, but not for {reason:?}: {}",
            stderr.trim()
        )),
        Want::Rejected(_) => Ok(()),
    }
}

/// The registry path: `sigstore attach` each bundle to its own image, then `trustpull verify`.
fn check_registry(trustpull: &Path, dir: &Path) -> Result<(), String> {
    let registry = Registry::start(
        &dir.join("registry"),
        &Options::basic_auth(REGISTRY_USER, REGISTRY_PASSWORD),
    )?;
    eprintln!("interop: docker-registry on {} (basic auth)", registry.host);
    let producer = util::root().join("xtask").join("interop");
    let attached = Command::new("node")
        .arg(producer.join("attach.cjs"))
        .args([&registry.host, REGISTRY_USER, REGISTRY_PASSWORD])
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run node attach.cjs: {e}"))?;
    if !attached.status.success() {
        return Err(format!("attach.cjs failed ({})", attached.status));
    }
    // attach.cjs wrote the registry credentials there, as `docker login` would.
    let docker = dir.join("docker");

    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("interop.json"))
            .map_err(|e| format!("read interop.json: {e}"))?,
    )
    .map_err(|e| format!("interop.json: {e}"))?;
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (identity, issuer) = (text(&doc, "identity"), text(&doc, "issuer"));
    let root = dir.join("trusted_root.json").display().to_string();
    let mut failures = Vec::new();
    let mut runs = 0;
    for line in String::from_utf8_lossy(&attached.stdout).lines() {
        let placed: Value =
            serde_json::from_str(line).map_err(|e| format!("attach.cjs printed {line:?}: {e}"))?;
        let (file, image) = (text(&placed, "file"), text(&placed, "image"));
        let listed = |list: &str| {
            doc.get(list)
                .and_then(Value::as_array)
                .and_then(|b| b.iter().find(|b| text(b, "file") == file))
        };
        let checks = if let Some(attestation) = listed("attestations") {
            // An attestation, not a signature: `verify-attestation` must find it by type.
            let predicate_type = text(attestation, "predicateType");
            let verify_attestation = |kind: &str, identity: &str| -> Vec<String> {
                [
                    "verify-attestation",
                    image.as_str(),
                    "--type",
                    kind,
                    "--plain-http",
                    "--certificate-identity",
                    identity,
                    "--certificate-oidc-issuer",
                    &issuer,
                    "--trusted-root",
                    &root,
                ]
                .map(str::to_owned)
                .to_vec()
            };
            vec![
                (
                    "verifies the attestation by its type",
                    verify_attestation(&predicate_type, &identity),
                    Want::Verified,
                ),
                (
                    "rejects another predicate type",
                    verify_attestation("spdxjson", &identity),
                    Want::Rejected(None),
                ),
                (
                    "rejects another identity",
                    verify_attestation(&predicate_type, OTHER_IDENTITY),
                    Want::Rejected(None),
                ),
            ]
        } else {
            let entry = listed("bundles").ok_or_else(|| {
                format!("attach.cjs attached {file}, which interop.json does not list")
            })?;
            let by_tag = match image.split_once('@') {
                Some((repo, _)) => format!("{repo}:interop"),
                None => {
                    return Err(format!(
                        "attach.cjs printed an image without a digest: {image}"
                    ))
                }
            };
            let verify = |image: &str, identity: &str| -> Vec<String> {
                [
                    "verify",
                    image,
                    "--plain-http",
                    "--certificate-identity",
                    identity,
                    "--certificate-oidc-issuer",
                    &issuer,
                    "--trusted-root",
                    &root,
                ]
                .map(str::to_owned)
                .to_vec()
            };
            if text(entry, "expect") == "verify" {
                vec![
                    (
                        "verifies the attached bundle by digest",
                        verify(&image, &identity),
                        Want::Verified,
                    ),
                    (
                        "verifies the attached bundle by tag",
                        verify(&by_tag, &identity),
                        Want::Verified,
                    ),
                    (
                        "rejects another identity",
                        verify(&image, OTHER_IDENTITY),
                        Want::Rejected(Some("identity mismatch")),
                    ),
                ]
            } else {
                let reason = entry.get("reject").and_then(Value::as_str);
                vec![(
                    "is rejected as recorded",
                    verify(&image, &identity),
                    Want::Rejected(reason),
                )]
            }
        };
        for (what, args, want) in checks {
            runs += 1;
            let output = Command::new(trustpull)
                .args(&args)
                .env("DOCKER_CONFIG", &docker)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", trustpull.display()))?;
            match judge(&output, want) {
                Ok(()) => eprintln!("ok    registry {file}: {what}"),
                Err(surprise) => {
                    eprintln!("FAIL  registry {file}: {what}: {surprise}");
                    failures.push(format!(
                        "registry {file}: {what}: {surprise}\n      trustpull {}",
                        args.join(" ")
                    ));
                }
            }
        }
    }
    if runs == 0 {
        return Err("attach.cjs attached nothing".into());
    }
    let (legacy_failures, legacy_runs) = crate::interop_legacy::check(
        trustpull,
        &registry,
        (REGISTRY_USER, REGISTRY_PASSWORD),
        dir,
        &doc,
        OTHER_IDENTITY,
    )?;
    failures.extend(legacy_failures);
    runs += legacy_runs;
    drop(registry);
    if failures.is_empty() {
        eprintln!("interop: {runs} registry runs as expected (sigstore attach → trustpull verify)");
        Ok(())
    } else {
        Err(format!(
            "{} of {runs} registry interop runs went wrong:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}
