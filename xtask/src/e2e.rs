//! `cargo xtask e2e`: `trustpull verify` and `trustpull pull` against a real registry
//! (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1, then `interop --registry`.
//!
//! Steps: install `docker-registry` and `apache2-utils` with apt-get when missing (only as
//! root; otherwise print the command and fail); start three registries ([`crate::registry`])
//! on free loopback ports with a generated config and temporary storage (plain HTTP; HTTP with
//! an htpasswd file, also reached through a `credHelpers` credential helper; HTTPS with a
//! private CA made by openssl, passed as `--registry-ca`); push fixture images and
//! cosign-style signatures ([`crate::push`]) signed by the testkit's virtual Sigstore; run the
//! `trustpull verify` binary on positive and negative cases and check exit codes and JSON;
//! then the `trustpull pull` cases of [`crate::e2e_pull`] on the plain registry (a signed
//! image, an unsigned one through `NoopVerifier`, a layer overwritten in the registry's
//! storage); the gallery cases of [`crate::e2e_gallery`] (install, upgrade, uninstall), the
//! gallery sources of [`crate::e2e_sources`], the faults of [`crate::e2e_faults`]; then
//! `cargo xtask tuf-interop`'s cases ([`crate::interop_tuf`]: a python-tuf repository through
//! `trust-root update`); and last `cargo xtask interop --registry`.
//!
//! Every registry process is owned by a guard that kills it on drop, so a failing step still
//! stops what was started. Nothing listens beyond 127.0.0.1.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::{json, Value};
use trustpull_policy::Digest;
use trustpull_testkit::sigstore::{Rekor, SignRequest, VirtualSigstore, IDENTITY, ISSUER};

use crate::push::{Pushed, Pusher, BUNDLE, OCI_INDEX, SIGNED_AT};
use crate::registry::{self, Options, Registry, Tls};
use crate::util::{self, cargo};

const USER: &str = "e2e";
const PASSWORD: &str = "e2e-password";
const REPO: &str = "e2e/app";

/// Entry point; `e2e` takes no arguments.
pub fn run(args: &[String]) -> Result<(), String> {
    util::no_args("e2e", args)?;
    let env = Env::prepare("cargo xtask e2e")?;
    let work = env.work.clone();
    let tls = Tls::generate(&work.join("tls"))?;
    let plain = Registry::start(&work.join("plain"), &Options::default())?;
    let authed = Registry::start(&work.join("auth"), &Options::basic_auth(USER, PASSWORD))?;
    let https = Registry::start(&work.join("https"), &Options::https(&tls))?;
    let mut failures = Vec::new();
    let plain_http = vec!["--plain-http".to_owned()];
    let with_ca = vec!["--registry-ca".to_owned(), tls.ca.display().to_string()];
    for (registry, auth, connection, label) in [
        (&plain, None, &plain_http, "http, no auth"),
        (
            &authed,
            Some((USER, PASSWORD)),
            &plain_http,
            "http, basic auth",
        ),
        (&https, None, &with_ca, "https with a private CA"),
    ] {
        eprintln!("e2e: registry {} ({label})", registry.host);
        let pusher = Pusher::new(registry, REPO, auth, Some(&tls.ca))?;
        let fixtures = env
            .runtime
            .block_on(push_fixtures(&pusher, &env.sigstore))?;
        let target = Target {
            host: &registry.host,
            with_auth: auth.is_some(),
            connection,
        };
        failures.extend(run_cases(&env, &target, &fixtures)?);
    }
    // `trustpull pull` (issue 5): signed, unsigned with NoopVerifier, a layer overwritten in
    // the registry's storage.
    eprintln!("e2e: trustpull pull on {} (http, no auth)", plain.host);
    failures.extend(
        crate::e2e_pull::run_cases(&env, &plain)?
            .into_iter()
            .map(|f| format!("[{}] pull: {f}", plain.host)),
    );
    // The gallery commands (issue 10): install by meta name, upgrade (current, a new signed
    // digest, a refused unsigned one), list --installed, uninstall.
    eprintln!(
        "e2e: trustpull install/upgrade/uninstall on {} (http, no auth)",
        plain.host
    );
    failures.extend(
        crate::e2e_gallery::run_cases(&env, &plain)?
            .into_iter()
            .map(|f| format!("[{}] gallery: {f}", plain.host)),
    );
    // Gallery sources (issue 10): an https gallery with a private CA, a pull-through mirror.
    eprintln!("e2e: gallery sources on {} (http, no auth)", plain.host);
    failures.extend(
        crate::e2e_sources::run_cases(&env, &plain, &tls)?
            .into_iter()
            .map(|f| format!("[{}] sources: {f}", plain.host)),
    );
    // Bad days (RELIABILITY.md): the registry killed mid-layer, a full disk.
    eprintln!("e2e: faults");
    failures.extend(
        crate::e2e_faults::run_cases(&env)?
            .into_iter()
            .map(|f| format!("faults: {f}")),
    );
    drop(https);
    drop(authed);
    drop(plain);
    util::verdict("e2e", &failures)?;
    // A TUF repository written by python-tuf, served over HTTP on 127.0.0.1 (issue 9).
    let tuf_work = work.join("tuf-interop");
    fs::create_dir_all(&tuf_work).map_err(|e| format!("{}: {e}", tuf_work.display()))?;
    util::verdict(
        "tuf-interop",
        &crate::interop_tuf::run_cases(&env.trustpull, &tuf_work)?,
    )?;
    // Interop: bundles from an independent producer (npm @sigstore/mock,
    // @sigstore/sign, @sigstore/cli attest/attach) through verify-bundle and a registry.
    crate::interop::run(&["--registry".to_owned()])
}

