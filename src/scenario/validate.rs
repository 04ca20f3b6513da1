//! Raw scenario -> [`Plan`]. Every check records a problem and carries on
//! with a placeholder value, so one run of `validate` reports every semantic
//! mistake in the file, not just the first.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::plan::*;
use super::raw::*;
use super::{Problem, ScenarioError, line_col};
use crate::s3::inject::{Setting, Settings};
use crate::units::{ByteSize, HumanDuration, format_duration};

const MIB: u64 = ByteSize::MIB;

use crate::s3::limits::{
    MAX_OBJECT_SIZE as MAX_OBJECT, MAX_PART_SIZE as MAX_PART, MAX_SINGLE_PUT,
    MIN_PART_SIZE as MIN_PART,
};
const MAX_PARTS: u64 = crate::s3::limits::MAX_PARTS as u64;
const MAX_CONCURRENCY: i64 = 100_000;
const MAX_RATE: f64 = 1_000_000.0;

pub(super) struct Ctx<'a> {
    text: &'a str,
    source: &'a Path,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    pub(super) fn report(
        &mut self,
        span: Option<Range<usize>>,
        field: &str,
        message: impl Into<String>,
    ) {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(self.text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        self.problems.push(Problem {
            file: self.source.to_path_buf(),
            line,
            column,
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// The scenario file's folder, against which relative paths resolve.
    pub(super) fn source_dir(&self) -> Option<&Path> {
        self.source.parent()
    }

    pub(super) fn at<T>(&mut self, v: &Spanned<T>, field: &str, message: impl Into<String>) {
        self.report(Some(v.span()), field, message);
    }

    /// An integer within `min..=max`; None (after reporting) otherwise.
    pub(super) fn int(&mut self, v: &Spanned<i64>, field: &str, min: i64, max: i64) -> Option<i64> {
        let n = *v.get_ref();
        if n < min {
            self.at(v, field, format!("expected at least {min}, got {n}"));
            None
        } else if n > max {
            self.at(v, field, format!("expected at most {max}, got {n}"));
            None
        } else {
            Some(n)
        }
    }

    /// A byte size within `min..=max`, with an optional reason for the limits.
    pub(super) fn size(
        &mut self,
        v: &Spanned<ByteSize>,
        field: &str,
        min: (u64, &str),
        max: (u64, &str),
    ) -> Option<u64> {
        let n = v.get_ref().0;
        self.size_value(n, Some(v.span()), field, min, max)
    }

    fn size_value(
        &mut self,
        n: u64,
        span: Option<Range<usize>>,
        field: &str,
        (min, min_why): (u64, &str),
        (max, max_why): (u64, &str),
    ) -> Option<u64> {
        if n < min {
            self.report(
                span,
                field,
                format!(
                    "expected at least {}{}, got {}",
                    exact_bytes(min),
                    why(min_why),
                    exact_bytes(n)
                ),
            );
            None
        } else if n > max {
            self.report(
                span,
                field,
                format!(
                    "expected at most {}{}, got {}",
                    exact_bytes(max),
                    why(max_why),
                    exact_bytes(n)
                ),
            );
            None
        } else {
            Some(n)
        }
    }

    pub(super) fn positive_duration(
        &mut self,
        v: &Spanned<HumanDuration>,
        field: &str,
    ) -> Option<Duration> {
        let d = v.get_ref().0;
        if d.is_zero() {
            self.at(v, field, "expected a duration above zero, got 0s");
            None
        } else {
            Some(d)
        }
    }
}

/// Sizes in messages must be exact: "at most 4 KiB, got 4 KiB" for 4097
/// bytes would be no help. `ByteSize`'s Display falls back to bytes.
fn exact_bytes(n: u64) -> String {
    ByteSize(n).to_string()
}

fn why(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

pub(super) fn validate(
    raw: RawScenario,
    text: &str,
    source: &Path,
) -> Result<super::Plan, ScenarioError> {
    let mut cx = Ctx {
        text,
        source,
        problems: Vec::new(),
    };
    let plan = build(&mut cx, raw, source);
    if cx.problems.is_empty() {
        Ok(plan)
    } else {
        // File order reads best; problems without a position go last.
        cx.problems
            .sort_by_key(|p| (p.line.is_none(), p.line, p.column));
        Err(ScenarioError::new(cx.problems))
    }
}

fn build(cx: &mut Ctx<'_>, raw: RawScenario, source: &Path) -> Plan {
    let name = match &raw.name {
        Some(n) => {
            let s = n.get_ref().trim();
            if s.is_empty() || s.contains('\n') {
                cx.at(n, "name", "expected a non-empty, single-line name");
            }
            s.to_string()
        }
        None => source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "scenario".to_string()),
    };
    let seed = raw
        .seed
        .as_ref()
        .and_then(|s| cx.int(s, "seed", 0, i64::MAX))
        .map_or(1, |s| s as u64);
    let rounds = raw
        .rounds
        .as_ref()
        .and_then(|r| cx.int(r, "rounds", 1, 1000))
        .map_or(2, |r| r as u32);

    let targets = targets(cx, &raw.targets);

    let dataset_given = raw.dataset.is_some();
    let dataset = match &raw.dataset {
        Some(d) => dataset(cx, d),
        None => Dataset {
            objects: 0,
            size: SizeDist::Fixed(0),
            key: default_key(),
        },
    };
    let prepare = prepare(cx, raw.prepare.as_ref(), &dataset, dataset_given);
    let client = client(cx, raw.client.as_ref());

    if raw.phase.is_empty() {
        cx.report(
            None,
            "phase",
            "expected at least one [[phase]] with a name, a load and a mix",
        );
    }
    let env = PhaseEnv {
        dataset: dataset_given.then_some(&dataset),
        directory_target: targets
            .iter()
            .find(|t| t.kind == TargetKind::Directory)
            .map(|t| t.name.clone()),
        gp_target: targets
            .iter()
            .find(|t| t.kind == TargetKind::GeneralPurpose)
            .map(|t| t.name.clone()),
    };
    let mut phases = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, p) in raw.phase.iter().enumerate() {
        let phase = phase(cx, i, p, &env);
        if let Some(first) = names.get(&phase.name) {
            cx.at(
                &p.name,
                &format!("phase[{i}].name"),
                format!(
                    "expected a unique phase name, but {:?} is already used by phase[{first}]",
                    phase.name
                ),
            );
        } else {
            names.insert(phase.name.clone(), i);
        }
        phases.push(phase);
    }

    let mut plan = Plan {
        name,
        source: source.to_path_buf(),
        description: raw.description.clone(),
        targets,
        dataset,
        prepare,
        phases,
        cleanup: raw.cleanup.unwrap_or(true),
        client,
        rounds,
        seed,
        pricing: pricing(cx, raw.pricing.as_ref()),
        checks: Vec::new(),
    };
    plan.checks = checks(cx, &raw.check, &plan);
    plan
}

/// `[[check]]` tables: each expression parsed and its names checked against
/// the plan; a mistake is reported at its column in the file.
fn checks(cx: &mut Ctx<'_>, raw: &[RawCheck], plan: &Plan) -> Vec<CheckSpec> {
    let names = plan.check_names();
    let mut out = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let field = format!("check[{i}].expr");
        let text = c.expr.get_ref();
        let parsed = crate::check::parse_spanned(text).and_then(|(check, spans)| {
            crate::check::validate(&check, &spans, &names).map(|()| check)
        });
        match parsed {
            Ok(check) => out.push(CheckSpec {
                check,
                source: crate::check::Source::Scenario,
                name: c
                    .name
                    .as_ref()
                    .map(|n| n.get_ref().trim().to_string())
                    .filter(|n| !n.is_empty()),
            }),
            Err(e) => {
                let span = c.expr.span();
                let at = expr_offset(cx.text, span.clone(), text, e.column).unwrap_or(span.start);
                cx.report(Some(at..at), &field, e.message);
            }
        }
        if let Some(n) = &c.name
            && (n.get_ref().trim().is_empty() || n.get_ref().contains('\n'))
        {
            cx.at(
                n,
                &format!("check[{i}].name"),
                "expected a non-empty, single-line name",
            );
        }
    }
    out
}

/// Byte offset in the file of column `column` (1-based, in characters) of
/// a string value spanning `span`, when the file spells it without escapes
/// (a plain `"..."` or `'...'`); None otherwise.
fn expr_offset(text: &str, span: Range<usize>, value: &str, column: usize) -> Option<usize> {
    let raw = text.get(span.clone())?;
    let quote = raw.chars().next().filter(|q| matches!(q, '"' | '\''))?;
    let inner = raw.get(1..raw.len().checked_sub(1)?)?;
    if raw.len() < 2 || !raw.ends_with(quote) || inner != value {
        return None;
    }
    let within: usize = value.chars().take(column - 1).map(char::len_utf8).sum();
    Some(span.start + 1 + within)
}

/// `[pricing]`: a GPU-hour price must be a positive number of dollars.
fn pricing(cx: &mut Ctx<'_>, raw: Option<&super::raw::RawPricing>) -> super::plan::Pricing {
    let gpu_hour = raw.and_then(|r| r.gpu_hour.as_ref()).and_then(|v| {
        let x = *v.get_ref();
        if x.is_finite() && x > 0.0 {
            Some(x)
        } else {
            cx.at(
                v,
                "pricing.gpu_hour",
                format!("expected US dollars per accelerator-hour above 0 (e.g. 2.50), got {x}"),
            );
            None
        }
    });
    super::plan::Pricing { gpu_hour }
}

fn default_key() -> KeyTemplate {
    // A fixed, valid template: this cannot fail.
    KeyTemplate {
        source: "{index:08}".to_string(),
        parts: vec![KeyPart::Index { width: 8 }],
    }
}

/// Names used for targets and phases end up in reports and file names.
fn is_simple_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn targets(cx: &mut Ctx<'_>, raw: &Ordered<RawTarget>) -> Vec<TargetSpec> {
    if raw.0.is_empty() {
        cx.report(
            None,
            "targets",
            "expected at least one target, e.g. [targets.standard] with kind, bucket and region",
        );
    }
    raw.0.iter().map(|(name, t)| target(cx, name, t)).collect()
}

fn target(cx: &mut Ctx<'_>, name: &str, t: &RawTarget) -> TargetSpec {
    let base = format!("targets.{name}");
    if !is_simple_name(name) {
        cx.at(
            &t.kind,
            &base,
            format!("expected a target name of letters, digits, '-', '_' or '.' (at most 64), got {name:?}"),
        );
    }
    let kind = match t.kind.get_ref() {
        RawKind::GeneralPurpose => TargetKind::GeneralPurpose,
        RawKind::Directory => TargetKind::Directory,
    };
    let bucket = t.bucket.get_ref().clone();
    let check = match kind {
        TargetKind::Directory => crate::s3::bucket::check_directory_bucket(&bucket),
        TargetKind::GeneralPurpose => crate::s3::bucket::check_general_purpose_bucket(&bucket),
    };
    if let Err(msg) = check {
        cx.at(&t.bucket, &format!("{base}.bucket"), msg);
    }
    let region = t.region.get_ref().clone();
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        cx.at(
            &t.region,
            &format!("{base}.region"),
            format!("expected an AWS region like \"us-east-1\", got {region:?}"),
        );
    }
    let resolve = t.resolve.as_ref().and_then(|r| {
        let parsed = r.get_ref().trim().parse::<std::net::IpAddr>();
        if parsed.is_err() {
            cx.at(
                r,
                &format!("{base}.resolve"),
                format!(
                    "expected an IP address to connect to, like \"10.0.0.5\" or \"::1\", got {:?}",
                    r.get_ref()
                ),
            );
        }
        parsed.ok()
    });
    let endpoint = t.endpoint.as_ref().map(|e| {
        let s = e.get_ref().trim().to_string();
        if let Err(msg) = check_endpoint(&s) {
            cx.at(e, &format!("{base}.endpoint"), msg);
        } else if kind == TargetKind::Directory
            && resolve.is_none()
            && endpoint_host_is_localhost(&s)
        {
            // The SDK always puts a directory bucket's name in the host name
            // unless the host is an IP literal, and `bucket.localhost` does
            // not resolve.
            cx.at(
                e,
                &format!("{base}.endpoint"),
                format!(
                    "expected an IP address instead of localhost for a directory bucket (e.g. \"http://127.0.0.1:9000\"): the SDK sends directory bucket requests to BUCKET.localhost, which does not resolve (or set resolve = \"127.0.0.1\"); got {s:?}"
                ),
            );
        }
        s
    });
    let profile = t.profile.as_ref().map(|p| {
        if p.get_ref().trim().is_empty() {
            cx.at(
                p,
                &format!("{base}.profile"),
                "expected a profile name, got an empty string",
            );
        }
        p.get_ref().clone()
    });
    let ca_file = t.ca_file.as_ref().and_then(|c| {
        let given = c.get_ref().trim();
        let path = match cx.source.parent() {
            Some(dir) if Path::new(given).is_relative() => dir.join(given),
            _ => Path::new(given).to_path_buf(),
        };
        match read_ca_file(&path) {
            Ok(ca) => Some(ca),
            Err(msg) => {
                cx.at(c, &format!("{base}.ca_file"), msg);
                None
            }
        }
    });
    let embedded = t.embedded.as_ref().map(|e| embedded(cx, &base, kind, e));
    TargetSpec {
        name: name.to_string(),
        kind,
        bucket,
        region,
        endpoint,
        profile,
        path_style: t.path_style.unwrap_or(false),
        resolve,
        ca_file,
        embedded,
    }
}

