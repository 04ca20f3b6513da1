//! `s3bench setup`: create a matching pair, a General Purpose bucket `BASE`
//! and a directory bucket `BASE--AZID--x-s3` in one region, and hand back
//! the scenario's `[targets]` block; `--delete` removes such a pair when it
//! holds nothing but s3bench's own `s3bench/` keys.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketInfo, BucketLocationConstraint, BucketType, CreateBucketConfiguration, DataRedundancy,
    Delete, LocationInfo, LocationType, ObjectIdentifier,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use toml_edit::{DocumentMut, Item, Table, value};

use crate::exit::{ExitCode, InputError};

/// The prefix s3bench writes under; `--delete` removes only these keys.
const OWN_PREFIX: &str = "s3bench/";

/// What `s3bench setup` is asked to do.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// AWS region of both buckets, e.g. us-east-1.
    pub region: String,
    /// Availability Zone ID of the directory bucket, e.g. use1-az4.
    pub zone_id: String,
    /// Base name: the General Purpose bucket; the directory bucket is
    /// `BASE--ZONE--x-s3`.
    pub name: String,
    /// S3 endpoint override (an S3-compatible server); default: AWS.
    pub endpoint: Option<String>,
    /// aws-config profile for the credentials (default: the standard chain).
    pub profile: Option<String>,
    /// Write the `[targets]` block into this scenario (replacing its
    /// `[targets]`, keeping the rest) instead of printing it.
    pub scenario: Option<PathBuf>,
    /// Use buckets that already exist instead of refusing.
    pub reuse: bool,
    /// Delete the pair instead, only when it holds nothing but s3bench/ keys.
    pub delete: bool,
}

/// The two bucket names of a pair.
pub fn pair_names(base: &str, zone_id: &str) -> (String, String) {
    (base.to_string(), format!("{base}--{zone_id}--x-s3"))
}

/// The `[targets]` table of a pair: `standard` (general purpose) and
/// `express` (directory), as `s3bench validate` accepts it.
pub fn targets_table(a: &SetupOptions) -> Table {
    let (gp, dir) = pair_names(&a.name, &a.zone_id);
    let mut targets = Table::new();
    targets.set_implicit(true);
    for (name, kind, bucket) in [
        ("standard", "general-purpose", gp),
        ("express", "directory", dir),
    ] {
        let mut t = Table::new();
        t.insert("kind", value(kind));
        t.insert("bucket", value(bucket));
        t.insert("region", value(&a.region));
        if let Some(e) = &a.endpoint {
            t.insert("endpoint", value(e));
            if kind == "general-purpose" {
                // S3-compatible servers want path style; the SDK ignores it
                // for --x-s3 names anyway.
                t.insert("path_style", value(true));
            }
        }
        if let Some(p) = &a.profile {
            t.insert("profile", value(p));
        }
        targets.insert(name, Item::Table(t));
    }
    targets
}

/// The block to paste into a scenario.
pub fn targets_block(a: &SetupOptions) -> String {
    let mut doc = DocumentMut::new();
    doc.insert("targets", Item::Table(targets_table(a)));
    doc.to_string()
}

/// A minimal rest of a scenario, so the block is checked by the scenario
/// validator itself (names, zone ID, endpoint) before any bucket is made.
const CHECK_TAIL: &str = r#"
[dataset]
objects = 1
size = "4KiB"

[[phase]]
name = "check"
duration = "1s"
concurrency = 1
mix = [{ op = "get" }]
"#;

fn check_block(a: &SetupOptions) -> Result<(), InputError> {
    let text = format!("name = \"setup\"\n\n{}{CHECK_TAIL}", targets_block(a));
    crate::scenario::parse(&text, Path::new("<setup --name/--zone-id/--region>"))
        .map(|_| ())
        .map_err(|e| {
            InputError(format!(
                "the buckets s3bench setup would create are not valid:\n{e}"
            ))
        })
}

/// Replaces the scenario's `[targets]` with the pair's, keeping the rest of
/// the file (comments included) and each kept target's `embedded` table.
pub fn rewrite_scenario(text: &str, a: &SetupOptions) -> Result<String, InputError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| InputError(format!("the scenario is not valid TOML: {e}")))?;
    let mut targets = targets_table(a);
    let old = doc.get("targets").and_then(Item::as_table);
    // Keep the new tables where the old ones were.
    let position = old.and_then(|t| {
        t.iter()
            .filter_map(|(_, v)| v.as_table().and_then(Table::position))
            .min()
    });
    if let Some(old) = old {
        for (name, new) in targets.iter_mut() {
            if let (Some(emb), Some(new)) = (
                old.get(name.get())
                    .and_then(|t| t.get("embedded"))
                    .and_then(Item::as_table),
                new.as_table_mut(),
            ) {
                new.insert("embedded", Item::Table(emb.clone()));
            }
        }
    }
    if let Some(p) = position {
        targets.set_position(p);
        for (_, t) in targets.iter_mut() {
            if let Some(t) = t.as_table_mut() {
                t.set_position(p);
                for (_, sub) in t.iter_mut() {
                    if let Some(sub) = sub.as_table_mut() {
                        sub.set_position(p);
                    }
                }
            }
        }
    }
    doc.insert("targets", Item::Table(targets));
    Ok(doc.to_string())
}

