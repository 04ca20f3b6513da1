//! The Markdown report: what a person reads after a run. Everything here is
//! computed from the result model alone, so a stored `result.json` renders
//! exactly as a fresh run does.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::report::format::{fmt_ms, fmt_percent, fmt_rate, fmt_ratio, fmt_secs, sig};
use crate::report::headline::{
    HOST_CPU_WARN_PERCENT, conditional_count, group_count, is_conditional_kind, throttle_statuses,
};
use crate::report::model::{
    LatencySummary, OpResult, PhaseResult, RunResult, SessionResult, TargetPhaseResult,
};
use crate::report::ratio::{Metric, comparison_pair, ratio, ratio_ci};
use crate::report::table::{Align, Table};
use crate::stats::FailureGroup;

/// Ops in the order of the op vocabulary; unknown ops follow alphabetically.
fn op_rank(op: &str) -> usize {
    crate::s3::OpKind::report_rank(op)
}

/// Writes a line into a String (writing into a String cannot fail).
macro_rules! line {
    ($dst:expr) => {
        $dst.push('\n')
    };
    ($dst:expr, $($arg:tt)*) => {{
        let _ = writeln!($dst, $($arg)*);
    }};
}

/// Whether two results' phases sent the same load: their shapes as the
/// label shows them (results converted from schema version 2 lack the
/// warm-up and stop, so those are left out), or, when either shape is
/// unknown, their labels.
fn same_load(a: &PhaseResult, b: &PhaseResult) -> bool {
    use crate::report::model::LoadShape::Unknown;
    match (&a.shape, &b.shape) {
        (Unknown, _) | (_, Unknown) => a.load == b.load,
        (x, y) => x.label() == y.label(),
    }
}

/// Renders the whole report.
/// How late an open-loop (or replay) phase's requests started against
/// their schedule: a client that could not keep up shows here.
fn lateness(md: &mut String, p: &crate::report::model::PhaseResult) {
    let parts: Vec<String> = p
        .targets
        .iter()
        .filter_map(|t| {
            let l = t.lateness.as_ref()?;
            Some(format!(
                "{} p50 {} ms, p99 {} ms, max {} ms, {} of {} requests more than 1 ms late",
                t.target,
                sig(l.p50_us / 1e3, 3),
                sig(l.p99_us / 1e3, 3),
                sig(l.max_us / 1e3, 3),
                l.late,
                l.count
            ))
        })
        .collect();
    if !parts.is_empty() {
        line!(
            md,
            "Schedule lateness (start minus due time): {}.",
            parts.join("; ")
        );
    }
}

/// Where the request logs of `run --op-log` are, one line per file.
fn op_logs(md: &mut String, r: &RunResult) {
    if r.op_logs.is_empty() {
        return;
    }
    line!(md, "## Request log");
    line!(md);
    for l in &r.op_logs {
        let whose = match l.shard {
            Some(s) => format!("shard {s}: `{}` in its run folder", l.file),
            None => format!("`{}`", l.file),
        };
        line!(
            md,
            "- {whose}: {} rows, one per request (gzip CSV; columns in docs/op-log.md)",
            l.rows
        );
    }
    line!(md);
}

pub fn render(r: &RunResult) -> String {
    let mut md = String::new();
    line!(md, "# s3bench: {}", r.scenario);
    line!(md);
    if !r.complete {
        let why = r.interrupted.as_deref().unwrap_or("no reason recorded");
        line!(
            md,
            "**Incomplete run: {}. The phases below hold what was measured before it stopped.**",
            one_line(why)
        );
        line!(md);
    }
    md.push_str(&crate::report::checks::section(r));
    let head = crate::report::headline::headline(r);
    for h in &head {
        line!(md, "- {h}");
    }
    if !head.is_empty() {
        line!(md);
    }
    md.push_str(&crate::report::decision::aws_reference(r));
    if !r.injection.is_empty() {
        line!(
            md,
            "> **Model, not S3.** The endpoint injected latency and/or faults, so these numbers show how s3bench \
             behaves against that model, not how S3 performs:"
        );
        for i in &r.injection {
            line!(md, "> - {}", one_line(i));
        }
        line!(md);
    }
    run_table(&mut md, r);
    targets_table(&mut md, r);
    if !r.left_behind.is_empty() {
        line!(md, "## Objects left behind");
        line!(md);
        for l in &r.left_behind {
            line!(
                md,
                "> - **{}**: {} under `s3://{}/{}` ({}). Remove them with `{}`.",
                l.target,
                l.count_text(),
                l.bucket,
                l.prefix,
                one_line(&l.reason),
                l.command
            );
        }
        line!(md);
    }
    let mut failures = crate::report::audit::warnings(r);
    failures.extend(failure_warnings(r));
    if !r.warnings.is_empty() || !failures.is_empty() {
        line!(md, "## Warnings");
        line!(md);
        for w in failures.iter().chain(&r.warnings) {
            line!(md, "> - {}", one_line(w));
        }
        line!(md);
    }
    op_logs(&mut md, r);
    client_usage(&mut md, r);
    legend(&mut md, r);
    summary(&mut md, r);
    cost_section(&mut md, r);
    let plots = crate::report::plots::plan(r);
    let pair = comparison_pair(&r.targets)
        .map(|(d, g)| (r.targets[d].name.as_str(), r.targets[g].name.as_str()));
    for (i, phase) in r.phases.iter().enumerate() {
        render_phase(&mut md, r, phase, i + 1, r.phases.len(), pair);
        plots_section(&mut md, phase, &plots);
    }
    if r.phases.is_empty() {
        line!(md, "No phase was measured.");
    }
    md
}

/// Links the phase's SVG plots (written next to report.md by `publish`).
fn plots_section(md: &mut String, p: &PhaseResult, plots: &[crate::report::plots::PlotFile]) {
    let mine: Vec<_> = plots.iter().filter(|f| f.kind.phase() == p.name).collect();
    if mine.is_empty() {
        return;
    }
    line!(md, "### Plots");
    line!(md);
    for f in mine {
        line!(md, "![{}]({})", f.title, f.file);
        line!(md);
    }
}

