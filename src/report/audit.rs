//! Audits in the report: the JSON model of what each audit of a phase's
//! ops checked and found (part of the contract, re-exported by `model`),
//! its merge, the warnings and headline lines of a violation, and the
//! per-phase table.
//!
//! An audit asks whether the endpoint did what it answered success to: an
//! S3-compatible server can answer 200 to an append it turned into an
//! overwrite, a rename it stored as an empty object, or two create-only
//! writes to one key. Those requests' numbers then time answers, not the
//! operation, and the report says so next to them.

use serde::{Deserialize, Serialize};

use super::model::{PhaseResult, RunResult, TargetPhaseResult};
use crate::report::format::fmt_count;
use crate::report::table::{Align, Table};
use crate::units::format_bytes;

/// What an op promised, which its audit checks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AuditCheck {
    /// `append`: each object holds the bytes its successful appends wrote
    /// (each answer's `x-amz-object-size`, and a HEAD of the objects).
    /// `expected` and `seen` are bytes.
    AppendSize,
    /// `rename`: the destination holds what was written at the source, and
    /// the source is gone (a HEAD of each). Bytes.
    RenameMoved,
    /// `conditional_put`, create-only: at most one writer wins a key,
    /// counted from the answers alone (no request). `expected` is the keys
    /// (the most winners they allow), `seen` the winners.
    CreateOnlyOneWinner,
    /// `conditional_put`, compare-and-swap: every write answered success
    /// survives, which a key's final length counts (a HEAD of each key).
    /// `expected` is the successful writes, `seen` those the lengths show.
    SwapsSurvive,
    /// `copy`: the destination has its source's size (HEAD). Bytes.
    CopySize,
    /// `multipart_put`: the completed object has the size uploaded (HEAD).
    /// Bytes.
    MultipartSize,
}

impl AuditCheck {
    /// The promise, as the report's table says it.
    pub fn promise(self) -> &'static str {
        match self {
            AuditCheck::AppendSize => "objects hold what was appended",
            AuditCheck::RenameMoved => "destination holds the source, source gone",
            AuditCheck::CreateOnlyOneWinner => "at most one create-only winner per key",
            AuditCheck::SwapsSurvive => "every compare-and-swap write survives",
            AuditCheck::CopySize => "copy has its source's size",
            AuditCheck::MultipartSize => "completed upload has the size uploaded",
        }
    }

    /// Whether `expected` and `seen` are bytes.
    fn bytes(self) -> bool {
        !matches!(
            self,
            AuditCheck::CreateOnlyOneWinner | AuditCheck::SwapsSurvive
        )
    }
}

/// What an audit found.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AuditVerdict {
    /// Everything read back is what the answers said.
    Held,
    /// Nothing could be read back (every read failed): unknown.
    Unchecked,
    /// The endpoint answered success without doing what was asked: the
    /// op's numbers time answers, not the operation.
    Violated,
}

impl AuditVerdict {
    pub fn label(self) -> &'static str {
        match self {
            AuditVerdict::Held => "held",
            AuditVerdict::Unchecked => "unchecked",
            AuditVerdict::Violated => "**violated**",
        }
    }
}

/// One audit of one op on one target in one phase (every round; summed
/// over shards).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpAudit {
    /// The op's result key (`append`, `rename`, `conditional_put`, `copy`,
    /// `multipart_put`).
    pub op: String,
    /// What was promised and checked.
    pub check: AuditCheck,
    /// What was found (from the numbers below).
    pub verdict: AuditVerdict,
    /// The op's successful operations this check covers: appends, renames,
    /// create-only winners, compare-and-swap writes, copies, uploads.
    pub claimed: u64,
    /// What they left to check: appended objects, renames, keys, keys,
    /// copies, uploads.
    pub items: u64,
    /// Items read back (a sample of at most 100 per round and target when
    /// there were more; create-only: every key, from the answers).
    pub checked: u64,
    /// Checked items that broke the promise.
    pub broken: u64,
    /// Items whose read failed (neither held nor broke).
    pub unreadable: u64,
    /// What the checked items should show and what they showed (bytes, or
    /// writes and winners: see `check`).
    pub expected: u64,
    pub seen: u64,
    /// `rename`: sources still there among those checked.
    pub sources_left: u64,
    /// `append`: answers that named the object's new size
    /// (`x-amz-object-size`), and those naming another size than the
    /// appends had made it.
    pub sizes_said: u64,
    pub sizes_wrong: u64,
    /// Requests the audit sent for this check (HEAD attempts; none for
    /// create-only).
    pub requests: u64,
}