async fn client(a: &SetupOptions) -> aws_sdk_s3::Client {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(a.region.clone()));
    if let Some(p) = &a.profile {
        loader = loader.profile_name(p);
    }
    let sdk = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&sdk);
    if let Some(e) = &a.endpoint {
        b = b.endpoint_url(e).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// Runs `s3bench setup`; returns the exit code.
pub async fn setup(a: SetupOptions) -> anyhow::Result<ExitCode> {
    check_block(&a)?;
    let c = client(&a).await;
    let (gp, dir) = pair_names(&a.name, &a.zone_id);
    if a.delete {
        return delete_pair(&c, &[dir, gp]).await;
    }
    // Look before creating either, so a refusal leaves no half pair.
    let mut existing = Vec::new();
    for b in [&gp, &dir] {
        match bucket_state(&c, b).await? {
            BucketState::Absent => {}
            BucketState::Ours => existing.push(b.clone()),
            BucketState::Foreign => {
                return Err(InputError(format!(
                    "bucket '{b}' exists and belongs to another account (HeadBucket answered 403): choose another --name"
                ))
                .into());
            }
        }
    }
    if !existing.is_empty() && !a.reuse {
        return Err(InputError(format!(
            "bucket{} {} already exist{}: s3bench setup creates new buckets only; pass --reuse to use {} as they are, or choose another --name",
            if existing.len() > 1 { "s" } else { "" },
            existing.iter().map(|b| format!("'{b}'")).collect::<Vec<_>>().join(" and "),
            if existing.len() > 1 { "" } else { "s" },
            if existing.len() > 1 { "them" } else { "it" },
        ))
        .into());
    }
    create_pair(&c, &a, &gp, &dir, &existing).await?;
    for b in &existing {
        eprintln!("reusing bucket {b}");
    }
    match &a.scenario {
        None => print!("{}", targets_block(&a)),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let new = rewrite_scenario(&text, &a)?;
            crate::scenario::parse(&new, path).map_err(|e| {
                InputError(format!(
                    "{} would not be valid with the new [targets], left unchanged:\n{e}",
                    path.display()
                ))
            })?;
            // Write beside it and rename, so a crash never leaves half a file.
            let tmp = path.with_extension("toml.s3bench-setup");
            std::fs::write(&tmp, new).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
            eprintln!("wrote the [targets] of {}", path.display());
        }
    }
    Ok(ExitCode::Success)
}

/// Creates the buckets of the pair not in `existing`: both or neither. The
/// directory bucket goes first, since a server without directory buckets
/// refuses it; a General Purpose bucket that then cannot be made takes the
/// new directory bucket with it.
async fn create_pair(
    c: &aws_sdk_s3::Client,
    a: &SetupOptions,
    gp: &str,
    dir: &str,
    existing: &[String],
) -> anyhow::Result<()> {
    let made_dir = !existing.iter().any(|b| b == dir);
    if made_dir {
        c.create_bucket()
            .bucket(dir)
            .create_bucket_configuration(directory_configuration(&a.zone_id))
            .send()
            .await
            .map_err(|e| directory_create_error(dir, &e))?;
    }
    if !existing.iter().any(|b| b == gp) {
        let mut req = c.create_bucket().bucket(gp);
        if a.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(a.region.as_str()))
                    .build(),
            );
        }
        if let Err(e) = req.send().await {
            let err = create_error(gp, &e);
            if !made_dir {
                return Err(err);
            }
            let undone = match c.delete_bucket().bucket(dir).send().await {
                Ok(_) => "the directory bucket made a moment ago was deleted again, so nothing was created".to_string(),
                Err(_) => "and the directory bucket made a moment ago could not be deleted: remove it with `s3bench setup --delete` (same --name, --zone-id and --region) or the console".to_string(),
            };
            return Err(InputError(format!("{err}; {undone}")).into());
        }
        eprintln!("created general purpose bucket {gp} in {}", a.region);
    }
    if made_dir {
        eprintln!(
            "created directory bucket {dir} in zone {} of {}",
            a.zone_id, a.region
        );
    }
    Ok(())
}

