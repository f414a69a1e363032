//! Deterministic generator of a realistic AWS CloudTrail estate with injected attacks.
//!
//! This crate owns **synthetic test data** for trailhound: a simulated organisation (six
//! accounts, seventeen regions) whose benign background is as noisy as real accounts' —
//! people in the console (SSO, IAM users and root: page bursts of 8–27 reads, dashboards
//! across 10–17 regions), their laptop CLIs, GitHub Actions pipelines running Terraform and
//! deploys, IaC lifecycles (Terratest, PR environments, Pulumi, CDK/CloudFormation) that
//! create and destroy trails, flow logs, IAM users and keys, secrets, detectors and recorders,
//! CSPM scanners sweeping every region, owners' audit scripts, EC2/Lambda/ECS workload roles,
//! monitoring pollers, S3 sync jobs, programmatic IAM users, AWS services, service-linked-role
//! sweeps and Auto Scaling — is written as CloudTrail NDJSON (one record per line, in the shape CloudTrail delivers),
//! plus injected attack scenarios by stolen non-human identities with ground-truth
//! [`Label`]s (one per scenario stage, see below).
//!
//! That is the default [`Profile::Estate`]. [`Profile::Stress`] writes a detection cost
//! workload instead: the shape of large, busy accounts (tens of thousands of principals with
//! Zipf activity, about 60 % `List*`/`Describe*`/`Get*`, errors, many sources and agents,
//! sensitive writes at a few percent), deterministic, streamed, without labels.
//!
//! * **Deterministic**: the same [`GenConfig`] gives byte-identical output (ChaCha streams
//!   seeded from `seed`; no clock, no hash-map order). The background uses its own streams,
//!   so switching attacks off leaves it unchanged except where it is cut to make room.
//! * **Arrival order**: events are generated in event-time order, each gets a delivery delay
//!   in `[0, max_delay_ms]` (mostly 1–5 min of 15, a tail to the maximum) and is written in
//!   arrival order. Hence every event's time is `>=` the largest event time written before
//!   it minus `max_delay_ms` (times compared at CloudTrail's one-second resolution).
//! * **Bounded memory**: only events whose arrival is still ahead of the generation cursor
//!   are held.
//!
//! # Scenarios
//!
//! Each scenario (see [`scenario_names`]) is injected about once per 300k events (at least
//! once), after the first 10 % of the run, by a stolen non-human credential used from an
//! attacker's address while its legitimate owner keeps working as before. The attacker's
//! address is a VPS (first octet 5, 45, 89, 91, 103, 185, 193 or 194); in
//! `stolen_instance_credentials` and the last four scenarios of the table, a quarter of the
//! time an EC2 instance in the attacker's own AWS account (first octet 3, 18, 34, 35, 52 or
//! 54, like the estate's own NAT gateways, never one of them); in `instance_role_outside`
//! sometimes the victim's own address, or the victim's own user agent. A single-stage
//! scenario writes one [`Label`]; a multi-stage one writes a label per stage, then an
//! `attack_chain` label spanning the whole scenario (actor: the stolen key). Each label lists
//! the `eventID`s of its events: every event an attacker made is in a label, so an evaluator
//! can call a finding true when its evidence holds one. [`scenario_rules`] gives the rule ids
//! per scenario.
//!
//! | scenario | stolen credential | what happens | labels (rule id: actor) |
//! |---|---|---|---|
//! | `enum_distinct_apis` | programmatic user's `AKIA` key | `GetCallerIdentity`, 25–40 distinct `List*`/`Describe*`/`Get*` calls in ~20 s, some denied | `enumeration_burst`: key |
//! | `enum_regions` | CI/CD session (`ASIA`) | `DescribeInstances` (and a few `DescribeVpcs`) in 12–17 regions in 20 s | `enumeration_burst`: key |
//! | `enum_denied` | EC2 instance-role session | 20–40 denied recon calls over 3–6 min, ≤ 3 distinct APIs per 10 s | `enumeration_burst`: key |
//! | `iam_admin_user` | programmatic user's `AKIA` key | `CreateUser` X, `AttachUserPolicy` X `AdministratorAccess`, `CreateAccessKey` X, `CreateLoginProfile` X within a minute; 5–20 min later X's new key calls `GetCallerIdentity`, `ListBuckets`, ... | `iam_user_persistence`: stolen key; `new_access_key_used`: new key; `attack_chain`: stolen key |
//! | `iam_backdoor_existing_user` | `gha-deploy` CI/CD session | `CreateAccessKey` for an existing person's IAM user, `UpdateLoginProfile` for another | `iam_backdoor_credentials`: key |
//! | `iam_backdoor_role` | Lambda function's role session | `CreateRole` trusting a foreign account's root + `AttachRolePolicy` `AdministratorAccess`; or `UpdateAssumeRolePolicy` adding `"Principal":"*"` to `inventory-readonly` | `iam_role_backdoor`: key |
//! | `iam_self_escalation` | programmatic user U's `AKIA` key | `PutUserPolicy` on U (`Action` `*`, `Resource` `*`), `CreatePolicyVersion` `setAsDefault` true, `CreateAccessKey` for U | `iam_privilege_escalation`: key |
//! | `gpu_sprawl` | CI/CD session | recon burst; service-quota lookups in 4–6 regions, 2–4 GPU `RunInstances` per region (`maxCount` 10–20) in ~5 min, mostly `Client.VcpuLimitExceeded`/`Client.InstanceLimitExceeded`; `ModifyInstanceAttribute` `disableApiTermination` true on every launched instance | `enumeration_burst`, `instance_sprawl`, `termination_protection`, `attack_chain`: key |
//! | `ecs_burst` | CI/CD session | in 3 regions within 10 min: `CreateCluster`, `RegisterTaskDefinition` (`cpu` 16384, a miner image), 2–4 `RunTask` `count` 10, `CreateService` `desiredCount` 50 | `instance_sprawl`: key |
//! | `defense_evasion` | CI/CD session | recon burst; `StopLogging`, `PutEventSelectors` without management events, GuardDuty `UpdateDetector` `enable` false and `DeleteDetector`, `DeleteFlowLogs`, `StopConfigurationRecorder`, `PutBucketLifecycle` `Expiration.Days` 1 on the trail buckets (the organisation one denied) | `enumeration_burst`, `defense_evasion`, `attack_chain`: key |
//! | `secrets_harvest` | ECS task-role session | `ListSecrets`, `GetSecretValue` of 10–16 distinct secrets (3–6 denied), `BatchGetSecretValue`, `GetParametersByPath` with decryption, `GetPasswordData` ×3, in 2–5 min | `credential_harvesting`: key |
//! | `stolen_instance_credentials` | EC2 instance-role session, still used by its instance | `GetCallerIdentity`, `ListBuckets`, `DescribeInstances`, `CreateUser` | `workload_credential_misuse`: key |
//! | `baseline_novelty` | `gha-terraform` CI/CD session | from a new network, user-agent family and region: `GetCallerIdentity`, `DescribeVpcs`, `PutRolePolicy` | `identity_baseline`: key |
//! | `instance_role_outside` | EC2 instance-role session, still used by its instance | 2–15 s after the instance's own SSM-agent call (unlabelled), 1–4 calls: `GetCallerIdentity`, `ListBuckets`, `DescribeInstances`, `ListRoles`; from an attacker address with a laptop user agent (macOS AWS CLI, Windows boto3), or from the instance's own NAT address with a laptop user agent, or from an attacker address with the instance's own agent user agent | `workload_credential_misuse`: key |
//! | `new_key_outside` | the `backup-job` user's host | `CreateAccessKey` for the user itself from the job's own address and user agent (like its rotation); 2–10 min later the new key from an attacker address and laptop: `GetCallerIdentity`, `ListBuckets`, 1–2 reads | `new_access_key_used`: the **new** key (events: the creation and the new key's calls) |
//! | `federation_console` | programmatic user's `AKIA` key | `GetFederationToken` (admin `policy` or `policyArns`), `signin` `GetSigninToken` and `ConsoleLogin` as the `FederatedUser`, 3–5 console reads | `iam_backdoor_credentials`: key (events: all, the federated ones included) |
//! | `backdoor_key_used` | CI/CD session (or an `AKIA` key) | `ListUsers`, `ListAccessKeys`, `CreateAccessKey` for a person's or a service user; 3–15 min later the new key: `GetCallerIdentity`, `ListBuckets`, 1–2 reads | `iam_backdoor_credentials`: stolen key; `new_access_key_used`: new key; `attack_chain`: stolen key |
//!
//! `baseline_novelty` needs seven days of history: it is only injected in runs spanning at
//! least 8 simulated days (about 11M events; the estate makes ~57k events per simulated
//! hour), at most four times, between day 7 and the last 12 hours; shorter runs have no
//! event and no label of it.
//!
//! # Benign look-alikes
//!
//! The background holds the innocent versions of these shapes (unlabelled): Terraform
//! applies creating a user, its key and a policy (and roles) from a CI role; monitoring
//! pollers sweeping all regions; Auto Scaling launching 20 instances at once; deploys turning
//! termination protection off; administrators creating an IAM user with a console password
//! and non-admin policies, and adding S3 data events to a trail (management events kept);
//! programmatic users rotating their own key (`CreateAccessKey` for itself, `DeleteAccessKey`
//! of the old one, the new key then used from the same address); Lambda functions reading
//! their one secret at each cold start; an ECS service whose ten tasks each read two secrets
//! at start-up.
//!
//! ```
//! use trailhound_gen::{generate, GenConfig, Label};
//!
//! let cfg = GenConfig { seed: 7, events: 30_000, ..GenConfig::default() };
//! let (mut events, mut labels) = (Vec::new(), Vec::new());
//! let stats = generate(&cfg, &mut events, Some(&mut labels)).expect("in-memory writes");
//! assert_eq!(stats.events, 30_000);
//! assert_eq!(stats.scenarios, 16); // every scenario but `baseline_novelty` (too short a run)
//! assert!(stats.labels > stats.scenarios); // multi-stage scenarios write several labels
//!
//! let first = std::str::from_utf8(&events).expect("utf-8").lines().next().expect("a line");
//! let v: serde_json::Value = serde_json::from_str(first).expect("json");
//! assert_eq!(v["eventVersion"], "1.09");
//!
//! let label: Label = serde_json::from_slice(labels.split(|b| *b == b'\n').next().expect("a label"))
//!     .expect("label json");
//! assert_eq!(trailhound_gen::scenario_rules(&label.scenario).map(|r| r[0]), Some(label.rule_id.as_str()));
//! assert_eq!(label.event_ids.len() as u64, label.events); // the eventIDs of the label's events
//! ```

