//! What a scenario will do before it runs (`s3bench plan`): per target, the
//! requests by op, bytes written and read, peak data held, wall time and
//! cost. No network: everything comes from the validated plan and the
//! embedded price list, priced by the same formula as the report
//! (`report::cost::Price::cost`).
//!
//! Open-loop load is exact up to rounding (rate x time). A closed loop's
//! count depends on the latency it will meet, which is unknowable before the
//! run: unless an `ops` stop bounds it, it is estimated from an assumed
//! latency per bucket kind, and the estimate says so.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::report::cost::{Cost, Usage, fmt_usd, prices};
use crate::report::format::sig;
use crate::scenario::{AppendEnd, Load, OpSpec, Phase, Plan, RunStage, SizeDist, TargetKind};
use crate::units::format_bytes;

/// Objects per ListObjectsV2 page and per DeleteObjects call in cleanup.
const CLEANUP_BATCH: u64 = 1000;

/// Assumptions the estimate needs.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateOptions {
    /// Latency a closed-loop worker is assumed to see per op, General Purpose.
    pub closed_latency_gp: Duration,
    /// The same for directory buckets (S3 Express One Zone).
    pub closed_latency_directory: Duration,
}

impl Default for EstimateOptions {
    fn default() -> Self {
        // Typical small-object latency in-region. S3 Express One Zone:
        // "consistent single-digit millisecond" first-byte latency, "up to
        // 10x faster than S3 Standard" (Amazon S3 User Guide, S3 Express One
        // Zone performance); S3 Standard: tens of milliseconds (the figures
        // AWS showed at the 2023 launch: about 3-10 ms against 10-200 ms).
        EstimateOptions {
            closed_latency_gp: Duration::from_millis(30),
            closed_latency_directory: Duration::from_millis(6),
        }
    }
}

impl EstimateOptions {
    /// One assumed latency for every kind (`plan --assume-latency`).
    pub fn with_latency(d: Duration) -> Self {
        EstimateOptions {
            closed_latency_gp: d,
            closed_latency_directory: d,
        }
    }

    fn latency(&self, kind: TargetKind) -> Duration {
        match kind {
            TargetKind::GeneralPurpose => self.closed_latency_gp,
            TargetKind::Directory => self.closed_latency_directory,
        }
    }
}

/// Expected counts of one op on one target (all phases and rounds).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OpEstimate {
    /// Operations.
    pub ops: u64,
    /// HTTP requests (multipart PUT sends several per op).
    pub requests: u64,
    /// Payload bytes.
    pub bytes: u64,
}

/// What one target will see.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetEstimate {
    pub target: String,
    pub kind: String,
    pub region: String,
    /// Keyed by phase name (`prepare`, each measured phase, `cleanup`),
    /// then op (`get`, `put`, ...).
    pub by_phase: Vec<(String, BTreeMap<String, OpEstimate>)>,
    pub bytes_written: u64,
    pub bytes_read: u64,
    /// Most bytes held under the run prefix at once (before cleanup).
    pub peak_bytes: u64,
    /// Wall time of this target's share of the run.
    pub duration: Duration,
    /// Billable counts.
    pub usage: Usage,
    /// None when the price list has no prices for this kind and region.
    pub cost: Option<Cost>,
    /// True when a closed loop's count rests on the assumed latency.
    pub assumed_latency: bool,
}

impl TargetEstimate {
    /// Operations by op over all phases.
    pub fn ops_by_op(&self) -> BTreeMap<String, OpEstimate> {
        let mut m: BTreeMap<String, OpEstimate> = BTreeMap::new();
        for (_, ops) in &self.by_phase {
            for (op, e) in ops {
                let x = m.entry(op.clone()).or_default();
                x.ops += e.ops;
                x.requests += e.requests;
                x.bytes += e.bytes;
            }
        }
        m
    }
}

/// The whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub scenario: String,
    pub targets: Vec<TargetEstimate>,
    /// Sum of the targets' costs (those with prices).
    pub total_cost_usd: f64,
    /// Wall time: targets run one after another.
    pub duration: Duration,
    /// What the numbers rest on, in words.
    pub assumptions: Vec<String>,
    /// What the data set's key layout means for the General Purpose
    /// targets' partitions (None without one).
    pub layout: Option<crate::scenario::layout::LayoutAdvice>,
}

