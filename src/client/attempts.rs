//! Per-attempt timing when retries are on. The operation's latency (what
//! the worker measures) then spans all its attempts; this interceptor times
//! each attempt on its own so both are reported. It is only installed when
//! `max_attempts > 1`, so the default path pays nothing for it.
//!
//! Engine threads each drive one current-thread runtime, so an attempt's
//! interceptor runs on the thread of the worker that sent it: a
//! thread-local log needs no lock.

use std::cell::RefCell;
use std::time::Instant;

use aws_sdk_s3::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use crate::stats::recorder::AttemptLog;

thread_local! {
    static LOG: RefCell<AttemptLog> = RefCell::new(AttemptLog::default());
}

/// Takes what this thread's clients recorded since the last call.
pub fn take_thread_log() -> AttemptLog {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

#[derive(Debug, Clone)]
struct AttemptStart(Instant);

impl Storable for AttemptStart {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
pub(crate) struct AttemptTimer;

impl Intercept for AttemptTimer {
    fn name(&self) -> &'static str {
        "s3bench-attempt-timer"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(AttemptStart(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(AttemptStart(start)) = cfg.load::<AttemptStart>() {
            let ns = start.elapsed().as_nanos() as u64;
            let op = cfg.load::<Metadata>().map_or("unknown", |m| m.name());
            let retry = cfg
                .load::<RequestAttempts>()
                .is_some_and(|a| a.attempts() > 1);
            LOG.with(|l| l.borrow_mut().record(op, ns, retry));
        }
        Ok(())
    }
}
