//! `cargo xtask e2e`: `trustpull verify` against a real registry (Debian's `docker-registry`,
//! distribution 2.8) on 127.0.0.1, without and with HTTP basic auth.
//!
//! Steps: install `docker-registry` and `apache2-utils` with apt-get when missing (only as
//! root; otherwise print the command and fail); start three registries on free loopback ports
//! with a generated config and temporary storage (plain HTTP; HTTP with an htpasswd file, also
//! reached through a `credHelpers` credential helper; HTTPS with a private CA made by openssl,
//! passed as `--registry-ca`); push
//! fixture images and cosign-style signatures written from the OCI distribution spec 1.1 (a
//! referrer manifest with `artifactType` = the Sigstore bundle type, the empty config, one
//! bundle layer and a `subject`, then the fallback index under the `sha256-<hex>` tag, since
//! distribution 2.8 has no referrers API), signed by the testkit's virtual Sigstore; then run
//! the `trustpull` binary on positive and negative cases and check exit codes and JSON.
//!
//! Every registry process is owned by a guard that kills it on drop, so a failing step still
//! stops what was started. Nothing listens beyond 127.0.0.1.

use std::collections::BTreeMap;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use trustpull_policy::Digest;
use trustpull_testkit::sigstore::{SignRequest, VirtualSigstore, IDENTITY, ISSUER};

use crate::util::{self, cargo};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const INSTALL: &str = "apt-get install -y docker-registry apache2-utils";
const USER: &str = "e2e";
const PASSWORD: &str = "e2e-password";

