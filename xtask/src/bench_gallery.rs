//! `cargo xtask bench gallery`: a gallery at fleet scale, in-process
//! through `trustpull_gallery::Installer`, against Debian's `docker-registry` on 127.0.0.1.
//!
//! 1. **200 backends from one gallery.** 200 small signed images (one repository, 200 tags,
//!    signatures as cosign 3 writes them on a registry without a referrers API) and a gallery
//!    index naming them. ONE `Installer` with a caller-owned `RegistryClient`, one
//!    `Arc<TrustRoot>` (the bench's only `TrustRoot::from_file` call), a `VerificationCache`
//!    and a `VerifierFactory` that builds the decision table's `CosignVerifier` with a timing,
//!    counting wrapper under the cache (inner: real verifications) and one above it (every call
//!    the downloader makes). Phases: install all 200 (one after another, as an operator's loop
//!    does), `upgrade(.., dry_run = true)`, then `verify_installed` twice on a second installer
//!    that shares the client and the trust root but starts with an empty cache (a new
//!    process): the first pass verifies, the second is served by the cache.
//!    Registry traffic is counted by a counting TCP proxy in front of the registry (the gallery
//!    names the proxy's address): connections accepted and HTTP requests per phase.
//! 2. **Fleet.** N clients (8, then 32), each with its own `Installer` (own client, own trust
//!    root loaded from the config, own destination) install the same backend at once through
//!    one pull-through mirror (a second `docker-registry` in proxy mode, fresh for each N)
//!    whose upstream is the first registry behind another counting proxy. The index names an
//!    unreachable upstream host (`upstream.invalid`), so only the mirror can serve; the
//!    upstream's blob GETs are counted per blob digest. A second round of N on the same mirror
//!    shows the warm cache. distribution 2.8's proxy (`registry/proxy/proxyblobstore.go`)
//!    streams every cache miss from the upstream and stores the blob with a second upstream
//!    fetch; its `inflight` set only keeps concurrent misses from storing twice, so N clients
//!    missing at once cost up to N + 1 upstream GETs per blob, and 0 once it is stored.
//!
//! The measured work runs in a release build: the debug xtask builds `--release` and runs
//! `target/release/xtask bench gallery` (which does the work when it is optimized).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::Digest as _;
use trustpull_gallery::{
    CheckStatus, DecisionTable, InstallError, Installer, OperatorConfig, UpgradeStatus,
    VerifierChoice, VerifierFactory, VerifierRequest,
};
use trustpull_policy::Digest;
use trustpull_referrers::{Credentials, Platform};
use trustpull_testkit::sigstore::{SignRequest, VirtualSigstore, IDENTITY, ISSUER};
use trustpull_verifier::{
    CandidateList, CosignVerifier, ImageSubject, ImageVerifier, LegacyKind, LegacySignature,
    MonotonicClock, SignatureCandidate, SignatureSource, SignatureSourceError, TrustRoot,
    Verification, VerificationCache, VerifyError,
};

use crate::push::{gzip_tar, Pushed, Pusher, SIGNED_AT};
use crate::registry::{self, Options, Registry};
use crate::util;

const BACKENDS: usize = 200;
const FLEETS: [usize; 2] = [8, 32];
/// The fleet image's layer: incompressible, large enough that concurrent downloads overlap.
const FLEET_LAYER_BYTES: usize = 4 * 1024 * 1024;
use crate::push::LAYER;
const REPO: &str = "bench/backends";
const FLEET_REPO: &str = "bench/fleet";
/// The host the fleet's index names: never reachable, only its mirror serves.
const UPSTREAM_NAME: &str = "upstream.invalid";

