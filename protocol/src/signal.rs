//! Signaling frames: JSON text frames over the WebSocket at `/ws/<room>`.
//!
//! The worker introduces two browsers and relays their WebRTC offer/answer/ICE as opaque JSON; it never sees
//! chat, file or call content (that travels over the data channel, end-to-end DTLS-encrypted).
//!
//! ```text
//!  Browser A                   worker (room DO)                  Browser B
//!     | --- WS /ws/<room> --------> |                                |
//!     | --- hello{v,peer_id,name} ->|                                |
//!     | <-- welcome{peer:null} ---- |   (A waits: "waiting for the other person")
//!     |                             | <-------- WS /ws/<room> ------ |
//!     |                             | <-- hello{v,peer_id,name} ---- |
//!     | <-- peer-joined{B,polite:false,epoch:1}                      |
//!     |                             | -- welcome{peer:A,polite:true,epoch:1} --> |
//!     |   both create an RTCPeerConnection (perfect negotiation) and a negotiated data channel (id 0)
//!     | --- signal{data:{epoch,description:offer}} --> relayed as signal{data} --> |
//!     | <-- signal{data:{epoch,description:answer}} <- relayed <------------------ |
//!     | <-> signal{data:{epoch,candidate}} both ways, relayed unchanged           |
//!     |====================== data channel open: chat goes peer to peer =========|
//!     |                             | <-- (B's socket closes) ------ |
//!     | <-- peer-left{peer_id:B} -- |                                |
//! ```
//!
//! Every frame the worker receives is validated ([`ClientFrame::decode`]): a bad frame gets an
//! [`ServerFrame::Error`] and the socket stays open; a flood gets the socket closed with [`close::RATE_LIMITED`].

use serde::{Deserialize, Serialize};

use crate::{decode_json, ids, validate_name, ProtocolError, PROTOCOL_VERSION};

/// Largest signaling frame accepted, in bytes (an SDP with many candidates is a few KiB).
pub const MAX_SIGNAL_FRAME_BYTES: usize = 32 * 1024;

/// WebSocket close codes the worker uses. The client explains each to the user.
pub mod close {
    /// Normal close.
    pub const NORMAL: u16 = 1000;
    /// The first frame was not a valid `hello`, or the protocol version is not supported.
    pub const PROTOCOL_ERROR: u16 = 4000;
    /// The room already has two people in it.
    pub const ROOM_FULL: u16 = 4001;
    /// The same identity joined this room from another tab or device; the older socket is closed.
    pub const REPLACED: u16 = 4002;
    /// The room id in the URL is not valid.
    pub const INVALID_ROOM: u16 = 4003;
    /// This identity or connection is banned from the room.
    pub const BANNED: u16 = 4004;
    /// The room owner removed this peer (it may come back).
    pub const KICKED: u16 = 4005;
    /// The socket stopped answering (no frame for too long) and was evicted by a newcomer.
    pub const STALE: u16 = 4006;
    /// Too many frames in too short a time.
    pub const RATE_LIMITED: u16 = 4008;
    /// Too many join attempts from one origin in a minute.
    pub const TOO_MANY_JOINS: u16 = 4009;

    /// A sentence for the user explaining a close code, or `None` for codes that simply mean "reconnect".
    pub fn explain(code: u16) -> Option<&'static str> {
        Some(match code {
            PROTOCOL_ERROR => {
                "This version of Twain cannot talk to the server. Reload the page to update."
            }
            ROOM_FULL => {
                "This room already has two people in it. Only two people can be in a Twain room."
            }
            REPLACED => "You opened this room in another tab, so this tab was disconnected.",
            INVALID_ROOM => "This room link is not valid. Check that you copied all of it.",
            BANNED => "The owner of this room has banned you. You cannot join it again.",
            KICKED => "The owner of this room removed you from it.",
            RATE_LIMITED => {
                "This tab sent too many messages to the server too quickly and was disconnected."
            }
            TOO_MANY_JOINS => {
                "Too many attempts to join from your network. Wait a minute and try again."
            }
            _ => return None,
        })
    }

    /// Whether the client should stop reconnecting after this close code (the user must act first).
    pub fn is_final(code: u16) -> bool {
        matches!(
            code,
            PROTOCOL_ERROR | ROOM_FULL | REPLACED | INVALID_ROOM | BANNED | RATE_LIMITED
        )
    }
}

