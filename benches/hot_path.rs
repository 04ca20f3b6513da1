//! The client's own cost on the per-request path: recording a sample,
//! picking the next op and key, building a request, merging histograms,
//! and what `run --op-log` adds per request.
//! `cargo bench --bench hot_path`; numbers go to bench/RESULTS.md.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use s3bench::engine::OpRecorder as Recorder;
use s3bench::engine::ops::Mix;
use s3bench::stats::Sample;

const SCENARIO: &str = r#"
[targets.a]
kind = "general-purpose"
bucket = "bench"
region = "us-east-1"
[dataset]
objects = 100000
size = { min = "4KiB", max = "1MiB" }
key = "{hash:4}/shards/{index:06}.tar"
[[phase]]
name = "p"
duration = "1s"
concurrency = 1
mix = [{ op = "get", weight = 8 }, { op = "put", weight = 1 }, { op = "head", weight = 1 }]
"#;

fn sample(latency_ns: u64) -> Sample<'static> {
    Sample {
        latency_ns,
        service_ns: latency_ns,
        ttfb_ns: Some(latency_ns / 2),
        bytes: 4096,
        requests: 1,
        failure: None,
        late_start: false,
        behind_session: false,
    }
}

fn bench(c: &mut Criterion) {
    let plan = s3bench::scenario::parse(SCENARIO, Path::new("bench.toml")).expect("valid");

    c.bench_function("record_sample", |b| {
        let mut rec = Recorder::default();
        let mut rng = fastrand::Rng::with_seed(1);
        b.iter(|| {
            let lat = 1_000_000 + rng.u64(0..50_000_000);
            rec.record(0, (lat >> 28) as usize, black_box(&sample(lat)));
        })
    });

    // The same, counting into a live block for `--metrics-listen` too: the
    // difference is what live metrics cost per request on the engine thread.
    c.bench_function("record_sample_live", |b| {
        let block = std::sync::Arc::new(s3bench::stats::live::LiveBlock::new(
            s3bench::s3::OpKind::COUNT,
        ));
        let mut rec = Recorder::with_live(block);
        let mut rng = fastrand::Rng::with_seed(1);
        b.iter(|| {
            let lat = 1_000_000 + rng.u64(0..50_000_000);
            rec.record(0, (lat >> 28) as usize, black_box(&sample(lat)));
        })
    });

    // One scrape of a run with 2 targets x 4 phases x 6 ops on 16 engine
    // threads: off the request path (the coordinator's runtime), for scale.
    c.bench_function("metrics_scrape_encode", |b| {
        let targets = vec!["standard".to_string(), "express".to_string()];
        let m = s3bench::metrics::Metrics::new("run", "bench", None, 16, &targets, 2);
        for t in &targets {
            for p in ["prepare", "a", "b", "cleanup"] {
                for block in m.blocks(t, p).iter() {
                    let mut rec = Recorder::with_live(block.clone());
                    for op in 0..6 {
                        rec.record(op, 0, &sample(2_000_000 + op as u64 * 1_000_000));
                    }
                }
            }
        }
        b.iter(|| black_box(m.encode(false).len()))
    });

    c.bench_function("pick_op_and_key", |b| {
        let mix = Mix::new(&plan.phases[0].mix);
        let mut rng = fastrand::Rng::with_seed(2);
        let mut key = String::with_capacity(128);
        b.iter(|| {
            let op = mix.pick(&mut rng);
            let i = rng.u64(0..plan.dataset.objects);
            key.clear();
            key.push_str("s3bench/20261129-000000-bench-abcdef/");
            plan.key(i, (2026, 11, 29), &mut key);
            black_box((op, plan.object_size(i), key.len()));
        })
    });

    c.bench_function("build_get_request", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _g = rt.enter();
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build();
        let client = aws_sdk_s3::Client::from_conf(conf);
        b.iter(|| {
            let req = client
                .get_object()
                .bucket("bench")
                .key(black_box("s3bench/run/ab12/shards/000001.tar"))
                .range("bytes=0-4095");
            black_box(req);
        })
    });

    // What the direct path does per request before the socket write: render
    // the path, format x-amz-date (once a second), sign with the cached key.
    c.bench_function("sign_direct_get", |b| {
        use s3bench::client::direct::sign::{
            AmzClock, Creds, EMPTY_SHA256, Signer, ToSign, encode_key,
        };
        let signer = Signer::new("us-east-1", "s3");
        let clock = AmzClock::default();
        let creds = Creds {
            access_key: "AKIDEXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            token: None,
            expiry: None,
            fetched: std::time::SystemTime::now(),
            id: 1,
        };
        let mut path = String::with_capacity(128);
        b.iter(|| {
            path.clear();
            path.push_str("/bench/");
            encode_key(black_box("s3bench/run/ab12/shards/000001.tar"), &mut path);
            let date = clock.now();
            let auth = signer.authorization(
                &ToSign {
                    method: "GET",
                    path: &path,
                    host: "127.0.0.1:9000",
                    range: Some("bytes=0-4095"),
                    payload_hash: EMPTY_SHA256,
                    amz_date: &date,
                    extra: &[],
                },
                &creds,
            );
            black_box(auth);
        })
    });

    // What `[client] checksum` adds to each upload on the direct path: the
    // checksum over the body (computed per request, never cached), for a
    // 4 KiB PUT and per MiB of a large one.
    for mode in s3bench::scenario::ChecksumMode::ALL {
        for (label, len) in [("4k", 4096usize), ("1m", 1 << 20)] {
            let chunks: Vec<bytes::Bytes> = s3bench::synthetic::chunks(0, len as u64).collect();
            c.bench_function(&format!("checksum_{}_{label}", mode.name()), |b| {
                b.iter(|| {
                    black_box(s3bench::client::checksum::upload_checksum(
                        mode,
                        chunks.iter().map(|c| &c[..]),
                    ))
                })
            });
        }
    }

    c.bench_function("merge_recorders_1k_samples", |b| {
        let mut a = Recorder::default();
        let mut other = Recorder::default();
        for i in 0..1000u64 {
            a.record(0, (i % 10) as usize, &sample(1_000_000 + i * 997));
            other.record(0, (i % 10) as usize, &sample(2_000_000 + i * 991));
        }
        b.iter(|| {
            let mut m = a.clone();
            m.merge(black_box(&other));
            black_box(m);
        })
    });
}

