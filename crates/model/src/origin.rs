//! How a call was made: by a person in the console, by an infrastructure-as-code run, by an
//! AWS service on someone's behalf, or directly (an SDK, a CLI, a script).

use serde::{Deserialize, Serialize};

/// The channel a call came through. Every event carries one (column `origin`).
///
/// Derived by the parser from fields AWS sets (`sessionCredentialFromConsole`,
/// `userIdentity.invokedBy`, `userIdentity.type`) before fields the caller sets (the user
/// agent): a forged console user agent on a long-lived key does not make a call `console`,
/// and a forged IaC user agent only ever quiets what that same principal created through IaC
/// (see the detection context).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A person's console session: `sessionCredentialFromConsole`, or a console or browser
    /// user agent on a person's temporary credentials.
    Console,
    /// An infrastructure-as-code run: `invokedBy` CloudFormation, or a Terraform, Pulumi, CDK,
    /// CloudFormation, Crossplane or Ansible user agent.
    Iac,
    /// An AWS service acting on the account's behalf (`AWSService`, `invokedBy` a service,
    /// service-linked roles).
    AwsService,
    /// Anything else: an SDK, a CLI, a script, an attacker's tool.
    Direct,
}

impl Origin {
    /// All origins, in a stable order.
    pub const ALL: [Origin; 4] = [Origin::Console, Origin::Iac, Origin::AwsService, Origin::Direct];

    /// The snake_case name used in the column and in findings' context.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Console => "console",
            Origin::Iac => "iac",
            Origin::AwsService => "aws_service",
            Origin::Direct => "direct",
        }
    }

    /// Inverse of [`Origin::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_origin_round_trips_through_its_name() {
        for o in Origin::ALL {
            assert_eq!(Origin::parse(o.as_str()), Some(o));
            assert_eq!(serde_json::to_string(&o).expect("json"), format!("\"{}\"", o.as_str()));
        }
        assert_eq!(Origin::parse("browser"), None);
    }
}
