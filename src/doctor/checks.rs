//! The checks of one target, in the order a failure hides the next:
//! credentials, access (ListObjectsV2 or CreateSession), HeadBucket (kind,
//! region), a probe PUT/GET/DELETE, then what every answer tells anyway:
//! clock skew from the `Date` header, the client's zone against the
//! directory bucket's, and which CA bundle TLS trusts.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::create_session::CreateSessionOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::SessionCredentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};

use super::{Environment, Finding, Severity};
use crate::client::{Auth, TargetConfig, as_plain_bucket, describe_preflight};
use crate::scenario::TargetKind;

/// SigV4 rejects requests dated more than 15 minutes off the server's clock.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// Above this, latencies and the report's timestamps drift noticeably.
const WARN_SKEW: Duration = Duration::from_secs(5);
/// Resolving credentials may call STS, SSO or IMDS: bounded, not forever.
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs every check on one target and returns one finding per check that
/// ran (passing checks included, as `Severity::Ok`). Never fails: what goes
/// wrong is a finding. Writes only one small object under
/// `s3bench/doctor-<random>/` and deletes it again.
pub async fn check_target(t: &TargetConfig, env: &Environment) -> Vec<Finding> {
    let prefix = format!("s3bench/doctor-{:08x}/", fastrand::u32(..));
    check_target_in(t, env, Scope::Doctor { prefix: &prefix })
        .await
        .findings
}

/// Where the checks list and probe.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// `s3bench doctor`: the probe object goes under `prefix`, a fresh
    /// random prefix below `s3bench/`.
    Doctor { prefix: &'a str },
    /// A run's preflight: the run prefix must be empty (a reused run id
    /// would mix two runs' objects and the cleanup would delete both), and
    /// the probe object goes under it, so a probe the checks could not
    /// delete is removed by the run's cleanup. With `resume` (`run
    /// --resume`) objects there are a warning instead.
    Run { prefix: &'a str, resume: bool },
}

impl Scope<'_> {
    fn prefix(&self) -> &str {
        match self {
            Scope::Doctor { prefix } | Scope::Run { prefix, .. } => prefix,
        }
    }
}

/// What the checks of one target found and what they sent.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub findings: Vec<Finding>,
    /// Requests the checks sent (every attempt), by S3 operation name.
    /// CreateSession is not among them: the SDK's session cache sends its
    /// own where no interceptor sees them, so callers count those from the
    /// target's `SessionProbe`, which sees every one.
    pub requests: BTreeMap<String, u64>,
    /// Whether the endpoint honours `If-None-Match: *` on PutObject: true
    /// when a second create-only PUT of the probe key got 412; false when
    /// it answered 501 or overwrote the object; None when no probe ran.
    pub conditional_writes: Option<bool>,
}

/// [`check_target`] in a given [`Scope`], with the requests it sent.
pub async fn check_target_in(t: &TargetConfig, env: &Environment, scope: Scope<'_>) -> Checked {
    let mut out = Vec::new();
    let cx = Cx::new(t);
    let ok = check_credentials(&cx, &mut out).await
        && check_name(&cx, &mut out)
        && check_access(&cx, scope, &mut out).await
        && check_bucket(&cx, &mut out).await
        && check_prefix(&cx, scope, &mut out).await;
    let conditional_writes = if ok {
        check_probe(&cx, scope.prefix(), &mut out).await
    } else {
        None
    };
    // doctor only: a run audits what its own conditional writes got. (Boxed:
    // two SDK requests in flight at once make a large future, which would
    // otherwise grow every caller's, the run's preflight's too.)
    if conditional_writes == Some(true) && matches!(scope, Scope::Doctor { .. }) {
        Box::pin(check_contention(&cx, scope.prefix(), &mut out)).await;
    }
    check_clock(&cx, &mut out);
    check_zone(&cx, env, &mut out);
    if let Some(f) = super::tls::finding(&cx.name, t) {
        out.push(f);
    }
    let requests = cx
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests
        .clone();
    Checked {
        findings: out,
        requests,
        conditional_writes,
    }
}

/// Checks a CreateSession answer: S3 Express session credentials must have
/// an access key, a secret, a token and an expiration in the future. moto,
/// for one, answers `GET /bucket?session` with a bucket listing, which the
/// SDK turns into empty credentials that then sign every request.
pub fn validate_session(out: &CreateSessionOutput, now: SystemTime) -> Result<(), String> {
    validate_session_credentials(out.credentials(), now)
}

/// [`validate_session`] on the credentials alone; the error is the missing
/// or wrong part, e.g. "no session token".
pub fn validate_session_credentials(
    creds: Option<&SessionCredentials>,
    now: SystemTime,
) -> Result<(), String> {
    let Some(c) = creds else {
        return Err("the answer holds no Credentials element".to_string());
    };
    let mut missing = Vec::new();
    if c.access_key_id().is_empty() {
        missing.push("access key");
    }
    if c.secret_access_key().is_empty() {
        missing.push("secret key");
    }
    if c.session_token().is_empty() {
        missing.push("session token");
    }
    if !missing.is_empty() {
        return Err(format!("the answer has no {}", missing.join(", no ")));
    }
    let exp = c.expiration();
    let expires = SystemTime::UNIX_EPOCH + Duration::from_secs(exp.secs().max(0) as u64);
    if expires <= now {
        return Err(format!(
            "the session expires at {}, which is not in the future",
            humantime::format_rfc3339_seconds(expires)
        ));
    }
    Ok(())
}

