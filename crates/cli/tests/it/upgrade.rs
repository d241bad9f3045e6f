//! `trustpull list --installed`, `upgrade` and `uninstall` on a signed OCI layout whose tag the
//! tests move (testkit `Layout`), and `TRUSTPULL_REQUIRE_INTEGRITY`.

// Helpers outside #[test] fns: a panic is how they report a broken fixture.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use trustpull_downloader::TreeListing;
use trustpull_policy::Digest;
use trustpull_testkit::layout::Layout;
use trustpull_testkit::sigstore::{VirtualSigstore, IDENTITY, ISSUER};

use crate::{assert_exit, trustpull, trustpull_command};

/// A signed gallery over a layout: meta `llama` (→ `cpu-llama`, alias `llama`), `whisper-cpu`
/// (alias `whisper`).
struct Gallery {
    dir: tempfile::TempDir,
    sigstore: VirtualSigstore,
    layout: Layout,
}

impl Gallery {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sigstore = VirtualSigstore::new();
        let mut layout = Layout::new(&dir.path().join("layout"));
        for (tag, body) in [("cpu", &b"cpu v1"[..]), ("whisper", b"whisper v1")] {
            let image = layout.image(&[("bin/run", body)]);
            layout.sign(&sigstore, &image);
            layout.tag(tag, &image);
        }
        layout.write().unwrap();
        std::fs::write(
            dir.path().join("trusted_root.json"),
            sigstore.trusted_root_json(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("index.yaml"),
            format!(
                "- name: llama\n  alias: llama\n  capabilities: {{default: cpu-llama}}\n\
                 - name: cpu-llama\n  alias: llama\n  uri: {}\n\
                 - name: whisper-cpu\n  alias: whisper\n  uri: {}\n",
                layout.location("cpu"),
                layout.location("whisper")
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("galleries.yaml"),
            format!(
                "trusted_root: ./trusted_root.json\ngalleries:\n  - name: acme\n    url: ./index.yaml\n    verification:\n      issuer: {ISSUER}\n      identity: {IDENTITY}\n"
            ),
        )
        .unwrap();
        Self {
            dir,
            sigstore,
            layout,
        }
    }

    fn config(&self) -> String {
        self.dir
            .path()
            .join("galleries.yaml")
            .to_string_lossy()
            .into_owned()
    }

    fn dest(&self) -> PathBuf {
        self.dir.path().join("backends")
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let config = self.config();
        let dest = self.dest();
        let mut all: Vec<&str> = args.to_vec();
        if !matches!(args.first(), Some(&"uninstall")) {
            all.extend(["--galleries", &config]);
        }
        all.extend(["--dest", dest.to_str().unwrap()]);
        trustpull(&all)
    }

    fn retag(&mut self, body: &[u8], signed: bool) -> Digest {
        let image = self.layout.image(&[("bin/run", body)]);
        if signed {
            self.layout.sign(&self.sigstore, &image);
        }
        self.layout.tag("cpu", &image);
        self.layout.write().unwrap();
        image
    }
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn snapshot(dest: &Path) -> (TreeListing, Vec<u8>) {
    (
        TreeListing::read(&dest.join("cpu-llama")).unwrap(),
        std::fs::read(dest.join("cpu-llama.receipt.json")).unwrap(),
    )
}

#[test]
fn list_installed_shows_meta_alias_and_upgradable() {
    let mut g = Gallery::new();
    assert_exit(&g.run(&["install", "llama"]), 0);
    assert_exit(&g.run(&["install", "whisper-cpu"]), 0);
    let dest = g.dest();
    let dest = dest.to_str().unwrap();

    let out = trustpull(&["list", "--installed", "--dest", dest]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("cpu-llama\tsha256:")
            && lines[0].contains("\tacme\tverified\talias=llama\tmeta=llama"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("whisper-cpu\t") && lines[1].ends_with("\talias=whisper"),
        "{text}"
    );

    let v2 = g.retag(b"cpu v2", true);
    let out = g.run(&["list", "--installed", "--output", "json"]);
    assert_exit(&out, 0);
    let doc = json(&out);
    assert_eq!(
        (doc["schema"].as_u64(), doc["status"].as_str()),
        (Some(1), Some("listed"))
    );
    let rows = doc["backends"].as_array().unwrap();
    let cpu = &rows[0];
    assert_eq!(
        (
            cpu["name"].as_str(),
            cpu["meta"].as_str(),
            cpu["alias"].as_str(),
            cpu["verified"].as_bool(),
            cpu["gallery"].as_str(),
            cpu["upgradable"].as_bool(),
            cpu["available"].as_str()
        ),
        (
            Some("cpu-llama"),
            Some("llama"),
            Some("llama"),
            Some(true),
            Some("acme"),
            Some(true),
            Some(v2.as_str())
        )
    );
    assert_eq!(
        (
            rows[1]["name"].as_str(),
            rows[1]["upgradable"].as_bool(),
            rows[1]["meta"].is_null()
        ),
        (Some("whisper-cpu"), Some(false), true)
    );
    // Listing resolved only: nothing was downloaded or changed.
    assert_eq!(
        std::fs::read(g.dest().join("cpu-llama/bin/run")).unwrap(),
        b"cpu v1"
    );
    // A name filter takes any name form; an unknown name exits 2.
    let out = trustpull(&["list", "--installed", "whisper", "--dest", dest]);
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("whisper-cpu\t"));
    assert_exit(
        &trustpull(&["list", "--installed", "nope", "--dest", dest]),
        2,
    );
}

#[test]
fn upgrade_dry_run_new_signed_digest_then_refused_unsigned_keeps_the_old_tree() {
    let mut g = Gallery::new();
    assert_exit(&g.run(&["install", "llama"]), 0);
    let dest = g.dest();
    let v1 = json(&g.run(&["list", "--installed", "--output", "json"]))["backends"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = g.run(&["upgrade", "--output", "json"]);
    assert_exit(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["status"], "current");
    assert_eq!(doc["backends"][0]["status"], "current");

    let v2 = g.retag(b"cpu v2", true);
    let before = snapshot(&dest);
    let out = g.run(&["upgrade", "llama", "--dry-run", "--output", "json"]);
    assert_exit(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["status"], "would-upgrade");
    let b = &doc["backends"][0];
    assert_eq!(
        (
            b["name"].as_str(),
            b["from"].as_str(),
            b["to"].as_str(),
            b["status"].as_str()
        ),
        (
            Some("cpu-llama"),
            Some(v1.as_str()),
            Some(v2.as_str()),
            Some("would-upgrade")
        )
    );
    assert_eq!(snapshot(&dest), before, "--dry-run changes nothing");

    let out = g.run(&["upgrade", "--output", "json"]);
    assert_exit(&out, 0);
    let doc = json(&out);
    assert_eq!(
        (doc["status"].as_str(), doc["backends"][0]["to"].as_str()),
        (Some("upgraded"), Some(v2.as_str()))
    );
    assert_eq!(
        std::fs::read(dest.join("cpu-llama/bin/run")).unwrap(),
        b"cpu v2"
    );

    // An unsigned digest behind the tag: exit 1, the old tree and receipt byte for byte.
    g.retag(b"cpu v3 unsigned", false);
    let before = snapshot(&dest);
    let out = g.run(&["upgrade", "cpu-llama", "--output", "json"]);
    assert_exit(&out, 1);
    let doc = json(&out);
    assert_eq!(
        (
            doc["status"].as_str(),
            doc["backends"][0]["status"].as_str()
        ),
        (Some("rejected"), Some("rejected"))
    );
    assert_eq!(doc["backends"][0]["from"].as_str(), Some(v2.as_str()));
    assert_eq!(snapshot(&dest), before);
    let text = g.run(&["upgrade"]);
    assert_exit(&text, 1);
    assert!(
        String::from_utf8_lossy(&text.stdout).starts_with("rejected       cpu-llama: kept sha256:"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

#[test]
fn uninstall_by_each_name_form_and_not_installed_exits_2() {
    let g = Gallery::new();
    for (install, uninstall, tree) in [
        ("llama", "llama", "cpu-llama"),           // meta name
        ("cpu-llama", "cpu-llama", "cpu-llama"),   // concrete name
        ("whisper-cpu", "whisper", "whisper-cpu"), // alias
    ] {
        assert_exit(&g.run(&["install", install]), 0);
        assert!(g.dest().join(tree).is_dir());
        let out = g.run(&["uninstall", uninstall, "--output", "json"]);
        assert_exit(&out, 0);
        let doc = json(&out);
        assert_eq!(
            (doc["status"].as_str(), doc["name"].as_str()),
            (Some("uninstalled"), Some(tree))
        );
        assert_eq!(
            std::fs::read_dir(g.dest()).unwrap().count(),
            0,
            "{uninstall}: tree and receipt gone"
        );
    }
    let out = g.run(&["uninstall", "llama"]);
    assert_exit(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no backend named \"llama\" is installed")
    );
}

#[test]
fn require_integrity_from_the_environment() {
    let g = Gallery::new();
    // The same gallery without a policy: strict mode refuses it.
    let unsigned = g.dir.path().join("unsigned.yaml");
    std::fs::write(
        &unsigned,
        "galleries:\n  - name: acme\n    url: ./index.yaml\n",
    )
    .unwrap();
    let dest = g.dest();
    let args = |dest: &Path| {
        vec![
            "install".to_owned(),
            "whisper".to_owned(),
            "--galleries".to_owned(),
            unsigned.to_string_lossy().into_owned(),
            "--dest".to_owned(),
            dest.to_string_lossy().into_owned(),
        ]
    };
    for (value, code) in [("1", 1), ("true", 1), ("0", 0), ("false", 0), ("yes", 2)] {
        let dest = dest.join(value);
        let out = trustpull_command(&[])
            .args(args(&dest))
            .env("TRUSTPULL_REQUIRE_INTEGRITY", value)
            .output()
            .unwrap();
        assert_exit(&out, code);
        assert_eq!(dest.join("whisper-cpu").is_dir(), code == 0, "{value}");
        if code == 2 {
            assert!(String::from_utf8_lossy(&out.stderr).contains("TRUSTPULL_REQUIRE_INTEGRITY"));
        }
    }
}
