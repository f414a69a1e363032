//! The stress profile's sensitive writes: short sequences (IAM users, keys and policies, role
//! trust, instance launches, logging changes, bucket policies, secret reads, function changes)
//! made by pipelines, people and workloads as part of their work. Every parameter of a
//! sequence is derived from its salt, so its steps render independently of each other.

use std::fmt::Write as _;

use rand::Rng as _;
use trailhound_model::time::{MINUTE, SECOND};

use super::principal::{key_id, public_ip, PKind, Traits};
use super::{mix, pick, Ctx, Scratch, Spec};
use crate::event::Kind;
use crate::identity::iam_user;
use crate::json::{iam_date_string, time_string, Obj};
use crate::Rng;

/// A sensitive sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seq {
    /// `CreateUser`, `AttachUserPolicy`, `CreateAccessKey`, maybe `CreateLoginProfile`; the new key used later.
    UserSetup,
    /// `CreateAccessKey` (the caller's own key, or a service user's by a rotation job), `DeleteAccessKey` of the old one; the new key used.
    KeyRotation,
    /// `ListAccessKeys`, `CreateAccessKey` for another user; the new key used from elsewhere.
    KeyForOther,
    /// `PutUserPolicy` or `PutRolePolicy` with an inline document.
    InlinePolicy,
    /// `CreateRole`, `AttachRolePolicy`, maybe `PutRolePolicy` and `UpdateAssumeRolePolicy`.
    RoleSetup,
    /// `UpdateAssumeRolePolicy`.
    TrustUpdate,
    /// A burst of `RunInstances` (some failing), `CreateTags`, maybe `ModifyInstanceAttribute`.
    Launch,
    /// A trail, flow log, detector, recorder, log group or lifecycle change.
    Logging,
    /// `PutBucketPolicy`, `PutBucketAcl`, `PutPublicAccessBlock` or `DeleteBucketPolicy`.
    BucketPolicy,
    /// `GetSecretValue` of several secrets in a minute, some denied.
    Secrets,
    /// `UpdateFunctionCode`, `UpdateFunctionConfiguration`, maybe `AddPermission`.
    LambdaChange,
    /// An OIDC or SAML provider created or changed.
    Idp,
    /// `CreatePolicyVersion` (set as default), `DeletePolicyVersion`.
    PolicyVersion,
    /// `ConsoleLogin`.
    Login,
    /// `CreateLoginProfile` or `UpdateLoginProfile` for another user.
    LoginProfile,
    /// `GetFederationToken`.
    Federation,
}

/// First step number of a new key's use.
const USE: u8 = 10;
/// Step of `CreateTags` after a launch burst.
const TAGS: u8 = 40;
/// Step of `ModifyInstanceAttribute` after a launch burst.
const PROTECT: u8 = 41;

/// The sequences a principal of `kind` makes, with weights.
fn menu(kind: PKind) -> &'static [(Seq, u32)] {
    use Seq::*;
    match kind {
        PKind::Ci => &[
            (UserSetup, 12),
            (RoleSetup, 22),
            (InlinePolicy, 10),
            (Launch, 14),
            (Logging, 10),
            (BucketPolicy, 10),
            (LambdaChange, 14),
            (Idp, 2),
            (PolicyVersion, 4),
            (TrustUpdate, 2),
        ],
        PKind::Sso => &[
            (Login, 30),
            (UserSetup, 8),
            (KeyForOther, 8),
            (InlinePolicy, 6),
            (LoginProfile, 6),
            (BucketPolicy, 6),
            (Logging, 6),
            (Launch, 8),
            (TrustUpdate, 6),
            (Secrets, 14),
            (PolicyVersion, 2),
        ],
        PKind::User => &[
            (KeyRotation, 30),
            (Launch, 16),
            (Secrets, 20),
            (InlinePolicy, 4),
            (BucketPolicy, 8),
            (Federation, 4),
            (UserSetup, 4),
            (Login, 14),
        ],
        PKind::Ec2 | PKind::Ecs | PKind::Lambda => {
            &[(Secrets, 45), (KeyRotation, 15), (Launch, 20), (TrustUpdate, 5), (Logging, 5), (BucketPolicy, 10)]
        }
        PKind::ServiceLinked | PKind::Scanner => &[(Launch, 1)],
    }
}