/// One target's client plus what its responses told (headers seen by an
/// interceptor, since the SDK's outputs do not carry `Date`).
struct Cx<'a> {
    t: &'a TargetConfig,
    name: String,
    bucket: String,
    endpoint: String,
    client: aws_sdk_s3::Client,
    seen: Arc<Mutex<Seen>>,
    /// Set when the access check already reported a skewed clock.
    skew_reported: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct Seen {
    /// The latest `Date` header and the local time it arrived.
    date: Option<(String, SystemTime)>,
    /// Attempts sent, by operation name (CreateSession left out).
    requests: BTreeMap<String, u64>,
    /// What the last GP ListObjectsV2 of the access check found.
    listed_objects: bool,
}

#[derive(Debug)]
struct HeaderTap(Arc<Mutex<Seen>>);

impl Intercept for HeaderTap {
    fn name(&self) -> &'static str {
        "s3bench-doctor-headers"
    }

    fn read_before_transmit(
        &self,
        _ctx: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>()
            && m.name() != "CreateSession"
        {
            let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *s.requests.entry(m.name().to_string()).or_default() += 1;
        }
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        ctx: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(d) = ctx.response().headers().get("date") {
            let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
            s.date = Some((d.to_string(), SystemTime::now()));
        }
        Ok(())
    }
}

impl<'a> Cx<'a> {
    fn new(t: &'a TargetConfig) -> Cx<'a> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let base = t.build_client();
        let conf = base
            .config()
            .to_builder()
            .interceptor(HeaderTap(seen.clone()))
            .build();
        Cx {
            t,
            name: t.spec.name.clone(),
            bucket: t.spec.bucket.clone(),
            endpoint: t
                .endpoint
                .clone()
                .unwrap_or_else(|| format!("AWS {}", t.spec.region)),
            client: aws_sdk_s3::Client::from_conf(conf),
            seen,
            skew_reported: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn directory(&self) -> bool {
        self.t.spec.kind == TargetKind::Directory
    }

    /// "target 'express' (bucket b--use1-az4--x-s3 at http://...)".
    fn who(&self) -> String {
        format!(
            "target '{}' (bucket '{}' at {})",
            self.name, self.bucket, self.endpoint
        )
    }

    fn finding(&self, severity: Severity, check: &'static str, what: String) -> Finding {
        Finding::new(severity, check, format!("{}: {what}", self.who()))
    }
}

async fn check_credentials(cx: &Cx<'_>, out: &mut Vec<Finding>) -> bool {
    let provider = match &cx.t.auth {
        Auth::Static(_) => {
            out.push(cx.finding(
                Severity::Ok,
                "credentials",
                "uses the embedded endpoint's own keys".to_string(),
            ));
            return true;
        }
        Auth::Shared(sdk) => sdk.credentials_provider(),
    };
    let hint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run `aws configure` or \
`aws sso login`, or name a profile with profile = \"NAME\" on the target";
    let Some(provider) = provider else {
        out.push(cx.finding(
            Severity::Error,
            "credentials",
            format!("no AWS credentials were found (environment, profiles, SSO, container or instance role): {hint}"),
        ));
        return false;
    };
    let got = tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials()).await;
    match got {
        Ok(Ok(c)) => {
            let source = provider_name(&c);
            let expiry = match c.expiry() {
                Some(t) => match t.duration_since(SystemTime::now()) {
                    Ok(left) => format!(
                        ", expiring in {}",
                        humantime::format_duration(Duration::from_secs(left.as_secs()))
                    ),
                    Err(_) => ", already expired".to_string(),
                },
                None => String::new(),
            };
            out.push(cx.finding(
                Severity::Ok,
                "credentials",
                format!(
                    "credentials come from the {source} provider of aws-config's chain{expiry}"
                ),
            ));
            true
        }
        Ok(Err(e)) => {
            let what = match &e {
                CredentialsError::CredentialsNotLoaded(_) => format!(
                    "no AWS credentials were found (environment, profiles, SSO, container or instance role): {hint}"
                ),
                CredentialsError::ProviderTimedOut(_) => format!(
                    "the credentials provider timed out (an SSO, STS or instance-metadata call did not answer): {hint}"
                ),
                CredentialsError::InvalidConfiguration(_) => format!(
                    "the AWS configuration is invalid ({}): fix ~/.aws/config or the AWS_* variables",
                    chain_text(&e)
                ),
                _ => format!(
                    "the credentials could not be loaded ({}): {hint}",
                    chain_text(&e)
                ),
            };
            out.push(cx.finding(Severity::Error, "credentials", what));
            false
        }
        Err(_) => {
            out.push(cx.finding(
                Severity::Error,
                "credentials",
                format!(
                    "resolving credentials took over {}s: {hint}",
                    CREDENTIALS_TIMEOUT.as_secs()
                ),
            ));
            false
        }
    }
}

/// The provider name ("Environment", "ProfileFile", "Sso", "Ec2InstanceMetadata",
/// ...). `Credentials` has no getter for it, but its Debug output names it
/// first and redacts the secret.
fn provider_name(c: &aws_credential_types::Credentials) -> String {
    let dbg = format!("{c:?}");
    dbg.split_once("provider_name: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| "unnamed".to_string())
}

/// The declared kind against the name: S3 tells a directory bucket by its
/// `--x-s3` suffix alone.
fn check_name(cx: &Cx<'_>, out: &mut Vec<Finding>) -> bool {
    let named_directory = cx.bucket.ends_with("--x-s3");
    match (cx.directory(), named_directory) {
        (true, false) => {
            out.push(cx.finding(
                Severity::Error,
                "kind",
                "is declared kind = \"directory\" but its name lacks the --x-s3 suffix of a directory bucket (base--zone-id--x-s3): fix the name or set kind = \"general-purpose\"".to_string(),
            ));
            false
        }
        (false, true) => {
            out.push(cx.finding(
                Severity::Error,
                "kind",
                "is declared kind = \"general-purpose\" but its name ends with --x-s3, which only directory buckets have: set kind = \"directory\" or use a general purpose bucket".to_string(),
            ));
            false
        }
        _ => true,
    }
}

/// What an error response said.
struct Answer {
    status: Option<u16>,
    code: Option<String>,
    message: Option<String>,
    region_header: Option<String>,
    chain: String,
}

fn answer<E: ProvideErrorMetadata + StdError + 'static>(e: &SdkError<E, HttpResponse>) -> Answer {
    let raw = e.raw_response();
    Answer {
        status: raw.map(|r| r.status().as_u16()),
        code: e.code().map(str::to_string),
        message: e.message().map(str::to_string),
        region_header: raw
            .and_then(|r| r.headers().get("x-amz-bucket-region"))
            .map(str::to_string),
        chain: chain_text(e),
    }
}

fn chain_text(e: &(dyn StdError + 'static)) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(x) = cur {
        let s = x.to_string();
        if !parts.contains(&s) {
            parts.push(s);
        }
        cur = x.source();
    }
    parts.join(": ")
}

/// The region a wrong-region answer names: S3's `x-amz-bucket-region`
/// header, or the "expecting 'R'" of an AuthorizationHeaderMalformed.
fn region_named(a: &Answer) -> Option<String> {
    if let Some(r) = &a.region_header {
        return Some(r.clone());
    }
    let text = a.message.as_deref().unwrap_or(&a.chain);
    let rest = text.split_once("expecting '")?.1;
    Some(rest.split_once('\'')?.0.to_string())
}

/// The reason rustls gave for refusing the server's certificate, when that
/// is why the request failed.
fn tls_distrust(chain: &str) -> Option<String> {
    let at = chain.find("invalid peer certificate")?;
    let rest = &chain[at..];
    let end = rest.find([')', '\n']).unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches([':', ' ']).to_string())
}

