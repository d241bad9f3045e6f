//! The tar-attack table, whiteouts across layers, compression detection and limits.
//!
//! Every hostile archive is written with raw headers (the `tar` builder refuses `..`), extracted
//! into `<tmp>/root`, and the test then lists `<tmp>` to prove nothing appeared beside the root
//! and the `outside/victim` file is untouched.

use super::*;
use crate::tree::tests::entries as listing;
use crate::PullLimits;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

const VICTIM: &[u8] = b"precious";

/// One raw tar entry.
struct E {
    path: &'static str,
    kind: tar::EntryType,
    link: &'static str,
    data: &'static [u8],
    mode: u32,
}

fn file(path: &'static str, data: &'static [u8]) -> E {
    E {
        path,
        kind: tar::EntryType::Regular,
        link: "",
        data,
        mode: 0o644,
    }
}
fn dir(path: &'static str) -> E {
    E {
        path,
        kind: tar::EntryType::Directory,
        link: "",
        data: b"",
        mode: 0o755,
    }
}
fn symlink(path: &'static str, link: &'static str) -> E {
    E {
        path,
        kind: tar::EntryType::Symlink,
        link,
        data: b"",
        mode: 0o777,
    }
}
fn hardlink(path: &'static str, link: &'static str) -> E {
    E {
        path,
        kind: tar::EntryType::Link,
        link,
        data: b"",
        mode: 0o644,
    }
}
fn special(path: &'static str, kind: tar::EntryType) -> E {
    E {
        path,
        kind,
        link: "",
        data: b"",
        mode: 0o644,
    }
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut header = tar::Header::new_gnu();
        {
            let gnu = header.as_gnu_mut().expect("a GNU header");
            gnu.name[..e.path.len()].copy_from_slice(e.path.as_bytes());
            gnu.linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        }
        header.set_entry_type(e.kind);
        header.set_size(e.data.len() as u64);
        header.set_mode(e.mode);
        header.set_cksum();
        builder.append(&header, e.data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// `<tmp>/root` (the extraction root) and `<tmp>/outside/victim`, plus the absolute paths the
/// hostile archives point at, substituted for `OUT` in link targets.
struct Scene {
    tmp: tempfile::TempDir,
}

impl Scene {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("root")).unwrap();
        fs::create_dir(tmp.path().join("outside")).unwrap();
        fs::write(tmp.path().join("outside/victim"), VICTIM).unwrap();
        Self { tmp }
    }
    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }
    fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    fn extract(&self, layers: &[Vec<u8>]) -> Result<ExtractStats, ExtractError> {
        self.extract_with(layers, &PullLimits::default())
    }

    /// Extracts `layers` in order and, when that worked, applies the final directory modes.
    fn extract_with(
        &self,
        layers: &[Vec<u8>],
        limits: &PullLimits,
    ) -> Result<ExtractStats, ExtractError> {
        self.extract_listing(layers, limits).map(|(stats, _)| stats)
    }

    /// Like [`Scene::extract_with`], also returning the listing kept while extracting.
    fn extract_listing(
        &self,
        layers: &[Vec<u8>],
        limits: &PullLimits,
    ) -> Result<(ExtractStats, TreeListing), ExtractError> {
        let mut ex = self.extractor(limits, CancelFlag::default());
        for layer in layers {
            ex.extract_layer(layer.as_slice(), DeclaredCompression::Sniff)?;
        }
        let stats = ex.stats().clone();
        let listing = ex.finish().expect("directory modes apply");
        Ok((stats, listing))
    }

    /// An extractor writing into the root, through a handle of it.
    fn extractor(&self, limits: &PullLimits, cancel: CancelFlag) -> Extractor {
        let root = at::open_dir_path(&self.root(), true).unwrap();
        Extractor::new(root, limits, cancel)
    }

    /// Nothing but `root` and `outside` beside the root; `outside` holds only the untouched victim.
    fn assert_outside_untouched(&self) {
        assert_eq!(listing(self.tmp.path()), vec!["outside", "root"]);
        assert_eq!(listing(&self.outside()), vec!["victim"]);
        assert_eq!(fs::read(self.outside().join("victim")).unwrap(), VICTIM);
        assert_eq!(
            fs::metadata(self.outside()).unwrap().mode() & 0o7777,
            0o755 & !umask_bits()
        );
    }
}

