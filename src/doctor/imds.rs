//! The client's Availability Zone ID from EC2 instance metadata (IMDSv2:
//! `PUT /latest/api/token`, then `GET
//! /latest/meta-data/placement/availability-zone-id`), through aws-config's
//! IMDS client, which also honours `AWS_EC2_METADATA_SERVICE_ENDPOINT` (a test
//! points it at a fake IMDS on 127.0.0.1) and `AWS_EC2_METADATA_DISABLED`.

use std::time::Duration;

/// Off EC2 nothing answers 169.254.169.254: give up quickly and quietly.
const IMDS_TIMEOUT: Duration = Duration::from_millis(300);

/// The zone ID (`use1-az4`), or None off EC2/EKS, when IMDS is disabled or
/// does not answer within about 300 ms. Never an error: the zone check is
/// skipped silently where there is no instance metadata.
pub async fn client_zone_id() -> Option<String> {
    if std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    let client = aws_config::imds::Client::builder()
        .connect_timeout(IMDS_TIMEOUT)
        .read_timeout(IMDS_TIMEOUT)
        .max_attempts(1)
        .build();
    // Token and metadata are two round trips; bound both together.
    let got = tokio::time::timeout(
        IMDS_TIMEOUT * 3,
        client.get("/latest/meta-data/placement/availability-zone-id"),
    )
    .await;
    match got {
        Ok(Ok(zone)) => {
            let zone = zone.as_ref().trim().to_string();
            // A zone ID is short and plain (use1-az4, usw2-lax1-az1).
            let plain = !zone.is_empty()
                && zone.len() <= 32
                && zone
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            plain.then_some(zone)
        }
        Ok(Err(e)) => {
            tracing::debug!("no zone ID from instance metadata: {e}");
            None
        }
        Err(_) => {
            tracing::debug!("instance metadata did not answer in time");
            None
        }
    }
}
