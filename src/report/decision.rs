//! What a deciding reader wants first (issue 29): one line per measured
//! phase that puts latency, throughput, cost per unit of work and, for
//! loader phases, accelerator utilization side by side; and, for runs on
//! AWS, the figures AWS publishes next to what the run measured.
//!
//! Nothing here judges or prices a second way: the latency and throughput
//! words are the calibrated verdicts of [`crate::report::ratio::ratio_ci`]
//! (the same intervals the op bullets count), the cost is
//! [`crate::report::cost::unit_costs`].

use crate::report::cost::{BillingTier, billing, fmt_usd, prices, run_costs, unit_costs};
use crate::report::format::{fmt_ms, fmt_rate, sig};
use crate::report::headline::{change, failure_share, fixed_rate, is_aws, pct};
use crate::report::model::{PhaseResult, RunResult, TargetPhaseResult};
use crate::report::ratio::{Metric, comparison_pair, ratio, ratio_ci};
use crate::report::verdict::Judgement;

/// The op a phase's decision line speaks for: the one General Purpose ran
/// most (ties by name), among those both targets completed at least once.
fn dominant<'a>(td: &TargetPhaseResult, tg: &'a TargetPhaseResult) -> Option<&'a str> {
    let mut ops: Vec<(&String, u64)> = tg
        .ops
        .iter()
        .filter(|(op, o)| {
            failure_share(o).succeeded() > 0
                && td
                    .ops
                    .get(*op)
                    .is_some_and(|d| failure_share(d).succeeded() > 0)
        })
        .map(|(k, o)| (k, o.count))
        .collect();
    ops.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ops.first().map(|(op, _)| op.as_str())
}

/// One metric of one op in words, by its verdict: "GET p50 18% lower", "no
/// measurable difference in GET ops/s", "GET p99 too few rounds to judge
/// (...; use rounds = 5)".
fn worded(
    p: &PhaseResult,
    td: &TargetPhaseResult,
    tg: &TargetPhaseResult,
    op: &str,
    metric: Metric,
) -> Option<String> {
    let (od, og) = (td.ops.get(op)?, tg.ops.get(op)?);
    let (name, r) = match metric {
        Metric::P50 => ("p50", ratio(od.latency_us.p50, og.latency_us.p50)?),
        Metric::P99 => ("p99", ratio(od.latency_us.p99, og.latency_us.p99)?),
        Metric::OpsPerSec => ("ops/s", ratio(od.ops_per_sec, og.ops_per_sec)?),
    };
    let label = crate::report::mix::op_label(p, op, og);
    let c = ratio_ci(td, tg, op, metric)?;
    Some(match c.judgement {
        Judgement::Lower | Judgement::Higher => format!("{label} {name} {}", change(r)),
        Judgement::NoDifference => format!("no measurable difference in {label} {name}"),
        Judgement::TooFewRounds { rounds } => {
            format!(
                "{label} {name} too few rounds to judge (Express / General Purpose {}; use \
                 rounds = {rounds})",
                sig(r, 3)
            )
        }
    })
}

/// Cost per million operations of the phase's mix, Express vs General
/// Purpose, from [`unit_costs`].
fn cost_words(r: &RunResult, p: &PhaseResult, dn: &str, gn: &str) -> Option<String> {
    let units = unit_costs(r, &run_costs(r, prices()));
    let find = |t: &str| {
        units
            .iter()
            .find(|u| u.target == t && u.phase == p.name)
            .map(|u| u.per_million_ops)
    };
    let (d, g) = (find(dn)?, find(gn)?);
    let mut s = format!(
        "{} vs {} per million ops of this mix",
        fmt_usd(d),
        fmt_usd(g)
    );
    if let Some(x) = ratio(d, g) {
        s.push_str(&format!(" ({})", change(x)));
    }
    Some(s)
}

/// Accelerator utilization of a loader phase, Express vs General Purpose:
/// the AU of a fixed count against the mark, or how many accelerators a
/// search found that keep it.
fn au_words(td: &TargetPhaseResult, tg: &TargetPhaseResult) -> Option<String> {
    let (ld, lg) = (td.loader.as_ref()?, tg.loader.as_ref()?);
    let mark = pct(lg.au_target);
    Some(if ld.search.is_some() || lg.search.is_some() {
        format!(
            "{} vs {} accelerators kept at >= {mark} AU",
            ld.accelerators, lg.accelerators
        )
    } else {
        format!(
            "AU {} vs {} (mark {mark})",
            pct(ld.measured.au),
            pct(lg.measured.au)
        )
    })
}