fn mean_size(d: &SizeDist) -> f64 {
    match d {
        SizeDist::Fixed(n) => *n as f64,
        SizeDist::Weighted(items) => {
            let w: f64 = items.iter().map(|(_, w)| f64::from(*w)).sum();
            if w == 0.0 {
                0.0
            } else {
                items
                    .iter()
                    .map(|(s, w)| *s as f64 * f64::from(*w))
                    .sum::<f64>()
                    / w
            }
        }
        SizeDist::Range { min, max } => (*min as f64 + *max as f64) / 2.0,
    }
}

/// Requests of one multipart upload: create, parts, complete.
fn multipart_requests(size: u64, part_size: u64) -> u64 {
    2 + size.div_ceil(part_size.max(1)).max(1)
}

/// Operations one round of a phase sends on one target, and its seconds.
fn phase_round(phase: &Phase, latency: Duration) -> (f64, f64, bool) {
    let mut ops = 0.0;
    let mut secs = 0.0;
    let mut assumed = false;
    let cap = phase.stop.duration.map(|d| d.as_secs_f64());
    let lat = latency.as_secs_f64().max(1e-6);
    let per_sec = |l: &Load| match *l {
        Load::Closed { concurrency } => concurrency as f64 / lat,
        Load::Open { rate, .. } => rate,
    };
    for (i, st) in phase.stages.iter().enumerate() {
        let left = cap.map(|c| (c - secs).max(0.0));
        let len = match (st.duration.map(|d| d.as_secs_f64()), left) {
            (Some(d), Some(l)) => d.min(l),
            (Some(d), None) => d,
            (None, Some(l)) => l,
            // Only an ops stop ends it: the time is what those ops take.
            (None, None) => phase.stop.ops.map_or(0.0, |n| n as f64 / per_sec(&st.load)),
        };
        if matches!(st.load, Load::Closed { .. }) {
            assumed = true;
        }
        // Warm-up runs at the first stage's load before the measured time.
        let warm = if i == 0 {
            phase.warmup.as_secs_f64()
        } else {
            0.0
        };
        ops += per_sec(&st.load) * (len + warm);
        secs += len + warm;
    }
    if let Some(limit) = phase.stop.ops {
        let warm_ops = phase
            .stages
            .first()
            .map_or(0.0, |s| per_sec(&s.load) * phase.warmup.as_secs_f64());
        if ops - warm_ops > limit as f64 {
            // The ops stop comes first; time shrinks in proportion.
            let measured = limit as f64;
            secs *= (measured + warm_ops) / ops.max(1.0);
            ops = measured + warm_ops;
            // Open or closed, an ops-bound count is known exactly.
            assumed = false;
        }
    }
    (ops, secs, assumed)
}

/// Estimates a run of `plan` (the run plan's scenario: `--duration` and
/// `--rounds` already applied).
pub fn estimate(plan: &Plan, opts: &EstimateOptions) -> Estimate {
    // The data set is a pure function of the seed: sum it exactly.
    let sizes: Vec<u64> = (0..plan.dataset.objects)
        .map(|i| plan.object_size(i))
        .collect();
    let mut assumptions = Vec::new();
    let targets: Vec<TargetEstimate> = plan
        .targets
        .iter()
        .map(|t| estimate_target(plan, t, opts, &sizes, &mut assumptions))
        .collect();
    let total_cost_usd = targets
        .iter()
        .filter_map(|t| t.cost)
        .map(|c| c.total())
        .sum();
    let duration = targets.iter().map(|t| t.duration).sum();
    assumptions.push(
        "CreateSession calls, retries, failed requests and data transfer out of the region are not counted.".into(),
    );
    let layout = plan
        .targets
        .iter()
        .any(|t| t.kind == TargetKind::GeneralPurpose)
        .then(|| crate::scenario::layout::advice(plan));
    Estimate {
        scenario: plan.name.clone(),
        targets,
        total_cost_usd,
        duration,
        assumptions,
        layout,
    }
}

/// Requests, bytes and priced usage of one target, added up op by op.
#[derive(Default)]
struct Tally {
    usage: Usage,
}

impl Tally {
    fn add(
        &mut self,
        phase: &str,
        map: &mut BTreeMap<String, OpEstimate>,
        op: &str,
        ops: u64,
        requests: u64,
        bytes: u64,
    ) {
        let e = map.entry(op.to_string()).or_default();
        e.ops += ops;
        e.requests += requests;
        e.bytes += bytes;
        // The cleanup deletes with DeleteObjects (a POST); no measured
        // phase may take its name.
        self.usage.add(
            crate::report::cost::billing(op, phase == RunStage::Cleanup.name()),
            requests,
            bytes,
        );
    }
}

