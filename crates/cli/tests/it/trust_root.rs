//! `trustpull trust-root update / show` against the testkit's TUF repository served from
//! wiremock, with the cache in a temp `XDG_CACHE_HOME`: exit codes (0 / 2 / 3), the last good
//! root kept byte for byte across every failure, the next update retried, and the resolution
//! order (`--trusted-root` wins; else the cached root; else the embedded one) seen by `verify`.
//! Metadata expiries are far in the future or past, so the CLI's clock does not matter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use trustpull_policy::Digest;
use trustpull_testkit::sigstore::{VirtualSigstore, IDENTITY, ISSUER};
use trustpull_testkit::tuf::{long_ago, TufFault, TufRepository, TufState};
use wiremock::MockServer;

use crate::assert_exit;
use crate::registry::{Image, REPO};

struct Mirror {
    server: MockServer,
    repo: TufRepository,
    dir: tempfile::TempDir,
}

impl Mirror {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = TufRepository::new(b"cli-tuf");
        std::fs::write(dir.path().join("root.json"), repo.initial_root()).unwrap();
        Self {
            server: MockServer::start().await,
            repo,
            dir,
        }
    }

    fn xdg(&self) -> PathBuf {
        self.dir.path().join("xdg")
    }

    fn cache(&self) -> PathBuf {
        self.xdg().join("trustpull")
    }

    async fn serve(&self, state: &TufState) {
        self.repo.serve(state, &self.server).await;
    }

    /// `trustpull ARGS` with this mirror's cache.
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trustpull"));
        command.args(args).env("XDG_CACHE_HOME", self.xdg());
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    async fn update(&self) -> Output {
        let root = self.dir.path().join("root.json");
        let uri = self.server.uri();
        self.run(&[
            "trust-root",
            "update",
            "--mirror",
            &uri,
            "--root",
            root.to_str().unwrap(),
            "--output",
            "json",
        ])
        .await
    }
}