impl OpAudit {
    /// An empty audit of `check` on `op`, to add rounds into.
    pub fn new(op: &str, check: AuditCheck) -> OpAudit {
        OpAudit {
            op: op.to_string(),
            check,
            verdict: AuditVerdict::Held,
            claimed: 0,
            items: 0,
            checked: 0,
            broken: 0,
            unreadable: 0,
            expected: 0,
            seen: 0,
            sources_left: 0,
            sizes_said: 0,
            sizes_wrong: 0,
            requests: 0,
        }
    }

    /// The verdict the numbers give.
    pub fn judge(&self) -> AuditVerdict {
        if self.broken > 0 || self.sizes_wrong > 0 {
            AuditVerdict::Violated
        } else if self.items > 0 && self.checked == 0 && self.sizes_said == 0 {
            AuditVerdict::Unchecked
        } else {
            AuditVerdict::Held
        }
    }

    /// Adds another round's (or shard's) audit of the same check.
    pub fn add(&mut self, o: &OpAudit) {
        self.claimed += o.claimed;
        self.items += o.items;
        self.checked += o.checked;
        self.broken += o.broken;
        self.unreadable += o.unreadable;
        self.expected += o.expected;
        self.seen += o.seen;
        self.sources_left += o.sources_left;
        self.sizes_said += o.sizes_said;
        self.sizes_wrong += o.sizes_wrong;
        self.requests += o.requests;
        self.verdict = self.judge();
    }
}

/// Adds `more` into `into`, check by check (rounds of a phase, shards).
pub fn add_all(into: &mut Vec<OpAudit>, more: &[OpAudit]) {
    for m in more {
        match into.iter_mut().find(|a| a.op == m.op && a.check == m.check) {
            Some(a) => a.add(m),
            None => {
                let mut a = OpAudit::new(&m.op, m.check);
                a.add(m);
                into.push(a);
            }
        }
    }
    into.sort_by(|a, b| {
        crate::s3::OpKind::report_rank(&a.op)
            .cmp(&crate::s3::OpKind::report_rank(&b.op))
            .then(a.check.cmp(&b.check))
    });
}

/// The audits of the shards of one phase and target, merged.
pub fn merge(shards: &[&TargetPhaseResult]) -> Vec<OpAudit> {
    let mut out = Vec::new();
    for s in shards {
        add_all(&mut out, &s.audits);
    }
    out
}

/// The verdict of `op`'s audits on a target (the worst of its checks), or
/// None when it was not audited.
pub fn op_verdict(audits: &[OpAudit], op: &str) -> Option<AuditVerdict> {
    audits
        .iter()
        .filter(|a| a.op == op)
        .map(|a| a.verdict)
        .max()
}

fn amount(check: AuditCheck, n: u64) -> String {
    if check.bytes() {
        format_bytes(n)
    } else {
        fmt_count(n)
    }
}

/// " (a sample of 1,140)" when fewer items were read than there were.
fn of_items(a: &OpAudit) -> String {
    if a.checked + a.unreadable < a.items {
        format!(" (a sample of {})", fmt_count(a.items))
    } else {
        String::new()
    }
}

