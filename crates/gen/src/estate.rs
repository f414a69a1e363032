//! The simulated organisation: accounts, regions, and the credentials scenarios can steal.

use rand::Rng as _;

use crate::json::{alnum_id, hex};
use crate::Rng;

/// Every commercial region the estate has enabled (pollers sweep all of them).
pub(crate) const REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
];

/// Account names, in index order.
pub(crate) const ACCOUNT_NAMES: [&str; 6] = ["management", "security", "shared-services", "prod", "staging", "dev"];

/// Index of the security (tooling) account.
pub(crate) const SECURITY: usize = 1;
/// Index of the shared-services account.
pub(crate) const SHARED: usize = 2;
/// Index of the production account.
pub(crate) const PROD: usize = 3;
/// Index of the staging account.
pub(crate) const STAGING: usize = 4;
/// Index of the development account.
pub(crate) const DEV: usize = 5;

/// One AWS account.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    /// Short name (`prod`).
    pub name: &'static str,
    /// 12-digit id.
    pub id: String,
    /// Public IP of the account's NAT gateway (workloads' egress).
    pub nat_ip: String,
    /// The S3 gateway VPC endpoint id.
    pub vpce: String,
    /// Main workload region.
    pub region: &'static str,
}

/// A long-lived IAM user key (a possible victim of key theft).
#[derive(Debug, Clone)]
pub(crate) struct UserCred {
    /// Account index.
    pub account: usize,
    /// IAM user name.
    pub name: String,
    /// `AIDA...` unique id.
    pub pid: String,
    /// `AKIA...` key id (changes when the user rotates its key).
    pub key: String,
    /// Rendered `userIdentity`.
    pub ident: String,
    /// The user's home region.
    pub region: &'static str,
}

/// A live temporary session (a possible victim of session theft).
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionCred {
    /// Account index.
    pub account: usize,
    /// `ASIA...` key id.
    pub key: String,
    /// Rendered `userIdentity`.
    pub ident: String,
    /// Principal ARN.
    pub arn: String,
    /// When the session was issued.
    pub created: i64,
    /// Region the session's owner works in.
    pub region: &'static str,
}

/// The organisation and the credentials that exist right now.
#[derive(Debug, Clone)]
pub(crate) struct Estate {
    /// Accounts, indexed by the constants above.
    pub accounts: Vec<Account>,
    /// Programmatic users with `AKIA` keys.
    pub users: Vec<UserCred>,
    /// The latest session of each CI/CD pipeline.
    pub ci: Vec<SessionCred>,
    /// The current session of each EC2 instance role (`assumed-role/ROLE/i-...`).
    pub instances: Vec<SessionCred>,
    /// The current session of each Lambda function (`assumed-role/ROLE/FUNCTION`); the key
    /// is empty until the first cold start.
    pub functions: Vec<SessionCred>,
    /// The current session of each long-running ECS task (`assumed-role/ROLE/TASK_ID`); the
    /// key is empty until the task starts.
    pub tasks: Vec<SessionCred>,
}

/// A random public IPv4 address whose first octet is one of `firsts`.
pub(crate) fn public_ip(rng: &mut Rng, firsts: &[u8]) -> String {
    let a = firsts[rng.random_range(0..firsts.len())];
    format!("{a}.{}.{}.{}", rng.random_range(0..=255u8), rng.random_range(0..=255u8), rng.random_range(1..=254u8))
}

/// A random private (10/8) address.
pub(crate) fn private_ip(rng: &mut Rng) -> String {
    format!("10.{}.{}.{}", rng.random_range(0..=63u8), rng.random_range(0..=255u8), rng.random_range(4..=254u8))
}

/// First octets of AWS-owned egress addresses (NAT gateways, Lambda).
pub(crate) const AWS_OCTETS: [u8; 6] = [3, 18, 34, 35, 52, 54];

impl Estate {
    /// Builds the accounts; users and sessions are registered by the background sources.
    pub(crate) fn new(rng: &mut Rng) -> Self {
        let mut accounts = Vec::with_capacity(ACCOUNT_NAMES.len());
        for (i, name) in ACCOUNT_NAMES.iter().enumerate() {
            let id = format!("{}{:011}", rng.random_range(1..=9u8), rng.random_range(0..100_000_000_000u64));
            let region = if i == STAGING || i == DEV { "us-east-2" } else { "us-east-1" };
            let region = if i == PROD && rng.random_bool(0.5) { "eu-west-1" } else { region };
            accounts.push(Account {
                name,
                id,
                nat_ip: public_ip(rng, &AWS_OCTETS),
                vpce: format!("vpce-{}", hex(rng, 17)),
                region,
            });
        }
        Estate {
            accounts,
            users: Vec::new(),
            ci: Vec::new(),
            instances: Vec::new(),
            functions: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// Account id by index.
    pub(crate) fn id(&self, account: usize) -> &str {
        &self.accounts[account].id
    }

    /// The account's own CloudTrail trail (besides the organisation trail): its name, ARN and
    /// the S3 bucket it delivers to.
    pub(crate) fn account_trail(&self, account: usize) -> (String, String, String) {
        let a = &self.accounts[account];
        let name = format!("{}-account-trail", a.name);
        let arn = format!("arn:aws:cloudtrail:{}:{}:trail/{name}", a.region, a.id);
        (name, arn, format!("{}-cloudtrail-logs-{}", a.name, a.id))
    }
}

/// The organisation trail's name and bucket (in the management account).
pub(crate) const ORG_TRAIL: (&str, &str) = ("org-trail", "org-cloudtrail-logs");

/// Long-standing IAM users for people (from before SSO: break-glass and a few admins) that
/// exist in every account. They do not call APIs in the background; scenarios backdoor them.
pub(crate) const PEOPLE_USERS: [&str; 5] = ["alice", "bob", "frank", "breakglass-admin", "ops-oncall"];

/// A fresh `ASIA` session key id.
pub(crate) fn session_key(rng: &mut Rng) -> String {
    alnum_id(rng, "ASIA", 16)
}

/// A fresh `AKIA` user key id.
pub(crate) fn user_key(rng: &mut Rng) -> String {
    alnum_id(rng, "AKIA", 16)
}

/// A fresh `AIDA`/`AROA` unique id.
pub(crate) fn unique_id(rng: &mut Rng, prefix: &str) -> String {
    alnum_id(rng, prefix, 17)
}