use std::io::Write;

use serde::{Deserialize, Serialize};
use trailhound_model::time::{days_from_civil, DAY, MINUTE};

pub mod actors;
mod background;
mod engine;
mod estate;
mod event;
mod identity;
mod json;
mod scenarios;
mod stress;

#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod tests;

/// The RNG behind everything (ChaCha8, one stream per concern).
pub(crate) type Rng = rand_chacha::ChaCha8Rng;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of events to write (background plus attacks). Only when it is too small to
    /// hold the scenarios is it exceeded, by the scenarios' events: below about 30k events
    /// (40 minutes of simulated time, too little for sessions to be stolen mid-run and for
    /// the scenarios that last up to 20 minutes) they add up to a few hundred.
    pub events: u64,
    /// Start of the simulated window, ms since the epoch (default 2026-11-02T00:00:00Z).
    pub start_ms: i64,
    /// Largest delivery delay of an event after its event time, ms (default 15 min).
    pub max_delay_ms: i64,
    /// Inject attack scenarios (default true).
    pub attacks: bool,
    /// Which scenarios to inject, by name (see [`scenario_names`]); `None` for all.
    pub scenarios: Option<Vec<String>>,
    /// Which workload to write (default [`Profile::Estate`]).
    pub profile: Profile,
}

/// The workload [`generate`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The simulated organisation with injected, labelled attack scenarios (this crate's
    /// documentation above).
    #[default]
    Estate,
    /// The shape of large, busy accounts, as a detection cost workload: tens of thousands of
    /// principals with Zipf activity, about 60 % `List*`/`Describe*`/`Get*`, errors, many
    /// sources and agents, sensitive writes at a few percent; no labels (see the `stress`
    /// module's documentation, repeated in the README "Benchmarks").
    Stress,
}

