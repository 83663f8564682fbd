//! Data-channel frames: what the two browsers say to each other, peer to peer.
//!
//! Control and chat frames are JSON text messages on the data channel labelled `twain` (negotiated, id 0).
//! File frames (`file-*`) are JSON text messages on the second channel, `twain-files`, next to the binary chunk
//! frames of [`crate::transfer::frame`], so that an offer always arrives before its chunks; see [`crate::transfer`].
//! Everything here comes from the other browser, which may be modified: [`PeerFrame::decode`] caps sizes and
//! checks every field, and callers render all peer text as text, never as HTML.

use serde::{Deserialize, Serialize};

use crate::transfer::{CancelReason, FileMeta, TransferId, MAX_CANCEL_MESSAGE_CHARS, MAX_CHUNKS};
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
    Hello {
        v: u32,
        peer_id: String,
        name: String,
    },
    /// A chat message. `ts` is the sender's clock, milliseconds since the Unix epoch. `reply` names the earlier
    /// message it answers, if any.
    Chat {
        id: String,
        text: String,
        ts: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply: Option<ReplyTo>,
    },
    /// The receiver stored chat message `id` (the sender shows a delivered tick).
    Ack { id: String },
    /// The sender deleted its own chat message `id` for both: the receiver drops the text of its copy and shows
    /// that a message was deleted there. Only the sender's own messages can be named (ids belong to their
    /// author); an id the receiver does not have is ignored.
    Unsend { id: String },
    /// The sender changed the text of its own chat message `id`; the receiver replaces the text of its copy and
    /// marks it edited. Only the sender's own messages can be named; an id the receiver does not have, or a
    /// message deleted there, is left alone.
    Edit { id: String, text: String },
    /// The sender is typing (`true`) or stopped (`false`). Expires by itself after a few seconds.
    Typing { active: bool },
    /// Sender → receiver (on `twain-files`): a file to receive, or the same transfer offered again after a
    /// reconnect. The receiver auto-accepts (or refuses with `file-cancel`); no chunk is sent before that.
    FileOffer {
        transfer_id: TransferId,
        name: String,
        size: u64,
        mime: String,
        sha256: String,
    },
    /// Receiver → sender: answer to `file-offer`; send chunks from `next_seq` on (0 for a new transfer, more when
    /// the receiver already holds part of it).
    FileAccept {
        transfer_id: TransferId,
        next_seq: u32,
    },
    /// Receiver → sender, unprompted (on reconnect, or a person retrying): send chunks from `next_seq` on.
    /// Answered by chunks, `file-unavailable` or `file-cancel`.
    FileResume {
        transfer_id: TransferId,
        next_seq: u32,
    },
    /// Receiver → sender: every byte is stored and its SHA-256 matches the offer. The transfer is over.
    FileComplete { transfer_id: TransferId },
    /// Either side: the transfer is over without delivery. `message` is an optional sentence for the person.
    FileCancel {
        transfer_id: TransferId,
        reason: CancelReason,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
    },
    /// Sender → receiver: the sender no longer has the file open (it reloaded), so it can't resume. The receiver
    /// keeps what it stored and may ask again later with `file-resume`.
    FileUnavailable { transfer_id: TransferId },
    /// Caller → callee: an audio (`video: false`) or video call; the callee rings. See [`crate::call`].
    CallInvite { call_id: String, video: bool },
    /// Callee → caller: the person accepted; both sides add their tracks to the peer connection now.
    CallAccept { call_id: String },
    /// Callee → caller: the call is not taken (the person declined, another call is live, no devices).
    CallDecline {
        call_id: String,
        #[serde(default)]
        reason: crate::call::DeclineReason,
    },
    /// Either side: hang up a live call, or cancel a ringing one.
    CallEnd { call_id: String },
    /// Either side, when the call starts and on every change: what it sends (microphone on, some video, the
    /// video is a shared screen).
    CallMedia {
        call_id: String,
        audio: bool,
        video: bool,
        screen: bool,
    },
    /// Sent right after `hello` when the chat channel opens: the sender's public key and its signature over the
    /// room id and the DTLS fingerprint of its own local description. See [`crate::verify`].
    Proof {
        /// Base64url of the raw uncompressed P-256 public key (65 bytes).
        public_key: String,
        /// The signed fingerprint, as in SDP: `sha-256 AB:CD:…`.
        fingerprint: String,
        /// Base64url of the ECDSA P-256 / SHA-256 signature, IEEE P1363 form (64 bytes).
        signature: String,
        /// The sender has not checked a proof of the receiver on this connection yet: answer with yours (see
        /// [`crate::verify::ProofExchange`]). Absent means false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ask: bool,
    },
    /// Sent after `hello` and on every change: whether the sender keeps nothing of this room (no history, no
    /// files) in its browser.
    RoomMode { keep_nothing: bool },
}

