//! A phase's op mix as the scenario configured it (`LoadShape::Stages::mix`
//! in result.json): the Load line's "mix 70% GET (64 KiB - 1 MiB), 30%
//! HEAD", and the label of each op with the sizes it was configured with
//! ("GET 64 KiB - 1 MiB"), not the mean size it happened to move.

use crate::report::model::{LoadShape, MixOp, OpResult, PhaseResult};

/// The mix's ops with the same key merged (two GET entries are one GET of
/// both weights), in scenario order; sizes that differ joined with " / ".
fn merged(mix: &[MixOp]) -> Vec<MixOp> {
    let mut out: Vec<MixOp> = Vec::new();
    for m in mix {
        match out.iter_mut().find(|o| o.op == m.op) {
            Some(o) => {
                o.weight += m.weight;
                if let Some(s) = &m.size {
                    match &mut o.size {
                        Some(have) if have.split(" / ").any(|h| h == s) => {}
                        Some(have) => {
                            have.push_str(" / ");
                            have.push_str(s);
                        }
                        None => o.size = Some(s.clone()),
                    }
                }
            }
            None => out.push(m.clone()),
        }
    }
    out
}

fn mix_of(shape: &LoadShape) -> &[MixOp] {
    match shape {
        LoadShape::Stages { mix, .. } => mix,
        _ => &[],
    }
}

/// The op as a reader names it: `ranged_get` -> "RANGED GET".
fn op_name(op: &str) -> String {
    op.replace('_', " ").to_uppercase()
}

/// "mix 70% GET (64 KiB - 1 MiB), 20% PUT (4 MiB), 10% HEAD": each op's
/// share of the weights as configured. None when the result did not record
/// a mix (written before it was, or a loader, checkpoint or replay phase).
pub fn mix_label(shape: &LoadShape) -> Option<String> {
    let ops = merged(mix_of(shape));
    let total: u64 = ops.iter().map(|m| u64::from(m.weight)).sum();
    if total == 0 {
        return None;
    }
    let parts: Vec<String> = ops
        .iter()
        .map(|m| {
            let share = f64::from(m.weight) * 100.0 / total as f64;
            // Whole percents from 10% ("38%"), never rounded up to 100%
            // ("99.7%"); two significant digits below ("6.3%", "0.30%").
            let share = if (99.5..100.0).contains(&share) {
                format!("{}%", crate::report::format::sig(share, 3))
            } else if share >= 10.0 {
                format!("{share:.0}%")
            } else {
                format!("{}%", crate::report::format::sig(share, 2))
            };
            match &m.size {
                Some(s) => format!("{share} {} ({s})", op_name(&m.op)),
                None => format!("{share} {}", op_name(&m.op)),
            }
        })
        .collect();
    Some(format!("mix {}", parts.join(", ")))
}

/// The sizes `op` was configured with in phase `p`, if the result recorded
/// them.
pub fn configured_size(p: &PhaseResult, op: &str) -> Option<String> {
    // A loader reads its records with ranged GETs of the configured size.
    if let LoadShape::Dataloader {
        record_bytes: Some(b),
        ..
    } = p.shape
        && op == "ranged_get"
    {
        return Some(crate::units::format_bytes(b));
    }
    merged(mix_of(&p.shape))
        .into_iter()
        .find(|m| m.op == op)
        .and_then(|m| m.size)
}

/// "GET 64 KiB - 1 MiB": the op with the sizes it was configured with; a
/// result without them (older result.json, or an op outside the mix) falls
/// back to [`crate::report::headline::op_label`] (the size it moved).
pub fn op_label(p: &PhaseResult, op: &str, o: &OpResult) -> String {
    match configured_size(p, op) {
        Some(s) => format!("{} {s}", op_name(op)),
        None => crate::report::headline::op_label(op, o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::StageShape;

    fn m(op: &str, weight: u32, size: Option<&str>) -> MixOp {
        MixOp {
            op: op.into(),
            weight,
            size: size.map(str::to_string),
        }
    }

    pub(crate) fn stages(mix: Vec<MixOp>) -> LoadShape {
        LoadShape::Stages {
            stages: vec![StageShape::Closed {
                concurrency: 16,
                duration_s: None,
            }],
            warmup_s: Some(0.0),
            stop_after_s: None,
            stop_after_ops: None,
            gp_stand_ins: Vec::new(),
            mix,
        }
    }

    #[test]
    fn mix_label_says_shares_and_sizes_in_scenario_order() {
        let shape = stages(vec![
            m("get", 7, Some("64 KiB - 1 MiB")),
            m("put", 2, Some("4 MiB")),
            m("head", 1, None),
        ]);
        assert_eq!(
            mix_label(&shape).unwrap(),
            "mix 70% GET (64 KiB - 1 MiB), 20% PUT (4 MiB), 10% HEAD"
        );
    }

    #[test]
    fn mix_label_merges_one_op_configured_twice() {
        let shape = stages(vec![
            m("get", 1, Some("1 MiB")),
            m("get", 1, Some("4 MiB")),
            m("get", 1, Some("1 MiB")),
            m("delete", 997, None),
        ]);
        assert_eq!(
            mix_label(&shape).unwrap(),
            "mix 0.30% GET (1 MiB / 4 MiB), 99.7% DELETE"
        );
    }

    #[test]
    fn no_mix_recorded_no_label_and_the_old_op_label() {
        assert_eq!(mix_label(&stages(Vec::new())), None);
        assert_eq!(mix_label(&LoadShape::Cleanup), None);
        let mut p = crate::report::fixtures::sample_result().phases[1].clone();
        p.shape = stages(Vec::new());
        let (op, o) = p.targets[0].ops.iter().next().unwrap();
        assert_eq!(
            op_label(&p, op, o),
            crate::report::headline::op_label(op, o)
        );
    }

    #[test]
    fn op_label_names_the_configured_sizes_not_the_mean() {
        let mut p = crate::report::fixtures::sample_result().phases[1].clone();
        let (op, o) = p.targets[0]
            .ops
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap();
        p.shape = stages(vec![m(&op, 1, Some("64 KiB - 1 MiB"))]);
        assert_eq!(
            op_label(&p, &op, &o),
            format!("{} 64 KiB - 1 MiB", op_name(&op))
        );
        assert_eq!(configured_size(&p, "no_such_op"), None);
        p.shape = LoadShape::Dataloader {
            accelerators: 4,
            search: false,
            batch_size: 8,
            record_bytes: Some(1 << 20),
            compute_s: 0.05,
            prefetch: 2,
            read_concurrency: 4,
            epochs: None,
            au_target: 0.9,
            duration_s: None,
        };
        assert_eq!(configured_size(&p, "ranged_get").unwrap(), "1 MiB");
        assert_eq!(configured_size(&p, "get"), None);
    }
}
