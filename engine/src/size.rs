//! The workspace's one reading and one writing of byte sizes. Pure.
//!
//! Units are binary whichever way they are spelt (`64MB` = `64MiB` = `64M`), as aws-cli reads
//! them in `~/.aws/config`, so a size means the same on the command line and in a profile.

use std::fmt;

use crate::error::{Error, Result};

/// One kibibyte.
pub const KIB: u64 = 1024;
/// One mebibyte.
pub const MIB: u64 = 1024 * KIB;
/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;
/// One tebibyte.
pub const TIB: u64 = 1024 * GIB;

/// Parses sizes like `16MiB`, `64MB`, `5 mib`, `1G`, `1048576`: a whole number with an
/// optional unit `K`, `M`, `G` or `T`, alone or followed by `B` or `iB` (all binary), or `B`.
pub fn parse_size(text: &str) -> Result<u64> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let invalid = || {
        Error::invalid(format!(
            "invalid size {text:?}: expected a number with an optional unit, e.g. 16MiB, 64MB, 1GiB"
        ))
    };
    let number: u64 = digits.parse().map_err(|_| invalid())?;
    let unit = unit.trim().to_ascii_lowercase();
    let prefix = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let multiplier = match (prefix, unit.as_str()) {
        (_, "" | "b") => 1,
        ("k", _) => KIB,
        ("m", _) => MIB,
        ("g", _) => GIB,
        ("t", _) => TIB,
        _ => return Err(invalid()),
    };
    number.checked_mul(multiplier).ok_or_else(invalid)
}

/// Parses a rate in bytes per second, aws-cli's `max_bandwidth` forms and the network's:
/// a size per second (`100MB/s` = 100 MiB/s as aws-cli reads it, `1048576`, `/s` optional), or
/// bits per second with decimal units (`1Gbit` = 10^9 bits/s, `100Mbit/s`, `500Kbit`). Zero is
/// refused: a cap of nothing would never finish.
pub fn parse_rate(text: &str) -> Result<u64> {
    let invalid = || {
        Error::invalid(format!(
            "invalid rate {text:?}: expected bytes per second like 100MB/s or 50MiB, or bits \
             like 1Gbit or 200Mbit"
        ))
    };
    let trimmed = text.trim();
    let per_second = trimmed.strip_suffix("/s").unwrap_or(trimmed).trim_end();
    let lower = per_second.to_ascii_lowercase();
    let rate = match lower
        .strip_suffix("bits")
        .or_else(|| lower.strip_suffix("bit"))
    {
        Some(amount) => {
            let split = amount
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(amount.len());
            let (digits, prefix) = amount.split_at(split);
            let number: u64 = digits.parse().map_err(|_| invalid())?;
            let multiplier: u64 = match prefix.trim() {
                "" => 1,
                "k" => 1_000,
                "m" => 1_000_000,
                "g" => 1_000_000_000,
                "t" => 1_000_000_000_000,
                _ => return Err(invalid()),
            };
            number.checked_mul(multiplier).ok_or_else(invalid)? / 8
        }
        None => parse_size(per_second).map_err(|_| invalid())?,
    };
    if rate == 0 {
        return Err(invalid());
    }
    Ok(rate)
}

/// A byte count shown with a binary unit: `16 MiB`, `100.0 MiB` (one decimal unless the count
/// is a whole number of the unit), `12 B`. A precision fixes the decimals past bytes, for
/// figures that change while shown: `{:.1}` gives `1.0 KiB`, `412.0 MiB`, `512 B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let bytes = self.0;
        let mut unit = 0;
        while unit + 1 < UNITS.len() && bytes >= 1 << (10 * (unit + 1)) {
            unit += 1;
        }
        let scale = 1u64 << (10 * unit);
        let name = UNITS[unit];
        match f.precision() {
            _ if unit == 0 => write!(f, "{bytes} {name}"),
            Some(decimals) => write!(f, "{:.decimals$} {name}", bytes as f64 / scale as f64),
            None if bytes.is_multiple_of(scale) => write!(f, "{} {name}", bytes / scale),
            None => write!(f, "{:.1} {name}", bytes as f64 / scale as f64),
        }
    }
}

/// [`Size`] as a string: `16 MiB`, `100.0 MiB`.
pub fn format_size(bytes: u64) -> String {
    Size(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units_however_spelt() {
        assert_eq!(parse_size("16MiB").unwrap(), 16 * MIB);
        assert_eq!(parse_size("16M").unwrap(), 16 * MIB);
        assert_eq!(parse_size("64MB").unwrap(), 64 * MIB);
        assert_eq!(parse_size(" 64 mb ").unwrap(), 64 * MIB);
        assert_eq!(parse_size("1gib").unwrap(), GIB);
        assert_eq!(parse_size("2TB").unwrap(), 2 * TIB);
        assert_eq!(parse_size("8KB").unwrap(), 8 * KIB);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4096B").unwrap(), 4096);
        for bad in [
            "",
            "MiB",
            "-5MiB",
            "5 parsecs",
            "5ib",
            "5kibb",
            "99999999999TiB",
            "1.5G",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_are_sizes_per_second_or_decimal_bits() {
        assert_eq!(parse_rate("100MB/s").unwrap(), 100 * MIB);
        assert_eq!(parse_rate("100MiB").unwrap(), 100 * MIB);
        assert_eq!(parse_rate(" 64 KB/s ").unwrap(), 64 * KIB);
        assert_eq!(parse_rate("1048576").unwrap(), MIB);
        assert_eq!(parse_rate("1Gbit").unwrap(), 125_000_000);
        assert_eq!(parse_rate("100Mbit/s").unwrap(), 12_500_000);
        assert_eq!(parse_rate("500kbits").unwrap(), 62_500);
        assert_eq!(parse_rate("80bit").unwrap(), 10);
        for bad in [
            "", "0", "0MB/s", "4bit", "fast", "1.5Gbit", "5Xbit", "/s", "1Pbit",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_format_readably() {
        assert_eq!(format_size(5 * MIB), "5 MiB");
        assert_eq!(format_size(100 * MIB + 7), "100.0 MiB");
        assert_eq!(format_size(12), "12 B");
        assert_eq!(format_size(0), "0 B");
    }

    #[test]
    fn a_precision_fixes_the_decimals_past_bytes() {
        assert_eq!(format!("{:.1}", Size(0)), "0 B");
        assert_eq!(format!("{:.1}", Size(1023)), "1023 B");
        assert_eq!(format!("{:.1}", Size(1024)), "1.0 KiB");
        assert_eq!(format!("{:.1}", Size(412 * MIB)), "412.0 MiB");
        assert_eq!(format!("{:.1}", Size(GIB)), "1.0 GiB");
    }
}
