//! The `stress` profile: the shape of large, busy accounts, as a cost workload.
//!
//! Where the `estate` profile simulates one organisation's few hundred identities in detail,
//! this one writes what makes detection expensive on real data:
//!
//! * **Many principals, Zipf activity.** A population of `max(20_000, events / 16)`
//!   principals (62,500 for 1M events), ranked by activity: the principal of rank `r` makes a
//!   share of the events proportional to about `1 / (r + 1)`, so the busiest 1 % make about
//!   half of them and most make a handful. They are EC2 instance-role sessions (`i-...`,
//!   IMDSv2), Lambda and ECS task-role sessions, IAM users with `AKIA` keys (service accounts
//!   and people), GitHub Actions web-identity sessions, IAM Identity Center users (console and
//!   CLI), third-party scanners' cross-account roles and service-linked roles, in 48 accounts
//!   (a few large ones carry most), working mostly in their home region. Temporary sessions
//!   get a new `ASIA` key every period (8 minutes for CI jobs to hours for people), so keys
//!   outnumber principals. AWS services acting on their own (`AWSService`) make about 3 %.
//! * **Recon-heavy.** About 60 % of the events are `List*`/`Describe*`/`Get*` over 96 APIs
//!   of 20 services and 17 regions (each principal uses a few, scanners dozens in every
//!   region); about 15 % other reads (`Decrypt`, `GenerateDataKey`, `AssumeRole`,
//!   `HeadObject`, ...); the rest writes, S3 data events included.
//! * **Errors.** About 6 % of events carry an `errorCode`: `AccessDenied` and its service
//!   variants (misconfigured principals keep retrying a call they may not make), throttling,
//!   missing resources, capacity and quota errors.
//! * **Many sources.** Tens of thousands of source addresses (NAT gateways, instances' private
//!   addresses, Lambda egress, CI runners per job, people at home) and user agents (Boto3,
//!   the AWS CLI v1 and v2, Go, Java and JavaScript SDKs, Terraform, browsers, services) in
//!   hundreds of versions.
//! * **Realistic sizes.** Request parameters as CloudTrail writes them (filters, policy
//!   documents, launch specifications), responses for writes (`RunInstances` with its
//!   instances, `AssumeRole` with its credentials), resources and additional data of S3
//!   data events: about 1.3 KB per event.
//! * **Sensitive writes at a few percent**, as sequences made by pipelines, people and
//!   workloads in their work: IAM users created with policies, keys and passwords, keys
//!   rotated or made for others (each new key used 2–30 minutes later), inline policies
//!   (sometimes `*` on `*`), roles created and their trust changed (sometimes to anyone or a
//!   foreign account), bursts of `RunInstances` (up to 25, some failing, GPU types included)
//!   and termination protection, trails stopped or deleted, event selectors, flow logs,
//!   detectors and recorders changed, bucket policies and ACLs, several secrets read in a
//!   minute, function code and permissions changed, identity providers, console sign-ins.
//!   Detection rules find tens of thousands of findings in a million events.
//!
//! Events are generated at 250,000 per simulated hour (1M events span four hours from
//! `start_ms`) and written in arrival order with the estate profile's delivery delays (up to
//! `max_delay_ms`, mostly 1–5 minutes of 15), in constant memory. The same seed gives the
//! same bytes. The profile injects no labelled attack (it is a cost workload): a labels file
//! asked for is written empty, and `attacks`/`scenarios` are not used (asking for scenarios is
//! an error).

mod catalogue;
mod principal;
mod sensitive;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufWriter, Write};

use rand::{Rng as _, RngCore, SeedableRng};
use trailhound_model::time::HOUR;

use self::catalogue::{params, s3_data, writes, OTHER_READS, READS, SERVICE_CALLS};
use self::principal::{account_id, PKind, Strings, Traits, ACCOUNTS};
use self::sensitive::Seq;
use crate::estate::REGIONS;
use crate::event::{render, Call, Host, Kind};
use crate::{GenConfig, GenError, GenStats, Rng};