/// Sentences for answers the checks tell apart; None leaves the wording to
/// `describe_preflight`.
fn specific(cx: &Cx<'_>, a: &Answer) -> Option<(&'static str, String)> {
    // Every caller's request was retried through the throttle first.
    if let Some(what) = kept_throttling(a) {
        return Some((
            "endpoint",
            format!(
                "{what}: it is rate-limiting this client; try again later, or lower the load other clients put on it"
            ),
        ));
    }
    let code = a.code.as_deref().unwrap_or("");
    let lower = a.chain.to_lowercase();
    let declared = &cx.t.spec.region;
    // A 404 with no S3 error in its body (the SDK calls a bodiless one
    // NotFound; S3 names NoSuchBucket in a GET's): a web server or proxy at
    // that address, not S3. (A HEAD's 404 never gets here: check_bucket
    // asks a GET.)
    if a.status == Some(404) && matches!(code, "" | "NotFound") && !lower.contains("nosuchbucket") {
        return Some((
            "endpoint",
            "the endpoint answered 404 Not Found without an S3 error (S3 would say NoSuchBucket): it does not look like an S3 endpoint; check endpoint = (host, port, path) and path_style".to_string(),
        ));
    }
    if code == "NoSuchBucket" || a.status == Some(404) || lower.contains("nosuchbucket") {
        let kind = if cx.directory() {
            "directory bucket"
        } else {
            "bucket"
        };
        return Some((
            "bucket",
            format!(
                "the {kind} does not exist: create it with `s3bench setup` (or the console), or fix bucket = in the scenario"
            ),
        ));
    }
    if let Some(why) = tls_distrust(&a.chain) {
        let fix = match &cx.t.spec.ca_file {
            Some(ca) => format!(
                "the CA certificates of ca_file {} did not sign it: point ca_file at the CA that did",
                ca.path.display()
            ),
            None => "set ca_file = \"path/to/ca.pem\" on the target to the CA that signed it (or SSL_CERT_FILE for every target)".to_string(),
        };
        return Some((
            "tls",
            format!("TLS does not trust the endpoint's certificate ({why}): {fix}"),
        ));
    }
    if code == "RequestTimeTooSkewed" {
        cx.skew_reported
            .store(true, std::sync::atomic::Ordering::Relaxed);
        return Some((
            "clock",
            format!(
                "the endpoint rejected the request because this machine's clock is more than 15 minutes off ({}): sync it (chrony, systemd-timesyncd or ntpdate)",
                skew_text(cx).unwrap_or_else(|| "its Date header was not seen".to_string())
            ),
        ));
    }
    if a.status == Some(301)
        || code == "AuthorizationHeaderMalformed"
        || code == "PermanentRedirect"
        || (a.status == Some(400) && a.region_header.is_some())
    {
        let actual = region_named(a).filter(|r| r != declared);
        return Some((
            "region",
            match actual {
                Some(r) => format!(
                    "the bucket is in region {r}, not the declared {declared}: set region = \"{r}\" on the target"
                ),
                None => format!(
                    "the bucket is not in the declared region {declared}: set region = to the bucket's region"
                ),
            },
        ));
    }
    if code == "NotImplemented" || a.status == Some(501) {
        if cx.directory() && cx.t.session_auth_off() {
            // No CreateSession was sent: do not blame it, and do not
            // advise the switch that is already set.
            return Some((
                "kind",
                format!(
                    "the endpoint answered 501 NotImplemented ({}) to a directory-bucket request with S3 Express session auth already off: it has no directory buckets; {}",
                    a.message.as_deref().unwrap_or(code),
                    as_plain_bucket()
                ),
            ));
        }
        if cx.directory() {
            return Some((
                "create-session",
                format!(
                    "the endpoint does not implement CreateSession (S3 Express session auth) or rejects the s3express signing scope ({}): it has no directory buckets; {}",
                    a.message.as_deref().unwrap_or(code),
                    as_plain_bucket()
                ),
            ));
        }
        return Some((
            "bucket",
            format!(
                "the endpoint does not implement this S3 request ({})",
                a.message.as_deref().unwrap_or(code)
            ),
        ));
    }
    None
}