/// A peer as the worker introduces it to the other one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The identity id (stable across reloads; see [`crate::ids`]).
    pub peer_id: String,
    /// The display name the peer announced in its hello.
    pub name: String,
}

/// One ICE server, in the shape `RTCIceServer` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Frames a browser sends to the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientFrame {
    /// Must be the first frame. Joins the room.
    Hello {
        v: u32,
        peer_id: String,
        name: String,
    },
    /// Opaque WebRTC signaling (SDP or ICE) for the other peer; must be a JSON object. Relayed unchanged.
    Signal { data: serde_json::Value },
    /// Keep-alive; the worker answers [`ServerFrame::Pong`]. Sent every [`PING_INTERVAL_MS`].
    Ping,
}

/// How often a client pings. A socket silent for [`crate::room::STALE_AFTER_MS`] may be evicted.
pub const PING_INTERVAL_MS: u64 = 10_000;

impl ClientFrame {
    /// Decodes and validates a frame from a browser (size cap, JSON shape, field rules).
    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        let frame: ClientFrame = decode_json(text, MAX_SIGNAL_FRAME_BYTES)?;
        frame.validate()?;
        Ok(frame)
    }

    /// Checks field rules that the JSON shape alone cannot express.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            ClientFrame::Hello { v, peer_id, name } => {
                if *v != PROTOCOL_VERSION {
                    return Err(ProtocolError::Version {
                        got: *v,
                        want: PROTOCOL_VERSION,
                    });
                }
                ids::validate_peer_id(peer_id)?;
                validate_name(name)
            }
            ClientFrame::Signal { data } => {
                if data.is_object() {
                    Ok(())
                } else {
                    Err(ProtocolError::Invalid(
                        "signal data must be a JSON object".into(),
                    ))
                }
            }
            ClientFrame::Ping => Ok(()),
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("client frames always serialize")
    }
}

/// Machine-readable reason in an [`ServerFrame::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The frame is not JSON, or not a known frame type, or has wrong fields.
    Malformed,
    /// The frame is over [`MAX_SIGNAL_FRAME_BYTES`].
    TooLarge,
    /// A field breaks a rule (bad id, name too long...).
    Invalid,
    /// A frame other than `hello` arrived before `hello`.
    NotJoined,
    /// A second `hello` on a socket that already joined.
    AlreadyJoined,
    /// A `signal` arrived while the other peer is not in the room; it was dropped.
    NoPeer,
    /// Binary frames are not part of the signaling protocol.
    Binary,
}

/// Frames the worker sends to a browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerFrame {
    /// Answer to `hello`: you are in. `peer` is the other person if already present.
    Welcome {
        v: u32,
        /// The other peer, if any.
        peer: Option<PeerInfo>,
        /// Your perfect-negotiation role for the pairing with `peer` (meaningless while alone).
        polite: bool,
        /// Pairing counter: increases each time two peers meet; signal payloads carry it to drop stale ones.
        epoch: u64,
        /// ICE servers for `RTCPeerConnection` (empty in tests: host candidates only).
        ice_servers: Vec<IceServer>,
    },
    /// The other peer arrived (or came back). Start a fresh peer connection with this role.
    PeerJoined {
        peer: PeerInfo,
        polite: bool,
        epoch: u64,
    },
    /// The other peer's socket closed.
    PeerLeft { peer_id: String },
    /// Relayed signaling data from the other peer, unchanged.
    Signal { data: serde_json::Value },
    /// Answer to `ping`.
    Pong,
    /// The last frame was refused; the socket stays open.
    Error { code: ErrorCode, message: String },
}

