//! The `trustpull pull` cases of `cargo xtask e2e` (issue 5), against Debian's
//! `docker-registry` (distribution 2.8, no referrers API: signatures are found through the
//! `sha256-<hex>` fallback tag) on 127.0.0.1.
//!
//! Cases: a signed image with the right identity installs (exit 0); the wrong identity is
//! refused (exit 1) and nothing is written; an unsigned image installs only through
//! `NoopVerifier` (in-process) and is refused by `trustpull pull` (exit 1); a layer blob
//! overwritten inside the registry's storage is refused (exit 1) with nothing written.
//!
//! `cargo xtask e2e` runs them on its plain-HTTP registry; `cargo xtask e2e-pull` is a thin
//! alias that starts one registry and runs only these.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use trustpull_policy::Digest;
use trustpull_testkit::sigstore::{VirtualSigstore, IDENTITY, ISSUER};

use crate::e2e::Env;
use crate::push::{gzip_tar, Pusher};
use crate::registry::{Options, Registry};
use crate::util;

use crate::push::LAYER;
const REPO: &str = "e2e/pull";

/// Entry point: `cargo xtask e2e-pull`, only the pull cases on a registry of their own.
pub fn run(args: &[String]) -> Result<(), String> {
    util::no_args("e2e-pull", args)?;
    let env = Env::prepare("cargo xtask e2e-pull")?;
    let registry = Registry::start(&env.work.join("registry"), &Options::default())?;
    let failures = run_cases(&env, &registry)?;
    util::verdict("e2e-pull", &failures)
}

/// Pushes a one-layer image tagged `tag` (one file, `app/content.txt`); when `sigstore` is
/// given, also its signature. Returns (manifest digest, layer digest).
async fn push_image(
    p: &Pusher,
    tag: &str,
    content: &[u8],
    sigstore: Option<&VirtualSigstore>,
) -> Result<(Digest, Digest), String> {
    let layer = gzip_tar(&[("app/content.txt", content)])?;
    let image = p
        .image_with_layers(tag, "amd64", &[(LAYER, &layer)])
        .await?;
    if let Some(sigstore) = sigstore {
        p.sign(&image, sigstore).await?;
    }
    Ok((image.digest, Digest::of(&layer)))
}

/// Runs `trustpull pull`; returns its exit code.
fn pull(bin: &Path, image: &str, dest: &Path, root: &Path, identity: &str) -> Result<i32, String> {
    let out = Command::new(bin)
        .args([
            "pull",
            image,
            "--plain-http",
            "--platform",
            "linux/amd64",
            "--dest",
        ])
        .arg(dest)
        .arg("--trusted-root")
        .arg(root)
        .args([
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            ISSUER,
        ])
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
    out.status
        .code()
        .ok_or_else(|| "trustpull was killed by a signal".to_owned())
}

/// Pushes the images and runs the pull cases against `registry` (plain HTTP); returns the
/// names of the cases that failed.
pub fn run_cases(env: &Env, registry: &Registry) -> Result<Vec<String>, String> {
    let (bin, root, runtime) = (&env.trustpull, &env.trusted_root, &env.runtime);
    let out = env.work.join("out");
    let push = Pusher::new(registry, REPO, None, None)?;
    let sigstore = Some(&env.sigstore);
    runtime.block_on(push_image(&push, "signed", b"signed content", sigstore))?;
    let (unsigned, _) =
        runtime.block_on(push_image(&push, "unsigned", b"unsigned content", None))?;
    let (_, tampered_layer) =
        runtime.block_on(push_image(&push, "tampered", b"tampered content", sigstore))?;
    let image = |tag: &str| format!("{}/{REPO}:{tag}", registry.host);

    let mut failures = Vec::new();
    let mut check = |name: &str, ok: bool| {
        eprintln!("e2e-pull: {} {name}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures.push(name.to_owned());
        }
    };
    let nothing_at = |dest: &Path| {
        !dest.exists()
            && std::fs::read_dir(&out)
                .map(|d| d.count() == 0)
                .unwrap_or(true)
    };

    let dest = out.join("signed");
    let code = pull(bin, &image("signed"), &dest, root, IDENTITY)?;
    check(
        "signed image, right identity: installed (exit 0)",
        code == 0
            && std::fs::read(dest.join("app/content.txt")).ok().as_deref()
                == Some(&b"signed content"[..]),
    );
    let _ = std::fs::remove_dir_all(&out);

    let dest = out.join("wrong");
    let code = pull(
        bin,
        &image("signed"),
        &dest,
        root,
        "https://github.com/evil/x/.github/workflows/r.yml@refs/heads/main",
    )?;
    check(
        "signed image, wrong identity: refused (exit 1), nothing written",
        code == 1 && nothing_at(&dest),
    );

    let dest = out.join("unsigned");
    let code = pull(bin, &image("unsigned"), &dest, root, IDENTITY)?;
    check(
        "unsigned image: refused by trustpull pull (exit 1), nothing written",
        code == 1 && nothing_at(&dest),
    );

    let installed = runtime.block_on(async {
        use trustpull_downloader::{Downloader, Platform};
        let client = trustpull_referrers::RegistryClient::builder()
            .plain_http_host(registry.host.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let downloader = Downloader::builder()
            .client(client)
            .verifier(Arc::new(trustpull_verifier::NoopVerifier::new(
                "e2e: unsigned on purpose",
            )))
            .platform(Platform::new("linux", "amd64"))
            .build()
            .map_err(|e| e.to_string())?;
        let dest = env.work.join("noop");
        let outcome = downloader
            .pull(
                &trustpull_downloader::ImageLocation::parse(&image("unsigned"))
                    .map_err(|e| e.to_string())?,
                &dest,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok::<bool, String>(
            outcome.digest == unsigned
                && matches!(
                    outcome.verification,
                    trustpull_verifier::Verification::Unverified { .. }
                )
                && std::fs::read(dest.join("app/content.txt")).ok().as_deref()
                    == Some(&b"unsigned content"[..]),
        )
    })?;
    check(
        "unsigned image with NoopVerifier: installed, reported unverified",
        installed,
    );

    // Overwrite the layer inside the registry's storage: same digest path, other bytes.
    let data = registry.blob_data(&tampered_layer);
    let mut bytes = std::fs::read(&data).map_err(|e| format!("read {}: {e}", data.display()))?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, bytes).map_err(|e| format!("write {}: {e}", data.display()))?;
    let dest = out.join("tampered");
    let code = pull(bin, &image("tampered"), &dest, root, IDENTITY)?;
    check(
        "layer overwritten in registry storage: refused (exit 1), nothing written",
        code == 1 && nothing_at(&dest),
    );

    Ok(failures)
}