/// One sentence for a directory bucket the endpoint would not create,
/// saying what it lacks: aws-sdk-s3 opens an S3 Express session
/// (CreateSession) before CreateBucket of a `--x-s3` name, which a server
/// without directory buckets answers with an error (moto: NoSuchBucket),
/// or the server refuses the directory configuration itself.
fn directory_create_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    bucket: &str,
    e: &SdkError<E, HttpResponse>,
) -> anyhow::Error {
    let (status, code) = status_code(e);
    if status.is_some() && !matches!(status, Some(501) | Some(400)) {
        return create_error(bucket, e);
    }
    // The S3 error code behind a failed session, not the SDK's chain.
    const CODES: [&str; 6] = [
        "NoSuchBucket",
        "NotImplemented",
        "AccessDenied",
        "InvalidRequest",
        "InvalidBucketName",
        "MethodNotAllowed",
    ];
    let said = CODES
        .iter()
        .find(|c| code.contains(*c))
        .map(|c| c.to_string())
        .or(status.map(|s| format!("HTTP {s}")))
        .unwrap_or_else(|| "no S3 answer".to_string());
    let what = match status {
        None => format!(
            "aws-sdk-s3 opens an S3 Express session (CreateSession) before CreateBucket of a --x-s3 name, and the endpoint answered it {said}"
        ),
        Some(_) => format!("the endpoint refused the directory-bucket configuration ({said})"),
    };
    InputError(format!(
        "could not create directory bucket '{bucket}': the endpoint has no directory buckets (S3 Express One Zone): {what}; nothing was created"
    ))
    .into()
}

/// The CreateBucket configuration of a directory bucket in one zone.
pub fn directory_configuration(zone_id: &str) -> CreateBucketConfiguration {
    CreateBucketConfiguration::builder()
        .location(
            LocationInfo::builder()
                .r#type(LocationType::AvailabilityZone)
                .name(zone_id)
                .build(),
        )
        .bucket(
            BucketInfo::builder()
                .r#type(BucketType::Directory)
                .data_redundancy(DataRedundancy::SingleAvailabilityZone)
                .build(),
        )
        .build()
}

enum BucketState {
    Absent,
    Ours,
    Foreign,
}

fn status_code<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, HttpResponse>,
) -> (Option<u16>, String) {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let mut chain = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        chain.push_str(&x.to_string());
        chain.push_str("; ");
        cur = x.source();
    }
    let code = e.code().map(str::to_string).unwrap_or(chain);
    (status, code)
}

async fn bucket_state(c: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<BucketState> {
    match c.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(BucketState::Ours),
        Err(e) => {
            let (status, code) = status_code(&e);
            // A directory bucket's HeadBucket may first need a session,
            // whose NoSuchBucket then arrives without a status.
            if status == Some(404) || code.contains("NoSuchBucket") {
                Ok(BucketState::Absent)
            } else if status == Some(403) {
                Ok(BucketState::Foreign)
            } else {
                Err(InputError(crate::client::describe_preflight("setup", bucket, "S3", &e)).into())
            }
        }
    }
}

fn create_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    bucket: &str,
    e: &SdkError<E, HttpResponse>,
) -> anyhow::Error {
    let (status, code) = status_code(e);
    let msg = e.message().unwrap_or_default();
    InputError(match (status, code.as_str()) {
        (_, "BucketAlreadyExists") => {
            format!("bucket '{bucket}' is taken by another account: choose another --name")
        }
        (_, "BucketAlreadyOwnedByYou") => {
            format!("bucket '{bucket}' already exists in this account: pass --reuse to use it")
        }
        (Some(s), c) => format!("S3 refused to create '{bucket}' (HTTP {s} {c}: {msg})"),
        (None, c) => format!("could not create '{bucket}': {c}"),
    })
    .into()
}

