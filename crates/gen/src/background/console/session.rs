//! A person signing in to the console and running AWS CLI commands from their laptop.

use rand::Rng as _;

use super::{cli_ua, iam_user_session, iam_user_signin, root_session, root_signin, Human, Live, Principal};
use crate::background::{exp, uni};
use crate::engine::Cx;
use crate::estate::session_key;
use crate::event::{Call, Host, Kind};
use crate::identity::{assumed_role, SessionOpts};
use crate::json::Obj;
use crate::Rng;
use trailhound_model::time::{MINUTE, SECOND};

/// AWS CLI commands people run from their laptops: (service, API, `cmd/` of the agent).
const CLI: [(&str, &str, &str); 16] = [
    ("sts", "GetCallerIdentity", "sts.get-caller-identity"),
    ("ec2", "DescribeInstances", "ec2.describe-instances"),
    ("s3", "ListBuckets", "s3.ls"),
    ("logs", "FilterLogEvents", "logs.tail"),
    ("ecs", "ListServices", "ecs.list-services"),
    ("ecs", "DescribeServices", "ecs.describe-services"),
    ("lambda", "ListFunctions20150331", "lambda.list-functions"),
    ("cloudformation", "DescribeStacks", "cloudformation.describe-stacks"),
    ("ssm", "GetParameter", "ssm.get-parameter"),
    ("iam", "ListRoles", "iam.list-roles"),
    ("eks", "DescribeCluster", "eks.update-kubeconfig"),
    ("ecr", "GetAuthorizationToken", "ecr.get-login-password"),
    ("rds", "DescribeDBInstances", "rds.describe-db-instances"),
    ("sqs", "ListQueues", "sqs.list-queues"),
    ("ec2", "DescribeSecurityGroups", "ec2.describe-security-groups"),
    ("logs", "DescribeLogGroups", "logs.describe-log-groups"),
];

impl Human {
    fn principal_account(&self, rng: &mut Rng) -> usize {
        match &self.who {
            Principal::Sso { roles, .. } => roles[rng.random_range(0..roles.len())].0,
            Principal::User { account, .. } | Principal::Root { account } => *account,
        }
    }

    /// Signs in: `ConsoleLogin`, a console session (and a CLI session for SSO people).
    pub(super) fn sign_in(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let account = self.principal_account(cx.rng);
        let acct = cx.est.id(account).to_string();
        let key = session_key(cx.rng);
        let mfa = !matches!(self.who, Principal::User { .. }) || cx.rng.random_bool(0.7);
        let (signin_ident, ident, cli_ident) = match &self.who {
            Principal::Sso { email, roles } => {
                let role = roles.iter().find(|(a, _)| *a == account).map(|(_, r)| r).unwrap_or(&roles[0].1);
                let ident = assumed_role(role, email, &key, now, SessionOpts { mfa: true, ..Default::default() });
                let cli = if self.cli > 0.0 {
                    let k = session_key(cx.rng);
                    assumed_role(role, email, &k, now + uni(cx.rng, MINUTE, 20 * MINUTE), SessionOpts::default())
                } else {
                    String::new()
                };
                (ident.clone(), ident, cli)
            }
            Principal::User { name, pid, cli_ident, .. } => (
                iam_user_signin(&acct, name, pid),
                iam_user_session(&acct, name, pid, &key, now, mfa),
                cli_ident.clone().unwrap_or_default(),
            ),
            Principal::Root { .. } => (root_signin(&acct), root_session(&acct, &key, now, true), String::new()),
        };
        let login_to = match self.who {
            Principal::Sso { .. } => {
                "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1"
            }
            _ => {
                "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&nc2=h_ct&src=header-signin&state=hashArgsFromTB_us-east-1_example"
            }
        };
        Obj::new(&mut self.s.extra)
            .str("LoginTo", login_to)
            .str("MobileVersion", "No")
            .str("MFAUsed", if mfa && !matches!(self.who, Principal::Sso { .. }) { "Yes" } else { "No" })
            .end();
        cx.em.bg(
            &Call::new(now, &signin_ident, "signin", "ConsoleLogin", "us-east-1", &self.ip, self.ua, &acct)
                .resp("{\"ConsoleLogin\":\"Success\"}")
                .extra(&self.s.extra)
                .kind(Kind::SignIn)
                .read_only(false)
                .host(Host::Custom("us-east-1.signin.aws.amazon.com")),
            cx.rng,
        );
        let end = now + MINUTE + exp(cx.rng, self.session_mean);
        self.live = Some(Live { ident, cli_ident, account, end });
        now + uni(cx.rng, 2 * SECOND, 10 * SECOND)
    }

    /// A few AWS CLI commands from the laptop.
    pub(super) fn cli_burst(&mut self, now: i64, cx: &mut Cx<'_>, live: &Live, acct: &str) -> i64 {
        let mut t = now;
        for _ in 0..cx.rng.random_range(1..=5) {
            let (svc, name, cmd) = CLI[cx.rng.random_range(0..CLI.len())];
            let ua = cli_ua(self.os, cmd);
            let region = if svc == "iam" { "us-east-1" } else { self.region };
            for _ in 0..cx.rng.random_range(1..=2) {
                let c = Call::new(t, &live.cli_ident, svc, name, region, &self.ip, &ua, acct);
                let c = if svc == "ecr" { c.read_only(true) } else { c };
                cx.em.bg(&c, cx.rng);
                t += uni(cx.rng, 150, 900);
            }
            t += uni(cx.rng, 3 * SECOND, 45 * SECOND);
        }
        t
    }
}
