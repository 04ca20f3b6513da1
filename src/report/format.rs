//! How a report writes numbers: significant digits, milliseconds, rates,
//! ratios and percentages.

/// Formats `v` with `digits` significant digits, never in exponent form and
/// never dropping integer digits (12345.6 -> "12346"). Non-finite -> "-".
pub fn sig(v: f64, digits: u32) -> String {
    if !v.is_finite() {
        return "-".to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let digits = digits.max(1) as i32;
    let decimals = |mag: i32| (digits - 1 - mag).clamp(0, 9) as usize;
    let mag = magnitude(v.abs());
    let s = format!("{:.*}", decimals(mag), v);
    // Rounding can carry into a new digit (9.996 -> "10.00"); format again
    // at the new magnitude so the digit count stays as asked.
    let rounded: f64 = s.parse().unwrap_or(v);
    if rounded != 0.0 && magnitude(rounded.abs()) > mag {
        format!("{:.*}", decimals(mag + 1), v)
    } else {
        s
    }
}

/// floor(log10(a)) for a > 0, by comparison rather than `log10` so exact
/// powers of ten land on the same side on every platform.
fn magnitude(a: f64) -> i32 {
    let mut mag = 0i32;
    if a >= 1.0 {
        while mag < 308 && a >= 10f64.powi(mag + 1) {
            mag += 1;
        }
    } else {
        while mag > -308 && a < 10f64.powi(mag) {
            mag -= 1;
        }
    }
    mag
}

/// Microseconds -> milliseconds with 3 significant digits (842 µs -> "0.842").
pub fn fmt_ms(us: f64) -> String {
    sig(us / 1_000.0, 3)
}

/// A rate (ops/s, MiB/s) with 3 significant digits, integer part kept.
pub fn fmt_rate(v: f64) -> String {
    sig(v, 3)
}

/// A ratio with two decimals; "-" when there is none.
pub fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_finite() => format!("{r:.2}"),
        _ => "-".to_string(),
    }
}

/// A count with thousands separators (4596 -> "4,596").
pub fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A percentage of `part` in `whole`, one decimal.
pub fn fmt_percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        let said: Vec<String> = [0, 7, 999, 1000, 4596, 1_234_567].map(fmt_count).into();
        assert_eq!(said, ["0", "7", "999", "1,000", "4,596", "1,234,567"]);
    }

    #[test]
    fn sig_keeps_three_significant_digits() {
        assert_eq!(sig(0.842, 3), "0.842");
        assert_eq!(sig(0.04213, 3), "0.0421");
        assert_eq!(sig(12.345, 3), "12.3");
        assert_eq!(sig(1.5, 3), "1.50");
        assert_eq!(sig(123.4, 3), "123");
        assert_eq!(sig(12345.6, 3), "12346");
        assert_eq!(sig(0.0, 3), "0");
        assert_eq!(sig(-2.345, 3), "-2.35");
        assert_eq!(sig(f64::NAN, 3), "-");
        assert_eq!(sig(f64::INFINITY, 3), "-");
    }

    #[test]
    fn sig_handles_carry_into_next_digit() {
        assert_eq!(sig(9.996, 3), "10.0");
        assert_eq!(sig(0.9996, 3), "1.00");
        assert_eq!(sig(99.96, 3), "100");
    }

    #[test]
    fn sig_exact_powers_of_ten() {
        assert_eq!(sig(1.0, 3), "1.00");
        assert_eq!(sig(10.0, 3), "10.0");
        assert_eq!(sig(1000.0, 3), "1000");
        assert_eq!(sig(0.1, 3), "0.100");
        assert_eq!(sig(0.001, 3), "0.00100");
    }

    #[test]
    fn ms_formatting_from_microseconds() {
        assert_eq!(fmt_ms(842.0), "0.842");
        assert_eq!(fmt_ms(12_345.0), "12.3");
        assert_eq!(fmt_ms(1_234_567.0), "1235");
        assert_eq!(fmt_ms(0.0), "0");
        assert_eq!(fmt_ms(42.1), "0.0421");
    }

    #[test]
    fn ratios_and_percentages() {
        assert_eq!(fmt_ratio(Some(0.4249)), "0.42");
        assert_eq!(fmt_ratio(None), "-");
        assert_eq!(fmt_ratio(Some(f64::NAN)), "-");
        assert_eq!(fmt_percent(1, 3), "33.3%");
        assert_eq!(fmt_percent(1, 0), "-");
    }
}
