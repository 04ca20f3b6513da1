//! Byte sizes and durations as people write them in scenario files and read
//! them in reports: `"64MiB"`, `"1.5GiB"`, `"500ms"`, `"1h30m"`.
//!
//! Binary units (`KiB`, `MiB`, ...) are powers of 1024, decimal units (`KB`,
//! `MB`, ...) powers of 1000, and unit names are case-insensitive. A plain
//! number is a count of bytes. Fractions are accepted when they come out to a
//! whole number of bytes (`"1.5MiB"` yes, `"0.3MiB"` no), because a silently
//! rounded size would make two runs that look alike differ.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// What a size error says it wanted.
const SIZE_EXPECTED: &str = r#"a size like "4KiB" or "64MiB""#;
/// What a duration error says it wanted.
const DURATION_EXPECTED: &str = r#"a duration like "30s", "500ms" or "1h30m""#;

/// A number of bytes, parsed from `"4KiB"`, `"1.5 GiB"`, `"4KB"`, `512`...
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

/// Why a size string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {SIZE_EXPECTED}, got {got}{why}")]
pub struct ByteSizeError {
    /// The input as written (quoted when it was a string).
    got: String,
    /// Optional extra reason, starting with "; ".
    why: String,
}

impl ByteSizeError {
    fn new(input: &str) -> Self {
        ByteSizeError {
            got: format!("{input:?}"),
            why: String::new(),
        }
    }

    fn because(input: &str, why: &str) -> Self {
        ByteSizeError {
            got: format!("{input:?}"),
            why: format!("; {why}"),
        }
    }
}

/// Units by lowercase name, with their multiplier.
const UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("pib", 1 << 50),
    ("eib", 1 << 60),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("pb", 1_000_000_000_000_000),
    ("eb", 1_000_000_000_000_000_000),
];

impl ByteSize {
    pub const KIB: u64 = 1 << 10;
    pub const MIB: u64 = 1 << 20;
    pub const GIB: u64 = 1 << 30;
    pub const TIB: u64 = 1 << 40;

    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `"<number>[ ]<unit>"`; see the module docs for the accepted forms.
    pub fn parse(input: &str) -> Result<ByteSize, ByteSizeError> {
        let s = input.trim();
        let num_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(num_end);
        let unit = unit.trim_start();
        if s.starts_with('-') {
            return Err(ByteSizeError::because(input, "sizes cannot be negative"));
        }
        if num.is_empty() {
            return Err(ByteSizeError::new(input));
        }
        let multiplier = if unit.is_empty() {
            1
        } else {
            let lower = unit.to_ascii_lowercase();
            match UNITS.iter().find(|(name, _)| *name == lower) {
                Some((_, m)) => *m,
                None => {
                    return Err(ByteSizeError::because(
                        input,
                        "units are B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000)",
                    ));
                }
            }
        };
        let (int_part, frac_part) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num, ""),
        };
        if int_part.is_empty()
            || frac_part.contains('.')
            || (num.contains('.') && frac_part.is_empty())
        {
            return Err(ByteSizeError::new(input));
        }
        let too_big = || ByteSizeError::because(input, "too large");
        let int: u64 = int_part.parse().map_err(|_| too_big())?;
        let mut total = int.checked_mul(multiplier).ok_or_else(too_big)?;
        let frac_digits = frac_part.trim_end_matches('0');
        if !frac_digits.is_empty() {
            // Exact decimal arithmetic: frac * multiplier / 10^digits must be whole.
            if frac_digits.len() > 18 {
                return Err(ByteSizeError::because(input, "not a whole number of bytes"));
            }
            let frac: u128 = frac_digits.parse().map_err(|_| ByteSizeError::new(input))?;
            let scale = 10u128.pow(frac_digits.len() as u32);
            let scaled = frac * u128::from(multiplier);
            if !scaled.is_multiple_of(scale) {
                return Err(ByteSizeError::because(input, "not a whole number of bytes"));
            }
            let extra = u64::try_from(scaled / scale).map_err(|_| too_big())?;
            total = total.checked_add(extra).ok_or_else(too_big)?;
        }
        Ok(ByteSize(total))
    }
}

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ByteSize::parse(s)
    }
}

impl fmt::Display for ByteSize {
    /// The short human form when it is exact (`"64 MiB"`, `"1.5 GiB"`),
    /// otherwise the exact byte count, so Display always parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let human = format_bytes(self.0);
        if ByteSize::parse(&human) == Ok(*self) {
            f.write_str(&human)
        } else {
            write!(f, "{} B", self.0)
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ByteSizeVisitor)
    }
}

/// Also used by the scenario's size-distribution visitor for its scalar forms.
pub(crate) struct ByteSizeVisitor;

