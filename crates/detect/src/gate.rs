//! The future-time gate: one event must not move time for everyone.
//!
//! The watermark is the newest event time minus the allowed lateness, so a single event dated
//! 9999-12-31 would make every later event "late" and blind the stateful rules. The gate sits
//! in front of the engine and decides, row by row in arrival order, which events may move the
//! clock:
//!
//! - an event dated more than `max_future_skew` ahead of the **time it was received** (the
//!   Kafka message timestamp, `received_time`) or of the **driver's clock** (the host's time,
//!   given by [`Gate::set_now`]) is rejected at once;
//! - an event at most `max_future_skew` ahead of the newest admitted event (the gate's
//!   **clock**) is admitted;
//! - an event further ahead is **held** until a later event corroborates it: one arriving
//!   with a time no more than `max_future_skew` before it. Then the stream has really moved on
//!   (a gap between delivery files, a replay of a sparse archive) and it is released in
//!   arrival order. A held event that `future_hold_events` later events have not corroborated
//!   was alone: it is rejected as `time_out_of_range`.
//!
//! The very first event is held too (there is no clock yet), so a poisoned first event is
//! judged like any other. A single event can therefore never move the watermark; two events
//! agreeing on a far future can (documented). At the end of input the events still held are
//! judged after everything admitted has been closed and published (nothing comes after them
//! that they could blind, and no finding before them can change): the last event of a sparse
//! stream is not lost.
//!
//! Held rows are kept as one-row copies (not slices of their batch, which would keep whole
//! batches alive) and are part of the engine snapshot (Arrow IPC).

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch, UInt32Array};
use serde::{Deserialize, Serialize};
use trailhound_model::event::col;
use trailhound_model::time::EventTime;

use crate::state::StateError;
use crate::view::EventView;

/// An event the gate would not let into the engine: dated too far ahead. The driver routes
/// it to the dead-letter sink (kind `time_out_of_range`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The event's `source` column: `file:line`, `file:record#index` or `topic/partition:offset`.
    pub source: String,
    /// The event's id.
    pub event_id: String,
    /// The event's actor key.
    pub actor_key: String,
    /// The event's time (ms since the epoch).
    pub event_time: EventTime,
    /// The time it was judged against (ms since the epoch).
    pub reference: EventTime,
    /// What that reference was: `stream` (the newest admitted event), `received` (the
    /// message timestamp) or `now` (the driver's clock).
    pub against: &'static str,
    /// The event's columns as JSON (the original bytes are not kept past parsing; `source`
    /// locates them).
    pub row: serde_json::Value,
}

/// What the gate let through for one batch.
pub(crate) struct Admission {
    /// Rows of earlier batches released now, in arrival order (one batch).
    pub released: Option<RecordBatch>,
    /// Rows of this batch admitted, in row order.
    pub rows: Vec<usize>,
}

struct Held {
    time: EventTime,
    /// One-row copy of the event.
    row: RecordBatch,
}

/// The gate's state in an engine snapshot.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct GateState {
    clock: Option<EventTime>,
    arrivals: u64,
    /// Arrival number of every held event, in arrival order.
    seqs: Vec<u64>,
    /// The held events, in the same order, as one Arrow IPC stream.
    #[serde(with = "crate::state::bytes")]
    rows: Vec<u8>,
}

pub(crate) struct Gate {
    skew: i64,
    hold: u64,
    now: Option<EventTime>,
    /// Newest admitted event time.
    clock: Option<EventTime>,
    /// Events seen (admitted, held or rejected) since the start of the stream.
    arrivals: u64,
    /// Held events by arrival number.
    held: BTreeMap<u64, Held>,
    /// Held arrival numbers by time, for "released by a later event".
    by_time: BTreeMap<(EventTime, u64), ()>,
    rejected: Vec<Rejected>,
    /// Counters for the engine's stats.
    pub released_total: u64,
    pub rejected_total: u64,
}

impl Gate {
    pub fn new(skew: i64, hold: usize) -> Self {
        Self {
            skew: skew.max(1),
            hold: hold.max(1) as u64,
            now: None,
            clock: None,
            arrivals: 0,
            held: BTreeMap::new(),
            by_time: BTreeMap::new(),
            rejected: Vec::new(),
            released_total: 0,
            rejected_total: 0,
        }
    }

