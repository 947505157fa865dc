//! Human durations as flags and files write them: `500ms`, `5s`, `2m`, `12h`, `7d`, or a plain
//! number of seconds; from 0 to a year (365 days), for every flag and file that takes one.

use std::time::Duration;

/// The longest duration accepted: a year (365 days), as a pin config's `valid_for` may need.
pub const MAX_SECS: f64 = 365.0 * 86_400.0;

/// Parses a duration: `500ms`, `5s`, `2m`, `12h`, `7d`, or a plain number of seconds (0 to a
/// year).
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 5s, 2m, 12h, 7d)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use ms, s, m, h or d)"
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=MAX_SECS).contains(&secs) {
        return Err(format!("{s:?} is out of range (0 to a year, 365d)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Writes a duration the way [`parse`] reads it, in the largest unit that is exact: `500ms`,
/// `5s`, `1.5s`, `2m`, `12h`, `7d`.
pub fn display(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms % 1000 != 0 {
        return format!("{}s", d.as_secs_f64());
    }
    let secs = ms / 1000;
    match [(86_400, "d"), (3600, "h"), (60, "m")]
        .into_iter()
        .find(|(unit, _)| secs % unit == 0)
    {
        Some((unit, name)) => format!("{}{name}", secs / unit),
        None => format!("{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("5h"), Ok(Duration::from_secs(5 * 3600)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse("365d"), Ok(Duration::from_secs(365 * 86_400)));
        assert!(parse("366d").is_err());
        assert!(parse("5w").is_err());
        assert!(parse("fast").is_err());
        assert!(parse("-1s").is_err());
        for d in ["500ms", "5s", "1.5s", "0ms", "2m", "12h", "7d", "90s"] {
            assert_eq!(display(parse(d).unwrap()), d);
        }
    }
}
