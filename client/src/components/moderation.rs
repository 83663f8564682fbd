//! Room moderation in the browser: the owner's tools, and what a removed or banned person is offered.
//!
//! Ownership: "New room" makes a random owner key ([`new_owner_key`]) and keeps it in the room's record
//! ([`RoomRecord::owner_secret`](crate::storage::RoomRecord::owner_secret)). [`start_session`] reads it before the
//! session says `hello`, so the signaling worker recognises the owner across reloads and reconnects without an
//! account. The worker answers `welcome{owner}` and, to the owner, the room's bans; they arrive here as
//! [`ModerationEvent`]s through the room page's session event handler ([`Moderation::dispatcher`]).
//!
//! The owner sees [`ModerationPanel`]: "Remove" (the other person is disconnected and may rejoin) and "Ban"
//! (disconnected and refused from now on: that identity, and anyone from the same network), each after a
//! confirmation, and the list of bans with "Lift ban". The other person sees the sentence of close code 4005 or 4004
//! in the room page's banner, with "Rejoin" after a removal ([`closed_action`]). Both sides drop their peer
//! connection: the removed side because its session closed, the owner on the worker's `peer-left`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use twain_protocol::room::Retention;
use twain_protocol::signal::{close, BanInfo, ClientFrame, PeerInfo};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::components::{focus, on_escape};
use crate::net::session::{Me, Moderated, ModerationEvent, Session, SessionEvent};
use crate::storage::Storage;

/// A new owner key for a room this browser creates (256 random bits).
pub fn new_owner_key() -> String {
    twain_protocol::ids::new_owner_key(crate::random::random_bytes::<32>())
}

/// Starts the room's session once this browser's owner key for the room (if it created it) has been read, so the
/// very first `hello` already proves ownership. Returns a flag to set when the page goes away first: the session is
/// then never started.
pub fn start_session(
    storage: Rc<Storage>,
    slot: Rc<RefCell<Option<Session>>>,
    room_id: String,
    mut me: Me,
    emit: Rc<dyn Fn(SessionEvent)>,
) -> Rc<Cell<bool>> {
    let cancelled = Rc::new(Cell::new(false));
    let flag = cancelled.clone();
    spawn_local(async move {
        // Without a readable record this browser simply joins as a guest.
        me.owner_key = storage
            .room(&room_id)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.owner_secret);
        if !flag.get() {
            *slot.borrow_mut() = Some(Session::start(&room_id, me, emit));
        }
    });
    cancelled
}

/// The label of the room banner's button after the worker closed the session for good, or `None` when trying again
/// cannot help (banned, broken link, incompatible version).
pub fn closed_action(code: u16) -> Option<&'static str> {
    if !close::may_retry(code) {
        return None;
    }
    Some(match code {
        close::REPLACED => "Use Twain in this tab",
        close::KICKED => "Rejoin",
        _ => "Try again",
    })
}

/// What the owner's tools show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModerationState {
    /// The worker confirmed that this browser owns the room (at the last join).
    pub owner: bool,
    /// The room's bans, newest first.
    pub bans: Vec<BanInfo>,
    /// The outcome of the owner's last action, as a sentence.
    pub notice: Option<String>,
}

pub enum ModerationAction {
    Event(ModerationEvent),
    Notice(Option<String>),
}

impl Reducible for ModerationState {
    type Action = ModerationAction;

    fn reduce(self: Rc<Self>, action: ModerationAction) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            ModerationAction::Event(ModerationEvent::Owner(owner)) => {
                s.owner = owner;
                if !owner {
                    s.bans.clear();
                }
            }
            ModerationAction::Event(ModerationEvent::Bans(list)) => s.bans = list,
            ModerationAction::Event(ModerationEvent::Refused(why)) => {
                s.notice = Some(format!("The server refused that: {why}."))
            }
            ModerationAction::Notice(notice) => s.notice = notice,
        }
        Rc::new(s)
    }
}

/// The room page's handle on moderation: state for the panel, a dispatcher for session events.
pub struct Moderation {
    state: UseReducerHandle<ModerationState>,
    session: Rc<RefCell<Option<Session>>>,
}