impl PeerFrame {
    /// Decodes and validates a JSON frame from the other browser.
    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        let frame: PeerFrame = decode_json(text, MAX_PEER_FRAME_BYTES)?;
        frame.validate()?;
        Ok(frame)
    }

    /// The `file-offer` frame announcing `meta`.
    pub fn file_offer(transfer_id: TransferId, meta: &FileMeta) -> Self {
        PeerFrame::FileOffer {
            transfer_id,
            name: meta.name.clone(),
            size: meta.size,
            mime: meta.mime.clone(),
            sha256: meta.sha256.clone(),
        }
    }

    /// The transfer a `file-*` frame is about; `None` for chat frames.
    pub fn transfer_id(&self) -> Option<TransferId> {
        match self {
            PeerFrame::FileOffer { transfer_id, .. }
            | PeerFrame::FileAccept { transfer_id, .. }
            | PeerFrame::FileResume { transfer_id, .. }
            | PeerFrame::FileComplete { transfer_id }
            | PeerFrame::FileCancel { transfer_id, .. }
            | PeerFrame::FileUnavailable { transfer_id } => Some(*transfer_id),
            PeerFrame::Hello { .. }
            | PeerFrame::Chat { .. }
            | PeerFrame::Ack { .. }
            | PeerFrame::Unsend { .. }
            | PeerFrame::Edit { .. }
            | PeerFrame::Typing { .. } => None,
            PeerFrame::CallInvite { .. }
            | PeerFrame::CallAccept { .. }
            | PeerFrame::CallDecline { .. }
            | PeerFrame::CallEnd { .. }
            | PeerFrame::CallMedia { .. } => None,
            PeerFrame::Proof { .. } | PeerFrame::RoomMode { .. } => None,
        }
    }

    /// The chat message a frame that waits for its `ack` is about (`chat`, `unsend`, `edit`); `None` for the
    /// others. An `ack` names a message, so it ends the wait of every such frame about that message.
    pub fn message_id(&self) -> Option<&str> {
        match self {
            PeerFrame::Chat { id, .. } | PeerFrame::Unsend { id } | PeerFrame::Edit { id, .. } => {
                Some(id)
            }
            _ => None,
        }
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
            PeerFrame::Chat {
                id,
                text,
                ts,
                reply,
            } => {
                validate_message_id(id)?;
                if let Some(reply) = reply {
                    validate_message_id(&reply.id)?;
                }
                validate_text(text)?;
                if !ts.is_finite() || *ts < 0.0 {
                    return Err(ProtocolError::Invalid(
                        "the message time is not a valid time".into(),
                    ));
                }
                Ok(())
            }
            PeerFrame::Ack { id } | PeerFrame::Unsend { id } => validate_message_id(id),
            PeerFrame::Edit { id, text } => {
                validate_message_id(id)?;
                validate_text(text)
            }
            PeerFrame::Typing { .. } => Ok(()),
            PeerFrame::FileOffer {
                name,
                size,
                mime,
                sha256,
                ..
            } => FileMeta {
                name: name.clone(),
                size: *size,
                mime: mime.clone(),
                sha256: sha256.clone(),
            }
            .validate(),
            PeerFrame::FileAccept { next_seq, .. } | PeerFrame::FileResume { next_seq, .. } => {
                if *next_seq > MAX_CHUNKS {
                    return Err(ProtocolError::Invalid(format!(
                        "chunk {next_seq} is beyond the end of any file this app accepts"
                    )));
                }
                Ok(())
            }
            PeerFrame::FileCancel { message, .. } => {
                let chars = message.chars().count();
                if chars > MAX_CANCEL_MESSAGE_CHARS {
                    return Err(ProtocolError::Invalid(format!(
                        "the cancel message has {chars} characters, over the limit of {MAX_CANCEL_MESSAGE_CHARS}"
                    )));
                }
                if message.chars().any(char::is_control) {
                    return Err(ProtocolError::Invalid(
                        "the cancel message contains control characters".into(),
                    ));
                }
                Ok(())
            }
            PeerFrame::FileComplete { .. } | PeerFrame::FileUnavailable { .. } => Ok(()),
            PeerFrame::CallInvite { call_id, .. }
            | PeerFrame::CallAccept { call_id }
            | PeerFrame::CallDecline { call_id, .. }
            | PeerFrame::CallEnd { call_id } => crate::call::validate_call_id(call_id),
            PeerFrame::CallMedia {
                call_id,
                audio,
                video,
                screen,
            } => {
                crate::call::validate_call_id(call_id)?;
                crate::call::MediaState {
                    audio: *audio,
                    video: *video,
                    screen: *screen,
                }
                .validate()
            }
            PeerFrame::Proof {
                public_key,
                fingerprint,
                signature,
                ..
            } => crate::verify::validate_proof_fields(public_key, fingerprint, signature),
            PeerFrame::RoomMode { .. } => Ok(()),
        }
    }
}

