//! People in the console: IAM Identity Center (SSO) permission-set sessions, IAM users with
//! console passwords, and the root user of some accounts.
//!
//! Every console page load is a burst of 8–27 distinct read APIs within ~10 s; dashboards
//! (console home, EC2 Global View, Billing and Cost Management, Trusted Advisor, Security
//! Hub, the region selector) fan the same few reads out over 10–17 regions within seconds.
//! The calls carry `sessionCredentialFromConsole` (all but a few) and a console user agent:
//! `console.amazonaws.com`, `console.ec2.amazonaws.com`, `AWS Internal` (with source address
//! `AWS Internal` and no `tlsDetails`), the S3 console's `[S3Console/0.4, aws-internal/3 ...]`,
//! `Coral/Netty4`, or the person's browser. A person without the rights for a page now and
//! then gets a handful of `AccessDenied` reads. People also use the AWS CLI from their laptop
//! (their SSO role through `aws sso login`, or an IAM user's own `AKIA` key), a few commands at
//! a time. Administrators now and then do IAM work (a role with a managed policy; an IAM user
//! for a contractor with a console password and non-admin policies; tidying an old user) or
//! add S3 data events to the account trail (`PutEventSelectors` keeping management events).
//!
//! [`build`] returns the [`Operator`]s (people who also run infrastructure-as-code from their
//! laptop) for [`super::iac`].

use rand::Rng as _;

use super::{exp, pick, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{public_ip, unique_id, user_key, Estate, DEV, PROD, SECURITY, STAGING};
use crate::event::{Call, Kind};
use crate::identity::{iam_user, Role};
use crate::json::{hex, time_string, Obj};
use crate::Rng;
use trailhound_model::time::{HOUR, MINUTE, SECOND};

mod admin;
mod pages;
mod session;
#[cfg(test)]
mod tests;

use pages::{page_load, EC2, PAGES, ROOT_PAGES};

/// Browser user agents of the people.
pub(crate) const BROWSERS: [&str; 4] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
];

/// The console's own user agent.
pub(crate) const UA_CONSOLE: &str = "console.amazonaws.com";
/// The EC2 console's user agent.
pub(crate) const UA_CONSOLE_EC2: &str = "console.ec2.amazonaws.com";
/// User agent (and source address) of calls the console's back end makes.
pub(crate) const AWS_INTERNAL: &str = "AWS Internal";
/// The S3 console's user agent.
pub(crate) const UA_S3_CONSOLE: &str = "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750 Linux/5.10.224-190.876.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.412-b08 java/1.8.0_412 vendor/Oracle_Corporation cfg/retry-mode/standard]";
/// User agent of some console back ends.
pub(crate) const UA_CORAL: &str = "Coral/Netty4";

/// `userIdentity` of the root user's console session.
pub(crate) fn root_session(account: &str, key: &str, created: i64, mfa: bool) -> String {
    let mut s = String::with_capacity(320);
    let created = time_string(created);
    Obj::new(&mut s)
        .str("type", "Root")
        .str("principalId", account)
        .str("arn", &format!("arn:aws:iam::{account}:root"))
        .str("accountId", account)
        .str("accessKeyId", key)
        .obj("sessionContext", |c| {
            c.obj("sessionIssuer", |i| i).obj("webIdFederationData", |w| w).obj("attributes", |a| {
                a.str("creationDate", &created).str("mfaAuthenticated", if mfa { "true" } else { "false" })
            })
        })
        .end();
    s
}

/// `userIdentity` of the root user's `ConsoleLogin` (no key yet).
pub(crate) fn root_signin(account: &str) -> String {
    let mut s = String::with_capacity(160);
    Obj::new(&mut s)
        .str("type", "Root")
        .str("principalId", account)
        .str("arn", &format!("arn:aws:iam::{account}:root"))
        .str("accountId", account)
        .str("accessKeyId", "")
        .end();
    s
}

