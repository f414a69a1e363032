//! People in the console through IAM Identity Center (SSO permission-set roles). Administrators
//! now and then do IAM work (a role with a managed policy; an IAM user for a contractor with
//! a console password and non-admin policies; tidying an old user) or add S3 data events to
//! the account trail (`PutEventSelectors` keeping management events).

use rand::Rng as _;

use super::{exp, pick, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{public_ip, session_key, unique_id, Estate, DEV, PROD, STAGING};
use crate::event::{Call, Host, Kind};
use crate::identity::{assumed_role, Role, SessionOpts};
use crate::json::{hex, Obj};
use crate::Rng;
use trailhound_model::time::{MINUTE, SECOND};

/// Browser user agents of the people.
pub(crate) const BROWSERS: [&str; 4] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
];

/// A console page: the service and the reads it makes when it loads.
struct Page {
    service: &'static str,
    global: bool,
    calls: &'static [&'static str],
}

const PAGES: [(u32, Page); 8] = [
    (
        30,
        Page {
            service: "ec2",
            global: false,
            calls: &[
                "DescribeInstances",
                "DescribeInstanceStatus",
                "DescribeTags",
                "DescribeAddresses",
                "DescribeSecurityGroups",
            ],
        },
    ),
    (
        12,
        Page {
            service: "iam",
            global: true,
            calls: &["GetAccountSummary", "ListRoles", "ListUsers", "ListPolicies", "ListAttachedRolePolicies"],
        },
    ),
    (
        12,
        Page {
            service: "s3",
            global: false,
            calls: &["ListBuckets", "GetBucketLocation", "GetBucketPolicyStatus", "GetBucketAcl"],
        },
    ),
    (
        10,
        Page {
            service: "lambda",
            global: false,
            calls: &["ListFunctions20150331", "GetAccountSettings20160819", "GetFunction20150331v2"],
        },
    ),
    (10, Page { service: "monitoring", global: false, calls: &["DescribeAlarms", "GetMetricData", "ListDashboards"] }),
    (
        10,
        Page { service: "logs", global: false, calls: &["DescribeLogGroups", "DescribeLogStreams", "FilterLogEvents"] },
    ),
    (
        8,
        Page {
            service: "rds",
            global: false,
            calls: &["DescribeDBInstances", "DescribeDBClusters", "DescribePendingMaintenanceActions"],
        },
    ),
    (8, Page { service: "cloudtrail", global: false, calls: &["LookupEvents", "DescribeTrails", "GetTrailStatus"] }),
];

struct Live {
    ident: String,
    account: usize,
    end: i64,
}

/// One person.
pub(crate) struct Human {
    email: String,
    admin: bool,
    roles: Vec<(usize, Role)>,
    ip: String,
    ua: &'static str,
    region: &'static str,
    live: Option<Live>,
    s: Scratch,
}

fn con<'a>(t: i64, ident: &'a str, name: &'a str, req: &'a str, ip: &'a str, ua: &'a str, acct: &'a str) -> Call<'a> {
    Call::new(t, ident, "iam", name, "us-east-1", ip, ua, acct).req(req).kind(Kind::ConsoleApi)
}

impl Human {
    /// An administrator's occasional IAM and CloudTrail work in the console.
    fn admin_work(&mut self, now: i64, cx: &mut Cx<'_>, live: &Live, acct: &str) -> i64 {
        match cx.rng.random_range(0..100) {
            0..20 => self.create_person_user(now, cx, &live.ident, acct),
            20..35 => self.add_data_events(now, cx, live, acct),
            _ => self.iam_admin_work(now, cx, &live.ident, acct),
        }
    }

    /// Creates an IAM user for a contractor: `CreateUser`, `CreateLoginProfile` (password
    /// reset required), `AttachUserPolicy` of a non-admin managed policy.
    fn create_person_user(&mut self, now: i64, cx: &mut Cx<'_>, ident: &str, acct: &str) -> i64 {
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let (ip, ua) = (self.ip.as_str(), self.ua);
        let first = ["jordan", "sam", "alex", "robin", "kim", "lee"][rng.random_range(0..6)];
        let user = format!("{first}.contractor-{}", hex(rng, 4));
        let mut t = now;
        Obj::new(&mut s.req).str("userName", &user).str("path", "/").end();
        Obj::new(&mut s.resp)
            .obj("user", |u| {
                u.str("path", "/")
                    .str("userName", &user)
                    .str("userId", &unique_id(rng, "AIDA"))
                    .str("arn", &format!("arn:aws:iam::{acct}:user/{user}"))
                    .str("createDate", &crate::json::iam_date_string(t))
            })
            .end();
        em.bg(&con(t, ident, "CreateUser", &s.req, ip, ua, acct).resp(&s.resp), rng);
        t += uni(rng, 5 * SECOND, 30 * SECOND);
        Obj::new(&mut s.req).str("userName", &user).bool("passwordResetRequired", true).end();
        Obj::new(&mut s.resp)
            .obj("loginProfile", |p| {
                p.str("userName", &user)
                    .str("createDate", &crate::json::iam_date_string(t))
                    .bool("passwordResetRequired", true)
            })
            .end();
        em.bg(&con(t, ident, "CreateLoginProfile", &s.req, ip, ua, acct).resp(&s.resp), rng);
        for policy in ["ReadOnlyAccess", "IAMUserChangePassword"] {
            t += uni(rng, 2 * SECOND, 15 * SECOND);
            Obj::new(&mut s.req)
                .str("userName", &user)
                .str("policyArn", &format!("arn:aws:iam::aws:policy/{policy}"))
                .end();
            em.bg(&con(t, ident, "AttachUserPolicy", &s.req, ip, ua, acct), rng);
        }
        t
    }