/// A replay sends its schedule's rows (those due within the phase's
/// duration), each round; returns them by op and the phase's seconds.
fn replay_phase(
    tally: &mut Tally,
    plan: &Plan,
    phase: &Phase,
    r: &crate::scenario::ReplaySpec,
) -> (BTreeMap<String, OpEstimate>, f64) {
    use crate::scenario::ReplayOp as R;
    let end = phase
        .stop
        .duration
        .map_or(u64::MAX, |d| (d.as_nanos() as f64 * r.speed) as u64);
    let rounds = u64::from(plan.rounds);
    let mut m = BTreeMap::new();
    for row in r.rows.iter().take_while(|row| row.t_ns < end) {
        let (op, requests, bytes) = match row.op {
            R::Get => ("get", 1, plan.object_size(row.object)),
            R::RangedGet => ("ranged_get", 1, row.length),
            R::Head => ("head", 1, 0),
            R::Put => ("put", 1, row.length),
            R::MultipartPut => (
                "multipart_put",
                multipart_requests(row.length, row.part_size),
                row.length,
            ),
            R::Delete => ("delete", 1, 0),
            R::List => ("list", 1, 0),
            R::Copy => ("copy", 1, 0),
        };
        tally.add(
            &phase.name,
            &mut m,
            op,
            rounds,
            requests * rounds,
            bytes * rounds,
        );
    }
    let secs = phase.stop.duration.unwrap_or(r.span()).as_secs_f64() * f64::from(plan.rounds);
    (m, secs)
}

/// What a phase's writes leave behind until cleanup (unless it deletes).
#[derive(Default)]
struct Written {
    puts: u64,
    put_bytes: u64,
    deletes: u64,
}

/// One target's estimate: prepare, every phase over every round, cleanup,
/// priced; what it had to assume goes into `assumptions`.
fn estimate_target(
    plan: &Plan,
    t: &crate::scenario::TargetSpec,
    opts: &EstimateOptions,
    sizes: &[u64],
    assumptions: &mut Vec<String>,
) -> TargetEstimate {
    let dataset_bytes: u64 = sizes.iter().sum();
    let mean_object = if sizes.is_empty() {
        0.0
    } else {
        dataset_bytes as f64 / sizes.len() as f64
    };
    let latency = opts.latency(t.kind);
    let mut by_phase = Vec::new();
    let mut tally = Tally::default();
    let mut secs = 0.0;
    let mut assumed_any = false;
    let mut objects = 0u64;
    let mut held = 0u64;
    if plan.prepare.enabled && !sizes.is_empty() {
        let mut m = BTreeMap::new();
        for s in sizes {
            if *s >= plan.prepare.multipart_threshold {
                let r = multipart_requests(*s, plan.prepare.part_size);
                tally.add("prepare", &mut m, "multipart_put", 1, r, *s);
            } else {
                tally.add("prepare", &mut m, "put", 1, 1, *s);
            }
        }
        objects += sizes.len() as u64;
        held += dataset_bytes;
        secs += sizes.len() as f64 * latency.as_secs_f64() / plan.prepare.concurrency.max(1) as f64;
        assumed_any = true;
        by_phase.push(("prepare".to_string(), m));
    }
    for phase in &plan.phases {
        if let Some(c) = &phase.checkpoint {
            let (m, round_secs) = checkpoint_phase(&mut tally, phase, c, plan.rounds, latency);
            secs += round_secs * f64::from(plan.rounds);
            assumed_any = true;
            // Every round writes the same keys: `writes` checkpoints stay.
            if c.writes > 0 {
                objects += u64::from(c.writes) * u64::from(c.ranks);
                held += u64::from(c.writes) * c.size;
            }
            by_phase.push((phase.name.clone(), m));
            continue;
        }
        if let Some(l) = &phase.loader {
            // At most what the accelerators consume at AU = 100%.
            let (reads, secs_round) = crate::scenario::dataloader::reads_upper_bound(
                l,
                phase.stop.duration,
                plan.dataset.objects,
                mean_object,
            );
            let n = reads * u64::from(plan.rounds);
            secs += secs_round * f64::from(plan.rounds);
            let (op, bytes) = match l.sample {
                crate::scenario::SampleUnit::Object => {
                    ("get", (n as f64 * mean_object).round() as u64)
                }
                crate::scenario::SampleUnit::Record { size } => ("ranged_get", n * size),
            };
            let mut m = BTreeMap::new();
            tally.add(&phase.name, &mut m, op, n, n, bytes);
            by_phase.push((phase.name.clone(), m));
            continue;
        }
        if let Some(r) = &phase.replay {
            let (m, s) = replay_phase(&mut tally, plan, phase, r);
            secs += s;
            by_phase.push((phase.name.clone(), m));
            continue;
        }
        let (ops_round, secs_round, assumed) = phase_round(phase, latency);
        assumed_any |= assumed;
        let total_ops = ops_round * f64::from(plan.rounds);
        secs += secs_round * f64::from(plan.rounds);
        let (m, w) = mix_phase(&mut tally, phase, total_ops, mean_object);
        // Scratch objects stay until cleanup unless the mix deletes them.
        let kept = w.puts.saturating_sub(w.deletes);
        objects += kept;
        if let Some(per_put) = w.put_bytes.checked_div(w.puts) {
            held += per_put * kept;
        }
        by_phase.push((phase.name.clone(), m));
    }
    if plan.cleanup && objects > 0 {
        let mut m = BTreeMap::new();
        let batches = objects.div_ceil(CLEANUP_BATCH);
        tally.add("cleanup", &mut m, "list", batches, batches, 0);
        tally.add("cleanup", &mut m, "delete", batches, batches, 0);
        by_phase.push(("cleanup".to_string(), m));
    }
    let usage = tally.usage;
    let price = prices().find(&t.region, t.kind.as_str());
    let cost = price.map(|p| p.cost(&usage));
    if price.is_none() {
        assumptions.push(format!(
            "{}: no prices for {} in {}: not in the total.",
            t.name,
            t.kind.as_str(),
            t.region
        ));
    }
    if assumed_any {
        assumptions.push(format!(
            "{}: closed-loop counts (without an ops stop) and prepare/closed-loop times assume {} ms per operation (change with --assume-latency).",
            t.name,
            sig(latency.as_secs_f64() * 1e3, 3)
        ));
    }
    let (written, read) = (usage.upload_bytes, usage.retrieval_bytes);
    TargetEstimate {
        target: t.name.clone(),
        kind: t.kind.as_str().to_string(),
        region: t.region.clone(),
        by_phase,
        bytes_written: written,
        bytes_read: read,
        peak_bytes: held,
        duration: Duration::from_secs_f64(secs.max(0.0)),
        usage,
        cost,
        assumed_latency: assumed_any,
    }
}