/// GP: ListObjectsV2 (one key) tells missing bucket, wrong secret, wrong
/// region and denied access apart by error code; in a run it lists the run
/// prefix, which doubles as the emptiness check. Directory: an explicit
/// CreateSession, signed with the base credentials, whose answer is checked.
async fn check_access(cx: &Cx<'_>, scope: Scope<'_>, out: &mut Vec<Finding>) -> bool {
    if cx.directory() && !cx.t.session_auth_off() {
        return check_create_session(cx, out).await;
    }
    if cx.directory() {
        out.push(cx.finding(
            Severity::Warn,
            "session-auth",
            "S3 Express session auth is off (AWS_S3_DISABLE_EXPRESS_SESSION_AUTH=true): no CreateSession is made and every request is signed with the base credentials, so this directory-bucket workload runs as on a plain bucket and its latencies lack session auth".to_string(),
        ));
    }
    let prefix = match scope {
        Scope::Doctor { .. } => "s3bench/",
        Scope::Run { prefix, .. } => prefix,
    };
    list_one(cx, prefix, out).await
}

/// One ListObjectsV2 of at most one key under `prefix`; remembers whether
/// it found any.
async fn list_one(cx: &Cx<'_>, prefix: &str, out: &mut Vec<Finding>) -> bool {
    let r = retrying(|| {
        cx.client
            .list_objects_v2()
            .bucket(&cx.bucket)
            .prefix(prefix)
            .max_keys(1)
            .send()
    })
    .await;
    match r {
        Ok(page) => {
            let found = page.key_count().unwrap_or(0) > 0 || !page.contents().is_empty();
            cx.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .listed_objects = found;
            true
        }
        Err(e) => {
            out.push(describe(cx, "bucket", &e));
            false
        }
    }
}

/// A run's prefix must be empty: a reused run id would mix this run's
/// objects with an earlier one's, and its cleanup would delete both. On a
/// directory bucket the listing also proves session auth works.
async fn check_prefix(cx: &Cx<'_>, scope: Scope<'_>, out: &mut Vec<Finding>) -> bool {
    let Scope::Run { prefix, resume } = scope else {
        return true;
    };
    // The access check listed the prefix already unless it was CreateSession.
    let listed = !cx.directory() || cx.t.session_auth_off();
    if !listed && !list_one(cx, prefix, out).await {
        return false;
    }
    if cx
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .listed_objects
    {
        if resume {
            out.push(cx.finding(
                Severity::Warn,
                "prefix",
                format!(
                    "resuming (--resume): the run prefix {prefix} already holds objects; prepare keeps those at the data set's keys as they are (its create-only PUTs get 412 there) and writes the missing ones, and the run's cleanup deletes everything under the prefix"
                ),
            ));
            return true;
        }
        out.push(cx.finding(
            Severity::Error,
            "prefix",
            format!(
                "the run prefix {prefix} already holds objects (a reused --run-id?): pick another run id, remove them with `s3bench cleanup`, or go on with them with `--resume`"
            ),
        ));
        return false;
    }
    true
}

/// Attempts [`retrying`] makes before taking a transient answer.
const ATTEMPTS: u32 = 10;

/// The wait before attempt `attempt + 1`: 0.2 s doubling to 2 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(16)).min(2_000))
}

/// A transient answer, worth asking again: a throttle (429, or 503
/// SlowDown: the client grouping the run uses) or another 5xx but 501.
fn transient(status: u16) -> bool {
    status == 429 || (500..600).contains(&status) && status != 501
}

/// Sends a request again after a transient answer ([`transient`]):
/// [`ATTEMPTS`] attempts with [`backoff`] between them (about 13 s in all)
/// before taking the answer.
async fn retrying<T, E, F, Fut>(mut send: F) -> Result<T, SdkError<E, HttpResponse>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let r = send().await;
        let again = match &r {
            Err(e) => e
                .raw_response()
                .is_some_and(|r| transient(r.status().as_u16())),
            Ok(_) => false,
        };
        if !again || attempt >= ATTEMPTS {
            return r;
        }
        tokio::time::sleep(backoff(attempt)).await;
    }
}

/// A throttle that outlasted every retry: "the endpoint kept throttling
/// (HTTP 429 TooManyRequests to all 10 attempts over about 13 s)", else None.
fn kept_throttling(a: &Answer) -> Option<String> {
    if !matches!(a.status, Some(429 | 503)) {
        return None;
    }
    let waited: Duration = (1..ATTEMPTS).map(backoff).sum();
    Some(format!(
        "the endpoint kept throttling ({} to all {ATTEMPTS} attempts over about {} s)",
        short(a),
        waited.as_secs()
    ))
}

/// What an answer said, for a failure sentence: a throttle that outlasted
/// the retries says so.
fn answer_text(a: &Answer) -> String {
    kept_throttling(a).unwrap_or_else(|| short(a))
}

