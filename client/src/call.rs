//! Calls in the room page: the glue between the call state machine ([`twain_protocol::call::Call`]), the devices
//! ([`crate::net::media`]), the pairing's `RTCPeerConnection` and the UI ([`crate::components::call`]).
//!
//! - Devices are asked for only when the person starts or accepts a call, and released when it ends.
//! - Tracks are added to the session's existing peer connection when the call starts on both sides and removed
//!   when it ends; the perfect-negotiation pattern in [`crate::net::peer`] renegotiates by itself.
//! - Mute is `track.enabled = false`; camera off stops the camera and sends nothing (`replaceTrack(null)`); a
//!   shared screen replaces the camera track and hands back to it when sharing stops. Each change is told to the
//!   other side with a `call-media` frame so it can say "muted" or "camera off".
//! - The call belongs to one pairing: a new pairing, the peer leaving or this room closing ends it.
//!
//! Events are collected while the controller's state is borrowed and carried out after the borrow ends (frames
//! sent, history lines written, views pushed to the UI), like [`crate::net::session`].

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use twain_protocol::call::{
    is_call_frame, Call, CallEvent, DeclineReason, MediaState, Output, Phase,
};
use twain_protocol::wire::PeerFrame;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{MediaStream, MediaStreamTrack, RtcPeerConnection, RtcRtpSender, RtcTrackEvent};
use yew::Callback;

use crate::net::media::{self, MediaError};
use crate::net::session::{LinkStatus, Session, SessionEvent};

/// Where the call stands, as the UI shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum CallStage {
    Idle,
    /// Asking for the camera / microphone, before inviting (`accepting: false`) or accepting.
    Preparing {
        video: bool,
        accepting: bool,
    },
    /// Ringing at the other person's.
    Outgoing {
        video: bool,
    },
    /// The other person is calling.
    Incoming {
        video: bool,
    },
    /// Live since `started_ms` (this browser's clock).
    Active {
        video: bool,
        started_ms: f64,
    },
}

/// Everything the call panel renders.
#[derive(Debug, Clone, PartialEq)]
pub struct CallView {
    pub stage: CallStage,
    /// What this side sends.
    pub local: MediaState,
    /// This side's camera is on (it may be hidden behind a shared screen).
    pub camera: bool,
    /// What the other side says it sends.
    pub remote: MediaState,
    /// The other side's video track has arrived.
    pub remote_video: bool,
    /// A sentence for the person (a device problem), until dismissed.
    pub notice: Option<String>,
    /// Changes whenever the preview or remote stream object changes, so the panel re-attaches them.
    pub streams: u32,
}

/// The devices of this side's call.
struct Local {
    /// The stream the tracks are added with (it groups them on the other side).
    stream: MediaStream,
    mic: Option<MediaStreamTrack>,
    camera: Option<MediaStreamTrack>,
    screen: Option<MediaStreamTrack>,
    mic_on: bool,
    /// Kept alive while sharing: the browser's "Stop sharing" ends the track.
    on_screen_ended: Option<Closure<dyn FnMut()>>,
    /// The video being sent, for the local preview.
    preview: Option<MediaStream>,
}

impl Local {
    fn state(&self) -> MediaState {
        let screen = self.screen.is_some();
        MediaState {
            audio: self.mic.is_some() && self.mic_on,
            video: screen || self.camera.is_some(),
            screen,
        }
    }

    /// The video track to send: the screen while sharing, else the camera, if on.
    fn video_track(&self) -> Option<&MediaStreamTrack> {
        self.screen.as_ref().or(self.camera.as_ref())
    }

    fn refresh_preview(&mut self) {
        self.preview = self.video_track().and_then(|t| media::stream_of([t]));
    }

    fn stop(&mut self) {
        if let Some(screen) = &self.screen {
            screen.set_onended(None);
        }
        media::stop_all(&self.stream);
        for t in [&self.mic, &self.camera, &self.screen]
            .into_iter()
            .flatten()
        {
            t.stop();
        }
    }
}

/// The call's hold on the pairing's peer connection.
struct Link {
    pc: RtcPeerConnection,
    on_track: Closure<dyn FnMut(RtcTrackEvent)>,
    audio_sender: Option<RtcRtpSender>,
    video_sender: Option<RtcRtpSender>,
    /// The other side's tracks, as one stream for the remote `<video>`.
    remote: Option<MediaStream>,
}

