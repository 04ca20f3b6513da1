//! The audits, end to end: the express ops run through the real engine
//! against the embedded endpoint, once with its directory bucket broken on
//! purpose (appends that overwrite, renames answered as empty PUTs,
//! conditional writes that race) and once as it is. The broken run names
//! each violation with its numbers (warnings, headline, result.json, the
//! op's row); the normal run, with 8 writers per key, names none. The
//! endpoint's own counts are the phases' plus the preflight's plus the
//! audits'.

use s3bench::report::model::{AuditCheck, AuditVerdict, OpAudit, RunResult};
use s3bench::server::EmbeddedServer;
use s3bench::targets::start_embedded;

use crate::common::{self, DIR, GP, two_targets};

const PHASES: &str = r#"
[dataset]
objects = 8
size = "8KiB"
[[phase]]
name = "append"
ops = 60
concurrency = 4
mix = [{ op = "append", size = "4KiB", appends = 5, gp_equivalent = "rewrite" }]
[[phase]]
name = "commit"
ops = 20
concurrency = 2
mix = [{ op = "rename", size = "16KiB", gp_equivalent = "copy-delete" }]
[[phase]]
name = "locks"
ops = 240
concurrency = 8
mix = [{ op = "conditional-put", mode = "create-only", contention = 8, size = "1KiB" }]
[[phase]]
name = "cas"
ops = 160
concurrency = 8
mix = [{ op = "conditional-put", mode = "compare-and-swap", contention = 8, size = "100B" }]
[[phase]]
name = "copy"
ops = 20
concurrency = 2
mix = [{ op = "copy" }]
[[phase]]
name = "upload"
ops = 6
concurrency = 2
mix = [{ op = "multipart-put", size = "6MiB", part_size = "5MiB" }]
"#;

/// The scenario, its directory bucket broken in every mode or not at all.
fn toml(broken: bool) -> String {
    let mut targets = two_targets();
    if broken {
        targets = targets.express(
            "[targets.express.embedded]\nbroken = [\"append-overwrites\", \"rename-as-empty-put\", \"racy-conditional-writes\"]",
        );
    }
    common::scenario_text("name = \"audit-e2e\"\nrounds = 1", targets, PHASES)
}

async fn run(broken: bool) -> (RunResult, EmbeddedServer, String) {
    let text = toml(broken);
    let plan = common::scenario(&text);
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = common::run_on(&server, plan, dir.path()).await;
    let run_dir = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    (r, server, md)
}

fn audit<'a>(r: &'a RunResult, phase: &str, target: &str, check: AuditCheck) -> &'a OpAudit {
    r.phases
        .iter()
        .find(|p| p.name == phase)
        .and_then(|p| p.targets.iter().find(|t| t.target == target))
        .and_then(|t| t.audits.iter().find(|a| a.check == check))
        .unwrap_or_else(|| panic!("{phase}/{target}: no {check:?} audit in {r:#?}"))
}

