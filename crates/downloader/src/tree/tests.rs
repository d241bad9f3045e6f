//! Locking, staging, the swap with its sidecar, crash recovery and the sweep.

use super::*;
use std::fs;

/// The names in `dir`, sorted (also used by the extractor's tests).
pub(crate) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

use crate::extract::{CancelFlag, DeclaredCompression};
use crate::PullLimits;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

const SUFFIX: &str = ".receipt.json";

/// A tar of `(path, mode, content)`; a path ending in `/` is a directory.
fn tar(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(if path.ends_with('/') {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// A staging directory of `lock` holding `entries`, extracted and finished.
fn stage(lock: &DestinationLock, entries: &[(&str, u32, &[u8])]) -> (StagingDir, TreeListing) {
    let mut staging = lock.staging().unwrap();
    let root = staging.root_handle().unwrap();
    let mut ex = Extractor::new(root, &PullLimits::default(), CancelFlag::default());
    ex.extract_layer(tar(entries).as_slice(), DeclaredCompression::Sniff)
        .unwrap();
    let listing = staging.finish(ex).unwrap();
    (staging, listing)
}

/// A sidecar naming the digest of `listing`, so a test can tell which tree it describes.
fn sidecar_for(listing: &TreeListing) -> Sidecar {
    Sidecar {
        suffix: SUFFIX.to_owned(),
        bytes: listing.digest().as_str().as_bytes().to_vec(),
    }
}

/// Installs `entries` at `dest` with a sidecar for them.
fn install(
    dest: &Path,
    existing: ExistingDestination,
    entries: &[(&str, u32, &[u8])],
) -> Result<TreeListing, DestinationError> {
    let lock = DestinationLock::acquire_blocking(dest, existing)?;
    let (staging, listing) = stage(&lock, entries);
    staging.commit(lock, Some(sidecar_for(&listing)))?;
    Ok(listing)
}

fn sidecar_path(dest: &Path) -> PathBuf {
    PathBuf::from(format!("{}{SUFFIX}", dest.display()))
}

/// The digest the sidecar of `dest` names.
fn sidecar_digest(dest: &Path) -> String {
    String::from_utf8(fs::read(sidecar_path(dest)).unwrap()).unwrap()
}

/// The digest of the tree at `dest`, read from disk.
fn tree_digest(dest: &Path) -> String {
    TreeListing::read(dest)
        .unwrap()
        .digest()
        .as_str()
        .to_owned()
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// Arms `faults` for commits on this thread until the guard is dropped.
struct Armed;
fn arm(faults: &[Fault]) -> Armed {
    FAULTS.with(|f| *f.borrow_mut() = faults.to_vec());
    Armed
}
impl Drop for Armed {
    fn drop(&mut self) {
        FAULTS.with(|f| f.borrow_mut().clear());
    }
}

const OLD: &[(&str, u32, &[u8])] = &[("old", 0o644, b"old tree")];
const NEW: &[(&str, u32, &[u8])] = &[("new", 0o644, b"new tree")];

#[test]
fn dropped_staging_and_lock_leave_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let lock = DestinationLock::acquire_blocking(&dest, ExistingDestination::Refuse).unwrap();
    let (staging, _) = stage(&lock, NEW);
    let layers = lock.layer_dir().unwrap();
    assert!(staging.path().join("new").is_file());
    drop(layers);
    drop(staging);
    drop(lock);
    assert!(entries(parent.path()).is_empty());
}

#[test]
fn dropped_lock_removes_the_parents_it_created() {
    let top = tempfile::tempdir().unwrap();
    let dest = top.path().join("x/y/dest");
    let lock = DestinationLock::acquire_blocking(&dest, ExistingDestination::Refuse).unwrap();
    assert!(top.path().join("x/y").is_dir());
    drop(lock);
    assert!(entries(top.path()).is_empty());

    // Installed: the parents stay.
    install(&dest, ExistingDestination::Refuse, NEW).unwrap();
    assert_eq!(
        entries(&top.path().join("x/y")),
        vec!["dest", "dest.receipt.json"]
    );
}

#[test]
fn install_into_missing_and_empty() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    install(&dest, ExistingDestination::Refuse, NEW).unwrap();
    assert_eq!(entries(parent.path()), vec!["dest", "dest.receipt.json"]);
    assert_eq!(fs::read(dest.join("new")).unwrap(), b"new tree");

    let empty = parent.path().join("empty");
    fs::create_dir(&empty).unwrap();
    install(&empty, ExistingDestination::Refuse, OLD).unwrap();
    assert_eq!(entries(&empty), vec!["old"]);
    assert_eq!(sidecar_digest(&empty), tree_digest(&empty));
}

#[test]
fn refuse_or_replace_non_empty() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    install(&dest, ExistingDestination::Refuse, OLD).unwrap();
    let err = install(&dest, ExistingDestination::Refuse, NEW).unwrap_err();
    assert!(
        matches!(err, DestinationError::DestinationExists { .. }),
        "{err:?}"
    );
    assert_eq!(entries(&dest), vec!["old"]);

    install(&dest, ExistingDestination::Replace, NEW).unwrap();
    assert_eq!(entries(parent.path()), vec!["dest", "dest.receipt.json"]);
    assert_eq!(entries(&dest), vec!["new"]);
}

#[test]
fn symlink_or_file_destination_refused() {
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("target");
    fs::create_dir(&target).unwrap();
    let link = parent.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let file = parent.path().join("file");
    fs::write(&file, b"f").unwrap();
    for dest in [link, file] {
        let err =
            DestinationLock::acquire_blocking(&dest, ExistingDestination::Replace).unwrap_err();
        assert!(
            matches!(err, DestinationError::DestinationNotDirectory { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn staging_is_private_until_commit_and_final_modes_apply_after_extraction() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let lock = DestinationLock::acquire_blocking(&dest, ExistingDestination::Refuse).unwrap();
    let mut staging = lock.staging().unwrap();
    assert_eq!(mode_of(&staging.path()), 0o700);
    let mut ex = Extractor::new(
        staging.root_handle().unwrap(),
        &PullLimits::default(),
        CancelFlag::default(),
    );
    let layer = tar(&[
        ("tmp/", 0o1777, b""),
        ("ro/", 0o555, b""),
        ("ro/file", 0o644, b"in a read-only directory"),
    ]);
    ex.extract_layer(layer.as_slice(), DeclaredCompression::Sniff)
        .unwrap();
    assert_eq!(mode_of(&staging.path()), 0o700);
    assert_eq!(mode_of(&staging.path().join("tmp")), 0o700);
    assert_eq!(mode_of(&staging.path().join("ro")), 0o700);

    let listing = staging.finish(ex).unwrap();
    assert_eq!(mode_of(&staging.path()), 0o700, "the root opens at commit");
    assert_eq!(mode_of(&staging.path().join("tmp")), 0o1777);
    assert_eq!(mode_of(&staging.path().join("ro")), 0o555);
    staging.commit(lock, Some(sidecar_for(&listing))).unwrap();

    assert_eq!(mode_of(&dest), ROOT_MODE);
    assert_eq!(mode_of(&dest.join("tmp")), 0o1777);
    assert_eq!(mode_of(&dest.join("ro")), 0o555);
    assert_eq!(mode_of(&dest.join("ro/file")), 0o644);
    assert_eq!(TreeListing::read(&dest).unwrap(), listing);

    // A tree with read-only directories is replaced (and the old one removed) all the same.
    install(&dest, ExistingDestination::Replace, NEW).unwrap();
    assert_eq!(entries(parent.path()), vec!["dest", "dest.receipt.json"]);
}

#[test]
fn reinstall_swaps_by_exchange_and_the_sidecar_matches_the_tree() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let old = install(&dest, ExistingDestination::Refuse, OLD).unwrap();
    assert_eq!(sidecar_digest(&dest), old.digest().as_str());

    // Stop right after the swap: the previous tree is at the staging directory's own name,
    // which only RENAME_EXCHANGE does (two renames would leave it at a `-old-` name).
    let lock = DestinationLock::acquire_blocking(&dest, ExistingDestination::Replace).unwrap();
    let (staging, new) = stage(&lock, NEW);
    let staged_at = staging.path();
    {
        let _armed = arm(&[Fault::CrashAfterSwap]);
        staging.commit(lock, Some(sidecar_for(&new))).unwrap_err();
    }
    assert_eq!(entries(&staged_at), vec!["old"]);
    assert_eq!(entries(&dest), vec!["new"]);

    // An uninterrupted reinstall: new tree, its sidecar, nothing else left.
    let newer: &[(&str, u32, &[u8])] = &[("newer", 0o600, b"newer tree")];
    let listing = install(&dest, ExistingDestination::Replace, newer).unwrap();
    assert_eq!(entries(&dest), vec!["newer"]);
    assert_eq!(sidecar_digest(&dest), listing.digest().as_str());
    assert_eq!(sidecar_digest(&dest), tree_digest(&dest));
    assert_eq!(entries(parent.path()), vec!["dest", "dest.receipt.json"]);
}

#[test]
fn crash_after_the_swap_is_recovered_by_the_next_acquire() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let old = install(&dest, ExistingDestination::Refuse, OLD).unwrap();
    let lock = DestinationLock::acquire_blocking(&dest, ExistingDestination::Replace).unwrap();
    let (staging, new) = stage(&lock, NEW);
    {
        let _armed = arm(&[Fault::CrashAfterSwap]);
        staging.commit(lock, Some(sidecar_for(&new))).unwrap_err();
    }
    // The crash left the new tree, the old sidecar, the pending one and the previous tree.
    assert_eq!(entries(&dest), vec!["new"]);
    assert_eq!(sidecar_digest(&dest), old.digest().as_str());
    let pending = format!(".dest.trustpull-pending-{}{SUFFIX}", new.digest().hex());
    assert!(entries(parent.path()).contains(&pending));

    let lock = DestinationLock::acquire_blocking(&dest, ExistingDestination::Replace).unwrap();
    assert_eq!(sidecar_digest(&dest), new.digest().as_str());
    assert_eq!(sidecar_digest(&dest), tree_digest(&dest));
    drop(lock);
    assert_eq!(entries(parent.path()), vec!["dest", "dest.receipt.json"]);
}

#[test]
fn crash_after_the_swap_is_recovered_by_recover_sidecar() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    install(&dest, ExistingDestination::Refuse, OLD).unwrap();
    let lock = DestinationLock::acquire_blocking(&dest, ExistingDestination::Replace).unwrap();
    let (staging, new) = stage(&lock, NEW);
    {
        let _armed = arm(&[Fault::CrashAfterSwap]);
        staging.commit(lock, Some(sidecar_for(&new))).unwrap_err();
    }
    // Another suffix is not this sidecar's, even one it ends with: nothing resolved.
    recover_sidecar(&dest, ".other").unwrap();
    recover_sidecar(&dest, ".json").unwrap();
    assert_ne!(sidecar_digest(&dest), tree_digest(&dest));
    recover_sidecar(&dest, SUFFIX).unwrap();
    assert_eq!(sidecar_digest(&dest), new.digest().as_str());
    assert_eq!(sidecar_digest(&dest), tree_digest(&dest));
    // Nothing to do for a destination that was never installed.
    recover_sidecar(&parent.path().join("missing/dest"), SUFFIX).unwrap();
    assert!(!parent.path().join("missing").exists());
    let err = recover_sidecar(&dest, "x/y").unwrap_err();
    assert!(
        matches!(err, DestinationError::BadSidecarSuffix { .. }),
        "{err:?}"
    );
}

#[test]
fn recover_sidecars_in_settles_every_pending_sidecar_of_a_directory() {
    let parent = tempfile::tempdir().unwrap();
    let mut news = Vec::new();
    for name in ["a", "a.b"] {
        let dest = parent.path().join(name);
        install(&dest, ExistingDestination::Refuse, OLD).unwrap();
        let lock = DestinationLock::acquire_blocking(&dest, ExistingDestination::Replace).unwrap();
        let (staging, new) = stage(&lock, NEW);
        let _armed = arm(&[Fault::CrashAfterSwap]);
        staging.commit(lock, Some(sidecar_for(&new))).unwrap_err();
        news.push((dest, new));
    }
    recover_sidecars_in(parent.path(), SUFFIX).unwrap();
    for (dest, new) in &news {
        assert_eq!(sidecar_digest(dest), new.digest().as_str(), "{dest:?}");
        assert_eq!(sidecar_digest(dest), tree_digest(dest));
    }
}

#[test]
fn a_destination_name_with_the_marker_is_refused() {
    let parent = tempfile::tempdir().unwrap();
    for name in [
        "a.trustpull-staging-x",
        "x.trustpull-pending-y",
        ".trustpull-",
    ] {
        let err = DestinationLock::acquire_blocking(
            &parent.path().join(name),
            ExistingDestination::Refuse,
        )
        .unwrap_err();
        assert!(
            matches!(err, DestinationError::ReservedDestinationName { .. }),
            "{name}: {err:?}"
        );
    }
    assert!(entries(parent.path()).is_empty());
    // A name that merely contains "trustpull" is fine.
    drop(
        DestinationLock::acquire_blocking(
            &parent.path().join("trustpull.tools"),
            ExistingDestination::Refuse,
        )
        .unwrap(),
    );
}

#[test]
fn crash_before_the_swap_keeps_the_old_sidecar_and_drops_the_pending_one() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let old = install(&dest, ExistingDestination::Refuse, OLD).unwrap();
    let lock = DestinationLock::acquire_blocking(&dest, ExistingDestination::Replace).unwrap();
    let (staging, new) = stage(&lock, NEW);
    {
        let _armed = arm(&[Fault::CrashBeforeSwap]);
        staging.commit(lock, Some(sidecar_for(&new))).unwrap_err();
    }
    let pending = format!(".dest.trustpull-pending-{}{SUFFIX}", new.digest().hex());
    assert!(entries(parent.path()).contains(&pending));
    assert_eq!(entries(&dest), vec!["old"]);

    drop(DestinationLock::acquire_blocking(&dest, ExistingDestination::Replace).unwrap());
    assert_eq!(entries(&dest), vec!["old"]);
    assert_eq!(sidecar_digest(&dest), old.digest().as_str());
    assert_eq!(sidecar_digest(&dest), tree_digest(&dest));
    assert_eq!(entries(parent.path()), vec!["dest", "dest.receipt.json"]);
}

#[test]
fn failed_sidecar_rename_swaps_the_old_tree_back() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let old = install(&dest, ExistingDestination::Refuse, OLD).unwrap();
    let err = {
        let _armed = arm(&[Fault::SidecarRename]);
        install(&dest, ExistingDestination::Replace, NEW).unwrap_err()
    };
    assert!(matches!(err, DestinationError::Io { .. }), "{err:?}");
    assert_eq!(entries(&dest), vec!["old"]);
    assert_eq!(sidecar_digest(&dest), old.digest().as_str());
    assert_eq!(entries(parent.path()), vec!["dest", "dest.receipt.json"]);
}