impl Link {
    fn release(self) {
        let _ = self
            .pc
            .remove_event_listener_with_callback("track", self.on_track.as_ref().unchecked_ref());
        for sender in [&self.audio_sender, &self.video_sender]
            .into_iter()
            .flatten()
        {
            media::remove_track(&self.pc, sender);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Prep {
    video: bool,
    accepting: bool,
}

type Log = Rc<dyn Fn(String)>;
type SessionCell = Rc<RefCell<Option<Session>>>;

enum Effect {
    Send(PeerFrame),
    Log(String),
}

struct Inner {
    machine: Call,
    session: Option<SessionCell>,
    log: Option<Log>,
    listeners: Vec<(u32, Callback<CallView>)>,
    next_listener: u32,
    peer_name: String,
    preparing: Option<Prep>,
    /// Increases whenever a pending device request must be forgotten (cancelled, call over).
    op: u64,
    local: Option<Local>,
    link: Option<Link>,
    timer: Option<Timeout>,
    notice: Option<String>,
    streams: u32,
    on_pagehide: Option<Closure<dyn FnMut()>>,
    self_ref: Weak<RefCell<Inner>>,
}

/// One room page's calls. Cheap to clone (a handle).
#[derive(Clone)]
pub struct CallController {
    inner: Rc<RefCell<Inner>>,
}

impl PartialEq for CallController {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Default for CallController {
    fn default() -> Self {
        Self::new()
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Runs `f` on the state, then carries out what it produced (after the borrow ends) and pushes the new view.
fn with<R>(inner: &Rc<RefCell<Inner>>, f: impl FnOnce(&mut Inner, &mut Vec<Effect>) -> R) -> R {
    let mut effects = Vec::new();
    let (result, session, log, listeners, view) = {
        let mut s = inner.borrow_mut();
        let result = f(&mut s, &mut effects);
        s.reschedule();
        (
            result,
            s.session.clone(),
            s.log.clone(),
            s.listeners
                .iter()
                .map(|(_, l)| l.clone())
                .collect::<Vec<_>>(),
            s.view(),
        )
    };
    for effect in effects {
        match effect {
            Effect::Send(frame) => {
                if let Some(session) = session.as_ref().and_then(|s| s.try_borrow().ok()) {
                    if let Some(session) = session.as_ref() {
                        session.send(&frame);
                    }
                }
            }
            Effect::Log(line) => {
                if let Some(log) = &log {
                    log(line);
                }
            }
        }
    }
    for listener in listeners {
        listener.emit(view.clone());
    }
    result
}

fn with_weak(weak: &Weak<RefCell<Inner>>, f: impl FnOnce(&mut Inner, &mut Vec<Effect>)) {
    if let Some(inner) = weak.upgrade() {
        with(&inner, f);
    }
}

impl CallController {
    pub fn new() -> Self {
        let inner = Rc::new_cyclic(|weak| {
            RefCell::new(Inner {
                machine: Call::new(),
                session: None,
                log: None,
                listeners: Vec::new(),
                next_listener: 0,
                peer_name: String::new(),
                preparing: None,
                op: 0,
                local: None,
                link: None,
                timer: None,
                notice: None,
                streams: 0,
                on_pagehide: None,
                self_ref: weak.clone(),
            })
        });
        CallController { inner }
    }

    /// Connects the controller to the room's session (to send frames and reach the peer connection) and to the
    /// room's history (`log` writes a system line). Call before the session starts.
    pub fn attach(&self, session: SessionCell, log: Log) {
        let weak = Rc::downgrade(&self.inner);
        // A reload or a closed tab never runs the room's cleanup: end the call while the channel still works.
        let on_pagehide = Closure::<dyn FnMut()>::new(move || {
            with_weak(&weak, |s, fx| s.end_for_good(fx));
        });
        if let Some(w) = web_sys::window() {
            let _ = w
                .add_event_listener_with_callback("pagehide", on_pagehide.as_ref().unchecked_ref());
        }
        let mut s = self.inner.borrow_mut();
        s.session = Some(session);
        s.log = Some(log);
        s.on_pagehide = Some(on_pagehide);
    }

    /// The room is going away: hangs up (telling the other side), releases the devices, forgets the session.
    pub fn detach(&self) {
        with(&self.inner, |s, fx| s.end_for_good(fx));
        let mut s = self.inner.borrow_mut();
        if let (Some(w), Some(cb)) = (web_sys::window(), s.on_pagehide.take()) {
            let _ = w.remove_event_listener_with_callback("pagehide", cb.as_ref().unchecked_ref());
        }
        s.session = None;
        s.log = None;
        s.timer = None;
    }

    /// Feeds a session event: call frames, the other person's name, and the end of a pairing.
    pub fn on_session_event(&self, event: &SessionEvent) {
        match event {
            SessionEvent::PeerArrived(peer, _) => {
                let name = peer.name.clone();
                // A new pairing means a new peer connection: a call on the old one is over.
                with(&self.inner, |s, fx| {
                    s.peer_name = name;
                    s.pairing_ended(fx);
                });
            }
            SessionEvent::PeerDeparted(_) => with(&self.inner, |s, fx| s.pairing_ended(fx)),
            SessionEvent::Status(
                LinkStatus::PeerLeft | LinkStatus::WaitingForPeer | LinkStatus::Closed { .. },
            ) => with(&self.inner, |s, fx| s.pairing_ended(fx)),
            SessionEvent::Frame(PeerFrame::Hello { name, .. }) => {
                self.inner.borrow_mut().peer_name = name.clone();
            }
            SessionEvent::Frame(frame) if is_call_frame(frame) => with(&self.inner, |s, fx| {
                s.machine.handle_frame(frame, now_ms());
                s.drain(fx);
            }),
            _ => {}
        }
    }

    /// The UI gets every new view (and the current one now). Returns a key for [`Self::unsubscribe`].
    pub fn subscribe(&self, listener: Callback<CallView>) -> u32 {
        let (id, view) = {
            let mut s = self.inner.borrow_mut();
            s.next_listener += 1;
            let id = s.next_listener;
            s.listeners.push((id, listener.clone()));
            (id, s.view())
        };
        listener.emit(view);
        id
    }

    pub fn unsubscribe(&self, id: u32) {
        self.inner.borrow_mut().listeners.retain(|(i, _)| *i != id);
    }

    pub fn view(&self) -> CallView {
        self.inner.borrow().view()
    }

    /// The video this side sends, for the local preview.
    pub fn local_preview(&self) -> Option<MediaStream> {
        let s = self.inner.borrow();
        s.local.as_ref().and_then(|l| l.preview.clone())
    }

    /// The other side's audio and video.
    pub fn remote_stream(&self) -> Option<MediaStream> {
        let s = self.inner.borrow();
        s.link.as_ref().and_then(|l| l.remote.clone())
    }

    /// The person starts a call: devices first, then the invite.
    pub fn start(&self, video: bool) {
        let op = with(&self.inner, |s, _| {
            if !s.machine.is_idle() || s.preparing.is_some() {
                return None;
            }
            Some(s.prepare(Prep {
                video,
                accepting: false,
            }))
        });
        if let Some(op) = op {
            self.get_devices(op, video);
        }
    }

    /// The person accepts the ringing call: devices first, then the accept.
    pub fn accept(&self) {
        let prep = with(&self.inner, |s, _| {
            let video = match s.machine.current() {
                Some(c) if matches!(c.phase, Phase::Incoming { .. }) => c.video,
                _ => return None,
            };
            if s.preparing.is_some() {
                return None;
            }
            Some((
                s.prepare(Prep {
                    video,
                    accepting: true,
                }),
                video,
            ))
        });
        if let Some((op, video)) = prep {
            self.get_devices(op, video);
        }
    }

    pub fn decline(&self) {
        with(&self.inner, |s, fx| {
            s.cancel_preparing();
            let _ = s.machine.decline(DeclineReason::Declined, now_ms());
            s.drain(fx);
        });
    }

    /// Cancels a call being prepared or ringing, ends a live one, declines an incoming one.
    pub fn hang_up(&self) {
        with(&self.inner, |s, fx| {
            s.cancel_preparing();
            let _ = s.machine.hang_up(now_ms());
            s.drain(fx);
            s.release_media();
        });
    }

    pub fn toggle_mic(&self) {
        with(&self.inner, |s, fx| {
            if let Some(local) = &mut s.local {
                local.mic_on = !local.mic_on;
                if let Some(mic) = &local.mic {
                    mic.set_enabled(local.mic_on);
                }
            }
            s.media_changed(fx);
        });
    }

    pub fn toggle_camera(&self) {
        let turn_on = with(&self.inner, |s, fx| {
            let local = s.local.as_mut()?;
            match local.camera.take() {
                Some(camera) => {
                    camera.stop();
                    local.stream.remove_track(&camera);
                    s.video_changed(fx);
                    None
                }
                None => Some(s.op),
            }
        });
        let Some(op) = turn_on else { return };
        let weak = Rc::downgrade(&self.inner);
        spawn_local(async move {
            let result = media::user_media(false, true).await;
            with_weak(&weak, |s, fx| {
                let camera = result.map(|stream| media::first_track(&stream, "video"));
                match (s.op == op, s.local.as_mut(), camera) {
                    (true, Some(local), Ok(Some(camera))) if local.camera.is_none() => {
                        local.stream.add_track(&camera);
                        local.camera = Some(camera);
                        s.video_changed(fx);
                    }
                    (_, _, Ok(Some(camera))) => camera.stop(),
                    (_, _, Ok(None)) => {}
                    (_, _, Err(e)) => s.notice = Some(e.sentence("camera")),
                }
            });
        });
    }

    pub fn toggle_screen(&self) {
        let share = with(&self.inner, |s, fx| {
            let local = s.local.as_mut()?;
            if local.screen.is_some() {
                s.stop_sharing(fx);
                None
            } else {
                Some(s.op)
            }
        });
        let Some(op) = share else { return };
        let weak = Rc::downgrade(&self.inner);
        spawn_local(async move {
            let result = media::screen_track().await;
            with_weak(&weak, |s, fx| match (s.op == op, result) {
                (true, Ok(track)) if s.local.as_ref().is_some_and(|l| l.screen.is_none()) => {
                    let w = s.self_ref.clone();
                    let on_ended = Closure::<dyn FnMut()>::new(move || {
                        with_weak(&w, |s, fx| s.stop_sharing(fx));
                    });
                    track.set_onended(Some(on_ended.as_ref().unchecked_ref()));
                    if let Some(local) = s.local.as_mut() {
                        local.screen = Some(track);
                        local.on_screen_ended = Some(on_ended);
                    }
                    s.video_changed(fx);
                }
                (_, Ok(track)) => track.stop(),
                // The person closed the picker: nothing to say.
                (_, Err(MediaError::NotAllowed)) => {}
                (_, Err(e)) => s.notice = Some(e.sentence("screen")),
            });
        });
    }

    pub fn dismiss_notice(&self) {
        with(&self.inner, |s, _| s.notice = None);
    }

    fn get_devices(&self, op: u64, video: bool) {
        let weak = Rc::downgrade(&self.inner);
        spawn_local(async move {
            let mut result = media::user_media(true, video).await;
            let mut no_camera = false;
            if video && result == Err(MediaError::NotFound) {
                // No camera: a video call still works with the microphone alone.
                result = media::user_media(true, false).await;
                no_camera = result.is_ok();
            }
            with_weak(&weak, |s, fx| s.devices_ready(op, result, no_camera, fx));
        });
    }
}

impl Inner {
    fn view(&self) -> CallView {
        let preparing = self.preparing;
        let stage = match (self.machine.current(), preparing) {
            (_, Some(p)) => CallStage::Preparing {
                video: p.video,
                accepting: p.accepting,
            },
            (None, None) => CallStage::Idle,
            (Some(c), None) => match c.phase {
                Phase::Outgoing { .. } => CallStage::Outgoing { video: c.video },
                Phase::Incoming { .. } => CallStage::Incoming { video: c.video },
                Phase::Active { started_ms } => CallStage::Active {
                    video: c.video,
                    started_ms: started_ms as f64,
                },
            },
        };
        let current = self.machine.current();
        CallView {
            stage,
            local: self
                .local
                .as_ref()
                .map(Local::state)
                .unwrap_or(MediaState::new(false, false)),
            camera: self.local.as_ref().is_some_and(|l| l.camera.is_some()),
            remote: current
                .map(|c| c.remote)
                .unwrap_or(MediaState::new(false, false)),
            remote_video: self
                .link
                .as_ref()
                .and_then(|l| l.remote.as_ref())
                .is_some_and(|r| r.get_video_tracks().length() > 0),
            notice: self.notice.clone(),
            streams: self.streams,
        }
    }

    fn prepare(&mut self, prep: Prep) -> u64 {
        self.preparing = Some(prep);
        self.notice = None;
        self.op += 1;
        self.op
    }

    fn cancel_preparing(&mut self) {
        if self.preparing.take().is_some() {
            self.op += 1;
        }
    }

    /// The devices answered for request `op`.
    fn devices_ready(
        &mut self,
        op: u64,
        result: Result<MediaStream, MediaError>,
        no_camera: bool,
        fx: &mut Vec<Effect>,
    ) {
        let prep = match self.preparing {
            Some(p) if self.op == op => p,
            _ => {
                // Cancelled meanwhile: give the devices back at once.
                if let Ok(stream) = result {
                    media::stop_all(&stream);
                }
                return;
            }
        };
        self.preparing = None;
        let stream = match result {
            Ok(stream) => stream,
            Err(e) => {
                self.notice = Some(e.sentence("camera or microphone"));
                if prep.accepting {
                    let _ = self.machine.decline(DeclineReason::Unavailable, now_ms());
                }
                self.drain(fx);
                return;
            }
        };
        if no_camera {
            self.notice = Some(
                "No camera was found, so you are in this call with your microphone only.".into(),
            );
        }
        let mut local = Local {
            mic: media::first_track(&stream, "audio"),
            camera: media::first_track(&stream, "video"),
            screen: None,
            stream,
            mic_on: true,
            on_screen_ended: None,
            preview: None,
        };
        local.refresh_preview();
        self.release_media();
        let state = local.state();
        self.local = Some(local);
        self.streams += 1;
        if !self.ensure_link() {
            self.notice = Some(
                "The call could not start because the connection to the other person dropped."
                    .into(),
            );
            let _ = self.machine.decline(DeclineReason::Unavailable, now_ms());
            self.drain(fx);
            self.release_media();
            return;
        }
        let now = now_ms();
        let started = match self.machine.current().map(|c| c.phase) {
            None if !prep.accepting => {
                self.machine
                    .start(crate::random::new_id(), prep.video, state, now)
            }
            // The other person called meanwhile (or is the call being accepted): take it.
            Some(Phase::Incoming { .. }) => self.machine.accept(state, now),
            _ => Err(twain_protocol::ProtocolError::Invalid("no call".into())),
        };
        if started.is_err() {
            self.release_media();
        }
        self.drain(fx);
    }

    /// Carries out the machine's outputs.
    fn drain(&mut self, fx: &mut Vec<Effect>) {
        while let Some(output) = self.machine.poll_output() {
            match output {
                Output::Send(frame) => fx.push(Effect::Send(frame)),
                Output::Event(event) => {
                    match event {
                        CallEvent::Started { .. } => self.send_media(),
                        CallEvent::Over { .. } => {
                            // The call ended while the person was still being asked for devices.
                            if self.preparing.is_some_and(|p| p.accepting) {
                                self.cancel_preparing();
                            }
                            self.release_media();
                        }
                        CallEvent::Ringing { .. } | CallEvent::RemoteMedia(_) => {}
                    }
                    let name = if self.peer_name.is_empty() {
                        "the other person"
                    } else {
                        &self.peer_name
                    };
                    if let Some(line) = event.history_line(name) {
                        fx.push(Effect::Log(line));
                    }
                }
            }
        }
    }

    fn reschedule(&mut self) {
        self.timer = self.machine.poll_timeout().map(|due| {
            let weak = self.self_ref.clone();
            let wait = due.saturating_sub(now_ms()).min(u32::MAX as u64) as u32;
            Timeout::new(wait, move || {
                with_weak(&weak, |s, fx| {
                    s.machine.handle_timeout(now_ms());
                    s.drain(fx);
                });
            })
        });
    }

    /// The session's current peer connection.
    fn connection(&self) -> Option<RtcPeerConnection> {
        let session = self.session.as_ref()?.try_borrow().ok()?;
        session.as_ref()?.connection()
    }

    /// Listens for the other side's tracks on the current peer connection (before anything is sent, so no
    /// track can arrive unseen). False when there is no connection.
    fn ensure_link(&mut self) -> bool {
        let Some(pc) = self.connection() else {
            return false;
        };
        if self.link.as_ref().is_some_and(|l| l.pc == pc) {
            return true;
        }
        if let Some(old) = self.link.take() {
            old.release();
        }
        let weak = self.self_ref.clone();
        let on_track = Closure::<dyn FnMut(RtcTrackEvent)>::new(move |e: RtcTrackEvent| {
            let track = e.track();
            with_weak(&weak, |s, _| s.remote_track(track));
        });
        let _ = pc.add_event_listener_with_callback("track", on_track.as_ref().unchecked_ref());
        self.link = Some(Link {
            pc,
            on_track,
            audio_sender: None,
            video_sender: None,
            remote: None,
        });
        true
    }

    fn remote_track(&mut self, track: MediaStreamTrack) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let mut tracks: Vec<MediaStreamTrack> = link
            .remote
            .as_ref()
            .map(|r| r.get_tracks().iter().map(JsCast::unchecked_into).collect())
            .unwrap_or_default();
        if tracks.iter().any(|t| t.id() == track.id()) {
            return;
        }
        // One track per kind: a newer one (the peer turned its camera on again) replaces the older.
        tracks.retain(|t| t.kind() != track.kind());
        tracks.push(track);
        link.remote = media::stream_of(&tracks);
        self.streams += 1;
    }

    /// The call is live: send this side's tracks.
    fn send_media(&mut self) {
        if !self.ensure_link() {
            self.machine.peer_gone(now_ms());
            return;
        }
        let (Some(local), Some(link)) = (&self.local, &mut self.link) else {
            return;
        };
        if let Some(mic) = &local.mic {
            link.audio_sender = media::add_track(&link.pc, mic, &local.stream);
        }
        if let Some(video) = local.video_track() {
            link.video_sender = media::add_track(&link.pc, video, &local.stream);
        }
    }

    /// The camera or screen changed: update the preview, what is sent, and tell the other side.
    fn video_changed(&mut self, fx: &mut Vec<Effect>) {
        let live = self
            .machine
            .current()
            .is_some_and(|c| matches!(c.phase, Phase::Active { .. }));
        if let Some(local) = self.local.as_mut() {
            local.refresh_preview();
            self.streams += 1;
            if let (true, Some(link)) = (live, self.link.as_mut()) {
                let track = local.video_track();
                match (&link.video_sender, track) {
                    (Some(sender), track) => media::replace_track(sender, track),
                    // An audio call gets its first video track: renegotiation follows.
                    (None, Some(track)) => {
                        link.video_sender = media::add_track(&link.pc, track, &local.stream)
                    }
                    (None, None) => {}
                }
            }
        }
        self.media_changed(fx);
    }

    fn stop_sharing(&mut self, fx: &mut Vec<Effect>) {
        let Some(local) = self.local.as_mut() else {
            return;
        };
        if let Some(screen) = local.screen.take() {
            screen.set_onended(None);
            screen.stop();
        }
        local.on_screen_ended = None;
        self.video_changed(fx);
    }

    /// Tells the other side what this side now sends (while the call is live).
    fn media_changed(&mut self, fx: &mut Vec<Effect>) {
        if let Some(state) = self.local.as_ref().map(Local::state) {
            let _ = self.machine.set_local_media(state);
            self.drain(fx);
        }
    }

    /// Removes this side's tracks from the connection and gives the devices back.
    fn release_media(&mut self) {
        if let Some(link) = self.link.take() {
            link.release();
            self.streams += 1;
        }
        if let Some(mut local) = self.local.take() {
            local.stop();
            self.streams += 1;
        }
    }

    /// The pairing is over (peer left or reloaded, a new peer connection, the room closed).
    fn pairing_ended(&mut self, fx: &mut Vec<Effect>) {
        self.cancel_preparing();
        self.machine.peer_gone(now_ms());
        self.drain(fx);
        self.release_media();
    }

    /// This page is leaving the room: hang up (the other side hears it while the channel still works).
    fn end_for_good(&mut self, fx: &mut Vec<Effect>) {
        self.cancel_preparing();
        if !self.machine.is_idle() {
            let _ = self.machine.hang_up(now_ms());
            self.drain(fx);
        }
        self.release_media();
    }
}
