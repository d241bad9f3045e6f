//! The fault cases of `cargo xtask e2e` that need a real registry process or a real file
//! system (RELIABILITY.md): the registry killed in the middle of a layer, and a disk that fills
//! up during the download and during extraction. Each time: the exit code, nothing left in
//! the destination's directory, and a rerun (registry restarted, room made) that installs.
//!
//! The full disk is a size-limited tmpfs mounted over the destination's parent, which needs
//! root (CI runs as root); without it those two cases say they are skipped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use trustpull_testkit::sigstore::{IDENTITY, ISSUER};

use crate::e2e::Env;
use crate::push::{gzip_tar, Pusher};
use crate::registry::{Options, Registry};

use crate::push::LAYER;
const REPO: &str = "e2e/faults";

/// `len` bytes that do not compress (a SHA-256 counter stream).
fn incompressible(len: usize) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u64 = 0;
    while out.len() < len {
        out.extend_from_slice(&Sha256::digest(counter.to_le_bytes()));
        counter += 1;
    }
    out.truncate(len);
    out
}

/// Runs `trustpull pull IMAGE --dest DEST` against plain-HTTP `host`; returns (exit code,
/// stderr).
fn pull(env: &Env, image: &str, dest: &Path) -> Result<(i32, String), String> {
    let out = Command::new(&env.trustpull)
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
        .arg(&env.trusted_root)
        .args([
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", env.trustpull.display()))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    ))
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Runs the cases on a registry of their own (it gets killed); returns the failures.
pub fn run_cases(env: &Env) -> Result<Vec<String>, String> {
    let mut registry = Registry::start(&env.work.join("faults-registry"), &Options::default())?;
    let push = Pusher::new(&registry, REPO, None, None)?;
    // 8 MiB that do not compress: the layer is still flowing when the registry dies, and it
    // does not fit a 1 MiB disk. 8 MiB of zeros: a layer of a few KiB that extracts to 8 MiB.
    let big = gzip_tar(&[("app/data.bin", &incompressible(8 << 20))])?;
    let bomb = gzip_tar(&[("app/zeros.bin", &vec![0u8; 8 << 20])])?;
    let runtime = &env.runtime;
    for (tag, layer) in [("big", &big), ("bomb", &bomb)] {
        let image = runtime.block_on(push.image_with_layers(tag, "amd64", &[(LAYER, layer)]))?;
        runtime.block_on(push.sign(&image, &env.sigstore))?;
    }
    let big_digest = trustpull_policy::Digest::of(&big);

    let mut failures = Vec::new();
    let mut check = |name: &str, result: Result<(), String>| match result {
        Ok(()) => eprintln!("e2e-faults: ok   {name}"),
        Err(e) => {
            eprintln!("e2e-faults: FAIL {name}: {e}");
            failures.push(format!("{name}: {e}"));
        }
    };
    check(
        "registry killed mid-layer: exit 3, nothing left; restarted, a rerun installs",
        killed_mid_layer(env, &mut registry, big_digest.hex()),
    );
    let image = |tag: &str| format!("{}/{REPO}:{tag}", registry.host);
    for (name, tag) in [
        ("disk full during the download", "big"),
        ("disk full during extraction", "bomb"),
    ] {
        match disk_full(env, &image(tag)) {
            Ok(None) => eprintln!("e2e-faults: skip {name}: mounting a tmpfs needs root"),
            Ok(Some(())) => check(name, Ok(())),
            Err(e) => check(name, Err(e)),
        }
    }
    Ok(failures)
}

/// A proxy in front of the registry; once the layer's body is flowing, the registry process is
/// killed (SIGKILL) and the client's connection ends there. Then the registry is restarted and
/// the same pull, straight to it, must install.
fn killed_mid_layer(env: &Env, registry: &mut Registry, layer_hex: &str) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let proxy = listener.local_addr().map_err(|e| e.to_string())?;
    let upstream = registry.host.clone();
    let pid = registry.pid();
    let killed = Arc::new(AtomicBool::new(false));
    let needle = layer_hex.to_owned();
    {
        let killed = Arc::clone(&killed);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, needle, killed) =
                    (upstream.clone(), needle.clone(), Arc::clone(&killed));
                std::thread::spawn(move || relay(client, &upstream, &needle, pid, &killed));
            }
        });
    }
    let out = env.work.join("faults-killed");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let dest = out.join("app");
    let (code, stderr) = pull(env, &format!("{proxy}/{REPO}:big"), &dest)?;
    if !killed.load(Ordering::SeqCst) {
        return Err(format!(
            "the layer never flowed through the proxy (exit {code}): {stderr}"
        ));
    }
    if code != 3 || !entries(&out).is_empty() {
        return Err(format!("exit {code}, left {:?}: {stderr}", entries(&out)));
    }
    registry.restart()?;
    let (code, stderr) = pull(env, &format!("{}/{REPO}:big", registry.host), &dest)?;
    if code != 0 || entries(&out) != ["app"] {
        return Err(format!("rerun: exit {code}, {:?}: {stderr}", entries(&out)));
    }
    Ok(())
}

/// Relays one connection. When a request names the layer, its response head and 1 MiB of body
/// go through, then the registry is killed and the connection closed.
fn relay(mut client: TcpStream, upstream: &str, needle: &str, pid: u32, killed: &AtomicBool) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut client_rx), Ok(mut server_tx)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let layer_asked = Arc::new(AtomicBool::new(false));
    let asked = Arc::clone(&layer_asked);
    let needle = needle.to_owned();
    std::thread::spawn(move || {
        let mut buf = vec![0; 16 * 1024];
        while let Ok(n @ 1..) = client_rx.read(&mut buf) {
            if String::from_utf8_lossy(&buf[..n]).contains(&needle) {
                asked.store(true, Ordering::SeqCst);
            }
            if server_tx.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = server_tx.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0; 16 * 1024];
    let mut body_after_ask = 0usize;
    while let Ok(n @ 1..) = server.read(&mut buf) {
        if client.write_all(&buf[..n]).is_err() {
            return;
        }
        if layer_asked.load(Ordering::SeqCst) {
            body_after_ask += n;
            if body_after_ask > 1 << 20 && !killed.swap(true, Ordering::SeqCst) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Pulls `image` into a 1 MiB tmpfs: exit 2 (a local problem), nothing left on it; then, with
/// the tmpfs gone, into the same directory: installed. `Ok(None)` when no tmpfs can be mounted.
fn disk_full(env: &Env, image: &str) -> Result<Option<()>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mount: PathBuf = dir.path().join("small");
    std::fs::create_dir(&mount).map_err(|e| e.to_string())?;
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mount)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        return Ok(None);
    }
    let dest = mount.join("app");
    let result = pull(env, image, &dest);
    let left = entries(&mount);
    let _ = Command::new("umount").arg(&mount).status();
    let (code, stderr) = result?;
    if code != 2 || !left.is_empty() {
        return Err(format!("exit {code}, left {left:?}: {stderr}"));
    }
    if !stderr.contains("No space left") {
        return Err(format!(
            "the message does not say the disk is full: {stderr}"
        ));
    }
    let (code, stderr) = pull(env, image, &dest)?;
    if code != 0 || entries(&mount) != ["app"] {
        return Err(format!("rerun with room: exit {code}: {stderr}"));
    }
    Ok(Some(()))
}
