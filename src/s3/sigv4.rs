//! SigV4 primitives shared by the client's direct request path (which signs)
//! and the embedded endpoint (which verifies): one key derivation, one HMAC.
//! Canonical requests differ on the two sides (the client builds exactly the
//! few headers it sends; the endpoint reconstructs whatever a client sent),
//! so they stay with their users.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The SigV4 algorithm name in `Authorization` and string-to-sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// HMAC-SHA256 of `data` under `key`.
#[inline]
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key of a secret for one day (`YYYYMMDD`), region and service
/// (`s3` or `s3express`). Four HMACs: callers cache it per day and credential.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the AWS docs ("Examples of how to derive a signing key
    /// for Signature Version 4").
    #[test]
    fn derives_the_documented_key() {
        let k = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
