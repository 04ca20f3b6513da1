//! Value parsers the subcommands' flags share, so a duration or a time is
//! read (and its mistake said) the same way on every command.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::exit::InputError;
use crate::s3::url::S3Url;

/// `30s`, `500ms`, `1h 5m`, `1.5s`: the scenario file's rule
/// ([`crate::units::parse_duration`]), so `abc` and a bare `3` are said in
/// words (no parser offsets, no "3sec").
pub fn duration(s: &str) -> Result<Duration, String> {
    crate::units::parse_duration(s).map_err(|e| e.to_string())
}

/// An RFC 3339 UTC time like `2026-11-29T12:00:00Z`.
pub fn time(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("expected a UTC time like 2026-11-29T12:00:00Z: {e}"))
}

/// A result.json the user named, read: a missing, unreadable or unusable
/// file is bad input (exit code 2), like a missing scenario file.
pub fn result_file(path: &Path) -> Result<crate::report::model::RunResult, InputError> {
    crate::report::json::read_result(path).map_err(|e| InputError(format!("{e:#}")))
}

/// Files the user named exist: a missing one is bad input (exit code 2),
/// said before anything else happens.
pub fn existing_files<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<(), InputError> {
    for p in paths {
        if !p.is_file() {
            let why = if p.exists() {
                "it is not a file"
            } else {
                "no such file"
            };
            return Err(InputError(format!("cannot read {}: {why}", p.display())));
        }
    }
    Ok(())
}

/// `--results s3://BUCKET/PREFIX/`, when given.
pub fn results_url(url: Option<&str>) -> Result<Option<S3Url>, InputError> {
    url.map(S3Url::parse)
        .transpose()
        .map_err(|e| InputError(format!("--results: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_mistakes_are_said_in_words() {
        assert_eq!(duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        let abc = duration("abc").unwrap_err();
        assert!(abc.contains("\"30s\"") && abc.contains("\"abc\""), "{abc}");
        assert!(!abc.contains(" at 0"), "{abc}");
        let bare = duration("3").unwrap_err();
        assert!(bare.contains("add a unit: ms, s, m or h"), "{bare}");
        assert!(!bare.contains("3sec"), "{bare}");
    }
}