/// Reads a PEM bundle of CA certificates and checks each parses as a trust
/// anchor, so a wrong file fails here rather than as a TLS error mid-run.
fn read_ca_file(path: &Path) -> Result<CaFile, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| {
        format!("expected a PEM file of CA certificates, but {shown} cannot be read: {e}")
    })?;
    let mut roots = rustls::RootCertStore::empty();
    let mut certificates = 0;
    for (i, der) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let der = der.map_err(|e| {
            format!(
                "expected PEM CERTIFICATE blocks in {shown}, but block {} is not valid PEM: {e}",
                i + 1
            )
        })?;
        roots.add(der).map_err(|e| {
            format!(
                "expected CA certificates in {shown}, but certificate {} does not parse: {e}",
                i + 1
            )
        })?;
        certificates += 1;
    }
    if certificates == 0 {
        return Err(format!(
            "expected PEM CA certificates (-----BEGIN CERTIFICATE-----) in {shown}, found none"
        ));
    }
    Ok(CaFile {
        path: path.to_path_buf(),
        pem: pem.into(),
        certificates,
    })
}

fn check_endpoint(s: &str) -> Result<(), String> {
    let expected =
        || format!("expected an http:// or https:// URL like \"http://127.0.0.1:9000\", got {s:?}");
    let uri: http::Uri = s.parse().map_err(|_| expected())?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(expected()),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(expected());
    }
    if uri.query().is_some() {
        return Err(format!("{}: an endpoint takes no query string", expected()));
    }
    Ok(())
}

