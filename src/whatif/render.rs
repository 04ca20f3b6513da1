//! `whatif`'s output: a Markdown table (default) or one JSON object per
//! target, one per line (`--json`).

use crate::report::cost::fmt_usd;
use crate::report::format::sig;
use crate::report::table::{Align, Table};
use crate::units::format_bytes;

use super::{Prediction, Whatif};

/// One JSON object per target, one per line (JSON Lines), each with the
/// settings it was simulated with.
pub fn json_lines(w: &Whatif) -> anyhow::Result<String> {
    let mut out = String::new();
    for t in &w.targets {
        let mut v = serde_json::to_value(t)?;
        if let Some(m) = v.as_object_mut() {
            m.insert("phase".into(), serde_json::Value::String(w.phase.clone()));
            m.insert("run_id".into(), serde_json::Value::String(w.run_id.clone()));
            m.insert("settings".into(), serde_json::to_value(&w.settings)?);
        }
        out.push_str(&serde_json::to_string(&v)?);
        out.push('\n');
    }
    Ok(out)
}

fn pct(x: f64) -> String {
    format!("{}%", sig(x * 100.0, 3))
}

fn kind_label(t: &Prediction) -> String {
    crate::report::format::kind_label(&t.kind, &t.kind)
}

/// The Markdown answer: what was simulated, one row per target, a search's
/// steps, and the assumptions.
pub fn markdown(w: &Whatif) -> String {
    let s = &w.settings;
    let mut md = format!("# What if: phase `{}` of {}\n\n", w.phase, w.run_id);
    let who = match (s.accelerators, s.search) {
        (Some(n), _) => format!("{n} simulated accelerators"),
        (None, Some(max)) => format!(
            "a search for the most simulated accelerators (up to {max}) at AU >= {}",
            pct(s.au_mark)
        ),
        _ => String::new(),
    };
    let preset = s
        .preset
        .as_deref()
        .map(|p| format!(" (preset {p})"))
        .unwrap_or_default();
    md.push_str(&format!(
        "Simulated{preset}: {who}, each taking batches of {} samples of {} and computing {} ms per batch, \
         with {} reads in flight and {} batches read ahead; {} s simulated per count; pass mark {}. \
         Every read's latency is drawn from the target's measured `{}` histogram.\n\n",
        s.batch_size,
        format_bytes(s.sample_bytes),
        sig(s.compute_ms, 4),
        s.read_concurrency,
        s.prefetch,
        sig(s.duration_s, 3),
        pct(s.au_mark),
        s.op,
    ));
    let priced = w.targets.iter().any(|t| t.idle_gpu_usd_per_day.is_some());
    let mut header = vec![
        "target",
        "kind",
        "accelerators",
        "AU",
        "idle",
        "idle GPU-hours / day",
    ];
    if priced {
        header.push("idle GPU cost / day");
    }
    header.extend([
        "stall p99 [ms]",
        "needed / achieved [MiB/s]",
        "measured AU",
        "latency p50 / p99 [ms]",
    ]);
    let mut t = Table::numeric(header)
        .with_align(0, Align::Left)
        .with_align(1, Align::Left);
    for p in &w.targets {
        let accelerators = if s.search.is_some() {
            format!("{} (most at >= {})", p.accelerators, pct(p.au_mark))
        } else {
            p.accelerators.to_string()
        };
        let mut row = vec![
            p.target.clone(),
            kind_label(p),
            accelerators,
            format!("{} ({})", pct(p.au), if p.passed { "pass" } else { "FAIL" }),
            pct(p.idle_share),
            sig(p.idle_gpu_hours_per_day, 3),
        ];
        if priced {
            row.push(p.idle_gpu_usd_per_day.map_or("-".into(), fmt_usd));
        }
        row.extend([
            sig(p.stall_p99_ms, 3),
            format!(
                "{} / {}",
                sig(p.needed_mib_per_sec, 3),
                sig(p.achieved_mib_per_sec, 3)
            ),
            p.measured_au.map_or("-".into(), pct),
            format!(
                "{} / {} ({} requests)",
                sig(p.latency_p50_ms, 3),
                sig(p.latency_p99_ms, 3),
                p.latency_requests
            ),
        ]);
        t.push(row);
    }
    md.push_str(&t.render());
    md.push('\n');
    for p in w.targets.iter().filter(|p| !p.steps.is_empty()) {
        md.push_str(&format!(
            "Search on {} (doubling from 1, then bisecting):\n\n",
            p.target
        ));
        let mut t = Table::numeric(["accelerators", "AU", "result"]);
        for st in &p.steps {
            t.push([
                st.accelerators.to_string(),
                pct(st.au),
                if st.passed { "pass" } else { "fail" }.to_string(),
            ]);
        }
        md.push_str(&t.render());
        md.push('\n');
    }
    md.push_str("Assumes:\n\n");
    for a in &w.assumptions {
        md.push_str(&format!("- {a}\n"));
    }
    md
}
