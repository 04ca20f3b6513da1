//! Asking before a run spends real money: `run` estimates what the plan will
//! cost on AWS (the same estimate and prices as `s3bench plan` and the
//! report's cost section) and asks for confirmation above a threshold.
//! Never for the embedded endpoint or an endpoint override (MinIO, a local
//! server): those bill nobody.

use crate::estimate::{EstimateOptions, estimate};
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

/// The sentence to confirm, when the estimated cost of `plan` is above
/// `threshold_usd` and the run goes to AWS; None when no question is needed.
pub fn question(plan: &Plan, embedded: bool, threshold_usd: f64) -> Option<String> {
    if embedded || !bills(plan) {
        return None;
    }
    let e = estimate(plan, &EstimateOptions::default());
    (e.total_cost_usd > threshold_usd).then(|| {
        format!(
            "this run is estimated to cost about ${:.2} on AWS (above --confirm-above ${threshold_usd:.2}; `s3bench plan {}` shows the breakdown)",
            e.total_cost_usd,
            plan.source.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

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

    #[test]
    fn asks_only_when_aws_bills_more_than_the_threshold() {
        // 600,000 PUTs x 2 rounds at $0.005 per 1,000: about $6.
        let aws = plan("");
        let q = question(&aws, false, 1.0).expect("above $1");
        assert!(q.contains("estimated to cost about $6."), "{q}");
        assert!(question(&aws, false, 100.0).is_none());
        assert!(question(&aws, true, 0.0).is_none(), "embedded bills nobody");
        let local = plan("endpoint = \"http://127.0.0.1:9000\"\npath_style = true");
        assert!(
            question(&local, false, 0.0).is_none(),
            "a local endpoint bills nobody"
        );
    }
}
