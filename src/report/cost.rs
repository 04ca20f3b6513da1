//! What a run costs on S3: prices as data (`pricing/s3.toml`, embedded at
//! build time) and the arithmetic both the report and `s3bench plan` use, so
//! a plan's estimate and a run's report price the same counts the same way.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::report::model::{LoadShape, OpResult, RunResult};
use crate::s3::OpKind;

/// The price list shipped with this build.
const PRICING_TOML: &str = include_str!("../../pricing/s3.toml");

/// AWS bills storage and transfer in binary gigabytes: 1 GB = 2^30 bytes.
pub const BYTES_PER_GB: f64 = (1u64 << 30) as f64;

/// Prices of one bucket kind in one region (USD).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub region: String,
    /// `general-purpose` or `directory` (as `TargetInfo::kind`).
    pub kind: String,
    /// Storage class the prices are for.
    pub storage_class: String,
    pub storage_gb_month: f64,
    /// PUT, COPY, POST, LIST per 1,000 requests.
    pub tier1_per_1000: f64,
    /// GET, HEAD per 1,000 requests.
    pub tier2_per_1000: f64,
    /// Per GB written (Express One Zone).
    pub upload_gb: f64,
    /// Per GB read (Express One Zone).
    pub retrieval_gb: f64,
    /// DELETE requests cost nothing.
    pub delete_free: bool,
    /// Date the price was read (YYYY-MM-DD).
    pub read: String,
    /// Page it was read on.
    pub source: String,
    /// False when nobody has re-read it on the pricing page.
    pub checked: bool,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceBook {
    pub price: Vec<Price>,
}

impl PriceBook {
    /// Parses a price list in the format of `pricing/s3.toml`.
    pub fn parse(toml_text: &str) -> anyhow::Result<PriceBook> {
        let book: PriceBook = toml::from_str(toml_text)
            .map_err(|e| anyhow::anyhow!("price list is not valid: {e}"))?;
        for p in &book.price {
            let values = [
                p.storage_gb_month,
                p.tier1_per_1000,
                p.tier2_per_1000,
                p.upload_gb,
                p.retrieval_gb,
            ];
            if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
                anyhow::bail!(
                    "price list: a price of {} in {} is negative or not a number",
                    p.kind,
                    p.region
                );
            }
        }
        Ok(book)
    }

    /// Prices for a bucket kind in a region, if the list has them.
    pub fn find(&self, region: &str, kind: &str) -> Option<&Price> {
        self.price
            .iter()
            .find(|p| p.region == region && p.kind == kind)
    }
}

/// The price list embedded in this build (parsed once; a test proves it parses).
pub fn prices() -> &'static PriceBook {
    static BOOK: OnceLock<PriceBook> = OnceLock::new();
    BOOK.get_or_init(|| {
        PriceBook::parse(PRICING_TOML).unwrap_or_else(|e| {
            // Only a broken build gets here: the shipped list is tested.
            tracing::error!("{e:#}");
            PriceBook { price: Vec::new() }
        })
    })
}

pub use crate::s3::op::{BillingTier, Transfer};

/// How S3 bills the requests recorded under the op key `op`: the op table's
/// tier and transfer direction (`OpKind::billing_tier`, `OpKind::transfer`).
/// `deletes_are_batches`: the phase sends its `delete`s as DeleteObjects
/// (the run's cleanup, up to 1,000 keys a request), which is a POST. An op
/// key this build does not know (a result of a newer s3bench) is priced in
/// the dearer request tier, moving no payload.
pub fn billing(op: &str, deletes_are_batches: bool) -> (BillingTier, Transfer) {
    match OpKind::from_key(op) {
        Some(OpKind::Delete) if deletes_are_batches => {
            (BillingTier::PutCopyPostList, Transfer::None)
        }
        Some(op) => (op.billing_tier(), op.transfer()),
        None => (BillingTier::PutCopyPostList, Transfer::None),
    }
}

