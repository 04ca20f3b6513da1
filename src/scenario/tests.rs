use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

const FILE: &str = "scenarios/x.toml";

/// A small valid scenario; tests edit it with `str::replace` so line numbers
/// stay easy to read off.
pub(super) const BASE: &str = r#"name = "t"

[targets.standard]
kind = "general-purpose"
bucket = "my-bench-bucket"
region = "us-east-1"

[targets.express]
kind = "directory"
bucket = "bench--use1-az4--x-s3"
region = "us-east-1"

[dataset]
objects = 4
size = "4KiB"

[[phase]]
name = "p"
duration = "10s"
concurrency = 2
mix = [{ op = "get" }]
"#;

pub(super) fn ok(text: &str) -> Plan {
    match parse(text, Path::new(FILE)) {
        Ok(p) => p,
        Err(e) => panic!("expected a valid scenario, got:\n{e}"),
    }
}

pub(super) fn problems(text: &str) -> Vec<Problem> {
    match parse(text, Path::new(FILE)) {
        Ok(_) => panic!("expected problems, the scenario was accepted:\n{text}"),
        Err(e) => e.problems().to_vec(),
    }
}

/// The one problem of `text`, checked for position and field.
pub(super) fn one(text: &str, line: usize, column: usize, field: &str) -> Problem {
    let ps = problems(text);
    assert_eq!(ps.len(), 1, "expected one problem, got {ps:#?}");
    let p = ps.into_iter().next().unwrap();
    assert_eq!(
        (p.line, p.column, p.field.as_str()),
        (Some(line), Some(column), field),
        "{p}"
    );
    assert_eq!(p.file, PathBuf::from(FILE));
    p
}

fn shipped() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["scenarios", "bench"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_loads() {
    let files = shipped();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "ml-shards.toml",
        "small-objects.toml",
        "prefix-layout.toml",
        "prefix-layout-date-first.toml",
        "mixed.toml",
        "ramp.toml",
        "get-4k.toml",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    for path in &files {
        let plan = load(path).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.starts_with("# "),
            "{}: needs a header comment",
            path.display()
        );
        assert!(
            text.contains("--embedded"),
            "{}: header must say how long it runs with --embedded",
            path.display()
        );
        assert!(
            text.contains("AWS"),
            "{}: header must say how to scale up for AWS",
            path.display()
        );
        // Keep shipped scenarios short on the embedded endpoint (~3 minutes on 2 cores).
        let per_round: Duration = plan
            .phases
            .iter()
            .map(|p| p.warmup + p.stop.duration.unwrap_or_default())
            .sum();
        let total = per_round * plan.rounds * plan.targets.len() as u32;
        assert!(
            total <= Duration::from_secs(150),
            "{}: {total:?} of phases",
            path.display()
        );
        let bytes: u64 = (0..plan.dataset.objects).map(|i| plan.object_size(i)).sum();
        assert!(
            bytes <= 1 << 30,
            "{}: data set of {bytes} bytes per target",
            path.display()
        );
    }
}

#[test]
fn the_documented_example_parses() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenario-format.md"),
    )
    .unwrap();
    let start = doc
        .find("```toml\n")
        .expect("a toml example in the format docs")
        + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let plan = ok(&doc[start..end]);
    assert_eq!(plan.name, "ml-shards");
    assert_eq!(plan.targets.len(), 2);
}

#[test]
fn ml_shards_is_the_scenario_it_claims() {
    let plan =
        load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ml-shards.toml")).unwrap();
    let names: Vec<_> = plan.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["standard", "express"], "file order kept");
    assert_eq!(plan.targets[0].kind, TargetKind::GeneralPurpose);
    assert_eq!(plan.targets[0].bucket, "s3bench-gp");
    let dirs: Vec<_> = plan
        .directory_targets()
        .map(|t| t.bucket.as_str())
        .collect();
    assert_eq!(dirs, ["s3bench--use1-az4--x-s3"]);
    assert_eq!(plan.dataset.objects, 24);
    assert_eq!(plan.dataset.size, SizeDist::Fixed(32 << 20));
    assert_eq!(
        plan.targets[0].embedded.as_ref().unwrap().latency,
        Some(LatencyDist::LogNormal {
            p50: Duration::from_millis(20),
            p99: Duration::from_millis(60)
        })
    );
    let checkpoint = &plan.phases[1].mix[1];
    assert_eq!(
        checkpoint.op,
        OpSpec::MultipartPut {
            size: 32 << 20,
            part_size: 8 << 20
        }
    );
    assert_eq!(checkpoint.weight, 1);
    assert_eq!(plan.phases[1].mix[0].weight, 9);
    assert_eq!(
        plan.phases[0].stages[0].load,
        Load::Closed { concurrency: 16 }
    );
}

#[test]
fn ramp_has_rising_open_loop_stages_and_a_gp_prefix_limit() {
    let plan = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ramp.toml")).unwrap();
    let rates: Vec<f64> = plan.phases[0]
        .stages
        .iter()
        .map(|s| match s.load {
            Load::Open { rate, .. } => rate,
            Load::Closed { .. } => panic!("closed stage"),
        })
        .collect();
    assert!(rates.windows(2).all(|w| w[0] < w[1]), "{rates:?}");
    assert_eq!(plan.phases[0].stop.duration, Some(Duration::from_secs(30)));
    let gp = plan.targets[0].embedded.as_ref().unwrap();
    assert_eq!(gp.prefix_limit, Some(PrefixLimit::rates(400, 200)));
    assert_eq!(
        plan.targets[1].embedded.as_ref().unwrap().prefix_limit,
        None
    );
}

