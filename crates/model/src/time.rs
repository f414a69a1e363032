//! Event time: milliseconds since the Unix epoch (UTC), and its rendering.

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type EventTime = i64;

/// One second in [`EventTime`] units.
pub const SECOND: i64 = 1_000;
/// One minute in [`EventTime`] units.
pub const MINUTE: i64 = 60 * SECOND;
/// One hour in [`EventTime`] units.
pub const HOUR: i64 = 60 * MINUTE;
/// One day in [`EventTime`] units.
pub const DAY: i64 = 24 * HOUR;

/// Days since the epoch to a civil (year, month, day) date (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A civil date to days since the epoch (inverse of [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Renders as RFC 3339 with milliseconds, e.g. `2024-07-30T21:31:10.000Z`.
pub fn to_rfc3339(t: EventTime) -> String {
    let days = t.div_euclid(DAY);
    let ms = t.rem_euclid(DAY);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (ms / HOUR, (ms / MINUTE) % 60, (ms / SECOND) % 60, ms % 1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// The Hive partition values (`dt=YYYY-MM-DD`, `hour=HH`) of a time.
pub fn partition(t: EventTime) -> (String, String) {
    let (y, mo, d) = civil_from_days(t.div_euclid(DAY));
    let h = t.rem_euclid(DAY) / HOUR;
    (format!("{y:04}-{mo:02}-{d:02}"), format!("{h:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_across_leap_years_and_before_the_epoch() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2024, 2, 29) + 1, days_from_civil(2024, 3, 1));
    }

    #[test]
    fn renders_rfc3339_and_partitions() {
        let t = (days_from_civil(2024, 7, 30) * DAY) + 21 * HOUR + 31 * MINUTE + 10 * SECOND + 5;
        assert_eq!(to_rfc3339(t), "2024-07-30T21:31:10.005Z");
        assert_eq!(partition(t), ("2024-07-30".to_string(), "21".to_string()));
    }
}
