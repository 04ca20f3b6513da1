//! SDK clients for the targets: one `aws-sdk-s3` Client per target per engine
//! thread, configured for measurement (retries off, checksums only when
//! required, stalled-stream protection off unless the scenario says
//! otherwise), plus the pieces every request needs: request bodies from the
//! shared synthetic pattern, error classification, and CreateSession
//! accounting.

mod attempts;
mod body;
pub mod checksum;
pub mod direct;
mod errors;
mod object;
mod oplog;
mod resolve;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_smithy_http_client::tls;

pub use attempts::take_thread_log;
pub use body::synthetic_body;
pub use errors::{
    ErrorKind, SESSION_AUTH_ENV, as_plain_bucket, classify, describe_preflight,
    is_checksum_mismatch, session_auth_disabled,
};
pub use object::{ObjectClient, Outcome, S3Client, WriteCondition, sdk_algorithm};
pub use session::{SessionDelta, SessionProbe};

use crate::scenario::{ChecksumMode, ClientSettings, TargetSpec};

/// Where a target's credentials come from.
#[derive(Clone)]
pub enum Auth {
    /// aws-config's default chain (env, profiles, SSO, instance roles), once per target.
    Shared(Box<aws_config::SdkConfig>),
    /// Fixed keys (the embedded endpoint).
    Static(Credentials),
}

/// Everything needed to build clients for one target; cheap to clone into threads.
#[derive(Clone)]
pub struct TargetConfig {
    pub spec: TargetSpec,
    pub endpoint: Option<String>,
    pub path_style: bool,
    pub auth: Auth,
    pub settings: ClientSettings,
    /// Counts and times every CreateSession for this target (all threads).
    pub probe: Arc<SessionProbe>,
    /// Connection pool size per client (the concurrency it will carry).
    pub pool_size: usize,
    /// Engine threads whose direct request path is up for this target.
    pub direct_threads: Arc<AtomicUsize>,
    /// Whole-object GETs checked (or not) against a response checksum.
    pub body_checks: Arc<checksum::BodyChecks>,
    /// The endpoint honours `If-None-Match: *` (the preflight tried it):
    /// the data set is then written create-only, so a colliding run can
    /// never overwrite an object that is already there.
    pub create_only: bool,
    /// `run --op-log`: clients tag each request with its operation and
    /// attempt for the log.
    pub op_log: bool,
}

impl TargetConfig {
    /// Loads aws-config's default chain for a real target (no network until the first request).
    pub async fn from_environment(spec: &TargetSpec, settings: &ClientSettings) -> TargetConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(spec.region.clone()));
        if let Some(p) = &spec.profile {
            loader = loader.profile_name(p);
        }
        let sdk = loader.load().await;
        TargetConfig {
            spec: spec.clone(),
            endpoint: spec.endpoint.clone(),
            path_style: spec.path_style,
            auth: Auth::Shared(Box::new(sdk)),
            settings: settings.clone(),
            probe: Arc::new(SessionProbe::default()),
            pool_size: 64,
            direct_threads: Arc::new(AtomicUsize::new(0)),
            body_checks: Arc::default(),
            create_only: false,
            op_log: false,
        }
    }

    /// A target served by a local endpoint with fixed keys.
    pub fn with_static_keys(
        spec: &TargetSpec,
        settings: &ClientSettings,
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
    ) -> TargetConfig {
        TargetConfig {
            spec: spec.clone(),
            endpoint: Some(endpoint.to_string()),
            path_style: true,
            auth: Auth::Static(Credentials::new(
                access_key,
                secret_key,
                None,
                None,
                "s3bench-static",
            )),
            settings: settings.clone(),
            probe: Arc::new(SessionProbe::default()),
            pool_size: 64,
            direct_threads: Arc::new(AtomicUsize::new(0)),
            body_checks: Arc::default(),
            create_only: false,
            op_log: false,
        }
    }

    /// Whether S3 Express session auth is off for this directory target
    /// (aws-sdk-s3's `AWS_S3_DISABLE_EXPRESS_SESSION_AUTH=true`): no
    /// CreateSession, every request signed with the base credentials, so
    /// the directory-bucket workload runs as on a plain bucket. This is how
    /// to run it against a server without CreateSession (MinIO, moto).
    pub fn session_auth_off(&self) -> bool {
        self.spec.kind == crate::scenario::TargetKind::Directory && session_auth_disabled()
    }

    /// How GET/HEAD/PUT/DELETE go out with `threads` engine threads, for
    /// the report: what the engine's threads built.
    pub fn request_path(&self, threads: usize) -> String {
        let n = self.direct_threads.load(Ordering::Relaxed);
        let path = if n == 0 {
            "aws-sdk-s3"
        } else if n >= threads {
            "direct"
        } else {
            "mixed"
        };
        path.to_string()
    }

    /// Builds a new Client. Call it on the runtime that will drive it: its
    /// connection pool's background tasks live there. A new Client also has
    /// its own directory-bucket session cache.
    pub fn build_client(&self) -> aws_sdk_s3::Client {
        let s = &self.settings;
        let mut http = aws_smithy_http_client::Builder::new()
            .pool_max_idle_per_host(self.pool_size.max(1))
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ));
        if let Some(ca) = &self.spec.ca_file {
            // The target's CAs instead of the system's store.
            let store = tls::TrustStore::empty().with_pem_certificate(ca.pem.to_vec());
            if let Ok(ctx) = tls::TlsContext::builder().with_trust_store(store).build() {
                http = http.tls_context(ctx);
            }
        }
        let http = match self.spec.resolve {
            Some(ip) => http.build_with_resolver(resolve::FixedDns(ip)),
            None => http.build_https(),
        };
        let http = session::CountingHttpClient::wrap(http, self.probe.clone(), &self.spec.bucket);
        let mut b = match &self.auth {
            Auth::Shared(sdk) => aws_sdk_s3::config::Builder::from(&**sdk),
            Auth::Static(c) => aws_sdk_s3::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .credentials_provider(c.clone()),
        };
        b = b
            .region(Region::new(self.spec.region.clone()))
            .http_client(http)
            .retry_config(if s.max_attempts <= 1 {
                RetryConfig::disabled()
            } else {
                RetryConfig::standard().with_max_attempts(s.max_attempts)
            })
            .stalled_stream_protection(if s.stalled_stream_protection {
                StalledStreamProtectionConfig::enabled().build()
            } else {
                StalledStreamProtectionConfig::disabled()
            })
            .timeout_config({
                let mut t = TimeoutConfig::builder().connect_timeout(s.connect_timeout);
                if let Some(op) = s.operation_timeout {
                    t = t.operation_timeout(op);
                }
                t.build()
            })
            .force_path_style(self.path_style);
        // The algorithm itself is named on each upload (`S3Client`).
        b = match s.checksums {
            ChecksumMode::None => b
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired),
            _ => b
                .request_checksum_calculation(RequestChecksumCalculation::WhenSupported)
                .response_checksum_validation(ResponseChecksumValidation::WhenSupported),
        };
        if let Some(e) = &self.endpoint {
            b = b.endpoint_url(e);
        }
        if s.max_attempts > 1 {
            b = b.interceptor(attempts::AttemptTimer);
        }
        if self.op_log {
            b = b.interceptor(oplog::OpTagger);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }
}
