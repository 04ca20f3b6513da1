use super::*;
use crate::report::fixtures::{interrupted_result, sample_result};
use crate::report::model::TargetPhaseResult;

fn spec(s: &str) -> CheckSpec {
    CheckSpec {
        check: check::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")),
        source: Source::Flag,
        name: None,
    }
}

fn one(s: &str, r: &RunResult) -> CheckResult {
    let v = judge(&[spec(s)], r);
    assert_eq!(v.len(), 1, "{s}: {v:#?}");
    v.into_iter().next().unwrap()
}

fn tp<'a>(r: &'a RunResult, phase: &str, target: &str) -> &'a TargetPhaseResult {
    r.phases
        .iter()
        .find(|p| p.name == phase)
        .unwrap()
        .targets
        .iter()
        .find(|t| t.target == target)
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn a_scoped_check_reads_the_phases_own_numbers() {
    let r = sample_result();
    let stored = tp(&r, "mixed", "express").ops["get"].latency_us.p99;
    let c = one("mixed:express/get/p99 < 1s", &r);
    assert!(c.passed, "{c:?}");
    assert_eq!(c.value, Some(stored));
    assert_eq!(c.unit, "us");
    assert_eq!(c.limit, 1e6);
    assert_eq!(c.margin, Some(1e6 - stored));
    assert_eq!(c.covers, "phase mixed");
    assert_eq!(c.instance, "mixed:express/get/p99 < 1s");
    let c = one("mixed:express/get/p99 < 1ms", &r);
    assert!(!c.passed && c.margin.unwrap() < 0.0, "{c:?}");
}

/// Without a scope, every measured phase merged: latency from the
/// histograms added (exactly what one phase holding both would say), ops/s
/// from successes over the measured time; setup phases left out.
#[test]
fn unscoped_checks_merge_the_measured_phases_losslessly() {
    let r = sample_result();
    let (a, b) = (
        &tp(&r, "mixed", "standard").ops["get"],
        &tp(&r, "paced-get", "standard").ops["get"],
    );
    let mut h = codec::decode(&a.histograms.latency).unwrap();
    h.add(codec::decode(&b.histograms.latency).unwrap())
        .unwrap();
    let want = summarize(&h);
    let c = one("standard/get/p999 < 10s", &r);
    assert_eq!(c.value, Some(want.p999));
    assert_eq!(c.covers, "phases mixed + paced-get merged");
    assert_eq!(one("standard/get/mean < 10s", &r).value, Some(want.mean));
    let elapsed = tp(&r, "mixed", "standard").elapsed_s + tp(&r, "paced-get", "standard").elapsed_s;
    let ops = one("standard/get/ops_per_sec > 0", &r).value.unwrap();
    assert!(
        close(ops, (a.successes + b.successes) as f64 / elapsed),
        "{ops}"
    );
    let mib = one("standard/get/mib_per_sec > 0", &r).value.unwrap();
    assert!(
        close(mib, (a.bytes + b.bytes) as f64 / MIB / elapsed),
        "{mib}"
    );
    assert_eq!(
        one("standard/get/count > 0", &r).value,
        Some((a.count + b.count) as f64)
    );
    // TTFB merges its own histograms.
    let mut t = codec::decode(a.histograms.ttfb.as_ref().unwrap()).unwrap();
    t.add(codec::decode(b.histograms.ttfb.as_ref().unwrap()).unwrap())
        .unwrap();
    assert_eq!(
        one("standard/get/ttfb_p50 < 10s", &r).value,
        Some(summarize(&t).p50)
    );
    // put ran in `mixed` only: the merged value is that phase's.
    let put = &tp(&r, "mixed", "standard").ops["put"];
    assert_eq!(
        one("standard/put/p99 < 10s", &r).value,
        Some(put.latency_us.p99)
    );
    assert_eq!(
        one("standard/put/ops_per_sec > 0", &r).value,
        Some(put.ops_per_sec)
    );
    // The cleanup's deletes are setup: never judged.
    let c = one("standard/delete/p99 < 10s", &r);
    assert!(!c.passed && c.value.is_none());
    assert_eq!(
        c.reason.as_deref(),
        Some(
            "no `delete` operations on target `standard` in the measured phases (mixed, paced-get), so nothing was measured"
        )
    );
}

