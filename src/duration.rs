//! Human durations as flags and scenario files write them: `500ms`, `5s`, `2m`, or a plain
//! number of seconds.

use std::time::Duration;

/// Parses a duration: `500ms`, `5s`, `2m`, or a plain number of seconds (0 to 24 hours).
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 5s, 2m)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{s:?} is out of range (0 to 24 hours)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Writes a duration the way [`parse`] reads it: `500ms`, `5s`, `1.5s`.
pub fn display(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", d.as_secs_f64())
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
        assert!(parse("5h").is_err());
        assert!(parse("fast").is_err());
        assert!(parse("-1s").is_err());
        for d in ["500ms", "5s", "1.5s", "0ms"] {
            assert_eq!(display(parse(d).unwrap()), d);
        }
    }
}
