//! The `Room` Durable Object: one per room id, holding that room's hibernating WebSockets.
//!
//! The object keeps nothing in memory that matters: each socket's state is its attachment ([`Attachment`]) and the
//! pairing counter is in storage, so the runtime may evict the object between any two frames. The admission
//! decision itself is [`twain_protocol::room::admit`]; this file only gathers its inputs and carries out its verdict.
//!
//! Liveness: workerd can keep "ghost" sockets whose client is gone without a close (workerd issue 1187). Only
//! sockets that are joined, not already closed by us, and not closing count as peers; ghosts that still look open
//! stop counting once they have been silent for [`twain_protocol::room::STALE_AFTER_MS`], because the next
//! newcomer evicts them.

use serde::{Deserialize, Serialize};
use twain_protocol::room::{self, Admission, Eviction, Occupant, RateLimiter};
use twain_protocol::signal::{
    close, ClientFrame, ErrorCode, IceServer, PeerInfo, ServerFrame, MAX_SIGNAL_FRAME_BYTES,
};
use twain_protocol::{ProtocolError, PROTOCOL_VERSION};
use worker::{
    console_error, console_log, durable_object, js_sys, Date, DurableObject, Env, Request,
    Response, Result, State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

/// Storage key of the pairing counter.
const EPOCH_KEY: &str = "epoch";
/// Worker variable holding the ICE servers as a JSON array of `{urls: [...]}`.
const ICE_SERVERS_VAR: &str = "ICE_SERVERS";
/// Largest frame the worker sends; clients accept this much (see `ServerFrame::decode`).
const MAX_RELAYED_FRAME_BYTES: usize = MAX_SIGNAL_FRAME_BYTES + 1024;
/// `WebSocket.readyState` values at or above this one mean closing or closed.
const CLOSING: u16 = 2;

/// Everything the worker remembers about one socket; stored on the socket itself so it survives hibernation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attachment {
    /// Random id telling this socket apart from the room's other sockets.
    conn: u64,
    /// Who this socket is, once its `hello` was admitted; `None` while pending.
    peer: Option<PeerInfo>,
    /// When the worker last received any frame on this socket (or accepted it).
    last_seen_ms: u64,
    limiter: RateLimiter,
    /// The worker closed this socket and already told the other peer what it needed to know: ignore its later
    /// frames and its close event.
    evicted: bool,
}

