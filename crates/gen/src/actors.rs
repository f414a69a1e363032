//! A cardinality workload: many distinct actors with a few calls each, for the detection
//! state budget benchmark (`scripts/bench-state.sh`).
//!
//! Unlike [`crate::generate`] (a realistic estate of a few hundred identities), this writes
//! `actors` distinct credentials: about 60 % IAM users' long-lived `AKIA` keys (one user
//! each) and 40 % assumed-role sessions (`ASIA` keys with their own session names, issued by
//! a pool of 1,500 roles), in 40 accounts and four regions. Each actor works for a while at a
//! random moment of the `span` (mostly `List*`/`Describe*`/`Get*` calls of a few services,
//! some writes, 5 s to 8 min apart, from its account's NAT address), so that at any time a
//! fraction of all actors is active and most have gone quiet. Events are written in arrival
//! order: event time plus a delivery delay of up to `max_disorder_ms` (small disorder within
//! minutes).
//!
//! With `attacks`, six attacks by actors active in their windows are injected (the owner of
//! the key keeps working around the attack), each with ground-truth [`Label`]s:
//! `enumeration_burst` (an `AKIA` key calls 25 distinct recon APIs in ~15 s from a VPS, some
//! denied) at 20 %, 50 % and 80 % of the span, and at 35 %, 65 % and 90 % a stolen `AKIA` key
//! creates an administrator (`CreateUser`, `AttachUserPolicy` `AdministratorAccess`,
//! `CreateAccessKey`, `CreateLoginProfile`) whose new key is used 5–20 minutes later
//! (`iam_user_persistence` on the stolen key, `new_access_key_used` on the new one).
//!
//! Deterministic: the same [`ActorsConfig`] gives byte-identical output.
//!
//! ```
//! use trailhound_gen::actors::{generate_actors, ActorsConfig};
//! let cfg = ActorsConfig { actors: 200, events: 800, ..ActorsConfig::default() };
//! let (mut out, mut labels) = (Vec::new(), Vec::new());
//! let stats = generate_actors(&cfg, &mut out, Some(&mut labels)).expect("in memory");
//! assert_eq!(stats.labels, 9);
//! assert!(stats.events >= 800);
//! ```

use std::io::{BufWriter, Write};

use rand::{Rng as _, SeedableRng};
use trailhound_model::time::{days_from_civil, DAY, HOUR, MINUTE, SECOND};

use crate::event::{render, Call};
use crate::identity::{assumed_role, iam_user, Role, SessionOpts};
use crate::json::{alnum_id, iam_date_string, Obj};
use crate::scenarios::{attacker_ip, denied, enum_distinct_apis, shuffled, ADMIN_POLICY, RECON};
use crate::{GenError, GenStats, Label, Rng};

/// What [`generate_actors`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorsConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Distinct actors (access keys) in the background (at least 1).
    pub actors: u64,
    /// Background events, spread evenly over the actors (at least one each); the attacks add
    /// about 80 more.
    pub events: u64,
    /// Event time of the start, ms since the epoch (default 2026-11-10T00:00:00Z).
    pub start_ms: i64,
    /// Event-time span of the workload, ms (default 6 h; at least 1 h).
    pub span_ms: i64,
    /// Largest delivery delay after the event time, ms (default 2 min).
    pub max_disorder_ms: i64,
    /// Inject the attacks (default true).
    pub attacks: bool,
}

impl Default for ActorsConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            actors: 100_000,
            events: 400_000,
            start_ms: days_from_civil(2026, 11, 10) * DAY,
            span_ms: 6 * HOUR,
            max_disorder_ms: 2 * MINUTE,
            attacks: true,
        }
    }
}