fn doc(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn trusted_root(seed: &[u8]) -> Vec<u8> {
    VirtualSigstore::from_seed(seed).trusted_root_json()
}

#[tokio::test(flavor = "multi_thread")]
async fn update_then_show_names_the_mirror_and_fingerprint() {
    let m = Mirror::start().await;
    let target = trusted_root(b"one");
    m.serve(&TufState::new(1, target.clone())).await;

    let out = m.update().await;
    assert_exit(&out, 0);
    let d = doc(&out);
    assert_eq!(
        (d["schema"].clone(), d["status"].clone()),
        (json!(1), json!("updated"))
    );
    assert_eq!(d["fingerprint"], json!(Digest::of(&target).as_str()));
    assert_eq!(d["mirror"], json!(m.server.uri()));

    let out = m.run(&["trust-root", "show", "--output", "json"]).await;
    assert_exit(&out, 0);
    let d = doc(&out);
    assert_eq!(d["source"]["kind"], json!("tuf"));
    assert_eq!(d["source"]["mirror"], json!(m.server.uri()));
    assert_eq!(d["fingerprint"], json!(Digest::of(&target).as_str()));
    let services: Vec<&str> = d["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["fulcio", "rekor", "ct_log", "tsa"]);

    let out = m.run(&["trust-root", "show"]).await;
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("TUF {}", m.server.uri())), "{text}");

    // Again: nothing new.
    let out = m.update().await;
    assert_exit(&out, 0);
    assert_eq!(doc(&out)["status"], json!("current"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mirror_failure_exits_3_keeps_the_last_good_root_and_a_fixed_mirror_succeeds() {
    let m = Mirror::start().await;
    let good = trusted_root(b"one");
    m.serve(&TufState::new(5, good.clone())).await;
    assert_exit(&m.update().await, 0);

    let evil = trusted_root(b"evil");
    let mut expired = TufState::new(6, evil.clone());
    expired.expires = long_ago();
    let mut frozen = TufState::new(6, evil.clone());
    frozen.timestamp_expires = long_ago();
    let cases = [
        (
            "bad signature",
            TufState::new(6, evil.clone()).with_fault(TufFault::BadSignature),
        ),
        (
            "garbage",
            TufState::new(6, evil.clone()).with_fault(TufFault::Garbage),
        ),
        (
            "hash mismatch",
            TufState::new(6, evil.clone()).with_fault(TufFault::TargetHashMismatch),
        ),
        ("expired", expired),
        ("freeze", frozen),
        ("rollback", TufState::new(4, evil.clone())),
        (
            "broken root chain",
            TufState::new(6, evil.clone())
                .with_root_version(2)
                .with_fault(TufFault::BrokenRootChain),
        ),
    ];
    let mut version = 5;
    let mut current = good;
    for (name, state) in cases {
        let before = files(&m.cache());
        m.serve(&state).await;
        let out = m.update().await;
        assert_exit(&out, 3);
        let d = doc(&out);
        assert_eq!(d["status"], json!("unavailable"), "{name}");
        assert!(d["failure"].is_string(), "{name}: {d}");
        assert_eq!(files(&m.cache()), before, "{name}: the cache changed");
        let shown = doc(&m.run(&["trust-root", "show", "--output", "json"]).await);
        assert_eq!(
            shown["fingerprint"],
            json!(Digest::of(&current).as_str()),
            "{name}"
        );

        // The mirror is fixed (a newer version): the next update is tried and succeeds.
        version += 10;
        current = trusted_root(format!("fixed {version}").as_bytes());
        m.serve(
            &TufState::new(version, current.clone()).with_root_version(state.root_version.max(1)),
        )
        .await;
        let out = m.update().await;
        assert_exit(&out, 0);
        assert_eq!(
            doc(&out)["fingerprint"],
            json!(Digest::of(&current).as_str()),
            "{name}"
        );
    }

    // Unreachable: nothing answers.
    m.server.reset().await;
    let before = files(&m.cache());
    let out = m.update().await;
    assert_exit(&out, 3);
    assert_eq!(files(&m.cache()), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_mirror_without_root_is_a_usage_error() {
    let m = Mirror::start().await;
    let uri = m.server.uri();
    let out = m.run(&["trust-root", "update", "--mirror", &uri]).await;
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --root"));
    assert!(!m.cache().exists(), "nothing was written");
    // A root file that is not a self-signed TUF root: also local (2).
    let bad = m.dir.path().join("bad.json");
    std::fs::write(&bad, b"{}").unwrap();
    let out = m
        .run(&[
            "trust-root",
            "update",
            "--mirror",
            &uri,
            "--root",
            bad.to_str().unwrap(),
        ])
        .await;
    assert_exit(&out, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_uses_the_cached_root_unless_trusted_root_is_given() {
    let registry = crate::registry::start(Image {
        config: b"cfg",
        layers: &[],
        signed: true,
        referrers_status: None,
        legacy: false,
        attested: None,
    })
    .await;
    let m = Mirror::start().await;
    let image = format!("{}/{REPO}:v1", registry.server.address());
    let verify = |extra: Vec<String>| {
        let mut args: Vec<String> = [
            "verify",
            &image,
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
            "--plain-http",
            "--output",
            "json",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra);
        let mut command = Command::new(env!("CARGO_BIN_EXE_trustpull"));
        command
            .args(args)
            .env("XDG_CACHE_HOME", m.xdg())
            .env("DOCKER_CONFIG", registry.dir.path());
        async move {
            tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap()
        }
    };

    // No cache: the embedded public-good root does not trust the virtual Sigstore.
    assert_exit(&verify(vec![]).await, 1);

    // The mirror publishes the virtual Sigstore's root: once cached, verify uses it.
    let signer_root = std::fs::read(registry.dir.path().join("trusted_root.json")).unwrap();
    m.serve(&TufState::new(1, signer_root)).await;
    assert_exit(&m.update().await, 0);
    let out = verify(vec![]).await;
    assert_exit(&out, 0);
    assert_eq!(doc(&out)["verified"], json!(true));

    // --trusted-root wins over the cache.
    let other = m.dir.path().join("other.json");
    std::fs::write(&other, trusted_root(b"someone else")).unwrap();
    let out = verify(vec!["--trusted-root".into(), other.display().to_string()]).await;
    assert_exit(&out, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn version_names_the_embedded_root() {
    let out = crate::trustpull(&["--version"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("embedded trusted root: sha256:"), "{text}");
    assert!(text.contains("newest key from 20"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gallery_install_uses_the_cached_root_when_the_config_names_none() {
    let m = Mirror::start().await;
    let examples = crate::examples();
    let work = m.dir.path();
    std::fs::write(
        work.join("backends.yaml"),
        format!(
            "- name: demo\n  uri: oci-layout:{}:v1\n",
            examples.join("demo-image").display()
        ),
    )
    .unwrap();
    let config = work.join("galleries.yaml");
    std::fs::write(
        &config,
        format!(
            "galleries:\n  - name: demo\n    url: ./backends.yaml\n    verification:\n      issuer: {ISSUER}\n      identity: {IDENTITY}\n"
        ),
    )
    .unwrap();
    let install = |dest: &str| {
        let dest = work.join(dest);
        vec![
            "install".to_owned(),
            "demo".to_owned(),
            "--galleries".to_owned(),
            config.display().to_string(),
            "--dest".to_owned(),
            dest.display().to_string(),
        ]
    };
    let run = |args: Vec<String>| {
        let m = &m;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            m.run(&args).await
        }
    };

    // No cache: the embedded root does not trust the demo's signer.
    assert_exit(&run(install("before")).await, 1);

    // The mirror publishes the demo's trusted root; once cached, install uses it.
    m.serve(&TufState::new(
        1,
        std::fs::read(examples.join("trusted_root.json")).unwrap(),
    ))
    .await;
    assert_exit(&m.update().await, 0);
    assert_exit(&run(install("after")).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn show_names_the_embedded_root_without_a_cache_and_a_file_when_given() {
    let m = Mirror::start().await;
    let d = doc(&m.run(&["trust-root", "show", "--output", "json"]).await);
    assert_eq!(d["source"]["kind"], json!("embedded"));
    assert_eq!(d["status"], json!("ok"));
    let file = m.dir.path().join("file.json");
    let bytes = trusted_root(b"file");
    std::fs::write(&file, &bytes).unwrap();
    let out = m
        .run(&[
            "trust-root",
            "show",
            "--output",
            "json",
            "--trusted-root",
            file.to_str().unwrap(),
        ])
        .await;
    assert_exit(&out, 0);
    let d = doc(&out);
    assert_eq!(d["source"]["kind"], json!("file"));
    assert_eq!(d["fingerprint"], json!(Digest::of(&bytes).as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_cache_is_a_local_error_not_a_fall_back() {
    let m = Mirror::start().await;
    m.serve(&TufState::new(1, trusted_root(b"one"))).await;
    assert_exit(&m.update().await, 0);
    for root in std::fs::read_dir(m.cache().join("roots"))
        .unwrap()
        .flatten()
    {
        std::fs::write(root.path(), b"{}").unwrap();
    }
    let out = m.run(&["trust-root", "show"]).await;
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged"));
}
