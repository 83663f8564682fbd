//! Who is on the other end of a room.
//!
//! - This browser's identity key pair: [`generate_keys`] makes it with WebCrypto (ECDSA P-256, the private key
//!   non-extractable; [`crate::storage`] keeps the `CryptoKey` itself) and [`sign`] signs with it.
//! - [`TrustController`], one per room page: when the chat channel opens it signs the DTLS fingerprint of its own
//!   local description with the room id and sends a `proof` (then a `room-mode`); when the other browser's
//!   `proof` arrives it checks it with [`twain_protocol::verify::verify_proof`] against the remote description
//!   this connection actually uses and the identity the worker introduced. While that proof is missing it asks
//!   for it again, and it answers the other's asks ([`ProofExchange`] decides). A failed or missing proof means
//!   someone may be in the middle: the view says so loudly and [`TrustView::blocks_sending`] holds the composer,
//!   files and calls until the person chooses. A valid proof is then compared with the key remembered for the
//!   room: first meeting, same person as last time, or a different identity (a visible warning).
//!
//! The controller only reads the session (it never holds its borrow across an `.await`); its view reaches the UI
//! through a callback, like [`crate::call::CallController`].

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::{Array, Object, Reflect, Uint8Array};
use twain_protocol::ids::base64url;
use twain_protocol::signal::PeerInfo;
use twain_protocol::verify::{
    decode_public_key, proof_message, safety_code, verify_proof, Fingerprint, Proof, ProofExchange,
    VerifyError, PROOF_ASK_INTERVAL_MS,
};
use twain_protocol::wire::PeerFrame;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{CryptoKey, SubtleCrypto};
use yew::prelude::*;

use crate::net::session::{LinkStatus, Session, SessionEvent};
use crate::storage::{Identity, Storage};

/// How long after the channel opens the other browser has to prove its identity.
pub const PROOF_TIMEOUT_MS: u32 = 15_000;

type SessionCell = Rc<RefCell<Option<Session>>>;

/// A freshly generated identity key pair.
pub struct NewKeys {
    /// The private key, non-extractable, usable only to sign.
    pub private: CryptoKey,
    /// The raw uncompressed public key (65 bytes).
    pub public_raw: Vec<u8>,
}

fn subtle() -> Result<SubtleCrypto, String> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .and_then(|c| c.dyn_into::<web_sys::Crypto>().ok())
        .ok_or("this browser has no WebCrypto")?;
    Ok(crypto.subtle())
}

fn js_error(e: &JsValue) -> String {
    Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

fn algorithm(fields: &[(&str, &str)]) -> Object {
    let o = Object::new();
    for (k, v) in fields {
        let _ = Reflect::set(&o, &(*k).into(), &(*v).into());
    }
    o
}

/// Makes a new ECDSA P-256 key pair. The private key is not extractable; the public key is exported raw.
pub async fn generate_keys() -> Result<NewKeys, String> {
    let subtle = subtle()?;
    let usages = Array::of2(&"sign".into(), &"verify".into());
    let pair = subtle
        .generate_key_with_object(
            &algorithm(&[("name", "ECDSA"), ("namedCurve", "P-256")]),
            false,
            &usages,
        )
        .map_err(|e| js_error(&e))?;
    let pair = JsFuture::from(pair)
        .await
        .map_err(|e| format!("making an identity key failed: {}", js_error(&e)))?;
    let key = |name: &str| {
        Reflect::get(&pair, &name.into())
            .ok()
            .and_then(|k| k.dyn_into::<CryptoKey>().ok())
            .ok_or_else(|| "making an identity key failed".to_string())
    };
    let private = key("privateKey")?;
    let public = key("publicKey")?;
    let raw = subtle
        .export_key("raw", &public)
        .map_err(|e| js_error(&e))?;
    let raw = JsFuture::from(raw).await.map_err(|e| js_error(&e))?;
    Ok(NewKeys {
        private,
        public_raw: Uint8Array::new(&raw).to_vec(),
    })
}

/// Signs `data` with ECDSA P-256 / SHA-256. Returns the 64-byte IEEE P1363 signature (`r || s`).
pub async fn sign(key: &CryptoKey, data: &[u8]) -> Result<Vec<u8>, String> {
    let promise = subtle()?
        .sign_with_object_and_u8_array(
            &algorithm(&[("name", "ECDSA"), ("hash", "SHA-256")]),
            key,
            data,
        )
        .map_err(|e| js_error(&e))?;
    let signature = JsFuture::from(promise)
        .await
        .map_err(|e| format!("signing failed: {}", js_error(&e)))?;
    Ok(Uint8Array::new(&signature).to_vec())
}

/// The identity check of the current pairing.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Nobody to check (alone, or the other person left).
    Idle,
    /// Connected; the other browser's proof has not arrived yet.
    Waiting,
    /// The other browser proved its identity on this very connection.
    Proven,
    /// The proof is wrong or missing: someone may be in the middle. The sentence says what failed.
    Failed(String),
}

