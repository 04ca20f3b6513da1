//! The process exit codes, in one table (README "Exit codes"). Every
//! command returns one of them; the Kubernetes and Batch generators read
//! their retry rules from it instead of re-typing numbers. Adding a code is
//! one line in the table below (and its sentence in the README, which a
//! test checks).

use std::fmt;

/// What a retry of a shard that ended with a code can achieve
/// (`s3bench k8s` / `s3bench batch` build their retry rules from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Nothing to retry: the shard succeeded.
    Done,
    /// A retry may succeed (a crash while preparing, an I/O error).
    Helps,
    /// The same input fails the same way every time.
    SameInput,
    /// The shard reached (or gave up at) the start barrier: a retry would
    /// start alone, after the others, or its partial result is published.
    PastBarrier,
}

macro_rules! exit_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $retry:ident, $meaning:literal; )+) => {
        /// A documented exit code of the `s3bench` process.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ExitCode {
            $( $(#[$doc])* $variant, )+
        }

        impl ExitCode {
            /// Every code, in the README's order.
            pub const ALL: &'static [ExitCode] = &[$(ExitCode::$variant),+];

            /// The number the process exits with.
            pub const fn code(self) -> i32 {
                match self { $(ExitCode::$variant => $code,)+ }
            }

            /// What the code means, as the README says it.
            pub const fn meaning(self) -> &'static str {
                match self { $(ExitCode::$variant => $meaning,)+ }
            }

            /// What retrying a shard that exited with this code can achieve.
            pub const fn retry(self) -> Retry {
                match self { $(ExitCode::$variant => Retry::$retry,)+ }
            }
        }
    };
}

exit_codes! {
    /// The command did what it was asked.
    Success = 0, Done, "success";
    /// Something failed during the run (or a merge is missing shards).
    Failure = 1, Helps, "failure during the run";
    /// The scenario file, a flag, an unreachable endpoint, wrong
    /// credentials or a missing bucket: said in one sentence before the run
    /// starts.
    BadInput = 2, SameInput, "bad input";
    /// The error policy (`stop_on_failures`) stopped the run.
    FailurePolicy = 3, PastBarrier, "stopped by the error policy";
    /// The cleanup could not delete everything the run wrote.
    LeftBehind = 4, PastBarrier, "the cleanup could not delete everything the run wrote";
    /// The start barrier of a distributed run did not complete.
    BarrierFailed = 5, PastBarrier, "the start barrier of a distributed run did not complete";
    /// The results could not be uploaded to `--results` (the local copy is
    /// complete).
    ResultsNotUploaded = 6, PastBarrier, "the run could not upload its results to `--results`";
    /// The run completed (its data cleaned up, its report whole) but a
    /// check (`[[check]]`, `--check`) failed; also `report`, `compare` and
    /// `merge` when a check they judge fails. The same input gives the same
    /// verdict: a retry cannot help. 7: the next free code, below the 126+
    /// that shells reserve.
    ChecksFailed = 7, SameInput, "a check failed";
    /// Ctrl-C (SIGINT): 128 + 2.
    Interrupted = 130, PastBarrier, "interrupted by Ctrl-C";
    /// SIGTERM (what Kubernetes sends a pod it evicts): 128 + 15.
    Terminated = 143, PastBarrier, "terminated by SIGTERM";
}

impl ExitCode {
    /// The codes whose [`retry`](Self::retry) is `r`, as numbers.
    pub fn with_retry(r: Retry) -> Vec<i32> {
        Self::ALL
            .iter()
            .filter(|c| c.retry() == r)
            .map(|c| c.code())
            .collect()
    }
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.meaning())
    }
}

/// An error in what the user gave us (a flag, a target, a bucket name): the
/// command exits with [`ExitCode::BadInput`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<i32> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted, "one number per code, ascending");
    }

    /// The README's "Exit codes" paragraph names every code, by number and
    /// meaning, so a code added here without documenting it fails.
    #[test]
    fn readme_documents_every_code() {
        let readme = include_str!("../README.md");
        let start = readme.find("Exit codes:").expect("README has Exit codes");
        let para = &readme[start..];
        let para = &para[..para.find("\n\n").unwrap_or(para.len())];
        let para = para.split_whitespace().collect::<Vec<_>>().join(" ");
        for c in ExitCode::ALL {
            let said = format!("{} {}", c.code(), c.meaning());
            assert!(
                para.contains(&said),
                "README's exit codes lack {said:?}: {para}"
            );
        }
    }

    #[test]
    fn retry_classes() {
        assert_eq!(ExitCode::with_retry(Retry::SameInput), [2, 7]);
        assert_eq!(
            ExitCode::with_retry(Retry::PastBarrier),
            [3, 4, 5, 6, 130, 143]
        );
        assert_eq!(ExitCode::with_retry(Retry::Helps), [1]);
    }
}
