//! The stress profile's principals: everything about one is derived from its rank and the seed
//! by hashing (nothing is stored per principal), the strings of its `userIdentity` on demand.

use std::fmt::Write as _;

use trailhound_model::time::{HOUR, MINUTE};

use super::{mix, pick};
use crate::estate::REGIONS;
use crate::identity::{assumed_role, iam_user, Role, SessionOpts};

/// What a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PKind {
    /// An IAM user calling with its long-lived `AKIA` key (service account or a person's CLI).
    User,
    /// An EC2 instance-role session (`assumed-role/ROLE/i-...`, IMDSv2 delivery).
    Ec2,
    /// A Lambda function's execution-role session (`assumed-role/ROLE/FUNCTION`).
    Lambda,
    /// An ECS task-role session (`assumed-role/ROLE/TASK_ID`).
    Ecs,
    /// A CI/CD pipeline's web-identity session (`assumed-role/gha-.../GitHubActions`).
    Ci,
    /// A person signed in through IAM Identity Center (console and CLI).
    Sso,
    /// A third-party security or cost tool's cross-account role sweeping the account.
    Scanner,
    /// A service-linked role acting for an AWS service (Auto Scaling, ECS, ...).
    ServiceLinked,
}

impl PKind {
    /// Session length (a new `ASIA` key each period); 0 for long-lived keys.
    fn period(self, h: u64) -> i64 {
        let f = (h >> 40) % 8;
        match self {
            PKind::User => 0,
            PKind::Ec2 | PKind::Scanner | PKind::ServiceLinked => HOUR,
            PKind::Lambda => 20 * MINUTE + f as i64 * 10 * MINUTE,
            PKind::Ecs => HOUR + f as i64 * 40 * MINUTE,
            PKind::Ci => 8 * MINUTE + f as i64 * 4 * MINUTE,
            PKind::Sso => HOUR + f as i64 * 90 * MINUTE,
        }
    }
}

/// The cheap, numeric facts about a principal (no strings), used to choose its events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Traits {
    /// Rank in the Zipf activity order (0 is the busiest).
    pub rank: u32,
    /// The principal's hash (every derived choice comes from it).
    pub h: u64,
    /// What it is.
    pub kind: PKind,
    /// Account index.
    pub account: u32,
    /// Home region index in [`REGIONS`].
    pub region: u8,
    /// Calls any region (pollers, scanners), not only its home region.
    pub any_region: bool,
    /// Distinct read APIs it uses (its read set's size).
    pub reads: u32,
    /// Share of its calls that are `List*`/`Describe*`/`Get*`, per mille.
    pub ldg: u32,
    /// Share of its calls that are other reads (`Decrypt`, `AssumeRole`, `HeadObject`, ...), per mille.
    pub other_reads: u32,
    /// Chance a call starts a sensitive-write sequence, per 100,000.
    pub sensitive: u32,
    /// Misconfigured: one of its read APIs is always denied, and it keeps calling it.
    pub broken: bool,
}

/// Accounts of the organisation (a few large ones carry most of the traffic).
pub(super) const ACCOUNTS: u64 = 48;

/// Words names are made of.
const APPS: [&str; 32] = [
    "orders",
    "payments",
    "billing",
    "search",
    "catalog",
    "checkout",
    "inventory",
    "auth",
    "profile",
    "notify",
    "reporting",
    "etl",
    "ml-train",
    "analytics",
    "ingest",
    "gateway",
    "media",
    "pricing",
    "shipping",
    "fraud",
    "recs",
    "ledger",
    "export",
    "import",
    "backup",
    "audit",
    "metrics",
    "crawler",
    "mailer",
    "scheduler",
    "warehouse",
    "identity",
];
const ENVS: [&str; 5] = ["prod", "staging", "dev", "qa", "sandbox"];
const FIRST: [&str; 24] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "nina", "oscar",
    "peggy", "quinn", "rupert", "sybil", "trent", "ursula", "victor", "wendy", "xavier", "yara", "zoe",
];
const LAST: [&str; 16] = [
    "smith", "jones", "garcia", "miller", "davis", "lopez", "wilson", "moore", "taylor", "thomas", "lee", "martin",
    "clark", "lewis", "walker", "young",
];
const PERMISSION_SETS: [&str; 6] =
    ["AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess", "DeveloperAccess", "DataEngineer", "BillingAccess"];