    /// Adds S3 data events to the account trail, keeping management events.
    fn add_data_events(&mut self, now: i64, cx: &mut Cx<'_>, live: &Live, acct: &str) -> i64 {
        let (name, arn, _) = cx.est.account_trail(live.account);
        let region = cx.est.accounts[live.account].region;
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let (ip, ua) = (self.ip.as_str(), self.ua);
        let c = |t, n| Call::new(t, &live.ident, "cloudtrail", n, region, ip, ua, acct).kind(Kind::ConsoleApi);
        let mut t = now;
        Obj::new(&mut s.req).str("trailName", &name).end();
        em.bg(&c(t, "GetEventSelectors").req(&s.req), rng);
        t += uni(rng, 20 * SECOND, 90 * SECOND);
        let bucket = ["payments", "orders-api", "reports"][rng.random_range(0..3)];
        let selectors = format!(
            "[{{\"readWriteType\":\"All\",\"includeManagementEvents\":true,\"dataResources\":[{{\"type\":\"AWS::S3::Object\",\"values\":[\"arn:aws:s3:::{bucket}-{}-{acct}/\"]}}],\"excludeManagementEventSources\":[]}}]",
            cx.est.accounts[live.account].name
        );
        Obj::new(&mut s.req).str("trailName", &name).raw("eventSelectors", &selectors).end();
        Obj::new(&mut s.resp).str("trailARN", &arn).raw("eventSelectors", &selectors).end();
        em.bg(&c(t, "PutEventSelectors").req(&s.req).resp(&s.resp), rng);
        t += uni(rng, 2 * SECOND, 10 * SECOND);
        Obj::new(&mut s.req).str("name", &arn).end();
        em.bg(&c(t, "GetTrailStatus").req(&s.req), rng);
        t
    }

