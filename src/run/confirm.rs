//! Asking before a run spends real money: `run` estimates what the run plan
//! will cost on AWS (the same estimate and prices as `s3bench plan` and the
//! report's cost section, of the scenario with `--duration` and `--rounds`
//! applied) and asks for confirmation above a threshold.
//! Never for the embedded endpoint or an endpoint override (MinIO, a local
//! server): those bill nobody.

use crate::estimate::{EstimateOptions, estimate};
use crate::plan::RunPlan;
use crate::report::cost::fmt_usd;
use crate::scenario::Plan;

/// Default threshold for asking, in US dollars.
pub const DEFAULT_CONFIRM_ABOVE_USD: f64 = 25.0;

/// True when a target's requests go to AWS (no endpoint override, or an
/// override on amazonaws.com).
fn bills(plan: &Plan) -> bool {
    plan.targets.iter().any(|t| match &t.endpoint {
        None => true,
        Some(e) => e.contains(".amazonaws.com"),
    })
}

/// The sentence to confirm, when the estimated cost of `run` is above
/// `threshold_usd` and the run goes to AWS; None when no question is needed.
pub fn question(run: &RunPlan, threshold_usd: f64) -> Option<String> {
    let plan = &run.scenario;
    if run.embedded || !bills(plan) {
        return None;
    }
    let e = estimate(plan, &EstimateOptions::default());
    (e.total_cost_usd > threshold_usd).then(|| {
        format!(
            "this run is estimated to cost about {} on AWS (above --confirm-above {}; `{}` shows the breakdown)",
            fmt_usd(e.total_cost_usd),
            fmt_usd(threshold_usd),
            plan_command(run),
        )
    })
}

/// The `s3bench plan` command that prints the same estimate: the scenario
/// and the flags that change it.
fn plan_command(run: &RunPlan) -> String {
    let mut cmd = format!("s3bench plan {}", run.scenario.source.display());
    if let Some(d) = run.options.duration {
        cmd.push_str(&format!(" --duration {}", humantime::format_duration(d)));
    }
    if let Some(r) = run.options.rounds {
        cmd.push_str(&format!(" --rounds {r}"));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::plan::RunOptions;

    fn plan(endpoint: &str) -> Plan {
        let text = format!(
            r#"
[targets.gp]
kind = "general-purpose"
bucket = "bench"
region = "us-east-1"
{endpoint}
[dataset]
objects = 10
size = "4KiB"
[[phase]]
name = "p"
duration = "60s"
rate = 10000
mix = [{{ op = "put", weight = 1 }}]
"#
        );
        crate::scenario::parse(&text, Path::new("costly.toml")).unwrap()
    }

    fn run(plan: Plan, embedded: bool) -> RunPlan {
        RunPlan::new(plan, embedded, RunOptions::default()).unwrap()
    }

    #[test]
    fn asks_only_when_aws_bills_more_than_the_threshold() {
        // 600,000 PUTs x 2 rounds at $0.005 per 1,000: about $6.
        let aws = run(plan(""), false);
        let q = question(&aws, 1.0).expect("above $1");
        assert!(q.contains("estimated to cost about $6."), "{q}");
        assert!(q.contains("`s3bench plan costly.toml` shows"), "{q}");
        assert!(question(&aws, 100.0).is_none());
        assert!(
            question(&run(plan(""), true), 0.0).is_none(),
            "embedded bills nobody"
        );
        let local = plan("endpoint = \"http://127.0.0.1:9000\"\npath_style = true");
        assert!(
            question(&run(local, false), 0.0).is_none(),
            "a local endpoint bills nobody"
        );
    }

    /// The question prices the run as the flags shape it: `--duration` and
    /// `--rounds` apply before the estimate, not after.
    #[test]
    fn prices_the_run_after_duration_and_rounds() {
        let with = |duration: Option<u64>, rounds: Option<u32>| {
            let r = RunPlan::new(
                plan(""),
                false,
                RunOptions {
                    duration: duration.map(std::time::Duration::from_secs),
                    rounds,
                    ..RunOptions::default()
                },
            )
            .unwrap();
            question(&r, 0.0).unwrap()
        };
        // 60 s x 2 rounds = $6; 6 s x 2 rounds = $0.60; 60 s x 10 rounds = $30
        // (and a few cents of data set and cleanup).
        let short = with(Some(6), None);
        assert!(short.contains("about $0.60"), "{short}");
        assert!(
            short.contains("`s3bench plan costly.toml --duration 6s`"),
            "{short}"
        );
        let long = with(None, Some(10));
        assert!(long.contains("about $30."), "{long}");
        assert!(long.contains("--rounds 10"), "{long}");
    }
}
