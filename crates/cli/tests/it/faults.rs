//! Bad days (RELIABILITY.md): a registry answering 503 with `Retry-After`, a connection reset
//! in the middle of a layer, two installs of one name at once, a corrupted receipt. Each time:
//! the exit code the CLI contract names, the destination as it was (or the new tree complete), nothing
//! left behind, and a rerun that succeeds.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::registry::{Registry, REPO};
use crate::{assert_exit, copy_dir, examples, names, trustpull_command, IDENTITY, ISSUER};

/// `trustpull pull HOST/acme/app@DIGEST --dest DEST`, run to its end.
async fn pull(registry: &Registry, host: String, dest: &Path) -> Output {
    crate::run(registry.pull_command(&host, dest, &[], &[])).await
}

/// The same, straight from the registry.
async fn pull_direct(registry: &Registry, dest: &Path) -> Output {
    pull(registry, registry.server.address().to_string(), dest).await
}

fn blob_path(digest: &[u8]) -> String {
    format!("/v2/{REPO}/blobs/{}", trustpull_policy::Digest::of(digest))
}

/// A mock answering GETs of `layer`'s blob with `response`.
fn layer_answers(layer: &[u8], response: ResponseTemplate) -> Mock {
    Mock::given(method("GET"))
        .and(path(blob_path(layer)))
        .respond_with(response)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_503_storm_with_retry_after_is_waited_out() {
    let (registry, layer) = crate::registry::start_with_demo_layer().await;
    // The layer answers 503 "come back in 1 s" twice, then serves.
    layer_answers(
        &layer,
        ResponseTemplate::new(503).insert_header("Retry-After", "1"),
    )
    .up_to_n_times(2)
    .with_priority(1)
    .expect(2)
    .mount(&registry.server)
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("app");
    let out = pull_direct(&registry, &dest).await;
    assert_exit(&out, 0);
    assert_eq!(names(tmp.path()), ["app"]);
    registry.server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_503_storm_exits_3_and_installs_nothing() {
    let (registry, layer) = crate::registry::start_with_demo_layer().await;
    layer_answers(
        &layer,
        ResponseTemplate::new(503).insert_header("Retry-After", "0"),
    )
    .with_priority(1)
    .mount(&registry.server)
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let out = pull_direct(&registry, &tmp.path().join("app")).await;
    assert_exit(&out, 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("503"), "{stderr}");
    assert!(names(tmp.path()).is_empty(), "{:?}", names(tmp.path()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_answered_with_other_bytes_is_a_rejection_that_writes_nothing() {
    let (registry, layer) = crate::registry::start_with_demo_layer().await;
    // The layer answers 503 once, then (on the retry) bytes of the same size that are not it.
    layer_answers(
        &layer,
        ResponseTemplate::new(503).insert_header("Retry-After", "0"),
    )
    .up_to_n_times(1)
    .with_priority(1)
    .mount(&registry.server)
    .await;
    let mut other = layer.clone();
    let last = other.len() - 1;
    other[last] ^= 0xff;
    layer_answers(&layer, ResponseTemplate::new(200).set_body_bytes(other))
        .with_priority(2)
        .mount(&registry.server)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let out = pull_direct(&registry, &tmp.path().join("app")).await;
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tampered or corrupt"), "{stderr}");
    assert!(names(tmp.path()).is_empty(), "{:?}", names(tmp.path()));
}

/// A loopback proxy in front of a registry that, the first time a request names `needle`,
/// forwards the response head and `keep` body bytes, then resets the connection (RST).
struct ResettingProxy {
    addr: std::net::SocketAddr,
    resets: Arc<AtomicUsize>,
}

async fn resetting_proxy(
    upstream: std::net::SocketAddr,
    needle: String,
    keep: usize,
) -> ResettingProxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = ResettingProxy {
        addr: listener.local_addr().unwrap(),
        resets: Arc::default(),
    };
    let resets = Arc::clone(&proxy.resets);
    let armed = Arc::new(AtomicBool::new(true));
    // Detached: the test's runtime ends it when the test ends.
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(reset_relay(
                client,
                upstream,
                needle.clone(),
                keep,
                Arc::clone(&armed),
                Arc::clone(&resets),
            ));
        }
    });
    proxy
}

async fn reset_relay(
    client: tokio::net::TcpStream,
    upstream: std::net::SocketAddr,
    needle: String,
    keep: usize,
    armed: Arc<AtomicBool>,
    resets: Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    // Closing with a zero linger time sends RST instead of FIN.
    client.set_zero_linger().unwrap();
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let cut = Arc::new(AtomicBool::new(false));
    // Set when the response was cut: the request side stops waiting for the client.
    let stop = Arc::new(tokio::sync::Notify::new());
    let requests = {
        let (cut, stop) = (Arc::clone(&cut), Arc::clone(&stop));
        async move {
            let mut buf = vec![0; 16 * 1024];
            loop {
                let n = tokio::select! {
                    read = client_rx.read(&mut buf) => match read {
                        Ok(n @ 1..) => n,
                        _ => break,
                    },
                    () = stop.notified() => break,
                };
                if String::from_utf8_lossy(&buf[..n]).contains(&needle)
                    && armed.swap(false, Ordering::SeqCst)
                {
                    cut.store(true, Ordering::SeqCst);
                }
                if server_tx.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            client_rx
        }
    };
    let responses = async move {
        let mut buf = vec![0; 16 * 1024];
        let mut head = Vec::new();
        while let Ok(n @ 1..) = server_rx.read(&mut buf).await {
            if !cut.load(Ordering::SeqCst) {
                if client_tx.write_all(&buf[..n]).await.is_err() {
                    return client_tx;
                }
                continue;
            }
            head.extend_from_slice(&buf[..n]);
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            if head.len() >= end + 4 + keep {
                let _ = client_tx.write_all(&head[..end + 4 + keep]).await;
                let _ = client_tx.flush().await;
                resets.fetch_add(1, Ordering::SeqCst);
                stop.notify_one();
                return client_tx;
            }
        }
        client_tx
    };
    let (rx, tx) = tokio::join!(requests, responses);
    // Dropping both halves closes the socket: with the zero linger, by RST.
    drop(rx.reunite(tx));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_reset_mid_layer_exits_3_then_a_rerun_installs() {
    let (registry, layer) = crate::registry::start_with_demo_layer().await;
    let needle = trustpull_policy::Digest::of(&layer).hex().to_owned();
    let proxy = resetting_proxy(*registry.server.address(), needle, layer.len() / 2).await;
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("app");

    // A body cut short is not retried within the run (the layer is not resumed): exit 3 and
    // nothing installed; the next run fetches it whole.
    let first = pull(&registry, proxy.addr.to_string(), &dest).await;
    assert_eq!(
        proxy.resets.load(Ordering::SeqCst),
        1,
        "the layer was cut once"
    );
    assert_exit(&first, 3);
    assert!(names(tmp.path()).is_empty(), "{:?}", names(tmp.path()));
    let again = pull(&registry, proxy.addr.to_string(), &dest).await;
    assert_exit(&again, 0);
    assert_eq!(names(tmp.path()), ["app"]);
}

/// The offline demo copied into `dir`: an OCI layout and a gallery config naming it by
/// absolute path. Returns the config's path.
fn demo_gallery(dir: &Path) -> PathBuf {
    let layout = dir.join("demo-image");
    copy_dir(&examples().join("demo-image"), &layout);
    std::fs::copy(
        examples().join("trusted_root.json"),
        dir.join("trusted_root.json"),
    )
    .unwrap();
    std::fs::write(
        dir.join("backends.yaml"),
        format!("- name: demo\n  uri: oci-layout:{}:v1\n", layout.display()),
    )
    .unwrap();
    let config = dir.join("galleries.yaml");
    std::fs::write(
        &config,
        format!(
            "trusted_root: ./trusted_root.json\ngalleries:\n  - name: demo\n    url: ./backends.yaml\n    verification:\n      issuer: {ISSUER}\n      identity: {IDENTITY}\n"
        ),
    )
    .unwrap();
    config
}

fn install_command(config: &Path, dest: &Path) -> std::process::Command {
    trustpull_command(&[
        "install",
        "demo",
        "--galleries",
        config.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
    ])
}

fn verify_installed(config: &Path, dest: &Path) -> Output {
    trustpull_command(&[
        "verify-installed",
        "--galleries",
        config.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
    ])
    .output()
    .unwrap()
}

#[test]
fn two_installs_of_one_name_at_once_end_with_one_proven_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_gallery(tmp.path());
    let dest = tmp.path().join("backends");
    std::fs::create_dir(&dest).unwrap();
    let first = install_command(&config, &dest).spawn().unwrap();
    let second = install_command(&config, &dest).spawn().unwrap();
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    assert_exit(&first, 0);
    assert_exit(&second, 0);
    assert_eq!(names(&dest), ["demo", "demo.receipt.json"]);
    assert_exit(&verify_installed(&config, &dest), 0);
}

#[test]
fn a_corrupted_receipt_fails_verify_installed_and_a_reinstall_repairs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_gallery(tmp.path());
    let dest = tmp.path().join("backends");
    std::fs::create_dir(&dest).unwrap();
    assert_exit(&install_command(&config, &dest).output().unwrap(), 0);
    let receipt = dest.join("demo.receipt.json");
    let mut bytes = std::fs::read(&receipt).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&receipt, &bytes).unwrap();

    // A receipt that cannot be read proves nothing either way: a local problem (exit 2),
    // named, until a reinstall writes a good one.
    let out = verify_installed(&config, &dest);
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("demo.receipt.json"), "{stderr}");

    assert_exit(&install_command(&config, &dest).output().unwrap(), 0);
    assert_exit(&verify_installed(&config, &dest), 0);
    assert_eq!(names(&dest), ["demo", "demo.receipt.json"]);
}
