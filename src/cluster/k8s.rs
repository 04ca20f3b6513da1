//! `s3bench k8s`: the Kubernetes manifests for one distributed run, ready
//! for `kubectl apply -f -`. Documents are built as `serde_json::Value`s
//! (the shapes of the Kubernetes API objects) and written as YAML by
//! `yaml_serde`; each document gets a comment header explaining the choices
//! a reader would otherwise have to guess.

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::S3Url;
use crate::exit::{ExitCode, Retry};
use crate::scenario::{Plan, Stop, TargetKind};

/// Annotation that keeps Karpenter from voluntarily disrupting (consolidating,
/// drifting) a node while a shard runs on it.
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// Well-known node label of the AZ ID (use1-az4), the same in every account,
/// unlike zone names (us-east-1a), which AWS maps per account.
pub const ZONE_ID_LABEL: &str = "topology.k8s.aws/zone-id";
/// Seconds between SIGTERM and SIGKILL. s3bench stops sending on SIGTERM,
/// gives in-flight requests about 5 s, deletes what it wrote (batched
/// DeleteObjects, 1000 keys a request), writes result.json and report.md and
/// uploads them to S3; 120 s leaves room for cleaning up a large data set and
/// a slow upload, and costs nothing when a shard finishes sooner.
pub const GRACE_SECONDS: u64 = 120;
/// Default port of each shard's live metrics (`run --metrics-listen`).
/// Any free port works: it is the pod's own.
pub const METRICS_PORT: u16 = 9464;
/// How long a shard keeps serving its metrics after its run, so the last
/// scrape at a common 30 s interval sees its totals (well inside the
/// termination grace).
pub const METRICS_LINGER: &str = "30s";
/// Label of the Karpenter NodePool and taint key of its nodes.
pub const NODEPOOL: &str = "s3bench";
const TAINT_KEY: &str = "s3bench.dev/benchmark";

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct K8sOptions {
    pub shards: u32,
    pub image: String,
    pub namespace: Option<String>,
    pub service_account: Option<String>,
    pub results: S3Url,
    pub karpenter: bool,
    pub run_id: String,
    /// Overrides the zone ID taken from the directory bucket's name.
    pub zone_id: Option<String>,
    /// How long each shard waits at the start barrier for the others.
    pub barrier_timeout: Duration,
    /// Port of each shard's live Prometheus metrics, announced to
    /// Prometheus by scrape annotations; None: no metrics.
    pub metrics_port: Option<u16>,
}