#[test]
fn error_and_throttle_rates_leave_conditional_outcomes_out() {
    let mut r = sample_result();
    // standard put: 14 x 503 SlowDown and 1 timeout.
    let put = tp(&r, "mixed", "standard").ops["put"].clone();
    let c = one("standard/put/error_rate < 0.1%", &r);
    assert!(!c.passed);
    assert!(close(c.value.unwrap(), 15.0 / put.count as f64), "{c:?}");
    assert_eq!(c.unit, "fraction");
    let c = one("standard/put/throttle_rate <= 0.5", &r);
    assert!(c.passed);
    assert!(close(c.value.unwrap(), 14.0 / put.count as f64), "{c:?}");
    assert_eq!(one("standard/put/errors == 15", &r).value, Some(15.0));
    assert!(one("standard/put/errors == 15", &r).passed);
    // Lost races of a conditional write are outcomes, not errors.
    let p = r.phases.iter_mut().find(|p| p.name == "mixed").unwrap();
    let o = p.targets[1].ops.get_mut("head").unwrap();
    o.errors += 5;
    o.successes -= 5;
    *o.errors_by_kind
        .entry("412 PreconditionFailed".into())
        .or_default() += 5;
    o.failures.entry("conditional".into()).or_default().count += 5;
    assert_eq!(one("mixed:express/head/errors == 0", &r).value, Some(0.0));
}

#[test]
fn wildcards_expand_to_every_match_and_each_is_judged_alone() {
    let r = sample_result();
    let v = judge(&[spec("*/put/error_rate < 0.1%")], &r);
    let got: Vec<(&str, bool)> = v.iter().map(|c| (c.instance.as_str(), c.passed)).collect();
    assert_eq!(
        got,
        [
            ("standard/put/error_rate < 0.1%", false),
            ("express/put/error_rate < 0.1%", false)
        ]
    );
    assert!(v.iter().all(|c| c.expr == "*/put/error_rate < 0.1%"));
    // Every op each target ran in a measured phase.
    let v = judge(&[spec("express/*/count > 0")], &r);
    let ops: Vec<&str> = v.iter().map(|c| c.instance.as_str()).collect();
    assert_eq!(
        ops,
        [
            "express/get/count > 0",
            "express/put/count > 0",
            "express/head/count > 0"
        ]
    );
    // TTFB only where there is one.
    let v = judge(&[spec("*/*/ttfb_p99 < 10s")], &r);
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(v.iter().all(|c| c.instance.contains("/get/") && c.passed));
    // Each measured phase on its own; only phases that ran the op.
    let v = judge(&[spec("*:express/*/p50 < 10s")], &r);
    let inst: Vec<&str> = v.iter().map(|c| c.instance.as_str()).collect();
    assert_eq!(
        inst,
        [
            "mixed:express/get/p50 < 10s",
            "mixed:express/put/p50 < 10s",
            "mixed:express/head/p50 < 10s",
            "paced-get:express/get/p50 < 10s"
        ]
    );
    assert_eq!(
        v[3].value,
        Some(tp(&r, "paced-get", "express").ops["get"].latency_us.p50)
    );
    // A wildcard that matches nothing fails; it never passes.
    let c = one("*/copy/p99 < 10s", &r);
    assert!(!c.passed && c.value.is_none(), "{c:?}");
    assert!(
        c.reason.as_deref().unwrap().contains("matched nothing"),
        "{c:?}"
    );
}

#[test]
fn ratio_is_directory_over_general_purpose() {
    let r = sample_result();
    let ex = tp(&r, "mixed", "express").ops["get"].latency_us.p50;
    let gp = tp(&r, "mixed", "standard").ops["get"].latency_us.p50;
    let c = one("mixed:ratio/get/p50 < 0.5", &r);
    assert_eq!(c.value, Some(ex / gp));
    assert!(c.passed, "{c:?}");
    assert_eq!(c.unit, "ratio");
    assert_eq!(c.covers, "express / standard, phase mixed");
    let v = judge(&[spec("ratio/*/ops_per_sec > 1")], &r);
    assert_eq!(v.len(), 3);
    // Without a general-purpose target there is no ratio: it fails.
    let mut only = r.clone();
    only.targets.retain(|t| t.kind == KIND_DIRECTORY);
    let c = one("ratio/get/p50 < 0.5", &only);
    assert!(
        !c.passed
            && c.reason
                .as_deref()
                .unwrap()
                .contains("no directory and general-purpose")
    );
}

