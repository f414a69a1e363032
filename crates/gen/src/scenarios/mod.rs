//! Injected attack scenarios, one file each, registered in [`ALL`].
//!
//! A scenario is planned when the generator reaches its trigger point: it picks a victim
//! credential that exists in the estate at that moment (one no scenario attacked yet, else
//! one not attacked in the last 6 hours; sessions issued within the run, so the owner's own
//! use is in the output), emits its events (all at or after the trigger time) and returns
//! the victim. With no such victim it asks to be retried a little later ([`Planned`]); once
//! the background has stopped it is forced to take any. The engine then writes the [`crate::Label`]s: one with the
//! definition's rule id, or, for a multi-stage scenario (see
//! [`crate::engine::ScenarioOut::stage`]), one per stage plus an `attack_chain` label
//! spanning the whole scenario. To add one, add a file with a `pub(crate) const DEF:
//! ScenarioDef` and list it in [`ALL`].

use rand::Rng as _;

use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::{Estate, SessionCred};
use crate::event::Call;
use crate::json::alnum_id;
use crate::Rng;
use trailhound_model::time::MINUTE;

pub(crate) mod backdoor_key_used;
pub(crate) mod baseline_novelty;
pub(crate) mod defense_evasion;
pub(crate) mod ecs_burst;
pub(crate) mod enum_denied;
pub(crate) mod enum_distinct_apis;
pub(crate) mod enum_regions;
pub(crate) mod federation_console;
pub(crate) mod gpu_sprawl;
pub(crate) mod iam_admin_user;
pub(crate) mod iam_backdoor_existing_user;
pub(crate) mod iam_backdoor_role;
pub(crate) mod iam_self_escalation;
pub(crate) mod instance_role_outside;
pub(crate) mod new_key_outside;
pub(crate) mod secrets_harvest;
pub(crate) mod stolen_instance_credentials;

/// Who a scenario attacked: becomes the `actor_key` of its single or `attack_chain` label,
/// and the `account` of all its labels.
#[derive(Debug, Clone)]
pub(crate) struct Victim {
    /// The access key id the attacker used.
    pub actor_key: String,
    /// The account id attacked.
    pub account: String,
}

/// Plans one instance (see [`PlanCx`] and [`Planned`]).
pub(crate) type PlanFn = fn(&PlanCx<'_>, &mut ScenarioOut<'_>) -> Planned;

/// A registered scenario.
pub(crate) struct ScenarioDef {
    /// Name used in config and labels.
    pub name: &'static str,
    /// The rule ids of the labels one instance writes, in order: one for a single-stage
    /// scenario; the stages then `attack_chain` for a multi-stage one.
    pub rules: &'static [&'static str],
    /// The planner.
    pub plan: PlanFn,
}

/// Every scenario, in a stable order (new ones are appended, so the trigger points of the
/// earlier ones do not move).
pub(crate) const ALL: &[ScenarioDef] = &[
    enum_distinct_apis::DEF,
    enum_regions::DEF,
    enum_denied::DEF,
    iam_admin_user::DEF,
    iam_backdoor_existing_user::DEF,
    iam_backdoor_role::DEF,
    iam_self_escalation::DEF,
    gpu_sprawl::DEF,
    ecs_burst::DEF,
    defense_evasion::DEF,
    secrets_harvest::DEF,
    stolen_instance_credentials::DEF,
    baseline_novelty::DEF,
    instance_role_outside::DEF,
    new_key_outside::DEF,
    federation_console::DEF,
    backdoor_key_used::DEF,
];

/// Names of [`ALL`], for the public API.
pub(crate) const NAMES: &[&str] = &[
    enum_distinct_apis::DEF.name,
    enum_regions::DEF.name,
    enum_denied::DEF.name,
    iam_admin_user::DEF.name,
    iam_backdoor_existing_user::DEF.name,
    iam_backdoor_role::DEF.name,
    iam_self_escalation::DEF.name,
    gpu_sprawl::DEF.name,
    ecs_burst::DEF.name,
    defense_evasion::DEF.name,
    secrets_harvest::DEF.name,
    stolen_instance_credentials::DEF.name,
    baseline_novelty::DEF.name,
    instance_role_outside::DEF.name,
    new_key_outside::DEF.name,
    federation_console::DEF.name,
    backdoor_key_used::DEF.name,
];

