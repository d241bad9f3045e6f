//! Stopping an install half way: SIGINT and `kill -9` while a layer is being downloaded, and the
//! global `--timeout` against a source that trickles, from a local layout and from a registry.
//!
//! The layout tests copy `examples/demo-image` and turn one layer blob into a named pipe that
//! the test feeds. Synchronisation is by the pipe, never by sleeping: trustpull opens a layer
//! blob only after it has taken the per-name lock and created its staging and layer directories,
//! and the test's `open(pipe, write)` returns only once trustpull has opened the read side. From
//! then on the install is mid-download for as long as the test holds the pipe open. The test
//! then waits for trustpull's own error line on stderr, checks the destination, and waits for
//! the exit status with the pipe STILL open: a read stuck on a blocking thread must not keep
//! the process alive once the command has ended (the binary does not wait for its runtime's
//! blocking threads).
//!
//! The registry test puts a loopback proxy in front of a wiremock registry that serves a
//! testkit-signed image; the proxy passes everything through except the layer's body, which it
//! trickles at one byte per 200 ms, a pace no between-bytes timeout catches.

// Helpers outside #[test] fns: a panic is how they report a broken fixture.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use serde_json::Value;

use crate::{
    assert_exit, assert_unchanged, copy_dir, examples, names, snapshot, trustpull_command, Entry,
    IDENTITY, ISSUER,
};

/// The backend name the gallery offers; its directory in the install parent.
const NAME: &str = "demo";

/// How long a stuck run may last before the test kills it and fails. A fail-safe only: a
/// passing run never gets near it and no assertion depends on it.
const WATCHDOG: Duration = Duration::from_secs(120);

/// `blobs/sha256/<hex>` of `digest` (a JSON string) in the layout at `root`.
fn blob_path(root: &Path, digest: &Value) -> PathBuf {
    let hex = digest.as_str().unwrap().strip_prefix("sha256:").unwrap();
    root.join("blobs/sha256").join(hex)
}