fn endpoint_host_is_localhost(s: &str) -> bool {
    s.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(|h| h.eq_ignore_ascii_case("localhost")))
        .unwrap_or(false)
}

/// A target's `[targets.NAME.embedded]` table, checked by the injection's
/// own rules (`Injection::from_settings`, which `s3bench serve`'s flags
/// use too); each problem is said at the value it is about. The rate
/// models are checked against the bucket kind first (`rates`).
fn embedded(cx: &mut Ctx<'_>, base: &str, kind: TargetKind, e: &RawEmbedded) -> Injection {
    let base = format!("{base}.embedded");
    let error_latency = e
        .error_latency
        .as_ref()
        .and_then(|l| latency(cx, &format!("{base}.error_latency"), l));
    let latency = e
        .latency
        .as_ref()
        .and_then(|l| latency(cx, &format!("{base}.latency"), l));
    let bandwidth = e
        .bandwidth
        .as_ref()
        .and_then(|b| cx.size(b, &format!("{base}.bandwidth"), (1, ""), (u64::MAX, "")));
    let upload_bandwidth = e.upload_bandwidth.as_ref().and_then(|b| {
        cx.size(
            b,
            &format!("{base}.upload_bandwidth"),
            (1, ""),
            (u64::MAX, ""),
        )
    });
    let value = |v: &Option<Spanned<f64>>| v.as_ref().map(|v| *v.get_ref());
    let settings = Settings {
        latency,
        error_latency,
        bandwidth,
        upload_bandwidth,
        error_rate: value(&e.error_rate),
        error_status: e.error_status.as_ref().map(|s| *s.get_ref()),
        error_code: e.error_code.as_ref().map(|c| c.get_ref().clone()),
        body_reset_rate: value(&e.body_reset_rate),
        corrupt_rate: value(&e.corrupt_rate),
        session_error_rate: value(&e.session_error_rate),
        max_in_flight: e.max_in_flight.as_ref().map(|n| *n.get_ref()),
        broken: e
            .broken
            .as_ref()
            .map(|b| b.get_ref().clone())
            .unwrap_or_default(),
        ..super::rates::settings(cx, &base, kind, e)
    };
    let (injection, problems) = Injection::from_settings(settings);
    for p in problems {
        let span = |v: Option<&Spanned<f64>>| v.map(Spanned::span);
        let int = |v: Option<&Spanned<i64>>| v.map(Spanned::span);
        let at = match p.setting {
            Setting::ErrorRate => span(e.error_rate.as_ref()),
            Setting::BodyResetRate => span(e.body_reset_rate.as_ref()),
            Setting::CorruptRate => span(e.corrupt_rate.as_ref()),
            Setting::SessionErrorRate => span(e.session_error_rate.as_ref()),
            Setting::ErrorStatus => int(e.error_status.as_ref()),
            // A missing code is said where the status that needs one is.
            Setting::ErrorCode => e
                .error_code
                .as_ref()
                .map(Spanned::span)
                .or_else(|| int(e.error_status.as_ref())),
            Setting::MaxInFlight => int(e.max_in_flight.as_ref()),
            Setting::Broken => e.broken.as_ref().map(Spanned::span),
            rate => super::rates::span(e, rate),
        };
        cx.report(at, &format!("{base}.{}", p.setting.field()), p.message);
    }
    injection
}

fn latency(cx: &mut Ctx<'_>, field: &str, l: &Spanned<RawLatency>) -> Option<LatencyDist> {
    let field = field.to_string();
    match l.get_ref() {
        RawLatency::Fixed(d) => Some(LatencyDist::Fixed(d.0)),
        RawLatency::Table(t) => match (t.p50, t.p99, t.min, t.max) {
            (Some(p50), Some(p99), None, None) => {
                if p50.0.is_zero() || p99.0 < p50.0 {
                    cx.at(
                        l,
                        &field,
                        format!(
                            "expected 0 < p50 <= p99, got p50 = {} and p99 = {}",
                            format_duration(p50.0),
                            format_duration(p99.0)
                        ),
                    );
                    None
                } else {
                    Some(LatencyDist::LogNormal {
                        p50: p50.0,
                        p99: p99.0,
                    })
                }
            }
            (None, None, Some(min), Some(max)) => {
                if min.0 > max.0 {
                    cx.at(
                        l,
                        &field,
                        format!(
                            "expected min <= max, got min = {} and max = {}",
                            format_duration(min.0),
                            format_duration(max.0)
                        ),
                    );
                    None
                } else {
                    Some(LatencyDist::Uniform {
                        min: min.0,
                        max: max.0,
                    })
                }
            }
            _ => {
                cx.at(
                    l,
                    &field,
                    "expected either { p50 = \"..\", p99 = \"..\" } (log-normal) or { min = \"..\", max = \"..\" } (uniform)",
                );
                None
            }
        },
    }
}