/// A checkpoint phase over all rounds: every rank writes its share
/// `writes` times per round (one multipart upload each) and reads it back
/// in parts. Returns its requests by op and one round's time if every
/// request took `latency` (a lower bound: transfer time is not known).
fn checkpoint_phase(
    tally: &mut Tally,
    phase: &Phase,
    c: &crate::scenario::CheckpointSpec,
    rounds: u32,
    latency: Duration,
) -> (BTreeMap<String, OpEstimate>, f64) {
    let rounds = u64::from(rounds);
    let (w, r) = (u64::from(c.writes) * rounds, u64::from(c.reads) * rounds);
    let ranks = u64::from(c.ranks);
    let write_requests: u64 = c.parts_total() + 2 * ranks;
    let mut m = BTreeMap::new();
    tally.add(
        &phase.name,
        &mut m,
        "multipart_put",
        w * ranks,
        w * write_requests,
        w * c.size,
    );
    tally.add(
        &phase.name,
        &mut m,
        "ranged_get",
        r * c.parts_total(),
        r * c.parts_total(),
        r * c.size,
    );
    let in_flight = crate::scenario::checkpoint::PARTS_IN_FLIGHT as u64;
    let round_secs = (c.step_time_at(latency, true, in_flight) * c.writes
        + c.step_time_at(latency, false, in_flight) * c.reads)
        .as_secs_f64();
    let round_secs = phase
        .stop
        .duration
        .map_or(round_secs, |d| round_secs.min(d.as_secs_f64()));
    (m, round_secs)
}

