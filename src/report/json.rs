//! `result.json`: the stored form of a [`RunResult`].

use std::path::Path;

use anyhow::{Context as _, bail};

use crate::report::model::{LatencySummary, OpResult, RunResult, SCHEMA_VERSION};

/// The result as pretty-printed JSON.
///
/// JSON has no NaN or infinity and serde_json would write `null`, which the
/// model cannot read back; so a non-finite number (a division by zero
/// upstream) is written as 0, and a non-finite optional number as absent.
pub fn to_json(r: &RunResult) -> String {
    let mut r = r.clone();
    make_finite(&mut r);
    // Every field is a plain struct, map, string or number: serializing cannot fail.
    serde_json::to_string_pretty(&r).expect("a RunResult always serializes to JSON")
}

fn finite(v: &mut f64) {
    if !v.is_finite() {
        *v = 0.0;
    }
}

fn finite_summary(s: &mut LatencySummary) {
    for v in [
        &mut s.min,
        &mut s.mean,
        &mut s.p50,
        &mut s.p90,
        &mut s.p99,
        &mut s.p999,
        &mut s.max,
    ] {
        finite(v);
    }
}

fn finite_op(o: &mut OpResult) {
    finite(&mut o.ops_per_sec);
    finite(&mut o.mib_per_sec);
    finite_summary(&mut o.latency_us);
    o.ttfb_us.iter_mut().for_each(finite_summary);
    o.service_us.iter_mut().for_each(finite_summary);
}

fn make_finite(r: &mut RunResult) {
    finite(&mut r.client.cpu_s);
    finite(&mut r.client.cpu_us_per_request);
    r.client.host_cpu_percent = r.client.host_cpu_percent.filter(|p| p.is_finite());
    for t in r.phases.iter_mut().flat_map(|p| p.targets.iter_mut()) {
        finite(&mut t.elapsed_s);
        t.ops
            .values_mut()
            .chain(t.warmup.values_mut())
            .for_each(finite_op);
        t.sessions.latency_us.iter_mut().for_each(finite_summary);
        for round in &mut t.rounds {
            finite(&mut round.elapsed_s);
            for o in round.ops.values_mut() {
                finite(&mut o.ops_per_sec);
                finite(&mut o.p50);
                finite(&mut o.p99);
            }
        }
        for s in &mut t.timeseries {
            finite(&mut s.p50);
            finite(&mut s.p99);
        }
    }
}

/// Reads a stored result, refusing files that are not s3bench results or
/// that a newer s3bench wrote in a layout this one does not know.
pub fn read_result(path: &Path) -> anyhow::Result<RunResult> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read result file {}", path.display()))?;
    parse_result(&text)
        .with_context(|| format!("{} is not a usable s3bench result", path.display()))
}