/// A size distribution whose sizes lie in `min..=max`.
fn size_dist(
    cx: &mut Ctx<'_>,
    v: &Spanned<RawSize>,
    field: &str,
    max: (u64, &str),
) -> Option<SizeDist> {
    let min = (1, "");
    match v.get_ref() {
        RawSize::Fixed(s) => cx
            .size_value(s.0, Some(v.span()), field, min, max)
            .map(SizeDist::Fixed),
        RawSize::Range(r) => {
            let lo = cx.size_value(r.min.0, Some(v.span()), &format!("{field}.min"), min, max);
            let hi = cx.size_value(r.max.0, Some(v.span()), &format!("{field}.max"), min, max);
            let (lo, hi) = (lo?, hi?);
            if lo > hi {
                cx.at(
                    v,
                    field,
                    format!(
                        "expected min <= max, got min = {} and max = {}",
                        exact_bytes(lo),
                        exact_bytes(hi)
                    ),
                );
                return None;
            }
            Some(SizeDist::Range { min: lo, max: hi })
        }
        RawSize::Weighted(items) => {
            if items.is_empty() {
                cx.at(
                    v,
                    field,
                    "expected at least one { size = \"..\", weight = N } entry",
                );
                return None;
            }
            let mut out = Vec::new();
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                let f = format!("{field}[{i}]");
                let size = cx.size(&item.get_ref().size, &format!("{f}.size"), min, max);
                let weight = match &item.get_ref().weight {
                    Some(w) => cx
                        .int(w, &format!("{f}.weight"), 1, 1_000_000)
                        .map(|w| w as u32),
                    None => Some(1),
                };
                match (size, weight) {
                    (Some(s), Some(w)) => out.push((s, w)),
                    _ => ok = false,
                }
            }
            ok.then_some(SizeDist::Weighted(out))
        }
    }
}

fn dataset(cx: &mut Ctx<'_>, d: &RawDataset) -> Dataset {
    let objects = cx
        .int(&d.objects, "dataset.objects", 1, 100_000_000)
        .map_or(1, |n| n as u64);
    let size = size_dist(
        cx,
        &d.size,
        "dataset.size",
        (MAX_OBJECT, "S3's largest object"),
    )
    .unwrap_or(SizeDist::Fixed(1));
    let key = match &d.key {
        Some(k) => match KeyTemplate::parse(k.get_ref()) {
            Ok(t) => t,
            Err(msg) => {
                cx.at(k, "dataset.key", msg);
                default_key()
            }
        },
        None => default_key(),
    };
    Dataset { objects, size, key }
}

fn prepare(
    cx: &mut Ctx<'_>,
    p: Option<&RawPrepare>,
    dataset: &Dataset,
    dataset_given: bool,
) -> Prepare {
    let mut out = Prepare {
        enabled: true,
        concurrency: 16,
        multipart_threshold: 16 * MIB,
        part_size: 8 * MIB,
    };
    let Some(p) = p else {
        check_prepare_parts(cx, None, &out, dataset, dataset_given);
        return out;
    };
    out.enabled = p.enabled.unwrap_or(true);
    if let Some(c) = &p.concurrency
        && let Some(c) = cx.int(c, "prepare.concurrency", 1, MAX_CONCURRENCY)
    {
        out.concurrency = c as usize;
    }
    if let Some(t) = &p.multipart_threshold
        && let Some(t) = cx.size(
            t,
            "prepare.multipart_threshold",
            (1, ""),
            (MAX_SINGLE_PUT, "S3's largest single PUT"),
        )
    {
        out.multipart_threshold = t;
    }
    if let Some(s) = &p.part_size
        && let Some(s) = cx.size(
            s,
            "prepare.part_size",
            (MIN_PART, "S3's minimum part size"),
            (MAX_PART, "S3's maximum part size"),
        )
    {
        out.part_size = s;
    }
    check_prepare_parts(cx, p.part_size.as_ref(), &out, dataset, dataset_given);
    out
}

/// The largest data set object must fit in S3's 10,000 parts.
fn check_prepare_parts(
    cx: &mut Ctx<'_>,
    part_span: Option<&Spanned<ByteSize>>,
    p: &Prepare,
    dataset: &Dataset,
    dataset_given: bool,
) {
    let largest = dataset.size.max();
    if !dataset_given || !p.enabled || largest < p.multipart_threshold {
        return;
    }
    let parts = largest.div_ceil(p.part_size);
    if parts > MAX_PARTS {
        cx.report(
            part_span.map(|s| s.span()),
            "prepare.part_size",
            format!(
                "expected at most {MAX_PARTS} parts per object (S3's limit), got {parts} ({} in {} parts); raise part_size",
                exact_bytes(largest),
                exact_bytes(p.part_size)
            ),
        );
    }
}

fn client(cx: &mut Ctx<'_>, c: Option<&RawClient>) -> ClientSettings {
    let mut out = ClientSettings::default();
    let Some(c) = c else { return out };
    if let Some(n) = c
        .max_attempts
        .as_ref()
        .and_then(|m| cx.int(m, "client.max_attempts", 1, 100))
    {
        out.max_attempts = n as u32;
    }
    // `checksums` (the SDK's setting names) came first; `checksum` names
    // the algorithm. "when-supported" is the SDKs' default, CRC32.
    if let Some(k) = &c.checksums {
        out.checksums = match k.get_ref() {
            RawChecksums::WhenRequired => ChecksumMode::None,
            RawChecksums::WhenSupported => ChecksumMode::Crc32,
        };
    }
    if let Some(k) = &c.checksum {
        let alg = match k.get_ref() {
            RawChecksum::None => ChecksumMode::None,
            RawChecksum::Crc32 => ChecksumMode::Crc32,
            RawChecksum::Crc32c => ChecksumMode::Crc32c,
            RawChecksum::Crc64nvme => ChecksumMode::Crc64Nvme,
            RawChecksum::Sha256 => ChecksumMode::Sha256,
        };
        if c.checksums.is_some() && alg != out.checksums {
            cx.at(
                k,
                "client.checksum",
                format!(
                    "checksum = \"{}\" contradicts checksums = \"{}\" (which means checksum = \"{}\"); give only `checksum`",
                    alg.name(),
                    if out.checksums == ChecksumMode::None { "when-required" } else { "when-supported" },
                    out.checksums.name()
                ),
            );
        }
        out.checksums = alg;
    }
    if let Some(s) = c.stalled_stream_protection {
        out.stalled_stream_protection = s;
    }
    if let Some(p) = c.request_path {
        out.request_path = match p {
            RawRequestPath::Direct => RequestPath::Direct,
            RawRequestPath::Sdk => RequestPath::Sdk,
        };
    }
    if let Some(t) = &c.connect_timeout
        && let Some(d) = cx.positive_duration(t, "client.connect_timeout")
    {
        out.connect_timeout = d;
    }
    if let Some(t) = &c.operation_timeout {
        out.operation_timeout = match t.get_ref() {
            RawTimeout::None => None,
            RawTimeout::Limit(d) if d.0.is_zero() => {
                cx.at(
                    t,
                    "client.operation_timeout",
                    "expected a duration above zero, or \"none\", got 0s",
                );
                out.operation_timeout
            }
            RawTimeout::Limit(d) => Some(d.0),
        };
    }
    if let Some(p) = &c.stop_on_failures {
        out.stop_on_failures = match p.get_ref() {
            RawStopOnFailures::Never => None,
            RawStopOnFailures::When { share, window } => {
                if !(*share > 0.0 && *share <= 1.0) {
                    cx.at(
                        p,
                        "client.stop_on_failures.share",
                        format!("expected a fraction above 0 and at most 1 (1.0 = every operation failed), got {share}"),
                    );
                }
                if window.0 < Duration::from_secs(1) {
                    cx.at(
                        p,
                        "client.stop_on_failures.for",
                        format!("expected at least 1s, got {}", format_duration(window.0)),
                    );
                }
                Some(FailureStop {
                    share: *share,
                    window: window.0,
                })
            }
        };
    }
    out
}