/// The sentence of a violated (or unchecked) audit, with its numbers and
/// the likely cause; None when it held.
pub fn sentence(target: &str, phase: &str, a: &OpAudit) -> Option<String> {
    let who = format!("{target} {} ({phase} phase)", a.op);
    let n = fmt_count;
    let (exp, seen) = (amount(a.check, a.expected), amount(a.check, a.seen));
    let what = match a.verdict {
        AuditVerdict::Held => return None,
        AuditVerdict::Unchecked => {
            return Some(format!(
                "{who}: the audit could not read back any of the {} items it checks ({} reads failed), so whether the endpoint did what it answered success to is not known.",
                n(a.items),
                n(a.unreadable)
            ));
        }
        AuditVerdict::Violated => match a.check {
            AuditCheck::AppendSize => {
                let mut parts = Vec::new();
                if a.broken > 0 {
                    let cause = if a.seen < a.expected {
                        "the endpoint ignores the write offset (x-amz-write-offset-bytes) and overwrites the object instead of appending to it"
                    } else {
                        "the objects are not what the appends made them"
                    };
                    parts.push(format!(
                        "{} of the {} appended objects read back{} hold {seen} where the appends wrote {exp}: {cause}",
                        n(a.broken),
                        n(a.checked),
                        of_items(a)
                    ));
                }
                if a.sizes_wrong > 0 {
                    parts.push(format!(
                        "{} of {} answers named another object size (x-amz-object-size) than the appends had made it",
                        n(a.sizes_wrong),
                        n(a.sizes_said)
                    ));
                }
                format!(
                    "{} appends were answered success, but {}",
                    n(a.claimed),
                    parts.join("; and ")
                )
            }
            AuditCheck::RenameMoved => {
                let cause = if a.seen == 0 && a.sources_left == a.checked {
                    "the endpoint answers RenameObject as an empty PUT: it stores an empty object at the destination and keeps the source"
                } else {
                    "RenameObject does not move the object it answers success for"
                };
                format!(
                    "{} renames were answered success, but {} of the {} read back{} were not done: their destinations hold {seen} where {exp} were written, and {} of their sources are still there: {cause}",
                    n(a.claimed),
                    n(a.broken),
                    n(a.checked),
                    of_items(a),
                    n(a.sources_left)
                )
            }
            AuditCheck::CreateOnlyOneWinner => format!(
                "{} create-only winners for {} keys ({} keys with more than one): the endpoint's conditional writes are not atomic",
                n(a.seen),
                n(a.items),
                n(a.broken)
            ),
            AuditCheck::SwapsSurvive => {
                let of = if a.checked < a.items || a.expected != a.claimed {
                    format!(
                        " of the {} made to the {} keys read back",
                        n(a.expected),
                        n(a.checked)
                    )
                } else {
                    String::new()
                };
                format!(
                    "{} compare-and-swap writes were answered success, but the objects' final lengths show only {}{of} survived: the endpoint's conditional writes are not atomic (If-Match let writes with a stale ETag through, and they overwrote each other)",
                    n(a.claimed),
                    n(a.seen)
                )
            }
            AuditCheck::CopySize => format!(
                "{} of the {} copies read back{} do not have their source's size ({seen} where {exp}): the endpoint's CopyObject answers success without copying the object",
                n(a.broken),
                n(a.checked),
                of_items(a)
            ),
            AuditCheck::MultipartSize => format!(
                "{} of the {} completed multipart uploads read back{} do not have the size uploaded ({seen} where {exp}): the endpoint answers CompleteMultipartUpload success without assembling the object",
                n(a.broken),
                n(a.checked),
                of_items(a)
            ),
        },
    };
    Some(format!(
        "{who}: {what}. Its numbers time answers to requests the endpoint did not carry out."
    ))
}

/// One warning per audit that was violated or could not check anything.
/// Built from the JSON alone, so `report` and `merge` say what the run said.
pub fn warnings(r: &RunResult) -> Vec<String> {
    let mut out = Vec::new();
    for p in r.phases.iter().filter(|p| p.is_measured()) {
        for t in &p.targets {
            out.extend(
                t.audits
                    .iter()
                    .filter_map(|a| sentence(&t.target, &p.name, a)),
            );
        }
    }
    out
}

/// The headline's lines: every violation, first.
pub fn headline(r: &RunResult) -> Vec<String> {
    let mut out = Vec::new();
    for p in r.phases.iter().filter(|p| p.is_measured()) {
        for t in &p.targets {
            for a in t
                .audits
                .iter()
                .filter(|a| a.verdict == AuditVerdict::Violated)
            {
                if let Some(s) = sentence(&t.target, &p.name, a) {
                    out.push(format!("**Audit failed:** {s}"));
                }
            }
        }
    }
    out
}

