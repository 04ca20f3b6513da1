//! Bucket-name rules, written once for the scenario's validation and the
//! embedded endpoint's CreateBucket: General Purpose names
//! (docs: bucketnamingrules) and directory bucket names
//! `base--azid--x-s3` (docs: directory-bucket-naming-rules).

/// The two bucket kinds s3bench compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketKind {
    /// S3 General Purpose bucket (S3 Standard storage class).
    GeneralPurpose,
    /// S3 Express One Zone directory bucket.
    Directory,
}

impl BucketKind {
    /// The name used in scenario files and results.
    pub fn as_str(self) -> &'static str {
        match self {
            BucketKind::GeneralPurpose => "general-purpose",
            BucketKind::Directory => "directory",
        }
    }
}

/// Suffix every directory bucket name ends with.
pub const DIRECTORY_SUFFIX: &str = "--x-s3";

/// The kind a bucket name implies, or why it is no valid name of any kind.
/// The SDK decides by the name alone too (`--x-s3` is a directory bucket).
pub fn classify(name: &str) -> Result<BucketKind, String> {
    if name.ends_with(DIRECTORY_SUFFIX) {
        check_directory_bucket(name).map(|()| BucketKind::Directory)
    } else {
        check_general_purpose_bucket(name).map(|()| BucketKind::GeneralPurpose)
    }
}

/// The Availability Zone ID of a directory bucket name (`use1-az4` of
/// `bench--use1-az4--x-s3`; Local Zones: `usw2-lax1-az1`), or None when
/// the name holds no valid zone ID. The one place a bucket name's zone is
/// read (scenario validation, doctor, the Kubernetes generator, the
/// embedded endpoint).
pub fn zone_id(name: &str) -> Option<&str> {
    name.strip_suffix(DIRECTORY_SUFFIX)?
        .rsplit_once("--")
        .map(|(_, az)| az)
        .filter(|az| is_zone_id(az))
}

/// `base--azid--x-s3`, e.g. `bench--use1-az4--x-s3`.
pub fn check_directory_bucket(name: &str) -> Result<(), String> {
    let expected = |why: &str| {
        format!(
            "expected a directory bucket name like \"bench--use1-az4--x-s3\" (base--zone-id--x-s3), got {name:?}: {why}"
        )
    };
    let Some(stem) = name.strip_suffix("--x-s3") else {
        return Err(expected("it must end with --x-s3"));
    };
    let Some((base, zone)) = stem.rsplit_once("--") else {
        return Err(expected("the zone ID part (like use1-az4) is missing"));
    };
    if !(3..=63).contains(&name.len()) {
        return Err(expected("names are 3 to 63 characters long"));
    }
    if base.is_empty()
        || !base
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || !base.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(expected(
            "the base name takes lowercase letters, digits and hyphens, starting with a letter or digit",
        ));
    }
    if !is_zone_id(zone) {
        return Err(expected(&format!(
            "{zone:?} is not a zone ID like use1-az4 or usw2-az1"
        )));
    }
    Ok(())
}

/// `use1-az4`, `apne1-az4`, `usw2-lax1-az1`: a region code ending in a digit,
/// optional middle segments, and `az<digits>` last.
pub fn is_zone_id(zone: &str) -> bool {
    let segments: Vec<&str> = zone.split('-').collect();
    if segments.len() < 2 {
        return false;
    }
    let first = segments[0];
    let last = segments[segments.len() - 1];
    let region_code = first.len() >= 3
        && first.starts_with(|c: char| c.is_ascii_lowercase())
        && first.ends_with(|c: char| c.is_ascii_digit())
        && first
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let az = last
        .strip_prefix("az")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let middle = segments[1..segments.len() - 1].iter().all(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    region_code && az && middle
}

/// S3's general purpose bucket naming rules (the ones a typo breaks).
pub fn check_general_purpose_bucket(name: &str) -> Result<(), String> {
    let expected = |why: &str| {
        format!(
            "expected a general purpose bucket name like \"my-bench-bucket\", got {name:?}: {why}"
        )
    };
    if name.ends_with("--x-s3") {
        return Err(format!(
            "{name:?} is a directory bucket name (it ends with --x-s3); set kind = \"directory\" or use a general purpose bucket name"
        ));
    }
    if !(3..=63).contains(&name.len()) {
        return Err(expected("names are 3 to 63 characters long"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err(expected(
            "names take lowercase letters, digits, dots and hyphens",
        ));
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !name.starts_with(alnum) || !name.ends_with(alnum) {
        return Err(expected("names start and end with a letter or digit"));
    }
    if name.contains("..") {
        return Err(expected("two dots in a row are not allowed"));
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err(expected("names must not look like an IP address"));
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(expected(&format!("names must not start with {prefix:?}")));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", "--table-s3", ".mrap"] {
        if name.ends_with(suffix) {
            return Err(expected(&format!("names must not end with {suffix:?}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_zones() {
        assert_eq!(classify("my-bench-bucket"), Ok(BucketKind::GeneralPurpose));
        assert_eq!(classify("bench--use1-az4--x-s3"), Ok(BucketKind::Directory));
        assert_eq!(
            classify("b--usw2-lax1-az1--x-s3"),
            Ok(BucketKind::Directory)
        );
        assert_eq!(zone_id("bench--use1-az4--x-s3"), Some("use1-az4"));
        assert_eq!(zone_id("bench"), None);
        assert_eq!(zone_id("b--usw2-lax1-az1--x-s3"), Some("usw2-lax1-az1"));
        assert_eq!(zone_id("b--az4--x-s3"), None, "not a zone ID");
        assert_eq!(zone_id("b--USE1-AZ4--x-s3"), None);
        // The endpoint once accepted anything containing "-az"; one rule now.
        assert!(classify("bench--x-az--x-s3").is_err());
        assert!(classify("bench--x-s3").is_err());
        assert!(classify("My_Bucket").is_err());
        assert!(classify("192.168.1.1").is_err());
    }
}