#[hook]
pub fn use_moderation(session: Rc<RefCell<Option<Session>>>) -> Moderation {
    let state = use_reducer(ModerationState::default);
    Moderation { state, session }
}

impl Moderation {
    /// Where the session event handler sends [`SessionEvent::Moderation`] events.
    pub fn dispatcher(&self) -> UseReducerDispatcher<ModerationState> {
        self.state.dispatcher()
    }

    /// The owner's tools (nothing for a guest). `peer`: the other person while present; `in_room`: the session is
    /// in the room (or reconnecting to it), so moderation frames can be sent.
    pub fn panel(&self, peer: Option<&PeerInfo>, in_room: bool) -> Html {
        if !self.state.owner {
            return html! {};
        }
        let session = self.session.clone();
        let dispatch = self.state.dispatcher();
        let on_command = Callback::from(move |(frame, done): (ClientFrame, String)| {
            let outcome = session.borrow().as_ref().map(|s| s.moderate(&frame));
            let notice = match outcome {
                Some(Moderated::Done) => done,
                _ => "You are not connected to the room right now. Try again once you are."
                    .to_string(),
            };
            dispatch.dispatch(ModerationAction::Notice(Some(notice)));
        });
        html! {
            <ModerationPanel peer={peer.cloned()} {in_room} bans={self.state.bans.clone()}
                notice={self.state.notice.clone()} {on_command} />
        }
    }
}