/// Picks a sequence for `p` and pushes its steps (event-time offset from now, step) into `steps`.
pub(super) fn plan(p: &Traits, rng: &mut Rng, salt: u64, steps: &mut Vec<(i64, u8)>) -> Seq {
    let menu = menu(p.kind);
    let total: u32 = menu.iter().map(|m| m.1).sum();
    let mut r = rng.random_range(0..total);
    let mut seq = menu[0].0;
    for &(s, w) in menu {
        if r < w {
            seq = s;
            break;
        }
        r -= w;
    }
    let v = mix(salt);
    let mut t = 0i64;
    let mut gap = |rng: &mut Rng, lo: i64, hi: i64| {
        t += rng.random_range(lo..hi);
        t
    };
    steps.clear();
    steps.push((0, 0));
    match seq {
        Seq::UserSetup => {
            for k in 1..=2 {
                steps.push((gap(rng, SECOND, 6 * SECOND), k));
            }
            if v.is_multiple_of(3) {
                steps.push((gap(rng, SECOND, 6 * SECOND), 3));
            }
            new_key_use(rng, &mut gap, steps);
        }
        Seq::KeyRotation => {
            steps.push((gap(rng, 20 * SECOND, 4 * MINUTE), 1));
            new_key_use(rng, &mut gap, steps);
        }
        Seq::KeyForOther => {
            steps.push((gap(rng, 2 * SECOND, 40 * SECOND), 1));
            new_key_use(rng, &mut gap, steps);
        }
        Seq::RoleSetup => {
            steps.push((gap(rng, SECOND, 5 * SECOND), 1));
            for k in 2..=3 {
                if (v >> k).is_multiple_of(3) {
                    steps.push((gap(rng, SECOND, 5 * SECOND), k));
                }
            }
        }
        Seq::Launch => {
            let n = launches(v);
            for k in 1..n {
                steps.push((gap(rng, 2 * SECOND, 20 * SECOND), k));
            }
            steps.push((gap(rng, SECOND, 5 * SECOND), TAGS));
            if v.is_multiple_of(4) {
                steps.push((gap(rng, 20 * SECOND, 3 * MINUTE), PROTECT));
            }
        }
        Seq::Logging if logging_variant(v) < 2 => steps.push((gap(rng, 30 * SECOND, 20 * MINUTE), 1)),
        Seq::Secrets => {
            for k in 1..secrets(v) {
                steps.push((gap(rng, 300, 6 * SECOND), k));
            }
        }
        Seq::LambdaChange => {
            steps.push((gap(rng, 2 * SECOND, 20 * SECOND), 1));
            if v.is_multiple_of(5) {
                steps.push((gap(rng, 2 * SECOND, 20 * SECOND), 2));
            }
        }
        Seq::PolicyVersion => steps.push((gap(rng, 2 * SECOND, 10 * SECOND), 1)),
        _ => {}
    }
    seq
}

/// The new key's first calls, 2–30 minutes after it was made.
fn new_key_use(rng: &mut Rng, gap: &mut impl FnMut(&mut Rng, i64, i64) -> i64, steps: &mut Vec<(i64, u8)>) {
    steps.push((gap(rng, 2 * MINUTE, 30 * MINUTE), USE));
    for k in 1..rng.random_range(2..5u8) {
        steps.push((gap(rng, SECOND, 40 * SECOND), USE + k));
    }
}

fn launches(v: u64) -> u8 {
    match v % 10 {
        0..=6 => 1 + (v >> 4) as u8 % 3,
        7..=8 => 4 + (v >> 4) as u8 % 8,
        _ => 12 + (v >> 4) as u8 % 14,
    }
}

fn secrets(v: u64) -> u8 {
    match v % 10 {
        0..=6 => 1 + (v >> 4) as u8 % 2,
        _ => 4 + (v >> 4) as u8 % 11,
    }
}

fn logging_variant(v: u64) -> u64 {
    (v >> 8) % 9
}

const MANAGED: [&str; 10] = [
    "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    "arn:aws:iam::aws:policy/AmazonEC2FullAccess",
    "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
    "arn:aws:iam::aws:policy/PowerUserAccess",
    "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/IAMFullAccess",
];

/// A managed policy ARN: mostly narrow ones, now and then an administrator's.
fn managed(v: u64) -> &'static str {
    match v % 40 {
        0..=1 => MANAGED[8],
        2 => MANAGED[9],
        r => MANAGED[r as usize % 8],
    }
}

/// An inline policy document of several statements (now and then `*` on `*`).
fn policy_doc(v: u64, app: &str, env: &str, acct: &str, out: &mut String) {
    out.clear();
    if v.is_multiple_of(25) {
        out.push_str(
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}",
        );
        return;
    }
    const ACTIONS: [&str; 12] = [
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "kms:Decrypt",
        "secretsmanager:GetSecretValue",
        "logs:PutLogEvents",
        "ssm:GetParameter",
    ];
    out.push_str("{\"Version\":\"2012-10-17\",\"Statement\":[");
    let n = 1 + v % 4;
    for s in 0..n {
        if s > 0 {
            out.push(',');
        }
        let w = mix(v ^ s);
        let _ = write!(out, "{{\"Sid\":\"Stmt{}\",\"Effect\":\"Allow\",\"Action\":[", 1_700_000_000 + w % 99_999_999);
        for a in 0..2 + w % 5 {
            if a > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{}\"", ACTIONS[((w >> (4 * a)) % 12) as usize]);
        }
        let _ = write!(
            out,
            "],\"Resource\":[\"arn:aws:s3:::{app}-{env}-{acct}-{}/*\",\"arn:aws:dynamodb:us-east-1:{acct}:table/{app}-{env}-{}\"]}}",
            w % 24,
            (w >> 8) % 24
        );
    }
    out.push_str("]}");
}

