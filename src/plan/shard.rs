//! Which shard of an array job this process is: `--shard-index` /
//! `--shard-count`, or the index the engine that started it set.

use super::OptionsError;

/// One shard of an array job (e.g. a Kubernetes Indexed Job pod).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Environment variables that carry a shard index, by engine.
pub const SHARD_INDEX_VARS: [&str; 2] = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"];

/// A shard index from the environment that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardEnvError {
    #[error("{var}={value:?} is not a shard index (expected a whole number from 0)")]
    NotANumber { var: &'static str, value: String },
    #[error(
        "JOB_COMPLETION_INDEX={k8s} and AWS_BATCH_JOB_ARRAY_INDEX={batch} disagree: \
         unset one, or pass --shard-index"
    )]
    Disagree { k8s: u32, batch: u32 },
}

/// This process's shard index as set by the engine that started it:
/// `JOB_COMPLETION_INDEX` (Kubernetes Indexed Job) or
/// `AWS_BATCH_JOB_ARRAY_INDEX` (AWS Batch array job). None when neither is
/// set (or both are empty). Both set to the same number is fine (a Batch job
/// on EKS); different numbers are an error, since either could be right.
pub fn shard_index_from_env() -> Result<Option<u32>, ShardEnvError> {
    shard_index_from(|k| std::env::var(k).ok())
}

/// [`shard_index_from_env`] over any variable lookup (for tests).
pub fn shard_index_from(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<u32>, ShardEnvError> {
    let read = |var: &'static str| -> Result<Option<u32>, ShardEnvError> {
        match get(var) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u32>()
                .map(Some)
                .map_err(|_| ShardEnvError::NotANumber { var, value: v }),
        }
    };
    let k8s = read(SHARD_INDEX_VARS[0])?;
    let batch = read(SHARD_INDEX_VARS[1])?;
    match (k8s, batch) {
        (Some(k), Some(b)) if k != b => Err(ShardEnvError::Disagree { k8s: k, batch: b }),
        (k, b) => Ok(k.or(b)),
    }
}

/// This process's shard: the index from `--shard-index`, else from the
/// engine's environment ([`shard_index_from`]:
/// `JOB_COMPLETION_INDEX`, `AWS_BATCH_JOB_ARRAY_INDEX`, which must agree
/// when both are set), and the count from `--shard-count` /
/// `S3BENCH_SHARD_COUNT`. An index without a count, or a count without an
/// index, is an error: either would silently run as a single process.
pub fn shard_from(
    index_flag: Option<u32>,
    count: Option<u32>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Shard>, OptionsError> {
    let (index, source) = match index_flag {
        Some(i) => (Some(i), "--shard-index".to_string()),
        None => {
            let i = shard_index_from(&env).map_err(|e| OptionsError(e.to_string()))?;
            let var = SHARD_INDEX_VARS
                .iter()
                .find(|v| env(v).is_some_and(|x| !x.trim().is_empty()))
                .copied()
                .unwrap_or("the environment");
            (i, var.to_string())
        }
    };
    match (index, count) {
        (None, None) => Ok(None),
        (Some(index), Some(count)) => Ok(Some(Shard { index, count })),
        (Some(index), None) => Err(OptionsError(format!(
            "shard index {index} (from {source}) needs the number of shards: \
             pass --shard-count or set S3BENCH_SHARD_COUNT"
        ))),
        (None, Some(count)) => Err(OptionsError(format!(
            "--shard-count {count} needs this shard's index: pass --shard-index, or run where \
             JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX \
             (AWS Batch array job) is set"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn cluster_shard_index_from_either_engine() {
        assert_eq!(shard_index_from(env(&[])), Ok(None));
        assert_eq!(
            shard_index_from(env(&[("JOB_COMPLETION_INDEX", "3")])),
            Ok(Some(3))
        );
        assert_eq!(
            shard_index_from(env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "7")])),
            Ok(Some(7))
        );
        assert_eq!(
            shard_index_from(env(&[
                ("JOB_COMPLETION_INDEX", "2"),
                ("AWS_BATCH_JOB_ARRAY_INDEX", "2")
            ])),
            Ok(Some(2))
        );
        assert_eq!(
            shard_index_from(env(&[("JOB_COMPLETION_INDEX", "")])),
            Ok(None)
        );
        let e = shard_index_from(env(&[
            ("JOB_COMPLETION_INDEX", "1"),
            ("AWS_BATCH_JOB_ARRAY_INDEX", "2"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("disagree"), "{e}");
        let e = shard_index_from(env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "-1")])).unwrap_err();
        assert!(
            e.to_string().contains("AWS_BATCH_JOB_ARRAY_INDEX=\"-1\""),
            "{e}"
        );
        let e = shard_index_from(env(&[("JOB_COMPLETION_INDEX", "one")])).unwrap_err();
        assert!(e.to_string().contains("JOB_COMPLETION_INDEX"), "{e}");
    }

    #[test]
    fn cluster_shard_index_precedence() {
        fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        }
        const BOTH: &[(&str, &str)] = &[
            ("JOB_COMPLETION_INDEX", "1"),
            ("AWS_BATCH_JOB_ARRAY_INDEX", "2"),
        ];
        let both = BOTH;
        // The flag wins over any environment.
        assert_eq!(
            shard_from(Some(0), Some(3), env(both)).unwrap(),
            Some(Shard { index: 0, count: 3 })
        );
        // Two engines disagreeing is an error, not a guess.
        let e = shard_from(None, Some(3), env(both))
            .unwrap_err()
            .to_string();
        assert!(e.contains("disagree"), "{e}");
        assert_eq!(
            shard_from(None, Some(3), env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "2")])).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        assert_eq!(
            shard_from(None, Some(3), env(&[("JOB_COMPLETION_INDEX", "1")])).unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
        assert_eq!(shard_from(None, None, env(&[])).unwrap(), None);
        let e = shard_from(None, None, env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "4")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("shard index 4 (from AWS_BATCH_JOB_ARRAY_INDEX) needs the number of shards"),
            "{e}"
        );
        let e = shard_from(None, Some(2), env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("--shard-count 2 needs this shard's index"),
            "{e}"
        );
    }
}