/// Entry point; `e2e` takes no arguments.
pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!(
            "`cargo xtask e2e` takes no arguments, got {extra:?}"
        ));
    }
    ensure_installed()?;
    util::run(cargo().args(["build", "-p", "trustpull", "--bin", "trustpull"]))?;
    let trustpull = util::built_binary("debug", "trustpull");
    let work = tempfile::Builder::new()
        .prefix("trustpull-e2e-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let sigstore = VirtualSigstore::new();
    let root_path = work.path().join("trusted_root.json");
    fs::write(&root_path, sigstore.trusted_root_json())
        .map_err(|e| format!("write trusted root: {e}"))?;
    let env = Env {
        trustpull,
        trusted_root: root_path,
        work: work.path().to_path_buf(),
    };

    let tls = Tls::generate(&work.path().join("tls"))?;
    let plain = RunningRegistry::start(&work.path().join("plain"), false, None)?;
    let authed = RunningRegistry::start(&work.path().join("auth"), true, None)?;
    let https = RunningRegistry::start(&work.path().join("https"), false, Some(&tls))?;
    let mut failures = Vec::new();
    let plain_http = vec!["--plain-http".to_owned()];
    let with_ca = vec!["--registry-ca".to_owned(), tls.ca.display().to_string()];
    for (registry, auth, connection, label) in [
        (&plain, None, &plain_http, "http, no auth"),
        (
            &authed,
            Some((USER, PASSWORD)),
            &plain_http,
            "http, basic auth",
        ),
        (&https, None, &with_ca, "https with a private CA"),
    ] {
        eprintln!("e2e: registry {} ({label})", registry.host);
        let ca = if registry.tls {
            Some(tls.ca.as_path())
        } else {
            None
        };
        let pusher = Pusher::new(&registry.host, auth, ca)?;
        let fixtures = runtime.block_on(push_fixtures(&pusher, &sigstore))?;
        let target = Target {
            host: &registry.host,
            with_auth: auth.is_some(),
            connection,
        };
        failures.extend(run_cases(&env, &target, &fixtures)?);
    }
    drop(https);
    drop(authed);
    drop(plain);
    if failures.is_empty() {
        eprintln!("e2e: all cases passed");
        // Interop (DESIGN.md §10): bundles from an independent producer (npm @sigstore/mock,
        // @sigstore/sign, @sigstore/cli attest/attach) through verify-bundle and a registry.
        crate::interop::run(&["--registry".to_owned()])
    } else {
        Err(format!(
            "{} e2e case(s) failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}

fn ensure_installed() -> Result<(), String> {
    let missing = |bin: &str| {
        !["/usr/bin", "/usr/local/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(bin).exists())
    };
    if !missing("docker-registry") && !missing("htpasswd") {
        return Ok(());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run id -u: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err(format!("Debian's docker-registry and htpasswd are needed; install them with:\n  sudo {INSTALL}"));
    }
    let install = || {
        util::run(Command::new("apt-get").args([
            "install",
            "-y",
            "docker-registry",
            "apache2-utils",
        ]))
    };
    if install().is_err() {
        util::run(Command::new("apt-get").arg("update"))?;
        install()?;
    }
    Ok(())
}

/// A `docker-registry serve` process; killed and reaped on drop.
struct RunningRegistry {
    child: Child,
    host: String,
    tls: bool,
}

/// A private CA and a server certificate for 127.0.0.1 signed by it (openssl).
struct Tls {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Tls {
    fn generate(dir: &Path) -> Result<Self, String> {
        fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let p = |name: &str| dir.join(name).display().to_string();
        let ext = dir.join("server.ext");
        fs::write(
            &ext,
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| format!("write {}: {e}", ext.display()))?;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let openssl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl")
                .args(args)
                .output()
                .map_err(|e| format!("cannot run openssl: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "openssl {} failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        };
        let mut ca = vec![
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=trustpull e2e CA",
        ];
        ca.extend(ec);
        let (ca_key, ca_pem) = (p("ca.key"), p("ca.pem"));
        ca.extend(["-keyout", &ca_key, "-out", &ca_pem]);
        ca.extend([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        openssl(&ca)?;
        let (key, csr, cert) = (p("server.key"), p("server.csr"), p("server.pem"));
        let mut req = vec![
            "req",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &csr,
        ];
        req.extend(ec);
        openssl(&req)?;
        let ext = ext.display().to_string();
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &cert,
            "-extfile",
            &ext,
        ])?;
        Ok(Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        })
    }
}

impl RunningRegistry {
    fn start(dir: &Path, with_auth: bool, tls: Option<&Tls>) -> Result<Self, String> {
        fs::create_dir_all(dir.join("storage"))
            .map_err(|e| format!("create {}: {e}", dir.display()))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: trustpull-e2e\n",
            dir.join("storage").display()
        );
        if let Some(tls) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                tls.cert.display(),
                tls.key.display()
            ));
        }
        if with_auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", USER, PASSWORD])
                .output()
                .map_err(|e| format!("cannot run htpasswd: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "htpasswd failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let file = dir.join("htpasswd");
            fs::write(&file, &out.stdout).map_err(|e| format!("write htpasswd: {e}"))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: trustpull-e2e\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.join("config.yml");
        fs::write(&config_path, config).map_err(|e| format!("write registry config: {e}"))?;
        let log_path = dir.join("registry.log");
        let log = fs::File::create(&log_path).map_err(|e| format!("create log: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("log: {e}"))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot start docker-registry: {e}"))?;
        let mut registry = Self {
            child,
            host,
            tls: tls.is_some(),
        };
        registry.wait_ready(&log_path)?;
        Ok(registry)
    }

    /// Polls the port until the registry accepts connections (or exits, or 20 s pass).
    fn wait_ready(&mut self, log: &Path) -> Result<(), String> {
        let addr: SocketAddr = self
            .host
            .parse()
            .map_err(|e| format!("bad address {}: {e}", self.host))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "docker-registry exited ({status}) before listening on {}: {}",
                    self.host,
                    fs::read_to_string(log).unwrap_or_default()
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "docker-registry did not listen on {} within 20 s",
                    self.host
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RunningRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pushes blobs and manifests with the distribution API (monolithic uploads).
struct Pusher {
    http: reqwest::Client,
    base: String,
    authorization: Option<String>,
}

/// What was pushed, for the cases to refer to.
struct Fixtures {
    signed: Pushed,
    unsigned: Pushed,
    foreign: Pushed,
    index: Pushed,
    old_style: Pushed,
    junk_first: Pushed,
    amd64: Pushed,
    arm64: Pushed,
}

#[derive(Clone)]
struct Pushed {
    digest: Digest,
    media_type: &'static str,
    size: usize,
}

const REPO: &str = "e2e/app";

impl Pusher {
    fn new(host: &str, auth: Option<(&str, &str)>, ca: Option<&Path>) -> Result<Self, String> {
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(ca) = ca {
            let pem = fs::read(ca).map_err(|e| format!("read {}: {e}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("CA: {e}"))?;
            http = http.tls_certs_merge([cert]);
        }
        let http = http.build().map_err(|e| format!("http client: {e}"))?;
        let authorization = auth.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        Ok(Self {
            http,
            base: format!("{}://{host}", if ca.is_some() { "https" } else { "http" }),
            authorization,
        })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.authorization {
            Some(a) => r.header("authorization", a),
            None => r,
        }
    }

    async fn blob(&self, bytes: &[u8]) -> Result<Digest, String> {
        let digest = Digest::of(bytes);
        let start = self
            .request(
                reqwest::Method::POST,
                &format!("{}/v2/{REPO}/blobs/uploads/", self.base),
            )
            .send()
            .await
            .map_err(|e| format!("start upload: {e}"))?;
        if start.status().as_u16() != 202 {
            return Err(format!(
                "start upload: HTTP {}: {}",
                start.status(),
                start.text().await.unwrap_or_default()
            ));
        }
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or("upload without Location")?
            .to_owned();
        let mut url = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let put = self
            .request(reqwest::Method::PUT, &url)
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| format!("upload {digest}: {e}"))?;
        if put.status().as_u16() != 201 {
            return Err(format!(
                "upload {digest}: HTTP {}: {}",
                put.status(),
                put.text().await.unwrap_or_default()
            ));
        }
        Ok(digest)
    }

    async fn manifest(
        &self,
        reference: &str,
        media_type: &'static str,
        bytes: &[u8],
    ) -> Result<Pushed, String> {
        let resp = self
            .request(
                reqwest::Method::PUT,
                &format!("{}/v2/{REPO}/manifests/{reference}", self.base),
            )
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| format!("put manifest {reference}: {e}"))?;
        if resp.status().as_u16() != 201 {
            return Err(format!(
                "put manifest {reference}: HTTP {}: {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            ));
        }
        Ok(Pushed {
            digest: Digest::of(bytes),
            media_type,
            size: bytes.len(),
        })
    }

    /// An image: config + one layer, under `tag`.
    async fn image(&self, tag: &str, arch: &str, content: &str) -> Result<Pushed, String> {
        let config = serde_json::to_vec(&json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}))
            .map_err(|e| e.to_string())?;
        let layer = format!("e2e layer: {content}").into_bytes();
        let config_digest = self.blob(&config).await?;
        let layer_digest = self.blob(&layer).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
        });
        self.manifest(
            tag,
            OCI_MANIFEST,
            &serde_json::to_vec(&manifest).map_err(|e| e.to_string())?,
        )
        .await
    }

    /// A cosign-style signature for `subject`: the referrer manifest (pushed by digest) and
    /// the fallback index `sha256-<hex>` listing it (together with `others` already there).
    /// `artifact_type: None` writes the referrer like older cosign fallback indexes did:
    /// no artifactType on the descriptor.
    async fn attach(
        &self,
        subject: &Pushed,
        bundle: &[u8],
        created: &str,
        listed_type: Option<&str>,
        index_entries: &mut BTreeMap<Digest, Vec<Value>>,
        listed_under: &Digest,
    ) -> Result<Digest, String> {
        self.blob(b"{}").await?;
        let bundle_digest = self.blob(bundle).await?;
        let referrer = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE,
            "config": {"mediaType": OCI_EMPTY, "digest": Digest::of(b"{}"), "size": 2, "data": "e30="},
            "layers": [{"mediaType": BUNDLE, "digest": bundle_digest, "size": bundle.len()}],
            "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
            "annotations": {"org.opencontainers.image.created": created},
        });
        let bytes = serde_json::to_vec(&referrer).map_err(|e| e.to_string())?;
        let pushed = self
            .manifest(Digest::of(&bytes).as_str(), OCI_MANIFEST, &bytes)
            .await?;
        let mut descriptor = json!({
            "mediaType": OCI_MANIFEST,
            "digest": pushed.digest,
            "size": pushed.size,
            "annotations": {"org.opencontainers.image.created": created},
        });
        if let Some(t) = listed_type {
            descriptor["artifactType"] = json!(t);
        }
        let entries = index_entries.entry(listed_under.clone()).or_default();
        entries.push(descriptor);
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
        let index = serde_json::to_vec(&index).map_err(|e| e.to_string())?;
        self.manifest(&format!("sha256-{}", listed_under.hex()), OCI_INDEX, &index)
            .await?;
        Ok(pushed.digest)
    }
}

async fn push_fixtures(p: &Pusher, sigstore: &VirtualSigstore) -> Result<Fixtures, String> {
    let mut fallback: BTreeMap<Digest, Vec<Value>> = BTreeMap::new();
    let sign = |d: &Digest| sigstore.sign(&SignRequest::dsse(d.clone()));

    let signed = p.image("signed", "amd64", "signed").await?;
    p.attach(
        &signed,
        &sign(&signed.digest),
        "2026-03-01T12:00:00Z",
        Some(BUNDLE),
        &mut fallback,
        &signed.digest,
    )
    .await?;

    let unsigned = p.image("unsigned", "amd64", "unsigned").await?;

    // The fallback index of `foreign` lists a valid signature whose subject is `signed`.
    let foreign = p.image("foreign", "amd64", "foreign").await?;
    let stolen_bundle = sign(&signed.digest);
    p.attach(
        &signed,
        &stolen_bundle,
        "2026-03-02T12:00:00Z",
        Some(BUNDLE),
        &mut fallback,
        &foreign.digest,
    )
    .await?;

    // Older cosign: the fallback index entry has no artifactType; decided from the manifest.
    let old_style = p.image("old-style", "amd64", "old-style").await?;
    p.attach(
        &old_style,
        &sign(&old_style.digest),
        "2026-03-01T12:00:00Z",
        None,
        &mut fallback,
        &old_style.digest,
    )
    .await?;

    // A junk signature (newer, so tried first) before a valid one: the valid one wins.
    let junk_first = p.image("junk-first", "amd64", "junk-first").await?;
    p.attach(
        &junk_first,
        &sign(&junk_first.digest),
        "2026-03-01T12:00:00Z",
        Some(BUNDLE),
        &mut fallback,
        &junk_first.digest,
    )
    .await?;
    p.attach(
        &junk_first,
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","junk":true}"#,
        "2026-03-09T12:00:00Z",
        Some(BUNDLE),
        &mut fallback,
        &junk_first.digest,
    )
    .await?;

    // A multi-arch index signed at the index level; its arm64 child is also signed itself.
    let amd64 = p.image("multi-amd64", "amd64", "multi amd64").await?;
    let arm64 = p.image("multi-arm64", "arm64", "multi arm64").await?;
    let child = |c: &Pushed, arch: &str| json!({"mediaType": c.media_type, "digest": c.digest, "size": c.size, "platform": {"os": "linux", "architecture": arch}});
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child(&amd64, "amd64"), child(&arm64, "arm64")]});
    let index = p
        .manifest(
            "multi",
            OCI_INDEX,
            &serde_json::to_vec(&index).map_err(|e| e.to_string())?,
        )
        .await?;
    p.attach(
        &index,
        &sign(&index.digest),
        "2026-03-01T12:00:00Z",
        Some(BUNDLE),
        &mut fallback,
        &index.digest,
    )
    .await?;
    p.attach(
        &arm64,
        &sign(&arm64.digest),
        "2026-03-01T12:00:00Z",
        Some(BUNDLE),
        &mut fallback,
        &arm64.digest,
    )
    .await?;

    Ok(Fixtures {
        signed,
        unsigned,
        foreign,
        index,
        old_style,
        junk_first,
        amd64,
        arm64,
    })
}