/// A role trust policy: a service, an account of the organisation, GitHub OIDC; rarely anyone.
fn trust_doc(v: u64, acct: &str, out: &mut String) {
    out.clear();
    let principal = match v % 30 {
        0 => "{\"AWS\":\"*\"}".to_string(),
        1..=4 => format!("{{\"AWS\":\"arn:aws:iam::{:012}:root\"}}", 100_000_000_000 + mix(v) % 899_999_999_999),
        5..=9 => format!("{{\"AWS\":\"arn:aws:iam::{acct}:root\"}}"),
        10..=14 => {
            format!("{{\"Federated\":\"arn:aws:iam::{acct}:oidc-provider/token.actions.githubusercontent.com\"}}")
        }
        r => format!(
            "{{\"Service\":\"{}\"}}",
            pick(&["ec2.amazonaws.com", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "glue.amazonaws.com"], r)
        ),
    };
    let action = if principal.contains("Federated") { "sts:AssumeRoleWithWebIdentity" } else { "sts:AssumeRole" };
    let _ = write!(out, "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{principal},\"Action\":\"{action}\"");
    if action == "sts:AssumeRoleWithWebIdentity" {
        let _ = write!(
            out,
            ",\"Condition\":{{\"StringEquals\":{{\"token.actions.githubusercontent.com:aud\":\"sts.amazonaws.com\"}},\"StringLike\":{{\"token.actions.githubusercontent.com:sub\":\"repo:example-org/*:ref:refs/heads/main\"}}}}"
        );
    }
    out.push_str("}]}");
}

/// The IAM user a sequence works on (created, rotated, given a key or a password).
fn target_user(cx: &Ctx<'_>, seq: Seq, v: u64, out: &mut String) {
    let (app, env) = cx.p.app();
    out.clear();
    match seq {
        Seq::KeyRotation if cx.p.kind == PKind::User => out.push_str(&cx.s.name),
        Seq::UserSetup => {
            let _ =
                write!(out, "{}-{app}-{env}-{}", pick(&["svc", "tf", "ci", "integration", "partner"], v), v % 100_000);
        }
        Seq::KeyForOther | Seq::LoginProfile => {
            let _ = write!(
                out,
                "{}.{}{}",
                pick(&["ana", "ben", "chen", "dina", "eli", "femi", "gus"], v),
                pick(&["ross", "kim", "ng", "diaz"], v >> 3),
                v % 997
            );
        }
        _ => {
            let _ = write!(out, "svc-{app}-{env}-{}", v % 500);
        }
    }
}

