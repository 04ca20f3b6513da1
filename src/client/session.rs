//! CreateSession accounting.
//!
//! The SDK's directory-bucket identity provider sends CreateSession through
//! its own internal client, which interceptors never see, but it reuses the
//! configured HTTP client. So we wrap the HTTP client: every request whose
//! query is `?session` is a CreateSession, timed here on its own.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use hdrhistogram::Histogram;
use std::sync::Arc;

/// Per-target CreateSession counters, shared by the target's clients on all threads.
#[derive(Debug)]
pub struct SessionProbe {
    started: AtomicU64,
    finished: AtomicU64,
    errors: AtomicU64,
    /// Failed CreateSessions since the probe was made (never taken).
    errors_total: AtomicU64,
    /// CreateSession latency in ns. Locked once per CreateSession (every
    /// few minutes per client), never per data request.
    latency: Mutex<Histogram<u64>>,
}

impl Default for SessionProbe {
    fn default() -> Self {
        let h = crate::stats::recorder::latency_hist();
        SessionProbe {
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            errors_total: AtomicU64::new(0),
            latency: Mutex::new(h),
        }
    }
}

/// What a probe saw between two snapshots.
#[derive(Debug, Clone)]
pub struct SessionDelta {
    pub count: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
}

impl SessionProbe {
    /// A value that changes whenever a CreateSession starts or is in
    /// progress: a request whose start and end markers differ overlapped one.
    #[inline]
    pub fn marker(&self) -> (u64, u64) {
        (
            self.started.load(Ordering::Relaxed),
            self.finished.load(Ordering::Relaxed),
        )
    }

    /// True when a request that began at `before` and ended at `after`
    /// overlapped a CreateSession (one was in progress at its start or
    /// started during it).
    #[inline]
    pub fn overlapped(before: (u64, u64), after: (u64, u64)) -> bool {
        before.0 != before.1 || after.0 != before.0
    }

    /// CreateSessions finished and failed since the probe was made, for a
    /// live exporter (`take` does not reset these).
    pub fn totals(&self) -> (u64, u64) {
        (
            self.finished.load(Ordering::Relaxed),
            self.errors_total.load(Ordering::Relaxed),
        )
    }

    /// Takes everything recorded since the last call.
    pub fn take(&self) -> SessionDelta {
        let mut h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let latency = h.clone();
        h.reset();
        SessionDelta {
            count: latency.len(),
            errors: self.errors.swap(0, Ordering::Relaxed),
            latency,
        }
    }

    fn finish(&self, start: Instant, ok: bool) {
        let ns = start.elapsed().as_nanos() as u64;
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
            self.errors_total.fetch_add(1, Ordering::Relaxed);
        }
        crate::stats::recorder::record(
            &mut self.latency.lock().unwrap_or_else(|e| e.into_inner()),
            ns,
        );
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}

fn is_create_session(uri: &str) -> bool {
    match uri.split_once('?') {
        Some((_, q)) => q.split('&').any(|p| p == "session" || p == "session="),
        None => false,
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CountingHttpClient {
    inner: SharedHttpClient,
    probe: Arc<SessionProbe>,
    /// The target's bucket, to tell its key in a request's path (op log).
    bucket: Arc<str>,
}

impl CountingHttpClient {
    pub(crate) fn wrap(
        inner: SharedHttpClient,
        probe: Arc<SessionProbe>,
        bucket: &str,
    ) -> SharedHttpClient {
        SharedHttpClient::new(CountingHttpClient {
            inner,
            probe,
            bucket: Arc::from(bucket),
        })
    }
}

impl HttpClient for CountingHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CountingConnector {
            inner: self.inner.http_connector(settings, components),
            probe: self.probe.clone(),
            bucket: self.bucket.clone(),
        })
    }
}

#[derive(Debug)]
struct CountingConnector {
    inner: SharedHttpConnector,
    probe: Arc<SessionProbe>,
    bucket: Arc<str>,
}

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let session = is_create_session(request.uri());
        // With `run --op-log`, every request is logged (super::oplog).
        let logged = super::oplog::outgoing(&request, &self.bucket, session);
        if !session && logged.is_none() {
            return self.inner.call(request);
        }
        let probe = session.then(|| self.probe.clone());
        if let Some(p) = &probe {
            p.started.fetch_add(1, Ordering::Relaxed);
        }
        let start = Instant::now();
        let fut = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let res = fut.await;
            if let Some(p) = probe {
                let ok = matches!(&res, Ok(r) if r.status().is_success());
                p.finish(start, ok);
            }
            match (logged, res) {
                (Some(l), Ok(r)) => Ok(l.answered(r)),
                (Some(l), Err(e)) => {
                    l.failed(&e);
                    Err(e)
                }
                (None, res) => res,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_create_session() {
        assert!(is_create_session(
            "http://127.0.0.1:1/b--use1-az4--x-s3/?session"
        ));
        assert!(is_create_session(
            "https://b.s3express-use1-az4.us-east-1.amazonaws.com/?session"
        ));
        assert!(!is_create_session(
            "http://127.0.0.1:1/b/key?x-id=GetObject"
        ));
        assert!(!is_create_session("http://127.0.0.1:1/b/sessions"));
    }

    #[test]
    fn overlap_marker() {
        assert!(!SessionProbe::overlapped((3, 3), (3, 3)));
        assert!(SessionProbe::overlapped((4, 3), (4, 4)));
        assert!(SessionProbe::overlapped((3, 3), (4, 4)));
    }
}
