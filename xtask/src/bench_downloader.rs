//! The downloader section of `cargo xtask bench`:
//!
//! - verified vs unverified install of a 100 MB image from an OCI layout (wall ratio, target
//!   ≤ 1.05): the same release binary, `CosignVerifier` (virtual-Sigstore bundle stored as a
//!   referrer in the layout) vs `NoopVerifier`;
//! - peak RSS installing 64 MB / 256 MB / 1 GiB images (target ≤ 64 MiB, flat), measured with
//!   GNU time's maximum resident set size;
//! - install from Debian's `docker-registry` on 127.0.0.1 vs `skopeo copy docker://… dir:` from
//!   the same registry (target ≤ 0.9) and vs `skopeo copy docker://… oci:` + `umoci unpack`
//!   (target ≤ 0.6), 100 MB and 1 GiB, with each one's peak RSS.
//!
//! GNU time, skopeo, umoci and docker-registry are installed with apt-get when missing and running as
//! root; otherwise the exact apt-get command is printed and the bench fails.
//!
//! `bench-internal pull` prints a timeline of the pull's phases on stderr, and honours
//! `TRUSTPULL_BENCH_CONCURRENCY` (layer download concurrency) for experiments.
//!
//! Images are generated, not downloaded: 4 gzip layers of 8 MiB pseudo-random files. The
//! measured work runs in `target/release/xtask bench-internal …` so numbers are those of an
//! optimized build; this module only drives it and prints the table.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use sha2::{Digest as _, Sha256};
use trustpull_policy::{Digest, PolicySpec, TrustPolicy};
use trustpull_testkit::sigstore::{SignRequest, VirtualSigstore, IDENTITY, ISSUER};

use crate::install::{self, Needed};
use crate::registry::{self, Options, Registry};
use crate::{bench_process, util};

const MIB: u64 = 1024 * 1024;
const RUNS: usize = 7;

// ---------------------------------------------------------------------------------------------
// driver (debug xtask)