/// What was pushed, for the cases to refer to.
struct Fixtures {
    signed: Pushed,
    unsigned: Pushed,
    foreign: Pushed,
    index: Pushed,
    old_style: Pushed,
    junk_first: Pushed,
    rekor_v2: Pushed,
    amd64: Pushed,
    arm64: Pushed,
}

async fn push_fixtures(p: &Pusher, sigstore: &VirtualSigstore) -> Result<Fixtures, String> {
    let sign = |d: &Digest| sigstore.sign(&SignRequest::dsse(d.clone()));

    let signed = p.image("signed", "amd64", "signed").await?;
    p.sign(&signed, sigstore).await?;

    let unsigned = p.image("unsigned", "amd64", "unsigned").await?;

    // The fallback index of `foreign` lists a valid signature whose subject is `signed`.
    let foreign = p.image("foreign", "amd64", "foreign").await?;
    let stolen_bundle = sign(&signed.digest);
    p.attach(
        &signed,
        &stolen_bundle,
        "2026-03-02T12:00:00Z",
        Some(BUNDLE),
        &foreign.digest,
    )
    .await?;

    // Older cosign: the fallback index entry has no artifactType; decided from the manifest.
    let old_style = p.image("old-style", "amd64", "old-style").await?;
    p.attach(
        &old_style,
        &sign(&old_style.digest),
        SIGNED_AT,
        None,
        &old_style.digest,
    )
    .await?;

    // A junk signature (newer, so tried first) before a valid one: the valid one wins.
    let junk_first = p.image("junk-first", "amd64", "junk-first").await?;
    p.sign(&junk_first, sigstore).await?;
    p.attach(
        &junk_first,
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","junk":true}"#,
        "2026-03-09T12:00:00Z",
        Some(BUNDLE),
        &junk_first.digest,
    )
    .await?;

    // cosign 3's shape (issue 9): DSSE logged in Rekor v2 as dsse 0.0.2 (no integrated time,
    // no SET), dated by an RFC 3161 time with fractional seconds.
    let rekor_v2 = p.image("rekor-v2", "amd64", "rekor v2").await?;
    let cosign3 = SignRequest {
        rekor: Rekor::V2Dsse,
        timestamp: Some(
            trustpull_testkit::sigstore::default_signed_at()
                + std::time::Duration::from_millis(250),
        ),
        ..SignRequest::dsse(rekor_v2.digest.clone())
    };
    p.attach(
        &rekor_v2,
        &sigstore.sign(&cosign3),
        SIGNED_AT,
        Some(BUNDLE),
        &rekor_v2.digest,
    )
    .await?;

    // A multi-arch index signed at the index level; its arm64 child is also signed itself.
    let amd64 = p.image("multi-amd64", "amd64", "multi amd64").await?;
    let arm64 = p.image("multi-arm64", "arm64", "multi arm64").await?;
    let child = |c: &Pushed, arch: &str| json!({"mediaType": c.media_type, "digest": c.digest, "size": c.size, "platform": {"os": "linux", "architecture": arch}});
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child(&amd64, "amd64"), child(&arm64, "arm64")]});
    let index = p.json("multi", OCI_INDEX, &index).await?;
    p.sign(&index, sigstore).await?;
    p.sign(&arm64, sigstore).await?;

    Ok(Fixtures {
        signed,
        unsigned,
        foreign,
        index,
        old_style,
        junk_first,
        rekor_v2,
        amd64,
        arm64,
    })
}

