//! Go-style duration strings as DM's configs write them: "500ms", "1.5s", "30s", "1m", "1h30m".

use std::time::Duration;

/// Parses a duration; a bare number is not accepted (the unit is required, as in DM).
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("\"{text}\" is not a duration like 500ms, 30s, 1m"));
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| format!("bad number in duration \"{text}\""))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("duration \"{text}\" needs a unit (ms, s, m, h)")),
            u => return Err(format!("unknown unit \"{u}\" in duration \"{text}\"")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t10_durations() {
        let ok = [("500ms", 500), ("1.5s", 1500), ("30s", 30_000), ("1m", 60_000), ("1h30m", 5_400_000)];
        for (text, ms) in ok {
            assert_eq!(parse(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        for bad in ["", "10", "s", "5x", "1..2s"] {
            assert!(parse(bad).is_err(), "{bad} must be refused");
        }
    }
}
