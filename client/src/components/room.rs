//! The room page: connection state, the conversation, the composer.
//!
//! The [`Session`] is created by an effect and dropped when the page goes away. Its events become reducer
//! actions; storage writes happen here, in the event handler, never in the reducer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use twain_protocol::signal::{close, PeerInfo};
use twain_protocol::wire::PeerFrame;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::app::{room_link, AppContext};
use crate::call::CallController;
use crate::components::attach::AttachFiles;
use crate::components::call::{CallButtons, CallPanel};
use crate::components::composer::Composer;
use crate::components::message_list::{Deletion, MessageList};
use crate::components::moderation::{self, use_moderation, ModerationAction, ModerationState};
use crate::components::rename::RenameForm;
use crate::components::settings::RoomDataPanel;
use crate::components::verify::{TrustPanel, VerifiedBadge};
use crate::files::{use_files, FilesDriver};
use crate::identity::{use_trust, TrustController};
use crate::net::session::{Arrival, LinkStatus, Me, Session, SessionEvent};
use crate::state::{message_key, reply_key, Action, RoomState, AUTHOR_ME, AUTHOR_SYSTEM};
use crate::storage::{MessageKind, Storage, StoredMessage};

#[derive(Properties, PartialEq)]
pub struct RoomProps {
    pub room_id: String,
}

/// How long a "typing" signal lasts without a refresh.
const TYPING_TTL_MS: u32 = 6000;

/// Everything the session event handler needs.
struct Handler {
    room_id: String,
    storage: Rc<Storage>,
    dispatch: UseReducerDispatcher<RoomState>,
    session: Rc<RefCell<Option<Session>>>,
    typing_timer: RefCell<Option<Timeout>>,
    peer: RefCell<Option<PeerInfo>>,
    present: Cell<bool>,
    /// Calls (client/src/call.rs): sees every session event.
    call: CallController,
    /// File transfers (client/src/files): gets the file-channel events.
    files: Rc<FilesDriver>,
    /// Room ownership and bans (components/moderation.rs).
    moderation: UseReducerDispatcher<ModerationState>,
    /// The identity check and keep-nothing mode (client/src/identity.rs): sees every session event.
    trust: Rc<TrustController>,
}

impl Handler {
    fn notice_on_error<T>(&self, result: Result<T, crate::storage::StorageError>) {
        if let Err(e) = result {
            self.dispatch.dispatch(Action::Notice(Some(e.to_string())));
        }
    }

    fn system(self: &Rc<Self>, text: String) {
        let msg = StoredMessage {
            id: message_key(&self.room_id, AUTHOR_SYSTEM, &crate::random::new_id()),
            room_id: self.room_id.clone(),
            kind: MessageKind::System,
            from_me: false,
            author: String::new(),
            text,
            ts: js_sys::Date::now(),
            delivered: false,
            reply_to: None,
            deleted: false,
            edited: false,
        };
        self.dispatch.dispatch(Action::Message(msg.clone()));
        let this = self.clone();
        spawn_local(async move { this.notice_on_error(this.storage.add_message(&msg).await) });
    }

    /// The storage key of the other person's message `id`. Frames that change a message (`edit`, `unsend`) can
    /// only name their sender's own messages: the key is in the sender's name.
    fn their_key(&self, id: &str) -> Option<String> {
        let peer = self.peer.borrow();
        Some(message_key(&self.room_id, &peer.as_ref()?.peer_id, id))
    }

    /// Stores what a frame from the other browser brought or changed, then acknowledges message `id` to it.
    fn store_then_ack<T>(
        self: &Rc<Self>,
        id: String,
        store: impl std::future::Future<Output = Result<T, crate::storage::StorageError>> + 'static,
    ) {
        let this = self.clone();
        spawn_local(async move {
            this.notice_on_error(store.await);
            if let Some(session) = this.session.borrow().as_ref() {
                session.send(&PeerFrame::Ack { id });
            }
        });
    }

    fn remember_peer(self: &Rc<Self>, peer: &PeerInfo) {
        let this = self.clone();
        let peer = peer.clone();
        spawn_local(async move {
            this.notice_on_error(
                this.storage
                    .set_room_peer(&this.room_id, &peer.peer_id, &peer.name)
                    .await,
            )
        });
    }