/// Events per simulated hour.
const RATE_PER_HOUR: f64 = 250_000.0;
/// Share of events made by AWS services with their own identity, per mille.
const SERVICE_PER_MILLE: u32 = 30;
/// Slots of the rendered-principal cache.
const CACHE: usize = 8192;

/// splitmix64's finaliser: the hash every derived choice uses.
pub(super) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The item of `pool` chosen by `h`.
pub(super) fn pick<T: Copy>(pool: &[T], h: u64) -> T {
    pool[(h % pool.len() as u64) as usize]
}

/// `n` characters of `[A-Za-z0-9]` from `h` (tokens, suffixes).
pub(super) fn token(h: u64, n: usize) -> String {
    const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::with_capacity(n);
    let mut x = h;
    for i in 0..n {
        if i % 10 == 0 {
            x = mix(x ^ i as u64);
        }
        s.push(char::from(ALNUM[(x % 62) as usize]));
        x /= 62;
    }
    s
}

/// A UUID-shaped string from `h`.
pub(super) fn uuid_from(h: u64) -> String {
    let (a, b) = (mix(h), mix(h ^ 0x7575_6964));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// `s` percent-encoded (as IAM returns policy documents).
pub(super) fn url_encode(s: &str) -> String {
    crate::scenarios::url_encode(s)
}

/// What an event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// A `List*`/`Describe*`/`Get*` of [`READS`].
    Read(u16),
    /// Another read of [`OTHER_READS`].
    Other(u16),
    /// A routine write of the principal's kind.
    Write(u16),
    /// An AWS service's own call of [`SERVICE_CALLS`].
    Service(u16),
    /// A step of a sensitive sequence.
    Seq(Seq, u8),
}

/// How a routine call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    No,
    Denied,
    Other,
}

/// One event waiting for its arrival.
#[derive(Debug, Clone, Copy)]
struct Ev {
    t: i64,
    rank: u32,
    op: Op,
    region: u8,
    fail: Fail,
    salt: u64,
}

/// Reused buffers of one event's rendering.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// `requestParameters`.
    pub req: String,
    /// `responseElements`.
    pub resp: String,
    /// `additionalEventData`.
    pub extra: String,
    /// `resources`.
    pub res: String,
    /// A resource or user name.
    pub name: String,
    /// `errorMessage`.
    pub msg: String,
    /// Another identity's `userIdentity` (a new key's user).
    pub ident: String,
    /// Its source address.
    pub ip: String,
    /// Its user agent.
    pub ua: String,
}

impl Scratch {
    fn clear(&mut self) {
        for s in [
            &mut self.req,
            &mut self.resp,
            &mut self.extra,
            &mut self.res,
            &mut self.name,
            &mut self.msg,
            &mut self.ident,
            &mut self.ip,
            &mut self.ua,
        ] {
            s.clear();
        }
    }
}

/// What a rendering step needs to know about the event.
pub(super) struct Ctx<'a> {
    /// The principal.
    pub p: &'a Traits,
    /// Its strings in the event's session.
    pub s: &'a Strings,
    /// Event time (ms).
    pub t: i64,
    /// Region of the call.
    pub region: &'static str,
    /// The event's (or its sequence's) random salt.
    pub salt: u64,
}

/// How a call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpecErr {
    None,
    Denied,
    /// This code, the message in [`Scratch::msg`].
    Code(&'static str),
}

/// What to render besides the scratch strings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spec {
    svc: &'static str,
    name: &'static str,
    region: Option<&'static str>,
    kind: Kind,
    err: SpecErr,
    other_identity: bool,
    console_agent: bool,
}

