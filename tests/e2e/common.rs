//! The harness the end-to-end tests share: the embedded endpoint and SDK
//! clients for it, scenario builders, runs of the library in-process, and
//! one hermetic way to run the `s3bench` binary.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use s3bench::client::TargetConfig;
use s3bench::engine::Cancel;
use s3bench::plan::{RunOptions, RunPlan};
use s3bench::report::model::RunResult;
use s3bench::run::RunOutput;
use s3bench::scenario::Plan;
use s3bench::server::{EmbeddedServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server with default settings on 127.0.0.1:0.
pub fn start_server() -> EmbeddedServer {
    EmbeddedServer::start(ServerConfig::default()).expect("the embedded endpoint starts")
}

/// The SDK config every test client starts from.
pub fn config(server: &EmbeddedServer) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(server.region().to_string()))
        .endpoint_url(server.endpoint())
        .credentials_provider(Credentials::new(
            server.access_key(),
            server.secret_key(),
            None,
            None,
            "test",
        ))
        .force_path_style(true)
}

/// SDK defaults: request checksums on, so streaming bodies go out aws-chunked.
pub fn client(server: &EmbeddedServer) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(config(server).build())
}

/// Checksums only when required: plain bodies.
pub fn plain_client(server: &EmbeddedServer) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        config(server)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build(),
    )
}

/// Like [`client`] but without retries, so every error reaches the test.
pub fn no_retry_client(server: &EmbeddedServer) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(config(server).retry_config(RetryConfig::disabled()).build())
}

/// One HTTP/1.1 request over a fresh connection; returns status and body.
pub async fn raw_request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    raw_request_with_body(addr, method, path_and_query, headers, &[]).await
}

/// [`raw_request`] with a request body (its Content-Length is added).
pub async fn raw_request_with_body(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req =
        format!("{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write body");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Requests the run's preflight sent to `target` as S3 operation `op`
/// (`PutObject`, `CreateSession`, ...): the endpoint counts them too, so
/// its counts are the phases' plus these.
pub fn preflight(r: &s3bench::report::model::RunResult, target: &str, op: &str) -> u64 {
    r.targets
        .iter()
        .find(|t| t.name == target)
        .unwrap_or_else(|| panic!("target {target} missing"))
        .preflight_requests
        .get(op)
        .copied()
        .unwrap_or(0)
}

/// Requests the run's audits sent to `target` as S3 operation `op`
/// (`HeadObject`, `CreateSession`): counted apart like the preflight's, so
/// the endpoint's counts are the phases' plus the preflight's plus these.
pub fn audited(r: &s3bench::report::model::RunResult, target: &str, op: &str) -> u64 {
    r.targets
        .iter()
        .find(|t| t.name == target)
        .unwrap_or_else(|| panic!("target {target} missing"))
        .audit_requests
        .get(op)
        .copied()
        .unwrap_or(0)
}

// ---- Scenarios -------------------------------------------------------

/// The General Purpose bucket of the pair most tests compare (each test
/// starts its own endpoint, so every test may use the same names).
pub const GP: &str = "bench-gp";
/// The directory bucket of that pair.
pub const DIR: &str = "bench--use1-az4--x-s3";

/// The two targets most scenarios compare: `[targets.standard]` (General
/// Purpose, bucket [`GP`]) and `[targets.express]` (directory, bucket
/// [`DIR`]), both in us-east-1. Lines can be added to both tables
/// ([`TwoTargets::both`]) or to one (a `[targets.NAME.embedded]` table);
/// `to_string()` gives the TOML.
#[derive(Debug, Clone)]
pub struct TwoTargets {
    gp: String,
    dir: String,
    both: String,
    standard: String,
    express: String,
}

pub fn two_targets() -> TwoTargets {
    TwoTargets {
        gp: GP.to_string(),
        dir: DIR.to_string(),
        both: String::new(),
        standard: String::new(),
        express: String::new(),
    }
}

impl TwoTargets {
    /// Other bucket names (a test that names its buckets in assertions).
    pub fn buckets(mut self, gp: &str, dir: &str) -> Self {
        (self.gp, self.dir) = (gp.to_string(), dir.to_string());
        self
    }

    /// Lines in both target tables (`endpoint = ...`, `ca_file = ...`).
    pub fn both(mut self, lines: &str) -> Self {
        self.both = lines.trim().to_string();
        self
    }

    /// Lines after the General Purpose target's keys (its own keys, then
    /// perhaps a `[targets.standard.embedded]` table).
    pub fn standard(mut self, lines: &str) -> Self {
        self.standard = lines.trim().to_string();
        self
    }

    /// Lines after the directory target's keys.
    pub fn express(mut self, lines: &str) -> Self {
        self.express = lines.trim().to_string();
        self
    }
}

impl std::fmt::Display for TwoTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, kind, bucket, own) in [
            ("standard", "general-purpose", &self.gp, &self.standard),
            ("express", "directory", &self.dir, &self.express),
        ] {
            writeln!(f, "[targets.{name}]")?;
            writeln!(f, "kind = \"{kind}\"")?;
            writeln!(f, "bucket = \"{bucket}\"")?;
            writeln!(f, "region = \"us-east-1\"")?;
            for extra in [&self.both, own] {
                if !extra.is_empty() {
                    writeln!(f, "{extra}")?;
                }
            }
        }
        Ok(())
    }
}

