//! The wiring of trailhound: sources → parse → detect → sinks.
//!
//! This crate owns the configuration as a whole ([`Config`]: embedded defaults from
//! `config/trailhound.toml`, a file, `TRAILHOUND__*` environment overrides, validated with
//! every problem reported at once), the sinks for findings and dead letters ([`sinks`]), and
//! the replay driver ([`replay`]) that runs files or stdin through the same path the Kafka
//! runtime uses.
//!
//! ```no_run
//! use std::sync::Arc;
//! use trailhound_pipeline::{replay, Config};
//! let cfg = Config::load(None, std::env::vars()).expect("valid config");
//! let inputs = [replay::Input::parse("events.ndjson")];
//! let summary = replay::replay(&cfg, &inputs, "out".as_ref(), Arc::default()).expect("replay");
//! println!("{} events, {} dead letters", summary.events, summary.dead_letters);
//! ```

mod config;
pub mod metrics;
pub mod rejected;
pub mod replay;
pub mod sinks;

pub use config::{Config, ConfigError, KafkaConfig, OutputConfig, RunConfig, DEFAULT_TOML, ENV_PREFIX};

/// Errors that stop a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An input that does not exist or cannot be opened.
    #[error("input: {0}")]
    Input(String),
    /// The engine rejected a batch or its configuration.
    #[error(transparent)]
    Detect(#[from] trailhound_detect::DetectError),
    /// A sink failed.
    #[error(transparent)]
    Sink(#[from] sinks::SinkError),
}
