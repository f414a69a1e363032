//! Timestamp parsing for the formats real CloudTrail and common exports use, strictly: a
//! value shaped like a timestamp that names no real instant (2026-02-31, hour 24) or lies
//! outside the years 2000..=2199 is [`TimeValue::Invalid`] (the record is dead-lettered with
//! kind `invalid_time`), never rolled over into another date; text that is not a timestamp at
//! all is [`TimeValue::NotATime`] (the record's time is inferred from the stream).

use trailhound_model::time::{days_from_civil, EventTime, DAY, HOUR, MINUTE, SECOND};

/// Earliest year accepted (CloudTrail began in 2013; exports of older systems are not audit logs
/// this detector judges).
pub const MIN_YEAR: i64 = 2000;
/// Latest year accepted.
pub const MAX_YEAR: i64 = 2199;

/// 2000-01-01T00:00:00Z in ms since the epoch.
const MIN_TIME: EventTime = 946_684_800_000;
/// 2200-01-01T00:00:00Z in ms since the epoch (exclusive).
const END_TIME: EventTime = 7_258_118_400_000;

/// What a time field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeValue {
    /// A real instant, in ms since the epoch.
    Valid(EventTime),
    /// Looks like a timestamp (`YYYY-MM-DD?hh:mm:ss`, or an epoch number) but names no real
    /// instant, or one outside the years [`MIN_YEAR`]..=[`MAX_YEAR`]: the reason.
    Invalid(&'static str),
    /// Not a timestamp at all (`redacted`, `...`, an empty string).
    NotATime,
}

/// Parses `2019-01-01T00:00:00Z`, `2019-01-01T00:00:00.123Z`, `2022-09-30 15:11:25.000000000`,
/// `2019-01-01 00:20:04.000Z`, `2021-06-04 09:59:53.650807`, and `±HH:MM`/`±HHMM` offsets.
/// No zone means UTC. Returns milliseconds since the epoch, or `None` when the text is not
/// a timestamp or names an impossible one (see [`classify_timestamp`]).
pub fn parse_timestamp(s: &str) -> Option<EventTime> {
    match classify_timestamp(s) {
        TimeValue::Valid(t) => Some(t),
        _ => None,
    }
}

/// Days in `month` (1..=12) of `year` in the proleptic Gregorian calendar.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Like [`parse_timestamp`], telling a text that is not a timestamp from one with the shape
/// of a timestamp (`YYYY-MM-DD`, `T` or a space, `hh:mm:ss`, all digits where digits go) that
/// is impossible: month 13, February 30, hour 24, second 61, an offset beyond ±23:59, or a
/// year outside [`MIN_YEAR`]..=[`MAX_YEAR`]. A second of 60 (a leap second) is accepted.
/// A malformed fraction or zone makes the text not a timestamp.
pub fn classify_timestamp(s: &str) -> TimeValue {
    let b = s.trim().as_bytes();
    if b.len() < 19 {
        return TimeValue::NotATime;
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
        return TimeValue::NotATime;
    }
    if b[13] != b':' || b[16] != b':' {
        return TimeValue::NotATime;
    }
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) =
        (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19))
    else {
        return TimeValue::NotATime;
    };
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
            return TimeValue::NotATime;
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
            let rest = &b[i + 1..];
            let parsed = match rest.len() {
                5 if rest[2] == b':' => num(i + 1..i + 3).zip(num(i + 4..i + 6)),
                4 => num(i + 1..i + 3).zip(num(i + 3..i + 5)),
                2 => num(i + 1..i + 3).map(|h| (h, 0)),
                _ => None,
            };
            let Some((oh, om)) = parsed else {
                return TimeValue::NotATime;
            };
            if oh > 23 || om > 59 {
                return TimeValue::Invalid("the zone offset is beyond ±23:59");
            }
            offset = (oh * HOUR + om * MINUTE) * if sign == b'+' { 1 } else { -1 };
        }
        Some(_) => return TimeValue::NotATime,
    }
    if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
        return TimeValue::Invalid("the year is outside 2000..=2199");
    }
    if !(1..=12).contains(&mo) {
        return TimeValue::Invalid("there is no such month");
    }
    if d < 1 || d > days_in_month(y, mo) {
        return TimeValue::Invalid("there is no such day in that month");
    }
    if h > 23 {
        return TimeValue::Invalid("the hour is above 23");
    }
    if mi > 59 {
        return TimeValue::Invalid("the minute is above 59");
    }
    if sec > 60 {
        return TimeValue::Invalid("the second is above 60");
    }
    // mo and d were range-checked above, so the casts are lossless.
    let days = days_from_civil(y, mo as u32, d as u32);
    TimeValue::Valid(days * DAY + h * HOUR + mi * MINUTE + sec * SECOND + millis - offset)
}