/// The phase's audits, one row per target and check.
pub fn section(md: &mut String, p: &PhaseResult) {
    if p.targets.iter().all(|t| t.audits.is_empty()) {
        return;
    }
    md.push_str("### Audits\n\n");
    md.push_str(
        "After each round, before the cleanup, what the answers said was read back (a sample of at most 100 items per check, round and target; create-only winners are counted from the answers).\n\n",
    );
    let mut t = Table::numeric([
        "op", "target", "promise", "claimed", "items", "checked", "broken", "expected", "seen",
        "requests", "verdict",
    ])
    .with_align(1, Align::Left)
    .with_align(2, Align::Left)
    .with_align(10, Align::Left);
    for tr in &p.targets {
        for a in &tr.audits {
            t.push([
                a.op.clone(),
                tr.target.clone(),
                a.check.promise().to_string(),
                fmt_count(a.claimed),
                fmt_count(a.items),
                fmt_count(a.checked),
                fmt_count(a.broken),
                amount(a.check, a.expected),
                amount(a.check, a.seen),
                fmt_count(a.requests),
                a.verdict.label().to_string(),
            ]);
        }
    }
    md.push_str(&t.render());
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(check: AuditCheck) -> OpAudit {
        OpAudit::new("conditional_put", check)
    }

    /// The numbers read as it asks: winners for keys, and the
    /// cause.
    #[test]
    fn violations_are_said_with_their_numbers() {
        let mut a = audit(AuditCheck::CreateOnlyOneWinner);
        a.add(&OpAudit {
            claimed: 4596,
            items: 3333,
            checked: 3333,
            broken: 1263,
            expected: 3333,
            seen: 4596,
            ..audit(AuditCheck::CreateOnlyOneWinner)
        });
        assert_eq!(a.verdict, AuditVerdict::Violated);
        assert_eq!(
            sentence("s3s-fs", "locks", &a).unwrap(),
            "s3s-fs conditional_put (locks phase): 4,596 create-only winners for 3,333 keys (1,263 keys with more than one): the endpoint's conditional writes are not atomic. Its numbers time answers to requests the endpoint did not carry out."
        );
        let mut cas = audit(AuditCheck::SwapsSurvive);
        cas.add(&OpAudit {
            claimed: 4038,
            items: 8,
            checked: 8,
            broken: 8,
            expected: 4038,
            seen: 2099,
            requests: 8,
            ..audit(AuditCheck::SwapsSurvive)
        });
        let s = sentence("s3s-fs", "cas", &cas).unwrap();
        assert!(
            s.contains("4,038 compare-and-swap writes were answered success, but the objects' final lengths show only 2,099 survived"),
            "{s}"
        );
        let mut rn = OpAudit::new("rename", AuditCheck::RenameMoved);
        rn.add(&OpAudit {
            claimed: 392,
            items: 392,
            checked: 100,
            broken: 100,
            expected: 100 * 65536,
            seen: 0,
            sources_left: 100,
            requests: 200,
            ..OpAudit::new("rename", AuditCheck::RenameMoved)
        });
        let s = sentence("moto", "commit", &rn).unwrap();
        assert!(
            s.contains("392 renames were answered success, but 100 of the 100 read back (a sample of 392) were not done: their destinations hold 0 B where 6.25 MiB were written, and 100 of their sources are still there: the endpoint answers RenameObject as an empty PUT"),
            "{s}"
        );
        // A held audit says nothing; one that read nothing says so.
        assert_eq!(
            sentence("t", "p", &OpAudit::new("copy", AuditCheck::CopySize)),
            None
        );
        let mut blind = OpAudit::new("copy", AuditCheck::CopySize);
        blind.add(&OpAudit {
            claimed: 5,
            items: 5,
            unreadable: 5,
            requests: 15,
            ..OpAudit::new("copy", AuditCheck::CopySize)
        });
        assert_eq!(blind.verdict, AuditVerdict::Unchecked);
        assert!(
            sentence("t", "p", &blind)
                .unwrap()
                .contains("could not read back any of the 5")
        );
    }

    #[test]
    fn audits_add_up_by_check_and_the_worst_marks_the_op() {
        let held = OpAudit {
            claimed: 10,
            items: 10,
            checked: 10,
            expected: 10,
            seen: 10,
            ..audit(AuditCheck::SwapsSurvive)
        };
        let broken = OpAudit {
            claimed: 10,
            items: 10,
            checked: 10,
            broken: 1,
            expected: 10,
            seen: 9,
            ..audit(AuditCheck::CreateOnlyOneWinner)
        };
        let mut all = Vec::new();
        add_all(&mut all, &[held.clone(), broken.clone()]);
        add_all(&mut all, std::slice::from_ref(&held));
        assert_eq!(all.len(), 2);
        let swaps = all
            .iter()
            .find(|a| a.check == AuditCheck::SwapsSurvive)
            .unwrap();
        assert_eq!((swaps.claimed, swaps.verdict), (20, AuditVerdict::Held));
        assert_eq!(
            op_verdict(&all, "conditional_put"),
            Some(AuditVerdict::Violated)
        );
        assert_eq!(op_verdict(&all, "get"), None);
    }
}