/// The billable usage of `requests` HTTP requests recorded under op key
/// `op` for `count` operations that moved `bytes`, each request priced by
/// what it is rather than by the op it served:
/// - `rename` on a General Purpose target whose stand-in is CopyObject +
///   DeleteObject (`copy_delete`): one COPY per op, and every further
///   request is its DeleteObject, a DELETE (free);
/// - `conditional_put`: one PUT per op, and every further request is the
///   HEAD a compare-and-swap sends when it knows no ETag (GET tier);
/// - anything else: the op table ([`billing`]).
///
/// Requests beyond one per op are the second request of those ops (the
/// measured phases send no retries by default; with `max_attempts` above 1
/// a retry counts as that second request).
pub fn op_usage(
    op: &str,
    count: u64,
    requests: u64,
    bytes: u64,
    deletes_are_batches: bool,
    copy_delete: bool,
) -> Usage {
    let extra = requests.saturating_sub(count);
    let mut u = Usage::default();
    match OpKind::from_key(op) {
        Some(OpKind::Rename) if copy_delete => {
            u.add(billing(op, false), requests - extra, bytes);
            u.add((BillingTier::Delete, Transfer::None), extra, 0);
        }
        Some(OpKind::ConditionalPut) => {
            u.add(billing(op, false), requests - extra, bytes);
            u.add((BillingTier::GetAndOther, Transfer::None), extra, 0);
        }
        _ => u.add(billing(op, deletes_are_batches), requests, bytes),
    }
    u
}

/// Whether a phase's `rename` on a target of `kind` is the General Purpose
/// stand-in (CopyObject + DeleteObject).
pub fn rename_is_copy_delete(shape: &LoadShape, kind: &str) -> bool {
    kind == "general-purpose"
        && matches!(shape, LoadShape::Stages { gp_stand_ins, .. }
            if gp_stand_ins.contains(&crate::report::model::GpStandIn::RenameCopyDelete))
}

/// Billable counts: what a price turns into dollars.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub tier1: u64,
    pub tier2: u64,
    pub deletes: u64,
    pub upload_bytes: u64,
    pub retrieval_bytes: u64,
}

impl Usage {
    /// Usage of `requests` HTTP requests billed as `billing` moving `bytes` payload.
    pub fn of(billing: (BillingTier, Transfer), requests: u64, bytes: u64) -> Usage {
        let mut u = Usage::default();
        u.add(billing, requests, bytes);
        u
    }

    /// Adds `requests` HTTP requests billed as `billing` (see [`billing`])
    /// that moved `bytes` payload.
    pub fn add(&mut self, billing: (BillingTier, Transfer), requests: u64, bytes: u64) {
        let (tier, transfer) = billing;
        match tier {
            BillingTier::PutCopyPostList => self.tier1 += requests,
            BillingTier::GetAndOther => self.tier2 += requests,
            BillingTier::Delete => self.deletes += requests,
        }
        match transfer {
            Transfer::Upload => self.upload_bytes += bytes,
            Transfer::Download => self.retrieval_bytes += bytes,
            Transfer::None => {}
        }
    }

    pub fn merge(&mut self, o: &Usage) {
        self.tier1 += o.tier1;
        self.tier2 += o.tier2;
        self.deletes += o.deletes;
        self.upload_bytes += o.upload_bytes;
        self.retrieval_bytes += o.retrieval_bytes;
    }
}

/// Dollars, split into requests and per-GB transfer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    pub requests_usd: f64,
    pub transfer_usd: f64,
}

impl Cost {
    pub fn total(&self) -> f64 {
        self.requests_usd + self.transfer_usd
    }
}

impl Price {
    /// The one formula from counts to dollars.
    pub fn cost(&self, u: &Usage) -> Cost {
        let delete = if self.delete_free {
            0.0
        } else {
            self.tier1_per_1000
        };
        Cost {
            requests_usd: (u.tier1 as f64 * self.tier1_per_1000
                + u.tier2 as f64 * self.tier2_per_1000
                + u.deletes as f64 * delete)
                / 1000.0,
            transfer_usd: (u.upload_bytes as f64 * self.upload_gb
                + u.retrieval_bytes as f64 * self.retrieval_gb)
                / BYTES_PER_GB,
        }
    }

    /// Storage of `bytes` for one month.
    pub fn storage_month(&self, bytes: u64) -> f64 {
        bytes as f64 / BYTES_PER_GB * self.storage_gb_month
    }
}