/// What every e2e case needs: the built `trustpull`, a temporary work directory, the
/// testkit's virtual Sigstore with its trusted root in a file, and a tokio runtime to push with.
pub(crate) struct Env {
    pub(crate) trustpull: PathBuf,
    pub(crate) trusted_root: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) sigstore: VirtualSigstore,
    pub(crate) runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Env {
    /// Installs the registry (see [`registry::ensure_installed`]), builds `trustpull` and
    /// makes the work directory, for `what` (the command, named in errors).
    pub(crate) fn prepare(what: &str) -> Result<Self, String> {
        registry::ensure_installed(what)?;
        util::run(cargo().args(["build", "-p", "trustpull", "--bin", "trustpull"]))?;
        let dir = tempfile::Builder::new()
            .prefix("trustpull-e2e-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let sigstore = VirtualSigstore::new().with_rekor_v2();
        let trusted_root = dir.path().join("trusted_root.json");
        fs::write(&trusted_root, sigstore.trusted_root_json())
            .map_err(|e| format!("write trusted root: {e}"))?;
        Ok(Self {
            trustpull: util::built_binary("debug", "trustpull"),
            trusted_root,
            work: dir.path().to_path_buf(),
            sigstore,
            runtime,
            _dir: dir,
        })
    }
}

struct Case {
    name: &'static str,
    image: String,
    /// Extra flags; unless `own_identity`, `--certificate-identity <fixture identity>` is added.
    flags: Vec<String>,
    own_identity: bool,
    expect: Expect,
}

enum Expect {
    /// Exit 0 with a JSON receipt for this digest, signed on this target (`manifest`/`index`).
    Verified(Digest, &'static str),
    /// This exit code, with this text in the error.
    Fails(i32, &'static str),
}

fn case(name: &'static str, image: String, flags: &[&str], expect: Expect) -> Case {
    let own_identity = flags
        .iter()
        .any(|f| f.starts_with("--certificate-identity"));
    Case {
        name,
        image,
        flags: flags.iter().map(|s| (*s).to_owned()).collect(),
        own_identity,
        expect,
    }
}

/// The registry the cases run against and how `trustpull` reaches it.
struct Target<'a> {
    host: &'a str,
    with_auth: bool,
    /// `--plain-http`, or `--registry-ca FILE`.
    connection: &'a [String],
}

fn run_cases(env: &Env, target: &Target<'_>, f: &Fixtures) -> Result<Vec<String>, String> {
    let (host, with_auth) = (target.host, target.with_auth);
    use Expect::{Fails, Verified};
    let image = |tag: &str| format!("{host}/{REPO}:{tag}");
    let by_digest = |d: &Digest| format!("{host}/{REPO}@{d}");
    let signed = || Verified(f.signed.digest.clone(), "manifest");
    let cases =
        vec![
        case("signed, by tag", image("signed"), &[], signed()),
        case(
            "signed, by digest",
            by_digest(&f.signed.digest),
            &[],
            signed(),
        ),
        case(
            "older cosign fallback entry without artifactType",
            image("old-style"),
            &[],
            Verified(f.old_style.digest.clone(), "manifest"),
        ),
        case(
            "cosign 3: DSSE in Rekor v2 (dsse 0.0.2), TSA time with fractions",
            image("rekor-v2"),
            &[],
            Verified(f.rekor_v2.digest.clone(), "manifest"),
        ),
        case(
            "a junk candidate listed before a valid one",
            image("junk-first"),
            &[],
            Verified(f.junk_first.digest.clone(), "manifest"),
        ),
        case(
            "unsigned",
            by_digest(&f.unsigned.digest),
            &[],
            Fails(1, "no signatures found"),
        ),
        case(
            "foreign subject in the fallback index",
            by_digest(&f.foreign.digest),
            &[],
            Fails(1, "names subject"),
        ),
        case(
            "signed before --not-before",
            image("signed"),
            &["--not-before", "2026-04-01T00:00:00Z"],
            Fails(1, "not_before"),
        ),
        case(
            "wrong identity",
            image("signed"),
            &[
                "--certificate-identity",
                "https://github.com/evil/backends/.github/workflows/release.yml@refs/heads/main",
            ],
            Fails(1, "identity mismatch"),
        ),
        case(
            "identity regex is full-match",
            image("signed"),
            &["--certificate-identity-regexp", "acme/backends"],
            Fails(1, "must match the whole identity"),
        ),
        case(
            "identity regex matching the whole identity",
            image("signed"),
            &[
                "--certificate-identity-regexp",
                r"https://github\.com/acme/backends/.*",
            ],
            signed(),
        ),
        case(
            "multi-arch child, index signature, signed: either",
            image("multi"),
            &["--platform", "linux/amd64"],
            Verified(f.amd64.digest.clone(), "index"),
        ),
        case(
            "multi-arch child, index-only signature, --signed platform",
            image("multi"),
            &["--platform", "linux/amd64", "--signed", "platform"],
            Fails(1, "no signatures found"),
        ),
        case(
            "multi-arch child, child signature, --signed platform",
            image("multi"),
            &["--platform", "linux/arm64", "--signed", "platform"],
            Verified(f.arm64.digest.clone(), "manifest"),
        ),
        case(
            "index verified as itself without --platform",
            image("multi"),
            &[],
            Verified(f.index.digest.clone(), "manifest"),
        ),
        case(
            "missing platform",
            image("multi"),
            &["--platform", "linux/s390x"],
            Fails(2, "has no image for platform linux/s390x"),
        ),
        case("unknown tag", image("nope"), &[], Fails(2, "MANIFEST_UNKNOWN")),
    ];

    // Docker config dirs: with the credentials, and empty.
    let with_creds = env.work.join(format!("docker-{}", host.replace(':', "_")));
    fs::create_dir_all(&with_creds).map_err(|e| e.to_string())?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    fs::write(
        with_creds.join("config.json"),
        json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
    .map_err(|e| e.to_string())?;
    let empty = env.work.join("docker-empty");
    fs::create_dir_all(&empty).map_err(|e| e.to_string())?;

    // A credential helper speaking the Docker protocol, found on PATH.
    let helper_dir = env.work.join("helper-bin");
    fs::create_dir_all(&helper_dir).map_err(|e| e.to_string())?;
    let helper = helper_dir.join("docker-credential-trustpull-e2e");
    fs::write(
        &helper,
        format!("#!/bin/sh\nread server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n"),
    )
    .map_err(|e| e.to_string())?;
    fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let with_helper = env
        .work
        .join(format!("docker-helper-{}", host.replace(':', "_")));
    fs::create_dir_all(&with_helper).map_err(|e| e.to_string())?;
    fs::write(
        with_helper.join("config.json"),
        json!({"credHelpers": {host: "trustpull-e2e"}}).to_string(),
    )
    .map_err(|e| e.to_string())?;

    let mut failures = Vec::new();
    // The credential files a case runs with, as environment variables.
    let docker_config = |dir: &Path| vec![("DOCKER_CONFIG", dir.to_path_buf())];
    let mut check =
        |c: &Case, files: &[(&str, PathBuf)], path_prefix: Option<&Path>, connection: &[String]| {
            if let Err(e) = run_case(env, c, files, path_prefix, connection) {
                failures.push(format!("[{host}] {}: {e}", c.name));
            }
        };
    for c in &cases {
        check(
            c,
            &docker_config(if with_auth { &with_creds } else { &empty }),
            None,
            target.connection,
        );
    }
    if with_auth {
        // Without credentials the registry answers 401: unavailable (3), never "no signatures".
        let c = case(
            "no credentials for an auth registry",
            image("signed"),
            &[],
            Fails(3, "HTTP 401"),
        );
        check(&c, &docker_config(&empty), None, target.connection);
        let c = case(
            "credentials from a credHelpers helper",
            image("signed"),
            &[],
            Verified(f.signed.digest.clone(), "manifest"),
        );
        check(
            &c,
            &docker_config(&with_helper),
            Some(&helper_dir),
            target.connection,
        );
        let c = case(
            "credentials from podman's auth.json (REGISTRY_AUTH_FILE)",
            image("signed"),
            &[],
            Verified(f.signed.digest.clone(), "manifest"),
        );
        let podman = vec![
            ("DOCKER_CONFIG", empty.clone()),
            ("REGISTRY_AUTH_FILE", with_creds.join("config.json")),
        ];
        check(&c, &podman, None, target.connection);
    }
    if target.connection.iter().any(|a| a == "--registry-ca") {
        // The same https registry without its private CA: a TLS failure is unavailable (3).
        let c = case(
            "https without the private CA",
            image("signed"),
            &[],
            Fails(3, "could not reach"),
        );
        check(&c, &docker_config(&empty), None, &[]);
    }
    Ok(failures)
}

fn run_case(
    env: &Env,
    c: &Case,
    credential_files: &[(&str, PathBuf)],
    path_prefix: Option<&Path>,
    connection: &[String],
) -> Result<(), String> {
    let mut cmd = Command::new(&env.trustpull);
    cmd.arg("verify").arg(&c.image);
    if !c.own_identity {
        cmd.args(["--certificate-identity", IDENTITY]);
    }
    cmd.args([
        "--certificate-oidc-issuer",
        ISSUER,
        "--output",
        "json",
        "--trusted-root",
    ])
    .arg(&env.trusted_root)
    .args(connection)
    .args(&c.flags)
    .env_remove("REGISTRY_AUTH_FILE")
    .envs(credential_files.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = path_prefix {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        cmd.env(
            "PATH",
            std::env::join_paths(dirs).map_err(|e| e.to_string())?,
        );
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run trustpull: {e}"))?;
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let unexpected = |why: String| {
        format!(
            "{why}\n    stdout: {}\n    stderr: {}",
            stdout.trim(),
            stderr.trim()
        )
    };
    match &c.expect {
        Expect::Verified(digest, target) => {
            if code != 0 {
                return Err(unexpected(format!("exit {code}, expected 0")));
            }
            let receipt: Value = serde_json::from_str(stdout.trim())
                .map_err(|e| unexpected(format!("stdout is not JSON: {e}")))?;
            if receipt["verified"] != json!(true)
                || receipt["digest"] != json!(digest.as_str())
                || receipt["receipt"]["signed_target"] != json!(target)
            {
                return Err(unexpected(format!("expected a receipt with verified: true, digest {digest}, signed_target {target}")));
            }
        }
        Expect::Fails(expected, because) => {
            if code != *expected || !stderr.contains(because) {
                return Err(unexpected(format!(
                    "exit {code}, expected {expected} with {because:?} in the error"
                )));
            }
        }
    }
    eprintln!("e2e: ok   {} (exit {code})", c.name);
    Ok(())
}
