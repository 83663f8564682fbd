//! A room session: the signaling socket (with reconnect and keep-alive) plus one peer connection per pairing.
//!
//! The session turns everything the network does into [`SessionEvent`]s and a single derived [`LinkStatus`], so
//! the UI never looks at sockets. Events are collected while the session's state is borrowed and delivered after
//! the borrow ends, so a handler may call back into the session.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::{Interval, Timeout};
use twain_protocol::signal::{
    close, BanInfo, ClientFrame, ErrorCode, IceServer, PeerInfo, ServerFrame, PING_INTERVAL_MS,
};
use twain_protocol::wire::PeerFrame;
use twain_protocol::PROTOCOL_VERSION;
use wasm_bindgen::JsValue;

use super::peer::{Peer, PeerEvent};
use super::signaling::{room_url, SignalEvent, SignalSocket};

/// The one connection state the UI shows.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkStatus {
    /// Opening the signaling socket for the first time.
    Joining,
    /// In the room, alone.
    WaitingForPeer,
    /// The other person is in the room; the direct connection is being set up.
    Connecting,
    /// The data channel is open: chat goes peer to peer.
    Connected,
    /// The other person was here and left.
    PeerLeft,
    /// The signaling socket dropped or the direct connection was interrupted; retrying by itself.
    Reconnecting,
    /// The worker closed the socket for a reason that needs the user (room full, other tab, banned...).
    Closed { code: u16, message: String },
}

/// How the other person came to be in the room with us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// They were already in the room when we joined it (our page loaded, or our socket reconnected).
    AlreadyThere,
    /// They joined while we were in the room.
    Joined,
}

#[derive(Debug)]
pub enum SessionEvent {
    Status(LinkStatus),
    /// The signaling worker introduced the other person: they came in while we were here, or were already here
    /// when we (re)joined.
    PeerArrived(PeerInfo, Arrival),
    /// The other person's socket closed.
    PeerDeparted(String),
    /// A valid frame from the other browser.
    Frame(PeerFrame),
    /// The other browser sent something invalid; it was dropped. The text is a sentence for the user.
    BadFrame(String),
    /// Raw peer-connection events the file-transfer engine needs.
    Files(FilesEvent),
    /// Room ownership and bans, for the owner's tools (`components/moderation.rs`).
    Moderation(ModerationEvent),
}

/// What the signaling worker says about moderation.
#[derive(Debug)]
pub enum ModerationEvent {
    /// After each join: whether this browser proved it owns the room.
    Owner(bool),
    /// The room's bans (sent to the owner only).
    Bans(Vec<BanInfo>),
    /// The worker refused a moderation frame; a sentence for logs.
    Refused(String),
}

#[derive(Debug)]
pub enum FilesEvent {
    Open,
    Closed,
    Message(JsValue),
    BufferedLow,
}

/// Who we are in this room.
#[derive(Debug, Clone)]
pub struct Me {
    pub peer_id: String,
    pub name: String,
    /// The room's owner key, if this browser created the room (sent in `hello`).
    pub owner_key: Option<String>,
}

type Emit = Rc<dyn Fn(SessionEvent)>;

/// Most unacknowledged chat messages kept for re-sending.
const MAX_UNACKED: usize = 500;
/// How long a connection to a person the server says is not in the room is kept (see `Inner::off_server_timer`):
/// three times the longest reconnect backoff, so an honest browser is back well before; a modified one that stays
/// off the server (where the owner could remove it) is dropped then.
const OFF_SERVER_GRACE_MS: u32 = 45_000;

/// What became of a moderation request ([`Session::moderate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderated {
    /// Sent to the server; or, for removing a person connected to us but not on the server (it restarted and their
    /// socket is not back), our connection with them ended, which is all a removal can do then.
    Done,
    /// We are not in the room on the server right now.
    NotInRoom,
}