const ACCOUNTS: u64 = 40;
const ROLES: u64 = 1_500;
const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"];
const UAS: [&str; 4] = [
    "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.227-239.884.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.145",
    "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#5.10.223-211.872.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2 md/prompt#off",
    "aws-sdk-go-v2/1.30.3 ua/2.0 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/sts#1.30.3",
    "aws-sdk-java/2.26.25 Linux/5.10.220-209.869.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.12+7-LTS Java/17.0.12 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
];
/// The reads a background actor makes (three of them each, so it never looks like a burst).
const READS: [(&str, &str); 12] = [
    ("ec2", "DescribeInstances"),
    ("sts", "GetCallerIdentity"),
    ("dynamodb", "DescribeTable"),
    ("lambda", "GetFunction20150331v2"),
    ("sqs", "GetQueueAttributes"),
    ("ecr", "DescribeRepositories"),
    ("monitoring", "DescribeAlarms"),
    ("ssm", "DescribeParameters"),
    ("sns", "ListTopics"),
    ("logs", "DescribeLogGroups"),
    ("kms", "DescribeKey"),
    ("s3", "ListBuckets"),
];
/// The writes a background actor makes.
const WRITES: [(&str, &str); 4] =
    [("monitoring", "PutMetricData"), ("logs", "CreateLogStream"), ("ec2", "CreateTags"), ("ssm", "PutParameter")];
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser.
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `prefix`, `i` in 7 base-32 digits (unique per actor), then 9 more derived from `h`.
fn id(prefix: &str, i: u64, h: u64) -> String {
    let mut s = String::with_capacity(prefix.len() + 16);
    s.push_str(prefix);
    for k in (0..7).rev() {
        s.push(char::from(BASE32[((i >> (5 * k)) & 31) as usize]));
    }
    for k in 0..9 {
        s.push(char::from(BASE32[((h >> (5 * k + 3)) & 31) as usize]));
    }
    s
}

/// One background actor, derived from its index.
struct Actor {
    key: String,
    ident: String,
    arn: String,
    account: String,
    region: &'static str,
    ip: String,
    ua: &'static str,
    reads: [usize; 3],
}

fn account(a: u64) -> String {
    format!("{:012}", 210_000_000_000 + a * 7_919)
}

fn actor(seed: u64, i: u64) -> Actor {
    let h = mix(seed ^ mix(i));
    let region = REGIONS[(h >> 32) as usize % REGIONS.len()];
    let ua = UAS[(h >> 44) as usize % UAS.len()];
    let r0 = (h >> 48) as usize % READS.len();
    let reads = [r0, (r0 + 1 + (h >> 52) as usize % 5) % READS.len(), (r0 + 7) % READS.len()];
    if h % 100 < 60 {
        let a = (h >> 8) % ACCOUNTS;
        let account = account(a);
        let name = format!("svc-{i:07}");
        let key = id("AKIA", i, h);
        let ident = iam_user(&account, &name, &id("AIDA", i, !h), &key);
        let arn = format!("arn:aws:iam::{account}:user/{name}");
        let ip = format!("52.{}.{}.{}", 10 + a, 20 + (h >> 40) % 2, 100 + a);
        Actor { key, ident, arn, account, region, ip, ua, reads }
    } else {
        let r = (h >> 16) % ROLES;
        let a = mix(r) % ACCOUNTS;
        let account = account(a);
        let role = Role {
            account: account.clone(),
            name: format!("app-{r:04}-role"),
            path: "/".to_string(),
            pid: id("AROA", r, r),
        };
        let session = match (h >> 24) % 3 {
            0 => format!("botocore-session-{}", 1_700_000_000 + i),
            1 => format!("job-{i:07}"),
            _ => format!("deploy-{:x}", h >> 20),
        };
        let key = id("ASIA", i, h);
        let ident = assumed_role(&role, &session, &key, 0, SessionOpts::default());
        let arn = role.session_arn(&session);
        let ip = format!("3.{}.{}.{}", 10 + a, 20 + (h >> 40) % 2, 100 + a);
        Actor { key, ident, arn, account, region, ip, ua, reads }
    }
}

/// A background event: arrival time, event time, actor, what it called.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ev {
    arrival: i64,
    t: i64,
    actor: u32,
    action: u8,
}

/// An attack event, rendered.
struct Line {
    arrival: i64,
    bytes: Vec<u8>,
}