fn describe<E: ProvideErrorMetadata + StdError + 'static>(
    cx: &Cx<'_>,
    default_check: &'static str,
    e: &SdkError<E, HttpResponse>,
) -> Finding {
    let a = answer(e);
    match specific(cx, &a) {
        Some((check, what)) => cx.finding(Severity::Error, check, what),
        None => Finding::new(
            Severity::Error,
            default_check,
            describe_preflight(&cx.name, &cx.bucket, &cx.endpoint, e)
                .trim_end_matches('.')
                .to_string(),
        ),
    }
}

async fn check_create_session(cx: &Cx<'_>, out: &mut Vec<Finding>) -> bool {
    let r = retrying(|| cx.client.create_session().bucket(&cx.bucket).send()).await;
    match r {
        Ok(o) => match validate_session(&o, SystemTime::now()) {
            Ok(()) => {
                out.push(cx.finding(
                    Severity::Ok,
                    "create-session",
                    "CreateSession returned session credentials".to_string(),
                ));
                true
            }
            Err(why) => {
                out.push(cx.finding(Severity::Error, "create-session", format!(
                    "the endpoint does not implement CreateSession (S3 Express session auth): {why}; {}",
                    as_plain_bucket()
                )));
                false
            }
        },
        Err(e) => {
            let a = answer(&e);
            let f = match specific(cx, &a) {
                Some((check, what)) => cx.finding(Severity::Error, check, what),
                None if matches!(a.status, Some(403)) && a.code.as_deref() == Some("AccessDenied") => {
                    cx.finding(Severity::Error, "create-session", format!(
                        "CreateSession was refused (403 AccessDenied{}): the credentials need s3express:CreateSession on arn:aws:s3express:{}:<account>:bucket/{}",
                        a.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(),
                        cx.t.spec.region,
                        cx.bucket
                    ))
                }
                None if a.status == Some(200) => cx.finding(Severity::Error, "create-session", format!(
                    "the endpoint does not implement CreateSession (S3 Express session auth): its answer is not session credentials ({}); {}",
                    a.chain,
                    as_plain_bucket()
                )),
                None => Finding::new(
                    Severity::Error,
                    "create-session",
                    describe_preflight(&cx.name, &cx.bucket, &cx.endpoint, &e)
                        .trim_end_matches('.')
                        .replacen(": ", ": CreateSession failed: ", 1),
                ),
            };
            out.push(f);
            false
        }
    }
}

/// HeadBucket: the bucket's region (`x-amz-bucket-region`) and, on S3
/// Express, its location type and zone.
async fn check_bucket(cx: &Cx<'_>, out: &mut Vec<Finding>) -> bool {
    let r = retrying(|| cx.client.head_bucket().bucket(&cx.bucket).send()).await;
    let o = match r {
        Ok(o) => o,
        Err(e) => {
            // A HEAD's 404 has no body to name NoSuchBucket, and any web
            // server answers one: a GET tells a missing bucket from an
            // endpoint that is not S3.
            let f = if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) {
                let listed = retrying(|| {
                    cx.client
                        .list_objects_v2()
                        .bucket(&cx.bucket)
                        .max_keys(1)
                        .send()
                })
                .await;
                match listed {
                    Err(e) => describe(cx, "bucket", &e),
                    Ok(_) => cx.finding(
                        Severity::Error,
                        "bucket",
                        "HeadBucket answered 404 Not Found but ListObjectsV2 lists the bucket: the endpoint does not answer HeadBucket as S3 does".to_string(),
                    ),
                }
            } else {
                describe(cx, "bucket", &e)
            };
            out.push(f);
            return false;
        }
    };
    let declared = &cx.t.spec.region;
    let mut ok = true;
    match o.bucket_region() {
        Some(r) if r != declared => {
            out.push(cx.finding(
                Severity::Error,
                "region",
                format!(
                    "the bucket is in region {r}, not the declared {declared}: set region = \"{r}\" on the target"
                ),
            ));
            ok = false;
        }
        _ => {}
    }
    let location_type = o.bucket_location_type().map(|t| t.as_str().to_string());
    let location_name = o.bucket_location_name().map(str::to_string);
    match kind_problem(
        cx.directory(),
        &cx.bucket,
        location_type.as_deref(),
        location_name.as_deref(),
    ) {
        // Session auth off on purpose: a server without directory buckets
        // is what the user asked to run the workload on.
        Some(_) if cx.t.session_auth_off() && location_type.is_none() => {
            out.push(cx.finding(
                Severity::Warn,
                "kind",
                "the endpoint does not emulate directory buckets (HeadBucket answers without x-amz-bucket-location-type): the directory-bucket workload runs on it as on a general purpose bucket".to_string(),
            ));
        }
        Some(what) => {
            out.push(cx.finding(Severity::Error, "kind", what));
            ok = false;
        }
        None if ok => {
            let kind = if cx.directory() {
                format!(
                    "a directory bucket in zone {}",
                    location_name.as_deref().unwrap_or("?")
                )
            } else {
                "a general purpose bucket".to_string()
            };
            out.push(cx.finding(
                Severity::Ok,
                "bucket",
                format!(
                    "exists, is {kind}, {}",
                    region_text(o.bucket_region(), declared)
                ),
            ));
        }
        None => {}
    }
    ok
}

/// Where HeadBucket says the bucket is: "in region R", or, when it sent no
/// `x-amz-bucket-region` (s3rver, s3s-fs), that the declared region could
/// not be checked, rather than the declared one as if it had been.
fn region_text(said: Option<&str>, declared: &str) -> String {
    match said {
        Some(r) => format!("in region {r}"),
        None => format!(
            "in a region this endpoint does not say (HeadBucket sent no x-amz-bucket-region), so the declared region {declared} could not be checked"
        ),
    }
}

