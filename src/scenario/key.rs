//! Key templates: how object `i` of the data set is named below the run
//! prefix. The layout matters on General Purpose buckets, whose request-rate
//! limits apply per key prefix, so the template language has the two parts
//! that decide it: a high-cardinality hash (`{hash:4}`) and dates (`{date}`).

use std::fmt::Write as _;

use super::plan::{DatePart, KeyPart, KeyTemplate};

/// The placeholders a template may use, for error messages.
const VALID: &str = "{index}, {index:0N} (zero-padded to N digits), {hash:N} (N hex digits, 1..=16), {date} (YYYY/MM/DD), {yyyy}, {mm}, {dd}; write {{ and }} for literal braces";

/// S3's limit on key length in bytes; the run prefix comes on top.
const MAX_KEY_BYTES: usize = 1024;

/// SplitMix64's output function: a fast, well-mixed 64-bit hash of `x`.
/// Used for `{hash:N}` and for per-object sizes, so client and embedded
/// server agree without sharing state.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl KeyTemplate {
    /// Parses a template such as `"{hash:4}/shards/{index:06}.tar"`.
    ///
    /// The template must contain `{index}` (in some form): with it, distinct
    /// indices always render to distinct keys, because every other part has a
    /// fixed width for a given run.
    pub fn parse(s: &str) -> Result<KeyTemplate, String> {
        let mut parts: Vec<KeyPart> = Vec::new();
        let mut literal = String::new();
        let mut chars = s.char_indices().peekable();
        while let Some((pos, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(format!(
                        "unmatched '}}' at byte {pos} of the key template; write }}}} for a literal brace"
                    ));
                }
                '{' => {
                    let rest = &s[pos + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(format!(
                            "unclosed '{{' at byte {pos} of the key template; write {{{{ for a literal brace"
                        ));
                    };
                    let name = &rest[..end];
                    // Skip the placeholder's characters and its closing brace.
                    for _ in 0..name.chars().count() + 1 {
                        chars.next();
                    }
                    let part = placeholder(name)?;
                    if !literal.is_empty() {
                        parts.push(KeyPart::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(KeyPart::Literal(literal));
        }
        if !parts.iter().any(|p| matches!(p, KeyPart::Index { .. })) {
            return Err(format!(
                "the key template {s:?} has no {{index}}, so objects would share keys; add {{index}} or {{index:06}}"
            ));
        }
        if let Some(KeyPart::Literal(first)) = parts.first()
            && first.starts_with('/')
        {
            return Err(format!(
                "the key template {s:?} starts with '/', which gives keys an empty first path segment; remove the leading '/'"
            ));
        }
        let template = KeyTemplate {
            source: s.to_string(),
            parts,
        };
        let longest = template.max_len();
        if longest > MAX_KEY_BYTES {
            return Err(format!(
                "keys from {s:?} can be {longest} bytes long, over S3's limit of {MAX_KEY_BYTES} bytes"
            ));
        }
        Ok(template)
    }

    /// Appends the key of object `index` for the run date `(year, month, day)`
    /// to `out`. Allocates nothing beyond `out`'s growth.
    pub fn render(&self, index: u64, date: (i32, u32, u32), out: &mut String) {
        let (year, month, day) = date;
        for part in &self.parts {
            // Writing to a String cannot fail.
            let _ = match part {
                KeyPart::Literal(s) => {
                    out.push_str(s);
                    Ok(())
                }
                KeyPart::Index { width } => write!(out, "{index:0width$}"),
                KeyPart::Hash { width } => {
                    let h = splitmix64(index);
                    for i in 0..*width {
                        let nibble = (h >> (60 - 4 * i)) & 0xf;
                        out.push(char::from(b"0123456789abcdef"[nibble as usize]));
                    }
                    Ok(())
                }
                KeyPart::Date(DatePart::Full) => write!(out, "{year:04}/{month:02}/{day:02}"),
                KeyPart::Date(DatePart::Year) => write!(out, "{year:04}"),
                KeyPart::Date(DatePart::Month) => write!(out, "{month:02}"),
                KeyPart::Date(DatePart::Day) => write!(out, "{day:02}"),
            };
        }
    }

    /// Longest key this template can render, in bytes (index up to 20 digits).
    pub fn max_len(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                KeyPart::Literal(s) => s.len(),
                KeyPart::Index { width } => (*width).max(20),
                KeyPart::Hash { width } => *width,
                KeyPart::Date(DatePart::Full) => 10,
                KeyPart::Date(DatePart::Year) => 4,
                KeyPart::Date(DatePart::Month | DatePart::Day) => 2,
            })
            .sum()
    }
}

