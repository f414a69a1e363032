//! The whole configuration: embedded defaults, then a file, then the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailhound_detect::{DetectConfig, EngineConfig, RulesConfig, Suppress};
use trailhound_parse::ParseConfig;

/// The documented defaults (`config/trailhound.toml`), compiled in.
pub const DEFAULT_TOML: &str = include_str!("../../../config/trailhound.toml");

/// Prefix of environment overrides: `TRAILHOUND__ENGINE__WORKERS=4`.
pub const ENV_PREFIX: &str = "TRAILHOUND__";

/// Where replay and run write their outputs (paths relative to the output directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Parquet findings directory. Default `findings`.
    pub findings_dir: PathBuf,
    /// OCSF JSON lines of every published finding version; empty turns it off.
    /// Default `findings.ocsf.jsonl`.
    pub ocsf_jsonl: PathBuf,
    /// Dead-letter NDJSON file. Default `dead-letters.ndjson`.
    pub dead_letters: PathBuf,
    /// Findings per Parquet file at most. Default 100000.
    pub max_rows_per_file: usize,
    /// `replay` flushes its outputs (a Parquet file per partition touched, the OCSF and
    /// dead-letter files fsynced) after this many finding versions. Default 10000.
    pub flush_rows: usize,
    /// ... and at least this often (wall clock) while anything is pending. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            findings_dir: "findings".into(),
            ocsf_jsonl: "findings.ocsf.jsonl".into(),
            dead_letters: "dead-letters.ndjson".into(),
            max_rows_per_file: 100_000,
            flush_rows: 10_000,
            flush_interval: Duration::from_secs(30),
        }
    }
}

/// `trailhound run`: where the Kafka runtime reads, writes, and keeps its checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers (`bootstrap.servers`). Default `127.0.0.1:9092`.
    pub brokers: String,
    /// Consumer group id. Default `trailhound`.
    pub group_id: String,
    /// Topics holding CloudTrail: one event or one delivery file (plain or gzip) per message.
    /// Default `["cloudtrail"]`.
    pub input_topics: Vec<String>,
    /// Findings as OCSF Detection Finding JSON (key = actor key). Default `trailhound-findings`.
    pub findings_topic: String,
    /// Records that could not be parsed, with their source offsets. Default
    /// `trailhound-dead-letters`.
    pub dead_letter_topic: String,
    /// librdkafka properties for every client (TLS, SASL, ...). A value `${NAME}` is read from
    /// the environment variable NAME, so secrets need not sit in the file. Values are never
    /// logged.
    pub client: BTreeMap<String, String>,
    /// librdkafka properties for the consumer only (override `client` and trailhound's own).
    pub consumer: BTreeMap<String, String>,
    /// librdkafka properties for the producer only (override `client` and trailhound's own).
    pub producer: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            group_id: "trailhound".into(),
            input_topics: vec!["cloudtrail".into()],
            findings_topic: "trailhound-findings".into(),
            dead_letter_topic: "trailhound-dead-letters".into(),
            client: BTreeMap::new(),
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
        }
    }
}

/// `trailhound run`: checkpoints, shutdown, batching, the operations endpoint and logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Detection state checkpoints, one file per input partition (relative to `--out`). Members
    /// of one consumer group must share it (same host, or a shared file system) for a partition
    /// that moves to keep its windows. Default `state`.
    pub state_dir: PathBuf,
    /// How often each partition checkpoints: findings acknowledged, Parquet durable, state
    /// written, offsets committed. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// SIGTERM/SIGINT: time allowed to drain, flush and commit before exiting with an error.
    /// Default `30s`.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Messages buffered per partition between the consumer and its worker (backpressure).
    /// Default 256.
    pub partition_queue: usize,
    /// A partition's worker parses and detects what it has when no message arrives for this
    /// long, so findings are not held back waiting for a full batch. Default `5ms`.
    #[serde(with = "humantime_serde")]
    pub idle_flush: Duration,
    /// A partition's worker detects the rows its parser holds once it has held them this long,
    /// even while messages keep arriving: bounds the latency that filling a batch
    /// (`parse.batch_rows`) adds to a live stream. A partition that is behind (messages queued
    /// for it) fills whole batches instead, to catch up. Default `20ms`.
    #[serde(with = "humantime_serde")]
    pub max_batch_delay: Duration,
    /// `/metrics`, `/healthz` and `/readyz` listen here; empty turns them off.
    /// Default `127.0.0.1:9464`.
    pub listen: String,
    /// Log format: `text` or `json`. Default `text`.
    pub log_format: String,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            state_dir: "state".into(),
            checkpoint_interval: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            partition_queue: 256,
            idle_flush: Duration::from_millis(5),
            max_batch_delay: Duration::from_millis(20),
            listen: "127.0.0.1:9464".into(),
            log_format: "text".into(),
        }
    }
}