/// Parses a result from JSON text; see [`read_result`].
pub fn parse_result(text: &str) -> anyhow::Result<RunResult> {
    let value: serde_json::Value = serde_json::from_str(text).context("it is not valid JSON")?;
    let Some(version) = value.get("schema_version") else {
        bail!("it has no `schema_version` field, so it is not an s3bench result");
    };
    let Some(version) = version.as_u64() else {
        bail!("its `schema_version` is {version}, not a version number");
    };
    if version > u64::from(SCHEMA_VERSION) {
        bail!(
            "it has schema version {version}, newer than the version {SCHEMA_VERSION} this s3bench reads; \
             use a newer s3bench"
        );
    }
    if version == 1 {
        // Reading it as version 2 would present failures' latencies as
        // successes' (version 1 mixed them), so refuse rather than misread.
        bail!(
            "it has schema version 1, whose latency percentiles and ops/s include failed requests; \
             this s3bench (schema version {SCHEMA_VERSION}) keeps failures apart and will not misread it: \
             re-run the scenario, or read it with s3bench 0.1"
        );
    }
    let value = if version == 2 {
        // Read forward into this version's model; never written back as 2.
        crate::report::upgrade::from_v2(value)
            .and_then(|v| Ok(serde_json::from_value(v)?))
            .context("its fields do not match the result layout of schema version 2")?
    } else if version < u64::from(SCHEMA_VERSION) {
        bail!(
            "it has schema version {version}, older than the version {SCHEMA_VERSION} this s3bench reads"
        );
    } else {
        serde_json::from_value(value).context("its fields do not match the result layout")?
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_result;

    fn chain(e: &anyhow::Error) -> String {
        format!("{e:#}")
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        let r = sample_result();
        std::fs::write(&path, to_json(&r)).unwrap();
        assert_eq!(read_result(&path).unwrap(), r);
    }

    #[test]
    fn non_finite_numbers_still_read_back() {
        let mut r = sample_result();
        let t = &mut r.phases[1].targets[0];
        t.elapsed_s = f64::NAN;
        t.ops.get_mut("get").unwrap().ops_per_sec = f64::INFINITY;
        t.ops.get_mut("get").unwrap().ttfb_us.as_mut().unwrap().p99 = f64::NAN;
        t.rounds[0].ops.get_mut("get").unwrap().p50 = f64::NEG_INFINITY;
        t.timeseries[0].p99 = f64::NAN;
        r.client.host_cpu_percent = Some(f64::NAN);
        let back = parse_result(&to_json(&r)).unwrap();
        let t = &back.phases[1].targets[0];
        assert_eq!(t.elapsed_s, 0.0);
        assert_eq!(t.ops["get"].ops_per_sec, 0.0);
        assert_eq!(t.ops["get"].ttfb_us.unwrap().p99, 0.0);
        assert_eq!(t.rounds[0].ops["get"].p50, 0.0);
        assert_eq!(t.timeseries[0].p99, 0.0);
        assert_eq!(back.client.host_cpu_percent, None);
        // Finite numbers are untouched.
        assert_eq!(
            t.ops["put"],
            sample_result().phases[1].targets[0].ops["put"]
        );
    }

    /// A real result written by the s3bench of schema version 2 reads into
    /// this version's model: roles and shapes recovered, numbers untouched.
    #[test]
    fn reads_a_stored_version_2_result() {
        use crate::report::model::{LoadShape, PhaseRole, StageShape};
        let text = include_str!("../../tests/fixtures/v2-result.json");
        let r = parse_result(text).unwrap();
        assert_eq!(r.schema_version, SCHEMA_VERSION);
        let roles: Vec<(&str, PhaseRole)> =
            r.phases.iter().map(|p| (p.name.as_str(), p.role)).collect();
        assert_eq!(
            roles,
            [
                ("prepare", PhaseRole::Setup),
                ("steady", PhaseRole::Measured),
                ("ramp", PhaseRole::Measured),
                ("train", PhaseRole::Measured),
                ("cleanup", PhaseRole::Setup),
            ]
        );
        assert_eq!(
            r.phases[0].shape,
            LoadShape::Prepare {
                objects: 16,
                concurrency: 16
            }
        );
        let LoadShape::Stages { stages, .. } = &r.phases[2].shape else {
            panic!("{:?}", r.phases[2].shape)
        };
        assert_eq!(
            stages,
            &[
                StageShape::Open {
                    rate: 60.0,
                    max_in_flight: 16,
                    duration_s: Some(1.0)
                },
                StageShape::Open {
                    rate: 300.0,
                    max_in_flight: 32,
                    duration_s: Some(1.0)
                }
            ]
        );
        assert_eq!(r.phases[3].shape, LoadShape::Unknown);
        assert_eq!(r.phases[4].shape, LoadShape::Cleanup);
        // Throttled failures get the statuses their kinds name.
        let head = &r.phases[1].targets[0].ops["head"];
        assert_eq!(
            head.failures["throttled"].statuses,
            [(503, head.errors_by_kind["503"])].into()
        );
        // The labels and numbers are what version 2 wrote.
        let raw: serde_json::Value = serde_json::from_str(text).unwrap();
        for (p, raw) in r.phases.iter().zip(raw["phases"].as_array().unwrap()) {
            assert_eq!(p.load, raw["load"].as_str().unwrap());
            let get = &raw["targets"][0]["ops"]["get"];
            if let Some(o) = p.targets[0].ops.get("get") {
                assert_eq!(o.count, get["count"].as_u64().unwrap());
            }
        }
        // Written again, it is a version-3 result that reads back the same.
        assert_eq!(parse_result(&to_json(&r)).unwrap(), r);
    }

    #[test]
    fn refuses_a_newer_version_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("future.json");
        let mut v = serde_json::to_value(sample_result()).unwrap();
        v["schema_version"] = (SCHEMA_VERSION + 1).into();
        std::fs::write(&path, v.to_string()).unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(e.contains("future.json"), "{e}");
        assert!(e.contains("newer"), "{e}");
    }

    #[test]
    fn refuses_other_json_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("package.json");
        std::fs::write(&path, r#"{"name": "left-pad"}"#).unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(
            e.contains("package.json") && e.contains("not an s3bench result"),
            "{e}"
        );

        std::fs::write(&path, "not json").unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(
            e.contains("package.json") && e.contains("not valid JSON"),
            "{e}"
        );

        std::fs::write(&path, r#"{"schema_version": "1"}"#).unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(e.contains("not a version number"), "{e}");

        std::fs::write(&path, r#"{"schema_version": 1, "run_id": 3}"#).unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(
            e.contains("schema version 1") && e.contains("failed requests"),
            "{e}"
        );

        std::fs::write(&path, r#"{"schema_version": 2, "run_id": 3}"#).unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(
            e.contains("do not match the result layout of schema version 2"),
            "{e}"
        );

        std::fs::write(&path, r#"{"schema_version": 3, "run_id": 3}"#).unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(e.contains("do not match the result layout"), "{e}");
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let e = chain(&read_result(Path::new("/nonexistent/result.json")).unwrap_err());
        assert!(
            e.contains("cannot read result file /nonexistent/result.json"),
            "{e}"
        );
    }
}
