//! SHA-256 in lower-case hex: how inputs and rulebooks are identified in
//! findings.json.

use sha2::{Digest, Sha256};

/// The SHA-256 of some bytes, as lower-case hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    sha256_hex(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