/// The image manifest tagged v1 in the layout at `root` (index.json → manifest).
fn v1_manifest(root: &Path) -> Value {
    let read_json =
        |path: &Path| -> Value { serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap() };
    let index = read_json(&root.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
        .unwrap();
    read_json(&blob_path(root, &entry["digest"]))
}

/// A private copy of the demo layout whose first layer blob can be swapped for a pipe.
struct Layout {
    root: PathBuf,
    /// `blobs/sha256/<hex>` of the first layer the v1 manifest lists.
    layer: PathBuf,
    /// That blob's real bytes.
    real: Vec<u8>,
}

impl Layout {
    fn copy_into(dir: &Path) -> Self {
        let root = dir.join("image");
        copy_dir(&examples().join("demo-image"), &root);
        let layer = blob_path(&root, &v1_manifest(&root)["layers"][0]["digest"]);
        let real = std::fs::read(&layer).unwrap();
        Self { root, layer, real }
    }

    fn reference(&self) -> String {
        format!("oci-layout:{}:v1", self.root.display())
    }

    /// Replaces the layer blob with an empty named pipe.
    fn make_layer_a_pipe(&self) {
        std::fs::remove_file(&self.layer).unwrap();
        let status = Command::new("mkfifo").arg(&self.layer).status().unwrap();
        assert!(status.success(), "mkfifo {}", self.layer.display());
    }

    /// Puts the real layer blob back in place of the pipe.
    fn restore_layer(&self) {
        std::fs::remove_file(&self.layer).unwrap();
        std::fs::write(&self.layer, &self.real).unwrap();
    }
}

/// Writes galleries.yaml (gallery "demo", signed by the demo identity) and backends.yaml (entry
/// [`NAME`] from `layout`) into `dir`; returns the config path.
fn gallery(dir: &Path, layout: &Layout) -> PathBuf {
    let config = dir.join("galleries.yaml");
    std::fs::write(
        &config,
        format!(
            "trusted_root: {}\ngalleries:\n  - name: demo\n    url: ./backends.yaml\n    verification:\n      issuer: {ISSUER}\n      identity: {IDENTITY}\n",
            examples().join("trusted_root.json").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("backends.yaml"),
        format!("- name: {NAME}\n  uri: {}\n", layout.reference()),
    )
    .unwrap();
    config
}

/// `trustpull install NAME --galleries CONFIG --dest PARENT`.
fn install(config: &Path, parent: &Path) -> Command {
    trustpull_command(&[
        "install",
        NAME,
        "--galleries",
        config.to_str().unwrap(),
        "--dest",
        parent.to_str().unwrap(),
    ])
}

fn verify_installed(config: &Path, parent: &Path) -> Output {
    trustpull_command(&[
        "verify-installed",
        "--galleries",
        config.to_str().unwrap(),
        "--dest",
        parent.to_str().unwrap(),
    ])
    .output()
    .unwrap()
}

/// Whether `parent` holds an entry named `.NAME.trustpull-<kind>-…` (kind: staging, layers).
fn has_leftover(parent: &Path, kind: &str) -> bool {
    let prefix = format!(".{NAME}.trustpull-{kind}-");
    names(parent).iter().any(|n| n.starts_with(&prefix))
}

/// Kills process `pid` with `signal` (`INT`, `KILL`) through kill(1): unsafe code is forbidden.
fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// What the helper threads of a [`MidDownload`] report.
enum Event {
    /// The test's write side of the pipe opened: trustpull opened the read side.
    PipeOpened(std::io::Result<File>),
    /// A line trustpull wrote to stderr.
    Stderr(String),
    /// trustpull's stderr closed: it exited (or was killed).
    StderrClosed,
    /// The watchdog killed trustpull after [`WATCHDOG`].
    WatchdogFired,
}

/// A trustpull run stopped in the middle of downloading the layer behind a pipe.
struct MidDownload {
    child: Child,
    events: mpsc::Receiver<Event>,
    stderr: String,
    stderr_closed: bool,
    watchdog_fired: bool,
    /// Dropping it disarms the watchdog.
    disarm: Option<mpsc::Sender<()>>,
    watchdog: Option<std::thread::JoinHandle<()>>,
    /// The write side of the layer pipe; trustpull's read blocks while it is open.
    pipe: Option<File>,
}

impl MidDownload {
    /// Starts `command` and returns once it has opened the layer blob `pipe` for reading,
    /// which it does only after creating its staging directory beside the destination. Panics
    /// with trustpull's stderr if it exits first.
    fn start(mut command: Command, pipe: &Path) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, events) = mpsc::channel();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn({
            let tx = tx.clone();
            move || {
                for line in stderr.lines() {
                    let Ok(line) = line else { break };
                    if tx.send(Event::Stderr(line)).is_err() {
                        return;
                    }
                }
                let _ = tx.send(Event::StderrClosed);
            }
        });
        std::thread::spawn({
            let (tx, pipe) = (tx.clone(), pipe.to_path_buf());
            move || {
                let opened = std::fs::OpenOptions::new().write(true).open(pipe);
                let _ = tx.send(Event::PipeOpened(opened));
            }
        });
        let (disarm, armed) = mpsc::channel::<()>();
        let pid = child.id();
        let watchdog = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = armed.recv_timeout(WATCHDOG) {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
                let _ = tx.send(Event::WatchdogFired);
            }
        });
        let mut run = Self {
            child,
            events,
            stderr: String::new(),
            stderr_closed: false,
            watchdog_fired: false,
            disarm: Some(disarm),
            watchdog: Some(watchdog),
            pipe: None,
        };
        loop {
            match run.next_event() {
                Some(Event::PipeOpened(opened)) => {
                    run.pipe = Some(opened.unwrap());
                    return run;
                }
                Some(_) => {}
                None => break,
            }
        }
        // trustpull exited without opening the pipe: open its read side so the thread blocked
        // on the write side returns, then report.
        drop(std::fs::OpenOptions::new().read(true).open(pipe));
        let status = run.wait();
        panic!(
            "trustpull {status} before it opened the layer blob{}; stderr:\n{}",
            run.watchdog_note(),
            run.stderr
        );
    }

    /// The next event, keeping stderr lines; `None` once stderr has closed.
    fn next_event(&mut self) -> Option<Event> {
        if self.stderr_closed {
            return None;
        }
        let event = self.events.recv().ok()?;
        match &event {
            Event::Stderr(line) => {
                self.stderr.push_str(line);
                self.stderr.push('\n');
            }
            Event::StderrClosed => {
                self.stderr_closed = true;
                return None;
            }
            Event::WatchdogFired => self.watchdog_fired = true,
            Event::PipeOpened(_) => {}
        }
        Some(event)
    }

    /// Writes `bytes` into the layer pipe.
    fn feed(&mut self, bytes: &[u8]) {
        let pipe = self.pipe.as_mut().unwrap();
        pipe.write_all(bytes).unwrap();
        pipe.flush().unwrap();
    }

    /// Waits until trustpull writes a stderr line containing `needle`; false if its stderr
    /// closes first.
    fn wait_for_stderr(&mut self, needle: &str) -> bool {
        while let Some(event) = self.next_event() {
            if matches!(&event, Event::Stderr(line) if line.contains(needle)) {
                return true;
            }
        }
        false
    }

    /// Closes the test's side of the layer pipe: trustpull's blocked read returns.
    fn close_pipe(&mut self) {
        self.pipe = None;
    }

    /// Waits for trustpull to exit (the pipe stays as it is) and returns its status.
    fn wait(&mut self) -> ExitStatus {
        // Its stderr closes when it exits; the watchdog stays armed until then.
        while self.next_event().is_some() {}
        // Disarmed and joined before the child is reaped, so it never signals a reused pid.
        self.disarm = None;
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.join().unwrap();
        }
        while let Ok(event) = self.events.try_recv() {
            self.watchdog_fired |= matches!(event, Event::WatchdogFired);
        }
        self.child.wait().unwrap()
    }

    fn watchdog_note(&self) -> &'static str {
        if self.watchdog_fired {
            " (killed by the test's watchdog: it was stuck)"
        } else {
            ""
        }
    }
}