/// What HeadBucket's location headers say against the declared kind; None
/// when they agree.
pub(crate) fn kind_problem(
    directory: bool,
    bucket: &str,
    location_type: Option<&str>,
    location_name: Option<&str>,
) -> Option<String> {
    let zone = crate::s3::bucket::zone_id(bucket);
    match (directory, location_type) {
        (true, None) => Some(format!(
            "the endpoint treats this --x-s3 bucket as a general purpose bucket (HeadBucket answers without x-amz-bucket-location-type): it does not emulate directory buckets; {}",
            as_plain_bucket()
        )),
        (false, Some(t)) => Some(format!(
            "is declared general purpose but the endpoint reports a directory bucket (location type {t}): set kind = \"directory\""
        )),
        (true, Some(_)) => match (zone, location_name) {
            (Some(z), Some(n)) if z != n => Some(format!(
                "its name names zone {z} but HeadBucket reports zone {n}: the bucket name is wrong"
            )),
            _ => None,
        },
        (false, None) => None,
    }
}

/// A probe PUT (create-only, `If-None-Match: *`), a second create-only PUT
/// of the same key that must get 412, a GET that must return the bytes, and
/// a DELETE. Returns whether the endpoint honours conditional writes (None
/// when the probe failed before it could tell).
async fn check_probe(cx: &Cx<'_>, prefix: &str, out: &mut Vec<Finding>) -> Option<bool> {
    let key = format!("{prefix}preflight-probe");
    let body: Vec<u8> = (0..1024).map(|_| fastrand::u8(..)).collect();
    let need = if cx.directory() {
        format!(
            "s3express:CreateSession in ReadWrite mode on bucket {}",
            cx.bucket
        )
    } else {
        format!(
            "s3:PutObject, s3:GetObject and s3:DeleteObject on arn:aws:s3:::{}/s3bench/*",
            cx.bucket
        )
    };
    let denied = |what: &str, a: &Answer| {
        format!(
            "the probe {what} of {key} was denied ({} {}): the credentials need {need}",
            a.status.map(|s| s.to_string()).unwrap_or_default(),
            a.code.as_deref().unwrap_or("")
        )
    };
    let put = |create_only: bool| {
        let req = cx
            .client
            .put_object()
            .bucket(&cx.bucket)
            .key(&key)
            .body(ByteStream::from(body.clone()));
        if create_only {
            req.if_none_match("*")
        } else {
            req
        }
    };
    let put_failed = |e: &Answer| {
        if e.status == Some(403) {
            denied("PUT", e)
        } else {
            format!("the probe PUT of {key} failed: {}", answer_text(e))
        }
    };
    // A server without conditional writes answers 501 NotImplemented (or
    // 400 for a header it does not know): write without the condition.
    let conditional = match retrying(|| put(true).send()).await {
        Ok(_) => match retrying(|| put(true).send()).await {
            Err(e) if matches!(answer(&e).status, Some(412) | Some(409)) => Ok(()),
            Ok(_) => Err(
                "a second PUT of the probe key with If-None-Match: * overwrote it instead of answering 412".to_string(),
            ),
            Err(e) => Err(format!(
                "a second PUT of the probe key with If-None-Match: * got {} instead of 412",
                short(&answer(&e))
            )),
        },
        Err(e) if matches!(answer(&e).status, Some(501) | Some(400)) => {
            let why = format!(
                "a PUT with If-None-Match: * got {}",
                short(&answer(&e))
            );
            if let Err(e) = retrying(|| put(false).send()).await {
                out.push(cx.finding(Severity::Error, "probe", put_failed(&answer(&e))));
                return None;
            }
            Err(why)
        }
        Err(e) => {
            out.push(cx.finding(Severity::Error, "probe", put_failed(&answer(&e))));
            return None;
        }
    };
    out.push(match &conditional {
        Ok(()) => cx.finding(
            Severity::Ok,
            "conditional-writes",
            "the endpoint honours If-None-Match: * on PutObject, so the data set is written create-only".to_string(),
        ),
        Err(why) => cx.finding(
            Severity::Warn,
            "conditional-writes",
            format!("the endpoint does not honour If-None-Match: * on PutObject ({why}): the data set is written without it, so only the check that the run prefix is empty guards objects already there"),
        ),
    });
    let ProbeGets { got, cut, corrupt } = probe_gets(cx, &key, &body).await;
    match got {
        Ok(None) => {}
        Ok(Some(last)) => {
            let what = if corrupt > 0 {
                format!(
                    "the probe GET of {key} returned other bytes than were PUT {corrupt} times in {GETS} (and was cut off {cut} times): the endpoint corrupts or caches objects"
                )
            } else {
                format!(
                    "the probe GET of {key} was cut off before its last byte {GETS} times in a row ({last}): the connection to the endpoint keeps breaking"
                )
            };
            out.push(cx.finding(Severity::Error, "probe", what));
            let _ = delete_probe(cx, &key).await;
            return Some(conditional.is_ok());
        }
        Err(a) => {
            let what = if a.status == Some(403) {
                denied("GET", &a)
            } else {
                format!("the probe GET of {key} failed: {}", answer_text(&a))
            };
            out.push(cx.finding(Severity::Error, "probe", what));
            // Best effort: the GET already failed, which is the finding.
            let _ = delete_probe(cx, &key).await;
            return Some(conditional.is_ok());
        }
    };
    if corrupt > 0 {
        out.push(cx.finding(
            Severity::Warn,
            "probe",
            format!("the probe GET of {key} returned other bytes than were PUT {corrupt} times before it returned the right ones: the endpoint, or something on the way, corrupts data now and then; with [client] checksum set a run counts such GETs of whole objects as `{}`", crate::client::checksum::MISMATCH),
        ));
    }
    let f = match delete_probe(cx, &key).await {
        Err(a) if a.status == Some(403) => {
            cx.finding(Severity::Error, "probe", denied("DELETE", &a))
        }
        Err(a) => cx.finding(
            Severity::Error,
            "probe",
            format!("the probe DELETE of {key} failed: {}", answer_text(&a)),
        ),
        Ok(()) => cx.finding(
            Severity::Ok,
            "probe",
            format!("a probe PUT, GET and DELETE under {prefix} worked"),
        ),
    };
    out.push(f);
    Some(conditional.is_ok())
}

