//! The Fulcio certificate claims a policy may constrain, by name and OID.
//!
//! The names are the ones operators write under `extensions:`; the verifier reads the matching
//! OIDs out of the signing certificate. Keeping both here means a name is checked at load time
//! and the verifier cannot drift from what policies can say.

/// The Fulcio OID arc every claim lives under: `1.3.6.1.4.1.57264.1`.
pub const FULCIO_OID_ARC: &str = "1.3.6.1.4.1.57264.1";

/// A Fulcio certificate claim that `extensions:` can constrain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FulcioClaim {
    /// `.2` GitHub workflow trigger (deprecated by Fulcio, still issued).
    GithubWorkflowTrigger,
    /// `.3` GitHub workflow commit SHA (deprecated).
    GithubWorkflowSha,
    /// `.4` GitHub workflow name (deprecated).
    GithubWorkflowName,
    /// `.5` GitHub workflow repository (deprecated).
    GithubWorkflowRepository,
    /// `.6` GitHub workflow ref (deprecated).
    GithubWorkflowRef,
    /// `.9` build signer URI.
    BuildSignerUri,
    /// `.10` build signer digest.
    BuildSignerDigest,
    /// `.11` runner environment (`github-hosted`, `self-hosted`).
    RunnerEnvironment,
    /// `.12` source repository URI.
    SourceRepositoryUri,
    /// `.13` source repository digest.
    SourceRepositoryDigest,
    /// `.14` source repository ref.
    SourceRepositoryRef,
    /// `.15` source repository identifier.
    SourceRepositoryIdentifier,
    /// `.16` source repository owner URI.
    SourceRepositoryOwnerUri,
    /// `.17` source repository owner identifier.
    SourceRepositoryOwnerIdentifier,
    /// `.18` build config URI.
    BuildConfigUri,
    /// `.19` build config digest.
    BuildConfigDigest,
    /// `.20` build trigger.
    BuildTrigger,
    /// `.21` run invocation URI.
    RunInvocationUri,
    /// `.22` source repository visibility at signing.
    SourceRepositoryVisibilityAtSigning,
}

impl FulcioClaim {
    /// Every claim, in OID order.
    pub const ALL: [FulcioClaim; 19] = [
        Self::GithubWorkflowTrigger,
        Self::GithubWorkflowSha,
        Self::GithubWorkflowName,
        Self::GithubWorkflowRepository,
        Self::GithubWorkflowRef,
        Self::BuildSignerUri,
        Self::BuildSignerDigest,
        Self::RunnerEnvironment,
        Self::SourceRepositoryUri,
        Self::SourceRepositoryDigest,
        Self::SourceRepositoryRef,
        Self::SourceRepositoryIdentifier,
        Self::SourceRepositoryOwnerUri,
        Self::SourceRepositoryOwnerIdentifier,
        Self::BuildConfigUri,
        Self::BuildConfigDigest,
        Self::BuildTrigger,
        Self::RunInvocationUri,
        Self::SourceRepositoryVisibilityAtSigning,
    ];

    /// The name used in policies and receipts.
    pub fn name(self) -> &'static str {
        match self {
            Self::GithubWorkflowTrigger => "github_workflow_trigger",
            Self::GithubWorkflowSha => "github_workflow_sha",
            Self::GithubWorkflowName => "github_workflow_name",
            Self::GithubWorkflowRepository => "github_workflow_repository",
            Self::GithubWorkflowRef => "github_workflow_ref",
            Self::BuildSignerUri => "build_signer_uri",
            Self::BuildSignerDigest => "build_signer_digest",
            Self::RunnerEnvironment => "runner_environment",
            Self::SourceRepositoryUri => "source_repository_uri",
            Self::SourceRepositoryDigest => "source_repository_digest",
            Self::SourceRepositoryRef => "source_repository_ref",
            Self::SourceRepositoryIdentifier => "source_repository_identifier",
            Self::SourceRepositoryOwnerUri => "source_repository_owner_uri",
            Self::SourceRepositoryOwnerIdentifier => "source_repository_owner_identifier",
            Self::BuildConfigUri => "build_config_uri",
            Self::BuildConfigDigest => "build_config_digest",
            Self::BuildTrigger => "build_trigger",
            Self::RunInvocationUri => "run_invocation_uri",
            Self::SourceRepositoryVisibilityAtSigning => "source_repository_visibility_at_signing",
        }
    }

    /// The last arc of the claim's OID under [`FULCIO_OID_ARC`].
    pub fn oid_arc(self) -> u32 {
        match self {
            Self::GithubWorkflowTrigger => 2,
            Self::GithubWorkflowSha => 3,
            Self::GithubWorkflowName => 4,
            Self::GithubWorkflowRepository => 5,
            Self::GithubWorkflowRef => 6,
            Self::BuildSignerUri => 9,
            Self::BuildSignerDigest => 10,
            Self::RunnerEnvironment => 11,
            Self::SourceRepositoryUri => 12,
            Self::SourceRepositoryDigest => 13,
            Self::SourceRepositoryRef => 14,
            Self::SourceRepositoryIdentifier => 15,
            Self::SourceRepositoryOwnerUri => 16,
            Self::SourceRepositoryOwnerIdentifier => 17,
            Self::BuildConfigUri => 18,
            Self::BuildConfigDigest => 19,
            Self::BuildTrigger => 20,
            Self::RunInvocationUri => 21,
            Self::SourceRepositoryVisibilityAtSigning => 22,
        }
    }

    /// The dotted OID, e.g. `1.3.6.1.4.1.57264.1.12`.
    pub fn oid(self) -> String {
        format!("{FULCIO_OID_ARC}.{}", self.oid_arc())
    }

    /// Looks a claim up by its policy name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arcs_are_unique_and_round_trip() {
        let mut arcs: Vec<u32> = FulcioClaim::ALL.iter().map(|c| c.oid_arc()).collect();
        arcs.dedup();
        assert_eq!(
            arcs.len(),
            FulcioClaim::ALL.len(),
            "OID arcs must be unique and ordered"
        );
        for claim in FulcioClaim::ALL {
            assert_eq!(FulcioClaim::from_name(claim.name()), Some(claim));
        }
        assert_eq!(
            FulcioClaim::SourceRepositoryUri.oid(),
            "1.3.6.1.4.1.57264.1.12"
        );
        assert_eq!(
            FulcioClaim::from_name("issuer"),
            None,
            "issuer is its own policy field"
        );
    }
}