impl Visitor<'_> for ByteSizeVisitor {
    type Value = ByteSize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SIZE_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
        ByteSize::parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
        Ok(ByteSize(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
        u64::try_from(v).map(ByteSize).map_err(|_| {
            E::custom(format!(
                "expected {SIZE_EXPECTED}, got {v}; sizes cannot be negative"
            ))
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
        Err(E::custom(format!(
            "expected {SIZE_EXPECTED}, got {v}; write fractional sizes as a string with a unit, e.g. \"1.5MiB\""
        )))
    }
}

/// Formats a byte count for people: `"512 B"`, `"4 KiB"`, `"64 MiB"`,
/// `"1.5 GiB"` (binary units, at most two decimals, trailing zeros dropped).
pub fn format_bytes(n: u64) -> String {
    const NAMES: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut unit = 0;
    while unit + 1 < NAMES.len() && n >= 1u64 << (10 * (unit + 1)) {
        unit += 1;
    }
    if unit == 0 {
        return format!("{n} B");
    }
    let value = n as f64 / (1u64 << (10 * unit)) as f64;
    // Two decimals may round up to 1024.00: show the next unit instead.
    let mut text = format!("{value:.2}");
    if text.starts_with("1024") && unit + 1 < NAMES.len() {
        unit += 1;
        text = format!("{:.2}", n as f64 / (1u64 << (10 * unit)) as f64);
    }
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {}", NAMES[unit])
}

/// A duration parsed from `"30s"`, `"500ms"`, `"2m"`, `"1h30m"` (humantime),
/// and also a single decimal number with a unit such as `"1.5s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {DURATION_EXPECTED}, got {got:?}{why}")]
pub struct DurationError {
    got: String,
    why: String,
}

/// Parses a duration; see [`HumanDuration`].
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    let err = |why: &str| DurationError {
        got: input.to_string(),
        why: why.to_string(),
    };
    if s.starts_with('-') {
        return Err(err("; durations cannot be negative"));
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("; add a unit: ms, s, m or h"));
    }
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(d);
    }
    parse_decimal_duration(s).ok_or_else(|| err(""))
}

/// `"1.5s"`, `"1m30.5s"`, `"0.25ms"`: numbers with a decimal fraction, each
/// followed by a unit, which humantime does not take.
fn parse_decimal_duration(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total_nanos = 0f64;
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, tail) = rest.split_at(split);
        if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
            return None;
        }
        let tail = tail.trim_start();
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(tail.len());
        let (unit, after) = tail.split_at(unit_len);
        let value: f64 = num.parse().ok()?;
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" | "sec" | "secs" => 1e9,
            "m" | "min" | "mins" => 60e9,
            "h" | "hr" | "hrs" => 3600e9,
            _ => return None,
        };
        total_nanos += value * nanos_per_unit;
        rest = after.trim_start();
    }
    let nanos = total_nanos.round();
    // Beyond ~584 years the u64 nanosecond count overflows; nobody means that.
    if !nanos.is_finite() || nanos >= u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(nanos as u64))
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(HumanDuration)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

pub(crate) struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = HumanDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DURATION_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
        parse_duration(v).map(HumanDuration).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
        if v < 0 {
            return Err(E::custom(format!(
                "expected {DURATION_EXPECTED}, got {v}; durations cannot be negative"
            )));
        }
        Err(E::custom(format!(
            "expected {DURATION_EXPECTED}, got {v}; a duration is a quoted string with a unit, e.g. \"{v}s\""
        )))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
        Err(E::custom(format!(
            "expected {DURATION_EXPECTED}, got {v}; a duration is a quoted string with a unit, e.g. \"{v}s\""
        )))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<HumanDuration, E> {
        Err(E::custom(format!(
            "expected {DURATION_EXPECTED}, got {v}; a duration is a quoted string with a unit, e.g. \"{v}s\""
        )))
    }
}

/// Formats a duration for people: `"0s"`, `"250us"`, `"1.25ms"`, `"500ms"`,
/// `"2.5s"`, `"2m"`, `"1h30m"`, `"1m30.5s"`. Sub-second values keep up to three
/// decimals of their unit; longer ones are split into h/m/s with seconds to
/// the millisecond.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}us", trim_decimals(nanos as f64 / 1e3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_decimals(nanos as f64 / 1e6));
    }
    let millis = d.as_millis();
    let hours = millis / 3_600_000;
    let minutes = (millis / 60_000) % 60;
    let sec_millis = millis % 60_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if sec_millis > 0 {
        out.push_str(&format!("{}s", trim_decimals(sec_millis as f64 / 1e3)));
    }
    out
}

