//! Results of an older schema version, read into today's model. Only
//! forward: s3bench reads a stored schema-2 `result.json` (so `report`,
//! `compare` and `merge` keep working on it) and never writes one.
//!
//! Version 2 had no phase role and described each phase's load only in its
//! human label, so both are recovered here from what version 2 wrote: the
//! run's own setup phases by their names and fixed labels, the stages of a
//! measured phase from its label (the one place labels are parsed, and only
//! labels written by that version). A label this cannot read becomes
//! [`LoadShape::Unknown`]; the label itself is kept for the report.

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::report::model::{GpStandIn, LoadShape, PhaseRole, SCHEMA_VERSION, StageShape};

/// The names version 2 gave the run's own phases.
const V2_PREPARE: &str = "prepare";
const V2_CLEANUP: &str = "cleanup";
/// The label version 2 gave its cleanup phase.
const V2_CLEANUP_LABEL: &str = "list and delete everything under the run prefix";

/// Turns a schema-2 result (as JSON) into the layout of this version.
pub fn from_v2(mut value: Value) -> anyhow::Result<Value> {
    let Some(phases) = value.get_mut("phases").and_then(Value::as_array_mut) else {
        bail!("it has no `phases` list");
    };
    for (i, p) in phases.iter_mut().enumerate() {
        let Some(p) = p.as_object_mut() else {
            bail!("phases[{i}] is not an object");
        };
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let label = p.get("load").and_then(Value::as_str).unwrap_or_default();
        let (role, shape) = role_and_shape(name, label);
        p.insert("role".into(), serde_json::to_value(role)?);
        p.insert(
            "shape".into(),
            serde_json::to_value(shape).context("a load shape always serializes")?,
        );
        for t in p
            .get_mut("targets")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for map in ["ops", "warmup"] {
                for o in t
                    .get_mut(map)
                    .and_then(Value::as_object_mut)
                    .into_iter()
                    .flat_map(|m| m.values_mut())
                {
                    throttle_statuses(o);
                }
            }
        }
    }
    value["schema_version"] = SCHEMA_VERSION.into();
    Ok(value)
}

/// Version 2 kept no statuses per failure group; its client put exactly
/// the 503 and 429 answers in `throttled`, and their kinds start with the
/// status (`503 SlowDown`, `429 TooManyRequests`), so the group's statuses
/// are those kinds' counts.
fn throttle_statuses(op: &mut Value) {
    let mut statuses = serde_json::Map::new();
    for (kind, n) in op
        .get("errors_by_kind")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let status = kind.split(' ').next().unwrap_or_default();
        if matches!(status, "503" | "429") {
            let sum = statuses.get(status).and_then(Value::as_u64).unwrap_or(0);
            statuses.insert(status.into(), (sum + n.as_u64().unwrap_or(0)).into());
        }
    }
    if let Some(group) = op
        .get_mut("failures")
        .and_then(|f| f.get_mut("throttled"))
        .and_then(Value::as_object_mut)
    {
        group.insert("statuses".into(), Value::Object(statuses));
    }
}

/// A version-2 phase's role and shape. A measured phase could be named
/// like a setup phase then (the reason version 3 refuses such names), so
/// a setup phase is one with the setup name *and* the label version 2
/// wrote for it.
fn role_and_shape(name: &str, label: &str) -> (PhaseRole, LoadShape) {
    if name == V2_CLEANUP && label == V2_CLEANUP_LABEL {
        return (PhaseRole::Setup, LoadShape::Cleanup);
    }
    if name == V2_PREPARE
        && let Some(shape) = prepare_shape(label)
    {
        return (PhaseRole::Setup, shape);
    }
    (
        PhaseRole::Measured,
        stages_shape(label).unwrap_or(LoadShape::Unknown),
    )
}

/// "write 16 objects, 16 at once".
fn prepare_shape(label: &str) -> Option<LoadShape> {
    let rest = label.strip_prefix("write ")?;
    let (objects, rest) = rest.split_once(" objects, ")?;
    let concurrency = rest.strip_suffix(" at once")?;
    Some(LoadShape::Prepare {
        objects: objects.parse().ok()?,
        concurrency: concurrency.parse().ok()?,
    })
}

