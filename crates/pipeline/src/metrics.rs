//! Metric names, in one place. They are stable: dashboards and alerts depend on them.

/// Events parsed into the model (counter).
pub const EVENTS: &str = "trailhound_events_total";
/// Input bytes after decompression (counter).
pub const BYTES: &str = "trailhound_input_bytes_total";
/// Records routed to the dead letters, by `kind` (counter).
pub const DEAD_LETTERS: &str = "trailhound_dead_letters_total";
/// Finding versions published, by `rule` and `severity` (counter).
pub const FINDINGS: &str = "trailhound_findings_total";
/// Events behind the watermark on arrival (counter).
pub const LATE_EVENTS: &str = "trailhound_late_events_total";
/// Keyed state entries held by the rules (gauge).
pub const STATE_ENTRIES: &str = "trailhound_state_entries";
