//! The `Room` Durable Object: one per room id, holding that room's hibernating WebSockets, its owner and its bans.
//!
//! The object keeps nothing in memory that matters: each socket's state is its attachment ([`Attachment`]), the
//! rest is in Durable Object storage, so the runtime may evict the object between any two frames. The decisions
//! themselves are pure functions of [`twain_protocol::room`] (admission, bans, join limits, sweep, cleanup plan);
//! this file only gathers their inputs and carries out their verdicts.
//!
//! Storage (all small values):
//!
//! | key | value | kept |
//! |---|---|---|
//! | `epoch` | pairing counter (number) | until the room has been empty for `IDLE_CLEANUP_MS` |
//! | `joins` | per-origin join counters (JSON) | same |
//! | `salt` | random salt of the origin hashes | same, or as long as a ban needs it |
//! | `owner` | SHA-256 of the owner key | until the room has been empty for `ROOM_TTL_MS` and has no ban |
//! | `bans` | the bans (JSON), each with its own expiry | until each lapses (`BAN_TTL_MS`) or is lifted |
//! | `idle_since` | when the room last became empty (number) | as long as anything else is kept |
//!
//! One alarm drives the lifecycle: it closes sockets that never said `hello` (4007) or went silent (4006), prunes
//! lapsed bans and refilled join counters, and deletes what the retention rules say ([`room::plan`]).
//!
//! Liveness: workerd can keep "ghost" sockets whose client is gone without a close (workerd issue 1187). Only
//! sockets that are joined, not already closed by us, and not closing count as peers; ghosts stop counting once
//! they have been silent for [`room::STALE_AFTER_MS`]: the next newcomer or the alarm's sweep evicts them.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use twain_protocol::room::{
    self, Admission, Ban, Eviction, JoinLimiter, Occupant, RateLimiter, Retention, SocketFacts,
    Stored, SweepVerdict,
};
use twain_protocol::signal::{
    close, ClientFrame, ErrorCode, IceServer, PeerInfo, ServerFrame, HARD_MAX_FRAME_BYTES,
    MAX_SIGNAL_FRAME_BYTES,
};
use twain_protocol::{ids, ProtocolError, PROTOCOL_VERSION};
use worker::{
    console_error, console_log, durable_object, js_sys, Date, DurableObject, Env, Request,
    Response, Result, ScheduledTime, State, Storage, WebSocket, WebSocketIncomingMessage,
    WebSocketPair,
};

/// Storage keys (see the module docs).
const EPOCH_KEY: &str = "epoch";
const JOINS_KEY: &str = "joins";
const SALT_KEY: &str = "salt";
const OWNER_KEY: &str = "owner";
const BANS_KEY: &str = "bans";
const IDLE_SINCE_KEY: &str = "idle_since";
/// Worker variable holding the ICE servers as a JSON array of `{urls: [...]}`.
const ICE_SERVERS_VAR: &str = "ICE_SERVERS";
/// Header carrying the client's address on Cloudflare (set by the edge, not by the client). `wrangler dev` sets it
/// to the loopback address, unless the client sent one itself (tests use that to play several origins).
const CLIENT_ADDRESS_HEADER: &str = "CF-Connecting-IP";
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
    /// When the socket was accepted (the hello timeout counts from here).
    #[serde(default)]
    accepted_ms: u64,
    /// The client's connection origin, hashed with the room's salt ([`room::origin_hash`]).
    #[serde(default)]
    origin: String,
    /// The socket proved it is the room owner.
    #[serde(default)]
    owner: bool,
}

