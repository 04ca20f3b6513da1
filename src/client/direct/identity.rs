//! Credentials for the direct path, cached per thread and refreshed before
//! they expire: the SDK client's credentials provider (aws-config's chain,
//! or fixed keys) for general purpose buckets; for a directory bucket a
//! session from CreateSession, sent through the SDK client so the session
//! probe counts and times it.
//!
//! One refresh at a time: the request that finds the credentials due for
//! refresh fetches new ones (its latency includes that, as with the SDK's
//! own identity cache); others keep using the current ones while they are
//! valid, and wait only when there are none.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::Notify;

use super::sign::Creds;
use crate::client::{ErrorKind, classify};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

enum Source {
    Base(SharedCredentialsProvider),
    Session {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

pub struct Identity {
    source: Source,
    current: RefCell<Option<Rc<Creds>>>,
    refreshing: Cell<bool>,
    notify: Notify,
}

impl Identity {
    pub fn base(provider: SharedCredentialsProvider) -> Identity {
        Identity::new(Source::Base(provider))
    }

    pub fn session(client: aws_sdk_s3::Client, bucket: String) -> Identity {
        Identity::new(Source::Session { client, bucket })
    }

    fn new(source: Source) -> Identity {
        Identity {
            source,
            current: RefCell::new(None),
            refreshing: Cell::new(false),
            notify: Notify::new(),
        }
    }

    /// Credentials to sign the next request with.
    pub async fn get(&self) -> Result<Rc<Creds>, ErrorKind> {
        loop {
            let now = SystemTime::now();
            if let Some(c) = self.current.borrow().as_ref()
                && (fresh(c, now) || (self.refreshing.get() && usable(c, now)))
            {
                return Ok(c.clone());
            }
            if self.refreshing.get() {
                // Single thread: nothing runs between the check and this
                // wait registering, so the refresher's wake-up is not missed.
                self.notify.notified().await;
                continue;
            }
            self.refreshing.set(true);
            let guard = Refreshing(self);
            // Boxed: CreateSession's SDK future is several KiB, and inline
            // it would be part of every direct request's future (and so of
            // every engine worker task) though it runs once per session.
            let r = Box::pin(self.fetch()).await;
            drop(guard);
            let c = Rc::new(r?);
            *self.current.borrow_mut() = Some(c.clone());
            return Ok(c);
        }
    }

    async fn fetch(&self) -> Result<Creds, ErrorKind> {
        let fetched = SystemTime::now();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        match &self.source {
            Source::Base(p) => {
                let c = p.provide_credentials().await.map_err(|e| ErrorKind {
                    key: format!("credentials: {e}"),
                    status: None,
                })?;
                Ok(Creds {
                    access_key: c.access_key_id().to_string(),
                    secret: c.secret_access_key().to_string(),
                    token: c
                        .session_token()
                        .map(|t| ("x-amz-security-token", t.to_string())),
                    expiry: c.expiry(),
                    fetched,
                    id,
                })
            }
            Source::Session { client, bucket } => {
                let out = client
                    .create_session()
                    .bucket(bucket)
                    .send()
                    .await
                    .map_err(|e| {
                        let mut k = classify(&e);
                        k.key = format!("CreateSession: {}", k.key);
                        k
                    })?;
                let Some(c) = out.credentials else {
                    return Err(ErrorKind {
                        key: "CreateSession: no credentials in the response".into(),
                        status: None,
                    });
                };
                let expiry = SystemTime::try_from(c.expiration).ok();
                Ok(Creds {
                    access_key: c.access_key_id,
                    secret: c.secret_access_key,
                    token: Some(("x-amz-s3session-token", c.session_token)),
                    expiry,
                    fetched,
                    id,
                })
            }
        }
    }
}

/// Resets the refresh flag and wakes waiters even when the refreshing
/// request is dropped (aborted at the end of a phase).
struct Refreshing<'a>(&'a Identity);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.refreshing.set(false);
        self.0.notify.notify_waiters();
    }
}

/// Not yet due for refresh: more than a fifth of the lifetime (at most a
/// minute) left.
fn fresh(c: &Creds, now: SystemTime) -> bool {
    let Some(exp) = c.expiry else { return true };
    let life = exp.duration_since(c.fetched).unwrap_or_default();
    let margin = (life / 5).min(Duration::from_secs(60));
    now + margin < exp
}

/// Still accepted by the server (with a second to spare).
fn usable(c: &Creds, now: SystemTime) -> bool {
    c.expiry
        .is_none_or(|exp| now + Duration::from_secs(1) < exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(life_s: u64, age_s: u64) -> (Creds, SystemTime) {
        let fetched = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        (
            Creds {
                access_key: "a".into(),
                secret: "s".into(),
                token: None,
                expiry: Some(fetched + Duration::from_secs(life_s)),
                fetched,
                id: 1,
            },
            fetched + Duration::from_secs(age_s),
        )
    }

    #[test]
    fn refresh_margins() {
        // A 5-minute session is refreshed in its last minute.
        let (c, now) = creds(300, 230);
        assert!(fresh(&c, now));
        let (c, now) = creds(300, 245);
        assert!(!fresh(&c, now) && usable(&c, now));
        // A 12 s session in its last 2.4 s.
        let (c, now) = creds(12, 10);
        assert!(!fresh(&c, now) && usable(&c, now));
        let (c, now) = creds(12, 12);
        assert!(!usable(&c, now));
    }
}