#[test]
fn defaults_fill_in() {
    let text = BASE.replace("name = \"t\"\n", "");
    let plan = parse(&text, Path::new("dir/my-scenario.toml")).unwrap();
    assert_eq!(plan.name, "my-scenario");
    assert_eq!(plan.source, PathBuf::from("dir/my-scenario.toml"));
    assert_eq!((plan.seed, plan.rounds, plan.cleanup), (1, 2, true));
    assert_eq!(plan.client, ClientSettings::default());
    assert_eq!(
        plan.prepare,
        Prepare {
            enabled: true,
            concurrency: 16,
            multipart_threshold: 16 << 20,
            part_size: 8 << 20
        }
    );
    assert_eq!(plan.dataset.key.source, "{index:08}");
    assert_eq!(plan.phases[0].warmup, Duration::ZERO);
    assert_eq!(
        plan.phases[0].stop,
        Stop {
            duration: Some(Duration::from_secs(10)),
            ops: None
        }
    );
    assert_eq!(
        plan.phases[0].stages,
        vec![Stage {
            load: Load::Closed { concurrency: 2 },
            duration: None
        }]
    );
    assert_eq!(
        plan.phases[0].mix,
        vec![WeightedOp {
            op: OpSpec::Get,
            weight: 1
        }]
    );
    assert!(!plan.targets[0].path_style);
    assert_eq!(plan.targets[0].embedded, None);
}