/// What a phase's checks need to know about the rest of the file.
struct PhaseEnv<'a> {
    /// None when the file has no [dataset].
    dataset: Option<&'a Dataset>,
    /// Name of a directory target, if any (for Express API rules).
    directory_target: Option<String>,
    /// Name of a General Purpose target, if any (directory-only ops).
    gp_target: Option<String>,
}

fn phase(cx: &mut Ctx<'_>, i: usize, p: &RawPhase, env: &PhaseEnv<'_>) -> Phase {
    let base = format!("phase[{i}]");
    let name = p.name.get_ref().clone();
    if !is_simple_name(&name) {
        cx.at(
            &p.name,
            &format!("{base}.name"),
            format!("expected a phase name of letters, digits, '-', '_' or '.' (at most 64), got {name:?}"),
        );
    }
    // The run's own stages appear next to the phases in its report and
    // result.json under these names: a phase of the same name would be
    // taken for the stage (or collide with its entry).
    if RunStage::named(&name).is_some() {
        let taken: Vec<&str> = RunStage::ALL.iter().map(|s| s.name()).collect();
        cx.at(
            &p.name,
            &format!("{base}.name"),
            format!(
                "expected a phase name other than the run's own stages ({}), got {name:?}",
                taken.join(", ")
            ),
        );
    }
    let duration = p
        .duration
        .as_ref()
        .and_then(|d| cx.positive_duration(d, &format!("{base}.duration")));
    let ops = p
        .ops
        .as_ref()
        .and_then(|o| cx.int(o, &format!("{base}.ops"), 1, i64::MAX))
        .map(|o| o as u64);
    if let Some(c) = &p.checkpoint {
        return super::checkpoint::phase(cx, &base, name, p, c);
    }
    if let Some(r) = &p.replay {
        return super::replay::phase(cx, &base, name, p, r, env.dataset, Stop { duration, ops });
    }
    if let Some(l) = &p.loader {
        return super::dataloader::phase(cx, &base, name, p, l, env.dataset);
    }
    let warmup = p.warmup.as_ref().map_or(Duration::ZERO, |w| w.get_ref().0);

    load_kind(cx, &base, p);

    let mut stop = Stop { duration, ops };
    let stages = if let Some(s) = &p.stages {
        if let Some(d) = &p.duration {
            cx.at(
                d,
                &format!("{base}.duration"),
                "expected no phase `duration` next to `stages`: the stage durations add up to the phase's",
            );
        }
        if s.get_ref().is_empty() {
            cx.at(s, &format!("{base}.stages"), "expected at least one stage");
        }
        let stages: Vec<Stage> = s
            .get_ref()
            .iter()
            .enumerate()
            .map(|(j, st)| stage(cx, &format!("{base}.stages[{j}]"), st))
            .collect();
        stop.duration = Some(stages.iter().filter_map(|s| s.duration).sum());
        stages
    } else {
        if duration.is_none() && ops.is_none() && p.duration.is_none() && p.ops.is_none() {
            cx.at(
                &p.name,
                &base,
                "expected `duration`, `ops` or both, to say when the phase ends",
            );
        }
        let load = if let Some(c) = &p.concurrency {
            Load::Closed {
                concurrency: cx
                    .int(c, &format!("{base}.concurrency"), 1, MAX_CONCURRENCY)
                    .map_or(1, |c| c as usize),
            }
        } else if let Some(r) = &p.rate {
            open_load(cx, &base, r, p.max_in_flight.as_ref())
        } else {
            Load::Closed { concurrency: 1 }
        };
        vec![Stage {
            load,
            duration: None,
        }]
    };

    let mix = match &p.mix {
        Some(m) => mix(cx, &base, m, env),
        None => {
            cx.at(
                &p.name,
                &format!("{base}.mix"),
                "expected a `mix` of operations (or a [phase.loader] or [phase.checkpoint] table), got none",
            );
            Vec::new()
        }
    };
    // Workers share a conditional-put key in groups of `contention`: a
    // group larger than the phase's workers would never contend as asked.
    let workers = stages
        .iter()
        .map(|s| match s.load {
            Load::Closed { concurrency } => concurrency,
            Load::Open { max_in_flight, .. } => max_in_flight,
        })
        .min()
        .unwrap_or(1);
    for (k, o) in p
        .mix
        .as_ref()
        .map_or(&[][..], |m| m.get_ref().as_slice())
        .iter()
        .enumerate()
    {
        if let Some(c) = &o.contention
            && *c.get_ref() > workers as i64
        {
            cx.at(
                c,
                &format!("{base}.mix[{k}].contention"),
                format!(
                    "expected at most {workers}, the phase's workers (concurrency or max_in_flight): contention is how many of them share one key, got {}",
                    c.get_ref()
                ),
            );
        }
    }
    Phase {
        name,
        stop,
        warmup,
        stages,
        mix,
        loader: None,
        checkpoint: None,
        replay: None,
    }
}