/// Starting at `start`, the first of `cands` (indices into whatever `key` reads) whose key no
/// scenario attacked yet, else the first not attacked in the last 6 hours. When all were:
/// `cands[start % len]` with `force`, else `None` (the planner then asks to be retried a
/// little later, see [`RETRY`]).
pub(crate) fn pick_fresh(
    cx: &PlanCx<'_>,
    cands: &[usize],
    start: usize,
    key: impl Fn(usize) -> String,
) -> Option<usize> {
    let n = cands.len();
    if n == 0 {
        return None;
    }
    let order = || (0..n).map(|i| cands[(start + i) % n]);
    let unused = order().find(|&c| !cx.history.ever(&key(c)));
    let fresh = || order().find(|&c| !cx.history.recent(&key(c), cx.now));
    unused.or_else(fresh).or(if cx.force { Some(cands[start % n]) } else { None })
}

/// How long a planner waits for a fresh victim.
pub(crate) const RETRY: i64 = 2 * MINUTE;

/// Indices of the sessions in `pool` (filtered by `keep`) issued within the run (so their
/// owner's use is in the output) between `max_age` and a minute before `now` (so still valid
/// for the scenario's duration); with `force`, failing those, any matching one.
pub(crate) fn live_sessions(
    cx: &PlanCx<'_>,
    pool: &[SessionCred],
    max_age: i64,
    keep: impl Fn(&SessionCred) -> bool,
) -> Vec<usize> {
    let ok = |s: &SessionCred| !s.key.is_empty() && keep(s);
    let live: Vec<usize> = (0..pool.len())
        .filter(|&i| {
            let s = &pool[i];
            ok(s) && s.created <= cx.now - MINUTE && cx.now - s.created <= max_age
        })
        .collect();
    let in_run: Vec<usize> = live.iter().copied().filter(|&i| pool[i].created >= cx.run.start_ms).collect();
    if !in_run.is_empty() || !cx.force {
        return in_run;
    }
    if live.is_empty() {
        return (0..pool.len()).filter(|&i| ok(&pool[i])).collect();
    }
    live
}

/// The attacker's AWS CLI on Kali.
pub(crate) const UA_KALI_CLI: &str = enum_distinct_apis::UAS[0];
/// Pacu's boto3.
pub(crate) const UA_PACU: &str = enum_distinct_apis::UAS[1];
/// A boto3 script on a rented VPS.
pub(crate) const UA_BOTO_SCRIPT: &str = "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.15.0-105-generic md/arch#x86_64 lang/python#3.10.12 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69";
/// The AWS CLI on a rented VPS.
pub(crate) const UA_VPS_CLI: &str = "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-45-generic md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exe/x86_64.ubuntu.24 cfg/retry-mode#standard md/installer#exe md/prompt#off";

/// The AWS CLI on the attacker's Mac, as it names the command it runs
/// (`md/command#sts.get-caller-identity`).
pub(crate) fn ua_mac_cli(command: &str) -> String {
    format!("aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#{command}")
}
/// A boto3 script on the attacker's Windows laptop.
pub(crate) const UA_WIN_BOTO: &str = "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/windows#10 md/arch#amd64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69";
/// Firefox ESR on Kali (the attacker's browser).
pub(crate) const UA_KALI_FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The AWS CLI command that makes API call `name` (for [`ua_mac_cli`]).
pub(crate) fn cli_command(service: &str, name: &str) -> String {
    if service == "s3" && name == "ListBuckets" {
        return "s3.ls".to_string();
    }
    let mut cmd = format!("{service}.");
    for (i, c) in name.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            cmd.push('-');
        }
        cmd.push(c.to_ascii_lowercase());
    }
    cmd
}

