//! Run ids: one rule for every place a run id goes.
//!
//! A run id names the S3 prefix a run writes under (`s3bench/<run id>/`,
//! any characters would do), its local results folder (`<run id>`,
//! `<run id>-shard<i>`, `<run id>-merged`: no `/`, never `.` or `..`), the
//! `--results` keys, the start barrier's keys, the AWS Batch tag
//! `s3bench:run-id` (256 characters), and the Kubernetes label
//! `s3bench.dev/run-id`, which selects a run's pods (anti-affinity) and
//! must hold the id exactly: a label value is at most 63 characters of
//! letters, digits, `-`, `_` and `.`, beginning and ending with a letter or
//! digit. That strictest place sets the rule, so a run id started locally
//! can later be used for a distributed run, and two runs never share a
//! label. Kubernetes object and Batch job names are derived from the id
//! (`cluster::k8s::object_name`), not the rule, since they allow fewer
//! characters still (lowercase DNS labels).

use std::time::SystemTime;

/// The longest run id: a Kubernetes label value's limit.
pub const MAX_LEN: usize = 63;

/// `s` in the characters a run id (and a Kubernetes label value) may hold:
/// any other becomes '-'.
pub fn id_chars(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            c
        } else {
            '-'
        }
    })
}

/// Checks a run id against the one rule; the error is the sentence to show.
pub fn check(id: &str) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    if id.is_empty()
        || id.len() > MAX_LEN
        || !id.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
        || !id.starts_with(alnum)
        || !id.ends_with(alnum)
    {
        return Err(format!(
            "run id {id:?} must be 1 to {MAX_LEN} letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A run id for a run that was not given one: UTC time, the scenario's name
/// (shortened to fit the rule) and a random suffix, e.g.
/// `20261129-120000-ml-shards-3fa2c1`.
pub fn generate(scenario: &str, now: SystemTime) -> String {
    let t = humantime::format_rfc3339_seconds(now).to_string();
    let stamp = t
        .get(..19)
        .unwrap_or("")
        .replace([':', '-'], "")
        .replace('T', "-");
    let suffix = format!("{:06x}", fastrand::u32(..0x100_0000));
    let room = MAX_LEN - stamp.len() - suffix.len() - 2;
    let name: String = id_chars(scenario).take(room).collect();
    format!("{stamp}-{name}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_is_a_label_value() {
        for ok in ["a", "nightly-42", "Run_1.2", &"x".repeat(63)] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "-a",
            "a-",
            "a.",
            "_a",
            "a b",
            &"x".repeat(64),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains(&format!("run id {bad:?}")), "{e}");
        }
    }

    #[test]
    fn generated_ids_follow_the_rule() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let id = generate("ml shards", now);
        assert!(id.starts_with("20270115-080000-ml-shards-"), "{id}");
        check(&id).unwrap();
        // A long or odd scenario name is shortened, never makes a bad id.
        for name in [&"n".repeat(200), "", "--", "a/b c"] {
            let id = generate(name, now);
            check(&id).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        }
    }
}