struct Inner {
    room_id: String,
    me: Me,
    emit: Emit,
    socket: Option<SignalSocket>,
    /// Increases for every socket so late events from an old socket are ignored.
    socket_gen: u64,
    ever_joined: bool,
    joined: bool,
    final_close: Option<(u16, String)>,
    retries: u32,
    retry_timer: Option<Timeout>,
    ping_timer: Option<Interval>,
    /// Restarts ICE if a pairing has not opened its data channel in time (impolite side only).
    watchdog: Option<Timeout>,
    /// Chat messages sent on this page but not yet acknowledged. When the connection to the same person opens
    /// again (a reload, a signaling blip), they are sent again; the receiver ignores copies by message id.
    unacked: Vec<PeerFrame>,
    last_frame_ms: f64,
    ice_servers: Vec<IceServer>,
    peer_info: Option<PeerInfo>,
    had_peer: bool,
    /// Set while the server says the other person is not in the room (we joined again and their socket is not
    /// back, say after a worker restart) but our direct connection to them still works: that connection is kept
    /// until it closes (then they left), the server introduces the pair again, or this ends it after
    /// [`OFF_SERVER_GRACE_MS`] (at once when the owner removes the person).
    off_server_timer: Option<Timeout>,
    peer: Option<Peer>,
    epoch: u64,
    chat_open: bool,
    pc_state: String,
    status: LinkStatus,
    self_ref: Weak<RefCell<Inner>>,
}

pub struct Session {
    inner: Rc<RefCell<Inner>>,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Runs `f` on the session state, then delivers the events it produced (after the borrow ends).
fn with(inner: &Rc<RefCell<Inner>>, f: impl FnOnce(&mut Inner, &mut Vec<SessionEvent>)) {
    let mut events = Vec::new();
    let emit = {
        let mut guard = inner.borrow_mut();
        f(&mut guard, &mut events);
        guard.refresh_status(&mut events);
        guard.emit.clone()
    };
    for e in events {
        emit(e);
    }
}

fn with_weak(weak: &Weak<RefCell<Inner>>, f: impl FnOnce(&mut Inner, &mut Vec<SessionEvent>)) {
    if let Some(inner) = weak.upgrade() {
        with(&inner, f);
    }
}

impl Session {
    pub fn start(room_id: &str, me: Me, emit: Emit) -> Session {
        let inner = Rc::new_cyclic(|weak| {
            RefCell::new(Inner {
                room_id: room_id.to_string(),
                me,
                emit,
                socket: None,
                socket_gen: 0,
                ever_joined: false,
                joined: false,
                final_close: None,
                retries: 0,
                retry_timer: None,
                ping_timer: None,
                watchdog: None,
                unacked: Vec::new(),
                last_frame_ms: now_ms(),
                ice_servers: Vec::new(),
                peer_info: None,
                had_peer: false,
                off_server_timer: None,
                peer: None,
                epoch: 0,
                chat_open: false,
                pc_state: String::new(),
                status: LinkStatus::Joining,
                self_ref: weak.clone(),
            })
        });
        with(&inner, |s, events| {
            events.push(SessionEvent::Status(LinkStatus::Joining));
            s.connect();
            s.start_keepalive();
        });
        Session { inner }
    }

    /// Sends a frame to the other browser on the chat channel. False if it was not sent.
    ///
    /// A chat message is kept until the other browser acknowledges it, and sent again on the next connection
    /// with the same person. So while that person is in the room and the connection is being replaced (the
    /// signaling server came back and re-introduced the pair, or an ICE restart), a message is queued for the new
    /// connection instead of failing: the composer can only be used while connected, but the switch can happen
    /// between the key press and this call.
    ///
    /// Deleting one of our messages for both (`unsend`) and changing its text (`edit`) are kept the same way, until
    /// acknowledged; a deleted message is no longer sent again, an edited one goes again with its new text.
    pub fn send(&self, frame: &PeerFrame) -> bool {
        let mut inner = self.inner.borrow_mut();
        match frame {
            // Nothing sent before about that message needs to go again: it is gone.
            PeerFrame::Unsend { id } => inner.unacked.retain(|f| f.message_id() != Some(id)),
            PeerFrame::Edit { id, text } => {
                // A message not yet acknowledged goes again with its new text; only the newest edit is kept.
                inner.unacked.retain_mut(|f| match f {
                    PeerFrame::Chat {
                        id: queued,
                        text: queued_text,
                        ..
                    } if queued == id => {
                        queued_text.clone_from(text);
                        true
                    }
                    PeerFrame::Edit { id: queued, .. } => queued != id,
                    _ => true,
                });
            }
            _ => {}
        }
        let sent = inner
            .peer
            .as_ref()
            .is_some_and(|p| p.send_chat(&frame.encode()));
        if frame.message_id().is_none() {
            return sent;
        }
        let queued = (sent || inner.peer_info.is_some()) && inner.unacked.len() < MAX_UNACKED;
        if queued {
            inner.unacked.push(frame.clone());
        }
        sent || queued
    }

