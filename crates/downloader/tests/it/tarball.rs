//! HTTP(S) tarballs (`Downloader::stage_tarball`) from a wiremock server on 127.0.0.1, local
//! `file://` tarballs through the same checks, and OCI image archives (`ocifile://`) read as
//! layouts.

use std::path::Path;
use std::sync::Arc;

use trustpull_downloader::{
    Downloader, ErrorKind, ExistingDestination, ExtractError, ImageLocation, Platform, PullError,
    PullLimits,
};
use trustpull_policy::Digest;
use trustpull_referrers::{Limits, RegistryClient};
use trustpull_verifier::{NoopVerifier, StrictVerifier, Verification, VerifyError};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

fn downloader(server: &MockServer) -> Downloader {
    let mut limits = Limits::without_backoff();
    limits.max_attempts = 1;
    let client = RegistryClient::builder()
        .plain_http_host(server.address().to_string())
        .limits(limits)
        .build()
        .unwrap();
    Downloader::builder()
        .client(client)
        .verifier(Arc::new(NoopVerifier::new("unused for tarballs")))
        .existing_destination(ExistingDestination::Replace)
        .build()
        .unwrap()
}

async fn serve(server: &MockServer, name: &str, status: u16, body: Vec<u8>) -> String {
    Mock::given(method("GET"))
        .and(path(format!("/{name}")))
        .respond_with(ResponseTemplate::new(status).set_body_bytes(body))
        .mount(server)
        .await;
    format!("http://{}/{name}", server.address())
}

/// Installs `url` (checked against `sha256`) into `dest` and commits it.
async fn install(d: &Downloader, url: &str, sha256: &Digest, dest: &Path) -> Result<(), PullError> {
    d.stage_tarball(url, Some(sha256), dest)
        .await?
        .commit(None)
        .await?;
    Ok(())
}

