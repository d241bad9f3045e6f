//! The decision table (ARCHITECTURE.md, gallery) as a pure function: how to install one index entry.
//!
//! Primary locations, mirrors, fallbacks and upgrades all go through [`plan`], so there is one
//! place that decides which verifier runs and what is refused.

use trustpull_policy::{Digest, TrustPolicy};

use crate::{BackendEntry, Gallery};

/// How to install one entry: the primary location and its mirrors, each planned by the same
/// table. Mirrors are for when the primary is unavailable, never to get around a rejection.
#[derive(Debug, Clone)]
pub struct InstallPlan {
    /// The entry's `uri`.
    pub primary: SourcePlan,
    /// The entry's `mirrors`, in order.
    pub mirrors: Vec<SourcePlan>,
}

/// Which verifier an OCI source runs through.
#[derive(Debug, Clone)]
pub enum VerifierChoice {
    /// Verify the cosign signature against the gallery's policy.
    Cosign(TrustPolicy),
    /// No policy and not strict: install, and warn that nothing was proven.
    Noop {
        /// The warning to show.
        warning: String,
    },
    /// No policy in strict mode: the strict verifier refuses with this reason.
    Strict {
        /// Why it refuses and what to do.
        reason: String,
    },
}

/// The plan for one location.
#[derive(Debug, Clone)]
pub enum SourcePlan {
    /// An OCI image in a registry or an `oci-layout:` directory.
    Oci {
        /// The reference as written.
        reference: String,
        /// The verifier to run.
        verifier: VerifierChoice,
    },
    /// An HTTP(S) or `file://` tarball.
    Tarball {
        /// The URL as written.
        url: String,
        /// The sha256 it must have, if the entry gives one.
        sha256: Option<Digest>,
        /// A warning to show (set when nothing checks the content).
        warning: Option<String>,
    },
    /// The table refuses this location.
    Refuse {
        /// The location as written.
        location: String,
        /// Why, and what to do.
        reason: String,
    },
}

/// Plans the install of a concrete entry (resolve meta entries first) from `gallery`.
///
/// `strict` is the operator's `require_integrity` (or `--require-integrity`).
pub fn plan(entry: &BackendEntry, gallery: &Gallery, strict: bool) -> InstallPlan {
    let plan_one = |location: &str| plan_location(location, entry, gallery, strict);
    let primary = match entry.uri.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(uri) => plan_one(uri),
        None => SourcePlan::Refuse {
            location: String::new(),
            reason: format!(
                "backend {:?} in gallery {:?} has no uri",
                entry.name, gallery.name
            ),
        },
    };
    InstallPlan {
        primary,
        mirrors: entry.mirrors.iter().map(|m| plan_one(m)).collect(),
    }
}

/// Locations that name files on this machine rather than a network source.
fn is_local(location: &str) -> bool {
    ["file://", "oci-layout:", "ocifile://"]
        .iter()
        .any(|p| location.starts_with(p))
}

/// Where the gallery's index may come from, when any of it is remote; `None` when the index and
/// every index mirror are local files.
fn remote_index(gallery: &Gallery) -> Option<&str> {
    std::iter::once(&gallery.url)
        .chain(&gallery.mirrors)
        .find_map(|l| match l {
            crate::IndexLocation::Url(url) => Some(url.as_str()),
            crate::IndexLocation::File(_) => None,
        })
}

fn is_tarball(location: &str) -> bool {
    ["https://", "http://", "file://"]
        .iter()
        .any(|p| location.starts_with(p))
}