/// The attacker's laptop tool: the AWS CLI on a Mac (a user agent per command) or a boto3
/// script on Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Laptop {
    /// `aws-cli/2.15.30 ... os/macos#23.4.0 ... md/command#...`.
    MacCli,
    /// [`UA_WIN_BOTO`].
    WinBoto,
}

impl Laptop {
    /// One of the two.
    pub(crate) fn pick(rng: &mut Rng) -> Laptop {
        if rng.random_bool(0.5) {
            Laptop::MacCli
        } else {
            Laptop::WinBoto
        }
    }

    /// The user agent of API call `service`/`name`.
    pub(crate) fn ua(self, service: &str, name: &str) -> String {
        match self {
            Laptop::MacCli => ua_mac_cli(&cli_command(service, name)),
            Laptop::WinBoto => UA_WIN_BOTO.to_string(),
        }
    }
}

/// Where a stolen or new key is first tried from a laptop: `GetCallerIdentity`, `ListBuckets`,
/// then one or two of `more` (taken in turn from a random start), each `10 s..max_gap` after
/// the previous, from `ip` with `laptop`'s user agent. `region` for regional calls (`more`'s
/// flag marks global ones, made in us-east-1).
#[allow(clippy::too_many_arguments)]
pub(crate) fn laptop_first_uses(
    out: &mut ScenarioOut<'_>,
    laptop: Laptop,
    ident: &str,
    acct: &str,
    region: &str,
    ip: &str,
    mut t: i64,
    more: &[(&'static str, &'static str, bool)],
    max_gap: i64,
) {
    let first = out.rng.random_range(0..more.len());
    let n = out.rng.random_range(1..=2usize);
    let calls = [("sts", "GetCallerIdentity", false), ("s3", "ListBuckets", true)]
        .into_iter()
        .chain((0..n).map(|i| more[(first + i) % more.len()]));
    for (i, (svc, name, global)) in calls.enumerate() {
        if i > 0 {
            t += out.rng.random_range(10 * trailhound_model::time::SECOND..max_gap);
        }
        let ua = laptop.ua(svc, name);
        let c = Call::new(t, ident, svc, name, if global { "us-east-1" } else { region }, ip, &ua, acct);
        out.emit(&match name {
            "ListBuckets" => c.req("{\"Host\":\"s3.amazonaws.com\"}"),
            "DescribeInstances" => c.req("{\"instancesSet\":{},\"filterSet\":{}}"),
            _ => c,
        });
    }
}

/// The policy ARN of `AdministratorAccess`.
pub(crate) const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
/// A policy document allowing everything.
pub(crate) const ALLOW_ALL: &str =
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}";

/// The attacker acting as a stolen identity from his own machine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attacker<'a> {
    /// The stolen `userIdentity` (JSON).
    pub ident: &'a str,
    /// Its principal ARN (for error messages).
    pub arn: &'a str,
    /// Account id.
    pub acct: &'a str,
    /// Attacker address.
    pub ip: &'a str,
    /// Attacker user agent.
    pub ua: &'a str,
}