/// Writes the workload (see the module doc) as NDJSON to `out` and, when `labels` is given,
/// one [`Label`] JSON line per attack stage.
pub fn generate_actors<W: Write, L: Write>(
    cfg: &ActorsConfig,
    out: W,
    labels: Option<L>,
) -> Result<GenStats, GenError> {
    if cfg.actors == 0 || cfg.actors > u64::from(u32::MAX) {
        return Err(GenError::Config(format!("actors must be between 1 and {}, got {}", u32::MAX, cfg.actors)));
    }
    if cfg.span_ms < HOUR {
        return Err(GenError::Config("span must be at least 1h".to_string()));
    }
    let mut rng = Rng::seed_from_u64(cfg.seed);
    let events = cfg.events.max(cfg.actors);
    let per = events / cfg.actors;
    let extra = events % cfg.actors;

    // Attackers: the actor, the attack time, and which attack.
    let mut attackers: Vec<(u64, i64, bool)> = Vec::new();
    if cfg.attacks {
        for (k, (pct, enumeration)) in
            [(20, true), (35, false), (50, true), (65, false), (80, true), (90, false)].into_iter().enumerate()
        {
            let mut i = (k as u64 * 104_729 + 13) % cfg.actors;
            // An IAM user's key, not one already taken.
            while actor(cfg.seed, i).key.starts_with("ASIA") || attackers.iter().any(|a| a.0 == i) {
                i = (i + 1) % cfg.actors;
            }
            attackers.push((i, cfg.start_ms + cfg.span_ms * pct / 100, enumeration));
        }
    }

    // Background schedule.
    let mut evs: Vec<Ev> = Vec::with_capacity(usize::try_from(events).unwrap_or(0));
    for i in 0..cfg.actors {
        let n = per + u64::from(i < extra);
        let forced = attackers.iter().find(|a| a.0 == i).map(|a| a.1);
        let mut t = match forced {
            // The owner works around the attack: from 20 minutes before it.
            Some(at) => at - 20 * MINUTE,
            None => cfg.start_ms + rng.random_range(0..cfg.span_ms - 45 * MINUTE),
        };
        for _ in 0..n {
            let action = if rng.random_bool(0.85) { rng.random_range(0..3u8) } else { 3 + rng.random_range(0..4u8) };
            let t_s = t.div_euclid(SECOND) * SECOND;
            let arrival = t_s + rng.random_range(0..=cfg.max_disorder_ms);
            evs.push(Ev { arrival, t: t_s, actor: i as u32, action });
            t += rng.random_range(5 * SECOND..8 * MINUTE);
        }
    }
    evs.sort_unstable();

    // Attacks, rendered, with their labels.
    let mut lines: Vec<Line> = Vec::new();
    let mut labs: Vec<Label> = Vec::new();
    for &(i, at, enumeration) in &attackers {
        let a = actor(cfg.seed, i);
        let mut out = Attack { rng: &mut rng, lines: &mut lines, ids: Vec::new(), max_disorder: cfg.max_disorder_ms };
        if enumeration {
            let (start, end) = enumerate(&a, at, &mut out);
            let ids = std::mem::take(&mut out.ids);
            labs.push(label("actors_enumeration", "enumeration_burst", &a.key, &a.account, start, end, ids));
        } else {
            let (start, end, new_key, mid, use_ids) = admin_user(&a, at, &mut out);
            let ids = std::mem::take(&mut out.ids);
            labs.push(label("actors_admin_user", "iam_user_persistence", &a.key, &a.account, start, mid, ids));
            labs.push(label("actors_admin_user", "new_access_key_used", &new_key, &a.account, mid, end, use_ids));
        }
    }
    lines.sort_by_key(|l| l.arrival);

    // Merge in arrival order.
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let mut stats = GenStats::default();
    let mut buf = Vec::with_capacity(2048);
    let mut render_rng = Rng::seed_from_u64(mix(cfg.seed ^ 0x5eed));
    let mut cache: Option<(u32, Actor)> = None;
    let mut pending = lines.into_iter().peekable();
    for e in &evs {
        while let Some(l) = pending.next_if(|l| l.arrival <= e.arrival) {
            w.write_all(&l.bytes)?;
            stats.events += 1;
            stats.bytes += l.bytes.len() as u64;
        }
        if cache.as_ref().is_none_or(|c| c.0 != e.actor) {
            cache = Some((e.actor, actor(cfg.seed, u64::from(e.actor))));
        }
        let Some((_, a)) = cache.as_ref() else { continue };
        let (service, name) = match e.action {
            0..=2 => READS[a.reads[usize::from(e.action)]],
            k => WRITES[usize::from(k - 3) % WRITES.len()],
        };
        let region = if service == "s3" { "us-east-1" } else { a.region };
        buf.clear();
        render(&mut buf, &Call::new(e.t, &a.ident, service, name, region, &a.ip, a.ua, &a.account), &mut render_rng);
        w.write_all(&buf)?;
        stats.events += 1;
        stats.bytes += buf.len() as u64;
    }
    for l in pending {
        w.write_all(&l.bytes)?;
        stats.events += 1;
        stats.bytes += l.bytes.len() as u64;
    }
    w.flush()?;
    stats.scenarios = attackers.len() as u64;
    if let Some(l) = labels {
        let mut lw = BufWriter::new(l);
        for lab in &labs {
            serde_json::to_writer(&mut lw, lab)?;
            lw.write_all(b"\n")?;
            stats.labels += 1;
        }
        lw.flush()?;
    }
    Ok(stats)
}

