//! `s3bench batch`: an AWS Batch job definition and an array-job submission
//! for one distributed run, as the JSON that `aws batch
//! register-job-definition --cli-input-json` and `aws batch submit-job
//! --cli-input-json` take. Batch sets `AWS_BATCH_JOB_ARRAY_INDEX` in each
//! child, which s3bench reads as the shard index
//! ([`super::shard_index_from_env`]). Batch has no ConfigMap: the scenario
//! travels in the `S3BENCH_SCENARIO_TOML` environment variable and the
//! shards run `s3bench run env:S3BENCH_SCENARIO_TOML`
//! ([`crate::scenario::read`]).

use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use super::S3Url;
use super::k8s::{estimated_duration, object_name, sizing};
use crate::exit::{ExitCode, Retry};
use crate::scenario::Plan;

/// Environment variable that carries the scenario text to Batch jobs.
pub const SCENARIO_ENV: &str = "S3BENCH_SCENARIO_TOML";
/// Largest scenario sent in the job definition; a job definition must stay
/// small (Batch rejects large requests), and scenarios are a few KiB.
pub const MAX_SCENARIO_BYTES: usize = 24 * 1024;

#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub shards: u32,
    pub image: String,
    pub job_queue: String,
    pub job_role_arn: Option<String>,
    pub results: S3Url,
    pub run_id: String,
    pub barrier_timeout: Duration,
}

/// The job definition and the submission, in that order.
pub fn documents(
    plan: &Plan,
    scenario_text: &str,
    o: &BatchOptions,
) -> anyhow::Result<(Value, Value)> {
    // An array job has 2 to 10,000 children.
    if !(2..=10_000).contains(&o.shards) {
        bail!(
            "--shards {} is outside what an AWS Batch array job runs (2 to 10000); \
             for one shard run `s3bench run` directly",
            o.shards
        );
    }
    if o.job_queue.trim().is_empty() {
        bail!("--job-queue is empty");
    }
    if o.image.trim().is_empty() || o.image.contains(char::is_whitespace) {
        bail!("--image {:?} is not an image reference", o.image);
    }
    if scenario_text.len() > MAX_SCENARIO_BYTES {
        bail!(
            "the scenario is {} bytes; a Batch job definition carries at most {MAX_SCENARIO_BYTES}: \
             shorten its comments",
            scenario_text.len()
        );
    }
    if let Some(arn) = &o.job_role_arn
        && !arn.starts_with("arn:")
    {
        bail!("--job-role-arn {arn:?} is not an ARN (arn:aws:iam::ACCOUNT:role/NAME)");
    }
    let name = object_name(&o.run_id);
    let size = sizing(plan);
    // A stuck shard must not hold instances forever: twice the estimate
    // plus 30 minutes, or 4 hours when phases end by op count.
    let attempt_timeout = estimated_duration(plan, o.barrier_timeout)
        .map(|d| d * 2 + Duration::from_secs(1800))
        .unwrap_or(Duration::from_secs(4 * 3600));
    let mut container = json!({
        "image": o.image,
        "command": [
            "run", format!("env:{SCENARIO_ENV}"),
            "--results", o.results.to_string(),
            "--barrier",
            "--barrier-timeout", humantime::format_duration(o.barrier_timeout).to_string(),
            "--out", "/tmp/s3bench-results",
            "--quiet",
        ],
        "environment": [
            { "name": SCENARIO_ENV, "value": scenario_text },
            { "name": "S3BENCH_RUN_ID", "value": o.run_id },
            { "name": "S3BENCH_SHARD_COUNT", "value": o.shards.to_string() },
        ],
        // Sized like the Kubernetes pods (see `k8s::sizing`): 1 vCPU per 64
        // requests in flight, 256 MiB + 2 MiB per request in flight.
        "resourceRequirements": [
            { "type": "VCPU", "value": size.cpus.to_string() },
            { "type": "MEMORY", "value": size.memory_mib.to_string() },
        ],
        "user": "10001",
        "readonlyRootFilesystem": false,
    });
    if let Some(arn) = &o.job_role_arn {
        container["jobRoleArn"] = json!(arn);
    }
    let definition = json!({
        "jobDefinitionName": name,
        "type": "container",
        "platformCapabilities": ["EC2"],
        "containerProperties": container,
        // Retry a child once (a crash while preparing), except bad input
        // (exit 2: the same every time) and the exit codes of a shard that
        // reached or gave up at the start barrier (see `retry_rules`):
        // a retry would start alone, after the others.
        "retryStrategy": {
            "attempts": 2,
            "evaluateOnExit": retry_rules(),
        },
        "timeout": { "attemptDurationSeconds": attempt_timeout.as_secs().max(60) },
        "propagateTags": true,
        "tags": { "s3bench:run-id": o.run_id },
    });
    let submit = json!({
        "jobName": name,
        "jobQueue": o.job_queue,
        "jobDefinition": name,
        "arrayProperties": { "size": o.shards },
        "tags": { "s3bench:run-id": o.run_id },
    });
    Ok((definition, submit))
}