/// How the proven identity compares with the one met in this room before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// Not known yet (no proof yet, or still reading storage).
    Unknown,
    /// Nobody was met in this room before: the key is remembered from now on.
    First,
    /// The same key as last time.
    Same,
    /// A different key than last time. Not remembered until the person accepts it.
    Changed,
    /// A different key than last time, which the person accepted (or verified) now.
    Accepted,
}

/// Everything the trust UI renders.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustView {
    pub check: Check,
    pub continuity: Continuity,
    /// The person marked the other's current key as verified (compared the safety code).
    pub verified: bool,
    /// After a failed check, the person chose to continue anyway.
    pub overridden: bool,
    /// The safety code of the two keys, once the other key is proven.
    pub safety_code: Option<String>,
    pub my_id: String,
    /// The other person's identity id (as introduced).
    pub peer_id: Option<String>,
    /// This browser keeps nothing of this room.
    pub keep_nothing: bool,
    /// The other browser says it keeps nothing of this room.
    pub peer_keeps_nothing: bool,
    /// A problem to show (storage failed...).
    pub notice: Option<String>,
}

impl TrustView {
    /// True while a failed check holds everything that would send to the other browser.
    pub fn blocks_sending(&self) -> bool {
        matches!(self.check, Check::Failed(_)) && !self.overridden
    }

    /// True once this connection's check passed, or failed and the person chose to continue anyway. File
    /// transfers (which also resume by themselves) wait for this; chat and calls need a person to act anyway.
    pub fn cleared(&self) -> bool {
        match self.check {
            Check::Proven => true,
            Check::Failed(_) => self.overridden,
            Check::Idle | Check::Waiting => false,
        }
    }

    /// Whether to show the "Verified" badge next to the other person's name: their verified key is proven on this
    /// connection, or they are away (the badge then speaks of the person last met).
    pub fn show_verified(&self) -> bool {
        self.verified && matches!(self.check, Check::Proven | Check::Idle)
    }
}