/// Races of the contention probe.
const RACES: u32 = 8;

/// Two writers racing on one key: two create-only PUTs (`If-None-Match:
/// *`) of a fresh key sent at once, [`RACES`] times. An endpoint whose
/// conditional writes are atomic lets exactly one win each race (the other
/// gets 412, or 409); one that checks and then writes lets both win. Each
/// key is deleted again.
async fn check_contention(cx: &Cx<'_>, prefix: &str, out: &mut Vec<Finding>) {
    let (mut decided, mut doubled) = (0u32, 0u32);
    let mut failed = None;
    for i in 0..RACES {
        let key = format!("{prefix}contention-probe-{i}");
        let put = || {
            cx.client
                .put_object()
                .bucket(&cx.bucket)
                .key(&key)
                .body(ByteStream::from_static(b"contention probe"))
                .if_none_match("*")
                .send()
        };
        let (a, b) = tokio::join!(put(), put());
        let mut won = 0;
        let mut lost = 0;
        for r in [a, b] {
            match r {
                Ok(_) => won += 1,
                Err(e) if matches!(answer(&e).status, Some(412 | 409)) => lost += 1,
                Err(e) => failed = Some(short(&answer(&e))),
            }
        }
        if won + lost == 2 {
            decided += 1;
            doubled += u32::from(won == 2);
        }
        let _ = retrying(|| {
            cx.client
                .delete_object()
                .bucket(&cx.bucket)
                .key(&key)
                .send()
        })
        .await;
    }
    let f = if doubled > 0 {
        cx.finding(
            Severity::Warn,
            "contention",
            format!(
                "the endpoint's conditional writes are not atomic: in {doubled} of {decided} races of two create-only PUTs (If-None-Match: *) on one key both writers were told they won, so conditional-put numbers against it count lost races as wins (a run's audit says how many)"
            ),
        )
    } else if decided == 0 {
        cx.finding(
            Severity::Warn,
            "contention",
            format!(
                "two create-only PUTs racing on one key could not be told apart ({}): whether the endpoint's conditional writes are atomic is not known",
                failed.unwrap_or_default()
            ),
        )
    } else {
        cx.finding(
            Severity::Ok,
            "contention",
            format!(
                "two create-only PUTs racing on one key: exactly one won, {decided} times in {decided}"
            ),
        )
    };
    out.push(f);
}

/// How many times the probe GET is tried when its body comes back wrong.
const GETS: u32 = 10;

/// What the probe GETs found: the right body (`Ok(None)`), a body wrong
/// [`GETS`] times (`Ok(Some(last error))`), or an answer that is no body.
struct ProbeGets {
    got: Result<Option<String>, Answer>,
    /// Bodies cut off before their last byte.
    cut: u32,
    /// Whole bodies with other bytes, or refused by checksum validation.
    corrupt: u32,
}