    /// Changes our display name: told to the other browser and the worker now, and used for the next joins.
    pub fn rename(&self, name: &str) {
        let frame = {
            let mut inner = self.inner.borrow_mut();
            if inner.me.name == name {
                return;
            }
            inner.me.name = name.to_string();
            // The worker too, so a browser it introduces later (the other one reloading) gets the new name and
            // does not announce the rename a second time. Not joined: the next join carries it.
            inner.send_to_room(&ClientFrame::Rename {
                name: name.to_string(),
            });
            inner.hello_frame()
        };
        self.send(&frame);
    }

    /// Sends a moderation frame (`kick`, `ban`, `unban`, `list-bans`) to the signaling worker. For removing a person
    /// the server does not see right now, it also ends our connection with them: a kick has nothing more to do
    /// there, and a ban goes to the server with their name, to hold their identity (and their network once they
    /// are back).
    pub fn moderate(&self, frame: &ClientFrame) -> Moderated {
        let mut inner = self.inner.borrow_mut();
        // The person this removes, if they are connected to us but not on the server.
        let away = match frame {
            ClientFrame::Kick { peer_id } | ClientFrame::Ban { peer_id, .. } => inner
                .peer_info
                .clone()
                .filter(|p| inner.off_server_timer.is_some() && &p.peer_id == peer_id),
            _ => None,
        };
        let removes_away = away.is_some();
        let sent = match away {
            // A ban holds their identity under the name we know them by; a kick leaves the server nothing to do.
            Some(peer) if matches!(frame, ClientFrame::Ban { .. }) => {
                inner.send_to_room(&ClientFrame::Ban {
                    peer_id: peer.peer_id,
                    name: Some(peer.name),
                })
            }
            Some(_) => true,
            None => inner.send_to_room(frame),
        };
        if sent && removes_away {
            // Not here and now: the caller may hold the session while the page reacts to the change.
            inner.forget_peer_off_server_after(0);
        }
        if sent {
            Moderated::Done
        } else {
            Moderated::NotInRoom
        }
    }

    /// Connects again now (after "room full", "opened in another tab", or to skip a backoff wait).
    pub fn reconnect_now(&self) {
        with(&self.inner, |s, _| {
            s.final_close = None;
            s.retries = 0;
            s.retry_timer = None;
            s.connect();
        });
    }

    /// The file data channel of the current pairing, if any.
    pub fn with_files_channel<R>(
        &self,
        f: impl FnOnce(&web_sys::RtcDataChannel) -> R,
    ) -> Option<R> {
        let inner = self.inner.borrow();
        inner.peer.as_ref().map(|p| f(p.files_channel()))
    }

    /// The peer connection of the current pairing, if any (calls add and remove their tracks on it).
    pub fn connection(&self) -> Option<web_sys::RtcPeerConnection> {
        let inner = self.inner.borrow();
        inner.peer.as_ref().map(|p| p.connection().clone())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut inner = self.inner.borrow_mut();
        inner.retry_timer = None;
        inner.ping_timer = None;
        inner.peer = None;
        inner.socket = None;
    }
}

impl Inner {
    fn hello_frame(&self) -> PeerFrame {
        PeerFrame::Hello {
            v: PROTOCOL_VERSION,
            peer_id: self.me.peer_id.clone(),
            name: self.me.name.clone(),
        }
    }