impl Drop for MidDownload {
    /// A test that failed half way leaves no trustpull process behind.
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            let _ = self.child.kill();
            self.pipe = None;
            let _ = self.wait();
        }
    }
}

/// A parent directory that already holds a good install of [`NAME`] from `layout`, the
/// gallery config, and what the parent looks like.
fn installed_once(dir: &Path, layout: &Layout) -> (PathBuf, PathBuf, BTreeMap<String, Entry>) {
    let config = gallery(dir, layout);
    let parent = dir.join("backends");
    assert_exit(&install(&config, &parent).output().unwrap(), 0);
    let receipt = format!("{NAME}.receipt.json");
    assert_eq!(names(&parent), vec![NAME.to_owned(), receipt]);
    let before = snapshot(&parent);
    (config, parent, before)
}

#[test]
fn sigint_mid_install_exits_130_with_nothing_installed_and_nothing_left() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::copy_into(tmp.path());
    let (config, parent, before) = installed_once(tmp.path(), &layout);
    let listing = names(&parent);

    layout.make_layer_a_pipe();
    let mut run = MidDownload::start(install(&config, &parent), &layout.layer);
    assert!(
        has_leftover(&parent, "staging") && has_leftover(&parent, "layers"),
        "the reinstall is mid-download: {:?}",
        names(&parent)
    );
    run.feed(&layout.real[..16]);
    send_signal(run.child.id(), "INT");
    let reported = run.wait_for_stderr("interrupted");
    // Taken while trustpull's read of the pipe is still blocked: cleaning up must not wait
    // for the source.
    let (listing_reported, reported_state) = (names(&parent), snapshot(&parent));
    // The process exits while its read of the pipe is still blocked (the pipe stays open).
    let status = run.wait();
    run.close_pipe();

    assert_eq!(
        status.code(),
        Some(130),
        "{status}{}; stderr:\n{}",
        run.watchdog_note(),
        run.stderr
    );
    assert!(reported, "no \"interrupted\" on stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("interrupted; nothing was installed"),
        "{}",
        run.stderr
    );
    assert_eq!(listing_reported, listing, "when trustpull reported");
    assert_unchanged(&before, &reported_state, "when trustpull reported");
    assert_eq!(names(&parent), listing, "after trustpull exited");
    assert_unchanged(&before, &snapshot(&parent), "after trustpull exited");
}