fn umask_bits() -> u32 {
    // Directories made by create_dir get 0777 & !umask; compare against what `outside` got at
    // creation instead of assuming a umask: recreate a probe dir.
    let probe = tempfile::tempdir().unwrap();
    let p = probe.path().join("p");
    fs::create_dir(&p).unwrap();
    !fs::metadata(&p).unwrap().mode() & 0o777 & !0o022 | 0o022 & !fs::metadata(&p).unwrap().mode()
}

/// A link target pointing at `<tmp>/outside` (absolute), leaked so the table can hold `&'static str`.
fn out(scene: &Scene, rest: &str) -> &'static str {
    Box::leak(format!("{}{rest}", scene.outside().display()).into_boxed_str())
}

fn unsafe_reason(result: Result<ExtractStats, ExtractError>) -> Option<UnsafeReason> {
    match result {
        Err(ExtractError::UnsafeEntry { reason, .. }) => Some(reason),
        _ => None,
    }
}

#[test]
fn attack_parent_component() {
    let s = Scene::new();
    let r = s.extract(&[tar_of(&[file("../escape", b"x")])]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::ParentComponent));
    s.assert_outside_untouched();
}

#[test]
fn attack_parent_component_in_the_middle() {
    let s = Scene::new();
    let r = s.extract(&[tar_of(&[dir("a/"), file("a/../../outside/victim", b"x")])]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::ParentComponent));
    s.assert_outside_untouched();
}

#[test]
fn absolute_and_dot_paths_are_rooted() {
    let s = Scene::new();
    let abs: &'static str = out(&s, "/victim");
    s.extract(&[tar_of(&[
        file(abs, b"x"),
        file("./rel/./f", b"y"),
        dir("./"),
    ])])
    .unwrap();
    // The absolute path landed under the root, not outside it.
    let rooted = s.root().join(abs.trim_start_matches('/'));
    assert_eq!(fs::read(rooted).unwrap(), b"x");
    assert_eq!(fs::read(s.root().join("rel/f")).unwrap(), b"y");
    s.assert_outside_untouched();
}

#[test]
fn attack_write_through_symlink_parent_same_layer() {
    let s = Scene::new();
    let link = out(&s, "");
    let r = s.extract(&[tar_of(&[
        symlink("evil", link),
        file("evil/victim", b"pwned"),
    ])]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::ThroughSymlink));
    s.assert_outside_untouched();
}

#[test]
fn attack_write_through_relative_symlink_parent() {
    let s = Scene::new();
    let r = s.extract(&[tar_of(&[
        symlink("up", "../outside"),
        file("up/new", b"pwned"),
    ])]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::ThroughSymlink));
    s.assert_outside_untouched();
}

#[test]
fn attack_write_through_symlink_parent_across_layers() {
    let s = Scene::new();
    let link = out(&s, "");
    let r = s.extract(&[
        tar_of(&[symlink("evil", link)]),
        tar_of(&[file("evil/victim", b"pwned")]),
    ]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::ThroughSymlink));
    s.assert_outside_untouched();
}

#[test]
fn attack_overwrite_symlink_itself_replaces_the_link() {
    let s = Scene::new();
    let link = out(&s, "/victim");
    s.extract(&[tar_of(&[symlink("f", link)]), tar_of(&[file("f", b"new")])])
        .unwrap();
    let meta = fs::symlink_metadata(s.root().join("f")).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(fs::read(s.root().join("f")).unwrap(), b"new");
    s.assert_outside_untouched();
}