impl Spec {
    /// A successful management call.
    pub(super) fn new(svc: &'static str, name: &'static str) -> Spec {
        Spec {
            svc,
            name,
            region: None,
            kind: Kind::Api,
            err: SpecErr::None,
            other_identity: false,
            console_agent: false,
        }
    }
    /// Logged in this region whatever the caller's.
    pub(super) fn region(mut self, r: &'static str) -> Spec {
        self.region = Some(r);
        self
    }
    /// Of this record kind.
    pub(super) fn kind(mut self, k: Kind) -> Spec {
        self.kind = k;
        self
    }
    /// Denied to the caller.
    pub(super) fn denied(mut self) -> Spec {
        self.err = SpecErr::Denied;
        self
    }
    /// Failed with `code` (message in [`Scratch::msg`]).
    pub(super) fn error(mut self, code: &'static str) -> Spec {
        self.err = SpecErr::Code(code);
        self
    }
    /// Made by [`Scratch::ident`] from [`Scratch::ip`] with [`Scratch::ua`].
    pub(super) fn other_identity(mut self) -> Spec {
        self.other_identity = true;
        self
    }
    /// Made from a browser.
    pub(super) fn console_agent(mut self) -> Spec {
        self.console_agent = true;
        self
    }
}

/// A direct-mapped cache of rendered principals (the busiest stay in it).
struct Cache {
    slots: Vec<Strings>,
}

impl Cache {
    fn new() -> Cache {
        Cache { slots: vec![Strings { rank: u32::MAX, ..Strings::default() }; CACHE] }
    }

    fn get(&mut self, seed: u64, p: &Traits, epoch: i64) -> &Strings {
        let i = (mix(u64::from(p.rank) ^ (epoch as u64).rotate_left(32)) as usize) % CACHE;
        let slot = &mut self.slots[i];
        if slot.rank != p.rank || slot.epoch != epoch {
            slot.fill(seed, p, epoch);
        }
        slot
    }
}

/// The generator's state.
struct Gen {
    seed: u64,
    population: u32,
    rng: Rng,
    delay_rng: Rng,
    max_delay: i64,
    /// (arrival, slot in `slab`): the events waiting, earliest arrival first (ties in slot
    /// order, deterministic like everything else).
    heap: BinaryHeap<Reverse<(i64, u32)>>,
    slab: Vec<Ev>,
    free: Vec<u32>,
    steps: Vec<(i64, u8)>,
}

