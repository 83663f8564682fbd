//! Data-channel frames: what the two browsers say to each other, peer to peer.
//!
//! Control and chat frames are JSON text messages on the data channel labelled `twain` (negotiated, id 0).
//! Everything here comes from the other browser, which may be modified: [`PeerFrame::decode`] caps sizes and
//! checks every field, and callers render all peer text as text, never as HTML.

use serde::{Deserialize, Serialize};

use crate::{decode_json, validate_name, ProtocolError, PROTOCOL_VERSION};

/// Largest JSON frame accepted on the data channel, in bytes.
pub const MAX_PEER_FRAME_BYTES: usize = 64 * 1024;
/// Longest chat message, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Longest message id, in bytes.
pub const MAX_MESSAGE_ID_LEN: usize = 64;

/// A frame from the other browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum PeerFrame {
    /// Sent first when the channel opens, and again after a rename.
    Hello { v: u32, peer_id: String, name: String },
    /// A chat message. `ts` is the sender's clock, milliseconds since the Unix epoch.
    Chat { id: String, text: String, ts: f64 },
    /// The receiver stored chat message `id` (the sender shows a delivered tick).
    Ack { id: String },
    /// The sender is typing (`true`) or stopped (`false`). Expires by itself after a few seconds.
    Typing { active: bool },
}

impl PeerFrame {
    /// Decodes and validates a JSON frame from the other browser.
    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        let frame: PeerFrame = decode_json(text, MAX_PEER_FRAME_BYTES)?;
        frame.validate()?;
        Ok(frame)
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("peer frames always serialize")
    }

    /// Checks field rules that the JSON shape alone cannot express.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            PeerFrame::Hello { v, peer_id, name } => {
                if *v != PROTOCOL_VERSION {
                    return Err(ProtocolError::Version {
                        got: *v,
                        want: PROTOCOL_VERSION,
                    });
                }
                crate::ids::validate_peer_id(peer_id)?;
                validate_name(name)
            }
            PeerFrame::Chat { id, text, ts } => {
                validate_message_id(id)?;
                let chars = text.chars().count();
                if text.trim().is_empty() {
                    return Err(ProtocolError::Invalid("the message is empty".into()));
                }
                if chars > MAX_TEXT_CHARS {
                    return Err(ProtocolError::Invalid(format!(
                        "the message has {chars} characters, over the limit of {MAX_TEXT_CHARS}"
                    )));
                }
                if !ts.is_finite() || *ts < 0.0 {
                    return Err(ProtocolError::Invalid(
                        "the message time is not a valid time".into(),
                    ));
                }
                Ok(())
            }
            PeerFrame::Ack { id } => validate_message_id(id),
            PeerFrame::Typing { .. } => Ok(()),
        }
    }
}

fn validate_message_id(id: &str) -> Result<(), ProtocolError> {
    if id.is_empty()
        || id.len() > MAX_MESSAGE_ID_LEN
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ProtocolError::Invalid(
            "the message id is not valid".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "q7Xk2mP9vL3nR8sT1wY4zA";

    #[test]
    fn round_trips() {
        let frames = [
            PeerFrame::Hello {
                v: PROTOCOL_VERSION,
                peer_id: ID.into(),
                name: "<img src=x onerror=alert(1)>".into(),
            },
            PeerFrame::Chat {
                id: ID.into(),
                text: "hi 👋 <script>".into(),
                ts: 1.7e12,
            },
            PeerFrame::Ack { id: ID.into() },
            PeerFrame::Typing { active: true },
        ];
        for f in frames {
            assert_eq!(PeerFrame::decode(&f.encode()).unwrap(), f);
        }
    }

    #[test]
    fn hostile_frames_are_refused() {
        let long_text = PeerFrame::Chat {
            id: ID.into(),
            text: "x".repeat(MAX_TEXT_CHARS + 1),
            ts: 1.0,
        };
        assert!(PeerFrame::decode(&long_text.encode()).is_err());
        let huge_name = PeerFrame::Hello {
            v: 1,
            peer_id: ID.into(),
            name: "n".repeat(10_000),
        };
        assert!(PeerFrame::decode(&huge_name.encode()).is_err());
        for text in [
            "",
            "[]",
            r#"{"type":"chat","id":"","text":"x","ts":1}"#,
            r#"{"type":"chat","id":"a b","text":"x","ts":1}"#,
            r#"{"type":"chat","id":"ok","text":"   ","ts":1}"#,
            r#"{"type":"chat","id":"ok","text":"x","ts":-1}"#,
            r#"{"type":"ack","id":"../../etc"}"#,
            r#"{"type":"typing"}"#,
        ] {
            assert!(PeerFrame::decode(text).is_err(), "{text}");
        }
        let big = "x".repeat(MAX_PEER_FRAME_BYTES + 1);
        assert!(matches!(
            PeerFrame::decode(&big),
            Err(ProtocolError::TooLarge { .. })
        ));
    }
}
