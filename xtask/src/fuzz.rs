//! `cargo xtask fuzz [--seconds N] [TARGET ...]`: builds the libFuzzer targets under `fuzz/`
//! with cargo-fuzz and runs each for N seconds (default 10: the smoke run `ci` does), starting
//! from a corpus seeded with the repository's fixtures. A crash fails the run and names the
//! input cargo-fuzz saved under `fuzz/artifacts/TARGET/`; turn it into a regression test.
//!
//! cargo-fuzz is installed (pinned) when missing. The targets need `-Z` flags: the nightly
//! toolchain when rustup has one, else the stable one with `RUSTC_BOOTSTRAP=1`. They are built
//! without a sanitizer (`-s none`): the workspace forbids `unsafe`, so AddressSanitizer would
//! only slow the search; panics, overflow checks and debug assertions are what the targets
//! catch, plus each target's own assertions.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util;

const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Each target and where its seeds come from (files, or every file in a directory whose name
/// ends with the suffix), relative to the workspace root.
const TARGETS: &[(&str, &[(&str, &str)])] = &[
    ("reference", &[]),
    ("manifest", &[("examples/demo-image/blobs/sha256", "")]),
    ("www_authenticate", &[]),
    (
        "bundle",
        &[
            (
                "tests/fixtures/scenarios/extension-mismatch",
                ".sigstore.json",
            ),
            (
                "tests/fixtures/scenarios/rfc3161-timestamp",
                ".sigstore.json",
            ),
            ("tests/fixtures/interop", ".sigstore.json"),
        ],
    ),
    ("gallery_config", &[("examples", "galleries.yaml")]),
    (
        "gallery_index",
        &[
            ("examples", "backends.yaml"),
            (
                "crates/gallery/tests/fixtures",
                "localai-backend-index.yaml",
            ),
        ],
    ),
    ("extract", &[("examples/demo-image/blobs/sha256", "")]),
    ("legacy", &[]),
    ("candidates", &[]),
    ("discovery", &[]),
];

/// Seeds written inline (text inputs with no fixture file).
fn inline_seeds(target: &str) -> &'static [&'static str] {
    match target {
        "reference" => &[
            "127.0.0.1:5000/acme/backend:v1",
            "quay.io/go-skynet/local-ai-backends@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "oci://localai/localai-backends:latest-cpu",
            "oci-layout:examples/demo-image:v1",
            "alpine",
        ],
        "candidates" => &[
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1,"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","annotations":{"org.opencontainers.image.created":"2026-01-01T00:00:00Z"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1,"annotations":{"org.opencontainers.image.created":"2099-01-01T00:00:00Z"}}]}"#,
        ],
        // The `discovery` target's registry (fuzz/fuzz_targets/discovery.rs, `Input`), in the
        // shapes real listings have: cosign 3's typed bundle referrer, an older cosign's
        // untyped entry (OCI empty artifactType, bundle layer), a legacy `.sig` referrer and an
        // SBOM on the referrers API; the tag fallback behind a token with a future date, a
        // wrong subject, a duplicate digest with a lying size, two layers with tampered bytes
        // and a redirect; three API pages under tight caps; an API that is not one, and a
        // bundle layer whose stated size lies each way.
        "discovery" => &[
            r#"{"api":{},"referrers":[{"artifact_type":"application/vnd.dev.sigstore.bundle.v0.3+json","created":"2026-05-01T10:00:00Z","manifest":{"artifact_type":"application/vnd.dev.sigstore.bundle.v0.3+json","layers":["application/vnd.dev.sigstore.bundle.v0.3+json"],"created":"2026-05-01T10:00:00Z"}},{"artifact_type":"application/vnd.oci.empty.v1+json","manifest":{"layers":["application/vnd.dev.sigstore.bundle+json;version=0.2"],"created":"2025-11-02T08:00:00Z"}},{"artifact_type":"application/vnd.dev.cosign.artifact.sig.v1+json","manifest":{"artifact_type":"application/vnd.dev.cosign.artifact.sig.v1+json","layers":["application/vnd.dev.cosign.simplesigning.v1+json"]}},{"artifact_type":"application/spdx+json","created":"2026-05-01T10:00:01Z","manifest":{"artifact_type":"application/spdx+json","layers":["application/spdx+json"]}}]}"#,
            r#"{"tag":{},"auth":true,"limits":{"untyped_fetches":3},"referrers":[{"created":"2099-01-01T00:00:00Z","manifest":{"layers":["application/vnd.dev.sigstore.bundle.v0.3+json"],"created":"2099-01-01T00:00:00Z"}},{"manifest":{"artifact_type":"application/vnd.dev.sigstore.bundle.v0.3+json","layers":["application/vnd.dev.sigstore.bundle.v0.3+json"],"subject":"other"}},{"same_as":0,"artifact_type":"application/vnd.dev.sigstore.bundle.v0.3+json","size":1},{"created":"yesterday","manifest":{"layers":["application/vnd.dev.sigstore.bundle.v0.3+json","application/vnd.dev.sigstore.bundle.v0.3+json"],"tamper":true}},{"artifact_type":" ","manifest":{"artifact_type":"application/vnd.dev.sigstore.bundle.v0.2+json","redirect":true,"created":"2026-01-01T00:00:00Z"}}]}"#,
            r#"{"api":{"pages":3},"limits":{"candidates":2,"pages":2,"retries":1},"referrers":[{"page":0,"manifest":{"layers":["application/vnd.dev.sigstore.bundle.v0.3+json"]}},{"page":1,"artifact_type":"application/vnd.dev.sigstore.bundle.v0.3+json","created":"2026-02-01T00:00:00Z"},{"page":1,"manifest":{"layers":["application/vnd.dev.sigstore.bundle.v0.3+json"],"created":"2026-03-01T00:00:00Z"}},{"page":2,"artifact_type":"application/vnd.dev.sigstore.bundle.v0.3+json"}]}"#,
            r#"{"api":{"content_type":"application/json"},"tag":{},"referrers":[{"artifact_type":"","manifest":{"status":404}},{"manifest":{"raw":"not json"}},{"artifact_type":"application/vnd.dev.sigstore.bundle.v0.3+json","manifest":{"layers":["application/vnd.dev.sigstore.bundle.v0.3+json"],"layer_size":4}},{"artifact_type":"application/vnd.dev.sigstore.bundle.v0.3+json","manifest":{"layers":["application/vnd.dev.sigstore.bundle+json;version=0.3"],"layer_size":4096}}]}"#,
        ],
        "www_authenticate" => &[
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:acme/b:pull""#,
            r#"Bearer realm="http://127.0.0.1:5000/token",service="r""#,
            r#"Basic realm="Registry Realm""#,
        ],
        _ => &[],
    }
}