/// GETs the probe object until its body is `body`. A body cut off mid-way
/// (a reset connection) is a transport failure, retried like a 5xx. A whole
/// body with other bytes, or one the SDK's checksum validation refused, is
/// corruption: retried too, so an endpoint that corrupts now and then is
/// told from one that always does.
async fn probe_gets(cx: &Cx<'_>, key: &str, body: &[u8]) -> ProbeGets {
    let (mut cut, mut corrupt) = (0u32, 0u32);
    let got = loop {
        let got = retrying(|| cx.client.get_object().bucket(&cx.bucket).key(key).send()).await;
        let o = match got {
            Ok(o) => o,
            Err(e) => break Err(answer(&e)),
        };
        let last = match o.body.collect().await {
            Ok(b) => {
                if b.into_bytes()[..] == body[..] {
                    break Ok(None);
                }
                corrupt += 1;
                "it returned other bytes than were PUT".to_string()
            }
            Err(e) if crate::client::is_checksum_mismatch(&e) => {
                corrupt += 1;
                format!("{e}")
            }
            Err(e) => {
                cut += 1;
                format!("{e}")
            }
        };
        if cut + corrupt >= GETS {
            break Ok(Some(last));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    ProbeGets { got, cut, corrupt }
}

async fn delete_probe(cx: &Cx<'_>, key: &str) -> Result<(), Answer> {
    retrying(|| cx.client.delete_object().bucket(&cx.bucket).key(key).send())
        .await
        .map(|_| ())
        .map_err(|e| answer(&e))
}

fn short(a: &Answer) -> String {
    match (a.status, a.code.as_deref()) {
        (Some(s), Some(c)) => format!("HTTP {s} {c}"),
        (Some(s), None) => format!("HTTP {s}"),
        _ => a.chain.clone(),
    }
}

/// The signed skew between the endpoint's clock and ours, from the latest
/// `Date` header: positive when the server is ahead.
fn skew(cx: &Cx<'_>) -> Option<f64> {
    let seen = cx.seen.lock().unwrap_or_else(|e| e.into_inner());
    let (date, local) = seen.date.as_ref()?;
    let server = httpdate::parse_http_date(date).ok()?;
    let s = match server.duration_since(*local) {
        Ok(ahead) => ahead.as_secs_f64(),
        Err(behind) => -behind.duration().as_secs_f64(),
    };
    // The header's whole seconds drop 0.5 s on average.
    Some(s + 0.5)
}

fn skew_text(cx: &Cx<'_>) -> Option<String> {
    let s = skew(cx)?;
    let mag = humantime::format_duration(Duration::from_secs(s.abs().round() as u64));
    Some(if s >= 0.0 {
        format!("the endpoint's clock is {mag} ahead of this machine's")
    } else {
        format!("the endpoint's clock is {mag} behind this machine's")
    })
}

fn check_clock(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    if cx.skew_reported.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let (Some(s), Some(text)) = (skew(cx), skew_text(cx)) else {
        return;
    };
    // The Date header has whole seconds: up to 1 s of the skew is rounding.
    let abs = Duration::from_secs_f64(s.abs());
    let f = if abs > MAX_SKEW {
        cx.finding(
            Severity::Error,
            "clock",
            format!("{text}: SigV4 rejects requests more than 15 minutes off; sync this machine's clock (chrony, systemd-timesyncd or ntpdate)"),
        )
    } else if abs > WARN_SKEW {
        cx.finding(
            Severity::Warn,
            "clock",
            format!("{text}: requests still sign, but sync this machine's clock (chrony, systemd-timesyncd) so timestamps in the report line up"),
        )
    } else {
        cx.finding(
            Severity::Ok,
            "clock",
            "the endpoint's clock agrees with this machine's within 5 s".to_string(),
        )
    };
    out.push(f);
}

/// Cross-AZ access adds a round trip to every request to a directory bucket.
fn check_zone(cx: &Cx<'_>, env: &Environment, out: &mut Vec<Finding>) {
    if !cx.directory() {
        return;
    }
    let (Some(client), Some(bucket)) = (
        env.client_zone.as_deref(),
        crate::s3::bucket::zone_id(&cx.bucket),
    ) else {
        return;
    };
    out.push(if client == bucket {
        cx.finding(
            Severity::Ok,
            "zone",
            format!("this client runs in the bucket's zone {bucket}"),
        )
    } else {
        cx.finding(
            Severity::Warn,
            "zone",
            format!("this client runs in zone {client} but the bucket is in zone {bucket}: every request crosses Availability Zones and the Express latencies will not be representative; run the client in {bucket} (or create the bucket with `s3bench setup --zone-id {client}`)"),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::DateTime;

    fn creds(ak: &str, sk: &str, tok: &str, exp_secs: i64) -> SessionCredentials {
        SessionCredentials::builder()
            .access_key_id(ak)
            .secret_access_key(sk)
            .session_token(tok)
            .expiration(DateTime::from_secs(exp_secs))
            .build()
            .unwrap()
    }

    #[test]
    fn session_answers_are_checked() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            validate_session_credentials(Some(&creds("AK", "SK", "TOK", 1_000_300)), now),
            Ok(())
        );
        assert_eq!(
            validate_session_credentials(None, now).unwrap_err(),
            "the answer holds no Credentials element"
        );
        // What the SDK makes of moto's listing: empty strings, epoch expiry.
        assert_eq!(
            validate_session_credentials(Some(&creds("", "", "", 0)), now).unwrap_err(),
            "the answer has no access key, no secret key, no session token"
        );
        assert!(
            validate_session_credentials(Some(&creds("AK", "SK", "TOK", 999_999)), now)
                .unwrap_err()
                .contains("not in the future")
        );
    }

    #[test]
    fn kinds_follow_head_bucket() {
        assert!(kind_problem(true, "b--use1-az4--x-s3", None, None).is_some());
        assert!(
            kind_problem(false, "b", Some("AvailabilityZone"), Some("use1-az4"))
                .unwrap()
                .contains("directory bucket")
        );
        assert!(
            kind_problem(
                true,
                "b--use1-az4--x-s3",
                Some("AvailabilityZone"),
                Some("use1-az6")
            )
            .unwrap()
            .contains("zone use1-az4 but HeadBucket reports zone use1-az6")
        );
        assert_eq!(
            kind_problem(
                true,
                "b--use1-az4--x-s3",
                Some("AvailabilityZone"),
                Some("use1-az4")
            ),
            None
        );
        assert_eq!(kind_problem(false, "b", None, None), None);
    }

    #[test]
    fn provider_names_come_from_debug_without_the_secret() {
        let c = aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "Environment");
        assert_eq!(provider_name(&c), "Environment");
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    /// A throttle is retried like the other transient answers, and one that
    /// outlasts the retries is named for what it is.
    #[test]
    fn throttles_are_transient_and_named_when_they_persist() {
        for s in [429, 500, 502, 503, 504] {
            assert!(transient(s), "{s}");
        }
        for s in [400, 403, 404, 409, 412, 501] {
            assert!(!transient(s), "{s}");
        }
        let waited: Duration = (1..ATTEMPTS).map(backoff).sum();
        assert_eq!(waited, Duration::from_millis(13_000));
        let a = |status: u16, code: &str| Answer {
            status: Some(status),
            code: Some(code.into()),
            message: None,
            region_header: None,
            chain: String::new(),
        };
        assert_eq!(
            answer_text(&a(429, "TooManyRequests")),
            "the endpoint kept throttling (HTTP 429 TooManyRequests to all 10 attempts over about 13 s)"
        );
        assert!(
            answer_text(&a(503, "SlowDown"))
                .starts_with("the endpoint kept throttling (HTTP 503 SlowDown")
        );
        assert_eq!(
            answer_text(&a(500, "InternalError")),
            "HTTP 500 InternalError"
        );
    }
}
