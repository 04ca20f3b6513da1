//! The one-line answers at the top of a report: per measured phase and op,
//! how Express compares with General Purpose, how sure we are, and what
//! failed. Also used by the results index.

use crate::report::format::sig;
use crate::report::model::{OpResult, PhaseResult, RunResult};
use crate::report::ratio::{Metric, comparison_pair, ratio, ratio_ci};
use crate::stats::FailureGroup;
use crate::units::format_bytes as fmt_bytes;

/// Failed operations of one op on one target, split the way a reader cares
/// about: throttled (503 SlowDown, 429), conditions that did not hold, or
/// failed otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureShare {
    /// Operations the server asked to slow down: 503 (SlowDown) and 429.
    pub throttled: u64,
    /// Every other failure (timeouts, connection errors, other statuses).
    pub failed: u64,
    /// Whole answers whose body did not match its checksum (`integrity`):
    /// wrong bytes, not a dead connection.
    pub integrity: u64,
    /// Conditions that did not hold (412, 409 ConditionalRequestConflict,
    /// 400 InvalidWriteOffset): outcomes of conditional writes and appends,
    /// neither successes nor failures of the tool.
    pub conditional: u64,
    /// Operations attempted (successful or not): the denominator.
    pub total: u64,
}

impl FailureShare {
    pub fn throttled_share(&self) -> f64 {
        share(self.throttled, self.total)
    }
    pub fn failed_share(&self) -> f64 {
        share(self.failed, self.total)
    }
    pub fn integrity_share(&self) -> f64 {
        share(self.integrity, self.total)
    }
    /// Operations that succeeded.
    pub fn succeeded(&self) -> u64 {
        self.total
            .saturating_sub(self.throttled + self.failed + self.conditional + self.integrity)
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The one place that splits an [`OpResult`]'s failures: by the groups the
/// client put them in (`failures`), never by their error strings, so the
/// headline, the warnings, the plots and the error policy agree on what
/// was throttled. Errors no group accounts for count as failed.
pub fn failure_share(o: &OpResult) -> FailureShare {
    let throttled = group_count(o, FailureGroup::Throttled).min(o.errors);
    let conditional = conditional_count(o).min(o.errors - throttled);
    let integrity = group_count(o, FailureGroup::Integrity).min(o.errors - throttled - conditional);
    FailureShare {
        throttled,
        failed: o.errors - throttled - conditional - integrity,
        integrity,
        conditional,
        total: o.count,
    }
}

/// Operations answered "your condition did not hold" (the `conditional`
/// failure group): lost races of conditional writes and appends.
pub fn conditional_count(o: &OpResult) -> u64 {
    group_count(o, FailureGroup::Conditional)
}

/// Failed operations of one group.
pub fn group_count(o: &OpResult, g: FailureGroup) -> u64 {
    o.failures.get(g.key()).map_or(0, |f| f.count)
}

/// The HTTP statuses the throttled operations of `ops` got, for a reader:
/// "503", "429", "429 and 503"; "503 or 429" when not recorded.
pub fn throttle_statuses<'a>(ops: impl IntoIterator<Item = &'a OpResult>) -> String {
    let mut seen: Vec<u16> = ops
        .into_iter()
        .filter_map(|o| o.failures.get(FailureGroup::Throttled.key()))
        .flat_map(|f| f.statuses.keys().copied())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    match seen.as_slice() {
        [] => "503 or 429".into(),
        [one] => one.to_string(),
        many => {
            let all: Vec<String> = many.iter().map(u16::to_string).collect();
            let (last, rest) = all.split_last().expect("two or more");
            format!("{} and {last}", rest.join(", "))
        }
    }
}

/// Error kinds of the `conditional` group, by their S3 codes.
pub fn is_conditional_kind(kind: &str) -> bool {
    kind.starts_with("412")
        || kind.ends_with("ConditionalRequestConflict")
        || kind.ends_with("InvalidWriteOffset")
}

/// Typical payload of one successful op ("4 KiB"), from bytes moved.
pub fn op_size(o: &OpResult) -> Option<String> {
    let ok = failure_share(o).succeeded();
    (o.bytes > 0 && ok > 0).then(|| fmt_bytes(o.bytes / ok))
}

/// "GET 4 KiB": the op as a reader names it, with the size moved per op.
pub fn op_label(op: &str, o: &OpResult) -> String {
    let name = op.replace('_', " ").to_uppercase();
    match op_size(o) {
        Some(s) => format!("{name} {s}"),
        None => name,
    }
}

/// "3.9x lower" / "1.2x higher" for an Express / General Purpose ratio.
fn times(r: f64) -> String {
    if r < 1.0 {
        format!("{}x lower", sig(1.0 / r, 3))
    } else {
        format!("{}x higher", sig(r, 3))
    }
}

/// One headline line per measured phase and op that both targets ran (no
/// list markers; Markdown is the caller's).
pub fn headline(r: &RunResult) -> Vec<String> {
    // What the endpoint did not do comes first, comparison or not.
    let mut lines = crate::report::audit::headline(r);
    let Some((d, g)) = comparison_pair(&r.targets) else {
        return lines;
    };
    let (dn, gn) = (r.targets[d].name.as_str(), r.targets[g].name.as_str());
    let measured: Vec<&PhaseResult> = r.phases.iter().filter(|p| p.is_measured()).collect();
    lines.extend(crate::report::dataloader::headline(r));
    lines.extend(crate::report::checkpoint::headline(r));
    lines.extend(crate::report::gpu::headline(
        r,
        crate::report::cost::prices(),
    ));
    for p in &measured {
        let (Some(td), Some(tg)) = (
            p.targets.iter().find(|t| t.target == dn),
            p.targets.iter().find(|t| t.target == gn),
        ) else {
            continue;
        };
        for (op, od) in &td.ops {
            let Some(og) = tg.ops.get(op) else { continue };
            let (fd, fg) = (failure_share(od), failure_share(og));
            if fd.succeeded() == 0 || fg.succeeded() == 0 {
                continue;
            }
            let prefix = if measured.len() > 1 {
                format!("{} / ", p.name)
            } else {
                String::new()
            };
            let mut s = format!("**{prefix}{}**: ", op_label(op, og));
            let p50 = ratio(od.latency_us.p50, og.latency_us.p50);
            match (p50, ratio_ci(td, tg, op, Metric::P50)) {
                (Some(_), Some(ci)) if ci.ci.contains(1.0) => s.push_str(&format!(
                    "no measurable difference in p50 between Express and General Purpose \
                     (Express / General Purpose {}, 95% CI {}-{})",
                    sig(p50.unwrap_or(1.0), 3),
                    sig(ci.ci.lo, 3),
                    sig(ci.ci.hi, 3)
                )),
                (Some(r50), Some(ci)) => {
                    // Express-lower intervals read in "x lower" terms, so invert.
                    let (lo, hi) = if r50 < 1.0 {
                        (1.0 / ci.ci.hi, 1.0 / ci.ci.lo)
                    } else {
                        (ci.ci.lo, ci.ci.hi)
                    };
                    s.push_str(&format!(
                        "Express p50 {} than General Purpose (95% CI {}-{}x)",
                        times(r50),
                        sig(lo, 3),
                        sig(hi, 3)
                    ));
                }
                (Some(r50), None) => s.push_str(&format!(
                    "Express p50 {} than General Purpose (no confidence interval: too few rounds and seconds)",
                    times(r50)
                )),
                (None, _) => s.push_str("no p50 to compare"),
            }
            if let Some(r99) = ratio(od.latency_us.p99, og.latency_us.p99) {
                s.push_str(&format!(", p99 {}", times(r99)));
            }
            let mut caveats = Vec::new();
            for (label, f, o) in [("General Purpose", fg, og), ("Express", fd, od)] {
                if f.throttled > 0 {
                    caveats.push(format!(
                        "{label} throttled {} ({})",
                        pct(f.throttled_share()),
                        throttle_statuses([o])
                    ));
                }
                if f.failed > 0 {
                    caveats.push(format!("{label} failed {}", pct(f.failed_share())));
                }
                if o.audit == Some(crate::report::audit::AuditVerdict::Violated) {
                    caveats.push(format!(
                        "{label} failed its audit: these numbers time answers, not the operation (see Warnings)"
                    ));
                }
                if f.integrity > 0 {
                    caveats.push(format!(
                        "{label} {} came back with a body that does not match its checksum",
                        pct(f.integrity_share())
                    ));
                }
            }
            if !caveats.is_empty() {
                s.push_str("; ");
                s.push_str(&caveats.join(", "));
            }
            s.push('.');
            lines.push(s);
        }
    }
    if !r.injection.is_empty() && !lines.is_empty() {
        lines.push("These numbers come from injected latency and faults: a model, not S3.".into());
    }
    lines
}

/// A share as a percentage with two significant digits ("4.0%", "0.12%").
pub fn pct(share: f64) -> String {
    format!("{}%", sig(share * 100.0, 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use crate::report::model::FailureResult;

    #[test]
    fn headline_failure_share_splits_throttles_from_other_failures() {
        let mut o = OpResult {
            count: 200,
            errors: 12,
            ..OpResult::default()
        };
        o.errors_by_kind.insert("503 SlowDown".into(), 5);
        o.errors_by_kind.insert("429 TooManyRequests".into(), 3);
        o.errors_by_kind.insert("timeout".into(), 2);
        let group = |count: u64, statuses: &[(u16, u64)]| FailureResult {
            count,
            statuses: statuses.iter().copied().collect(),
            ..FailureResult::default()
        };
        o.failures
            .insert("throttled".into(), group(8, &[(503, 5), (429, 3)]));
        o.failures.insert("transport".into(), group(2, &[]));
        let f = failure_share(&o);
        assert_eq!((f.throttled, f.failed, f.total), (8, 4, 200));
        assert_eq!(f.succeeded(), 188);
        assert!((f.throttled_share() - 0.04).abs() < 1e-12);
        assert_eq!(pct(f.throttled_share()), "4.0%");
        assert_eq!(throttle_statuses([&o]), "429 and 503");

        // The group decides, not the string: a 429 the client grouped as
        // throttled is throttled, whatever its kind says.
        let mut only_429 = OpResult {
            count: 10,
            errors: 4,
            ..OpResult::default()
        };
        only_429
            .errors_by_kind
            .insert("429 TooManyRequests".into(), 4);
        only_429
            .failures
            .insert("throttled".into(), group(4, &[(429, 4)]));
        let f = failure_share(&only_429);
        assert_eq!((f.throttled, f.failed), (4, 0));
        assert_eq!(throttle_statuses([&only_429]), "429");
        assert_eq!(throttle_statuses([&OpResult::default()]), "503 or 429");
    }

    /// A measured phase is headlined whatever its name; a setup phase
    /// never is.
    #[test]
    fn headline_follows_the_role() {
        let r = fixtures::sample_result();
        let mut named = r.clone();
        named.phases[1].name = "prepare".into();
        let lines = headline(&named);
        assert!(
            lines.iter().any(|l| l.starts_with("**prepare / GET")),
            "{lines:?}"
        );
        named.phases[1].role = crate::report::model::PhaseRole::Setup;
        named.phases[2].role = crate::report::model::PhaseRole::Setup;
        assert_eq!(headline(&named), Vec::<String>::new());
    }

    #[test]
    fn headline_says_no_measurable_difference_when_ci_contains_one() {
        let r = fixtures::sample_result();
        let mut same = r.clone();
        // Express = General Purpose: every ratio is 1 and every CI holds 1.
        for p in &mut same.phases {
            let gp = p.targets[0].clone();
            p.targets[1] = crate::report::model::TargetPhaseResult {
                target: p.targets[1].target.clone(),
                ..gp
            };
        }
        let lines = headline(&same);
        assert!(!lines.is_empty());
        for l in &lines {
            assert!(l.contains("no measurable difference"), "{l}");
        }
        let lines = headline(&r);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("x lower than General Purpose")),
            "{lines:?}"
        );
    }
}
