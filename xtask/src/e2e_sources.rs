//! The gallery-source cases of `cargo xtask e2e` (issue 10): a gallery index served over HTTPS
//! by a real TLS server with a private CA, and images fetched through a registry mirror.
//!
//! - HTTPS gallery: `openssl s_server -WWW` (a real TLS file server, the simplest one at hand)
//!   serves `index.yaml` on 127.0.0.1 with a certificate from the e2e CA; the operator config
//!   names the CA as that host's `ca_file`. `trustpull list` and `trustpull install` read the
//!   index through it; without `ca_file` the TLS handshake fails (exit 3, unavailable), and a
//!   plain `http://` URL for a host not listed `plain_http` is refused (exit 2).
//! - Registry mirror: a second `docker-registry` in proxy (pull-through cache) mode in front of
//!   the plain e2e registry, configured as the mirror of `quay.io`. The vendored real LocalAI
//!   index (crates/gallery/tests/fixtures) is used as it is: its meta entry `llama-cpp`
//!   resolves to `cpu-llama-cpp` = `quay.io/go-skynet/local-ai-backends:latest-cpu-llama-cpp`,
//!   which is pushed (signed) to the upstream registry under the same repository and tag.
//!   `quay.io` itself is never reachable here: only the mirror can serve. The image and its
//!   signature (the `sha256-<hex>` fallback tag; distribution 2.8 has no referrers API) come
//!   through the cache, and verification passes with the gallery's policy.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use trustpull_testkit::sigstore::{IDENTITY, ISSUER};

use crate::e2e::Env;
use crate::push::{gzip_tar, Pusher};
use crate::registry::{Options, Registry, Tls};

use crate::push::LAYER;

/// A running `openssl s_server -WWW` serving `dir`; killed on drop.
struct TlsFileServer {
    child: Child,
    host: String,
}

