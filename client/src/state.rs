//! The room page's state and its pure reducer: no IO here, so it is easy to follow and to test.

use std::rc::Rc;

use twain_protocol::signal::PeerInfo;
use twain_protocol::wire::ReplyTo;
use yew::Reducible;

use crate::net::session::LinkStatus;
use crate::storage::StoredMessage;

/// The conversation, oldest first. Shared: copying the state (every action does) or handing the list to the
/// conversation view copies a pointer, and changing one message copies the pointers, not the messages.
pub type Messages = Rc<Vec<Rc<StoredMessage>>>;

/// Who wrote a message, in its storage key: us, or the app itself. The other person is named by their identity
/// id, which is longer than these (at least 16 characters), so the two never meet.
pub const AUTHOR_ME: &str = "me";
pub const AUTHOR_SYSTEM: &str = "sys";

/// Storage key of a message: room, author, the author's message id. Namespacing by author means a peer can never
/// overwrite one of our messages by reusing an id.
pub fn message_key(room_id: &str, author: &str, id: &str) -> String {
    format!("{room_id}:{author}:{id}")
}

/// How the other browser names the message with storage key `key` (to answer it, or delete it for both): its id,
/// and whether we wrote it. `None` for a key that is not a chat message of this room.
pub fn wire_ref(room_id: &str, key: &str) -> Option<ReplyTo> {
    let (author, id) = key
        .strip_prefix(room_id)?
        .strip_prefix(':')?
        .split_once(':')?;
    (author != AUTHOR_SYSTEM && !id.is_empty()).then(|| ReplyTo {
        id: id.to_string(),
        by_sender: author == AUTHOR_ME,
    })
}

/// The storage key of the message that a chat message from `peer_id` answers, by what its frame says.
pub fn reply_key(room_id: &str, peer_id: &str, reply: &ReplyTo) -> String {
    let author = if reply.by_sender { peer_id } else { AUTHOR_ME };
    message_key(room_id, author, &reply.id)
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoomState {
    pub status: LinkStatus,
    /// The other person as last introduced (name updated by their hello frames).
    pub peer: Option<PeerInfo>,
    /// The other person's name remembered from an earlier visit, shown while they are away.
    pub remembered_peer_name: Option<String>,
    pub messages: Messages,
    pub history_loaded: bool,
    pub peer_typing: bool,
    /// A problem to show the user in a sentence (storage full, a bad frame from the peer...).
    pub notice: Option<String>,
}

impl Default for RoomState {
    fn default() -> Self {
        RoomState {
            status: LinkStatus::Joining,
            peer: None,
            remembered_peer_name: None,
            messages: Messages::default(),
            history_loaded: false,
            peer_typing: false,
            notice: None,
        }
    }
}

impl RoomState {
    /// The name to show for the other person.
    pub fn peer_name(&self) -> Option<&str> {
        self.peer
            .as_ref()
            .map(|p| p.name.as_str())
            .or(self.remembered_peer_name.as_deref())
    }
}

#[derive(Debug, Clone)]
pub enum Action {
    HistoryLoaded {
        messages: Vec<StoredMessage>,
        peer_name: Option<String>,
    },
    Status(LinkStatus),
    PeerArrived(PeerInfo),
    PeerDeparted,
    PeerRenamed(String),
    /// A message to show (new, or an updated copy of one already shown).
    Message(StoredMessage),
    Delivered(String),
    /// A message deleted from this browser's copy of the conversation.
    Removed(String),
    /// A message its author deleted for both: only its place is left.
    Erased(String),
    /// A message its author changed.
    Edited {
        id: String,
        text: String,
    },
    PeerTyping(bool),
    Notice(Option<String>),
}

impl Reducible for RoomState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::HistoryLoaded {
                messages,
                peer_name,
            } => {
                // Messages that arrived while history was loading stay, after the stored ones.
                let mut all: Vec<_> = messages.into_iter().map(Rc::new).collect();
                for m in s.messages.iter() {
                    if !all.iter().any(|x| x.id == m.id) {
                        all.push(m.clone());
                    }
                }
                s.messages = Rc::new(all);
                s.history_loaded = true;
                if s.remembered_peer_name.is_none() {
                    s.remembered_peer_name = peer_name;
                }
            }
            Action::Status(status) => {
                if status != LinkStatus::Connected {
                    s.peer_typing = false;
                }
                s.status = status;
            }
            Action::PeerArrived(peer) => {
                s.remembered_peer_name = Some(peer.name.clone());
                s.peer = Some(peer);
            }
            Action::PeerDeparted => {
                s.peer = None;
                s.peer_typing = false;
            }
            Action::PeerRenamed(name) => {
                if let Some(p) = s.peer.as_mut() {
                    p.name = name.clone();
                }
                s.remembered_peer_name = Some(name);
            }
            Action::Message(mut m) => {
                let messages = Rc::make_mut(&mut s.messages);
                match messages.iter_mut().find(|x| x.id == m.id) {
                    // The same message again (sent again after a reconnect): it keeps its place and first time,
                    // and a deleted one stays deleted.
                    Some(existing) => {
                        m.keep_from(existing);
                        *existing = Rc::new(m);
                    }
                    None => {
                        if !m.from_me {
                            s.peer_typing = false;
                        }
                        messages.push(Rc::new(m))
                    }
                }
            }
            Action::Delivered(id) => change_message(&mut s.messages, &id, StoredMessage::deliver),
            Action::Removed(id) => {
                if s.messages.iter().any(|x| x.id == id) {
                    Rc::make_mut(&mut s.messages).retain(|x| x.id != id);
                }
            }
            Action::Erased(id) => change_message(&mut s.messages, &id, StoredMessage::erase),
            Action::Edited { id, text } => change_message(&mut s.messages, &id, |m| m.edit(&text)),
            Action::PeerTyping(active) => s.peer_typing = active,
            Action::Notice(notice) => s.notice = notice,
        }
        Rc::new(s)
    }
}