#[test]
fn kill_9_mid_install_then_a_rerun_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::copy_into(tmp.path());
    let (config, parent, before) = installed_once(tmp.path(), &layout);

    layout.make_layer_a_pipe();
    let mut run = MidDownload::start(install(&config, &parent), &layout.layer);
    run.feed(&layout.real[..16]);
    send_signal(run.child.id(), "KILL");
    let status = run.wait();
    assert_eq!(
        status.signal(),
        Some(9),
        "{status}; stderr:\n{}",
        run.stderr
    );

    // A killed process cleans nothing up: this is what the next install has to sweep.
    assert!(
        has_leftover(&parent, "staging") && has_leftover(&parent, "layers"),
        "{:?}",
        names(&parent)
    );
    // The earlier install itself is untouched.
    let kept: BTreeMap<String, Entry> = snapshot(&parent)
        .into_iter()
        .filter(|(path, _)| !path.starts_with('.'))
        .collect();
    assert_unchanged(&before, &kept, "after the kill");
    drop(run);

    layout.restore_layer();
    let out = install(&config, &parent).output().unwrap();
    assert_exit(&out, 0);
    assert_eq!(
        names(&parent),
        vec![NAME.to_owned(), format!("{NAME}.receipt.json")],
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_exit(&verify_installed(&config, &parent), 0);
}

#[test]
fn a_trickling_source_hits_the_overall_deadline_with_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::copy_into(tmp.path());
    let parent = tmp.path().join("out");
    std::fs::create_dir(&parent).unwrap();
    let dest = parent.join(NAME);
    layout.make_layer_a_pipe();
    let image = layout.reference();
    let root = examples().join("trusted_root.json");
    let pull = trustpull_command(&[
        "--timeout",
        "2s",
        "pull",
        &image,
        "--dest",
        dest.to_str().unwrap(),
        "--trusted-root",
        root.to_str().unwrap(),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ]);

    let mut run = MidDownload::start(pull, &layout.layer);
    assert!(has_leftover(&parent, "staging"), "{:?}", names(&parent));
    // One byte, then nothing more while the pipe stays open: a source that stalls.
    run.feed(&layout.real[..1]);
    let reported = run.wait_for_stderr("deadline");
    // Taken while trustpull's read of the pipe is still blocked.
    let listing_reported = names(&parent);
    // The process exits while its read of the pipe is still blocked (the pipe stays open).
    let status = run.wait();
    run.close_pipe();

    assert_eq!(
        status.code(),
        Some(3),
        "{status}{}; stderr:\n{}",
        run.watchdog_note(),
        run.stderr
    );
    assert!(reported, "no \"deadline\" on stderr:\n{}", run.stderr);
    assert!(
        listing_reported.is_empty(),
        "when trustpull reported: {listing_reported:?}"
    );
    assert!(names(&parent).is_empty(), "{:?}", names(&parent));
}

/// A loopback proxy in front of a registry: requests pass as they are, and the body of the
/// response to a request naming `slow` trickles (see [`relay`]).
struct TricklingProxy {
    addr: std::net::SocketAddr,
    /// Requests that named `slow`.
    slow_requests: Arc<AtomicUsize>,
    /// Body bytes trickled so far.
    trickled: Arc<AtomicUsize>,
}

