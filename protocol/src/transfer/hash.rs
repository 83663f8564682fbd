//! SHA-256 of file content, and the hex form used in frames.

use sha2::Digest;

use super::meta::hex_value;
use crate::ProtocolError;

/// Incremental SHA-256. The sender feeds it the file (slice by slice) before offering; the receiver feeds it each
/// chunk as it arrives, or, for a transfer restored after a reload, the stored batches in order when asked to
/// [`Output::Verify`](super::Output::Verify).
#[derive(Clone, Default)]
pub struct Sha256(sha2::Sha256);

impl Sha256 {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next bytes of the content.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> [u8; 32] {
        self.0.finalize().into()
    }

    /// The digest as 64 lowercase hex digits.
    pub fn finalize_hex(self) -> String {
        hex(&self.finalize())
    }

    /// One-shot digest of `bytes`.
    pub fn digest(bytes: &[u8]) -> [u8; 32] {
        let mut h = Self::new();
        h.update(bytes);
        h.finalize()
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Parses a SHA-256 written as 64 hex digits (either case).
pub fn parse_sha256_hex(text: &str) -> Result<[u8; 32], ProtocolError> {
    let bytes = text.as_bytes();
    let bad = || ProtocolError::Invalid("a SHA-256 must be 64 hex digits".into());
    if bytes.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (hex_value(pair[0]).ok_or_else(bad)? << 4) | hex_value(pair[1]).ok_or_else(bad)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            Sha256::new().finalize_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut h = Sha256::new();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(
            h.finalize_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let d = Sha256::digest(b"abc");
        assert_eq!(parse_sha256_hex(&hex(&d)).unwrap(), d);
        assert_eq!(parse_sha256_hex(&hex(&d).to_uppercase()).unwrap(), d);
        assert!(parse_sha256_hex("abc").is_err());
        assert!(parse_sha256_hex(&"g".repeat(64)).is_err());
    }
}