/// `userIdentity` of an IAM user's console session (an `ASIA` key and a `sessionContext`).
pub(crate) fn iam_user_session(account: &str, name: &str, pid: &str, key: &str, created: i64, mfa: bool) -> String {
    let mut s = String::with_capacity(360);
    let created = time_string(created);
    Obj::new(&mut s)
        .str("type", "IAMUser")
        .str("principalId", pid)
        .str("arn", &format!("arn:aws:iam::{account}:user/{name}"))
        .str("accountId", account)
        .str("accessKeyId", key)
        .str("userName", name)
        .obj("sessionContext", |c| {
            c.obj("sessionIssuer", |i| i).obj("webIdFederationData", |w| w).obj("attributes", |a| {
                a.str("creationDate", &created).str("mfaAuthenticated", if mfa { "true" } else { "false" })
            })
        })
        .end();
    s
}

/// `userIdentity` of an IAM user's `ConsoleLogin`.
pub(crate) fn iam_user_signin(account: &str, name: &str, pid: &str) -> String {
    let mut s = String::with_capacity(200);
    Obj::new(&mut s)
        .str("type", "IAMUser")
        .str("principalId", pid)
        .str("arn", &format!("arn:aws:iam::{account}:user/{name}"))
        .str("accountId", account)
        .str("userName", name)
        .end();
    s
}

/// A person's AWS CLI user agent on their laptop, for the command `cmd` (`ec2.describe-instances`).
pub(crate) fn cli_ua(os: &str, cmd: &str) -> String {
    format!(
        "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/{os} md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cmd/{cmd}"
    )
}

/// Who a person signs in as.
enum Principal {
    /// SSO permission-set roles, one per account the person may enter.
    Sso { email: String, roles: Vec<(usize, Role)> },
    /// An IAM user with a console password (and, maybe, an `AKIA` key for the CLI).
    User { account: usize, name: String, pid: String, cli_ident: Option<String> },
    /// The account's root user.
    Root { account: usize },
}

/// A person's live console session.
struct Live {
    ident: String,
    /// The identity of the person's CLI calls in this session (empty: no CLI).
    cli_ident: String,
    account: usize,
    end: i64,
}

/// One person (or the root user of one account).
pub(crate) struct Human {
    who: Principal,
    admin: bool,
    ip: String,
    ua: &'static str,
    os: &'static str,
    region: &'static str,
    /// Mean session length and mean gap between sessions (ms).
    session_mean: f64,
    gap_mean: f64,
    /// Chance that a step of a live session is a CLI burst rather than a page.
    cli: f64,
    /// When the person last opened a page they lack the rights for.
    last_denied: i64,
    live: Option<Live>,
    s: Scratch,
}

/// A person who also runs infrastructure-as-code from a laptop (see [`super::iac`]).
#[derive(Debug, Clone)]
pub(crate) struct Operator {
    /// Account they work in.
    pub account: usize,
    /// How they authenticate.
    pub cred: OperatorCred,
    /// Their laptop's public address.
    pub ip: String,
    /// Short name for resource names (`alice`).
    pub short: String,
}

/// An [`Operator`]'s credentials.
#[derive(Debug, Clone)]
pub(crate) enum OperatorCred {
    /// An SSO permission-set role, sessions named after `email`.
    Sso {
        /// The role.
        role: Role,
        /// Session name.
        email: String,
    },
    /// An IAM user's long-lived key (rendered identity).
    User {
        /// Rendered `userIdentity`.
        ident: String,
    },
}

