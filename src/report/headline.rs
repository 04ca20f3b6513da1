//! The one-line answers at the top of a report: per measured phase and op,
//! how Express compares with General Purpose, how sure we are, and what
//! failed. Also used by the results index.

use crate::report::format::sig;
use crate::report::model::{
    GpStandIn, LoadShape, OpResult, PhaseResult, RunResult, StageShape, TargetPhaseResult,
};
use crate::report::ratio::{Metric, comparison_pair, ratio, ratio_ci};
use crate::report::verdict::Judgement;
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

/// Above this host CPU share the client, not S3, may set the numbers.
pub const HOST_CPU_WARN_PERCENT: f64 = 85.0;

/// An Express / General Purpose ratio in plain words, always in that
/// direction, as the tables' ratio rows read: 0.81 -> "19% lower", 1.24 ->
/// "24% higher", 4.9 -> "4.9x higher", 1.0 -> "the same".
pub fn change(r: f64) -> String {
    if !r.is_finite() {
        return "-".into();
    }
    let pct = (r - 1.0) * 100.0;
    if pct.abs() < 0.05 {
        "the same".into()
    } else if r >= 2.0 {
        format!("{}x higher", sig(r, 2))
    } else if pct < 0.0 {
        format!("{}% lower", sig(-pct, 2))
    } else {
        format!("{}% higher", sig(pct, 2))
    }
}

/// Context that outranks every comparison, first in the headline (and so
/// in the results index): a busy client, an endpoint that is not S3.
pub fn context(r: &RunResult) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = r
        .client
        .host_cpu_percent
        .filter(|p| *p > HOST_CPU_WARN_PERCENT)
    {
        out.push(format!(
            "**Client-bound**: the client host was {}% busy during the measured phases, so the \
             numbers below may measure s3bench, not the endpoint; rerun with fewer workers or on a \
             larger host.",
            sig(p, 2)
        ));
    }
    let foreign: Vec<&str> = r
        .targets
        .iter()
        .filter_map(|t| t.endpoint.as_deref())
        .filter(|e| !is_aws(e))
        .collect();
    if r.embedded {
        out.push(
            "**Not S3**: s3bench's embedded endpoint on 127.0.0.1 served this run, in the same \
             process; its numbers show s3bench against a model, not S3."
                .into(),
        );
    } else if let Some(e) = foreign.first() {
        out.push(format!(
            "**Not AWS S3**: the endpoint was {e}; its numbers say nothing about S3 Express One \
             Zone or General Purpose on AWS."
        ));
    }
    out
}

/// An endpoint URL on AWS (`*.amazonaws.com`, China's `.amazonaws.com.cn`).
pub(crate) fn is_aws(endpoint: &str) -> bool {
    let host = endpoint
        .split("://")
        .last()
        .unwrap_or(endpoint)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// What the General Purpose side ran instead of a directory-bucket op.
fn stand_in(p: &PhaseResult, op: &str) -> Option<&'static str> {
    let LoadShape::Stages { gp_stand_ins, .. } = &p.shape else {
        return None;
    };
    gp_stand_ins.iter().find_map(|s| match (s, op) {
        (GpStandIn::AppendRewrite, "append") => {
            Some("General Purpose ran each append as a full rewrite of the object")
        }
        (GpStandIn::RenameCopyDelete, "rename") => {
            Some("General Purpose ran each rename as CopyObject + DeleteObject")
        }
        _ => None,
    })
}

/// A metric's short name in a bullet.
fn short(metric: Metric) -> &'static str {
    match metric {
        Metric::P50 => "p50",
        Metric::P99 => "p99",
        Metric::OpsPerSec => "ops/s",
    }
}

/// An open-loop phase sets its own ops/s: comparing them compares the
/// scenario's constants, not the targets.
pub(crate) fn fixed_rate(p: &PhaseResult) -> bool {
    match &p.shape {
        LoadShape::Stages { stages, .. } => {
            !stages.is_empty() && stages.iter().all(|s| matches!(s, StageShape::Open { .. }))
        }
        _ => false,
    }
}