/// Interprets a JSON number as an epoch time: seconds below 10^11, else milliseconds. `None`
/// when it is not a time in [`MIN_YEAR`]..=[`MAX_YEAR`] (see [`classify_epoch_number`]).
pub fn from_epoch_number(n: f64) -> Option<EventTime> {
    match classify_epoch_number(n) {
        TimeValue::Valid(t) => Some(t),
        _ => None,
    }
}

/// Like [`from_epoch_number`]: a number is always meant as a time, so one that is negative,
/// not finite or outside the years [`MIN_YEAR`]..=[`MAX_YEAR`] is [`TimeValue::Invalid`].
pub fn classify_epoch_number(n: f64) -> TimeValue {
    if !n.is_finite() || n < 0.0 {
        return TimeValue::Invalid("an epoch time must be a positive number");
    }
    let ms = if n < 1e11 { n * 1000.0 } else { n };
    // Compared as floats: a huge number must not saturate into the range.
    if ms < MIN_TIME as f64 || ms >= END_TIME as f64 {
        return TimeValue::Invalid("the epoch time is outside the years 2000..=2199");
    }
    TimeValue::Valid(ms as i64)
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

    #[test]
    fn impossible_dates_and_years_out_of_range_are_invalid_not_rolled_over() {
        for (s, why) in [
            ("2026-02-31T00:00:00Z", "no such day"),
            ("2026-04-31T00:00:00Z", "no such day"),
            ("2026-02-29T00:00:00Z", "no such day"),
            ("2100-02-29T00:00:00Z", "no such day"),
            ("2026-00-10T00:00:00Z", "no such month"),
            ("2019-13-01T00:00:00Z", "no such month"),
            ("2026-01-00T00:00:00Z", "no such day"),
            ("2026-01-01T24:00:00Z", "hour"),
            ("2026-01-01T23:60:00Z", "minute"),
            ("2026-01-01T23:59:61Z", "second"),
            ("0000-01-01T00:00:00Z", "year"),
            ("1999-12-31T23:59:59Z", "year"),
            ("2200-01-01T00:00:00Z", "year"),
            ("9999-12-31T23:59:59Z", "year"),
            ("2026-01-01T00:00:00+24:00", "offset"),
        ] {
            match classify_timestamp(s) {
                TimeValue::Invalid(w) => assert!(w.contains(why), "{s}: {w}"),
                other => panic!("{s}: {other:?}"),
            }
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
        // Leap days of leap years, a leap second, and the ends of the range are real times.
        assert_eq!(rt("2024-02-29T12:00:00Z"), "2024-02-29T12:00:00.000Z");
        assert_eq!(rt("2000-02-29T00:00:00Z"), "2000-02-29T00:00:00.000Z");
        assert_eq!(rt("2016-12-31T23:59:60Z"), "2017-01-01T00:00:00.000Z");
        assert_eq!(rt("2000-01-01T00:00:00Z"), "2000-01-01T00:00:00.000Z");
        assert_eq!(rt("2199-12-31T23:59:59.999Z"), "2199-12-31T23:59:59.999Z");
        // Text that is not shaped like a timestamp stays "not a time" (inferred, not rejected).
        for s in ["redacted", "2019-01-01T00:00:00Q", "2019-01-01X00:00:00Z", "20x9-01-01T00:00:00Z"] {
            assert_eq!(classify_timestamp(s), TimeValue::NotATime, "{s}");
        }
    }

    #[test]
    fn epoch_numbers_outside_the_years_2000_to_2199_are_invalid() {
        for n in [0.0, -1.0, 946_684_799.0, 946_684_799_999.0, 7_258_118_400_000.0, 1e20, f64::INFINITY, f64::NAN] {
            assert!(matches!(classify_epoch_number(n), TimeValue::Invalid(_)), "{n}");
        }
        assert_eq!(classify_epoch_number(946_684_800.0), TimeValue::Valid(946_684_800_000));
        assert_eq!(classify_epoch_number(7_258_118_399_999.0), TimeValue::Valid(7_258_118_399_999));
    }
}
