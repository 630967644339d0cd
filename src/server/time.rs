//! Wall-clock time as unix milliseconds (how every table stores time) and its display in UTC: ISO for files
//! and logs (`format_utc`, `format_date`), and in a person's language for pages and emails (`date_for`,
//! `date_time_for`, `relative`).

use crate::i18n::{td_string, Locale};
use crate::shared::text::fill;
use std::time::{SystemTime, UNIX_EPOCH};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Milliseconds on a clock that never goes back (since the first call in this process): for deadlines and
/// leases that must not stretch or shrink when the wall clock is set.
pub fn monotonic_ms() -> i64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX)
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// `2026-11-25 15:04 UTC`.
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, (rem % 3600) / 60)
}

/// `2026-11-25`.
pub fn format_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(1000).div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` (UTC) to the unix ms of that day's start.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > 31 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Refuse dates such as 2026-02-30 that would roll over into the next month.
    (civil_from_days(days) == (y, m, d)).then_some(days * DAY_MS)
}

/// A date as people read it in `locale`: `2026-11-25`, `2026年11月25日`.
pub fn date_for(ms: i64, locale: Locale) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(1000).div_euclid(86_400));
    let (mm, dd) = (format!("{m:02}"), format!("{d:02}"));
    fill(td_string!(locale, time.date), &[("y", &y), ("m", &m), ("d", &d), ("mm", &mm), ("dd", &dd)])
}

/// A moment as people read it in `locale`, in UTC: `2026-11-25 15:04 UTC`, `2026年11月25日 15:04 UTC`.
pub fn date_time_for(ms: i64, locale: Locale) -> String {
    moment(ms, td_string!(locale, time.date_time_utc))
}

/// A moment in a table whose heading says UTC, in `locale`: `2026-11-25 15:04`, `2026/11/25 15:04`.
pub fn table_time(ms: i64, locale: Locale) -> String {
    moment(ms, td_string!(locale, time.table))
}

/// Fills a moment's `{y}`, `{m}`, `{d}`, `{mm}`, `{dd}`, `{hh}` and `{mi}` (UTC) into `template`.
fn moment(ms: i64, template: &str) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let (mm, dd, hh, mi) =
        (format!("{m:02}"), format!("{d:02}"), format!("{:02}", rem / 3600), format!("{:02}", (rem % 3600) / 60));
    fill(template, &[("y", &y), ("m", &m), ("d", &d), ("mm", &mm), ("dd", &dd), ("hh", &hh), ("mi", &mi)])
}

/// `in 3 days`, `in 5 hours`, `2 days ago` (`3 天后`, `2 日前`), in `locale`.
pub fn relative(ms: i64, now: i64, locale: Locale) -> String {
    let delta = ms - now;
    let abs = delta.abs();
    let (n, unit) = if abs >= DAY_MS {
        (abs / DAY_MS, Unit::Day)
    } else if abs >= HOUR_MS {
        (abs / HOUR_MS, Unit::Hour)
    } else {
        ((abs / MINUTE_MS).max(1), Unit::Minute)
    };
    let sentence = match (delta >= 0, unit, n == 1) {
        (true, Unit::Minute, true) => td_string!(locale, time.in_minute),
        (true, Unit::Minute, false) => td_string!(locale, time.in_minutes),
        (true, Unit::Hour, true) => td_string!(locale, time.in_hour),
        (true, Unit::Hour, false) => td_string!(locale, time.in_hours),
        (true, Unit::Day, true) => td_string!(locale, time.in_day),
        (true, Unit::Day, false) => td_string!(locale, time.in_days),
        (false, Unit::Minute, true) => td_string!(locale, time.minute_ago),
        (false, Unit::Minute, false) => td_string!(locale, time.minutes_ago),
        (false, Unit::Hour, true) => td_string!(locale, time.hour_ago),
        (false, Unit::Hour, false) => td_string!(locale, time.hours_ago),
        (false, Unit::Day, true) => td_string!(locale, time.day_ago),
        (false, Unit::Day, false) => td_string!(locale, time.days_ago),
    };
    fill(sentence, &[("n", &n)])
}

#[derive(Clone, Copy)]
enum Unit {
    Minute,
    Hour,
    Day,
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_in_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_795_620_840_000), "2026-11-25 15:34 UTC");
        assert_eq!(format_date(951_782_400_000), "2000-02-29");
    }

    #[test]
    fn dates_parse_to_the_start_of_their_utc_day() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-02-29"), Some(951_782_400_000));
        assert_eq!(format_date(parse_date("2026-11-25").unwrap()), "2026-11-25");
        for bad in ["2026-02-30", "2026-13-01", "yesterday", "2026-11", ""] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_read_the_way_each_language_writes_them() {
        let ms = days_from_civil(2026, 3, 5) * DAY_MS + 15 * HOUR_MS + 4 * MINUTE_MS;
        assert_eq!(date_for(ms, Locale::en), "2026-03-05");
        assert_eq!(date_for(ms, Locale::zh), "2026年3月5日");
        assert_eq!(date_time_for(ms, Locale::en), "2026-03-05 15:04 UTC");
        assert_eq!(date_time_for(ms, Locale::ja), "2026年3月5日 15:04 UTC");
        assert_eq!(date_time_for(ms, Locale::en), format_utc(ms));
        assert_eq!(table_time(ms, Locale::en), "2026-03-05 15:04");
        assert_eq!(table_time(ms, Locale::zh), "2026/03/05 15:04");
        assert_eq!(relative(0, 2 * DAY_MS, Locale::zh), "2 天前");
        assert_eq!(relative(5 * HOUR_MS, 0, Locale::ja), "5 時間後");
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(30 * DAY_MS, 0, Locale::en), "in 30 days");
        assert_eq!(relative(0, 2 * DAY_MS, Locale::en), "2 days ago");
        assert_eq!(relative(HOUR_MS, 0, Locale::en), "in 1 hour");
    }
}
