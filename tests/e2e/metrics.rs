//! Live metrics end to end: a real `s3bench run --metrics-listen` process
//! against the test's own embedded endpoint. `/metrics` is scraped twice
//! while the run goes on and parsed with the Prometheus project's own text
//! parser (Python's `prometheus_client`, installed by the test itself when
//! missing); the counters must grow between the scrapes, and at the end
//! equal the report's counts and the endpoint's own request counts.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use s3bench::report::model::{OpResult, RunResult};
use s3bench::server::{EmbeddedServer, Injection, LatencyDist};

/// The process, killed by its PID if the test ends early.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// PYTHONPATH under which `import prometheus_client` works: none needed
/// when it is installed, else a private `pip install --target` under
/// cargo's test scratch directory (PyPI is a registry CI can reach). None:
/// no Python here (a failure under CI=true).
fn prometheus_parser() -> Option<Option<PathBuf>> {
    static FOUND: OnceLock<Option<Option<PathBuf>>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let imports = |path: Option<&Path>| {
                let mut c = Command::new("python3");
                c.args(["-c", "import prometheus_client.parser, prometheus_client.openmetrics.parser"]);
                if let Some(p) = path {
                    c.env("PYTHONPATH", p);
                }
                c.stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if imports(None) {
                return Some(None);
            }
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-prometheus-client");
            if !imports(Some(&dir)) {
                let _ = Command::new("python3")
                    .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                    .args(["--target", dir.to_str().unwrap(), "prometheus_client"])
                    .status();
            }
            if imports(Some(&dir)) {
                return Some(Some(dir));
            }
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "Python's prometheus_client is missing and `pip install --target` failed, but CI=true"
            );
            eprintln!(
                "SKIPPED: python3 with prometheus_client is not available (pip install prometheus_client)"
            );
            None
        })
        .clone()
}