/// Installing `url` against `expected` (not its sha256) is a rejected `DigestMismatch`, and
/// `dest` (holding version 1) is as it was, alone in its parent: no staging directory, no
/// download left.
async fn assert_mismatch_kept_v1(d: &Downloader, url: &str, expected: &Digest, dest: &Path) {
    let err = install(d, url, expected, dest).await.unwrap_err();
    assert!(
        matches!(&err, PullError::DigestMismatch { expected: e, what: "tarball", .. } if e == expected),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(std::fs::read(dest.join("VERSION")).unwrap(), b"1");
    let parent = dest.parent().expect("dest has a parent");
    assert_eq!(listing(parent), ["b"]);
}

/// A raw tar entry (any path, even one the tar crate's builder refuses).
fn raw(kind: tar::EntryType, path: &str, link: &str, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
    header.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

#[tokio::test]
async fn good_tarballs_install_in_every_compression() {
    let server = MockServer::start().await;
    let d = downloader(&server);
    let parent = tempfile::tempdir().unwrap();
    let plain = tar(&[
        ("bin/", b""),
        ("bin/run", b"#!/bin/sh\n"),
        ("VERSION", b"1"),
    ]);
    for (name, body) in [
        ("b.tar", plain.clone()),
        ("b.tar.gz", gzip(&plain)),
        ("b.tgz", gzip(&plain)),
        ("b.tar.zst", zstd(&plain)),
    ] {
        let sha = Digest::of(&body);
        let url = serve(&server, name, 200, body).await;
        let dest = parent.path().join(name.replace('.', "-"));
        let staged = d.stage_tarball(&url, Some(&sha), &dest).await.unwrap();
        assert_eq!(staged.outcome().digest, sha);
        assert!(matches!(
            staged.outcome().verification,
            Verification::Unverified { .. }
        ));
        staged.commit(None).await.unwrap();
        assert_eq!(std::fs::read(dest.join("VERSION")).unwrap(), b"1", "{name}");
        assert_eq!(std::fs::read(dest.join("bin/run")).unwrap(), b"#!/bin/sh\n");
    }
}

#[tokio::test]
async fn a_sha256_mismatch_is_rejected_and_leaves_dest_as_it_was() {
    let server = MockServer::start().await;
    let d = downloader(&server);
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("b");
    let v1 = gzip(&tar(&[("VERSION", b"1")]));
    let url = serve(&server, "v1.tar.gz", 200, v1.clone()).await;
    install(&d, &url, &Digest::of(&v1), &dest).await.unwrap();

    // The server now serves other bytes than the index's sha256 says.
    let v2 = gzip(&tar(&[("VERSION", b"2")]));
    let url = serve(&server, "v2.tar.gz", 200, v2).await;
    let expected = Digest::of(b"what the index promised");
    assert_mismatch_kept_v1(&d, &url, &expected, &dest).await;
}

#[tokio::test]
async fn hostile_entries_are_refused_and_nothing_is_installed() {
    let server = MockServer::start().await;
    let d = downloader(&server);
    let parent = tempfile::tempdir().unwrap();
    let regular = tar::EntryType::Regular;
    let cases: [(&str, Vec<u8>); 3] = [
        ("dotdot.tar", raw(regular, "../escape", "", b"x")),
        ("abs-link.tar", {
            let mut t = raw(tar::EntryType::Symlink, "l", "/etc", b"");
            t.extend(raw(regular, "l/passwd", "", b"x"));
            t
        }),
        (
            "hardlink-out.tar",
            raw(tar::EntryType::Link, "h", "../../outside", b""),
        ),
    ];
    for (name, mut body) in cases {
        body.extend([0u8; 1024]);
        let sha = Digest::of(&body);
        let url = serve(&server, name, 200, body).await;
        let dest = parent.path().join("b");
        let err = install(&d, &url, &sha, &dest).await.unwrap_err();
        assert!(
            matches!(
                &err,
                PullError::Extract {
                    source: ExtractError::UnsafeEntry { .. },
                    ..
                }
            ),
            "{name}: {err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Rejected, "{name}");
        assert!(listing(parent.path()).is_empty(), "{name}");
    }
}

#[tokio::test]
async fn http_failures_keep_their_kind_and_other_names_are_not_fetched() {
    let server = MockServer::start().await;
    let d = downloader(&server);
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("b");
    let sha = Digest::of(b"");
    let missing = serve(&server, "gone.tar", 404, vec![]).await;
    let err = install(&d, &missing, &sha, &dest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    let down = serve(&server, "down.tar", 503, vec![]).await;
    let err = install(&d, &down, &sha, &dest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    for url in [
        format!("http://{}/x.zip", server.address()),
        format!("http://{}/x.tar.gz.sig", server.address()),
    ] {
        let err = install(&d, &url, &sha, &dest).await.unwrap_err();
        assert!(matches!(err, PullError::NotATarball { .. }), "{err:?}");
    }
    let fetched: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(fetched, ["/gone.tar", "/down.tar"]);
    assert!(listing(parent.path()).is_empty());
}

/// `file://` tarballs need no client and get exactly the HTTP path's checks: installed only when
/// the sha256 matches (a mismatch is a rejection that leaves dest as it was), capped at the
/// download limit, hostile entries refused; a missing file is a local error naming the path.
#[tokio::test]
async fn file_tarballs_get_the_same_checks_as_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let parent = dir.path().join("installed");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::create_dir_all(&parent).unwrap();
    let d = Downloader::builder()
        .verifier(Arc::new(NoopVerifier::new("unused for tarballs")))
        .existing_destination(ExistingDestination::Replace)
        .build()
        .unwrap();
    let write = |name: &str, body: &[u8]| {
        let path = files.join(name);
        std::fs::write(&path, body).unwrap();
        format!("file://{}", path.display())
    };
    let dest = parent.join("b");
    let v1 = zstd(&tar(&[("VERSION", b"1")]));
    let url = write("v1.tar.zst", &v1);
    let staged = d
        .stage_tarball(&url, Some(&Digest::of(&v1)), &dest)
        .await
        .unwrap();
    assert_eq!(staged.outcome().digest, Digest::of(&v1));
    staged.commit(None).await.unwrap();
    assert_eq!(std::fs::read(dest.join("VERSION")).unwrap(), b"1");

    let v2 = gzip(&tar(&[("VERSION", b"2")]));
    let url = write("v2.tar.gz", &v2);
    let expected = Digest::of(b"what the index promised");
    assert_mismatch_kept_v1(&d, &url, &expected, &dest).await;

    let small = Downloader::builder()
        .verifier(Arc::new(NoopVerifier::new("unused for tarballs")))
        .existing_destination(ExistingDestination::Replace)
        .limits(PullLimits {
            max_download_bytes: v2.len() as u64 - 1,
            ..Default::default()
        })
        .build()
        .unwrap();
    let err = install(&small, &url, &Digest::of(&v2), &dest)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PullError::DownloadTooLarge { total, .. } if total == v2.len() as u64),
        "{err:?}"
    );

    let mut hostile = raw(tar::EntryType::Regular, "../escape", "", b"x");
    hostile.extend([0u8; 1024]);
    let url = write("hostile.tar", &hostile);
    let err = install(&d, &url, &Digest::of(&hostile), &dest)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err:?}");
    assert!(!dir.path().join("escape").exists());
    assert_eq!(std::fs::read(dest.join("VERSION")).unwrap(), b"1");

    let gone = files.join("gone.tar");
    let url = format!("file://{}", gone.display());
    let err = install(&d, &url, &expected, &dest).await.unwrap_err();
    assert!(
        matches!(&err, PullError::TarballFile { path, source }
            if *path == gone && source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains(&gone.display().to_string()),
        "{err}"
    );
    assert_eq!(listing(&parent), ["b"]);
}

/// A tar of the directory `layout` (paths relative to it).
fn archive_of(layout: &Path, out: &Path) {
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    builder.append_dir_all(".", layout).unwrap();
    builder.finish().unwrap();
}

#[tokio::test]
async fn ocifile_archives_are_read_as_layouts_and_verified_like_any_image() {
    let mut store = Store::default();
    let (manifest, _) = store.image(&[(LAYER_GZIP, gzip(&tar(&[("version", b"1")])))]);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    store.write_layout(&layout, &[("v1", &manifest, OCI_MANIFEST)], &[]);
    let archive = dir.path().join("backend.tar");
    archive_of(&layout, &archive);
    let location = ImageLocation::parse(&format!("ocifile://{}", archive.display())).unwrap();

    let dest = dir.path().join("installed");
    let noop = Downloader::builder()
        .verifier(Arc::new(NoopVerifier::new("test")))
        .platform(Platform::new("linux", "amd64"))
        .build()
        .unwrap();
    let outcome = noop.pull(&location, &dest).await.unwrap();
    assert_eq!(outcome.digest, manifest);
    assert_eq!(std::fs::read(dest.join("version")).unwrap(), b"1");

    // The verifier sees it like any image, and its answer stands.
    let strict = Downloader::builder()
        .verifier(Arc::new(StrictVerifier::new("no policy")))
        .build()
        .unwrap();
    let err = strict
        .pull(&location, &dir.path().join("refused"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PullError::Verify { source, .. } if matches!(**source, VerifyError::Refused { .. })),
        "{err:?}"
    );
    assert!(!dir.path().join("refused").exists());

    // A missing archive is not found (config); a hostile archive is refused.
    let gone = ImageLocation::parse("ocifile:///nonexistent/backend.tar").unwrap();
    let err = noop.pull(&gone, &dir.path().join("x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    let mut hostile = raw(tar::EntryType::Regular, "../escape", "", b"x");
    hostile.extend([0u8; 1024]);
    std::fs::write(dir.path().join("hostile.tar"), hostile).unwrap();
    let bad = ImageLocation::parse(&format!(
        "ocifile://{}",
        dir.path().join("hostile.tar").display()
    ))
    .unwrap();
    let err = noop.pull(&bad, &dir.path().join("y")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err:?}");
    assert!(!dir.path().join("escape").exists());
}

/// A commit that has started runs to its end on the blocking pool even when its future is
/// dropped: the next holder of the destination's lock finds the new tree in place, with nothing
/// half-swapped and no staging directory left.
#[tokio::test]
async fn a_started_commit_finishes_when_its_future_is_dropped() {
    let d = Downloader::builder()
        .verifier(Arc::new(NoopVerifier::new("unused for tarballs")))
        .existing_destination(ExistingDestination::Replace)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("app");
    let file = |version: &[u8]| {
        let body = tar(&[("VERSION", version)]);
        let path = dir
            .path()
            .join(format!("v{}.tar", String::from_utf8_lossy(version)));
        std::fs::write(&path, &body).unwrap();
        (format!("file://{}", path.display()), Digest::of(&body))
    };
    let (v1, sha1) = file(b"1");
    let (v2, sha2) = file(b"2");
    install(&d, &v1, &sha1, &dest).await.unwrap();

    let staged = d.stage_tarball(&v2, Some(&sha2), &dest).await.unwrap();
    let mut commit = Box::pin(staged.commit(None));
    // One poll hands the commit to the blocking pool; then the future is dropped.
    assert!(futures::poll!(commit.as_mut()).is_pending());
    drop(commit);

    // Taking the lock again waits for the commit to let go of it.
    let again = d.stage_tarball(&v1, Some(&sha1), &dest).await.unwrap();
    assert_eq!(std::fs::read(dest.join("VERSION")).unwrap(), b"2");
    drop(again);
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["app", "v1.tar", "v2.tar"]);
}
