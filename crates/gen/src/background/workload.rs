//! Workload roles: EC2 instance profiles, Lambda functions and ECS tasks.
//!
//! Each holds a role session whose `ASIA` key rotates (instances hourly, Lambda on cold start,
//! ECS tasks hourly); every rotation is logged as the service's `AssumeRole`. The sessions are
//! registered in the estate (`instances`, `functions`, `tasks`) for scenarios to steal.
//! Instance sessions carry `sessionContext.ec2RoleDelivery` `"2.0"` (IMDSv2), as CloudTrail
//! records them. Besides, an ECS service of ten tasks is redeployed every few hours, each new
//! task reading its two secrets at start-up.

use rand::Rng as _;

use super::{exp, one_resource, pick, s3_fragments, sts_credentials_resp, uni, Scratch};
use crate::engine::{Cx, Emitter, Source};
use crate::estate::{
    private_ip, public_ip, session_key, unique_id, Estate, SessionCred, AWS_OCTETS, DEV, PROD, SHARED, STAGING,
};
use crate::event::{Call, Host, Kind};
use crate::identity::{assumed_role, aws_service, Role, SessionOpts};
use crate::json::{hex, uuid, Obj};
use crate::Rng;
use trailhound_model::time::{HOUR, MINUTE, SECOND};

/// User agent of the Java application servers.
pub(crate) const UA_JAVA: &str = "aws-sdk-java/2.28.16 Linux/6.1.109-118.189.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/21.0.4+7-LTS Java/21.0.4 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy cfg/auth-source#imds";
/// User agent of the Python workers on EC2.
pub(crate) const UA_BOTO_EC2: &str = "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.1.109-118.189.amzn2023.x86_64 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.36";
/// User agent of the SSM agent on every instance.
pub(crate) const UA_SSM: &str = "aws-sdk-go/1.55.5 (go1.22.7; linux; amd64) amazon-ssm-agent/3.3.987.0";
/// User agent of the Python Lambda functions.
pub(crate) const UA_LAMBDA: &str = "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.227-239.884.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.145";

/// Emits the `AssumeRole` an AWS service makes to hand a workload its role session.
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit_service_assume(
    em: &mut Emitter,
    rng: &mut Rng,
    s: &mut Scratch,
    t: i64,
    service: &str,
    role: &Role,
    session: &str,
    key: &str,
    region: &str,
) {
    let ident = aws_service(service);
    let role_arn = role.arn();
    Obj::new(&mut s.req).str("roleArn", &role_arn).str("roleSessionName", session).num("durationSeconds", 3600).end();
    let assumed_id = format!("{}:{}", role.pid, session);
    sts_credentials_resp(&mut s.resp, key, t + HOUR, &role.session_arn(session), &assumed_id);
    one_resource(&mut s.res, &role.account, "AWS::IAM::Role", &role_arn);
    em.bg(
        &Call::new(t, &ident, "sts", "AssumeRole", region, service, service, &role.account)
            .req(&s.req)
            .resp(&s.resp)
            .resources(&s.res)
            .host(Host::None),
        rng,
    );
}

fn role(est: &Estate, rng: &mut Rng, account: usize, name: &str) -> Role {
    Role {
        account: est.id(account).to_string(),
        name: name.to_string(),
        path: "/".to_string(),
        pid: unique_id(rng, "AROA"),
    }
}

/// Per-workload names of the things it touches.
struct Resources {
    bucket: String,
    secret: String,
    param: String,
    kms_arn: String,
}

impl Resources {
    fn new(est: &Estate, rng: &mut Rng, account: usize, region: &str, app: &str) -> Self {
        let acct = est.id(account);
        let env = est.accounts[account].name;
        Resources {
            bucket: format!("{app}-{env}-{acct}"),
            secret: format!("{env}/{app}/db-credentials"),
            param: format!("/{app}/{env}/config"),
            kms_arn: format!("arn:aws:kms:{region}:{acct}:key/{}", uuid(rng)),
        }
    }
}

#[derive(Clone, Copy)]
enum Op {
    Secret,
    Decrypt,
    GenKey,
    Param,
    S3Get,
    S3Put,
    SsmPing,
    WhoAmI,
    Tags,
}