/// The endpoint's requests on `bucket` against the report: every phase's
/// (prepare and cleanup included) and their sessions, plus the preflight's,
/// plus the audits'.
fn reconcile(r: &RunResult, server: &EmbeddedServer, target: &str, bucket: &str) {
    let phases: u64 = r
        .phases
        .iter()
        .flat_map(|p| p.targets.iter().filter(|t| t.target == target))
        .map(|t| t.ops.values().map(|o| o.requests).sum::<u64>() + t.sessions.count)
        .sum();
    let info = r.targets.iter().find(|t| t.name == target).unwrap();
    let pre: u64 = info.preflight_requests.values().sum();
    let audits: u64 = info.audit_requests.values().sum();
    assert!(info.audit_requests["HeadObject"] > 0, "{target}: {info:?}");
    assert_eq!(
        server.counters().total_requests(bucket),
        phases + pre + audits,
        "{target}: phases {phases}, preflight {pre}, audits {audits}"
    );
    // Each check's requests add up to what the target says it sent.
    let per_check: u64 = r
        .phases
        .iter()
        .flat_map(|p| p.targets.iter().filter(|t| t.target == target))
        .flat_map(|t| &t.audits)
        .map(|a| a.requests)
        .sum();
    assert_eq!(per_check, info.audit_requests["HeadObject"], "{target}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_endpoint_is_caught_with_its_numbers() {
    let (r, server, md) = run(true).await;
    assert!(r.complete);
    let v = |a: &OpAudit| a.verdict;

    // Appends overwrote: each object holds its last append (4 KiB) where
    // five were written; no answer said a size.
    let ap = audit(&r, "append", "express", AuditCheck::AppendSize);
    assert_eq!(v(ap), AuditVerdict::Violated, "{ap:?}");
    assert_eq!(ap.claimed, 60, "{ap:?}");
    assert!(
        ap.broken > 0 && ap.seen < ap.expected && ap.sizes_said == 0,
        "{ap:?}"
    );
    // Renames left the source and an empty destination.
    let rn = audit(&r, "commit", "express", AuditCheck::RenameMoved);
    assert_eq!(v(rn), AuditVerdict::Violated);
    assert_eq!((rn.claimed, rn.checked, rn.broken), (20, 20, 20), "{rn:?}");
    assert_eq!(
        (rn.seen, rn.sources_left, rn.requests),
        (0, 20, 40),
        "{rn:?}"
    );
    // Create-only with 8 writers per key: more winners than keys.
    let lock = audit(&r, "locks", "express", AuditCheck::CreateOnlyOneWinner);
    assert_eq!(v(lock), AuditVerdict::Violated);
    assert!(lock.seen > lock.items && lock.broken > 0, "{lock:?}");
    let express = |phase: &str, op: &str| {
        r.phases.iter().find(|p| p.name == phase).unwrap().targets[1].ops[op].clone()
    };
    assert_eq!(
        lock.seen,
        express("locks", "conditional_put").successes,
        "{lock:?}"
    );
    // Compare-and-swap lost updates: fewer writes survived than succeeded.
    let cas = audit(&r, "cas", "express", AuditCheck::SwapsSurvive);
    assert_eq!(v(cas), AuditVerdict::Violated);
    assert!(cas.seen < cas.expected, "{cas:?}");
    // What is not broken holds there too: copies, uploads.
    for (phase, check) in [
        ("copy", AuditCheck::CopySize),
        ("upload", AuditCheck::MultipartSize),
    ] {
        assert_eq!(v(audit(&r, phase, "express", check)), AuditVerdict::Held);
    }
    // The General Purpose bucket works: every audit held, also under 8
    // writers per key.
    for p in r.phases.iter().filter(|p| p.is_measured()) {
        for a in &p.targets[0].audits {
            assert_eq!(a.verdict, AuditVerdict::Held, "standard {}: {a:?}", p.name);
        }
    }
    // The op's numbers are marked, in the JSON and the report's row.
    assert_eq!(
        express("append", "append").audit,
        Some(AuditVerdict::Violated)
    );
    assert_eq!(express("copy", "copy").audit, Some(AuditVerdict::Held));
    assert_eq!(
        r.phases
            .iter()
            .find(|p| p.name == "append")
            .unwrap()
            .targets[0]
            .ops["append"]
            .audit,
        Some(AuditVerdict::Held)
    );
    assert!(md.contains("| express (failed its audit) |"), "{md}");

    // One warning per violation, with its numbers, in the report and its
    // headline (4 of them; nothing about the General Purpose target).
    let said = s3bench::report::audit::warnings(&r);
    assert_eq!(said.len(), 4, "{said:#?}");
    for w in &said {
        assert!(w.starts_with("express "), "{w}");
        assert!(md.contains(w.as_str()), "{w}\n{md}");
        assert!(
            md.contains(&format!("- **Audit failed:** {w}")),
            "{w}\n{md}"
        );
    }
    let find = |needle: &str| {
        said.iter()
            .find(|w| w.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {said:#?}"))
    };
    assert!(
        find("append (append phase): 60 appends were answered success, but ")
            .contains("the endpoint ignores the write offset")
    );
    assert!(find("rename (commit phase): 20 renames were answered success, but 20 of the 20 read back were not done: their destinations hold 0 B where 320 KiB were written, and 20 of their sources are still there")
        .contains("answers RenameObject as an empty PUT"));
    assert!(
        find(&format!(
            "conditional_put (locks phase): {} create-only winners for {} keys",
            lock.seen, lock.items
        ))
        .contains("the endpoint's conditional writes are not atomic")
    );
    assert!(find("compare-and-swap writes were answered success, but the objects' final lengths show only").contains("not atomic"));
    assert!(md.contains("### Audits"), "{md}");

    for (target, bucket) in [("standard", GP), ("express", DIR)] {
        reconcile(&r, &server, target, bucket);
    }
    // The audits read before the cleanup, which still removed everything.
    assert_eq!(server.object_count(DIR), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_endpoint_gets_no_false_alarm() {
    let (r, server, md) = run(false).await;
    assert!(r.complete);
    for p in r.phases.iter().filter(|p| p.is_measured()) {
        for t in &p.targets {
            assert!(!t.audits.is_empty(), "{} {}: not audited", p.name, t.target);
            for a in &t.audits {
                assert_eq!(
                    a.verdict,
                    AuditVerdict::Held,
                    "{} {}: {a:?}",
                    p.name,
                    t.target
                );
                assert_eq!((a.broken, a.unreadable), (0, 0), "{a:?}");
            }
        }
    }
    // Every append's answer named the object's new size, the one the
    // appends had made (read off the direct path's own HTTP/1.1 client).
    let ap = audit(&r, "append", "express", AuditCheck::AppendSize);
    assert_eq!(
        (ap.claimed, ap.sizes_said, ap.sizes_wrong),
        (60, 60, 0),
        "{ap:?}"
    );
    // 8 writers per key: one winner each, and every swap survived.
    let lock = audit(&r, "locks", "express", AuditCheck::CreateOnlyOneWinner);
    assert_eq!(lock.seen, lock.items, "{lock:?}");
    let cas = audit(&r, "cas", "express", AuditCheck::SwapsSurvive);
    assert_eq!(
        (cas.seen, cas.expected),
        (cas.claimed, cas.claimed),
        "{cas:?}"
    );
    assert!(s3bench::report::audit::warnings(&r).is_empty());
    assert!(
        !md.contains("Audit failed") && !md.contains("failed its audit"),
        "{md}"
    );
    assert!(md.contains("### Audits"), "{md}");
    for (target, bucket) in [("standard", GP), ("express", DIR)] {
        reconcile(&r, &server, target, bucket);
    }
}
