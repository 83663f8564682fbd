//! Twain's protocol: everything the client and the signaling worker must agree on, and nothing that does IO.
//!
//! - [`signal`]: the JSON frames exchanged over the signaling WebSocket (`/ws/<room>`), close codes and limits.
//! - [`wire`]: the frames exchanged between the two browsers over the WebRTC data channel.
//! - [`call`]: the audio/video call state machine (ringing, accept, decline, glare, missed, ended), sans-IO.
//! - [`transfer`]: sending and receiving files over the `twain-files` data channel (sans-IO state machines).
//! - [`room`]: the rules of a room as pure functions over plain data: admission (two live peers at most, replacing a
//!   peer's older socket, evicting stale sockets), ownership and bans, the per-socket rate limiter and per-origin
//!   join limiter, and the lifecycle (hello timeout, sweep, retention plan).
//! - [`ids`]: room, identity and ban ids and room owner keys: their format, validation and generation from
//!   caller-supplied randomness.
//! - [`verify`]: identity proofs (a signature over the DTLS fingerprint) and safety codes, so two browsers can
//!   tell whether someone sits in the middle of their connection.
//!
//! The crate builds natively and for wasm32 and is tested with plain `cargo test`. Peer input never panics: every
//! decoder returns a [`ProtocolError`] with a sentence a user can read.

pub mod call;
pub mod ids;
pub mod room;
pub mod signal;
pub mod transfer;
pub mod verify;
pub mod wire;

/// Version of both the signaling and the data-channel protocol. Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

/// Everything a peer (or a hostile client) can get wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The frame is larger than the limit for its channel.
    #[error("the frame is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The frame is not valid JSON or does not match any known frame shape.
    #[error("the frame could not be read: {0}")]
    Malformed(String),
    /// The frame parsed but a field breaks a rule (too long, bad characters, out of range).
    #[error("{0}")]
    Invalid(String),
    /// The other side speaks a different protocol version.
    #[error("protocol version {got} is not supported (this side speaks {want})")]
    Version { got: u32, want: u32 },
}

/// Decodes a JSON frame with a size cap first, so a huge frame is refused before any parsing work.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    text: &str,
    limit: usize,
) -> Result<T, ProtocolError> {
    if text.len() > limit {
        return Err(ProtocolError::TooLarge {
            size: text.len(),
            limit,
        });
    }
    serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(short_serde_error(&e)))
}

/// serde_json errors can quote the input; keep only the category and position so no peer text is echoed back.
fn short_serde_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "not valid JSON",
        Category::Data => "unknown frame type or wrong fields",
        Category::Eof => "the frame ends too early",
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

/// Checks a display name: trimmed, 1..=[`MAX_NAME_CHARS`] characters, no control characters.
/// Names are always rendered as text, never as HTML, so angle brackets are allowed.
pub fn validate_name(name: &str) -> Result<(), ProtocolError> {
    let count = name.chars().count();
    if name.trim().is_empty() {
        return Err(ProtocolError::Invalid("the name is empty".into()));
    }
    if count > MAX_NAME_CHARS {
        return Err(ProtocolError::Invalid(format!(
            "the name has {count} characters, over the limit of {MAX_NAME_CHARS}"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ProtocolError::Invalid(
            "the name contains control characters".into(),
        ));
    }
    Ok(())
}

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("Quiet Otter").is_ok());
        assert!(validate_name("<b>bold</b>").is_ok());
        assert!(validate_name("   ").is_err());
        assert!(validate_name("a\u{0}b").is_err());
        assert!(validate_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(validate_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        // Multi-byte characters count as one each.
        assert!(validate_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
    }

    #[test]
    fn serde_errors_do_not_echo_input() {
        let err = decode_json::<serde_json::Value>("{\"secret-ish\": ", 100).unwrap_err();
        assert!(!err.to_string().contains("secret-ish"), "{err}");
    }
}