/// What the run cost (or would have cost on S3) per target, from the
/// embedded price list.
fn cost_section(md: &mut String, r: &RunResult) {
    use crate::report::cost::{fmt_usd, prices, run_costs};
    let book = prices();
    let costs = run_costs(r, book);
    if costs.is_empty() {
        return;
    }
    line!(md, "## Cost");
    line!(md);
    if r.embedded {
        line!(
            md,
            "The targets were the embedded endpoint, so nothing was billed: these are what the same requests \
             and bytes would cost on S3 at the listed prices."
        );
    } else {
        line!(
            md,
            "Requests and bytes of every phase (prepare, warm-up and cleanup included) at the listed prices; \
             CreateSession calls and data transfer out of the region are not counted."
        );
    }
    line!(md);
    let mut t = Table::numeric([
        "target",
        "kind",
        "region",
        "PUT/COPY/POST/LIST",
        "GET/HEAD",
        "DELETE",
        "GB up",
        "GB down",
        "requests",
        "per-GB",
        "total",
        "data set storage / month",
    ])
    .with_align(1, Align::Left)
    .with_align(2, Align::Left);
    let gb = |b: u64| sig(b as f64 / crate::report::cost::BYTES_PER_GB, 3);
    for c in &costs {
        let (req, xfer, total) = match c.cost {
            Some(x) => (
                fmt_usd(x.requests_usd),
                fmt_usd(x.transfer_usd),
                fmt_usd(x.total()),
            ),
            None => ("-".into(), "-".into(), "no prices".into()),
        };
        let storage = match (c.storage_month, c.dataset_bytes) {
            (Some(m), Some(b)) => format!("{} ({})", fmt_usd(m), crate::units::format_bytes(b)),
            (None, Some(b)) => format!("- ({})", crate::units::format_bytes(b)),
            _ => "- (no prepare phase)".into(),
        };
        t.push([
            c.target.clone(),
            c.kind.clone(),
            c.region.clone(),
            c.usage.tier1.to_string(),
            c.usage.tier2.to_string(),
            c.usage.deletes.to_string(),
            gb(c.usage.upload_bytes),
            gb(c.usage.retrieval_bytes),
            req,
            xfer,
            total,
            storage,
        ]);
    }
    md.push_str(&t.render());
    line!(md);
    let mut per = Table::numeric([
        "target",
        "phase",
        "op",
        "requests per op",
        "bytes per op",
        "per million ops",
    ])
    .with_align(1, Align::Left)
    .with_align(2, Align::Left);
    for c in &costs {
        for o in &c.per_op {
            per.push([
                c.target.clone(),
                o.phase.clone(),
                o.op.clone(),
                sig(o.requests_per_op, 3),
                crate::units::format_bytes(o.bytes_per_op.round() as u64),
                fmt_usd(o.per_million),
            ]);
        }
    }
    if !per.is_empty() {
        line!(
            md,
            "Cost per million operations at the size this run measured:"
        );
        line!(md);
        md.push_str(&per.render());
        line!(md);
    }
    super::usage::unit_cost_table(md, r, &costs);
    let mut notes = Vec::new();
    for c in &costs {
        match &c.price {
            Some(p) => {
                let checked = if p.checked {
                    ""
                } else {
                    " (not re-checked on the pricing page)"
                };
                let n = format!(
                    "{} {} ({}): prices read {} from {}{checked}.",
                    p.kind, p.region, p.storage_class, p.read, p.source
                );
                if !notes.contains(&n) {
                    notes.push(n);
                }
            }
            None => notes.push(format!(
                "{}: no prices for {} in {} in this build's pricing/s3.toml.",
                c.target, c.kind, c.region
            )),
        }
    }
    for n in notes {
        line!(md, "- {n}");
    }
    line!(md);
}

/// Free text on one line, so a newline in a reason cannot break a quote or list.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run_table(md: &mut String, r: &RunResult) {
    let mut t = Table::text(["run", ""]);
    t.push(["run id", &r.run_id]);
    t.push(["scenario file", &r.scenario_file]);
    t.push(["started (UTC)", &r.started_at]);
    t.push(["finished (UTC)", &r.finished_at]);
    if let Some(d) = duration(&r.started_at, &r.finished_at) {
        t.push(["duration", &d]);
    }
    t.push(["s3bench", &r.s3bench_version]);
    t.push(["aws-sdk-s3", &r.sdk_version]);
    // Array jobs can have hundreds of hosts: name a few, count the rest.
    const MAX_HOSTS: usize = 4;
    let mut hosts: Vec<String> = r
        .hosts
        .iter()
        .take(MAX_HOSTS)
        .map(|h| {
            let shard = h.shard.map(|s| format!(", shard {s}")).unwrap_or_default();
            let clock = h
                .clock_offset
                .map(|c| format!(", {}", clock_text(&c)))
                .unwrap_or_default();
            format!(
                "{} ({}/{}, {} CPUs{shard}{clock})",
                h.hostname, h.os, h.arch, h.cpus
            )
        })
        .collect();
    if r.hosts.len() > MAX_HOSTS {
        hosts.push(format!(
            "and {} more (see result.json)",
            r.hosts.len() - MAX_HOSTS
        ));
    }
    t.push(["hosts".to_string(), hosts.join("; ")]);
    t.push(["shards".to_string(), r.shards.to_string()]);
    t.push([
        "endpoint",
        if r.embedded {
            "embedded s3bench endpoint"
        } else {
            "as configured per target"
        },
    ]);
    t.push(["run prefix", &r.run_prefix]);
    let complete = if r.complete {
        "yes".to_string()
    } else {
        "**no**".to_string()
    };
    t.push(["complete".to_string(), complete]);
    md.push_str(&t.render());
    line!(md);
}

/// Wall time between two RFC 3339 stamps, whole seconds.
fn duration(start: &str, end: &str) -> Option<String> {
    let s = humantime::parse_rfc3339_weak(start).ok()?;
    let e = humantime::parse_rfc3339_weak(end).ok()?;
    let d = e.duration_since(s).ok()?;
    Some(humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string())
}

fn targets_table(md: &mut String, r: &RunResult) {
    line!(md, "## Targets");
    line!(md);
    let mut t = Table::text([
        "target",
        "kind",
        "bucket",
        "region",
        "endpoint",
        "GET/HEAD/PUT/DELETE via",
    ]);
    for x in &r.targets {
        t.push([
            x.name.as_str(),
            x.kind.as_str(),
            x.bucket.as_str(),
            x.region.as_str(),
            x.endpoint.as_deref().unwrap_or("AWS default"),
            x.request_path.as_str(),
        ]);
    }
    md.push_str(&t.render());
    line!(md);
    // One line per checksum setting, naming its targets.
    let mut sums: Vec<(&str, Vec<&str>)> = Vec::new();
    for x in r.targets.iter().filter(|x| x.checksum != "none") {
        match sums.iter_mut().find(|(c, _)| *c == x.checksum) {
            Some((_, names)) => names.push(&x.name),
            None => sums.push((&x.checksum, vec![&x.name])),
        }
    }
    for (sum, names) in sums {
        line!(
            md,
            "Checksum on {}: {} on every upload, and every GET of a whole object checked against the checksum it comes with (a mismatch is a `body: checksum mismatch` failure).",
            names.join(", "),
            sum.to_uppercase()
        );
        line!(md);
    }
    // What was actually checked: a server that returns no checksums
    // leaves GETs unchecked, and the report must not claim otherwise.
    for x in r.targets.iter().filter(|x| x.checksum != "none") {
        let (n, m) = (x.checksum_checked, x.checksum_unchecked);
        if n + m == 0 {
            continue;
        }
        let mut s = format!(
            "{}: {n} of the run's {} whole-object GETs (warm-ups included) came with a checksum and were checked",
            x.name,
            n + m
        );
        if m > 0 {
            s.push_str(&format!(
                "; **{m} came without one and were not checked** (the endpoint returned none, or a multipart object's COMPOSITE `-N` checksum, which is of its parts' checksums, not of the body)"
            ));
        }
        line!(md, "{s}.");
        line!(md);
    }
}

