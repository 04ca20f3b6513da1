//! Test hooks, set through [`super::EmbeddedServer`] only: a clock offset
//! (the server's `Date` header and its SigV4 skew check use the shifted
//! clock, as a server whose clock is wrong would) and a second, read-only
//! access key (reads work; writes and CreateSession are denied, as for an
//! IAM principal without `s3:PutObject` / `s3express:CreateSession`).
//! `s3bench doctor`'s tests use them to make each failure happen for real.
//! A rival PUT stores an object at a key just before the first PutObject of
//! that key is handled, as another writer that won the race would (a run
//! with the same run id that listed the prefix at the same moment). HeadBucket
//! can answer without its region header, as some S3-compatible servers do.
//!
//! Temporary credentials, as STS hands out: the endpoint's access key and
//! secret with a security token `s3bench-temp:<expiry unix seconds>:<hex
//! HMAC-SHA256(secret, expiry)>`, accepted until the expiry and answered
//! `400 ExpiredToken` after it. A `credential_process` script can mint them
//! (see [`temporary_token`]), so a test sees base credentials expire mid-run.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use ::http::{HeaderValue, Method};

use super::counters::Op;
use super::dates;
use super::error::S3Error;

#[derive(Default)]
pub(crate) struct Hooks {
    /// Milliseconds added to the real clock; 0 = none.
    clock_offset_ms: AtomicI64,
    /// (access key, secret key) of the read-only principal.
    read_only: RwLock<Option<(String, String)>>,
    /// (bucket, key, body) a rival writer stores just before the first
    /// PutObject of that key is handled.
    rivals: Mutex<Vec<(String, String, Vec<u8>)>>,
    /// Rivals are waiting: PutObject takes the lock only then.
    rivals_armed: std::sync::atomic::AtomicBool,
    /// HeadBucket answers without `x-amz-bucket-region`, as s3rver and
    /// s3s-fs do.
    no_region_header: std::sync::atomic::AtomicBool,
}

impl Hooks {
    /// The server's clock.
    pub(crate) fn now(&self) -> SystemTime {
        let off = self.clock_offset_ms.load(Ordering::Relaxed);
        let now = SystemTime::now();
        if off >= 0 {
            now + Duration::from_millis(off as u64)
        } else {
            now - Duration::from_millis(off.unsigned_abs())
        }
    }

    pub(crate) fn set_clock_offset_ms(&self, ms: i64) {
        self.clock_offset_ms.store(ms, Ordering::Relaxed);
    }

    /// A `Date` header from the shifted clock; None leaves hyper's own.
    pub(crate) fn date_header(&self) -> Option<HeaderValue> {
        if self.clock_offset_ms.load(Ordering::Relaxed) == 0 {
            return None;
        }
        HeaderValue::from_str(&dates::http_date(self.now())).ok()
    }

    pub(crate) fn set_read_only_key(&self, access_key: &str, secret_key: &str) {
        *self.read_only.write().unwrap_or_else(|e| e.into_inner()) =
            Some((access_key.to_string(), secret_key.to_string()));
    }

    pub(crate) fn set_rival_put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.rivals.lock().unwrap_or_else(|e| e.into_inner()).push((
            bucket.to_string(),
            key.to_string(),
            body,
        ));
        self.rivals_armed.store(true, Ordering::Release);
    }

    /// The rival's body, once, when a PutObject of its key arrives.
    pub(crate) fn take_rival_put(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        if !self.rivals_armed.load(Ordering::Acquire) {
            return None;
        }
        let mut r = self.rivals.lock().unwrap_or_else(|e| e.into_inner());
        let i = r.iter().position(|(b, k, _)| b == bucket && k == key)?;
        Some(r.swap_remove(i).2)
    }

    pub(crate) fn set_no_region_header(&self, on: bool) {
        self.no_region_header.store(on, Ordering::Relaxed);
    }

    pub(crate) fn no_region_header(&self) -> bool {
        self.no_region_header.load(Ordering::Relaxed)
    }

    /// The read-only principal's secret when `access_key` is its key.
    pub(crate) fn read_only_secret(&self, access_key: &str) -> Option<String> {
        self.read_only
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(k, _)| k == access_key)
            .map(|(_, s)| s.clone())
    }
}

/// What the read-only principal may not do, worded as S3's AccessDenied.
pub(crate) fn deny_read_only(op: Op, method: &Method) -> Result<(), S3Error> {
    if op == Op::CreateSession {
        return Err(S3Error::access_denied(
            "User is not authorized to perform: s3express:CreateSession on this bucket.",
        ));
    }
    if matches!(*method, Method::PUT | Method::POST | Method::DELETE) {
        return Err(S3Error::access_denied(
            "User is not authorized to perform this write (s3:PutObject, s3:DeleteObject).",
        ));
    }
    Ok(())
}

const TEMP_PREFIX: &str = "s3bench-temp:";

/// A temporary security token valid until `expiry` (unix seconds), signed
/// with the endpoint's `secret`.
pub fn temporary_token(secret: &str, expiry: u64) -> String {
    let mac = crate::s3::sigv4::hmac_sha256(secret.as_bytes(), expiry.to_string().as_bytes());
    format!("{TEMP_PREFIX}{expiry}:{}", hex::encode(mac))
}

/// Accepts a token [`temporary_token`] made until its expiry.
pub(crate) fn check_temporary_token(
    token: &str,
    secret: &str,
    now: SystemTime,
) -> Result<(), S3Error> {
    let invalid = || {
        S3Error::new(
            403,
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.",
        )
    };
    let rest = token.strip_prefix(TEMP_PREFIX).ok_or_else(invalid)?;
    let (expiry, _) = rest.split_once(':').ok_or_else(invalid)?;
    let expiry: u64 = expiry.parse().map_err(|_| invalid())?;
    if temporary_token(secret, expiry) != token {
        return Err(invalid());
    }
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if now >= expiry {
        return Err(S3Error::new(
            400,
            "ExpiredToken",
            "The provided token has expired.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_tokens_hold_until_their_expiry_and_only_with_the_secret() {
        let t = temporary_token("secret", 1_000);
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert!(check_temporary_token(&t, "secret", at(999)).is_ok());
        assert_eq!(
            check_temporary_token(&t, "secret", at(1_000))
                .unwrap_err()
                .code,
            "ExpiredToken"
        );
        assert_eq!(
            check_temporary_token(&t, "other", at(1)).unwrap_err().code,
            "InvalidToken"
        );
        let forged = t.replace(":1000:", ":9000:");
        assert_eq!(
            check_temporary_token(&forged, "secret", at(1))
                .unwrap_err()
                .code,
            "InvalidToken"
        );
    }
}