fn plan_location(
    location: &str,
    entry: &BackendEntry,
    gallery: &Gallery,
    strict: bool,
) -> SourcePlan {
    let name = &gallery.name;
    // The index is untrusted input: one fetched from the network must not pick files on this
    // machine to install (a file only the installing user can read, a FIFO, a device).
    if let Some(url) = remote_index(gallery).filter(|_| is_local(location)) {
        return SourcePlan::Refuse {
            location: location.to_owned(),
            reason: format!(
                "gallery {name:?} reads its index from {url}, and a remote index may not name files on this machine ({location}); publish backend {:?} to a registry or over https, or use a local index",
                entry.name
            ),
        };
    }
    if !is_tarball(location) {
        let verifier = match (&gallery.verification, strict) {
            (Some(policy), _) => VerifierChoice::Cosign(policy.clone()),
            (None, false) => VerifierChoice::Noop {
                warning: format!(
                    "gallery {name:?} has no verification policy; installing {location} without proving who built it"
                ),
            },
            (None, true) => VerifierChoice::Strict {
                reason: format!(
                    "gallery {name:?} has no verification policy; add verification: (issuer and identity of the signing CI) to it, or run without --require-integrity"
                ),
            },
        };
        return SourcePlan::Oci {
            reference: location.to_owned(),
            verifier,
        };
    }
    let refuse = |reason: String| SourcePlan::Refuse {
        location: location.to_owned(),
        reason,
    };
    if gallery.verification.is_some() {
        return refuse(format!(
            "gallery {name:?} requires signed images, and a tarball cannot carry a signature; a signed gallery cannot vouch for an unsigned download — publish {:?} as a signed OCI image",
            entry.name
        ));
    }
    match entry.sha256.as_deref() {
        Some(raw) => match Digest::parse(&format!("sha256:{}", raw.trim_start_matches("sha256:"))) {
            Ok(digest) => SourcePlan::Tarball { url: location.to_owned(), sha256: Some(digest), warning: None },
            Err(e) => refuse(format!("backend {:?} has an unusable sha256: {e}", entry.name)),
        },
        None if strict => refuse(format!(
            "backend {:?} in gallery {name:?} is a tarball without sha256; add sha256 to the entry or run without --require-integrity",
            entry.name
        )),
        None => SourcePlan::Tarball {
            url: location.to_owned(),
            sha256: None,
            warning: Some(format!("backend {:?} is a tarball without sha256; its content is not checked", entry.name)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndexLocation;
    use trustpull_policy::PolicySpec;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn gallery(signed: bool) -> Gallery {
        Gallery {
            name: "acme".into(),
            url: IndexLocation::File("i.yaml".into()),
            mirrors: vec![],
            verification: signed.then(|| {
                TrustPolicy::new(PolicySpec {
                    issuer: Some("https://i".into()),
                    identity: Some("me".into()),
                    ..PolicySpec::default()
                })
                .expect("valid")
            }),
        }
    }

    fn entry(uri: &str, sha256: Option<&str>) -> BackendEntry {
        BackendEntry {
            name: crate::EntryName::parse("b").expect("valid"),
            uri: Some(uri.into()),
            mirrors: vec![],
            sha256: sha256.map(Into::into),
            alias: None,
            version: None,
            capabilities: Default::default(),
            extra: Default::default(),
        }
    }

    #[derive(Debug, PartialEq)]
    enum Row {
        Cosign,
        NoopWarn,
        StrictRefuse,
        Refuse,
        TarballChecked,
        TarballWarn,
    }

    fn classify(p: &SourcePlan) -> Row {
        match p {
            SourcePlan::Oci {
                verifier: VerifierChoice::Cosign(_),
                ..
            } => Row::Cosign,
            SourcePlan::Oci {
                verifier: VerifierChoice::Noop { .. },
                ..
            } => Row::NoopWarn,
            SourcePlan::Oci {
                verifier: VerifierChoice::Strict { .. },
                ..
            } => Row::StrictRefuse,
            SourcePlan::Refuse { .. } => Row::Refuse,
            SourcePlan::Tarball {
                sha256: Some(_),
                warning: None,
                ..
            } => Row::TarballChecked,
            SourcePlan::Tarball {
                sha256: None,
                warning: Some(_),
                ..
            } => Row::TarballWarn,
            other => panic!("plan outside the table: {other:?}"),
        }
    }

    #[test]
    fn decision_table() {
        let oci = "quay.io/acme/b:v1";
        let layout = "oci-layout:/srv/b:v1";
        let tar = "https://example.com/b.tar.gz";
        // (uri, sha256, gallery has policy, strict, expected) — one line per cell of the table.
        let rows = [
            (oci, None, true, false, Row::Cosign),
            (oci, None, true, true, Row::Cosign),
            (layout, None, true, false, Row::Cosign),
            (oci, None, false, false, Row::NoopWarn),
            (layout, None, false, false, Row::NoopWarn),
            (oci, None, false, true, Row::StrictRefuse),
            (tar, Some(SHA), true, false, Row::Refuse),
            (tar, Some(SHA), true, true, Row::Refuse),
            (tar, Some(SHA), false, false, Row::TarballChecked),
            (tar, Some(SHA), false, true, Row::TarballChecked),
            (tar, None, false, false, Row::TarballWarn),
            (tar, None, false, true, Row::Refuse),
            (tar, None, true, false, Row::Refuse),
            ("file:///srv/b.tar", None, true, true, Row::Refuse),
            (tar, Some("not-hex"), false, false, Row::Refuse),
        ];
        for (uri, sha, signed, strict, expected) in rows {
            let got = classify(&plan(&entry(uri, sha), &gallery(signed), strict).primary);
            assert_eq!(
                got, expected,
                "uri={uri} sha256={sha:?} policy={signed} strict={strict}"
            );
        }
    }

    #[test]
    fn mirrors_use_the_same_table_and_messages_say_what_to_do() {
        let mut e = entry("quay.io/acme/b:v1", None);
        e.mirrors = vec![
            "docker.io/acme/b:v1".into(),
            "https://example.com/b.tgz".into(),
        ];
        let p = plan(&e, &gallery(true), false);
        assert_eq!(
            p.mirrors.iter().map(classify).collect::<Vec<_>>(),
            [Row::Cosign, Row::Refuse]
        );
        let strict = plan(&e, &gallery(false), true);
        let SourcePlan::Oci {
            verifier: VerifierChoice::Strict { reason },
            ..
        } = &strict.primary
        else {
            panic!("expected a strict refusal, got {:?}", strict.primary)
        };
        assert!(
            reason.contains("gallery \"acme\"") && reason.contains("add verification"),
            "{reason}"
        );
    }

    /// `require_attestations:` rides on the gallery's policy: OCI sources plan the cosign
    /// verifier with it (which refuses unless each type is attested), tarballs stay refused.
    #[test]
    fn required_attestations_keep_the_table_and_reach_the_verifier() {
        let slsa = "https://slsa.dev/provenance/v1";
        let mut g = gallery(true);
        g.verification = Some(
            TrustPolicy::new(PolicySpec {
                issuer: Some("https://i".into()),
                identity: Some("me".into()),
                require_attestations: vec![slsa.into()],
                ..PolicySpec::default()
            })
            .expect("valid"),
        );
        for (uri, sha, strict, expected) in [
            ("quay.io/acme/b:v1", None, false, Row::Cosign),
            ("oci-layout:/srv/b:v1", None, true, Row::Cosign),
            (
                "https://example.com/b.tar.gz",
                Some(SHA),
                false,
                Row::Refuse,
            ),
        ] {
            let p = plan(&entry(uri, sha), &g, strict);
            assert_eq!(classify(&p.primary), expected, "{uri}");
            if let SourcePlan::Oci {
                verifier: VerifierChoice::Cosign(policy),
                ..
            } = &p.primary
            {
                assert_eq!(policy.require_attestations(), [slsa]);
            }
        }
    }

    #[test]
    fn a_remote_index_may_not_name_local_files() {
        for location in [
            "file:///etc/shadow.tar",
            "oci-layout:/srv/b:v1",
            "ocifile:///srv/b.tar",
        ] {
            for (url, mirrors) in [
                (
                    IndexLocation::Url("https://g.example/i.yaml".into()),
                    vec![],
                ),
                (
                    IndexLocation::File("i.yaml".into()),
                    vec![IndexLocation::Url("https://m.example/i.yaml".into())],
                ),
            ] {
                for signed in [false, true] {
                    let g = Gallery {
                        url: url.clone(),
                        mirrors: mirrors.clone(),
                        ..gallery(signed)
                    };
                    match plan(&entry(location, Some(SHA)), &g, false).primary {
                        SourcePlan::Refuse { reason, .. } => {
                            assert!(
                                reason.contains("may not name files on this machine"),
                                "{reason}"
                            );
                            assert!(reason.contains(location), "{reason}");
                        }
                        other => panic!("{location} from {url:?}: {other:?}"),
                    }
                }
            }
            // The same entry in a local index keeps its row of the table.
            let local = plan(&entry(location, Some(SHA)), &gallery(false), false).primary;
            assert!(
                !matches!(local, SourcePlan::Refuse { .. }),
                "{location}: {local:?}"
            );
        }
        // Network locations from a remote index are planned as before.
        let g = Gallery {
            url: IndexLocation::Url("https://g.example/i.yaml".into()),
            ..gallery(false)
        };
        assert!(matches!(
            plan(&entry("https://g.example/b.tar", Some(SHA)), &g, false).primary,
            SourcePlan::Tarball { .. }
        ));
        assert!(matches!(
            plan(&entry("quay.io/acme/b:v1", None), &g, false).primary,
            SourcePlan::Oci { .. }
        ));
    }

    #[test]
    fn entry_without_uri_is_refused() {
        let mut e = entry("", None);
        e.uri = None;
        assert_eq!(
            classify(&plan(&e, &gallery(true), false).primary),
            Row::Refuse
        );
    }
}