/// Exactly one way to say how a phase's load is generated: `concurrency`
/// (closed loop), `rate` (open loop, with its `max_in_flight`) or `stages`.
fn load_kind(cx: &mut Ctx<'_>, base: &str, p: &RawPhase) {
    let mut given: Vec<(&str, Range<usize>)> = Vec::new();
    if let Some(c) = &p.concurrency {
        given.push(("concurrency", c.span()));
    }
    if let Some(r) = &p.rate {
        given.push(("rate", r.span()));
    }
    if let Some(s) = &p.stages {
        given.push(("stages", s.span()));
    }
    match given.as_slice() {
        [] => cx.at(
            &p.name,
            base,
            "expected one of `concurrency` (closed loop), `rate` (open loop) or `stages`, got none",
        ),
        [_] => {}
        [(first, _), (second, span), ..] => cx.report(
            Some(span.clone()),
            &format!("{base}.{second}"),
            format!("expected only one of `concurrency`, `rate` or `stages`, got `{first}` and `{second}`"),
        ),
    }
    if let Some(m) = &p.max_in_flight
        && (p.rate.is_none() || p.stages.is_some() || p.concurrency.is_some())
    {
        cx.at(
            m,
            &format!("{base}.max_in_flight"),
            "expected max_in_flight only next to `rate` (open loop); in `stages`, set it per stage",
        );
    }
}

fn open_load(
    cx: &mut Ctx<'_>,
    base: &str,
    rate: &Spanned<f64>,
    max_in_flight: Option<&Spanned<i64>>,
) -> Load {
    let r = *rate.get_ref();
    let rate_ok = r.is_finite() && r > 0.0 && r <= MAX_RATE;
    if !rate_ok {
        cx.at(
            rate,
            &format!("{base}.rate"),
            format!(
                "expected a rate in requests per second above 0 and at most {MAX_RATE}, got {r}"
            ),
        );
    }
    let rate = if rate_ok { r } else { 1.0 };
    // Enough in flight to ride out latency spikes without unbounded queues.
    let default_in_flight = ((rate / 10.0).round() as usize).max(64);
    let max_in_flight = max_in_flight
        .and_then(|m| cx.int(m, &format!("{base}.max_in_flight"), 1, MAX_CONCURRENCY))
        .map_or(default_in_flight, |m| m as usize);
    Load::Open {
        rate,
        max_in_flight,
    }
}

fn stage(cx: &mut Ctx<'_>, base: &str, s: &RawStage) -> Stage {
    let duration = cx.positive_duration(&s.duration, &format!("{base}.duration"));
    let load = match (&s.concurrency, &s.rate) {
        (Some(c), None) => {
            if let Some(m) = &s.max_in_flight {
                cx.at(
                    m,
                    &format!("{base}.max_in_flight"),
                    "expected max_in_flight only in a stage with `rate` (open loop)",
                );
            }
            Load::Closed {
                concurrency: cx
                    .int(c, &format!("{base}.concurrency"), 1, MAX_CONCURRENCY)
                    .map_or(1, |c| c as usize),
            }
        }
        (None, Some(r)) => open_load(cx, base, r, s.max_in_flight.as_ref()),
        (Some(_), Some(r)) => {
            cx.at(
                r,
                &format!("{base}.rate"),
                "expected only one of `concurrency` or `rate` in a stage, got both",
            );
            Load::Closed { concurrency: 1 }
        }
        (None, None) => {
            cx.at(
                &s.duration,
                base,
                "expected `concurrency` (closed loop) or `rate` (open loop) in the stage, got neither",
            );
            Load::Closed { concurrency: 1 }
        }
    };
    Stage {
        load,
        duration: Some(duration.unwrap_or(Duration::from_secs(1))),
    }
}

fn mix(
    cx: &mut Ctx<'_>,
    base: &str,
    m: &Spanned<Vec<RawOp>>,
    env: &PhaseEnv<'_>,
) -> Vec<WeightedOp> {
    if m.get_ref().is_empty() {
        cx.at(
            m,
            &format!("{base}.mix"),
            "expected at least one operation, like { op = \"get\", weight = 1 }",
        );
    }
    let ops: Vec<WeightedOp> = m
        .get_ref()
        .iter()
        .enumerate()
        .filter_map(|(k, o)| op(cx, &format!("{base}.mix[{k}]"), o, env))
        .collect();
    // Deletes remove objects the same worker PUT earlier in the phase.
    let writes = m
        .get_ref()
        .iter()
        .any(|o| matches!(o.op.get_ref(), OpKind::Put | OpKind::MultipartPut));
    for (k, o) in m.get_ref().iter().enumerate() {
        if *o.op.get_ref() == OpKind::Delete && !writes {
            cx.at(
                &o.op,
                &format!("{base}.mix[{k}].op"),
                "expected a put or multipart-put in the same mix: delete removes objects this phase wrote",
            );
        }
    }
    ops
}

/// The fields each op takes besides `op` and `weight`.
fn allowed_fields(op: OpKind) -> &'static [&'static str] {
    match op {
        OpKind::Get => &["newest"],
        OpKind::Head | OpKind::Delete => &[],
        OpKind::RangedGet => &["range_size", "pattern"],
        OpKind::Put => &["size", "key"],
        OpKind::MultipartPut => &["size", "part_size"],
        OpKind::List => &["prefix", "page_size", "delimiter"],
        OpKind::Append => &["size", "appends", "object_size", "gp_equivalent"],
        OpKind::Rename => &["size", "gp_equivalent"],
        OpKind::ConditionalPut => &["size", "mode", "contention"],
        OpKind::Copy => &[],
    }
}