impl Gen {
    fn push(&mut self, t: i64, rank: u32, op: Op, region: u8, fail: Fail, salt: u64) {
        let sec = t - t.rem_euclid(1000);
        let arrival = sec + crate::engine::delay(&mut self.delay_rng, self.max_delay);
        let ev = Ev { t, rank, op, region, fail, salt };
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = ev;
                i
            }
            None => {
                self.slab.push(ev);
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((arrival, slot)));
    }

    /// The next event to write if it has arrived by `sec` (or any, with `i64::MAX`).
    fn pop_arrived(&mut self, sec: i64) -> Option<Ev> {
        match self.heap.peek() {
            Some(&Reverse((arrival, slot))) if arrival <= sec => {
                self.heap.pop();
                self.free.push(slot);
                Some(self.slab[slot as usize])
            }
            _ => None,
        }
    }

    /// A Zipf-distributed rank: `P(r)` about `1 / ((r + 1) ln(N + 1))`.
    fn rank(&mut self) -> u32 {
        let u: f64 = self.rng.random();
        let x = (f64::from(self.population) + 1.0).powf(u);
        ((x as u32).saturating_sub(1)).min(self.population - 1)
    }

    /// Plans what happens at `t`: up to `budget` events.
    fn plan(&mut self, t: i64, budget: u64) -> u64 {
        if self.rng.random_range(0..1000) < SERVICE_PER_MILLE {
            let i = self.rng.random_range(0..SERVICE_CALLS.len()) as u16;
            let salt = self.rng.next_u64();
            self.push(t, u32::MAX, Op::Service(i), 0, Fail::No, salt);
            return 1;
        }
        let p = Traits::of(self.seed, self.rank());
        let region = if self.rng.random_range(0..100) < if p.any_region { 100 } else { 5 } {
            self.rng.random_range(0..REGIONS.len()) as u8
        } else {
            p.region
        };
        if p.sensitive > 0 && self.rng.random_range(0..100_000) < p.sensitive {
            let salt = self.rng.next_u64();
            let mut steps = std::mem::take(&mut self.steps);
            let seq = sensitive::plan(&p, &mut self.rng, salt, &mut steps);
            let n = (steps.len() as u64).min(budget);
            for &(dt, step) in &steps[..n as usize] {
                self.push(t + dt, p.rank, Op::Seq(seq, step), region, Fail::No, salt);
            }
            self.steps = steps;
            return n;
        }
        // Calls come in bursts: a pipeline's plan, a person's page, a scanner's sweep walk
        // through many APIs in seconds; a workload makes one or two at a time.
        let (more, cap, distinct) = match p.kind {
            PKind::Ci | PKind::Scanner => (0.8, 40, true),
            PKind::Sso => (0.6, 20, true),
            _ => (0.25, 6, false),
        };
        let mut n = 1u64;
        while n < cap.min(budget) && self.rng.random_bool(more) {
            n += 1;
        }
        let mut at = t;
        for k in 0..n {
            if k > 0 {
                at += self.rng.random_range(50..2_500);
            }
            let region = if p.any_region { self.rng.random_range(0..REGIONS.len()) as u8 } else { region };
            let (op, fail) = self.routine(&p, distinct);
            let salt = self.rng.next_u64();
            self.push(at, p.rank, op, region, fail, salt);
        }
        n
    }

    /// One routine call of `p` (`distinct`: any of its read APIs alike, else its first ones most).
    fn routine(&mut self, p: &Traits, distinct: bool) -> (Op, Fail) {
        let roll = self.rng.random_range(0..1000);
        let (op, fail) = if roll < p.ldg {
            // Skewed to the principal's first APIs; a broken principal retries its denied one.
            let a = self.rng.random_range(0..p.reads);
            let b = if distinct { a } else { self.rng.random_range(0..p.reads) };
            let slot = if p.broken && self.rng.random_range(0..10) < 3 { 0 } else { a.min(b) };
            let api = (mix(p.h ^ u64::from(slot + 1).wrapping_mul(0x9E37_79B9)) % READS.len() as u64) as u16;
            (Op::Read(api), if p.broken && slot == 0 { Fail::Denied } else { Fail::No })
        } else if roll < p.ldg + p.other_reads {
            let slot = self.rng.random_range(0..2u64);
            (Op::Other((mix(p.h ^ 0x6f72 ^ slot) % OTHER_READS.len() as u64) as u16), Fail::No)
        } else {
            let w = writes(p.kind);
            let slot = self.rng.random_range(0..3u64);
            (Op::Write((mix(p.h ^ 0x7772 ^ slot) % w.len() as u64) as u16), Fail::No)
        };
        if fail != Fail::No {
            return (op, fail);
        }
        let fail = match self.rng.random_range(0..1000) {
            0..=11 => Fail::Denied,
            12..=31 => Fail::Other,
            _ => Fail::No,
        };
        (op, fail)
    }
}

/// Renders events: the principal cache, the scratch strings, the render RNG.
struct Renderer {
    seed: u64,
    cache: Cache,
    x: Scratch,
    rng: Rng,
    services: Vec<String>,
    account: String,
}

