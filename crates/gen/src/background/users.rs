//! Programmatic IAM users with long-lived `AKIA` keys: a backup job, a legacy reporting app,
//! an old Jenkins; all registered in [`Estate::users`] (the victims of key theft). Each rotates
//! its key about daily from its own host (`CreateAccessKey` for itself, `DeleteAccessKey` of
//! the old key, the new key used from the same address).

use rand::Rng as _;

use super::{exp, one_resource, pick, s3_fragments, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{public_ip, unique_id, user_key, Estate, UserCred, DEV, PROD, SHARED, STAGING};
use crate::event::{Call, Host, Kind};
use crate::identity::iam_user;
use crate::json::{hex, Obj};
use crate::Rng;
use trailhound_model::time::{HOUR, MINUTE, SECOND};

/// User agent of the backup job.
pub(crate) const UA_BACKUP: &str = "Boto3/1.26.165 md/Botocore#1.29.165 ua/2.0 os/linux#5.10.220-209.869.amzn2.x86_64 md/arch#x86_64 lang/python#3.9.16 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.29.165";
/// User agent of the legacy reporting app.
pub(crate) const UA_LEGACY: &str = "aws-sdk-java/1.12.261 Linux/4.14.336-257.562.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/11.0.22+7-LTS java/11.0.22 vendor/Amazon.com_Inc. cfg/retry-mode/standard";
/// User agent of the old Jenkins.
pub(crate) const UA_JENKINS: &str = "aws-cli/1.29.62 Python/3.8.10 Linux/5.4.0-1103-aws botocore/1.31.62";
/// First octets of the on-premises data centre's addresses.
pub(crate) const DC_OCTETS: [u8; 4] = [63, 66, 98, 199];

#[derive(Clone, Copy)]
enum Job {
    Backup,
    Legacy,
    Jenkins,
}

/// One programmatic user's regular activity.
pub(crate) struct User {
    idx: usize,
    job: Job,
    ip: String,
    ua: &'static str,
    bucket: String,
    volumes: Vec<String>,
    old_snaps: Vec<String>,
    rotate_at: i64,
    s: Scratch,
}

/// Registers a programmatic user and returns its index in [`Estate::users`].
pub(crate) fn register(est: &mut Estate, rng: &mut Rng, account: usize, name: &str) -> usize {
    let acct = est.id(account).to_string();
    let key = user_key(rng);
    let pid = unique_id(rng, "AIDA");
    let ident = iam_user(&acct, name, &pid, &key);
    let region = est.accounts[account].region;
    est.users.push(UserCred { account, name: name.to_string(), pid, key, ident, region });
    est.users.len() - 1
}

impl User {
    /// Rotates the user's key from the job's own host: `ListAccessKeys` and `CreateAccessKey`
    /// (`userName` = itself) with the old key, then, once the new key works,
    /// `DeleteAccessKey` of the old one with the new key; the job carries on with the new key
    /// from the same address.
    fn rotate(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let u = &cx.est.users[self.idx];
        let acct = cx.est.accounts[u.account].id.clone();
        let (old_key, old_ident, name, pid) = (u.key.clone(), u.ident.clone(), u.name.clone(), u.pid.clone());
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let (ip, ua) = (self.ip.as_str(), self.ua);
        let new_key = user_key(rng);
        let new_ident = iam_user(&acct, &name, &pid, &new_key);
        let mut t = now;
        Obj::new(&mut s.req).str("userName", &name).end();
        em.bg(&Call::new(t, &old_ident, "iam", "ListAccessKeys", "us-east-1", ip, ua, &acct).req(&s.req), rng);
        t += uni(rng, 300, 1_500);
        Obj::new(&mut s.resp)
            .obj("accessKey", |k| {
                k.str("userName", &name)
                    .str("accessKeyId", &new_key)
                    .str("status", "Active")
                    .str("createDate", &crate::json::iam_date_string(t))
            })
            .end();
        em.bg(
            &Call::new(t, &old_ident, "iam", "CreateAccessKey", "us-east-1", ip, ua, &acct).req(&s.req).resp(&s.resp),
            rng,
        );
        t += uni(rng, 8 * SECOND, 30 * SECOND);
        Obj::new(&mut s.req).str("userName", &name).str("accessKeyId", &old_key).end();
        em.bg(&Call::new(t, &new_ident, "iam", "DeleteAccessKey", "us-east-1", ip, ua, &acct).req(&s.req), rng);
        let u = &mut cx.est.users[self.idx];
        u.key = new_key;
        u.ident = new_ident;
        self.rotate_at = now + 20 * HOUR + exp(rng, 24.0 * HOUR as f64);
        t + uni(rng, SECOND, 10 * SECOND)
    }
}

impl Source for User {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        if now >= self.rotate_at {
            return self.rotate(now, cx);
        }
        let u = &cx.est.users[self.idx];
        let acct = cx.est.accounts[u.account].id.as_str();
        let (ident, region, ip, ua) = (u.ident.as_str(), u.region, self.ip.as_str(), self.ua);
        let s = &mut self.s;
        let (em, rng) = (&mut *cx.em, &mut *cx.rng);
        let mut t = now;
        match self.job {
            Job::Backup => {
                s.req.clear();
                s.req.push_str("{\"filterSet\":{\"items\":[{\"name\":\"tag:backup\",\"valueSet\":{\"items\":[{\"value\":\"daily\"}]}}]}}");
                em.bg(&Call::new(t, ident, "ec2", "DescribeVolumes", region, ip, ua, acct).req(&s.req), rng);
                let n = rng.random_range(1..=self.volumes.len().min(3));
                for v in 0..n {
                    t += uni(rng, 300, 1500);
                    let snap = format!("snap-{}", hex(rng, 17));
                    Obj::new(&mut s.req).str("volumeId", &self.volumes[v]).str("description", "backup-job daily").end();
                    Obj::new(&mut s.resp)
                        .str("snapshotId", &snap)
                        .str("volumeId", &self.volumes[v])
                        .str("status", "pending")
                        .num("startTime", t)
                        .str("ownerId", acct)
                        .num("volumeSize", 100)
                        .bool("encrypted", true)
                        .end();
                    em.bg(
                        &Call::new(t, ident, "ec2", "CreateSnapshot", region, ip, ua, acct).req(&s.req).resp(&s.resp),
                        rng,
                    );
                    t += uni(rng, 100, 400);
                    s.req.clear();
                    s.req.push_str("{\"resourcesSet\":{\"items\":[{\"resourceId\":\"");
                    s.req.push_str(&snap);
                    s.req.push_str("\"}]},\"tagSet\":{\"items\":[{\"key\":\"created-by\",\"value\":\"backup-job\"}]}}");
                    em.bg(
                        &Call::new(t, ident, "ec2", "CreateTags", region, ip, ua, acct)
                            .req(&s.req)
                            .resp("{\"_return\":true}"),
                        rng,
                    );
                    self.old_snaps.push(snap);
                }
                t += uni(rng, 1000, 4000);
                em.bg(
                    &Call::new(t, ident, "ec2", "DescribeSnapshots", region, ip, ua, acct)
                        .req("{\"ownerSet\":{\"items\":[{\"owner\":\"self\"}]},\"sharedUsers\":{},\"filterSet\":{}}"),
                    rng,
                );
                while self.old_snaps.len() > 6 {
                    let snap = self.old_snaps.remove(0);
                    t += uni(rng, 200, 900);
                    Obj::new(&mut s.req).str("snapshotId", &snap).end();
                    em.bg(
                        &Call::new(t, ident, "ec2", "DeleteSnapshot", region, ip, ua, acct)
                            .req(&s.req)
                            .resp("{\"_return\":true}"),
                        rng,
                    );
                }
                now + uni(rng, 8 * MINUTE, 12 * MINUTE)
            }
            Job::Legacy => {
                let op = *pick(rng, &[(40u32, 0u8), (20, 1), (10, 2), (30, 3)]);
                match op {
                    0 => {
                        Obj::new(&mut s.req).str("name", "/reporting/jdbc-url").bool("withDecryption", false).end();
                        let mut c = Call::new(t, ident, "ssm", "GetParameter", region, ip, ua, acct).req(&s.req);
                        if rng.random_bool(0.01) {
                            c = c.err("ParameterNotFound", "Parameter /reporting/jdbc-url not found.");
                        }
                        em.bg(&c, rng);
                    }
                    1 => {
                        Obj::new(&mut s.req).str("secretId", "reporting/db").end();
                        let mut c =
                            Call::new(t, ident, "secretsmanager", "GetSecretValue", region, ip, ua, acct).req(&s.req);
                        if rng.random_bool(0.003) {
                            c = c.err("AccessDenied", "User is not authorized to perform: secretsmanager:GetSecretValue on resource: reporting/db because no identity-based policy allows the secretsmanager:GetSecretValue action");
                        }
                        em.bg(&c, rng);
                    }
                    2 => {
                        em.bg(
                            &Call::new(t, ident, "rds", "DescribeDBInstances", region, ip, ua, acct)
                                .req("{\"dBInstanceIdentifier\":\"reporting-replica\"}"),
                            rng,
                        );
                    }
                    _ => {
                        let key = format!("reports/{}/daily-{:03}.csv", t / HOUR, rng.random_range(0..400));
                        s3_fragments(s, acct, region, &self.bucket, &key, "", 0, rng.random_range(1_000..900_000));
                        em.bg(
                            &Call::new(t, ident, "s3", "GetObject", region, ip, ua, acct)
                                .req(&s.req)
                                .extra(&s.extra)
                                .resources(&s.res)
                                .kind(Kind::Data)
                                .host(Host::Custom(&s.host)),
                            rng,
                        );
                    }
                }
                now + 5 * SECOND + exp(rng, 90_000.0)
            }
            Job::Jenkins => {
                em.bg(&Call::new(t, ident, "sts", "GetCallerIdentity", region, ip, ua, acct), rng);
                t += uni(rng, 500, 2000);
                em.bg(&Call::new(t, ident, "ecr", "GetAuthorizationToken", region, ip, ua, acct).read_only(true), rng);
                let build = rng.random_range(1000..9999);
                for i in 0..rng.random_range(2..=4) {
                    t += uni(rng, 2000, 9000);
                    let key = format!("builds/orders-ingest/{build}/artifact-{i}.zip");
                    s3_fragments(s, acct, region, &self.bucket, &key, "", rng.random_range(100_000..9_000_000), 0);
                    em.bg(
                        &Call::new(t, ident, "s3", "PutObject", region, ip, ua, acct)
                            .req(&s.req)
                            .extra(&s.extra)
                            .resources(&s.res)
                            .kind(Kind::Data)
                            .host(Host::Custom(&s.host)),
                        rng,
                    );
                }
                t += uni(rng, 1000, 3000);
                let fn_arn = format!("arn:aws:lambda:{region}:{acct}:function:orders-ingest");
                Obj::new(&mut s.req)
                    .str("functionName", "orders-ingest")
                    .str("s3Bucket", &self.bucket)
                    .str("s3Key", &format!("builds/orders-ingest/{build}/artifact-0.zip"))
                    .bool("publish", false)
                    .end();
                one_resource(&mut s.res, acct, "AWS::Lambda::Function", &fn_arn);
                em.bg(
                    &Call::new(t, ident, "lambda", "UpdateFunctionCode20150331v2", region, ip, ua, acct)
                        .req(&s.req)
                        .resources(&s.res),
                    rng,
                );
                t += uni(rng, 1000, 3000);
                em.bg(
                    &Call::new(t, ident, "lambda", "GetFunctionConfiguration20150331v2", region, ip, ua, acct)
                        .req("{\"functionName\":\"orders-ingest\"}"),
                    rng,
                );
                now + 15 * MINUTE + exp(rng, 20.0 * MINUTE as f64)
            }
        }
    }
}

