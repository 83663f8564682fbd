//! Property tests of the data-channel decoder, [`PeerFrame::decode`], over every frame type.
//!
//! The file-transfer frames are also exercised against the transfer engine in `src/transfer/tests.rs`, the binary
//! chunk frame in `src/transfer/frame.rs`, the signaling frames in `src/signal.rs` and ids in `src/ids.rs`; this
//! file covers the decoder itself for chat, receipts, typing, calls and files alike: hostile text never panics,
//! whatever is accepted is valid and round-trips, and every valid frame is accepted.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use twain_protocol::call::DeclineReason;
use twain_protocol::transfer::{CancelReason, TransferId};
use twain_protocol::wire::{PeerFrame, ReplyTo, MAX_PEER_FRAME_BYTES, MAX_TEXT_CHARS};
use twain_protocol::{ProtocolError, PROTOCOL_VERSION};

const TYPES: &[&str] = &[
    "hello",
    "chat",
    "ack",
    "unsend",
    "edit",
    "typing",
    "file-offer",
    "file-accept",
    "file-resume",
    "file-complete",
    "file-cancel",
    "file-unavailable",
    "call-invite",
    "call-accept",
    "call-decline",
    "call-end",
    "call-media",
    "proof",
    "room-mode",
    "made-up",
];

const KEYS: &[&str] = &[
    "v",
    "peer_id",
    "name",
    "id",
    "text",
    "ts",
    "active",
    "transfer_id",
    "size",
    "mime",
    "sha256",
    "next_seq",
    "reason",
    "message",
    "call_id",
    "video",
    "audio",
    "screen",
    "public_key",
    "fingerprint",
    "signature",
    "keep_nothing",
    "reply",
    "by_sender",
];

/// JSON values of every kind, including the shapes a field would want (ids, hashes) and near misses.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(0.5), Just(-1.0), Just(1.7e12), Just(1e300)].prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "[A-Za-z0-9_-]{0,70}".prop_map(Value::from),
        "[0-9a-f]{32}".prop_map(Value::from),
        "[0-9a-f]{64}".prop_map(Value::from),
        Just(Value::from(1)),
        Just(Value::from("cancelled")),
        Just(Value::from("busy")),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects with a frame type and frame-like fields of any value.
fn frame_like() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(TYPES),
        proptest::collection::vec((proptest::sample::select(KEYS), value()), 0..8),
    )
        .prop_map(|(ty, fields)| {
            let mut map = Map::new();
            map.insert("type".into(), ty.into());
            for (k, v) in fields {
                map.insert(k.into(), v);
            }
            Value::Object(map).to_string()
        })
}

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => frame_like(),
        2 => ".{0,200}",
        1 => any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => (0usize..100_000).prop_map(|n| {
            json!({"type": "chat", "id": "a", "text": "x".repeat(n), "ts": 1}).to_string()
        }),
        1 => (0usize..3_000).prop_map(|n| format!("{}{}", "{\"a\":".repeat(n), "1")),
    ]
}

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,64}"
}

fn tid() -> impl Strategy<Value = TransferId> {
    any::<[u8; 16]>().prop_map(TransferId)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{1,200}", "[a-z ]{1,20}"].prop_filter("not blank", |t| !t.trim().is_empty())
}

/// Frames that must be accepted.
fn valid_frame() -> impl Strategy<Value = PeerFrame> {
    prop_oneof![
        ("[A-Za-z0-9_-]{16,64}", "[^\\p{Cc}]{1,40}")
            .prop_filter("name", |(_, n)| !n.trim().is_empty())
            .prop_map(|(peer_id, name)| PeerFrame::Hello {
                v: PROTOCOL_VERSION,
                peer_id,
                name
            }),
        (
            id(),
            text(),
            0u64..4_000_000_000_000,
            proptest::option::of((id(), any::<bool>()))
        )
            .prop_map(|(id, text, ts, reply)| PeerFrame::Chat {
                id,
                text,
                ts: ts as f64,
                reply: reply.map(|(id, by_sender)| ReplyTo { id, by_sender }),
            }),
        id().prop_map(|id| PeerFrame::Ack { id }),
        id().prop_map(|id| PeerFrame::Unsend { id }),
        (id(), text()).prop_map(|(id, text)| PeerFrame::Edit { id, text }),
        any::<bool>().prop_map(|active| PeerFrame::Typing { active }),
        (tid(), 0u32..1000).prop_map(|(transfer_id, next_seq)| PeerFrame::FileAccept {
            transfer_id,
            next_seq
        }),
        (tid(), 0u32..1000).prop_map(|(transfer_id, next_seq)| PeerFrame::FileResume {
            transfer_id,
            next_seq
        }),
        tid().prop_map(|transfer_id| PeerFrame::FileComplete { transfer_id }),
        tid().prop_map(|transfer_id| PeerFrame::FileUnavailable { transfer_id }),
        (
            tid(),
            prop_oneof![
                Just(CancelReason::Cancelled),
                Just(CancelReason::Refused),
                Just(CancelReason::Damaged),
                Just(CancelReason::Failed)
            ],
            "[a-z .]{0,50}"
        )
            .prop_map(|(transfer_id, reason, message)| PeerFrame::FileCancel {
                transfer_id,
                reason,
                message
            }),
        (id(), any::<bool>()).prop_map(|(call_id, video)| PeerFrame::CallInvite { call_id, video }),
        id().prop_map(|call_id| PeerFrame::CallAccept { call_id }),
        (
            id(),
            prop_oneof![
                Just(DeclineReason::Declined),
                Just(DeclineReason::Busy),
                Just(DeclineReason::Unavailable)
            ]
        )
            .prop_map(|(call_id, reason)| PeerFrame::CallDecline { call_id, reason }),
        id().prop_map(|call_id| PeerFrame::CallEnd { call_id }),
        (id(), any::<bool>(), any::<bool>()).prop_map(|(call_id, audio, video)| {
            PeerFrame::CallMedia {
                call_id,
                audio,
                video,
                screen: video,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// No text panics the decoder; what it accepts is within the size cap, valid, and round-trips.
    #[test]
    fn hostile_text_never_panics(text in hostile_text()) {
        match PeerFrame::decode(&text) {
            Ok(frame) => {
                prop_assert!(text.len() <= MAX_PEER_FRAME_BYTES);
                prop_assert!(frame.validate().is_ok());
                if let PeerFrame::Chat { text, .. } | PeerFrame::Edit { text, .. } = &frame {
                    prop_assert!(text.chars().count() <= MAX_TEXT_CHARS);
                }
                prop_assert_eq!(PeerFrame::decode(&frame.encode()).unwrap(), frame);
            }
            Err(ProtocolError::TooLarge { size, limit }) => {
                prop_assert_eq!(size, text.len());
                prop_assert!(size > limit);
            }
            // Error sentences never quote the frame (they may be shown to the person).
            Err(e) => prop_assert!(text.len() < 12 || !e.to_string().contains(&text)),
        }
    }

    /// Every valid frame is accepted and decodes to itself.
    #[test]
    fn valid_frames_round_trip(frame in valid_frame()) {
        prop_assert_eq!(PeerFrame::decode(&frame.encode()).unwrap(), frame);
    }
}
