//! Measures the embedded endpoint under a 4 KiB GET load from aws-sdk-s3:
//! requests per second and server CPU per request.
//!
//! The client runs on its own OS threads (one current-thread runtime each),
//! the server on its own; server CPU comes from its threads' schedstat.
//!
//! `cargo run --release --example server_load -- --seconds 10 --concurrency 16`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, StalledStreamProtectionConfig,
};
use aws_sdk_s3::primitives::ByteStream;
use clap::Parser;
use s3bench::server::{EmbeddedServer, ServerConfig};

#[derive(Parser)]
struct Args {
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent requests in flight, over all client threads.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Client OS threads, each with a current-thread runtime and one SDK client.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Server threads.
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// Object size in bytes.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Use a directory bucket (S3 Express sessions) instead of a general purpose one.
    #[arg(long)]
    directory: bool,
}

fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn client(server: &EmbeddedServer) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(server.region().to_string()))
        .endpoint_url(server.endpoint())
        .credentials_provider(Credentials::new(
            server.access_key(),
            server.secret_key(),
            None,
            None,
            "load",
        ))
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = EmbeddedServer::start(ServerConfig {
        threads: args.server_threads,
        ..ServerConfig::default()
    })?;
    let bucket = if args.directory {
        "load--use1-az4--x-s3"
    } else {
        "load"
    };
    server
        .create_bucket(bucket)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let setup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    setup.block_on(async {
        let body: Vec<u8> = s3bench::synthetic::chunks(0, args.size as u64)
            .flatten()
            .collect();
        client(&server)
            .put_object()
            .bucket(bucket)
            .key("obj")
            .body(ByteStream::from(body))
            .send()
            .await
    })?;

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let per_thread = args.concurrency.div_ceil(args.client_threads);
    let warmup = Duration::from_secs(1);
    let start_at = Instant::now() + warmup;
    let end_at = start_at + Duration::from_secs(args.seconds);
    let mut threads = Vec::new();
    for _ in 0..args.client_threads {
        let c = client(&server);
        let (done, failed) = (done.clone(), failed.clone());
        threads.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut tasks = Vec::new();
                for _ in 0..per_thread {
                    let c = c.clone();
                    let (done, failed) = (done.clone(), failed.clone());
                    tasks.push(tokio::spawn(async move {
                        while Instant::now() < end_at {
                            let r = match c.get_object().bucket(bucket).key("obj").send().await {
                                Ok(o) => o.body.collect().await.is_ok(),
                                Err(_) => false,
                            };
                            let now = Instant::now();
                            if now >= start_at && now < end_at {
                                if r { &done } else { &failed }.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        }));
    }
    std::thread::sleep(start_at.saturating_duration_since(Instant::now()));
    let (cpu0, srv0) = (process_cpu(), server.cpu_time().unwrap_or_default());
    std::thread::sleep(end_at.saturating_duration_since(Instant::now()));
    let (cpu1, srv1) = (process_cpu(), server.cpu_time().unwrap_or_default());
    for t in threads {
        let _ = t.join();
    }
    let n = done.load(Ordering::Relaxed);
    let secs = args.seconds as f64;
    let srv = (srv1 - srv0).as_secs_f64();
    let total = (cpu1 - cpu0).as_secs_f64();
    println!(
        "{} bucket, {} B GETs, concurrency {}, client threads {}, server threads {}",
        if args.directory {
            "directory"
        } else {
            "general purpose"
        },
        args.size,
        args.concurrency,
        args.client_threads,
        args.server_threads
    );
    println!(
        "requests: {n} ok, {} failed, {:.0} req/s",
        failed.load(Ordering::Relaxed),
        n as f64 / secs
    );
    println!(
        "server CPU: {:.2} s = {:.0}% of one core, {:.1} us per request",
        srv,
        100.0 * srv / secs,
        1e6 * srv / n.max(1) as f64
    );
    println!(
        "client CPU (process minus server): {:.1} us per request",
        1e6 * (total - srv) / n.max(1) as f64
    );
    Ok(())
}