/// `run --op-log` per request: `oplog_record` is what the request's own
/// task spends (copying its row into the thread's batch, a full batch
/// handed to the writer), timed batch by batch with the writer given time
/// to drain in between, as at any request rate it keeps up with;
/// `oplog_cpu_per_row` is the process's CPU per row, the writer thread's
/// CSV formatting and gzip included, recording as fast as it can.
fn oplog(c: &mut Criterion) {
    use s3bench::oplog::{Ctx, OpLog, Request, Stage, scope};
    use std::time::{Duration, Instant};
    let dir = std::env::temp_dir().join(format!("s3bench-bench-oplog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let names = s3bench::oplog::Names {
        targets: vec!["standard".into()],
        phases: vec!["get-4k".into()],
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let key = "s3bench/20261205-120000-get-4k-ab12cd/00000042";
    let ctx = Ctx {
        target: 0,
        phase: Some(0),
        round: 1,
        stage: Stage::Measured,
        thread: Some(0),
        due: Some(Instant::now()),
    };
    let one = |t0: Instant, i: u64| Request {
        op: "GetObject",
        key,
        range: None,
        bytes: 4096,
        sent: t0 + Duration::from_nanos(i * 40_000),
        first_byte: Some(t0 + Duration::from_nanos(i * 40_000 + 300_000)),
        done: t0 + Duration::from_nanos(i * 40_000 + 310_000),
        status: 200,
        group: "",
        error: "",
        attempt: 1,
    };
    // Criterion sizes the run by the timed part alone: keep the untimed
    // waits for the writer to a few seconds.
    let mut g = c.benchmark_group("oplog");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    g.bench_function("oplog_record", |b| {
        let log = OpLog::create(&dir, names.clone(), Instant::now()).unwrap();
        let sink = log.sink().clone();
        let t0 = Instant::now();
        rt.block_on(scope(Some(&sink), ctx, true, async {
            let mut i = 0u64;
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(1024);
                    let t = Instant::now();
                    for _ in 0..n {
                        i += 1;
                        s3bench::oplog::record(black_box(&one(t0, i)));
                    }
                    spent += t.elapsed();
                    left -= n;
                    // The writer formats and compresses the batch meanwhile.
                    std::thread::sleep(Duration::from_micros(400));
                }
                spent
            });
            s3bench::oplog::flush_thread();
        }));
        drop(sink);
        log.finish();
    });
    g.finish();
    c.bench_function("oplog_cpu_per_row", |b| {
        b.iter_custom(|iters| {
            let log = OpLog::create(&dir, names.clone(), Instant::now()).unwrap();
            let sink = log.sink().clone();
            let t0 = Instant::now();
            let cpu0 = s3bench::run::host::process_cpu_s();
            rt.block_on(scope(Some(&sink), ctx, true, async {
                for i in 0..iters {
                    s3bench::oplog::record(black_box(&one(t0, i)));
                }
                s3bench::oplog::flush_thread();
            }));
            drop(sink);
            log.finish();
            Duration::from_secs_f64(s3bench::run::host::process_cpu_s() - cpu0)
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench, oplog);
criterion_main!(benches);