#[test]
fn attack_directory_over_symlink_does_not_chmod_outside() {
    let s = Scene::new();
    let link = out(&s, "");
    s.extract(&[
        tar_of(&[symlink("d", link)]),
        tar_of(&[E {
            mode: 0o700,
            ..dir("d/")
        }]),
    ])
    .unwrap();
    assert!(fs::symlink_metadata(s.root().join("d"))
        .unwrap()
        .file_type()
        .is_dir());
    s.assert_outside_untouched();
}

#[test]
fn attack_hardlink_parent_component() {
    let s = Scene::new();
    let r = s.extract(&[tar_of(&[hardlink("h", "../outside/victim")])]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::HardlinkTarget));
    s.assert_outside_untouched();
}

#[test]
fn attack_hardlink_absolute_outside() {
    let s = Scene::new();
    // An absolute link name is an archive path: it means <root>/<that path>, which is missing.
    let r = s.extract(&[tar_of(&[hardlink("h", out(&s, "/victim"))])]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::HardlinkTarget));
    s.assert_outside_untouched();
}

#[test]
fn attack_hardlink_through_symlink() {
    let s = Scene::new();
    let link = out(&s, "");
    let r = s.extract(&[tar_of(&[symlink("s", link), hardlink("h", "s/victim")])]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::HardlinkTarget));
    s.assert_outside_untouched();
}

#[test]
fn attack_hardlink_then_overwrite_does_not_write_through() {
    let s = Scene::new();
    s.extract(&[tar_of(&[
        file("a", b"original"),
        hardlink("b", "a"),
        file("b", b"changed"),
    ])])
    .unwrap();
    assert_eq!(fs::read(s.root().join("a")).unwrap(), b"original");
    assert_eq!(fs::read(s.root().join("b")).unwrap(), b"changed");
    s.assert_outside_untouched();
}

#[test]
fn attack_device_nodes_and_fifos_are_skipped() {
    let s = Scene::new();
    let stats = s
        .extract(&[tar_of(&[
            special("dev/null", tar::EntryType::Char),
            special("dev/sda", tar::EntryType::Block),
            special("fifo", tar::EntryType::Fifo),
            file("ok", b"ok"),
        ])])
        .unwrap();
    assert_eq!(stats.skipped, 3);
    assert_eq!(listing(&s.root()), vec!["ok"]);
    s.assert_outside_untouched();
}

#[test]
fn attack_setuid_setgid_stripped_sticky_kept_on_directories() {
    let s = Scene::new();
    s.extract(&[tar_of(&[
        E {
            mode: 0o6755,
            ..file("suid", b"x")
        },
        E {
            mode: 0o1777,
            ..dir("tmp/")
        },
    ])])
    .unwrap();
    assert_eq!(
        fs::metadata(s.root().join("suid")).unwrap().mode() & 0o7777,
        0o755
    );
    assert_eq!(
        fs::metadata(s.root().join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
}

#[test]
fn attack_whiteout_through_symlink() {
    let s = Scene::new();
    let link = out(&s, "");
    let r = s.extract(&[
        tar_of(&[symlink("s", link)]),
        tar_of(&[file("s/.wh.victim", b"")]),
    ]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::ThroughSymlink));
    s.assert_outside_untouched();
}

#[test]
fn attack_opaque_whiteout_through_symlink() {
    let s = Scene::new();
    let link = out(&s, "");
    let r = s.extract(&[
        tar_of(&[symlink("s", link)]),
        tar_of(&[file("s/.wh..wh..opq", b"")]),
    ]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::ThroughSymlink));
    s.assert_outside_untouched();
}

#[test]
fn attack_whiteout_of_parent() {
    let s = Scene::new();
    let r = s.extract(&[tar_of(&[file("a/.wh..", b"")])]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::BadWhiteout));
    s.assert_outside_untouched();
}

#[test]
fn attack_file_under_a_file() {
    let s = Scene::new();
    let r = s.extract(&[tar_of(&[file("f", b"x"), file("f/g", b"y")])]);
    assert_eq!(unsafe_reason(r), Some(UnsafeReason::ParentNotDirectory));
    s.assert_outside_untouched();
}

