//! One RTCPeerConnection with the perfect-negotiation pattern, and Twain's two negotiated data channels.
//!
//! Perfect negotiation (W3C WebRTC §10.7): both sides may start negotiating at any time (now for the data
//! channels, later for calls); on an offer collision the impolite peer ignores the incoming offer and the polite
//! one rolls back its own. The worker assigns the roles. Incoming signals are handled strictly in order through a
//! queue, so an ICE candidate is never added before the description it belongs to.
//!
//! Channels are negotiated (`negotiated: true` with fixed ids) so both sides create them symmetrically:
//! id 0 `twain` carries chat and control JSON; id 1 `twain-files` carries file chunks, so chat never waits
//! behind megabytes of file data.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use twain_protocol::signal::IceServer;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MessageEvent, RtcConfiguration, RtcDataChannel, RtcDataChannelInit, RtcDataChannelType,
    RtcIceCandidateInit, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcSessionDescriptionInit,
    RtcSignalingState,
};

#[wasm_bindgen]
extern "C" {
    /// The RTCPeerConnection methods web-sys does not bind in the shape perfect negotiation needs.
    #[wasm_bindgen(extends = RtcPeerConnection)]
    type PcExt;
    /// `setLocalDescription()` without arguments: creates the right offer or answer itself.
    #[wasm_bindgen(method, js_name = setLocalDescription)]
    fn set_local_description_auto(this: &PcExt) -> js_sys::Promise;
    #[wasm_bindgen(method, js_name = restartIce)]
    fn restart_ice_now(this: &PcExt);
}

fn ext(pc: &RtcPeerConnection) -> &PcExt {
    pc.unchecked_ref()
}

/// Label and id of the chat/control channel.
pub const CHAT_CHANNEL: (&str, u16) = ("twain", 0);
/// Label and id of the file channel.
pub const FILES_CHANNEL: (&str, u16) = ("twain-files", 1);
/// `bufferedamountlow` fires on the file channel when its queue drains below this many bytes.
pub const FILES_LOW_WATER: u32 = 256 * 1024;

/// What the peer connection reports.
#[derive(Debug)]
pub enum PeerEvent {
    /// Send this to the other peer through signaling.
    Signal(serde_json::Value),
    ChatOpen,
    ChatClosed,
    ChatMessage(String),
    FilesOpen,
    FilesClosed,
    FilesMessage(JsValue),
    FilesBufferedLow,
    /// `RTCPeerConnection.connectionState` changed (`new`, `connecting`, `connected`, `disconnected`, `failed`,
    /// `closed`).
    Connection(String),
}

type Handler = Rc<dyn Fn(PeerEvent)>;

struct Shared {
    pc: RtcPeerConnection,
    chat: RtcDataChannel,
    files: RtcDataChannel,
    polite: bool,
    making_offer: Cell<bool>,
    /// Whether a remote description was ever applied. Until then the polite peer leaves the first offer to the
    /// impolite one: when both offer at once, Chromium's rollback of the polite offer can leave the polite side
    /// with no ICE candidates at all (seen here on loopback), and the connection never forms.
    remote_applied: Cell<bool>,
    ignore_offer: Cell<bool>,
    inbox: RefCell<VecDeque<serde_json::Value>>,
    draining: Cell<bool>,
    on_event: Handler,
    closures: RefCell<Vec<Box<dyn std::any::Any>>>,
}

pub struct Peer {
    shared: Rc<Shared>,
}

fn to_js(value: &serde_json::Value) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(&value.to_string())
}

fn to_json(value: &JsValue) -> Option<serde_json::Value> {
    let text: String = js_sys::JSON::stringify(value).ok()?.into();
    serde_json::from_str(&text).ok()
}

fn make_channel(pc: &RtcPeerConnection, (label, id): (&str, u16)) -> RtcDataChannel {
    let init = RtcDataChannelInit::new();
    init.set_negotiated(true);
    init.set_id(id);
    init.set_ordered(true);
    let dc = pc.create_data_channel_with_data_channel_dict(label, &init);
    dc.set_binary_type(RtcDataChannelType::Arraybuffer);
    dc
}