/// Emits one workload call with the session identity `ident`.
#[allow(clippy::too_many_arguments)]
fn emit_op(
    em: &mut Emitter,
    rng: &mut Rng,
    s: &mut Scratch,
    op: Op,
    t: i64,
    ident: &str,
    account: &str,
    region: &str,
    ip: &str,
    s3_ip: &str,
    vpce: &str,
    ua: &str,
    r: &Resources,
    instance: &str,
) {
    match op {
        Op::Secret => {
            Obj::new(&mut s.req).str("secretId", &r.secret).end();
            let mut c = Call::new(t, ident, "secretsmanager", "GetSecretValue", region, ip, ua, account).req(&s.req);
            if rng.random_bool(0.0002) {
                c = c.err("AccessDenied", "User is not authorized to perform: secretsmanager:GetSecretValue because no identity-based policy allows the secretsmanager:GetSecretValue action");
            }
            em.bg(&c, rng);
        }
        Op::Decrypt | Op::GenKey => {
            let name = if matches!(op, Op::Decrypt) { "Decrypt" } else { "GenerateDataKey" };
            let o = Obj::new(&mut s.req).str("encryptionAlgorithm", "SYMMETRIC_DEFAULT");
            if matches!(op, Op::GenKey) {
                o.str("keyId", &r.kms_arn).str("keySpec", "AES_256").end();
            } else {
                o.end();
            }
            one_resource(&mut s.res, account, "AWS::KMS::Key", &r.kms_arn);
            let mut c = Call::new(t, ident, "kms", name, region, ip, ua, account).req(&s.req).resources(&s.res);
            if rng.random_bool(0.0005) {
                c = c.err("ThrottlingException", "Rate exceeded");
            }
            em.bg(&c, rng);
        }
        Op::Param => {
            Obj::new(&mut s.req).str("name", &r.param).bool("withDecryption", true).end();
            em.bg(&Call::new(t, ident, "ssm", "GetParameter", region, ip, ua, account).req(&s.req), rng);
        }
        Op::S3Get | Op::S3Put => {
            let put = matches!(op, Op::S3Put);
            let key = if put {
                format!("out/{}/{}.json", t / HOUR, hex(rng, 12))
            } else {
                format!("in/batch-{:04}.json", rng.random_range(0..2000))
            };
            let size = rng.random_range(400..250_000);
            let (bin, bout) = if put { (size, 0) } else { (0, size) };
            s3_fragments(s, account, region, &r.bucket, &key, "", bin, bout);
            let name = if put { "PutObject" } else { "GetObject" };
            let mut c = Call::new(t, ident, "s3", name, region, s3_ip, ua, account)
                .req(&s.req)
                .extra(&s.extra)
                .resources(&s.res)
                .kind(Kind::Data)
                .host(Host::Custom(&s.host));
            if !vpce.is_empty() {
                c = c.vpce(vpce);
            }
            em.bg(&c, rng);
        }
        Op::SsmPing => {
            Obj::new(&mut s.req)
                .str("instanceId", instance)
                .str("agentVersion", "3.3.987.0")
                .str("agentStatus", "Active")
                .str("platformType", "Linux")
                .str("platformName", "Amazon Linux")
                .str("platformVersion", "2023")
                .str("agentName", "amazon-ssm-agent")
                .end();
            em.bg(
                &Call::new(t, ident, "ssm", "UpdateInstanceInformation", region, ip, UA_SSM, account).req(&s.req),
                rng,
            );
        }
        Op::WhoAmI => {
            em.bg(&Call::new(t, ident, "sts", "GetCallerIdentity", region, ip, ua, account), rng);
        }
        Op::Tags => {
            s.req.clear();
            s.req.push_str(
                "{\"filterSet\":{\"items\":[{\"name\":\"resource-id\",\"valueSet\":{\"items\":[{\"value\":\"",
            );
            s.req.push_str(instance);
            s.req.push_str("\"}]}}]}}");
            em.bg(&Call::new(t, ident, "ec2", "DescribeTags", region, ip, ua, account).req(&s.req), rng);
        }
    }
}

/// Session options of instance-profile credentials (delivered by IMDSv2).
const IMDS: SessionOpts<'static> =
    SessionOpts { mfa: false, web_provider: None, invoked_by: None, ec2_role_delivery: Some("2.0") };

/// An EC2 instance using its instance-profile role.
pub(crate) struct Ec2 {
    account: usize,
    region: &'static str,
    role: Role,
    instance: String,
    private_ip: String,
    nat_ip: String,
    vpce: String,
    slot: usize,
    rotate_at: i64,
    ua: &'static str,
    res: Resources,
    mean_gap: f64,
    ops: &'static [(u32, Op)],
    s: Scratch,
}

const APP_OPS: [(u32, Op); 8] = [
    (15, Op::Secret),
    (25, Op::Decrypt),
    (12, Op::Param),
    (25, Op::S3Get),
    (10, Op::S3Put),
    (2, Op::SsmPing),
    (1, Op::WhoAmI),
    (2, Op::Tags),
];