impl Profile {
    /// Every profile's name, as [`std::str::FromStr`] reads it.
    pub const NAMES: [&'static str; 2] = ["estate", "stress"];
}

impl std::str::FromStr for Profile {
    type Err = GenError;
    fn from_str(s: &str) -> Result<Self, GenError> {
        match s {
            "estate" => Ok(Profile::Estate),
            "stress" => Ok(Profile::Stress),
            other => Err(GenError::Config(format!("unknown profile {other:?} (known: {})", Profile::NAMES.join(", ")))),
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Estate => "estate",
            Profile::Stress => "stress",
        })
    }
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            events: 100_000,
            start_ms: days_from_civil(2026, 11, 2) * DAY,
            max_delay_ms: 15 * MINUTE,
            attacks: true,
            scenarios: None,
            profile: Profile::Estate,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GenStats {
    /// Event lines written.
    pub events: u64,
    /// Bytes of event output written.
    pub bytes: u64,
    /// Scenario instances injected.
    pub scenarios: u64,
    /// Label lines written (one per single-stage instance; one per stage plus an
    /// `attack_chain` label per multi-stage instance).
    pub labels: u64,
}

/// Ground truth for one injected scenario instance (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Scenario name, e.g. `enum_regions`.
    pub scenario: String,
    /// Rule expected to fire, e.g. `enumeration_burst`.
    pub rule_id: String,
    /// The actor the attacker acted as: the access key id used (`AKIA…` or `ASIA…`).
    pub actor_key: String,
    /// Account id attacked.
    pub account: String,
    /// Event time of the scenario's first event (ms, whole seconds as rendered).
    pub start_ms: i64,
    /// Event time of its last event (ms, whole seconds as rendered).
    pub end_ms: i64,
    /// Number of events of the label: the stage's for a stage label, the scenario's for a
    /// single-stage scenario's or an `attack_chain` label.
    pub events: u64,
    /// The CloudTrail `eventID`s of those events (`events` of them), in the order the
    /// attacker made them. Every event an attacker made is in some label of its instance (all
    /// of them in its `attack_chain` label); events of the legitimate owner are in none. An
    /// id usually belongs to an event whose `accessKeyId` is `actor_key`; the exceptions are
    /// the `attack_chain` labels and the scenarios whose documentation names other keys
    /// (`new_key_outside`'s `CreateAccessKey`, `federation_console`'s federated user).
    #[serde(default)]
    pub event_ids: Vec<String>,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Writing events or labels failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// Serialising a label failed.
    #[error("label serialisation failed: {0}")]
    Json(#[from] serde_json::Error),
    /// A requested scenario does not exist.
    #[error("unknown scenario {0:?} (known: {known})", known = scenario_names().join(", "))]
    UnknownScenario(String),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Writes `cfg.events` CloudTrail records of `cfg.profile` as NDJSON to `out` (in arrival
/// order) and, when `labels` is given, one [`Label`] JSON line per injected scenario instance
/// (none for [`Profile::Stress`]). Both writers
/// are buffered internally and flushed before returning.
pub fn generate<W: Write, L: Write>(cfg: &GenConfig, out: W, labels: Option<L>) -> Result<GenStats, GenError> {
    match cfg.profile {
        Profile::Estate => engine::generate(cfg, out, labels),
        Profile::Stress => stress::generate(cfg, out, labels),
    }
}

/// Names of the scenarios that can be injected, in a stable order.
pub fn scenario_names() -> &'static [&'static str] {
    scenarios::NAMES
}

/// The rule ids of the labels one instance of scenario `name` writes, in the order written
/// (for a multi-stage scenario: its stages, then `attack_chain`); `None` for an unknown name.
pub fn scenario_rules(name: &str) -> Option<&'static [&'static str]> {
    scenarios::ALL.iter().find(|d| d.name == name).map(|d| d.rules)
}