/// Entry point: `cargo xtask bench gallery`.
pub fn run() -> Result<(), String> {
    registry::ensure_installed("cargo xtask bench gallery")?;
    if cfg!(debug_assertions) {
        util::run(util::cargo().args(["build", "--release", "--quiet", "-p", "xtask"]))?;
        return util::run(
            std::process::Command::new(util::built_binary("release", "xtask"))
                .args(["bench", "gallery"]),
        );
    }
    let load_before = load_average();
    let work = tempfile::Builder::new()
        .prefix("trustpull-bench-gallery-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let sigstore = VirtualSigstore::new().with_rekor_v2();
    let trusted_root = work.path().join("trusted_root.json");
    std::fs::write(&trusted_root, sigstore.trusted_root_json())
        .map_err(|e| format!("write trusted root: {e}"))?;
    let registry = Registry::start(&work.path().join("registry"), &Options::default())?;

    let gallery = runtime.block_on(gallery(work.path(), &registry, &sigstore, &trusted_root))?;
    let fleets = runtime.block_on(fleets(work.path(), &registry, &sigstore, &trusted_root))?;
    let load_after = load_average();

    println!("\n### Galleries at fleet scale (`cargo xtask bench gallery`, release build)\n");
    println!("Machine load (1/5/15 min) before: {load_before}; after: {load_after}.\n");
    println!("| what | measured | target |");
    println!("|---|---|---|");
    gallery.print();
    for f in &fleets {
        f.print();
    }
    Ok(())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn policy() -> String {
    format!("    verification:\n      issuer: {ISSUER}\n      identity: {IDENTITY}\n")
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------------------------------------
// counting TCP proxy

/// What went through a [`CountingProxy`]: connections accepted and the request lines seen.
#[derive(Debug, Default, Clone)]
struct Traffic {
    connections: usize,
    /// `(method, path without query)` in arrival order.
    requests: Vec<(String, String)>,
}

impl Traffic {
    /// What happened after `earlier` (a snapshot of the same proxy).
    fn since(&self, earlier: &Traffic) -> Traffic {
        Traffic {
            connections: self.connections - earlier.connections,
            requests: self.requests[earlier.requests.len()..].to_vec(),
        }
    }

    fn count(&self, f: impl Fn(&str, &str) -> bool) -> usize {
        self.requests.iter().filter(|(m, p)| f(m, p)).count()
    }

    /// Requests outside the registry API (`/v2/…`): a token endpoint would be one.
    fn tokens(&self) -> usize {
        self.count(|_, p| !p.starts_with("/v2/"))
    }
}

/// A loopback TCP proxy in front of `upstream` that counts accepted connections and parses
/// the client → server stream into HTTP/1.1 request heads (bodies skipped by Content-Length).
/// Its threads live until the process exits (a developer tool).
struct CountingProxy {
    host: String,
    traffic: Arc<Mutex<Traffic>>,
}

impl CountingProxy {
    fn start(upstream: &str) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("proxy: bind: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("proxy: {e}"))?
            .port();
        let traffic = Arc::new(Mutex::new(Traffic::default()));
        let (shared, upstream) = (Arc::clone(&traffic), upstream.to_owned());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .connections += 1;
                let (shared, upstream) = (Arc::clone(&shared), upstream.clone());
                std::thread::spawn(move || {
                    // A relay that fails (a peer went away) only ends that connection.
                    let _ = relay(client, &upstream, &shared);
                });
            }
        });
        Ok(Self {
            host: format!("127.0.0.1:{port}"),
            traffic,
        })
    }

    fn snapshot(&self) -> Traffic {
        self.traffic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn relay(client: TcpStream, upstream: &str, traffic: &Mutex<Traffic>) -> io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    // Without it, Nagle's algorithm in the relay meets the client's delayed ACK: a response
    // written in two segments waits ~40 ms (the client and the registry both set it).
    server.set_nodelay(true)?;
    client.set_nodelay(true)?;
    let (mut from_server, mut to_client) = (server.try_clone()?, client.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let (mut from_client, mut to_server) = (client, server);
    let mut heads = RequestHeads::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from_client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        to_server.write_all(&buf[..n])?;
        let seen = heads.feed(&buf[..n]);
        if !seen.is_empty() {
            traffic
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .requests
                .extend(seen);
        }
    }
    let _ = to_server.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

/// An incremental parser of HTTP/1.1 request heads in a client's byte stream.
#[derive(Default)]
struct RequestHeads {
    pending: Vec<u8>,
    body_left: usize,
}

impl RequestHeads {
    /// Feeds `bytes`; returns the `(method, path)` of each request head completed.
    fn feed(&mut self, bytes: &[u8]) -> Vec<(String, String)> {
        self.pending.extend_from_slice(bytes);
        let mut seen = Vec::new();
        loop {
            if self.body_left > 0 {
                let n = self.body_left.min(self.pending.len());
                self.pending.drain(..n);
                self.body_left -= n;
                if self.body_left > 0 {
                    break;
                }
            }
            let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                break;
            };
            let head = String::from_utf8_lossy(&self.pending[..end]).into_owned();
            self.pending.drain(..end + 4);
            let mut lines = head.lines();
            let mut line = lines.next().unwrap_or_default().split_whitespace();
            let method = line.next().unwrap_or_default().to_owned();
            let target = line.next().unwrap_or_default();
            let path = target.split('?').next().unwrap_or_default().to_owned();
            self.body_left = lines
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            seen.push((method, path));
        }
        seen
    }
}

// ---------------------------------------------------------------------------------------------
// timing verifier and factory

/// Calls and time of one wrapper; `fetch` is the part spent in the signature source.
#[derive(Debug, Default)]
struct VerifyStats {
    calls: AtomicUsize,
    nanos: AtomicU64,
    fetch_nanos: AtomicU64,
}

#[derive(Debug, Default, Clone, Copy)]
struct VerifySnapshot {
    calls: usize,
    total: Duration,
    fetch: Duration,
}

impl VerifyStats {
    fn snapshot(&self) -> VerifySnapshot {
        VerifySnapshot {
            calls: self.calls.load(Ordering::SeqCst),
            total: Duration::from_nanos(self.nanos.load(Ordering::SeqCst)),
            fetch: Duration::from_nanos(self.fetch_nanos.load(Ordering::SeqCst)),
        }
    }
}

impl VerifySnapshot {
    fn since(self, earlier: VerifySnapshot) -> VerifySnapshot {
        VerifySnapshot {
            calls: self.calls - earlier.calls,
            total: self.total - earlier.total,
            fetch: self.fetch - earlier.fetch,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// An [`ImageVerifier`] that times and counts the calls of `inner`, and the time `inner`
/// spends waiting on the signature source (registry round trips).
#[derive(Debug)]
struct Timed {
    inner: Arc<dyn ImageVerifier>,
    stats: Arc<VerifyStats>,
}

#[async_trait]
impl ImageVerifier for Timed {
    async fn verify(
        &self,
        subject: &ImageSubject,
        signatures: &dyn SignatureSource,
    ) -> Result<Verification, VerifyError> {
        let source = TimedSource {
            inner: signatures,
            nanos: AtomicU64::new(0),
        };
        let start = Instant::now();
        let outcome = self.inner.verify(subject, &source).await;
        self.stats
            .nanos
            .fetch_add(nanos(start.elapsed()), Ordering::SeqCst);
        self.stats
            .fetch_nanos
            .fetch_add(source.nanos.load(Ordering::SeqCst), Ordering::SeqCst);
        self.stats.calls.fetch_add(1, Ordering::SeqCst);
        outcome
    }
}

/// A [`SignatureSource`] that adds the time of each call of `inner` to `nanos`.
#[derive(Debug)]
struct TimedSource<'a> {
    inner: &'a dyn SignatureSource,
    nanos: AtomicU64,
}

impl TimedSource<'_> {
    async fn time<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        let start = Instant::now();
        let out = f.await;
        self.nanos
            .fetch_add(nanos(start.elapsed()), Ordering::SeqCst);
        out
    }
}

#[async_trait]
impl SignatureSource for TimedSource<'_> {
    async fn candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
    ) -> Result<CandidateList, SignatureSourceError> {
        self.time(self.inner.candidates(subject, digest)).await
    }

    async fn bundle(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<Vec<u8>, SignatureSourceError> {
        self.time(self.inner.bundle(subject, candidate)).await
    }

    async fn legacy_candidates(
        &self,
        subject: &ImageSubject,
        digest: &Digest,
        referrers: &[SignatureCandidate],
        kind: LegacyKind,
    ) -> Result<CandidateList, SignatureSourceError> {
        self.time(
            self.inner
                .legacy_candidates(subject, digest, referrers, kind),
        )
        .await
    }

    async fn legacy_signature(
        &self,
        subject: &ImageSubject,
        candidate: &SignatureCandidate,
    ) -> Result<LegacySignature, SignatureSourceError> {
        self.time(self.inner.legacy_signature(subject, candidate))
            .await
    }
}

