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

/// Parses `250ms`, `5s`, `10m`, `2h`, `7d`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{s}` has no unit: write e.g. `{s}s`"))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as `5s`, `10m`, `2h`, `7d`"))?;
    let secs = |k: u64| {
        n.checked_mul(k)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("`{s}` is too long"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => Err(format!(
            "`{s}` has unknown unit `{unit}`; use ms, s, m, h or d"
        )),
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
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn timestamps_round_trip() {
        let ms = 1_800_000_000_123;
        assert_eq!(parse_timestamp(&rfc3339(ms)), Some(ms));
        assert_eq!(parse_timestamp("1800000000123"), Some(ms));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