fn label(scenario: &str, rule: &str, key: &str, account: &str, start: i64, end: i64, event_ids: Vec<String>) -> Label {
    Label {
        scenario: scenario.to_string(),
        rule_id: rule.to_string(),
        actor_key: key.to_string(),
        account: account.to_string(),
        start_ms: start,
        end_ms: end,
        events: event_ids.len() as u64,
        event_ids,
    }
}

/// Where attack events go: rendered lines, and the event ids of the current stage.
struct Attack<'a> {
    rng: &'a mut Rng,
    lines: &'a mut Vec<Line>,
    ids: Vec<String>,
    max_disorder: i64,
}

impl Attack<'_> {
    fn emit(&mut self, c: &Call<'_>) {
        let mut bytes = Vec::with_capacity(2048);
        render(&mut bytes, c, self.rng);
        const ID: &[u8] = b"\"eventID\":\"";
        if let Some(p) = bytes.windows(ID.len()).position(|w| w == ID) {
            let start = p + ID.len();
            if let Some(id) = bytes.get(start..start + 36).and_then(|s| std::str::from_utf8(s).ok()) {
                self.ids.push(id.to_string());
            }
        }
        let arrival = c.t.div_euclid(SECOND) * SECOND + self.rng.random_range(0..=self.max_disorder);
        self.lines.push(Line { arrival, bytes });
    }
}

/// `GetCallerIdentity`, then 25 distinct recon calls in about 15 s, about a third denied.
fn enumerate(a: &Actor, at: i64, out: &mut Attack<'_>) -> (i64, i64) {
    let ip = attacker_ip(out.rng);
    let ua = enum_distinct_apis::UAS[0];
    let mut t = at;
    out.emit(&Call::new(t, &a.ident, "sts", "GetCallerIdentity", a.region, &ip, ua, &a.account));
    let apis = shuffled(out.rng, &RECON);
    for (k, &(svc, name, global)) in apis[..25].iter().enumerate() {
        t += out.rng.random_range(300..900);
        let region = if global { "us-east-1" } else { a.region };
        let c = Call::new(t, &a.ident, svc, name, region, &ip, ua, &a.account);
        if k % 3 == 1 {
            let (code, msg) = denied(out.rng, svc, name, &a.arn);
            out.emit(&c.err(code, &msg));
        } else {
            out.emit(&c);
        }
    }
    (at / SECOND * SECOND, t / SECOND * SECOND)
}

