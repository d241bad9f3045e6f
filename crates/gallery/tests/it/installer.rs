//! The [`Installer`] on signed OCI layouts: LocalAI's meta entries and aliases, upgrade
//! (current, new signed digest, dry run, a refused unsigned digest), uninstall by every name
//! form, a swapped verifier, and the verification cache.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use trustpull_downloader::{ErrorKind, TreeListing};
use trustpull_gallery::{
    CheckStatus, DecisionTable, InstallError, Installer, OperatorConfig, UpgradeStatus,
    VerifierChoice, VerifierFactory, VerifierRequest,
};
use trustpull_policy::Digest;
use trustpull_testkit::doubles::CountingVerifier;
use trustpull_testkit::layout::Layout;
use trustpull_testkit::sigstore::{VirtualSigstore, IDENTITY, ISSUER};
use trustpull_verifier::{CosignVerifier, ImageVerifier, MonotonicClock, VerificationCache};

/// A gallery `acme` (signed by the testkit's default signer) over one layout with tags
/// `cpu`, `cuda` and `whisper`, each a signed image, and LocalAI's shapes in its index: a meta
/// entry `llama` (alias `llama`, like LocalAI's) for `cpu-llama` / `cuda-llama`, and
/// `whisper-cpu` with alias `whisper`.
struct Fixture {
    dir: tempfile::TempDir,
    sigstore: VirtualSigstore,
    layout: Layout,
    config: OperatorConfig,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let sigstore = VirtualSigstore::new();
        let mut layout = Layout::new(&dir.path().join("layout"));
        for (tag, body) in [
            ("cpu", &b"cpu v1"[..]),
            ("cuda", b"cuda v1"),
            ("whisper", b"whisper v1"),
        ] {
            let image = layout.image(&[("bin/run", body)]);
            layout.sign(&sigstore, &image);
            layout.tag(tag, &image);
        }
        layout.write().expect("layout");
        std::fs::write(
            dir.path().join("trusted_root.json"),
            sigstore.trusted_root_json(),
        )
        .expect("write");
        std::fs::write(
            dir.path().join("index.yaml"),
            format!(
                "- name: llama\n  alias: llama\n  capabilities: {{default: cpu-llama, nvidia: cuda-llama}}\n\
                 - name: cpu-llama\n  alias: llama\n  uri: {}\n\
                 - name: cuda-llama\n  uri: {}\n\
                 - name: whisper-cpu\n  alias: whisper\n  uri: {}\n",
                layout.location("cpu"),
                layout.location("cuda"),
                layout.location("whisper")
            ),
        )
        .expect("write");
        let config_path = dir.path().join("galleries.yaml");
        let config = OperatorConfig::parse(
            &format!(
                "trusted_root: ./trusted_root.json\ngalleries:\n  - name: acme\n    url: ./index.yaml\n    verification:\n      issuer: {ISSUER}\n      identity: {IDENTITY}\n"
            ),
            &config_path,
        )
        .expect("config");
        Self {
            dir,
            sigstore,
            layout,
            config,
        }
    }

    fn dest(&self) -> PathBuf {
        self.dir.path().join("backends")
    }

    fn installer(&self) -> Installer {
        Installer::builder(self.config.clone())
            .build()
            .expect("installer")
    }

    /// Points `tag` at a new image holding `body`, signed or not.
    fn retag(&mut self, tag: &str, body: &[u8], signed: bool) -> Digest {
        let image = self.layout.image(&[("bin/run", body)]);
        if signed {
            self.layout.sign(&self.sigstore, &image);
        }
        self.layout.tag(tag, &image);
        self.layout.write().expect("layout");
        image
    }
}

fn receipt_bytes(dest: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dest.join(format!("{name}.receipt.json"))).expect("receipt")
}

fn names(dest: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dest)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn meta_names_and_aliases_install_the_concrete_entry_and_are_recorded() {
    let f = Fixture::new();
    let dest = f.dest();
    let installer = f.installer();
    let by_meta = installer
        .install("llama", &dest)
        .await
        .expect("meta install");
    let r = &by_meta.receipt;
    assert_eq!(
        (
            r.name.as_str(),
            r.meta.as_ref().map(|m| m.as_str()),
            r.alias.as_ref().map(|a| a.as_str()),
            r.requested.as_str()
        ),
        ("cpu-llama", Some("llama"), Some("llama"), "llama")
    );
    assert!(r.verified);
    assert_eq!(by_meta.dest, dest.join("cpu-llama"));

    let by_alias = installer
        .install("whisper", &dest)
        .await
        .expect("alias install");
    let r = &by_alias.receipt;
    assert_eq!(
        (
            r.name.as_str(),
            r.meta.as_ref(),
            r.alias.as_ref().map(|a| a.as_str())
        ),
        ("whisper-cpu", None, Some("whisper"))
    );

    let nvidia = Installer::builder(f.config.clone())
        .capability("nvidia")
        .build()
        .expect("installer");
    let r = nvidia
        .install("llama", &dest)
        .await
        .expect("meta install")
        .receipt;
    assert_eq!(
        (r.name.as_str(), r.meta.as_ref().map(|m| m.as_str())),
        ("cuda-llama", Some("llama"))
    );
    assert_eq!(
        names(&dest),
        [
            "cpu-llama",
            "cpu-llama.receipt.json",
            "cuda-llama",
            "cuda-llama.receipt.json",
            "whisper-cpu",
            "whisper-cpu.receipt.json"
        ]
    );
    let listed: Vec<String> = installer
        .list_installed(&dest)
        .await
        .expect("list")
        .iter()
        .map(|b| b.receipt.name.to_string())
        .collect();
    assert_eq!(listed, ["cpu-llama", "cuda-llama", "whisper-cpu"]);
}

