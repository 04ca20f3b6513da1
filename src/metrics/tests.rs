use std::collections::BTreeSet;
use std::sync::Arc;

use super::*;
use crate::stats::{Failure, FailureGroup, Recorder, Sample};

fn sample(ns: u64, failure: Option<Failure<'static>>) -> Sample<'static> {
    Sample {
        latency_ns: ns,
        service_ns: ns,
        ttfb_ns: None,
        bytes: 4096,
        requests: 1,
        failure,
        late_start: false,
        behind_session: false,
    }
}

fn metrics() -> Metrics {
    Metrics::new(
        "run-1",
        "spine",
        None,
        2,
        &["standard".to_string(), "express".to_string()],
        2,
    )
}

/// The names of the series in an exposition (`name{...} value` lines).
fn series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

fn value(text: &str, line_start: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no line {line_start}\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn the_threads_blocks_are_summed_and_labelled() {
    let m = metrics();
    let blocks = m.blocks("express", "mixed");
    assert_eq!(blocks.len(), 2, "one block per engine thread");
    assert!(Arc::ptr_eq(&blocks[0], &m.blocks("express", "mixed")[0]));
    let get = OpKind::Get.index();
    let mut a: Recorder<{ OpKind::COUNT }> = Recorder::with_live(blocks[0].clone());
    let mut b: Recorder<{ OpKind::COUNT }> = Recorder::with_live(blocks[1].clone());
    a.record(get, 0, &sample(3_000_000, None));
    a.record(get, 0, &sample(250_000, None));
    b.record(get, 0, &sample(8_000_000, None));
    b.record_warmup(get, &sample(20_000_000, None));
    b.record(
        get,
        0,
        &sample(
            1_000_000,
            Some(Failure {
                kind: "503 SlowDown",
                group: FailureGroup::Throttled,
                status: Some(503),
            }),
        ),
    );
    m.job_started("mixed", "express", 2, None);
    blocks[1].set_in_flight(7);
    let text = m.encode(false);
    let l = "{target=\"express\",phase=\"mixed\",op=\"get\"";
    assert_eq!(
        value(
            &text,
            &format!("s3bench_operations_total{l},outcome=\"success\"}}")
        ),
        4.0
    );
    assert_eq!(
        value(
            &text,
            &format!("s3bench_operations_total{l},outcome=\"throttled\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!("s3bench_operations_total{l},outcome=\"transport\"}}")
        ),
        0.0
    );
    assert_eq!(
        value(&text, &format!("s3bench_warmup_operations_total{l}}}")),
        1.0
    );
    assert_eq!(value(&text, &format!("s3bench_requests_total{l}}}")), 5.0);
    assert_eq!(
        value(&text, &format!("s3bench_payload_bytes_total{l}}}")),
        4.0 * 4096.0
    );
    // Measured successes only; cumulative buckets.
    assert_eq!(
        value(&text, &format!("s3bench_latency_seconds_count{l}}}")),
        3.0
    );
    assert_eq!(
        value(
            &text,
            &format!("s3bench_latency_seconds_bucket{l},le=\"0.0003\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!("s3bench_latency_seconds_bucket{l},le=\"0.005\"}}")
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            &format!("s3bench_latency_seconds_bucket{l},le=\"10\"}}")
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            &format!("s3bench_latency_seconds_bucket{l},le=\"+Inf\"}}")
        ),
        3.0
    );
    assert!((value(&text, &format!("s3bench_latency_seconds_sum{l}}}")) - 0.01125).abs() < 1e-12);
    assert_eq!(value(&text, "s3bench_in_flight{target=\"express\"}"), 7.0);
    assert_eq!(value(&text, "s3bench_in_flight{target=\"standard\"}"), 0.0);
    assert_eq!(
        value(
            &text,
            "s3bench_phase_info{phase=\"mixed\",target=\"express\"}"
        ),
        1.0
    );
    assert_eq!(value(&text, "s3bench_round "), 2.0);
    assert_eq!(value(&text, "s3bench_run_finished "), 0.0);
    m.job_ended();
    let text = m.encode(false);
    assert!(!text.contains("s3bench_phase_info{"), "{text}");
    assert_eq!(value(&text, "s3bench_in_flight{target=\"express\"}"), 0.0);
    m.finish(3, 1);
    let text = m.encode(false);
    assert_eq!(value(&text, "s3bench_run_finished "), 1.0);
    assert_eq!(value(&text, "s3bench_checks{verdict=\"fail\"}"), 1.0);
    assert_eq!(
        value(
            &text,
            "s3bench_run_info{run_id=\"run-1\",scenario=\"spine\",shard=\"\"}"
        ),
        1.0
    );
}

#[test]
fn sessions_preflight_and_dataloader_gauges() {
    let m = metrics();
    m.add_sessions("express", Arc::new(|| (3, 1)));
    m.set_preflight(
        "express",
        &[
            ("PutObject".to_string(), 2),
            ("CreateSession".to_string(), 1),
        ]
        .into_iter()
        .collect(),
    );
    let blocks = m.blocks("express", "train");
    m.job_started("train", "express", 1, Some(8));
    blocks[0].note_compute(900);
    blocks[1].note_stall(100);
    let text = m.encode(false);
    assert_eq!(
        value(&text, "s3bench_create_sessions_total{target=\"express\"}"),
        3.0
    );
    assert_eq!(
        value(
            &text,
            "s3bench_create_session_errors_total{target=\"express\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "s3bench_preflight_requests_total{target=\"express\",operation=\"PutObject\"}"
        ),
        2.0
    );
    let au = "s3bench_dataloader_au{target=\"express\",phase=\"train\"}";
    assert!((value(&text, au) - 0.9).abs() < 1e-12);
    assert_eq!(
        value(
            &text,
            "s3bench_dataloader_accelerators{target=\"express\",phase=\"train\"}"
        ),
        8.0
    );
    // Once the phase has ended, the report's figure.
    m.set_loader_result("express", "train", 0.87, 6);
    let text = m.encode(false);
    assert_eq!(value(&text, au), 0.87);
    assert_eq!(
        value(
            &text,
            "s3bench_dataloader_accelerators{target=\"express\",phase=\"train\"}"
        ),
        6.0
    );
}

/// Every series the exposition holds is in `exported_names` (what the
/// dashboard test checks queries against), and the other way round.
#[test]
fn exported_names_are_exactly_the_exposition() {
    let m = metrics();
    let blocks = m.blocks("standard", "mixed");
    let mut r: Recorder<{ OpKind::COUNT }> = Recorder::with_live(blocks[0].clone());
    r.record(0, 0, &sample(1_000_000, None));
    m.add_sessions("express", Arc::new(|| (0, 0)));
    m.set_preflight(
        "express",
        &[("HeadBucket".to_string(), 1)].into_iter().collect(),
    );
    m.job_started("train", "standard", 1, Some(2));
    m.blocks("standard", "train")[0].note_compute(5);
    m.finish(1, 0);
    m.job_started("train", "standard", 1, Some(2));
    let text = m.encode(false);
    let got = series(&text);
    let want: BTreeSet<String> = exported_names().into_iter().collect();
    assert_eq!(got, want, "{text}");
    assert!(got.iter().all(|n| n.starts_with("s3bench_")));
    // OpenMetrics: the same series, ended by `# EOF`.
    let om = m.encode(true);
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert_eq!(series(&om.replace("# EOF", "")), want);
}

#[tokio::test]
async fn serves_metrics_over_http_on_loopback() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let m = metrics();
    let server = m.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let get = |path: &'static str, accept: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        buf
    };
    let text = get("/metrics", "*/*").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("content-type: text/plain; version=0.0.4"),
        "{text}"
    );
    assert!(text.contains("s3bench_run_info{run_id=\"run-1\""), "{text}");
    let om = get(
        "/metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    )
    .await;
    assert!(
        om.contains("application/openmetrics-text") && om.ends_with("# EOF\n"),
        "{om}"
    );
    assert!(get("/nope", "*/*").await.starts_with("HTTP/1.1 404"));
    // In use: an error, before anything would run.
    assert!(m.serve(addr).is_err());
    drop(server);
}