/// The one zone ID every directory target of the plan is in; None when the
/// plan has no directory target.
pub fn plan_zone_id(plan: &Plan) -> anyhow::Result<Option<String>> {
    let mut zones: Vec<(String, String)> = Vec::new();
    for t in plan
        .targets
        .iter()
        .filter(|t| t.kind == TargetKind::Directory)
    {
        let z = crate::s3::bucket::zone_id(&t.bucket).with_context(|| {
            format!(
                "target {}: directory bucket name {:?} does not end in --ZONE-ID--x-s3",
                t.name, t.bucket
            )
        })?;
        if !zones.iter().any(|(_, seen)| seen == z) {
            zones.push((t.name.clone(), z.to_string()));
        }
    }
    match zones.len() {
        0 => Ok(None),
        1 => Ok(Some(zones.remove(0).1)),
        _ => bail!(
            "the directory targets are in different zones ({}): pods run in one zone; \
             pass --zone-id to choose it",
            zones
                .iter()
                .map(|(t, z)| format!("{t}: {z}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Pod resources for one shard. One core per 64 requests in flight: the
/// client spends about 30 us of CPU per small request (see RESULTS.md), so
/// 64 in flight at S3's 5-20 ms latency keep a core about a third busy,
/// leaving headroom for TLS, large bodies and the histograms. Memory: 256 MiB
/// for the process plus 2 MiB per request in flight (socket buffers and the
/// body chunks in transit). No CPU limit: CFS throttling at a limit shows up
/// as latency spikes in the very numbers being measured. Memory limit =
/// request, so a shard is never the first evicted under node pressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    pub concurrency: usize,
    pub cpus: u64,
    pub memory_mib: u64,
}

pub fn sizing(plan: &Plan) -> Sizing {
    let concurrency = crate::plan::max_in_flight(plan);
    Sizing {
        concurrency,
        cpus: (concurrency as u64).div_ceil(64).clamp(1, 64),
        memory_mib: 256 + 2 * concurrency as u64,
    }
}

/// Rough wall time of one shard: every phase's warm-up and duration, per
/// target and round, plus the barrier timeout. None when a phase ends by
/// operation count only (its length is unknown in advance).
pub fn estimated_duration(plan: &Plan, barrier_timeout: Duration) -> Option<Duration> {
    let mut total = barrier_timeout;
    for p in &plan.phases {
        if let Some(c) = &p.checkpoint {
            // No duration of its own: a generous bound of one second per
            // request of the slowest rank (its `duration` caps it).
            let in_flight = crate::scenario::checkpoint::PARTS_IN_FLIGHT as u64;
            let at = |write| c.step_time_at(Duration::from_secs(1), write, in_flight);
            let round = at(true) * c.writes + at(false) * c.reads;
            let round = p.stop.duration.map_or(round, |d| round.min(d));
            total += round * plan.rounds * plan.targets.len() as u32;
            continue;
        }
        let stages: Option<Duration> = match p.stop {
            Stop {
                duration: Some(d), ..
            } => Some(d),
            _ => p.stages.iter().map(|s| s.duration).sum(),
        };
        // A loader search runs its duration once per step it tries.
        let steps = p.loader.as_ref().map_or(1, |l| l.accelerators.most_steps());
        let per_round = (p.warmup + stages?) * steps;
        total += per_round * plan.rounds * plan.targets.len() as u32;
    }
    Some(total)
}

/// Room for the run id in an object name: `s3bench-` + id + `-scenario`
/// (the longest suffix) stays within 63 characters, which a Job's name must
/// (it becomes its pods' `job-name` label).
const NAME_ROOM: usize = 63 - "s3bench-".len() - "-scenario".len();

/// A Kubernetes object (and AWS Batch job) name from the run id. A run id
/// that is already a lowercase DNS label and short enough is used as is
/// (`s3bench-nightly-42`); any other (uppercase, `_`, `.`, long) is
/// lowercased, mapped to `-`, shortened, and given 6 hex digits of a hash of
/// the exact id, so two run ids never share a name (`Run_A` and `run-a`
/// would both read `run-a`).
pub fn object_name(run_id: &str) -> String {
    let dns: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if dns == run_id && run_id.len() <= NAME_ROOM {
        return format!("s3bench-{run_id}");
    }
    use sha2::Digest as _;
    let hash = hex::encode(&sha2::Sha256::digest(run_id.as_bytes())[..3]);
    let stem: String = dns.chars().take(NAME_ROOM - hash.len() - 1).collect();
    let stem = stem.trim_matches('-');
    format!("s3bench-{stem}-{hash}")
}

/// One YAML document: a comment header and the object.
pub struct Document {
    pub comment: String,
    pub object: Value,
}

/// Every document of the run, in the order `kubectl apply` should create
/// them (NodePool and EC2NodeClass first, so the shards' pods can schedule).
pub fn manifests(
    plan: &Plan,
    scenario_file_name: &str,
    scenario_text: &str,
    o: &K8sOptions,
) -> anyhow::Result<Vec<Document>> {
    check_options(o, scenario_file_name)?;
    let zone = match &o.zone_id {
        Some(z) => Some(z.clone()),
        None => plan_zone_id(plan)?,
    };
    let mut docs = Vec::new();

    if o.karpenter {
        docs.extend(karpenter(zone.as_deref()));
    }

    docs.push(config_map(plan, scenario_file_name, scenario_text, o));
    docs.push(shard_job(plan, scenario_file_name, o, zone.as_deref()));
    docs.push(merge_job(plan, o));
    Ok(docs)
}

/// The options `manifests` cannot use, said before anything is built.
fn check_options(o: &K8sOptions, scenario_file_name: &str) -> anyhow::Result<()> {
    if o.shards == 0 {
        bail!("--shards must be at least 1");
    }
    if o.image.trim().is_empty() || o.image.contains(char::is_whitespace) {
        bail!("--image {:?} is not an image reference", o.image);
    }
    if scenario_file_name.is_empty()
        || !scenario_file_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        bail!(
            "scenario file name {scenario_file_name:?} cannot be a ConfigMap key \
             (letters, digits, '-', '_' and '.' only): rename the file"
        );
    }
    Ok(())
}

/// The metadata every namespaced object of the run carries: its name, the
/// run's labels and the namespace.
fn metadata(o: &K8sOptions, name: &str) -> Value {
    let mut m = json!({
        "name": name,
        "labels": {
            "app.kubernetes.io/name": "s3bench",
            "s3bench.dev/run-id": label_value(&o.run_id),
        }
    });
    if let Some(ns) = &o.namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// The ConfigMap holding the scenario file's exact text.
fn config_map(
    plan: &Plan,
    scenario_file_name: &str,
    scenario_text: &str,
    o: &K8sOptions,
) -> Document {
    let cm_name = format!("{}-scenario", object_name(&o.run_id));
    let mut cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(o, &cm_name),
        "data": { scenario_file_name: scenario_text },
    });
    cm["metadata"]["labels"]["s3bench.dev/scenario"] = json!(label_value(&plan.name));
    Document {
        comment: format!(
            "Scenario {:?} exactly as in {scenario_file_name}; mounted at /scenario.",
            plan.name
        ),
        object: cm,
    }
}

/// The Indexed Job of the shards: one pod per shard, pinned to the
/// directory bucket's zone, spread over nodes, retried only when a retry
/// can help.
/// What each shard runs: the scenario from the ConfigMap, the barrier,
/// results to S3, and live metrics on all of the pod's interfaces
/// (Prometheus scrapes the pod's IP).
fn shard_args(o: &K8sOptions, scenario_file_name: &str) -> Vec<String> {
    let mut args = vec![
        "run".to_string(),
        format!("/scenario/{scenario_file_name}"),
        "--results".into(),
        o.results.to_string(),
        "--barrier".into(),
        "--barrier-timeout".into(),
        humantime::format_duration(o.barrier_timeout).to_string(),
        "--out".into(),
        "/results".into(),
        "--quiet".into(),
    ];
    if let Some(port) = o.metrics_port {
        args.extend([
            "--metrics-listen".into(),
            format!("0.0.0.0:{port}"),
            "--metrics-linger".into(),
            METRICS_LINGER.into(),
        ]);
    }
    args
}

/// The shard's metrics port, named for a PodMonitor, and the scrape
/// annotations Prometheus' kubernetes-pods job (and most agents) read
/// (docs/distributed.md).
fn expose_metrics(port: u16, pod: &mut Value, pod_meta: &mut Value) {
    pod["containers"][0]["ports"] =
        json!([{ "name": "metrics", "containerPort": port, "protocol": "TCP" }]);
    let a = &mut pod_meta["annotations"];
    a["prometheus.io/scrape"] = json!("true");
    a["prometheus.io/port"] = json!(port.to_string());
    a["prometheus.io/path"] = json!("/metrics");
}

fn shard_job(
    plan: &Plan,
    scenario_file_name: &str,
    o: &K8sOptions,
    zone: Option<&str>,
) -> Document {
    let name = object_name(&o.run_id);
    let cm_name = format!("{name}-scenario");
    let size = sizing(plan);
    let run_url = o.results.join(&o.run_id);
    let mut affinity = json!({
        // Spread shards over nodes: two shards on one node share its NIC
        // and measure each other.
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": { "matchLabels": { "s3bench.dev/run-id": label_value(&o.run_id) } }
                }
            }]
        }
    });
    if let Some(z) = zone {
        affinity["nodeAffinity"] = json!({
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{
                    "matchExpressions": [{ "key": ZONE_ID_LABEL, "operator": "In", "values": [z] }]
                }]
            }
        });
    }
    let mut pod = pod_spec(o, &affinity);
    pod["containers"] = json!([{
        "name": "s3bench",
        "image": o.image,
        "args": shard_args(o, scenario_file_name),
        "env": [
            { "name": "S3BENCH_RUN_ID", "value": o.run_id },
            { "name": "S3BENCH_SHARD_COUNT", "value": o.shards.to_string() },
        ],
        "resources": {
            "requests": { "cpu": size.cpus.to_string(), "memory": format!("{}Mi", size.memory_mib) },
            "limits": { "memory": format!("{}Mi", size.memory_mib) },
        },
        "securityContext": container_security(),
        "volumeMounts": [
            { "name": "scenario", "mountPath": "/scenario", "readOnly": true },
            { "name": "results", "mountPath": "/results" },
        ],
    }]);
    pod["volumes"] = json!([
        { "name": "scenario", "configMap": { "name": cm_name } },
        { "name": "results", "emptyDir": {} },
    ]);
    if o.karpenter {
        pod["nodeSelector"] = json!({ "karpenter.sh/nodepool": NODEPOOL });
        pod["tolerations"] = json!([{
            "key": TAINT_KEY, "operator": "Equal", "value": "true", "effect": "NoSchedule"
        }]);
    }
    let mut pod_meta = json!({
        "labels": {
            "app.kubernetes.io/name": "s3bench",
            "s3bench.dev/run-id": label_value(&o.run_id),
        },
        "annotations": { DO_NOT_DISRUPT: "true" },
    });
    pod_meta["labels"]["s3bench.dev/role"] = json!("shard");
    if let Some(port) = o.metrics_port {
        expose_metrics(port, &mut pod, &mut pod_meta);
    }
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(o, &name),
        "spec": {
            "completionMode": "Indexed",
            "completions": o.shards,
            "parallelism": o.shards,
            "backoffLimitPerIndex": 1,
            // Bad input fails the same on every retry; a shard past the
            // start barrier would start alone, after the others (and an
            // interrupted one has published its partial result).
            "podFailurePolicy": { "rules": [
                { "action": "FailIndex", "onExitCodes": {
                    "containerName": "s3bench", "operator": "In",
                    "values": ExitCode::with_retry(Retry::SameInput) } },
                { "action": "FailIndex", "onExitCodes": {
                    "containerName": "s3bench", "operator": "In",
                    "values": ExitCode::with_retry(Retry::PastBarrier) } },
            ]},
            "ttlSecondsAfterFinished": 86400,
            "template": { "metadata": pod_meta, "spec": pod },
        }
    });
    Document {
        comment: format!(
            "{n} shards of run {id}, one pod each (JOB_COMPLETION_INDEX = shard index).\n\
             Resources: the scenario has at most {c} requests in flight per shard;\n\
             1 CPU per 64 in flight = {cpu} CPU, 256 MiB + 2 MiB per in flight = {mem} MiB,\n\
             no CPU limit (throttling would show up as latency). Zone: {zone}.\n\
             Retries: a shard is retried once (a crash while preparing), except for exit\n\
             code {bad} (bad input: the same every time) and {past} (it reached\n\
             or gave up at the start barrier: a retry would start alone, after the\n\
             others; an interrupted shard has published its partial result).\n\
             terminationGracePeriodSeconds {g}: after\n\
             SIGTERM s3bench gives in-flight requests ~5 s, deletes what it wrote and\n\
             uploads its partial result to {url}.\n\
             {metrics}",
            n = o.shards,
            bad = codes(Retry::SameInput),
            past = codes(Retry::PastBarrier),
            id = o.run_id,
            c = size.concurrency,
            cpu = size.cpus,
            mem = size.memory_mib,
            zone = match &zone {
                Some(z) => format!("pinned to {ZONE_ID_LABEL} {z}, the directory bucket's"),
                None => "any (no directory bucket in the scenario)".to_string(),
            },
            g = GRACE_SECONDS,
            url = run_url,
            metrics = match o.metrics_port {
                Some(p) => format!(
                    "Live metrics: http://POD_IP:{p}/metrics (port `metrics`, prometheus.io/* scrape\n\
                     annotations), up to {METRICS_LINGER} after the shard's run so the last scrape sees its totals."
                ),
                None => "Live metrics: off (--metrics-port 0).".to_string(),
            },
        ),
        object: job,
    }
}

