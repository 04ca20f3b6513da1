//! `s3://BUCKET/PREFIX/` URLs as given on the command line.

use std::fmt;

/// A bucket and a key prefix. The prefix is empty or ends with `/`, so
/// appending a relative key never glues two names together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub prefix: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{url:?} is not an S3 URL: {why} (expected s3://BUCKET/PREFIX/)")]
pub struct S3UrlError {
    pub url: String,
    pub why: String,
}

impl S3Url {
    pub fn parse(url: &str) -> Result<S3Url, S3UrlError> {
        let err = |why: &str| S3UrlError {
            url: url.to_string(),
            why: why.to_string(),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| err("it does not start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(err("the bucket name is empty"));
        }
        // Bucket names: 3-63 of lowercase letters, digits, '-' and '.'
        // (directory buckets: the same plus the --zone--x-s3 suffix).
        if bucket.len() < 3 || bucket.len() > 63 {
            return Err(err("a bucket name has 3 to 63 characters"));
        }
        if let Some(c) = bucket
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
        {
            return Err(err(&format!(
                "the bucket name has {c:?}; only lowercase letters, digits, '-' and '.' are allowed"
            )));
        }
        if prefix.contains("//") {
            return Err(err("the prefix has an empty path segment (//)"));
        }
        if prefix.split('/').any(|s| s == "." || s == "..") {
            return Err(err("the prefix has a . or .. segment"));
        }
        let mut prefix = prefix.to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    /// `self` with `segment/` appended to the prefix.
    pub fn join(&self, segment: &str) -> S3Url {
        S3Url {
            bucket: self.bucket.clone(),
            prefix: format!("{}{}/", self.prefix, segment.trim_matches('/')),
        }
    }

    /// Key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The prefix's last segment (for `s3://B/P/RUN_ID/`: the run id).
    pub fn last_segment(&self) -> Option<&str> {
        self.prefix
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_s3_url_parses_and_explains() {
        let u = S3Url::parse("s3://bench-results/runs/2026").unwrap();
        assert_eq!(u.bucket, "bench-results");
        assert_eq!(u.prefix, "runs/2026/");
        assert_eq!(u.to_string(), "s3://bench-results/runs/2026/");
        assert_eq!(
            u.join("r1").key("shard-0/result.json"),
            "runs/2026/r1/shard-0/result.json"
        );
        assert_eq!(u.last_segment(), Some("2026"));
        let b = S3Url::parse("s3://bench--use1-az4--x-s3").unwrap();
        assert_eq!((b.prefix.as_str(), b.last_segment()), ("", None));
        assert_eq!(S3Url::parse("s3://abc/").unwrap().prefix, "");

        for (url, why) in [
            ("https://bucket/x", "does not start with s3://"),
            ("s3:///x", "bucket name is empty"),
            ("s3://ab/x", "3 to 63"),
            ("s3://My_Bucket/x", "'M'"),
            ("s3://bucket/a//b", "empty path segment"),
            ("s3://bucket/a/../b", ". or .."),
        ] {
            let e = S3Url::parse(url).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(url), "{url}: {e}");
        }
    }
}
