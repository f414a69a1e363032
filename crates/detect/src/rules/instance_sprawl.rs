//! `instance_sprawl`: a burst of compute requested by one actor — the cryptomining and
//! LLM/GPU-theft pattern of stolen cloud keys (T1496 Resource Hijacking, T1578.002 Create
//! Cloud Instance, T1610 Deploy Container).
//!
//! What a thief does with a fresh key is well documented (Sysdig SCARLETEEL, Permiso,
//! Datadog and Expel incident write-ups, AWS's own "compromised key" runbooks): ask for
//! service quotas across regions, then launch as much compute as quotas allow — many
//! instances, large or GPU types, in several regions at once — often with termination
//! protection so responders cannot simply terminate them. When quotas bite, most of the
//! burst *fails* (`InstanceLimitExceeded`, `VcpuLimitExceeded`, `InsufficientInstanceCapacity`,
//! `Client.UnauthorizedOperation`), so attempts count, not just successes.
//!
//! Per actor **and** account, in sliding windows of `window` (default 10 min, in ten slots),
//! any of these conditions fires:
//!
//! | condition | default | why |
//! |---|---|---|
//! | instances requested | ≥ 20 | `RunInstances` maxCount (summed over `instancesSet`), `CreateFleet` / `RequestSpotFleet` target capacity, `RequestSpotInstances` instanceCount, Auto Scaling `CreateAutoScalingGroup` / `UpdateAutoScalingGroup` desired (else max) size; a deploy or a person launches a handful at a time |
//! | vCPUs requested | ≥ 64 | instances × vCPUs of the type (table below); a big single request (one `p4d.24xlarge` is 96) counts as much as many small ones |
//! | GPU / accelerated instances requested | ≥ 4 | families `p`, `g`, `gr`, `inf`, `trn`, `dl`, `f`, `vt`: what miners and model thieves ask for; an engineer trying a GPU box asks for one or two. Stratus `ec2-launch-unusual-instances` (10 × p2.xlarge, denied) fires here |
//! | distinct regions with launch attempts | ≥ 3 | workloads launch in one or two regions; quota-maximising thieves sweep regions |
//! | launch attempts failing on limits or permissions | ≥ 5 | a thief's burst against quotas is mostly failures; a deploy that hits a limit fails once or twice and stops |
//! | ECS: a task definition with ≥ 4096 CPU units registered, plus ≥ 10 tasks requested | both in one window | `RegisterTaskDefinition` (`cpu` or the containers' sum) then `RunTask` `count` / `StartTask` / `CreateService` / `UpdateService` `desiredCount`: Fargate miners |
//! | Service Quotas probing in distinct regions | ≥ 3 | `servicequotas` Get/List/RequestServiceQuotaIncrease calls; alone this is a **low** finding (Quota Monitor–style tools do it too), with any other condition it raises the severity |
//!
//! vCPUs per type: a table of the exceptions (metal sizes, burstable `t2` sizes) and AWS's
//! size rule for the rest, which is exact for t3/m5/c5/r5/p2/p3/p4d/g4dn/g5 and most current
//! families: nano/micro/small 2 (t2: 1), medium 2 (non-burstable families: 1), large 2, xlarge
//! 4, N·xlarge 4·N. Requests whose type is unknown (launch templates) count `default_vcpus`
//! (2) per instance; a request naming several types (fleet overrides) counts the smallest and
//! is GPU only when every type is.
//!
//! **Severity.** One condition: medium; each further condition raises it one step; a
//! machine identity (workload, CI/CD, long-lived user key) or the root user raises it one step;
//! capped at high — except **critical** when four or more launch conditions (all but quota
//! probing) hold at once, or when the same actor turned EC2 termination protection **on**
//! (`ModifyInstanceAttribute` `disableApiTermination {value: true}`, or `RunInstances` with
//! the flag) in a window that meets a launch condition: that is a miner being entrenched.
//! (The protection itself is also the `termination_protection` rule's finding; this rule
//! reads the same events.)
//!
//! Quiet: AWS services (the Auto Scaling service-linked role launching for a group, Batch,
//! Spot Fleet), since the group's creation or update by a person or pipeline is what counts; a
//! CI deploy launching a few instances; turning termination protection off; dry runs
//! (`DryRunOperation`: nothing is requested; permission probes by enumeration tools). Not
//! counted: `SetDesiredCapacity` (cluster autoscalers set the total every minute). Karpenter
//! or cluster-autoscaler roles scaling a large cluster can meet the instance condition:
//! allowlist them in `[suppress.instance_sprawl]`.
//!
//! Findings are grouped in **episodes**: one per actor and account per `episode` bucket (default
//! 1 h), uid = `hash(rule, actor|account, bucket start)`, published as soon as a condition
//! holds, updated when severity rises, and published a last time when the bucket closes
//! behind the watermark, with totals (instances, vCPUs, GPU instances, types, errors,
//! regions) and the earliest evidence. The windows that ever meet a condition do not depend on
//! arrival order (every window is re-examined whenever one of its slots changes), so the final
//! version does not either.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailhound_model::attack::{EXECUTION, IMPACT};
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::Origin;
use trailhound_model::{Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::ec2::protection_on;
use crate::episode::{remediation_for, Draft, Publication, Support};
use crate::state::Weighed;
use crate::view::EventView;
use crate::window::{slot_leaves, slot_of, Windowed};

static META: RuleMeta = RuleMeta {
    id: "instance_sprawl",
    title: "Compute sprawl (possible resource hijacking)",
    severity: Severity::Medium,
    tactics: &[IMPACT, EXECUTION],
    techniques: &["T1496", "T1578.002", "T1610"],
    summary: "Many instances, vCPUs, GPU instances, regions, limit errors or large ECS tasks requested by one actor within minutes",
    stateful: true,
};

/// Thresholds of `instance_sprawl` (`[rules.instance_sprawl]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Sliding window of every condition. Default 10m.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Instances requested (attempts, successful or not) within the window that fire. Default 20.
    pub min_instances: u64,
    /// vCPUs requested within the window that fire. Default 64.
    pub min_vcpus: u64,
    /// GPU / accelerated instances requested within the window that fire. Default 4.
    pub min_gpu_instances: u64,
    /// Distinct regions with launch attempts within the window that fire. Default 3.
    pub min_regions: usize,
    /// Launch attempts failing with one of `limit_errors` within the window that fire. Default 5.
    pub min_limit_errors: u64,
    /// ECS tasks requested within a window that also registered a large task definition. Default 10.
    pub min_ecs_tasks: u64,
    /// CPU units (1024 = 1 vCPU) that make a task definition large. Default 4096.
    pub large_task_cpu_units: u64,
    /// Distinct regions with Service Quotas calls within the window that fire. Default 3.
    pub min_quota_regions: usize,
    /// vCPUs counted per instance whose type is unknown (launch templates). Default 2.
    pub default_vcpus: u32,
    /// Instance family prefixes (followed by a digit) that are GPU / accelerated. Default
    /// p, g, gr, inf, trn, dl, f, vt.
    pub accelerated_families: Vec<String>,
    /// Error-code fragments that make a failed launch a limit or permission error. Default
    /// InstanceLimitExceeded, VcpuLimitExceeded, InsufficientInstanceCapacity,
    /// MaxSpotInstanceCountExceeded, UnauthorizedOperation, AccessDenied, LimitExceeded.
    pub limit_errors: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Self {
            window: Duration::from_secs(600),
            min_instances: 20,
            min_vcpus: 64,
            min_gpu_instances: 4,
            min_regions: 3,
            min_limit_errors: 5,
            min_ecs_tasks: 10,
            large_task_cpu_units: 4096,
            min_quota_regions: 3,
            default_vcpus: 2,
            accelerated_families: s(&["p", "g", "gr", "inf", "trn", "dl", "f", "vt"]),
            limit_errors: s(&[
                "InstanceLimitExceeded",
                "VcpuLimitExceeded",
                "InsufficientInstanceCapacity",
                "MaxSpotInstanceCountExceeded",
                "UnauthorizedOperation",
                "AccessDenied",
                "LimitExceeded",
            ]),
        }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`,
/// `max_evidence` (default 10), `episode` (default 1h).
pub const COMMON: CommonDefaults = CommonDefaults {
    max_evidence: Some(10),
    episode: Some(Duration::from_secs(3600)),
    episode_alias: None,
};

/// vCPUs of instance types that AWS's size rule does not give (see [`vcpus_of`]).
const VCPU_EXCEPTIONS: &[(&str, u32)] = &[
    ("t2.nano", 1),
    ("t2.micro", 1),
    ("t2.small", 1),
    ("a1.metal", 16),
    ("c5.metal", 96),
    ("c5d.metal", 96),
    ("c5n.metal", 72),
    ("c6g.metal", 64),
    ("c6gd.metal", 64),
    ("c6i.metal", 128),
    ("c7g.metal", 64),
    ("c7i.metal-24xl", 96),
    ("c7i.metal-48xl", 192),
    ("g4dn.metal", 96),
    ("i3.metal", 72),
    ("i3en.metal", 96),
    ("m5.metal", 96),
    ("m5d.metal", 96),
    ("m5zn.metal", 48),
    ("m6g.metal", 64),
    ("m6i.metal", 128),
    ("m7g.metal", 64),
    ("mac1.metal", 12),
    ("mac2.metal", 8),
    ("r5.metal", 96),
    ("r5d.metal", 96),
    ("r6g.metal", 64),
    ("r6i.metal", 128),
    ("r7g.metal", 64),
    ("z1d.metal", 48),
];

/// vCPUs of an EC2 instance type (`ml.` SageMaker prefixes are stripped), or None when the
/// name does not parse. AWS's rule: large 2, xlarge 4, N·xlarge 4·N (exact for t3, m5, c5,
/// r5, p2, p3, p4d, g4dn, g5, inf1, trn1, ...); nano/micro/small 2 (t2: 1); medium 2 for
/// burstable `t*` families, 1 otherwise (a1, m6g, c6g ...); `.metal` from a table, else 96.
pub fn vcpus_of(instance_type: &str) -> Option<u32> {
    let it = instance_type.trim().strip_prefix("ml.").unwrap_or(instance_type.trim());
    if let Some((_, v)) = VCPU_EXCEPTIONS.iter().find(|(t, _)| t.eq_ignore_ascii_case(it)) {
        return Some(*v);
    }
    let (family, size) = it.split_once('.')?;
    let burstable = family.starts_with('t');
    match size {
        "nano" | "micro" | "small" => Some(2),
        "medium" => Some(if burstable { 2 } else { 1 }),
        "large" => Some(2),
        "xlarge" => Some(4),
        "metal" => Some(96),
        s => {
            if let Some(n) = s.strip_suffix("xlarge") {
                n.parse::<u32>().ok().map(|n| n.saturating_mul(4))
            } else if let Some(n) = s.strip_prefix("metal-").and_then(|m| m.strip_suffix("xl")) {
                n.parse::<u32>().ok().map(|n| n.saturating_mul(4))
            } else {
                None
            }
        }
    }
}

/// The conditions, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Cond {
    Instances,
    Vcpus,
    Gpu,
    Regions,
    LimitErrors,
    EcsTasks,
    QuotaRegions,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Trigger {
    /// Earliest start (first event slot time) of a window that met the condition.
    earliest: EventTime,
    /// Largest value seen in a window that met it.
    peak: u64,
}

/// What one slot of one key's window holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SlotAgg {
    instances: u64,
    vcpus: u64,
    gpu: u64,
    limit_errors: u64,
    tasks: u64,
    large_task_defs: u64,
    protect_on: u64,
    launch_regions: BTreeSet<String>,
    quota_regions: BTreeSet<String>,
}

/// A window's totals.
#[derive(Debug, Default)]
struct Totals<'a> {
    instances: u64,
    vcpus: u64,
    gpu: u64,
    limit_errors: u64,
    tasks: u64,
    large_task_defs: u64,
    protect_on: u64,
    launch_regions: BTreeSet<&'a str>,
    quota_regions: BTreeSet<&'a str>,
}

/// Everything one key did in one episode bucket.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Episode {
    support: Support,
    instances: u64,
    vcpus: u64,
    gpu: u64,
    tasks: u64,
    ec2: bool,
    ecs: bool,
    protected_instances: u64,
    /// Instance type → instances requested (bounded).
    types: BTreeMap<String, u64>,
    /// Error code → launch attempts failing with it (bounded).
    errors: BTreeMap<String, u64>,
    triggers: BTreeMap<Cond, Trigger>,
    /// Earliest window start where a condition held with termination protection turned on.
    protected: Option<Trigger>,
    publication: Publication,
    dirty: bool,
}

type KeyState = Windowed<i64, SlotAgg, Episode>;

crate::state::weigh_fields! {
    SlotAgg { launch_regions, quota_regions },
    Cond {},
    Trigger {},
    Episode { support, types, errors, triggers },
}

/// What kind of relevant call an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// EC2 / Auto Scaling request for instances.
    Ec2Launch,
    /// Auto Scaling group creation or resize.
    AsgLaunch,
    /// ECS tasks requested.
    EcsTasks,
    /// ECS task definition registered.
    TaskDef,
    /// Service Quotas call.
    Quota,
    /// Termination protection only (ModifyInstanceAttribute).
    Protect,
}

fn kind_of(service: &str, action: &str) -> Option<Kind> {
    Some(match (service, action) {
        ("ec2", "RunInstances" | "CreateFleet" | "RequestSpotInstances" | "RequestSpotFleet") => Kind::Ec2Launch,
        ("ec2", "ModifyInstanceAttribute") => Kind::Protect,
        ("autoscaling", "CreateAutoScalingGroup" | "UpdateAutoScalingGroup") => Kind::AsgLaunch,
        ("ecs", "RunTask" | "StartTask" | "CreateService" | "UpdateService") => Kind::EcsTasks,
        ("ecs", "RegisterTaskDefinition") => Kind::TaskDef,
        ("servicequotas", a) if a.starts_with("Get") || a.starts_with("List") || a == "RequestServiceQuotaIncrease" => {
            Kind::Quota
        }
        _ => return None,
    })
}

/// Every string value under an `instanceType` / `InstanceType` key, depth-first (bounded).
fn instance_types<'v>(v: &'v Value, depth: usize, out: &mut Vec<&'v str>) {
    if depth > 8 || out.len() > 64 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k.eq_ignore_ascii_case("instanceType") {
                    if let Some(s) = x.as_str() {
                        out.push(s);
                        continue;
                    }
                }
                instance_types(x, depth + 1, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| instance_types(x, depth + 1, out)),
        _ => {}
    }
}

/// The first number under one of `keys` (case-insensitive), depth-first (bounded).
fn find_count(v: &Value, depth: usize, keys: &[&str]) -> Option<u64> {
    if depth > 8 {
        return None;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if keys.iter().any(|w| k.eq_ignore_ascii_case(w)) {
                    if let Some(n) = as_u64(x) {
                        return Some(n);
                    }
                }
            }
            m.values().find_map(|x| find_count(x, depth + 1, keys))
        }
        Value::Array(a) => a.iter().find_map(|x| find_count(x, depth + 1, keys)),
        _ => None,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())).or_else(|| v.as_f64().map(|f| f as u64))
}

/// CPU units of a `RegisterTaskDefinition` request: `cpu`, else the containers' sum.
fn task_cpu_units(req: &Value) -> u64 {
    if let Some(c) = req.get("cpu").and_then(as_u64) {
        return c;
    }
    req.get("containerDefinitions")
        .and_then(Value::as_array)
        .map(|defs| defs.iter().filter_map(|d| d.get("cpu").and_then(as_u64)).sum())
        .unwrap_or(0)
}

/// Adds `n` to `key`, keeping the `cap` smallest keys: a key dropped once never comes back
/// (its `cap` smaller keys stay), so the result does not depend on arrival order.
fn tally(map: &mut BTreeMap<String, u64>, key: &str, n: u64, cap: usize) {
    match map.get_mut(key) {
        Some(v) => *v = v.saturating_add(n),
        None => {
            map.insert(key.to_string(), n);
            while map.len() > cap {
                map.pop_last();
            }
        }
    }
}

/// The rule.
pub struct InstanceSprawl {
    cfg: RuleConfig<Config>,
    slot_ms: i64,
    window_ms: i64,
    episode_ms: i64,
    state: Weighed<(String, String), KeyState>,
}

const SLOTS: i64 = 10;

fn ms(d: Duration) -> i64 {
    crate::window::millis(d).max(SLOTS)
}

/// What one event adds.
#[derive(Debug, Default)]
struct Contribution {
    instances: u64,
    vcpus: u64,
    gpu: u64,
    tasks: u64,
    large_task_def: bool,
    limit_error: Option<String>,
    protect: u64,
    launch_region: bool,
    quota_region: bool,
    /// (type, instances) for the episode's type tally.
    type_count: Option<(String, u64)>,
}

impl InstanceSprawl {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        let window_ms = ms(cfg.window);
        let slot_ms = (window_ms / SLOTS).max(1);
        // Episodes are whole numbers of slots, so a window's first slot lies in one bucket.
        let episode_ms = (ms(cfg.common.episode) / slot_ms).max(1) * slot_ms;
        Self { cfg, slot_ms, window_ms, episode_ms, state: Weighed::default() }
    }

    fn accelerated(&self, instance_type: &str) -> bool {
        let it = instance_type.trim().strip_prefix("ml.").unwrap_or(instance_type.trim());
        let family = it.split('.').next().unwrap_or("").as_bytes();
        self.cfg.accelerated_families.iter().any(|p| {
            let p = p.as_bytes();
            family.len() > p.len() && family[..p.len()].eq_ignore_ascii_case(p) && family[p.len()].is_ascii_digit()
        })
    }

    /// What event `row` of kind `kind` adds to the windows and the episode.
    fn contribution(&self, ev: &EventView<'_>, row: usize, kind: Kind) -> Contribution {
        let mut c = Contribution::default();
        let failed_with = ev.error_code(row);
        let launch = matches!(kind, Kind::Ec2Launch | Kind::AsgLaunch | Kind::EcsTasks);
        if let Some(code) = failed_with.filter(|_| launch) {
            if self.cfg.limit_errors.iter().any(|f| code.contains(f.as_str())) {
                c.limit_error = Some(code.to_string());
            }
        }
        match kind {
            Kind::Ec2Launch | Kind::AsgLaunch => {
                let req = ev.request_json(row);
                let default = if kind == Kind::Ec2Launch && ev.action(row) == "RunInstances" { 1 } else { 0 };
                // The column, else a capacity nested in the request (`CreateFleetRequest`
                // wrappers, spot fleet configs).
                let n = ev.instance_count(row).map(u64::from).unwrap_or_else(|| {
                    req.as_ref()
                        .and_then(|r| find_count(r, 0, &["totalTargetCapacity", "targetCapacity", "instanceCount"]))
                        .unwrap_or(default)
                });
                // Types: the column, else every type named in the request (fleet overrides,
                // spot launch specifications, mixed-instances policies).
                let mut types: Vec<&str> = Vec::new();
                if let Some(t) = ev.instance_type(row) {
                    types.push(t);
                } else if let Some(r) = &req {
                    instance_types(r, 0, &mut types);
                }
                let per = types.iter().filter_map(|t| vcpus_of(t)).min().unwrap_or(self.cfg.default_vcpus);
                let gpu = !types.is_empty() && types.iter().all(|t| self.accelerated(t));
                c.instances = n;
                c.vcpus = n.saturating_mul(u64::from(per));
                c.gpu = if gpu { n } else { 0 };
                c.launch_region = n > 0 || c.limit_error.is_some();
                let label = match types.as_slice() {
                    [] => "unknown type".to_string(),
                    [one] => one.to_string(),
                    [first, ..] => format!("{first} (+{} alternatives)", types.len() - 1),
                };
                c.type_count = Some((label, n));
            }
            Kind::EcsTasks => {
                let req = ev.request_json(row);
                let n = match ev.action(row) {
                    "RunTask" => u64::from(ev.instance_count(row).unwrap_or(1)),
                    "StartTask" => req
                        .as_ref()
                        .and_then(|r| r.get("containerInstances"))
                        .and_then(Value::as_array)
                        .map_or(1, |a| a.len().max(1) as u64),
                    _ => req.as_ref().and_then(|r| r.get("desiredCount")).and_then(as_u64).unwrap_or(0),
                };
                c.tasks = n;
                // Task-level CPU override on RunTask, when given.
                let cpu = req.as_ref().and_then(|r| r.get("overrides")).and_then(|o| o.get("cpu")).and_then(as_u64);
                c.vcpus = cpu.map_or(0, |u| n.saturating_mul(u.div_ceil(1024)));
                c.launch_region = n > 0 || c.limit_error.is_some();
            }
            Kind::TaskDef => {
                let units = ev.request_json(row).as_ref().map_or(0, task_cpu_units);
                c.large_task_def = units >= self.cfg.large_task_cpu_units && failed_with.is_none();
            }
            Kind::Quota => c.quota_region = true,
            Kind::Protect => {}
        }
        if matches!(kind, Kind::Ec2Launch | Kind::Protect) {
            if let Some(p) = protection_on(ev, row) {
                c.protect = p.instances;
            }
        }
        c
    }

    fn bucket(&self, t: EventTime) -> EventTime {
        t.div_euclid(self.episode_ms) * self.episode_ms
    }

    /// Calls `f(first_slot, totals)` for every window of [`SLOTS`] slots containing `slot`.
    fn windows(slots: &BTreeMap<i64, SlotAgg>, slot: i64, mut f: impl FnMut(i64, &Totals<'_>)) {
        let lo = slot - SLOTS + 1;
        let span: Vec<(i64, &SlotAgg)> = slots.range(lo..slot + SLOTS).map(|(s, a)| (*s, a)).collect();
        for start in lo..=slot {
            let mut t = Totals::default();
            let mut first = None;
            for (s, a) in span.iter().filter(|(s, _)| *s >= start && *s < start + SLOTS) {
                first.get_or_insert(*s);
                t.instances = t.instances.saturating_add(a.instances);
                t.vcpus = t.vcpus.saturating_add(a.vcpus);
                t.gpu = t.gpu.saturating_add(a.gpu);
                t.limit_errors += a.limit_errors;
                t.tasks = t.tasks.saturating_add(a.tasks);
                t.large_task_defs += a.large_task_defs;
                t.protect_on = t.protect_on.saturating_add(a.protect_on);
                t.launch_regions.extend(a.launch_regions.iter().map(String::as_str));
                t.quota_regions.extend(a.quota_regions.iter().map(String::as_str));
            }
            if let Some(first) = first {
                f(first, &t);
            }
        }
    }

    fn met(&self, t: &Totals<'_>) -> Vec<(Cond, u64)> {
        let c = &self.cfg;
        let mut out = Vec::new();
        let mut check = |cond, value: u64, min: u64| {
            if value >= min.max(1) {
                out.push((cond, value));
            }
        };
        check(Cond::Instances, t.instances, c.min_instances);
        check(Cond::Vcpus, t.vcpus, c.min_vcpus);
        check(Cond::Gpu, t.gpu, c.min_gpu_instances);
        check(Cond::Regions, t.launch_regions.len() as u64, c.min_regions as u64);
        check(Cond::LimitErrors, t.limit_errors, c.min_limit_errors);
        if t.large_task_defs > 0 {
            check(Cond::EcsTasks, t.tasks, c.min_ecs_tasks);
        }
        check(Cond::QuotaRegions, t.quota_regions.len() as u64, c.min_quota_regions as u64);
        out
    }

    fn severity(ep: &Episode) -> Severity {
        let launch_conds = ep.triggers.keys().filter(|c| **c != Cond::QuotaRegions).count();
        if launch_conds == 0 {
            return Severity::Low;
        }
        if ep.protected.is_some() || launch_conds >= 4 {
            return Severity::Critical;
        }
        let mut s = META.severity;
        for _ in 1..ep.triggers.len() {
            s = s.raised();
        }
        let class = ep.support.class();
        if class.is_machine() || class == IdentityClass::Root {
            s = s.raised();
        }
        s.min(Severity::High)
    }

    fn finding(&self, key: &(String, String), bucket: EventTime, ep: &Episode, act: Activity, rev: u32) -> Finding {
        let (actor, account) = key;
        let window = humantime::format_duration(self.cfg.window).to_string();
        let c = &self.cfg;
        let mut context: Vec<String> = ep
            .triggers
            .iter()
            .map(|(cond, t)| {
                let (what, min) = match cond {
                    Cond::Instances => ("instances requested", c.min_instances),
                    Cond::Vcpus => ("vCPUs requested", c.min_vcpus),
                    Cond::Gpu => ("GPU/accelerated instances requested", c.min_gpu_instances),
                    Cond::Regions => ("regions with launch attempts", c.min_regions as u64),
                    Cond::LimitErrors => ("launch attempts failing on limits or permissions", c.min_limit_errors),
                    Cond::EcsTasks => ("ECS tasks requested with a large task definition registered", c.min_ecs_tasks),
                    Cond::QuotaRegions => ("regions probed with Service Quotas calls", c.min_quota_regions as u64),
                };
                format!("{} {what} within {window} (threshold {min}), window from {}", t.peak, to_rfc3339(t.earliest))
            })
            .collect();
        if let Some(p) = ep.protected {
            context.push(format!(
                "termination protection turned on for {} instance(s) by the same actor in a window that met a condition (from {}): critical",
                p.peak,
                to_rfc3339(p.earliest)
            ));
        }
        if !ep.types.is_empty() {
            let types: Vec<String> = ep.types.iter().map(|(t, n)| format!("{t}×{n}")).collect();
            context.push(format!("instance types requested: {}", types.join(", ")));
        }
        if !ep.errors.is_empty() {
            let errs: Vec<String> = ep.errors.iter().map(|(e, n)| format!("{e}×{n}")).collect();
            context.push(format!("launch errors: {}", errs.join(", ")));
        }
        context.push(format!("identity class {}", ep.support.class()));
        let s = &ep.support;
        let failed: u64 = ep.errors.values().sum();
        let mut summary = format!(
            "{actor} ({}) requested {} instances ({} vCPUs, {} GPU/accelerated)",
            s.class(),
            ep.instances,
            ep.vcpus,
            ep.gpu
        );
        if ep.ecs {
            summary.push_str(&format!(" and {} ECS tasks", ep.tasks));
        }
        summary.push_str(&format!(
            " in {} region(s) between {} and {}; {failed} launch attempt(s) failed on limits or permissions",
            s.regions.len(),
            to_rfc3339(s.first_time(bucket)),
            to_rfc3339(s.last)
        ));
        if ep.protected_instances > 0 {
            summary.push_str(&format!("; termination protection turned on for {} instance(s)", ep.protected_instances));
        }
        summary.push('.');
        let mut techniques = vec!["T1496".to_string()];
        if ep.ec2 {
            techniques.push("T1578.002".to_string());
        }
        if ep.ecs {
            techniques.push("T1610".to_string());
        }
        let arn = s.ident.as_ref().and_then(|i| i.arn.as_deref());
        let what = format!(
            "List the instances, fleets, Auto Scaling groups and ECS tasks it created in every region it touched; ask the owner of {} whether they were expected; \
             turn termination protection off and terminate unknown ones.",
            arn.unwrap_or(actor)
        );
        let mut f = Draft {
            meta: &META,
            key: actor,
            anchor: bucket,
            support: s,
            severity: Self::severity(ep),
            confidence: (45 + 15 * ep.triggers.len().min(3) as u8 + if ep.protected.is_some() { 15 } else { 0 })
                .min(95),
            techniques,
            context,
            summary,
            remediation: remediation_for(actor, arn, &what),
        }
        .finding(act, rev);
        f.uid = Finding::make_uid(META.id, &format!("{actor}|{account}"), bucket);
        f
    }

    /// Evicted: a published episode gets its final version now.
    fn close_early(&self, key: &(String, String), st: &mut KeyState, ctx: &mut RuleCtx<'_>) {
        for (b, mut ep) in std::mem::take(&mut st.episodes) {
            if ep.publication.published() {
                ep.publication.close_early();
                self.publish(key, b, &mut ep, true, ctx);
            }
        }
    }

    fn publish(
        &self,
        key: &(String, String),
        bucket: EventTime,
        ep: &mut Episode,
        closing: bool,
        ctx: &mut RuleCtx<'_>,
    ) {
        if ep.triggers.is_empty() {
            return;
        }
        if let Some((act, rev)) = ep.publication.next(Self::severity(ep), ep.support.count, closing) {
            ctx.emit(self.finding(key, bucket, ep, act, rev));
        }
    }
}

impl Rule for InstanceSprawl {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        let mut touched: Vec<(String, String)> = Vec::new();
        for &row in rows {
            let Some(kind) = kind_of(ev.service(row), ev.action(row)) else { continue };
            if ev.identity_class(row) == IdentityClass::AwsService
                || ev.origin(row) == Origin::AwsService
                || ev.error_code(row).is_some_and(|e| e.contains("DryRunOperation"))
                // A console page (Trusted Advisor, Service Quotas) reads quotas in every region
                // for the person looking at it: browsing, not a thief probing limits.
                || (ev.origin(row) == Origin::Console && ev.read_only(row))
            {
                continue;
            }
            let c = self.contribution(ev, row, kind);
            if kind == Kind::Protect && c.protect == 0 {
                continue;
            }
            if kind == Kind::TaskDef && !c.large_task_def {
                continue;
            }
            let t = ev.time(row);
            let slot = slot_of(t, self.slot_ms);
            let key = (ev.actor_key(row).to_string(), ev.account(row).unwrap_or("").to_string());
            let mut entry = self.state.entry(key.clone());
            let st = &mut *entry;
            st.last = st.last.max(t);

            // Episode aggregate.
            let ep = st.episodes.entry(self.bucket(slot * self.slot_ms)).or_default();
            ep.support.add(ev, row, self.cfg.common.max_evidence);
            ep.instances = ep.instances.saturating_add(c.instances);
            ep.vcpus = ep.vcpus.saturating_add(c.vcpus);
            ep.gpu = ep.gpu.saturating_add(c.gpu);
            ep.tasks = ep.tasks.saturating_add(c.tasks);
            ep.protected_instances = ep.protected_instances.saturating_add(c.protect);
            ep.ec2 |= matches!(kind, Kind::Ec2Launch | Kind::AsgLaunch);
            ep.ecs |= matches!(kind, Kind::EcsTasks | Kind::TaskDef);
            if let Some((ty, n)) = &c.type_count {
                tally(&mut ep.types, ty, *n, 32);
            }
            if let Some(code) = &c.limit_error {
                tally(&mut ep.errors, code, 1, 16);
            }
            ep.dirty = true;

            // Window slot.
            let agg = st.slots.entry(slot).or_default();
            agg.instances = agg.instances.saturating_add(c.instances);
            agg.vcpus = agg.vcpus.saturating_add(c.vcpus);
            agg.gpu = agg.gpu.saturating_add(c.gpu);
            agg.tasks = agg.tasks.saturating_add(c.tasks);
            agg.protect_on = agg.protect_on.saturating_add(c.protect);
            agg.large_task_defs += u64::from(c.large_task_def);
            agg.limit_errors += u64::from(c.limit_error.is_some());
            if let Some(r) = ev.region(row) {
                if c.launch_region && !agg.launch_regions.contains(r) {
                    agg.launch_regions.insert(r.to_string());
                }
                if c.quota_region && !agg.quota_regions.contains(r) {
                    agg.quota_regions.insert(r.to_string());
                }
            }

            // Every window containing this slot may have changed: re-examine them.
            let (slots, eps) = (&st.slots, &mut st.episodes);
            Self::windows(slots, slot, |first, totals| {
                let met = self.met(totals);
                if met.is_empty() {
                    return;
                }
                let start = first * self.slot_ms;
                let ep = eps.entry(self.bucket(start)).or_default();
                let launch_cond = met.iter().any(|(c, _)| *c != Cond::QuotaRegions);
                for (cond, value) in met {
                    let tr = ep.triggers.entry(cond).or_insert(Trigger { earliest: start, peak: value });
                    tr.earliest = tr.earliest.min(start);
                    tr.peak = tr.peak.max(value);
                }
                if launch_cond && totals.protect_on > 0 {
                    let p = ep.protected.get_or_insert(Trigger { earliest: start, peak: totals.protect_on });
                    p.earliest = p.earliest.min(start);
                    p.peak = p.peak.max(totals.protect_on);
                }
                ep.dirty = true;
            });
            // Decisive (the earliest of them, whatever the arrival order): calls that asked for
            // instances, hit a limit, probed a quota, registered a large task or protected an
            // instance; not the service updates and task starts of ordinary deploys.
            let substantive =
                c.instances > 0 || c.protect > 0 || c.limit_error.is_some() || c.quota_region || c.large_task_def;
            if substantive {
                if let Some(ep) = st.episodes.get_mut(&self.bucket(slot * self.slot_ms)) {
                    ep.support.mark_decisive(ev, row, self.cfg.common.max_evidence);
                }
            }
            drop(entry);
            if !touched.contains(&key) {
                touched.push(key);
            }
        }
        // Early firing: publish every episode that became true or more severe in this batch.
        for key in touched {
            if let Some(mut st) = self.state.get_mut(&key) {
                for (bucket, ep) in st.episodes.iter_mut().filter(|(_, ep)| ep.dirty) {
                    ep.dirty = false;
                    self.publish(&key, *bucket, ep, false, ctx);
                }
            }
        }
    }

    fn on_watermark(&self, ctx: &mut RuleCtx<'_>) {
        let wm = ctx.watermark;
        self.state.sweep(wm, |key, st| {
            let keep_from = slot_of(wm.saturating_sub(self.window_ms), self.slot_ms);
            if st.slots.first_key_value().is_some_and(|(s, _)| *s < keep_from) {
                st.slots = st.slots.split_off(&keep_from);
            }
            // An episode can change until no window starting in it can: close it when the
            // watermark is past its end plus the window.
            let close_at = |b: EventTime| b.saturating_add(self.episode_ms).saturating_add(self.window_ms);
            let closable: Vec<EventTime> = st.episodes.keys().copied().take_while(|b| close_at(*b) <= wm).collect();
            for b in closable {
                if let Some(mut ep) = st.episodes.remove(&b) {
                    self.publish(key, b, &mut ep, true, ctx);
                }
            }
            if st.episodes.is_empty() && st.slots.is_empty() {
                return None;
            }
            // Next visit: the oldest slot leaving the window, or the first episode closing.
            let leaves = st.slots.keys().next().map_or(EventTime::MAX, |s| slot_leaves(*s, self.slot_ms, self.window_ms));
            Some(leaves.min(st.episodes.keys().next().map_or(EventTime::MAX, |b| close_at(*b))))
        });
    }

    super::keyed_state!(state, close = close_early);

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
#[path = "tests/instance_sprawl.rs"]
mod tests;