#[test]
fn attack_malformed_gnu_sparse_header_is_corrupt() {
    let s = Scene::new();
    let r = s.extract(&[tar_of(&[special("sparse", tar::EntryType::GNUSparse)])]);
    assert!(matches!(r, Err(ExtractError::Corrupt { .. })), "{r:?}");
    s.assert_outside_untouched();
}

#[test]
fn attack_entry_count_limit() {
    let s = Scene::new();
    let limits = PullLimits {
        max_entries: 3,
        ..PullLimits::default()
    };
    let r = s.extract_with(
        &[tar_of(&[
            file("a", b""),
            file("b", b""),
            file("c", b""),
            file("d", b""),
        ])],
        &limits,
    );
    assert!(matches!(r, Err(ExtractError::TooManyEntries { limit: 3 })));
    s.assert_outside_untouched();
}

#[test]
fn attack_size_limit_across_layers() {
    let s = Scene::new();
    let limits = PullLimits {
        max_extracted_bytes: 10,
        ..PullLimits::default()
    };
    let r = s.extract_with(
        &[
            tar_of(&[file("a", b"123456")]),
            tar_of(&[file("b", b"12345")]),
        ],
        &limits,
    );
    assert!(matches!(r, Err(ExtractError::TooLarge { limit: 10 })));
    assert!(
        !s.root().join("b").exists(),
        "the over-limit file is refused before it is written"
    );
    s.assert_outside_untouched();
}

#[test]
fn truncated_archive_is_corrupt() {
    let s = Scene::new();
    let mut tar = tar_of(&[file("a", &[7u8; 2000])]);
    tar.truncate(1024);
    let r = s.extract(&[tar]);
    assert!(matches!(
        r,
        Err(ExtractError::Corrupt {
            compression: Compression::None,
            ..
        })
    ));
}

#[test]
fn cancelled_extraction_stops() {
    let s = Scene::new();
    let cancel = CancelFlag::default();
    cancel.cancel();
    let mut ex = s.extractor(&PullLimits::default(), cancel);
    let r = ex.extract_layer(
        tar_of(&[file("a", b"x")]).as_slice(),
        DeclaredCompression::Sniff,
    );
    assert!(matches!(r, Err(ExtractError::Cancelled)));
    assert!(listing(&s.root()).is_empty());
}

#[test]
fn whiteouts_apply_across_layers() {
    let s = Scene::new();
    let lower = tar_of(&[
        dir("a/"),
        file("a/gone", b"1"),
        file("a/kept", b"2"),
        dir("b/"),
        file("b/x", b"3"),
        dir("c/"),
        file("c/lower", b"4"),
        dir("c/sub/"),
        file("c/sub/lower", b"5"),
    ]);
    let upper = tar_of(&[
        file("a/.wh.gone", b""),
        file(".wh.b", b""),
        // Entries of the same layer survive its own opaque marker, wherever the marker sits.
        file("c/new", b"6"),
        dir("c/sub/"),
        file("c/.wh..wh..opq", b""),
        file("c/sub/new", b"7"),
        // A whiteout in the same layer as its target does not hide it.
        file("d", b"8"),
        file(".wh.d", b""),
    ]);
    let stats = s.extract(&[lower, upper]).unwrap();
    assert_eq!(stats.whiteouts, 4);
    assert_eq!(listing(&s.root()), vec!["a", "c", "d"]);
    assert_eq!(listing(&s.root().join("a")), vec!["kept"]);
    assert_eq!(listing(&s.root().join("c")), vec!["new", "sub"]);
    assert_eq!(listing(&s.root().join("c/sub")), vec!["new"]);
}

