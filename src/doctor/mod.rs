//! First run on a real account: `s3bench setup` (create a matching General
//! Purpose / directory bucket pair), `s3bench doctor` and the checks the
//! run's preflight shares with it.
//!
//! Every check ends in one [`Finding`]: a severity and one sentence that
//! names the target and says what to fix. Credentials never appear in a
//! sentence; only the name of the provider of aws-config's chain that
//! supplied them.

mod checks;
mod imds;
pub mod setup;
mod tls;

use std::fmt;

pub use checks::{
    Checked, NO_CREDENTIALS_HINT, Scope, check_reach, check_target, check_target_in,
    validate_session, validate_session_credentials,
};
pub use imds::client_zone_id;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The check passed.
    Ok,
    /// The run works but its numbers may mislead (cross-AZ, clock drift).
    Warn,
    /// The run would fail or measure nothing meaningful.
    Error,
    /// The check could not be made here; the sentence says why and what
    /// would make it (not counted as a warning).
    Skip,
}

/// One check's outcome: a severity and one sentence naming what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Which check (`credentials`, `bucket`, `region`, `kind`,
    /// `create-session`, `probe`, `clock`, `zone`, `tls`), for callers that
    /// filter.
    pub check: &'static str,
    pub sentence: String,
}

impl Finding {
    pub(crate) fn new(severity: Severity, check: &'static str, sentence: String) -> Finding {
        Finding {
            severity,
            check,
            sentence,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Ok => "ok",
            Severity::Warn => "warn",
            Severity::Error => "error",
            Severity::Skip => "skip",
        };
        write!(f, "{tag:>5}: {}", self.sentence)
    }
}

/// What the checks learn once per machine rather than per target.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// This client's Availability Zone ID (`use1-az4`) from EC2 instance
    /// metadata; None off EC2/EKS or when IMDS does not answer in time.
    pub client_zone: Option<String>,
    /// The targets are the embedded endpoint: no zone, no TLS (`doctor
    /// --embedded` says so once, not per target).
    pub embedded: bool,
}

impl Environment {
    /// Asks IMDSv2 for the zone ID (about 300 ms at most when absent).
    pub async fn detect() -> Environment {
        Environment {
            client_zone: client_zone_id().await,
            embedded: false,
        }
    }

    /// [`detect`](Self::detect) for real targets; for the embedded
    /// endpoint, whose buckets live on this machine, nothing (no zone to
    /// compare).
    pub async fn for_targets(embedded: bool) -> Environment {
        if embedded {
            Environment {
                client_zone: None,
                embedded: true,
            }
        } else {
            Environment::detect().await
        }
    }
}

/// What `s3bench doctor` found, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub targets: usize,
    pub errors: usize,
    pub warnings: usize,
}

/// `s3bench doctor`: runs every check on every target of `plan` (on a
/// freshly started embedded endpoint when the plan says `embedded`),
/// handing each finding to `found` as it comes.
pub async fn check_plan(
    plan: &crate::plan::RunPlan,
    mut found: impl FnMut(&Finding),
) -> anyhow::Result<Summary> {
    let resolved = crate::targets::resolve(&plan.scenario, plan.embedded).await?;
    let env = Environment::for_targets(resolved.is_embedded()).await;
    let mut summary = Summary {
        targets: resolved.configs.len(),
        ..Summary::default()
    };
    for t in &resolved.configs {
        for f in check_target(t, &env).await {
            match f.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warn => summary.warnings += 1,
                Severity::Ok | Severity::Skip => {}
            }
            found(&f);
        }
    }
    resolved.shutdown();
    Ok(summary)
}
