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

/// A ratio: two decimals between 0.1 and 10 ("0.81", "1.27"), two
/// significant digits below ("0.064") and three above ("12.7"), so neither
/// end prints digits that mean nothing; "-" when there is none.
pub fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_finite() => {
            let a = r.abs();
            if a == 0.0 || (0.1..10.0).contains(&a) {
                format!("{r:.2}")
            } else if a < 0.1 {
                sig(r, 2)
            } else {
                sig(r, 3)
            }
        }
        _ => "-".to_string(),
    }
}

/// `a / b` as a factor ("0.553x", "1.39x"); below 0.01 "<0.01x" (a
/// ratio that small says "almost none", its digits say nothing more);
/// None when `b` is not positive or either side is not finite.
pub fn fmt_times(a: f64, b: f64) -> Option<String> {
    if !(a.is_finite() && b.is_finite() && b > 0.0) {
        return None;
    }
    let r = a / b;
    Some(if r > 0.0 && r < 0.01 {
        "<0.01x".to_string()
    } else {
        format!("{}x", sig(r, 3))
    })
}

/// A share (0..1) as a percentage with `digits` significant digits:
/// "28.7%", "2.2%", "0.63%"; a share above zero but under 0.01% is
/// "<0.01%", never "0.00634%"; "-" when not finite.
pub fn fmt_share(share: f64, digits: u32) -> String {
    if !share.is_finite() {
        return "-".to_string();
    }
    let pct = share * 100.0;
    if pct > 0.0 && pct < 0.01 {
        "<0.01%".to_string()
    } else {
        format!("{}%", sig(pct, digits))
    }
}

/// A duration given in microseconds, in the unit that keeps it readable:
/// "1.48 µs", "614 µs", "18.5 ms", "23.4 s" (three significant digits).
pub fn fmt_duration_us(us: f64) -> String {
    if !us.is_finite() {
        return "-".to_string();
    }
    let a = us.abs();
    if a == 0.0 {
        "0 s".to_string()
    } else if a < 999.5 {
        format!("{} µs", sig(us, 3))
    } else if a < 999_500.0 {
        format!("{} ms", sig(us / 1_000.0, 3))
    } else {
        format!("{} s", sig(us / 1_000_000.0, 3))
    }
}

/// A duration in seconds, as [`fmt_duration_us`] writes it.
pub fn fmt_secs(s: f64) -> String {
    fmt_duration_us(s * 1_000_000.0)
}

/// A small amount (GPU-hours, GiB) with three significant digits; a
/// positive amount below `floor` is "<floor" ("<0.01"), not "0.00608".
pub fn fmt_amount(v: f64, floor: f64) -> String {
    if v > 0.0 && v < floor {
        format!("<{floor}")
    } else {
        sig(v, 3)
    }
}

/// Money, one rule everywhere (reports, `plan`, `whatif`): whole dollars
/// from $100 with thousands separators ("$107", "$1,013"), cents from $1
/// with ".00" dropped ("$2.37", "$30"), three significant digits below $1,
/// trailing zeros dropped but cents kept ("$0.40", "$0.616", "$0.000102",
/// "$0.0009"); "$0" for zero and "-" when not finite.
pub fn fmt_usd(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v == 0.0 {
        return "$0".into();
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    let digits = if a >= 99.5 {
        fmt_count(a.round() as u64)
    } else if a >= 0.995 {
        let s = format!("{a:.2}");
        s.strip_suffix(".00").map(str::to_string).unwrap_or(s)
    } else {
        let mut s = sig(a, 3);
        while s.ends_with('0') && s.split_once('.').is_some_and(|(_, d)| d.len() > 2) {
            s.pop();
        }
        s
    };
    format!("{sign}${digits}")
}

/// The name a reader knows a target's bucket kind by: "Express" for a
/// directory bucket, "General Purpose" for a general-purpose one, else
/// the target's own name.
pub fn kind_label(kind: &str, target: &str) -> String {
    match kind {
        "directory" => "Express".into(),
        "general-purpose" => "General Purpose".into(),
        _ => target.to_string(),
    }
}

/// [`kind_label`] of the target named `target` in a result.
pub fn target_kind_label(r: &crate::report::model::RunResult, target: &str) -> String {
    let kind = r.targets.iter().find(|t| t.name == target);
    kind_label(kind.map_or("", |t| t.kind.as_str()), target)
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
    fn formatters_table() {
        let cases: Vec<(String, &str)> = vec![
            (fmt_ratio(Some(0.0612)), "0.061"),
            (fmt_ratio(Some(12.68)), "12.7"),
            (fmt_ratio(Some(0.81)), "0.81"),
            (fmt_ratio(Some(0.0)), "0.00"),
            (fmt_times(0.00148, 6.58).unwrap(), "<0.01x"),
            (fmt_times(0.511, 6.80).unwrap(), "0.0751x"),
            (fmt_times(97.8, 70.5).unwrap(), "1.39x"),
            (fmt_times(0.0, 1.0).unwrap(), "0x"),
            (fmt_share(0.0000634, 3), "<0.01%"),
            (fmt_share(0.287, 3), "28.7%"),
            (fmt_share(0.0218, 2), "2.2%"),
            (fmt_share(0.0063, 2), "0.63%"),
            (fmt_share(0.0, 2), "0%"),
            (fmt_share(1.0, 3), "100%"),
            (fmt_share(f64::NAN, 3), "-"),
            (fmt_duration_us(1.48), "1.48 µs"),
            (fmt_duration_us(614.0), "614 µs"),
            (fmt_duration_us(18_500.0), "18.5 ms"),
            (fmt_duration_us(999_999.0), "1.00 s"),
            (fmt_duration_us(23_400_000.0), "23.4 s"),
            (fmt_duration_us(0.0), "0 s"),
            (fmt_secs(0.0185), "18.5 ms"),
            (fmt_secs(0.00148), "1.48 ms"),
            (fmt_secs(6.58), "6.58 s"),
            (fmt_amount(0.00608, 0.01), "<0.01"),
            (fmt_amount(28.3, 0.01), "28.3"),
            (fmt_amount(0.0, 0.01), "0"),
            (fmt_usd(0.4), "$0.40"),
            (fmt_usd(30.0), "$30"),
            (fmt_usd(106.78), "$107"),
            (fmt_usd(2.37), "$2.37"),
            (fmt_usd(14.25), "$14.25"),
            (fmt_usd(0.000102), "$0.000102"),
            (fmt_usd(0.0173), "$0.0173"),
            (fmt_usd(0.0009), "$0.0009"),
            (fmt_usd(0.616), "$0.616"),
            (fmt_usd(0.9996), "$1"),
            (fmt_usd(99.996), "$100"),
            (fmt_usd(469.33), "$469"),
            (fmt_usd(1013.35), "$1,013"),
            (fmt_usd(1_234_567.8), "$1,234,568"),
            (fmt_usd(0.0), "$0"),
            (fmt_usd(-2.5), "-$2.50"),
            (fmt_usd(f64::NAN), "-"),
            (kind_label("directory", "x"), "Express"),
            (kind_label("general-purpose", "x"), "General Purpose"),
            (kind_label("minio", "x"), "x"),
        ];
        for (said, want) in cases {
            assert_eq!(said, want);
        }
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
