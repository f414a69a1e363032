//! The whole configuration: embedded defaults, then a file, then the environment.

use std::path::{Path, PathBuf};

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
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            findings_dir: "findings".into(),
            ocsf_jsonl: "findings.ocsf.jsonl".into(),
            dead_letters: "dead-letters.ndjson".into(),
            max_rows_per_file: 100_000,
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
            merge(&mut table, over);
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
            merge(&mut probe, over);
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
        if self.output.findings_dir.as_os_str().is_empty() {
            errs.push("output.findings_dir must not be empty".to_string());
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
}