/// `CreateUser` X, `AttachUserPolicy` X admin, `CreateAccessKey` X, `CreateLoginProfile` X,
/// then X's new key used 5–20 minutes later. Returns the start, the end, the new key, the
/// time of its first use and the event ids of its uses (the stage's own ids stay in `out`).
fn admin_user(a: &Actor, at: i64, out: &mut Attack<'_>) -> (i64, i64, String, i64, Vec<String>) {
    let ip = attacker_ip(out.rng);
    let ua = enum_distinct_apis::UAS[1];
    let x = format!("ops-automation-{}", alnum_id(out.rng, "", 4).to_ascii_lowercase());
    let x_id = alnum_id(out.rng, "AIDA", 17);
    let new_key = alnum_id(out.rng, "AKIA", 16);
    let x_arn = format!("arn:aws:iam::{}:user/{x}", a.account);
    let mut t = at;
    let call = |t: i64, svc: &'static str, name: &'static str| {
        Call::new(t, &a.ident, svc, name, "us-east-1", &ip, ua, &a.account)
    };
    let (mut req, mut resp) = (String::new(), String::new());
    Obj::new(&mut req).str("userName", &x).end();
    Obj::new(&mut resp)
        .obj("user", |o| {
            o.str("path", "/")
                .str("userName", &x)
                .str("userId", &x_id)
                .str("arn", &x_arn)
                .str("createDate", &iam_date_string(t))
        })
        .end();
    out.emit(&call(t, "iam", "CreateUser").req(&req).resp(&resp));
    t += out.rng.random_range(2 * SECOND..9 * SECOND);
    let mut req2 = String::new();
    Obj::new(&mut req2).str("userName", &x).str("policyArn", ADMIN_POLICY).end();
    out.emit(&call(t, "iam", "AttachUserPolicy").req(&req2));
    t += out.rng.random_range(2 * SECOND..9 * SECOND);
    let mut resp3 = String::new();
    Obj::new(&mut resp3)
        .obj("accessKey", |k| {
            k.str("userName", &x)
                .str("accessKeyId", &new_key)
                .str("status", "Active")
                .str("createDate", &iam_date_string(t))
        })
        .end();
    out.emit(&call(t, "iam", "CreateAccessKey").req(&req).resp(&resp3));
    t += out.rng.random_range(2 * SECOND..9 * SECOND);
    let mut req4 = String::new();
    let mut resp4 = String::new();
    Obj::new(&mut req4).str("userName", &x).bool("passwordResetRequired", false).end();
    Obj::new(&mut resp4)
        .obj("loginProfile", |p| {
            p.str("userName", &x).str("createDate", &iam_date_string(t)).bool("passwordResetRequired", false)
        })
        .end();
    out.emit(&call(t, "iam", "CreateLoginProfile").req(&req4).resp(&resp4));

    // The attacker returns with the new key (the creation is part of that stage's evidence).
    let creation_id = out.ids.get(2).cloned();
    let stage_ids = std::mem::take(&mut out.ids);
    t += out.rng.random_range(5 * MINUTE..20 * MINUTE);
    let first_use = t;
    let x_ident = iam_user(&a.account, &x, &x_id, &new_key);
    out.emit(&Call::new(t, &x_ident, "sts", "GetCallerIdentity", "us-east-1", &ip, ua, &a.account));
    t += out.rng.random_range(3 * SECOND..20 * SECOND);
    out.emit(&Call::new(t, &x_ident, "s3", "ListBuckets", "us-east-1", &ip, ua, &a.account));
    t += out.rng.random_range(10 * SECOND..50 * SECOND);
    out.emit(&Call::new(t, &x_ident, "iam", "ListUsers", "us-east-1", &ip, ua, &a.account));
    let mut use_ids: Vec<String> = creation_id.into_iter().collect();
    use_ids.append(&mut out.ids);
    out.ids = stage_ids;
    (at / SECOND * SECOND, t / SECOND * SECOND, new_key, first_use / SECOND * SECOND, use_ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: &ActorsConfig) -> (Vec<u8>, Vec<u8>, GenStats) {
        let (mut out, mut labels) = (Vec::new(), Vec::new());
        let stats = generate_actors(cfg, &mut out, Some(&mut labels)).expect("generate");
        (out, labels, stats)
    }

    #[test]
    fn the_workload_has_the_asked_actors_and_events_and_is_deterministic() {
        let cfg = ActorsConfig { actors: 2_000, events: 8_000, ..ActorsConfig::default() };
        let (out, labels, stats) = run(&cfg);
        assert_eq!(run(&cfg).0, out, "same config, same bytes");
        let text = std::str::from_utf8(&out).expect("utf-8");
        let mut keys = std::collections::BTreeSet::new();
        let mut times = Vec::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json line");
            keys.insert(v["userIdentity"]["accessKeyId"].as_str().expect("key").to_string());
            times.push(v["eventTime"].as_str().expect("time").to_string());
        }
        assert_eq!(stats.events as usize, text.lines().count());
        // 2,000 background keys, plus the three new keys the admin-user attacks create.
        assert_eq!(keys.len(), 2_003);
        assert!(stats.events >= 8_000 && stats.events < 8_200, "{}", stats.events);
        assert!(keys.iter().any(|k| k.starts_with("AKIA")) && keys.iter().any(|k| k.starts_with("ASIA")));
        // Small disorder only: no event more than the disorder behind the newest before it.
        let secs = |s: &str| {
            let h: i64 = s[11..13].parse().expect("h");
            let m: i64 = s[14..16].parse().expect("m");
            let d: i64 = s[8..10].parse().expect("d");
            ((d * 24 + h) * 60 + m) * 60 + s[17..19].parse::<i64>().expect("s")
        };
        let mut newest = 0;
        for t in &times {
            let s = secs(t);
            assert!(s >= newest - cfg.max_disorder_ms / 1000, "{t}");
            newest = newest.max(s);
        }
        let labels: Vec<Label> = std::str::from_utf8(&labels)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("label"))
            .collect();
        assert_eq!(labels.len(), 9);
        for l in &labels {
            assert_eq!(l.events as usize, l.event_ids.len());
            for id in &l.event_ids {
                assert!(text.contains(&format!("\"eventID\":\"{id}\"")), "{id} of {} is written", l.rule_id);
            }
        }
    }
}
