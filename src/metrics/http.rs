//! The small HTTP server of `--metrics-listen`: `GET /metrics` (Prometheus
//! text, or OpenMetrics when the `Accept` header asks for it), on hyper, on
//! the runtime that runs the run's coordinator (never an engine thread).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::Metrics;

/// `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The running server; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    metrics: Metrics,
}

impl MetricsServer {
    /// Binds `addr` now (an address in use is an error before the run) and
    /// serves on the current tokio runtime.
    pub(super) fn start(metrics: Metrics, addr: SocketAddr) -> std::io::Result<MetricsServer> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let m = metrics.clone();
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30));
            loop {
                let (stream, _) = tokio::select! {
                    _ = stopped.changed() => return,
                    a = listener.accept() => match a {
                        Ok(a) => a,
                        // Out of file descriptors and the like: try again shortly.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let m = m.clone();
                let service = service_fn(move |req| {
                    let m = m.clone();
                    async move { Ok::<_, Infallible>(respond(&m, &req)) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = conn => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        });
        Ok(MetricsServer {
            addr,
            stop,
            metrics,
        })
    }

    /// The address it listens on (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn respond(m: &Metrics, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, ctype: &str, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", ctype)
            .body(Full::new(Bytes::from(body)))
            .expect("a response with a valid status and header")
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "only GET\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            let openmetrics = req
                .headers()
                .get_all("accept")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("application/openmetrics-text"));
            let (ctype, body) = if openmetrics {
                (OPENMETRICS_CONTENT_TYPE, m.encode(true))
            } else {
                (
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                    m.encode(false),
                )
            };
            reply(StatusCode::OK, ctype, body)
        }
        "/" => reply(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "s3bench: live metrics of a run at /metrics\n".into(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: the metrics are at /metrics\n".into(),
        ),
    }
}