/// The comparisons of one op in words, grouped by what they allow:
/// differences ("Express p50 74% lower (95% CI 0.23 - 0.30)"), no
/// difference, and those too uncertain to judge (with the rounds that
/// would do). Returns the text and how many intervals were computed.
fn judged(
    p: &PhaseResult,
    td: &TargetPhaseResult,
    tg: &TargetPhaseResult,
    op: &str,
) -> (String, usize) {
    let (od, og) = (&td.ops[op], &tg.ops[op]);
    let mut metrics = vec![
        (Metric::P50, ratio(od.latency_us.p50, og.latency_us.p50)),
        (Metric::P99, ratio(od.latency_us.p99, og.latency_us.p99)),
    ];
    if !fixed_rate(p) {
        metrics.push((Metric::OpsPerSec, ratio(od.ops_per_sec, og.ops_per_sec)));
    }
    let (mut differ, mut same, mut unsure) = (Vec::new(), Vec::new(), Vec::new());
    let mut rounds = 0;
    let mut made = 0;
    for (metric, r) in metrics {
        let Some(r) = r else { continue };
        let c = ratio_ci(td, tg, op, metric);
        let ci = c.and_then(|c| c.ci);
        made += usize::from(ci.is_some());
        match c.map(|c| c.judgement) {
            Some(Judgement::Lower | Judgement::Higher) => differ.push(format!(
                "{} {}{}",
                short(metric),
                change(r),
                ci.map(|i| format!(" (95% CI {})", i.text()))
                    .unwrap_or_default()
            )),
            Some(Judgement::NoDifference) => same.push(format!(
                "{} (Express / General Purpose {}{})",
                short(metric),
                sig(r, 3),
                ci.map(|i| format!(", 95% CI {}", i.text()))
                    .unwrap_or_default()
            )),
            Some(Judgement::TooFewRounds { rounds: n }) => {
                rounds = rounds.max(n);
                unsure.push((short(metric), sig(r, 3)));
            }
            None => {}
        }
    }
    let mut parts = Vec::new();
    if !differ.is_empty() {
        parts.push(format!("Express {}", differ.join(", ")));
    }
    if !same.is_empty() {
        parts.push(format!("no measurable difference in {}", same.join(", ")));
    }
    if !unsure.is_empty() {
        parts.push(format!(
            "too few rounds to judge {} (Express / General Purpose {}): use rounds = {rounds}",
            unsure.iter().map(|u| u.0).collect::<Vec<_>>().join(", "),
            unsure
                .iter()
                .map(|u| format!("{} {}", u.0, u.1))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    (parts.join("; "), made)
}

/// The bullet of one op both targets ran in a measured phase, and how many
/// intervals it holds.
fn op_line(
    p: &PhaseResult,
    (td, tg): (&TargetPhaseResult, &TargetPhaseResult),
    op: &str,
    share: f64,
    prefix: &str,
) -> Option<(String, usize)> {
    let (od, og) = (td.ops.get(op)?, tg.ops.get(op)?);
    let (fd, fg) = (failure_share(od), failure_share(og));
    if fd.succeeded() == 0 || fg.succeeded() == 0 {
        return None;
    }
    let (said, comparisons) = judged(p, td, tg, op);
    let mut s = format!(
        "**{prefix}{}** ({} of requests): {said}",
        crate::report::mix::op_label(p, op, og),
        pct(share)
    );
    // First byte: when it differs far more than the whole request, it is
    // the difference (a large body's transfer dilutes the total).
    if let (Some(d), Some(g)) = (&od.ttfb_us, &og.ttfb_us)
        && let (Some(rt), Some(r50)) = (
            ratio(d.p50, g.p50),
            ratio(od.latency_us.p50, og.latency_us.p50),
        )
        && (rt.ln() - r50.ln()).abs() > 1.5f64.ln()
    {
        s.push_str(&format!(
            "; time to first byte p50 {} against {} in total: the difference is in the first byte, \
             the rest is transfer",
            change(rt),
            change(r50)
        ));
    }
    if let Some(si) = stand_in(p, op) {
        s.push_str(&format!("; {si}"));
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
    Some((s, comparisons))
}

/// The headline: context first ([`context`]), then per measured phase the
/// loader's line and one bullet per op both targets ran, the most requested
/// op first, and how many comparisons were made (no list markers; Markdown
/// is the caller's).
pub fn headline(r: &RunResult) -> Vec<String> {
    // Context that outranks every comparison, then what the endpoint did
    // not do, comparison or not.
    let mut lines = context(r);
    lines.extend(crate::report::audit::headline(r));
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
    let context_lines = lines.len();
    let mut comparisons = 0;
    for p in &measured {
        let (Some(td), Some(tg)) = (
            p.targets.iter().find(|t| t.target == dn),
            p.targets.iter().find(|t| t.target == gn),
        ) else {
            continue;
        };
        let prefix = if measured.len() > 1 {
            format!("{} / ", p.name)
        } else {
            String::new()
        };
        // By weight: the share of the phase's requests each op took on
        // General Purpose (the mix's weights, as run).
        // What a deciding reader wants first: latency, throughput, cost
        // (and AU) in one line.
        lines.extend(crate::report::decision::line(r, p, td, tg));
        let total: u64 = tg.ops.values().map(|o| o.count).sum();
        let mut ops: Vec<(&String, u64)> = tg.ops.iter().map(|(k, o)| (k, o.count)).collect();
        ops.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        for (op, count) in ops {
            let share = count as f64 / total.max(1) as f64;
            if let Some((line, n)) = op_line(p, (td, tg), op, share, &prefix) {
                lines.push(line);
                comparisons += n;
            }
        }
    }
    if comparisons > 0 {
        lines.push(format!(
            "{comparisons} comparisons (p50, p99 and ops/s per op), each a 95% interval over rounds: \
             where the targets do not really differ, about 1 comparison in 20 shows a difference by chance \
             ({} expected among these {comparisons}; no correction for multiplicity).",
            sig(comparisons as f64 * 0.05, 2)
        ));
    }
    if !r.injection.is_empty() && lines.len() > context_lines {
        lines.push("These numbers come from injected latency and faults: a model, not S3.".into());
    }
    lines
}

/// A share as a percentage with two significant digits ("4.0%", "0.12%",
/// "<0.01%").
pub fn pct(share: f64) -> String {
    crate::report::format::fmt_share(share, 2)
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

    /// The headline's wording, verdicts and context lines (issue 29): the
    /// sample run (AWS, 2 rounds), the same run with one round (no
    /// verdicts, the rounds that would do), and a run on the embedded
    /// endpoint with a busy client.
    #[test]
    fn headline_wording_snapshot() {
        let r = fixtures::sample_result();
        let mut one = r.clone();
        for p in &mut one.phases {
            for t in &mut p.targets {
                t.rounds.truncate(1);
            }
        }
        let text = |r: &RunResult| {
            headline(r)
                .iter()
                .map(|l| format!("- {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        insta::assert_snapshot!(
            "headline_wording",
            format!(
                "## sample\n{}\n\n## one round\n{}\n\n## embedded, busy client\n{}\n",
                text(&r),
                text(&one),
                text(&fixtures::injected_result())
            )
        );
    }

    #[test]
    fn change_reads_one_way() {
        assert_eq!(change(0.81), "19% lower");
        assert_eq!(change(1.24), "24% higher");
        assert_eq!(change(4.93), "4.9x higher");
        assert_eq!(change(0.2), "80% lower");
        assert_eq!(change(1.0), "the same");
        assert_eq!(change(0.996), "0.40% lower");
    }

    #[test]
    fn context_comes_first() {
        let mut r = fixtures::sample_result();
        assert!(context(&r).is_empty(), "{:?}", context(&r));
        r.client.host_cpu_percent = Some(88.0);
        r.targets[0].endpoint = Some("http://127.0.0.1:9000".into());
        let h = headline(&r);
        assert!(
            h[0].starts_with("**Client-bound**: the client host was 88% busy"),
            "{h:?}"
        );
        assert!(
            h[1].starts_with("**Not AWS S3**: the endpoint was http://127.0.0.1:9000"),
            "{h:?}"
        );
        r.targets[0].endpoint = Some("https://s3.us-east-1.amazonaws.com".into());
        r.client.host_cpu_percent = Some(40.0);
        assert!(context(&r).is_empty());
        // The results index row carries them: it is the headline.
        r.embedded = true;
        let rows = [crate::report::index::IndexRow {
            folder: "x".into(),
            result: r,
        }];
        let md = crate::report::index::render(&rows, &[]);
        assert!(md.contains("**Not S3**"), "{md}");
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
        // Identical data: no claim, whatever the rounds allow.
        for l in lines.iter().filter(|l| l.starts_with("**")) {
            assert!(
                l.contains("no measurable difference in") || l.contains("too few rounds to judge"),
                "{l}"
            );
            assert!(!l.contains("Express p"), "no claim: {l}");
        }
        let lines = headline(&r);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("Express p50 ") && l.contains("% lower")),
            "{lines:?}"
        );
    }
}