#[test]
fn statistics_the_run_did_not_produce_fail_with_the_reason() {
    let mut r = sample_result();
    // Every express put failed: no latency to judge.
    for p in &mut r.phases {
        for t in &mut p.targets {
            if t.target == "express"
                && let Some(o) = t.ops.get_mut("put")
            {
                o.errors = o.count;
                o.successes = 0;
            }
        }
    }
    let c = one("express/put/p99 < 10s", &r);
    assert!(!c.passed);
    assert!(
        c.reason
            .as_deref()
            .unwrap()
            .starts_with("no successful `put` on `express`"),
        "{c:?}"
    );
    // A phase the run never reached (stopped before it).
    let i = interrupted_result();
    for s in [
        "paced-get:express/get/p99 < 10s",
        "paced-get:*/*/p99 < 10s",
        "paced-get:ratio/get/p50 < 1",
    ] {
        let c = one(s, &i);
        assert!(!c.passed && c.value.is_none());
        assert!(
            c.reason
                .as_deref()
                .unwrap()
                .contains("the run stopped before it"),
            "{c:?}"
        );
        assert_eq!(c.covers, "phase paced-get");
    }
    // A literal target and op that did not run.
    let c = one("express/copy/p99 < 10s", &r);
    assert!(
        c.reason
            .as_deref()
            .unwrap()
            .starts_with("no `copy` operations"),
        "{c:?}"
    );
}

#[test]
fn dataloader_checks_read_au_per_target() {
    let r = crate::report::dataloader::tests::loader_run();
    let v = judge(&[spec("train/au >= 0.9")], &r);
    let got: Vec<(&str, Option<f64>, bool)> = v
        .iter()
        .map(|c| (c.instance.as_str(), c.value, c.passed))
        .collect();
    let au = |t: usize| r.phases[0].targets[t].loader.as_ref().unwrap().measured.au;
    assert_eq!(
        got,
        [
            ("train/standard/au >= 0.9", Some(au(0)), au(0) >= 0.9),
            ("train/express/au >= 0.9", Some(au(1)), au(1) >= 0.9),
        ]
    );
    assert_eq!(v[0].unit, "fraction");
    let c = one("train/express/accelerators >= 8", &r);
    assert_eq!(c.value, Some(8.0));
    assert!(c.passed);
    let c = one("*/standard/stall_p99 < 1s", &r);
    assert_eq!(
        c.value,
        Some(
            r.phases[0].targets[0]
                .loader
                .as_ref()
                .unwrap()
                .measured
                .stall_us
                .p99
        )
    );
    // Not a dataloader phase in this result: fails, with the reason.
    let s = sample_result();
    let c = one("mixed/au >= 0.9", &s);
    assert!(!c.passed);
    assert_eq!(
        c.reason.as_deref(),
        Some("phase `mixed` holds no dataloader result")
    );
}

/// `report`, `compare` and `merge` judge a stored result exactly as the run
/// judged it fresh: the same entries, through JSON and back.
#[test]
fn a_stored_result_is_judged_exactly_as_a_fresh_one() {
    let mut r = sample_result();
    let specs = vec![
        CheckSpec {
            name: Some("GET latency SLO".into()),
            source: Source::Scenario,
            ..spec("*/get/p99 < 100ms")
        },
        spec("ratio/get/p50 < 0.5"),
        spec("*:*/*/error_rate < 1%"),
    ];
    r.checks = judge(&specs, &r);
    let stored = crate::report::json::parse_result(&crate::report::json::to_json(&r)).unwrap();
    assert_eq!(stored.checks, r.checks);
    assert_eq!(stored_specs(&stored), specs);
    assert_eq!(rejudge(&stored, &[]), r.checks);
    // A check given again is judged once; a new one is added after.
    let more = rejudge(
        &stored,
        &[spec("ratio/get/p50 < 0.5"), spec("express/get/p50 < 1s")],
    );
    assert_eq!(more.len(), r.checks.len() + 1);
    assert_eq!(more.last().unwrap().instance, "express/get/p50 < 1s");
}