/// Cross-account tools: role name, session prefix.
const SCANNERS: [(&str, &str); 8] = [
    ("DatadogIntegrationRole", "datadog-aws-integration"),
    ("WizAccess-Role", "WizScanner"),
    ("OrcaSecurityRole", "orca-scan"),
    ("CloudHealthReadRole", "cloudhealth"),
    ("vanta-auditor", "vanta"),
    ("DivvyCloudRole", "divvycloud-harvest"),
    ("NewRelicInfrastructure-Integrations", "newrelic-infra"),
    ("SecurityAuditRole", "prowler"),
];
/// Service-linked roles: role, session name, the service acting (source address and agent).
pub(super) const LINKED: [(&str, &str, &str); 8] = [
    ("AWSServiceRoleForAutoScaling", "AutoScaling", "autoscaling.amazonaws.com"),
    ("AWSServiceRoleForECS", "ecs-service-scheduler", "ecs.amazonaws.com"),
    ("AWSServiceRoleForElasticLoadBalancing", "ElasticLoadBalancing", "elasticloadbalancing.amazonaws.com"),
    ("AWSServiceRoleForRDS", "rds", "rds.amazonaws.com"),
    ("AWSServiceRoleForConfig", "AWSConfig-Describe", "config.amazonaws.com"),
    ("AWSServiceRoleForAmazonGuardDuty", "GuardDuty", "guardduty.amazonaws.com"),
    ("AWSServiceRoleForSecurityHub", "securityhub", "securityhub.amazonaws.com"),
    ("AWSServiceRoleForAmazonSSM", "SSM", "ssm.amazonaws.com"),
];

/// The account id of account index `a`.
pub(super) fn account_id(seed: u64, a: u32, out: &mut String) {
    let v = 100_000_000_000 + mix(seed ^ 0xacc0 ^ u64::from(a)) % 899_999_999_999;
    let _ = write!(out, "{v:012}");
}

/// `prefix` and 16 characters of `[A-Z2-7]` from `h` (access key ids, unique ids).
pub(super) fn key_id(prefix: &str, h: u64, out: &mut String) {
    const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    out.push_str(prefix);
    let h2 = mix(h ^ 0x6b65_7969_6400);
    for k in 0..16u32 {
        let src = if k < 12 { h >> (5 * k) } else { h2 >> (5 * (k - 12)) };
        out.push(char::from(B32[(src & 31) as usize]));
    }
}

/// A public IPv4 address from `h` with a first octet of `firsts`.
pub(super) fn public_ip(h: u64, firsts: &[u8], out: &mut String) {
    let a = firsts[(h % firsts.len() as u64) as usize];
    let _ = write!(out, "{a}.{}.{}.{}", (h >> 8) & 255, (h >> 16) & 255, 1 + (h >> 24) % 254);
}

/// Home IPs, offices and laptops (first octets of consumer and business ISPs).
const ISP_OCTETS: [u8; 12] = [24, 47, 67, 73, 76, 81, 86, 98, 108, 151, 176, 212];
/// AWS-owned egress (NAT gateways, Lambda).
const AWS_OCTETS: [u8; 6] = [3, 18, 34, 35, 52, 54];
/// GitHub-hosted runners.
const RUNNER_OCTETS: [u8; 4] = [4, 13, 20, 40];