    pub fn set_now(&mut self, now: Option<EventTime>) {
        self.now = now;
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    pub fn take_rejected(&mut self) -> Vec<Rejected> {
        std::mem::take(&mut self.rejected)
    }

    /// The clock after a restore from a snapshot written before the gate existed.
    pub fn seed_clock(&mut self, clock: Option<EventTime>) {
        if self.clock.is_none() {
            self.clock = clock;
        }
    }

    /// Judges every row of `batch` in order.
    pub fn admit(&mut self, view: &EventView<'_>, batch: &RecordBatch) -> Admission {
        let n = view.len();
        let received = batch.column(col::RECEIVED_TIME).as_primitive_opt::<TimestampMillisecondType>();
        let mut admitted = vec![false; n];
        // Rows of this batch currently held, by arrival number (they are copied out only if
        // still held at the end of the batch).
        let mut local: BTreeMap<u64, usize> = BTreeMap::new();
        let mut released_earlier: Vec<(u64, RecordBatch)> = Vec::new();
        for row in 0..n {
            let t = view.time(row);
            self.arrivals += 1;
            let seq = self.arrivals;
            if let Some(now) = self.now.filter(|now| t > now.saturating_add(self.skew)) {
                self.reject_row(view, row, now, "now");
                continue;
            }
            let got = received.filter(|r| r.is_valid(row)).map(|r| r.value(row));
            if let Some(r) = got.filter(|r| t > r.saturating_add(self.skew)) {
                self.reject_row(view, row, r, "received");
                continue;
            }
            // This event corroborates every held event dated at most `skew` after it.
            self.release_up_to(t.saturating_add(self.skew), &mut local, &mut admitted, &mut released_earlier);
            if self.clock.is_some_and(|c| t <= c.saturating_add(self.skew)) {
                admitted[row] = true;
                self.clock = Some(self.clock.map_or(t, |c| c.max(t)));
                // The clock moved: held events it now covers are admissible.
                let reach = self.clock.map_or(i64::MIN, |c| c.saturating_add(self.skew));
                self.release_up_to(reach, &mut local, &mut admitted, &mut released_earlier);
            } else {
                self.by_time.insert((t, seq), ());
                local.insert(seq, row);
            }
            self.expire(view, &mut local);
        }
        // Rows of this batch still held: copy them out of the batch.
        for (seq, row) in local {
            let t = view.time(row);
            match one_row(batch, row) {
                Ok(copy) => {
                    self.held.insert(seq, Held { time: t, row: copy });
                }
                Err(e) => {
                    // Cannot happen for a batch of the event schema; never lose the event.
                    tracing::warn!(error = %e, "cannot hold an event ahead of the stream: admitted");
                    self.by_time.remove(&(t, seq));
                    admitted[row] = true;
                }
            }
        }
        let released = if released_earlier.is_empty() {
            None
        } else {
            released_earlier.sort_unstable_by_key(|(seq, _)| *seq);
            let rows: Vec<RecordBatch> = released_earlier.into_iter().map(|(_, row)| row).collect();
            concat(&rows)
        };
        Admission { released, rows: (0..n).filter(|r| admitted[*r]).collect() }
    }

    /// Releases (admits) every held event dated at or before `reach`.
    fn release_up_to(
        &mut self,
        reach: EventTime,
        local: &mut BTreeMap<u64, usize>,
        admitted: &mut [bool],
        earlier: &mut Vec<(u64, RecordBatch)>,
    ) {
        while let Some((&(t, seq), ())) = self.by_time.first_key_value() {
            if t > reach {
                break;
            }
            self.by_time.remove(&(t, seq));
            self.released_total += 1;
            self.clock = Some(self.clock.map_or(t, |c| c.max(t)));
            match local.remove(&seq) {
                Some(row) => admitted[row] = true,
                None => {
                    if let Some(h) = self.held.remove(&seq) {
                        earlier.push((seq, h.row));
                    }
                }
            }
        }
    }

    /// Rejects held events that `hold` later arrivals did not corroborate.
    fn expire(&mut self, view: &EventView<'_>, local: &mut BTreeMap<u64, usize>) {
        let Some(oldest_allowed) = self.arrivals.checked_sub(self.hold) else {
            return;
        };
        let reference = self.clock.unwrap_or(i64::MIN);
        while let Some((&seq, &row)) = local.first_key_value() {
            if seq > oldest_allowed {
                break;
            }
            local.remove(&seq);
            self.by_time.remove(&(view.time(row), seq));
            self.reject_row(view, row, reference, "stream");
        }
        while let Some((&seq, _)) = self.held.first_key_value() {
            if seq > oldest_allowed {
                break;
            }
            let Some(h) = self.held.remove(&seq) else { break };
            self.by_time.remove(&(h.time, seq));
            match EventView::new(&h.row) {
                Ok(v) => self.reject_row(&v, 0, reference, "stream"),
                Err(e) => tracing::warn!(error = %e, "held event without the event schema"),
            }
        }
    }

    fn reject_row(&mut self, view: &EventView<'_>, row: usize, reference: EventTime, against: &'static str) {
        self.rejected_total += 1;
        self.rejected.push(Rejected {
            source: view.str(col::SOURCE, row).to_string(),
            event_id: view.event_id(row).to_string(),
            actor_key: view.actor_key(row).to_string(),
            event_time: view.time(row),
            reference,
            against,
            row: row_json(view.batch(), row),
        });
    }

    /// End of input: every held event, in arrival order. The engine judges them after it has
    /// closed everything admitted, so they can blind no one and change no earlier finding.
    pub fn drain(&mut self) -> Option<RecordBatch> {
        self.by_time.clear();
        let rows: Vec<RecordBatch> = std::mem::take(&mut self.held).into_values().map(|h| h.row).collect();
        self.released_total += rows.len() as u64;
        for r in &rows {
            if let Some(t) = r.column(col::EVENT_TIME).as_primitive_opt::<TimestampMillisecondType>() {
                if t.len() == 1 {
                    self.clock = Some(self.clock.map_or(t.value(0), |c| c.max(t.value(0))));
                }
            }
        }
        concat(&rows)
    }

    pub fn state(&self) -> Result<GateState, StateError> {
        let rows: Vec<RecordBatch> = self.held.values().map(|h| h.row.clone()).collect();
        let bytes = match concat(&rows) {
            None => Vec::new(),
            Some(b) => ipc_bytes(&b).map_err(|message| StateError::Encode { rule: "engine", message })?,
        };
        Ok(GateState {
            clock: self.clock,
            arrivals: self.arrivals,
            seqs: self.held.keys().copied().collect(),
            rows: bytes,
        })
    }

    pub fn set_state(&mut self, s: GateState) -> Result<(), StateError> {
        self.held.clear();
        self.by_time.clear();
        self.rejected.clear();
        self.clock = s.clock;
        self.arrivals = s.arrivals;
        if s.rows.is_empty() {
            return Ok(());
        }
        let decode = |message: String| StateError::Decode { rule: "engine", message };
        let batch = from_ipc(&s.rows).map_err(decode)?;
        if batch.num_rows() != s.seqs.len() {
            return Err(decode(format!("{} held rows for {} arrival numbers", batch.num_rows(), s.seqs.len())));
        }
        let view = EventView::new(&batch).map_err(|e| decode(e.to_string()))?;
        for (i, seq) in s.seqs.iter().enumerate() {
            let t = view.time(i);
            self.held.insert(*seq, Held { time: t, row: batch.slice(i, 1) });
            self.by_time.insert((t, *seq), ());
        }
        Ok(())
    }
}

/// A one-row copy of `batch`'s row (its own buffers).
fn one_row(batch: &RecordBatch, row: usize) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let idx = UInt32Array::from(vec![row as u32]);
    let cols = batch
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(batch.schema(), cols)
}

fn concat(rows: &[RecordBatch]) -> Option<RecordBatch> {
    let first = rows.first()?;
    match arrow_select::concat::concat_batches(&first.schema(), rows) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!(error = %e, "cannot join held events");
            None
        }
    }
}

fn ipc_bytes(batch: &RecordBatch) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).map_err(|e| e.to_string())?;
    w.write(batch).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    drop(w);
    Ok(out)
}

fn from_ipc(bytes: &[u8]) -> Result<RecordBatch, String> {
    let reader = arrow_ipc::reader::StreamReader::try_new(bytes, None).map_err(|e| e.to_string())?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

/// The row's non-null columns as a JSON object of display strings (times as RFC 3339).
pub fn row_json(batch: &RecordBatch, row: usize) -> serde_json::Value {
    let opts = arrow_cast::display::FormatOptions::default();
    let schema = batch.schema();
    let mut obj = serde_json::Map::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if column.is_null(row) {
            continue;
        }
        let Ok(fmt) = arrow_cast::display::ArrayFormatter::try_new(column.as_ref(), &opts) else {
            continue;
        };
        obj.insert(field.name().clone(), serde_json::Value::String(fmt.value(row).to_string()));
    }
    serde_json::Value::Object(obj)
}