#[test]
fn every_field_maps_onto_the_plan() {
    let text = r#"
name = "full"
description = "all fields"
seed = 9
rounds = 3
cleanup = false

[targets.minio]
kind = "general-purpose"
bucket = "bench.bucket-1"
region = "eu-west-1"
endpoint = "http://127.0.0.1:9000"
profile = "bench"
path_style = true

[targets.minio.embedded]
latency = { min = "5ms", max = "9ms" }
bandwidth = "100MiB"
error_rate = 0.01
error_status = 500
prefix_limit = true
broken = ["racy-conditional-writes"]

[dataset]
objects = 10
size = [{ size = "4KiB", weight = 3 }, { size = "1MiB" }]
key = "{hash:2}/{yyyy}/{index:04}"

[prepare]
enabled = false
concurrency = 4
multipart_threshold = "32MiB"
part_size = "16MiB"

[client]
max_attempts = 3
checksums = "when-supported"
stalled_stream_protection = true
connect_timeout = "1s"
operation_timeout = "none"
request_path = "sdk"
stop_on_failures = { share = 0.5, for = "30s" }

[[phase]]
name = "open"
ops = 500
rate = 500.0
warmup = "1s"
mix = [
  { op = "ranged-get", weight = 8, range_size = "4KiB", pattern = "sequential" },
  { op = "put", weight = 1 },
  { op = "list", weight = 1, prefix = "a", page_size = 10, delimiter = true },
  { op = "head" },
]

[[phase]]
name = "staged"
stages = [{ concurrency = 4, duration = "5s" }, { rate = 2000, duration = "10s", max_in_flight = 7 }]
mix = [{ op = "multipart-put", size = "64MiB" }, { op = "delete", weight = 2 }]
"#;
    let plan = ok(text);
    assert_eq!(plan.description.as_deref(), Some("all fields"));
    assert_eq!((plan.seed, plan.rounds, plan.cleanup), (9, 3, false));
    let t = &plan.targets[0];
    assert_eq!(t.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(t.profile.as_deref(), Some("bench"));
    assert!(t.path_style);
    assert_eq!(
        t.embedded,
        Some(Injection {
            latency: Some(LatencyDist::Uniform {
                min: Duration::from_millis(5),
                max: Duration::from_millis(9)
            }),
            error_latency: None,
            bandwidth: Some(100 << 20),
            upload_bandwidth: None,
            error_rate: 0.01,
            error_status: 500,
            error_code: "InternalError".into(),
            prefix_limit: Some(PrefixLimit::rates(5500, 3500)),
            bucket_limit: None,
            body_reset_rate: 0.0,
            corrupt_rate: 0.0,
            session_error_rate: 0.0,
            max_in_flight: None,
            broken: s3bench_broken(),
        })
    );
    assert_eq!(
        plan.dataset.size,
        SizeDist::Weighted(vec![(4096, 3), (1 << 20, 1)])
    );
    assert_eq!(
        plan.prepare,
        Prepare {
            enabled: false,
            concurrency: 4,
            multipart_threshold: 32 << 20,
            part_size: 16 << 20
        }
    );
    assert_eq!(
        plan.client,
        ClientSettings {
            max_attempts: 3,
            checksums: ChecksumMode::Crc32,
            stalled_stream_protection: true,
            connect_timeout: Duration::from_secs(1),
            operation_timeout: None,
            request_path: RequestPath::Sdk,
            stop_on_failures: Some(FailureStop {
                share: 0.5,
                window: Duration::from_secs(30),
            }),
        }
    );
    let open = &plan.phases[0];
    assert_eq!(
        open.stop,
        Stop {
            duration: None,
            ops: Some(500)
        }
    );
    assert_eq!(
        open.stages[0].load,
        Load::Open {
            rate: 500.0,
            max_in_flight: 64
        }
    );
    assert_eq!(
        open.mix.iter().map(|m| m.op.clone()).collect::<Vec<_>>(),
        vec![
            OpSpec::RangedGet {
                size: 4096,
                pattern: RangePattern::Sequential
            },
            OpSpec::Put { size: None },
            OpSpec::List {
                prefix: Some("a".into()),
                page_size: 10,
                delimiter: true
            },
            OpSpec::Head,
        ]
    );
    let staged = &plan.phases[1];
    assert_eq!(staged.stop.duration, Some(Duration::from_secs(15)));
    assert_eq!(
        staged.stages,
        vec![
            Stage {
                load: Load::Closed { concurrency: 4 },
                duration: Some(Duration::from_secs(5))
            },
            Stage {
                load: Load::Open {
                    rate: 2000.0,
                    max_in_flight: 7
                },
                duration: Some(Duration::from_secs(10))
            },
        ]
    );
    assert_eq!(
        staged.mix[0].op,
        OpSpec::MultipartPut {
            size: 64 << 20,
            part_size: 8 << 20
        }
    );
    assert_eq!(
        staged.mix[1],
        WeightedOp {
            op: OpSpec::Delete,
            weight: 2
        }
    );
}

#[test]
fn open_loop_in_flight_defaults_to_a_tenth_of_the_rate() {
    let plan = ok(&BASE.replace("concurrency = 2", "rate = 5000"));
    assert_eq!(
        plan.phases[0].stages[0].load,
        Load::Open {
            rate: 5000.0,
            max_in_flight: 500
        }
    );
}

#[test]
fn unknown_key_names_line_field_and_the_valid_keys() {
    let p = one(
        &BASE.replace("objects = 4", "objects = 4\nobject_count = 5"),
        15,
        1,
        "dataset.object_count",
    );
    assert!(p.message.contains("unknown field `object_count`"), "{p}");
    assert!(p.message.contains("`objects`"), "{p}");
    assert!(
        p.to_string()
            .starts_with("scenarios/x.toml:15:1: dataset.object_count: unknown field"),
        "{p}"
    );
}

#[test]
fn unknown_key_deep_in_a_mix() {
    let p = one(
        &BASE.replace("{ op = \"get\" }", "{ op = \"get\", wieght = 2 }"),
        21,
        22,
        "phase[0].mix[0].wieght",
    );
    assert!(p.message.contains("unknown field `wieght`"), "{p}");
}

#[test]
fn wrong_type_says_what_was_expected() {
    let p = one(
        &BASE.replace("concurrency = 2", "concurrency = \"2\""),
        20,
        15,
        "phase[0].concurrency",
    );
    assert_eq!(p.message, "invalid type: string \"2\", expected an integer");
    let p = one(
        &BASE.replace("kind = \"directory\"", "kind = \"express\""),
        9,
        8,
        "targets.express.kind",
    );
    assert!(
        p.message.contains("`general-purpose`, `directory`")
            || p.message.contains("`general-purpose` or `directory`"),
        "{p}"
    );
}

#[test]
fn bad_size_string() {
    let p = one(
        &BASE.replace("\"4KiB\"", "\"4 kilo\""),
        15,
        8,
        "dataset.size",
    );
    assert!(
        p.to_string().starts_with(
            r#"scenarios/x.toml:15:8: dataset.size: expected a size like "4KiB" or "64MiB", got "4 kilo""#
        ),
        "{p}"
    );
    let p = one(&BASE.replace("\"4KiB\"", "-4096"), 15, 8, "dataset.size");
    assert!(p.message.contains("negative"), "{p}");
}

#[test]
fn bad_duration() {
    let p = one(
        &BASE.replace("\"10s\"", "\"10 secs please\""),
        19,
        12,
        "phase[0].duration",
    );
    assert_eq!(
        p.message,
        r#"expected a duration like "30s", "500ms" or "1h30m", got "10 secs please""#
    );
    let p = one(&BASE.replace("\"10s\"", "10"), 19, 12, "phase[0].duration");
    assert!(p.message.contains("\"10s\""), "suggests the fix: {p}");
    let p = one(
        &BASE.replace("\"10s\"", "\"0s\""),
        19,
        12,
        "phase[0].duration",
    );
    assert!(p.message.contains("above zero"), "{p}");
}

#[test]
fn wrong_directory_bucket_name() {
    let p = one(
        &BASE.replace("bench--use1-az4--x-s3", "bench-use1-az4"),
        10,
        10,
        "targets.express.bucket",
    );
    assert!(
        p.message.contains("bench--use1-az4--x-s3") && p.message.contains("--x-s3"),
        "{p}"
    );
    let p = one(
        &BASE.replace("bench--use1-az4--x-s3", "bench--useast1--x-s3"),
        10,
        10,
        "targets.express.bucket",
    );
    assert!(p.message.contains("zone ID"), "{p}");
    let p = one(
        &BASE.replace("bench--use1-az4--x-s3", "Bench--use1-az4--x-s3"),
        10,
        10,
        "targets.express.bucket",
    );
    assert!(p.message.contains("lowercase"), "{p}");
    // A directory bucket name on a general purpose target is caught too.
    let p = one(
        &BASE.replace("my-bench-bucket", "gp--use1-az4--x-s3"),
        5,
        10,
        "targets.standard.bucket",
    );
    assert!(p.message.contains("kind = \"directory\""), "{p}");
    for name in ["bench--usw2-lax1-az1--x-s3", "a--apne1-az4--x-s3"] {
        ok(&BASE.replace("bench--use1-az4--x-s3", name));
    }
}

#[test]
fn general_purpose_bucket_rules() {
    for bad in [
        "ab",
        "My-Bucket",
        "bucket_1",
        "-bucket",
        "a..b",
        "192.168.1.1",
        "xn--abc",
        "b-s3alias",
    ] {
        let p = one(
            &BASE.replace("my-bench-bucket", bad),
            5,
            10,
            "targets.standard.bucket",
        );
        assert!(p.message.contains(bad), "{p}");
    }
}

#[test]
fn part_size_below_the_s3_minimum() {
    let text = BASE.replace(
        "mix = [{ op = \"get\" }]",
        "mix = [\n  { op = \"get\" },\n  { op = \"multipart-put\", size = \"64MiB\", part_size = \"1MiB\" },\n]",
    );
    let p = one(&text, 23, 55, "phase[0].mix[1].part_size");
    assert_eq!(
        p.to_string(),
        "scenarios/x.toml:23:55: phase[0].mix[1].part_size: expected at least 5 MiB (S3's minimum part size), got 1 MiB"
    );
    let p = one(
        &BASE.replace("[[phase]]", "[prepare]\npart_size = \"1MiB\"\n\n[[phase]]"),
        18,
        13,
        "prepare.part_size",
    );
    assert!(p.message.contains("5 MiB"), "{p}");
}

#[test]
fn too_many_parts() {
    let text = BASE.replace(
        "{ op = \"get\" }",
        "{ op = \"multipart-put\", size = \"1TiB\", part_size = \"5MiB\" }",
    );
    let p = one(&text, 21, 39, "phase[0].mix[0].size");
    assert!(
        p.message.contains("10000 parts") && p.message.contains("209716"),
        "{p}"
    );
}

#[test]
fn several_problems_are_all_reported_in_file_order() {
    let text = BASE
        .replace("bench--use1-az4--x-s3", "bench")
        .replace("objects = 4", "objects = 0")
        .replace("concurrency = 2", "concurrency = 0");
    let ps = problems(&text);
    let got: Vec<_> = ps.iter().map(|p| (p.line, p.field.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (Some(10), "targets.express.bucket"),
            (Some(14), "dataset.objects"),
            (Some(20), "phase[0].concurrency"),
        ]
    );
    let err = parse(&text, Path::new(FILE)).unwrap_err().to_string();
    assert_eq!(err.lines().count(), 3, "one line per problem:\n{err}");
    assert!(
        err.lines()
            .nth(1)
            .unwrap()
            .ends_with("dataset.objects: expected at least 1, got 0"),
        "{err}"
    );
}

#[test]
fn io_errors_name_the_file() {
    let err = load(Path::new("/nonexistent/s3bench/x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("/nonexistent/s3bench/x.toml: cannot read the scenario file"),
        "{err}"
    );
}

#[test]
fn syntax_errors_have_positions() {
    let p = one(&BASE.replace("[dataset]", "[dataset"), 13, 9, "");
    assert!(p.to_string().starts_with("scenarios/x.toml:13:9: "), "{p}");
    assert!(!p.to_string().contains('\n'));
}

#[test]
fn load_shape_rules() {
    let p = one(&BASE.replace("concurrency = 2", ""), 18, 8, "phase[0]");
    assert!(
        p.message.contains("`concurrency`") && p.message.contains("none"),
        "{p}"
    );
    let p = one(
        &BASE.replace("concurrency = 2", "concurrency = 2\nrate = 10"),
        21,
        8,
        "phase[0].rate",
    );
    assert!(p.message.contains("only one"), "{p}");
    let p = one(&BASE.replace("duration = \"10s\"\n", ""), 18, 8, "phase[0]");
    assert!(p.message.contains("`duration`, `ops`"), "{p}");
    let p = one(
        &BASE.replace("concurrency = 2", "concurrency = 2\nmax_in_flight = 9"),
        21,
        17,
        "phase[0].max_in_flight",
    );
    assert!(p.message.contains("rate"), "{p}");
    let p = one(
        &BASE.replace("concurrency = 2", "rate = 0.0"),
        20,
        8,
        "phase[0].rate",
    );
    assert!(p.message.contains("above 0"), "{p}");
    let staged = "stages = [{ rate = 10, concurrency = 2, duration = \"1s\" }]";
    let p = one(
        &BASE
            .replace("duration = \"10s\"\n", "")
            .replace("concurrency = 2", staged),
        19,
        20,
        "phase[0].stages[0].rate",
    );
    assert!(p.message.contains("only one"), "{p}");
    let p = one(
        &BASE.replace(
            "concurrency = 2",
            "stages = [{ rate = 10, duration = \"1s\" }]",
        ),
        19,
        12,
        "phase[0].duration",
    );
    assert!(p.message.contains("stages"), "{p}");
    let p = one(
        &BASE.replace("mix = [{ op = \"get\" }]", "mix = []"),
        21,
        7,
        "phase[0].mix",
    );
    assert!(p.message.contains("at least one"), "{p}");
    let p = one(
        &BASE.replace("name = \"p\"", "name = \"p\"\nops = 0"),
        19,
        7,
        "phase[0].ops",
    );
    assert!(p.message.contains("at least 1"), "{p}");
}

#[test]
fn duplicate_phase_names() {
    let text = format!(
        "{BASE}\n[[phase]]\nname = \"p\"\nops = 5\nconcurrency = 1\nmix = [{{ op = \"head\" }}]\n"
    );
    let p = one(&text, 24, 8, "phase[1].name");
    assert!(p.message.contains("phase[0]"), "{p}");
}

#[test]
fn op_rules() {
    // A field that belongs to another op.
    let p = one(
        &BASE.replace(
            "{ op = \"get\" }",
            "{ op = \"get\", range_size = \"1KiB\" }",
        ),
        21,
        35,
        "phase[0].mix[0].range_size",
    );
    assert!(p.message.contains("does not apply to op \"get\""), "{p}");
    // range_size larger than any object.
    let p = one(
        &BASE.replace(
            "{ op = \"get\" }",
            "{ op = \"ranged-get\", range_size = \"8KiB\" }",
        ),
        21,
        42,
        "phase[0].mix[0].range_size",
    );
    assert!(
        p.message
            .contains("at most 4 KiB (the data set's largest object)"),
        "{p}"
    );
    // ranged-get without its range.
    let p = one(
        &BASE.replace("{ op = \"get\" }", "{ op = \"ranged-get\" }"),
        21,
        15,
        "phase[0].mix[0].range_size",
    );
    assert!(p.message.contains("range_size"), "{p}");
    // Reads need a data set.
    let no_dataset = BASE.replace("[dataset]\nobjects = 4\nsize = \"4KiB\"\n", "");
    let p = one(&no_dataset, 18, 15, "phase[0].mix[0].op");
    assert!(p.message.contains("[dataset]"), "{p}");
    ok(&no_dataset.replace("{ op = \"get\" }", "{ op = \"put\", size = \"1KiB\" }"));
    // Delete without a write in the mix.
    let p = one(
        &BASE.replace("{ op = \"get\" }", "{ op = \"delete\" }"),
        21,
        15,
        "phase[0].mix[0].op",
    );
    assert!(p.message.contains("put"), "{p}");
    // Weight 0.
    let p = one(
        &BASE.replace("{ op = \"get\" }", "{ op = \"get\", weight = 0 }"),
        21,
        31,
        "phase[0].mix[0].weight",
    );
    assert!(p.message.contains("at least 1"), "{p}");
    // A single PUT is limited to 5 GiB.
    let p = one(
        &BASE.replace("{ op = \"get\" }", "{ op = \"put\", size = \"6GiB\" }"),
        21,
        29,
        "phase[0].mix[0].size",
    );
    assert!(p.message.contains("5 GiB"), "{p}");
    // multipart-put needs one size, not a distribution.
    let p = one(
        &BASE.replace(
            "{ op = \"get\" }",
            "{ op = \"multipart-put\", size = { min = \"5MiB\", max = \"9MiB\" } }",
        ),
        21,
        39,
        "phase[0].mix[0].size",
    );
    assert!(p.message.contains("single size"), "{p}");
    let p = one(
        &BASE.replace("{ op = \"get\" }", "{ op = \"list\", page_size = 1001 }"),
        21,
        35,
        "phase[0].mix[0].page_size",
    );
    assert!(p.message.contains("at most 1000"), "{p}");
}

#[test]
fn delimited_list_prefix_must_end_in_slash_when_a_directory_target_exists() {
    let list = "{ op = \"list\", prefix = \"shards\", delimiter = true }";
    let p = one(
        &BASE.replace("{ op = \"get\" }", list),
        21,
        32,
        "phase[0].mix[0].prefix",
    );
    assert!(
        p.message.contains("express") && p.message.contains("\"/\""),
        "{p}"
    );
    ok(&BASE.replace("{ op = \"get\" }", &list.replace("shards", "shards/")));
    ok(&BASE.replace("{ op = \"get\" }", &list.replace("true", "false")));
    // Without a directory target, S3 General Purpose accepts any prefix.
    let gp_only = BASE.replace(
        "[targets.express]\nkind = \"directory\"\nbucket = \"bench--use1-az4--x-s3\"\nregion = \"us-east-1\"\n",
        "",
    );
    ok(&gp_only.replace("{ op = \"get\" }", list));
}

#[test]
fn embedded_settings_rules() {
    let with = |emb: &str| {
        BASE.replace(
            "[dataset]",
            &format!("[targets.standard.embedded]\n{emb}\n\n[dataset]"),
        )
    };
    let p = one(
        &with("error_rate = 1.5"),
        14,
        14,
        "targets.standard.embedded.error_rate",
    );
    assert!(p.message.contains("0 to 1"), "{p}");
    let p = one(
        &with("error_rate = 0.1\nerror_status = 429"),
        15,
        16,
        "targets.standard.embedded.error_code",
    );
    assert!(p.message.contains("429"), "{p}");
    let plan = ok(&with("error_rate = 0.1\nerror_status = 503"));
    assert_eq!(
        plan.targets[0].embedded.as_ref().unwrap().error_code,
        "SlowDown"
    );
    let p = one(
        &with("error_status = 200"),
        14,
        16,
        "targets.standard.embedded.error_status",
    );
    assert!(p.message.contains("at least 400"), "{p}");
    let p = one(
        &with("latency = { p50 = \"9ms\", p99 = \"3ms\" }"),
        14,
        11,
        "targets.standard.embedded.latency",
    );
    assert!(p.message.contains("p50 <= p99"), "{p}");
    let p = one(
        &with("latency = { p50 = \"9ms\", max = \"3ms\" }"),
        14,
        11,
        "targets.standard.embedded.latency",
    );
    assert!(p.message.contains("either"), "{p}");
    let plan = ok(&with("latency = \"8ms\"\nprefix_limit = { reads = 10 }"));
    let e = plan.targets[0].embedded.clone().unwrap();
    assert_eq!(
        e.latency,
        Some(LatencyDist::Fixed(Duration::from_millis(8)))
    );
    assert_eq!(e.prefix_limit, Some(PrefixLimit::rates(10, 3500)));
    assert_eq!(e.error_rate, 0.0);
    let p = one(
        &with("prefix_limit = \"yes\""),
        14,
        16,
        "targets.standard.embedded.prefix_limit",
    );
    assert!(p.message.contains("true, false"), "{p}");
    let p = one(
        &with("broken = [\"append-overwrites\", \"rename-as-put\"]"),
        14,
        10,
        "targets.standard.embedded.broken",
    );
    assert!(
        p.message.contains("expected one of \"append-overwrites\"")
            && p.message.contains("got \"rename-as-put\""),
        "{p}"
    );
    let plan = ok(&with(
        "broken = [\"append-overwrites\", \"rename-as-empty-put\"]",
    ));
    let b = plan.targets[0].embedded.as_ref().unwrap().broken;
    assert!(b.append_overwrites && b.rename_as_empty_put && !b.racy_conditional_writes);
}

/// The all-fields scenario's broken modes.
fn s3bench_broken() -> crate::s3::inject::Broken {
    crate::s3::inject::Broken {
        racy_conditional_writes: true,
        ..Default::default()
    }
}

#[test]
fn target_rules() {
    let p = one(
        &BASE.replace(
            "region = \"us-east-1\"\n\n[targets.express]",
            "region = \"us-east-1\"\nendpoint = \"127.0.0.1:9000\"\n\n[targets.express]",
        ),
        7,
        12,
        "targets.standard.endpoint",
    );
    assert!(p.message.contains("http://"), "{p}");
    let local = "bucket = \"bench--use1-az4--x-s3\"\nendpoint = \"http://localhost:9000\"";
    let p = one(
        &BASE.replace("bucket = \"bench--use1-az4--x-s3\"", local),
        11,
        12,
        "targets.express.endpoint",
    );
    assert!(p.message.contains("127.0.0.1"), "{p}");
    ok(&BASE.replace(
        "bucket = \"my-bench-bucket\"",
        "bucket = \"my-bench-bucket\"\nendpoint = \"http://localhost:9000\"",
    ));
    let p = one(
        &BASE.replace(
            "region = \"us-east-1\"\n\n[targets.express]",
            "region = \"US East\"\n\n[targets.express]",
        ),
        6,
        10,
        "targets.standard.region",
    );
    assert!(p.message.contains("us-east-1"), "{p}");
    let ps = problems(
        "[[phase]]\nname = \"p\"\nops = 1\nconcurrency = 1\nmix = [{ op = \"put\", size = 1 }]\n",
    );
    assert_eq!(ps.len(), 1);
    assert_eq!((ps[0].line, ps[0].field.as_str()), (None, "targets"));
    assert_eq!(
        ps[0].to_string(),
        format!("{FILE}: targets: {}", ps[0].message)
    );
}

#[test]
fn dataset_rules() {
    let p = one(
        &BASE.replace("\"4KiB\"", "{ min = \"8KiB\", max = \"4KiB\" }"),
        15,
        8,
        "dataset.size",
    );
    assert!(p.message.contains("min <= max"), "{p}");
    let p = one(
        &BASE.replace("\"4KiB\"", "\"4KiB\"\nkey = \"{date}/{oops}\""),
        16,
        7,
        "dataset.key",
    );
    assert!(
        p.message.contains("{oops}") && p.message.contains("{index"),
        "{p}"
    );
    let p = one(
        &BASE.replace("\"4KiB\"", "\"4KiB\"\nkey = \"{date}.bin\""),
        16,
        7,
        "dataset.key",
    );
    assert!(p.message.contains("{index}"), "{p}");
    let p = one(
        &BASE.replace("\"4KiB\"", "[{ size = \"4KiB\", weight = 0 }]"),
        15,
        35,
        "dataset.size[0].weight",
    );
    assert!(p.message.contains("at least 1"), "{p}");
    // The largest object must fit in 10,000 parts of the prepare part size.
    let ps = problems(&BASE.replace("\"4KiB\"", "\"100GiB\""));
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(
        (ps[0].line, ps[0].field.as_str()),
        (None, "prepare.part_size")
    );
    assert!(ps[0].message.contains("12800"), "{}", ps[0]);
}

#[test]
fn keys_render_from_the_plan() {
    let plan = ok(&BASE.replace(
        "\"4KiB\"",
        "\"4KiB\"\nkey = \"{hash:4}/shards/{index:06}.tar\"",
    ));
    let mut out = String::new();
    plan.key(12, (2025, 1, 2), &mut out);
    let h = format!("{:016x}", splitmix64(12));
    assert_eq!(out, format!("{}/shards/000012.tar", &h[..4]));
}

#[test]
fn override_duration_rescales_phases() {
    let text = r#"
[targets.a]
kind = "general-purpose"
bucket = "bucket-a"
region = "us-east-1"

[dataset]
objects = 1
size = "1KiB"

[[phase]]
name = "plain"
duration = "20s"
ops = 100
warmup = "5s"
concurrency = 1
mix = [{ op = "get" }]

[[phase]]
name = "ops-only"
ops = 50
warmup = "1s"
rate = 10
mix = [{ op = "get" }]

[[phase]]
name = "staged"
stages = [{ rate = 1, duration = "10s" }, { rate = 2, duration = "20s" }, { rate = 3, duration = "10s" }]
mix = [{ op = "get" }]
"#;
    let mut plan = ok(text);
    plan.override_duration(Duration::from_secs(4));
    let s = Duration::from_secs;
    let ms = Duration::from_millis;
    let plain = &plan.phases[0];
    assert_eq!(
        plain.stop,
        Stop {
            duration: Some(s(4)),
            ops: Some(100)
        }
    );
    assert_eq!(plain.warmup, s(2), "warm-up capped at half the duration");
    assert_eq!(plain.stages[0].duration, None);
    let ops_only = &plan.phases[1];
    assert_eq!(
        ops_only.stop,
        Stop {
            duration: Some(s(4)),
            ops: Some(50)
        }
    );
    assert_eq!(ops_only.warmup, s(1), "short warm-up kept");
    let staged = &plan.phases[2];
    let durations: Vec<_> = staged.stages.iter().map(|s| s.duration.unwrap()).collect();
    assert_eq!(durations, vec![s(1), s(2), s(1)], "proportions kept");
    assert_eq!(staged.stop.duration, Some(s(4)));
    // Uneven splits still add up exactly.
    plan.override_duration(ms(1001));
    let total: Duration = plan.phases[2]
        .stages
        .iter()
        .map(|s| s.duration.unwrap())
        .sum();
    assert_eq!(total, ms(1001));
}

#[test]
fn object_sizes_are_deterministic_and_within_the_distribution() {
    let range = ok(&BASE
        .replace("\"4KiB\"", "{ min = \"4KiB\", max = \"256KiB\" }")
        .replace("objects = 4", "objects = 5000"));
    let again = ok(&BASE
        .replace("\"4KiB\"", "{ min = \"4KiB\", max = \"256KiB\" }")
        .replace("objects = 4", "objects = 5000"));
    let other_seed = ok(&BASE
        .replace("\"4KiB\"", "{ min = \"4KiB\", max = \"256KiB\" }")
        .replace("name = \"t\"", "name = \"t\"\nseed = 2"));
    let sizes: Vec<u64> = (0..5000).map(|i| range.object_size(i)).collect();
    assert_eq!(
        sizes,
        (0..5000).map(|i| again.object_size(i)).collect::<Vec<_>>()
    );
    assert!(sizes.iter().all(|s| (4096..=256 * 1024).contains(s)));
    // Spread over the range, not stuck at one end.
    let low = sizes.iter().filter(|s| **s < 130 * 1024).count();
    assert!(
        (2000..3000).contains(&low),
        "{low} of 5000 in the lower half"
    );
    // Another seed gives another data set.
    let differing = (0..100)
        .filter(|i| other_seed.object_size(*i) != range.object_size(*i))
        .count();
    assert!(differing > 90, "{differing}");

    let weighted = ok(&BASE.replace(
        "\"4KiB\"",
        "[{ size = \"4KiB\", weight = 3 }, { size = \"1MiB\", weight = 1 }]",
    ));
    let small = (0..4000)
        .filter(|i| weighted.object_size(*i) == 4096)
        .count();
    let large = (0..4000)
        .filter(|i| weighted.object_size(*i) == 1 << 20)
        .count();
    assert_eq!(small + large, 4000);
    assert!(
        (2800..3200).contains(&small),
        "{small} of 4000 small at weight 3:1"
    );
}

#[test]
fn error_messages_snapshot() {
    let text = r#"name = "broken"
rounds = 0

[targets.standard]
kind = "general-purpose"
bucket = "My_Bucket"
region = "us-east-1"

[targets.express]
kind = "directory"
bucket = "bench--x-s3"
region = "us-east-1"

[targets.express.embedded]
error_rate = 2.0

[dataset]
objects = 4
size = "1MiB"

[[phase]]
name = "read"
duration = "10s"
concurrency = 200000
mix = [
  { op = "ranged-get", range_size = "2MiB" },
  { op = "multipart-put", size = "64MiB", part_size = "1MiB" },
  { op = "list", prefix = "shards", delimiter = true },
  { op = "head", page_size = 3 },
]
"#;
    let err = parse(text, Path::new("scenarios/broken.toml")).unwrap_err();
    insta::assert_snapshot!(err.to_string());
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = parse(&s, Path::new("fuzz.toml"));
    }

    #[test]
    fn parse_never_panics_on_mangled_scenarios(cut in 0usize..BASE.len(), insert in "[\\[\\]{}=\"a-z0-9 .,\\n-]{0,12}") {
        // Splice noise into a valid file so the fuzzing reaches validation.
        let mut text = BASE.to_string();
        let mut at = cut;
        while !text.is_char_boundary(at) { at -= 1; }
        text.insert_str(at, &insert);
        if let Err(e) = parse(&text, Path::new("fuzz.toml")) {
            prop_assert!(!e.problems().is_empty());
            for p in e.problems() {
                prop_assert!(!p.to_string().contains('\n'), "{}", p);
            }
        }
    }
}

#[test]
fn error_policy_takes_never_or_a_share_and_a_window() {
    let with = |client: &str| {
        format!(
            "[targets.t]\nkind = \"general-purpose\"\nbucket = \"bench\"\nregion = \"us-east-1\"\n[client]\n{client}\n[[phase]]\nname = \"p\"\nduration = \"1s\"\nconcurrency = 1\nmix = [{{ op = \"list\" }}]\n"
        )
    };
    let plan = parse(&with("stop_on_failures = \"never\""), Path::new("t.toml")).unwrap();
    assert_eq!(plan.client.stop_on_failures, None);
    let err = parse(
        &with("stop_on_failures = { share = 1.5, for = \"10s\" }"),
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("t.toml:6:"), "{err}");
    assert!(err.contains("client.stop_on_failures.share"), "{err}");
    let err = parse(
        &with("stop_on_failures = \"sometimes\""),
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("never"), "{err}");
}

#[test]
fn ca_file_is_read_relative_to_the_scenario_and_must_hold_certificates() {
    let with = |path: &str| {
        BASE.replace(
            "region = \"us-east-1\"\n\n[targets.express]",
            &format!("region = \"us-east-1\"\nca_file = \"{path}\"\n\n[targets.express]"),
        )
    };
    // FILE is scenarios/x.toml: relative paths start from scenarios/.
    let plan = ok(&with("../tests/fixtures/tls/ca.pem"));
    let ca = plan.targets[0].ca_file.as_ref().expect("ca_file kept");
    assert_eq!(ca.certificates, 1);
    assert_eq!(
        ca.path,
        Path::new("scenarios").join("../tests/fixtures/tls/ca.pem")
    );
    assert!(ca.pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert_eq!(plan.targets[1].ca_file, None);

    let p = one(
        &with("../tests/fixtures/tls/missing.pem"),
        7,
        11,
        "targets.standard.ca_file",
    );
    assert!(p.message.contains("cannot be read"), "{p}");
    assert!(p.message.contains("missing.pem"), "{p}");
    // A private key or any other text holds no certificate.
    for not_ca in ["../tests/fixtures/tls/server.key", "../Cargo.toml"] {
        let p = one(&with(not_ca), 7, 11, "targets.standard.ca_file");
        assert!(p.message.contains("found none"), "{not_ca}: {p}");
    }
}

/// `mix = [...]` of BASE replaced.
fn with_mix(mix: &str) -> String {
    BASE.replace(r#"mix = [{ op = "get" }]"#, &format!("mix = [{mix}]"))
}

#[test]
fn append_and_rename_on_a_general_purpose_target_are_refused_with_a_sentence() {
    let p = one(
        &with_mix(r#"{ op = "append", size = "4KiB" }"#),
        21,
        15,
        "phase[0].mix[0].op",
    );
    assert_eq!(
        p.message,
        "append (PutObject with x-amz-write-offset-bytes) is a directory-bucket operation (S3 Express One Zone) and target 'standard' is a General Purpose bucket; run this phase on directory targets only, or add gp_equivalent = \"rewrite\" to measure what a General Purpose bucket does instead"
    );
    let p = one(
        &with_mix(r#"{ op = "rename", size = "1MiB" }"#),
        21,
        15,
        "phase[0].mix[0].op",
    );
    assert!(
        p.message.starts_with("RenameObject is a directory-bucket operation (S3 Express One Zone) and target 'standard' is a General Purpose bucket;"),
        "{}",
        p.message
    );
    assert!(
        p.message.contains(r#"gp_equivalent = "copy-delete""#),
        "{}",
        p.message
    );
    // Asked for explicitly, the GP equivalent is accepted...
    let plan = ok(&with_mix(
        r#"{ op = "append", size = "4KiB", appends = 4, gp_equivalent = "rewrite" }, { op = "rename", size = "1MiB", gp_equivalent = "copy-delete" }"#,
    ));
    assert_eq!(
        plan.phases[0].mix[0].op,
        OpSpec::Append {
            size: 4096,
            end: AppendEnd::Count(4),
            gp: Some(GpEquivalent::Rewrite)
        }
    );
    // ...but only the one that fits the op.
    let p = one(
        &with_mix(r#"{ op = "append", size = "4KiB", gp_equivalent = "copy-delete" }"#),
        21,
        56,
        "phase[0].mix[0].gp_equivalent",
    );
    assert_eq!(
        p.message,
        r#"expected gp_equivalent = "rewrite" for op "append""#
    );
    // Directory targets only: no equivalent needed.
    let express_only = with_mix(r#"{ op = "append", size = "4KiB", object_size = "64KiB" }"#)
        .replace(
            "[targets.standard]\nkind = \"general-purpose\"\nbucket = \"my-bench-bucket\"\nregion = \"us-east-1\"\n",
            "",
        );
    let plan = ok(&express_only);
    assert_eq!(
        plan.phases[0].mix[0].op,
        OpSpec::Append {
            size: 4096,
            end: AppendEnd::Size(65536),
            gp: None
        }
    );
}

#[test]
fn conditional_put_needs_a_mode_and_a_contention_the_workers_can_give() {
    let p = one(
        &with_mix(r#"{ op = "conditional-put", mode = "create-only", contention = 3 }"#),
        21,
        69,
        "phase[0].mix[0].contention",
    );
    assert_eq!(
        p.message,
        "expected at most 2, the phase's workers (concurrency or max_in_flight): contention is how many of them share one key, got 3"
    );
    let p = one(
        &with_mix(r#"{ op = "conditional-put" }"#),
        21,
        15,
        "phase[0].mix[0].mode",
    );
    assert!(
        p.message.contains(r#"mode = "create-only""#),
        "{}",
        p.message
    );
    one(
        &with_mix(r#"{ op = "conditional-put", mode = "compare-and-swap", contention = 0 }"#),
        21,
        74,
        "phase[0].mix[0].contention",
    );
    let plan = ok(&with_mix(
        r#"{ op = "conditional-put", mode = "compare-and-swap", contention = 2, size = "100B" }"#,
    ));
    assert_eq!(
        plan.phases[0].mix[0].op,
        OpSpec::ConditionalPut {
            size: 100,
            mode: ConditionalMode::CompareAndSwap,
            contention: 2
        }
    );
    // Fields of other ops are named as such.
    let p = one(
        &with_mix(r#"{ op = "copy", mode = "create-only" }"#),
        21,
        30,
        "phase[0].mix[0].mode",
    );
    assert_eq!(
        p.message,
        r#"`mode` does not apply to op "copy", which takes only `weight`"#
    );
}

#[test]
fn append_limits_follow_s3() {
    let p = one(
        &with_mix(
            r#"{ op = "append", size = "1KiB", appends = 2, object_size = "4KiB", gp_equivalent = "rewrite" }"#,
        ),
        21,
        50,
        "phase[0].mix[0].appends",
    );
    assert!(p.message.contains("not both"), "{}", p.message);
    let p = one(
        &with_mix(
            r#"{ op = "append", size = "1B", object_size = "1MiB", gp_equivalent = "rewrite" }"#,
        ),
        21,
        15,
        "phase[0].mix[0].object_size",
    );
    assert!(p.message.contains("TooManyParts"), "{}", p.message);
}

#[test]
fn checksum_names_the_algorithm_and_agrees_with_checksums() {
    for (name, mode) in [
        ("none", ChecksumMode::None),
        ("crc32", ChecksumMode::Crc32),
        ("crc32c", ChecksumMode::Crc32c),
        ("crc64nvme", ChecksumMode::Crc64Nvme),
        ("sha256", ChecksumMode::Sha256),
    ] {
        let plan = ok(&format!("{BASE}\n[client]\nchecksum = \"{name}\"\n"));
        assert_eq!(plan.client.checksums, mode);
        assert_eq!(mode.name(), name);
    }
    let p = one(
        &format!("{BASE}\n[client]\nchecksums = \"when-required\"\nchecksum = \"crc32c\"\n"),
        25,
        12,
        "client.checksum",
    );
    assert!(p.message.contains("contradicts"), "{}", p.message);
    let plan = ok(&format!(
        "{BASE}\n[client]\nchecksums = \"when-supported\"\nchecksum = \"crc32\"\n"
    ));
    assert_eq!(plan.client.checksums, ChecksumMode::Crc32);
}

/// A measured phase cannot take the name of one of the run's own stages
/// (its result would be taken for the stage's, or collide with it), in any
/// case; a loader phase neither. Names that only contain one are fine.
#[test]
fn phase_names_of_the_runs_own_stages_are_refused() {
    for name in ["prepare", "cleanup", "preflight", "Cleanup"] {
        let p = one(
            &BASE.replace(r#"name = "p""#, &format!("name = {name:?}")),
            18,
            8,
            "phase[0].name",
        );
        assert_eq!(
            p.message,
            format!(
                "expected a phase name other than the run's own stages (preflight, prepare, cleanup), got {name:?}"
            ),
            "{p}"
        );
    }
    let loader = BASE.replace(
        "duration = \"10s\"\nconcurrency = 2\nmix = [{ op = \"get\" }]",
        "duration = \"10s\"\n[phase.loader]\naccelerators = 2\nbatch_size = 1\ncompute = \"5ms\"",
    );
    assert!(ok(&loader).phases[0].loader.is_some());
    one(
        &loader.replace(r#"name = "p""#, r#"name = "prepare""#),
        18,
        8,
        "phase[0].name",
    );
    ok(&BASE.replace(r#"name = "p""#, r#"name = "prepare-hot""#));
}

#[test]
fn check_tables_become_the_plans_checks() {
    let text = format!(
        "{BASE}\n[[check]]\nexpr = \"express/get/p99 < 10ms\"\nname = \"GET SLO\"\n\n[[check]]\nexpr = 'ratio/get/p50 < 0.5'\n"
    );
    let plan = ok(&text);
    let got: Vec<(String, Option<&str>)> = plan
        .checks
        .iter()
        .map(|c| (c.check.to_string(), c.name.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("express/get/p99 < 10ms".to_string(), Some("GET SLO")),
            ("ratio/get/p50 < 0.5".to_string(), None)
        ]
    );
    assert!(
        plan.checks
            .iter()
            .all(|c| c.source == crate::check::Source::Scenario)
    );
}

/// A mistake in a check points at its column in the file, as a compiler
/// would: the file, line and column of the character, the field, one sentence.
#[test]
fn a_bad_check_is_reported_at_its_column_in_the_file() {
    // Line 24 is `expr = "..."`; the expression starts at column 9.
    let with = |expr: &str| format!("{BASE}\n[[check]]\nexpr = {expr}\n");
    let p = one(
        &with("\"express/get/p99 < 10\""),
        24,
        9 + 20,
        "check[0].expr",
    );
    assert!(p.message.contains("`p99` is a duration"), "{p}");
    let p = one(&with("'expres/get/p99 < 10ms'"), 24, 9, "check[0].expr");
    assert_eq!(
        p.to_string(),
        "scenarios/x.toml:24:9: check[0].expr: the scenario has no target `expres`; expected one of `standard`, `express` or `*`"
    );
    let p = one(
        &with("\"express/put/p99 < 1s\""),
        24,
        9 + 8,
        "check[0].expr",
    );
    assert!(p.message.contains("no `put` in any measured phase"), "{p}");
    let p = one(&with("\"q:express/get/p99 < 1s\""), 24, 9, "check[0].expr");
    assert!(
        p.message
            .contains("no measured phase `q`; expected one of `p`"),
        "{p}"
    );
    // An escape in the string: the position falls back to the string's start.
    let p = one(
        &with("\"express/get/p99 \\u003c 10\""),
        24,
        8,
        "check[0].expr",
    );
    assert!(p.message.contains("duration"), "{p}");
    // Unknown keys are named like everywhere else.
    let ps = problems(&format!(
        "{BASE}\n[[check]]\nexpr = \"express/get/p99 < 1s\"\nlimit = 3\n"
    ));
    assert!(ps[0].message.contains("unknown field `limit`"), "{ps:?}");
}