impl<'a> Attacker<'a> {
    /// A successful call with null parameters (adjust with the [`Call`] setters).
    pub(crate) fn call(&self, t: i64, service: &'a str, name: &'a str, region: &'a str) -> Call<'a> {
        Call::new(t, self.ident, service, name, region, self.ip, self.ua, self.acct)
    }
}

/// Emits `GetCallerIdentity` and then `n` distinct recon calls (from `pool` first, then
/// [`RECON`]) within 5–8 s, one or two of them denied: an `enumeration_burst` by the
/// distinct-API condition. Starts at `t`, returns the time of the last call.
pub(crate) fn recon_burst(
    out: &mut ScenarioOut<'_>,
    a: &Attacker<'_>,
    home: &str,
    mut t: i64,
    pool: &[Recon],
    n: usize,
) -> i64 {
    let mut apis: Vec<Recon> = shuffled(out.rng, pool);
    for r in shuffled(out.rng, &RECON) {
        if !apis.iter().any(|p| p.1 == r.1) {
            apis.push(r);
        }
    }
    let n = n.min(apis.len());
    out.emit(&a.call(t, "sts", "GetCallerIdentity", home));
    let gap = out.rng.random_range(5_000..8_000) / n as i64;
    let deny = [out.rng.random_range(1..n), out.rng.random_range(1..n)];
    for (i, &(svc, name, global)) in apis[..n].iter().enumerate() {
        t += out.rng.random_range(gap * 3 / 4..gap * 5 / 4);
        let region = if global { "us-east-1" } else { home };
        let c = a.call(t, svc, name, region);
        if deny.contains(&i) {
            let (code, msg) = denied(out.rng, svc, name, a.arn);
            out.emit(&c.err(code, &msg));
        } else {
            out.emit(&c);
        }
    }
    t
}

/// `s` as a JSON string literal (quoted, escaped).
pub(crate) fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// Percent-encodes `s` the way IAM echoes policy documents in `responseElements`.
pub(crate) fn url_encode(s: &str) -> String {
    let mut v = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            v.push(char::from(b));
        } else {
            v.push_str(&format!("%{b:02X}"));
        }
    }
    v
}

/// A 12-digit account id outside the estate.
pub(crate) fn foreign_account(rng: &mut Rng, est: &Estate) -> String {
    loop {
        let id = format!("{}{:011}", rng.random_range(1..=9u8), rng.random_range(0..100_000_000_000u64));
        if est.accounts.iter().all(|a| a.id != id) {
            return id;
        }
    }
}

/// `n` distinct items of `pool` (all if fewer), in random order.
pub(crate) fn sample<T: Copy>(rng: &mut Rng, pool: &[T], n: usize) -> Vec<T> {
    let mut v = shuffled(rng, pool);
    v.truncate(n);
    v
}

/// First octets of attacker infrastructure (VPS and anonymising ranges, disjoint from every
/// range the background uses).
pub(crate) const ATTACKER_OCTETS: [u8; 8] = [5, 45, 89, 91, 103, 185, 193, 194];

/// A random attacker address.
pub(crate) fn attacker_ip(rng: &mut Rng) -> String {
    crate::estate::public_ip(rng, &ATTACKER_OCTETS)
}

/// An attacker address as the harder scenarios draw it: a quarter of the time the public
/// address of an EC2 instance in the attacker's own AWS account (first octet 3, 18, 34, 35,
/// 52 or 54, like the estate's NAT gateways and Lambda, but none of the estate's), else a VPS
/// ([`attacker_ip`]).
pub(crate) fn attacker_source(rng: &mut Rng, est: &Estate) -> String {
    if !rng.random_bool(0.25) {
        return attacker_ip(rng);
    }
    loop {
        let ip = crate::estate::public_ip(rng, &crate::estate::AWS_OCTETS);
        if est.accounts.iter().all(|a| a.nat_ip != ip) {
            return ip;
        }
    }
}

/// A recon API: service prefix, event name, whether it is global (logged in us-east-1).
pub(crate) type Recon = (&'static str, &'static str, bool);