/// Writes step `step` of `seq` into `x`; returns what to render.
pub(super) fn step(cx: &Ctx<'_>, seq: Seq, step: u8, rng: &mut Rng, x: &mut Scratch) -> Spec {
    let v = mix(cx.salt);
    let (app, env) = cx.p.app();
    let acct = cx.s.account.clone();
    let t = cx.t;
    let iam = |name: &'static str| Spec::new("iam", name).region("us-east-1");
    match (seq, step) {
        (Seq::UserSetup | Seq::KeyRotation | Seq::KeyForOther, s) if s >= USE => {
            // The new key at work.
            target_user(cx, seq, v, &mut x.name);
            let mut key = String::with_capacity(20);
            key_id("AKIA", mix(v ^ 0x6e6b), &mut key);
            let mut pid = String::with_capacity(20);
            key_id("AIDA", mix(v ^ 0x7069), &mut pid);
            x.ident = iam_user(&acct, &x.name, &pid, &key);
            match seq {
                Seq::KeyRotation => x.ip.push_str(&cx.s.ip),
                Seq::KeyForOther => public_ip(mix(v ^ 0x6970), &[24, 47, 73, 98, 176], &mut x.ip),
                _ => public_ip(mix(v ^ 0x6970), &[3, 18, 34, 52, 54], &mut x.ip),
            }
            x.ua.push_str(&cx.s.ua2);
            let (svc, name) = match s - USE {
                0 => ("sts", "GetCallerIdentity"),
                1 => ("s3", "ListBuckets"),
                2 => ("ec2", "DescribeInstances"),
                _ => ("dynamodb", "DescribeTable"),
            };
            if svc == "s3" {
                x.req.push_str("{\"Host\":\"s3.amazonaws.com\"}");
            }
            Spec::new(svc, name).other_identity()
        }
        (Seq::UserSetup, 0) => {
            target_user(cx, seq, v, &mut x.name);
            let mut uid = String::with_capacity(20);
            key_id("AIDA", mix(v ^ 0x7069), &mut uid);
            Obj::new(&mut x.req).str("userName", &x.name).str("path", "/").end();
            let arn = format!("arn:aws:iam::{acct}:user/{}", x.name);
            Obj::new(&mut x.resp)
                .obj("user", |u| {
                    u.str("path", "/")
                        .str("userName", &x.name)
                        .str("userId", &uid)
                        .str("arn", &arn)
                        .str("createDate", &iam_date_string(t))
                })
                .end();
            iam("CreateUser")
        }
        (Seq::UserSetup, 1) => {
            target_user(cx, seq, v, &mut x.name);
            Obj::new(&mut x.req).str("userName", &x.name).str("policyArn", managed(v >> 5)).end();
            iam("AttachUserPolicy")
        }
        (Seq::UserSetup | Seq::KeyRotation | Seq::KeyForOther, _)
            if matches!((seq, step), (Seq::UserSetup, 2) | (Seq::KeyRotation, 0) | (Seq::KeyForOther, 1)) =>
        {
            target_user(cx, seq, v, &mut x.name);
            let mut key = String::with_capacity(20);
            key_id("AKIA", mix(v ^ 0x6e6b), &mut key);
            Obj::new(&mut x.req).str("userName", &x.name).end();
            Obj::new(&mut x.resp)
                .obj("accessKey", |k| {
                    k.str("userName", &x.name)
                        .str("accessKeyId", &key)
                        .str("status", "Active")
                        .str("createDate", &iam_date_string(t))
                })
                .end();
            iam("CreateAccessKey")
        }
        (Seq::UserSetup, _) | (Seq::LoginProfile, _) => {
            target_user(cx, seq, v, &mut x.name);
            let update = seq == Seq::LoginProfile && v.is_multiple_of(2);
            Obj::new(&mut x.req).str("userName", &x.name).bool("passwordResetRequired", !v.is_multiple_of(3)).end();
            if !update {
                Obj::new(&mut x.resp)
                    .obj("loginProfile", |p| {
                        p.str("userName", &x.name)
                            .str("createDate", &iam_date_string(t))
                            .bool("passwordResetRequired", !v.is_multiple_of(3))
                    })
                    .end();
            }
            iam(if update { "UpdateLoginProfile" } else { "CreateLoginProfile" })
        }
        (Seq::KeyRotation, _) => {
            target_user(cx, seq, v, &mut x.name);
            let mut old = String::with_capacity(20);
            key_id("AKIA", mix(v ^ 0x6f6c64), &mut old);
            Obj::new(&mut x.req).str("userName", &x.name).str("accessKeyId", &old).end();
            iam("DeleteAccessKey")
        }
        (Seq::KeyForOther, _) => {
            target_user(cx, seq, v, &mut x.name);
            Obj::new(&mut x.req).str("userName", &x.name).end();
            iam("ListAccessKeys")
        }
        (Seq::InlinePolicy, _) => {
            let mut doc = String::new();
            policy_doc(v >> 3, app, env, &acct, &mut doc);
            if v.is_multiple_of(2) {
                target_user(cx, seq, v, &mut x.name);
                Obj::new(&mut x.req)
                    .str("userName", &x.name)
                    .str("policyName", &format!("{app}-{env}-inline"))
                    .str("policyDocument", &doc)
                    .end();
                iam("PutUserPolicy")
            } else {
                Obj::new(&mut x.req)
                    .str("roleName", &format!("{app}-{env}-role-{}", v % 50))
                    .str("policyName", &format!("{app}-{env}-inline"))
                    .str("policyDocument", &doc)
                    .end();
                iam("PutRolePolicy")
            }
        }
        (Seq::RoleSetup, 0) => {
            let role = format!("{app}-{env}-role-{}", v % 50);
            let mut doc = String::new();
            trust_doc(v >> 7, &acct, &mut doc);
            let mut rid = String::with_capacity(20);
            key_id("AROA", mix(v ^ 0x726964), &mut rid);
            Obj::new(&mut x.req)
                .str("roleName", &role)
                .str("description", &format!("{app} {env} workload role"))
                .num("maxSessionDuration", 3600)
                .str("assumeRolePolicyDocument", &doc)
                .end();
            let arn = format!("arn:aws:iam::{acct}:role/{role}");
            Obj::new(&mut x.resp)
                .obj("role", |r| {
                    r.str("path", "/")
                        .str("roleName", &role)
                        .str("roleId", &rid)
                        .str("arn", &arn)
                        .str("createDate", &iam_date_string(t))
                        .str("assumeRolePolicyDocument", &super::url_encode(&doc))
                })
                .end();
            iam("CreateRole")
        }
        (Seq::RoleSetup, 1) => {
            Obj::new(&mut x.req)
                .str("roleName", &format!("{app}-{env}-role-{}", v % 50))
                .str("policyArn", managed(v >> 11))
                .end();
            iam("AttachRolePolicy")
        }
        (Seq::RoleSetup, 2) => {
            let mut doc = String::new();
            policy_doc(v >> 13, app, env, &acct, &mut doc);
            Obj::new(&mut x.req)
                .str("roleName", &format!("{app}-{env}-role-{}", v % 50))
                .str("policyName", "inline")
                .str("policyDocument", &doc)
                .end();
            iam("PutRolePolicy")
        }
        (Seq::RoleSetup | Seq::TrustUpdate, _) => {
            let mut doc = String::new();
            trust_doc(v >> 17, &acct, &mut doc);
            Obj::new(&mut x.req)
                .str("roleName", &format!("{app}-{env}-role-{}", v % 50))
                .str("policyDocument", &doc)
                .end();
            iam("UpdateAssumeRolePolicy")
        }
        (Seq::Launch, TAGS) => {
            let _ = write!(x.req, "{{\"resourcesSet\":{{\"items\":[{{\"resourceId\":\"i-0{:016x}\"}}]}},\"tagSet\":{{\"items\":[{{\"key\":\"Name\",\"value\":\"{app}-{env}\"}},{{\"key\":\"team\",\"value\":\"{app}\"}}]}}}}", mix(v) >> 4);
            x.resp.push_str("{\"_return\":true}");
            Spec::new("ec2", "CreateTags")
        }
        (Seq::Launch, PROTECT) => {
            let _ = write!(
                x.req,
                "{{\"instanceId\":\"i-0{:016x}\",\"disableApiTermination\":{{\"value\":{}}}}}",
                mix(v) >> 4,
                !v.is_multiple_of(3)
            );
            x.resp.push_str("{\"_return\":true}");
            Spec::new("ec2", "ModifyInstanceAttribute")
        }
        (Seq::Launch, k) => run_instances(cx, v, k, rng, x),
        (Seq::Logging, k) => logging(cx, v, k, x),
        (Seq::BucketPolicy, _) => bucket_policy(cx, v, x),
        (Seq::Secrets, k) => {
            let w = mix(v ^ u64::from(k));
            let _ = write!(
                x.req,
                "{{\"secretId\":\"arn:aws:secretsmanager:{}:{acct}:secret:{app}/{env}/{}-{}\"}}",
                cx.region,
                pick(
                    &[
                        "db",
                        "api-key",
                        "oauth",
                        "smtp",
                        "stripe",
                        "github-token",
                        "ldap",
                        "jwt-signing",
                        "datadog",
                        "slack",
                        "pagerduty",
                        "sentry",
                        "redis",
                        "kafka"
                    ],
                    u64::from(k) + v
                ),
                super::token(w, 6)
            );
            let s = Spec::new("secretsmanager", "GetSecretValue");
            if secrets(v) > 3 && w.is_multiple_of(4) {
                s.denied()
            } else {
                s
            }
        }
        (Seq::LambdaChange, k) => {
            let f = format!("{app}-{env}-{}", v % 24);
            match k {
                0 => {
                    let _ = write!(x.req, "{{\"functionName\":\"{f}\",\"s3Bucket\":\"{app}-artifacts-{acct}\",\"s3Key\":\"{app}/{:040x}.zip\",\"publish\":true}}", u128::from(mix(v)) << 32 | u128::from(v));
                    let _ = write!(x.resp, "{{\"functionName\":\"{f}\",\"functionArn\":\"arn:aws:lambda:{}:{acct}:function:{f}\",\"runtime\":\"python3.12\",\"handler\":\"app.handler\",\"codeSize\":{},\"timeout\":30,\"memorySize\":512,\"lastModified\":\"{}\",\"version\":\"{}\",\"state\":\"Active\"}}", cx.region, 10_000 + v % 5_000_000, time_string(t), 1 + v % 300);
                    Spec::new("lambda", "UpdateFunctionCode20150331v2")
                }
                1 => {
                    let _ = write!(x.req, "{{\"functionName\":\"{f}\",\"environment\":{{\"variables\":{{\"LOG_LEVEL\":\"info\",\"TABLE\":\"{app}-{env}\",\"STAGE\":\"{env}\"}}}},\"timeout\":30,\"memorySize\":512}}");
                    Spec::new("lambda", "UpdateFunctionConfiguration20150331v2")
                }
                _ => {
                    let principal = if v.is_multiple_of(8) { "*" } else { "s3.amazonaws.com" };
                    let _ = write!(x.req, "{{\"functionName\":\"{f}\",\"statementId\":\"{app}-invoke-{}\",\"action\":\"lambda:InvokeFunction\",\"principal\":\"{principal}\",\"sourceArn\":\"arn:aws:s3:::{app}-{env}-{acct}-0\"}}", v % 1000);
                    Spec::new("lambda", "AddPermission20150331v2")
                }
            }
        }
        (Seq::Idp, _) => match v % 3 {
            0 => {
                x.req.push_str("{\"url\":\"https://token.actions.githubusercontent.com\",\"clientIDList\":[\"sts.amazonaws.com\"],\"thumbprintList\":[\"6938fd4d98bab03faadb97b34396831e3780aea1\"]}");
                let _ = write!(x.resp, "{{\"openIDConnectProviderArn\":\"arn:aws:iam::{acct}:oidc-provider/token.actions.githubusercontent.com\"}}");
                iam("CreateOpenIDConnectProvider")
            }
            1 => {
                let _ = write!(x.req, "{{\"openIDConnectProviderArn\":\"arn:aws:iam::{acct}:oidc-provider/token.actions.githubusercontent.com\",\"thumbprintList\":[\"1c58a3a8518e8759bf075b76b750d4f2df264fcd\"]}}");
                iam("UpdateOpenIDConnectProviderThumbprint")
            }
            _ => {
                let _ =
                    write!(x.req, "{{\"sAMLMetadataDocument\":\"{}\",\"name\":\"{app}-okta\"}}", super::token(v, 1200));
                let _ = write!(x.resp, "{{\"sAMLProviderArn\":\"arn:aws:iam::{acct}:saml-provider/{app}-okta\"}}");
                iam("CreateSAMLProvider")
            }
        },
        (Seq::PolicyVersion, 0) => {
            let mut doc = String::new();
            policy_doc(v >> 9, app, env, &acct, &mut doc);
            Obj::new(&mut x.req)
                .str("policyArn", &format!("arn:aws:iam::{acct}:policy/{app}-{env}-access"))
                .str("policyDocument", &doc)
                .bool("setAsDefault", true)
                .end();
            let _ = write!(
                x.resp,
                "{{\"policyVersion\":{{\"versionId\":\"v{}\",\"isDefaultVersion\":true,\"createDate\":\"{}\"}}}}",
                2 + v % 4,
                iam_date_string(t)
            );
            iam("CreatePolicyVersion")
        }
        (Seq::PolicyVersion, _) => {
            let _ = write!(
                x.req,
                "{{\"policyArn\":\"arn:aws:iam::{acct}:policy/{app}-{env}-access\",\"versionId\":\"v{}\"}}",
                1 + v % 4
            );
            iam("DeletePolicyVersion")
        }
        (Seq::Login, _) => {
            let failed = v.is_multiple_of(20);
            Obj::new(&mut x.extra)
                .str("LoginTo", "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1")
                .str("MobileVersion", "No")
                .str("MFAUsed", if cx.p.kind == PKind::Sso || !v.is_multiple_of(3) { "Yes" } else { "No" })
                .end();
            x.resp.push_str(if failed { "{\"ConsoleLogin\":\"Failure\"}" } else { "{\"ConsoleLogin\":\"Success\"}" });
            let s = Spec::new("signin", "ConsoleLogin").region("us-east-1").kind(Kind::SignIn).console_agent();
            if failed {
                x.msg.push_str("Failed authentication");
                s.error("")
            } else {
                s
            }
        }
        (Seq::Federation, _) => {
            let name = format!("{app}-console-{}", v % 100);
            let _ = write!(
                x.req,
                "{{\"name\":\"{name}\",\"durationSeconds\":43200,\"policyArns\":[{{\"arn\":\"{}\"}}]}}",
                managed(v >> 3)
            );
            let mut key = String::new();
            key_id("ASIA", mix(v ^ 0x6664), &mut key);
            let _ = write!(x.resp, "{{\"credentials\":{{\"accessKeyId\":\"{key}\",\"sessionToken\":\"{}\",\"expiration\":\"{}\"}},\"federatedUser\":{{\"federatedUserId\":\"{acct}:{name}\",\"arn\":\"arn:aws:sts::{acct}:federated-user/{name}\"}},\"packedPolicySize\":6}}", super::token(v, 360), crate::json::expiration_string(t + 12 * 3_600_000));
            Spec::new("sts", "GetFederationToken")
        }
    }
}

