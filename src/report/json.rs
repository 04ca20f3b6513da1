//! `result.json`: the stored form of a [`RunResult`].

use std::path::Path;

use anyhow::{Context as _, bail};

use crate::report::model::{RunResult, SCHEMA_VERSION};

/// The result as pretty-printed JSON.
pub fn to_json(r: &RunResult) -> String {
    // Every field is a plain struct, map, string or number: serializing cannot fail.
    serde_json::to_string_pretty(r).expect("a RunResult always serializes to JSON")
}

/// Reads a stored result, refusing files that are not s3bench results or
/// that a newer s3bench wrote in a layout this one does not know.
pub fn read_result(path: &Path) -> anyhow::Result<RunResult> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read result file {}", path.display()))?;
    parse_result(&text)
        .with_context(|| format!("{} is not a usable s3bench result", path.display()))
}

/// Parses a result from JSON text; see [`read_result`].
pub fn parse_result(text: &str) -> anyhow::Result<RunResult> {
    let value: serde_json::Value = serde_json::from_str(text).context("it is not valid JSON")?;
    let Some(version) = value.get("schema_version") else {
        bail!("it has no `schema_version` field, so it is not an s3bench result");
    };
    let Some(version) = version.as_u64() else {
        bail!("its `schema_version` is {version}, not a version number");
    };
    if version > u64::from(SCHEMA_VERSION) {
        bail!(
            "it has schema version {version}, newer than the version {SCHEMA_VERSION} this s3bench reads; \
             use a newer s3bench"
        );
    }
    if version < u64::from(SCHEMA_VERSION) {
        bail!(
            "it has schema version {version}, older than the version {SCHEMA_VERSION} this s3bench reads"
        );
    }
    serde_json::from_value(value).context("its fields do not match the result layout")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_result;

    fn chain(e: &anyhow::Error) -> String {
        format!("{e:#}")
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        let r = sample_result();
        std::fs::write(&path, to_json(&r)).unwrap();
        assert_eq!(read_result(&path).unwrap(), r);
    }

    #[test]
    fn refuses_a_newer_version_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("future.json");
        let mut v = serde_json::to_value(sample_result()).unwrap();
        v["schema_version"] = (SCHEMA_VERSION + 1).into();
        std::fs::write(&path, v.to_string()).unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(e.contains("future.json"), "{e}");
        assert!(e.contains("newer"), "{e}");
    }

    #[test]
    fn refuses_other_json_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("package.json");
        std::fs::write(&path, r#"{"name": "left-pad"}"#).unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(
            e.contains("package.json") && e.contains("not an s3bench result"),
            "{e}"
        );

        std::fs::write(&path, "not json").unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(
            e.contains("package.json") && e.contains("not valid JSON"),
            "{e}"
        );

        std::fs::write(&path, r#"{"schema_version": "1"}"#).unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(e.contains("not a version number"), "{e}");

        std::fs::write(&path, r#"{"schema_version": 1, "run_id": 3}"#).unwrap();
        let e = chain(&read_result(&path).unwrap_err());
        assert!(e.contains("do not match the result layout"), "{e}");
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let e = chain(&read_result(Path::new("/nonexistent/result.json")).unwrap_err());
        assert!(
            e.contains("cannot read result file /nonexistent/result.json"),
            "{e}"
        );
    }
}