fn op(cx: &mut Ctx<'_>, base: &str, o: &RawOp, env: &PhaseEnv<'_>) -> Option<WeightedOp> {
    let name = *o.op.get_ref();
    let allowed = allowed_fields(name);
    let present: [(&str, Option<Range<usize>>); 14] = [
        ("range_size", o.range_size.as_ref().map(|v| v.span())),
        ("pattern", o.pattern.as_ref().map(|v| v.span())),
        ("size", o.size.as_ref().map(|v| v.span())),
        ("part_size", o.part_size.as_ref().map(|v| v.span())),
        ("prefix", o.prefix.as_ref().map(|v| v.span())),
        ("page_size", o.page_size.as_ref().map(|v| v.span())),
        ("delimiter", o.delimiter.as_ref().map(|v| v.span())),
        ("appends", o.appends.as_ref().map(|v| v.span())),
        ("object_size", o.object_size.as_ref().map(|v| v.span())),
        ("gp_equivalent", o.gp_equivalent.as_ref().map(|v| v.span())),
        ("mode", o.mode.as_ref().map(|v| v.span())),
        ("contention", o.contention.as_ref().map(|v| v.span())),
        ("key", o.key.as_ref().map(|v| v.span())),
        ("newest", o.newest.as_ref().map(|v| v.span())),
    ];
    let mut fits = true;
    for (field, span) in present {
        if let Some(span) = span
            && !allowed.contains(&field)
        {
            fits = false;
            let takes = if allowed.is_empty() {
                "only `weight`".to_string()
            } else {
                format!(
                    "`weight`, {}",
                    allowed
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            cx.report(
                Some(span),
                &format!("{base}.{field}"),
                format!(
                    "`{field}` does not apply to op \"{}\", which takes {takes}",
                    name.scenario_name()
                ),
            );
        }
    }
    let weight = match &o.weight {
        Some(w) => cx
            .int(w, &format!("{base}.weight"), 1, 1_000_000)
            .map(|w| w as u32),
        None => Some(1),
    };

    let needs_dataset = matches!(
        name,
        OpKind::Get | OpKind::RangedGet | OpKind::Head | OpKind::Copy
    );
    if needs_dataset && env.dataset.is_none() {
        cx.at(
            &o.op,
            &format!("{base}.op"),
            format!(
                "expected a [dataset] table: \"{}\" reads objects of the data set",
                name.scenario_name()
            ),
        );
    }

    let ordered = match name {
        OpKind::Put if fits => super::ordered::put_next(cx, base, o, env.dataset),
        _ => None,
    };
    let spec = match name {
        _ if ordered.is_some() => ordered.flatten(),
        OpKind::Get => super::ordered::get(cx, base, o),
        OpKind::Head => Some(OpSpec::Head),
        OpKind::Delete => Some(OpSpec::Delete),
        OpKind::RangedGet => {
            let pattern = match o.pattern.as_ref().map(|p| *p.get_ref()) {
                Some(RawPattern::Sequential) => RangePattern::Sequential,
                Some(RawPattern::Random) | None => RangePattern::Random,
            };
            match &o.range_size {
                None => {
                    cx.at(
                        &o.op,
                        &format!("{base}.range_size"),
                        "expected a range_size for ranged-get, like range_size = \"4MiB\"",
                    );
                    None
                }
                Some(r) => {
                    let largest = env.dataset.map_or(u64::MAX, |d| d.size.max());
                    let size = cx.size(
                        r,
                        &format!("{base}.range_size"),
                        (1, ""),
                        (largest, "the data set's largest object"),
                    );
                    size.map(|size| OpSpec::RangedGet { size, pattern })
                }
            }
        }
        OpKind::Put => match &o.size {
            Some(s) => size_dist(
                cx,
                s,
                &format!("{base}.size"),
                (
                    MAX_SINGLE_PUT,
                    "S3's largest single PUT; use multipart-put above it",
                ),
            )
            .map(|d| OpSpec::Put { size: Some(d) }),
            None => {
                if let Some(d) = env.dataset {
                    if d.size.max() > MAX_SINGLE_PUT {
                        cx.at(
                            &o.op,
                            &format!("{base}.size"),
                            format!(
                                "expected a size: the data set's sizes reach {}, over S3's largest single PUT (5 GiB)",
                                exact_bytes(d.size.max())
                            ),
                        );
                    }
                    Some(OpSpec::Put { size: None })
                } else {
                    cx.at(
                        &o.op,
                        &format!("{base}.size"),
                        "expected a size for put (there is no [dataset] whose sizes it could reuse)",
                    );
                    None
                }
            }
        },
        OpKind::MultipartPut => multipart(cx, base, o),
        OpKind::List => list(cx, base, o, env),
        OpKind::Append => append(cx, base, o, env),
        OpKind::Rename => rename(cx, base, o, env),
        OpKind::ConditionalPut => conditional_put(cx, base, o),
        OpKind::Copy => Some(OpSpec::Copy),
    };
    match (spec, weight, fits) {
        (Some(op), Some(weight), true) => Some(WeightedOp { op, weight }),
        _ => None,
    }
}

/// Most workers that may share one key of a conditional-put.
const MAX_CONTENTION: i64 = 10_000;
/// Appends per object when neither `appends` nor `object_size` is given.
const DEFAULT_APPENDS: u32 = 16;

/// A directory-bucket-only op on a General Purpose target: refused unless
/// its GP equivalent is asked for. Returns the equivalent to use.
fn directory_only(
    cx: &mut Ctx<'_>,
    base: &str,
    o: &RawOp,
    env: &PhaseEnv<'_>,
    allowed: (RawGpEquivalent, GpEquivalent),
) -> Option<GpEquivalent> {
    let name = o.op.get_ref().scenario_name();
    let (raw_eq, eq) = allowed;
    let eq_name = match raw_eq {
        RawGpEquivalent::Rewrite => "rewrite",
        RawGpEquivalent::CopyDelete => "copy-delete",
    };
    match &o.gp_equivalent {
        Some(g) if *g.get_ref() == raw_eq => Some(eq),
        Some(g) => {
            cx.at(
                g,
                &format!("{base}.gp_equivalent"),
                format!("expected gp_equivalent = \"{eq_name}\" for op \"{name}\""),
            );
            None
        }
        None => {
            if let Some(t) = &env.gp_target {
                let what = match o.op.get_ref() {
                    OpKind::Append => "append (PutObject with x-amz-write-offset-bytes)",
                    _ => "RenameObject",
                };
                cx.at(
                    &o.op,
                    &format!("{base}.op"),
                    format!(
                        "{what} is a directory-bucket operation (S3 Express One Zone) and target '{t}' is a General Purpose bucket; run this phase on directory targets only, or add gp_equivalent = \"{eq_name}\" to measure what a General Purpose bucket does instead"
                    ),
                );
            }
            None
        }
    }
}

fn append(cx: &mut Ctx<'_>, base: &str, o: &RawOp, env: &PhaseEnv<'_>) -> Option<OpSpec> {
    let gp = directory_only(
        cx,
        base,
        o,
        env,
        (RawGpEquivalent::Rewrite, GpEquivalent::Rewrite),
    );
    let size = match &o.size {
        Some(s) => match s.get_ref() {
            RawSize::Fixed(b) => cx.size_value(
                b.0,
                Some(s.span()),
                &format!("{base}.size"),
                (1, "an append must carry data"),
                (MAX_SINGLE_PUT, "S3's largest append"),
            ),
            _ => {
                cx.at(
                    s,
                    &format!("{base}.size"),
                    "expected one size per append, like size = \"64KiB\"",
                );
                None
            }
        },
        None => {
            cx.at(
                &o.op,
                &format!("{base}.size"),
                "expected the size of each append, like size = \"64KiB\"",
            );
            None
        }
    };
    let end = match (&o.appends, &o.object_size) {
        (Some(a), Some(_)) => {
            cx.at(
                a,
                &format!("{base}.appends"),
                "give `appends` or `object_size`, not both: either ends an object",
            );
            None
        }
        (Some(a), None) => cx
            .int(
                a,
                &format!("{base}.appends"),
                1,
                i64::from(crate::s3::limits::MAX_PARTS),
            )
            .map(|n| AppendEnd::Count(n as u32)),
        (None, Some(m)) => {
            let min = size.unwrap_or(1);
            cx.size(
                m,
                &format!("{base}.object_size"),
                (min, "one append"),
                (MAX_OBJECT, "S3's largest object"),
            )
            .map(AppendEnd::Size)
        }
        (None, None) => Some(AppendEnd::Count(DEFAULT_APPENDS)),
    };
    if let (Some(sz), Some(end)) = (size, end) {
        let (parts, total) = match end {
            AppendEnd::Count(n) => (u64::from(n), u64::from(n) * sz),
            AppendEnd::Size(m) => (m / sz, m),
        };
        if parts > MAX_PARTS {
            cx.at(
                &o.op,
                &format!("{base}.object_size"),
                format!("expected at most {MAX_PARTS} appends per object (S3 answers TooManyParts above), got {parts}; raise size or lower object_size"),
            );
        } else if total > MAX_OBJECT {
            cx.at(
                &o.op,
                &format!("{base}.appends"),
                format!(
                    "expected objects of at most {} (S3's largest object), got {}",
                    exact_bytes(MAX_OBJECT),
                    exact_bytes(total)
                ),
            );
        } else if gp.is_some() && total > MAX_SINGLE_PUT {
            cx.at(
                &o.op,
                &format!("{base}.gp_equivalent"),
                "the rewrite equivalent PUTs the whole object each time: objects must stay within S3's largest single PUT (5 GiB)",
            );
        }
    }
    Some(OpSpec::Append {
        size: size?,
        end: end?,
        gp,
    })
}

fn rename(cx: &mut Ctx<'_>, base: &str, o: &RawOp, env: &PhaseEnv<'_>) -> Option<OpSpec> {
    let gp = directory_only(
        cx,
        base,
        o,
        env,
        (RawGpEquivalent::CopyDelete, GpEquivalent::CopyDelete),
    );
    let size = match &o.size {
        Some(s) => size_dist(
            cx,
            s,
            &format!("{base}.size"),
            (MAX_SINGLE_PUT, "S3's largest single PUT"),
        ),
        None => {
            cx.at(
                &o.op,
                &format!("{base}.size"),
                "expected the size of the checkpoint written under a temporary key and renamed into place, like size = \"8MiB\"",
            );
            None
        }
    };
    Some(OpSpec::Rename { size: size?, gp })
}

fn conditional_put(cx: &mut Ctx<'_>, base: &str, o: &RawOp) -> Option<OpSpec> {
    let mode = match o.mode.as_ref().map(|m| *m.get_ref()) {
        Some(RawConditionalMode::CreateOnly) => Some(ConditionalMode::CreateOnly),
        Some(RawConditionalMode::CompareAndSwap) => Some(ConditionalMode::CompareAndSwap),
        None => {
            cx.at(
                &o.op,
                &format!("{base}.mode"),
                "expected mode = \"create-only\" (If-None-Match: *) or mode = \"compare-and-swap\" (If-Match: <etag>)",
            );
            None
        }
    };
    let size = match &o.size {
        None => Some(ByteSize::KIB),
        Some(s) => match s.get_ref() {
            RawSize::Fixed(b) => cx.size_value(
                b.0,
                Some(s.span()),
                &format!("{base}.size"),
                (1, ""),
                (MAX_SINGLE_PUT, "S3's largest single PUT"),
            ),
            _ => {
                cx.at(
                    s,
                    &format!("{base}.size"),
                    "expected one size, like size = \"1KiB\" (compare-and-swap grows the object by one byte per successful write)",
                );
                None
            }
        },
    };
    let contention = match &o.contention {
        None => Some(1),
        Some(c) => cx
            .int(c, &format!("{base}.contention"), 1, MAX_CONTENTION)
            .map(|n| n as u32),
    };
    Some(OpSpec::ConditionalPut {
        size: size?,
        mode: mode?,
        contention: contention?,
    })
}

fn multipart(cx: &mut Ctx<'_>, base: &str, o: &RawOp) -> Option<OpSpec> {
    let part_size = match &o.part_size {
        Some(p) => cx.size(
            p,
            &format!("{base}.part_size"),
            (MIN_PART, "S3's minimum part size"),
            (MAX_PART, "S3's maximum part size"),
        )?,
        None => 8 * MIB,
    };
    let Some(s) = &o.size else {
        cx.at(
            &o.op,
            &format!("{base}.size"),
            "expected a size for multipart-put, like size = \"64MiB\"",
        );
        return None;
    };
    let RawSize::Fixed(size) = s.get_ref() else {
        cx.at(
            s,
            &format!("{base}.size"),
            "expected a single size like \"64MiB\" for multipart-put (its parts are cut from it)",
        );
        return None;
    };
    let size = cx.size_value(
        size.0,
        Some(s.span()),
        &format!("{base}.size"),
        (1, ""),
        (MAX_OBJECT, "S3's largest object"),
    )?;
    let parts = size.div_ceil(part_size);
    if parts > MAX_PARTS {
        cx.at(
            s,
            &format!("{base}.size"),
            format!(
                "expected at most {MAX_PARTS} parts (S3's limit), got {parts} ({} in {} parts); raise part_size",
                exact_bytes(size),
                exact_bytes(part_size)
            ),
        );
        return None;
    }
    Some(OpSpec::MultipartPut { size, part_size })
}

fn list(cx: &mut Ctx<'_>, base: &str, o: &RawOp, env: &PhaseEnv<'_>) -> Option<OpSpec> {
    let page_size = match &o.page_size {
        Some(p) => cx.int(p, &format!("{base}.page_size"), 1, 1000)? as u32,
        None => 1000,
    };
    let delimiter = o.delimiter.as_ref().is_some_and(|d| *d.get_ref());
    let prefix = match &o.prefix {
        Some(p) => {
            let s = p.get_ref();
            if s.starts_with('/') {
                cx.at(
                    p,
                    &format!("{base}.prefix"),
                    format!("expected a prefix relative to the run prefix, without a leading '/', got {s:?}"),
                );
                return None;
            }
            if delimiter
                && !s.is_empty()
                && !s.ends_with('/')
                && let Some(t) = &env.directory_target
            {
                cx.at(
                        p,
                        &format!("{base}.prefix"),
                        format!(
                            "expected a prefix ending in \"/\" for a delimited list: directory buckets (target `{t}`) reject other prefixes, got {s:?}"
                        ),
                    );
                return None;
            }
            Some(s.clone())
        }
        None => None,
    };
    Some(OpSpec::List {
        prefix,
        page_size,
        delimiter,
    })
}