const TYPES: [&str; 12] = [
    "t3.micro",
    "t3.medium",
    "m5.large",
    "m5.xlarge",
    "c5.2xlarge",
    "r5.large",
    "m6i.large",
    "c6g.xlarge",
    "t4g.small",
    "g5.xlarge",
    "p3.2xlarge",
    "m5.4xlarge",
];

fn run_instances(cx: &Ctx<'_>, v: u64, k: u8, rng: &mut Rng, x: &mut Scratch) -> Spec {
    let (app, env) = cx.p.app();
    let acct = &cx.s.account;
    let w = mix(v ^ u64::from(k) << 32);
    let ty = pick(&TYPES, v >> 6);
    let count = 1 + (w % 10).saturating_sub(6);
    let image = format!("ami-0{:016x}", mix(v ^ 0x616d69) >> 4);
    let token = super::uuid_from(w);
    let _ = write!(
        x.req,
        "{{\"instancesSet\":{{\"items\":[{{\"imageId\":\"{image}\",\"minCount\":1,\"maxCount\":{count}}}]}},\"instanceType\":\"{ty}\",\"blockDeviceMapping\":{{\"items\":[{{\"deviceName\":\"/dev/xvda\",\"ebs\":{{\"volumeSize\":{},\"deleteOnTermination\":true,\"volumeType\":\"gp3\",\"encrypted\":true}}}}]}},\"monitoring\":{{\"enabled\":false}},\"disableApiTermination\":false,\"disableApiStop\":false,\"clientToken\":\"{token}\",\"iamInstanceProfile\":{{\"name\":\"{app}-{env}-ec2\"}},\"subnetId\":\"subnet-0{:016x}\",\"tagSpecificationSet\":{{\"items\":[{{\"resourceType\":\"instance\",\"tags\":[{{\"key\":\"Name\",\"value\":\"{app}-{env}\"}},{{\"key\":\"team\",\"value\":\"{app}\"}}]}}]}},\"metadataOptions\":{{\"httpTokens\":\"required\",\"httpPutResponseHopLimit\":2}}}}",
        20 + w % 200,
        mix(v ^ 0x7375) >> 4
    );
    match w % 12 {
        0 => {
            x.msg.push_str("We currently do not have sufficient capacity in the Availability Zone you requested. Our system will be working on provisioning additional capacity.");
            return Spec::new("ec2", "RunInstances").error("Server.InsufficientInstanceCapacity");
        }
        1 if ty.starts_with('g') || ty.starts_with('p') => {
            x.msg.push_str("You have requested more vCPU capacity than your current vCPU limit of 8 allows for the instance bucket that the specified instance type belongs to.");
            return Spec::new("ec2", "RunInstances").error("Client.VcpuLimitExceeded");
        }
        2 if rng.random_bool(0.3) => return Spec::new("ec2", "RunInstances").denied(),
        _ => {}
    }
    let _ = write!(x.resp, "{{\"requestId\":\"{}\",\"reservationId\":\"r-0{:016x}\",\"ownerId\":\"{acct}\",\"groupSet\":{{}},\"instancesSet\":{{\"items\":[", super::uuid_from(w >> 1), w >> 4);
    for i in 0..count.min(4) {
        if i > 0 {
            x.resp.push(',');
        }
        let u = mix(w ^ i);
        let ip = format!("10.{}.{}.{}", u % 64, (u >> 8) & 255, 4 + (u >> 16) % 250);
        let _ = write!(
            x.resp,
            "{{\"instanceId\":\"i-0{:016x}\",\"imageId\":\"{image}\",\"currentInstanceBootMode\":\"legacy-bios\",\"instanceState\":{{\"code\":0,\"name\":\"pending\"}},\"privateDnsName\":\"ip-{}.ec2.internal\",\"amiLaunchIndex\":{i},\"productCodes\":{{}},\"instanceType\":\"{ty}\",\"launchTime\":{},\"placement\":{{\"availabilityZone\":\"{}a\",\"tenancy\":\"default\"}},\"monitoring\":{{\"state\":\"disabled\"}},\"subnetId\":\"subnet-0{:016x}\",\"vpcId\":\"vpc-0{:016x}\",\"privateIpAddress\":\"{ip}\",\"stateReason\":{{\"code\":\"pending\",\"message\":\"pending\"}},\"architecture\":\"x86_64\",\"rootDeviceType\":\"ebs\",\"rootDeviceName\":\"/dev/xvda\",\"blockDeviceMapping\":{{}},\"virtualizationType\":\"hvm\",\"clientToken\":\"{token}\",\"groupSet\":{{\"items\":[{{\"groupId\":\"sg-0{:016x}\",\"groupName\":\"{app}-{env}\"}}]}},\"sourceDestCheck\":true,\"hypervisor\":\"xen\",\"networkInterfaceSet\":{{\"items\":[{{\"networkInterfaceId\":\"eni-0{:016x}\",\"subnetId\":\"subnet-0{:016x}\",\"vpcId\":\"vpc-0{:016x}\",\"ownerId\":\"{acct}\",\"status\":\"in-use\",\"macAddress\":\"0e:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\",\"privateIpAddress\":\"{ip}\",\"sourceDestCheck\":true,\"interfaceType\":\"interface\"}}]}},\"ebsOptimized\":false,\"enaSupport\":true,\"cpuOptions\":{{\"coreCount\":1,\"threadsPerCore\":2}},\"capacityReservationSpecification\":{{\"capacityReservationPreference\":\"open\"}},\"enclaveOptions\":{{\"enabled\":false}},\"metadataOptions\":{{\"state\":\"pending\",\"httpTokens\":\"required\",\"httpPutResponseHopLimit\":2,\"httpEndpoint\":\"enabled\"}},\"maintenanceOptions\":{{\"autoRecovery\":\"default\"}}}}",
            u >> 4,
            ip.replace('.', "-"),
            cx.t,
            cx.region,
            mix(v ^ 0x7375) >> 4,
            mix(v ^ 0x767063) >> 4,
            mix(v ^ 0x7367) >> 4,
            mix(u) >> 4,
            mix(v ^ 0x7375) >> 4,
            mix(v ^ 0x767063) >> 4,
            u & 255,
            (u >> 8) & 255,
            (u >> 16) & 255,
            (u >> 24) & 255,
            (u >> 32) & 255
        );
    }
    x.resp.push_str("]},\"requesterId\":\"\"}");
    Spec::new("ec2", "RunInstances")
}

