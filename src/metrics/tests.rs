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
    let l = "{run_id=\"run-1\",target=\"express\",phase=\"mixed\",op=\"get\"";
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
    assert_eq!(
        value(
            &text,
            "s3bench_in_flight{run_id=\"run-1\",target=\"express\"}"
        ),
        7.0
    );
    assert_eq!(
        value(
            &text,
            "s3bench_in_flight{run_id=\"run-1\",target=\"standard\"}"
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            "s3bench_phase_info{run_id=\"run-1\",phase=\"mixed\",target=\"express\"}"
        ),
        1.0
    );
    assert_eq!(value(&text, "s3bench_round{run_id=\"run-1\"}"), 2.0);
    assert_eq!(value(&text, "s3bench_run_finished{run_id=\"run-1\"}"), 0.0);
    m.job_ended();
    let text = m.encode(false);
    assert!(!text.contains("s3bench_phase_info{"), "{text}");
    assert_eq!(
        value(
            &text,
            "s3bench_in_flight{run_id=\"run-1\",target=\"express\"}"
        ),
        0.0
    );
    m.finish(3, 1);
    let text = m.encode(false);
    assert_eq!(value(&text, "s3bench_run_finished{run_id=\"run-1\"}"), 1.0);
    assert_eq!(
        value(&text, "s3bench_checks{run_id=\"run-1\",verdict=\"fail\"}"),
        1.0
    );
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
        value(
            &text,
            "s3bench_create_sessions_total{run_id=\"run-1\",target=\"express\"}"
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            "s3bench_create_session_errors_total{run_id=\"run-1\",target=\"express\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "s3bench_preflight_requests_total{run_id=\"run-1\",target=\"express\",operation=\"PutObject\"}"
        ),
        2.0
    );
    let au = "s3bench_dataloader_au{run_id=\"run-1\",target=\"express\",phase=\"train\"}";
    assert!((value(&text, au) - 0.9).abs() < 1e-12);
    assert_eq!(
        value(
            &text,
            "s3bench_dataloader_accelerators{run_id=\"run-1\",target=\"express\",phase=\"train\"}"
        ),
        8.0
    );
    // Once the phase has ended, the report's figure.
    m.set_dataloader_result("express", "train", 0.87, 6);
    let text = m.encode(false);
    assert_eq!(value(&text, au), 0.87);
    assert_eq!(
        value(
            &text,
            "s3bench_dataloader_accelerators{run_id=\"run-1\",target=\"express\",phase=\"train\"}"
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

// ---- the Grafana dashboard (docs/grafana/s3bench.json) ----

const DASHBOARD: &str = include_str!("../../docs/grafana/s3bench.json");

/// PromQL functions and aggregations the dashboard may call (Grafana's
/// `label_values` included).
const FUNCTIONS: &[&str] = &[
    "sum",
    "avg",
    "max",
    "min",
    "count",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "label_values",
    "clamp_min",
    "topk",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const OPERATORS: &[&str] = &["and", "or", "unless", "bool", "offset"];

/// The metric names and label names a PromQL expression uses: a small
/// scanner that skips strings, ranges and numbers, reads label matchers and
/// grouping lists, and refuses functions it does not know (so a misspelt
/// metric before a `(` cannot slip through as a function).
fn promql_names(expr: &str) -> Result<(Vec<String>, Vec<String>), String> {
    let c: Vec<char> = expr.chars().collect();
    let (mut metrics, mut labels) = (Vec::new(), Vec::new());
    let mut i = 0;
    let ident_start = |x: char| x.is_ascii_alphabetic() || x == '_' || x == ':';
    let ident = |i: &mut usize| {
        let s = *i;
        while *i < c.len() && (c[*i].is_ascii_alphanumeric() || c[*i] == '_' || c[*i] == ':') {
            *i += 1;
        }
        c[s..*i].iter().collect::<String>()
    };
    let skip_ws = |i: &mut usize| {
        while *i < c.len() && c[*i].is_whitespace() {
            *i += 1;
        }
    };
    let skip_string = |i: &mut usize| {
        let q = c[*i];
        *i += 1;
        while *i < c.len() && c[*i] != q {
            if c[*i] == '\\' {
                *i += 1;
            }
            *i += 1;
        }
        *i += 1;
    };
    // A `{...}` matcher list: label names before their operators.
    let matchers = |i: &mut usize, labels: &mut Vec<String>| -> Result<(), String> {
        *i += 1;
        loop {
            skip_ws(i);
            match c.get(*i) {
                None => return Err(format!("unclosed {{ in {expr}")),
                Some('}') => {
                    *i += 1;
                    return Ok(());
                }
                Some(',') => *i += 1,
                Some('"') | Some('\'') => skip_string(i),
                Some('=') | Some('!') | Some('~') => *i += 1,
                Some(x) if ident_start(*x) => labels.push(ident(i)),
                Some(x) => return Err(format!("unexpected {x:?} in matchers of {expr}")),
            }
        }
    };
    let mut label_values_arg = false;
    while i < c.len() {
        let x = c[i];
        if x == '"' || x == '\'' {
            skip_string(&mut i);
        } else if x == '{' {
            matchers(&mut i, &mut labels)?;
        } else if x == '[' {
            while i < c.len() && c[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if x.is_ascii_digit() || x == '.' {
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                i += 1;
            }
        } else if ident_start(x) {
            let name = ident(&mut i);
            let mut j = i;
            skip_ws(&mut j);
            // `sum(...)`, or an aggregation with its grouping first: `max by (l) (...)`.
            let next: String = c[j..]
                .iter()
                .take_while(|y| y.is_ascii_alphabetic())
                .collect();
            let call = c.get(j) == Some(&'(')
                || (!GROUPING.contains(&name.as_str()) && (next == "by" || next == "without"));
            if GROUPING.contains(&name.as_str()) {
                if call {
                    let close = c[j..].iter().position(|&y| y == ')').ok_or("unclosed (")? + j;
                    let list: String = c[j + 1..close].iter().collect();
                    labels.extend(
                        list.split(',')
                            .map(|l| l.trim().to_string())
                            .filter(|l| !l.is_empty()),
                    );
                    i = close + 1;
                }
            } else if OPERATORS.contains(&name.as_str()) {
            } else if call {
                if !FUNCTIONS.contains(&name.as_str()) {
                    return Err(format!("unknown function {name} in {expr}"));
                }
                label_values_arg = name == "label_values";
            } else if label_values_arg && !metrics.is_empty() {
                // label_values(METRIC{...}, LABEL): the second argument.
                labels.push(name);
                label_values_arg = false;
            } else {
                metrics.push(name);
            }
        } else {
            i += 1;
        }
    }
    Ok((metrics, labels))
}

fn dashboard_queries() -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("expr" | "definition", serde_json::Value::String(s)) => {
                            out.push(s.clone())
                        }
                        ("query", serde_json::Value::Object(q)) => {
                            if let Some(serde_json::Value::String(s)) = q.get("query") {
                                out.push(s.clone());
                            }
                        }
                        _ => walk(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let v: serde_json::Value =
        serde_json::from_str(DASHBOARD).expect("docs/grafana/s3bench.json is JSON");
    let mut out = Vec::new();
    walk(&v, &mut out);
    out
}

/// The dashboard parses, and every metric (and label) it queries is one
/// s3bench exports; it shows what a GP-vs-Express run needs.
#[test]
fn the_dashboard_queries_only_what_s3bench_exports() {
    let exported: BTreeSet<String> = exported_names().into_iter().collect();
    let labels: BTreeSet<&str> = [
        "run_id",
        "target",
        "phase",
        "op",
        "outcome",
        "le",
        "operation",
        "verdict",
        "scenario",
        "shard",
    ]
    .into_iter()
    .collect();
    let queries = dashboard_queries();
    assert!(queries.len() >= 15, "{queries:#?}");
    let mut used = BTreeSet::new();
    for q in &queries {
        let (metrics, ls) = promql_names(q).unwrap_or_else(|e| panic!("{e}"));
        assert!(!metrics.is_empty(), "no metric in {q}");
        for m in metrics {
            assert!(
                exported.contains(&m),
                "{m} is not a metric s3bench exports ({q})"
            );
            used.insert(m);
        }
        for l in ls {
            assert!(
                labels.contains(l.as_str()),
                "label {l} is not one s3bench exports ({q})"
            );
        }
    }
    // Throughput and p99 per target, throttles, errors, AU.
    let all = queries.join("\n");
    for want in [
        "sum by (target) (rate(s3bench_operations_total{",
        "outcome=\"success\"",
        "histogram_quantile(0.99, sum by (target, le) (rate(s3bench_latency_seconds_bucket{",
        "outcome=\"throttled\"",
        "outcome=~\"http|transport\"",
        "s3bench_dataloader_au{",
    ] {
        assert!(all.contains(want), "the dashboard lacks {want}");
    }
    // The labels the metrics really carry, from an exposition.
    let m = metrics();
    let mut r: Recorder<{ OpKind::COUNT }> = Recorder::with_live(m.blocks("a", "p")[0].clone());
    r.record(0, 0, &sample(1, None));
    let text = m.encode(false);
    for l in ["run_id=", "target=", "phase=", "op=", "outcome=", "le="] {
        assert!(text.contains(l), "{l}");
    }
}

#[test]
fn the_promql_scanner_catches_what_the_dashboard_test_relies_on() {
    let (m, l) = promql_names(
        r#"histogram_quantile(0.99, sum by (target, le) (rate(s3bench_latency_seconds_bucket{run_id="$run_id", phase!~"a|b"}[$__rate_interval])))"#,
    )
    .unwrap();
    assert_eq!(m, ["s3bench_latency_seconds_bucket"]);
    assert_eq!(l, ["target", "le", "run_id", "phase"]);
    let (m, l) = promql_names("label_values(s3bench_run_info, run_id)").unwrap();
    assert_eq!(
        (m, l),
        (
            vec!["s3bench_run_info".to_string()],
            vec!["run_id".to_string()]
        )
    );
    let (m, _) =
        promql_names("sum(rate(s3bench_nope_total[5m])) / on (target) s3bench_in_flight").unwrap();
    assert_eq!(m, ["s3bench_nope_total", "s3bench_in_flight"]);
    assert!(promql_names("s3bench_operation_total(x)").is_err());
}
