//! Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 for `cargo xtask e2e`, `bench`
//! and `interop --registry`: one way to install it, start it and stop it.
//!
//! [`Registry::start`] writes a config into a directory of its own (storage under
//! `DIR/storage`, log in `DIR/registry.log`), listens on a free loopback port, optionally with
//! HTTP basic auth (an `htpasswd` file) and TLS ([`Tls`], a private CA made by openssl), and
//! waits until the port accepts connections. The process is killed and reaped when the
//! [`Registry`] is dropped, so a failing step still stops what was started.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use trustpull_policy::Digest;

use crate::install::{self, Needed};

/// Installs `docker-registry` and `htpasswd` (apache2-utils) when missing and root; otherwise
/// fails with the apt-get command to run.
pub fn ensure_installed(what: &str) -> Result<(), String> {
    install::ensure(
        what,
        &[
            Needed {
                program: "docker-registry",
                package: "docker-registry",
            },
            Needed {
                program: "htpasswd",
                package: "apache2-utils",
            },
        ],
    )
}

/// How to start a registry.
#[derive(Default)]
pub struct Options<'a> {
    /// HTTP basic auth with this user and password (an htpasswd file is generated).
    pub auth: Option<(&'a str, &'a str)>,
    /// Serve HTTPS with this certificate.
    pub tls: Option<&'a Tls>,
    /// Run as a pull-through cache (distribution's proxy mode) of this registry URL
    /// (`http://127.0.0.1:PORT`): read-only, content fetched from it on first request.
    pub proxy: Option<&'a str>,
}

impl<'a> Options<'a> {
    /// HTTP with basic auth for `user` and `password`.
    pub fn basic_auth(user: &'a str, password: &'a str) -> Self {
        Self {
            auth: Some((user, password)),
            ..Self::default()
        }
    }

    /// HTTPS with `tls`, no auth.
    pub fn https(tls: &'a Tls) -> Self {
        Self {
            tls: Some(tls),
            ..Self::default()
        }
    }

    /// A pull-through cache of `remote` (`http://host:port`), plain HTTP, no auth.
    pub fn proxy(remote: &'a str) -> Self {
        Self {
            proxy: Some(remote),
            ..Self::default()
        }
    }
}

/// A `docker-registry serve` process on 127.0.0.1; killed and reaped on drop.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Whether it serves HTTPS.
    pub tls: bool,
    storage: PathBuf,
    /// Its config file and log, to start it again ([`Registry::restart`]).
    config: PathBuf,
    log: PathBuf,
}

impl Registry {
    /// Starts a registry with its config, storage and log in `dir` and waits until it listens.
    pub fn start(dir: &Path, options: &Options<'_>) -> Result<Self, String> {
        let storage = dir.join("storage");
        fs::create_dir_all(&storage).map_err(|e| format!("create {}: {e}", storage.display()))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: trustpull-xtask\n",
            storage.display()
        );
        if let Some(tls) = options.tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                tls.cert.display(),
                tls.key.display()
            ));
        }
        if let Some(remote) = options.proxy {
            config.push_str(&format!("proxy:\n  remoteurl: {remote}\n"));
        }
        if let Some((user, password)) = options.auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
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
                "auth:\n  htpasswd:\n    realm: trustpull-xtask\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.join("config.yml");
        fs::write(&config_path, config).map_err(|e| format!("write registry config: {e}"))?;
        let log_path = dir.join("registry.log");
        let child = spawn(&config_path, &log_path)?;
        let mut registry = Self {
            child,
            host,
            tls: options.tls.is_some(),
            storage,
            config: config_path,
            log: log_path.clone(),
        };
        registry.wait_ready(&log_path)?;
        Ok(registry)
    }

    /// The registry process's id (to kill it from another thread, e2e faults).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts the registry again on the same port, config and storage, after it was killed
    /// (reaps the old process first), and waits until it listens.
    pub fn restart(&mut self) -> Result<(), String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.config, &self.log)?;
        let log = self.log.clone();
        self.wait_ready(&log)
    }

    /// The file holding blob `digest` inside the registry's storage (to tamper with it).
    pub fn blob_data(&self, digest: &Digest) -> PathBuf {
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&digest.hex()[..2])
            .join(digest.hex())
            .join("data")
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
                    "docker-registry did not listen on {} within 20 s; see {}",
                    self.host,
                    log.display()
                ));
            }
            // Polling a port that is not open yet (a developer tool, not a test).
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts `docker-registry serve CONFIG`, appending its output to `log`.
fn spawn(config: &Path, log: &Path) -> Result<Child, String> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("open registry log {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| format!("registry log: {e}"))?;
    Command::new("docker-registry")
        .arg("serve")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start docker-registry: {e}"))
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a server certificate for 127.0.0.1 signed by it (openssl).
pub struct Tls {
    /// The CA certificate (PEM) clients must trust.
    pub ca: PathBuf,
    /// The server certificate (PEM) for 127.0.0.1.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

impl Tls {
    /// Writes the CA, the server key and certificate (valid for 2 days) into `dir`.
    pub fn generate(dir: &Path) -> Result<Self, String> {
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
