//! CI/CD: GitHub Actions jobs that federate through OIDC (`AssumeRoleWithWebIdentity`) and
//! then run Terraform (plans; applies that create and delete IAM users, keys, roles and
//! policies) or deploys (ECR, ECS, Lambda; sometimes retiring an instance after turning its
//! termination protection off).

use rand::seq::SliceRandom;
use rand::Rng as _;

use super::{exp, one_resource, sts_credentials_resp, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{public_ip, session_key, unique_id, user_key, Estate, SessionCred, DEV, PROD, SHARED, STAGING};
use crate::event::Call;
use crate::identity::{assumed_role, github_provider, web_identity_user, Role, SessionOpts};
use crate::json::{hex, Obj};
use crate::Rng;
use trailhound_model::time::{HOUR, MINUTE, SECOND};

/// User agent of `configure-aws-credentials` (the `AssumeRoleWithWebIdentity` call).
pub(crate) const UA_GHA_CREDS: &str = "aws-sdk-js/3.632.0 ua/2.1 os/linux#6.5.0-1025-azure lang/js md/nodejs#20.17.0 api/sts#3.632.0 configure-aws-credentials-for-github-actions";
/// User agent of the AWS CLI in deploy jobs.
pub(crate) const UA_GHA_CLI: &str = "aws-cli/2.17.50 md/awscrt#0.21.2 ua/2.0 os/linux#6.8.0-1014-azure md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exe/x86_64.ubuntu.22 cfg/retry-mode#standard md/installer#exe";
/// First octets of GitHub-hosted runner addresses.
pub(crate) const RUNNER_OCTETS: [u8; 5] = [4, 13, 20, 40, 172];

/// Terraform's user agent for calls to `service`.
pub(crate) fn terraform_ua(service: &str) -> String {
    let v = match service {
        "iam" => "1.35.3",
        "sts" => "1.30.7",
        "ec2" => "1.177.3",
        "s3" => "1.61.2",
        _ => "1.20.1",
    };
    format!(
        "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.5 ua/2.1 os/linux lang/go#1.22.7 md/GOOS#linux md/GOARCH#amd64 api/{service}#{v}"
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Terraform,
    EcsDeploy,
    LambdaDeploy,
}

/// IAM things one Terraform apply owns (replaced by the next apply).
#[derive(Clone)]
struct IamSet {
    user: String,
    key: String,
    role: String,
    policy: String,
}

impl IamSet {
    fn new(rng: &mut Rng) -> Self {
        let h = hex(rng, 4);
        IamSet {
            user: format!("svc-etl-{h}"),
            key: user_key(rng),
            role: format!("etl-runner-{h}"),
            policy: format!("etl-access-{h}"),
        }
    }
}

/// One (repository, account) pipeline.
pub(crate) struct Pipeline {
    account: usize,
    region: &'static str,
    repo: &'static str,
    kind: Kind,
    role: Role,
    slot: usize,
    /// ECS deploys so far (the first one always retires an instance).
    deploys: u32,
    prev: IamSet,
    tf_ua: [(&'static str, String); 4],
    s: Scratch,
}

struct Run<'a> {
    ident: &'a str,
    ip: &'a str,
    acct: &'a str,
    region: &'a str,
}

impl Pipeline {
    fn ua(&self, svc: &str) -> &str {
        self.tf_ua.iter().find(|(s, _)| *s == svc).map_or(UA_GHA_CLI, |(_, u)| u.as_str())
    }

    /// `terraform plan`: caller identity, then a handful of reads refreshing state.
    fn plan(&mut self, cx: &mut Cx<'_>, r: &Run<'_>, mut t: i64) -> i64 {
        const READS: [(&str, &str); 10] = [
            ("ec2", "DescribeVpcs"),
            ("ec2", "DescribeSubnets"),
            ("ec2", "DescribeSecurityGroups"),
            ("iam", "GetRole"),
            ("iam", "ListAttachedRolePolicies"),
            ("iam", "ListRolePolicies"),
            ("iam", "GetPolicy"),
            ("iam", "GetPolicyVersion"),
            ("iam", "GetUser"),
            ("s3", "GetBucketPolicy"),
        ];
        cx.em.bg(&Call::new(t, r.ident, "sts", "GetCallerIdentity", r.region, r.ip, self.ua("sts"), r.acct), cx.rng);
        let mut reads = READS;
        reads.shuffle(cx.rng);
        let n = cx.rng.random_range(4..=6);
        for &(svc, name) in &reads[..n] {
            for _ in 0..cx.rng.random_range(1..=3) {
                t += uni(cx.rng, 50, 400);
                let region = if svc == "iam" { "us-east-1" } else { r.region };
                cx.em.bg(&Call::new(t, r.ident, svc, name, region, r.ip, self.ua(svc), r.acct), cx.rng);
            }
        }
        t
    }

    /// `terraform apply`: replaces the previous apply's user, key, role and policy.
    fn apply(&mut self, cx: &mut Cx<'_>, r: &Run<'_>, mut t: i64) -> i64 {
        let old = self.prev.clone();
        let new = IamSet::new(cx.rng);
        let ua = self.ua("iam").to_string();
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let acct = r.acct;
        let policy_arn = |p: &str| format!("arn:aws:iam::{acct}:policy/{p}");
        let mut call = |t: i64, name: &str, req: &str, resp: &str, rng: &mut Rng| {
            em.bg(&Call::new(t, r.ident, "iam", name, "us-east-1", r.ip, &ua, acct).req(req).resp(resp), rng);
        };
        let step = |t: &mut i64, rng: &mut Rng| *t += uni(rng, 150, 1500);

        // Create the new set.
        step(&mut t, rng);
        Obj::new(&mut s.req)
            .str("policyName", &new.policy)
            .str("policyDocument", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"s3:PutObject\"],\"Resource\":\"arn:aws:s3:::datalake-raw-*/*\"}]}")
            .end();
        Obj::new(&mut s.resp)
            .obj("policy", |p| {
                p.str("policyName", &new.policy).str("arn", &policy_arn(&new.policy)).num("attachmentCount", 0)
            })
            .end();
        call(t, "CreatePolicy", &s.req, &s.resp, rng);
        step(&mut t, rng);
        Obj::new(&mut s.req).str("userName", &new.user).str("path", "/service/").end();
        Obj::new(&mut s.resp)
            .obj("user", |u| {
                u.str("path", "/service/")
                    .str("userName", &new.user)
                    .str("userId", &unique_id(rng, "AIDA"))
                    .str("arn", &format!("arn:aws:iam::{acct}:user/service/{}", new.user))
            })
            .end();
        call(t, "CreateUser", &s.req, &s.resp, rng);
        step(&mut t, rng);
        Obj::new(&mut s.req).str("userName", &new.user).str("policyArn", &policy_arn(&new.policy)).end();
        call(t, "AttachUserPolicy", &s.req, "", rng);
        step(&mut t, rng);
        Obj::new(&mut s.req).str("userName", &new.user).end();
        Obj::new(&mut s.resp)
            .obj("accessKey", |k| k.str("userName", &new.user).str("accessKeyId", &new.key).str("status", "Active"))
            .end();
        call(t, "CreateAccessKey", &s.req, &s.resp, rng);
        step(&mut t, rng);
        Obj::new(&mut s.req)
            .str("roleName", &new.role)
            .str("assumeRolePolicyDocument", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"ecs-tasks.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}")
            .end();
        Obj::new(&mut s.resp)
            .obj("role", |o| {
                o.str("roleName", &new.role)
                    .str("roleId", &unique_id(rng, "AROA"))
                    .str("arn", &format!("arn:aws:iam::{acct}:role/{}", new.role))
            })
            .end();
        call(t, "CreateRole", &s.req, &s.resp, rng);
        step(&mut t, rng);
        Obj::new(&mut s.req).str("roleName", &new.role).str("policyArn", &policy_arn(&new.policy)).end();
        call(t, "AttachRolePolicy", &s.req, "", rng);
        step(&mut t, rng);
        Obj::new(&mut s.req)
            .str("roleName", &new.role)
            .str("policyName", "logs")
            .str("policyDocument", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"logs:*\",\"Resource\":\"*\"}]}")
            .end();
        call(t, "PutRolePolicy", &s.req, "", rng);

        // Destroy the old set.
        step(&mut t, rng);
        Obj::new(&mut s.req).str("userName", &old.user).str("accessKeyId", &old.key).end();
        call(t, "DeleteAccessKey", &s.req, "", rng);
        step(&mut t, rng);
        Obj::new(&mut s.req).str("userName", &old.user).str("policyArn", &policy_arn(&old.policy)).end();
        call(t, "DetachUserPolicy", &s.req, "", rng);
        step(&mut t, rng);
        Obj::new(&mut s.req).str("userName", &old.user).end();
        call(t, "DeleteUser", &s.req, "", rng);
        step(&mut t, rng);
        Obj::new(&mut s.req).str("roleName", &old.role).str("policyArn", &policy_arn(&old.policy)).end();
        call(t, "DetachRolePolicy", &s.req, "", rng);
        step(&mut t, rng);
        Obj::new(&mut s.req).str("roleName", &old.role).str("policyName", "logs").end();
        call(t, "DeleteRolePolicy", &s.req, "", rng);
        step(&mut t, rng);
        Obj::new(&mut s.req).str("roleName", &old.role).end();
        call(t, "DeleteRole", &s.req, "", rng);
        step(&mut t, rng);
        Obj::new(&mut s.req).str("policyArn", &policy_arn(&old.policy)).end();
        call(t, "DeletePolicy", &s.req, "", rng);
        self.prev = new;
        t
    }

    fn ecs_deploy(&mut self, cx: &mut Cx<'_>, r: &Run<'_>, mut t: i64) -> i64 {
        let service = self.repo.rsplit('/').next().unwrap_or("app");
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let c = |t, svc, name| Call::new(t, r.ident, svc, name, r.region, r.ip, UA_GHA_CLI, r.acct);
        em.bg(&c(t, "sts", "GetCallerIdentity"), rng);
        t += uni(rng, 500, 2000);
        em.bg(&c(t, "ecr", "GetAuthorizationToken").read_only(true), rng);
        t += uni(rng, 5 * SECOND, 40 * SECOND);
        Obj::new(&mut s.req).str("repositoryName", service).str("registryId", r.acct).end();
        em.bg(&c(t, "ecr", "BatchCheckLayerAvailability").req(&s.req), rng);
        t += uni(rng, 5 * SECOND, 30 * SECOND);
        Obj::new(&mut s.req).str("repositoryName", service).str("imageTag", &hex(rng, 7)).end();
        em.bg(&c(t, "ecr", "PutImage").req(&s.req), rng);
        t += uni(rng, 2 * SECOND, 8 * SECOND);
        Obj::new(&mut s.req).str("taskDefinition", service).end();
        em.bg(&c(t, "ecs", "DescribeTaskDefinition").req(&s.req), rng);
        t += uni(rng, 300, 1500);
        Obj::new(&mut s.req)
            .str("family", service)
            .str("networkMode", "awsvpc")
            .str("cpu", "512")
            .str("memory", "1024")
            .end();
        em.bg(&c(t, "ecs", "RegisterTaskDefinition").req(&s.req), rng);
        t += uni(rng, 300, 1500);
        Obj::new(&mut s.req).str("cluster", "main").str("service", service).str("taskDefinition", service).end();
        em.bg(&c(t, "ecs", "UpdateService").req(&s.req), rng);
        Obj::new(&mut s.req).str("cluster", "main").raw("services", &format!("[\"{service}\"]")).end();
        for _ in 0..rng.random_range(3..=8) {
            t += uni(rng, 14 * SECOND, 16 * SECOND);
            em.bg(&c(t, "ecs", "DescribeServices").req(&s.req), rng);
        }
        let first = self.deploys == 0;
        self.deploys += 1;
        if first || rng.random_bool(0.25) {
            // Retire an old bastion: turn termination protection off, then terminate it.
            let instance = format!("i-{}", hex(rng, 17));
            t += uni(rng, 2 * SECOND, 10 * SECOND);
            s.req.clear();
            s.req.push_str("{\"instancesSet\":{\"items\":[{\"instanceId\":\"");
            s.req.push_str(&instance);
            s.req.push_str("\"}]},\"filterSet\":{}}");
            em.bg(&c(t, "ec2", "DescribeInstances").req(&s.req), rng);
            t += uni(rng, 500, 3000);
            Obj::new(&mut s.req)
                .str("instanceId", &instance)
                .obj("disableApiTermination", |o| o.bool("value", false))
                .end();
            em.bg(&c(t, "ec2", "ModifyInstanceAttribute").req(&s.req).resp("{\"_return\":true}"), rng);
            t += uni(rng, 500, 3000);
            s.req.clear();
            s.req.push_str("{\"instancesSet\":{\"items\":[{\"instanceId\":\"");
            s.req.push_str(&instance);
            s.req.push_str("\"}]}}");
            em.bg(&c(t, "ec2", "TerminateInstances").req(&s.req), rng);
        }
        t
    }

    fn lambda_deploy(&mut self, cx: &mut Cx<'_>, r: &Run<'_>, mut t: i64) -> i64 {
        let func = self.repo.rsplit('/').next().unwrap_or("fn");
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let c = |t, svc, name| Call::new(t, r.ident, svc, name, r.region, r.ip, UA_GHA_CLI, r.acct);
        em.bg(&c(t, "sts", "GetCallerIdentity"), rng);
        t += uni(rng, 5 * SECOND, 20 * SECOND);
        let fn_arn = format!("arn:aws:lambda:{}:{}:function:{func}", r.region, r.acct);
        one_resource(&mut s.res, r.acct, "AWS::Lambda::Function", &fn_arn);
        Obj::new(&mut s.req)
            .str("functionName", func)
            .str("s3Bucket", &format!("build-artifacts-{}", r.acct))
            .str("s3Key", &format!("{func}/{}.zip", hex(rng, 7)))
            .end();
        em.bg(&c(t, "lambda", "UpdateFunctionCode20150331v2").req(&s.req).resources(&s.res), rng);
        Obj::new(&mut s.req).str("functionName", func).end();
        for _ in 0..rng.random_range(1..=3) {
            t += uni(rng, 2 * SECOND, 5 * SECOND);
            em.bg(&c(t, "lambda", "GetFunctionConfiguration20150331v2").req(&s.req), rng);
        }
        t += uni(rng, 500, 2000);
        em.bg(&c(t, "lambda", "PublishVersion20150331").req(&s.req).resources(&s.res), rng);
        t += uni(rng, 500, 2000);
        Obj::new(&mut s.req)
            .str("functionName", func)
            .str("name", "live")
            .str("functionVersion", &format!("{}", rng.random_range(10..400)))
            .end();
        em.bg(&c(t, "lambda", "UpdateAlias20150331").req(&s.req).resources(&s.res), rng);
        t
    }
}

/// A GitHub Actions job's AWS session: the job's OIDC token federated into `role` by
/// `configure-aws-credentials` (`AssumeRoleWithWebIdentity`, logged at `now` from a fresh
/// runner address). Returns the session's key, `userIdentity`, runner address and creation
/// time.
#[allow(clippy::too_many_arguments)]
pub(crate) fn oidc_session(
    cx: &mut Cx<'_>,
    s: &mut Scratch,
    now: i64,
    account: usize,
    role: &Role,
    repo: &str,
    environment: &str,
    region: &str,
) -> (String, String, String, i64) {
    let acct = cx.est.id(account).to_string();
    let ip = public_ip(cx.rng, &RUNNER_OCTETS);
    let key = session_key(cx.rng);
    let subject = format!("repo:{repo}:environment:{environment}");
    let provider = github_provider(&acct);
    // configure-aws-credentials federates the job's OIDC token.
    let web_ident = web_identity_user(&acct, &subject);
    let role_arn = role.arn();
    let session_arn = role.session_arn("GitHubActions");
    Obj::new(&mut s.req)
        .str("roleArn", &role_arn)
        .str("roleSessionName", "GitHubActions")
        .num("durationSeconds", 3600)
        .end();
    sts_credentials_resp(&mut s.resp, &key, now + HOUR, &session_arn, &format!("{}:GitHubActions", role.pid));
    s.resp.pop();
    s.resp.push_str(&format!(
        ",\"subjectFromWebIdentityToken\":\"{subject}\",\"provider\":\"{provider}\",\"audience\":\"sts.amazonaws.com\"}}"
    ));
    one_resource(&mut s.res, &acct, "AWS::IAM::Role", &role_arn);
    cx.em.bg(
        &Call::new(now, &web_ident, "sts", "AssumeRoleWithWebIdentity", region, &ip, UA_GHA_CREDS, &acct)
            .req(&s.req)
            .resp(&s.resp)
            .resources(&s.res),
        cx.rng,
    );
    let created = now + SECOND;
    let ident = assumed_role(
        role,
        "GitHubActions",
        &key,
        created,
        SessionOpts { web_provider: Some(&provider), ..Default::default() },
    );
    (key, ident, ip, created)
}

impl Source for Pipeline {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let acct = cx.est.id(self.account).to_string();
        let env = cx.est.accounts[self.account].name;
        let (key, ident, ip, created) =
            oidc_session(cx, &mut self.s, now, self.account, &self.role, self.repo, env, self.region);
        let slot = &mut cx.est.ci[self.slot];
        slot.key = key;
        slot.ident = ident.clone();
        slot.created = created;

        let run = Run { ident: &ident, ip: &ip, acct: &acct, region: self.region };
        let t = created + uni(cx.rng, 5 * SECOND, 25 * SECOND);
        let end = match self.kind {
            Kind::Terraform => {
                let t = self.plan(cx, &run, t);
                if cx.rng.random_bool(0.35) {
                    let t = t + uni(cx.rng, 8 * SECOND, 30 * SECOND);
                    self.apply(cx, &run, t)
                } else {
                    t
                }
            }
            Kind::EcsDeploy => self.ecs_deploy(cx, &run, t),
            Kind::LambdaDeploy => self.lambda_deploy(cx, &run, t),
        };
        end + 3 * MINUTE + exp(cx.rng, 35.0 * MINUTE as f64)
    }
}

/// Creates the pipelines and registers a session from each one's previous run.
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64, out: &mut Vec<(i64, Box<dyn Source>)>) {
    let plan: [(usize, &'static str, Kind); 8] = [
        (SHARED, "corp/infra-live", Kind::Terraform),
        (PROD, "corp/infra-live", Kind::Terraform),
        (STAGING, "corp/infra-live", Kind::Terraform),
        (DEV, "corp/infra-live", Kind::Terraform),
        (PROD, "corp/payments-api", Kind::EcsDeploy),
        (STAGING, "corp/payments-api", Kind::EcsDeploy),
        (PROD, "corp/orders-ingest", Kind::LambdaDeploy),
        (DEV, "corp/orders-ingest", Kind::LambdaDeploy),
    ];
    let mut roles: Vec<(usize, &str, Role)> = Vec::new();
    for (account, repo, kind) in plan {
        let role_name = if kind == Kind::Terraform { "gha-terraform" } else { "gha-deploy" };
        let role = match roles.iter().find(|(a, n, _)| *a == account && *n == role_name) {
            Some((_, _, r)) => r.clone(),
            None => {
                let r = Role {
                    account: est.id(account).to_string(),
                    name: role_name.to_string(),
                    path: "/".to_string(),
                    pid: unique_id(rng, "AROA"),
                };
                roles.push((account, role_name, r.clone()));
                r
            }
        };
        let acct = est.id(account).to_string();
        let region = est.accounts[account].region;
        let created = start - uni(rng, 5 * MINUTE, 40 * MINUTE);
        let key = session_key(rng);
        let provider = github_provider(&acct);
        let ident = assumed_role(
            &role,
            "GitHubActions",
            &key,
            created,
            SessionOpts { web_provider: Some(&provider), ..Default::default() },
        );
        let slot = est.ci.len();
        est.ci.push(SessionCred { account, key, ident, arn: role.session_arn("GitHubActions"), created, region });
        let tf_ua = [
            ("iam", terraform_ua("iam")),
            ("sts", terraform_ua("sts")),
            ("ec2", terraform_ua("ec2")),
            ("s3", terraform_ua("s3")),
        ];
        let p = Pipeline {
            account,
            region,
            repo,
            kind,
            role,
            slot,
            deploys: 0,
            prev: IamSet::new(rng),
            tf_ua,
            s: Scratch::default(),
        };
        out.push((start + uni(rng, 30 * SECOND, 30 * MINUTE), Box::new(p)));
    }
}