    fn connect(&mut self) {
        self.socket = None;
        self.joined = false;
        self.socket_gen += 1;
        let gen = self.socket_gen;
        let weak = self.self_ref.clone();
        let on_event: Rc<dyn Fn(SignalEvent)> = Rc::new(move |event| {
            with_weak(&weak, |s, events| {
                if s.socket_gen == gen {
                    s.on_signal(event, events);
                }
            });
        });
        let url = match room_url(&self.room_id) {
            Ok(url) => url,
            Err(_) => return,
        };
        match SignalSocket::connect(&url, on_event) {
            Ok(socket) => {
                self.socket = Some(socket);
                self.last_frame_ms = now_ms();
            }
            Err(_) => self.schedule_retry(),
        }
    }

    fn start_keepalive(&mut self) {
        let weak = self.self_ref.clone();
        self.ping_timer = Some(Interval::new(PING_INTERVAL_MS as u32, move || {
            with_weak(&weak, |s, _| {
                let Some(socket) = &s.socket else { return };
                if s.joined && now_ms() - s.last_frame_ms > 2.5 * PING_INTERVAL_MS as f64 {
                    // Half-open socket: nothing came back for too long. Start over.
                    s.socket = None;
                    s.joined = false;
                    s.schedule_retry();
                    return;
                }
                socket.send(&ClientFrame::Ping);
            });
        }));
    }

    /// Sends `frame` to the worker if this browser is in the room there right now; false otherwise.
    fn send_to_room(&self, frame: &ClientFrame) -> bool {
        match &self.socket {
            Some(socket) if self.joined => {
                socket.send(frame);
                true
            }
            _ => false,
        }
    }

    fn schedule_retry(&mut self) {
        if self.final_close.is_some() || self.retry_timer.is_some() {
            return;
        }
        let exp = 500.0 * 2f64.powi(self.retries.min(5) as i32);
        let delay = exp.min(15_000.0) + js_sys::Math::random() * 300.0;
        self.retries += 1;
        let weak = self.self_ref.clone();
        self.retry_timer = Some(Timeout::new(delay as u32, move || {
            with_weak(&weak, |s, _| {
                s.retry_timer = None;
                s.connect();
            });
        }));
    }

    fn on_signal(&mut self, event: SignalEvent, events: &mut Vec<SessionEvent>) {
        self.last_frame_ms = now_ms();
        match event {
            SignalEvent::Open => {
                let hello = ClientFrame::Hello {
                    v: PROTOCOL_VERSION,
                    peer_id: self.me.peer_id.clone(),
                    name: self.me.name.clone(),
                    owner_key: self.me.owner_key.clone(),
                };
                if let Some(socket) = &self.socket {
                    socket.send(&hello);
                }
            }
            SignalEvent::Frame(frame) => self.on_frame(frame, events),
            SignalEvent::Unreadable(why) => {
                web_sys::console::warn_1(
                    &format!("unreadable frame from the server: {why}").into(),
                );
            }
            SignalEvent::Closed { code } => {
                self.socket = None;
                self.joined = false;
                if close::is_final(code) {
                    let message = close::explain(code)
                        .unwrap_or("The server closed the connection.")
                        .to_string();
                    self.final_close = Some((code, message));
                    self.retry_timer = None;
                    self.drop_peer(events);
                } else {
                    self.schedule_retry();
                }
            }
        }
    }