fn client_usage(md: &mut String, r: &RunResult) {
    let c = &r.client;
    line!(md, "## Client");
    line!(md);
    let host = c
        .host_cpu_percent
        .map(|p| format!("{}%", sig(p, 3)))
        .unwrap_or_else(|| "unknown".to_string());
    line!(
        md,
        "CPU {} s, {} µs CPU per request, host CPU {host} busy, {} worker threads.",
        sig(c.cpu_s, 3),
        sig(c.cpu_us_per_request, 3),
        c.threads
    );
    if let Some(line) = super::usage::endpoint_cpu_line(c) {
        line!(md);
        line!(md, "{line}");
    }
    if let Some(p) = c.host_cpu_percent.filter(|p| *p > HOST_CPU_WARN_PERCENT) {
        line!(md);
        line!(
            md,
            "> **Warning:** the client host was {}% busy: the numbers may measure s3bench, not S3.",
            sig(p, 3)
        );
    }
    line!(md);
}

fn legend(md: &mut String, r: &RunResult) {
    line!(md, "## How to read this");
    line!(md);
    line!(
        md,
        "- Latency is in milliseconds, from when a request was sent (closed loop) or due (open loop) \
         to its last byte; TTFB is time to first byte."
    );
    match comparison_pair(&r.targets) {
        Some((d, g)) => {
            let (d, g) = (&r.targets[d].name, &r.targets[g].name);
            line!(
                md,
                "- Rows `{d} / {g}` divide S3 Express One Zone (`{d}`) by General Purpose (`{g}`). \
                 For latency a ratio **below 1 means Express is faster**; for ops/s and MiB/s above 1 means \
                 Express moved more."
            );
            line!(
                md,
                "- 95% CI: interval of that ratio over the rounds of each target (Welch's t on log values; \
                 each round is one independent look, the seconds inside it are not). A verdict (Express faster, \
                 slower, higher or lower throughput) needs the interval to exclude 1; **no measurable difference** \
                 means it lies within 0.91 - 1.10; **too few rounds to judge** means it is wider than that and \
                 names the rounds that would likely narrow it. One round a side gives no interval. Checked over \
                 thousands of simulated runs with identical targets: at most 5% of comparisons claim a \
                 difference (docs/measurement.md)."
            );
        }
        None => line!(
            md,
            "- No Express / General Purpose ratio: the run lacks a directory or a general-purpose target."
        ),
    }
    super::usage::conditional_legend(md, r);
    line!(md);
}

/// The answer first: Express vs General Purpose per measured phase and op.
fn summary(md: &mut String, r: &RunResult) {
    let Some((d, g)) = comparison_pair(&r.targets) else {
        return;
    };
    let (dn, gn) = (r.targets[d].name.as_str(), r.targets[g].name.as_str());
    let mut t = Table::numeric([
        "phase".to_string(),
        "op".to_string(),
        format!("{gn} p50 [ms]"),
        format!("{dn} p50 [ms]"),
        "p50 ratio".to_string(),
        "p99 ratio".to_string(),
        "p50 ratio 95% CI".to_string(),
        "verdict (p50)".to_string(),
    ])
    .with_align(1, Align::Left)
    .with_align(7, Align::Left);
    for p in r.phases.iter().filter(|p| p.is_measured()) {
        let (Some(td), Some(tg)) = (find(p, dn), find(p, gn)) else {
            continue;
        };
        for op in op_names(p) {
            let (Some(od), Some(og)) = (td.ops.get(&op), tg.ops.get(&op)) else {
                continue;
            };
            if od.count == 0 || og.count == 0 {
                continue;
            }
            let ci = ratio_ci(td, tg, &op, Metric::P50);
            t.push([
                p.name.clone(),
                op.clone(),
                fmt_ms(og.latency_us.p50),
                fmt_ms(od.latency_us.p50),
                fmt_ratio(ratio(od.latency_us.p50, og.latency_us.p50)),
                fmt_ratio(ratio(od.latency_us.p99, og.latency_us.p99)),
                ci.and_then(|c| c.ci)
                    .map(|c| c.text())
                    .unwrap_or_else(|| "-".to_string()),
                ci.map(|c| c.verdict())
                    .unwrap_or_else(|| "no interval".to_string()),
            ]);
        }
    }
    if t.is_empty() {
        return;
    }
    line!(md, "## Summary: {dn} / {gn}");
    line!(md);
    md.push_str(&t.render());
    line!(md);
    line!(
        md,
        "Latencies and ratios are of successful requests only; failures are counted apart."
    );
    line!(md);
    for p in r.phases.iter().filter(|p| p.is_measured()) {
        let (Some(td), Some(tg)) = (find(p, dn), find(p, gn)) else {
            continue;
        };
        for op in op_names(p) {
            let (Some(od), Some(og)) = (td.ops.get(&op), tg.ops.get(&op)) else {
                continue;
            };
            if od.errors == conditional_count(od) && og.errors == conditional_count(og) {
                continue;
            }
            line!(
                md,
                "- {} {op}: {gn}: {}; {dn}: {}.",
                p.name,
                failure_share(og),
                failure_share(od)
            );
        }
    }
    line!(md);
}

/// "12% of operations failed (503 SlowDown 11.5%, connection 0.5%)" or "none failed".
pub fn failure_share(o: &OpResult) -> String {
    // Lost races of conditional writes are outcomes, shown apart.
    let failed = o.errors - conditional_count(o).min(o.errors);
    if failed == 0 {
        return "none failed".into();
    }
    let mut kinds: Vec<(&String, &u64)> = o
        .errors_by_kind
        .iter()
        .filter(|(k, _)| !is_conditional_kind(k))
        .collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = kinds
        .iter()
        .take(3)
        .map(|(k, n)| format!("{k} {}", fmt_percent(**n, o.count)))
        .collect();
    format!(
        "{} of operations failed ({})",
        fmt_percent(failed, o.count),
        parts.join(", ")
    )
}

/// m:ss of a second index.
fn clock(s: u32) -> String {
    format!("{}:{:02}", s / 60, s % 60)
}