/// A mix phase's `total_ops` (all rounds) split over its ops by weight:
/// requests and bytes per op, and what its writes leave behind.
fn mix_phase(
    tally: &mut Tally,
    phase: &Phase,
    total_ops: f64,
    mean_object: f64,
) -> (BTreeMap<String, OpEstimate>, Written) {
    let weight: f64 = phase.mix.iter().map(|w| f64::from(w.weight)).sum();
    let mut m = BTreeMap::new();
    let (mut puts, mut put_bytes, mut deletes) = (0u64, 0u64, 0u64);
    for w in &phase.mix {
        if weight == 0.0 {
            break;
        }
        let n = (total_ops * f64::from(w.weight) / weight).round() as u64;
        let name = w.op.kind().key();
        let (requests, bytes) = match &w.op {
            OpSpec::Get | OpSpec::GetNewest { .. } => (n, (n as f64 * mean_object).round() as u64),
            OpSpec::PutNext => {
                let b = (n as f64 * mean_object).round() as u64;
                puts += n;
                put_bytes += b;
                (n, b)
            }
            OpSpec::RangedGet { size, .. } => (n, n * size),
            OpSpec::Put { size } => {
                let mean = size.as_ref().map_or(mean_object, mean_size);
                let b = (n as f64 * mean).round() as u64;
                puts += n;
                put_bytes += b;
                (n, b)
            }
            OpSpec::MultipartPut { size, part_size } => {
                puts += n;
                put_bytes += n * size;
                (n * multipart_requests(*size, *part_size), n * size)
            }
            OpSpec::Head | OpSpec::List { .. } => (n, 0),
            OpSpec::Delete => {
                deletes += n;
                (n, 0)
            }
            OpSpec::Append { size, end, gp } => {
                let per_object = match end {
                    AppendEnd::Count(c) => u64::from(*c),
                    AppendEnd::Size(m) => (m / size).max(1),
                };
                let objects = n.div_ceil(per_object);
                puts += objects;
                put_bytes += objects * per_object * size;
                // A rewrite PUTs the whole object each time: on
                // average half of its final size, plus one append.
                let b = match gp {
                    Some(_) => n * size * (per_object + 1) / 2,
                    None => n * size,
                };
                (n, b)
            }
            OpSpec::Rename { size, gp } => {
                // Each commit first PUTs its checkpoint (recorded as a put).
                let b = (n as f64 * mean_size(size)).round() as u64;
                tally.add(&phase.name, &mut m, "put", n, n, b);
                puts += n;
                put_bytes += b;
                (if gp.is_some() { 2 * n } else { n }, 0)
            }
            OpSpec::ConditionalPut { size, .. } => (n, n * size),
            OpSpec::Copy => {
                puts += n;
                put_bytes += (n as f64 * mean_object).round() as u64;
                (n, 0)
            }
        };
        tally.add(&phase.name, &mut m, name, n, requests, bytes);
    }
    (
        m,
        Written {
            puts,
            put_bytes,
            deletes,
        },
    )
}