#[test]
fn whiteout_in_a_third_layer_hides_a_second_layer_file() {
    let s = Scene::new();
    s.extract(&[
        tar_of(&[file("x", b"1")]),
        tar_of(&[file("y", b"2")]),
        tar_of(&[file(".wh.y", b"")]),
    ])
    .unwrap();
    assert_eq!(listing(&s.root()), vec!["x"]);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn compressions_by_media_type_and_by_sniffing() {
    let plain = tar_of(&[file("f", b"hello")]);
    let zst = zstd::encode_all(plain.as_slice(), 1).unwrap();
    let gz = gzip(&plain);
    let cases: [(&str, &[u8]); 6] = [
        ("application/vnd.oci.image.layer.v1.tar", &plain),
        ("application/vnd.oci.image.layer.v1.tar", &gz),
        ("application/vnd.docker.image.rootfs.diff.tar", &zst),
        ("application/vnd.oci.image.layer.v1.tar+gzip", &gz),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", &gz),
        ("application/vnd.oci.image.layer.v1.tar+zstd", &zst),
    ];
    for (media_type, blob) in cases {
        let s = Scene::new();
        let mut ex = s.extractor(&PullLimits::default(), CancelFlag::default());
        ex.extract_layer(blob, declared(media_type).unwrap())
            .unwrap();
        assert_eq!(
            fs::read(s.root().join("f")).unwrap(),
            b"hello",
            "{media_type}"
        );
    }
}

#[test]
fn gzip_declared_but_plain_is_corrupt() {
    let s = Scene::new();
    let plain = tar_of(&[file("f", b"hello")]);
    let mut ex = s.extractor(&PullLimits::default(), CancelFlag::default());
    let r = ex.extract_layer(
        plain.as_slice(),
        DeclaredCompression::Known(Compression::Gzip),
    );
    assert!(matches!(
        r,
        Err(ExtractError::Corrupt {
            compression: Compression::Gzip,
            ..
        })
    ));
}

#[test]
fn attack_name_too_long_is_a_rejection_not_an_outage() {
    let s = Scene::new();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, "n".repeat(300), &b"x"[..])
        .unwrap();
    let r = s.extract(&[builder.into_inner().unwrap()]);
    let Err(err) = r else {
        panic!("a 300-byte name cannot be created")
    };
    assert!(
        matches!(&err, ExtractError::Io { source, .. } if source.raw_os_error() == Some(36)),
        "{err:?}"
    );
    let pull = crate::PullError::Extract {
        image: "i".into(),
        layer: trustpull_policy::Digest::of(b""),
        source: err,
    };
    assert_eq!(pull.kind(), crate::ErrorKind::Rejected);
    s.assert_outside_untouched();
}

/// A raw entry with an arbitrary type flag and `data` as its content.
fn raw(kind: tar::EntryType, path: &str, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

#[test]
fn attack_huge_long_name_is_refused_before_it_is_buffered() {
    let s = Scene::new();
    let big = vec![b'a'; (MAX_METADATA_BYTES + 4096) as usize];
    let mut archive = raw(tar::EntryType::GNULongName, "././@LongLink", &big);
    archive.extend(raw(tar::EntryType::Regular, "short", b"x"));
    archive.extend([0u8; 1024]);
    let r = s.extract(&[archive]);
    assert!(
        matches!(
            r,
            Err(ExtractError::OversizedMetadata {
                limit: MAX_METADATA_BYTES
            })
        ),
        "{r:?}"
    );
    assert!(listing(&s.root()).is_empty());
    s.assert_outside_untouched();
}

#[test]
fn attack_huge_pax_record_is_refused() {
    let s = Scene::new();
    let mut record = b"999999999 comment=".to_vec();
    record.resize((MAX_METADATA_BYTES + 1) as usize, b'z');
    let mut archive = raw(tar::EntryType::XHeader, "pax", &record);
    archive.extend(raw(tar::EntryType::Regular, "f", b"x"));
    archive.extend([0u8; 1024]);
    let r = s.extract(&[archive]);
    assert!(
        matches!(r, Err(ExtractError::OversizedMetadata { .. })),
        "{r:?}"
    );
    s.assert_outside_untouched();
}

#[test]
fn long_names_within_the_budget_work_and_big_files_are_not_metadata() {
    let s = Scene::new();
    let mut builder = tar::Builder::new(Vec::new());
    let long = format!("{}/file", "d".repeat(200));
    let mut header = tar::Header::new_gnu();
    let content = vec![7u8; (MAX_METADATA_BYTES * 2) as usize];
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, &long, content.as_slice())
        .unwrap();
    s.extract(&[builder.into_inner().unwrap()]).unwrap();
    assert_eq!(
        fs::metadata(s.root().join(&long)).unwrap().len(),
        MAX_METADATA_BYTES * 2
    );
}

