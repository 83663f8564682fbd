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
//!
//! Moderation: the browser that created a room sends a random `owner_key` in its `hello`; the worker keeps only its
//! SHA-256 (the first key claims a room without an owner) and answers `welcome{owner:true}` to whoever proves it
//! again. Only the owner may send [`ClientFrame::Kick`], [`ClientFrame::Ban`], [`ClientFrame::Unban`] and
//! [`ClientFrame::ListBans`]; anyone else gets `error{forbidden}` and nothing happens. A kicked peer's socket is
//! closed with [`close::KICKED`] (it may come back), a banned one with [`close::BANNED`], on that socket and on every
//! later attempt of the same identity or from the same connection origin. The remaining peer gets `peer-left`.

use serde::{Deserialize, Serialize};

use crate::{decode_json, ids, validate_name, ProtocolError, PROTOCOL_VERSION};

/// Largest signaling frame accepted, in bytes (an SDP with many candidates is a few KiB). A larger frame is refused
/// with `error{too-large}` and the socket stays open.
pub const MAX_SIGNAL_FRAME_BYTES: usize = 32 * 1024;
/// A frame larger than this is not a mistake but abuse: the worker closes the socket with
/// [`close::MESSAGE_TOO_BIG`] without reading it.
pub const HARD_MAX_FRAME_BYTES: usize = 64 * 1024;

/// WebSocket close codes the worker uses. The client explains each to the user.
pub mod close {
    /// Normal close.
    pub const NORMAL: u16 = 1000;
    /// A frame over [`super::HARD_MAX_FRAME_BYTES`] (the standard "message too big" code; workerd also uses it for
    /// frames over its own 1 MiB cap).
    pub const MESSAGE_TOO_BIG: u16 = 1009;
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
    /// The socket stopped answering (no frame for too long) and was evicted (by a newcomer or the room's sweep).
    pub const STALE: u16 = 4006;
    /// The socket sent no valid `hello` within the hello timeout (a half-open or idle connection).
    pub const NO_HELLO: u16 = 4007;
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
            KICKED => "The owner of this room removed you from it. You can rejoin if you want to.",
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
            PROTOCOL_ERROR
                | ROOM_FULL
                | REPLACED
                | INVALID_ROOM
                | BANNED
                | KICKED
                | RATE_LIMITED
                | TOO_MANY_JOINS
        )
    }

    /// Whether trying again may help after this final close (everything but a ban, a broken link or an
    /// incompatible version). The client offers a button for these.
    pub fn may_retry(code: u16) -> bool {
        !matches!(code, BANNED | INVALID_ROOM | PROTOCOL_ERROR)
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
        /// The room owner's secret, sent only by the browser that created the room (see [`crate::ids::new_owner_key`]).
        /// Optional: clients that predate ownership leave it out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner_key: Option<String>,
    },
    /// Opaque WebRTC signaling (SDP or ICE) for the other peer; must be a JSON object. Relayed unchanged.
    Signal { data: serde_json::Value },
    /// Keep-alive; the worker answers [`ServerFrame::Pong`]. Sent every [`PING_INTERVAL_MS`].
    Ping,
    /// Owner only: disconnect the other peer `peer_id` (close [`close::KICKED`]); it may come back.
    Kick { peer_id: String },
    /// Owner only: disconnect the other peer `peer_id` (close [`close::BANNED`]) and refuse its identity and its
    /// connection origin from now on. The owner gets the new [`ServerFrame::Bans`].
    ///
    /// `name` is for a peer the worker does not see (it restarted, and they are still connected to the owner
    /// directly but not back on the server): the ban then holds their identity under that name, and their
    /// connection origin from the moment they come back. Without it, such a ban gets [`ErrorCode::NoPeer`].
    Ban {
        peer_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Owner only: lift the ban `ban_id`. The owner gets the new [`ServerFrame::Bans`].
    Unban { ban_id: String },
    /// Owner only: ask for [`ServerFrame::Bans`].
    ListBans,
    /// The sender's new display name: the worker introduces it by that name from now on (a browser that comes back
    /// later, the bans list). The browsers already told each other on their data channel.
    Rename { name: String },
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
            ClientFrame::Hello {
                v,
                peer_id,
                name,
                owner_key,
            } => {
                if *v != PROTOCOL_VERSION {
                    return Err(ProtocolError::Version {
                        got: *v,
                        want: PROTOCOL_VERSION,
                    });
                }
                ids::validate_peer_id(peer_id)?;
                validate_name(name)?;
                owner_key.as_deref().map_or(Ok(()), ids::validate_owner_key)
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
            ClientFrame::Ping | ClientFrame::ListBans => Ok(()),
            ClientFrame::Kick { peer_id } => ids::validate_peer_id(peer_id),
            ClientFrame::Ban { peer_id, name } => {
                ids::validate_peer_id(peer_id)?;
                name.as_deref().map_or(Ok(()), validate_name)
            }
            ClientFrame::Unban { ban_id } => ids::validate_ban_id(ban_id),
            ClientFrame::Rename { name } => validate_name(name),
        }
    }

    /// Whether only the room owner may send this frame.
    pub fn is_owner_only(&self) -> bool {
        matches!(
            self,
            ClientFrame::Kick { .. }
                | ClientFrame::Ban { .. }
                | ClientFrame::Unban { .. }
                | ClientFrame::ListBans
        )
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
    /// A moderation frame (`kick`, `ban`, `unban`, `list-bans`) from someone who is not the room owner, or a
    /// moderation frame aimed at oneself. Nothing happened.
    Forbidden,
    /// `unban` named a ban that does not exist (any more).
    UnknownBan,
    /// A code from a newer worker that this client does not know.
    #[serde(other)]
    Other,
}