    fn handle(self: &Rc<Self>, event: SessionEvent) {
        self.call.on_session_event(&event);
        self.trust.on_session_event(&event);
        match event {
            SessionEvent::Status(status) => self.dispatch.dispatch(Action::Status(status)),
            SessionEvent::PeerArrived(peer, arrival) => {
                self.remember_peer(&peer);
                // Only an arrival seen live is news: after our own reload the other person was there all along.
                if !self.present.replace(true) && arrival == Arrival::Joined {
                    self.system(format!("{} joined the room.", peer.name));
                }
                *self.peer.borrow_mut() = Some(peer.clone());
                self.dispatch.dispatch(Action::PeerArrived(peer));
            }
            SessionEvent::PeerDeparted(_) => {
                if self.present.replace(false) {
                    let name = self
                        .peer
                        .borrow()
                        .as_ref()
                        .map(|p| p.name.clone())
                        .unwrap_or_default();
                    self.system(format!("{name} left the room."));
                }
                self.typing_timer.borrow_mut().take();
                self.dispatch.dispatch(Action::PeerDeparted);
            }
            SessionEvent::Frame(frame) => self.on_frame(frame),
            SessionEvent::BadFrame(why) => self.dispatch.dispatch(Action::Notice(Some(why))),
            SessionEvent::Files(event) => self.files.on_session_event(event),
            SessionEvent::Moderation(event) => {
                self.moderation.dispatch(ModerationAction::Event(event))
            }
        }
    }

    fn on_frame(self: &Rc<Self>, frame: PeerFrame) {
        match frame {
            PeerFrame::Hello { name, .. } => {
                let renamed = {
                    let mut peer = self.peer.borrow_mut();
                    match peer.as_mut() {
                        Some(p) if p.name != name => {
                            Some((std::mem::replace(&mut p.name, name.clone()), p.clone()))
                        }
                        _ => None,
                    }
                };
                if let Some((old, peer)) = renamed {
                    self.system(format!("{old} is now called {name}."));
                    self.remember_peer(&peer);
                    self.dispatch.dispatch(Action::PeerRenamed(name));
                }
            }
            PeerFrame::Chat {
                id, text, reply, ..
            } => {
                let Some(peer) = self.peer.borrow().clone() else {
                    return;
                };
                crate::notify::message_arrived(&peer.name, &text);
                let msg = StoredMessage {
                    id: message_key(&self.room_id, &peer.peer_id, &id),
                    room_id: self.room_id.clone(),
                    kind: MessageKind::Chat,
                    from_me: false,
                    author: peer.name.clone(),
                    text,
                    // Our own clock orders the conversation; the sender's may be off.
                    ts: js_sys::Date::now(),
                    delivered: true,
                    reply_to: reply.map(|r| reply_key(&self.room_id, &peer.peer_id, &r)),
                    deleted: false,
                    edited: false,
                };
                self.dispatch.dispatch(Action::Message(msg.clone()));
                let storage = self.storage.clone();
                self.store_then_ack(id, async move { storage.add_message(&msg).await });
            }
            PeerFrame::Edit { id, text } => {
                let Some(key) = self.their_key(&id) else {
                    return;
                };
                self.dispatch.dispatch(Action::Edited {
                    id: key.clone(),
                    text: text.clone(),
                });
                let storage = self.storage.clone();
                self.store_then_ack(id, async move { storage.edit_message(&key, &text).await });
            }
            PeerFrame::Unsend { id } => {
                let Some(key) = self.their_key(&id) else {
                    return;
                };
                self.dispatch.dispatch(Action::Erased(key.clone()));
                let storage = self.storage.clone();
                self.store_then_ack(id, async move { storage.erase_message(&key).await });
            }
            PeerFrame::Ack { id } => {
                let key = message_key(&self.room_id, AUTHOR_ME, &id);
                self.dispatch.dispatch(Action::Delivered(key.clone()));
                let this = self.clone();
                spawn_local(async move {
                    this.notice_on_error(this.storage.mark_delivered(&key).await)
                });
            }
            PeerFrame::Typing { active } => {
                self.dispatch.dispatch(Action::PeerTyping(active));
                let timer = active.then(|| {
                    let dispatch = self.dispatch.clone();
                    Timeout::new(TYPING_TTL_MS, move || {
                        dispatch.dispatch(Action::PeerTyping(false))
                    })
                });
                *self.typing_timer.borrow_mut() = timer;
            }
            // File frames belong to the transfer engine.
            _ => {}
        }
    }
}