impl Peer {
    pub fn new(
        ice_servers: &[IceServer],
        polite: bool,
        on_event: Handler,
    ) -> Result<Peer, JsValue> {
        let config = RtcConfiguration::new();
        let servers = serde_json::to_value(ice_servers).unwrap_or_default();
        config.set_ice_servers(&to_js(&servers)?);
        let pc = RtcPeerConnection::new_with_configuration(&config)?;
        let chat = make_channel(&pc, CHAT_CHANNEL);
        let files = make_channel(&pc, FILES_CHANNEL);
        files.set_buffered_amount_low_threshold(FILES_LOW_WATER);
        let shared = Rc::new(Shared {
            pc,
            chat,
            files,
            polite,
            making_offer: Cell::new(false),
            remote_applied: Cell::new(false),
            ignore_offer: Cell::new(false),
            inbox: RefCell::new(VecDeque::new()),
            draining: Cell::new(false),
            on_event,
            closures: RefCell::new(Vec::new()),
        });
        Self::wire(&shared);
        Ok(Peer { shared })
    }

    fn wire(shared: &Rc<Shared>) {
        let weak = Rc::downgrade(shared);
        let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();

        let w = weak.clone();
        let on_negotiation = Closure::<dyn FnMut()>::new(move || {
            if let Some(s) = w.upgrade() {
                if s.polite && !s.remote_applied.get() {
                    // The impolite peer's offer covers it; once stable, Chromium asks again if anything is left.
                    return;
                }
                spawn_local(async move {
                    s.making_offer.set(true);
                    let result = JsFuture::from(ext(&s.pc).set_local_description_auto()).await;
                    if result.is_ok() {
                        s.send_local_description();
                    }
                    s.making_offer.set(false);
                });
            }
        });
        shared
            .pc
            .set_onnegotiationneeded(Some(on_negotiation.as_ref().unchecked_ref()));
        keep.push(Box::new(on_negotiation));

        let w = weak.clone();
        let on_ice = Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(
            move |e: RtcPeerConnectionIceEvent| {
                let (Some(s), Some(candidate)) = (w.upgrade(), e.candidate()) else {
                    return;
                };
                if let Some(json) = to_json(&candidate.to_json().into()) {
                    (s.on_event)(PeerEvent::Signal(serde_json::json!({ "candidate": json })));
                }
            },
        );
        shared
            .pc
            .set_onicecandidate(Some(on_ice.as_ref().unchecked_ref()));
        keep.push(Box::new(on_ice));

        let w = weak.clone();
        let on_state = Closure::<dyn FnMut()>::new(move || {
            if let Some(s) = w.upgrade() {
                let state = js_sys::Reflect::get(&s.pc, &"connectionState".into())
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default();
                if state == "failed" {
                    // Ask both ends to gather fresh candidates; negotiationneeded follows.
                    ext(&s.pc).restart_ice_now();
                }
                (s.on_event)(PeerEvent::Connection(state));
            }
        });
        shared
            .pc
            .set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        keep.push(Box::new(on_state));

        for (dc, open, closed) in [
            (
                &shared.chat,
                (|| PeerEvent::ChatOpen) as fn() -> PeerEvent,
                (|| PeerEvent::ChatClosed) as fn() -> PeerEvent,
            ),
            (
                &shared.files,
                (|| PeerEvent::FilesOpen) as fn() -> PeerEvent,
                (|| PeerEvent::FilesClosed) as fn() -> PeerEvent,
            ),
        ] {
            let w = weak.clone();
            let on_open = Closure::<dyn FnMut()>::new(move || {
                if let Some(s) = w.upgrade() {
                    (s.on_event)(open());
                }
            });
            dc.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            keep.push(Box::new(on_open));
            let w = weak.clone();
            let on_close = Closure::<dyn FnMut()>::new(move || {
                if let Some(s) = w.upgrade() {
                    (s.on_event)(closed());
                }
            });
            dc.set_onclose(Some(on_close.as_ref().unchecked_ref()));
            keep.push(Box::new(on_close));
        }

        let w = weak.clone();
        let on_chat = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let (Some(s), Some(text)) = (w.upgrade(), e.data().as_string()) {
                (s.on_event)(PeerEvent::ChatMessage(text));
            }
        });
        shared
            .chat
            .set_onmessage(Some(on_chat.as_ref().unchecked_ref()));
        keep.push(Box::new(on_chat));

        let w = weak.clone();
        let on_file = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(s) = w.upgrade() {
                (s.on_event)(PeerEvent::FilesMessage(e.data()));
            }
        });
        shared
            .files
            .set_onmessage(Some(on_file.as_ref().unchecked_ref()));
        keep.push(Box::new(on_file));

        let w = weak;
        let on_low = Closure::<dyn FnMut()>::new(move || {
            if let Some(s) = w.upgrade() {
                (s.on_event)(PeerEvent::FilesBufferedLow);
            }
        });
        shared
            .files
            .set_onbufferedamountlow(Some(on_low.as_ref().unchecked_ref()));
        keep.push(Box::new(on_low));

        *shared.closures.borrow_mut() = keep;
    }

    /// Handles a signaling payload (`{description}` or `{candidate}`) from the other peer, in arrival order.
    pub fn handle_signal(&self, data: serde_json::Value) {
        self.shared.inbox.borrow_mut().push_back(data);
        if self.shared.draining.get() {
            return;
        }
        self.shared.draining.set(true);
        let weak: Weak<Shared> = Rc::downgrade(&self.shared);
        spawn_local(async move {
            loop {
                let Some(s) = weak.upgrade() else { return };
                let next = s.inbox.borrow_mut().pop_front();
                let Some(data) = next else {
                    s.draining.set(false);
                    return;
                };
                s.handle_one(data).await;
            }
        });
    }

    pub fn chat_open(&self) -> bool {
        self.shared.chat.ready_state() == web_sys::RtcDataChannelState::Open
    }

    /// Sends a text frame on the chat channel. Returns false if the channel is not open.
    pub fn send_chat(&self, text: &str) -> bool {
        self.chat_open() && self.shared.chat.send_with_str(text).is_ok()
    }

    /// Asks for an ICE restart (fresh candidates on both ends); negotiation follows by itself.
    pub fn restart_ice(&self) {
        ext(&self.shared.pc).restart_ice_now();
    }

    /// The file channel, for the transfer engine (binary frames, backpressure).
    pub fn files_channel(&self) -> &RtcDataChannel {
        &self.shared.files
    }

    /// The connection itself (calls add tracks to it; perfect negotiation handles the renegotiation).
    pub fn connection(&self) -> &RtcPeerConnection {
        &self.shared.pc
    }
}

