//! `[phase.loader]`: what it maps onto, and every mistake named by file,
//! line, column and field.

use std::time::Duration;

use super::tests::{BASE, ok, one, problems};
use super::*;

/// BASE with its phase replaced by a loader phase (`name` on line 18).
fn loader(body: &str) -> String {
    let head = BASE.split("[[phase]]").next().unwrap();
    format!("{head}[[phase]]\nname = \"train\"\n{body}")
}

const GOOD: &str =
    "duration = \"10s\"\n\n[phase.loader]\naccelerators = 2\nbatch_size = 2\ncompute = \"50ms\"\n";

#[test]
fn a_loader_phase_maps_onto_the_plan() {
    let plan = ok(&loader(
        "duration = \"10s\"\n\n[phase.loader]\naccelerators = 2\nbatch_size = 2\ncompute = \"50ms\"\nsample = \"1KiB\"\nread_concurrency = 8\nprefetch = 3\nepochs = 2\nau = 0.7\n",
    ));
    let p = &plan.phases[0];
    assert!(p.mix.is_empty() && p.stages.is_empty());
    assert_eq!(p.stop.duration, Some(Duration::from_secs(10)));
    assert_eq!(
        p.loader,
        Some(DataloaderSpec {
            accelerators: Accelerators::Fixed(2),
            batch_size: 2,
            compute: Duration::from_millis(50),
            prefetch: 3,
            read_concurrency: 8,
            sample: SampleUnit::Record { size: 1024 },
            epochs: Some(2),
            au: 0.7,
        })
    );
    let search = ok(&loader(
        &GOOD.replace("accelerators = 2", "accelerators = { max = 2, au = 0.8 }"),
    ));
    let l = search.phases[0].loader.as_ref().unwrap();
    assert_eq!(l.accelerators, Accelerators::Search { max: 2 });
    assert_eq!(l.au, 0.8);
    // Defaults: whole objects, 4 reads in flight, 2 batches ahead, 90%.
    let d = ok(&loader(GOOD));
    let l = d.phases[0].loader.as_ref().unwrap();
    assert_eq!(
        (l.sample, l.read_concurrency, l.prefetch, l.au, l.epochs),
        (SampleUnit::Object, 4, 2, 0.9, None)
    );
}

#[test]
fn loader_field_rules() {
    // Line 22 is `accelerators`, 23 `batch_size`, 24 `compute`, 25 the next.
    let p = one(
        &loader(&GOOD.replace("accelerators = 2", "accelerators = 0")),
        22,
        16,
        "phase[0].loader.accelerators",
    );
    assert!(p.message.contains("between 1 and 100000"), "{p}");
    let p = one(
        &loader(&GOOD.replace("accelerators = 2", "accelerators = { max = 2, au = 1.5 }")),
        22,
        32,
        "phase[0].loader.accelerators.au",
    );
    assert!(p.message.contains("at most 1"), "{p}");
    // 4 objects of one sample each cannot feed 2 accelerators batches of 3.
    let p = one(
        &loader(&GOOD.replace("batch_size = 2", "batch_size = 3")),
        23,
        14,
        "phase[0].loader.batch_size",
    );
    assert!(
        p.message
            .contains("at least batch_size x accelerators = 6 samples"),
        "{p}"
    );
    let p = one(
        &loader(&format!("{GOOD}sample = \"8KiB\"\n")),
        25,
        10,
        "phase[0].loader.sample",
    );
    assert!(
        p.message
            .contains("smallest object of the data set (4 KiB)"),
        "{p}"
    );
    let p = one(
        &loader(&GOOD.replace("compute = \"50ms\"", "compute = \"0s\"")),
        24,
        11,
        "phase[0].loader.compute",
    );
    assert!(p.message.contains("above zero"), "{p}");
    let p = one(
        &loader(&format!("{GOOD}prefetch = 0\n")),
        25,
        12,
        "phase[0].loader.prefetch",
    );
    assert!(p.message.contains("at least 1"), "{p}");
}