/// Runs the downloader benchmarks and prints a markdown table.
pub fn run() -> Result<(), String> {
    ensure_installed()?;
    util::run(util::cargo().args(["build", "--release", "--quiet", "-p", "xtask"]))?;
    let bin = util::built_binary("release", "xtask");
    let work = tempfile::Builder::new()
        .prefix("trustpull-bench-")
        .tempdir_in(std::env::temp_dir())
        .map_err(|e| format!("temp dir: {e}"))?;
    let mut rows = Vec::new();
    let load_before = bench_process::load();

    // Verified vs unverified, 100 MB.
    let img = work.path().join("img-100");
    internal(&bin, &["gen", &img.display().to_string(), "100"])?;
    let (mut verified, mut unverified) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        verified.push(pull(&bin, &img, work.path(), "verified", &[])?);
        unverified.push(pull(&bin, &img, work.path(), "unverified", &[])?);
    }
    let (v, u) = (
        median(&verified, |r| r.wall),
        median(&unverified, |r| r.wall),
    );
    rows.push(format!(
        "| verified vs unverified install, 100 MB layout image (median of {RUNS}) | {:.0} ms vs {:.0} ms = **{:.3}×** | ≤ 1.05 |",
        v * 1e3,
        u * 1e3,
        v / u
    ));

    // Peak RSS by image size.
    let mut rss = Vec::new();
    for size in [64u64, 256, 1024] {
        let img = work.path().join(format!("img-{size}"));
        if size != 100 {
            internal(
                &bin,
                &["gen", &img.display().to_string(), &size.to_string()],
            )?;
        }
        let r = pull(&bin, &img, work.path(), "verified", &[])?;
        rss.push(format!(
            "{size} MB: {:.1} MiB ({:.1} s)",
            r.max_rss_kib as f64 / 1024.0,
            r.wall
        ));
        let _ = std::fs::remove_dir_all(&img);
    }
    rows.push(format!(
        "| peak RSS, verified install from a layout | {} | ≤ 64 MiB, flat |",
        rss.join("; ")
    ));

    // Registry: trustpull vs skopeo.
    match registry_comparison(&bin, work.path()) {
        Ok(more) => rows.extend(more),
        Err(e) => rows.push(format!(
            "| install vs `skopeo copy` (+ `umoci unpack`) | not measured: {e} | ≤ 0.9 (≤ 0.6) |"
        )),
    }

    println!("\n### Downloader (`cargo xtask bench`, downloader section)\n");
    println!(
        "load average {load_before} before, {} after\n",
        bench_process::load()
    );
    println!("| what | measured | target |\n|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// GNU time (peak RSS), skopeo, umoci and docker-registry (the registry comparison): installed with
/// apt-get when missing and root; otherwise the apt-get command is printed and this fails.
fn ensure_installed() -> Result<(), String> {
    install::ensure(
        "cargo xtask bench",
        &[
            Needed {
                program: "/usr/bin/time",
                package: "time",
            },
            Needed {
                program: "skopeo",
                package: "skopeo",
            },
            Needed {
                program: "umoci",
                package: "umoci",
            },
        ],
    )?;
    registry::ensure_installed("cargo xtask bench")
}

struct Run {
    wall: f64,
    max_rss_kib: u64,
}

fn median(runs: &[Run], key: impl Fn(&Run) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(key).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn internal(bin: &Path, args: &[&str]) -> Result<(), String> {
    util::run(Command::new(bin).arg("bench-internal").args(args))
}

/// Runs one pull under GNU time; the wall time is the whole process, startup included.
fn pull(bin: &Path, img: &Path, work: &Path, mode: &str, extra: &[&str]) -> Result<Run, String> {
    let dest = work.join("dest");
    let _ = std::fs::remove_dir_all(&dest);
    let source = format!("oci-layout:{}:v1", img.join("layout").display());
    let root = img.join("trusted_root.json");
    let started = Instant::now();
    run_timed(bin, &source, &dest, mode, &root, extra).map(|max_rss_kib| Run {
        wall: started.elapsed().as_secs_f64(),
        max_rss_kib,
    })
}

fn run_timed(
    bin: &Path,
    source: &str,
    dest: &Path,
    mode: &str,
    root: &Path,
    extra: &[&str],
) -> Result<u64, String> {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kb=%M"])
        .arg(bin)
        .args(["bench-internal", "pull", source])
        .arg(dest)
        .arg(mode)
        .arg(root)
        .args(extra)
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("bench pull of {source} failed: {stderr}"));
    }
    let _ = std::fs::remove_dir_all(dest);
    stderr
        .lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("maxrss_kb=")
                .and_then(|v| v.trim().parse().ok())
        })
        .ok_or_else(|| format!("no maxrss in GNU time output: {stderr}"))
}

