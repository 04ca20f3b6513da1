//! Value parsers the subcommands' flags share, so a duration or a time is
//! read (and its mistake said) the same way on every command.

use std::time::{Duration, SystemTime};

use crate::exit::InputError;
use crate::s3::url::S3Url;

/// `30s`, `500ms`, `1h 5m`.
pub fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration like \"30s\" or \"500ms\": {e}"))
}

/// An RFC 3339 UTC time like `2026-11-29T12:00:00Z`.
pub fn time(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("expected a UTC time like 2026-11-29T12:00:00Z: {e}"))
}

/// `--results s3://BUCKET/PREFIX/`, when given.
pub fn results_url(url: Option<&str>) -> Result<Option<S3Url>, InputError> {
    url.map(S3Url::parse)
        .transpose()
        .map_err(|e| InputError(format!("--results: {e}")))
}
