//! Runs the embedded S3 endpoint until Ctrl-C (a stand-in for
//! `s3bench serve` until the CLI wires it up).
//!
//! `cargo run --release --example serve -- --listen 127.0.0.1:0 --bucket demo`

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use s3bench::server::{ServerConfig, serve_forever};

#[derive(Parser)]
struct Args {
    /// Address to listen on; keep it on loopback unless you mean otherwise.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Access key clients must sign with (random when absent).
    #[arg(long)]
    access_key: Option<String>,
    /// Secret key clients must sign with (random when absent).
    #[arg(long)]
    secret_key: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Buckets to create at start (a `--x-s3` name makes a directory bucket).
    #[arg(long = "bucket")]
    buckets: Vec<String>,
    /// S3 Express session lifetime in seconds.
    #[arg(long, default_value_t = 300)]
    session_lifetime: u64,
    /// Server threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut cfg = ServerConfig {
        listen: args.listen,
        region: args.region,
        session_lifetime: Duration::from_secs(args.session_lifetime),
        threads: args.threads,
        ..ServerConfig::default()
    };
    if let Some(k) = args.access_key {
        cfg.access_key = k;
    }
    if let Some(s) = args.secret_key {
        cfg.secret_key = s;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve_forever(cfg, Vec::new(), args.buckets))
}
