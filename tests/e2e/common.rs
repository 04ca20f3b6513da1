//! Helpers shared by the end-to-end tests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use s3bench::server::{EmbeddedServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server with default settings on 127.0.0.1:0.
pub fn start_server() -> EmbeddedServer {
    EmbeddedServer::start(ServerConfig::default()).expect("the embedded endpoint starts")
}

/// The SDK config every test client starts from.
pub fn config(server: &EmbeddedServer) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(server.region().to_string()))
        .endpoint_url(server.endpoint())
        .credentials_provider(Credentials::new(
            server.access_key(),
            server.secret_key(),
            None,
            None,
            "test",
        ))
        .force_path_style(true)
}

/// SDK defaults: request checksums on, so streaming bodies go out aws-chunked.
pub fn client(server: &EmbeddedServer) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(config(server).build())
}

/// Checksums only when required: plain bodies.
pub fn plain_client(server: &EmbeddedServer) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        config(server)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build(),
    )
}

/// Like [`client`] but without retries, so every error reaches the test.
pub fn no_retry_client(server: &EmbeddedServer) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(config(server).retry_config(RetryConfig::disabled()).build())
}

/// One HTTP/1.1 request over a fresh connection; returns status and body.
pub async fn raw_request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    raw_request_with_body(addr, method, path_and_query, headers, &[]).await
}

/// [`raw_request`] with a request body (its Content-Length is added).
pub async fn raw_request_with_body(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req =
        format!("{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write body");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Requests the run's preflight sent to `target` as S3 operation `op`
/// (`PutObject`, `CreateSession`, ...): the endpoint counts them too, so
/// its counts are the phases' plus these.
pub fn preflight(r: &s3bench::report::model::RunResult, target: &str, op: &str) -> u64 {
    r.targets
        .iter()
        .find(|t| t.name == target)
        .unwrap_or_else(|| panic!("target {target} missing"))
        .preflight_requests
        .get(op)
        .copied()
        .unwrap_or(0)
}