/// The merge Job, applied with the shards: it polls S3 for every shard's
/// result.json (a shard publishes it once, when it finishes or is
/// interrupted) instead of needing kubectl and RBAC to watch the Job.
fn merge_job(plan: &Plan, o: &K8sOptions) -> Document {
    let name = object_name(&o.run_id);
    let run_url = o.results.join(&o.run_id);
    let wait = estimated_duration(plan, o.barrier_timeout)
        .map(|d| d * 2 + Duration::from_secs(1800))
        .unwrap_or(Duration::from_secs(4 * 3600));
    let mut merge_pod = pod_spec(o, &json!({}));
    merge_pod
        .as_object_mut()
        .expect("pod spec is an object")
        .remove("affinity");
    merge_pod["containers"] = json!([{
        "name": "merge",
        "image": o.image,
        "args": [
            "merge", run_url.to_string(),
            "--shards", o.shards.to_string(),
            "--wait", flag_duration(wait),
            "--results", o.results.to_string(),
            // The report names missing shards; a retry would not find them.
            "--allow-missing",
            "--out", "/results",
        ],
        "resources": {
            "requests": { "cpu": "250m", "memory": "256Mi" },
            "limits": { "memory": "1Gi" },
        },
        "securityContext": container_security(),
        "volumeMounts": [{ "name": "results", "mountPath": "/results" }],
    }]);
    merge_pod["volumes"] = json!([{ "name": "results", "emptyDir": {} }]);
    let mut merge_meta = metadata(o, &format!("{name}-merge"));
    merge_meta["labels"]["s3bench.dev/role"] = json!("merge");
    let merge_job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": merge_meta,
        "spec": {
            "backoffLimit": 2,
            // Bad input (a --check naming what the run lacks) and a failed
            // check (exit 7) give the same answer on every retry.
            "podFailurePolicy": { "rules": [
                { "action": "FailJob", "onExitCodes": {
                    "containerName": "merge", "operator": "In",
                    "values": ExitCode::with_retry(Retry::SameInput) } },
            ]},
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": { "labels": { "app.kubernetes.io/name": "s3bench", "s3bench.dev/role": "merge" } },
                "spec": merge_pod,
            },
        }
    });
    Document {
        comment: format!(
            "Merges the shards' results once all {n} result.json files are in {url}\n\
             (it waits up to {w}: twice the scenario's estimated length plus 30 min),\n\
             then writes {url}merged/report.md. A shard that never published is listed\n\
             as MISSING in the merged report. It judges the run's checks ([[check]],\n\
             --check) on the merged result: exit code 7, and the Job fails without\n\
             a retry, when one fails. Then:\n  \
             kubectl wait --for=condition=complete job/{name}-merge --timeout={gw}\n  \
             aws s3 cp {url}merged/report.md -",
            n = o.shards,
            url = run_url,
            w = flag_duration(wait),
            gw = go_duration(wait),
        ),
        object: merge_job,
    }
}

