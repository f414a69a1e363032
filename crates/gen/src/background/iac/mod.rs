//! Infrastructure-as-code lifecycles: Terraform, Pulumi, CDK and CloudFormation creating
//! environments and destroying them minutes to hours later.
//!
//! | actor | who | what |
//! |---|---|---|
//! | Terratest | GitHub Actions (`corp/terraform-aws-modules`, `gha-terratest` role) in dev | a module test per environment (`tf-test-<module>-<suffix>`): apply, an idempotence plan, destroy within 3–25 min, one job session throughout |
//! | PR environments | GitHub Actions (`corp/platform`, `gha-ephemeral-envs`) in staging | `ephemeral-pr-<n>-...` created when a pull request opens, planned/applied on pushes, destroyed 40 min–8 h later, each step a new job session |
//! | sandboxes | people's laptops (SSO admin or power-user session, or an IAM user's `AKIA` key) in dev | `sandbox-<name>-<n>-...`: frequent plans, destroyed 15 min–5 h later |
//! | Pulumi | a person's laptop in dev | like a sandbox, with the Pulumi AWS provider's agent |
//! | CDK | GitHub Actions (`corp/data-pipelines`) in staging and a person's laptop in dev | `aws-cdk` assumes the bootstrap deploy role, drives CloudFormation change sets; CloudFormation (`invokedBy` `cloudformation.amazonaws.com`) acts through the bootstrap `cfn-exec-role` |
//! | CloudFormation | a person's laptop in dev | `aws cloudformation deploy`; CloudFormation acts with the caller's own session (`invokedBy`) |
//!
//! Resources (each a real provider's calls, with the reads after each create): CloudTrail
//! trails (`CreateTrail`, `StartLogging`, `PutEventSelectors`; sometimes logging turned off
//! or selectors changed before `DeleteTrail`), VPC flow logs, IAM users with access keys,
//! login profiles and managed or inline policies, IAM roles, Secrets Manager secrets
//! (`CreateSecret`, `PutSecretValue`; every plan reads them back with `GetSecretValue`),
//! GuardDuty detectors and Config recorders (in a second region of the dev account), security
//! groups. A plan (refresh) reads every managed resource within seconds; a destroy refreshes,
//! then deletes exactly what the environment created, by the principal that created it.

use rand::Rng as _;

use super::cicd::terraform_ua;
use super::console::{Operator, OperatorCred};
use super::{exp, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{unique_id, Estate, DEV, STAGING};
use crate::identity::Role;
use crate::json::hex;
use crate::Rng;
use trailhound_model::time::{HOUR, MINUTE};

mod lifecycle;
mod res;
mod stack;
#[cfg(test)]
mod tests;

use res::{Kind, Res};

/// The CloudFormation service principal (source address and user agent of its calls).
pub(crate) const CFN: &str = "cloudformation.amazonaws.com";
/// The CDK CLI's user agent on a laptop.
pub(crate) const UA_CDK: &str = "aws-cdk/2.160.0 aws-sdk-js/2.1691.0 nodejs/v20.17.0 darwin/arm64";
/// The CDK CLI's user agent on a CI runner.
pub(crate) const UA_CDK_CI: &str = "aws-cdk/2.160.0 aws-sdk-js/2.1691.0 nodejs/v20.17.0 linux/x64";

/// The IaC tool of an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Terraform,
    Pulumi,
    Cdk,
    CloudFormation,
}

/// How an actor's environments live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Module tests: apply, one plan, destroy within minutes, one session throughout.
    Terratest,
    /// Pull-request environments.
    PrEnv,
    /// A person's sandbox.
    Sandbox,
    /// A CDK or CloudFormation stack.
    Stack,
}