impl ServerFrame {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }

    /// Decodes a frame from the worker (used by the client; the worker is trusted less than nothing else, but
    /// a broken frame must still not panic).
    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        // Server frames carry relayed SDP, so allow a little over the client cap.
        decode_json(text, MAX_SIGNAL_FRAME_BYTES + 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_roundtrip(frame: ClientFrame) {
        let text = frame.encode();
        assert_eq!(ClientFrame::decode(&text).unwrap(), frame, "{text}");
    }

    #[test]
    fn client_frames_round_trip() {
        check_roundtrip(ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            peer_id: "q7Xk2mP9vL3nR8sT1wY4zA".into(),
            name: "Quiet Otter".into(),
        });
        check_roundtrip(ClientFrame::Signal {
            data: serde_json::json!({"epoch": 1, "description": {"type": "offer", "sdp": "v=0"}}),
        });
        check_roundtrip(ClientFrame::Ping);
    }

    #[test]
    fn wire_shape_is_stable() {
        assert_eq!(ClientFrame::Ping.encode(), r#"{"type":"ping"}"#);
        let hello = r#"{"type":"hello","v":1,"peer_id":"q7Xk2mP9vL3nR8sT1wY4zA","name":"A"}"#;
        assert!(ClientFrame::decode(hello).is_ok());
        let left = ServerFrame::PeerLeft {
            peer_id: "x".into(),
        };
        assert_eq!(left.encode(), r#"{"type":"peer-left","peer_id":"x"}"#);
    }

    #[test]
    fn server_frames_round_trip() {
        let frames = [
            ServerFrame::Welcome {
                v: 1,
                peer: Some(PeerInfo {
                    peer_id: "abc".into(),
                    name: "<b>x</b>".into(),
                }),
                polite: true,
                epoch: 3,
                ice_servers: vec![IceServer {
                    urls: vec!["stun:stun.example:3478".into()],
                    username: None,
                    credential: None,
                }],
            },
            ServerFrame::Error {
                code: ErrorCode::TooLarge,
                message: "too big".into(),
            },
            ServerFrame::Pong,
        ];
        for f in frames {
            assert_eq!(ServerFrame::decode(&f.encode()).unwrap(), f);
        }
    }

    fn check_refused(text: &str, want: fn(&ProtocolError) -> bool) {
        let err = ClientFrame::decode(text).unwrap_err();
        assert!(want(&err), "{text:?} gave {err:?}");
    }

    #[test]
    fn hostile_frames_are_refused() {
        let malformed = |e: &ProtocolError| matches!(e, ProtocolError::Malformed(_));
        let invalid = |e: &ProtocolError| matches!(e, ProtocolError::Invalid(_));
        check_refused("not json", malformed);
        check_refused("{}", malformed);
        check_refused(r#"{"type":"nope"}"#, malformed);
        check_refused(r#"{"type":"hello"}"#, malformed);
        check_refused(r#"{"type":"signal","data":"str"}"#, invalid);
        check_refused(
            r#"{"type":"hello","v":1,"peer_id":"bad id with spaces!","name":"A"}"#,
            invalid,
        );
        check_refused(
            r#"{"type":"hello","v":1,"peer_id":"q7Xk2mP9vL3nR8sT1wY4zA","name":""}"#,
            invalid,
        );
        check_refused(
            r#"{"type":"hello","v":99,"peer_id":"q7Xk2mP9vL3nR8sT1wY4zA","name":"A"}"#,
            |e| matches!(e, ProtocolError::Version { got: 99, .. }),
        );
        let huge = format!(
            r#"{{"type":"signal","data":{{"x":"{}"}}}}"#,
            "a".repeat(MAX_SIGNAL_FRAME_BYTES)
        );
        check_refused(&huge, |e| matches!(e, ProtocolError::TooLarge { .. }));
    }

    #[test]
    fn every_close_code_that_stops_reconnecting_is_explained() {
        for code in [
            close::PROTOCOL_ERROR,
            close::ROOM_FULL,
            close::REPLACED,
            close::INVALID_ROOM,
            close::BANNED,
            close::RATE_LIMITED,
        ] {
            assert!(close::is_final(code));
            assert!(close::explain(code).is_some());
        }
        assert!(!close::is_final(1006));
        assert!(close::explain(1006).is_none());
    }
}