impl Shared {
    fn send_local_description(&self) {
        if let Some(desc) = self.pc.local_description() {
            if let Some(json) = to_json(&desc.into()) {
                (self.on_event)(PeerEvent::Signal(
                    serde_json::json!({ "description": json }),
                ));
            }
        }
    }

    async fn handle_one(&self, data: serde_json::Value) {
        if let Some(description) = data.get("description") {
            let kind = description
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("");
            let collision = kind == "offer"
                && (self.making_offer.get()
                    || self.pc.signaling_state() != RtcSignalingState::Stable);
            self.ignore_offer.set(!self.polite && collision);
            if self.ignore_offer.get() {
                return;
            }
            let Ok(init) = to_js(description) else { return };
            let init: RtcSessionDescriptionInit = init.unchecked_into();
            if JsFuture::from(self.pc.set_remote_description(&init))
                .await
                .is_err()
            {
                return;
            }
            self.remote_applied.set(true);
            if kind == "offer"
                && JsFuture::from(ext(&self.pc).set_local_description_auto())
                    .await
                    .is_ok()
            {
                self.send_local_description();
            }
        } else if let Some(candidate) = data.get("candidate") {
            let Ok(init) = to_js(candidate) else { return };
            let init: RtcIceCandidateInit = init.unchecked_into();
            let added = JsFuture::from(
                self.pc
                    .add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)),
            )
            .await;
            if added.is_err() && !self.ignore_offer.get() {
                web_sys::console::warn_1(
                    &"an ICE candidate from the other peer was not usable".into(),
                );
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let s = &self.shared;
        s.pc.set_onnegotiationneeded(None);
        s.pc.set_onicecandidate(None);
        s.pc.set_onconnectionstatechange(None);
        for dc in [&s.chat, &s.files] {
            dc.set_onopen(None);
            dc.set_onclose(None);
            dc.set_onmessage(None);
            dc.set_onbufferedamountlow(None);
            dc.close();
        }
        s.pc.close();
        s.closures.borrow_mut().clear();
    }
}