/// Batch's `evaluateOnExit` (at most 5 rules, first match wins): retry a
/// child whose exit code says a retry helps (1: a crash while preparing, an
/// I/O error) or whose host went away, exit otherwise, so bad input (2) and
/// every code of a shard past the start barrier ([`Retry::PastBarrier`])
/// are not retried (the Kubernetes pod failure policy names them one by
/// one; Batch allows too few rules for that).
fn retry_rules() -> Value {
    let mut rules: Vec<Value> = ExitCode::with_retry(Retry::Helps)
        .into_iter()
        .map(|c| json!({ "onExitCode": c.to_string(), "action": "RETRY" }))
        .collect();
    rules.extend([
        json!({ "onStatusReason": "Host EC2*", "action": "RETRY" }),
        json!({ "onReason": "*", "action": "EXIT" }),
    ]);
    Value::Array(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> BatchOptions {
        BatchOptions {
            shards: 4,
            image: "123.dkr.ecr.us-east-1.amazonaws.com/s3bench:1".into(),
            job_queue: "bench".into(),
            job_role_arn: Some("arn:aws:iam::123:role/s3bench".into()),
            results: S3Url::parse("s3://res/runs/").unwrap(),
            run_id: "r1".into(),
            barrier_timeout: Duration::from_secs(600),
        }
    }

    #[test]
    fn cluster_batch_documents_carry_the_scenario_and_array_size() {
        let path = std::path::Path::new("scenarios/mixed.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let plan = crate::scenario::parse(&text, path).unwrap();
        let (def, submit) = documents(&plan, &text, &opts()).unwrap();
        assert_eq!(submit["arrayProperties"]["size"], 4);
        assert_eq!(submit["jobDefinition"], def["jobDefinitionName"]);
        let c = &def["containerProperties"];
        assert_eq!(c["image"], opts().image);
        assert_eq!(c["jobRoleArn"], "arn:aws:iam::123:role/s3bench");
        let env = c["environment"].as_array().unwrap();
        let get = |n: &str| env.iter().find(|e| e["name"] == n).unwrap()["value"].clone();
        assert_eq!(get(SCENARIO_ENV), text.as_str());
        assert_eq!(get("S3BENCH_SHARD_COUNT"), "4");
        assert_eq!(get("S3BENCH_RUN_ID"), "r1");
        let cmd: Vec<&str> = c["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            &cmd[..4],
            [
                "run",
                "env:S3BENCH_SCENARIO_TOML",
                "--results",
                "s3://res/runs/"
            ]
        );
        let rules = def["retryStrategy"]["evaluateOnExit"].as_array().unwrap();
        assert!(rules.len() <= 5, "Batch takes at most 5 rules");
        assert_eq!(rules[0]["onExitCode"], "1");
        assert_eq!(rules[0]["action"], "RETRY");
        assert_eq!(rules.last().unwrap()["action"], "EXIT");
        // mixed.toml: 16 workers.
        assert_eq!(c["resourceRequirements"][0]["value"], "1");
        assert_eq!(c["resourceRequirements"][1]["value"], "288");

        let mut one = opts();
        one.shards = 1;
        let e = documents(&plan, &text, &one).unwrap_err().to_string();
        assert!(e.contains("2 to 10000"), "{e}");
        let mut bad = opts();
        bad.job_role_arn = Some("s3bench".into());
        assert!(
            documents(&plan, &text, &bad)
                .unwrap_err()
                .to_string()
                .contains("not an ARN")
        );
    }
}