/// Who runs the tool.
enum Who {
    /// A GitHub Actions workflow federating into `role`.
    Ci { role: Role, repo: &'static str },
    /// A person's SSO session (`aws sso login`) on a laptop.
    Sso { role: Role, email: String, ip: String },
    /// A person's IAM user key on a laptop.
    User { ident: String, ip: String },
}

/// A session the tool runs with.
#[derive(Debug, Clone)]
struct Sess {
    ident: String,
    ip: String,
    created: i64,
    /// The same principal as CloudFormation uses it (`invokedBy`), for [`Tool::CloudFormation`].
    cfn_ident: String,
}

/// One environment (a Terraform state, a Pulumi stack, a CloudFormation stack).
struct Env {
    name: String,
    region: &'static str,
    /// Region of the GuardDuty detector and Config recorder (one each per region and account).
    alt_region: &'static str,
    res: Vec<Res>,
    /// Plans (or diffs) left before the destroy.
    steps: u32,
    gap: i64,
    next: i64,
    /// The job session of a Terratest run.
    sess: Option<Sess>,
}

/// One IaC actor: a tool, run by someone, managing environments in one account.
pub(crate) struct Actor {
    who: Who,
    tool: Tool,
    style: Style,
    account: usize,
    region: &'static str,
    alt_region: &'static str,
    vpc: String,
    kinds: &'static [(u32, Kind)],
    envs: Vec<Env>,
    next_new: i64,
    new_mean: f64,
    life: (i64, i64),
    steps: (u32, u32),
    uas: Vec<(&'static str, String)>,
    sess: Option<Sess>,
    /// CDK bootstrap roles (deploy, cfn-exec).
    cdk: Option<(Role, Role)>,
    counter: u32,
    name: String,
    s: Scratch,
}

const TF_SERVICES: [(&str, &str); 12] = [
    ("iam", "1.35.3"),
    ("sts", "1.30.7"),
    ("ec2", "1.177.3"),
    ("s3", "1.61.2"),
    ("cloudtrail", "1.42.7"),
    ("secretsmanager", "1.32.8"),
    ("guardduty", "1.45.3"),
    ("config", "1.48.3"),
    ("logs", "1.37.3"),
    ("cloudformation", "1.53.5"),
    ("kms", "1.35.7"),
    ("organizations", "1.32.1"),
];

fn tf_laptop_ua(service: &str, version: &str) -> String {
    format!(
        "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.5 ua/2.1 os/macos lang/go#1.22.7 md/GOOS#darwin md/GOARCH#arm64 api/{service}#{version}"
    )
}

fn pulumi_ua(service: &str, version: &str) -> String {
    format!(
        "APN/1.0 HashiCorp/1.0 Terraform (+https://www.terraform.io) terraform-provider-aws/dev (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.4 ua/2.1 os/macos lang/go#1.22.6 md/GOOS#darwin md/GOARCH#arm64 api/{service}#{version} pulumi/3.134.1 pulumi-aws/6.54.0"
    )
}

impl Source for Actor {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        if now >= self.next_new {
            let n = if self.style == Style::Terratest { cx.rng.random_range(2..=4) } else { 1 };
            for _ in 0..n {
                self.new_env(now, cx);
            }
            self.next_new = now + 2 * MINUTE + exp(cx.rng, self.new_mean);
        }
        while let Some(i) =
            (0..self.envs.len()).filter(|&i| self.envs[i].next <= now).min_by_key(|&i| self.envs[i].next)
        {
            self.step(i, now, cx);
        }
        self.envs.iter().map(|e| e.next).min().unwrap_or(i64::MAX).min(self.next_new)
    }
}

const TERRATEST_KINDS: [(u32, Kind); 1] = [(1, Kind::Trail)];
const PR_KINDS: [(u32, Kind); 5] =
    [(30, Kind::Role), (25, Kind::Secret), (20, Kind::SecurityGroup), (15, Kind::FlowLog), (10, Kind::User)];
const SANDBOX_KINDS: [(u32, Kind); 8] = [
    (15, Kind::Role),
    (15, Kind::Secret),
    (15, Kind::SecurityGroup),
    (12, Kind::User),
    (10, Kind::Trail),
    (10, Kind::FlowLog),
    (8, Kind::Detector),
    (8, Kind::Recorder),
];
const STACK_KINDS: [(u32, Kind); 5] =
    [(30, Kind::Role), (25, Kind::Secret), (20, Kind::SecurityGroup), (15, Kind::FlowLog), (10, Kind::Trail)];

/// Creates the IaC actors: CI Terratest, PR environments and CDK; people's Terraform, Pulumi,
/// CDK and CloudFormation from their laptops (`operators`).
pub(crate) fn build(
    est: &mut Estate,
    rng: &mut Rng,
    start: i64,
    operators: &[Operator],
    out: &mut Vec<(i64, Box<dyn Source>)>,
) {
    let role = |est: &Estate, rng: &mut Rng, account: usize, name: &str| Role {
        account: est.id(account).to_string(),
        name: name.to_string(),
        path: "/".to_string(),
        pid: unique_id(rng, "AROA"),
    };
    let cdk_roles = |est: &Estate, rng: &mut Rng, account: usize| {
        let acct = est.id(account);
        let region = est.accounts[account].region;
        (
            role(est, rng, account, &format!("cdk-hnb659fds-deploy-role-{acct}-{region}")),
            role(est, rng, account, &format!("cdk-hnb659fds-cfn-exec-role-{acct}-{region}")),
        )
    };
    let tf_uas = |laptop: bool| -> Vec<(&'static str, String)> {
        TF_SERVICES.iter().map(|(s, v)| (*s, if laptop { tf_laptop_ua(s, v) } else { terraform_ua(s) })).collect()
    };
    let mut actors: Vec<Actor> = Vec::new();
    let mk = |who: Who, tool: Tool, style: Style, account: usize, est: &Estate, rng: &mut Rng| Actor {
        who,
        tool,
        style,
        account,
        region: est.accounts[account].region,
        alt_region: "us-west-2",
        vpc: format!("vpc-{}", hex(rng, 17)),
        kinds: &SANDBOX_KINDS,
        envs: Vec::new(),
        next_new: 0,
        new_mean: HOUR as f64,
        life: (15 * MINUTE, 5 * HOUR),
        steps: (1, 6),
        uas: Vec::new(),
        sess: None,
        cdk: None,
        counter: 0,
        name: String::new(),
        s: Scratch::default(),
    };
    // Terratest in dev.
    let r = role(est, rng, DEV, "gha-terratest");
    let mut a =
        mk(Who::Ci { role: r, repo: "corp/terraform-aws-modules" }, Tool::Terraform, Style::Terratest, DEV, est, rng);
    a.kinds = &TERRATEST_KINDS;
    a.new_mean = 20.0 * MINUTE as f64;
    a.life = (3 * MINUTE, 25 * MINUTE);
    a.steps = (1, 1);
    a.uas = tf_uas(false);
    actors.push(a);
    // PR environments in staging.
    let r = role(est, rng, STAGING, "gha-ephemeral-envs");
    let mut a = mk(Who::Ci { role: r, repo: "corp/platform" }, Tool::Terraform, Style::PrEnv, STAGING, est, rng);
    a.kinds = &PR_KINDS;
    a.new_mean = 25.0 * MINUTE as f64;
    a.life = (40 * MINUTE, 8 * HOUR);
    a.steps = (0, 4);
    a.uas = tf_uas(false);
    actors.push(a);
    // CDK from CI in staging.
    let r = role(est, rng, STAGING, "gha-cdk-deploy");
    let mut a = mk(Who::Ci { role: r, repo: "corp/data-pipelines" }, Tool::Cdk, Style::Stack, STAGING, est, rng);
    a.kinds = &STACK_KINDS;
    a.new_mean = 50.0 * MINUTE as f64;
    a.life = (HOUR, 10 * HOUR);
    a.steps = (0, 2);
    a.cdk = Some(cdk_roles(est, rng, STAGING));
    a.name = "DataPipelineStack-pr".to_string();
    actors.push(a);
    // People's laptops in dev.
    for (i, o) in operators.iter().enumerate() {
        let who = match &o.cred {
            OperatorCred::Sso { role, email } => {
                Who::Sso { role: role.clone(), email: email.clone(), ip: o.ip.clone() }
            }
            OperatorCred::User { ident } => Who::User { ident: ident.clone(), ip: o.ip.clone() },
        };
        let is_sso = matches!(who, Who::Sso { .. });
        let (tool, style) = match (i % 4, is_sso) {
            (1, true) => (Tool::Pulumi, Style::Sandbox),
            (2, true) => (Tool::Cdk, Style::Stack),
            (3, true) => (Tool::CloudFormation, Style::Stack),
            _ => (Tool::Terraform, Style::Sandbox),
        };
        let mut a = mk(who, tool, style, o.account, est, rng);
        a.name = o.short.replace('.', "-");
        a.new_mean = 50.0 * MINUTE as f64;
        match tool {
            Tool::Terraform => a.uas = tf_uas(true),
            Tool::Pulumi => a.uas = TF_SERVICES.iter().map(|(s, v)| (*s, pulumi_ua(s, v))).collect(),
            Tool::Cdk => {
                a.kinds = &STACK_KINDS;
                a.cdk = Some(cdk_roles(est, rng, o.account));
                a.name = format!("{}-dev-stack", a.name);
                a.steps = (0, 3);
            }
            Tool::CloudFormation => {
                a.kinds = &STACK_KINDS;
                a.name = format!("{}-cfn", a.name);
                a.steps = (0, 2);
            }
        }
        actors.push(a);
    }
    for mut a in actors {
        a.next_new = start + uni(rng, MINUTE, a.new_mean as i64);
        out.push((a.next_new, Box::new(a)));
    }
}