/// One warning per (phase, target, op) with failures: share, main kind, and
/// the first and last second they happened in; bodies that failed their
/// checksum get a sentence of their own (the `integrity` group), which
/// names them and their likely cause. Built from the JSON alone, so
/// `report` and `merge` say the same as the run did.
pub fn failure_warnings(r: &RunResult) -> Vec<String> {
    let mut out = Vec::new();
    for p in &r.phases {
        for t in &p.targets {
            for (op, o) in &t.ops {
                let integrity = group_count(o, FailureGroup::Integrity);
                if integrity > 0 {
                    out.push(integrity_warning(
                        &t.target, op, &p.name, integrity, o.count,
                    ));
                }
                // 412/409/InvalidWriteOffset are what a conditional write
                // asks for when it loses; the conditional-outcomes table
                // shows them. Only the rest is a failure to warn about.
                let errors = o.errors.saturating_sub(conditional_count(o) + integrity);
                if errors == 0 {
                    continue;
                }
                let (kind, _) = o
                    .errors_by_kind
                    .iter()
                    .filter(|(k, _)| !is_conditional_kind(k) && !is_integrity_kind(k))
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(k, n)| (k.as_str(), *n))
                    .unwrap_or(("unclassified", errors));
                let seconds: Vec<(u32, u32)> = t
                    .timeseries
                    .iter()
                    .filter(|s| s.op == *op && s.errors > 0)
                    .map(|s| (s.round, s.second))
                    .collect();
                let when = match (seconds.iter().min(), seconds.iter().max()) {
                    (Some(a), Some(b)) if p.rounds > 1 && a.0 != b.0 => format!(
                        " from round {} {} to round {} {}",
                        a.0,
                        clock(a.1),
                        b.0,
                        clock(b.1)
                    ),
                    (Some(a), Some(b)) => format!(" from {} to {}", clock(a.1), clock(b.1 + 1)),
                    _ => String::new(),
                };
                let transport = group_count(o, FailureGroup::Transport);
                let hint = if transport * 10 >= errors * 9 && errors * 2 >= o.count {
                    " - the endpoint stopped answering"
                } else if group_count(o, FailureGroup::Throttled) * 2 >= errors {
                    " - throttled: the request rate was above what the bucket or prefix takes"
                } else {
                    ""
                };
                out.push(format!(
                    "{} {op} ({} phase): {} failed ({kind}){when}{hint}.",
                    t.target,
                    p.name,
                    fmt_percent(errors, o.count)
                ));
            }
        }
    }
    out
}

/// The kind of the `integrity` group's failures.
fn is_integrity_kind(kind: &str) -> bool {
    kind == "body: checksum mismatch"
}

/// "express get (read phase): 12 whole GETs came back with a body that does
/// not match its checksum (1.2% of 1,000) ...", with the likely cause: all
/// (or nearly all) of them is the server's checksum, not the bytes on the
/// way; some of them is damage somewhere between its checksum and us.
fn integrity_warning(target: &str, op: &str, phase: &str, n: u64, count: u64) -> String {
    let what = if op == "get" {
        "whole GETs".to_string()
    } else {
        format!("{op} operations")
    };
    let cause = if n * 10 >= count * 9 {
        "every one, or nearly: the endpoint returns a checksum that does not describe the bytes it returns, a server bug rather than damage in transit (moto without its optional crc32c package, for one, stores a CRC32 under the CRC32C name of multipart objects)"
    } else {
        "while other GETs came back intact: the bytes changed between the server's checksum and this client (a faulty disk, NIC, proxy or middlebox)"
    };
    format!(
        "{target} {op} ({phase} phase): {n} {what} came back with a body that does not match its checksum ({} of {count}), {cause}. They are counted apart (failure group integrity), not as transport failures or throttling.",
        fmt_percent(n, count)
    )
}

fn render_phase(
    md: &mut String,
    r: &RunResult,
    p: &PhaseResult,
    n: usize,
    of: usize,
    pair: Option<(&str, &str)>,
) {
    line!(md, "## Phase {n}/{of}: {}", p.name);
    line!(md);
    let rounds = if p.rounds == 1 {
        "1 round".to_string()
    } else {
        format!("{} rounds", p.rounds)
    };
    let mix = crate::report::mix::mix_label(&p.shape)
        .map(|m| format!("; {m}"))
        .unwrap_or_default();
    line!(md, "Load: {}{mix}; {rounds}.", one_line(&p.load));
    if let Some(why) = &p.interrupted {
        line!(
            md,
            "**Interrupted: {}. This phase holds what was measured until then.**",
            one_line(why)
        );
    }
    if !p.targets.is_empty() {
        let measured: Vec<String> = p
            .targets
            .iter()
            .map(|t| format!("{} {}", t.target, fmt_secs(t.elapsed_s)))
            .collect();
        line!(
            md,
            "Measured time (warm-up excluded): {}.",
            measured.join(", ")
        );
    }
    lateness(md, p);
    line!(md);
    if p.targets.is_empty() {
        line!(md, "No target results were recorded for this phase.");
        line!(md);
        return;
    }
    crate::report::dataloader::section(md, p, pair);
    crate::report::gpu::section(md, r, p, crate::report::cost::prices());
    crate::report::checkpoint::section(md, p, pair);
    let ops = op_names(p);
    // The run's own setup gets one compact table.
    if !p.is_measured() {
        compact_table(md, p, &ops);
    } else {
        let pair = pair.and_then(|(d, g)| Some((find(p, d)?, find(p, g)?)));
        for op in &ops {
            op_section(md, p, op, pair);
        }
    }
    warmup_line(md, p);
    crate::report::audit::section(md, p);
    conditional_section(md, p);
    errors_section(md, p);
    crate::report::prefixes::section(md, p);
    pacing_section(md, p);
    sessions_section(md, p);
    attempts_section(md, p);
}

/// With retries on, each attempt was also timed on its own.
fn attempts_section(md: &mut String, p: &PhaseResult) {
    if p.targets.iter().all(|t| t.attempts.is_empty()) {
        return;
    }
    line!(md, "### Attempts (retries enabled)");
    line!(md);
    line!(
        md,
        "Each attempt timed on its own; operation latency above spans all attempts of an operation."
    );
    line!(md);
    let mut t = Table::numeric([
        "target",
        "S3 operation",
        "attempts",
        "retries",
        "p50 [ms]",
        "p99 [ms]",
        "max [ms]",
    ]);
    for tr in &p.targets {
        for (op, a) in &tr.attempts {
            t.push([
                tr.target.clone(),
                op.clone(),
                a.count.to_string(),
                a.retries.to_string(),
                fmt_ms(a.latency_us.p50),
                fmt_ms(a.latency_us.p99),
                fmt_ms(a.latency_us.max),
            ]);
        }
    }
    md.push_str(&t.render());
    line!(md);
}

fn find<'a>(p: &'a PhaseResult, name: &str) -> Option<&'a TargetPhaseResult> {
    p.targets.iter().find(|t| t.target == name)
}