fn placeholder(name: &str) -> Result<KeyPart, String> {
    let bad = || format!("unknown placeholder {{{name}}} in the key template; valid ones: {VALID}");
    let (head, arg) = match name.split_once(':') {
        Some((h, a)) => (h, Some(a)),
        None => (name, None),
    };
    match (head, arg) {
        ("index", None) => Ok(KeyPart::Index { width: 0 }),
        ("index", Some(w)) => {
            // `06` reads like Rust's zero-padded width; `6` means the same.
            let width = parse_width(w).filter(|w| (1..=20).contains(w)).ok_or_else(|| {
                format!("{{{name}}}: the index width must be a number from 1 to 20, like {{index:06}}")
            })?;
            Ok(KeyPart::Index { width })
        }
        ("hash", Some(w)) => {
            let width = parse_width(w)
                .filter(|w| (1..=16).contains(w))
                .ok_or_else(|| {
                    format!(
                        "{{{name}}}: the hash width must be a number from 1 to 16, like {{hash:4}}"
                    )
                })?;
            Ok(KeyPart::Hash { width })
        }
        ("hash", None) => Err(format!(
            "{{hash}} needs a width: {{hash:N}} with N from 1 to 16, like {{hash:4}}; valid placeholders: {VALID}"
        )),
        ("date", None) => Ok(KeyPart::Date(DatePart::Full)),
        ("yyyy", None) => Ok(KeyPart::Date(DatePart::Year)),
        ("mm", None) => Ok(KeyPart::Date(DatePart::Month)),
        ("dd", None) => Ok(KeyPart::Date(DatePart::Day)),
        _ => Err(bad()),
    }
}

fn parse_width(s: &str) -> Option<usize> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const DATE: (i32, u32, u32) = (2025, 6, 7);

    fn render(t: &str, i: u64) -> String {
        let mut out = String::new();
        KeyTemplate::parse(t).unwrap().render(i, DATE, &mut out);
        out
    }

    #[test]
    fn placeholders_render() {
        assert_eq!(render("{index}", 42), "42");
        assert_eq!(render("{index:08}", 42), "00000042");
        assert_eq!(render("{index:6}", 1234567), "1234567");
        assert_eq!(render("{date}/{index:06}.bin", 7), "2025/06/07/000007.bin");
        assert_eq!(render("{yyyy}-{mm}-{dd}/{index}", 1), "2025-06-07/1");
        assert_eq!(render("a{{b}}/{index}", 3), "a{b}/3");
        // The hash is the leading hex digits of splitmix64(index).
        let h = format!("{:016x}", splitmix64(5));
        assert_eq!(
            render("{hash:4}/shards/{index:06}.tar", 5),
            format!("{}/shards/000005.tar", &h[..4])
        );
        assert_eq!(render("{hash:16}-{index}", 5), format!("{h}-5"));
        // Non-ASCII literals survive.
        assert_eq!(render("données/{index}", 1), "données/1");
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of the reference SplitMix64 generator seeded with 0:
        // state advances by the golden gamma, so output k = mix(k * gamma).
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(0x9E37_79B9_7F4A_7C15), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn rendering_appends_and_keys_are_distinct() {
        let t = KeyTemplate::parse("{hash:2}/{index}").unwrap();
        let mut seen = HashSet::new();
        let mut buf = String::new();
        for i in 0..20_000u64 {
            buf.clear();
            t.render(i, DATE, &mut buf);
            assert!(seen.insert(buf.clone()), "duplicate key {buf}");
        }
        let mut out = String::from("run/");
        t.render(1, DATE, &mut out);
        assert!(out.starts_with("run/") && out.ends_with("/1"));
    }

    #[test]
    fn bad_templates_are_explained() {
        let e = KeyTemplate::parse("{foo}/{index}").unwrap_err();
        assert!(
            e.contains("unknown placeholder {foo}") && e.contains("{hash:N}"),
            "{e}"
        );
        let e = KeyTemplate::parse("{date}/x.bin").unwrap_err();
        assert!(e.contains("no {index}"), "{e}");
        let e = KeyTemplate::parse("/{index}").unwrap_err();
        assert!(e.contains("starts with '/'"), "{e}");
        let e = KeyTemplate::parse("{hash:17}/{index}").unwrap_err();
        assert!(e.contains("1 to 16"), "{e}");
        let e = KeyTemplate::parse("{hash}/{index}").unwrap_err();
        assert!(e.contains("needs a width"), "{e}");
        assert!(
            KeyTemplate::parse("{index")
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(
            KeyTemplate::parse("{index}}")
                .unwrap_err()
                .contains("unmatched")
        );
        assert!(KeyTemplate::parse("{index:x}").is_err());
        assert!(
            KeyTemplate::parse(&format!("{}{{index}}", "a".repeat(1010)))
                .unwrap_err()
                .contains("1024")
        );
    }

    #[test]
    fn parse_keeps_source_and_parts() {
        let t = KeyTemplate::parse("{hash:4}/shards/{index:06}.tar").unwrap();
        assert_eq!(t.source, "{hash:4}/shards/{index:06}.tar");
        assert_eq!(
            t.parts,
            vec![
                KeyPart::Hash { width: 4 },
                KeyPart::Literal("/shards/".into()),
                KeyPart::Index { width: 6 },
                KeyPart::Literal(".tar".into()),
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,60}") {
            if let Ok(t) = KeyTemplate::parse(&s) {
                let mut out = String::new();
                t.render(u64::MAX, (9999, 12, 31), &mut out);
                proptest::prop_assert!(out.len() <= t.max_len());
            }
        }
    }
}