/// Install from `docker-registry` on 127.0.0.1 against `skopeo copy … dir:` alone (download
/// only) and against `skopeo copy … oci:` + `umoci unpack --rootless` (download + extract, the
/// nearest tool pair doing an install's work), at 100 MB and 1 GiB; each command under GNU time
/// for its peak RSS. Rounds interleave the three. trustpull runs unverified here (the registry
/// copy carries no signature; verified vs unverified is the 1.0× row above).
fn registry_comparison(bin: &Path, work: &Path) -> Result<Vec<String>, String> {
    let registry = Registry::start(&work.join("registry"), &Options::default())?;
    let umoci = Command::new("umoci").arg("--version").output().is_ok();
    let mut rows = Vec::new();
    for (size, runs) in [(100u64, RUNS), (1024, 5)] {
        let img = work.join(format!("img-{size}"));
        if !img.join("layout").exists() {
            internal(bin, &["gen", &img.display().to_string(), &size.to_string()])?;
        }
        let target = format!("{}/bench/app{size}:v1", registry.host);
        util::run(
            Command::new("skopeo")
                .args(["copy", "--quiet", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:v1", img.join("layout").display()))
                .arg(format!("docker://{target}")),
        )?;
        let (mut ours, mut alone, mut pair) = (Vec::new(), Vec::new(), Vec::new());
        let dest = work.join("dest");
        let dir = work.join("skopeo-dir");
        let oci = work.join("skopeo-oci");
        let unpacked = work.join("umoci-bundle");
        let root = img.join("trusted_root.json");
        for _ in 0..runs {
            let _ = std::fs::remove_dir_all(&dir);
            alone.push(timed(
                Command::new("skopeo")
                    .args(["copy", "--quiet", "--src-tls-verify=false"])
                    .arg(format!("docker://{target}"))
                    .arg(format!("dir:{}", dir.display())),
            )?);
            let _ = std::fs::remove_dir_all(&dir);
            if umoci {
                let _ = std::fs::remove_dir_all(&oci);
                let _ = std::fs::remove_dir_all(&unpacked);
                let copy = timed(
                    Command::new("skopeo")
                        .args(["copy", "--quiet", "--src-tls-verify=false"])
                        .arg(format!("docker://{target}"))
                        .arg(format!("oci:{}:v1", oci.display())),
                )?;
                let unpack = timed(
                    Command::new("umoci")
                        .args(["unpack", "--rootless", "--image"])
                        .arg(format!("{}:v1", oci.display()))
                        .arg(&unpacked),
                )?;
                pair.push(Run {
                    wall: copy.wall + unpack.wall,
                    max_rss_kib: copy.max_rss_kib.max(unpack.max_rss_kib),
                });
                let _ = std::fs::remove_dir_all(&oci);
                let _ = std::fs::remove_dir_all(&unpacked);
            }
            let started = Instant::now();
            let max_rss_kib =
                run_timed(bin, &target, &dest, "unverified", &root, &["--plain-http"])?;
            ours.push(Run {
                wall: started.elapsed().as_secs_f64(),
                max_rss_kib,
            });
        }
        let rss = |v: &[Run]| median(v, |r| r.max_rss_kib as f64) / 1024.0;
        let (o, a) = (median(&ours, |r| r.wall), median(&alone, |r| r.wall));
        rows.push(format!(
            "| install (download + digests + extract, unverified) vs `skopeo copy docker://… dir:` (download only), {size} MB, docker-registry on 127.0.0.1 (median of {runs}) | {:.0} ms vs {:.0} ms = **{:.2}×** | ≤ 0.9 |",
            o * 1e3, a * 1e3, o / a
        ));
        if umoci {
            let p = median(&pair, |r| r.wall);
            rows.push(format!(
                "| install vs `skopeo copy docker://… oci:` + `umoci unpack --rootless`, {size} MB (median of {runs}) | {:.0} ms vs {:.0} ms = **{:.2}×** | ≤ 0.6 |",
                o * 1e3, p * 1e3, o / p
            ));
            rows.push(format!(
                "| peak RSS, {size} MB: trustpull / skopeo alone / skopeo + umoci (max of the two) | {:.1} / {:.1} / {:.1} MiB | |",
                rss(&ours), rss(&alone), rss(&pair)
            ));
        } else {
            rows.push(format!(
                "| install vs `skopeo copy` + `umoci unpack`, {size} MB | not measured: umoci is not installed (apt-get install umoci) | ≤ 0.6 |"
            ));
            rows.push(format!(
                "| peak RSS, {size} MB: trustpull / skopeo alone | {:.1} / {:.1} MiB | |",
                rss(&ours),
                rss(&alone)
            ));
        }
        let _ = std::fs::remove_dir_all(&img);
    }
    drop(registry);
    Ok(rows)
}

/// Runs `cmd` under GNU time: wall time and peak RSS; an unsuccessful exit is an error.
fn timed(cmd: &mut Command) -> Result<Run, String> {
    let shown = format!("{cmd:?}");
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .args(["-f", "maxrss_kb=%M"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let started = Instant::now();
    let out = wrapped
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time: {e}"))?;
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{shown} failed: {stderr}"));
    }
    let max_rss_kib = stderr
        .lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("maxrss_kb=")
                .and_then(|v| v.trim().parse().ok())
        })
        .ok_or_else(|| format!("no maxrss in GNU time output: {stderr}"))?;
    Ok(Run { wall, max_rss_kib })
}

// ---------------------------------------------------------------------------------------------
// internal commands (release xtask)

/// `bench-internal gen DIR SIZE_MB` | `bench-internal pull SOURCE DEST verified|unverified ROOT [--plain-http]`.
pub fn run_internal(args: &[String]) -> Result<(), String> {
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["gen", dir, size] => {
            let size: u64 = size.parse().map_err(|e| format!("size {size:?}: {e}"))?;
            generate(Path::new(dir), size * 1000 * 1000)
        }
        ["pull", source, dest, mode, root, rest @ ..] => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("runtime: {e}"))?;
            runtime.block_on(pull_in_process(source, Path::new(dest), *mode == "verified", Path::new(root), rest.contains(&"--plain-http")))
        }
        _ => Err("usage: bench-internal gen DIR SIZE_MB | pull SOURCE DEST verified|unverified ROOT [--plain-http]".into()),
    }
}