const SYNC_HOST_OPS: [(u32, Op); 4] = [(5, Op::Param), (2, Op::SsmPing), (1, Op::WhoAmI), (2, Op::Decrypt)];

impl Ec2 {
    #[allow(clippy::too_many_arguments)]
    fn new(
        est: &mut Estate,
        rng: &mut Rng,
        start: i64,
        account: usize,
        role_name: &str,
        app: &str,
        ua: &'static str,
        mean_gap: f64,
    ) -> Self {
        let region = est.accounts[account].region;
        let role = role(est, rng, account, role_name);
        let instance = format!("i-{}", hex(rng, 17));
        let created = start - uni(rng, 0, 55 * MINUTE);
        let key = session_key(rng);
        let ident = assumed_role(&role, &instance, &key, created, IMDS);
        let slot = est.instances.len();
        est.instances.push(SessionCred { account, key, ident, arn: role.session_arn(&instance), created, region });
        let res = Resources::new(est, rng, account, region, app);
        Ec2 {
            account,
            region,
            instance,
            private_ip: private_ip(rng),
            nat_ip: est.accounts[account].nat_ip.clone(),
            vpce: est.accounts[account].vpce.clone(),
            slot,
            rotate_at: created + uni(rng, 55 * MINUTE, 65 * MINUTE),
            ua,
            res,
            mean_gap,
            ops: &APP_OPS,
            role,
            s: Scratch::default(),
        }
    }
}

impl Source for Ec2 {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        if now >= self.rotate_at {
            let key = session_key(cx.rng);
            emit_service_assume(
                cx.em,
                cx.rng,
                &mut self.s,
                now,
                "ec2.amazonaws.com",
                &self.role,
                &self.instance,
                &key,
                self.region,
            );
            let created = now + SECOND;
            let ident = assumed_role(&self.role, &self.instance, &key, created, IMDS);
            let slot = &mut cx.est.instances[self.slot];
            slot.key = key;
            slot.ident = ident;
            slot.created = created;
            self.rotate_at = created + uni(cx.rng, 55 * MINUTE, 65 * MINUTE);
            return created + uni(cx.rng, 0, 3 * SECOND);
        }
        let op = *pick(cx.rng, self.ops);
        let sess = &cx.est.instances[self.slot];
        emit_op(
            cx.em,
            cx.rng,
            &mut self.s,
            op,
            now,
            &sess.ident,
            &cx.est.accounts[self.account].id,
            self.region,
            &self.nat_ip,
            &self.private_ip,
            &self.vpce,
            self.ua,
            &self.res,
            &self.instance,
        );
        now + 1 + exp(cx.rng, self.mean_gap)
    }
}

/// A Lambda function: a session per cold start, a few calls per invocation.
pub(crate) struct Lambda {
    account: usize,
    slot: usize,
    region: &'static str,
    role: Role,
    name: String,
    ident: String,
    ip: String,
    cold_at: i64,
    res: Resources,
    mean_gap: f64,
    s: Scratch,
}

const LAMBDA_OPS: [(u32, Op); 4] = [(40, Op::S3Get), (25, Op::S3Put), (20, Op::GenKey), (15, Op::Decrypt)];

impl Source for Lambda {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let mut t = now;
        if now >= self.cold_at || self.ident.is_empty() {
            let key = session_key(cx.rng);
            emit_service_assume(
                cx.em,
                cx.rng,
                &mut self.s,
                now,
                "lambda.amazonaws.com",
                &self.role,
                &self.name,
                &key,
                self.region,
            );
            t = now + uni(cx.rng, 200, 900);
            self.ident = assumed_role(&self.role, &self.name, &key, t, SessionOpts::default());
            let slot = &mut cx.est.functions[self.slot];
            slot.key = key;
            slot.ident.clone_from(&self.ident);
            slot.created = t;
            self.ip = public_ip(cx.rng, &AWS_OCTETS);
            self.cold_at = now + 5 * MINUTE + exp(cx.rng, 25.0 * MINUTE as f64);
            t += uni(cx.rng, 100, 600);
            let acct = &cx.est.accounts[self.account].id;
            emit_op(
                cx.em,
                cx.rng,
                &mut self.s,
                Op::Secret,
                t,
                &self.ident,
                acct,
                self.region,
                &self.ip,
                &self.ip,
                "",
                UA_LAMBDA,
                &self.res,
                "",
            );
        }
        let acct = &cx.est.accounts[self.account].id;
        let calls = cx.rng.random_range(1..=3);
        for _ in 0..calls {
            t += uni(cx.rng, 20, 400);
            let op = *pick(cx.rng, &LAMBDA_OPS);
            emit_op(
                cx.em,
                cx.rng,
                &mut self.s,
                op,
                t,
                &self.ident,
                acct,
                self.region,
                &self.ip,
                &self.ip,
                "",
                UA_LAMBDA,
                &self.res,
                "",
            );
        }
        now + 1 + exp(cx.rng, self.mean_gap)
    }
}