#[test]
fn names_of_a_result_are_its_measured_phases_and_targets() {
    let n = names_of(&sample_result());
    assert_eq!(
        n.phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["mixed", "paced-get"]
    );
    assert_eq!(n.setup, ["prepare", "cleanup"]);
    assert!(n.targets.iter().any(|t| t.name == "express" && t.directory));
    let e = parse_flags(&["prepare:express/put/p99 < 1s".into()], &n).unwrap_err();
    assert!(e.starts_with("--check \"prepare:express/put/p99 < 1s\": column 1: phase `prepare` is the run's own setup"), "{e}");
    let e = parse_flags(&["express/get/p99 < 1".into()], &n).unwrap_err();
    assert!(e.contains("column 20:"), "{e}");
    assert_eq!(
        parse_flags(&["express/get/p99 < 1s".into()], &n)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn verdicts_read_as_sentences() {
    let r = sample_result();
    let c = one("mixed:express/get/p99 < 1s", &r);
    let s = sentence(&c);
    assert!(
        s.starts_with("pass: mixed:express/get/p99 < 1s: measured "),
        "{s}"
    );
    assert!(
        s.contains("(phase mixed)") && s.ends_with("inside the limit"),
        "{s}"
    );
    let c = one("express/copy/p99 < 10s", &r);
    assert!(sentence(&c).starts_with("FAIL: express/copy/p99 < 10s: not measured: no `copy`"));
    assert_eq!(fmt_value(842.0, "us"), "842 µs");
    assert_eq!(fmt_value(12_340.0, "us"), "12.3 ms");
    assert_eq!(fmt_value(2_500_000.0, "us"), "2.50 s");
    assert_eq!(fmt_value(0.001, "fraction"), "0.100%");
    assert_eq!(fmt_value(15.0, "count"), "15");
    let mut m = c.clone();
    (m.margin, m.limit, m.unit) = (Some(-2300.0), 10_000.0, "us".into());
    assert_eq!(fmt_margin(&m), "-2.30 ms (-23%)");
}

#[test]
fn checks_section_snapshot() {
    let mut r = sample_result();
    r.checks = judge(
        &[
            CheckSpec {
                name: Some("GET SLO".into()),
                source: Source::Scenario,
                ..spec("*/get/p99 < 100ms")
            },
            spec("standard/put/error_rate < 0.1%"),
            spec("mixed:ratio/get/p50 < 0.5"),
            spec("express/copy/ops_per_sec > 10"),
        ],
        &r,
    );
    let md = section(&r);
    insta::assert_snapshot!(md);
    // At the top of the report: under the title, above the headline.
    let full = crate::report::markdown::render(&r);
    let at = full.find("## Checks").unwrap();
    assert!(at < full.find("## ").map_or(usize::MAX, |first| first.max(at)) + 1);
    assert!(
        full[..at].lines().filter(|l| l.starts_with("## ")).count() == 0,
        "{full}"
    );
}

#[test]
fn junit_is_well_formed_and_counts_failures() {
    let mut r = sample_result();
    r.scenario = "a <b> & \"c\"".into();
    r.checks = judge(
        &[
            spec("*/get/p99 < 100ms"),
            spec("standard/put/error_rate < 0.1%"),
        ],
        &r,
    );
    let failed = r.checks.iter().filter(|c| !c.passed).count();
    assert!(failed >= 1 && failed < r.checks.len(), "{:#?}", r.checks);
    let x = junit(&r);
    let mut reader = quick_xml::Reader::from_str(&x);
    let (mut cases, mut failures, mut suites) = (0, 0, 0);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                match e.name().as_ref() {
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    b"testsuite" => {
                        suites += 1;
                        let attr = |k: &[u8]| {
                            e.try_get_attribute(k)
                                .unwrap()
                                .unwrap()
                                .unescape_value()
                                .unwrap()
                                .into_owned()
                        };
                        assert_eq!(attr(b"name"), "s3bench checks: a <b> & \"c\"");
                        assert_eq!(attr(b"tests"), "3");
                        assert_eq!(attr(b"failures"), failed.to_string());
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(e) => panic!("not well-formed at {}: {e}\n{x}", reader.buffer_position()),
        }
    }
    assert_eq!((suites, cases, failures), (1, 3, failed), "{x}");
}
