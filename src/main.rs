use clap::Parser;

/// mimalloc instead of glibc malloc: the SDK allocates and frees a few
/// hundred small objects per request (config bags, headers, signing
/// strings), and glibc's arenas and fastbin consolidation showed up at 12% of
/// the client's CPU. Measured on 4 KiB GETs, 16 in flight, client alone on
/// one core: 226 -> 188 us of client CPU per request (median of 6 runs each,
/// interleaved). It is set in the binary, not the library, so tests and
/// benches measure the allocator they choose.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = s3bench::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.log_level())),
        )
        .with_writer(std::io::stderr)
        .init();
    // The coordinator runtime only runs preflight, progress and cleanup; the
    // load itself runs on the engine's own per-core runtimes.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(s3bench::cli::main(cli));
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(code);
}
