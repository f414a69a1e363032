//! S3 sync jobs: bursts of data-plane events (`ListObjects`, `HeadObject`, `GetObject`,
//! `PutObject`) by an IAM user with an `AKIA` key and by a workload role session.

use rand::Rng as _;

use super::{exp, s3_fragments, uni, users, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{public_ip, Estate, PROD};
use crate::event::{Call, Host, Kind};
use crate::json::hex;
use crate::Rng;
use trailhound_model::time::{MINUTE, SECOND};

/// User agent of `aws s3 sync`.
pub(crate) const UA_SYNC: &str = "aws-cli/2.17.50 md/awscrt#0.21.2 ua/2.0 os/linux#5.15.0-122-generic md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exe/x86_64.ubuntu.22 cfg/retry-mode#standard md/installer#exe md/command#s3.sync";
/// User agent of the boto3 sync worker on the data-sync host.
pub(crate) const UA_SYNC_BOTO: &str = "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.1.109-118.189.amzn2023.x86_64 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#adaptive Botocore/1.35.36";

#[derive(Clone, Copy)]
enum Who {
    User(usize),
    Instance(usize),
}

/// One sync job.
pub(crate) struct Sync {
    who: Who,
    ip: String,
    ua: &'static str,
    bucket: String,
    prefix: String,
    /// Objects left in the current burst (0 when idle).
    left: u32,
    next_obj: u32,
    upload: bool,
    mean_idle: f64,
    s: Scratch,
}

impl Source for Sync {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let (ident, account, region) = match self.who {
            Who::User(i) => {
                let u = &cx.est.users[i];
                (u.ident.as_str(), u.account, u.region)
            }
            Who::Instance(i) => {
                let s = &cx.est.instances[i];
                (s.ident.as_str(), s.account, s.region)
            }
        };
        let acct = cx.est.accounts[account].id.as_str();
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let mut t = now;
        if self.left == 0 {
            // Start a burst: list the prefix (a page per 1000 keys), then copy objects.
            let n = rng.random_range(150..1200u32);
            self.left = n;
            self.next_obj = rng.random_range(0..50_000);
            self.upload = rng.random_bool(0.5);
            self.prefix = format!("exports/{}/", hex(rng, 6));
            for _ in 0..=(n / 1000) {
                s3_fragments(s, acct, region, &self.bucket, "", &self.prefix, 0, 0);
                em.bg(
                    &Call::new(t, ident, "s3", "ListObjects", region, &self.ip, self.ua, acct)
                        .req(&s.req)
                        .extra(&s.extra)
                        .resources(&s.res)
                        .kind(Kind::Data)
                        .host(Host::Custom(&s.host)),
                    rng,
                );
                t += uni(rng, 80, 400);
            }
            return t;
        }
        // About one second of transfers at ~10 parallel requests.
        let end = now + SECOND;
        while self.left > 0 && t < end {
            let key = format!("{}part-{:06}.parquet", self.prefix, self.next_obj);
            self.next_obj += 1;
            self.left -= 1;
            let size = rng.random_range(20_000..8_000_000);
            if rng.random_bool(0.5) {
                s3_fragments(s, acct, region, &self.bucket, &key, "", 0, 0);
                em.bg(
                    &Call::new(t, ident, "s3", "HeadObject", region, &self.ip, self.ua, acct)
                        .req(&s.req)
                        .extra(&s.extra)
                        .resources(&s.res)
                        .kind(Kind::Data)
                        .host(Host::Custom(&s.host)),
                    rng,
                );
                t += uni(rng, 5, 40);
            }
            let (name, bin, bout) = if self.upload { ("PutObject", size, 0) } else { ("GetObject", 0, size) };
            s3_fragments(s, acct, region, &self.bucket, &key, "", bin, bout);
            em.bg(
                &Call::new(t, ident, "s3", name, region, &self.ip, self.ua, acct)
                    .req(&s.req)
                    .extra(&s.extra)
                    .resources(&s.res)
                    .kind(Kind::Data)
                    .host(Host::Custom(&s.host)),
                rng,
            );
            t += uni(rng, 10, 60);
        }
        if self.left > 0 {
            t.max(end)
        } else {
            t + 10 * MINUTE + exp(rng, self.mean_idle)
        }
    }
}

/// Creates the sync jobs: the `s3-sync` IAM user in prod and the data-sync host's role.
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64, out: &mut Vec<(i64, Box<dyn Source>)>) {
    let user = users::register(est, rng, PROD, "s3-sync");
    let acct = est.id(PROD).to_string();
    out.push((
        start + uni(rng, 0, 20 * MINUTE),
        Box::new(Sync {
            who: Who::User(user),
            ip: public_ip(rng, &users::DC_OCTETS),
            ua: UA_SYNC,
            bucket: format!("analytics-exports-{acct}"),
            prefix: String::new(),
            left: 0,
            next_obj: 0,
            upload: false,
            mean_idle: 30.0 * MINUTE as f64,
            s: Scratch::default(),
        }),
    ));
    if let Some(slot) = est.instances.iter().position(|s| s.arn.contains("/data-sync-role/")) {
        let account = est.instances[slot].account;
        let a = &est.accounts[account];
        let bucket = format!("datalake-raw-{}", a.id);
        out.push((
            start + uni(rng, 0, 20 * MINUTE),
            Box::new(Sync {
                who: Who::Instance(slot),
                ip: a.nat_ip.clone(),
                ua: UA_SYNC_BOTO,
                bucket,
                prefix: String::new(),
                left: 0,
                next_obj: 0,
                upload: false,
                mean_idle: 25.0 * MINUTE as f64,
                s: Scratch::default(),
            }),
        ));
    }
}