impl Traits {
    /// The principal of `rank`.
    pub(super) fn of(seed: u64, rank: u32) -> Traits {
        let h = mix(seed ^ mix(u64::from(rank) ^ 0x5752_4553_5300));
        let roll = h % 1000;
        // The busiest principals are automation; people and keys live in the long tail.
        let kind = if rank < 64 {
            match roll % 10 {
                0..=2 => PKind::Ec2,
                3 => PKind::Lambda,
                4 => PKind::Ecs,
                5 => PKind::Ci,
                6 => PKind::Scanner,
                7 => PKind::ServiceLinked,
                _ => PKind::User,
            }
        } else {
            match roll {
                0..=249 => PKind::Ec2,
                250..=399 => PKind::Lambda,
                400..=499 => PKind::Ecs,
                500..=729 => PKind::User,
                730..=799 => PKind::Ci,
                800..=969 => PKind::Sso,
                970..=984 => PKind::Scanner,
                _ => PKind::ServiceLinked,
            }
        };
        let g = mix(h);
        // A few large accounts carry most principals (log-uniform over the 48).
        let account = (((ACCOUNTS + 1) as f64).powf((g % 10_000) as f64 / 10_000.0) as u64).saturating_sub(1) as u32;
        let region = match (g >> 16) % 20 {
            0..=8 => 0,                                    // us-east-1
            9..=11 => 3,                                   // us-west-2
            12..=13 => 5,                                  // eu-west-1
            14 => 1,                                       // us-east-2
            15 => 8,                                       // eu-central-1
            r => (r as u8 % 6 + 10) % REGIONS.len() as u8, // ap-*, sa-east-1
        };
        let any_region = matches!(kind, PKind::Scanner) || (g >> 24).is_multiple_of(25);
        let (reads, ldg, other, sensitive) = match kind {
            PKind::User => (2 + (g >> 32) % 10, 620, 120, 5_600),
            PKind::Ec2 => (2 + (g >> 32) % 6, 600, 190, 1_300),
            PKind::Lambda => (1 + (g >> 32) % 4, 560, 230, 850),
            PKind::Ecs => (2 + (g >> 32) % 6, 600, 190, 850),
            PKind::Ci => (6 + (g >> 32) % 24, 660, 60, 14_000),
            PKind::Sso => (4 + (g >> 32) % 30, 740, 60, 8_500),
            PKind::Scanner => (40 + (g >> 32) % 60, 960, 20, 0),
            PKind::ServiceLinked => (2 + (g >> 32) % 5, 600, 120, 1_500),
        };
        Traits {
            rank,
            h,
            kind,
            account,
            region,
            any_region,
            reads: reads as u32,
            ldg,
            other_reads: other,
            sensitive,
            broken: (g >> 40) % 100 < 6,
        }
    }

    /// Index of the session the principal holds at `t` (0 for long-lived keys).
    pub(super) fn epoch(&self, t: i64) -> i64 {
        match self.kind.period(self.h) {
            0 => 0,
            p => (t + (self.h % p as u64) as i64).div_euclid(p),
        }
    }

    /// When session `epoch` began.
    fn epoch_start(&self, epoch: i64) -> i64 {
        match self.kind.period(self.h) {
            0 => 0,
            p => epoch * p - (self.h % p as u64) as i64,
        }
    }

    /// The AWS service acting, for a service-linked role.
    pub(super) fn linked(&self) -> (&'static str, &'static str, &'static str) {
        LINKED[(self.h >> 20) as usize % LINKED.len()]
    }

    /// The app and environment its names are made of.
    pub(super) fn app(&self) -> (&'static str, &'static str) {
        (pick(&APPS, self.h >> 4), pick(&ENVS, self.h >> 12))
    }
}

/// The strings of a principal's calls in one session.
#[derive(Debug, Default, Clone)]
pub(crate) struct Strings {
    /// Rank and session these are for (`u32::MAX` when empty).
    pub rank: u32,
    /// Session index.
    pub epoch: i64,
    /// The `userIdentity` object.
    pub ident: String,
    /// `userIdentity.arn`.
    pub arn: String,
    /// Account id.
    pub account: String,
    /// `sourceIPAddress`.
    pub ip: String,
    /// `userAgent`.
    pub ua: String,
    /// A second agent the principal sometimes uses (a person's CLI beside the console).
    pub ua2: String,
    /// User name (IAM users) or role name (sessions).
    pub name: String,
}