/// Runs the command.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut seconds: u64 = 10;
    let mut chosen: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds needs a whole number")?;
            }
            name => match TARGETS.iter().find(|(t, _)| *t == name) {
                Some((t, _)) => chosen.push(t),
                None => {
                    return Err(format!(
                        "unknown fuzz target {name:?}; targets: {}",
                        TARGETS
                            .iter()
                            .map(|(t, _)| *t)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            },
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.iter().map(|(t, _)| *t).collect();
    }
    ensure_cargo_fuzz()?;
    util::run(cargo_fuzz().args(["build", "-s", "none"]))?;
    let mut failures = Vec::new();
    for target in chosen {
        let corpus = seed_corpus(target)?;
        let result = util::run(cargo_fuzz().args([
            "run",
            "-s",
            "none",
            target,
            &corpus.display().to_string(),
            "--",
            &format!("-max_total_time={seconds}"),
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
        ]));
        if let Err(e) = result {
            failures.push(format!(
                "{target}: {e} (the input is under fuzz/artifacts/{target}/)"
            ));
        }
    }
    util::verdict("fuzz", &failures)
}

/// `cargo fuzz` in `fuzz/`, with a toolchain that accepts `-Z` flags.
fn cargo_fuzz() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(util::root().join("fuzz"));
    // The fuzz workspace has its own target directory, whatever the caller's is.
    cmd.env_remove("CARGO_TARGET_DIR");
    if has_nightly() {
        cmd.arg("+nightly");
    } else {
        cmd.env("RUSTC_BOOTSTRAP", "1");
    }
    cmd.arg("fuzz");
    cmd
}

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    util::run(Command::new("cargo").args([
        "install",
        "--locked",
        "cargo-fuzz",
        "--version",
        CARGO_FUZZ_VERSION,
    ]))
}