/// Path pieces and link targets that make hostile combinations likely; `OUT` stands for the
/// absolute path of the outside directory.
fn piece() -> impl proptest::strategy::Strategy<Value = &'static str> {
    proptest::sample::select(vec!["a", "b", "..", ".", ".wh.a", ".wh..wh..opq", "victim"])
}

fn link_target() -> impl proptest::strategy::Strategy<Value = &'static str> {
    proptest::sample::select(vec![
        "OUT",
        "OUT/victim",
        "../outside",
        "..",
        "a",
        "a/b",
        "b",
        "/a",
        "",
    ])
}

fn kind() -> impl proptest::strategy::Strategy<Value = tar::EntryType> {
    use tar::EntryType::*;
    proptest::sample::select(vec![
        Regular, Regular, Regular, Directory, Symlink, Symlink, Symlink, Link, Link, Fifo,
    ])
}

fn arbitrary_entry(
) -> impl proptest::strategy::Strategy<Value = (tar::EntryType, Vec<&'static str>, &'static str)> {
    (
        kind(),
        proptest::collection::vec(piece(), 1..3),
        link_target(),
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Whatever the entries, extraction never panics, nothing appears or changes outside the
    /// root, and nothing inside keeps a setuid or setgid bit.
    #[test]
    fn arbitrary_layers_never_escape(layers in proptest::collection::vec(proptest::collection::vec(arbitrary_entry(), 1..10), 1..3)) {
        let s = Scene::new();
        let outside = s.outside().display().to_string();
        let mut blobs = Vec::new();
        for layer in &layers {
            let mut builder = tar::Builder::new(Vec::new());
            for (kind, path, link) in layer {
                let path = path.join("/");
                let link = link.replace("OUT", &outside);
                let mut header = tar::Header::new_gnu();
                let data: &[u8] = if *kind == tar::EntryType::Regular { b"data" } else { b"" };
                header.set_entry_type(*kind);
                header.set_size(data.len() as u64);
                header.set_mode(0o6755);
                // Raw names: the builder's own path checks would refuse `..`.
                let gnu = header.as_gnu_mut().unwrap();
                gnu.name[..path.len()].copy_from_slice(path.as_bytes());
                gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
                header.set_cksum();
                builder.append(&header, data).unwrap();
            }
            blobs.push(builder.into_inner().unwrap());
        }
        let extracted = s.extract_listing(&blobs, &PullLimits::default());
        s.assert_outside_untouched();
        if let Ok((_, listing)) = extracted {
            // The listing kept while writing is what a walk of the disk finds.
            fs::set_permissions(s.root(), fs::Permissions::from_mode(tree::ROOT_MODE)).unwrap();
            let on_disk = TreeListing::read(&s.root()).unwrap();
            proptest::prop_assert_eq!(listing.changes(&on_disk), vec![]);
            proptest::prop_assert_eq!(listing, on_disk);
        }
        for entry in walk(&s.root()) {
            let meta = fs::symlink_metadata(&entry).unwrap();
            if !meta.file_type().is_symlink() {
                proptest::prop_assert_eq!(meta.mode() & 0o6000, 0, "{:?}", entry);
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().file_type().is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn directories_stay_private_while_extracting_and_get_their_modes_at_the_end() {
    let s = Scene::new();
    let layer = tar_of(&[
        E {
            mode: 0o1777,
            ..dir("tmp/")
        },
        E {
            mode: 0o555,
            ..dir("ro/")
        },
        file("ro/inside", b"written into a 0555 directory"),
        E {
            mode: 0o750,
            ..dir("ro/sub/")
        },
        file("implicit/parent/f", b"x"),
        E {
            mode: 0o4755,
            ..dir("suid/")
        },
    ]);
    let mut ex = s.extractor(&PullLimits::default(), CancelFlag::default());
    ex.extract_layer(layer.as_slice(), DeclaredCompression::Sniff)
        .unwrap();
    // A second layer can still write into the read-only directory.
    let upper = tar_of(&[file("ro/sub/later", b"y")]);
    ex.extract_layer(upper.as_slice(), DeclaredCompression::Sniff)
        .unwrap();
    for d in ["tmp", "ro", "ro/sub", "implicit", "implicit/parent", "suid"] {
        assert_eq!(mode_of(&s.root().join(d)), 0o700, "{d} while extracting");
    }
    let listing = ex.finish().unwrap();
    let expected = [
        ("tmp", 0o1777),
        ("ro", 0o555),
        ("ro/sub", 0o750),
        ("implicit", 0o755),
        ("implicit/parent", 0o755),
        ("suid", 0o755),
    ];
    for (d, mode) in expected {
        assert_eq!(mode_of(&s.root().join(d)), mode, "{d} after finish");
        let entry = listing.entries().iter().find(|e| e.path == d).unwrap();
        assert_eq!(entry.mode, mode, "{d} in the listing");
    }
    assert_eq!(
        fs::read(s.root().join("ro/inside")).unwrap(),
        b"written into a 0555 directory"
    );
    assert_eq!(fs::read(s.root().join("ro/sub/later")).unwrap(), b"y");
}

#[test]
fn the_listing_kept_while_extracting_equals_a_walk_of_the_tree() {
    let s = Scene::new();
    let lower = tar_of(&[
        E {
            mode: 0o1777,
            ..dir("tmp/")
        },
        file("tmp/gone", b"hidden by a whiteout"),
        dir("opq/"),
        file("opq/lower", b"hidden by an opaque marker"),
        dir("opq/sub/"),
        file("over", b"overwritten"),
        file("bin/tool", b"tool"),
        symlink("link", "bin/tool"),
        symlink("dangling", "/nowhere"),
        file("dir-to-file/x", b"becomes a file"),
    ]);
    let upper = tar_of(&[
        file("tmp/.wh.gone", b""),
        file("opq/.wh..wh..opq", b""),
        file("opq/new", b"new"),
        E {
            mode: 0o700,
            ..file("over", b"overwriting content")
        },
        hardlink("bin/hard", "bin/tool"),
        hardlink("hard-to-link", "link"),
        file("dir-to-file", b"now a file"),
        symlink("link", "bin/hard"),
        E {
            mode: 0o6711,
            ..file("bin/suid", b"s")
        },
    ]);
    let (_, listing) = s
        .extract_listing(&[lower, upper], &PullLimits::default())
        .unwrap();
    fs::set_permissions(s.root(), fs::Permissions::from_mode(tree::ROOT_MODE)).unwrap();
    let on_disk = TreeListing::read(&s.root()).unwrap();
    assert_eq!(listing.changes(&on_disk), vec![]);
    assert_eq!(listing, on_disk);
    assert_eq!(listing.digest(), on_disk.digest());
    let paths: Vec<&str> = listing.entries().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            ".",
            "bin",
            "bin/hard",
            "bin/suid",
            "bin/tool",
            "dangling",
            "dir-to-file",
            "hard-to-link",
            "link",
            "opq",
            "opq/new",
            "over",
            "tmp"
        ]
    );
    let by_path = |p: &str| listing.entries().iter().find(|e| e.path == p).unwrap();
    assert_eq!(by_path("bin/hard").sha256, by_path("bin/tool").sha256);
    assert_eq!(by_path("hard-to-link").target.as_deref(), Some("bin/tool"));
    assert_eq!(by_path("link").target.as_deref(), Some("bin/hard"));
    assert_eq!(by_path("bin/suid").mode, 0o711);
    assert_eq!(by_path("over").mode, 0o700);
    assert_eq!(by_path("tmp").mode, 0o1777);
}
