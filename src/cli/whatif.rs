//! `s3bench whatif`: AU and idle time per target predicted from a stored
//! result's measured latencies (`crate::whatif`), as Markdown or one JSON
//! object per target per line.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{RunCommand, parse};
use crate::exit::{ExitCode, InputError};
use crate::scenario::SampleUnit;
use crate::whatif::{WhatifError, WhatifOptions, predict, render};

#[derive(Debug, Args)]
pub struct WhatifArgs {
    /// A result.json written by `s3bench run` or `s3bench merge`.
    pub result: PathBuf,
    /// The phase whose measured GET (or ranged GET) latencies are drawn from.
    #[arg(long)]
    pub phase: String,
    /// Accelerators to simulate (default: the phase's, if it was a loader phase).
    #[arg(long, conflicts_with = "search")]
    pub accelerators: Option<u32>,
    /// Find the most accelerators, up to MAX, that keep the AU mark.
    #[arg(long, value_name = "MAX")]
    pub search: Option<u32>,
    /// Samples per batch.
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// Compute time per batch (e.g. 162ms).
    #[arg(long, value_parser = parse::duration)]
    pub compute: Option<Duration>,
    /// Reads in flight per accelerator.
    #[arg(long)]
    pub read_concurrency: Option<u32>,
    /// Batches read ahead per accelerator.
    #[arg(long)]
    pub prefetch: Option<u32>,
    /// What a sample is: "object" (one GET) or a record size (one ranged GET), e.g. 150KiB.
    #[arg(long, value_parser = sample)]
    pub sample: Option<SampleUnit>,
    /// An MLPerf Storage workload: unet3d-b200, retinanet-b200, retinanet-mi355,
    /// unet3d-h100, unet3d-a100, resnet50-h100, resnet50-a100, cosmoflow-h100,
    /// cosmoflow-a100 (flags above override its values).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// AU pass mark (default: the preset's, the phase's, or 0.90).
    #[arg(long)]
    pub au: Option<f64>,
    /// Simulated time per accelerator count.
    #[arg(long, value_parser = parse::duration, default_value = "30s")]
    pub duration: Duration,
    /// Seed of the latency draws (the same seed, the same prediction).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// USD per accelerator-hour: price the idle accelerator time.
    #[arg(long, value_name = "USD")]
    pub gpu_hour: Option<f64>,
    /// One JSON object per target, one per line, instead of Markdown.
    #[arg(long)]
    pub json: bool,
}

/// `object`, or a record size like `150KiB`.
fn sample(s: &str) -> Result<SampleUnit, String> {
    if s.trim().eq_ignore_ascii_case("object") {
        return Ok(SampleUnit::Object);
    }
    match crate::units::ByteSize::parse(s) {
        Ok(b) if b.0 > 0 => Ok(SampleUnit::Record { size: b.0 }),
        _ => Err(format!(
            "expected \"object\" or a record size like \"150KiB\", got {s:?}"
        )),
    }
}

impl WhatifArgs {
    fn options(&self) -> WhatifOptions {
        WhatifOptions {
            phase: self.phase.clone(),
            accelerators: self.accelerators,
            search: self.search,
            batch_size: self.batch_size,
            compute: self.compute,
            read_concurrency: self.read_concurrency,
            prefetch: self.prefetch,
            sample: self.sample,
            preset: self.preset.clone(),
            au: self.au,
            duration: Some(self.duration),
            seed: self.seed,
            gpu_hour: self.gpu_hour,
        }
    }
}

impl RunCommand for WhatifArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let r = crate::report::json::read_result(&self.result)?;
        let w =
            predict(&r, &self.options())
                .await
                .map_err(|e| match e.downcast::<WhatifError>() {
                    Ok(w) => InputError(w.0).into(),
                    Err(e) => e,
                })?;
        if self.json {
            print!("{}", render::json_lines(&w)?);
        } else {
            print!("{}", render::markdown(&w));
        }
        Ok(ExitCode::Success)
    }
}