#[test]
fn loader_phase_rules() {
    let p = one(
        &loader(&GOOD.replace("duration = \"10s\"", "duration = \"10s\"\nconcurrency = 4")),
        20,
        15,
        "phase[0].concurrency",
    );
    assert!(
        p.message
            .contains("expected no `concurrency` in a loader phase"),
        "{p}"
    );
    let ps = problems(&loader(
        &GOOD.replace("duration = \"10s\"", "warmup = \"1s\""),
    ));
    let fields: Vec<&str> = ps.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["phase[0]", "phase[0].warmup"], "{ps:#?}");
    assert!(
        ps[0].message.contains("`duration` or `loader.epochs`"),
        "{}",
        ps[0]
    );
    assert!(
        ps[1].message.contains("first batch is the warm-up"),
        "{}",
        ps[1]
    );
    let p = one(
        &loader(&GOOD.replace(
            "duration = \"10s\"",
            "duration = \"10s\"\nmix = [{ op = \"get\" }]",
        )),
        20,
        7,
        "phase[0].mix",
    );
    assert!(p.message.contains("no `mix`"), "{p}");
    // Without [dataset] there is nothing to read.
    let text = loader(GOOD).replace("[dataset]\nobjects = 4\nsize = \"4KiB\"\n", "");
    let ps = problems(&text);
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].field, "phase[0].loader");
    assert!(ps[0].message.contains("expected a [dataset]"), "{}", ps[0]);
}

#[test]
fn loader_type_errors_name_the_field() {
    let p = one(
        &loader(&format!("{GOOD}sample = \"big\"\n")),
        25,
        10,
        "phase[0].loader.sample",
    );
    assert!(p.message.contains("or \"object\""), "{p}");
    let p = one(
        &loader(&format!("{GOOD}workers = 3\n")),
        25,
        1,
        "phase[0].loader.workers",
    );
    assert!(p.message.contains("unknown field `workers`"), "{p}");
    let p = one(
        &loader(&GOOD.replace("accelerators = 2", "accelerators = \"many\"")),
        22,
        16,
        "phase[0].loader.accelerators",
    );
    assert!(
        p.message.contains("a search { max = 64, au = 0.90 }"),
        "{p}"
    );
}

#[test]
fn ml_shards_ends_with_a_loader_phase() {
    let plan =
        load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ml-shards.toml"))
            .unwrap();
    let l = plan.phases[2].loader.as_ref().expect("a loader phase");
    assert_eq!(l.sample, SampleUnit::Record { size: 1 << 20 });
    assert_eq!(l.accelerators, Accelerators::Fixed(4));
    for name in ["mlperf-resnet50", "mlperf-unet3d", "mlperf-cosmoflow"] {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
        let plan = load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let l = plan.phases[0].loader.as_ref().unwrap();
        assert!(
            matches!(l.accelerators, Accelerators::Search { .. }),
            "{name}"
        );
    }
}

/// The MLPerf Storage v3.0 presets carry the b200 workload configs' batch
/// sizes, compute times and pass marks (scaled by the factor each file
/// names), and validate.
#[test]
fn mlperf_v3_presets_carry_the_b200_configs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let unet = load(&root.join("scenarios/mlperf-v3-unet3d-b200.toml")).unwrap();
    let l = unet.phases[0].loader.as_ref().unwrap();
    assert_eq!((l.batch_size, l.au), (7, 0.90));
    // unet3d_b200.yaml: computation_time 0.162 s, scaled by 1/16 with the sizes.
    assert_eq!(l.compute, std::time::Duration::from_secs_f64(0.162 / 16.0));
    assert_eq!(l.sample, SampleUnit::Object);
    assert_eq!(
        unet.dataset.size,
        crate::scenario::plan::SizeDist::Range {
            min: (146_600_628 - 68_341_808) / 16,
            max: (146_600_628 + 68_341_808) / 16,
        }
    );
    let retina = load(&root.join("scenarios/mlperf-v3-retinanet-b200.toml")).unwrap();
    let l = retina.phases[0].loader.as_ref().unwrap();
    assert_eq!((l.batch_size, l.au), (24, 0.85));
    assert_eq!(l.compute, std::time::Duration::from_micros(47_550));
    assert_eq!(
        retina.dataset.size,
        crate::scenario::plan::SizeDist::Fixed(322_957)
    );
    for plan in [&unet, &retina] {
        assert!(matches!(
            plan.phases[0].loader.as_ref().unwrap().accelerators,
            Accelerators::Search { .. }
        ));
        assert!(plan.description.as_deref().unwrap().contains("v3.0"));
    }
}

/// `[pricing] gpu_hour`: what an idle accelerator-hour costs in the report.
#[test]
fn gpu_hour_pricing_is_validated() {
    let with = |v: &str| format!("{BASE}\n[pricing]\ngpu_hour = {v}\n");
    assert_eq!(ok(&with("2.5")).pricing.gpu_hour, Some(2.5));
    assert_eq!(ok(BASE).pricing.gpu_hour, None);
    let p = one(&with("-1.0"), 24, 12, "pricing.gpu_hour");
    assert!(p.message.contains("US dollars per accelerator-hour"), "{p}");
}