#[function_component(RoomPage)]
pub fn room_page(props: &RoomProps) -> Html {
    let ctx = use_context::<AppContext>().expect("app context");
    let state = use_reducer(RoomState::default);
    let session = use_mut_ref(|| None::<Session>);
    let call = (*use_state(CallController::new)).clone();
    let files = use_files(&props.room_id, ctx.storage.clone(), session.clone());
    let moderation = use_moderation(session.clone());
    let trust = use_trust(
        &props.room_id,
        ctx.storage.clone(),
        &ctx.identity,
        session.clone(),
    );
    let copied = use_state(|| None::<bool>);
    let room_id = props.room_id.clone();

    // History and the "rooms you have been in" list.
    {
        let storage = ctx.storage.clone();
        let dispatch = state.dispatcher();
        use_effect_with(room_id.clone(), move |room_id| {
            let room_id = room_id.clone();
            spawn_local(async move {
                let record = storage.touch_room(&room_id, false).await;
                let messages = storage.messages(&room_id).await;
                match messages {
                    Ok(messages) => dispatch.dispatch(Action::HistoryLoaded {
                        messages,
                        peer_name: record.ok().and_then(|r| r.peer_name),
                    }),
                    Err(e) => dispatch.dispatch(Action::Notice(Some(e.to_string()))),
                }
            });
        });
    }

    // The session lives as long as this page (and this identity).
    {
        let storage = ctx.storage.clone();
        let dispatch = state.dispatcher();
        let session = session.clone();
        let files = files.driver.clone();
        let call = call.clone();
        let moderation = moderation.dispatcher();
        let trust = trust.controller.clone();
        let me = Me {
            peer_id: ctx.identity.peer_id.clone(),
            name: ctx.identity.name.clone(),
            owner_key: None, // read from the room's record by moderation::start_session
        };
        use_effect_with(
            (room_id.clone(), me.peer_id.clone()),
            move |(room_id, _)| {
                let handler = Rc::new(Handler {
                    room_id: room_id.clone(),
                    storage,
                    dispatch,
                    session: session.clone(),
                    typing_timer: RefCell::new(None),
                    peer: RefCell::new(None),
                    present: Cell::new(false),
                    call: call.clone(),
                    files,
                    moderation,
                    trust,
                });
                let emit = {
                    let handler = handler.clone();
                    Rc::new(move |event| handler.handle(event))
                };
                // Call events become history lines, like the other system messages.
                call.attach(session.clone(), {
                    let handler = Rc::downgrade(&handler);
                    Rc::new(move |line| {
                        if let Some(h) = handler.upgrade() {
                            h.system(line);
                        }
                    })
                });
                let cancelled = moderation::start_session(
                    handler.storage.clone(),
                    session.clone(),
                    room_id.clone(),
                    me,
                    emit,
                );
                move || {
                    cancelled.set(true);
                    call.detach();
                    session.borrow_mut().take();
                    handler.typing_timer.borrow_mut().take();
                }
            },
        );
    }

    // Tell the other person when we rename.
    {
        let session = session.clone();
        use_effect_with(ctx.identity.name.clone(), move |name| {
            if let Some(s) = session.borrow().as_ref() {
                s.rename(name);
            }
        });
    }

    let connected = state.status == LinkStatus::Connected;
    let peer_label = state.peer_name().unwrap_or("the other person").to_string();
    crate::notify::use_call_alerts(&call, &peer_label);
    // A failed identity check holds everything that sends to the other browser until the person decides.
    let can_send = connected && !trust.view.blocks_sending();
    {
        // File transfers on a new connection wait for its identity check.
        let driver = files.driver.clone();
        use_effect_with(trust.view.cleared(), move |cleared| {
            driver.set_trusted(*cleared);
        });
    }

    // The message the next one answers, or the one of ours being changed (while it is there: it may be deleted
    // meanwhile). One at a time: choosing one drops the other.
    let replying = use_state(|| None::<Rc<StoredMessage>>);
    let editing = use_state(|| None::<Rc<StoredMessage>>);
    let still_there = |target: &UseStateHandle<Option<Rc<StoredMessage>>>| {
        (**target)
            .clone()
            .filter(|r| state.messages.iter().any(|m| m.id == r.id && !m.deleted))
    };
    let reply_target = still_there(&replying);
    let edit_target = still_there(&editing);
    // The same callbacks at every render: each row of the conversation holds them.
    let (on_reply, on_edit) = {
        let (reply, edit) = (replying.setter(), editing.setter());
        (*use_memo((), move |_| {
            let on_reply = {
                let (reply, edit) = (reply.clone(), edit.clone());
                Callback::from(move |m: Rc<StoredMessage>| {
                    edit.set(None);
                    reply.set(Some(m));
                })
            };
            let on_edit = Callback::from(move |m: Rc<StoredMessage>| {
                reply.set(None);
                edit.set(Some(m));
            });
            (on_reply, on_edit)
        }))
        .clone()
    };
    let on_cancel_reply = {
        let replying = replying.clone();
        Callback::from(move |()| replying.set(None))
    };
    let on_cancel_edit = {
        let editing = editing.clone();
        Callback::from(move |()| editing.set(None))
    };
    // The same callback at every render, like `on_reply`.
    let on_delete = {
        let session = session.clone();
        let storage = ctx.storage.clone();
        let dispatch = state.dispatcher();
        let room_id = room_id.clone();
        let peer = use_mut_ref(String::new);
        peer.borrow_mut().clone_from(&peer_label);
        (*use_memo((), move |_| {
            Callback::from(move |(m, how): (Rc<StoredMessage>, Deletion)| {
                let key = m.id.clone();
                if how == Deletion::ForMe {
                    dispatch.dispatch(Action::Removed(key.clone()));
                    let storage = storage.clone();
                    store_in_background(&dispatch, async move { storage.delete_message(&key).await });
                    return;
                }
                let failed = format!(
                    "That message was not deleted: the connection with {} dropped. Try again once you are connected.",
                    peer.borrow()
                );
                if tell_change(&session, &dispatch, &room_id, &key, |id| PeerFrame::Unsend { id }, failed) {
                    dispatch.dispatch(Action::Erased(key.clone()));
                    let storage = storage.clone();
                    store_in_background(&dispatch, async move { storage.erase_message(&key).await });
                }
            })
        }))
        .clone()
    };
    let on_send = {
        let session = session.clone();
        let storage = ctx.storage.clone();
        let dispatch = state.dispatcher();
        let room_id = room_id.clone();
        let my_name = ctx.identity.name.clone();
        let replying = replying.clone();
        let reply_target = reply_target.clone();
        let editing = editing.clone();
        let edit_target = edit_target.clone();
        Callback::from(move |text: String| {
            if let Some(m) = &edit_target {
                editing.set(None);
                if text == m.text {
                    return;
                }
                let failed = "That change was not saved because the connection dropped. The message is as it was.";
                let edit = |id| PeerFrame::Edit {
                    id,
                    text: text.clone(),
                };
                if tell_change(&session, &dispatch, &room_id, &m.id, edit, failed.into()) {
                    let key = m.id.clone();
                    dispatch.dispatch(Action::Edited {
                        id: key.clone(),
                        text: text.clone(),
                    });
                    let storage = storage.clone();
                    store_in_background(&dispatch, async move {
                        storage.edit_message(&key, &text).await
                    });
                }
                return;
            }
            let id = crate::random::new_id();
            let ts = js_sys::Date::now();
            let answered = reply_target.as_ref().and_then(|m| {
                crate::state::wire_ref(&room_id, &m.id).map(|wire| (m.id.clone(), wire))
            });
            replying.set(None);
            let (reply_to, reply) = answered.unzip();
            let msg = StoredMessage {
                id: message_key(&room_id, AUTHOR_ME, &id),
                room_id: room_id.clone(),
                kind: MessageKind::Chat,
                from_me: true,
                author: my_name.clone(),
                text: text.clone(),
                ts,
                delivered: false,
                reply_to,
                deleted: false,
                edited: false,
            };
            dispatch.dispatch(Action::Message(msg.clone()));
            let session = session.clone();
            let storage = storage.clone();
            let dispatch = dispatch.clone();
            spawn_local(async move {
                // Stored before it is sent, so the delivered tick always has a record to land on.
                if let Err(e) = storage.add_message(&msg).await {
                    dispatch.dispatch(Action::Notice(Some(e.to_string())));
                }
                let sent = session.borrow().as_ref().is_some_and(|s| {
                    s.send(&PeerFrame::Chat {
                        id,
                        text,
                        ts,
                        reply,
                    })
                });
                if !sent {
                    dispatch.dispatch(Action::Notice(Some(
                        "That message could not be sent because the connection dropped. It was not delivered."
                            .into(),
                    )));
                }
            });
        })
    };
    let on_typing = {
        let session = session.clone();
        Callback::from(move |active: bool| {
            if let Some(s) = session.borrow().as_ref() {
                s.send(&PeerFrame::Typing { active });
            }
        })
    };
    let on_retry = {
        let session = session.clone();
        Callback::from(move |_| {
            if let Some(s) = session.borrow().as_ref() {
                s.reconnect_now();
            }
        })
    };
    let link = room_link(&room_id);
    let on_copy = {
        let link = link.clone();
        let copied = copied.clone();
        Callback::from(move |_| {
            let copied = copied.clone();
            let promise = web_sys::window().map(|w| w.navigator().clipboard().write_text(&link));
            spawn_local(async move {
                let ok = match promise {
                    Some(p) => wasm_bindgen_futures::JsFuture::from(p).await.is_ok(),
                    None => false,
                };
                copied.set(Some(ok));
            });
        })
    };
    let dismiss_notice = {
        let dispatch = state.dispatcher();
        Callback::from(move |_| dispatch.dispatch(Action::Notice(None)))
    };

    let (pill_class, pill_text, pill_peer) = status_pill(&state.status, &peer_label);
    let title = match state.peer_name() {
        Some(name) => format!("Chat with {name}"),
        None => "New room".to_string(),
    };

    let copy_feedback = match *copied {
        Some(true) => html! { <span class="copied" role="status">{ "Link copied" }</span> },
        Some(false) => {
            html! { <span class="copied warn" role="status">{ "Copying was blocked: select the link and copy it." }</span> }
        }
        None => html! {},
    };

    let banner = match &state.status {
        LinkStatus::WaitingForPeer | LinkStatus::Joining => html! {
            <section class="banner" aria-label="Invite">
                <p><strong>{ "Nobody else is here yet." }</strong>{ " Send this link to the person you want to talk to. They need to open it while you keep this page open." }</p>
                <div class="row">
                    <label for="room-link" class="visually-hidden">{ "Room link" }</label>
                    <input id="room-link" type="text" readonly=true value={link.clone()}
                        onfocus={Callback::from(|e: FocusEvent| { if let Some(i) = e.target_dyn_into::<web_sys::HtmlInputElement>() { i.select(); } })} />
                </div>
            </section>
        },
        LinkStatus::PeerLeft => html! {
            <section class="banner" aria-label="Connection">
                <p>{ format!("{peer_label} left the room. Keep this page open: Twain reconnects when they come back. Until then nothing can be delivered.") }</p>
            </section>
        },
        LinkStatus::Reconnecting => html! {
            <section class="banner warn" aria-label="Connection">
                <p>{ "The connection was interrupted. Twain is reconnecting by itself…" }</p>
            </section>
        },
        LinkStatus::Closed { code, message } => {
            let action = moderation::closed_action(*code);
            html! {
                <section class="banner error" role="alert" aria-label="Connection">
                    <p>{ message.clone() }</p>
                    if let Some(action) = action {
                        <button onclick={on_retry.clone()}>{ action }</button>
                    }
                    { " " }<a href="#/">{ "Back to your rooms" }</a>
                </section>
            }
        }
        LinkStatus::Connecting | LinkStatus::Connected => html! {},
    };

    let disabled_reason = match &state.status {
        _ if connected && !can_send => format!(
            "Sending is paused: Twain could not confirm that this connection goes straight to {peer_label}. Choose above."
        ),
        LinkStatus::Closed { .. } => "You are not in this room, so you can't send messages.".to_string(),
        _ => format!(
            "You can send messages once {peer_label} is connected. Twain has no offline delivery: both of you must have this room open."
        ),
    };

    html! {
        <div class="room">
            <header class="room-head">
                <a class="back" href="#/" aria-label="Back to your rooms">{ "←" }</a>
                <div class="room-title">
                    <h1>{ title }<VerifiedBadge controller={trust.controller.clone()} view={trust.view.clone()} peer_name={peer_label.clone()} /></h1>
                    <p class={classes!("pill", pill_class)} role="status" aria-live="polite">
                        { pill_text }<span class="pill-peer">{ pill_peer }</span>
                    </p>
                </div>
                <div class="room-actions">
                    <CallButtons controller={call.clone()} peer_name={peer_label.clone()} connected={can_send} />
                    <button class="copy" aria-label="Copy link" onclick={on_copy}>
                        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
                            <path d="M10 14a5 5 0 0 0 7 0l3-3a5 5 0 0 0-7-7l-1 1" />
                            <path d="M14 10a5 5 0 0 0-7 0l-3 3a5 5 0 0 0 7 7l1-1" />
                        </svg>
                        <span class="label">{ "Copy link" }</span>
                    </button>
                    { copy_feedback }
                </div>
            </header>
            { banner }
            // The call comes first, right below the header: an incoming call is the first thing seen. In a video
            // call on a wide screen the call and the conversation stand side by side (style.css, `.room-body`).
            <div class="room-body">
                <CallPanel controller={call.clone()} peer_name={peer_label.clone()} />
                <div class="chat">
                    <TrustPanel controller={trust.controller.clone()} view={trust.view.clone()} peer_name={peer_label.clone()} />
                    { moderation.panel(state.peer.as_ref(), !matches!(state.status, LinkStatus::Joining | LinkStatus::Closed { .. })) }
                    if let Some(notice) = &state.notice {
                        <div class="notice" role="alert">
                            <p>{ notice.clone() }</p>
                            <button class="link" onclick={dismiss_notice}>{ "Dismiss" }</button>
                        </div>
                    }
                    <MessageList messages={state.messages.clone()} loaded={state.history_loaded}
                        files={files.view.items.clone()} peer={peer_label.clone()} {connected}
                        files_held={trust.view.blocks_sending()}
                        on_file={files.on_command()} live={files.live.clone()} {on_reply} {on_edit} {on_delete} />
                    <p class="typing" aria-live="polite">
                        if state.peer_typing && connected { { format!("{peer_label} is typing…") } }
                    </p>
                    <Composer enabled={can_send} disabled_reason={disabled_reason} {on_send} {on_typing}
                        reply={reply_target} {on_cancel_reply} editing={edit_target} {on_cancel_edit}
                        disabled_placeholder={if connected { "Sending is paused" } else { "Not connected" }} />
                    <AttachFiles enabled={can_send} peer={peer_label.clone()} on_pick={files.on_pick()}
                        on_notice={files.on_notice()} notices={files.view.notices.clone()} on_dismiss={files.on_dismiss()} />
                    <div class="room-foot">
                        <details class="me">
                            <summary>{ format!("You appear as {}", ctx.identity.name) }</summary>
                            <RenameForm id="room" />
                        </details>
                        <RoomDataPanel room_id={room_id.clone()} controller={trust.controller.clone()} view={trust.view.clone()} />
                    </div>
                </div>
            </div>
        </div>
    }
}

