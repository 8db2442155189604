//! Time: the clock, RFC 3339, and durations as written in configuration and rules.
//!
//! Only the edges (sources, the tick, the outbox sender, HTTP) read the clock; every
//! layer below them takes `now_ms` as an argument, so it can be tested at any time.

use std::time::Duration;

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds (CloudEvents `time`,
/// API timestamps, decode errors).
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Parses a point in time: RFC 3339 or epoch milliseconds.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// Units of a duration, longest first, in milliseconds: Prometheus's (a year is 365
/// days, a week 7).
const DURATION_UNITS: [(&str, u64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a duration as Prometheus writes one: `250ms`, `5s`, `10m`, `2h`, `7d`, `2w`,
/// `1y`, or units combined from the longest down, each once (`1h30m`, `1d12h`); `0`
/// alone is zero.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || format!("`{s}` is not a duration such as `5s`, `10m`, `1h30m`, `7d`, `2w`");
    if s.is_empty() {
        return Err(bad());
    }
    let (mut rest, mut total, mut next_unit) = (s, 0u64, 0usize);
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{s}` is too long"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(format!("`{s}` has no unit: write e.g. `{s}s`"));
        }
        let Some(i) = DURATION_UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!(
                "`{s}` has unknown unit `{unit}`; use ms, s, m, h, d, w or y"
            ));
        };
        if i < next_unit {
            return Err(format!(
                "`{s}`: units go from the longest down, each once (e.g. `1h30m`)"
            ));
        }
        next_unit = i + 1;
        total = n
            .checked_mul(DURATION_UNITS[i].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("`{s}` is too long"))?;
    }
    Ok(Duration::from_millis(total))
}

/// A time zone as configured: `UTC`, a fixed offset (`+02:00`) or an IANA zone
/// (`Europe/Berlin`, daylight saving time included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// UTC or an offset that never changes.
    Fixed(chrono::FixedOffset),
    /// An IANA zone, with its daylight saving time.
    Iana(chrono_tz::Tz),
}

impl std::str::FromStr for Zone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(Zone::utc());
        }
        if s.starts_with(['+', '-']) {
            return s
                .parse::<chrono::FixedOffset>()
                .map(Zone::Fixed)
                .map_err(|_| {
                    format!("`{s}` is not an offset: write it as +HH:MM or -HH:MM, e.g. \"+02:00\"")
                });
        }
        s.parse::<chrono_tz::Tz>().map(Zone::Iana).map_err(|_| {
            format!(
                "`{s}` is not a time zone: use \"UTC\", an offset such as \"+02:00\", or an IANA name such as \"Europe/Berlin\""
            )
        })
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Zone {
    /// UTC.
    pub(crate) fn utc() -> Zone {
        Zone::Iana(chrono_tz::Tz::UTC)
    }

    /// `local` read in this zone, as epoch milliseconds; the earlier instant when the
    /// wall time repeats (daylight saving ends), `None` when it never happens (it
    /// starts).
    pub(crate) fn to_epoch_ms(self, local: &chrono::NaiveDateTime) -> Option<i64> {
        use chrono::TimeZone;
        match self {
            Zone::Fixed(offset) => offset.from_local_datetime(local).earliest(),
            Zone::Iana(zone) => zone
                .from_local_datetime(local)
                .earliest()
                .map(|t| t.fixed_offset()),
        }
        .map(|t| t.timestamp_millis())
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Fixed(offset) => write!(f, "{offset}"),
            Zone::Iana(zone) => f.write_str(zone.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("").is_err());
        // Prometheus's forms: weeks, years, combinations from the longest unit down.
        let ms = |s: &str| parse_duration(s).map(|d| d.as_millis() as u64);
        assert_eq!(ms("2w"), Ok(14 * 86_400_000));
        assert_eq!(ms("1y"), Ok(365 * 86_400_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("1d12h30m15s250ms"), Ok(131_415_250));
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("90m"), Ok(5_400_000));
        for bad in [
            "30m1h", "1h1h", "1.5h", "h", "1hh", "-1h", "1 h", "1H", "5x",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("30m1h")
            .unwrap_err()
            .contains("longest down"));
    }

    #[test]
    fn timestamps_round_trip() {
        let ms = 1_800_000_000_123;
        assert_eq!(parse_timestamp(&rfc3339(ms)), Some(ms));
        assert_eq!(parse_timestamp("1800000000123"), Some(ms));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