/// Every op any target ran, in reading order.
pub fn op_names(p: &PhaseResult) -> Vec<String> {
    let all: BTreeSet<&str> = p
        .targets
        .iter()
        .flat_map(|t| t.ops.keys().map(String::as_str))
        .collect();
    let mut ops: Vec<String> = all.iter().map(|o| o.to_string()).collect();
    // BTreeSet order is alphabetical; a stable sort by rank keeps it for ties.
    ops.sort_by_key(|o| op_rank(o));
    ops
}

fn compact_table(md: &mut String, p: &PhaseResult, ops: &[String]) {
    let mut t = Table::numeric([
        "target", "op", "count", "ops/s", "MiB/s", "p50 [ms]", "p99 [ms]", "max [ms]", "errors",
    ])
    .with_align(1, Align::Left);
    for tr in &p.targets {
        for op in ops {
            if let Some(o) = tr.ops.get(op) {
                let l = latency_cells(o.count, &o.latency_us);
                t.push([
                    tr.target.clone(),
                    op.clone(),
                    o.count.to_string(),
                    fmt_rate(o.ops_per_sec),
                    mib(o),
                    l[0].clone(),
                    l[2].clone(),
                    l[4].clone(),
                    o.errors.to_string(),
                ]);
            }
        }
    }
    md.push_str(&t.render());
    line!(md);
}

fn mib(o: &OpResult) -> String {
    if o.bytes == 0 {
        "-".to_string()
    } else {
        fmt_rate(o.mib_per_sec)
    }
}

/// p50, p90, p99, p99.9, max in ms; dashes when nothing completed.
fn latency_cells(count: u64, s: &LatencySummary) -> [String; 5] {
    if count == 0 {
        return std::array::from_fn(|_| "-".to_string());
    }
    [
        fmt_ms(s.p50),
        fmt_ms(s.p90),
        fmt_ms(s.p99),
        fmt_ms(s.p999),
        fmt_ms(s.max),
    ]
}

fn latency_ratios(d: &LatencySummary, g: &LatencySummary) -> [String; 5] {
    [
        fmt_ratio(ratio(d.p50, g.p50)),
        fmt_ratio(ratio(d.p90, g.p90)),
        fmt_ratio(ratio(d.p99, g.p99)),
        fmt_ratio(ratio(d.p999, g.p999)),
        fmt_ratio(ratio(d.max, g.max)),
    ]
}

const PCT_HEADERS: [&str; 5] = ["p50 [ms]", "p90 [ms]", "p99 [ms]", "p99.9 [ms]", "max [ms]"];

fn ratio_label(d: &TargetPhaseResult, g: &TargetPhaseResult) -> String {
    format!("{} / {}", d.target, g.target)
}

type Pair<'a> = Option<(&'a TargetPhaseResult, &'a TargetPhaseResult)>;

fn op_section(md: &mut String, p: &PhaseResult, op: &str, pair: Pair) {
    match crate::report::mix::configured_size(p, op) {
        Some(size) => line!(md, "### {op} ({size})"),
        None => line!(md, "### {op}"),
    }
    line!(md);
    let mut headers = vec!["target", "count", "ops/s", "MiB/s"];
    headers.extend(PCT_HEADERS);
    headers.push("errors");
    let mut t = Table::numeric(headers);
    for tr in &p.targets {
        let Some(o) = tr.ops.get(op) else { continue };
        // Numbers of requests the endpoint did not carry out: said in the row.
        let target = match o.audit {
            Some(crate::report::audit::AuditVerdict::Violated) => {
                format!("{} (failed its audit)", tr.target)
            }
            _ => tr.target.clone(),
        };
        let mut row = vec![target, o.count.to_string(), fmt_rate(o.ops_per_sec), mib(o)];
        row.extend(latency_cells(o.count, &o.latency_us));
        row.push(o.errors.to_string());
        t.push(row);
    }
    let both = pair.and_then(|(d, g)| Some((d, g, d.ops.get(op)?, g.ops.get(op)?)));
    if let Some((d, g, od, og)) = both {
        let mib_ratio = if od.bytes == 0 && og.bytes == 0 {
            None
        } else {
            ratio(od.mib_per_sec, og.mib_per_sec)
        };
        let mut row = vec![
            ratio_label(d, g),
            String::new(),
            fmt_ratio(ratio(od.ops_per_sec, og.ops_per_sec)),
            fmt_ratio(mib_ratio),
        ];
        row.extend(latency_ratios(&od.latency_us, &og.latency_us));
        row.push(String::new());
        t.push(row);
    }
    md.push_str(&t.render());
    line!(md);

    let with = |f: fn(&OpResult) -> Option<&LatencySummary>| {
        p.targets
            .iter()
            .any(|tr| tr.ops.get(op).and_then(f).is_some())
    };
    if with(|o| o.ttfb_us.as_ref()) {
        line!(md, "Time to first byte:");
        line!(md);
        latency_only_table(md, p, op, both.map(|(d, g, _, _)| (d, g)), |o| {
            o.ttfb_us.as_ref()
        });
    }
    if with(|o| o.service_us.as_ref()) {
        line!(
            md,
            "Service time (sent -> last byte). The latency above counts from when each request was due \
             under the fixed rate, so it includes any wait to be sent (corrected for coordinated omission); service \
             time leaves that wait out. A gap between the two means the client fell behind its schedule."
        );
        line!(md);
        latency_only_table(md, p, op, both.map(|(d, g, _, _)| (d, g)), |o| {
            o.service_us.as_ref()
        });
    }
    if let Some((d, g, _, _)) = both {
        ci_table(md, d, g, op);
    }
}

fn latency_only_table(
    md: &mut String,
    p: &PhaseResult,
    op: &str,
    pair: Pair,
    pick: fn(&OpResult) -> Option<&LatencySummary>,
) {
    let mut headers = vec!["target"];
    headers.extend(PCT_HEADERS);
    let mut t = Table::numeric(headers);
    for tr in &p.targets {
        let Some(o) = tr.ops.get(op) else { continue };
        let Some(s) = pick(o) else { continue };
        let mut row = vec![tr.target.clone()];
        row.extend(latency_cells(o.count, s));
        t.push(row);
    }
    let both = pair.and_then(|(d, g)| Some((d, g, pick(d.ops.get(op)?)?, pick(g.ops.get(op)?)?)));
    if let Some((d, g, sd, sg)) = both {
        let mut row = vec![ratio_label(d, g)];
        row.extend(latency_ratios(sd, sg));
        t.push(row);
    }
    md.push_str(&t.render());
    line!(md);
}

