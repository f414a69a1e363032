use serde::{Deserialize, Serialize};

/// What kind of principal made a call. Every event and every finding carries one.
///
/// Stolen non-human identities are trailhound's subject, so the machine classes are split
/// finely: a CI/CD token and an instance role are attacked (and baselined) differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityClass {
    /// A person: console sign-in, SSO permission-set role, a console session.
    Human,
    /// A workload's own role: EC2 instance profile, Lambda, ECS task, EKS service account.
    Workload,
    /// A pipeline: OIDC web identity from a CI provider, or an IaC agent (Terraform, Pulumi, ...).
    CiCd,
    /// An IAM user calling with a long-lived `AKIA` access key.
    ProgrammaticUser,
    /// An AWS service acting on the account's behalf.
    AwsService,
    /// The account root user.
    Root,
    /// Not enough information to say.
    Unknown,
}

impl IdentityClass {
    /// All classes, in a stable order.
    pub const ALL: [IdentityClass; 7] = [
        IdentityClass::Human,
        IdentityClass::Workload,
        IdentityClass::CiCd,
        IdentityClass::ProgrammaticUser,
        IdentityClass::AwsService,
        IdentityClass::Root,
        IdentityClass::Unknown,
    ];

    /// The snake_case name used in columns, config and findings.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityClass::Human => "human",
            IdentityClass::Workload => "workload",
            IdentityClass::CiCd => "ci_cd",
            IdentityClass::ProgrammaticUser => "programmatic_user",
            IdentityClass::AwsService => "aws_service",
            IdentityClass::Root => "root",
            IdentityClass::Unknown => "unknown",
        }
    }

    /// Inverse of [`IdentityClass::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// True for identities that are not a person: the ones whose theft trailhound hunts.
    pub fn is_machine(self) -> bool {
        matches!(self, IdentityClass::Workload | IdentityClass::CiCd | IdentityClass::ProgrammaticUser)
    }
}

impl std::fmt::Display for IdentityClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_round_trips_through_its_name() {
        for c in IdentityClass::ALL {
            assert_eq!(IdentityClass::parse(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).expect("serialize");
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        assert_eq!(IdentityClass::parse("robot"), None);
    }
}