#[test]
fn failed_rollback_keeps_the_old_tree_and_names_it() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    install(&dest, ExistingDestination::Refuse, OLD).unwrap();
    let err = {
        let _armed = arm(&[Fault::SidecarRename, Fault::RollbackFails]);
        install(&dest, ExistingDestination::Replace, NEW).unwrap_err()
    };
    let DestinationError::RollbackFailed {
        dest: err_dest,
        previous,
        ..
    } = &err
    else {
        panic!("expected RollbackFailed, got {err:?}")
    };
    assert_eq!(err_dest, &dest);
    assert_eq!(
        entries(previous),
        vec!["old"],
        "the old tree is kept, whole"
    );
    assert_eq!(fs::read(previous.join("old")).unwrap(), b"old tree");
    assert!(err.to_string().contains(&format!("{previous:?}")), "{err}");
    assert_eq!(entries(&dest), vec!["new"]);
}

#[test]
fn stale_directories_are_swept_for_that_name_only() {
    let parent = tempfile::tempdir().unwrap();
    let p = parent.path();
    let stale = [
        ".a.trustpull-staging-1",
        ".a.trustpull-old-2",
        ".a.trustpull-layers-3",
    ];
    let others = [
        ".a.b.trustpull-staging-4",
        ".b.trustpull-old-5",
        ".ab.trustpull-layers-6",
        ".a.trustpull-unknown-7",
    ];
    for name in stale.iter().chain(&others) {
        fs::create_dir_all(p.join(name).join("ro")).unwrap();
        fs::write(p.join(name).join("ro/f"), b"x").unwrap();
        fs::set_permissions(p.join(name).join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
    }
    drop(DestinationLock::acquire_blocking(&p.join("a"), ExistingDestination::Refuse).unwrap());
    let mut expected: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(entries(p), expected);

    drop(DestinationLock::acquire_blocking(&p.join("a.b"), ExistingDestination::Refuse).unwrap());
    assert!(!entries(p).contains(&others[0].to_owned()));
    assert_eq!(entries(p).len(), others.len() - 1);
}

#[test]
fn the_lock_is_exclusive_per_name_and_released_on_drop() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("a");
    let lock_path = parent.path().join(".a.trustpull.lock");
    let held = DestinationLock::acquire_blocking(&dest, ExistingDestination::Refuse).unwrap();
    let other = fs::File::open(&lock_path).unwrap();
    assert_eq!(
        rustix::fs::flock(&other, FlockOperation::NonBlockingLockExclusive),
        Err(rustix::io::Errno::WOULDBLOCK)
    );
    // Another name is not held up.
    drop(
        DestinationLock::acquire_blocking(&parent.path().join("b"), ExistingDestination::Refuse)
            .unwrap(),
    );
    drop(held);
    assert!(!lock_path.exists(), "the lock file goes with the lock");
    // `other` locked a removed file: a new acquire does not care.
    rustix::fs::flock(&other, FlockOperation::NonBlockingLockExclusive).unwrap();
    drop(DestinationLock::acquire_blocking(&dest, ExistingDestination::Refuse).unwrap());
}

