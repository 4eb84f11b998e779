//! Durations as typed: `90s`, `15m`, `1h`, `7d` or plain seconds. Pure.

use std::time::Duration;

use crate::exit::UsageError;

/// Parses `text` for the option `option` (named in the error).
pub fn parse(option: &str, text: &str) -> Result<Duration, UsageError> {
    let trimmed = text.trim();
    let (number, unit) = match trimmed.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => trimmed.split_at(at),
        None => (trimmed, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|_| scale > 0)
        .and_then(|n| n.checked_mul(scale))
        .map(Duration::from_secs)
        .ok_or_else(|| {
            UsageError::new(format!(
                "{option} {text:?}: expected a duration like 90s, 15m, 1h, 7d or plain seconds"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_plain_seconds() {
        let secs = |text| parse("--x", text).map(|d| d.as_secs()).ok();
        assert_eq!(secs("90s"), Some(90));
        assert_eq!(secs("15m"), Some(900));
        assert_eq!(secs("1h"), Some(3600));
        assert_eq!(secs("7d"), Some(604_800));
        assert_eq!(secs("3600"), Some(3600));
        assert_eq!(secs("0"), Some(0));
        for bad in ["", "h", "1w", "1.5h", "-1", "1 h", "99999999999999999999d"] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
        let err = parse("--expires", "soon").unwrap_err().to_string();
        assert!(err.starts_with("--expires \"soon\": expected"), "{err}");
    }
}