/// One parsed sample: (family type, sample name, labels, value).
#[derive(Debug, Clone)]
struct Sample {
    kind: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

const PARSE: &str = r#"
import json, sys
path, fmt = sys.argv[1], sys.argv[2]
if fmt == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(open(path).read()):
    for s in fam.samples:
        out.append([fam.type, s.name, s.labels, s.value])
print(json.dumps(out))
"#;

/// Parses an exposition with the Prometheus client's parser; a malformed
/// line fails the test.
fn parse(text: &str, openmetrics: bool, pythonpath: &Option<PathBuf>, dir: &Path) -> Vec<Sample> {
    let file = dir.join(format!("scrape-{}.txt", fastrand::u64(..)));
    std::fs::write(&file, text).unwrap();
    let mut c = Command::new("python3");
    c.args(["-c", PARSE, file.to_str().unwrap()])
        .arg(if openmetrics { "openmetrics" } else { "text" });
    if let Some(p) = pythonpath {
        c.env("PYTHONPATH", p);
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "the Prometheus parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows: Vec<(String, String, BTreeMap<String, String>, f64)> =
        serde_json::from_slice(&o.stdout).unwrap();
    rows.into_iter()
        .map(|(kind, name, labels, value)| Sample {
            kind,
            name,
            labels,
            value,
        })
        .collect()
}

fn scrape(addr: &str, openmetrics: bool) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = if openmetrics {
        "application/openmetrics-text; version=1.0.0"
    } else {
        "text/plain"
    };
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// Sum of the samples named `name` whose labels include `with`.
fn total(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn scenario(dir: &Path, server: &EmbeddedServer) -> PathBuf {
    let text = format!(
        r#"
name = "live"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "live-gp"
region = "{region}"
endpoint = "{endpoint}"
path_style = true
[targets.express]
kind = "directory"
bucket = "live--use1-az4--x-s3"
region = "{region}"
endpoint = "{endpoint}"
[dataset]
objects = 32
size = "4KiB"
[prepare]
concurrency = 8
[[phase]]
name = "mixed"
duration = "3s"
warmup = "300ms"
concurrency = 4
mix = [{{ op = "get", weight = 4 }}, {{ op = "put", weight = 1, size = "4KiB" }}, {{ op = "head", weight = 1 }}]
[[phase]]
name = "train"
duration = "1500ms"
[phase.loader]
accelerators = 2
batch_size = 4
compute = "20ms"
read_concurrency = 2
prefetch = 2
"#,
        region = server.region(),
        endpoint = server.endpoint()
    );
    let path = dir.join("live.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn live_metrics_grow_during_the_run_and_end_equal_to_report_and_endpoint() {
    let Some(pythonpath) = prometheus_parser() else {
        return;
    };
    let server = EmbeddedServer::start(Default::default()).unwrap();
    for (bucket, ms) in [("live-gp", 3), ("live--use1-az4--x-s3", 1)] {
        server.create_bucket(bucket).unwrap();
        server.set_injection(
            bucket,
            Injection {
                latency: Some(LatencyDist::Fixed(Duration::from_millis(ms))),
                ..Default::default()
            },
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let scenario = scenario(tmp.path(), &server);
    let out = tmp.path().join("results");
    let mut cmd = crate::common::s3bench_for(&server);
    cmd.args([
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ])
    .args(["--metrics-listen", "127.0.0.1:0", "--metrics-linger", "60s"])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut run = Run(cmd.spawn().unwrap());
    let stderr = Arc::new(Mutex::new(String::new()));
    {
        let pipe = run.0.stderr.take().unwrap();
        let stderr = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = stderr.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
    }
    let mut addr = String::new();
    wait_for(
        "the metrics address on stderr",
        Duration::from_secs(60),
        || {
            let s = stderr.lock().unwrap();
            if let Some(rest) = s.split("metrics: http://").nth(1) {
                addr = rest.split('/').next().unwrap().to_string();
            }
            !addr.is_empty()
        },
    );
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    // Two scrapes while the measured phase runs: the counters grow.
    let mixed = |samples: &[Sample], name: &str| total(samples, name, &[("phase", "mixed")]);
    let mut first = Vec::new();
    wait_for("phase mixed under way", Duration::from_secs(60), || {
        first = parse(&scrape(&addr, false), false, &pythonpath, tmp.path());
        mixed(&first, "s3bench_latency_seconds_count") > 0.0
            && total(&first, "s3bench_phase_info", &[("phase", "mixed")]) == 1.0
    });
    std::thread::sleep(Duration::from_millis(600));
    let second = parse(&scrape(&addr, false), false, &pythonpath, tmp.path());
    for name in [
        "s3bench_operations_total",
        "s3bench_requests_total",
        "s3bench_payload_bytes_total",
        "s3bench_latency_seconds_count",
    ] {
        let (a, b) = (mixed(&first, name), mixed(&second, name));
        assert!(b > a, "{name} did not grow between scrapes: {a} -> {b}");
    }
    assert_eq!(total(&second, "s3bench_run_finished", &[]), 0.0);
    let kinds: BTreeMap<&str, &str> = second
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str()))
        .collect();
    assert_eq!(kinds["s3bench_operations_total"], "counter");
    assert_eq!(kinds["s3bench_latency_seconds_bucket"], "histogram");
    assert_eq!(kinds["s3bench_in_flight"], "gauge");

    // After the run: the totals, as Prometheus text and as OpenMetrics.
    let mut last = Vec::new();
    wait_for("the run to finish", Duration::from_secs(120), || {
        last = parse(&scrape(&addr, false), false, &pythonpath, tmp.path());
        total(&last, "s3bench_run_finished", &[]) == 1.0
    });
    let om = parse(&scrape(&addr, true), true, &pythonpath, tmp.path());
    assert_eq!(
        total(&om, "s3bench_requests_total", &[]),
        total(&last, "s3bench_requests_total", &[])
    );
    // SIGTERM ends the linger; the run's own exit code stands.
    // SAFETY: kill() signals the child this test started, by its PID.
    unsafe {
        libc::kill(run.0.id() as i32, libc::SIGTERM);
    }
    let status = run.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", stderr.lock().unwrap());
    let mut stdout = String::new();
    run.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let dir = Path::new(stdout.lines().last().unwrap()).parent().unwrap();
    let r = s3bench::report::json::read_result(&dir.join("result.json")).unwrap();
    assert!(r.complete);
    equal_to_the_report(&last, &r);
    equal_to_the_endpoint(&last, &r, &server);
}

/// Every (target, phase, op) of the result has the metrics' exact counts,
/// prepare and cleanup included, and the metrics have nothing else.
fn equal_to_the_report(m: &[Sample], r: &RunResult) {
    let mut seen = 0;
    for p in &r.phases {
        for t in &p.targets {
            let ops: std::collections::BTreeSet<&String> =
                t.ops.keys().chain(t.warmup.keys()).collect();
            for op in ops {
                let zero = OpResult::default();
                let (o, w) = (
                    t.ops.get(op).unwrap_or(&zero),
                    t.warmup.get(op).unwrap_or(&zero),
                );
                let l = [
                    ("target", t.target.as_str()),
                    ("phase", p.name.as_str()),
                    ("op", op.as_str()),
                ];
                let at = format!("{} / {} / {op}", p.name, t.target);
                let with = |extra: (&'static str, &'static str)| {
                    let mut v = l.to_vec();
                    v.push(extra);
                    v
                };
                assert_eq!(
                    total(m, "s3bench_operations_total", &l),
                    (o.count + w.count) as f64,
                    "{at}"
                );
                assert_eq!(
                    total(m, "s3bench_operations_total", &with(("outcome", "success"))),
                    (o.successes + w.successes) as f64,
                    "{at}"
                );
                for g in ["throttled", "http", "transport", "conditional"] {
                    let want = [o, w]
                        .iter()
                        .map(|x| x.failures.get(g).map_or(0, |f| f.count))
                        .sum::<u64>();
                    assert_eq!(
                        total(m, "s3bench_operations_total", &with(("outcome", g))),
                        want as f64,
                        "{at} {g}"
                    );
                }
                assert_eq!(
                    total(m, "s3bench_warmup_operations_total", &l),
                    w.count as f64,
                    "{at}"
                );
                assert_eq!(
                    total(m, "s3bench_requests_total", &l),
                    (o.requests + w.requests) as f64,
                    "{at}"
                );
                assert_eq!(
                    total(m, "s3bench_payload_bytes_total", &l),
                    (o.bytes + w.bytes) as f64,
                    "{at}"
                );
                assert_eq!(
                    total(m, "s3bench_latency_seconds_count", &l),
                    o.successes as f64,
                    "{at}"
                );
                assert_eq!(
                    total(m, "s3bench_latency_seconds_bucket", &with(("le", "+Inf"))),
                    o.successes as f64,
                    "{at}"
                );
                seen += o.count + w.count;
            }
            if let Some(ld) = &t.loader {
                let l = [("target", t.target.as_str()), ("phase", p.name.as_str())];
                let au = total(m, "s3bench_dataloader_au", &l);
                assert!(
                    (au - ld.measured.au).abs() < 1e-12,
                    "{au} vs {}",
                    ld.measured.au
                );
                assert_eq!(
                    total(m, "s3bench_dataloader_accelerators", &l),
                    ld.accelerators as f64
                );
            }
        }
        assert!(
            ["prepare", "mixed", "train", "cleanup"].contains(&p.name.as_str()),
            "{}",
            p.name
        );
    }
    assert!(seen > 0);
    assert_eq!(
        total(m, "s3bench_operations_total", &[]),
        seen as f64,
        "nothing the report lacks"
    );
    for t in &r.targets {
        for (op, n) in &t.preflight_requests {
            assert_eq!(
                total(
                    m,
                    "s3bench_preflight_requests_total",
                    &[("target", t.name.as_str()), ("operation", op.as_str())]
                ),
                *n as f64,
                "{} {op}",
                t.name
            );
        }
    }
    assert_eq!(total(m, "s3bench_in_flight", &[]), 0.0);
}

/// What the endpoint counted is what the metrics say was sent: the phases'
/// requests, the preflight's (but CreateSession) and every CreateSession.
fn equal_to_the_endpoint(m: &[Sample], r: &RunResult, server: &EmbeddedServer) {
    let c = server.counters();
    for t in &r.targets {
        let tl = [("target", t.name.as_str())];
        let sessions = total(m, "s3bench_create_sessions_total", &tl);
        assert_eq!(
            sessions,
            c.requests(&t.bucket, "CreateSession") as f64,
            "{}",
            t.name
        );
        if t.kind == "directory" {
            assert!(sessions >= 1.0, "{}", t.name);
        }
        let preflight: f64 = t
            .preflight_requests
            .iter()
            .filter(|(op, _)| *op != "CreateSession")
            .map(|(_, n)| *n as f64)
            .sum();
        let sent = total(m, "s3bench_requests_total", &tl) + preflight + sessions;
        assert_eq!(
            sent,
            c.total_requests(&t.bucket) as f64,
            "{}: {c:?}",
            t.name
        );
        let gets = total(
            m,
            "s3bench_requests_total",
            &[("target", t.name.as_str()), ("op", "get")],
        ) + total(
            m,
            "s3bench_requests_total",
            &[("target", t.name.as_str()), ("op", "ranged_get")],
        ) + t.preflight_requests.get("GetObject").copied().unwrap_or(0) as f64;
        assert_eq!(
            gets,
            c.requests(&t.bucket, "GetObject") as f64,
            "{}",
            t.name
        );
    }
}

const SMALL: &str = r#"
name = "live-small"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "live-small"
region = "us-east-1"
[dataset]
objects = 4
size = "1KiB"
[[phase]]
name = "reads"
ops = 40
concurrency = 2
mix = [{ op = "get" }]
"#;

/// An address already in use is bad input, said before any request is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_address_in_use_is_bad_input_before_anything_is_sent() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let plan = crate::common::scenario(SMALL);
    let server = s3bench::targets::start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let targets = s3bench::targets::embedded_targets(&plan, &server);
    let opts = s3bench::plan::RunOptions {
        metrics_listen: Some(addr),
        ..crate::common::opts(dir.path())
    };
    let err = crate::common::run_against(plan, targets, opts, Arc::new(Default::default()))
        .await
        .err()
        .expect("refused");
    assert!(
        err.downcast_ref::<s3bench::plan::OptionsError>().is_some(),
        "{err:#}"
    );
    assert!(
        format!("{err:#}").starts_with(&format!("--metrics-listen {addr}: cannot listen there:")),
        "{err:#}"
    );
    assert_eq!(server.counters().total_requests("live-small"), 0);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no run folder"
    );
}

/// In the library the run's output holds the server, still serving the
/// totals, until it is dropped (the CLI waits --metrics-linger first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_output_keeps_serving_the_totals() {
    let plan = crate::common::scenario(SMALL);
    let server = s3bench::targets::start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let targets = s3bench::targets::embedded_targets(&plan, &server);
    let opts = s3bench::plan::RunOptions {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        checks: vec!["reads:standard/get/count == 40".into()],
        ..crate::common::opts(dir.path())
    };
    let mut out = crate::common::run_against(plan, targets, opts, Arc::new(Default::default()))
        .await
        .unwrap();
    let addr = out.metrics.as_ref().unwrap().0.local_addr().to_string();
    let text = tokio::task::spawn_blocking(move || scrape(&addr, false))
        .await
        .unwrap();
    let run = &out.result.run_id;
    for (series, want) in [
        (format!("s3bench_run_finished{{run_id=\"{run}\"}}"), 1.0),
        (
            format!("s3bench_checks{{run_id=\"{run}\",verdict=\"pass\"}}"),
            1.0,
        ),
        (
            format!(
                "s3bench_operations_total{{run_id=\"{run}\",target=\"standard\",phase=\"reads\",op=\"get\",outcome=\"success\"}}"
            ),
            40.0,
        ),
    ] {
        let got = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{series} ")))
            .unwrap_or_else(|| panic!("{series}\n{text}"));
        assert_eq!(got.parse::<f64>().unwrap(), want, "{series}");
    }
    assert_eq!(out.exit_code(), s3bench::exit::ExitCode::Success);
    out.metrics.take();
}
