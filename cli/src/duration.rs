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

    // Properties (issue 21's fuzzing): `PROPTEST_CASES` sets how many cases each runs.
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    proptest! {
        #![proptest_config(Config { failure_persistence: None, ..Config::default() })]

        #[test]
        fn any_text_is_a_duration_or_a_usage_error_naming_the_option(
            text in prop_oneof![any::<String>(), "[0-9smhdw .+-]{0,24}", "[0-9]{15,25}[smhd]?"],
        ) {
            if let Err(err) = parse("--x", &text) {
                prop_assert!(err.to_string().starts_with("--x "), "{}", err);
            }
        }

        /// A number and a unit are that many seconds, or an error (never a panic or a wrapped
        /// value) when they overflow.
        #[test]
        fn a_number_and_a_unit_are_its_seconds_or_an_overflow_error(
            number in prop_oneof![any::<u64>(), 0u64..1_000_000],
            (unit, scale) in prop::sample::select(
                &[("", 1u64), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)][..]
            ),
            before in "[ \t]{0,2}",
            after in "[ \t\n]{0,2}",
        ) {
            let text = format!("{before}{number}{unit}{after}");
            let seconds = parse("--x", &text).ok().map(|duration| duration.as_secs());
            prop_assert_eq!(seconds, number.checked_mul(scale), "{:?}", text);
        }
    }
}
