//! The checked-in JSON Schema of `result.json`, kept in step with
//! [`crate::report::model`] by the tests below.

/// `schema/result.schema.json`, for tools that want to validate a result.
pub const RESULT_SCHEMA: &str = include_str!("../../schema/result.schema.json");

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::RESULT_SCHEMA;
    use crate::report::fixtures::{injected_result, interrupted_result, sample_result};
    use crate::report::merge::merge;
    use crate::report::model::{RunResult, SCHEMA_VERSION};

    fn schema() -> Value {
        serde_json::from_str(RESULT_SCHEMA).expect("schema/result.schema.json is valid JSON")
    }

    fn errors(instance: &Value) -> Vec<String> {
        let schema = schema();
        let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
        validator
            .iter_errors(instance)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    fn sharded() -> RunResult {
        let mut a = sample_result();
        a.hosts[0].shard = Some(0);
        let mut b = interrupted_result();
        b.phases = a.phases.clone();
        b.hosts[0].shard = Some(1);
        b.hosts[0].clock_offset = Some(crate::report::model::ClockOffset {
            offset_ms: -12.5,
            uncertainty_ms: 40.0,
            samples: 9,
        });
        b.hosts[0].measured_start_at = Some("2025-01-01T13:00:03.250Z".into());
        b.hosts[0].barrier = Some(crate::report::model::BarrierWait {
            waited_s: 2.5,
            last_arrival: 1,
            late_s: 0.0,
        });
        merge(&[a, b]).expect("fixtures merge")
    }

    /// Checks with and without a name, a value and a reason.
    fn judged() -> RunResult {
        use crate::check::{CheckSpec, Source, parse};
        let mut r = sample_result();
        let spec = |s: &str, name: Option<&str>| CheckSpec {
            check: parse(s).unwrap(),
            source: if name.is_some() {
                Source::Scenario
            } else {
                Source::Flag
            },
            name: name.map(str::to_string),
        };
        r.checks = crate::report::checks::judge(
            &[
                spec("*/get/p99 < 100ms", Some("GET SLO")),
                spec("express/copy/count > 0", None),
                spec("ratio/*/ops_per_sec >= 1", None),
            ],
            &r,
        );
        assert!(r.checks.iter().any(|c| c.value.is_none()));
        r
    }

    /// A replay phase's shape and lateness, and an op log (`--op-log`).
    fn replayed() -> RunResult {
        use crate::report::model::{Lateness, LoadShape, OpLogInfo};
        let mut r = sample_result();
        r.op_logs = vec![OpLogInfo {
            file: "ops.csv.gz".into(),
            shard: Some(2),
            rows: 1234,
            lost: 0,
            stalls: 1,
            stalled_ms: 0.5,
        }];
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        h.record(1_500_000).unwrap();
        r.phases[0].targets[0].lateness = Some(Lateness::from_histogram(&h));
        r.phases[0].shape = LoadShape::Replay {
            requests: 1010,
            file: "mine.replay.csv.gz".into(),
            speed: 1.0,
            spread: "even".into(),
            max_in_flight: 64,
            stop_after_s: Some(3.001),
            stop_after_ops: None,
        };
        r
    }

    #[test]
    fn real_results_validate() {
        // Together these exercise every Option both ways.
        for (name, r) in [
            ("sample", sample_result()),
            ("interrupted", interrupted_result()),
            ("injected", injected_result()),
            ("merged", sharded()),
            ("judged", judged()),
            ("loader, checkpoint and a GPU-hour price", {
                let mut r = crate::report::dataloader::tests::loader_run();
                r.gpu_hour_usd = Some(2.5);
                r.phases[0].targets[0].checkpoint =
                    Some(crate::report::checkpoint::tests::fixture());
                r
            }),
            (
                "loader seconds",
                crate::report::dataloader::tests::fixed_run(),
            ),
            ("replay with op log", replayed()),
        ] {
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(errors(&v), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn schema_rejects_unknown_missing_and_mistyped_fields() {
        let good = serde_json::to_value(sample_result()).unwrap();

        let mut extra = good.clone();
        extra["phases"][1]["targets"][0]["ops"]["get"]["surprise"] = 1.into();
        assert!(
            !errors(&extra).is_empty(),
            "an unknown field must not validate"
        );

        let mut missing = good.clone();
        missing["client"].as_object_mut().unwrap().remove("threads");
        assert!(
            !errors(&missing).is_empty(),
            "a missing field must not validate"
        );

        let mut mistyped = good.clone();
        mistyped["phases"][0]["targets"][0]["timeseries"][0]["count"] = "12".into();
        assert!(
            !errors(&mistyped).is_empty(),
            "a string count must not validate"
        );

        let mut newer = good;
        newer["schema_version"] = (SCHEMA_VERSION + 1).into();
        assert!(!errors(&newer).is_empty(), "the schema is for one version");
    }

    /// serde writes every field (None as null), so the schema must require
    /// every property it declares; otherwise it would describe a looser
    /// format than s3bench writes.
    #[test]
    fn every_declared_property_is_required() {
        fn walk(path: &str, v: &Value, out: &mut Vec<String>) {
            if let Some(obj) = v.as_object() {
                if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                    let required: Vec<&str> = obj
                        .get("required")
                        .and_then(Value::as_array)
                        .map(|r| r.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    for k in props.keys() {
                        if !required.contains(&k.as_str()) {
                            out.push(format!("{path}.{k}"));
                        }
                    }
                    if obj.get("additionalProperties") != Some(&Value::Bool(false)) {
                        out.push(format!("{path}: additionalProperties is not false"));
                    }
                }
                for (k, child) in obj {
                    walk(&format!("{path}/{k}"), child, out);
                }
            }
        }
        let mut loose = Vec::new();
        walk("#", &schema(), &mut loose);
        assert_eq!(loose, Vec::<String>::new());
    }

    /// The schema names every op of the op table, in its order, and no
    /// other: an op added to `op_vocabulary!` without a schema entry fails.
    #[test]
    fn schema_op_keys_are_the_op_table() {
        let keys: Vec<&str> = crate::s3::OpKind::ALL.iter().map(|o| o.key()).collect();
        let schema = schema();
        let listed: Vec<&str> = schema["$defs"]["OpKey"]["enum"]
            .as_array()
            .expect("$defs.OpKey.enum")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(listed, keys);
        // An op key outside the table does not validate.
        let mut v = serde_json::to_value(sample_result()).unwrap();
        let get = v["phases"][1]["targets"][0]["ops"]["get"].clone();
        v["phases"][1]["targets"][0]["ops"]["select"] = get;
        assert!(!errors(&v).is_empty());
    }

    /// A stored schema-2 result, read (converted) and written again, is a
    /// valid result of this version.
    #[test]
    fn schema_a_converted_v2_result_validates() {
        let r =
            crate::report::json::parse_result(include_str!("../../tests/fixtures/v2-result.json"))
                .unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(errors(&v), Vec::<String>::new());
    }

    #[test]
    fn schema_version_matches_the_model() {
        assert_eq!(
            schema()["properties"]["schema_version"]["const"],
            SCHEMA_VERSION
        );
    }
}