/// An ECS (Fargate) task using its task role.
pub(crate) struct Ecs {
    account: usize,
    slot: usize,
    region: &'static str,
    role: Role,
    task: String,
    ident: String,
    rotate_at: i64,
    replace_at: i64,
    uas: [(&'static str, String); 4],
    res: Resources,
    mean_gap: f64,
    s: Scratch,
}

const ECS_OPS: [(u32, Op); 5] =
    [(10, Op::Secret), (30, Op::GenKey), (20, Op::Decrypt), (25, Op::S3Put), (15, Op::S3Get)];

impl Source for Ecs {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        if now >= self.replace_at {
            self.task = hex(cx.rng, 32);
            self.replace_at = now + 2 * HOUR + exp(cx.rng, 3.0 * HOUR as f64);
            self.rotate_at = now;
        }
        if now >= self.rotate_at || self.ident.is_empty() {
            let key = session_key(cx.rng);
            emit_service_assume(
                cx.em,
                cx.rng,
                &mut self.s,
                now,
                "ecs-tasks.amazonaws.com",
                &self.role,
                &self.task,
                &key,
                self.region,
            );
            let created = now + SECOND;
            self.ident = assumed_role(&self.role, &self.task, &key, created, SessionOpts::default());
            let slot = &mut cx.est.tasks[self.slot];
            slot.key = key;
            slot.ident.clone_from(&self.ident);
            slot.arn = self.role.session_arn(&self.task);
            slot.created = created;
            self.rotate_at = created + uni(cx.rng, 55 * MINUTE, 65 * MINUTE);
            return created + uni(cx.rng, 0, 2 * SECOND);
        }
        let op = *pick(cx.rng, &ECS_OPS);
        let svc = match op {
            Op::Secret => "secretsmanager",
            Op::GenKey | Op::Decrypt => "kms",
            _ => "s3",
        };
        let ua = self.uas.iter().find(|(s, _)| *s == svc).map_or("", |(_, u)| u.as_str());
        let acct = &cx.est.accounts[self.account];
        emit_op(
            cx.em,
            cx.rng,
            &mut self.s,
            op,
            now,
            &self.ident,
            &acct.id,
            self.region,
            &acct.nat_ip,
            &acct.nat_ip,
            "",
            ua,
            &self.res,
            "",
        );
        now + 1 + exp(cx.rng, self.mean_gap)
    }
}

/// An ECS service of ten Fargate tasks. Every deployment replaces all ten within a minute;
/// each new task gets its own task-role session and reads the service's two secrets at
/// start-up: twenty `GetSecretValue` calls by one role in a minute, from ten sessions (a
/// benign look-alike of credential harvesting).
pub(crate) struct EcsService {
    account: usize,
    region: &'static str,
    role: Role,
    secrets: [String; 2],
    ua: String,
    s: Scratch,
}

impl Source for EcsService {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let acct = &cx.est.accounts[self.account];
        let (id, nat) = (acct.id.as_str(), acct.nat_ip.as_str());
        for _ in 0..10 {
            let start = now + uni(cx.rng, 0, 60 * SECOND);
            let task = hex(cx.rng, 32);
            let key = session_key(cx.rng);
            emit_service_assume(
                cx.em,
                cx.rng,
                &mut self.s,
                start,
                "ecs-tasks.amazonaws.com",
                &self.role,
                &task,
                &key,
                self.region,
            );
            let created = start + SECOND;
            let ident = assumed_role(&self.role, &task, &key, created, SessionOpts::default());
            let mut t = created + uni(cx.rng, 800, 4_000);
            for secret in &self.secrets {
                Obj::new(&mut self.s.req).str("secretId", secret).end();
                cx.em.bg(
                    &Call::new(t, &ident, "secretsmanager", "GetSecretValue", self.region, nat, &self.ua, id)
                        .req(&self.s.req),
                    cx.rng,
                );
                t += uni(cx.rng, 20, 250);
            }
        }
        now + 2 * HOUR + exp(cx.rng, 2.0 * HOUR as f64)
    }
}