impl Renderer {
    fn render(&mut self, ev: &Ev, buf: &mut Vec<u8>) {
        self.x.clear();
        buf.clear();
        if let Op::Service(i) = ev.op {
            self.service(ev, i, buf);
            return;
        }
        let p = Traits::of(self.seed, ev.rank);
        let epoch = p.epoch(ev.t);
        let s = self.cache.get(self.seed, &p, epoch);
        let x = &mut self.x;
        let cx = Ctx { p: &p, s, t: ev.t, region: REGIONS[usize::from(ev.region) % REGIONS.len()], salt: ev.salt };
        let spec = match ev.op {
            Op::Read(i) => routine(&cx, &READS[usize::from(i)], ev.fail, x),
            Op::Other(i) => routine(&cx, &OTHER_READS[usize::from(i)], ev.fail, x),
            Op::Write(i) => routine(&cx, &writes(p.kind)[usize::from(i)], ev.fail, x),
            Op::Seq(seq, step) => sensitive::step(&cx, seq, step, &mut self.rng, x),
            Op::Service(_) => return,
        };
        // People work in the console most of the time and in their CLI otherwise.
        let console = p.kind == PKind::Sso && (spec.console_agent || ev.salt % 10 < 7);
        let (ident, ip, ua) = if spec.other_identity {
            (x.ident.as_str(), x.ip.as_str(), x.ua.as_str())
        } else if console || p.kind != PKind::Sso {
            (s.ident.as_str(), s.ip.as_str(), s.ua.as_str())
        } else {
            (s.ident.as_str(), s.ip.as_str(), s.ua2.as_str())
        };
        let ua = if spec.console_agent && p.kind != PKind::Sso {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
        } else {
            ua
        };
        let kind = match spec.kind {
            Kind::Api if console && !spec.other_identity => Kind::ConsoleApi,
            k => k,
        };
        let region = spec.region.unwrap_or(cx.region);
        let mut c = Call::new(ev.t, ident, spec.svc, spec.name, region, ip, ua, &s.account)
            .req(&x.req)
            .resp(&x.resp)
            .extra(&x.extra)
            .resources(&x.res)
            .kind(kind);
        if kind == Kind::SignIn {
            c = c.host(Host::Custom("us-east-1.signin.aws.amazon.com"));
        }
        if p.kind == PKind::ServiceLinked {
            c = c.host(Host::None);
        }
        match spec.err {
            SpecErr::None => render(buf, &c, &mut self.rng),
            SpecErr::Code(code) => render(buf, &c.resp("").err(code, &x.msg), &mut self.rng),
            SpecErr::Denied => {
                let arn = if spec.other_identity { "" } else { s.arn.as_str() };
                let (code, msg) = crate::scenarios::denied(&mut self.rng, spec.svc, spec.name, arn);
                render(buf, &c.resp("").err(code, &msg), &mut self.rng);
            }
        }
    }

    /// An AWS service's own call (`AWSService`, no TLS details).
    fn service(&mut self, ev: &Ev, i: u16, buf: &mut Vec<u8>) {
        let (svc, name, by) = SERVICE_CALLS[usize::from(i)];
        let v = mix(ev.salt);
        let a = (((ACCOUNTS + 1) as f64).powf((v % 10_000) as f64 / 10_000.0) as u32).saturating_sub(1);
        self.account.clear();
        account_id(self.seed, a, &mut self.account);
        let region = REGIONS[(v >> 20) as usize % 4];
        let acct = self.account.as_str();
        let x = &mut self.x;
        if name == "AssumeRole" {
            let role = format!(
                "{}-{}-{}",
                pick(&["orders", "billing", "etl", "search", "media"], v >> 5),
                pick(&["prod", "dev"], v >> 9),
                pick(&["ec2", "lambda-role", "task-role", "config"], v >> 11)
            );
            let (ident, arn) = (String::new(), String::new());
            let s = Strings { account: acct.to_string(), ident, arn, ..Strings::default() };
            let p = Traits::of(self.seed, 0);
            let cx = Ctx { p: &p, s: &s, t: ev.t, region, salt: ev.salt };
            catalogue::assume_role(&cx, &role, v, x);
        } else {
            let key = format!("arn:aws:kms:{region}:{acct}:key/{}", uuid_from(v >> 3));
            let _ = std::fmt::Write::write_fmt(
                &mut x.req,
                format_args!("{{\"keyId\":\"{key}\",\"encryptionContext\":{{\"aws:s3:arn\":\"arn:aws:s3:::data-{acct}-{}/\"}},\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}}", v % 24),
            );
            let _ = std::fmt::Write::write_fmt(
                &mut x.res,
                format_args!("[{{\"accountId\":\"{acct}\",\"type\":\"AWS::KMS::Key\",\"ARN\":\"{key}\"}}]"),
            );
        }
        let ident = &self.services[usize::from(i)];
        let c = Call::new(ev.t, ident, svc, name, region, by, by, acct)
            .req(&x.req)
            .resp(&x.resp)
            .resources(&x.res)
            .host(Host::None);
        render(buf, &c, &mut self.rng);
    }
}