/// A scenario file's text from its parts: top-level keys (`name`,
/// `rounds`), the targets, the rest (`[dataset]`, `[[phase]]`, ...).
pub fn scenario_text(head: &str, targets: impl std::fmt::Display, rest: &str) -> String {
    format!("{}\n{targets}{}\n", head.trim(), rest)
}

/// A test's scenario, validated; a mistake in it fails the test with the
/// scenario's own problems.
pub fn scenario(text: &str) -> Plan {
    s3bench::scenario::parse(text, Path::new("inline.toml"))
        .unwrap_or_else(|e| panic!("test scenario invalid: {e}"))
}

// ---- Runs, in-process ------------------------------------------------

/// Run options of a test: results under `dir`, two engine threads.
pub fn opts(dir: &Path) -> RunOptions {
    RunOptions {
        out: dir.to_path_buf(),
        threads: Some(2),
        ..RunOptions::default()
    }
}

/// Runs `plan` with `opts` against `targets` (the test's own embedded
/// endpoint), as `s3bench run --embedded` would: the run plan is built and
/// checked first, as the command does.
pub async fn run_against(
    plan: Plan,
    targets: Vec<TargetConfig>,
    opts: RunOptions,
    cancel: Arc<Cancel>,
) -> anyhow::Result<RunOutput> {
    let run = RunPlan::new(plan, true, opts)?;
    s3bench::run::run_on_targets(run, targets, cancel).await
}

/// Runs `plan` on `server` with [`opts`] and returns its result; the run
/// must succeed.
pub async fn run_on(server: &EmbeddedServer, plan: Plan, dir: &Path) -> RunResult {
    let targets = s3bench::targets::embedded_targets(&plan, server);
    run_against(plan, targets, opts(dir), Arc::new(Cancel::default()))
        .await
        .expect("run succeeds")
        .result
}

// ---- The binary ------------------------------------------------------

/// The `s3bench` binary in a hermetic AWS environment: HOME is an empty
/// directory, `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` point at
/// files that do not exist, instance metadata is off, stdin is empty, and
/// every other `AWS_*` and `S3BENCH_*` variable (and the shard index
/// Kubernetes sets, and the CA bundle overrides) is removed, so a
/// developer's `~/.aws` or shell never reaches a test. A test adds what it
/// needs after (`.env(...)`, or [`s3bench_for`]).
pub fn s3bench() -> Command {
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hermetic-home");
    std::fs::create_dir_all(&home).expect("the hermetic HOME can be made");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3bench"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("AWS_")
            || k.starts_with("S3BENCH_")
            || k == "JOB_COMPLETION_INDEX"
            || k == "SSL_CERT_FILE"
            || k == "SSL_CERT_DIR"
        {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null());
    cmd
}

/// [`s3bench`] with the access keys of `server` in the environment, as a
/// user of `s3bench serve` would set them.
pub fn s3bench_for(server: &EmbeddedServer) -> Command {
    let mut cmd = s3bench();
    cmd.env("AWS_ACCESS_KEY_ID", server.access_key())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_key());
    cmd
}
