//! Timestamp parsing for the formats real CloudTrail and common exports use.

use trailhound_model::time::{days_from_civil, EventTime, DAY, HOUR, MINUTE, SECOND};

/// Parses `2019-01-01T00:00:00Z`, `2019-01-01T00:00:00.123Z`, `2022-09-30 15:11:25.000000000`,
/// `2019-01-01 00:20:04.000Z`, `2021-06-04 09:59:53.650807`, and `±HH:MM`/`±HHMM` offsets.
/// No zone means UTC. Returns milliseconds since the epoch, or `None` when the text is not
/// a timestamp.
pub fn parse_timestamp(s: &str) -> Option<EventTime> {
    let b = s.trim().as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ' || b[10] == b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..3 {
            millis *= 10;
        }
    }
    let mut offset = 0i64;
    match b.get(i) {
        None => {}
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => {}
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &s.trim()[i + 1..];
            let (oh, om) = match rest.len() {
                5 if rest.as_bytes()[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                2 => (num(i + 1..i + 3)?, 0),
                _ => return None,
            };
            offset = (oh * HOUR + om * MINUTE) * if sign == b'+' { 1 } else { -1 };
        }
        Some(_) => return None,
    }
    // mo and d were range-checked above, so the casts are lossless.
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(days * DAY + h * HOUR + mi * MINUTE + sec * SECOND + millis - offset)
}

/// Interprets a JSON number as an epoch time: seconds below 10^11, else milliseconds.
pub fn from_epoch_number(n: f64) -> Option<EventTime> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    if n < 1e11 {
        Some((n * 1000.0) as i64)
    } else if n < 1e14 {
        Some(n as i64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailhound_model::time::to_rfc3339;

    fn rt(s: &str) -> String {
        to_rfc3339(parse_timestamp(s).unwrap_or_else(|| panic!("no parse: {s}")))
    }

    #[test]
    fn parses_every_format_seen_in_cloudtrail_and_exports() {
        assert_eq!(rt("2019-01-01T00:00:00Z"), "2019-01-01T00:00:00.000Z");
        assert_eq!(rt("2024-07-30T21:31:10.5Z"), "2024-07-30T21:31:10.500Z");
        assert_eq!(rt("2022-09-30 15:11:25.000000000"), "2022-09-30T15:11:25.000Z");
        assert_eq!(rt("2019-01-01 00:20:04.000Z"), "2019-01-01T00:20:04.000Z");
        assert_eq!(rt("2021-06-04 09:59:53.650807"), "2021-06-04T09:59:53.650Z");
        assert_eq!(rt("2021-06-04 09:59:53"), "2021-06-04T09:59:53.000Z");
        assert_eq!(rt("2021-06-04T11:59:53+02:00"), "2021-06-04T09:59:53.000Z");
        assert_eq!(rt("2021-06-04T07:59:53-0200"), "2021-06-04T09:59:53.000Z");
    }

    #[test]
    fn rejects_what_is_not_a_time() {
        for s in [
            "",
            "redacted",
            "...",
            "2019-13-01T00:00:00Z",
            "2019-01-01T00:00",
            "2019-01-01X00:00:00Z",
            "2019-01-01T00:00:00Q",
            "2019-01-01T00:00:00.",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
    }

    #[test]
    fn epoch_numbers_are_seconds_or_millis() {
        assert_eq!(from_epoch_number(1_546_300_800.0), Some(1_546_300_800_000));
        assert_eq!(from_epoch_number(1_546_300_800_123.0), Some(1_546_300_800_123));
        assert_eq!(from_epoch_number(-1.0), None);
    }
}