    fn iam_admin_work(&mut self, now: i64, cx: &mut Cx<'_>, live_ident: &str, acct: &str) -> i64 {
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let (ip, ua) = (self.ip.as_str(), self.ua);
        let mut t = now;
        let role = format!(
            "{}-{}",
            ["etl-runner", "support-readonly", "partner-access", "lambda-exec"][rng.random_range(0..4)],
            hex(rng, 4)
        );
        let trust = "{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":{\\\"Service\\\":\\\"lambda.amazonaws.com\\\"},\\\"Action\\\":\\\"sts:AssumeRole\\\"}]}";
        Obj::new(&mut s.req)
            .str("path", "/")
            .str("roleName", &role)
            .raw("assumeRolePolicyDocument", &format!("\"{trust}\""))
            .str("description", "created in console")
            .end();
        Obj::new(&mut s.resp)
            .obj("role", |r| {
                r.str("path", "/")
                    .str("roleName", &role)
                    .str("roleId", &unique_id(rng, "AROA"))
                    .str("arn", &format!("arn:aws:iam::{acct}:role/{role}"))
                    .str("createDate", &crate::json::iam_date_string(t))
            })
            .end();
        em.bg(&con(t, live_ident, "CreateRole", &s.req, ip, ua, acct).resp(&s.resp), rng);
        t += uni(rng, 8 * SECOND, 40 * SECOND);
        let policy =
            ["ReadOnlyAccess", "AmazonS3ReadOnlyAccess", "AWSLambdaBasicExecutionRole"][rng.random_range(0..3)];
        let policy_arn = if policy == "AWSLambdaBasicExecutionRole" {
            format!("arn:aws:iam::aws:policy/service-role/{policy}")
        } else {
            format!("arn:aws:iam::aws:policy/{policy}")
        };
        Obj::new(&mut s.req).str("roleName", &role).str("policyArn", &policy_arn).end();
        em.bg(&con(t, live_ident, "AttachRolePolicy", &s.req, ip, ua, acct), rng);
        t += uni(rng, 2 * SECOND, 10 * SECOND);
        Obj::new(&mut s.req).str("roleName", &role).end();
        em.bg(&con(t, live_ident, "GetRole", &s.req, ip, ua, acct), rng);
        if rng.random_bool(0.4) {
            t += uni(rng, 10 * SECOND, 60 * SECOND);
            Obj::new(&mut s.req)
                .str("roleName", &role)
                .str("policyName", "inline-s3")
                .str("policyDocument", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}")
                .end();
            em.bg(&con(t, live_ident, "PutRolePolicy", &s.req, ip, ua, acct), rng);
        }
        if rng.random_bool(0.3) {
            // Tidy up an old user while here.
            let user = format!("contractor-{}", hex(rng, 4));
            t += uni(rng, 20 * SECOND, 90 * SECOND);
            Obj::new(&mut s.req).str("userName", &user).end();
            em.bg(&con(t, live_ident, "ListAccessKeys", &s.req, ip, ua, acct), rng);
            t += uni(rng, 3 * SECOND, 15 * SECOND);
            Obj::new(&mut s.req).str("userName", &user).str("accessKeyId", &crate::estate::user_key(rng)).end();
            em.bg(&con(t, live_ident, "DeleteAccessKey", &s.req, ip, ua, acct), rng);
            t += uni(rng, 3 * SECOND, 15 * SECOND);
            Obj::new(&mut s.req).str("userName", &user).end();
            em.bg(&con(t, live_ident, "DeleteUser", &s.req, ip, ua, acct), rng);
        }
        t
    }
}

impl Source for Human {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let Some(live) = self.live.take() else {
            // Sign in: pick an account, get a permission-set session.
            let (account, role) = &self.roles[cx.rng.random_range(0..self.roles.len())];
            let key = session_key(cx.rng);
            let ident = assumed_role(role, &self.email, &key, now, SessionOpts { mfa: true, ..Default::default() });
            let acct = cx.est.id(*account);
            Obj::new(&mut self.s.extra)
                .str("LoginTo", "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1")
                .str("MobileVersion", "No")
                .str("MFAUsed", "No")
                .end();
            cx.em.bg(
                &Call::new(now, &ident, "signin", "ConsoleLogin", "us-east-1", &self.ip, self.ua, acct)
                    .resp("{\"ConsoleLogin\":\"Success\"}")
                    .extra(&self.s.extra)
                    .kind(Kind::SignIn)
                    .read_only(false)
                    .host(Host::Custom("us-east-1.signin.aws.amazon.com")),
                cx.rng,
            );
            self.live = Some(Live { ident, account: *account, end: now + uni(cx.rng, 10 * MINUTE, 70 * MINUTE) });
            return now + uni(cx.rng, 3 * SECOND, 15 * SECOND);
        };
        if now >= live.end {
            return now + 5 * MINUTE + exp(cx.rng, 100.0 * MINUTE as f64);
        }
        let acct = cx.est.id(live.account).to_string();
        let next = if self.admin && cx.rng.random_bool(0.06) {
            self.admin_work(now, cx, &live, &acct)
        } else {
            let page = pick(cx.rng, &PAGES);
            let region = if page.global { "us-east-1" } else { self.region };
            let n = cx.rng.random_range(2..=page.calls.len());
            let mut t = now;
            for name in &page.calls[..n] {
                cx.em.bg(
                    &Call::new(t, &live.ident, page.service, name, region, &self.ip, self.ua, &acct)
                        .kind(Kind::ConsoleApi),
                    cx.rng,
                );
                t += uni(cx.rng, 30, 700);
            }
            if !self.admin && page.service == "ec2" && cx.rng.random_bool(0.01) {
                // A read-only person clicks "Stop instance".
                cx.em.bg(
                    &Call::new(t, &live.ident, "ec2", "StopInstances", region, &self.ip, self.ua, &acct)
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
        next + uni(cx.rng, 15 * SECOND, 150 * SECOND)
    }
}

/// Creates the people and their permission sets.
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64, out: &mut Vec<(i64, Box<dyn Source>)>) {
    let people: [(&str, bool, &str); 6] = [
        ("alice", true, "AdministratorAccess"),
        ("bob", true, "AdministratorAccess"),
        ("carol", false, "ReadOnlyAccess"),
        ("dave", false, "PowerUserAccess"),
        ("erin", false, "ReadOnlyAccess"),
        ("frank", true, "AdministratorAccess"),
    ];
    let mut set_ids: Vec<(String, usize, Role)> = Vec::new();
    for (name, admin, set) in people {
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
        let human = Human {
            email: format!("{name}@corp.example"),
            admin,
            roles,
            ip: public_ip(rng, &[24, 73, 81, 86, 92, 174]),
            ua: BROWSERS[rng.random_range(0..BROWSERS.len())],
            region: if rng.random_bool(0.7) { "us-east-1" } else { "eu-west-1" },
            live: None,
            s: Scratch::default(),
        };
        out.push((start + exp(rng, 40.0 * MINUTE as f64), Box::new(human)));
    }
}
