//! The shape of a log's keys, as a key template that keeps it without
//! copying names: how deep keys are, which parts take many values (a hash
//! of as many hex digits), which take one (a neutral literal), where dates
//! sit (`{yyyy}`, `{mm}`, `{dd}`), and the file name's extension.

use std::collections::HashSet;

/// Keys kept for the analysis, at most.
const SAMPLE: usize = 20_000;
/// Distinct values tracked per position, at most.
const DISTINCT: usize = 4096;

#[derive(Debug, Default)]
pub struct KeyShape {
    sample: Vec<String>,
    seen: u64,
}

impl KeyShape {
    /// Offers a distinct key (reservoir sample, so a long log's keys are
    /// represented evenly, in bounded memory).
    pub fn offer(&mut self, key: &str, rng: &mut fastrand::Rng) {
        self.seen += 1;
        if self.sample.len() < SAMPLE {
            self.sample.push(key.to_string());
        } else {
            let j = rng.u64(0..self.seen) as usize;
            if j < SAMPLE {
                self.sample[j] = key.to_string();
            }
        }
    }

    /// The template, and one line per position saying what was seen.
    pub fn template(&self) -> (String, Vec<String>) {
        if self.sample.is_empty() {
            return (
                "{index:08}".into(),
                vec!["no object keys in the log: a flat layout".into()],
            );
        }
        let depth_of = |k: &str| k.split('/').count();
        let mut depths = std::collections::BTreeMap::<usize, usize>::new();
        for k in &self.sample {
            *depths.entry(depth_of(k)).or_default() += 1;
        }
        let (&depth, &n) = depths
            .iter()
            .max_by_key(|(d, n)| (**n, usize::MAX - **d))
            .unwrap();
        let keys: Vec<Vec<&str>> = self
            .sample
            .iter()
            .filter(|k| depth_of(k) == depth)
            .map(|k| k.split('/').collect())
            .collect();
        let mut notes = vec![format!(
            "keys are {depth} level{} deep ({:.0}% of the keys sampled)",
            if depth == 1 { "" } else { "s" },
            100.0 * n as f64 / self.sample.len() as f64
        )];
        let mut parts = Vec::with_capacity(depth);
        let mut prev_date: Option<char> = None;
        for pos in 0..depth {
            let values: Vec<&str> = keys.iter().map(|k| k[pos]).collect();
            if pos + 1 == depth {
                let (part, note) = file_name(&values);
                notes.push(format!("level {}: {note}", pos + 1));
                parts.push(part);
                break;
            }
            let distinct: HashSet<&str> = values.iter().copied().take(DISTINCT * 4).collect();
            let all = |f: &dyn Fn(&str) -> bool| values.iter().all(|v| f(v));
            let (part, note) = if all(&|v| is_year(v)) {
                prev_date = Some('y');
                ("{yyyy}".to_string(), "years".to_string())
            } else if prev_date == Some('y') && all(&|v| is_num_in(v, 1, 12)) {
                prev_date = Some('m');
                ("{mm}".to_string(), "months".to_string())
            } else if prev_date == Some('m') && all(&|v| is_num_in(v, 1, 31)) {
                prev_date = None;
                ("{dd}".to_string(), "days".to_string())
            } else if all(&|v| is_iso_date(v)) {
                prev_date = None;
                (
                    "{yyyy}-{mm}-{dd}".to_string(),
                    "dates (YYYY-MM-DD)".to_string(),
                )
            } else if distinct.len() == 1 {
                prev_date = None;
                (
                    format!("p{}", pos + 1),
                    "one value (replaced by a neutral name)".to_string(),
                )
            } else {
                prev_date = None;
                let n = distinct.len();
                let high = n >= DISTINCT.min(keys.len() / 2).max(2);
                // As many hex digits as it takes for as many values, or
                // the values' own length when they are many.
                let width = if high {
                    median_len(&values).clamp(1, 16)
                } else {
                    (((n as f64).ln() / 16f64.ln()).ceil() as usize).clamp(1, 16)
                };
                (
                    format!("{{hash:{width}}}"),
                    if high {
                        format!("high-cardinality ({n}+ values)")
                    } else {
                        format!("{n} values")
                    },
                )
            };
            notes.push(format!("level {}: {note} -> {part}", pos + 1));
            parts.push(part);
        }
        (parts.join("/"), notes)
    }
}

fn median_len(values: &[&str]) -> usize {
    let mut l: Vec<usize> = values.iter().map(|v| v.chars().count()).collect();
    l.sort_unstable();
    l[l.len() / 2]
}

fn is_year(v: &str) -> bool {
    v.len() == 4 && v.parse::<u32>().is_ok_and(|y| (1970..=2199).contains(&y))
}

fn is_num_in(v: &str, lo: u32, hi: u32) -> bool {
    (1..=2).contains(&v.len()) && v.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n))
}

fn is_iso_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && is_year(&v[..4])
        && is_num_in(&v[5..7], 1, 12)
        && is_num_in(&v[8..10], 1, 31)
}

/// The last level: the object index, zero-padded to the names' length when
/// they are numbers, with the most common extension kept (it is shape,
/// not a name).
fn file_name(values: &[&str]) -> (String, String) {
    let mut exts = std::collections::HashMap::<&str, usize>::new();
    let mut stems = Vec::with_capacity(values.len());
    for v in values {
        match v.rsplit_once('.') {
            Some((stem, ext))
                if !stem.is_empty()
                    && (1..=5).contains(&ext.len())
                    && ext.bytes().all(|c| c.is_ascii_alphanumeric()) =>
            {
                *exts.entry(ext).or_default() += 1;
                stems.push(stem);
            }
            _ => stems.push(v),
        }
    }
    let ext = exts
        .iter()
        .max_by_key(|(e, n)| (**n, std::cmp::Reverse(**e)))
        .map(|(e, _)| *e);
    let numeric = stems.iter().all(|s| s.bytes().all(|c| c.is_ascii_digit()));
    let width = if numeric {
        median_len(&stems).clamp(1, 20)
    } else {
        8
    };
    let mut part = format!("{{index:0{width}}}");
    if let Some(e) = ext {
        part.push('.');
        part.push_str(e);
    }
    let note = format!(
        "file names{} -> {part}",
        if numeric { " (numbers)" } else { "" }
    );
    (part, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_is_kept_names_are_not() {
        let mut s = KeyShape::default();
        let mut rng = fastrand::Rng::with_seed(1);
        for i in 0..500u64 {
            let h = crate::scenario::splitmix64(i);
            s.offer(
                &format!(
                    "{:04x}/customer-images/2024/{:02}/{:02}/{:06}.jpg",
                    h & 0xffff,
                    1 + i % 12,
                    1 + i % 28,
                    i
                ),
                &mut rng,
            );
        }
        let (t, notes) = s.template();
        assert_eq!(
            t, "{hash:4}/p2/{yyyy}/{mm}/{dd}/{index:06}.jpg",
            "{notes:?}"
        );
        assert!(!t.contains("customer"));
        crate::scenario::KeyTemplate::parse(&t).expect("a valid template");
    }
}