/// Read-only reconnaissance calls attackers try with a fresh credential (distinct names).
pub(crate) const RECON: [Recon; 47] = [
    ("iam", "ListUsers", true),
    ("iam", "ListRoles", true),
    ("iam", "ListGroups", true),
    ("iam", "ListPolicies", true),
    ("iam", "GetAccountAuthorizationDetails", true),
    ("iam", "GetAccountSummary", true),
    ("iam", "ListAccessKeys", true),
    ("iam", "ListAttachedUserPolicies", true),
    ("iam", "GetUser", true),
    ("iam", "ListMFADevices", true),
    ("iam", "ListInstanceProfiles", true),
    ("iam", "GetAccountPasswordPolicy", true),
    ("s3", "ListBuckets", true),
    ("s3", "GetBucketPolicy", true),
    ("s3", "GetBucketAcl", true),
    ("ec2", "DescribeInstances", false),
    ("ec2", "DescribeVpcs", false),
    ("ec2", "DescribeSecurityGroups", false),
    ("ec2", "DescribeSnapshots", false),
    ("ec2", "DescribeImages", false),
    ("ec2", "DescribeKeyPairs", false),
    ("ec2", "DescribeSubnets", false),
    ("ec2", "DescribeVolumes", false),
    ("ec2", "DescribeRegions", false),
    ("lambda", "ListFunctions20150331", false),
    ("lambda", "GetAccountSettings20160819", false),
    ("lambda", "ListLayers20181031", false),
    ("rds", "DescribeDBInstances", false),
    ("rds", "DescribeDBClusters", false),
    ("rds", "DescribeDBSnapshots", false),
    ("secretsmanager", "ListSecrets", false),
    ("kms", "ListKeys", false),
    ("kms", "ListAliases", false),
    ("ssm", "DescribeParameters", false),
    ("dynamodb", "ListTables", false),
    ("sns", "ListTopics", false),
    ("sqs", "ListQueues", false),
    ("cloudtrail", "DescribeTrails", false),
    ("cloudtrail", "GetTrailStatus", false),
    ("guardduty", "ListDetectors", false),
    ("organizations", "DescribeOrganization", true),
    ("ecr", "DescribeRepositories", false),
    ("ecs", "ListClusters", false),
    ("elasticloadbalancing", "DescribeLoadBalancers", false),
    ("logs", "DescribeLogGroups", false),
    ("cloudformation", "DescribeStacks", false),
    ("route53", "ListHostedZones", true),
];

/// The IAM action of an event: `lambda:ListFunctions` for `ListFunctions20150331`.
fn action(service: &str, name: &str) -> String {
    let prefix = match service {
        "monitoring" => "cloudwatch",
        "tagging" => "tag",
        s => s,
    };
    let end = name.find(|c: char| c.is_ascii_digit()).unwrap_or(name.len());
    format!("{prefix}:{}", &name[..end])
}

/// The `errorCode` and `errorMessage` CloudTrail records when `arn` may not call `name`.
pub(crate) fn denied(rng: &mut Rng, service: &str, name: &str, arn: &str) -> (&'static str, String) {
    let act = action(service, name);
    match service {
        "ec2" => (
            "Client.UnauthorizedOperation",
            format!(
                "You are not authorized to perform this operation. User: {arn} is not authorized to perform: {act} because no identity-based policy allows the {act} action. Encoded authorization failure message: {}",
                alnum_id(rng, "", 48)
            ),
        ),
        "lambda" | "kms" | "dynamodb" | "ecs" | "ecr" | "logs" | "ssm" | "organizations" | "guardduty" | "secretsmanager" => (
            "AccessDeniedException",
            format!("User: {arn} is not authorized to perform: {act} because no identity-based policy allows the {act} action"),
        ),
        "s3" => ("AccessDenied", "Access Denied".to_string()),
        _ => (
            "AccessDenied",
            format!("User: {arn} is not authorized to perform: {act} on resource: * because no identity-based policy allows the {act} action"),
        ),
    }
}

/// Returns `pool` shuffled (Fisher–Yates with the scenario RNG).
pub(crate) fn shuffled<T: Copy>(rng: &mut Rng, pool: &[T]) -> Vec<T> {
    let mut v = pool.to_vec();
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recon_names_are_distinct_and_actions_strip_versions() {
        let mut names: Vec<&str> = RECON.iter().map(|r| r.1).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RECON.len());
        assert_eq!(action("lambda", "ListFunctions20150331"), "lambda:ListFunctions");
        assert_eq!(action("monitoring", "GetMetricData"), "cloudwatch:GetMetricData");
    }
}
