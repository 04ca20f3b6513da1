//! The run plan: a scenario and the flags of one invocation (`--duration`,
//! `--rounds`, `--embedded`, `--threads`, the run id, the shard, ...),
//! checked and combined once ([`RunPlan::new`]), so the cost question,
//! `plan`, `doctor` and `run` all read the same thing (ripgrep's low args ->
//! high args). Needs no network.

mod options;
pub mod run_id;
mod shard;

use std::path::Path;
use std::time::SystemTime;

use crate::scenario::{Load, Plan};

pub use options::{
    DEFAULT_BARRIER_TIMEOUT, DEFAULT_METRICS_LINGER, OptionsError, RunOptions, StartAtError,
    validate_start_at,
};
pub use shard::{
    SHARD_INDEX_VARS, Shard, ShardEnvError, shard_from, shard_index_from, shard_index_from_env,
};

/// What one invocation will do, validated.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The scenario with the flags' overrides applied: `--duration` on
    /// every measured phase, `--rounds`.
    pub scenario: Plan,
    /// Every target on a freshly started embedded endpoint instead of the
    /// scenario's own (`--embedded`).
    pub embedded: bool,
    /// The run id: `--run-id`, or one generated from the scenario's name.
    pub run_id: String,
    /// The flags as given.
    pub options: RunOptions,
    /// The checks to judge the result on: the scenario's `[[check]]` tables,
    /// then `--check`, each checked against the scenario's names.
    pub checks: Vec<crate::check::CheckSpec>,
}

impl RunPlan {
    /// Checks the flags and applies them to `scenario`.
    pub fn new(
        mut scenario: Plan,
        embedded: bool,
        options: RunOptions,
    ) -> Result<RunPlan, OptionsError> {
        options.validate()?;
        if let Some(d) = options.duration {
            scenario.override_duration(d);
        }
        if let Some(r) = options.rounds {
            scenario.rounds = r;
        }
        let run_id = match &options.run_id {
            Some(id) => id.clone(),
            None => run_id::generate(&scenario.name, SystemTime::now()),
        };
        run_id::check(&run_id).map_err(OptionsError)?;
        // A check naming what the scenario lacks is refused here, before
        // anything is sent.
        let mut checks = scenario.checks.clone();
        checks.extend(
            crate::check::parse_flags(&options.checks, &scenario.check_names())
                .map_err(OptionsError)?,
        );
        Ok(RunPlan {
            scenario,
            embedded,
            run_id,
            options,
            checks,
        })
    }

    /// [`RunPlan::new`] on the scenario at `source` (a file, or `env:NAME`).
    /// The flags are checked first, so a bad flag is said before the file is
    /// read.
    pub fn load(source: &Path, embedded: bool, options: RunOptions) -> anyhow::Result<RunPlan> {
        options.validate()?;
        Ok(RunPlan::new(
            crate::scenario::load(source)?,
            embedded,
            options,
        )?)
    }

    /// Engine threads: `--threads`, or one per CPU.
    pub fn threads(&self) -> usize {
        self.options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

/// Most requests one process has in flight at once, over the prepare step
/// (when it runs) and every stage of every phase (a data-loader phase: its
/// most accelerators times their reads in flight). Sizes the engine's
/// connection pools and a shard's pod.
pub fn max_in_flight(plan: &Plan) -> usize {
    let stages = plan.phases.iter().flat_map(|p| p.stages.iter());
    let load = stages
        .map(|s| match s.load {
            Load::Closed { concurrency } => concurrency,
            Load::Open { max_in_flight, .. } => max_in_flight,
        })
        .chain(plan.phases.iter().filter_map(|p| {
            let l = p.loader.as_ref()?;
            Some(l.max_accelerators() as usize * l.read_concurrency as usize)
        }))
        .chain(plan.phases.iter().filter_map(|p| {
            // A checkpoint's ranks each keep their parts in flight.
            let c = p.checkpoint.as_ref()?;
            Some(c.ranks as usize * crate::scenario::checkpoint::PARTS_IN_FLIGHT)
        }))
        .max()
        .unwrap_or(1);
    let prepare = if plan.prepare.enabled {
        plan.prepare.concurrency
    } else {
        0
    };
    load.max(prepare).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn scenario() -> Plan {
        crate::scenario::parse(
            "name = \"p\"\nrounds = 2\n[targets.gp]\nkind = \"general-purpose\"\nbucket = \"bench\"\n\
             region = \"us-east-1\"\n[[phase]]\nname = \"m\"\nduration = \"60s\"\nrate = 10\n\
             mix = [{ op = \"list\" }]\n",
            Path::new("p.toml"),
        )
        .unwrap()
    }

    #[test]
    fn flags_are_applied_once_and_checked() {
        let p = RunPlan::new(
            scenario(),
            false,
            RunOptions {
                duration: Some(Duration::from_secs(5)),
                rounds: Some(7),
                ..RunOptions::default()
            },
        )
        .unwrap();
        assert_eq!(p.scenario.rounds, 7);
        assert_eq!(
            p.scenario.phases[0].stop.duration,
            Some(Duration::from_secs(5))
        );
        run_id::check(&p.run_id).unwrap();
        let e = RunPlan::new(
            scenario(),
            false,
            RunOptions {
                rounds: Some(0),
                ..RunOptions::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("--rounds"), "{e}");
    }
}