/// The sentence for a failed proof.
fn failure_sentence(e: &VerifyError) -> String {
    let detail = e.to_string();
    let mut chars = detail.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// The identity check of one room page. See the [module docs](self).
pub struct TrustController {
    room_id: String,
    storage: Rc<Storage>,
    session: SessionCell,
    my_key: Vec<u8>,
    my_key_text: String,
    /// Increases with every pairing, so late async work for an old pairing is dropped.
    pairing: Cell<u64>,
    peer: RefCell<Option<PeerInfo>>,
    peer_key: RefCell<Option<String>>,
    signing_key: RefCell<Option<CryptoKey>>,
    /// This pairing's signed proof, `(pairing, fingerprint, signature)`: sent again without signing again.
    own_proof: RefCell<Option<(u64, String, String)>>,
    /// When to send our proof on this connection (on open, to ask again, to answer an ask).
    exchange: RefCell<ProofExchange>,
    /// The next time to ask again for the other browser's proof.
    ask_timer: RefCell<Option<Timeout>>,
    timer: RefCell<Option<Timeout>>,
    view: RefCell<TrustView>,
    on_view: RefCell<Callback<TrustView>>,
    self_ref: Weak<TrustController>,
}

impl PartialEq for TrustController {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl TrustController {
    pub fn new(
        room_id: &str,
        storage: Rc<Storage>,
        identity: &Identity,
        session: SessionCell,
    ) -> Rc<TrustController> {
        let my_key = decode_public_key(&identity.public_key).unwrap_or_default();
        let keep_nothing = storage.keeps_nothing(room_id);
        Rc::new_cyclic(|weak| TrustController {
            room_id: room_id.to_string(),
            storage,
            session,
            my_key,
            my_key_text: identity.public_key.clone(),
            pairing: Cell::new(0),
            peer: RefCell::new(None),
            peer_key: RefCell::new(None),
            signing_key: RefCell::new(None),
            own_proof: RefCell::new(None),
            exchange: RefCell::new(ProofExchange::new()),
            ask_timer: RefCell::new(None),
            timer: RefCell::new(None),
            view: RefCell::new(TrustView {
                check: Check::Idle,
                continuity: Continuity::Unknown,
                verified: false,
                overridden: false,
                safety_code: None,
                my_id: identity.peer_id.clone(),
                peer_id: None,
                keep_nothing,
                peer_keeps_nothing: false,
                notice: None,
            }),
            on_view: RefCell::new(Callback::noop()),
            self_ref: weak.clone(),
        })
    }

    /// Where view changes go (the hook's state setter).
    pub fn subscribe(&self, on_view: Callback<TrustView>) {
        on_view.emit(self.view());
        *self.on_view.borrow_mut() = on_view;
    }

    pub fn view(&self) -> TrustView {
        self.view.borrow().clone()
    }

    fn update(&self, f: impl FnOnce(&mut TrustView)) {
        let changed = {
            let mut view = self.view.borrow_mut();
            let before = view.clone();
            f(&mut view);
            (*view != before).then(|| view.clone())
        };
        if let Some(view) = changed {
            let on_view = self.on_view.borrow().clone();
            on_view.emit(view);
        }
    }

    /// Reads what is remembered of the room (for the badge while the other person is away).
    pub fn load(&self) {
        let Some(this) = self.self_ref.upgrade() else {
            return;
        };
        spawn_local(async move {
            if let Ok(Some(record)) = this.storage.room(&this.room_id).await {
                if this.peer.borrow().is_none() {
                    this.update(|v| v.verified = record.peer_verified);
                }
            }
        });
    }

    /// The page goes away.
    pub fn stop(&self) {
        self.timer.borrow_mut().take();
        self.ask_timer.borrow_mut().take();
        self.pairing.set(self.pairing.get() + 1);
    }

    /// Every event of the room's session.
    pub fn on_session_event(&self, event: &SessionEvent) {
        match event {
            SessionEvent::PeerArrived(peer, _) => {
                self.pairing.set(self.pairing.get() + 1);
                *self.peer.borrow_mut() = Some(peer.clone());
                self.peer_key.borrow_mut().take();
                self.timer.borrow_mut().take();
                self.ask_timer.borrow_mut().take();
                self.own_proof.borrow_mut().take();
                *self.exchange.borrow_mut() = ProofExchange::new();
                let id = peer.peer_id.clone();
                self.update(|v| {
                    v.check = Check::Idle;
                    v.continuity = Continuity::Unknown;
                    v.verified = false;
                    v.overridden = false;
                    v.safety_code = None;
                    v.peer_id = Some(id);
                    v.peer_keeps_nothing = false;
                });
            }
            SessionEvent::PeerDeparted(_) => {
                self.peer.borrow_mut().take();
                self.timer.borrow_mut().take();
                self.ask_timer.borrow_mut().take();
                self.update(|v| {
                    v.check = Check::Idle;
                    v.peer_keeps_nothing = false;
                });
            }
            SessionEvent::Status(LinkStatus::Connected) => self.connected(),
            SessionEvent::Frame(PeerFrame::Proof {
                public_key,
                fingerprint,
                signature,
                ask,
            }) => {
                let (public_key, fingerprint, signature, ask) = (
                    public_key.clone(),
                    fingerprint.clone(),
                    signature.clone(),
                    *ask,
                );
                let Some(this) = self.self_ref.upgrade() else {
                    return;
                };
                // After this event is delivered: the session may be borrowed right now.
                spawn_local(async move {
                    if !this.check_proof(&public_key, &fingerprint, &signature) {
                        return;
                    }
                    this.ask_timer.borrow_mut().take();
                    let answer = this.exchange.borrow_mut().on_checked(ask);
                    if let Some(ask) = answer {
                        this.send_proof_quietly(ask).await;
                    }
                });
            }
            SessionEvent::Frame(PeerFrame::RoomMode { keep_nothing }) => {
                let keep_nothing = *keep_nothing;
                self.update(|v| v.peer_keeps_nothing = keep_nothing);
            }
            _ => {}
        }
    }

    /// The chat channel is open (again): prove who we are, say whether we keep anything, and expect the same.
    fn connected(&self) {
        if self.peer.borrow().is_none() {
            return;
        }
        if matches!(self.view.borrow().check, Check::Idle) {
            self.update(|v| v.check = Check::Waiting);
        }
        if matches!(self.view.borrow().check, Check::Waiting) && self.timer.borrow().is_none() {
            let weak = self.self_ref.clone();
            let pairing = self.pairing.get();
            *self.timer.borrow_mut() = Some(Timeout::new(PROOF_TIMEOUT_MS, move || {
                let Some(this) = weak.upgrade() else { return };
                this.timer.borrow_mut().take();
                if this.pairing.get() == pairing
                    && matches!(this.view.borrow().check, Check::Waiting)
                {
                    this.update(|v| {
                        v.check = Check::Failed(
                            "The other browser did not prove its identity on this connection."
                                .into(),
                        )
                    });
                }
            }));
        }
        if !self.exchange.borrow().has_checked_theirs() && self.ask_timer.borrow().is_none() {
            self.ask_again_later(self.pairing.get());
        }
        let Some(this) = self.self_ref.upgrade() else {
            return;
        };
        let ask = self.exchange.borrow_mut().on_open();
        spawn_local(async move {
            let proven = match ask {
                Some(ask) => this.send_proof(ask).await.map(|_| ()),
                None => Ok(()),
            };
            if let Err(e) = proven {
                web_sys::console::error_1(
                    &format!("twain: could not prove this identity: {e}").into(),
                );
                this.update(|v| {
                    v.notice = Some(format!(
                        "Twain could not prove your identity to the other person, so they will see a warning: {e}"
                    ))
                });
            }
            this.send(&PeerFrame::RoomMode {
                keep_nothing: this.view.borrow().keep_nothing,
            });
        });
    }

    /// While the other browser's proof is missing on this pairing, asks for it again every
    /// [`PROOF_ASK_INTERVAL_MS`], as many times as [`ProofExchange`] allows.
    fn ask_again_later(&self, pairing: u64) {
        let weak = self.self_ref.clone();
        *self.ask_timer.borrow_mut() = Some(Timeout::new(PROOF_ASK_INTERVAL_MS, move || {
            let Some(this) = weak.upgrade() else { return };
            this.ask_timer.borrow_mut().take();
            if this.pairing.get() != pairing {
                return;
            }
            let ask = this.exchange.borrow_mut().on_interval();
            if let Some(ask) = ask {
                this.ask_again_later(pairing);
                spawn_local(async move { this.send_proof_quietly(ask).await });
            }
        }));
    }

    /// Sends our proof again (asking, or answering an ask); a failure is only logged, the first send already told
    /// the person.
    async fn send_proof_quietly(&self, ask: bool) {
        match self.send_proof(ask).await {
            Ok(true) => {}
            Ok(false) => web_sys::console::warn_1(
                &"twain: the identity proof could not be sent now; the other browser will ask again".into(),
            ),
            Err(e) => web_sys::console::warn_1(
                &format!("twain: could not prove this identity again: {e}").into(),
            ),
        }
    }

    fn connection(&self) -> Option<web_sys::RtcPeerConnection> {
        self.session.try_borrow().ok()?.as_ref()?.connection()
    }

    fn send(&self, frame: &PeerFrame) -> bool {
        match self.session.try_borrow() {
            Ok(session) => session.as_ref().is_some_and(|s| s.send(frame)),
            Err(_) => false,
        }
    }

    /// Signs (once per pairing) and sends our proof, with `ask` set as [`ProofExchange`] decided. `Ok(false)`:
    /// signed but not sent (the channel is not open right now, or a new pairing started meanwhile).
    async fn send_proof(&self, ask: bool) -> Result<bool, String> {
        let pairing = self.pairing.get();
        let signed = match self.own_proof.borrow().as_ref() {
            Some((p, fingerprint, signature)) if *p == pairing => {
                Some((fingerprint.clone(), signature.clone()))
            }
            _ => None,
        };
        let (fingerprint, signature) = match signed {
            Some(signed) => signed,
            None => {
                let signed = self.sign_proof().await?;
                if self.pairing.get() != pairing {
                    return Ok(false); // a new pairing started meanwhile; it sends its own proof
                }
                *self.own_proof.borrow_mut() = Some((pairing, signed.0.clone(), signed.1.clone()));
                signed
            }
        };
        Ok(self.send(&PeerFrame::Proof {
            public_key: self.my_key_text.clone(),
            fingerprint,
            signature,
            ask,
        }))
    }

    /// This connection's proof: the fingerprint of our local description and our signature over it, as sent.
    async fn sign_proof(&self) -> Result<(String, String), String> {
        let cached = self.signing_key.borrow().clone();
        let key = match cached {
            Some(key) => key,
            None => {
                let key = self
                    .storage
                    .signing_key()
                    .await
                    .map_err(|e| e.to_string())?;
                *self.signing_key.borrow_mut() = Some(key.clone());
                key
            }
        };
        let pc = self.connection().ok_or("the connection is gone")?;
        let local = pc
            .current_local_description()
            .or_else(|| pc.local_description())
            .ok_or("the connection has no local description")?;
        let fingerprint = Fingerprint::from_sdp(&local.sdp()).map_err(|e| e.to_string())?;
        let signature = sign(&key, &proof_message(&self.room_id, &fingerprint)).await?;
        Ok((fingerprint.to_string(), base64url(&signature)))
    }

    /// Checks the other browser's proof against this connection. False if it could not be checked (no peer or no
    /// connection any more).
    fn check_proof(&self, public_key: &str, fingerprint: &str, signature: &str) -> bool {
        let Some(peer) = self.peer.borrow().clone() else {
            return false;
        };
        let remote = self
            .connection()
            .and_then(|pc| {
                pc.current_remote_description()
                    .or_else(|| pc.remote_description())
            })
            .map(|d| d.sdp());
        let Some(remote) = remote else { return false };
        let proof = Proof {
            public_key,
            fingerprint,
            signature,
        };
        let result = Fingerprint::from_sdp(&remote)
            .and_then(|fp| verify_proof(&proof, &self.room_id, &fp, &peer.peer_id, &self.my_key));
        self.timer.borrow_mut().take();
        match result {
            Err(e) => {
                web_sys::console::warn_1(&format!("twain: identity proof refused: {e}").into());
                self.update(|v| v.check = Check::Failed(failure_sentence(&e)));
            }
            Ok(verified) => {
                let code = safety_code(&self.my_key, &verified.public_key);
                let key_text = base64url(&verified.public_key);
                let known = self.peer_key.borrow().as_deref() == Some(key_text.as_str());
                *self.peer_key.borrow_mut() = Some(key_text.clone());
                self.update(|v| {
                    v.check = Check::Proven;
                    v.safety_code = Some(code);
                });
                if !known {
                    self.compare_with_memory(key_text);
                }
            }
        }
        true
    }

    /// First meeting, same person, or a different identity than last time.
    fn compare_with_memory(&self, key: String) {
        let Some(this) = self.self_ref.upgrade() else {
            return;
        };
        let pairing = self.pairing.get();
        spawn_local(async move {
            let record = this.storage.room(&this.room_id).await;
            if this.pairing.get() != pairing {
                return;
            }
            let record = match record {
                Ok(Some(record)) => record,
                // Forgotten meanwhile, or unreadable: nothing to compare with, nothing to store.
                _ => return,
            };
            match record.peer_public_key.as_deref() {
                Some(known) if known == key => {
                    this.update(|v| {
                        v.continuity = Continuity::Same;
                        v.verified = record.peer_verified;
                    });
                }
                Some(_) => this.update(|v| {
                    v.continuity = Continuity::Changed;
                    v.verified = false;
                }),
                None => {
                    this.update(|v| {
                        v.continuity = Continuity::First;
                        v.verified = false;
                    });
                    if let Err(e) = this
                        .storage
                        .remember_peer_key(&this.room_id, &key, false)
                        .await
                    {
                        this.update(|v| v.notice = Some(e.to_string()));
                    }
                }
            }
        });
    }

    /// The person compared the safety code (`true`), or takes the mark back (`false`).
    pub fn mark_verified(&self, verified: bool) {
        self.remember_current(verified);
    }

    /// The person accepts a changed identity without comparing the code.
    pub fn accept_new_identity(&self) {
        self.remember_current(false);
    }

    fn remember_current(&self, verified: bool) {
        let Some(key) = self.peer_key.borrow().clone() else {
            return;
        };
        let Some(this) = self.self_ref.upgrade() else {
            return;
        };
        spawn_local(async move {
            match this
                .storage
                .remember_peer_key(&this.room_id, &key, verified)
                .await
            {
                Ok(_) => this.update(|v| {
                    v.verified = verified;
                    if v.continuity == Continuity::Changed {
                        v.continuity = Continuity::Accepted;
                    }
                }),
                Err(e) => this.update(|v| v.notice = Some(e.to_string())),
            }
        });
    }

    /// After a failed check: the person chooses to talk anyway.
    pub fn continue_anyway(&self) {
        self.update(|v| v.overridden = true);
    }

    /// Turns "keep nothing" on or off for this room and tells the other browser.
    pub fn set_keep_nothing(&self, on: bool) {
        let Some(this) = self.self_ref.upgrade() else {
            return;
        };
        spawn_local(async move {
            match this.storage.set_keep_nothing(&this.room_id, on).await {
                Ok(()) => {
                    this.update(|v| {
                        v.keep_nothing = on;
                        v.notice = None;
                    });
                    this.send(&PeerFrame::RoomMode { keep_nothing: on });
                }
                Err(e) => this.update(|v| v.notice = Some(e.to_string())),
            }
        });
    }

    pub fn dismiss_notice(&self) {
        self.update(|v| v.notice = None);
    }
}

/// The trust controller of a room page and its current view.
pub struct Trust {
    pub controller: Rc<TrustController>,
    pub view: TrustView,
}

/// Makes the room page's [`TrustController`] (once) and re-renders on its view changes. Route the session's
/// events to [`TrustController::on_session_event`].
#[hook]
pub fn use_trust(
    room_id: &str,
    storage: Rc<Storage>,
    identity: &Identity,
    session: SessionCell,
) -> Trust {
    let controller = {
        let room_id = room_id.to_string();
        let identity = identity.clone();
        (*use_state(move || TrustController::new(&room_id, storage, &identity, session))).clone()
    };
    let view = use_state({
        let controller = controller.clone();
        move || controller.view()
    });
    {
        let controller = controller.clone();
        let setter = view.setter();
        use_effect_with((), move |_| {
            controller.subscribe(Callback::from(move |v| setter.set(v)));
            controller.load();
            move || controller.stop()
        });
    }
    Trust {
        controller,
        view: (*view).clone(),
    }
}

#[cfg(test)]
mod tests {
    // Plain `#[test]`s are not run on wasm32: the wasm-bindgen test runner needs its attribute.
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::{Check, Continuity, TrustView};

    fn view(check: Check, overridden: bool) -> TrustView {
        TrustView {
            check,
            continuity: Continuity::Unknown,
            verified: false,
            overridden,
            safety_code: None,
            my_id: "me".into(),
            peer_id: None,
            keep_nothing: false,
            peer_keeps_nothing: false,
            notice: None,
        }
    }

    #[wasm_bindgen_test]
    fn files_wait_for_a_passed_or_overridden_check() {
        let failed = || Check::Failed("The signature is wrong.".into());
        assert!(!view(Check::Idle, false).cleared());
        assert!(!view(Check::Waiting, false).cleared());
        assert!(view(Check::Proven, false).cleared());
        assert!(!view(failed(), false).cleared());
        assert!(view(failed(), false).blocks_sending());
        assert!(view(failed(), true).cleared());
        assert!(!view(failed(), true).blocks_sending());
    }
}