async fn pull_in_process(
    source: &str,
    dest: &Path,
    verified: bool,
    root: &Path,
    plain_http: bool,
) -> Result<(), String> {
    use trustpull_downloader::{Downloader, ImageLocation, Platform};
    use trustpull_verifier::{CosignVerifier, ImageVerifier, NoopVerifier, TrustRoot};
    let verifier: Arc<dyn ImageVerifier> = if verified {
        let root = TrustRoot::from_file(root).map_err(|e| e.to_string())?;
        let policy = TrustPolicy::new(PolicySpec {
            issuer: Some(ISSUER.into()),
            identity: Some(IDENTITY.into()),
            ..PolicySpec::default()
        })
        .map_err(|e| e.to_string())?;
        Arc::new(CosignVerifier::new(Arc::new(policy), Arc::new(root)))
    } else {
        Arc::new(NoopVerifier::new("benchmark"))
    };
    let timeline = Arc::new(Timeline {
        start: Instant::now(),
        marks: std::sync::Mutex::new(Vec::new()),
    });
    let mut builder = Downloader::builder()
        .verifier(verifier)
        .platform(Platform::new("linux", "amd64"))
        .progress(timeline.clone());
    if let Ok(n) = std::env::var("TRUSTPULL_BENCH_CONCURRENCY")
        .unwrap_or_default()
        .parse::<usize>()
    {
        builder = builder.concurrency(n);
    }
    if plain_http {
        let host = source.split('/').next().unwrap_or_default();
        let client = trustpull_referrers::RegistryClient::builder()
            .plain_http_host(host)
            .build()
            .map_err(|e| e.to_string())?;
        builder = builder.client(client);
    }
    let downloader = builder.build().map_err(|e| e.to_string())?;
    let outcome = downloader
        .pull(
            &ImageLocation::parse(source).map_err(|e| e.to_string())?,
            dest,
        )
        .await
        .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
    if let Ok(marks) = timeline.marks.lock() {
        // One line on stderr: when each phase happened, for looking into the wall times.
        eprintln!("timeline: {}", marks.join(" "));
    }
    if verified
        && !matches!(
            outcome.verification,
            trustpull_verifier::Verification::Verified(_)
        )
    {
        return Err("the verified pull was not verified".into());
    }
    Ok(())
}

/// Records when each phase of a pull happened (milliseconds since the pull started).
#[derive(Debug)]
struct Timeline {
    start: Instant,
    marks: std::sync::Mutex<Vec<String>>,
}

impl trustpull_downloader::ProgressObserver for Timeline {
    fn on_event(&self, event: &trustpull_downloader::ProgressEvent) {
        use trustpull_downloader::ProgressEvent as E;
        let what = match event {
            E::Resolved { .. } => "resolved".to_owned(),
            E::Verified { .. } | E::Unverified { .. } => "verified".to_owned(),
            E::LayerFinished { digest } => format!("fetched:{}", &digest.hex()[..6]),
            E::Extracting { index, .. } => format!("extract{index}"),
            E::Done { .. } => "done".to_owned(),
            _ => return,
        };
        if let Ok(mut marks) = self.marks.lock() {
            marks.push(format!("{what}@{}", self.start.elapsed().as_millis()));
        }
    }
}

/// Hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn put(layout: &Path, bytes: &[u8]) -> Result<serde_json::Value, String> {
    let d = Digest::of(bytes);
    std::fs::write(layout.join("blobs/sha256").join(d.hex()), bytes)
        .map_err(|e| format!("write blob: {e}"))?;
    Ok(json!({"digest": d, "size": bytes.len()}))
}

/// A layer of `bytes` of pseudo-random 8 MiB files, gzip level 1, streamed to its blob file.
fn layer(layout: &Path, index: u64, bytes: u64) -> Result<(serde_json::Value, Digest), String> {
    let tmp = layout.join(format!("layer-{index}.tmp"));
    let file = std::fs::File::create(&tmp).map_err(|e| format!("create layer: {e}"))?;
    let compressed = Hashing {
        inner: io::BufWriter::new(file),
        hash: Sha256::new(),
        len: 0,
    };
    let gz = flate2::write::GzEncoder::new(compressed, flate2::Compression::fast());
    let mut tar = tar::Builder::new(Hashing {
        inner: gz,
        hash: Sha256::new(),
        len: 0,
    });
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ index.wrapping_mul(0xA24B_AED4_963E_E407);
    let mut remaining = bytes;
    let mut n = 0;
    let mut buf = vec![0u8; (8 * MIB) as usize];
    while remaining > 0 {
        let size = remaining.min(8 * MIB) as usize;
        for chunk in buf[..size].chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let b = state.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(size as u64);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(
            &mut header,
            format!("data/layer{index}/file{n:04}.bin"),
            &buf[..size],
        )
        .map_err(|e| format!("tar: {e}"))?;
        remaining -= size as u64;
        n += 1;
    }
    let tar_hash = tar.into_inner().map_err(|e| format!("tar: {e}"))?;
    let diff_id = Digest::from_sha256(tar_hash.hash.finalize().into());
    let mut compressed = tar_hash.inner.finish().map_err(|e| format!("gzip: {e}"))?;
    compressed.flush().map_err(|e| format!("flush: {e}"))?;
    let d = Digest::from_sha256(compressed.hash.finalize().into());
    std::fs::rename(&tmp, layout.join("blobs/sha256").join(d.hex()))
        .map_err(|e| format!("rename layer: {e}"))?;
    Ok((
        json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": compressed.len}),
        diff_id,
    ))
}

/// Writes `DIR/layout` (an OCI layout with a signed image of about `bytes`, tagged v1) and
/// `DIR/trusted_root.json`.
fn generate(dir: &Path, bytes: u64) -> Result<(), String> {
    let layout: PathBuf = dir.join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256"))
        .map_err(|e| format!("create {}: {e}", layout.display()))?;
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(|e| format!("oci-layout: {e}"))?;
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..4 {
        let (desc, diff) = layer(&layout, i, bytes / 4)?;
        layers.push(desc);
        diff_ids.push(diff);
    }
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}))
        .map_err(|e| e.to_string())?;
    let mut config_desc = put(&layout, &config)?;
    config_desc["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc, "layers": layers,
    }))
    .map_err(|e| e.to_string())?;
    let mut manifest_desc = put(&layout, &manifest)?;
    manifest_desc["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");

    let sigstore = VirtualSigstore::new();
    let bundle = sigstore.sign(&SignRequest::dsse(Digest::of(&manifest)));
    let bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let mut bundle_desc = put(&layout, &bundle)?;
    bundle_desc["mediaType"] = json!(bundle_type);
    let mut empty = put(&layout, b"{}")?;
    empty["mediaType"] = json!("application/vnd.oci.empty.v1+json");
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": bundle_type, "config": empty, "layers": [bundle_desc], "subject": manifest_desc,
    }))
    .map_err(|e| e.to_string())?;
    let mut referrer_desc = put(&layout, &referrer)?;
    referrer_desc["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
    referrer_desc["artifactType"] = json!(bundle_type);
    let mut tagged = manifest_desc.clone();
    tagged["annotations"] = json!({"org.opencontainers.image.ref.name": "v1"});
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [tagged, referrer_desc]});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("index.json: {e}"))?;
    std::fs::write(dir.join("trusted_root.json"), sigstore.trusted_root_json())
        .map_err(|e| format!("trusted_root.json: {e}"))?;
    Ok(())
}