/// Tells the other browser about a change to our own message `key`: `frame`, made from the message's id there.
/// False, with `failed` as the room's notice, if it could not go (the connection dropped).
fn tell_change(
    session: &RefCell<Option<Session>>,
    dispatch: &UseReducerDispatcher<RoomState>,
    room_id: &str,
    key: &str,
    frame: impl FnOnce(String) -> PeerFrame,
    failed: String,
) -> bool {
    let Some(wire) = crate::state::wire_ref(room_id, key).filter(|w| w.by_sender) else {
        return false;
    };
    let sent = session
        .borrow()
        .as_ref()
        .is_some_and(|s| s.send(&frame(wire.id)));
    if !sent {
        dispatch.dispatch(Action::Notice(Some(failed)));
    }
    sent
}

/// Runs a change of the stored conversation in the background; a failure becomes the room's notice.
fn store_in_background<T>(
    dispatch: &UseReducerDispatcher<RoomState>,
    store: impl std::future::Future<Output = Result<T, crate::storage::StorageError>> + 'static,
) {
    let dispatch = dispatch.clone();
    spawn_local(async move {
        if let Err(e) = store.await {
            dispatch.dispatch(Action::Notice(Some(e.to_string())));
        }
    });
}

/// The connection state's pill: its class, its words, and the words naming the other person, which a phone only
/// says to screen readers (the title above already names them, and a long name took two more lines there).
fn status_pill(status: &LinkStatus, peer: &str) -> (&'static str, String, String) {
    let plain = |class, text: &str| (class, text.to_string(), String::new());
    match status {
        LinkStatus::Joining => plain("busy", "Joining the room…"),
        LinkStatus::WaitingForPeer => plain("idle", "Waiting for the other person"),
        LinkStatus::Connecting => ("busy", "Connecting".into(), format!(" to {peer}…")),
        LinkStatus::Connected => ("ok", "Connected".into(), format!(" to {peer}")),
        LinkStatus::PeerLeft => plain("idle", &format!("{peer} left")),
        LinkStatus::Reconnecting => plain("busy", "Reconnecting…"),
        LinkStatus::Closed { code, .. } if *code == close::ROOM_FULL => plain("bad", "Room full"),
        LinkStatus::Closed { code, .. } if *code == close::REPLACED => {
            plain("bad", "Open in another tab")
        }
        LinkStatus::Closed { .. } => plain("bad", "Disconnected"),
    }
}