/// The message a chat message answers: its id, and who wrote it. Ids are the author's, so `by_sender` says in
/// whose ids to look: the quoted message was written by the sender of the frame (`true`) or by its receiver.
/// The receiver shows the quote from its own copy of that message, never from anything the frame says, so a
/// modified peer cannot put words in anybody's mouth; a quote of a message the receiver does not have shows as
/// missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTo {
    pub id: String,
    pub by_sender: bool,
}

/// A chat message's text: not blank, at most [`MAX_TEXT_CHARS`] characters.
fn validate_text(text: &str) -> Result<(), ProtocolError> {
    if text.trim().is_empty() {
        return Err(ProtocolError::Invalid("the message is empty".into()));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ProtocolError::Invalid(format!(
            "the message has {chars} characters, over the limit of {MAX_TEXT_CHARS}"
        )));
    }
    Ok(())
}

fn validate_message_id(id: &str) -> Result<(), ProtocolError> {
    crate::ids::check_token("message id", id, MAX_MESSAGE_ID_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "q7Xk2mP9vL3nR8sT1wY4zA";
    const TID: TransferId = TransferId([0x5a; 16]);
    const HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

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
                reply: None,
            },
            PeerFrame::Chat {
                id: ID.into(),
                text: "yes".into(),
                ts: 1.7e12,
                reply: Some(ReplyTo {
                    id: "b".repeat(MAX_MESSAGE_ID_LEN),
                    by_sender: false,
                }),
            },
            PeerFrame::Ack { id: ID.into() },
            PeerFrame::Unsend { id: ID.into() },
            PeerFrame::Edit {
                id: ID.into(),
                text: "meet at 6 <b>".into(),
            },
            PeerFrame::Typing { active: true },
            PeerFrame::FileOffer {
                transfer_id: TID,
                name: "holiday photo.jpg".into(),
                size: 1_234_567,
                mime: "image/jpeg".into(),
                sha256: "ab".repeat(32),
            },
            PeerFrame::FileOffer {
                transfer_id: TID,
                name: "empty".into(),
                size: 0,
                mime: "".into(),
                sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
            },
            PeerFrame::FileAccept {
                transfer_id: TID,
                next_seq: 0,
            },
            PeerFrame::FileResume {
                transfer_id: TID,
                next_seq: 64,
            },
            PeerFrame::FileComplete { transfer_id: TID },
            PeerFrame::FileCancel {
                transfer_id: TID,
                reason: CancelReason::Cancelled,
                message: String::new(),
            },
            PeerFrame::FileCancel {
                transfer_id: TID,
                reason: CancelReason::Refused,
                message: "the file name contains a path separator".into(),
            },
            PeerFrame::FileUnavailable { transfer_id: TID },
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
            reply: None,
        };
        assert!(PeerFrame::decode(&long_text.encode()).is_err());
        let long_edit = PeerFrame::Edit {
            id: ID.into(),
            text: "x".repeat(MAX_TEXT_CHARS + 1),
        };
        assert!(PeerFrame::decode(&long_edit.encode()).is_err());
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
            r#"{"type":"unsend","id":"a:b"}"#,
            r#"{"type":"unsend"}"#,
            r#"{"type":"edit","id":"ok","text":"  "}"#,
            r#"{"type":"edit","id":"a b","text":"x"}"#,
            r#"{"type":"edit","id":"ok"}"#,
            r#"{"type":"typing"}"#,
            r#"{"type":"chat","id":"ok","text":"x","ts":1,"reply":{"id":"<b>x</b>","by_sender":true}}"#,
            r#"{"type":"chat","id":"ok","text":"x","ts":1,"reply":{"id":"","by_sender":false}}"#,
            r#"{"type":"chat","id":"ok","text":"x","ts":1,"reply":{"id":"ok"}}"#,
            r#"{"type":"chat","id":"ok","text":"x","ts":1,"reply":"ok"}"#,
        ] {
            assert!(PeerFrame::decode(text).is_err(), "{text}");
        }
        let big = "x".repeat(MAX_PEER_FRAME_BYTES + 1);
        assert!(matches!(
            PeerFrame::decode(&big),
            Err(ProtocolError::TooLarge { .. })
        ));
    }

    #[test]
    fn frames_that_wait_for_an_ack_name_their_message() {
        let id = || ID.to_string();
        for frame in [
            PeerFrame::Chat {
                id: id(),
                text: "x".into(),
                ts: 1.0,
                reply: None,
            },
            PeerFrame::Unsend { id: id() },
            PeerFrame::Edit {
                id: id(),
                text: "y".into(),
            },
        ] {
            assert_eq!(frame.message_id(), Some(ID));
        }
        for frame in [
            PeerFrame::Ack { id: id() },
            PeerFrame::Typing { active: true },
            PeerFrame::FileComplete { transfer_id: TID },
        ] {
            assert_eq!(frame.message_id(), None);
        }
    }

    #[test]
    fn chat_wire_format() {
        // No `reply` key unless the message answers one; a frame without it still reads.
        let plain = r#"{"type":"chat","id":"ok","text":"x","ts":1.0}"#;
        let frame = PeerFrame::decode(plain).unwrap();
        assert!(matches!(frame, PeerFrame::Chat { reply: None, .. }));
        assert_eq!(frame.encode(), plain);
        let answer = r#"{"type":"chat","id":"ok","text":"x","ts":1.0,"reply":{"id":"q1","by_sender":false}}"#;
        let frame = PeerFrame::decode(answer).unwrap();
        assert_eq!(
            frame,
            PeerFrame::Chat {
                id: "ok".into(),
                text: "x".into(),
                ts: 1.0,
                reply: Some(ReplyTo {
                    id: "q1".into(),
                    by_sender: false
                }),
            }
        );
        assert_eq!(frame.encode(), answer);
        check_refused(
            &answer.replace("q1", &"q".repeat(MAX_MESSAGE_ID_LEN + 1)),
            "message id",
        );
    }

    fn offer_json(name: &str, size: &str, mime: &str, sha: &str) -> String {
        format!(
            r#"{{"type":"file-offer","transfer_id":"{}","name":{},"size":{size},"mime":{},"sha256":"{sha}"}}"#,
            TID,
            serde_json::to_string(name).unwrap(),
            serde_json::to_string(mime).unwrap()
        )
    }

    /// Decoding `text` fails with an error whose sentence contains `expected`.
    fn check_refused(text: &str, expected: &str) {
        let err = PeerFrame::decode(text).unwrap_err();
        assert!(err.to_string().contains(expected), "{text}: {err}");
    }

    #[test]
    fn file_frames_wire_format() {
        let text = offer_json("a.txt", "3", "text/plain", HASH);
        let frame = PeerFrame::decode(&text).unwrap();
        assert_eq!(frame.transfer_id(), Some(TID));
        assert_eq!(
            PeerFrame::decode(&format!(
                r#"{{"type":"file-cancel","transfer_id":"{TID}","reason":"damaged"}}"#
            ))
            .unwrap(),
            PeerFrame::FileCancel {
                transfer_id: TID,
                reason: CancelReason::Damaged,
                message: String::new()
            }
        );
        // A reason added by a later version still reads.
        let frame = PeerFrame::decode(&format!(
            r#"{{"type":"file-cancel","transfer_id":"{TID}","reason":"quota"}}"#
        ))
        .unwrap();
        assert!(matches!(
            frame,
            PeerFrame::FileCancel {
                reason: CancelReason::Other,
                ..
            }
        ));
        assert_eq!(
            PeerFrame::FileComplete { transfer_id: TID }.encode(),
            format!(r#"{{"type":"file-complete","transfer_id":"{TID}"}}"#)
        );
        assert_eq!(PeerFrame::Typing { active: true }.transfer_id(), None);
    }

    #[test]
    fn hostile_file_frames_are_refused() {
        check_refused(
            &offer_json("../../.ssh/id_rsa", "3", "", HASH),
            "path separator",
        );
        check_refused(&offer_json("a\\b", "3", "", HASH), "path separator");
        check_refused(&offer_json("a\u{0}b", "3", "", HASH), "control characters");
        check_refused(
            &offer_json(&"n".repeat(300), "3", "", HASH),
            "over the limit of 255",
        );
        check_refused(&offer_json("   ", "3", "", HASH), "empty");
        check_refused(&offer_json("a", "200000001", "", HASH), "files over 200 MB");
        check_refused(
            &offer_json("a", "18446744073709551615", "", HASH),
            "files over 200 MB",
        );
        check_refused(&offer_json("a", "-1", "", HASH), "could not be read");
        check_refused(&offer_json("a", "1.5", "", HASH), "could not be read");
        check_refused(&offer_json("a", "1e300", "", HASH), "could not be read");
        check_refused(&offer_json("a", "3", "text/html\n", HASH), "MIME");
        check_refused(&offer_json("a", "3", "nonsense", HASH), "MIME");
        check_refused(&offer_json("a", "3", "", "abc"), "SHA-256");
        check_refused(&offer_json("a", "3", "", &HASH.to_uppercase()), "SHA-256");
        for text in [
            r#"{"type":"file-accept","transfer_id":"xyz","next_seq":0}"#,
            r#"{"type":"file-accept","transfer_id":"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a","next_seq":0}"#,
            r#"{"type":"file-accept","transfer_id":"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a","next_seq":-1}"#,
            r#"{"type":"file-resume","transfer_id":"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"}"#,
            r#"{"type":"file-complete"}"#,
            r#"{"type":"file-cancel","transfer_id":"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"}"#,
            r#"{"type":"file-chunk","transfer_id":"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"}"#,
        ] {
            assert!(PeerFrame::decode(text).is_err(), "{text}");
        }
        check_refused(
            &format!(r#"{{"type":"file-resume","transfer_id":"{TID}","next_seq":4000000000}}"#),
            "beyond the end",
        );
        check_refused(
            &format!(
                r#"{{"type":"file-cancel","transfer_id":"{TID}","reason":"failed","message":"{}"}}"#,
                "m".repeat(MAX_CANCEL_MESSAGE_CHARS + 1)
            ),
            "cancel message",
        );
        check_refused(
            &format!(
                r#"{{"type":"file-cancel","transfer_id":"{TID}","reason":"failed","message":"a\u001bb"}}"#
            ),
            "control characters",
        );
    }
}