impl Strings {
    /// Renders principal `p` in session `epoch`.
    pub(super) fn fill(&mut self, seed: u64, p: &Traits, epoch: i64) {
        self.rank = p.rank;
        self.epoch = epoch;
        for s in [
            &mut self.ident,
            &mut self.arn,
            &mut self.account,
            &mut self.ip,
            &mut self.ua,
            &mut self.ua2,
            &mut self.name,
        ] {
            s.clear();
        }
        account_id(seed, p.account, &mut self.account);
        let acct = self.account.clone();
        let h = p.h;
        let e = mix(h ^ (epoch as u64).wrapping_mul(0x9E37_79B9));
        let (app, env) = p.app();
        let mut key = String::with_capacity(20);
        let created = p.epoch_start(epoch);
        let role = |name: String, path: &str| Role {
            account: acct.clone(),
            pid: {
                let mut s = String::with_capacity(21);
                key_id("AROA", mix(h ^ 0x726f_6c65), &mut s);
                s.truncate(21);
                s
            },
            name,
            path: path.to_string(),
        };
        let session = |r: &Role, session: &str, key: &str, opts: SessionOpts<'_>| {
            (assumed_role(r, session, key, created, opts), r.session_arn(session))
        };
        key_id("ASIA", e, &mut key);
        let rank = p.rank;
        let (ident, arn) = match p.kind {
            PKind::User => {
                key.clear();
                key_id("AKIA", h, &mut key);
                let name = if (h >> 50).is_multiple_of(3) {
                    format!("{}.{}{}", pick(&FIRST, h >> 20), pick(&LAST, h >> 28), rank % 997)
                } else {
                    format!("svc-{app}-{env}-{rank}")
                };
                let mut pid = String::new();
                key_id("AIDA", mix(h ^ 0x7573_6572), &mut pid);
                let ident = iam_user(&acct, &name, &pid, &key);
                self.name = name.clone();
                (ident, format!("arn:aws:iam::{acct}:user/{name}"))
            }
            PKind::Ec2 => {
                let r = role(format!("{app}-{env}-ec2-{}", (h >> 36) % 40), "/");
                let instance = format!("i-0{:016x}", mix(h ^ 0x0065_6332) >> 4);
                self.name = r.name.clone();
                session(&r, &instance, &key, SessionOpts { ec2_role_delivery: Some("2.0"), ..Default::default() })
            }
            PKind::Lambda => {
                let r = role(format!("{app}-{env}-lambda-role"), "/service-role/");
                let function =
                    format!("{app}-{env}-{}-{rank}", pick(&["handler", "worker", "sync", "cron", "api"], h >> 44));
                self.name = r.name.clone();
                session(&r, &function, &key, SessionOpts::default())
            }
            PKind::Ecs => {
                let r = role(format!("{app}-{env}-task-role"), "/");
                let task = format!("{:016x}{:016x}", mix(h ^ 0x7461_736b), mix(h ^ 0x7461_736c));
                self.name = r.name.clone();
                session(&r, &task, &key, SessionOpts::default())
            }
            PKind::Ci => {
                let r = role(format!("gha-{app}-{env}-{rank}"), "/");
                let provider = crate::identity::github_provider(&acct);
                self.name = r.name.clone();
                session(&r, "GitHubActions", &key, SessionOpts { web_provider: Some(&provider), ..Default::default() })
            }
            PKind::Sso => {
                let set = pick(&PERMISSION_SETS, h >> 20);
                let r = role(
                    format!("AWSReservedSSO_{set}_{:016x}", mix(h ^ 0x73736f) >> 1),
                    "/aws-reserved/sso.amazonaws.com/",
                );
                let email = format!("{}.{}{}@example.com", pick(&FIRST, h >> 24), pick(&LAST, h >> 32), rank % 9973);
                self.name = r.name.clone();
                session(&r, &email, &key, SessionOpts { mfa: true, ..Default::default() })
            }
            PKind::Scanner => {
                let (name, prefix) = pick(&SCANNERS, h >> 20);
                let r = role(name.to_string(), "/");
                let s = format!("{prefix}-{:08x}", e >> 32);
                self.name = r.name.clone();
                session(&r, &s, &key, SessionOpts::default())
            }
            PKind::ServiceLinked => {
                let (name, s, service) = p.linked();
                let r = role(name.to_string(), &format!("/aws-service-role/{service}/"));
                self.name = r.name.clone();
                session(&r, s, &key, SessionOpts { invoked_by: Some(service), ..Default::default() })
            }
        };
        self.ident = ident;
        self.arn = arn;
        self.ip_and_agents(seed, p, e);
    }

    fn ip_and_agents(&mut self, seed: u64, p: &Traits, e: u64) {
        let h = p.h;
        let nat = mix(seed ^ 0x006e_6174 ^ (u64::from(p.account) << 8) ^ ((h >> 52) % 3));
        match p.kind {
            PKind::User if (h >> 50).is_multiple_of(3) => public_ip(mix(h ^ 0x6970), &ISP_OCTETS, &mut self.ip),
            PKind::User => public_ip(mix(h ^ 0x6970), &AWS_OCTETS, &mut self.ip),
            PKind::Ec2 if (h >> 54).is_multiple_of(3) => {
                let v = mix(h ^ 0x7072);
                let _ = write!(self.ip, "10.{}.{}.{}", v % 64, (v >> 8) & 255, 4 + (v >> 16) % 250);
            }
            PKind::Ec2 | PKind::Ecs => public_ip(nat, &AWS_OCTETS, &mut self.ip),
            PKind::Lambda => public_ip(e, &AWS_OCTETS, &mut self.ip),
            PKind::Ci => public_ip(e, &RUNNER_OCTETS, &mut self.ip),
            PKind::Sso => public_ip(mix(h ^ 0x686f_6d65), &ISP_OCTETS, &mut self.ip),
            PKind::Scanner => public_ip(mix(h ^ 0x7363 ^ ((e >> 7) % 4)), &AWS_OCTETS, &mut self.ip),
            PKind::ServiceLinked => self.ip.push_str(p.linked().2),
        }
        let v = mix(h ^ 0x7561);
        match p.kind {
            PKind::ServiceLinked => self.ua.push_str(p.linked().2),
            PKind::Sso => {
                browser(v, &mut self.ua);
                cli(
                    v >> 3,
                    &mut self.ua2,
                    if (v >> 9).is_multiple_of(2) { "macos#14.7.1" } else { "linux#6.8.0-49-generic" },
                );
            }
            PKind::Ci if v.is_multiple_of(2) => terraform(v >> 1, &mut self.ua),
            PKind::Ci => cli(v >> 1, &mut self.ua, "linux#6.5.0-1025-azure"),
            _ => sdk(v, &mut self.ua),
        }
        if self.ua2.is_empty() {
            self.ua2.push_str(&self.ua);
        }
    }
}