/// Lets `change` change message `id` (the same changes as [`crate::storage::Storage`] makes on disk), copying
/// that message and the list only if it says it did: a change to nothing leaves the shared list as it is.
fn change_message(
    messages: &mut Messages,
    id: &str,
    change: impl FnOnce(&mut StoredMessage) -> bool,
) {
    let Some(i) = messages.iter().position(|x| x.id == id) else {
        return;
    };
    let mut message = (*messages[i]).clone();
    if change(&mut message) {
        Rc::make_mut(messages)[i] = Rc::new(message);
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use wasm_bindgen_test::wasm_bindgen_test;
    use yew::Reducible;

    use super::{Action, RoomState};
    use crate::storage::{MessageKind, StoredMessage};

    fn chat(id: &str, text: &str, ts: f64) -> StoredMessage {
        StoredMessage {
            id: id.into(),
            room_id: "room".into(),
            kind: MessageKind::Chat,
            from_me: false,
            author: "Bob".into(),
            text: text.into(),
            ts,
            delivered: true,
            reply_to: None,
            deleted: false,
            edited: false,
        }
    }

    #[wasm_bindgen_test]
    fn an_edit_changes_the_text_and_marks_it_until_deleted() {
        let mut s = Rc::new(RoomState::default());
        s = s.reduce(Action::Message(chat("a", "meet at 5", 1000.0)));
        s = s.reduce(Action::Edited {
            id: "a".into(),
            text: "meet at 6".into(),
        });
        assert_eq!(
            (s.messages[0].text.as_str(), s.messages[0].edited),
            ("meet at 6", true)
        );
        // The same message arriving again keeps the mark.
        s = s.reduce(Action::Message(chat("a", "meet at 6", 9000.0)));
        assert!(s.messages[0].edited);
        // The same text, an unknown id, or a deleted message: nothing changes.
        let before = s.clone();
        for (id, text) in [("a", "meet at 6"), ("zzz", "x")] {
            s = s.reduce(Action::Edited {
                id: id.into(),
                text: text.into(),
            });
        }
        assert!(Rc::ptr_eq(&before.messages, &s.messages));
        s = s.reduce(Action::Erased("a".into()));
        s = s.reduce(Action::Edited {
            id: "a".into(),
            text: "back again".into(),
        });
        assert!(s.messages[0].deleted && s.messages[0].text.is_empty());
    }

    #[wasm_bindgen_test]
    fn deleted_for_both_keeps_the_place_without_the_text_and_stays_deleted() {
        let mut s = Rc::new(RoomState::default());
        let reply = StoredMessage {
            reply_to: Some("x".into()),
            ..chat("a", "oops", 1000.0)
        };
        for m in [reply, chat("b", "keep", 2000.0)] {
            s = s.reduce(Action::Message(m));
        }
        s = s.reduce(Action::Erased("a".into()));
        let a = &s.messages[0];
        assert_eq!(
            (
                a.id.as_str(),
                a.deleted,
                a.text.as_str(),
                a.reply_to.clone()
            ),
            ("a", true, "", None)
        );
        // The same message sent again after a reconnect brings nothing back.
        s = s.reduce(Action::Message(chat("a", "oops", 9000.0)));
        assert!(s.messages[0].deleted && s.messages[0].text.is_empty());
        assert_eq!(s.messages[0].ts, 1000.0);
        // Deleted for me: gone; an unknown id changes nothing.
        s = s.reduce(Action::Removed("b".into()));
        let before = s.clone();
        s = s.reduce(Action::Removed("zzz".into()));
        assert!(Rc::ptr_eq(&before.messages, &s.messages));
        let ids: Vec<_> = s.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["a"]);
    }

    #[wasm_bindgen_test]
    fn a_reply_names_the_message_in_the_other_browsers_terms() {
        use super::{message_key, reply_key, wire_ref};
        let (room, peer) = ("R00m", "PeerPeerPeerPeer");
        // Answering their message: on their side it is one of their own (receiver's), and back again.
        let theirs = message_key(room, peer, "m1");
        let wire = wire_ref(room, &theirs).unwrap();
        assert_eq!((wire.id.as_str(), wire.by_sender), ("m1", false));
        // On their side, our "me" is their peer: the key is the same message seen from there.
        assert_eq!(
            reply_key(room, "MePeerIdMePeerId", &wire),
            message_key(room, "me", "m1")
        );
        // Answering our own message.
        let mine = message_key(room, "me", "m2");
        let wire = wire_ref(room, &mine).unwrap();
        assert_eq!((wire.id.as_str(), wire.by_sender), ("m2", true));
        assert_eq!(reply_key(room, peer, &wire), message_key(room, peer, "m2"));
        // Not a chat message of this room.
        assert_eq!(wire_ref(room, &message_key(room, "sys", "x")), None);
        assert_eq!(wire_ref(room, &message_key("other", "me", "x")), None);
        assert_eq!(wire_ref(room, "R00mX:me:x"), None);
    }

    #[wasm_bindgen_test]
    fn a_message_shown_again_keeps_its_place_and_first_time() {
        let mut s = Rc::new(RoomState::default());
        for m in [chat("a", "first", 1000.0), chat("b", "second", 2000.0)] {
            s = s.reduce(Action::Message(m));
        }
        // "a" arrives again after a reconnect, stamped with its new arrival time.
        s = s.reduce(Action::Message(chat("a", "first", 9000.0)));
        let shown: Vec<_> = s.messages.iter().map(|m| (m.id.as_str(), m.ts)).collect();
        assert_eq!(shown, [("a", 1000.0), ("b", 2000.0)]);
    }

    #[wasm_bindgen_test]
    fn delivered_marks_one_message_and_the_others_are_shared_not_copied() {
        let mut s = Rc::new(RoomState::default());
        let mine = StoredMessage {
            from_me: true,
            delivered: false,
            ..chat("a", "hi", 1000.0)
        };
        s = s.reduce(Action::Message(mine));
        s = s.reduce(Action::Message(chat("b", "yo", 2000.0)));
        let before = s.clone();
        s = s.reduce(Action::Delivered("a".into()));
        assert!(s.messages[0].delivered);
        assert!(
            !before.messages[0].delivered,
            "the earlier state is unchanged"
        );
        assert!(Rc::ptr_eq(&before.messages[1], &s.messages[1]));
        // Delivered again, or an unknown id: the list itself is not copied.
        for id in ["a", "zzz"] {
            let again = s.clone().reduce(Action::Delivered(id.into()));
            assert!(Rc::ptr_eq(&again.messages, &s.messages));
        }
        // A typing notice copies no message either.
        let typing = s.clone().reduce(Action::PeerTyping(true));
        assert!(Rc::ptr_eq(&typing.messages, &s.messages));
    }
}