impl TlsFileServer {
    fn start(dir: &Path, tls: &Tls) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&tls.cert)
            .arg("-key")
            .arg(&tls.key)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start openssl s_server: {e}"))?;
        let server = Self {
            child,
            host: format!("127.0.0.1:{port}"),
        };
        let addr: std::net::SocketAddr = server
            .host
            .parse()
            .map_err(|e| format!("bad address: {e}"))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            if std::time::Instant::now() > deadline {
                return Err(format!("openssl s_server did not listen on {addr}"));
            }
            // Polling a port that is not open yet (a developer tool, not a test).
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Drop for TlsFileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `trustpull ARGS`; prints the command and what it printed (for the README), returns
/// (exit code, stdout, stderr).
fn trustpull(env: &Env, args: &[&str]) -> Result<(i32, String, String), String> {
    let out = Command::new(&env.trustpull)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run trustpull: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("    $ trustpull {}", args.join(" "));
    for line in stdout.lines().chain(stderr.lines()) {
        eprintln!("    {line}");
    }
    let code = out
        .status
        .code()
        .ok_or_else(|| "trustpull was killed by a signal".to_owned())?;
    eprintln!("    (exit {code})");
    Ok((code, stdout, stderr))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

/// The gallery policy: the testkit's virtual Sigstore identity.
fn policy() -> String {
    format!("    verification:\n      issuer: {ISSUER}\n      identity: {IDENTITY}\n")
}

/// Entry point: `cargo xtask e2e-sources`, only these cases, on registries of their own.
pub fn run(args: &[String]) -> Result<(), String> {
    crate::util::no_args("e2e-sources", args)?;
    let env = Env::prepare("cargo xtask e2e-sources")?;
    let tls = Tls::generate(&env.work.join("tls"))?;
    let registry = Registry::start(&env.work.join("registry"), &Options::default())?;
    let failures = run_cases(&env, &registry, &tls)?;
    crate::util::verdict("e2e-sources", &failures)
}

/// Runs both groups of cases against the plain registry `upstream`; returns the failures.
pub fn run_cases(env: &Env, upstream: &Registry, tls: &Tls) -> Result<Vec<String>, String> {
    let mut failures = Vec::new();
    let mut check = |name: &str, ok: bool| {
        eprintln!("e2e-sources: {} {name}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures.push(name.to_owned());
        }
    };
    https_gallery(env, upstream, tls, &mut check)?;
    registry_mirror(env, upstream, &mut check)?;
    tarball_cells(env, tls, &mut check)?;
    Ok(failures)
}

/// The decision table's tarball cells over HTTPS (`openssl s_server -WWW`, the e2e CA as
/// `ca_file`): from a gallery without a policy, a tarball with its sha256 installs (receipt
/// `verified: false`), a wrong sha256 is rejected with nothing written, one without a sha256
/// installs with a warning and is refused in strict mode; a signed gallery's tarball is refused.
fn tarball_cells(env: &Env, tls: &Tls, check: &mut dyn FnMut(&str, bool)) -> Result<(), String> {
    let dir = env.work.join("tarball-gallery");
    let site = dir.join("site");
    std::fs::create_dir_all(&site).map_err(|e| format!("mkdir: {e}"))?;
    let tarball = gzip_tar(&[("bin/backend", b"tarball backend")])?;
    std::fs::write(site.join("backend.tar.gz"), &tarball).map_err(|e| format!("write: {e}"))?;
    let sha = trustpull_policy::Digest::of(&tarball);
    let server = TlsFileServer::start(&site, tls)?;
    let url = format!("https://{}/backend.tar.gz", server.host);
    let wrong = trustpull_policy::Digest::of(b"another tarball");
    write(
        &dir.join("open.yaml"),
        &format!(
            "- name: tar-ok\n  uri: {url}\n  sha256: {}\n- name: tar-wrong\n  uri: {url}\n  sha256: {}\n- name: tar-nosha\n  uri: {url}\n",
            sha.hex(),
            wrong.hex()
        ),
    )?;
    write(
        &dir.join("signed.yaml"),
        &format!(
            "- name: tar-signed\n  uri: {url}\n  sha256: {}\n",
            sha.hex()
        ),
    )?;
    let config = dir.join("galleries.yaml");
    write(
        &config,
        &format!(
            "trusted_root: {}\nregistries:\n  - host: {}\n    ca_file: {}\ngalleries:\n  - name: open\n    url: ./open.yaml\n  - name: signed\n    url: ./signed.yaml\n{}",
            env.trusted_root.display(),
            server.host,
            tls.ca.display(),
            policy()
        ),
    )?;
    let config = config.display().to_string();
    let install = |name: &str, dest: &Path, strict: bool| {
        let dest = dest.display().to_string();
        let mut args = vec!["install", name, "--galleries", &config, "--dest", &dest];
        if strict {
            args.push("--require-integrity");
        }
        trustpull(env, &args)
    };
    let receipt_unverified = |dest: &Path, name: &str| {
        std::fs::read(dest.join(format!("{name}.receipt.json")))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|r| r["verified"] == serde_json::json!(false))
    };
    let empty = |dest: &Path| {
        std::fs::read_dir(dest)
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    };

    let dest = dir.join("ok");
    let (code, _, _) = install("tar-ok", &dest, false)?;
    check(
        "tarball with its sha256, gallery without a policy: installed, verified: false",
        code == 0
            && dest.join("tar-ok/bin/backend").is_file()
            && receipt_unverified(&dest, "tar-ok"),
    );
    let dest = dir.join("wrong");
    let (code, _, _) = install("tar-wrong", &dest, false)?;
    check(
        "tarball with a wrong sha256: rejected (exit 1), nothing written",
        code == 1 && empty(&dest),
    );
    let dest = dir.join("nosha");
    let (code, _, stderr) = install("tar-nosha", &dest, false)?;
    check(
        "tarball without sha256: installed with a warning",
        code == 0 && dest.join("tar-nosha/bin/backend").is_file() && stderr.contains("not checked"),
    );
    let dest = dir.join("nosha-strict");
    let (code, _, _) = install("tar-nosha", &dest, true)?;
    check(
        "tarball without sha256, strict: refused (exit 1), nothing written",
        code == 1 && empty(&dest),
    );
    let dest = dir.join("signed");
    let (code, _, _) = install("tar-signed", &dest, false)?;
    check(
        "tarball from a signed gallery: refused (exit 1), nothing written",
        code == 1 && empty(&dest),
    );
    drop(server);
    Ok(())
}

