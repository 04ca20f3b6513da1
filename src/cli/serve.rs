//! `s3bench serve`: the embedded S3 endpoint for any S3 client, until
//! Ctrl-C, with the faults its flags (or a scenario's
//! `[targets.NAME.embedded]` tables) ask for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{RunCommand, parse};
use crate::exit::{ExitCode, InputError};
use crate::s3::inject::{Injection, LatencyDist, Settings};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Only loopback unless you pass another address explicitly.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Access key clients must sign with (default: random).
    #[arg(long, env = "S3BENCH_ACCESS_KEY")]
    pub access_key: Option<String>,
    /// Secret key clients must sign with (default: random).
    #[arg(long, env = "S3BENCH_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Region clients must sign for.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Directory-bucket session lifetime (S3: 5 minutes).
    #[arg(long, default_value = "5m", value_parser = parse::duration)]
    pub session_lifetime: Duration,
    /// Buckets to create at start (names ending --x-s3 become directory buckets).
    #[arg(long = "bucket")]
    pub buckets: Vec<String>,
    /// Server threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Create the buckets of a scenario's targets (a file, or env:NAME), with the latency and
    /// faults of their `[targets.NAME.embedded]` tables.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Fixed latency added before every response head on the --bucket buckets.
    #[arg(long, value_parser = parse::duration)]
    pub latency: Option<Duration>,
    /// Fraction of requests (0..1) on the --bucket buckets answered with --error-status.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// HTTP status of injected errors (400 to 599).
    #[arg(long, default_value_t = 503)]
    pub error_status: u16,
    /// S3 error code of injected errors (default: SlowDown for 503,
    /// InternalError for 500; other statuses need one).
    #[arg(long)]
    pub error_code: Option<String>,
    /// The partition model on the General Purpose --bucket buckets: READS:WRITES
    /// per second per key range (S3: 5500:3500), one range at first, ranges
    /// over their rate split (see --split-after); above it 503 SlowDown.
    #[arg(long, value_parser = parse_rates)]
    pub prefix_limit: Option<(i64, i64)>,
    /// How long a key range stays over its rate before it splits (default
    /// 5s, scaled for a laptop: S3 takes minutes), or "never".
    #[arg(long, value_parser = parse_split_after)]
    pub split_after: Option<SplitAfter>,
    /// The most key ranges a bucket is split into (default 256).
    #[arg(long)]
    pub max_partitions: Option<i64>,
    /// A key where a range starts on a fresh bucket (repeatable): a bucket
    /// S3 has already partitioned.
    #[arg(long = "split-point")]
    pub split_points: Vec<String>,
    /// The per-bucket rate of the directory --bucket buckets, READS:WRITES
    /// per second (S3 Express: 200000:100000); above it 503 SlowDown.
    #[arg(long, value_parser = parse_rates)]
    pub bucket_limit: Option<(i64, i64)>,
    /// Fraction of GET responses (0..1) on the --bucket buckets whose body
    /// is cut half-way by closing the connection.
    #[arg(long, default_value_t = 0.0)]
    pub body_reset_rate: f64,
    /// Fraction of GET responses (0..1) on the --bucket buckets with one
    /// bit of the body flipped (caught only by response checksums).
    #[arg(long, default_value_t = 0.0)]
    pub corrupt_rate: f64,
    /// Fraction of CreateSession requests (0..1) on the --bucket buckets
    /// answered with --error-status.
    #[arg(long, default_value_t = 0.0)]
    pub session_error_rate: f64,
    /// The most requests each --bucket bucket works on at once; the rest
    /// queue before their latency starts (an aggregate throughput cap of
    /// N / latency requests per second).
    #[arg(long)]
    pub max_in_flight: Option<u32>,
    /// Answer 200 without doing the operation on the --bucket buckets, as some
    /// S3-compatible servers do, to see what s3bench's audits report:
    /// append-overwrites, rename-as-empty-put, racy-conditional-writes
    /// (repeat the flag, or separate with commas).
    #[arg(long = "broken", value_name = "MODE", value_delimiter = ',')]
    pub broken: Vec<String>,
}

/// `--split-after`: a duration, or `never` (None). A type of its own: clap
/// reads a field of `Option<Option<T>>` as a flag with an optional value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitAfter(pub Option<Duration>);

/// `never`, or a duration; its range is the injection's rule.
fn parse_split_after(s: &str) -> Result<SplitAfter, String> {
    if s.trim().eq_ignore_ascii_case("never") {
        return Ok(SplitAfter(None));
    }
    parse::duration(s)
        .map(|d| SplitAfter(Some(d)))
        .map_err(|e| format!("{e}, or \"never\""))
}