impl Source for Human {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let Some(live) = self.live.take() else {
            return self.sign_in(now, cx);
        };
        if now >= live.end {
            return now + 5 * MINUTE + exp(cx.rng, self.gap_mean);
        }
        let acct = cx.est.id(live.account).to_string();
        let is_root = matches!(self.who, Principal::Root { .. });
        let is_sso = matches!(self.who, Principal::Sso { .. });
        let next = if is_sso && self.admin && cx.rng.random_bool(0.04) {
            self.admin_work(now, cx, &live, &acct)
        } else if !live.cli_ident.is_empty() && cx.rng.random_bool(self.cli) {
            self.cli_burst(now, cx, &live, &acct)
        } else {
            let page = if is_root { *pick(cx.rng, &ROOT_PAGES) } else { *pick(cx.rng, &PAGES) };
            // Now and then a page the person lacks the rights for (not again for a while).
            let deny = if !self.admin && now - self.last_denied > 45 * MINUTE && cx.rng.random_bool(0.03) {
                self.last_denied = now;
                cx.rng.random_range(2..=5)
            } else {
                0
            };
            let t = page_load(cx, page, now, &live.ident, &acct, self.region, self.ua, &self.ip, deny);
            if !self.admin && std::ptr::eq(page, &EC2) && cx.rng.random_bool(0.01) {
                // A read-only person clicks "Stop instance".
                cx.em.bg(
                    &Call::new(t, &live.ident, "ec2", "StopInstances", self.region, &self.ip, UA_CONSOLE_EC2, &acct)
                        .req(
                            "{\"instancesSet\":{\"items\":[{\"instanceId\":\"i-0d1f6c2b3a4e5f607\"}]},\"force\":false}",
                        )
                        .err("Client.UnauthorizedOperation", "You are not authorized to perform this operation.")
                        .kind(Kind::ConsoleApi),
                    cx.rng,
                );
            }
            t
        };
        self.live = Some(live);
        next + uni(cx.rng, 10 * SECOND, 120 * SECOND)
    }
}

/// The OS part of the people's laptop AWS CLI user agents.
const LAPTOP_OS: [&str; 3] = ["macos#23.4.0", "macos#24.1.0", "linux#6.8.0-45-generic"];