fn ci_table(md: &mut String, d: &TargetPhaseResult, g: &TargetPhaseResult, op: &str) {
    let cis: Vec<_> = Metric::ALL
        .iter()
        .filter_map(|m| ratio_ci(d, g, op, *m))
        .collect();
    if cis.is_empty() {
        line!(
            md,
            "No confidence interval: no round in which both targets ran this op successfully."
        );
        line!(md);
        return;
    }
    let mut t = Table::text([
        format!("{} / {}", d.target, g.target),
        "95% CI".into(),
        "verdict".into(),
        "from".into(),
    ])
    .with_align(1, Align::Right);
    for c in &cis {
        t.push([
            c.metric.label().to_string(),
            c.ci.map(|i| i.text()).unwrap_or_else(|| "-".to_string()),
            c.verdict(),
            c.source.describe(),
        ]);
    }
    md.push_str(&t.render());
    line!(md);
}

fn warmup_line(md: &mut String, p: &PhaseResult) {
    let parts: Vec<String> = p
        .targets
        .iter()
        .flat_map(|tr| {
            tr.warmup
                .iter()
                .filter(|(_, o)| o.count > 0)
                .map(move |(op, o)| {
                    format!(
                        "{} {op} {} ops (p50 {} ms)",
                        tr.target,
                        o.count,
                        fmt_ms(o.latency_us.p50)
                    )
                })
        })
        .collect();
    if !parts.is_empty() {
        line!(
            md,
            "Warm-up, excluded from the numbers above: {}.",
            parts.join(", ")
        );
        line!(md);
    }
}

/// Outcomes of conditional writes and appends, per op with targets side by
/// side: who won (success), who lost to another writer (412, 409,
/// InvalidWriteOffset), and how long each took.
fn conditional_section(md: &mut String, p: &PhaseResult) {
    const KINDS: [(&str, &str); 3] = [
        ("412", "PreconditionFailed"),
        ("409", "ConditionalRequestConflict"),
        ("400", "InvalidWriteOffset"),
    ];
    let mut t = Table::numeric([
        "op",
        "target",
        "count",
        "success",
        "412",
        "409",
        "InvalidWriteOffset",
        "success p50 [ms]",
        "lost p50 [ms]",
        "lost p99 [ms]",
    ])
    .with_align(1, Align::Left);
    for op in op_names(p) {
        for tr in &p.targets {
            let Some(o) = tr.ops.get(&op) else { continue };
            let Some(lost) = o.failures.get("conditional") else {
                continue;
            };
            let mut row = vec![
                op.clone(),
                tr.target.clone(),
                o.count.to_string(),
                fmt_percent(o.successes, o.count),
            ];
            for (status, code) in KINDS {
                let n: u64 = o
                    .errors_by_kind
                    .iter()
                    .filter(|(k, _)| {
                        k.starts_with(status) && (status == "412" || k.ends_with(code))
                    })
                    .map(|(_, n)| *n)
                    .sum();
                row.push(fmt_percent(n, o.count));
            }
            row.push(fmt_ms(o.latency_us.p50));
            row.push(fmt_ms(lost.latency_us.p50));
            row.push(fmt_ms(lost.latency_us.p99));
            t.push(row);
        }
    }
    if t.is_empty() {
        return;
    }
    line!(md, "### Conditional outcomes");
    line!(md);
    line!(
        md,
        "Shares of each op's attempts. A 412 (the condition did not hold), 409 (a conflicting write raced it) or InvalidWriteOffset (the object was not the size the append expected) is the answer a writer that lost gets: an outcome, not a failure of the client or the bucket; it is kept out of the success latency and of the failure warnings."
    );
    line!(md);
    md.push_str(&t.render());
    line!(md);
}

fn errors_section(md: &mut String, p: &PhaseResult) {
    let mut t = Table::numeric(["target", "op", "error", "count", "share of op"])
        .with_align(1, Align::Left)
        .with_align(2, Align::Left);
    for tr in &p.targets {
        for (op, o) in &tr.ops {
            for (kind, n) in o.errors_by_kind.iter().filter(|(_, n)| **n > 0) {
                t.push([
                    tr.target.clone(),
                    op.clone(),
                    kind.clone(),
                    n.to_string(),
                    fmt_percent(*n, o.count),
                ]);
            }
            // Errors the engine could not classify still have to show.
            let classified: u64 = o.errors_by_kind.values().sum();
            if o.errors > classified {
                let n = o.errors - classified;
                t.push([
                    tr.target.clone(),
                    op.clone(),
                    "unclassified".into(),
                    n.to_string(),
                    fmt_percent(n, o.count),
                ]);
            }
        }
    }
    if t.is_empty() {
        return;
    }
    line!(md, "### Errors by kind");
    line!(md);
    md.push_str(&t.render());
    line!(md);
    let mut f = Table::numeric([
        "target",
        "op",
        "failure group",
        "count",
        "p50 [ms]",
        "p99 [ms]",
    ])
    .with_align(1, Align::Left)
    .with_align(2, Align::Left);
    for tr in &p.targets {
        for (op, o) in &tr.ops {
            for (group, fr) in &o.failures {
                f.push([
                    tr.target.clone(),
                    op.clone(),
                    group.clone(),
                    fr.count.to_string(),
                    fmt_ms(fr.latency_us.p50),
                    fmt_ms(fr.latency_us.p99),
                ]);
            }
        }
    }
    if !f.is_empty() {
        line!(
            md,
            "How long failed requests took (kept out of every latency above):"
        );
        line!(md);
        md.push_str(&f.render());
        line!(md);
    }
    for tr in &p.targets {
        let throttled: Vec<_> = tr.timeseries.iter().filter(|s| s.throttled > 0).collect();
        if throttled.is_empty() {
            continue;
        }
        let seconds: BTreeSet<(u32, u32)> =
            tr.timeseries.iter().map(|s| (s.round, s.second)).collect();
        let hit: BTreeSet<(u32, u32)> = throttled.iter().map(|s| (s.round, s.second)).collect();
        let total: u64 = throttled.iter().map(|s| s.throttled).sum();
        line!(
            md,
            "{}: {total} throttled ({}) responses in {} of {} measured seconds.",
            tr.target,
            throttle_statuses(tr.ops.values()),
            hit.len(),
            seconds.len()
        );
        line!(md);
    }
}

fn pacing_section(md: &mut String, p: &PhaseResult) {
    let mut t = Table::numeric(["target", "op", "late starts", "behind CreateSession"])
        .with_align(1, Align::Left);
    for tr in &p.targets {
        for (op, o) in tr
            .ops
            .iter()
            .filter(|(_, o)| o.late_starts > 0 || o.behind_session > 0)
        {
            t.push([
                tr.target.clone(),
                op.clone(),
                format!(
                    "{} ({})",
                    o.late_starts,
                    fmt_percent(o.late_starts, o.count)
                ),
                format!(
                    "{} ({})",
                    o.behind_session,
                    fmt_percent(o.behind_session, o.count)
                ),
            ]);
        }
    }
    if t.is_empty() {
        return;
    }
    line!(md, "### Late starts and session waits");
    line!(md);
    line!(
        md,
        "Late starts began after their due time because the in-flight cap was reached; \
         operations behind CreateSession overlapped a session refresh on the same client."
    );
    line!(md);
    md.push_str(&t.render());
    line!(md);
}