/// Creates the programmatic users (plus the `s3-sync` user whose bursts live in `s3sync`).
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64, out: &mut Vec<(i64, Box<dyn Source>)>) {
    let plan: [(usize, &str, Job); 5] = [
        (SHARED, "backup-job", Job::Backup),
        (PROD, "backup-job", Job::Backup),
        (PROD, "legacy-reporting", Job::Legacy),
        (STAGING, "legacy-reporting", Job::Legacy),
        (DEV, "jenkins-legacy", Job::Jenkins),
    ];
    for (i, (account, name, job)) in plan.into_iter().enumerate() {
        let idx = register(est, rng, account, name);
        let (ip, ua) = match job {
            Job::Backup => (est.accounts[account].nat_ip.clone(), UA_BACKUP),
            Job::Legacy => (public_ip(rng, &DC_OCTETS), UA_LEGACY),
            Job::Jenkins => (public_ip(rng, &DC_OCTETS), UA_JENKINS),
        };
        let env = est.accounts[account].name;
        let bucket = match job {
            Job::Jenkins => format!("build-artifacts-{}", est.id(account)),
            _ => format!("reporting-{env}-{}", est.id(account)),
        };
        let volumes = (0..4).map(|_| format!("vol-{}", hex(rng, 17))).collect();
        let first = match job {
            Job::Backup => start + uni(rng, 0, 10 * MINUTE),
            Job::Legacy => start + uni(rng, 0, 2 * MINUTE),
            Job::Jenkins => start + uni(rng, 0, 30 * MINUTE),
        };
        // Staggered: the first user rotates within two hours of the start, the others later.
        let rotate_at = start + 30 * MINUTE + i as i64 * 3 * HOUR + uni(rng, 0, 90 * MINUTE);
        let src = User { idx, job, ip, ua, bucket, volumes, old_snaps: Vec::new(), rotate_at, s: Scratch::default() };
        out.push((first, Box::new(src)));
    }
}