/// trailhound's configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Parser limits.
    pub parse: ParseConfig,
    /// Detection engine.
    pub engine: EngineConfig,
    /// Rule thresholds, one table per rule id.
    pub rules: RulesConfig,
    /// Outputs.
    pub output: OutputConfig,
    /// Allowlists per rule id (`[suppress.<rule_id>]`).
    pub suppress: std::collections::BTreeMap<String, Suppress>,
    /// Kafka topics and client properties (`trailhound run`).
    pub kafka: KafkaConfig,
    /// Checkpoints, shutdown and operations (`trailhound run`).
    pub run: RunConfig,
}

/// A configuration that cannot be used. Lists every problem found.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, or keys and types that do not fit.
    #[error("invalid configuration in {origin}: {message}")]
    Syntax {
        /// `config/trailhound.toml`, the file, or the environment variable.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// Values out of range.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// Merges `over` (one layer: the file, an environment variable) into `base`; a rule's older
/// name of a common key in `over` (`group`) replaces the common one (`episode`) in `base`.
fn merge_layer(base: &mut toml::Table, mut over: toml::Table) {
    if let Some(toml::Value::Table(rules)) = over.get_mut("rules") {
        RulesConfig::canonical_names(rules);
    }
    merge(base, over);
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl Config {
    /// Defaults, overlaid with `file` (if any), overlaid with `TRAILHOUND__*` variables from
    /// `env`; then validated.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut table: toml::Table = DEFAULT_TOML.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
            origin: "config/trailhound.toml".into(),
            message: e.to_string(),
        })?;
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
            let over: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?;
            // Check the file on its own first, so an unknown key names the file.
            toml::Value::Table(over.clone())
                .try_into::<Config>()
                .map_err(|e| ConfigError::Syntax { origin: path.display().to_string(), message: e.to_string() })?;
            merge_layer(&mut table, over);
        }
        let mut vars: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        vars.sort();
        for (key, value) in vars {
            let path: Vec<String> = key[ENV_PREFIX.len()..].split("__").map(str::to_ascii_lowercase).collect();
            let parsed: toml::Value = format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(value.clone()));
            let mut over = toml::Table::new();
            let mut cur = &mut over;
            for (i, seg) in path.iter().enumerate() {
                if i + 1 == path.len() {
                    cur.insert(seg.clone(), parsed.clone());
                } else {
                    cur = match cur.entry(seg.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new())) {
                        toml::Value::Table(t) => t,
                        _ => unreachable!("inserted as a table just above"),
                    };
                }
            }
            let mut probe = table.clone();
            merge_layer(&mut probe, over);
            toml::Value::Table(probe.clone()).try_into::<Config>().map_err(|e| ConfigError::Syntax {
                origin: format!("environment variable {key}"),
                message: e.to_string(),
            })?;
            table = probe;
        }
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e| ConfigError::Syntax { origin: "merged configuration".into(), message: e.to_string() })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The detection part.
    pub fn detect(&self) -> DetectConfig {
        DetectConfig { engine: self.engine.clone(), rules: self.rules.clone(), suppress: self.suppress.clone() }
    }

    /// Range checks serde cannot do; every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errs = Vec::new();
        if let Err(e) = self.detect().validate() {
            errs.extend(e);
        }
        let p = &self.parse;
        if p.batch_rows == 0 || p.batch_rows > 1 << 20 {
            errs.push(format!("parse.batch_rows must be between 1 and 1048576, got {}", p.batch_rows));
        }
        if p.max_event_bytes < 1024 {
            errs.push(format!("parse.max_event_bytes must be at least 1024, got {}", p.max_event_bytes));
        }
        if p.max_document_bytes < p.max_event_bytes {
            errs.push("parse.max_document_bytes must be at least parse.max_event_bytes".to_string());
        }
        if !(2..=1024).contains(&p.max_depth) {
            errs.push(format!("parse.max_depth must be between 2 and 1024, got {}", p.max_depth));
        }
        if self.output.max_rows_per_file == 0 {
            errs.push("output.max_rows_per_file must be at least 1".to_string());
        }
        if self.output.flush_rows == 0 {
            errs.push("output.flush_rows must be at least 1".to_string());
        }
        if self.output.flush_interval < Duration::from_millis(100) {
            errs.push("output.flush_interval must be at least 100ms".to_string());
        }
        if self.output.findings_dir.as_os_str().is_empty() {
            errs.push("output.findings_dir must not be empty".to_string());
        }
        let k = &self.kafka;
        if k.brokers.trim().is_empty() {
            errs.push("kafka.brokers must not be empty".to_string());
        }
        if k.group_id.trim().is_empty() {
            errs.push("kafka.group_id must not be empty".to_string());
        }
        if k.input_topics.is_empty() || k.input_topics.iter().any(|t| t.trim().is_empty()) {
            errs.push("kafka.input_topics must name at least one topic, none empty".to_string());
        }
        for (name, t) in [("findings_topic", &k.findings_topic), ("dead_letter_topic", &k.dead_letter_topic)] {
            if t.trim().is_empty() {
                errs.push(format!("kafka.{name} must not be empty"));
            } else if k.input_topics.contains(t) {
                errs.push(format!("kafka.{name} `{t}` is also an input topic"));
            }
        }
        let r = &self.run;
        if r.checkpoint_interval < Duration::from_millis(100) {
            errs.push("run.checkpoint_interval must be at least 100ms".to_string());
        }
        if r.partition_queue == 0 {
            errs.push("run.partition_queue must be at least 1".to_string());
        }
        if !matches!(r.log_format.as_str(), "text" | "json") {
            errs.push(format!("run.log_format must be `text` or `json`, got `{}`", r.log_format));
        }
        if !r.listen.is_empty() && r.listen.parse::<std::net::SocketAddr>().is_err() {
            errs.push(format!("run.listen must be host:port (an IP address) or empty, got `{}`", r.listen));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn the_documented_defaults_are_the_code_defaults() {
        let from_file: Config = toml::from_str(DEFAULT_TOML).expect("config/trailhound.toml parses");
        assert_eq!(from_file, Config::default());
        assert_eq!(Config::load(None, none()).expect("loads"), Config::default());
    }

    #[test]
    fn a_file_overrides_some_keys_and_the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[engine]\nworkers = 3\n[rules.enumeration_burst]\nmin_regions = 12\n").expect("write");
        let env = vec![
            ("TRAILHOUND__ENGINE__WORKERS".to_string(), "4".to_string()),
            ("TRAILHOUND__ENGINE__ALLOWED_LATENESS".to_string(), "20m".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let c = Config::load(Some(&f), env).expect("loads");
        assert_eq!(c.engine.workers, 4);
        assert_eq!(c.engine.allowed_lateness, std::time::Duration::from_secs(1200));
        assert_eq!(c.rules.enumeration_burst.min_regions, 12);
        assert_eq!(c.rules.enumeration_burst.min_distinct_apis, 6, "untouched keys keep their default");
        std::fs::write(
            &f,
            "[suppress.enumeration_burst]\nuser_agents = [\"datadog\"]\n[suppress.no_such_rule]\nactors = [\"x\"]\n",
        )
        .expect("write");
        let e = Config::load(Some(&f), none()).expect_err("unknown rule id").to_string();
        assert!(e.contains("suppress.no_such_rule"), "{e}");
    }

    #[test]
    fn unknown_keys_bad_types_and_bad_values_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[engine]\nworkerz = 3\n").expect("write");
        let e = Config::load(Some(&f), none()).expect_err("unknown key").to_string();
        assert!(e.contains("c.toml") && e.contains("workerz"), "{e}");
        std::fs::write(&f, "[engine]\nallowed_lateness = \"soon\"\n").expect("write");
        assert!(Config::load(Some(&f), none()).is_err());
        std::fs::write(&f, "[engine]\nworkers = 0\n[parse]\nbatch_rows = 0\n").expect("write");
        let e = Config::load(Some(&f), none()).expect_err("invalid").to_string();
        assert!(e.contains("workers") && e.contains("batch_rows"), "every problem at once: {e}");
        let e = Config::load(None, vec![("TRAILHOUND__ENGINE__NOPE".to_string(), "1".to_string())])
            .expect_err("env")
            .to_string();
        assert!(e.contains("TRAILHOUND__ENGINE__NOPE"), "{e}");
        assert!(matches!(Config::load(Some(Path::new("/nonexistent/x.toml")), none()), Err(ConfigError::Io { .. })));
    }

    #[test]
    fn a_rule_s_common_keys_come_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[rules.enumeration_burst]\nmax_evidence = 5\nepisode = \"30m\"\nmin_regions = 12\n\
             [rules.lambda_backdoor]\ngroup = \"2h\"\n",
        )
        .expect("write");
        let env = vec![
            ("TRAILHOUND__RULES__ENUMERATION_BURST__ENABLED".to_string(), "false".to_string()),
            ("TRAILHOUND__RULES__ENUMERATION_BURST__MAX_EVIDENCE".to_string(), "7".to_string()),
            ("TRAILHOUND__RULES__DEFENSE_EVASION__SEVERITY".to_string(), "high".to_string()),
            ("TRAILHOUND__RULES__IDENTITY_PROVIDER_BACKDOOR__GROUP".to_string(), "3h".to_string()),
        ];
        let c = Config::load(Some(&f), env).expect("loads");
        let e = &c.rules.enumeration_burst;
        assert!(!e.common.enabled);
        assert_eq!(e.common.max_evidence, 7, "the environment overrides the file");
        assert_eq!(e.common.episode, Duration::from_secs(1800));
        assert_eq!(e.min_regions, 12);
        assert_eq!(c.rules.lambda_backdoor.common.episode, Duration::from_secs(7200), "the older name `group`");
        assert_eq!(c.rules.identity_provider_backdoor.common.episode, Duration::from_secs(3 * 3600));
        assert_eq!(c.rules.defense_evasion.common.severity, Some(trailhound_model::Severity::High));
        let rules = trailhound_detect::rules::build(&c.rules);
        assert!(rules.iter().all(|r| r.meta().id != "enumeration_burst"), "disabled from the environment");
    }

    #[test]
    fn a_rule_s_unknown_or_misplaced_keys_are_errors_naming_the_rule_and_the_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[rules.enumeration_burst]\nmin_regionz = 3\n").expect("write");
        let e = Config::load(Some(&f), none()).expect_err("unknown key").to_string();
        assert!(e.contains("c.toml") && e.contains("rules.enumeration_burst") && e.contains("min_regionz"), "{e}");
        std::fs::write(&f, "[rules.attack_chain]\nepisode = \"1h\"\n").expect("write");
        let e = Config::load(Some(&f), none()).expect_err("no episodes").to_string();
        assert!(e.contains("rules.attack_chain.episode") && e.contains("episodes"), "{e}");
        let var = "TRAILHOUND__RULES__DEFENSE_EVASION__MAX_EVIDENCE";
        let e = Config::load(None, vec![(var.to_string(), "3".to_string())]).expect_err("no evidence list").to_string();
        assert!(e.contains(var) && e.contains("rules.defense_evasion.max_evidence"), "{e}");
        let var = "TRAILHOUND__RULES__LAMBDA_BACKDOOR__SEVERITY";
        let e =
            Config::load(None, vec![(var.to_string(), "urgent".to_string())]).expect_err("bad severity").to_string();
        assert!(e.contains(var) && e.contains("urgent"), "{e}");
        let env = vec![("TRAILHOUND__RULES__INSTANCE_SPRAWL__MAX_EVIDENCE".to_string(), "0".to_string())];
        let e = Config::load(None, env).expect_err("out of range").to_string();
        assert!(e.contains("rules.instance_sprawl.max_evidence must be between 1 and 1000"), "{e}");
    }
}