/// The exit codes of one retry class, as the comment lists them: `3, 4, 5`.
fn codes(r: Retry) -> String {
    ExitCode::with_retry(r)
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn pod_spec(o: &K8sOptions, affinity: &Value) -> Value {
    let mut pod = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": GRACE_SECONDS,
        "affinity": affinity,
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "seccompProfile": { "type": "RuntimeDefault" },
        },
    });
    if let Some(sa) = &o.service_account {
        // IRSA / EKS Pod Identity: the role with access to the buckets.
        pod["serviceAccountName"] = json!(sa);
    }
    pod
}

fn container_security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": { "drop": ["ALL"] },
    })
}

/// A label value: at most 63 of letters, digits, '-', '_' and '.',
/// starting and ending alphanumeric. A run id is one as it is (its rule,
/// `plan::run_id`); a scenario's name may hold other characters, which
/// become '-'.
fn label_value(s: &str) -> String {
    let v: String = crate::plan::run_id::id_chars(s).take(63).collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

fn karpenter(zone: Option<&str>) -> Vec<Document> {
    let mut requirements = vec![
        json!({ "key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"] }),
        json!({ "key": "karpenter.k8s.aws/instance-family", "operator": "In",
                "values": ["c6in", "m6in", "r6in", "c7gn", "c8gn"] }),
        json!({ "key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"] }),
        // Sizes with at least 25 Gbit/s: the small sizes' "up to" bandwidth
        // is a burst credit that runs out during a measurement.
        json!({ "key": "karpenter.k8s.aws/instance-network-bandwidth", "operator": "Gt",
                "values": ["24999"] }),
    ];
    if let Some(z) = zone {
        requirements.push(json!({ "key": ZONE_ID_LABEL, "operator": "In", "values": [z] }));
    }
    // Cluster-scoped and shared by every run: no namespace, no run id.
    let shared_meta =
        || json!({ "name": NODEPOOL, "labels": { "app.kubernetes.io/name": "s3bench" } });
    let pool_meta = shared_meta();
    let nodepool = json!({
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": pool_meta,
        "spec": {
            "template": {
                "metadata": { "labels": { TAINT_KEY: "true" } },
                "spec": {
                    "nodeClassRef": { "group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": NODEPOOL },
                    "requirements": requirements,
                    "taints": [{ "key": TAINT_KEY, "value": "true", "effect": "NoSchedule" }],
                    // Expiry is forced (it ignores do-not-disrupt): never
                    // expire a benchmark node; consolidation removes it once empty.
                    "expireAfter": "Never",
                },
            },
            "disruption": {
                "consolidationPolicy": "WhenEmpty",
                "consolidateAfter": "5m",
                "budgets": [
                    { "nodes": "0", "reasons": ["Drifted", "Underutilized"] },
                    { "nodes": "100%", "reasons": ["Empty"] },
                ],
            },
            "limits": { "cpu": "2000" },
        }
    });
    let class_meta = shared_meta();
    let nodeclass = json!({
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": class_meta,
        "spec": {
            "role": "KarpenterNodeRole-CLUSTER_NAME",
            "amiSelectorTerms": [{ "alias": "al2023@latest" }],
            "subnetSelectorTerms": [{ "tags": { "karpenter.sh/discovery": "CLUSTER_NAME" } }],
            "securityGroupSelectorTerms": [{ "tags": { "karpenter.sh/discovery": "CLUSTER_NAME" } }],
        }
    });
    vec![
        Document {
            comment: "Karpenter NodePool for benchmark nodes (an example: adapt it once per cluster).\n\
                On-demand only: a spot interruption ends a shard mid-measurement with 2 minutes'\n\
                notice and the run loses that shard. Network-optimized families (the 'n' in\n\
                c6in/m6in/c7gn): S3 throughput is bound by the NIC. c7gn/c8gn are Graviton (arm64):\n\
                build the image for both architectures (docs/distributed.md) or drop them.\n\
                Consolidation only removes empty nodes, never moves a running shard."
                .to_string(),
            object: nodepool,
        },
        Document {
            comment: "EC2NodeClass: replace CLUSTER_NAME with your cluster's name (the node role and\n\
                the discovery tags Karpenter's getting-started guide creates)."
                .to_string(),
            object: nodeclass,
        },
    ]
}