/// The decision table, with the cosign cell's verifier wrapped twice: `inner` under the
/// installer's cache (real verifications), `outer` above it (every call the downloader
/// makes, cache hits included). Checks every request's trust root is the bench's one `Arc`.
#[derive(Debug)]
struct BenchFactory {
    root: Arc<TrustRoot>,
    inner: Arc<VerifyStats>,
    outer: Arc<VerifyStats>,
    requests: AtomicUsize,
    other_roots: AtomicUsize,
}

impl BenchFactory {
    fn new(root: Arc<TrustRoot>) -> Self {
        Self {
            root,
            inner: Arc::default(),
            outer: Arc::default(),
            requests: AtomicUsize::new(0),
            other_roots: AtomicUsize::new(0),
        }
    }
}

impl VerifierFactory for BenchFactory {
    fn verifier(
        &self,
        request: &VerifierRequest<'_>,
    ) -> Result<Arc<dyn ImageVerifier>, InstallError> {
        let VerifierChoice::Cosign(policy) = request.choice else {
            return DecisionTable.verifier(request);
        };
        self.requests.fetch_add(1, Ordering::SeqCst);
        let root = request.trust_root()?;
        if !Arc::ptr_eq(&root, &self.root) {
            self.other_roots.fetch_add(1, Ordering::SeqCst);
        }
        let cosign = CosignVerifier::new(Arc::new(policy.clone()), root);
        let scope = cosign.cache_scope();
        let inner = Arc::new(Timed {
            inner: Arc::new(cosign),
            stats: Arc::clone(&self.inner),
        });
        Ok(Arc::new(Timed {
            inner: request.cached(inner, scope),
            stats: Arc::clone(&self.outer),
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// 1. 200 backends from one gallery

struct Phase {
    name: &'static str,
    wall: Duration,
    traffic: Traffic,
    inner: VerifySnapshot,
    outer: VerifySnapshot,
}

struct GalleryResult {
    phases: Vec<Phase>,
    push: Duration,
    root_loads: usize,
    factory_requests: usize,
    other_roots: usize,
}

/// Pushes and signs `images` one after another: distribution 2.8 can fail concurrent uploads
/// of one blob (DIGEST_INVALID), and every image shares its config and its signature's `{}`.
async fn push_images(
    pusher: &Pusher,
    sigstore: &VirtualSigstore,
    images: &[(String, Vec<u8>)],
) -> Result<Vec<Pushed>, String> {
    let mut pushed = Vec::with_capacity(images.len());
    for (tag, layer) in images {
        let image = pusher
            .image_with_layers(tag, "amd64", &[(LAYER, layer.as_slice())])
            .await?;
        pusher.sign(&image, sigstore).await?;
        pushed.push(image);
    }
    Ok(pushed)
}

async fn gallery(
    work: &Path,
    registry: &Registry,
    sigstore: &VirtualSigstore,
    trusted_root: &Path,
) -> Result<GalleryResult, String> {
    let started = Instant::now();
    let pusher = Pusher::new(registry, REPO, None, None)?;
    let images = (0..BACKENDS)
        .map(|i| {
            let content = format!("#!/bin/sh\necho backend {i}\n");
            Ok((
                format!("b{i:03}"),
                gzip_tar(&[("run.sh", content.as_bytes())])?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let pushed = push_images(&pusher, sigstore, &images).await?;
    let push = started.elapsed();

    let proxy = CountingProxy::start(&registry.host)?;
    let dir = work.join("gallery");
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let index: String = (0..BACKENDS)
        .map(|i| format!("- name: b{i:03}\n  uri: {}/{REPO}:b{i:03}\n", proxy.host))
        .collect();
    write(&dir.join("index.yaml"), &index)?;
    let config_path = dir.join("galleries.yaml");
    write(
        &config_path,
        &format!(
            "trusted_root: {}\nregistries:\n  - host: {}\n    plain_http: true\ngalleries:\n  - name: bench\n    url: ./index.yaml\n{}",
            trusted_root.display(),
            proxy.host,
            policy()
        ),
    )?;
    let config = OperatorConfig::load(&config_path).map_err(|e| format!("config: {e}"))?;

    // The bench's only trust-root load; every installer below is given this Arc.
    let root = Arc::new(TrustRoot::from_file(trusted_root).map_err(|e| e.to_string())?);
    let root_loads = 1;
    let client = trustpull_gallery::registry_client(&config, Credentials::anonymous())
        .map_err(|e| format!("registry client: {e}"))?;
    let factory = Arc::new(BenchFactory::new(Arc::clone(&root)));
    let platform = Platform::new("linux", "amd64");
    let build = |cache: Arc<VerificationCache>| {
        Installer::builder(config.clone())
            .client(client.clone())
            .trust_root(Arc::clone(&root))
            .cache(cache)
            .verifiers(factory.clone())
            .platform(platform.clone())
            .build()
            .map_err(|e| format!("installer: {e}"))
    };
    let new_cache = || Arc::new(VerificationCache::new(Arc::new(MonotonicClock)));
    let installer = build(new_cache())?;
    let dest = dir.join("backends");

    let mut phases = Vec::new();
    let mut measure =
        |name: &'static str, wall: Duration, before: (Traffic, VerifySnapshot, VerifySnapshot)| {
            phases.push(Phase {
                name,
                wall,
                traffic: proxy.snapshot().since(&before.0),
                inner: factory.inner.snapshot().since(before.1),
                outer: factory.outer.snapshot().since(before.2),
            });
        };
    let mark = || {
        (
            proxy.snapshot(),
            factory.inner.snapshot(),
            factory.outer.snapshot(),
        )
    };

    let before = mark();
    let start = Instant::now();
    for (i, image) in pushed.iter().enumerate() {
        let outcome = installer
            .install(&format!("b{i:03}"), &dest)
            .await
            .map_err(|e| format!("install b{i:03}: {}", trustpull_downloader::error_chain(&e)))?;
        if !outcome.receipt.verified || outcome.receipt.digest != image.digest {
            return Err(format!(
                "install b{i:03}: expected a verified install of {}, got {:?}",
                image.digest, outcome.receipt
            ));
        }
    }
    measure("install 200", start.elapsed(), before);

    let before = mark();
    let start = Instant::now();
    let reports = installer
        .upgrade(&[], &dest, true)
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    let wall = start.elapsed();
    let current = reports
        .iter()
        .filter(|r| r.status == UpgradeStatus::Current)
        .count();
    if current != BACKENDS {
        return Err(format!(
            "upgrade --dry-run: {current} of {BACKENDS} current: {reports:?}"
        ));
    }
    measure("upgrade check (dry run)", wall, before);

    // verify-installed as a new process would run it: same client and trust root, a cold cache.
    let checker = build(new_cache())?;
    for name in ["verify-installed #1 (cold cache)", "verify-installed #2"] {
        let before = mark();
        let start = Instant::now();
        let checks = checker
            .verify_installed(&dest)
            .await
            .map_err(|e| format!("verify-installed: {e}"))?;
        let wall = start.elapsed();
        let ok = checks
            .iter()
            .filter(|c| matches!(c.status, CheckStatus::Verified { .. }))
            .count();
        if ok != BACKENDS {
            return Err(format!("{name}: {ok} of {BACKENDS} verified: {checks:?}"));
        }
        measure(name, wall, before);
    }

    Ok(GalleryResult {
        phases,
        push,
        root_loads,
        factory_requests: factory.requests.load(Ordering::SeqCst),
        other_roots: factory.other_roots.load(Ordering::SeqCst),
    })
}

impl GalleryResult {
    fn print(&self) {
        println!(
            "| setup: push {BACKENDS} images + {BACKENDS} signatures (not measured below) | {:.1} s | |",
            self.push.as_secs_f64()
        );
        println!(
            "| trust-root loads (`TrustRoot::from_file`: the bench's one; verifier requests given another `Arc`) | **{}** ({} of {} requests) | 1 |",
            self.root_loads, self.other_roots, self.factory_requests
        );
        for p in &self.phases {
            let t = &p.traffic;
            let requests = t.requests.len();
            println!(
                "| {}: wall time | {:.0} ms ({:.2} ms per backend) | |",
                p.name,
                ms(p.wall),
                ms(p.wall) / BACKENDS as f64
            );
            println!(
                "| {}: registry requests (manifests / blobs / referrers API / other), TCP connections, token requests | {requests} ({} / {} / {} / {}), **{} connections**, {} tokens | connections ≪ requests |",
                p.name,
                t.count(|_, p| p.contains("/manifests/")),
                t.count(|_, p| p.contains("/blobs/")),
                t.count(|_, p| p.contains("/referrers/")),
                t.count(|_, p| {
                    !p.contains("/manifests/") && !p.contains("/blobs/") && !p.contains("/referrers/")
                }),
                t.connections,
                t.tokens()
            );
            let share = |d: Duration| 100.0 * d.as_secs_f64() / p.wall.as_secs_f64();
            println!(
                "| {}: verifications (real / through the cache), time in them (of it: signature fetch) | {} / {}, {:.0} ms = **{:.1}%** of wall ({:.0} ms; without fetch {:.1}%) | ≤ 10% |",
                p.name,
                p.inner.calls,
                p.outer.calls,
                ms(p.outer.total),
                share(p.outer.total),
                ms(p.outer.fetch),
                share(p.outer.total.saturating_sub(p.outer.fetch)),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. fleet through one pull-through mirror

struct FleetResult {
    clients: usize,
    /// The mirror already holds the image (a second round on the same mirror).
    warm: bool,
    wall: Duration,
    /// Upstream GETs per blob digest of the image (config, layer, `{}`, bundle).
    blob_gets: Vec<(&'static str, usize)>,
    upstream: Traffic,
}

async fn fleets(
    work: &Path,
    upstream: &Registry,
    sigstore: &VirtualSigstore,
    trusted_root: &Path,
) -> Result<Vec<FleetResult>, String> {
    // Incompressible content: a SHA-256 chain.
    let mut data = Vec::with_capacity(FLEET_LAYER_BYTES);
    let mut block = Digest::of(b"fleet").hex().as_bytes().to_vec();
    while data.len() < FLEET_LAYER_BYTES {
        block = sha2::Sha256::digest(&block).to_vec();
        data.extend_from_slice(&block);
    }
    let layer = gzip_tar(&[("model.bin", data.as_slice())])?;
    let pusher = Pusher::new(upstream, FLEET_REPO, None, None)?;
    let image = pusher
        .image_with_layers("v1", "amd64", &[(LAYER, layer.as_slice())])
        .await?;
    let bundle = sigstore.sign(&SignRequest::dsse(image.digest.clone()));
    pusher
        .attach(
            &image,
            &bundle,
            SIGNED_AT,
            Some(crate::push::BUNDLE),
            &image.digest,
        )
        .await?;
    // The blobs a client fetches (the image config and the signature's `{}` config are never
    // requested: the platform comes from the manifest, the `{}` is inline).
    let blobs: [(&'static str, Digest); 2] = [
        ("layer (4 MiB)", Digest::of(&layer)),
        ("bundle", Digest::of(&bundle)),
    ];

    let proxy = CountingProxy::start(&upstream.host)?;
    let mut results = Vec::new();
    for clients in FLEETS {
        let dir = work.join(format!("fleet-{clients}"));
        let remote = format!("http://{}", proxy.host);
        let mirror = Registry::start(&dir.join("mirror"), &Options::proxy(&remote))?;
        write(
            &dir.join("index.yaml"),
            &format!("- name: fleet\n  uri: {UPSTREAM_NAME}/{FLEET_REPO}:v1\n"),
        )?;
        let config_path = dir.join("galleries.yaml");
        write(
            &config_path,
            &format!(
                "trusted_root: {}\nregistries:\n  - host: {UPSTREAM_NAME}\n    mirrors: [{}]\n  - host: {}\n    plain_http: true\ngalleries:\n  - name: fleet\n    url: ./index.yaml\n{}",
                trusted_root.display(),
                mirror.host,
                mirror.host,
                policy()
            ),
        )?;
        for warm in [false, true] {
            let before = proxy.snapshot();
            let wall = fleet_round(&dir, &config_path, clients, warm).await?;
            let upstream = proxy.snapshot().since(&before);
            let blob_gets = blobs
                .iter()
                .map(|(what, digest)| {
                    let path = format!("/blobs/{digest}");
                    (
                        *what,
                        upstream.count(|m, p| m == "GET" && p.ends_with(&path)),
                    )
                })
                .collect();
            results.push(FleetResult {
                clients,
                warm,
                wall,
                blob_gets,
                upstream,
            });
        }
        drop(mirror);
    }
    Ok(results)
}

/// `clients` installers, each as its own process would be (config, registry client, trust
/// root loaded from the config, destination), install `fleet` at once; returns the wall time.
async fn fleet_round(
    dir: &Path,
    config_path: &Path,
    clients: usize,
    warm: bool,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for c in 0..clients {
        let config = OperatorConfig::load(config_path).map_err(|e| format!("config: {e}"))?;
        let installer = Installer::builder(config)
            .platform(Platform::new("linux", "amd64"))
            .build()
            .map_err(|e| format!("installer: {e}"))?;
        let dest = dir.join(format!("client-{c}-{}", if warm { "warm" } else { "cold" }));
        set.spawn(async move {
            installer
                .install("fleet", &dest)
                .await
                .map(|o| o.receipt.verified)
                .map_err(|e| trustpull_downloader::error_chain(&e))
        });
    }
    while let Some(joined) = set.join_next().await {
        match joined.map_err(|e| format!("fleet task: {e}"))? {
            Ok(true) => {}
            Ok(false) => return Err("fleet: an install was not verified".to_owned()),
            Err(e) => return Err(format!("fleet install ({clients} clients): {e}")),
        }
    }
    Ok(start.elapsed())
}

impl FleetResult {
    fn print(&self) {
        let n = format!(
            "{} clients, {} mirror",
            self.clients,
            if self.warm { "warm" } else { "cold" }
        );
        let gets: Vec<String> = self
            .blob_gets
            .iter()
            .map(|(what, count)| format!("{what} {count}"))
            .collect();
        let max = self.blob_gets.iter().map(|(_, c)| *c).max().unwrap_or(0);
        println!(
            "| fleet, {n}: all install one backend at once through one pull-through mirror: wall time | {:.0} ms | |",
            ms(self.wall)
        );
        println!(
            "| fleet, {n}: upstream blob GETs per blob | **max {max}** ({}) | 1 per blob |",
            gets.join(", ")
        );
        let u = &self.upstream;
        println!(
            "| fleet, {n}: all upstream requests (manifest GET / HEAD, blob HEAD), connections | {} ({} / {}, {}), {} connections | |",
            u.requests.len(),
            u.count(|m, p| m == "GET" && p.contains("/manifests/")),
            u.count(|m, p| m == "HEAD" && p.contains("/manifests/")),
            u.count(|m, p| m == "HEAD" && p.contains("/blobs/")),
            u.connections
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RequestHeads;

    #[test]
    fn request_heads_split_across_reads_and_bodies_are_skipped() {
        let mut heads = RequestHeads::default();
        let stream = b"PUT /v2/a/blobs/uploads/x?digest=sha256:1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nGET /GET /v2/a/manifests/v1 HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut seen = Vec::new();
        for chunk in stream.chunks(7) {
            seen.extend(heads.feed(chunk));
        }
        let seen: Vec<(&str, &str)> = seen.iter().map(|(m, p)| (m.as_str(), p.as_str())).collect();
        assert_eq!(
            seen,
            [
                ("PUT", "/v2/a/blobs/uploads/x"),
                ("GET", "/v2/a/manifests/v1")
            ]
        );
    }
}
