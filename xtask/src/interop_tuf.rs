//! `cargo xtask tuf-interop` (also the last step of `cargo xtask e2e` before `interop`):
//! `trustpull trust-root update` against a TUF repository written by an independent
//! implementation, PyPI `tuf` (python-tuf's `tuf.api.metadata`, pinned in
//! `xtask/python/requirements.txt`, run by `xtask/python/tuf_repo.py` in the venv of
//! [`bench_verify::python_venv`]), served by `python -m http.server` on 127.0.0.1.
//!
//! Cases: the update succeeds and `trust-root show` names the mirror and the target's
//! fingerprint; a tampered `timestamp.json` (a version bump without a new signature) fails with
//! exit 3 and leaves the cache byte for byte; the repository republished by python-tuf at a
//! higher version is picked up; a mirror that stopped answering exits 3.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use trustpull_policy::Digest;
use trustpull_testkit::sigstore::VirtualSigstore;

use crate::bench_verify;
use crate::util::{self, cargo};

/// Entry point: `cargo xtask tuf-interop` (no arguments).
pub fn run(args: &[String]) -> Result<(), String> {
    util::no_args("tuf-interop", args)?;
    util::run(cargo().args(["build", "-p", "trustpull", "--bin", "trustpull"]))?;
    let dir = tempfile::Builder::new()
        .prefix("trustpull-tuf-interop-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let failures = run_cases(&util::built_binary("debug", "trustpull"), dir.path())?;
    util::verdict("tuf-interop", &failures)
}

/// Kills the HTTP server when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// `python -m http.server` serving `dir` on 127.0.0.1:`port`, once it accepts connections.
fn serve(python: &Path, dir: &Path, port: u16) -> Result<Server, String> {
    let child = Command::new(python)
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start python -m http.server: {e}"))?;
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "python -m http.server did not listen on port {port}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// Runs python-tuf's writer: repository `repo`, keys in `keys`, `target` at `version`.
fn publish(python: &Path, work: &Path, target: &Path, version: u64) -> Result<(), String> {
    util::run(
        Command::new(python)
            .arg(util::root().join("xtask/python/tuf_repo.py"))
            .arg("--out")
            .arg(work.join("repo"))
            .arg("--keys")
            .arg(work.join("keys"))
            .arg("--target")
            .arg(target)
            .args(["--version", &version.to_string()]),
    )
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if let Ok(bytes) = std::fs::read(e.path()) {
                out.insert(e.path(), bytes);
            }
        }
    }
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The cases; returns the failures.
pub fn run_cases(trustpull: &Path, work: &Path) -> Result<Vec<String>, String> {
    let python = bench_verify::python_venv()?.join("bin/python");
    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    let write_target = |name: &str, seed: &[u8]| -> Result<(PathBuf, Digest), String> {
        let bytes = VirtualSigstore::from_seed(seed).trusted_root_json();
        let path = work.join(name);
        std::fs::write(&path, &bytes).map_err(|e| format!("write {}: {e}", path.display()))?;
        Ok((path, Digest::of(&bytes)))
    };
    let (first, first_digest) = write_target("first.json", b"tuf interop 1")?;
    let (second, second_digest) = write_target("second.json", b"tuf interop 2")?;
    publish(&python, work, &first, 1)?;

    let port = free_port()?;
    let mirror = format!("http://127.0.0.1:{port}");
    let server = serve(&python, &work.join("repo"), port)?;
    let root = work.join("repo/1.root.json");
    let xdg = work.join("xdg");
    let cache = xdg.join("trustpull");
    let trustpull_run = |args: &[&str]| -> Result<Output, String> {
        eprintln!("$ trustpull {}", args.join(" "));
        Command::new(trustpull)
            .args(args)
            .env("XDG_CACHE_HOME", &xdg)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", trustpull.display()))
    };
    let root_arg = root.display().to_string();
    let update = || {
        trustpull_run(&[
            "trust-root",
            "update",
            "--mirror",
            &mirror,
            "--root",
            &root_arg,
            "--output",
            "json",
        ])
    };
    let show = || trustpull_run(&["trust-root", "show", "--output", "json"]);

    // 1. A python-tuf repository refreshes.
    let out = update()?;
    let doc = json_of(&out);
    check(
        out.status.code() == Some(0) && doc["fingerprint"] == first_digest.as_str(),
        format!(
            "update from the python-tuf repository: exit {:?}, {doc}; stderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ),
    );
    let out = show()?;
    let doc = json_of(&out);
    check(
        out.status.code() == Some(0)
            && doc["source"]["kind"] == "tuf"
            && doc["source"]["mirror"] == mirror.as_str()
            && doc["fingerprint"] == first_digest.as_str(),
        format!("show names the python-tuf mirror: {doc}"),
    );

    // 2. A tampered timestamp (version bumped, signature not redone): exit 3, cache untouched.
    let ts_path = work.join("repo/timestamp.json");
    let original = std::fs::read(&ts_path).map_err(|e| format!("read timestamp.json: {e}"))?;
    let mut ts: Value =
        serde_json::from_slice(&original).map_err(|e| format!("timestamp.json: {e}"))?;
    let bumped = ts["signed"]["version"].as_u64().unwrap_or(1) + 1;
    ts["signed"]["version"] = Value::from(bumped);
    std::fs::write(&ts_path, serde_json::to_vec_pretty(&ts).unwrap_or_default())
        .map_err(|e| format!("write timestamp.json: {e}"))?;
    let before = files(&cache);
    let out = update()?;
    let doc = json_of(&out);
    check(
        out.status.code() == Some(3)
            && doc["status"] == "unavailable"
            && doc["failure"] == "bad signature",
        format!(
            "a tampered timestamp exits 3: exit {:?}, {doc}",
            out.status.code()
        ),
    );
    check(
        files(&cache) == before,
        "a tampered timestamp changed the cache".to_owned(),
    );
    let doc = json_of(&show()?);
    check(
        doc["fingerprint"] == first_digest.as_str(),
        format!("after the tampered timestamp show still names the last good root: {doc}"),
    );

    // 3. python-tuf republishes at version 2 with a new target: picked up.
    publish(&python, work, &second, 2)?;
    let out = update()?;
    let doc = json_of(&out);
    check(
        out.status.code() == Some(0)
            && doc["status"] == "updated"
            && doc["fingerprint"] == second_digest.as_str()
            && doc["previous"] == first_digest.as_str(),
        format!(
            "the republished repository is picked up: exit {:?}, {doc}",
            out.status.code()
        ),
    );

    // 4. The mirror is gone: exit 3, the root stays.
    drop(server);
    let out = update()?;
    check(
        out.status.code() == Some(3),
        format!("a stopped mirror exits 3: exit {:?}", out.status.code()),
    );
    let doc = json_of(&show()?);
    check(
        doc["fingerprint"] == second_digest.as_str(),
        format!("after the mirror stopped show names the last good root: {doc}"),
    );
    Ok(failures)
}
