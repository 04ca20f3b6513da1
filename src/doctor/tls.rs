//! Which CA certificates the HTTPS client trusts. aws-sdk-s3's rustls client
//! loads them with `rustls-native-certs`, which reads `SSL_CERT_FILE` /
//! `SSL_CERT_DIR` when set and the system store otherwise; s3bench never
//! turns certificate checks off. A target's `ca_file` replaces that store
//! for the target, on the SDK's client and on the direct path alike.

use std::sync::OnceLock;

use super::{Finding, Severity};
use crate::client::TargetConfig;

/// Loading the system store takes a while: once per process.
fn native_roots() -> &'static (usize, Vec<String>) {
    static ROOTS: OnceLock<(usize, Vec<String>)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let r = rustls_native_certs::load_native_certs();
        (
            r.certs.len(),
            r.errors.iter().map(|e| e.to_string()).collect(),
        )
    })
}

/// One finding for a target reached over HTTPS (AWS itself when `endpoint`
/// is None); None for plain-HTTP endpoints.
pub(crate) fn finding(target: &str, t: &TargetConfig) -> Option<Finding> {
    if t.endpoint
        .as_deref()
        .is_some_and(|e| !e.to_ascii_lowercase().starts_with("https://"))
    {
        return None;
    }
    if let Some(ca) = &t.spec.ca_file {
        return Some(Finding::new(
            Severity::Ok,
            "tls",
            format!(
                "target '{target}': TLS trusts the {} CA certificate(s) of ca_file {} (instead of the system's store)",
                ca.certificates,
                ca.path.display()
            ),
        ));
    }
    let source = match (
        std::env::var("SSL_CERT_FILE"),
        std::env::var("SSL_CERT_DIR"),
    ) {
        (Ok(f), _) => format!("SSL_CERT_FILE={f}"),
        (_, Ok(d)) => format!("SSL_CERT_DIR={d}"),
        _ => "the system's certificate store".to_string(),
    };
    let (count, errors) = native_roots();
    let f = if *count == 0 {
        Finding::new(
            Severity::Error,
            "tls",
            format!(
                "target '{target}': TLS trusts no CA certificate ({source} gave none{}): point SSL_CERT_FILE at a PEM bundle (e.g. /etc/ssl/certs/ca-certificates.crt) or install ca-certificates",
                errors.first().map(|e| format!(": {e}")).unwrap_or_default()
            ),
        )
    } else {
        Finding::new(
            Severity::Ok,
            "tls",
            format!(
                "target '{target}': TLS trusts {count} CA certificates from {source}; to trust another CA (a private endpoint), set SSL_CERT_FILE to its PEM bundle"
            ),
        )
    };
    Some(f)
}
