//! The gallery cases of `cargo xtask e2e` (issue 10): `trustpull install`, `list --installed`,
//! `upgrade` and `uninstall` against Debian's `docker-registry` on 127.0.0.1, through an
//! operator config with a signed gallery whose index names the registry.
//!
//! Cases: install by a meta name (exit 0, the receipt names the meta); `upgrade` while the tag
//! is unchanged is `current`; a new signed digest pushed under the tag is upgraded (exit 0,
//! the new content on disk); an unsigned digest pushed under the tag is refused (exit 1) and
//! the old tree stays as it was; `list --installed --galleries` shows it; `uninstall` by the
//! alias removes tree and receipt; uninstalling again exits 2.
//!
//! `cargo xtask e2e` runs them on its plain-HTTP registry; `cargo xtask e2e-gallery` starts
//! one registry and runs only these.

use std::path::Path;
use std::process::{Command, Output};

use trustpull_testkit::sigstore::{IDENTITY, ISSUER};

use crate::e2e::Env;
use crate::push::{gzip_tar, Pusher};
use crate::registry::{Options, Registry};
use crate::util;

use crate::push::LAYER;
const REPO: &str = "e2e/gallery";

/// Entry point: `cargo xtask e2e-gallery`, only the gallery cases on a registry of their own.
pub fn run(args: &[String]) -> Result<(), String> {
    util::no_args("e2e-gallery", args)?;
    let env = Env::prepare("cargo xtask e2e-gallery")?;
    let registry = Registry::start(&env.work.join("registry"), &Options::default())?;
    let failures = run_cases(&env, &registry)?;
    util::verdict("e2e-gallery", &failures)
}

/// Pushes a one-layer image under `latest` (the file `bin/run` holding `content`), signed or not.
async fn push(p: &Pusher, content: &[u8], env: &Env, signed: bool) -> Result<String, String> {
    let layer = gzip_tar(&[("bin/run", content)])?;
    let image = p
        .image_with_layers("latest", "amd64", &[(LAYER, &layer)])
        .await?;
    if signed {
        p.sign(&image, &env.sigstore).await?;
    }
    Ok(image.digest.to_string())
}

fn trustpull(bin: &Path, args: &[&str]) -> Result<Output, String> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        eprintln!(
            "    stderr: {}",
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', "\n            ")
        );
    }
    Ok(out)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Pushes the images and runs the gallery cases against `registry` (plain HTTP); returns the
/// names of the cases that failed.
pub fn run_cases(env: &Env, registry: &Registry) -> Result<Vec<String>, String> {
    let (bin, runtime) = (&env.trustpull, &env.runtime);
    let dir = env.work.join("gallery");
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("write {name}: {e}"))
    };
    write(
        "index.yaml",
        format!(
            "- name: app\n  alias: app\n  capabilities: {{default: cpu-app}}\n\
             - name: cpu-app\n  alias: app\n  uri: {}/{REPO}:latest\n",
            registry.host
        ),
    )?;
    write(
        "galleries.yaml",
        format!(
            "trusted_root: {}\nregistries:\n  - host: {}\n    plain_http: true\ngalleries:\n  - name: e2e\n    url: ./index.yaml\n    verification:\n      issuer: {ISSUER}\n      identity: {IDENTITY}\n",
            env.trusted_root.display(),
            registry.host
        ),
    )?;
    let config = dir.join("galleries.yaml");
    let config = config.to_str().ok_or("temp path is not UTF-8")?;
    let dest = dir.join("backends");
    let dest_s = dest.to_str().ok_or("temp path is not UTF-8")?;
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        if args.first() != Some(&"uninstall") {
            all.extend(["--galleries", config]);
        }
        all.extend(["--dest", dest_s, "--platform", "linux/amd64"]);
        if matches!(args.first(), Some(&"uninstall") | Some(&"list")) {
            all.truncate(all.len() - 2);
        }
        trustpull(bin, &all)
    };
    let content = || std::fs::read(dest.join("cpu-app/bin/run")).ok();

    let push_to = Pusher::new(registry, REPO, None, None)?;
    let v1 = runtime.block_on(push(&push_to, b"app v1", env, true))?;

    let mut failures = Vec::new();
    let mut check = |name: &str, ok: bool| {
        eprintln!("e2e-gallery: {} {name}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures.push(name.to_owned());
        }
    };

    let out = run(&["install", "app", "--output", "json"])?;
    let doc = json(&out);
    check(
        "install by meta name: the concrete entry installed and the meta recorded (exit 0)",
        out.status.code() == Some(0)
            && doc["name"] == "cpu-app"
            && doc["meta"] == "app"
            && doc["digest"] == v1.as_str()
            && content().as_deref() == Some(&b"app v1"[..]),
    );

    let out = run(&["upgrade", "--output", "json"])?;
    check(
        "upgrade, tag unchanged: current (exit 0)",
        out.status.code() == Some(0) && json(&out)["backends"][0]["status"] == "current",
    );

    let v2 = runtime.block_on(push(&push_to, b"app v2", env, true))?;
    let out = run(&["upgrade", "app", "--output", "json"])?;
    let doc = json(&out);
    check(
        "upgrade to a new signed digest: upgraded (exit 0), new content",
        out.status.code() == Some(0)
            && doc["backends"][0]["status"] == "upgraded"
            && doc["backends"][0]["from"] == v1.as_str()
            && doc["backends"][0]["to"] == v2.as_str()
            && content().as_deref() == Some(&b"app v2"[..]),
    );

    let receipt = std::fs::read(dest.join("cpu-app.receipt.json")).ok();
    runtime.block_on(push(&push_to, b"app v3 unsigned", env, false))?;
    let out = run(&["upgrade", "--output", "json"])?;
    check(
        "upgrade to an unsigned digest: rejected (exit 1), old tree and receipt kept",
        out.status.code() == Some(1)
            && json(&out)["backends"][0]["status"] == "rejected"
            && content().as_deref() == Some(&b"app v2"[..])
            && std::fs::read(dest.join("cpu-app.receipt.json")).ok() == receipt,
    );

    let out = run(&["list", "--installed", "--output", "json"])?;
    let doc = json(&out);
    check(
        "list --installed --galleries: the backend, its meta and alias, upgradable (the unsigned digest)",
        out.status.code() == Some(0)
            && doc["backends"][0]["name"] == "cpu-app"
            && doc["backends"][0]["meta"] == "app"
            && doc["backends"][0]["alias"] == "app"
            && doc["backends"][0]["digest"] == v2.as_str()
            && doc["backends"][0]["upgradable"] == true,
    );

    let out = run(&["uninstall", "app"])?;
    let empty = std::fs::read_dir(&dest)
        .map(|d| d.count() == 0)
        .unwrap_or(false);
    check(
        "uninstall by alias: tree and receipt removed (exit 0)",
        out.status.code() == Some(0) && empty,
    );
    let out = run(&["uninstall", "app"])?;
    check(
        "uninstall again: not installed (exit 2)",
        out.status.code() == Some(2),
    );
    Ok(failures)
}