/// Creates the people (SSO permission sets, IAM users with console passwords, root users)
/// and returns the ones who also run infrastructure-as-code from their laptops.
pub(crate) fn build(
    est: &mut Estate,
    rng: &mut Rng,
    start: i64,
    out: &mut Vec<(i64, Box<dyn Source>)>,
) -> Vec<Operator> {
    // (name, admin, permission set, CLI use)
    let people: [(&str, bool, &str, f64); 14] = [
        ("alice", true, "AdministratorAccess", 0.10),
        ("bob", true, "AdministratorAccess", 0.05),
        ("carol", false, "ReadOnlyAccess", 0.0),
        ("dave", false, "PowerUserAccess", 0.15),
        ("erin", false, "ReadOnlyAccess", 0.0),
        ("frank", true, "AdministratorAccess", 0.05),
        ("grace", false, "PowerUserAccess", 0.10),
        ("heidi", false, "ReadOnlyAccess", 0.0),
        ("ivan", false, "PowerUserAccess", 0.08),
        ("judy", false, "ReadOnlyAccess", 0.0),
        ("mallory.ops", true, "AdministratorAccess", 0.06),
        ("nia", false, "PowerUserAccess", 0.12),
        ("oscar", false, "ReadOnlyAccess", 0.02),
        ("peggy", false, "PowerUserAccess", 0.10),
    ];
    let mut set_ids: Vec<(String, usize, Role)> = Vec::new();
    let mut operators = Vec::new();
    for (name, admin, set, cli) in people {
        let accounts: Vec<usize> = if admin { (0..est.accounts.len()).collect() } else { vec![PROD, STAGING, DEV] };
        let mut roles = Vec::new();
        for account in accounts {
            let role = match set_ids.iter().find(|(s, a, _)| s == set && *a == account) {
                Some((_, _, r)) => r.clone(),
                None => {
                    let r = Role {
                        account: est.id(account).to_string(),
                        name: format!("AWSReservedSSO_{set}_{}", hex(rng, 16)),
                        path: "/aws-reserved/sso.amazonaws.com/".to_string(),
                        pid: unique_id(rng, "AROA"),
                    };
                    set_ids.push((set.to_string(), account, r.clone()));
                    r
                }
            };
            roles.push((account, role));
        }
        let email = format!("{name}@corp.example");
        let ip = public_ip(rng, &[24, 73, 81, 86, 92, 174]);
        if matches!(name, "alice" | "dave" | "grace") {
            if let Some((_, role)) = roles.iter().find(|(a, _)| *a == DEV) {
                operators.push(Operator {
                    account: DEV,
                    cred: OperatorCred::Sso { role: role.clone(), email: email.clone() },
                    ip: ip.clone(),
                    short: name.to_string(),
                });
            }
        }
        let human = Human {
            who: Principal::Sso { email, roles },
            admin,
            ip,
            ua: BROWSERS[rng.random_range(0..BROWSERS.len())],
            os: LAPTOP_OS[rng.random_range(0..LAPTOP_OS.len())],
            region: if rng.random_bool(0.7) { "us-east-1" } else { "eu-west-1" },
            session_mean: 45.0 * MINUTE as f64,
            gap_mean: 45.0 * MINUTE as f64,
            cli,
            last_denied: i64::MIN / 2,
            live: None,
            s: Scratch::default(),
        };
        out.push((start + exp(rng, 30.0 * MINUTE as f64), Box::new(human)));
    }
    // IAM users with console passwords (from before SSO); some have a CLI key too.
    let users: [(usize, &str, bool, bool); 4] = [
        (DEV, "priya.nair", true, true),
        (STAGING, "tom.wright", false, true),
        (SECURITY, "secops-lead", true, false),
        (0, "finance-viewer", false, false),
    ];
    for (account, name, admin, cli) in users {
        let acct = est.id(account).to_string();
        let pid = unique_id(rng, "AIDA");
        let cli_ident = cli.then(|| iam_user(&acct, name, &pid, &user_key(rng)));
        let ip = public_ip(rng, &[24, 73, 81, 86, 92, 174]);
        if let (Some(ident), DEV) = (&cli_ident, account) {
            operators.push(Operator {
                account,
                cred: OperatorCred::User { ident: ident.clone() },
                ip: ip.clone(),
                short: name.split('.').next().unwrap_or(name).to_string(),
            });
        }
        let human = Human {
            who: Principal::User { account, name: name.to_string(), pid, cli_ident },
            admin,
            ip,
            ua: BROWSERS[rng.random_range(0..BROWSERS.len())],
            os: LAPTOP_OS[rng.random_range(0..LAPTOP_OS.len())],
            region: est.accounts[account].region,
            session_mean: 30.0 * MINUTE as f64,
            gap_mean: 80.0 * MINUTE as f64,
            cli: if cli { 0.12 } else { 0.0 },
            last_denied: i64::MIN / 2,
            live: None,
            s: Scratch::default(),
        };
        out.push((start + exp(rng, 40.0 * MINUTE as f64), Box::new(human)));
    }
    // Root users: billing and account settings in the management account several times a
    // day, now and then elsewhere.
    for (account, gap_h) in [(0usize, 2.5f64), (SECURITY, 10.0), (PROD, 16.0), (DEV, 8.0)] {
        let human = Human {
            who: Principal::Root { account },
            admin: true,
            ip: public_ip(rng, &[24, 73, 81, 86, 92, 174]),
            ua: BROWSERS[rng.random_range(0..BROWSERS.len())],
            os: LAPTOP_OS[0],
            region: "us-east-1",
            session_mean: 12.0 * MINUTE as f64,
            gap_mean: gap_h * HOUR as f64,
            cli: 0.0,
            last_denied: i64::MIN / 2,
            live: None,
            s: Scratch::default(),
        };
        out.push((start + exp(rng, gap_h * HOUR as f64 / 2.0), Box::new(human)));
    }
    operators
}
