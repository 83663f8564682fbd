//! Twain's signaling worker: introduces two browsers and relays their WebRTC negotiation, nothing else.
//!
//! Contract: `GET /ws/<room>` with `Upgrade: websocket` reaches the Durable Object `Room` named after the room id
//! (binding `ROOMS`); every other path is 404 (wrangler serves the client's static files before this worker runs)
//! and a non-upgrade request to `/ws/` is 426. The Room speaks the JSON frames of [`twain_protocol::signal`] and
//! applies the rules of [`twain_protocol::room`]: at most two live peers, a peer's newer socket replaces its older
//! one, a silent (stale) socket is evicted instead of locking a returning peer out; the room's owner (proved by the
//! SHA-256 of a secret kept in the creator's browser) may kick or ban the other peer; join attempts per origin and
//! frames per socket are limited; an alarm closes sockets that never say `hello` and forgets an empty room after
//! the retention periods. Sockets use the Hibernation API, so all per-socket state lives in the socket's attachment
//! and the rest in Durable Object storage: nothing is lost when the object is evicted from memory between frames.
//! The worker never logs or stores what peers relay (SDP, ICE candidates), nor client addresses (only salted
//! hashes); it logs room-level events only, keyed by the Durable Object id, which does not reveal the room id.

mod room;

use twain_protocol::{ids, signal::close};
use worker::{event, Context, Env, Request, Response, ResponseBuilder, Result, WebSocketPair};

pub use room::Room;

/// Durable Object namespace binding in wrangler.toml.
const ROOMS_BINDING: &str = "ROOMS";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    let Some(room_id) = path.strip_prefix("/ws/") else {
        return Response::error("not found", 404);
    };
    if !is_websocket_upgrade(&req) {
        return Ok(ResponseBuilder::new()
            .with_status(426)
            .with_header("Upgrade", "websocket")?
            .fixed(b"this endpoint only speaks WebSocket".to_vec()));
    }
    if ids::validate_room_id(room_id).is_err() {
        return refuse(close::INVALID_ROOM, "invalid room");
    }
    let stub = env
        .durable_object(ROOMS_BINDING)?
        .id_from_name(room_id)?
        .get_stub()?;
    stub.fetch_with_request(req).await
}

/// Refuses a WebSocket upgrade with a close code. A browser cannot read the HTTP status of a refused upgrade, so
/// accept it (without hibernation: it is never part of a room) and close it at once with a code it can read.
pub(crate) fn refuse(code: u16, reason: &str) -> Result<Response> {
    let WebSocketPair { client, server } = WebSocketPair::new()?;
    server.accept()?;
    server.close(Some(code), Some(reason))?;
    Response::from_websocket(client)
}

/// Whether the request asks to become a WebSocket (`Upgrade: websocket`, case-insensitive).
pub(crate) fn is_websocket_upgrade(req: &Request) -> bool {
    matches!(req.method(), worker::Method::Get)
        && req
            .headers()
            .get("Upgrade")
            .ok()
            .flatten()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}