fn sessions_section(md: &mut String, p: &PhaseResult) {
    let any = |s: &SessionResult| s.count > 0 || s.errors > 0;
    if !p.targets.iter().any(|t| any(&t.sessions)) {
        return;
    }
    line!(md, "### CreateSession");
    line!(md);
    let mut t = Table::numeric([
        "target", "count", "errors", "p50 [ms]", "p99 [ms]", "max [ms]",
    ]);
    for tr in p.targets.iter().filter(|t| any(&t.sessions)) {
        let s = &tr.sessions;
        let (p50, p99, max) = match &s.latency_us {
            Some(l) if s.count > 0 => (fmt_ms(l.p50), fmt_ms(l.p99), fmt_ms(l.max)),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        t.push([
            tr.target.clone(),
            s.count.to_string(),
            s.errors.to_string(),
            p50,
            p99,
            max,
        ]);
    }
    md.push_str(&t.render());
    line!(md);
}

/// Markdown comparing run B with run A, op by op: p50, p99 and ops/s of
/// each and the ratio B / A. Phases, targets and ops are matched by name;
/// what only one run has is listed, not compared.
pub fn render_comparison(a: &RunResult, b: &RunResult, a_label: &str, b_label: &str) -> String {
    let mut md = String::new();
    comparison_header(&mut md, a, b, a_label, b_label);
    let mut only = Vec::new();
    for pa in &a.phases {
        let Some(pb) = b.phases.iter().find(|p| p.name == pa.name) else {
            only.push(format!("phase {} only in A", pa.name));
            continue;
        };
        line!(md, "## Phase {}", pa.name);
        line!(md);
        if !same_load(pa, pb) {
            line!(
                md,
                "> **Note:** load differs: A {}; B {}.",
                one_line(&pa.load),
                one_line(&pb.load)
            );
            line!(md);
        }
        let mut t = Table::numeric([
            "target",
            "op",
            "p50 A [ms]",
            "p50 B [ms]",
            "p50 B/A",
            "p50 B/A 95% CI",
            "p99 A [ms]",
            "p99 B [ms]",
            "p99 B/A",
            "ops/s A",
            "ops/s B",
            "ops/s B/A",
        ])
        .with_align(1, Align::Left);
        for ta in &pa.targets {
            let Some(tb) = pb.targets.iter().find(|t| t.target == ta.target) else {
                only.push(format!(
                    "target {} in phase {} only in A",
                    ta.target, pa.name
                ));
                continue;
            };
            let mut ops: Vec<&String> = ta.ops.keys().collect();
            ops.sort_by_key(|o| (op_rank(o), o.as_str()));
            for op in ops {
                let oa = &ta.ops[op];
                let Some(ob) = tb.ops.get(op) else {
                    only.push(format!(
                        "op {op} of {} in phase {} only in A",
                        ta.target, pa.name
                    ));
                    continue;
                };
                let (la, lb) = (&oa.latency_us, &ob.latency_us);
                let ci = ratio_ci(tb, ta, op, Metric::P50)
                    .and_then(|c| {
                        let noise = if c.differs() { "" } else { " noise" };
                        Some(format!("{}{noise}", c.ci?.text()))
                    })
                    .unwrap_or_else(|| "-".to_string());
                t.push([
                    ta.target.clone(),
                    op.clone(),
                    fmt_ms(la.p50),
                    fmt_ms(lb.p50),
                    fmt_ratio(ratio(lb.p50, la.p50)),
                    ci,
                    fmt_ms(la.p99),
                    fmt_ms(lb.p99),
                    fmt_ratio(ratio(lb.p99, la.p99)),
                    fmt_rate(oa.ops_per_sec),
                    fmt_rate(ob.ops_per_sec),
                    fmt_ratio(ratio(ob.ops_per_sec, oa.ops_per_sec)),
                ]);
            }
            for op in tb.ops.keys().filter(|o| !ta.ops.contains_key(*o)) {
                only.push(format!(
                    "op {op} of {} in phase {} only in B",
                    ta.target, pa.name
                ));
            }
        }
        for tb in pb
            .targets
            .iter()
            .filter(|tb| !pa.targets.iter().any(|ta| ta.target == tb.target))
        {
            only.push(format!(
                "target {} in phase {} only in B",
                tb.target, pa.name
            ));
        }
        if t.is_empty() {
            line!(md, "Nothing to compare in this phase.");
        } else {
            md.push_str(&t.render());
        }
        line!(md);
    }
    for pb in b
        .phases
        .iter()
        .filter(|pb| !a.phases.iter().any(|pa| pa.name == pb.name))
    {
        only.push(format!("phase {} only in B", pb.name));
    }
    if !only.is_empty() {
        line!(md, "## Not compared");
        line!(md);
        for o in &only {
            line!(md, "- {o}");
        }
        line!(md);
    }
    md
}

/// The head of a comparison: the two runs side by side, what makes them
/// hard to compare, and how to read the ratios.
fn comparison_header(md: &mut String, a: &RunResult, b: &RunResult, a_label: &str, b_label: &str) {
    line!(md, "# s3bench compare");
    line!(md);
    let mut t = Table::text(["", "A", "B"]);
    t.push(["file", a_label, b_label]);
    t.push(["run id", &a.run_id, &b.run_id]);
    t.push(["scenario", &a.scenario, &b.scenario]);
    t.push(["started (UTC)", &a.started_at, &b.started_at]);
    t.push(["s3bench", &a.s3bench_version, &b.s3bench_version]);
    t.push(["aws-sdk-s3", &a.sdk_version, &b.sdk_version]);
    let complete = |r: &RunResult| if r.complete { "yes" } else { "**no**" };
    t.push(["complete", complete(a), complete(b)]);
    let injected = |r: &RunResult| match r.injection.len() {
        0 => "none".to_string(),
        n => format!("**{n} injected latency/fault rules**"),
    };
    t.push(["injection".to_string(), injected(a), injected(b)]);
    md.push_str(&t.render());
    line!(md);

    let mut notes = Vec::new();
    if a.scenario != b.scenario {
        notes.push("the runs are of different scenarios: compare with care".to_string());
    }
    if !a.complete || !b.complete {
        notes.push("at least one run is incomplete".to_string());
    }
    if a.injection != b.injection {
        notes.push(
            "the runs had different injected latency/faults: differences may be the model's"
                .to_string(),
        );
    }
    if !notes.is_empty() {
        line!(md, "> **Note:**");
        for n in &notes {
            line!(md, "> - {n}.");
        }
        line!(md);
    }
    line!(
        md,
        "Ratios are B / A: for latency **below 1 means B is faster**; for ops/s above 1 means B did more. \
         The CI is a bootstrap 95% interval of the p50 ratio over the rounds of each run (**noise** when it contains 1); with few rounds (under 5) it is rough and tends to be too narrow."
    );
    line!(md);
}

/// "endpoint clock +12 ms (±40 ms)": a host's clock offset as the report
/// shows it (positive: the endpoint is ahead of the host).
pub fn clock_text(c: &crate::report::model::ClockOffset) -> String {
    format!(
        "endpoint clock {:+.0} ms (±{:.0} ms)",
        c.offset_ms, c.uncertainty_ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn sample_report() {
        insta::assert_snapshot!("sample", render(&fixtures::sample_result()));
    }

    #[test]
    fn interrupted_report() {
        insta::assert_snapshot!("interrupted", render(&fixtures::interrupted_result()));
    }

    #[test]
    fn injected_report() {
        insta::assert_snapshot!("injected", render(&fixtures::injected_result()));
    }

    #[test]
    fn comparison_report() {
        let a = fixtures::sample_result();
        let b = fixtures::rerun_result();
        insta::assert_snapshot!(
            "comparison",
            render_comparison(&a, &b, "runs/a/result.json", "runs/b/result.json")
        );
    }

    #[test]
    fn comparison_notes_mismatched_runs() {
        let a = fixtures::sample_result();
        let mut b = fixtures::interrupted_result();
        b.scenario = "other".into();
        b.injection = vec!["x".into()];
        let md = render_comparison(&a, &b, "a", "b");
        assert!(
            md.contains("> - the runs are of different scenarios"),
            "{md}"
        );
        assert!(md.contains("> - at least one run is incomplete"), "{md}");
        assert!(md.contains("> - the runs had different injected"), "{md}");
        assert!(md.contains("- phase paced-get only in A"), "{md}");
        assert!(md.contains("- phase cleanup only in A"), "{md}");
    }

    #[test]
    fn warnings_follow_the_numbers() {
        let sample = render(&fixtures::sample_result());
        assert!(
            !sample.contains("may measure s3bench"),
            "23.5% CPU is no warning"
        );
        assert!(!sample.contains("Model, not S3"));
        assert!(!sample.contains("Incomplete run"));

        let mut hot = fixtures::sample_result();
        hot.client.host_cpu_percent = Some(85.5);
        assert!(render(&hot).contains("may measure s3bench, not S3"));
        hot.client.host_cpu_percent = None;
        assert!(render(&hot).contains("host CPU unknown"));

        let injected = render(&fixtures::injected_result());
        assert!(injected.contains("Model, not S3"));
        assert!(injected.contains("> - express: +4 ms median first-byte latency"));
        let interrupted = render(&fixtures::interrupted_result());
        assert!(interrupted.contains("**Incomplete run: interrupted by Ctrl-C"));
    }

    /// Bodies that failed their checksum get a sentence of their own whose
    /// cause follows the share (nearly all: the server's checksum; some:
    /// damage on the way), never "the endpoint stopped answering"; the
    /// other failures of the op keep theirs.
    #[test]
    fn integrity_failures_have_their_own_sentence() {
        use crate::report::model::FailureResult;
        let with = |bad: u64, cut: u64| {
            let mut r = fixtures::sample_result();
            let p = r
                .phases
                .iter_mut()
                .find(|p| p.is_measured() && p.targets[1].ops.contains_key("get"))
                .unwrap();
            let o = p.targets[1].ops.get_mut("get").unwrap();
            o.errors = bad + cut;
            o.successes = o.count - bad - cut;
            o.errors_by_kind = [("body: checksum mismatch".to_string(), bad)].into();
            o.failures = [(
                "integrity".to_string(),
                FailureResult {
                    count: bad,
                    ..FailureResult::default()
                },
            )]
            .into();
            if cut > 0 {
                o.errors_by_kind.insert("body: connection".into(), cut);
                o.failures.insert(
                    "transport".into(),
                    FailureResult {
                        count: cut,
                        ..FailureResult::default()
                    },
                );
            }
            failure_warnings(&r)
        };
        let count = fixtures::sample_result()
            .phases
            .iter()
            .find(|p| p.is_measured() && p.targets[1].ops.contains_key("get"))
            .unwrap()
            .targets[1]
            .ops["get"]
            .count;
        let said = with(count, 0);
        let mine: Vec<&String> = said
            .iter()
            .filter(|w| w.starts_with("express get"))
            .collect();
        assert_eq!(mine.len(), 1, "{said:#?}");
        assert!(
            mine[0].contains(&format!(
                "{count} whole GETs came back with a body that does not match its checksum (100.0% of {count})"
            )) && mine[0].contains("a server bug rather than damage in transit")
                && !mine[0].contains("stopped answering"),
            "{}",
            mine[0]
        );
        let said = with(count / 10, count / 10);
        let mine: Vec<&String> = said
            .iter()
            .filter(|w| w.starts_with("express get"))
            .collect();
        assert_eq!(mine.len(), 2, "{said:#?}");
        assert!(
            mine[0].contains("while other GETs came back intact"),
            "{}",
            mine[0]
        );
        assert!(
            mine[1].contains("failed (body: connection)") && !mine[1].contains("checksum"),
            "{}",
            mine[1]
        );
    }

    #[test]
    fn every_table_is_right_aligned_for_numbers() {
        let md = render(&fixtures::sample_result());
        for line in md
            .lines()
            .filter(|l| l.starts_with("| target ") && l.contains("[ms]"))
        {
            let sep = md.lines().skip_while(|l| *l != line).nth(1).unwrap();
            // The first column is text; every [ms] column must be right-aligned.
            let headers: Vec<&str> = line.split('|').collect();
            let aligns: Vec<&str> = sep.split('|').collect();
            for (h, a) in headers.iter().zip(&aligns) {
                if h.contains("[ms]") {
                    assert!(a.trim_end().ends_with(':'), "{line}\n{sep}");
                }
            }
        }
    }

    #[test]
    fn bare_result_renders_without_panicking() {
        let mut r = fixtures::sample_result();
        r.phases.clear();
        r.targets.clear();
        r.hosts.clear();
        r.started_at = "yesterday".into();
        let md = render(&r);
        assert!(md.contains("No phase was measured."), "{md}");
        assert!(md.contains("No Express / General Purpose ratio"), "{md}");
        assert!(
            !md.contains("| duration "),
            "unparsable times give no duration"
        );

        let mut r = fixtures::sample_result();
        r.targets.retain(|t| t.kind == "general-purpose");
        for p in &mut r.phases {
            p.targets.retain(|t| t.target == "standard");
            p.targets[0].ops.values_mut().for_each(|o| o.count = 0);
        }
        let md = render(&r);
        assert!(
            !md.contains(" / standard"),
            "no ratio row without a directory target"
        );
        assert!(
            md.contains("|        - |"),
            "empty ops show dashes, not zeros: {md}"
        );
    }
}
