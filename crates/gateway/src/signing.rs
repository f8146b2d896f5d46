//! HMAC-SHA256 (RFC 2104) over the bytes the gateway hands out: webhook
//! bodies (the receiver checks the signature header) and recording URLs
//! (the token in `recordUrl`). One function signs, one verifies in
//! constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Lowercase hex HMAC-SHA256 of `data` under `secret`.
pub fn hmac_hex(secret: &[u8], data: &[u8]) -> String {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail here.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `tag` (hex) is the HMAC-SHA256 of `data` under `secret`; the
/// comparison does not leak where it differs.
pub fn verify_hex(secret: &[u8], data: &[u8], tag: &str) -> bool {
    let Ok(tag) = hex::decode(tag) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(data);
    mac.verify_slice(&tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verify_accepts_only_the_right_tag() {
        let tag = hmac_hex(b"k", b"call-1");
        assert!(verify_hex(b"k", b"call-1", &tag));
        assert!(!verify_hex(b"k", b"call-2", &tag));
        assert!(!verify_hex(b"other", b"call-1", &tag));
        assert!(!verify_hex(b"k", b"call-1", "zz"));
        assert!(!verify_hex(b"k", b"call-1", &tag[..10]));
    }
}