#[test]
fn concurrent_installs_of_one_name_end_with_a_tree_and_its_sidecar() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let start = std::sync::Barrier::new(4);
    let trees: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 100]).collect();
    let digests: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = trees
            .iter()
            .map(|content| {
                let (start, dest) = (&start, &dest);
                scope.spawn(move || {
                    start.wait();
                    let files: &[(&str, u32, &[u8])] = &[("f", 0o644, content)];
                    install(dest, ExistingDestination::Replace, files)
                        .unwrap()
                        .digest()
                        .as_str()
                        .to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let now = tree_digest(&dest);
    assert!(digests.contains(&now));
    assert_eq!(sidecar_digest(&dest), now);
    assert_eq!(entries(parent.path()), vec!["dest", "dest.receipt.json"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_acquire_refuses_what_the_previous_holder_installed() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let held = DestinationLock::acquire(&dest, ExistingDestination::Refuse)
        .await
        .unwrap();
    let (staging, listing) = stage(&held, NEW);
    let waiter = tokio::spawn({
        let dest = dest.clone();
        async move { DestinationLock::acquire(&dest, ExistingDestination::Refuse).await }
    });
    // The waiter can only get the lock after this commit, and then finds the destination
    // installed: Refuse is decided under the lock.
    staging.commit(held, Some(sidecar_for(&listing))).unwrap();
    let err = waiter.await.unwrap().unwrap_err();
    assert!(
        matches!(err, DestinationError::DestinationExists { .. }),
        "{err:?}"
    );
}

#[test]
fn changes_name_content_mode_added_and_removed() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir(r.join("bin")).unwrap();
    fs::write(r.join("bin/run"), b"v1").unwrap();
    fs::write(r.join("conf"), b"c").unwrap();
    fs::write(r.join("gone"), b"g").unwrap();
    std::os::unix::fs::symlink("bin/run", r.join("link")).unwrap();
    let before = TreeListing::read(r).unwrap();
    assert_eq!(before.changes(&TreeListing::read(r).unwrap()), vec![]);

    fs::write(r.join("bin/run"), b"v2").unwrap();
    fs::set_permissions(r.join("conf"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(r.join("gone")).unwrap();
    fs::write(r.join("added"), b"a").unwrap();
    fs::remove_file(r.join("link")).unwrap();
    std::os::unix::fs::symlink("conf", r.join("link")).unwrap();
    let after = TreeListing::read(r).unwrap();
    let conf_mode = before
        .entries()
        .iter()
        .find(|e| e.path == "conf")
        .unwrap()
        .mode;

    let changes = before.changes(&after);
    assert_eq!(
        changes,
        vec![
            TreeChange::Added {
                path: "added".into()
            },
            TreeChange::Modified {
                path: "bin/run".into(),
                what: vec![TreeDifference::Content]
            },
            TreeChange::Modified {
                path: "conf".into(),
                what: vec![TreeDifference::Mode {
                    expected: conf_mode,
                    found: 0o600
                }]
            },
            TreeChange::Removed {
                path: "gone".into()
            },
            TreeChange::Modified {
                path: "link".into(),
                what: vec![TreeDifference::Target]
            },
        ]
    );
    let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(shown[0], "added added");
    assert_eq!(shown[1], "bin/run changed (content)");
    assert_eq!(shown[2], format!("conf changed (mode {conf_mode:o} → 600)"));
    assert_eq!(shown[3], "gone removed");
    assert_eq!(shown[4], "link changed (symlink target)");
    assert_ne!(before.digest(), after.digest());
}

#[test]
fn the_digest_of_a_fixed_tree_is_fixed() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().join("t");
    fs::create_dir_all(r.join("bin")).unwrap();
    fs::write(r.join("bin/run"), b"#!/bin/sh\n").unwrap();
    fs::write(r.join("%odd name"), b"").unwrap();
    std::os::unix::fs::symlink("bin/run", r.join("run")).unwrap();
    for (path, mode) in [
        ("", 0o755),
        ("bin", 0o1777),
        ("bin/run", 0o755),
        ("%odd name", 0o400),
    ] {
        fs::set_permissions(r.join(path), fs::Permissions::from_mode(mode)).unwrap();
    }
    let listing = TreeListing::read(&r).unwrap();
    let paths: Vec<&str> = listing.entries().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["%25odd name", ".", "bin", "bin/run", "run"]);
    assert_eq!(
        listing.digest().as_str(),
        "sha256:4a844d419f3485483781e23c950ae57416d5d6619af586cb289328ad1b536b6f"
    );
    // A listing survives a JSON round trip (receipts store it) with the same digest.
    let json = serde_json::to_string(&listing).unwrap();
    let back: TreeListing = serde_json::from_str(&json).unwrap();
    assert_eq!(back.digest(), listing.digest());
}

#[test]
fn non_utf8_names_are_escaped_without_collisions() {
    use std::os::unix::ffi::OsStrExt;
    let a = encode(OsStr::from_bytes(b"x\xff"));
    let b = encode(OsStr::from_bytes(b"x%FF"));
    assert_eq!(a, "x%FF");
    assert_eq!(b, "x%25FF");
    assert_eq!(encode(OsStr::new("")), ROOT_PATH);
}