/// The decision line of one measured phase (Express `td` against General
/// Purpose `tg`): the most requested op's p50 and ops/s by their verdicts
/// (ops/s only in a closed loop: an open loop's rate is the schedule's),
/// the cost per million ops of the mix, and AU for loader phases.
pub fn line(
    r: &RunResult,
    p: &PhaseResult,
    td: &TargetPhaseResult,
    tg: &TargetPhaseResult,
) -> Option<String> {
    let (dn, gn) = (td.target.as_str(), tg.target.as_str());
    let mut parts = Vec::new();
    if let Some(op) = dominant(td, tg) {
        let mut metrics = vec![Metric::P50];
        if !fixed_rate(p) {
            metrics.push(Metric::OpsPerSec);
        }
        for m in metrics {
            parts.extend(worded(p, td, tg, op, m));
        }
        if fixed_rate(p) {
            parts.push("ops/s set by the schedule".into());
        }
    }
    parts.extend(cost_words(r, p, dn, gn));
    parts.extend(au_words(td, tg));
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "**{} (decision)**, Express vs General Purpose: {}.",
        p.name,
        parts.join(", ")
    ))
}

/// An op counted against the read limits (GET, HEAD and LIST requests),
/// as opposed to the write limits (PUT, COPY, POST, DELETE).
fn is_read(op: &str) -> bool {
    op == "list" || billing(op, false).0 == BillingTier::GetAndOther
}

/// Successful reads and writes per second of one target in one phase.
fn rates(t: &TargetPhaseResult) -> (f64, f64) {
    t.ops.iter().fold((0.0, 0.0), |(r, w), (op, o)| {
        if is_read(op) {
            (r + o.ops_per_sec, w)
        } else {
            (r, w + o.ops_per_sec)
        }
    })
}

/// True when the run went to AWS: not the embedded endpoint, and every
/// target on AWS's own endpoints (no endpoint set means the SDK's, AWS).
pub fn on_aws(r: &RunResult) -> bool {
    !r.embedded
        && r.targets
            .iter()
            .all(|t| t.endpoint.as_deref().is_none_or(is_aws))
}

const EXPRESS_SRC: &str = "S3 User Guide, s3-express-performance";
const GP_SRC: &str = "S3 User Guide, Optimizing performance";