/// Deletes each bucket that holds only `s3bench/` keys; refuses, before
/// deleting anything, when any bucket holds something else.
async fn delete_pair(c: &aws_sdk_s3::Client, buckets: &[String]) -> anyhow::Result<ExitCode> {
    let mut plan = Vec::new();
    for b in buckets {
        match bucket_state(c, b).await? {
            BucketState::Absent => {
                eprintln!("bucket {b} does not exist; nothing to delete");
                continue;
            }
            BucketState::Foreign => {
                return Err(InputError(format!(
                    "bucket '{b}' belongs to another account (403): not deleting anything"
                ))
                .into());
            }
            BucketState::Ours => {}
        }
        let keys = list_all(c, b).await?;
        let foreign: Vec<&String> = keys.iter().filter(|k| !k.starts_with(OWN_PREFIX)).collect();
        if let Some(first) = foreign.first() {
            return Err(InputError(format!(
                "bucket '{b}' holds {} object(s) outside {OWN_PREFIX} (e.g. '{first}'): s3bench deletes only buckets that hold nothing but its own keys; nothing was deleted",
                foreign.len()
            ))
            .into());
        }
        plan.push((b.clone(), keys));
    }
    for (b, keys) in plan {
        for chunk in keys.chunks(1000) {
            let ids = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()?;
            c.delete_objects()
                .bucket(&b)
                .delete(
                    Delete::builder()
                        .set_objects(Some(ids))
                        .quiet(true)
                        .build()?,
                )
                .send()
                .await
                .map_err(|e| create_error(&b, &e))
                .with_context(|| format!("deleting s3bench/ objects in '{b}'"))?;
        }
        abort_own_uploads(c, &b).await;
        c.delete_bucket()
            .bucket(&b)
            .send()
            .await
            .map_err(|e| create_error(&b, &e))
            .with_context(|| format!("deleting bucket '{b}'"))?;
        eprintln!(
            "deleted bucket {b} ({} s3bench/ object(s) first)",
            keys.len()
        );
    }
    Ok(ExitCode::Success)
}

async fn list_all(c: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| create_error(bucket, &e))
            .with_context(|| format!("listing '{bucket}'"))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        match page.next_continuation_token {
            Some(t) if page.is_truncated == Some(true) => token = Some(t),
            _ => return Ok(keys),
        }
    }
}

/// In-progress multipart uploads under s3bench/ keep a directory bucket
/// from being deleted. Best effort: an endpoint without
/// ListMultipartUploads simply has none to abort.
async fn abort_own_uploads(c: &aws_sdk_s3::Client, bucket: &str) {
    let Ok(list) = c
        .list_multipart_uploads()
        .bucket(bucket)
        .prefix(OWN_PREFIX)
        .send()
        .await
    else {
        return;
    };
    for u in list.uploads() {
        if let (Some(k), Some(id)) = (u.key(), u.upload_id())
            && k.starts_with(OWN_PREFIX)
        {
            let _ = c
                .abort_multipart_upload()
                .bucket(bucket)
                .key(k)
                .upload_id(id)
                .send()
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> SetupOptions {
        SetupOptions {
            region: "us-east-1".into(),
            zone_id: "use1-az4".into(),
            name: "bench".into(),
            endpoint: None,
            profile: Some("lab".into()),
            scenario: None,
            reuse: false,
            delete: false,
        }
    }

    #[test]
    fn block_is_a_valid_targets_table() {
        let a = args();
        let block = targets_block(&a);
        assert!(block.starts_with("[targets.standard]\n"), "{block}");
        assert!(
            block.contains("bucket = \"bench--use1-az4--x-s3\""),
            "{block}"
        );
        assert!(block.contains("profile = \"lab\""), "{block}");
        check_block(&a).unwrap();
        let bad = SetupOptions {
            zone_id: "az4".into(),
            ..args()
        };
        let e = check_block(&bad).unwrap_err().0;
        assert!(e.contains("is not a zone ID"), "{e}");
    }

    #[test]
    fn rewrite_keeps_the_rest_and_embedded_tables() {
        let text = "# top comment\nname = \"x\"\n\n[targets.standard]\nkind = \"general-purpose\"\nbucket = \"old\"\nregion = \"eu-west-1\"\n\n[targets.standard.embedded]\nlatency = \"5ms\"\n\n[dataset] # data\nobjects = 1\nsize = \"4KiB\"\n\n[[phase]]\nname = \"p\"\nduration = \"1s\"\nconcurrency = 1\nmix = [{ op = \"get\" }]\n";
        let new = rewrite_scenario(text, &args()).unwrap();
        assert!(new.starts_with("# top comment\nname = \"x\"\n"), "{new}");
        assert!(!new.contains("\"old\""), "{new}");
        assert!(
            new.contains("[targets.standard.embedded]\nlatency = \"5ms\""),
            "{new}"
        );
        assert!(new.contains("[dataset] # data"), "{new}");
        // The targets stay ahead of [dataset].
        assert!(
            new.find("[targets.express]").unwrap() < new.find("[dataset]").unwrap(),
            "{new}"
        );
        let plan = crate::scenario::parse(&new, Path::new("x.toml")).unwrap();
        assert_eq!(plan.targets.len(), 2);
        assert!(
            plan.targets
                .iter()
                .any(|t| t.bucket == "bench--use1-az4--x-s3")
        );
    }
}
