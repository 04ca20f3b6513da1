//! What the report says about the client's own cost, apart from what an
//! in-process embedded endpoint (`--embedded`) spent serving it.

use super::cost::{TargetCost, fmt_usd, unit_costs};
use super::format::sig;
use super::model::{ClientUsage, RunResult};
use super::table::{Align, Table};

/// The report's line for the in-process embedded endpoint's CPU, when it
/// ran in the s3bench process: reported apart, so "client CPU" is the
/// client's alone.
pub fn endpoint_cpu_line(c: &ClientUsage) -> Option<String> {
    let s = c.endpoint_cpu_s?;
    let per = c
        .endpoint_cpu_us_per_request
        .map(|u| format!(", {} µs per request", sig(u, 3)))
        .unwrap_or_default();
    Some(format!(
        "The embedded endpoint ran in this process and used {} s of CPU{per} serving the requests, \
         apart from (not in) the client CPU above.",
        sig(s, 3)
    ))
}

/// The cost section's comparison by unit of work: per million operations
/// of each measured phase's mix and per GiB read, so a target that did more
/// work (a closed loop on the faster one) is not made to look dearer.
pub fn unit_cost_table(md: &mut String, r: &RunResult, costs: &[TargetCost]) {
    let units = unit_costs(r, costs);
    if units.is_empty() {
        return;
    }
    let mut t = Table::numeric([
        "phase",
        "target",
        "ops",
        "per million ops of the mix",
        "per GiB read",
    ])
    .with_align(0, Align::Left)
    .with_align(1, Align::Left);
    for u in &units {
        t.push([
            u.phase.clone(),
            u.target.clone(),
            u.ops.to_string(),
            fmt_usd(u.per_million_ops),
            u.per_gib_read.map_or_else(|| "-".to_string(), fmt_usd),
        ]);
    }
    md.push_str(
        "Cost per unit of work, to compare the targets (the totals above are of unequal work \
         when one target did more operations in the same time):\n\n",
    );
    md.push_str(&t.render());
    md.push('\n');
}

/// How the tables count a conditional write or append that lost its race
/// (412, 409, 400 InvalidWriteOffset): the report's legend and the docs
/// say it in these words.
pub const CONDITIONAL_COUNTING: &str = "a conditional write or append that lost its race \
(412, 409 or InvalidWriteOffset) is an outcome: it is in `count` (attempts) and in `errors` \
(it wrote nothing), not in ops/s or the latency percentiles (successful writes only), and not \
in the failure warnings; the Conditional outcomes table splits it by code";

/// The legend's line on lost conditional races, when the run has any.
pub fn conditional_legend(md: &mut String, r: &RunResult) {
    let any = r
        .phases
        .iter()
        .flat_map(|p| &p.targets)
        .flat_map(|t| t.ops.values())
        .any(|o| o.failures.contains_key("conditional"));
    if any {
        md.push_str(&format!("- Conditional writes: {CONDITIONAL_COUNTING}.\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The docs say what the legend says about lost races.
    #[test]
    fn conditional_counting_is_said_the_same_in_the_docs() {
        let one = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let want = one(CONDITIONAL_COUNTING);
        for (name, text) in [
            ("README.md", include_str!("../../README.md")),
            (
                "docs/scenario-format.md",
                include_str!("../../docs/scenario-format.md"),
            ),
        ] {
            assert!(one(text).contains(&want), "{name} lacks: {want}");
        }
    }

    #[test]
    fn endpoint_cpu_is_said_apart_only_when_it_ran_in_process() {
        let mut c = ClientUsage {
            cpu_s: 0.5,
            cpu_us_per_request: 31.0,
            ..ClientUsage::default()
        };
        assert_eq!(endpoint_cpu_line(&c), None);
        c.endpoint_cpu_s = Some(19.4);
        c.endpoint_cpu_us_per_request = Some(1208.0);
        assert_eq!(
            endpoint_cpu_line(&c).unwrap(),
            "The embedded endpoint ran in this process and used 19.4 s of CPU, 1208 µs per request \
             serving the requests, apart from (not in) the client CPU above."
        );
    }
}