impl Attachment {
    fn new(now_ms: u64, origin: String) -> Self {
        Attachment {
            // 53 random bits: collisions among a room's handful of sockets are not a concern.
            conn: (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64,
            peer: None,
            last_seen_ms: now_ms,
            limiter: RateLimiter::new(now_ms),
            evicted: false,
            accepted_ms: now_ms,
            origin,
            owner: false,
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

/// What the owner does to the other peer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Removal {
    Kick,
    /// `name`: the owner's name for a peer this worker may not see (see [`ClientFrame::Ban`]).
    Ban {
        name: Option<String>,
    },
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
        let now = now_ms();
        let retention = self.retention();
        let address = req
            .headers()
            .get(CLIENT_ADDRESS_HEADER)
            .ok()
            .flatten()
            .unwrap_or_default();
        let origin = room::origin_hash(&self.salt().await?, &address);

        // Every upgrade counts, so connecting and disconnecting in a loop is limited too.
        let storage = self.state.storage();
        let mut joins: JoinLimiter = load_json(&storage, JOINS_KEY).await?.unwrap_or_default();
        let allowed = joins.allow(&origin, now, retention.join_limit_per_minute);
        save_json(&storage, JOINS_KEY, &joins).await?;
        if !allowed {
            console_log!(
                "room {}: refused a join attempt (too many from one origin)",
                self.tag()
            );
            return crate::refuse(close::TOO_MANY_JOINS, "too many join attempts");
        }

        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        Attachment::new(now, origin).save(&pair.server);
        self.alarm_by(now + retention.hello_timeout_ms).await?;
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
        let size = match &message {
            WebSocketIncomingMessage::String(text) => text.len(),
            WebSocketIncomingMessage::Binary(bytes) => bytes.len(),
        };
        if size > HARD_MAX_FRAME_BYTES {
            self.shut(&ws, att, close::MESSAGE_TOO_BIG, "frame too large");
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
        let Some(me) = att.peer.clone() else {
            match frame {
                ClientFrame::Hello {
                    peer_id,
                    name,
                    owner_key,
                    ..
                } => {
                    self.join(&ws, att, PeerInfo { peer_id, name }, owner_key, now)
                        .await?
                }
                _ => send_error(&ws, ErrorCode::NotJoined, "send hello first"),
            }
            return Ok(());
        };
        if frame.is_owner_only() && !att.owner {
            console_log!(
                "room {}: refused a moderation frame from a non-owner",
                self.tag()
            );
            send_error(
                &ws,
                ErrorCode::Forbidden,
                "only the owner of this room can do that",
            );
            return Ok(());
        }
        match frame {
            ClientFrame::Hello { .. } => send_error(
                &ws,
                ErrorCode::AlreadyJoined,
                "this connection already joined the room",
            ),
            ClientFrame::Signal { data } => self.relay(&ws, &att, &me, data),
            ClientFrame::Ping => send(&ws, &ServerFrame::Pong),
            ClientFrame::Kick { peer_id } => {
                self.remove(&ws, &att, &me, &peer_id, Removal::Kick, now)
                    .await?
            }
            ClientFrame::Ban { peer_id, name } => {
                self.remove(&ws, &att, &me, &peer_id, Removal::Ban { name }, now)
                    .await?
            }
            ClientFrame::Unban { ban_id } => self.unban(&ws, &ban_id, now).await?,
            ClientFrame::ListBans => {
                let bans = self.bans(now).await?;
                send_bans(&ws, &bans);
            }
            ClientFrame::Rename { name } => {
                // Later introductions (a peer that comes back, a ban) carry the name the person uses now.
                att.peer = Some(PeerInfo { name, ..me });
                att.save(&ws);
            }
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
        self.note_if_empty().await
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.gone(&ws);
        self.note_if_empty().await
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        let retention = self.retention();
        let storage = self.state.storage();

        // Sockets: close those that never said hello and joined ones that went silent.
        let sockets: Vec<(WebSocket, Attachment)> = self
            .state
            .get_websockets()
            .into_iter()
            .filter(is_open)
            .filter_map(|ws| Attachment::load(&ws).map(|att| (ws, att)))
            .filter(|(_, att)| !att.evicted)
            .collect();
        let facts: Vec<SocketFacts> = sockets
            .iter()
            .map(|(_, att)| SocketFacts {
                joined: att.peer.is_some(),
                accepted_ms: att.accepted_ms,
                last_seen_ms: att.last_seen_ms,
            })
            .collect();
        let (to_close, socket_deadline) = room::sweep(&facts, now, retention.hello_timeout_ms);
        for &(i, verdict) in &to_close {
            let (ws, att) = &sockets[i];
            match verdict {
                SweepVerdict::NoHello => {
                    // Say why first: workerd (wrangler dev) does not deliver a close to a socket that never sent
                    // a frame, though the socket is dropped all the same (its later frames are ignored).
                    send_error(
                        ws,
                        ErrorCode::NotJoined,
                        "no hello in time; this connection is closed",
                    );
                    self.shut(ws, att.clone(), close::NO_HELLO, "no hello in time")
                }
                SweepVerdict::Stale => self.shut(ws, att.clone(), close::STALE, "stale connection"),
            }
        }
        let occupied = sockets.len() > to_close.len();

        // Storage: prune, then apply the retention plan.
        let mut bans: Vec<Ban> = load_json(&storage, BANS_KEY).await?.unwrap_or_default();
        if room::prune_bans(&mut bans, now) {
            save_bans(&storage, &bans).await?;
        }
        let mut joins: Option<JoinLimiter> = load_json(&storage, JOINS_KEY).await?;
        if let Some(j) = joins.as_mut() {
            j.prune(now, retention.join_limit_per_minute);
            if j.is_empty() {
                storage.delete(JOINS_KEY).await?;
                joins = None;
            } else {
                save_json(&storage, JOINS_KEY, j).await?;
            }
        }
        let idle_since = if occupied {
            storage.delete(IDLE_SINCE_KEY).await?;
            now
        } else {
            match storage.get::<u64>(IDLE_SINCE_KEY).await? {
                Some(t) => t,
                None => {
                    storage.put(IDLE_SINCE_KEY, now).await?;
                    now
                }
            }
        };
        let stored = Stored {
            transient: joins.is_some()
                || storage.get::<u64>(EPOCH_KEY).await?.is_some()
                || storage.get::<String>(SALT_KEY).await?.is_some(),
            owner: storage.get::<String>(OWNER_KEY).await?.is_some(),
        };
        let plan = room::plan(
            now,
            &retention,
            occupied,
            socket_deadline,
            idle_since,
            &bans,
            stored,
        );
        if plan.delete_all {
            storage.delete_all().await?;
            console_log!(
                "room {}: empty for long enough, forgot everything",
                self.tag()
            );
        } else if plan.delete_transient {
            let mut keys = vec![EPOCH_KEY, JOINS_KEY];
            if bans.is_empty() {
                keys.push(SALT_KEY);
            }
            storage.delete_multiple(keys).await?;
            console_log!(
                "room {}: empty for long enough, forgot its pairing data",
                self.tag()
            );
        }
        if let Some(at) = plan.next_alarm {
            storage.set_alarm(at_time(at)).await?;
        }
        Response::empty()
    }
}

impl Room {
    /// Runs the ban check and the admission rules for a `hello`, and introduces the newcomer to the peer already
    /// present.
    async fn join(
        &self,
        ws: &WebSocket,
        mut att: Attachment,
        me: PeerInfo,
        owner_key: Option<String>,
        now: u64,
    ) -> Result<()> {
        let storage = self.state.storage();
        // Read before looking at the sockets: while storage is busy the runtime delivers no other event.
        let epoch = storage.get::<u64>(EPOCH_KEY).await?.unwrap_or(0) + 1;
        let owner_hash: Option<String> = storage.get(OWNER_KEY).await?;
        // The first key claims a room that has no owner yet; later keys must match it.
        let (owner, claim) = match (&owner_key, &owner_hash) {
            (Some(key), Some(hash)) => (room::owner_key_matches(key, hash), None),
            (Some(key), None) => (true, Some(room::owner_key_hash(key))),
            (None, _) => (false, None),
        };
        if !owner {
            let mut bans = self.bans(now).await?;
            if room::find_ban(&bans, &me.peer_id, &att.origin, now).is_some() {
                // A ban made while the worker did not see this person learns their network now.
                if room::learn_ban_origin(&mut bans, &me.peer_id, &att.origin, now) {
                    save_bans(&storage, &bans).await?;
                }
                console_log!("room {}: refused a banned peer", self.tag());
                self.shut(ws, att, close::BANNED, "banned from this room");
                return Ok(());
            }
        }

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
        att.owner = owner;
        att.save(ws);
        send(
            ws,
            &ServerFrame::Welcome {
                v: PROTOCOL_VERSION,
                peer: present.map(|p| p.peer.clone()),
                polite: present.is_some(),
                epoch,
                ice_servers: self.ice_servers(),
                owner,
            },
        );
        if owner {
            send_bans(ws, &self.bans(now).await?);
        }
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
            "room {}: peer joined ({} present, epoch {epoch}, owner {owner}, {} replaced, {} stale)",
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
        // Outgoing frames are held by the runtime until these writes are durable, so no peer sees an epoch that
        // could be handed out again after a restart, and nobody is told it owns a room before that is stored.
        storage.put(EPOCH_KEY, epoch).await?;
        if let Some(hash) = claim {
            console_log!("room {}: claimed by its owner", self.tag());
            storage.put(OWNER_KEY, hash).await?;
        }
        // The sweep watches joined sockets for silence.
        self.alarm_by(now + room::STALE_AFTER_MS + 1).await
    }

    /// Relays a `signal` to the other peer.
    fn relay(&self, ws: &WebSocket, att: &Attachment, me: &PeerInfo, data: serde_json::Value) {
        let other = self
            .members(att.conn)
            .into_iter()
            .find(|m| m.peer.peer_id != me.peer_id);
        let Some(other) = other else {
            send_error(ws, ErrorCode::NoPeer, "the other person is not in the room");
            return;
        };
        // Re-encoding can lengthen numbers (`1e9` → `1000000000.0`); keep relayed frames within what clients
        // accept from the worker.
        let relayed = ServerFrame::Signal { data }.encode();
        if relayed.len() > MAX_RELAYED_FRAME_BYTES {
            send_error(
                ws,
                ErrorCode::TooLarge,
                "the signal grows over the relay limit when re-encoded",
            );
        } else {
            let _ = other.ws.send_with_str(relayed);
        }
    }

    /// The owner kicks or bans the other peer `target`: every socket of that identity is closed, the owner gets
    /// `peer-left` (and, for a ban, the new list of bans). A ban of a peer with no socket here, which the owner
    /// names, holds their identity (and their network once they come back).
    async fn remove(
        &self,
        ws: &WebSocket,
        att: &Attachment,
        me: &PeerInfo,
        target: &str,
        how: Removal,
        now: u64,
    ) -> Result<()> {
        if target == me.peer_id {
            send_error(
                ws,
                ErrorCode::Forbidden,
                "you cannot remove yourself from the room",
            );
            return Ok(());
        }
        let targets: Vec<Member> = self
            .members(att.conn)
            .into_iter()
            .filter(|m| m.peer.peer_id == target)
            .collect();
        let first = targets.first();
        let (code, reason) = match &how {
            Removal::Kick => (close::KICKED, "removed by the room owner"),
            Removal::Ban { .. } => (close::BANNED, "banned by the room owner"),
        };
        // Who is banned, as far as this worker knows: their socket's origin and name, or the owner's name for them.
        let banned = match (&how, first) {
            (Removal::Ban { .. }, Some(m)) => Some((m.att.origin.clone(), m.peer.name.clone())),
            (Removal::Ban { name: Some(name) }, None) => Some((String::new(), name.clone())),
            _ => None,
        };
        if first.is_none() && banned.is_none() {
            send_error(ws, ErrorCode::NoPeer, "that person is not in the room");
            return Ok(());
        }
        let mut bans = Vec::new();
        let mut expires = None;
        if let Some((origin, name)) = banned {
            bans = self.bans(now).await?;
            let ban = Ban {
                ban_id: ids::new_id(random_bytes()),
                peer_id: target.to_string(),
                origin,
                name,
                banned_ms: now,
                expires_ms: now.saturating_add(self.retention().ban_ttl_ms),
            };
            expires = Some(ban.expires_ms);
            room::add_ban(&mut bans, ban);
            save_bans(&self.state.storage(), &bans).await?;
        }
        for t in &targets {
            let mut t_att = t.att.clone();
            t_att.evicted = true;
            t_att.save(&t.ws);
            close_socket(&t.ws, code, reason);
        }
        if let Some(first) = first {
            self.announce_left(first.att.conn, target);
        }
        if expires.is_some() {
            send_bans(ws, &bans);
        }
        match first {
            Some(_) => console_log!(
                "room {}: the owner closed a peer's socket with {code}",
                self.tag()
            ),
            None => console_log!(
                "room {}: the owner banned a peer that has no socket here",
                self.tag()
            ),
        }
        if let Some(at) = expires {
            self.alarm_by(at).await?;
        }
        Ok(())
    }

    async fn unban(&self, ws: &WebSocket, ban_id: &str, now: u64) -> Result<()> {
        let mut bans = self.bans(now).await?;
        if !room::remove_ban(&mut bans, ban_id) {
            send_error(ws, ErrorCode::UnknownBan, "there is no such ban (any more)");
            return Ok(());
        }
        save_bans(&self.state.storage(), &bans).await?;
        console_log!("room {}: the owner lifted a ban", self.tag());
        send_bans(ws, &bans);
        Ok(())
    }

    /// The bans in force at `now`.
    async fn bans(&self, now: u64) -> Result<Vec<Ban>> {
        let mut bans: Vec<Ban> = load_json(&self.state.storage(), BANS_KEY)
            .await?
            .unwrap_or_default();
        room::prune_bans(&mut bans, now);
        Ok(bans)
    }

    /// The room's salt for origin hashes, made on first use.
    async fn salt(&self) -> Result<String> {
        let storage = self.state.storage();
        if let Some(salt) = storage.get::<String>(SALT_KEY).await? {
            return Ok(salt);
        }
        let salt = ids::new_id(random_bytes());
        storage.put(SALT_KEY, &salt).await?;
        Ok(salt)
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

    /// When the last socket is gone, remembers since when the room is empty and makes sure the alarm will clean
    /// up after it.
    async fn note_if_empty(&self) -> Result<()> {
        let occupied = self
            .state
            .get_websockets()
            .into_iter()
            .filter(is_open)
            .any(|ws| Attachment::load(&ws).is_some_and(|a| !a.evicted));
        if occupied {
            return Ok(());
        }
        let now = now_ms();
        self.state.storage().put(IDLE_SINCE_KEY, now).await?;
        self.alarm_by(now + self.retention().idle_cleanup_ms).await
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

    /// Makes sure the alarm runs no later than `at` (an earlier alarm stays: it plans the next one itself).
    async fn alarm_by(&self, at: u64) -> Result<()> {
        let storage = self.state.storage();
        match storage.get_alarm().await? {
            Some(current) if current >= 0 && (current as u64) <= at => Ok(()),
            _ => storage.set_alarm(at_time(at)).await,
        }
    }

    /// Retention periods and limits: the defaults of [`Retention`], each overridable by a worker variable.
    fn retention(&self) -> Retention {
        let d = Retention::default();
        Retention {
            hello_timeout_ms: self.number_var("HELLO_TIMEOUT_MS", d.hello_timeout_ms),
            idle_cleanup_ms: self.number_var("IDLE_CLEANUP_MS", d.idle_cleanup_ms),
            ban_ttl_ms: self.number_var("BAN_TTL_MS", d.ban_ttl_ms),
            room_ttl_ms: self.number_var("ROOM_TTL_MS", d.room_ttl_ms),
            join_limit_per_minute: self
                .number_var("JOIN_LIMIT_PER_MINUTE", d.join_limit_per_minute.into())
                .clamp(1, u32::MAX.into()) as u32,
        }
    }

    /// A positive whole number from a worker variable (string or JSON number); `default` if unset or invalid.
    fn number_var(&self, name: &str, default: u64) -> u64 {
        let parsed = match self.env.var(name) {
            Ok(v) => v.to_string().trim().parse::<u64>().ok(),
            Err(_) => self
                .env
                .object_var::<f64>(name)
                .ok()
                .filter(|n| n.is_finite() && *n >= 1.0)
                .map(|n| n as u64),
        };
        match parsed {
            Some(n) if n >= 1 => n,
            Some(_) | None => {
                if self.env.var(name).is_ok() {
                    console_error!("{name} is not a positive whole number; using {default}");
                }
                default
            }
        }
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

/// Reads a value stored as a JSON string (so no number goes through a JS-value conversion).
async fn load_json<T: DeserializeOwned>(storage: &Storage, key: &str) -> Result<Option<T>> {
    let Some(text) = storage.get::<String>(key).await? else {
        return Ok(None);
    };
    match serde_json::from_str(&text) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            // A value this version cannot read is dropped rather than wedging the room.
            console_error!("stored {key} could not be read ({e}); starting over");
            Ok(None)
        }
    }
}

async fn save_json<T: Serialize>(storage: &Storage, key: &str, value: &T) -> Result<()> {
    let text = serde_json::to_string(value).expect("stored values always serialize");
    storage.put(key, text).await
}

async fn save_bans(storage: &Storage, bans: &[Ban]) -> Result<()> {
    if bans.is_empty() {
        storage.delete(BANS_KEY).await.map(|_| ())
    } else {
        save_json(storage, BANS_KEY, &bans).await
    }
}

fn send_bans(ws: &WebSocket, bans: &[Ban]) {
    send(
        ws,
        &ServerFrame::Bans {
            list: room::ban_list(bans),
        },
    );
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // crypto.getRandomValues is always there in workerd; failing here would mean a broken runtime.
    getrandom::fill(&mut bytes).expect("the runtime has crypto.getRandomValues");
    bytes
}

fn at_time(ms: u64) -> ScheduledTime {
    ScheduledTime::new(js_sys::Date::new(&(ms as f64).into()))
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