/// The estimate as text for a terminal (Markdown tables).
pub fn render(e: &Estimate) -> String {
    use crate::report::table::{Align, Table};
    let mut s = String::new();
    let _ = writeln!(s, "# plan: {}\n", e.scenario);
    let _ = writeln!(
        s,
        "No requests were sent. Estimated wall time {}, estimated cost {} (at the list prices of this build).\n",
        humantime::format_duration(Duration::from_secs(e.duration.as_secs())),
        fmt_usd(e.total_cost_usd)
    );
    let mut t = Table::numeric([
        "target",
        "kind",
        "region",
        "written",
        "read",
        "peak held",
        "time",
        "requests cost",
        "per-GB cost",
        "total",
    ])
    .with_align(1, Align::Left)
    .with_align(2, Align::Left);
    for x in &e.targets {
        let (req, xfer, tot) = match x.cost {
            Some(c) => (
                fmt_usd(c.requests_usd),
                fmt_usd(c.transfer_usd),
                fmt_usd(c.total()),
            ),
            None => ("-".into(), "-".into(), "no prices".into()),
        };
        t.push([
            x.target.clone(),
            x.kind.clone(),
            x.region.clone(),
            format_bytes(x.bytes_written),
            format_bytes(x.bytes_read),
            format_bytes(x.peak_bytes),
            humantime::format_duration(Duration::from_secs(x.duration.as_secs())).to_string(),
            req,
            xfer,
            tot,
        ]);
    }
    s.push_str(&t.render());
    s.push('\n');
    let mut ops = Table::numeric([
        "target",
        "phase",
        "op",
        "operations",
        "HTTP requests",
        "bytes",
    ])
    .with_align(1, Align::Left)
    .with_align(2, Align::Left);
    for x in &e.targets {
        for (phase, m) in &x.by_phase {
            for (op, o) in m {
                ops.push([
                    x.target.clone(),
                    phase.clone(),
                    op.clone(),
                    o.ops.to_string(),
                    o.requests.to_string(),
                    format_bytes(o.bytes),
                ]);
            }
        }
    }
    s.push_str(&ops.render());
    s.push('\n');
    for a in &e.assumptions {
        let _ = writeln!(s, "- {a}");
    }
    if let Some(l) = &e.layout {
        let _ = writeln!(s, "\n## Key layout (General Purpose partitions)\n");
        for line in &l.lines {
            let _ = writeln!(s, "- {line}");
        }
        if let Some(w) = &l.warning {
            let w = w.strip_prefix("Warning: ").unwrap_or(w);
            let _ = writeln!(s, "\n> **Warning:** {w}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Plan {
        crate::scenario::parse(text, std::path::Path::new("t.toml")).unwrap()
    }

    const OPEN: &str = r#"
name = "est"
rounds = 2
[targets.gp]
kind = "general-purpose"
bucket = "s3bench-gp"
region = "us-east-1"
[targets.ex]
kind = "directory"
bucket = "s3bench--use1-az4--x-s3"
region = "us-east-1"
[dataset]
objects = 100
size = "1MiB"
[[phase]]
name = "read"
duration = "10s"
rate = 50
mix = [ { op = "get", weight = 4 }, { op = "put", weight = 1, size = "4KiB" } ]
"#;

    #[test]
    fn estimate_open_loop_counts_are_rate_times_time() {
        let p = plan(OPEN);
        let e = estimate(&p, &EstimateOptions::default());
        assert_eq!(e.targets.len(), 2);
        let warm = p.phases[0].warmup.as_secs_f64();
        let per_round = 50.0 * (10.0 + warm);
        for t in &e.targets {
            let read = &t.by_phase.iter().find(|(n, _)| n == "read").unwrap().1;
            let total = read["get"].ops + read["put"].ops;
            assert_eq!(total as f64, (per_round * 2.0).round(), "{t:?}");
            assert_eq!(read["get"].bytes, read["get"].ops << 20);
            let prep = &t.by_phase[0];
            assert_eq!(prep.0, "prepare");
            assert_eq!(prep.1.values().map(|o| o.ops).sum::<u64>(), 100);
            // Data set + the PUTs nobody deletes.
            assert_eq!(t.peak_bytes, (100 << 20) + read["put"].ops * 4096);
            assert!(t.cost.is_some());
        }
        let sum: f64 = e.targets.iter().map(|t| t.cost.unwrap().total()).sum();
        assert!((e.total_cost_usd - sum).abs() < 1e-12);
        let text = render(&e);
        assert!(text.contains("| gp ") && text.contains("| ex "), "{text}");
        assert!(text.contains("No requests were sent"), "{text}");
    }

    #[test]
    fn estimate_closed_loop_uses_ops_stop_or_says_it_assumed() {
        let closed = OPEN.replace("rate = 50", "concurrency = 4");
        let e = estimate(
            &plan(&closed),
            &EstimateOptions::with_latency(Duration::from_millis(10)),
        );
        assert!(e.targets.iter().all(|t| t.assumed_latency));
        assert!(
            e.assumptions.iter().any(|a| a.contains("assume 10.0 ms")),
            "{:?}",
            e.assumptions
        );
        let p = plan(&closed);
        let read = &e.targets[0].by_phase[1].1;
        let want = 4.0 / 0.01 * (10.0 + p.phases[0].warmup.as_secs_f64()) * 2.0;
        assert_eq!((read["get"].ops + read["put"].ops) as f64, want.round());
    }

    #[test]
    fn estimate_cost_matches_the_report_formula() {
        let e = estimate(&plan(OPEN), &EstimateOptions::default());
        let ex = e.targets.iter().find(|t| t.kind == "directory").unwrap();
        let price = prices().find("us-east-1", "directory").unwrap();
        assert_eq!(ex.cost, Some(price.cost(&ex.usage)));
        // Express bills per GB both ways; General Purpose does not.
        assert!(ex.cost.unwrap().transfer_usd > 0.0);
        let gp = e
            .targets
            .iter()
            .find(|t| t.kind == "general-purpose")
            .unwrap();
        assert_eq!(gp.cost.unwrap().transfer_usd, 0.0);
        // Cleanup lists and batch-deletes what the run wrote.
        assert!(
            gp.by_phase
                .iter()
                .any(|(n, m)| n == "cleanup" && m.contains_key("delete"))
        );
    }
}