impl Attachment {
    fn new(now_ms: u64) -> Self {
        Attachment {
            // 53 random bits: collisions among a room's handful of sockets are not a concern.
            conn: (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64,
            peer: None,
            last_seen_ms: now_ms,
            limiter: RateLimiter::new(now_ms),
            evicted: false,
        }
    }

    /// Reads a socket's attachment. Stored as a JSON string so no number goes through a JS-value conversion.
    fn load(ws: &WebSocket) -> Option<Self> {
        let text: String = ws.deserialize_attachment().ok().flatten()?;
        serde_json::from_str(&text).ok()
    }

    fn save(&self, ws: &WebSocket) {
        let text = serde_json::to_string(self).expect("attachments always serialize");
        if let Err(e) = ws.serialize_attachment(text) {
            console_error!("could not store a socket attachment: {e}");
        }
    }
}

/// A joined, live socket of the room.
struct Member {
    ws: WebSocket,
    att: Attachment,
    peer: PeerInfo,
}

#[durable_object]
pub struct Room {
    state: State,
    env: Env,
}

impl DurableObject for Room {
    fn new(state: State, env: Env) -> Self {
        Room { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if !crate::is_websocket_upgrade(&req) {
            return Response::error("this endpoint only speaks WebSocket", 426);
        }
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        Attachment::new(now_ms()).save(&pair.server);
        Response::from_websocket(pair.client)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Some(mut att) = Attachment::load(&ws) else {
            close_socket(&ws, close::PROTOCOL_ERROR, "unknown socket");
            return Ok(());
        };
        if att.evicted || !is_open(&ws) {
            return Ok(());
        }
        let now = now_ms();
        att.last_seen_ms = now;
        if !att.limiter.allow(now) {
            self.shut(&ws, att, close::RATE_LIMITED, "rate limited");
            return Ok(());
        }
        att.save(&ws);

        let text = match message {
            WebSocketIncomingMessage::String(text) => text,
            WebSocketIncomingMessage::Binary(_) => {
                send_error(
                    &ws,
                    ErrorCode::Binary,
                    "binary frames are not part of the signaling protocol",
                );
                return Ok(());
            }
        };
        let frame = match ClientFrame::decode(&text) {
            Ok(frame) => frame,
            Err(ProtocolError::Version { .. }) => {
                self.shut(
                    &ws,
                    att,
                    close::PROTOCOL_ERROR,
                    "unsupported protocol version",
                );
                return Ok(());
            }
            Err(e) => {
                send_error(&ws, error_code(&e), &e.to_string());
                return Ok(());
            }
        };
        match (frame, &att.peer) {
            (ClientFrame::Hello { .. }, Some(_)) => {
                send_error(
                    &ws,
                    ErrorCode::AlreadyJoined,
                    "this connection already joined the room",
                );
            }
            (ClientFrame::Hello { peer_id, name, .. }, None) => {
                self.join(&ws, att, PeerInfo { peer_id, name }, now).await?;
            }
            (_, None) => send_error(&ws, ErrorCode::NotJoined, "send hello first"),
            (ClientFrame::Signal { data }, Some(me)) => {
                let other = self
                    .members(att.conn)
                    .into_iter()
                    .find(|m| m.peer.peer_id != me.peer_id);
                match other {
                    Some(other) => {
                        // Re-encoding can lengthen numbers (`1e9` → `1000000000.0`); keep relayed frames within
                        // what clients accept from the worker.
                        let relayed = ServerFrame::Signal { data }.encode();
                        if relayed.len() > MAX_RELAYED_FRAME_BYTES {
                            send_error(
                                &ws,
                                ErrorCode::TooLarge,
                                "the signal grows over the relay limit when re-encoded",
                            );
                        } else {
                            let _ = other.ws.send_with_str(relayed);
                        }
                    }
                    None => send_error(
                        &ws,
                        ErrorCode::NoPeer,
                        "the other person is not in the room",
                    ),
                }
            }
            (ClientFrame::Ping, Some(_)) => send(&ws, &ServerFrame::Pong),
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        self.gone(&ws);
        // Finish the closing handshake: the runtime does not answer a client's close frame by itself. Echo the
        // client's code when it may be sent (1005 "no code" and 1006 "dropped" may not).
        let echo = u16::try_from(code)
            .ok()
            .filter(|c| *c == close::NORMAL || (3000..5000).contains(c));
        close_socket(&ws, echo.unwrap_or(close::NORMAL), "");
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.gone(&ws);
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        // No alarms are scheduled yet; answering keeps a stray one from hitting the unimplemented default.
        Response::empty()
    }
}

impl Room {
    /// Runs the admission rules for a `hello` and introduces the newcomer to the peer already present.
    async fn join(
        &self,
        ws: &WebSocket,
        mut att: Attachment,
        me: PeerInfo,
        now: u64,
    ) -> Result<()> {
        let storage = self.state.storage();
        // Read before looking at the sockets: while storage is busy the runtime delivers no other event.
        let epoch = storage.get::<u64>(EPOCH_KEY).await?.unwrap_or(0) + 1;

        let others = self.members(att.conn);
        let occupants: Vec<Occupant> = others
            .iter()
            .map(|m| Occupant {
                peer_id: m.peer.peer_id.clone(),
                last_seen_ms: m.att.last_seen_ms,
            })
            .collect();
        let evict = match room::admit(&occupants, &me.peer_id, now) {
            Admission::Full => {
                console_log!("room {}: refused a third peer", self.tag());
                self.shut(ws, att, close::ROOM_FULL, "room full");
                return Ok(());
            }
            Admission::Admit { evict } => evict,
        };
        let present = others
            .iter()
            .enumerate()
            .find(|(i, _)| !evict.iter().any(|(e, _)| e == i))
            .map(|(_, m)| m);
        for &(i, why) in &evict {
            let old = &others[i];
            let mut old_att = old.att.clone();
            old_att.evicted = true;
            old_att.save(&old.ws);
            match why {
                Eviction::Replaced => {
                    close_socket(&old.ws, close::REPLACED, "replaced by a newer connection")
                }
                Eviction::Stale => {
                    close_socket(&old.ws, close::STALE, "stale connection");
                    if let Some(p) = present.filter(|p| p.peer.peer_id != old.peer.peer_id) {
                        send(
                            &p.ws,
                            &ServerFrame::PeerLeft {
                                peer_id: old.peer.peer_id.clone(),
                            },
                        );
                    }
                }
            }
        }

        att.peer = Some(me.clone());
        att.save(ws);
        send(
            ws,
            &ServerFrame::Welcome {
                v: PROTOCOL_VERSION,
                peer: present.map(|p| p.peer.clone()),
                polite: present.is_some(),
                epoch,
                ice_servers: self.ice_servers(),
            },
        );
        if let Some(p) = present {
            send(
                &p.ws,
                &ServerFrame::PeerJoined {
                    peer: me,
                    polite: false,
                    epoch,
                },
            );
        }
        console_log!(
            "room {}: peer joined ({} present, epoch {epoch}, {} replaced, {} stale)",
            self.tag(),
            1 + usize::from(present.is_some()),
            evict
                .iter()
                .filter(|(_, why)| *why == Eviction::Replaced)
                .count(),
            evict
                .iter()
                .filter(|(_, why)| *why == Eviction::Stale)
                .count(),
        );
        // Outgoing frames are held by the runtime until this write is durable, so no peer sees an epoch that
        // could be handed out again after a restart.
        storage.put(EPOCH_KEY, epoch).await
    }

    /// Closes a socket on the worker's initiative and, if it had joined, tells the other peer it left.
    fn shut(&self, ws: &WebSocket, mut att: Attachment, code: u16, reason: &str) {
        att.evicted = true;
        att.save(ws);
        close_socket(ws, code, reason);
        if let Some(peer) = &att.peer {
            console_log!("room {}: closed a peer's socket with {code}", self.tag());
            self.announce_left(att.conn, &peer.peer_id);
        }
    }

    /// A socket closed or failed on the client's side.
    fn gone(&self, ws: &WebSocket) {
        let Some(mut att) = Attachment::load(ws) else {
            return;
        };
        if att.evicted {
            return;
        }
        att.evicted = true;
        att.save(ws);
        if let Some(peer) = &att.peer {
            console_log!("room {}: peer left", self.tag());
            self.announce_left(att.conn, &peer.peer_id);
        }
    }

    /// Sends `peer-left` to the other peer, unless the leaving identity still has a live socket here.
    fn announce_left(&self, conn: u64, peer_id: &str) {
        let others = self.members(conn);
        if others.iter().any(|m| m.peer.peer_id == peer_id) {
            return;
        }
        for m in others {
            send(
                &m.ws,
                &ServerFrame::PeerLeft {
                    peer_id: peer_id.to_string(),
                },
            );
        }
    }

    /// The joined, live sockets of the room, except the one with connection id `except`.
    fn members(&self, except: u64) -> Vec<Member> {
        self.state
            .get_websockets()
            .into_iter()
            .filter(is_open)
            .filter_map(|ws| {
                let att = Attachment::load(&ws)?;
                if att.conn == except || att.evicted {
                    return None;
                }
                let peer = att.peer.clone()?;
                Some(Member { ws, att, peer })
            })
            .collect()
    }

    /// The ICE servers handed to browsers in `welcome`; a broken setting gives none (host candidates only).
    fn ice_servers(&self) -> Vec<IceServer> {
        let Ok(raw) = self.env.var(ICE_SERVERS_VAR) else {
            // Not a string: either unset, or set as a JSON value in wrangler.toml.
            return self.env.object_var(ICE_SERVERS_VAR).unwrap_or_default();
        };
        serde_json::from_str(&raw.to_string()).unwrap_or_else(|e| {
            console_error!("{ICE_SERVERS_VAR} is not a JSON array of {{\"urls\": [...]}}: {e}; handing out none");
            Vec::new()
        })
    }

    /// A short tag for logs: the start of the Durable Object id, which does not reveal the room id.
    fn tag(&self) -> String {
        let mut id = self.state.id().to_string();
        id.truncate(8);
        id
    }
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

fn is_open(ws: &WebSocket) -> bool {
    AsRef::<worker::web_sys::WebSocket>::as_ref(ws).ready_state() < CLOSING
}

fn send(ws: &WebSocket, frame: &ServerFrame) {
    // The socket may have closed since it was checked; there is nobody left to tell.
    let _ = ws.send_with_str(frame.encode());
}

fn send_error(ws: &WebSocket, code: ErrorCode, message: &str) {
    send(
        ws,
        &ServerFrame::Error {
            code,
            message: message.to_string(),
        },
    );
}

fn close_socket(ws: &WebSocket, code: u16, reason: &str) {
    // WebSocket close reasons are limited to 123 bytes; ours are short fixed strings.
    debug_assert!(reason.len() <= 123);
    let _ = ws.close(Some(code), Some(reason));
}

fn error_code(e: &ProtocolError) -> ErrorCode {
    match e {
        ProtocolError::TooLarge { .. } => ErrorCode::TooLarge,
        ProtocolError::Malformed(_) => ErrorCode::Malformed,
        ProtocolError::Invalid(_) | ProtocolError::Version { .. } => ErrorCode::Invalid,
    }
}
