//! S3 Express session credentials (CreateSession).
//!
//! A session is scoped to one directory bucket and one mode, and expires
//! after the configured lifetime. Data-plane requests carrying
//! `x-amz-s3session-token` are signed with the session's own secret.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use super::error::S3Error;

/// Expired sessions are remembered this long so a late request hears
/// "ExpiredToken" rather than "InvalidToken".
const REMEMBER_EXPIRED: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub(crate) struct Session {
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub token: String,
    pub read_only: bool,
    pub expires: SystemTime,
}

pub(crate) struct Sessions {
    lifetime: Duration,
    by_token: RwLock<HashMap<String, Arc<Session>>>,
}

pub(crate) fn random_string(len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| alphabet[fastrand::usize(..alphabet.len())] as char)
        .collect()
}

pub(crate) const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub(crate) const SECRET_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Sessions {
    pub(crate) fn new(lifetime: Duration) -> Sessions {
        Sessions {
            lifetime,
            by_token: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn create(&self, bucket: &str, read_only: bool, now: SystemTime) -> Arc<Session> {
        let session = Arc::new(Session {
            bucket: bucket.to_string(),
            access_key: format!("S3BSESS{}", random_string(13, UPPER_ALNUM)),
            secret_key: random_string(40, SECRET_ALPHABET),
            token: random_string(96, SECRET_ALPHABET),
            read_only,
            expires: now + self.lifetime,
        });
        let mut map = self.by_token.write().unwrap_or_else(|e| e.into_inner());
        // Bounded: a client that creates sessions forever cannot grow this
        // past what one hour of them costs.
        if map.len() >= 4096 {
            map.retain(|_, s| s.expires + REMEMBER_EXPIRED > now);
        }
        map.insert(session.token.clone(), session.clone());
        session
    }

    /// The live session for `token`, or the 403 that explains why not.
    pub(crate) fn lookup(&self, token: &str, now: SystemTime) -> Result<Arc<Session>, S3Error> {
        let map = self.by_token.read().unwrap_or_else(|e| e.into_inner());
        let session = map.get(token).cloned().ok_or_else(|| {
            S3Error::new(
                403,
                "InvalidToken",
                "The provided session token is malformed or otherwise invalid.",
            )
        })?;
        if now >= session.expires {
            return Err(S3Error::new(
                403,
                "ExpiredToken",
                "The provided session token has expired.",
            ));
        }
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_unknown_tokens_fail() {
        let s = Sessions::new(Duration::from_secs(10));
        let t0 = SystemTime::now();
        let sess = s.create("b--use1-az4--x-s3", true, t0);
        assert_eq!(sess.access_key.len(), 20);
        assert!(s.lookup(&sess.token, t0 + Duration::from_secs(9)).is_ok());
        assert_eq!(
            s.lookup(&sess.token, t0 + Duration::from_secs(10))
                .unwrap_err()
                .code,
            "ExpiredToken"
        );
        assert_eq!(s.lookup("nope", t0).unwrap_err().code, "InvalidToken");
    }
}
