//! The layer extractor: any bytes, as one or two layers (gzip, zstd or plain tar, sniffed),
//! extracted into a fresh root. Whatever happens, nothing outside the root changes.
#![no_main]

use std::fs;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use trustpull_downloader::fuzz_extract;

/// Everything under `dir`, as (relative path, file type, content or link target).
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let meta = fs::symlink_metadata(&path).expect("an entry just listed exists");
            let rel = path
                .strip_prefix(dir)
                .expect("under dir")
                .display()
                .to_string();
            let what = if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {:o}", meta.permissions().mode_bits())
            } else if meta.file_type().is_symlink() {
                format!("link {:?}", fs::read_link(&path).ok())
            } else {
                format!("file {:?}", fs::read(&path).ok())
            };
            out.push((rel, what));
        }
    }
    out.sort();
    out
}

trait ModeBits {
    fn mode_bits(&self) -> u32;
}
impl ModeBits for fs::Permissions {
    fn mode_bits(&self) -> u32 {
        std::os::unix::fs::PermissionsExt::mode(self)
    }
}

/// Makes every directory under `dir` writable again (whatever modes the archive asked for), so
/// the temp dir can be removed when not running as root.
fn open_up(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            open_up(&e.path());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len()) * rest.len() / 255;
    let (first, second) = rest.split_at(at.min(rest.len()));
    let parent = tempfile::tempdir().expect("a temp dir");
    let outside = parent.path().join("outside");
    fs::create_dir(&outside).expect("mkdir outside");
    fs::write(outside.join("secret"), b"keep").expect("write a file outside the root");
    std::os::unix::fs::symlink(&outside, parent.path().join("link-to-outside"))
        .expect("symlink beside the root");
    let before = snapshot(parent.path());
    let root = parent.path().join("root");
    fs::create_dir(&root).expect("mkdir root");
    let layers: Vec<&[u8]> = if second.is_empty() {
        vec![first]
    } else {
        vec![first, second]
    };
    let _ = fuzz_extract(&layers, &root);
    let after: Vec<_> = snapshot(parent.path())
        .into_iter()
        .filter(|(rel, _)| rel != "root" && !rel.starts_with("root/"))
        .collect();
    assert_eq!(
        before, after,
        "extraction changed something outside its root"
    );
    open_up(&root);
});