    fn on_frame(&mut self, frame: ServerFrame, events: &mut Vec<SessionEvent>) {
        match frame {
            ServerFrame::Welcome {
                peer,
                polite,
                epoch,
                ice_servers,
                owner,
                ..
            } => {
                events.push(SessionEvent::Moderation(ModerationEvent::Owner(owner)));
                self.joined = true;
                self.ever_joined = true;
                self.retries = 0;
                self.ice_servers = ice_servers;
                match peer {
                    Some(peer) => self.pair(peer, Arrival::AlreadyThere, polite, epoch, events),
                    // Chatting goes on without the server: a restart of the worker is no reason to break it.
                    None if self.chat_open && self.peer_info.is_some() => {
                        self.forget_peer_off_server_after(OFF_SERVER_GRACE_MS);
                    }
                    // Alone, and no connection to keep: whoever was here left (while we could not hear it).
                    None => self.peer_left(events),
                }
            }
            ServerFrame::PeerJoined {
                peer,
                polite,
                epoch,
            } => self.pair(peer, Arrival::Joined, polite, epoch, events),
            ServerFrame::PeerLeft { peer_id } => {
                if self
                    .peer_info
                    .as_ref()
                    .is_some_and(|p| p.peer_id == peer_id)
                {
                    self.peer_left(events);
                }
            }
            ServerFrame::Signal { mut data } => {
                let epoch = data.get("epoch").and_then(|e| e.as_u64());
                if epoch != Some(self.epoch) {
                    return; // from an older pairing
                }
                if let Some(obj) = data.as_object_mut() {
                    obj.remove("epoch");
                }
                if let Some(peer) = &self.peer {
                    peer.handle_signal(data);
                }
            }
            ServerFrame::Pong => {}
            ServerFrame::Error { code, message } => {
                web_sys::console::warn_1(
                    &format!("server refused a frame ({code:?}): {message}").into(),
                );
                if matches!(code, ErrorCode::Forbidden | ErrorCode::UnknownBan) {
                    events.push(SessionEvent::Moderation(ModerationEvent::Refused(message)));
                }
            }
            ServerFrame::Bans { list } => {
                events.push(SessionEvent::Moderation(ModerationEvent::Bans(list)))
            }
        }
    }

    /// A new pairing with `peer`: a fresh peer connection with the role the worker assigned.
    fn pair(
        &mut self,
        peer: PeerInfo,
        arrival: Arrival,
        polite: bool,
        epoch: u64,
        events: &mut Vec<SessionEvent>,
    ) {
        self.drop_peer(events);
        self.off_server_timer = None;
        self.epoch = epoch;
        if self
            .peer_info
            .as_ref()
            .is_some_and(|p| p.peer_id != peer.peer_id)
        {
            self.unacked.clear(); // meant for somebody else
        }
        self.peer_info = Some(peer.clone());
        events.push(SessionEvent::PeerArrived(peer, arrival));
        let weak = self.self_ref.clone();
        let on_peer: Rc<dyn Fn(PeerEvent)> = Rc::new(move |event| {
            with_weak(&weak, |s, events| {
                if s.epoch == epoch {
                    s.on_peer(event, events);
                }
            });
        });
        match Peer::new(&self.ice_servers, polite, on_peer) {
            Ok(peer) => self.peer = Some(peer),
            Err(e) => web_sys::console::error_2(&"could not create the peer connection".into(), &e),
        }
        if !polite {
            self.arm_watchdog(epoch, 0);
        }
    }

    /// If the data channel is not open after a while, ask for an ICE restart: fresh candidates on both ends
    /// recover a pairing whose first negotiation went wrong. Bounded: a few attempts per pairing.
    fn arm_watchdog(&mut self, epoch: u64, attempt: u32) {
        const FIRST_MS: u32 = 10_000;
        const MAX_ATTEMPTS: u32 = 4;
        if attempt >= MAX_ATTEMPTS {
            self.watchdog = None;
            return;
        }
        let weak = self.self_ref.clone();
        self.watchdog = Some(Timeout::new(FIRST_MS << attempt.min(3), move || {
            with_weak(&weak, |s, _| {
                s.watchdog = None;
                if s.epoch != epoch || s.chat_open {
                    return;
                }
                if let Some(peer) = &s.peer {
                    web_sys::console::warn_1(
                        &"the direct connection is slow to open; restarting ICE".into(),
                    );
                    peer.restart_ice();
                    s.arm_watchdog(epoch, attempt + 1);
                }
            });
        }));
    }

    /// Ends the kept connection to a person the server says is not in the room, in `ms`.
    fn forget_peer_off_server_after(&mut self, ms: u32) {
        let weak = self.self_ref.clone();
        self.off_server_timer = Some(Timeout::new(ms, move || {
            with_weak(&weak, |s, events| s.forget_peer_off_server(events));
        }));
    }