fn logging(cx: &Ctx<'_>, v: u64, k: u8, x: &mut Scratch) -> Spec {
    let (app, env) = cx.p.app();
    let acct = &cx.s.account;
    let trail = format!("arn:aws:cloudtrail:us-east-1:{acct}:trail/{app}-{env}-trail");
    match (logging_variant(v), k) {
        (0, 0) => {
            Obj::new(&mut x.req).str("name", &trail).end();
            Spec::new("cloudtrail", "StopLogging")
        }
        (0, _) => {
            Obj::new(&mut x.req).str("name", &trail).end();
            Spec::new("cloudtrail", "StartLogging")
        }
        (1, 0) => {
            let _ = write!(x.req, "{{\"name\":\"{app}-{env}-trail\",\"s3BucketName\":\"{app}-{env}-trail-{acct}\",\"isMultiRegionTrail\":true,\"includeGlobalServiceEvents\":true,\"enableLogFileValidation\":true}}");
            let _ = write!(x.resp, "{{\"name\":\"{app}-{env}-trail\",\"s3BucketName\":\"{app}-{env}-trail-{acct}\",\"trailARN\":\"{trail}\",\"isMultiRegionTrail\":true,\"logFileValidationEnabled\":true,\"isOrganizationTrail\":false}}");
            Spec::new("cloudtrail", "CreateTrail")
        }
        (1, _) => {
            Obj::new(&mut x.req).str("name", &trail).end();
            Spec::new("cloudtrail", "DeleteTrail")
        }
        (2, _) => {
            let selectors = if v.is_multiple_of(4) {
                "[{\"readWriteType\":\"All\",\"includeManagementEvents\":false,\"dataResources\":[],\"excludeManagementEventSources\":[]}]"
            } else {
                "[{\"readWriteType\":\"All\",\"includeManagementEvents\":true,\"dataResources\":[{\"type\":\"AWS::S3::Object\",\"values\":[\"arn:aws:s3\"]}],\"excludeManagementEventSources\":[]}]"
            };
            Obj::new(&mut x.req).str("trailName", &trail).raw("eventSelectors", selectors).end();
            Obj::new(&mut x.resp).str("trailARN", &trail).raw("eventSelectors", selectors).end();
            Spec::new("cloudtrail", "PutEventSelectors")
        }
        (3, _) => {
            let _ = write!(
                x.req,
                "{{\"DeleteFlowLogsRequest\":{{\"FlowLogId\":{{\"tag\":1,\"content\":\"fl-0{:016x}\"}}}}}}",
                v >> 4
            );
            x.resp.push_str("{\"DeleteFlowLogsResponse\":{\"xmlns\":\"http://ec2.amazonaws.com/doc/2016-11-15/\",\"unsuccessful\":\"\",\"requestId\":\"");
            x.resp.push_str(&super::uuid_from(v));
            x.resp.push_str("\"}}");
            Spec::new("ec2", "DeleteFlowLogs")
        }
        (4, _) => {
            let _ = write!(
                x.req,
                "{{\"detectorId\":\"{:032x}\",\"findingPublishingFrequency\":\"SIX_HOURS\",\"enable\":{}}}",
                u128::from(mix(v)) << 64 | u128::from(v),
                !v.is_multiple_of(5)
            );
            Spec::new("guardduty", "UpdateDetector")
        }
        (5, _) => {
            x.req.push_str("{\"configurationRecorderName\":\"default\"}");
            Spec::new("config", "StopConfigurationRecorder")
        }
        (6, _) => {
            let _ = write!(x.req, "{{\"logGroupName\":\"/aws/lambda/{app}-{env}-{}\"}}", v % 24);
            Spec::new("logs", "DeleteLogGroup")
        }
        (7, _) => {
            let _ = write!(x.req, "{{\"bucketName\":\"{app}-{env}-{acct}-{}\",\"Host\":\"{app}-{env}-{acct}-{}.s3.amazonaws.com\",\"lifecycle\":\"\",\"LifecycleConfiguration\":{{\"xmlns\":\"http://s3.amazonaws.com/doc/2006-03-01/\",\"Rule\":{{\"ID\":\"expire-tmp\",\"Status\":\"Enabled\",\"Filter\":{{\"Prefix\":\"tmp/\"}},\"Expiration\":{{\"Days\":{}}}}}}}}}", v % 24, v % 24, 1 + v % 90);
            Spec::new("s3", "PutBucketLifecycle")
        }
        _ => {
            let _ = write!(
                x.req,
                "{{\"name\":\"{trail}\",\"s3BucketName\":\"{app}-{env}-trail-{acct}\",\"isMultiRegionTrail\":true}}"
            );
            Spec::new("cloudtrail", "UpdateTrail")
        }
    }
}

