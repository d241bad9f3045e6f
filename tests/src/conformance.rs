//! The sigstore-conformance `bundle-verify` cases vendored in `tests/conformance/`, and the
//! `verify-bundle` command lines that run them.
//!
//! Std-only apart from `sha2`, so `xtask` includes this file by path instead of depending on
//! the testkit (and its crypto dependencies).
//!
//! Case rules (from the suite's client protocol): `bundle.sigstore.json`; `trusted_root.json`
//! else the production root; `artifact` else `../a.txt`; `identity` / `issuer` files else the
//! suite's defaults; `key.pub` means `--key`. A case whose directory ends in `_fail` must be
//! rejected, every other case must verify.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The identity the suite's bundles were signed with, unless a case says otherwise.
pub const DEFAULT_IDENTITY: &str =
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
/// The issuer the suite's bundles were signed with, unless a case says otherwise.
pub const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// How the artifact is passed to `verify-bundle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactMode {
    /// The artifact's path.
    Path,
    /// `sha256:<hex>` of the artifact.
    Digest,
}

impl ArtifactMode {
    /// Both modes, in the order the suite runs them.
    pub const BOTH: [ArtifactMode; 2] = [ArtifactMode::Path, ArtifactMode::Digest];
}

/// One case directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The directory name, e.g. `happy-path-v0.3`.
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// Whether the case must verify (its name does not end in `_fail`).
    pub expect_pass: bool,
}

/// The vendored data directory (`tests/conformance`), given the workspace root.
pub fn data_dir(workspace_root: &Path) -> PathBuf {
    workspace_root.join("tests").join("conformance")
}

/// Every case under `data_dir/bundle-verify`, sorted by name.
pub fn cases(data_dir: &Path) -> io::Result<Vec<Case>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data_dir.join("bundle-verify"))? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push(Case {
            expect_pass: !name.ends_with("_fail"),
            name,
            dir: entry.path(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `_fail` cases whose rejection is a config error (exit 2), because the file the case hands
/// over is itself unusable: the managed key is not valid PEM/base64, and the trusted root lacks
/// a required `validFor.start`. Every other `_fail` case must exit 1 (rejected).
pub const CONFIG_ERROR_CASES: [&str; 2] = [
    "managed-key-wrong-key_fail",
    "trust-root-tlog-missing-validity-start_fail",
];

impl Case {
    /// The exit status `trustpull verify-bundle` must give: 0, 1 or 2.
    pub fn expected_exit(&self) -> i32 {
        if self.expect_pass {
            0
        } else if CONFIG_ERROR_CASES.contains(&self.name.as_str()) {
            2
        } else {
            1
        }
    }

    /// The case's `trusted_root.json`, else the production root.
    pub fn trusted_root(&self, data_dir: &Path) -> PathBuf {
        let root = self.dir.join("trusted_root.json");
        if root.exists() {
            root
        } else {
            data_dir.join("production_trusted_root.json")
        }
    }

    /// The case's `artifact`, else the suite's `a.txt`.
    pub fn artifact(&self, data_dir: &Path) -> PathBuf {
        let artifact = self.dir.join("artifact");
        if artifact.exists() {
            artifact
        } else {
            data_dir.join("bundle-verify").join("a.txt")
        }
    }

    /// Whether the case verifies with a managed key (`key.pub`) rather than a certificate.
    pub fn managed_key(&self) -> bool {
        self.dir.join("key.pub").exists()
    }

    /// The `verify-bundle` arguments (after the subcommand name) for this case.
    pub fn args(&self, data_dir: &Path, mode: ArtifactMode) -> io::Result<Vec<OsString>> {
        let mut args: Vec<OsString> = vec![
            "--bundle".into(),
            self.dir.join("bundle.sigstore.json").into(),
        ];
        if self.managed_key() {
            args.extend(["--key".into(), self.dir.join("key.pub").into()]);
        } else {
            let read = |file: &str, default: &str| -> io::Result<String> {
                let p = self.dir.join(file);
                if p.exists() {
                    Ok(std::fs::read_to_string(p)?.trim().to_owned())
                } else {
                    Ok(default.to_owned())
                }
            };
            args.extend([
                "--certificate-identity".into(),
                read("identity", DEFAULT_IDENTITY)?.into(),
                "--certificate-oidc-issuer".into(),
                read("issuer", DEFAULT_ISSUER)?.into(),
            ]);
        }
        args.extend(["--trusted-root".into(), self.trusted_root(data_dir).into()]);
        let artifact = self.artifact(data_dir);
        match mode {
            ArtifactMode::Path => args.push(artifact.into()),
            ArtifactMode::Digest => {
                let bytes = std::fs::read(&artifact)?;
                args.push(format!("sha256:{}", hex::encode(Sha256::digest(&bytes))).into());
            }
        }
        Ok(args)
    }
}