/// `READS:WRITES`, two whole numbers; their range is the injection's rule
/// (`Injection::from_settings`), as for a scenario's `prefix_limit` and
/// `bucket_limit`.
fn parse_rates(s: &str) -> Result<(i64, i64), String> {
    let (r, w) = s
        .split_once(':')
        .ok_or_else(|| format!("expected READS:WRITES per second like 5500:3500, got {s:?}"))?;
    let n = |x: &str| {
        x.trim()
            .parse::<i64>()
            .map_err(|_| format!("expected a whole number, got {x:?}"))
    };
    Ok((n(r)?, n(w)?))
}

impl ServeArgs {
    /// The injection the fault flags ask for on the --bucket buckets,
    /// checked by the same rules as a scenario's `[targets.NAME.embedded]`.
    fn injection(&self) -> Result<Injection, InputError> {
        let (injection, problems) = Injection::from_settings(Settings {
            latency: self.latency.map(LatencyDist::Fixed),
            error_rate: Some(self.error_rate),
            error_status: Some(i64::from(self.error_status)),
            error_code: self.error_code.clone(),
            prefix_limit: self.prefix_limit.map(|(r, w)| (Some(r), Some(w))),
            split_after: self.split_after.map(|s| s.0),
            max_partitions: self.max_partitions,
            split_points: self.split_points.clone(),
            bucket_limit: self.bucket_limit.map(|(r, w)| (Some(r), Some(w))),
            body_reset_rate: Some(self.body_reset_rate),
            corrupt_rate: Some(self.corrupt_rate),
            session_error_rate: Some(self.session_error_rate),
            max_in_flight: self.max_in_flight.map(i64::from),
            broken: self.broken.clone(),
            ..Settings::default()
        });
        match problems.first() {
            None => Ok(injection),
            Some(p) => Err(InputError(format!("{}: {}", p.setting.flag(), p.message))),
        }
    }
}

impl RunCommand for ServeArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let flags = self.injection()?;
        let mut cfg = crate::server::ServerConfig {
            listen: self.listen,
            region: self.region,
            session_lifetime: self.session_lifetime,
            threads: self.threads,
            ..crate::server::ServerConfig::default()
        };
        if let Some(k) = self.access_key {
            cfg.access_key = k;
        }
        if let Some(s) = self.secret_key {
            cfg.secret_key = s;
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let read = |p: &PathBuf| {
                std::fs::read(p)
                    .map_err(|e| InputError(format!("cannot read {}: {e}", p.display())))
            };
            cfg.tls = Some(
                crate::server::tls_config(&read(cert)?, &read(key)?).map_err(|e| {
                    InputError(format!(
                        "--tls-cert {} / --tls-key {}: {e}",
                        cert.display(),
                        key.display()
                    ))
                })?,
            );
        }
        let mut buckets = self.buckets;
        let mut injections: Vec<(String, Injection)> = Vec::new();
        if flags != Injection::default() {
            injections.extend(buckets.iter().map(|b| (b.clone(), flags.clone())));
        }
        if let Some(path) = &self.scenario {
            let plan = crate::scenario::load(path)?;
            for (bucket, injection) in crate::targets::embedded_buckets(&plan) {
                buckets.push(bucket.to_string());
                if let Some(inj) = injection {
                    injections.push((bucket.to_string(), inj.clone()));
                }
            }
        }
        crate::server::serve_forever(cfg, injections, buckets).await?;
        Ok(ExitCode::Success)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::cli::{Cli, Command};

    fn serve(args: &[&str]) -> super::ServeArgs {
        let mut argv = vec!["s3bench", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).expect("the flags parse").command {
            Command::Serve(s) => s,
            other => panic!("not serve: {other:?}"),
        }
    }

    /// `--broken` takes the modes repeated or comma-separated, and a name
    /// it does not know is an input error naming the flag and the modes.
    #[test]
    fn broken_modes_come_from_the_flag() {
        let a = serve(&[
            "--broken",
            "append-overwrites,rename-as-empty-put",
            "--broken",
            "racy-conditional-writes",
        ]);
        let b = a.injection().unwrap().broken;
        assert!(b.append_overwrites && b.rename_as_empty_put && b.racy_conditional_writes);
        assert!(!serve(&[]).injection().unwrap().broken.any());
        let e = serve(&["--broken", "lossy"]).injection().unwrap_err();
        assert!(
            e.0.starts_with("--broken: expected one of \"append-overwrites\"")
                && e.0.contains("got \"lossy\""),
            "{}",
            e.0
        );
    }
}