#[tokio::test]
async fn uninstall_by_alias_concrete_and_meta_name() {
    let f = Fixture::new();
    let dest = f.dest();
    let installer = f.installer();
    installer.install("llama", &dest).await.expect("install");
    // Installed by its concrete name: only the recorded alias makes `whisper` name it.
    installer
        .install("whisper-cpu", &dest)
        .await
        .expect("install");
    let nvidia = Installer::builder(f.config.clone())
        .capability("nvidia")
        .build()
        .expect("installer");
    nvidia.install("llama", &dest).await.expect("install");

    let gone = installer
        .uninstall("whisper", &dest)
        .await
        .expect("by alias");
    assert_eq!(
        (gone.name.as_str(), gone.removed_tree),
        ("whisper-cpu", true)
    );
    // Two backends were installed for meta `llama`: naming it is a guess, nothing removed.
    let err = installer
        .uninstall("llama", &dest)
        .await
        .expect_err("ambiguous");
    assert!(
        matches!(&err, InstallError::AmbiguousInstalled { candidates, .. } if candidates == &["cpu-llama", "cuda-llama"]),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Config);
    installer
        .uninstall("cuda-llama", &dest)
        .await
        .expect("by concrete name");
    let gone = installer
        .uninstall("llama", &dest)
        .await
        .expect("by meta name");
    assert_eq!(gone.name.as_str(), "cpu-llama");
    assert!(names(&dest).is_empty(), "{:?}", names(&dest));
    let err = installer
        .uninstall("llama", &dest)
        .await
        .expect_err("not installed");
    assert!(matches!(err, InstallError::NotInstalled { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn upgrade_current_dry_run_new_signed_digest_and_refused_unsigned() {
    let mut f = Fixture::new();
    let dest = f.dest();
    let installer = f.installer();
    let first = installer.install("llama", &dest).await.expect("install");
    let v1 = first.receipt.digest.clone();
    let tree = dest.join("cpu-llama");

    let reports = installer.upgrade(&[], &dest, false).await.expect("upgrade");
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0].status, reports[0].to.as_ref()),
        (UpgradeStatus::Current, Some(&v1))
    );

    // A new signed digest behind the tag: --dry-run reports it and changes nothing.
    let v2 = f.retag("cpu", b"cpu v2", true);
    let before = (
        TreeListing::read(&tree).expect("tree"),
        receipt_bytes(&dest, "cpu-llama"),
    );
    let reports = installer
        .upgrade(&["llama".to_owned()], &dest, true)
        .await
        .expect("dry run");
    assert_eq!(
        (reports[0].status, reports[0].to.as_ref()),
        (UpgradeStatus::WouldUpgrade, Some(&v2))
    );
    assert_eq!(
        (
            TreeListing::read(&tree).expect("tree"),
            receipt_bytes(&dest, "cpu-llama")
        ),
        before
    );

    // The upgrade installs it, by the meta name; the receipt keeps the meta name and the tag.
    let reports = installer
        .upgrade(&["llama".to_owned()], &dest, false)
        .await
        .expect("upgrade");
    assert_eq!(
        (reports[0].status, &reports[0].from, reports[0].to.as_ref()),
        (UpgradeStatus::Upgraded, &v1, Some(&v2))
    );
    assert_eq!(
        std::fs::read(tree.join("bin/run")).expect("read"),
        b"cpu v2"
    );
    let receipt = &installer.list_installed(&dest).await.expect("list")[0].receipt;
    assert_eq!(
        (
            &receipt.digest,
            receipt.meta.as_ref().map(|m| m.as_str()),
            receipt.source.as_str(),
            receipt.verified
        ),
        (&v2, Some("llama"), f.layout.location("cpu").as_str(), true)
    );

    // An unsigned digest behind the tag is refused; the old tree and receipt stay byte for byte.
    let _v3 = f.retag("cpu", b"cpu v3 unsigned", false);
    let before = (
        TreeListing::read(&tree).expect("tree"),
        receipt_bytes(&dest, "cpu-llama"),
    );
    let reports = installer.upgrade(&[], &dest, false).await.expect("upgrade");
    assert_eq!(reports[0].status, UpgradeStatus::Rejected, "{reports:?}");
    assert_eq!(reports[0].to, None);
    assert_eq!(
        (
            TreeListing::read(&tree).expect("tree"),
            receipt_bytes(&dest, "cpu-llama")
        ),
        before
    );
    assert_eq!(
        names(&dest),
        ["cpu-llama", "cpu-llama.receipt.json"],
        "nothing left behind"
    );

    let err = installer
        .upgrade(&["nope".to_owned()], &dest, false)
        .await
        .expect_err("not installed");
    assert!(matches!(err, InstallError::NotInstalled { .. }), "{err:?}");
}

/// Cosign cells: a counted cosign verifier behind the installer's cache.
#[derive(Debug, Default)]
struct CountingFactory {
    count: Arc<AtomicUsize>,
}

impl VerifierFactory for CountingFactory {
    fn verifier(
        &self,
        request: &VerifierRequest<'_>,
    ) -> Result<Arc<dyn ImageVerifier>, InstallError> {
        let VerifierChoice::Cosign(policy) = request.choice else {
            return DecisionTable.verifier(request);
        };
        let cosign = CosignVerifier::new(Arc::new(policy.clone()), request.trust_root()?);
        let scope = cosign.cache_scope();
        Ok(request.cached(
            Arc::new(CountingVerifier::new(
                Arc::new(cosign),
                Arc::clone(&self.count),
            )),
            scope,
        ))
    }
}

/// Refuses every image, however well signed.
#[derive(Debug)]
struct RefuseAll;

impl VerifierFactory for RefuseAll {
    fn verifier(
        &self,
        _request: &VerifierRequest<'_>,
    ) -> Result<Arc<dyn ImageVerifier>, InstallError> {
        Ok(Arc::new(trustpull_verifier::StrictVerifier::new(
            "this embedding program allows nothing",
        )))
    }
}

#[tokio::test]
async fn the_swapped_verifier_is_the_one_used_and_the_cache_answers_the_second_check() {
    let f = Fixture::new();
    let dest = f.dest();
    let refusing = Installer::builder(f.config.clone())
        .verifiers(Arc::new(RefuseAll))
        .build()
        .expect("installer");
    let err = refusing
        .install("whisper", &dest)
        .await
        .expect_err("the factory's verifier refuses a well-signed image");
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err:?}");
    assert!(!dest.join("whisper-cpu").exists());

    f.installer()
        .install("whisper", &dest)
        .await
        .expect("install");
    f.installer()
        .install("llama", &dest)
        .await
        .expect("install");
    let factory = Arc::new(CountingFactory::default());
    let cache = Arc::new(VerificationCache::new(Arc::new(MonotonicClock)));
    let checking = Installer::builder(f.config.clone())
        .verifiers(Arc::clone(&factory) as Arc<dyn VerifierFactory>)
        .cache(Arc::clone(&cache))
        .build()
        .expect("installer");
    for round in 0..2 {
        let checks = checking.verify_installed(&dest).await.expect("checks");
        assert!(
            checks
                .iter()
                .all(|c| matches!(c.status, CheckStatus::Verified { .. })),
            "{checks:?}"
        );
        assert_eq!(
            factory.count.load(Ordering::SeqCst),
            2,
            "round {round}: two digests verified once each, the second round from the cache"
        );
    }
    assert_eq!(cache.len(), 2);
}

#[tokio::test]
async fn the_default_table_verifies_through_the_installers_cache() {
    let mut f = Fixture::new();
    let dest = f.dest();
    let cache = Arc::new(VerificationCache::new(Arc::new(MonotonicClock)));
    let cached = Installer::builder(f.config.clone())
        .cache(Arc::clone(&cache))
        .build()
        .expect("installer");
    cached.install("whisper", &dest).await.expect("install");
    assert_eq!(cache.len(), 1, "the install's verification is kept");
    // With the signatures gone, only a kept answer can still pass.
    f.layout.remove_signatures();
    f.layout.write().expect("layout");
    let checks = cached.verify_installed(&dest).await.expect("checks");
    assert!(
        matches!(checks[0].status, CheckStatus::Verified { .. }),
        "{checks:?}"
    );
    let checks = f.installer().verify_installed(&dest).await.expect("checks");
    assert!(
        matches!(checks[0].status, CheckStatus::Failed { .. }),
        "without the cache the missing signature shows: {checks:?}"
    );
}