fn https_gallery(
    env: &Env,
    upstream: &Registry,
    tls: &Tls,
    check: &mut dyn FnMut(&str, bool),
) -> Result<(), String> {
    let dir = env.work.join("https-gallery");
    let site = dir.join("site");
    std::fs::create_dir_all(&site).map_err(|e| format!("mkdir: {e}"))?;
    let pusher = Pusher::new(upstream, "e2e/sources", None, None)?;
    let layer = gzip_tar(&[("bin/backend", b"signed backend")])?;
    env.runtime.block_on(async {
        let image = pusher
            .image_with_layers("v1", "amd64", &[(LAYER, &layer)])
            .await?;
        pusher.sign(&image, &env.sigstore).await
    })?;
    write(
        &site.join("index.yaml"),
        &format!(
            "- name: acme-backend\n  uri: {}/e2e/sources:v1\n  version: \"1\"\n",
            upstream.host
        ),
    )?;
    let server = TlsFileServer::start(&site, tls)?;
    let config = |ca: bool, scheme: &str| {
        let ca_line = if ca {
            format!(
                "  - host: {}\n    ca_file: {}\n",
                server.host,
                tls.ca.display()
            )
        } else {
            String::new()
        };
        format!(
            "trusted_root: {}\nregistries:\n  - host: {}\n    plain_http: true\n{ca_line}galleries:\n  - name: acme\n    url: {scheme}://{}/index.yaml\n{}",
            env.trusted_root.display(),
            upstream.host,
            server.host,
            policy()
        )
    };
    let good = dir.join("galleries.yaml");
    write(&good, &config(true, "https"))?;
    let good = good.display().to_string();
    let (code, out, _) = trustpull(env, &["list", "--galleries", &good])?;
    check(
        "https gallery with ca_file: list",
        code == 0 && out.contains("acme-backend"),
    );
    let dest = dir.join("backends");
    let dest_text = dest.display().to_string();
    let (code, _, _) = trustpull(
        env,
        &[
            "install",
            "acme-backend",
            "--galleries",
            &good,
            "--dest",
            &dest_text,
        ],
    )?;
    check(
        "https gallery with ca_file: install (verified)",
        code == 0 && dest.join("acme-backend/bin/backend").is_file(),
    );

    let no_ca = dir.join("no-ca.yaml");
    write(&no_ca, &config(false, "https"))?;
    let (code, _, _) = trustpull(env, &["list", "--galleries", &no_ca.display().to_string()])?;
    check(
        "https gallery without ca_file: unavailable (exit 3)",
        code == 3,
    );

    let plain = dir.join("plain.yaml");
    write(&plain, &config(true, "http"))?;
    let (code, _, _) = trustpull(env, &["list", "--galleries", &plain.display().to_string()])?;
    check(
        "http:// gallery on a host not listed plain_http: refused (exit 2)",
        code == 2,
    );
    drop(server);
    Ok(())
}

fn registry_mirror(
    env: &Env,
    upstream: &Registry,
    check: &mut dyn FnMut(&str, bool),
) -> Result<(), String> {
    let dir = env.work.join("mirror");
    let remote = format!("http://{}", upstream.host);
    let mirror = Registry::start(&dir.join("registry"), &Options::proxy(&remote))?;
    eprintln!(
        "e2e-sources: pull-through cache {} in front of {}",
        mirror.host, upstream.host
    );
    // LocalAI's real index, as vendored: llama-cpp (meta) → cpu-llama-cpp →
    // quay.io/go-skynet/local-ai-backends:latest-cpu-llama-cpp, pushed to the upstream.
    let pusher = Pusher::new(upstream, "go-skynet/local-ai-backends", None, None)?;
    let layer = gzip_tar(&[("run.sh", b"#!/bin/sh\necho llama-cpp\n")])?;
    env.runtime.block_on(async {
        let image = pusher
            .image_with_layers("latest-cpu-llama-cpp", "amd64", &[(LAYER, &layer)])
            .await?;
        pusher.sign(&image, &env.sigstore).await
    })?;
    let index: PathBuf =
        crate::util::root().join("crates/gallery/tests/fixtures/localai-backend-index.yaml");
    let config = dir.join("galleries.yaml");
    write(
        &config,
        &format!(
            "trusted_root: {}\nregistries:\n  - host: quay.io\n    mirrors: [{}]\n  - host: {}\n    plain_http: true\ngalleries:\n  - name: localai\n    url: {}\n{}",
            env.trusted_root.display(),
            mirror.host,
            mirror.host,
            index.display(),
            policy()
        ),
    )?;
    let dest = dir.join("backends");
    let (code, _, log) = trustpull(
        env,
        &[
            "install",
            "llama-cpp",
            "--galleries",
            &config.display().to_string(),
            "--dest",
            &dest.display().to_string(),
        ],
    )?;
    let receipt: serde_json::Value = std::fs::read(dest.join("cpu-llama-cpp.receipt.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    check(
        "meta llama-cpp from the real LocalAI index through a pull-through mirror of quay.io",
        code == 0
            && receipt["verified"] == serde_json::json!(true)
            && receipt["name"] == serde_json::json!("cpu-llama-cpp")
            && dest.join("cpu-llama-cpp/run.sh").is_file()
            && log.contains(&format!("served by {}, a mirror of quay.io", mirror.host)),
    );
    Ok(())
}