struct Env {
    trustpull: PathBuf,
    trusted_root: PathBuf,
    work: PathBuf,
}

struct Case {
    name: &'static str,
    image: String,
    /// Extra flags; unless `own_identity`, `--certificate-identity <fixture identity>` is added.
    flags: Vec<String>,
    own_identity: bool,
    expect: Expect,
}

enum Expect {
    /// Exit 0 with a JSON receipt for this digest, signed on this target (`manifest`/`index`).
    Verified(Digest, &'static str),
    /// This exit code, with this text in the error.
    Fails(i32, &'static str),
}

fn case(name: &'static str, image: String, flags: &[&str], expect: Expect) -> Case {
    let own_identity = flags
        .iter()
        .any(|f| f.starts_with("--certificate-identity"));
    Case {
        name,
        image,
        flags: flags.iter().map(|s| (*s).to_owned()).collect(),
        own_identity,
        expect,
    }
}

/// The registry the cases run against and how `trustpull` reaches it.
struct Target<'a> {
    host: &'a str,
    with_auth: bool,
    /// `--plain-http`, or `--registry-ca FILE`.
    connection: &'a [String],
}

fn run_cases(env: &Env, target: &Target<'_>, f: &Fixtures) -> Result<Vec<String>, String> {
    let (host, with_auth) = (target.host, target.with_auth);
    use Expect::{Fails, Verified};
    let image = |tag: &str| format!("{host}/{REPO}:{tag}");
    let by_digest = |d: &Digest| format!("{host}/{REPO}@{d}");
    let signed = || Verified(f.signed.digest.clone(), "manifest");
    let cases = vec![
        case("signed, by tag", image("signed"), &[], signed()),
        case(
            "signed, by digest",
            by_digest(&f.signed.digest),
            &[],
            signed(),
        ),
        case(
            "older cosign fallback entry without artifactType",
            image("old-style"),
            &[],
            Verified(f.old_style.digest.clone(), "manifest"),
        ),
        case(
            "a junk candidate listed before a valid one",
            image("junk-first"),
            &[],
            Verified(f.junk_first.digest.clone(), "manifest"),
        ),
        case(
            "unsigned",
            by_digest(&f.unsigned.digest),
            &[],
            Fails(1, "no signatures found"),
        ),
        case(
            "foreign subject in the fallback index",
            by_digest(&f.foreign.digest),
            &[],
            Fails(1, "names subject"),
        ),
        case(
            "signed before --not-before",
            image("signed"),
            &["--not-before", "2026-04-01T00:00:00Z"],
            Fails(1, "not_before"),
        ),
        case(
            "wrong identity",
            image("signed"),
            &[
                "--certificate-identity",
                "https://github.com/evil/backends/.github/workflows/release.yml@refs/heads/main",
            ],
            Fails(1, "identity mismatch"),
        ),
        case(
            "identity regex is full-match",
            image("signed"),
            &["--certificate-identity-regexp", "acme/backends"],
            Fails(1, "must match the whole identity"),
        ),
        case(
            "identity regex matching the whole identity",
            image("signed"),
            &[
                "--certificate-identity-regexp",
                r"https://github\.com/acme/backends/.*",
            ],
            signed(),
        ),
        case(
            "multi-arch child, index signature, signed: either",
            image("multi"),
            &["--platform", "linux/amd64"],
            Verified(f.amd64.digest.clone(), "index"),
        ),
        case(
            "multi-arch child, index-only signature, --signed platform",
            image("multi"),
            &["--platform", "linux/amd64", "--signed", "platform"],
            Fails(1, "no signatures found"),
        ),
        case(
            "multi-arch child, child signature, --signed platform",
            image("multi"),
            &["--platform", "linux/arm64", "--signed", "platform"],
            Verified(f.arm64.digest.clone(), "manifest"),
        ),
        case(
            "index verified as itself without --platform",
            image("multi"),
            &[],
            Verified(f.index.digest.clone(), "manifest"),
        ),
        case(
            "missing platform",
            image("multi"),
            &["--platform", "linux/s390x"],
            Fails(2, "has no linux/s390x image"),
        ),
        case(
            "unknown tag",
            image("nope"),
            &[],
            Fails(2, "MANIFEST_UNKNOWN"),
        ),
    ];

    // Docker config dirs: with the credentials, and empty.
    let with_creds = env.work.join(format!("docker-{}", host.replace(':', "_")));
    fs::create_dir_all(&with_creds).map_err(|e| e.to_string())?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    fs::write(
        with_creds.join("config.json"),
        json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
    .map_err(|e| e.to_string())?;
    let empty = env.work.join("docker-empty");
    fs::create_dir_all(&empty).map_err(|e| e.to_string())?;

    // A credential helper speaking the Docker protocol, found on PATH.
    let helper_dir = env.work.join("helper-bin");
    fs::create_dir_all(&helper_dir).map_err(|e| e.to_string())?;
    let helper = helper_dir.join("docker-credential-trustpull-e2e");
    fs::write(
        &helper,
        format!("#!/bin/sh\nread server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n"),
    )
    .map_err(|e| e.to_string())?;
    fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let with_helper = env
        .work
        .join(format!("docker-helper-{}", host.replace(':', "_")));
    fs::create_dir_all(&with_helper).map_err(|e| e.to_string())?;
    fs::write(
        with_helper.join("config.json"),
        json!({"credHelpers": {host: "trustpull-e2e"}}).to_string(),
    )
    .map_err(|e| e.to_string())?;

    let mut failures = Vec::new();
    let mut check =
        |c: &Case, docker_config: &Path, path_prefix: Option<&Path>, connection: &[String]| {
            if let Err(e) = run_case(env, c, docker_config, path_prefix, connection) {
                failures.push(format!("[{host}] {}: {e}", c.name));
            }
        };
    for c in &cases {
        check(
            c,
            if with_auth { &with_creds } else { &empty },
            None,
            target.connection,
        );
    }
    if with_auth {
        // Without credentials the registry answers 401: unavailable (3), never "no signatures".
        let c = case(
            "no credentials for an auth registry",
            image("signed"),
            &[],
            Fails(3, "HTTP 401"),
        );
        check(&c, &empty, None, target.connection);
        let c = case(
            "credentials from a credHelpers helper",
            image("signed"),
            &[],
            Verified(f.signed.digest.clone(), "manifest"),
        );
        check(&c, &with_helper, Some(&helper_dir), target.connection);
    }
    if target.connection.iter().any(|a| a == "--registry-ca") {
        // The same https registry without its private CA: a TLS failure is unavailable (3).
        let c = case(
            "https without the private CA",
            image("signed"),
            &[],
            Fails(3, "could not reach"),
        );
        check(&c, &empty, None, &[]);
    }
    Ok(failures)
}

fn run_case(
    env: &Env,
    c: &Case,
    docker_config: &Path,
    path_prefix: Option<&Path>,
    connection: &[String],
) -> Result<(), String> {
    let mut cmd = Command::new(&env.trustpull);
    cmd.arg("verify").arg(&c.image);
    if !c.own_identity {
        cmd.args(["--certificate-identity", IDENTITY]);
    }
    cmd.args([
        "--certificate-oidc-issuer",
        ISSUER,
        "--output",
        "json",
        "--trusted-root",
    ])
    .arg(&env.trusted_root)
    .args(connection)
    .args(&c.flags)
    .env("DOCKER_CONFIG", docker_config);
    if let Some(dir) = path_prefix {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        cmd.env(
            "PATH",
            std::env::join_paths(dirs).map_err(|e| e.to_string())?,
        );
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run trustpull: {e}"))?;
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let unexpected = |why: String| {
        format!(
            "{why}\n    stdout: {}\n    stderr: {}",
            stdout.trim(),
            stderr.trim()
        )
    };
    match &c.expect {
        Expect::Verified(digest, target) => {
            if code != 0 {
                return Err(unexpected(format!("exit {code}, expected 0")));
            }
            let receipt: Value = serde_json::from_str(stdout.trim())
                .map_err(|e| unexpected(format!("stdout is not JSON: {e}")))?;
            if receipt["verified"] != json!(true)
                || receipt["digest"] != json!(digest.as_str())
                || receipt["signed_target"] != json!(target)
            {
                return Err(unexpected(format!("expected a receipt with verified: true, digest {digest}, signed_target {target}")));
            }
        }
        Expect::Fails(expected, because) => {
            if code != *expected || !stderr.contains(because) {
                return Err(unexpected(format!(
                    "exit {code}, expected {expected} with {because:?} in the error"
                )));
            }
        }
    }
    eprintln!("e2e: ok   {} (exit {code})", c.name);
    Ok(())
}
