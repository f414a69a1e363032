//! Events the engine's future-time gate rejected, as dead letters (kind `time_out_of_range`).
//!
//! The engine sees parsed rows, not the original bytes: the dead letter carries the event's
//! columns as JSON, and its source and position (`file:line`, `file:record#index`,
//! `topic/partition:offset`) locate the original.

use trailhound_detect::Rejected;
use trailhound_model::escape::Escaped;
use trailhound_parse::{DeadLetter, DeadReason};

/// The dead letter of a rejected event.
pub fn dead_letter(r: &Rejected) -> DeadLetter {
    // `name:position` or `name:position#index` (the name may itself hold colons).
    let (source, position) = match r.source.rsplit_once(':') {
        Some((name, rest)) => {
            let (pos, index) = match rest.split_once('#') {
                Some((p, i)) => (p, Some(i)),
                None => (rest, None),
            };
            match pos.parse::<u64>() {
                Ok(p) => (index.map_or_else(|| name.to_string(), |i| format!("{name}#{i}")), p),
                Err(_) => (r.source.clone(), 0),
            }
        }
        None => (r.source.clone(), 0),
    };
    let raw = serde_json::to_vec(&r.row).unwrap_or_default();
    DeadLetter {
        source,
        position,
        reason: DeadReason::TimeOutOfRange { event_time: r.event_time, reference: r.reference, against: r.against },
        bytes: raw.len(),
        raw,
    }
}

/// Logs one warning per rejected event, naming it (untrusted strings escaped).
pub fn warn(r: &Rejected) {
    tracing::warn!(
        source = %Escaped(&r.source),
        event_id = %Escaped(&r.event_id),
        actor = %Escaped(&r.actor_key),
        event_time = %trailhound_model::time::to_rfc3339(r.event_time),
        against = r.against,
        reference = %trailhound_model::time::to_rfc3339(r.reference),
        "event dated too far ahead: dead-lettered as time_out_of_range, it cannot move the watermark"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(source: &str) -> Rejected {
        Rejected {
            source: source.to_string(),
            event_id: "e1".into(),
            actor_key: "a".into(),
            event_time: 253_402_300_799_000,
            reference: 1_767_225_600_000,
            against: "stream",
            row: serde_json::json!({"event_id": "e1"}),
        }
    }

    #[test]
    fn the_source_column_splits_into_source_and_position() {
        let d = dead_letter(&rejected("logs/2026/a.json:17"));
        assert_eq!((d.source.as_str(), d.position), ("logs/2026/a.json", 17));
        let d = dead_letter(&rejected("c:\\x.json.gz:1#42"));
        assert_eq!((d.source.as_str(), d.position), ("c:\\x.json.gz#42", 1));
        let d = dead_letter(&rejected("cloudtrail/3:981"));
        assert_eq!((d.source.as_str(), d.position), ("cloudtrail/3", 981));
        let v = d.to_json();
        assert_eq!(v["kind"], "time_out_of_range");
        assert!(v["reason"].as_str().is_some_and(|s| s.contains("9999-12-31")), "{v}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(v["raw"].as_str().unwrap_or("")).ok(),
            Some(serde_json::json!({"event_id": "e1"}))
        );
    }
}
