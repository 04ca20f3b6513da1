use std::time::{Duration, Instant};

use super::*;

fn names() -> Names {
    Names {
        targets: vec!["gp".into(), "express".into()],
        phases: vec!["read".into()],
    }
}

fn req<'a>(start: Instant, op: &'static str, key: &'a str, i: u64) -> Request<'a> {
    Request {
        op,
        key,
        range: (i % 2 == 1).then_some((i, i + 9)),
        bytes: i,
        sent: start + Duration::from_micros(i),
        first_byte: Some(start + Duration::from_micros(i + 1)),
        done: start + Duration::from_micros(i + 2),
        status: 200,
        group: "",
        error: "",
        attempt: 1,
    }
}

/// Rows from a scoped task on an engine-like thread and from the
/// coordinator all arrive, with awkward keys quoted and read back as written.
#[test]
fn rows_round_trip_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let log = OpLog::create(dir.path(), names(), start).unwrap();
    let sink = log.sink().clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let keys = ["plain/key", "with,comma", "quote\"d", "new\nline", "ü/日本"];
    rt.block_on(async {
        let ctx = Ctx {
            target: 1,
            phase: Some(0),
            round: 2,
            stage: Stage::Warmup,
            thread: Some(3),
            due: Some(start),
        };
        scope(Some(&sink), ctx, true, async {
            for i in 0..3000u64 {
                if i == 10 {
                    set_due(start + Duration::from_millis(1), Stage::Measured);
                }
                record(&req(start, "GetObject", keys[i as usize % keys.len()], i));
            }
        })
        .await;
        flush_thread();
        scope(
            Some(&sink),
            Ctx::coordinator(0, Stage::Cleanup),
            false,
            async {
                record(&Request {
                    status: 503,
                    group: "throttled",
                    error: "503 SlowDown",
                    attempt: 2,
                    ..req(start, "DeleteObjects", "", 7)
                });
            },
        )
        .await;
        // Outside any scope nothing is recorded.
        record(&req(start, "GetObject", "x", 1));
    });
    assert_eq!(log.recorded(), 3001);
    let summary = log.finish();
    assert_eq!(summary.rows, 3001);
    assert_eq!(summary.lost, 0);
    assert!(summary.error.is_none());
    let rows = read::read_all(&dir.path().join(FILE_NAME)).unwrap();
    assert_eq!(rows.len(), 3001);
    let first = &rows[0];
    assert_eq!(
        (first.target.as_str(), first.phase.as_str(), first.round),
        ("express", "read", 2)
    );
    assert_eq!(first.stage, "warmup");
    assert_eq!(first.due_ns, Some(0));
    assert_eq!(rows[10].stage, "measured");
    assert_eq!(rows[10].due_ns, Some(1_000_000));
    for (i, r) in rows[..3000].iter().enumerate() {
        let i = i as u64;
        assert_eq!(r.key, keys[i as usize % keys.len()]);
        assert_eq!(r.bytes, i);
        assert_eq!(r.sent_ns, i * 1000);
        assert_eq!(r.first_byte_ns, Some(i * 1000 + 1000));
        assert_eq!(r.last_byte_ns, i * 1000 + 2000);
        assert_eq!(r.range, (i % 2 == 1).then_some((i, i + 9)));
        assert_eq!(r.thread, Some(3));
    }
    let last = &rows[3000];
    assert_eq!(
        (last.phase.as_str(), last.stage.as_str(), last.op.as_str()),
        ("cleanup", "cleanup", "DeleteObjects")
    );
    assert_eq!((last.status, last.group.as_str()), (Some(503), "throttled"));
    assert_eq!((last.error.as_str(), last.attempt), ("503 SlowDown", 2));
    assert_eq!((last.due_ns, last.thread), (None, None));
}

/// A large log is several gzip members, each complete; every gzip reader
/// (MultiGzDecoder here, Python's gzip, zcat) reads them as one stream.
#[test]
fn long_logs_are_complete_gzip_members() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let log = OpLog::create(dir.path(), names(), start).unwrap();
    let sink = log.sink().clone();
    let key = "k".repeat(200);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let n = 60_000u64;
    rt.block_on(scope(
        Some(&sink),
        Ctx::coordinator(0, Stage::Prepare),
        true,
        async {
            for i in 0..n {
                record(&req(start, "PutObject", &key, i));
            }
            flush_thread();
        },
    ));
    let s = log.finish();
    assert_eq!(s.rows, n);
    let bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
    let members = bytes
        .windows(3)
        .filter(|w| w == &[0x1f, 0x8b, 0x08])
        .count();
    assert!(members >= 2, "{members} gzip members");
    assert_eq!(
        read::read_all(&dir.path().join(FILE_NAME)).unwrap().len() as u64,
        n
    );
}

/// What a second signal does: the file is finished while the run is still
/// going, and is readable.
#[test]
fn finish_all_now_completes_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let log = OpLog::create(dir.path(), names(), start).unwrap();
    let sink = log.sink().clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(scope(
        Some(&sink),
        Ctx::coordinator(0, Stage::Preflight),
        false,
        async {
            record(&req(start, "HeadBucket", "", 0));
        },
    ));
    finish_all_now(Duration::from_secs(10));
    let rows = read::read_all(&dir.path().join(FILE_NAME)).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].op, "HeadBucket");
    drop(log);
}

#[test]
fn csv_reader_handles_rfc4180() {
    let text = "a,b,c\r\n1,\"x,y\",\"he said \"\"hi\"\"\"\n2,\"multi\nline\",\n";
    let mut r = read::CsvReader::new(text.as_bytes());
    let mut f = Vec::new();
    assert!(r.next_record(&mut f).unwrap());
    assert_eq!(f, ["a", "b", "c"]);
    assert!(r.next_record(&mut f).unwrap());
    assert_eq!(f, ["1", "x,y", "he said \"hi\""]);
    assert!(r.next_record(&mut f).unwrap());
    assert_eq!(f, ["2", "multi\nline", ""]);
    assert_eq!(r.line_no, 3);
    assert!(!r.next_record(&mut f).unwrap());
}