/// `target/fuzz-corpus/TARGET`, holding what earlier runs found plus the seeds.
fn seed_corpus(target: &str) -> Result<PathBuf, String> {
    let dir = util::target_dir().join("fuzz-corpus").join(target);
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        fs::write(&path, bytes).map_err(|e| format!("write {}: {e}", path.display()))
    };
    if target == "legacy" {
        write("seed-legacy-signature", &legacy_seed()?)?;
    }
    for (i, seed) in inline_seeds(target).iter().enumerate() {
        write(&format!("seed-inline-{i}"), seed.as_bytes())?;
    }
    let sources = TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .map_or(&[][..], |(_, s)| *s);
    for (folder, suffix) in sources {
        for path in files_in(&util::root().join(folder), suffix)? {
            let bytes = fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
            // The extractor's input starts with a byte that says where to split it into two
            // layers: 255 keeps the fixture whole as one layer.
            let bytes = if target == "extract" {
                [&[255u8][..], &bytes].concat()
            } else {
                bytes
            };
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            write(&format!("seed-{name}"), &bytes)?;
        }
    }
    Ok(dir)
}

fn files_in(folder: &Path, suffix: &str) -> Result<Vec<PathBuf>, String> {
    let entries =
        fs::read_dir(folder).map_err(|e| format!("read seeds from {}: {e}", folder.display()))?;
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    Ok(out)
}

/// A legacy signature that passes the `legacy` target's checks: signed by the scenarios'
/// virtual Sigstore (the root the target embeds) for the digest the target names.
fn legacy_seed() -> Result<Vec<u8>, String> {
    use trustpull_testkit::sigstore::{SignRequest, VirtualSigstore};
    // The same digest as fuzz/fuzz_targets/legacy.rs.
    let digest = "sha256:b22c7289dd3b4785a3795c90e15d16bd66bd29b444b8974fe29ed0443ce50405"
        .parse()
        .map_err(|e| format!("seed digest: {e}"))?;
    let sigstore = VirtualSigstore::from_seed(trustpull_testkit::scenarios::SEED);
    let signature = sigstore.sign_legacy(&SignRequest::message(digest));
    serde_json::to_vec(&serde_json::json!({
        "payload": String::from_utf8_lossy(&signature.payload),
        "annotations": signature.annotations,
    }))
    .map_err(|e| format!("seed: {e}"))
}

#[cfg(test)]
mod tests {
    /// The `legacy` target's seed passes verification against the root the target embeds, so
    /// the fuzzer starts from a signature that reaches every check.
    #[test]
    fn the_legacy_seed_verifies_against_the_targets_root() {
        let seed: serde_json::Value =
            serde_json::from_slice(&super::legacy_seed().expect("seed")).expect("JSON");
        let payload = seed["payload"]
            .as_str()
            .expect("payload")
            .as_bytes()
            .to_vec();
        let annotations = seed["annotations"]
            .as_object()
            .expect("annotations")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned()))
            .collect();
        let root = trustpull_verifier::TrustRoot::from_file(
            &crate::util::root().join("tests/fixtures/scenarios/trusted_root.json"),
        )
        .expect("root");
        let policy = trustpull_testkit::sigstore::default_policy();
        let digest = "sha256:b22c7289dd3b4785a3795c90e15d16bd66bd29b444b8974fe29ed0443ce50405"
            .parse()
            .expect("digest");
        let signature = trustpull_verifier::LegacySignature {
            payload,
            annotations,
        };
        trustpull_verifier::verify_legacy(&signature, &digest, &policy, &root)
            .expect("the seed verifies");
    }
}