/// Version 2's stage labels: `closed loop, 16 workers`, `open loop, 150
/// req/s, at most 64 in flight`, or `stages: <stage> for 6s; <stage> for
/// 1.5s`, followed by `; on General Purpose targets <stand-in>` per stand-in.
fn stages_shape(label: &str) -> Option<LoadShape> {
    const STAND_INS: [(&str, GpStandIn); 2] = [
        (
            "; on General Purpose targets append is a full rewrite of the object",
            GpStandIn::AppendRewrite,
        ),
        (
            "; on General Purpose targets rename is CopyObject + DeleteObject",
            GpStandIn::RenameCopyDelete,
        ),
    ];
    let mut body = label;
    let mut gp_stand_ins = Vec::new();
    // Appended in mix order: take them off the end one by one.
    while let Some((b, stand_in)) = STAND_INS
        .iter()
        .find_map(|(text, s)| body.strip_suffix(text).map(|b| (b, *s)))
    {
        body = b;
        gp_stand_ins.insert(0, stand_in);
    }
    let stages = match body.strip_prefix("stages: ") {
        Some(list) => list
            .split("; ")
            .map(|part| {
                let (stage, d) = part.rsplit_once(" for ")?;
                stage_shape(stage, Some(debug_duration_s(d)?))
            })
            .collect::<Option<Vec<_>>>()?,
        None => vec![stage_shape(body, None)?],
    };
    Some(LoadShape::Stages {
        stages,
        warmup_s: None,
        stop_after_s: None,
        stop_after_ops: None,
        gp_stand_ins,
        mix: Vec::new(),
    })
}

fn stage_shape(s: &str, duration_s: Option<f64>) -> Option<StageShape> {
    if let Some(rest) = s.strip_prefix("closed loop, ") {
        let n = rest.strip_suffix(" workers")?;
        return Some(StageShape::Closed {
            concurrency: n.parse().ok()?,
            duration_s,
        });
    }
    let rest = s.strip_prefix("open loop, ")?;
    let (rate, rest) = rest.split_once(" req/s, at most ")?;
    let max = rest.strip_suffix(" in flight")?;
    Some(StageShape::Open {
        rate: rate.parse().ok()?,
        max_in_flight: max.parse().ok()?,
        duration_s,
    })
}

/// `Duration`'s Debug form, as version 2 wrote stage durations ("6s",
/// "1.5s", "500ms", "250µs").
fn debug_duration_s(s: &str) -> Option<f64> {
    for (unit, scale) in [("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9), ("s", 1.0)] {
        if let Some(n) = s.strip_suffix(unit) {
            return n.parse::<f64>().ok().map(|v| v * scale);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_reads_every_label_version_2_wrote() {
        assert_eq!(
            role_and_shape("prepare", "write 16 objects, 8 at once"),
            (
                PhaseRole::Setup,
                LoadShape::Prepare {
                    objects: 16,
                    concurrency: 8
                }
            )
        );
        assert_eq!(
            role_and_shape("cleanup", V2_CLEANUP_LABEL),
            (PhaseRole::Setup, LoadShape::Cleanup)
        );
        let (role, shape) = role_and_shape(
            "ramp",
            "stages: closed loop, 4 workers for 1.5s; open loop, 50 req/s, at most 8 in flight for 500ms",
        );
        assert_eq!(role, PhaseRole::Measured);
        let LoadShape::Stages { stages, .. } = &shape else {
            panic!("{shape:?}")
        };
        assert_eq!(
            stages,
            &[
                StageShape::Closed {
                    concurrency: 4,
                    duration_s: Some(1.5)
                },
                StageShape::Open {
                    rate: 50.0,
                    max_in_flight: 8,
                    duration_s: Some(0.5)
                }
            ]
        );
        assert_eq!(
            shape.offered_schedule(),
            Some(vec![(None, Some(1.5)), (Some(50.0), Some(0.5))])
        );
        let (_, shape) = role_and_shape(
            "commit",
            "open loop, 200 req/s, at most 64 in flight; on General Purpose targets append is a full rewrite of the object; on General Purpose targets rename is CopyObject + DeleteObject",
        );
        let LoadShape::Stages {
            stages,
            gp_stand_ins,
            ..
        } = shape
        else {
            panic!()
        };
        assert_eq!(
            gp_stand_ins,
            [GpStandIn::AppendRewrite, GpStandIn::RenameCopyDelete]
        );
        assert_eq!(stages[0].rate(), Some(200.0));
    }

    #[test]
    fn upgrade_keeps_a_measured_phase_named_like_setup_measured() {
        // Version 2 let a scenario phase be called `cleanup`; its label is a
        // load's, so it stays measured.
        let (role, shape) = role_and_shape("cleanup", "closed loop, 2 workers");
        assert_eq!(role, PhaseRole::Measured);
        assert!(matches!(shape, LoadShape::Stages { .. }));
        // A loader's label (or anything else) is an unknown shape.
        let (role, shape) = role_and_shape(
            "train",
            "loader: 2 simulated accelerators, batches of 2 samples (whole objects), 5ms compute per batch, 2 batches read ahead, 2 reads in flight per accelerator",
        );
        assert_eq!((role, shape), (PhaseRole::Measured, LoadShape::Unknown));
        assert_eq!(
            role_and_shape("x", "closed loop, many workers").1,
            LoadShape::Unknown
        );
    }
}