#[derive(Properties, PartialEq)]
pub struct ModerationPanelProps {
    pub peer: Option<PeerInfo>,
    pub in_room: bool,
    pub bans: Vec<BanInfo>,
    pub notice: Option<String>,
    /// A frame to send and the sentence to show once it is sent.
    pub on_command: Callback<(ClientFrame, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    Kick,
    Ban,
}

/// Days a ban lasts by default (the worker's `BAN_TTL_MS`); the list shows each ban's real end.
fn ban_days() -> u64 {
    Retention::default().ban_ttl_ms / 86_400_000
}

#[function_component(ModerationPanel)]
pub fn moderation_panel(props: &ModerationPanelProps) -> Html {
    let confirm = use_state(|| None::<Removal>);
    // A confirmation is about the person present when it was asked; it goes when they do.
    let peer = props.peer.as_ref().filter(|_| props.in_room);
    {
        let confirm = confirm.clone();
        use_effect_with(peer.map(|p| p.peer_id.clone()), move |_| confirm.set(None));
    }

    // Keyboard focus: into the question when it opens (on "Cancel", the safe answer); back to the button that
    // asked when it is cancelled (Escape included), since that button is disabled meanwhile; to the owner's panel
    // (where the outcome is said) when it is answered, since the buttons go with the person.
    let cancel_ref = use_node_ref();
    let kick_ref = use_node_ref();
    let ban_ref = use_node_ref();
    let panel_ref = use_node_ref();
    // Where the focus goes when the question closes: the button that asked, or the panel (None: stay).
    let focus_after = use_mut_ref(|| None::<Option<Removal>>);
    {
        let (cancel_ref, kick_ref, ban_ref, panel_ref, focus_after) = (
            cancel_ref.clone(),
            kick_ref.clone(),
            ban_ref.clone(),
            panel_ref.clone(),
            focus_after.clone(),
        );
        use_effect_with(*confirm, move |open| {
            let target = match open {
                Some(_) => Some(cancel_ref),
                None => focus_after.borrow_mut().take().map(|to| match to {
                    Some(Removal::Kick) => kick_ref,
                    Some(Removal::Ban) => ban_ref,
                    None => panel_ref,
                }),
            };
            if let Some(target) = target {
                focus(&target);
            }
        });
    }
    let ask = |what: Removal| {
        let confirm = confirm.clone();
        Callback::from(move |_| confirm.set(Some(what)))
    };
    let cancel = {
        let confirm = confirm.clone();
        let focus_after = focus_after.clone();
        Callback::from(move |_| {
            *focus_after.borrow_mut() = Some(*confirm);
            confirm.set(None)
        })
    };
    let on_key = on_escape(cancel.clone());

    let tools = match peer {
        None => html! {
            <p class="muted small">{ "You own this room. You can remove or ban the other person while they are here." }</p>
        },
        Some(peer) => {
            let name = peer.name.clone();
            let confirmation = confirm.map(|what| {
                let (question, yes, frame, done) = match what {
                    Removal::Kick => (
                        format!("Remove {name} from the room? Your connection with them ends now. They can rejoin with the link."),
                        "Yes, remove",
                        ClientFrame::Kick { peer_id: peer.peer_id.clone() },
                        format!("You removed {name} from the room."),
                    ),
                    Removal::Ban => (
                        format!(
                            "Ban {name}? Your connection with them ends now, and they can't come back to this room for {} days or until you lift the ban: not from this browser, not with a new identity, not from the same network. Other people on that network are refused too.",
                            ban_days()
                        ),
                        "Yes, ban",
                        ClientFrame::Ban { peer_id: peer.peer_id.clone(), name: None },
                        format!("You banned {name} from this room."),
                    ),
                };
                let on_yes = {
                    let on_command = props.on_command.clone();
                    let confirm = confirm.clone();
                    let focus_after = focus_after.clone();
                    Callback::from(move |_| {
                        *focus_after.borrow_mut() = Some(None);
                        confirm.set(None);
                        on_command.emit((frame.clone(), done.clone()));
                    })
                };
                html! {
                    <div class="confirm" role="alertdialog" aria-label="Confirm" aria-describedby="moderation-question"
                        onkeydown={on_key.clone()}>
                        <p id="moderation-question">{ question }</p>
                        <div class="row">
                            <button class={classes!((what == Removal::Ban).then_some("danger"))} onclick={on_yes}>{ yes }</button>
                            <button ref={cancel_ref.clone()} onclick={cancel.reform(|_| ())}>{ "Cancel" }</button>
                        </div>
                    </div>
                }
            });
            html! {
                <>
                    <p class="muted small">{ format!("You own this room. Remove lets {name} rejoin; Ban keeps them out.") }</p>
                    <div class="row">
                        <button ref={kick_ref.clone()} onclick={ask(Removal::Kick)} disabled={confirm.is_some()}>{ "Remove" }</button>
                        <button ref={ban_ref.clone()} class="danger" onclick={ask(Removal::Ban)} disabled={confirm.is_some()}>{ "Ban" }</button>
                    </div>
                    { for confirmation }
                </>
            }
        }
    };

    let bans = if props.bans.is_empty() {
        html! { <p class="muted small">{ "Nobody is banned from this room." }</p> }
    } else {
        html! {
            <ul class="ban-list">
                { for props.bans.iter().map(|ban| {
                    let on_lift = {
                        let on_command = props.on_command.clone();
                        let frame = ClientFrame::Unban { ban_id: ban.ban_id.clone() };
                        let done = format!("You lifted the ban on {}. They can join this room again.", ban.name);
                        Callback::from(move |_| on_command.emit((frame.clone(), done.clone())))
                    };
                    html! {
                        <li key={ban.ban_id.clone()}>
                            <span class="ban-name">{ &ban.name }</span>
                            <span class="muted small">{ format!(" · banned {} · until {}",
                                crate::time::when(ban.banned_ms as f64), crate::time::day(ban.expires_ms as f64)) }</span>
                            <button class="link" onclick={on_lift} disabled={!props.in_room}
                                aria-label={format!("Lift ban on {}", ban.name)}>{ "Lift ban" }</button>
                        </li>
                    }
                }) }
            </ul>
        }
    };

    // While nobody else is here, the owner tools only take room: they show when there is someone to remove, a ban
    // to lift, or an outcome to tell.
    if peer.is_none() && props.bans.is_empty() && props.notice.is_none() {
        return html! {};
    }
    html! {
        <section class="moderation" aria-label="Room owner" ref={panel_ref} tabindex="-1">
            { tools }
            <details class="bans">
                <summary>{ format!("Bans ({})", props.bans.len()) }</summary>
                { bans }
            </details>
            if let Some(notice) = &props.notice {
                <p class="moderation-notice" role="status">{ notice.clone() }</p>
            }
        </section>
    }
}