/// One ban, as the worker shows it to the room owner. The banned identity id and origin are not disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanInfo {
    /// Names the ban in `unban`.
    pub ban_id: String,
    /// The display name the banned peer had when banned.
    pub name: String,
    /// When the ban was made, milliseconds since the Unix epoch.
    pub banned_ms: u64,
    /// When the ban lapses by itself, milliseconds since the Unix epoch.
    pub expires_ms: u64,
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
        /// Whether this socket proved it is the room owner (its `hello` carried the owner key).
        #[serde(default)]
        owner: bool,
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
    /// To the owner only: the room's bans, newest first (after `welcome`, `list-bans`, `ban` and `unban`).
    Bans { list: Vec<BanInfo> },
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

    const ID: &str = "q7Xk2mP9vL3nR8sT1wY4zA";
    const KEY: &str = "Rk9PX2tleV9vd25lcl9zZWNyZXRfMzJfYnl0ZXNfISE";

    fn check_roundtrip(frame: ClientFrame) {
        let text = frame.encode();
        assert_eq!(ClientFrame::decode(&text).unwrap(), frame, "{text}");
    }

    fn hello(owner_key: Option<&str>) -> ClientFrame {
        ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            peer_id: ID.into(),
            name: "Quiet Otter".into(),
            owner_key: owner_key.map(Into::into),
        }
    }

    #[test]
    fn client_frames_round_trip() {
        check_roundtrip(hello(None));
        check_roundtrip(hello(Some(KEY)));
        check_roundtrip(ClientFrame::Signal {
            data: serde_json::json!({"epoch": 1, "description": {"type": "offer", "sdp": "v=0"}}),
        });
        check_roundtrip(ClientFrame::Ping);
        check_roundtrip(ClientFrame::Kick { peer_id: ID.into() });
        check_roundtrip(ClientFrame::Ban {
            peer_id: ID.into(),
            name: None,
        });
        check_roundtrip(ClientFrame::Ban {
            peer_id: ID.into(),
            name: Some("Bob".into()),
        });
        check_roundtrip(ClientFrame::Unban { ban_id: ID.into() });
        check_roundtrip(ClientFrame::ListBans);
        check_roundtrip(ClientFrame::Rename {
            name: "Bob <the builder>".into(),
        });
    }

    #[test]
    fn wire_shape_is_stable() {
        assert_eq!(ClientFrame::Ping.encode(), r#"{"type":"ping"}"#);
        let hello_text = r#"{"type":"hello","v":1,"peer_id":"q7Xk2mP9vL3nR8sT1wY4zA","name":"A"}"#;
        assert!(ClientFrame::decode(hello_text).is_ok());
        // A hello without an owner key encodes exactly as before ownership existed.
        assert!(!hello(None).encode().contains("owner_key"));
        assert_eq!(ClientFrame::ListBans.encode(), r#"{"type":"list-bans"}"#);
        assert_eq!(
            ClientFrame::Rename { name: "A".into() }.encode(),
            r#"{"type":"rename","name":"A"}"#
        );
        for bad in [
            r#"{"type":"rename"}"#,
            r#"{"type":"rename","name":"   "}"#,
            r#"{"type":"rename","name":7}"#,
        ] {
            assert!(ClientFrame::decode(bad).is_err(), "{bad}");
        }
        let long = format!(
            r#"{{"type":"rename","name":"{}"}}"#,
            "n".repeat(crate::MAX_NAME_CHARS + 1)
        );
        assert!(ClientFrame::decode(&long).is_err(), "a name over the limit");
        assert_eq!(
            ClientFrame::Unban { ban_id: ID.into() }.encode(),
            format!(r#"{{"type":"unban","ban_id":"{ID}"}}"#)
        );
        let left = ServerFrame::PeerLeft {
            peer_id: "x".into(),
        };
        assert_eq!(left.encode(), r#"{"type":"peer-left","peer_id":"x"}"#);
        // A welcome from a worker that predates ownership reads as "not the owner".
        let old =
            r#"{"type":"welcome","v":1,"peer":null,"polite":false,"epoch":1,"ice_servers":[]}"#;
        assert!(matches!(
            ServerFrame::decode(old).unwrap(),
            ServerFrame::Welcome { owner: false, .. }
        ));
        // An error code from a newer worker still reads.
        let newer = r#"{"type":"error","code":"something-new","message":"m"}"#;
        assert!(matches!(
            ServerFrame::decode(newer).unwrap(),
            ServerFrame::Error {
                code: ErrorCode::Other,
                ..
            }
        ));
    }

    #[test]
    fn only_moderation_frames_are_owner_only() {
        assert!(!hello(Some(KEY)).is_owner_only());
        assert!(!ClientFrame::Ping.is_owner_only());
        assert!(!ClientFrame::Rename { name: "A".into() }.is_owner_only());
        assert!(!ClientFrame::Signal {
            data: serde_json::json!({})
        }
        .is_owner_only());
        for f in [
            ClientFrame::Kick { peer_id: ID.into() },
            ClientFrame::Ban {
                peer_id: ID.into(),
                name: None,
            },
            ClientFrame::Unban { ban_id: ID.into() },
            ClientFrame::ListBans,
        ] {
            assert!(f.is_owner_only(), "{f:?}");
        }
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
                owner: true,
            },
            ServerFrame::Error {
                code: ErrorCode::TooLarge,
                message: "too big".into(),
            },
            ServerFrame::Error {
                code: ErrorCode::Forbidden,
                message: "only the owner".into(),
            },
            ServerFrame::Pong,
            ServerFrame::Bans { list: vec![] },
            ServerFrame::Bans {
                list: vec![BanInfo {
                    ban_id: ID.into(),
                    name: "Loud Crow".into(),
                    banned_ms: 1_700_000_000_000,
                    expires_ms: 1_702_592_000_000,
                }],
            },
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
        // Moderation frames: ids are checked, roles can't be forged through extra fields.
        check_refused(r#"{"type":"kick"}"#, malformed);
        check_refused(r#"{"type":"ban","peer_id":42}"#, malformed);
        check_refused(r#"{"type":"ban","peer_id":"../../x"}"#, invalid);
        // The name of a ban for a peer the worker does not see follows the rules of every name.
        check_refused(
            &format!(
                r#"{{"type":"ban","peer_id":"{ID}","name":"{}"}}"#,
                "x".repeat(200)
            ),
            invalid,
        );
        check_refused(
            &format!(r#"{{"type":"ban","peer_id":"{ID}","name":"  "}}"#),
            invalid,
        );
        check_refused(
            &format!(r#"{{"type":"ban","peer_id":"{ID}","name":"a\u0007b"}}"#),
            invalid,
        );
        check_refused(r#"{"type":"unban","ban_id":""}"#, invalid);
        check_refused(r#"{"type":"unban"}"#, malformed);
        check_refused(
            r#"{"type":"hello","v":1,"peer_id":"q7Xk2mP9vL3nR8sT1wY4zA","name":"A","owner_key":"short"}"#,
            invalid,
        );
        check_refused(
            r#"{"type":"hello","v":1,"peer_id":"q7Xk2mP9vL3nR8sT1wY4zA","name":"A","owner_key":17}"#,
            malformed,
        );
        // An `owner: true` claim in a hello is just an unknown field: ignored, it grants nothing.
        let forged = r#"{"type":"hello","v":1,"peer_id":"q7Xk2mP9vL3nR8sT1wY4zA","name":"A","owner":true,"role":"owner"}"#;
        assert_eq!(ClientFrame::decode(forged).unwrap(), {
            let mut h = hello(None);
            if let ClientFrame::Hello { name, .. } = &mut h {
                *name = "A".into();
            }
            h
        });
    }

    #[test]
    fn every_close_code_that_stops_reconnecting_is_explained() {
        for code in [
            close::PROTOCOL_ERROR,
            close::ROOM_FULL,
            close::REPLACED,
            close::INVALID_ROOM,
            close::BANNED,
            close::KICKED,
            close::RATE_LIMITED,
            close::TOO_MANY_JOINS,
        ] {
            assert!(close::is_final(code));
            assert!(close::explain(code).is_some());
        }
        for code in [1006, close::STALE, close::NO_HELLO, close::MESSAGE_TOO_BIG] {
            assert!(!close::is_final(code), "{code} reconnects by itself");
        }
        assert!(close::explain(1006).is_none());
        assert!(!close::may_retry(close::BANNED));
        assert!(close::may_retry(close::KICKED));
        assert!(close::may_retry(close::TOO_MANY_JOINS));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// Any JSON value, a few levels deep.
        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(Into::into),
                any::<i64>().prop_map(Into::into),
                // Only floats whose decimal form is exact, so equality after a round trip is meaningful.
                prop_oneof![Just(0.5), Just(-2.25), Just(1e10), Just(3.0)].prop_map(Into::into),
                ".{0,24}".prop_map(serde_json::Value::String),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Into::into),
                    proptest::collection::btree_map("[a-z_]{0,8}", inner, 0..4)
                        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// JSON objects shaped like signaling frames: a known (or unknown) type and known field names with
        /// values of any type.
        fn frame_like() -> impl Strategy<Value = String> {
            let types = prop_oneof![
                Just("hello"),
                Just("signal"),
                Just("ping"),
                Just("kick"),
                Just("ban"),
                Just("unban"),
                Just("list-bans"),
                Just("welcome"),
                Just("peer-joined"),
                Just("peer-left"),
                Just("pong"),
                Just("error"),
                Just("bans"),
                Just("teleport"),
            ];
            let keys = prop_oneof![
                Just("v"),
                Just("peer_id"),
                Just("name"),
                Just("owner_key"),
                Just("owner"),
                Just("data"),
                Just("ban_id"),
                Just("peer"),
                Just("polite"),
                Just("epoch"),
                Just("ice_servers"),
                Just("code"),
                Just("message"),
                Just("list"),
            ];
            let ids = prop_oneof![
                Just(serde_json::Value::from(ID)),
                Just(serde_json::Value::from(KEY)),
                Just(serde_json::Value::from(1)),
            ];
            (
                types,
                proptest::collection::vec((keys, prop_oneof![json_value(), ids]), 0..8),
            )
                .prop_map(|(ty, fields)| {
                    let mut map = serde_json::Map::new();
                    map.insert("type".into(), ty.into());
                    for (k, v) in fields {
                        map.insert(k.into(), v);
                    }
                    serde_json::Value::Object(map).to_string()
                })
        }

        fn hostile_text() -> impl Strategy<Value = String> {
            prop_oneof![
                ".{0,300}",
                frame_like(),
                any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                (0usize..3, 0usize..80_000).prop_map(|(kind, n)| match kind {
                    0 => "x".repeat(n),
                    1 => format!(
                        r#"{{"type":"signal","data":{{"sdp":"{}"}}}}"#,
                        "a".repeat(n)
                    ),
                    _ => "[".repeat(n.min(5_000)),
                }),
            ]
        }

        fn client_frame() -> impl Strategy<Value = ClientFrame> {
            let id = "[A-Za-z0-9_-]{16,64}";
            prop_oneof![
                (
                    id,
                    "[^\\p{Cc}]{1,40}",
                    proptest::option::of("[A-Za-z0-9_-]{22,64}")
                )
                    .prop_filter("name not blank", |(_, n, _)| !n.trim().is_empty()
                        && n.chars().count() <= crate::MAX_NAME_CHARS)
                    .prop_map(|(peer_id, name, owner_key)| ClientFrame::Hello {
                        v: PROTOCOL_VERSION,
                        peer_id,
                        name,
                        owner_key,
                    }),
                proptest::collection::btree_map("[a-z]{1,6}", json_value(), 0..4).prop_map(|m| {
                    ClientFrame::Signal {
                        data: serde_json::Value::Object(m.into_iter().collect()),
                    }
                }),
                Just(ClientFrame::Ping),
                id.prop_map(|peer_id| ClientFrame::Kick { peer_id }),
                (id, proptest::option::of("[a-zA-Z <>]{1,20}"))
                    .prop_filter("name not blank", |(_, n)| n
                        .as_ref()
                        .is_none_or(|n| !n.trim().is_empty()))
                    .prop_map(|(peer_id, name)| ClientFrame::Ban { peer_id, name }),
                id.prop_map(|ban_id| ClientFrame::Unban { ban_id }),
                Just(ClientFrame::ListBans),
                "[a-zA-Z <>]{1,20}"
                    .prop_filter("name not blank", |n| !n.trim().is_empty())
                    .prop_map(|name| ClientFrame::Rename { name }),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// No text makes either decoder panic; what the client decoder accepts is valid and re-encodes to
            /// something it accepts again, equal to itself.
            #[test]
            fn decoders_never_panic(text in hostile_text()) {
                if let Ok(frame) = ClientFrame::decode(&text) {
                    prop_assert!(frame.validate().is_ok());
                    prop_assert!(text.len() <= MAX_SIGNAL_FRAME_BYTES);
                    let again = ClientFrame::decode(&frame.encode());
                    // Re-encoding may lengthen numbers past the limit; anything else must round-trip.
                    if let Ok(again) = again {
                        prop_assert_eq!(again, frame);
                    }
                }
                if let Ok(frame) = ServerFrame::decode(&text) {
                    prop_assert_eq!(ServerFrame::decode(&frame.encode()).unwrap(), frame);
                }
            }

            /// Every valid client frame round-trips.
            #[test]
            fn valid_client_frames_round_trip(frame in client_frame()) {
                let text = frame.encode();
                prop_assume!(text.len() <= MAX_SIGNAL_FRAME_BYTES);
                prop_assert_eq!(ClientFrame::decode(&text).unwrap(), frame);
            }

            /// Every close code either has a sentence or simply means "reconnect"; final codes always explain.
            #[test]
            fn close_codes_are_consistent(code in any::<u16>()) {
                if close::is_final(code) {
                    prop_assert!(close::explain(code).is_some());
                }
                if !close::may_retry(code) {
                    prop_assert!(close::is_final(code));
                }
            }
        }
    }
}