/// What one op of one target cost in a run, per million at its measured size.
#[derive(Debug, Clone, PartialEq)]
pub struct OpCost {
    pub phase: String,
    pub op: String,
    /// HTTP requests per op (multipart PUT sends several).
    pub requests_per_op: f64,
    /// Payload bytes per op.
    pub bytes_per_op: f64,
    /// USD per million ops.
    pub per_million: f64,
}

/// One target's bill for a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCost {
    pub target: String,
    pub kind: String,
    pub region: String,
    /// None when the price list has no prices for this kind and region.
    pub price: Option<Price>,
    /// Everything the run sent: every phase, warm-ups included.
    pub usage: Usage,
    pub cost: Option<Cost>,
    /// Data set bytes (what the prepare phase wrote), if known.
    pub dataset_bytes: Option<u64>,
    /// USD per month to keep the data set.
    pub storage_month: Option<f64>,
    /// Measured phases only.
    pub per_op: Vec<OpCost>,
}

/// HTTP requests an op result stands for. Today that is `requests`; the one
/// place to change when retries are billed from `attempts`.
fn billed(o: &OpResult) -> (u64, u64) {
    (o.requests, o.bytes)
}

/// The bill of each target of a stored result.
pub fn run_costs(r: &RunResult, book: &PriceBook) -> Vec<TargetCost> {
    r.targets
        .iter()
        .map(|t| {
            let price = book.find(&t.region, &t.kind).cloned();
            let mut usage = Usage::default();
            let mut dataset = None;
            let mut per_op = Vec::new();
            for p in &r.phases {
                let Some(tp) = p.targets.iter().find(|x| x.target == t.name) else {
                    continue;
                };
                let batches = p.shape == LoadShape::Cleanup;
                let copy_delete = rename_is_copy_delete(&p.shape, &t.kind);
                for (op, o) in tp.ops.iter().chain(tp.warmup.iter()) {
                    let (req, bytes) = billed(o);
                    usage.merge(&op_usage(op, o.count, req, bytes, batches, copy_delete));
                }
                if matches!(p.shape, LoadShape::Prepare { .. }) {
                    let written: u64 = tp
                        .ops
                        .iter()
                        .filter(|(op, _)| billing(op, false).1 == Transfer::Upload)
                        .map(|(_, o)| o.bytes)
                        .sum();
                    dataset = Some(dataset.unwrap_or(0) + written);
                }
                if !p.is_measured() {
                    continue;
                }
                for (op, o) in &tp.ops {
                    if o.count == 0 {
                        continue;
                    }
                    let (req, bytes) = billed(o);
                    // Bytes move only on success; a failed op still sent its request.
                    let ok = crate::report::headline::failure_share(o).succeeded().max(1);
                    let rpo = req as f64 / o.count as f64;
                    let bpo = bytes as f64 / ok as f64;
                    let per_million = price.as_ref().map(|pr| {
                        // Price a million ops exactly as the run's totals are priced.
                        let u = op_usage(
                            op,
                            1_000_000,
                            (rpo * 1e6).round() as u64,
                            (bpo * 1e6).round() as u64,
                            batches,
                            copy_delete,
                        );
                        pr.cost(&u).total()
                    });
                    if let Some(per_million) = per_million {
                        per_op.push(OpCost {
                            phase: p.name.clone(),
                            op: op.clone(),
                            requests_per_op: rpo,
                            bytes_per_op: bpo,
                            per_million,
                        });
                    }
                }
            }
            let cost = price.as_ref().map(|p| p.cost(&usage));
            let storage_month = match (&price, dataset) {
                (Some(p), Some(b)) => Some(p.storage_month(b)),
                _ => None,
            };
            TargetCost {
                target: t.name.clone(),
                kind: t.kind.clone(),
                region: t.region.clone(),
                price,
                usage,
                cost,
                dataset_bytes: dataset,
                storage_month,
                per_op,
            }
        })
        .collect()
}

/// What one target paid per unit of work in one measured phase: per
/// million operations of the phase's mix and per GiB read, so targets that
/// did unequal work (a closed loop on the faster one does more) compare
/// like for like.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitCost {
    pub target: String,
    pub phase: String,
    /// Measured operations of the phase.
    pub ops: u64,
    /// USD per million operations of the phase's op mix.
    pub per_million_ops: f64,
    /// USD per GiB read (None when the phase read nothing).
    pub per_gib_read: Option<f64>,
}