fn browser(v: u64, out: &mut String) {
    let chrome = 118 + v % 14;
    let _ = match (v >> 4) % 4 {
        0 => write!(out, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36"),
        1 => write!(out, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36 Edg/{chrome}.0.0.0"),
        2 => write!(out, "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.{}; rv:{}.0) Gecko/20100101 Firefox/{}.0", (v >> 8) % 8, chrome + 4, chrome + 4),
        _ => out.write_str("AWS Internal"),
    };
}

fn cli(v: u64, out: &mut String, os: &str) {
    let _ = write!(
        out,
        "aws-cli/2.{}.{} md/awscrt#0.{}.{} ua/2.0 os/{os} md/arch#x86_64 lang/python#3.{}.{} md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off",
        13 + v % 10,
        (v >> 4) % 40,
        19 + (v >> 10) % 4,
        (v >> 12) % 20,
        11 + (v >> 16) % 2,
        (v >> 18) % 10
    );
}

fn terraform(v: u64, out: &mut String) {
    let _ = write!(
        out,
        "APN/1.0 HashiCorp/1.0 Terraform/1.{}.{} (+https://www.terraform.io) terraform-provider-aws/5.{}.{} (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.{}.{} ua/2.0 os/linux lang/go#1.22.{} md/GOOS#linux md/GOARCH#amd64",
        5 + v % 5,
        (v >> 4) % 8,
        30 + (v >> 8) % 50,
        (v >> 16) % 4,
        26 + (v >> 20) % 6,
        (v >> 24) % 8,
        (v >> 28) % 8
    );
}

fn sdk(v: u64, out: &mut String) {
    let (a, b) = ((v >> 8) % 150, (v >> 16) % 12);
    let _ = match v % 6 {
        0 | 1 => write!(out, "Boto3/1.{}.{a} md/Botocore#1.{}.{a} ua/2.0 os/linux#5.10.{}-{}.amzn2.x86_64 md/arch#x86_64 lang/python#3.{}.{b} md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.{}.{a}", 28 + b % 8, 31 + b % 8, 200 + a, 180 + b, 9 + b % 4, 31 + b % 8),
        2 => write!(out, "aws-sdk-go-v2/1.{}.{} ua/2.0 os/linux lang/go#1.{}.{} md/GOOS#linux md/GOARCH#amd64", 24 + b, a % 20, 20 + b % 4, a % 10),
        3 => write!(out, "aws-sdk-java/2.{}.{a} Linux/5.10.{}-{}.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.{}+7-LTS Java/17.0.{} vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy", 20 + b, 200 + a, 190 + b, 8 + b % 5, 8 + b % 5),
        4 => write!(out, "aws-sdk-js/3.{}.0 ua/2.0 os/linux#5.10.{}-{}.amzn2.x86_64 lang/js md/nodejs#{}.{}.0 api/{}#3.{}.0", 400 + a * 2, 200 + b, 190 + a % 30, 16 + 2 * (b % 3), a % 20, pick(&["s3", "dynamodb", "sqs", "secrets-manager", "kms"], a), 400 + a * 2),
        _ => write!(out, "aws-cli/1.{}.{} Python/3.{}.{} Linux/5.10.{}-{}.amzn2.x86_64 botocore/1.{}.{a}", 27 + b % 6, a % 100, 7 + b % 5, a % 18, 200 + a, 180 + b, 29 + b % 6),
    };
}