/// At most three decimals, trailing zeros dropped.
fn trim_decimals(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_parse_in_binary_and_decimal_units() {
        let cases: &[(&str, u64)] = &[
            ("4KiB", 4096),
            ("8MiB", 8 << 20),
            ("1GiB", 1 << 30),
            ("1TiB", 1 << 40),
            ("512B", 512),
            ("512", 512),
            ("4KB", 4000),
            ("1MB", 1_000_000),
            ("1GB", 1_000_000_000),
            ("1.5MiB", 1_572_864),
            ("4kib", 4096),
            ("4 KiB", 4096),
            ("  64mib ", 64 << 20),
            ("0", 0),
            ("1.10MB", 1_100_000),
        ];
        for (input, want) in cases {
            assert_eq!(ByteSize::parse(input), Ok(ByteSize(*want)), "{input}");
        }
    }

    #[test]
    fn size_errors_say_what_was_expected() {
        let e = ByteSize::parse("4 kilo").unwrap_err().to_string();
        assert!(
            e.starts_with(r#"expected a size like "4KiB" or "64MiB", got "4 kilo""#),
            "{e}"
        );
        for bad in [
            "",
            "-4KiB",
            "KiB",
            "4..5MiB",
            "4.MiB",
            ".5MiB",
            "1e3",
            "4 Ki B",
            "0.3MiB",
            "1.5B",
            "99999999999999999999",
            "16EiB",
            "0x10",
        ] {
            assert!(ByteSize::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(
            ByteSize::parse("-4KiB")
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        assert!(
            ByteSize::parse("0.3MiB")
                .unwrap_err()
                .to_string()
                .contains("whole number of bytes")
        );
    }

    #[test]
    fn bytes_format_for_people() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(4096), "4 KiB");
        assert_eq!(format_bytes(64 << 20), "64 MiB");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_bytes(1_000_000), "976.56 KiB");
        assert_eq!(format_bytes((1 << 20) - 1), "1 MiB");
        assert_eq!(format_bytes(u64::MAX), "16 EiB");
        assert_eq!(ByteSize(1_000_000).to_string(), "1000000 B");
        assert_eq!(ByteSize(8 << 20).to_string(), "8 MiB");
    }

    #[test]
    fn durations_parse_with_humantime_and_decimals() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("30s"), Ok(ms(30_000)));
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("2m"), Ok(ms(120_000)));
        assert_eq!(parse_duration("1h30m"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("0s"), Ok(ms(0)));
        let e = parse_duration("soon").unwrap_err().to_string();
        assert_eq!(
            e,
            r#"expected a duration like "30s", "500ms" or "1h30m", got "soon""#
        );
        assert!(
            parse_duration("30")
                .unwrap_err()
                .to_string()
                .contains("unit")
        );
        assert!(parse_duration("-3s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1.s").is_err());
    }

    #[test]
    fn durations_format_for_people() {
        let ms = Duration::from_millis;
        assert_eq!(format_duration(ms(0)), "0s");
        assert_eq!(format_duration(ms(500)), "500ms");
        assert_eq!(format_duration(Duration::from_micros(1250)), "1.25ms");
        assert_eq!(format_duration(Duration::from_micros(250)), "250us");
        assert_eq!(format_duration(ms(2500)), "2.5s");
        assert_eq!(format_duration(ms(120_000)), "2m");
        assert_eq!(format_duration(ms(5_400_000)), "1h30m");
        assert_eq!(format_duration(ms(90_500)), "1m30.5s");
    }

    proptest! {
        #[test]
        fn byte_size_display_round_trips(n in any::<u64>()) {
            let text = ByteSize(n).to_string();
            prop_assert_eq!(ByteSize::parse(&text), Ok(ByteSize(n)), "{}", text);
        }

        #[test]
        fn format_bytes_is_close(n in 1u64..(1 << 62)) {
            let text = format_bytes(n);
            // The two-decimal form loses precision but never more than 0.5%.
            let (num, unit) = text.split_once(' ').unwrap();
            let mult = UNITS.iter().find(|(u, _)| *u == unit.to_ascii_lowercase()).unwrap().1;
            let back = num.parse::<f64>().unwrap() * mult as f64;
            prop_assert!((back - n as f64).abs() <= n as f64 * 0.005, "{} -> {}", n, text);
        }

        #[test]
        fn unit_multiples_parse_exactly(n in 0u64..100_000, unit in 0usize..5) {
            let (names, mults) = (["B", "KiB", "MiB", "GiB", "TiB"], [1u64, 1 << 10, 1 << 20, 1 << 30, 1 << 40]);
            prop_assert_eq!(ByteSize::parse(&format!("{n}{}", names[unit])), Ok(ByteSize(n * mults[unit])));
        }

        #[test]
        fn size_parse_never_panics(s in ".{0,40}") {
            let _ = ByteSize::parse(&s);
            let _ = parse_duration(&s);
        }

        #[test]
        fn duration_format_parses_back_within_a_millisecond(ms in 1u64..10_000_000) {
            let d = Duration::from_millis(ms);
            let text = format_duration(d);
            let back = parse_duration(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(back.abs_diff(d) <= Duration::from_millis(1), "{} -> {:?}", text, back);
        }
    }
}