/// [`UnitCost`] of every priced target in every measured phase, from the
/// per-op prices of [`run_costs`].
pub fn unit_costs(r: &RunResult, costs: &[TargetCost]) -> Vec<UnitCost> {
    let mut out = Vec::new();
    for p in r.phases.iter().filter(|p| p.is_measured()) {
        for c in costs {
            let Some(tp) = p.targets.iter().find(|t| t.target == c.target) else {
                continue;
            };
            let (mut ops, mut usd, mut read) = (0u64, 0.0, 0u64);
            for o in c.per_op.iter().filter(|o| o.phase == p.name) {
                let Some(res) = tp.ops.get(&o.op) else {
                    continue;
                };
                ops += res.count;
                usd += o.per_million * res.count as f64 / 1e6;
                if billing(&o.op, false).1 == Transfer::Download {
                    read += res.bytes;
                }
            }
            if ops == 0 {
                continue;
            }
            out.push(UnitCost {
                target: c.target.clone(),
                phase: p.name.clone(),
                ops,
                per_million_ops: usd * 1e6 / ops as f64,
                per_gib_read: (read > 0).then(|| usd * BYTES_PER_GB / read as f64),
            });
        }
    }
    out
}

pub use crate::report::format::fmt_usd;

/// Sums usage by op over phases; used by tests and the plan printer.
pub fn usage_by_op(r: &RunResult, target: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for p in &r.phases {
        for tp in p.targets.iter().filter(|t| t.target == target) {
            for (op, o) in tp.ops.iter().chain(tp.warmup.iter()) {
                *m.entry(op.clone()).or_insert(0) += o.requests;
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_result;

    #[test]
    fn cost_shipped_price_list_parses_and_has_us_east_1() {
        let book = PriceBook::parse(PRICING_TOML).unwrap();
        let gp = book.find("us-east-1", "general-purpose").unwrap();
        let ex = book.find("us-east-1", "directory").unwrap();
        assert_eq!(gp.tier1_per_1000, 0.005);
        assert_eq!(gp.tier2_per_1000, 0.0004);
        assert_eq!(ex.tier1_per_1000, 0.00113);
        assert_eq!(ex.tier2_per_1000, 0.00003);
        assert_eq!((ex.upload_gb, ex.retrieval_gb), (0.0032, 0.0006));
        for p in &book.price {
            assert!(p.source.starts_with("https://"), "{p:?}");
            assert_eq!(p.read.len(), 10, "{p:?}");
        }
        assert!(book.find("eu-west-1", "directory").is_none());
        assert_eq!(prices(), &book);
    }

    #[test]
    fn cost_bad_price_lists_fail_clearly() {
        let e = PriceBook::parse("[[price]]\nregion = 1").unwrap_err();
        assert!(
            format!("{e:#}").contains("price list is not valid"),
            "{e:#}"
        );
        let neg = PRICING_TOML.replacen("storage_gb_month = 0.023", "storage_gb_month = -1.0", 1);
        let e = PriceBook::parse(&neg).unwrap_err();
        assert!(format!("{e:#}").contains("negative"), "{e:#}");
    }

    #[test]
    fn cost_formula_by_tier_and_bytes() {
        let book = prices();
        let ex = book.find("us-east-1", "directory").unwrap();
        // 1e6 GETs of 1 KiB: tier 2 requests plus 1 GB retrieved.
        let u = Usage::of(billing("get", false), 1_000_000, 1 << 30);
        let c = ex.cost(&u);
        assert!((c.requests_usd - 0.03).abs() < 1e-12, "{c:?}");
        assert!((c.transfer_usd - 0.0006).abs() < 1e-12, "{c:?}");
        // DeleteObject is free; DeleteObjects in cleanup is a POST.
        assert_eq!(
            ex.cost(&Usage::of(billing("delete", false), 1000, 0))
                .total(),
            0.0
        );
        assert!(
            (ex.cost(&Usage::of(billing("delete", true), 1000, 0))
                .total()
                - 0.00113)
                .abs()
                < 1e-15
        );
        let gp = book.find("us-east-1", "general-purpose").unwrap();
        let c = gp.cost(&Usage::of(billing("put", false), 1000, 1 << 30));
        assert_eq!(c.transfer_usd, 0.0);
        assert!((c.requests_usd - 0.005).abs() < 1e-15);
        assert!((gp.storage_month(1 << 30) - 0.023).abs() < 1e-15);
    }

    /// The bill follows the op table for every op, the cleanup's batched
    /// deletes are POSTs, and an op this build does not know is not priced
    /// at the cheap tier.
    #[test]
    fn cost_billing_reads_the_op_table() {
        let ex = prices().find("us-east-1", "directory").unwrap();
        for op in OpKind::ALL {
            let u = Usage::of(billing(op.key(), false), 1000, 1 << 30);
            let (tier1, tier2, deletes) = match op.billing_tier() {
                BillingTier::PutCopyPostList => (1000, 0, 0),
                BillingTier::GetAndOther => (0, 1000, 0),
                BillingTier::Delete => (0, 0, 1000),
            };
            assert_eq!(
                (u.tier1, u.tier2, u.deletes),
                (tier1, tier2, deletes),
                "{op}"
            );
            let moved = (u.upload_bytes, u.retrieval_bytes);
            let want = match op.transfer() {
                Transfer::Upload => (1 << 30, 0),
                Transfer::Download => (0, 1 << 30),
                Transfer::None => (0, 0),
            };
            assert_eq!(moved, want, "{op}");
            assert!(ex.cost(&u).total() >= 0.0);
        }
        assert_eq!(
            billing("delete", true),
            (BillingTier::PutCopyPostList, Transfer::None)
        );
        assert_eq!(
            billing("select_object_content", false),
            (BillingTier::PutCopyPostList, Transfer::None)
        );
    }

    #[test]
    fn cost_of_the_sample_run_adds_up() {
        let r = sample_result();
        let costs = run_costs(&r, prices());
        assert_eq!(costs.len(), 2);
        for c in &costs {
            let price = c.price.as_ref().unwrap();
            // Recompute by hand from the result.
            let mut tier1 = 0;
            let mut tier2 = 0;
            for p in &r.phases {
                let tp = p.targets.iter().find(|t| t.target == c.target).unwrap();
                for (op, o) in tp.ops.iter().chain(&tp.warmup) {
                    match (op.as_str(), p.name.as_str()) {
                        ("get" | "head", _) => tier2 += o.requests,
                        ("delete", "cleanup") | ("put", _) => tier1 += o.requests,
                        _ => {}
                    }
                }
            }
            assert_eq!((c.usage.tier1, c.usage.tier2), (tier1, tier2), "{c:?}");
            let want = (tier1 as f64 * price.tier1_per_1000 + tier2 as f64 * price.tier2_per_1000)
                / 1000.0;
            assert!((c.cost.unwrap().requests_usd - want).abs() < 1e-12);
            let prepared = r.phases[0]
                .targets
                .iter()
                .find(|t| t.target == c.target)
                .unwrap()
                .ops["put"]
                .bytes;
            assert!(prepared > 0);
            assert_eq!(c.dataset_bytes, Some(prepared), "{c:?}");
            assert!(c.per_op.iter().any(|o| o.op == "get" && o.phase == "mixed"));
        }
        let ex = costs.iter().find(|c| c.kind == "directory").unwrap();
        assert!(ex.cost.unwrap().transfer_usd > 0.0);
        let gp = costs.iter().find(|c| c.kind == "general-purpose").unwrap();
        assert_eq!(gp.cost.unwrap().transfer_usd, 0.0);
    }

    /// What is setup is read from the role and shape, not the name: a
    /// measured phase that happens to be called `cleanup` (a result written
    /// before such names were refused) is billed and listed as measured.
    #[test]
    fn cost_setup_is_the_role_not_the_name() {
        let r = sample_result();
        let mut named = r.clone();
        named.phases[1].name = "cleanup".into();
        let (a, b) = (run_costs(&r, prices()), run_costs(&named, prices()));
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(
                (a.usage, a.cost, a.dataset_bytes),
                (b.usage, b.cost, b.dataset_bytes)
            );
            assert!(
                b.per_op
                    .iter()
                    .any(|o| o.phase == "cleanup" && o.op == "get")
            );
        }
        // The run's own cleanup's deletes are DeleteObjects (POSTs).
        let cleanup = r
            .phases
            .iter()
            .find(|p| p.shape == LoadShape::Cleanup)
            .unwrap();
        let deletes: u64 = cleanup.targets[0].ops["delete"].requests;
        assert!(deletes > 0);
        let mut free = r.clone();
        let last = free.phases.len() - 1;
        free.phases[last].shape = LoadShape::Unknown;
        let (a, b) = (&run_costs(&r, prices())[0], &run_costs(&free, prices())[0]);
        assert_eq!(a.usage.tier1 - b.usage.tier1, deletes);
        assert_eq!(b.usage.deletes - a.usage.deletes, deletes);
    }

    /// Each request is priced by what it is: the General Purpose rename
    /// stand-in's DeleteObject is a DELETE (free), a compare-and-swap's
    /// HEAD is a GET-tier request, never a PUT.
    #[test]
    fn cost_prices_each_request_by_what_it_is() {
        let gp = prices().find("us-east-1", "general-purpose").unwrap();
        // 1,000 renames as CopyObject + DeleteObject: 1,000 COPYs, 1,000 free DELETEs.
        let u = op_usage("rename", 1000, 2000, 0, false, true);
        assert_eq!((u.tier1, u.tier2, u.deletes), (1000, 0, 1000));
        assert!((gp.cost(&u).total() - 0.005).abs() < 1e-15, "{u:?}");
        // A directory bucket's RenameObject: one request per op, a PUT-tier one.
        let u = op_usage("rename", 1000, 1000, 0, false, false);
        assert_eq!((u.tier1, u.deletes), (1000, 0));
        // 1,000 compare-and-swaps, 300 of which first HEADed the key.
        let u = op_usage("conditional_put", 1000, 1300, 4096, false, false);
        assert_eq!((u.tier1, u.tier2, u.upload_bytes), (1000, 300, 4096));
        let want = 1000.0 * gp.tier1_per_1000 / 1000.0 + 300.0 * gp.tier2_per_1000 / 1000.0;
        assert!((gp.cost(&u).total() - want).abs() < 1e-15);
        // Other ops follow the op table.
        assert_eq!(
            op_usage("get", 10, 10, 100, false, true),
            Usage::of(billing("get", false), 10, 100)
        );
        // The stand-in is read from the phase's shape and the target's kind.
        let shape = LoadShape::Stages {
            stages: Vec::new(),
            warmup_s: None,
            stop_after_s: None,
            stop_after_ops: None,
            gp_stand_ins: vec![crate::report::model::GpStandIn::RenameCopyDelete],
            mix: Vec::new(),
        };
        assert!(rename_is_copy_delete(&shape, "general-purpose"));
        assert!(!rename_is_copy_delete(&shape, "directory"));
    }

    /// Unit costs divide each phase's cost by its own work: doubling one
    /// target's counts doubles its bill but not its cost per million ops.
    #[test]
    fn cost_per_unit_of_work_ignores_how_much_work() {
        let r = sample_result();
        let base = unit_costs(&r, &run_costs(&r, prices()));
        assert!(!base.is_empty());
        let mut twice = r.clone();
        for p in twice.phases.iter_mut() {
            for o in p.targets[0].ops.values_mut() {
                o.count *= 2;
                o.successes *= 2;
                o.errors *= 2;
                o.requests *= 2;
                o.bytes *= 2;
            }
        }
        let more = unit_costs(&twice, &run_costs(&twice, prices()));
        for (a, b) in base.iter().zip(&more) {
            assert_eq!((&a.target, &a.phase), (&b.target, &b.phase));
            assert!(
                (a.per_million_ops - b.per_million_ops).abs() < 1e-9 * a.per_million_ops.max(1.0),
                "{a:?} {b:?}"
            );
        }
        let t0 = &r.targets[0].name;
        let (a, b) = (
            base.iter().find(|u| &u.target == t0).unwrap(),
            more.iter().find(|u| &u.target == t0).unwrap(),
        );
        assert_eq!(b.ops, 2 * a.ops);
        // A phase that reads has a price per GiB read.
        assert!(base.iter().any(|u| u.per_gib_read.is_some()));
    }

    #[test]
    fn cost_missing_region_has_no_price() {
        let mut r = sample_result();
        r.targets[0].region = "xx-nowhere-1".into();
        let costs = run_costs(&r, prices());
        assert!(costs[0].price.is_none() && costs[0].cost.is_none());
        assert!(costs[1].cost.is_some());
    }
}