/// Multi-document YAML: `---`, the comment header, the object.
pub fn to_yaml(docs: &[Document]) -> anyhow::Result<String> {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        for line in d.comment.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&yaml_serde::to_string(&Ordered(&d.object)).context("cannot write YAML")?);
    }
    Ok(out)
}

/// Writes objects with the keys people expect first (apiVersion, kind,
/// metadata, name, ...), the rest in alphabetical order, as `kubectl get -o
/// yaml` does; `serde_json::Value` alone would sort `kind` after `data`.
struct Ordered<'a>(&'a Value);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap as _, SerializeSeq as _};
        const FIRST: [&str; 7] = [
            "apiVersion",
            "kind",
            "metadata",
            "name",
            "namespace",
            "spec",
            "data",
        ];
        match self.0 {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by_key(|k| {
                    (
                        FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()),
                        k.as_str(),
                    )
                });
                let mut map = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    map.serialize_entry(k, &Ordered(&m[k.as_str()]))?;
                }
                map.end()
            }
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&Ordered(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// A duration as kubectl's --timeout (Go) takes it, in whole minutes: `1h5m`.
pub fn go_duration(d: Duration) -> String {
    let mins = d.as_secs().div_ceil(60);
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// A duration as s3bench's flags take it, in whole minutes: `1h 5m`.
fn flag_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs().div_ceil(60) * 60)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(phase: &str) -> Plan {
        let text = format!(
            "rounds = 1\n[targets.gp]\nkind = \"general-purpose\"\nbucket = \"bench-bucket\"\nregion = \"us-east-1\"\n\n\
             [dataset]\nobjects = 512\nsize = \"4KiB\"\n\n[prepare]\nconcurrency = 8\n\n\
             [[phase]]\nname = \"train\"\nduration = \"10s\"\n{phase}\n"
        );
        crate::scenario::parse(&text, std::path::Path::new("k8s-test.toml")).expect("valid")
    }

    /// A loader phase is sized by its accelerators' reads in flight, and a
    /// search's duration estimate covers every step it may take.
    #[test]
    fn loader_phases_size_pods_and_deadlines() {
        let fixed = plan(
            "[phase.loader]\naccelerators = 40\nbatch_size = 8\ncompute = \"50ms\"\nread_concurrency = 4",
        );
        assert_eq!(crate::plan::max_in_flight(&fixed), 160);
        assert_eq!(
            sizing(&fixed),
            Sizing {
                concurrency: 160,
                cpus: 3,
                memory_mib: 256 + 320
            }
        );
        assert_eq!(
            estimated_duration(&fixed, Duration::ZERO),
            Some(Duration::from_secs(10))
        );
        let search = plan(
            "[phase.loader]\naccelerators = { max = 16, au = 0.9 }\nbatch_size = 8\ncompute = \"50ms\"\nread_concurrency = 2",
        );
        assert_eq!(crate::plan::max_in_flight(&search), 32);
        // 1, 2, 4, 8, 16, then up to 3 bisection steps.
        assert_eq!(
            estimated_duration(&search, Duration::from_secs(60)),
            Some(Duration::from_secs(60 + 8 * 10))
        );
        // Open and closed phases keep their own numbers.
        let closed = plan("concurrency = 12\nmix = [{ op = \"get\", weight = 1 }]");
        assert_eq!(crate::plan::max_in_flight(&closed), 12);
    }

    /// Object names hold the run id when they can, and never let two run
    /// ids share one; every name fits a Job's 63 characters with its suffixes.
    #[test]
    fn object_names_derive_from_the_run_id() {
        assert_eq!(object_name("nightly-42"), "s3bench-nightly-42");
        let a = object_name("Run_A");
        let b = object_name("run-a");
        assert_eq!(b, "s3bench-run-a");
        assert_eq!(a, "s3bench-run-a-922a93", "docs/distributed.md shows it");
        let long = "x".repeat(63);
        let other = format!("{}y", "x".repeat(62));
        assert_ne!(object_name(&long), object_name(&other));
        for id in [
            "a",
            "A.b_c",
            &long,
            &other,
            "20261129-120000-ml-shards-3fa2c1",
        ] {
            crate::plan::run_id::check(id).unwrap();
            let n = object_name(id);
            assert!(n.len() + "-scenario".len() <= 63, "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !n.ends_with('-'),
                "{n} is no DNS label"
            );
        }
        assert_eq!(label_value("ML shards (v2)"), "ML-shards--v2");
    }
}