    /// The kept connection to a person the server says is not in the room has ended (or is ended now): they left.
    fn forget_peer_off_server(&mut self, events: &mut Vec<SessionEvent>) {
        if self.off_server_timer.take().is_some() {
            self.peer_left(events);
        }
    }

    /// The other person is gone (the server said so, or the connection kept for them ended).
    fn peer_left(&mut self, events: &mut Vec<SessionEvent>) {
        let gone = self.peer_info.take();
        self.had_peer |= gone.is_some();
        self.drop_peer(events);
        if let Some(peer) = gone {
            events.push(SessionEvent::PeerDeparted(peer.peer_id));
        }
    }

    fn drop_peer(&mut self, events: &mut Vec<SessionEvent>) {
        if self.peer.take().is_some() && self.chat_open {
            events.push(SessionEvent::Files(FilesEvent::Closed));
        }
        self.chat_open = false;
        self.pc_state.clear();
        self.watchdog = None;
    }

    fn on_peer(&mut self, event: PeerEvent, events: &mut Vec<SessionEvent>) {
        match event {
            PeerEvent::Signal(mut data) => {
                if let Some(obj) = data.as_object_mut() {
                    obj.insert("epoch".into(), self.epoch.into());
                }
                if let Some(socket) = &self.socket {
                    socket.send(&ClientFrame::Signal { data });
                }
            }
            PeerEvent::ChatOpen => {
                self.chat_open = true;
                let hello = self.hello_frame().encode();
                if let Some(peer) = &self.peer {
                    peer.send_chat(&hello);
                    for frame in &self.unacked {
                        peer.send_chat(&frame.encode());
                    }
                }
            }
            PeerEvent::ChatClosed => {
                self.chat_open = false;
                self.forget_peer_off_server(events);
            }
            PeerEvent::ChatMessage(text) => match PeerFrame::decode(&text) {
                Ok(PeerFrame::Hello { ref peer_id, .. })
                    if self
                        .peer_info
                        .as_ref()
                        .is_some_and(|p| &p.peer_id != peer_id) =>
                {
                    events.push(SessionEvent::BadFrame(
                        "The other browser announced a different identity than the one it joined with.".into(),
                    ));
                }
                Ok(frame) => {
                    if let PeerFrame::Ack { id } = &frame {
                        self.unacked.retain(|f| f.message_id() != Some(id));
                    }
                    events.push(SessionEvent::Frame(frame))
                }
                Err(e) => events.push(SessionEvent::BadFrame(format!(
                    "The other browser sent something Twain could not accept: {e}."
                ))),
            },
            PeerEvent::FilesOpen => events.push(SessionEvent::Files(FilesEvent::Open)),
            PeerEvent::FilesClosed => events.push(SessionEvent::Files(FilesEvent::Closed)),
            PeerEvent::FilesMessage(data) => {
                events.push(SessionEvent::Files(FilesEvent::Message(data)))
            }
            PeerEvent::FilesBufferedLow => {
                events.push(SessionEvent::Files(FilesEvent::BufferedLow))
            }
            PeerEvent::Connection(state) => {
                if matches!(state.as_str(), "failed" | "closed") {
                    self.forget_peer_off_server(events);
                }
                self.pc_state = state;
            }
        }
    }

    fn refresh_status(&mut self, events: &mut Vec<SessionEvent>) {
        let status = if let Some((code, message)) = &self.final_close {
            LinkStatus::Closed {
                code: *code,
                message: message.clone(),
            }
        } else if self.chat_open {
            LinkStatus::Connected
        } else if !self.joined {
            if self.ever_joined {
                LinkStatus::Reconnecting
            } else {
                LinkStatus::Joining
            }
        } else if self.peer_info.is_none() {
            if self.had_peer {
                LinkStatus::PeerLeft
            } else {
                LinkStatus::WaitingForPeer
            }
        } else if matches!(self.pc_state.as_str(), "disconnected" | "failed") {
            LinkStatus::Reconnecting
        } else {
            LinkStatus::Connecting
        };
        if status != self.status {
            self.status = status.clone();
            events.push(SessionEvent::Status(status));
        }
    }
}