fn bucket_policy(cx: &Ctx<'_>, v: u64, x: &mut Scratch) -> Spec {
    let (app, env) = cx.p.app();
    let acct = &cx.s.account;
    let bucket = format!("{app}-{env}-{acct}-{}", v % 24);
    let host = format!("{bucket}.s3.amazonaws.com");
    match (v >> 5) % 6 {
        0..=2 => {
            let principal = match v % 12 {
                0 => "\"*\"".to_string(),
                1..=3 => {
                    format!("{{\"AWS\":\"arn:aws:iam::{:012}:root\"}}", 100_000_000_000 + mix(v) % 899_999_999_999)
                }
                _ => format!(
                    "{{\"Service\":\"{}\"}}",
                    pick(
                        &["cloudtrail.amazonaws.com", "logging.s3.amazonaws.com", "delivery.logs.amazonaws.com"],
                        v >> 2
                    )
                ),
            };
            let _ = write!(
                x.req,
                "{{\"bucketPolicy\":{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Sid\":\"AllowWrite\",\"Effect\":\"Allow\",\"Principal\":{principal},\"Action\":[\"s3:PutObject\",\"s3:GetBucketAcl\"],\"Resource\":[\"arn:aws:s3:::{bucket}\",\"arn:aws:s3:::{bucket}/*\"],\"Condition\":{{\"StringEquals\":{{\"aws:SourceAccount\":\"{acct}\"}}}}}},{{\"Sid\":\"DenyInsecureTransport\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":[\"arn:aws:s3:::{bucket}\",\"arn:aws:s3:::{bucket}/*\"],\"Condition\":{{\"Bool\":{{\"aws:SecureTransport\":\"false\"}}}}}}]}},\"bucketName\":\"{bucket}\",\"Host\":\"{host}\",\"policy\":\"\"}}"
            );
            Spec::new("s3", "PutBucketPolicy")
        }
        3 => {
            let _ = write!(
                x.req,
                "{{\"bucketName\":\"{bucket}\",\"Host\":\"{host}\",\"acl\":\"\",\"x-amz-acl\":[\"{}\"]}}",
                if v.is_multiple_of(10) { "public-read" } else { "private" }
            );
            Spec::new("s3", "PutBucketAcl")
        }
        4 => {
            let _ = write!(x.req, "{{\"publicAccessBlock\":\"\",\"bucketName\":\"{bucket}\",\"Host\":\"{host}\",\"PublicAccessBlockConfiguration\":{{\"xmlns\":\"http://s3.amazonaws.com/doc/2006-03-01/\",\"RestrictPublicBuckets\":true,\"BlockPublicPolicy\":true,\"BlockPublicAcls\":true,\"IgnorePublicAcls\":true}}}}");
            Spec::new("s3", "PutBucketPublicAccessBlock")
        }
        _ => {
            let _ = write!(x.req, "{{\"bucketName\":\"{bucket}\",\"Host\":\"{host}\",\"policy\":\"\"}}");
            Spec::new("s3", "DeleteBucketPolicy")
        }
    }
}