/// A routine call's rendering.
fn routine(cx: &Ctx<'_>, api: &catalogue::Api, fail: Fail, x: &mut Scratch) -> Spec {
    let kind = params(cx, api, x);
    let mut spec = Spec::new(api.0, api.1).kind(kind);
    if api.3 {
        spec = spec.region("us-east-1");
    }
    match fail {
        Fail::No => spec,
        Fail::Denied => spec.denied(),
        Fail::Other => {
            let (code, msg) = match (api.0, api.1) {
                (_, n) if n.starts_with("Get") && api.0 == "s3" && !s3_data(n) => {
                    ("NoSuchBucketPolicy", "The bucket policy does not exist")
                }
                ("s3", _) => ("NoSuchKey", "The specified key does not exist."),
                ("iam", _) => ("NoSuchEntityException", "The role with name cannot be found."),
                ("ec2", _) => ("Client.RequestLimitExceeded", "Request limit exceeded."),
                ("dynamodb" | "lambda" | "secretsmanager" | "logs" | "ecs", _) if cx.salt.is_multiple_of(2) => {
                    ("ResourceNotFoundException", "Requested resource not found")
                }
                ("ssm", _) => ("ParameterNotFound", ""),
                _ => ("ThrottlingException", "Rate exceeded"),
            };
            x.msg.push_str(msg);
            x.resp.clear();
            spec.error(code)
        }
    }
}

/// Writes the stress workload (see the module doc).
pub(crate) fn generate<W: Write, L: Write>(cfg: &GenConfig, out: W, labels: Option<L>) -> Result<GenStats, GenError> {
    if cfg.scenarios.is_some() {
        return Err(GenError::Config("scenarios are injected by the estate profile only".into()));
    }
    if cfg.max_delay_ms < 0 {
        return Err(GenError::Config("max_delay_ms must be >= 0".into()));
    }
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let stream = |n: u64| {
        let mut r = Rng::seed_from_u64(cfg.seed ^ 0x5354_5245_5353);
        r.set_stream(n);
        r
    };
    let population = u32::try_from((cfg.events / 16).clamp(20_000, 4_000_000)).unwrap_or(4_000_000);
    let mut g = Gen {
        seed: cfg.seed,
        population,
        rng: stream(1),
        delay_rng: stream(2),
        max_delay: cfg.max_delay_ms,
        heap: BinaryHeap::new(),
        slab: Vec::new(),
        free: Vec::new(),
        steps: Vec::with_capacity(32),
    };
    let mut r = Renderer {
        seed: cfg.seed,
        cache: Cache::new(),
        x: Scratch::default(),
        rng: stream(3),
        services: SERVICE_CALLS.iter().map(|s| crate::identity::aws_service(s.2)).collect(),
        account: String::new(),
    };
    let mut stats = GenStats::default();
    let mut buf = Vec::with_capacity(16 * 1024);
    let mean_gap = HOUR as f64 / RATE_PER_HOUR;
    let mut clock = cfg.start_ms as f64;
    let mut queued = 0u64;
    let mut write = |r: &mut Renderer, ev: &Ev, w: &mut BufWriter<W>| -> std::io::Result<()> {
        r.render(ev, &mut buf);
        stats.events += 1;
        stats.bytes += buf.len() as u64;
        w.write_all(&buf)
    };
    while queued < cfg.events {
        let u: f64 = g.rng.random();
        clock += -(1.0 - u).ln() * mean_gap;
        let t = clock as i64;
        let sec = t - t.rem_euclid(1000);
        while let Some(ev) = g.pop_arrived(sec) {
            write(&mut r, &ev, &mut w)?;
        }
        queued += g.plan(t, cfg.events - queued);
    }
    while let Some(ev) = g.pop_arrived(i64::MAX) {
        write(&mut r, &ev, &mut w)?;
    }
    w.flush()?;
    if let Some(l) = labels {
        // No labelled attack in this profile: the file exists, empty.
        BufWriter::new(l).flush()?;
    }
    Ok(stats)
}