fn go_ua(svc: &str, version: &str) -> String {
    format!("aws-sdk-go-v2/1.32.2 ua/2.1 os/linux lang/go#1.23.2 md/GOOS#linux md/GOARCH#amd64 api/{svc}#{version} exec-env/AWS_ECS_FARGATE")
}

/// Creates the workloads: app servers and workers on EC2, Lambda functions and ECS tasks.
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64, out: &mut Vec<(i64, Box<dyn Source>)>) {
    let ec2_plan: [(usize, usize, &str, &str, &'static str); 6] = [
        (PROD, 4, "payments-app-role", "payments", UA_JAVA),
        (PROD, 2, "worker-role", "reports", UA_BOTO_EC2),
        (STAGING, 2, "payments-app-role", "payments", UA_JAVA),
        (STAGING, 1, "worker-role", "reports", UA_BOTO_EC2),
        (DEV, 2, "payments-app-role", "payments", UA_JAVA),
        (SHARED, 2, "tooling-role", "tooling", UA_BOTO_EC2),
    ];
    for (account, n, role_name, app, ua) in ec2_plan {
        for _ in 0..n {
            let src = Ec2::new(est, rng, start, account, role_name, app, ua, 2_400.0);
            out.push((start + uni(rng, 0, 5 * SECOND), Box::new(src)));
        }
    }
    // The data-sync host in shared services: its role session is also used by an S3 sync job.
    let mut sync_host = Ec2::new(est, rng, start, SHARED, "data-sync-role", "data-sync", UA_BOTO_EC2, 30_000.0);
    sync_host.ops = &SYNC_HOST_OPS;
    out.push((start + uni(rng, 0, 5 * SECOND), Box::new(sync_host)));

    let lambdas: [(usize, &str); 6] = [
        (PROD, "orders-ingest"),
        (PROD, "invoice-render"),
        (PROD, "webhook-dispatch"),
        (STAGING, "orders-ingest"),
        (STAGING, "invoice-render"),
        (DEV, "orders-ingest"),
    ];
    for (account, name) in lambdas {
        let region = est.accounts[account].region;
        let role = role(est, rng, account, &format!("{name}-role"));
        let res = Resources::new(est, rng, account, region, name);
        let slot = est.functions.len();
        est.functions.push(SessionCred { account, arn: role.session_arn(name), region, ..SessionCred::default() });
        let src = Lambda {
            account,
            slot,
            region,
            role,
            name: name.to_string(),
            ident: String::new(),
            ip: String::new(),
            cold_at: start,
            res,
            mean_gap: if account == PROD { 2_500.0 } else { 6_000.0 },
            s: Scratch::default(),
        };
        out.push((start + uni(rng, 0, 10 * SECOND), Box::new(src)));
    }

    let tasks: [(usize, &str); 6] = [
        (PROD, "orders-api"),
        (PROD, "orders-api"),
        (PROD, "ledger-sync"),
        (PROD, "notifier"),
        (STAGING, "orders-api"),
        (STAGING, "ledger-sync"),
    ];
    for (account, name) in tasks {
        let region = est.accounts[account].region;
        let role = role(est, rng, account, &format!("{name}-task-role"));
        let res = Resources::new(est, rng, account, region, name);
        let slot = est.tasks.len();
        est.tasks.push(SessionCred { account, region, ..SessionCred::default() });
        let src = Ecs {
            account,
            slot,
            region,
            role,
            task: hex(rng, 32),
            ident: String::new(),
            rotate_at: start,
            replace_at: start + exp(rng, 3.0 * HOUR as f64),
            uas: [
                ("kms", go_ua("kms", "1.37.2")),
                ("s3", go_ua("s3", "1.65.3")),
                ("secretsmanager", go_ua("secretsmanager", "1.34.2")),
                ("sts", go_ua("sts", "1.32.2")),
            ],
            res,
            mean_gap: 3_500.0,
            s: Scratch::default(),
        };
        out.push((start + uni(rng, 0, 10 * SECOND), Box::new(src)));
    }

    let env = est.accounts[PROD].name;
    let svc = EcsService {
        account: PROD,
        region: est.accounts[PROD].region,
        role: role(est, rng, PROD, "checkout-api-task-role"),
        secrets: [format!("{env}/checkout-api/db-credentials"), format!("{env}/checkout-api/stripe-api-key")],
        ua: go_ua("secretsmanager", "1.34.2"),
        s: Scratch::default(),
    };
    out.push((start + uni(rng, 5 * MINUTE, 60 * MINUTE), Box::new(svc)));
}
