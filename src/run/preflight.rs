//! Preflight: before anything is written, the checks of `s3bench doctor`
//! ([`crate::doctor::check_target_in`]) on every target, in the run's scope:
//! the run prefix must be empty and the probe object goes under it. A check
//! that fails stops the run with its sentence; a warning (clock skew, the
//! client in another zone than a directory bucket, no conditional writes)
//! goes into the report. The requests the checks send are reported per
//! target (`preflight_requests`), so the endpoint's counts reconcile with
//! the report's.

use std::collections::BTreeMap;

use crate::client::TargetConfig;
use crate::doctor::{Environment, Scope, check_target_in};

/// A target is unreachable, the credentials are wrong or a bucket is
/// missing: found before the run starts, one sentence per problem.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PreflightError(pub String);

/// What the preflight of one target learnt.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// Sentences for the report's warnings.
    pub warnings: Vec<String>,
    /// Requests the checks sent, by S3 operation name (CreateSession included).
    pub requests: BTreeMap<String, u64>,
    /// The endpoint honours `If-None-Match: *`: prepare writes create-only.
    pub conditional_writes: bool,
}

/// Checks one target; `Err` holds the sentences that say what is wrong.
pub async fn check(
    t: &TargetConfig,
    env: &Environment,
    run_prefix: &str,
    resume: bool,
) -> Result<Preflight, String> {
    let checked = check_target_in(
        t,
        env,
        Scope::Run {
            prefix: run_prefix,
            resume,
        },
    )
    .await;
    // Every CreateSession of the checks' client, the SDK's own included;
    // none of them belongs to a phase.
    let sessions = t.probe.take().count;
    let errors: Vec<&str> = checked
        .findings
        .iter()
        .filter(|f| f.is_error())
        .map(|f| f.sentence.as_str())
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let mut requests = checked.requests;
    if sessions > 0 {
        requests.insert("CreateSession".to_string(), sessions);
    }
    Ok(Preflight {
        warnings: checked
            .findings
            .iter()
            .filter(|f| f.severity == crate::doctor::Severity::Warn)
            .map(|f| format!("{}.", f.sentence.trim_end_matches('.')))
            .collect(),
        requests,
        conditional_writes: checked.conditional_writes == Some(true),
    })
}
