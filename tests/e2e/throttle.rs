//! Throttling is 503 SlowDown and 429 alike: an endpoint answering either
//! is retried by the preflight, and a run against it counts, headlines and
//! warns about them the same way, from the failure groups the client put
//! them in.

use std::path::Path;
use std::sync::Arc;

use s3bench::engine::Cancel;
use s3bench::report::format::fmt_percent;
use s3bench::report::headline::{failure_share, pct};
use s3bench::targets::{embedded_targets, start_embedded};

use crate::common::{opts, preflight, run_against, s3bench, scenario as plan};
use crate::run::target;

/// General Purpose answers `rate` of its object requests with `status
/// code`; Express (when there) answers all. Prepare is off (its PUTs would
/// fail too), so the phase's PUTs are every object request of the phase.
fn scenario(status: u16, code: &str, rate: f64, express: bool) -> String {
    let express = if express {
        "[targets.express]\nkind = \"directory\"\nbucket = \"throttle--use1-az4--x-s3\"\nregion = \"us-east-1\""
    } else {
        ""
    };
    format!(
        r#"
name = "throttle"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "throttle-gp"
region = "us-east-1"
[targets.standard.embedded]
error_rate = {rate}
error_status = {status}
error_code = "{code}"
{express}
[dataset]
objects = 4
size = "4KiB"
[prepare]
enabled = false
[[phase]]
name = "put"
ops = 300
concurrency = 4
mix = [{{ op = "put", weight = 1, size = "4KiB" }}]
"#
    )
}

/// 30% of General Purpose's requests throttled with 503 SlowDown, then with
/// 429 TooManyRequests: the preflight retries through either (10 attempts:
/// it gives up on a request about once in 170,000 runs), and the report
/// counts, headlines and warns about both as throttling, in the same words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_throttling_exactly_as_a_503_is() {
    for (status, code) in [(503, "SlowDown"), (429, "TooManyRequests")] {
        let plan = plan(&scenario(status, code, 0.3, true));
        let server = start_embedded(&plan).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let targets = embedded_targets(&plan, &server);
        let out = run_against(plan, targets, opts(dir.path()), Arc::new(Cancel::default()))
            .await
            .unwrap_or_else(|e| panic!("{status}: the preflight retries a throttle: {e:#}"));
        let r = &out.result;
        let gp = &target(r, "put", "standard").ops["put"];
        let kind = format!("{status} {code}");

        // Counted: every failure is this throttle, in the throttled group,
        // with its status, and in the time series' throttled column.
        assert_eq!(gp.count, 300);
        assert!((40..=160).contains(&gp.errors), "{status}: {gp:?}");
        assert_eq!(
            gp.errors_by_kind[&kind], gp.errors,
            "{:?}",
            gp.errors_by_kind
        );
        let thr = &gp.failures["throttled"];
        assert_eq!(thr.count, gp.errors);
        assert_eq!(thr.statuses, [(status, gp.errors)].into());
        assert_eq!(gp.failures.len(), 1, "{:?}", gp.failures.keys());
        let share = failure_share(gp);
        assert_eq!((share.throttled, share.failed), (gp.errors, 0));
        let per_second: u64 = target(r, "put", "standard")
            .timeseries
            .iter()
            .map(|s| s.throttled)
            .sum();
        assert_eq!(per_second, gp.errors);
        // The endpoint saw every request the report and the preflight sent.
        assert_eq!(
            server.counters().requests("throttle-gp", "PutObject"),
            gp.requests + preflight(r, "standard", "PutObject"),
            "{status}"
        );

        // Headlined and warned about as throttling.
        let md = std::fs::read_to_string(out.dir.join("report.md")).unwrap();
        let headline = format!(
            "General Purpose throttled {} ({status}).",
            pct(share.throttled_share())
        );
        assert!(
            md.lines()
                .any(|l| l.starts_with("- **PUT 4 KiB**") && l.ends_with(&headline)),
            "{status}: no `{headline}` in\n{md}"
        );
        let warning = format!(
            "> - standard put (put phase): {} failed ({kind}) from 0:00 to",
            fmt_percent(gp.errors, gp.count)
        );
        let line = md
            .lines()
            .find(|l| l.starts_with(&warning))
            .unwrap_or_else(|| panic!("{status}: no `{warning}` in\n{md}"));
        assert!(
            line.ends_with(
                " - throttled: the request rate was above what the bucket or prefix takes."
            ),
            "{line}"
        );
        assert!(
            md.contains(&format!(
                "standard: {} throttled ({status}) responses in",
                gp.errors
            )),
            "{md}"
        );
        assert!(!md.contains("General Purpose failed"), "{md}");
    }
}

/// An endpoint that throttles every request: the preflight retries each
/// (about 13 s) and then stops the run before it starts, saying the
/// endpoint kept throttling; exit code 2, nothing written.
#[test]
fn a_preflight_that_is_always_throttled_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("throttled.toml");
    // One target: its first request (ListObjectsV2) outlasts the retries.
    std::fs::write(&file, scenario(429, "TooManyRequests", 1.0, false)).unwrap();
    let results = dir.path().join("results");
    let o = s3bench()
        .args(["run", file.to_str().unwrap(), "--embedded", "-q", "--out"])
        .arg(&results)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "the endpoint kept throttling (HTTP 429 TooManyRequests to all 10 attempts over about 13 s)"
        ),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{err}"
    );
    let written: Vec<_> = walk(&results);
    assert!(written.is_empty(), "nothing may be written: {written:?}");
}

/// Files under `dir` (none when it does not exist).
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