/// The body of a slow response: one byte per this pause (pacing the simulated link, not
/// synchronising anything).
const TRICKLE_PAUSE: Duration = Duration::from_millis(200);
/// After this many trickled bytes (30 s at least) the proxy drops the connection, so a
/// trustpull that ignored its deadline fails this test soon instead of after 17 minutes.
const TRICKLE_CAP: usize = 150;

async fn trickling_proxy(upstream: std::net::SocketAddr, slow: String) -> TricklingProxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = TricklingProxy {
        addr: listener.local_addr().unwrap(),
        slow_requests: Arc::default(),
        trickled: Arc::default(),
    };
    let (slow_requests, trickled) = (
        Arc::clone(&proxy.slow_requests),
        Arc::clone(&proxy.trickled),
    );
    // Detached: the test's runtime ends it when the test ends.
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(
                client,
                upstream,
                slow.clone(),
                Arc::clone(&slow_requests),
                Arc::clone(&trickled),
            ));
        }
    });
    proxy
}

/// Forwards one connection. Once a request naming `slow` passed (HTTP/1.1: its response is the
/// next one), the response head still goes through at once but its body trickles.
async fn relay(
    client: tokio::net::TcpStream,
    upstream: std::net::SocketAddr,
    slow: String,
    slow_requests: Arc<AtomicUsize>,
    trickled: Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let throttled = Arc::new(AtomicBool::new(false));
    let requests = {
        let throttled = Arc::clone(&throttled);
        async move {
            let mut buf = vec![0; 16 * 1024];
            while let Ok(n @ 1..) = client_rx.read(&mut buf).await {
                // Marked before the request goes on, so before its response can come back.
                if String::from_utf8_lossy(&buf[..n]).contains(&slow) {
                    throttled.store(true, Ordering::SeqCst);
                    slow_requests.fetch_add(1, Ordering::SeqCst);
                }
                if server_tx.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = server_tx.shutdown().await;
        }
    };
    let responses = async move {
        let mut buf = vec![0; 16 * 1024];
        let (mut head, mut head_sent) = (Vec::new(), false);
        while let Ok(n @ 1..) = server_rx.read(&mut buf).await {
            if !throttled.load(Ordering::SeqCst) {
                if client_tx.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                continue;
            }
            // Slow mode: the response head at once, as soon as it is complete (it may come in
            // pieces); then the body by the byte.
            let body = if head_sent {
                buf[..n].to_vec()
            } else {
                head.extend_from_slice(&buf[..n]);
                let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let body = head.split_off(end + 4);
                if client_tx.write_all(&head).await.is_err() {
                    return;
                }
                head_sent = true;
                body
            };
            for byte in body {
                if trickled.load(Ordering::SeqCst) >= TRICKLE_CAP
                    || client_tx.write_all(&[byte]).await.is_err()
                {
                    return;
                }
                trickled.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(TRICKLE_PAUSE).await;
            }
        }
    };
    tokio::join!(requests, responses);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trickling_registry_hits_the_overall_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    // The demo image's config and first layer, signed, in a registry.
    let (registry, layer) = crate::registry::start_with_demo_layer().await;
    let layer_digest = trustpull_policy::Digest::of(&layer);
    let proxy = trickling_proxy(*registry.server.address(), layer_digest.hex().to_owned()).await;
    let parent = tmp.path().join("out");
    std::fs::create_dir(&parent).unwrap();
    let dest = parent.join(NAME);
    let out = crate::run(registry.pull_command(
        &proxy.addr.to_string(),
        &dest,
        &["--timeout", "2s"],
        &[],
    ))
    .await;

    assert_exit(&out, 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("deadline"), "{stderr}");
    assert!(names(&parent).is_empty(), "{:?}", names(&parent));
    // The deadline struck in the middle of the layer's body, not before it was asked for.
    assert_eq!(proxy.slow_requests.load(Ordering::SeqCst), 1, "{stderr}");
    let trickled = proxy.trickled.load(Ordering::SeqCst);
    assert!(
        (1..TRICKLE_CAP).contains(&trickled),
        "{trickled} body bytes trickled; {stderr}"
    );
}