/// For runs on AWS, the figures AWS publishes next to what this run
/// measured, per measured phase (a Markdown section; empty otherwise):
/// Express's single-digit millisecond first byte and 200,000 reads /
/// 100,000 writes per second per directory bucket, General Purpose's 5,500
/// reads / 3,500 writes per second per partitioned prefix.
pub fn aws_reference(r: &RunResult) -> String {
    let Some((d, g)) = comparison_pair(&r.targets) else {
        return String::new();
    };
    if !on_aws(r) {
        return String::new();
    }
    let (dn, gn) = (r.targets[d].name.as_str(), r.targets[g].name.as_str());
    let mut rows = Vec::new();
    for p in r.phases.iter().filter(|p| p.is_measured()) {
        let td = p.targets.iter().find(|t| t.target == dn);
        let tg = p.targets.iter().find(|t| t.target == gn);
        if let Some(td) = td {
            let first_byte: Vec<String> = td
                .ops
                .iter()
                .filter_map(|(op, o)| o.ttfb_us.as_ref().map(|t| (op, o, t)))
                .map(|(op, o, t)| {
                    format!(
                        "{} p50 {} ms, p99 {} ms",
                        crate::report::mix::op_label(p, op, o),
                        fmt_ms(t.p50),
                        fmt_ms(t.p99)
                    )
                })
                .collect();
            if !first_byte.is_empty() {
                rows.push(format!(
                    "| {} | Express first byte | consistent single-digit milliseconds ({EXPRESS_SRC}) | {} |",
                    p.name,
                    first_byte.join("; ")
                ));
            }
            let (rd, wr) = rates(td);
            rows.push(format!(
                "| {} | Express requests per directory bucket | 200,000 reads/s, 100,000 writes/s by default ({EXPRESS_SRC}) | {} reads/s, {} writes/s |",
                p.name,
                fmt_rate(rd),
                fmt_rate(wr)
            ));
        }
        if let Some(tg) = tg {
            let (rd, wr) = rates(tg);
            rows.push(format!(
                "| {} | General Purpose requests per partitioned prefix | 5,500 GET/HEAD/s, 3,500 PUT/COPY/POST/DELETE/s ({GP_SRC}) | {} reads/s, {} writes/s over every prefix the run used |",
                p.name,
                fmt_rate(rd),
                fmt_rate(wr)
            ));
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "## Published figures for reference\n\n\
         What AWS publishes for these bucket types, next to this run's means. The published \
         request rates are limits a workload may reach, not what a client gets: a run below \
         them was set by its own concurrency or rate.\n\n\
         | phase | figure | published | measured |\n|---|---|---|---|\n",
    );
    for row in rows {
        md.push_str(&row);
        md.push('\n');
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn decisions(r: &RunResult) -> Vec<String> {
        let (d, g) = comparison_pair(&r.targets).unwrap();
        let (dn, gn) = (&r.targets[d].name, &r.targets[g].name);
        r.phases
            .iter()
            .filter(|p| p.is_measured())
            .filter_map(|p| {
                let td = p.targets.iter().find(|t| &t.target == dn)?;
                let tg = p.targets.iter().find(|t| &t.target == gn)?;
                line(r, p, td, tg)
            })
            .collect()
    }

    /// The decision lines of the General Purpose vs Express sample (a
    /// closed-loop mix over 2 rounds, an open-loop GET phase), of the same
    /// run with one round (no verdicts: the rounds that would do), and of
    /// a loader phase (fixed count and search).
    #[test]
    fn decision_line_snapshot() {
        let r = fixtures::sample_result();
        let mut one = r.clone();
        for p in &mut one.phases {
            for t in &mut p.targets {
                t.rounds.truncate(1);
            }
        }
        let search = crate::report::dataloader::tests::loader_run();
        let mut fixed = search.clone();
        for t in &mut fixed.phases[0].targets {
            t.loader.as_mut().unwrap().search = None;
        }
        let text = |r: &RunResult| decisions(r).join("\n");
        insta::assert_snapshot!(
            "decision_lines",
            format!(
                "## sample\n{}\n\n## one round\n{}\n\n## loader, fixed count\n{}\n\n## loader, search\n{}\n",
                text(&r),
                text(&one),
                text(&fixed),
                text(&search)
            )
        );
    }

    /// The decision line leads each measured phase's bullets in the
    /// headline, and says nothing its verdicts do not.
    #[test]
    fn decision_line_leads_its_phase_and_obeys_the_verdicts() {
        let r = fixtures::sample_result();
        let h = crate::report::headline::headline(&r);
        let first = h.iter().position(|l| l.contains("(decision)")).unwrap();
        assert!(
            h[first + 1].starts_with(&format!("**{} / ", r.phases[1].name)),
            "{h:?}"
        );
        // Express = General Purpose: no difference claimed.
        let mut same = r.clone();
        for p in &mut same.phases {
            let gp = p.targets[0].clone();
            p.targets[1] = TargetPhaseResult {
                target: p.targets[1].target.clone(),
                ..gp
            };
        }
        for l in decisions(&same) {
            assert!(!l.contains("% lower") || l.contains("per million"), "{l}");
            assert!(
                l.contains("no measurable difference") || l.contains("too few rounds"),
                "{l}"
            );
        }
    }

    /// The line names the main op by its configured sizes, as the op
    /// bullets do, not by the mean size it moved ("GET 500.71 KiB").
    #[test]
    fn decision_line_names_configured_sizes() {
        let mut r = fixtures::sample_result();
        let p = &mut r.phases[1];
        let crate::report::model::LoadShape::Stages { mix, .. } = &mut p.shape else {
            panic!("sample's measured phase has stages");
        };
        *mix = vec![crate::report::model::MixOp {
            op: "get".into(),
            weight: 1,
            size: Some("4 KiB - 1 MiB".into()),
        }];
        let l = decisions(&r).into_iter().next().unwrap();
        assert!(l.contains("GET 4 KiB - 1 MiB p50"), "{l}");
        assert!(!l.contains("GET 64 KiB"), "{l}");
    }

    #[test]
    fn aws_reference_only_for_runs_on_aws() {
        let mut r = fixtures::sample_result();
        r.targets[0].endpoint = Some("https://s3.us-east-1.amazonaws.com".into());
        r.targets[1].endpoint = Some("https://s3express-use1-az4.us-east-1.amazonaws.com".into());
        let md = aws_reference(&r);
        insta::assert_snapshot!("aws_reference", md);
        assert!(md.contains("single-digit"), "{md}");
        assert!(md.contains("200,000 reads/s"), "{md}");
        assert!(md.contains("5,500 GET/HEAD/s"), "{md}");
        // In the report, right under the headline's bullets.
        assert!(crate::report::markdown::render(&r).contains(&md));
        // A foreign endpoint on either target, or the embedded one: none.
        let mut minio = r.clone();
        minio.targets[1].endpoint = Some("http://127.0.0.1:9000".into());
        assert_eq!(aws_reference(&minio), "");
        assert!(!crate::report::markdown::render(&minio).contains("Published figures"));
        let mut embedded = r.clone();
        embedded.embedded = true;
        assert_eq!(aws_reference(&embedded), "");
        assert_eq!(aws_reference(&fixtures::injected_result()), "");
    }
}
