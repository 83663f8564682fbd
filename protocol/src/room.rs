//! Room rules as pure functions over plain data, so the worker's Durable Object is a thin adapter.
//!
//! Admission:
//! - at most [`MAX_PEERS`] live peers;
//! - a newcomer with the identity of a peer already in the room replaces it (the older socket is closed with
//!   [`crate::signal::close::REPLACED`]): two tabs of one browser never chat with themselves, and the newer wins;
//! - a socket silent for longer than [`STALE_AFTER_MS`] (clients ping every
//!   [`crate::signal::PING_INTERVAL_MS`]) is a ghost: it is evicted rather than locking a returning peer out.
//!
//! Moderation ([`owner_key_hash`], [`Ban`], [`find_ban`]): the room stores the SHA-256 of its owner's key; bans match
//! an identity id or a connection origin ([`origin_hash`]: the client address, or its IPv6 /64, hashed with a
//! per-room salt so the room never stores an address). The owner is never refused by a ban.
//!
//! Abuse limits: [`RateLimiter`] (frames per socket) and [`JoinLimiter`] (join attempts per origin).
//!
//! Lifecycle ([`sweep`], [`plan`]): sockets that never say `hello` are closed after the hello timeout, silent joined
//! sockets after [`STALE_AFTER_MS`]; an empty room forgets its transient data after [`Retention::idle_cleanup_ms`]
//! and everything once its bans have lapsed and it has been empty for [`Retention::room_ttl_ms`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::base64url;
use crate::signal::BanInfo;

/// Most peers in one room.
pub const MAX_PEERS: usize = 2;
/// A socket with no frame for this long is considered dead.
pub const STALE_AFTER_MS: u64 = 35_000;

/// A socket that has joined the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupant {
    pub peer_id: String,
    /// When the worker last received any frame on this socket.
    pub last_seen_ms: u64,
}

/// Why an occupant's socket must be closed to admit a newcomer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// Same identity as the newcomer.
    Replaced,
    /// Silent for longer than [`STALE_AFTER_MS`].
    Stale,
}

/// The decision for a newcomer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Admit, after closing these occupants (by index into the slice given to [`admit`]).
    Admit { evict: Vec<(usize, Eviction)> },
    /// Two live peers are already in the room.
    Full,
}

/// Decides whether `newcomer` may join a room holding `occupants`, at time `now_ms`.
pub fn admit(occupants: &[Occupant], newcomer: &str, now_ms: u64) -> Admission {
    let mut evict = Vec::new();
    let mut live = 0;
    for (i, o) in occupants.iter().enumerate() {
        if o.peer_id == newcomer {
            evict.push((i, Eviction::Replaced));
        } else if now_ms.saturating_sub(o.last_seen_ms) > STALE_AFTER_MS {
            evict.push((i, Eviction::Stale));
        } else {
            live += 1;
        }
    }
    if live >= MAX_PEERS {
        Admission::Full
    } else {
        Admission::Admit { evict }
    }
}

/// A token bucket limiting frames per socket: bursts up to `capacity`, sustained `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RateLimiter {
    tokens: f64,
    last_ms: u64,
}

/// Burst allowance of the signaling rate limit (an ICE gathering burst is a few dozen frames).
pub const RATE_BURST: f64 = 120.0;
/// Sustained frames per second allowed per socket.
pub const RATE_PER_SECOND: f64 = 20.0;

impl RateLimiter {
    pub fn new(now_ms: u64) -> Self {
        RateLimiter {
            tokens: RATE_BURST,
            last_ms: now_ms,
        }
    }

    /// Takes one token; `false` means the socket is flooding.
    pub fn allow(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed * RATE_PER_SECOND).min(RATE_BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// SHA-256 of an owner key, as the room stores it (unpadded base64url). The key itself is never stored.
pub fn owner_key_hash(key: &str) -> String {
    base64url(&Sha256::digest(key.as_bytes()))
}

/// Whether `key` is the owner key whose hash the room stored. Compares in constant time.
pub fn owner_key_matches(key: &str, stored_hash: &str) -> bool {
    let got = owner_key_hash(key);
    got.len() == stored_hash.len()
        && got
            .bytes()
            .zip(stored_hash.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The part of a client address that names its connection origin: an IPv4 address as is, an IPv6 address cut to
/// its /64 prefix (one subscriber usually holds a whole /64 and can pick any address in it), anything unparseable
/// as the trimmed text. An IPv4-mapped IPv6 address counts as its IPv4 address.
pub fn origin_of(address: &str) -> String {
    use std::net::IpAddr;
    match address.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => address.trim().chars().take(64).collect(),
    }
}

/// The origin of a client address ([`origin_of`]) hashed with the room's salt: equal for the same origin in the same
/// room, unrelated across rooms, and not the address itself. 128 bits, unpadded base64url.
pub fn origin_hash(salt: &str, address: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(origin_of(address).as_bytes());
    base64url(&h.finalize()[..16])
}

/// Most bans a room keeps; a new ban beyond this replaces the oldest.
pub const MAX_BANS: usize = 64;

/// A ban, as the room stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// Random id naming the ban in `unban`.
    pub ban_id: String,
    /// The banned identity id.
    pub peer_id: String,
    /// The banned connection origin ([`origin_hash`]). Empty while it is not known: a ban of a peer the worker did
    /// not see (after a restart) holds their identity until they come back, and their origin from then on
    /// ([`learn_ban_origin`]).
    pub origin: String,
    /// The banned peer's display name at the time (shown to the owner).
    pub name: String,
    pub banned_ms: u64,
    pub expires_ms: u64,
}

impl Ban {
    /// Whether this ban refuses a socket of identity `peer_id` from origin `origin` at `now_ms`.
    pub fn refuses(&self, peer_id: &str, origin: &str, now_ms: u64) -> bool {
        now_ms < self.expires_ms
            && (self.peer_id == peer_id || (!self.origin.is_empty() && self.origin == origin))
    }

    /// What the owner sees.
    pub fn info(&self) -> BanInfo {
        BanInfo {
            ban_id: self.ban_id.clone(),
            name: self.name.clone(),
            banned_ms: self.banned_ms,
            expires_ms: self.expires_ms,
        }
    }
}

/// The ban refusing identity `peer_id` from `origin`, if any. The owner is never checked against bans.
pub fn find_ban<'a>(bans: &'a [Ban], peer_id: &str, origin: &str, now_ms: u64) -> Option<&'a Ban> {
    bans.iter().find(|b| b.refuses(peer_id, origin, now_ms))
}

/// A banned identity is back from `origin`: a ban of it that did not know its origin yet refuses that origin too
/// from now on. True if a ban changed (to be stored).
pub fn learn_ban_origin(bans: &mut [Ban], peer_id: &str, origin: &str, now_ms: u64) -> bool {
    let mut changed = false;
    for ban in bans.iter_mut() {
        if ban.origin.is_empty()
            && !origin.is_empty()
            && ban.peer_id == peer_id
            && now_ms < ban.expires_ms
        {
            ban.origin = origin.to_string();
            changed = true;
        }
    }
    changed
}

/// Drops lapsed bans; true if any was dropped.
pub fn prune_bans(bans: &mut Vec<Ban>, now_ms: u64) -> bool {
    let before = bans.len();
    bans.retain(|b| now_ms < b.expires_ms);
    bans.len() != before
}

/// Adds a ban, newest first: replaces an earlier ban of the same identity and drops the oldest beyond [`MAX_BANS`].
pub fn add_ban(bans: &mut Vec<Ban>, ban: Ban) {
    bans.retain(|b| b.peer_id != ban.peer_id);
    bans.insert(0, ban);
    bans.truncate(MAX_BANS);
}

/// Lifts ban `ban_id`; false if there is no such ban.
pub fn remove_ban(bans: &mut Vec<Ban>, ban_id: &str) -> bool {
    let before = bans.len();
    bans.retain(|b| b.ban_id != ban_id);
    bans.len() != before
}

/// The list the owner sees, newest first.
pub fn ban_list(bans: &[Ban]) -> Vec<BanInfo> {
    bans.iter().map(Ban::info).collect()
}

/// Join attempts per origin: a token bucket per origin hash, `per_minute` attempts of burst, refilled at
/// `per_minute` per minute. Every WebSocket upgrade to the room counts, whether or not it says `hello`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JoinLimiter {
    buckets: BTreeMap<String, JoinBucket>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct JoinBucket {
    tokens: f64,
    last_ms: u64,
}

/// Most origins a room's join limiter tracks; beyond it the origin seen longest ago is forgotten.
pub const MAX_TRACKED_ORIGINS: usize = 512;

impl JoinLimiter {
    /// Takes one join attempt for `origin`; `false` means the origin is over its limit (close 4009).
    pub fn allow(&mut self, origin: &str, now_ms: u64, per_minute: u32) -> bool {
        let cap = f64::from(per_minute.max(1));
        let bucket = self
            .buckets
            .entry(origin.to_string())
            .or_insert(JoinBucket {
                tokens: cap,
                last_ms: now_ms,
            });
        let elapsed = now_ms.saturating_sub(bucket.last_ms) as f64;
        bucket.last_ms = bucket.last_ms.max(now_ms);
        bucket.tokens = (bucket.tokens + elapsed * cap / 60_000.0).min(cap);
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        if self.buckets.len() > MAX_TRACKED_ORIGINS {
            if let Some(oldest) = self
                .buckets
                .iter()
                .filter(|(k, _)| k.as_str() != origin)
                .min_by_key(|(_, b)| b.last_ms)
                .map(|(k, _)| k.clone())
            {
                self.buckets.remove(&oldest);
            }
        }
        allowed
    }

    /// Forgets origins whose bucket has refilled (they carry no information any more).
    pub fn prune(&mut self, now_ms: u64, per_minute: u32) {
        let cap = f64::from(per_minute.max(1));
        self.buckets.retain(|_, b| {
            let elapsed = now_ms.saturating_sub(b.last_ms) as f64;
            b.tokens + elapsed * cap / 60_000.0 < cap
        });
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// When every tracked origin will have refilled (so [`Self::prune`] empties the limiter).
    pub fn refilled_at(&self, per_minute: u32) -> Option<u64> {
        let cap = f64::from(per_minute.max(1));
        self.buckets
            .values()
            .map(|b| b.last_ms + ((cap - b.tokens).max(0.0) * 60_000.0 / cap).ceil() as u64)
            .max()
    }
}

/// How long a room keeps what, and its abuse limits. The worker reads each from a variable of the same name in
/// upper case (see docs/PROTOCOL.md); these are the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// A socket must say `hello` within this long, or it is closed with
    /// [`NO_HELLO`](crate::signal::close::NO_HELLO).
    pub hello_timeout_ms: u64,
    /// An empty room forgets its transient data (pairing counter, join counters) after this long.
    pub idle_cleanup_ms: u64,
    /// A ban lapses this long after it was made.
    pub ban_ttl_ms: u64,
    /// An empty room without bans forgets everything, its owner included, after this long.
    pub room_ttl_ms: u64,
    /// Join attempts per origin per minute ([`JoinLimiter`]).
    pub join_limit_per_minute: u32,
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            hello_timeout_ms: 10_000,
            idle_cleanup_ms: DAY_MS,
            ban_ttl_ms: 30 * DAY_MS,
            room_ttl_ms: 90 * DAY_MS,
            join_limit_per_minute: 30,
        }
    }
}

/// What the sweep needs to know about one socket of the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketFacts {
    /// The socket said an admitted `hello`.
    pub joined: bool,
    pub accepted_ms: u64,
    /// When the worker last received a frame on it.
    pub last_seen_ms: u64,
}

/// Why the sweep closes a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepVerdict {
    /// Pending for longer than the hello timeout (close 4007).
    NoHello,
    /// Joined but silent for longer than [`STALE_AFTER_MS`] (close 4006).
    Stale,
}

/// The sockets to close now (by index) and when the sweep has to look again (`None`: no socket left to watch).
pub fn sweep(
    sockets: &[SocketFacts],
    now_ms: u64,
    hello_timeout_ms: u64,
) -> (Vec<(usize, SweepVerdict)>, Option<u64>) {
    let mut close = Vec::new();
    let mut next: Option<u64> = None;
    for (i, s) in sockets.iter().enumerate() {
        let deadline = if s.joined {
            s.last_seen_ms.saturating_add(STALE_AFTER_MS + 1)
        } else {
            s.accepted_ms.saturating_add(hello_timeout_ms)
        };
        if now_ms >= deadline {
            let verdict = if s.joined {
                SweepVerdict::Stale
            } else {
                SweepVerdict::NoHello
            };
            close.push((i, verdict));
        } else {
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
        }
    }
    (close, next)
}

/// What the room holds in storage, for [`plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The pairing counter, the join counters or the origin salt are stored.
    pub transient: bool,
    /// The owner key hash is stored.
    pub owner: bool,
}

/// What the room's alarm does now and when it runs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Delete the pairing counter, the join counters and, unless a ban still needs it, the origin salt.
    pub delete_transient: bool,
    /// Delete everything: nothing is left to protect.
    pub delete_all: bool,
    /// When to run again (`None`: nothing left to do).
    pub next_alarm: Option<u64>,
}

/// Decides the room's cleanup at `now_ms`. `occupied`: some socket is open; `socket_deadline`: when [`sweep`] wants
/// to look again; `idle_since`: when the room last became empty; `bans`: the bans still in force.
///
/// An empty room forgets its transient data [`Retention::idle_cleanup_ms`] after it became empty, its owner
/// [`Retention::room_ttl_ms`] after, but never while a ban is in force (the owner must be able to lift it).
pub fn plan(
    now_ms: u64,
    retention: &Retention,
    occupied: bool,
    socket_deadline: Option<u64>,
    idle_since: u64,
    bans: &[Ban],
    stored: Stored,
) -> Plan {
    let ban_expiry = bans.iter().map(|b| b.expires_ms).min();
    let earliest = |xs: [Option<u64>; 3]| xs.into_iter().flatten().min();
    if occupied {
        return Plan {
            delete_transient: false,
            delete_all: false,
            next_alarm: earliest([socket_deadline, ban_expiry, None]),
        };
    }
    let transient_end = idle_since.saturating_add(retention.idle_cleanup_ms);
    let room_end = idle_since.saturating_add(retention.room_ttl_ms);
    let delete_transient = stored.transient && now_ms >= transient_end;
    let transient_left = stored.transient && !delete_transient;
    let owner_left = stored.owner && now_ms < room_end;
    if bans.is_empty() && !transient_left && !owner_left {
        return Plan {
            delete_transient: true,
            delete_all: true,
            next_alarm: None,
        };
    }
    Plan {
        delete_transient,
        delete_all: false,
        next_alarm: earliest([
            transient_left.then_some(transient_end),
            ban_expiry,
            owner_left.then_some(room_end),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occ(id: &str, seen: u64) -> Occupant {
        Occupant {
            peer_id: id.into(),
            last_seen_ms: seen,
        }
    }

    fn check(occupants: &[Occupant], newcomer: &str, now: u64, want: Admission) {
        assert_eq!(admit(occupants, newcomer, now), want);
    }

    #[test]
    fn admission_rules() {
        let now = 1_000_000;
        check(&[], "a", now, Admission::Admit { evict: vec![] });
        check(
            &[occ("a", now)],
            "b",
            now,
            Admission::Admit { evict: vec![] },
        );
        check(&[occ("a", now), occ("b", now)], "c", now, Admission::Full);
        // Same identity replaces its older socket, even in a full room.
        check(
            &[occ("a", now), occ("b", now)],
            "b",
            now,
            Admission::Admit {
                evict: vec![(1, Eviction::Replaced)],
            },
        );
        // A ghost does not lock a third identity out.
        check(
            &[occ("a", now), occ("b", now - STALE_AFTER_MS - 1)],
            "c",
            now,
            Admission::Admit {
                evict: vec![(1, Eviction::Stale)],
            },
        );
        // Exactly at the limit is still alive.
        check(
            &[occ("a", now), occ("b", now - STALE_AFTER_MS)],
            "c",
            now,
            Admission::Full,
        );
        // Clock going backwards never panics or evicts.
        check(
            &[occ("a", now + 5)],
            "b",
            now,
            Admission::Admit { evict: vec![] },
        );
    }

    #[test]
    fn rate_limiter_allows_bursts_then_refuses_then_recovers() {
        let mut r = RateLimiter::new(0);
        let allowed = (0..1000).filter(|_| r.allow(0)).count();
        assert_eq!(allowed, RATE_BURST as usize);
        assert!(!r.allow(0));
        // One second later, RATE_PER_SECOND more.
        let allowed = (0..1000).filter(|_| r.allow(1000)).count();
        assert_eq!(allowed, RATE_PER_SECOND as usize);
        // A steady pace under the limit is never refused.
        let mut r = RateLimiter::new(0);
        assert!((0..10_000u64).all(|i| r.allow(i * 100)));
    }

    const DAY: u64 = 24 * 60 * 60 * 1000;

    fn ban(id: &str, peer: &str, origin: &str, expires_ms: u64) -> Ban {
        Ban {
            ban_id: id.into(),
            peer_id: peer.into(),
            origin: origin.into(),
            name: "Loud Crow".into(),
            banned_ms: 0,
            expires_ms,
        }
    }

    #[test]
    fn owner_keys_are_stored_hashed_and_checked() {
        let key = crate::ids::new_owner_key([9; 32]);
        let stored = owner_key_hash(&key);
        assert_ne!(stored, key);
        assert_eq!(stored.len(), 43);
        assert!(owner_key_matches(&key, &stored));
        assert!(!owner_key_matches(
            &crate::ids::new_owner_key([8; 32]),
            &stored
        ));
        assert!(!owner_key_matches(&key, ""));
        assert!(!owner_key_matches(&key, &stored[..42]));
    }

    #[test]
    fn origins_are_normalised_and_salted() {
        assert_eq!(origin_of("203.0.113.7"), "203.0.113.7");
        assert_eq!(origin_of(" 203.0.113.7 "), "203.0.113.7");
        assert_eq!(origin_of("::ffff:203.0.113.7"), "203.0.113.7");
        // Every address of one IPv6 /64 is one origin.
        assert_eq!(
            origin_of("2001:db8:1:2:aaaa::1"),
            origin_of("2001:db8:1:2:ffff:eeee:dddd:cccc")
        );
        assert_ne!(origin_of("2001:db8:1:2::1"), origin_of("2001:db8:1:3::1"));
        assert_eq!(origin_of("not an address"), "not an address");
        assert_eq!(origin_of(&"x".repeat(500)).len(), 64);
        let a = origin_hash("salt-a", "203.0.113.7");
        assert_eq!(a, origin_hash("salt-a", "203.0.113.7"));
        assert_ne!(
            a,
            origin_hash("salt-b", "203.0.113.7"),
            "unrelated across rooms"
        );
        assert_ne!(a, origin_hash("salt-a", "203.0.113.8"));
        assert!(!a.contains("203"));
        assert_eq!(a.len(), 22);
    }

    #[test]
    fn bans_match_identity_or_origin_until_they_lapse() {
        let mut bans = Vec::new();
        add_ban(&mut bans, ban("b1", "peer-1", "origin-1", 1_000));
        assert!(
            find_ban(&bans, "peer-1", "elsewhere", 0).is_some(),
            "same identity, other network"
        );
        assert!(
            find_ban(&bans, "fresh-identity", "origin-1", 0).is_some(),
            "new identity, same network"
        );
        assert!(find_ban(&bans, "peer-2", "origin-2", 0).is_none());
        assert!(
            find_ban(&bans, "peer-1", "origin-1", 1_000).is_none(),
            "lapsed"
        );
        // Banning the same identity again replaces the ban; newest first.
        add_ban(&mut bans, ban("b2", "peer-2", "origin-2", 2_000));
        add_ban(&mut bans, ban("b3", "peer-1", "origin-3", 3_000));
        let ids: Vec<_> = ban_list(&bans).into_iter().map(|b| b.ban_id).collect();
        assert_eq!(ids, ["b3", "b2"]);
        assert!(remove_ban(&mut bans, "b2"));
        assert!(!remove_ban(&mut bans, "b2"));
        assert!(find_ban(&bans, "peer-2", "origin-2", 0).is_none());
        assert!(!prune_bans(&mut bans, 2_999));
        assert!(prune_bans(&mut bans, 3_000));
        assert!(bans.is_empty());
        // Capacity: the oldest goes.
        for i in 0..MAX_BANS + 5 {
            add_ban(&mut bans, ban(&format!("b{i}"), &format!("p{i}"), "o", 10));
        }
        assert_eq!(bans.len(), MAX_BANS);
        assert_eq!(bans[0].ban_id, format!("b{}", MAX_BANS + 4));
        assert!(!bans.iter().any(|b| b.ban_id == "b0"));
    }

    #[test]
    fn a_ban_without_an_origin_holds_the_identity_and_learns_its_origin_when_it_comes_back() {
        let mut bans = vec![ban("b1", "peer-1", "", 1_000)];
        assert!(find_ban(&bans, "peer-1", "origin-1", 0).is_some());
        assert!(
            find_ban(&bans, "peer-2", "", 0).is_none(),
            "an unknown origin matches nothing, not even another unknown one"
        );
        assert!(
            find_ban(&bans, "peer-2", "origin-1", 0).is_none(),
            "the network is not known yet"
        );
        assert!(
            !learn_ban_origin(&mut bans, "peer-2", "origin-2", 0),
            "someone else"
        );
        assert!(
            !learn_ban_origin(&mut bans, "peer-1", "origin-1", 1_000),
            "lapsed"
        );
        assert!(!learn_ban_origin(&mut bans, "peer-1", "", 0));
        assert!(learn_ban_origin(&mut bans, "peer-1", "origin-1", 0));
        assert!(
            find_ban(&bans, "fresh-identity", "origin-1", 0).is_some(),
            "from then on, new identity and same network is refused"
        );
        // A known origin is never replaced.
        assert!(!learn_ban_origin(&mut bans, "peer-1", "origin-9", 0));
        assert!(find_ban(&bans, "other", "origin-9", 0).is_none());
    }

    #[test]
    fn join_limiter_is_per_origin_and_refills() {
        let mut j = JoinLimiter::default();
        let allowed = (0..100).filter(|_| j.allow("a", 0, 10)).count();
        assert_eq!(allowed, 10);
        assert!(j.allow("b", 0, 10), "another origin is not affected");
        assert!(!j.allow("a", 5_999, 10));
        assert!(
            j.allow("a", 6_000, 10),
            "one attempt back every 6 s at 10/min"
        );
        assert!(!j.allow("a", 6_000, 10));
        // Empty at 6 s: full again a minute later, and only then forgotten.
        assert_eq!(j.refilled_at(10), Some(66_000));
        j.prune(65_999, 10);
        assert!(!j.is_empty());
        j.prune(66_000, 10);
        assert!(j.is_empty());
        // The tracked origins are bounded.
        let mut j = JoinLimiter::default();
        for i in 0..MAX_TRACKED_ORIGINS + 50 {
            j.allow(&format!("o{i}"), i as u64, 10);
        }
        assert_eq!(j.buckets.len(), MAX_TRACKED_ORIGINS);
    }

    #[test]
    fn sweep_closes_silent_and_helloless_sockets() {
        let pending = |accepted| SocketFacts {
            joined: false,
            accepted_ms: accepted,
            last_seen_ms: accepted,
        };
        let joined = |seen| SocketFacts {
            joined: true,
            accepted_ms: 0,
            last_seen_ms: seen,
        };
        let now = 100_000;
        let (close, next) = sweep(
            &[
                pending(now - 10_000),
                pending(now - 9_999),
                joined(now - STALE_AFTER_MS - 1),
                joined(now),
            ],
            now,
            10_000,
        );
        assert_eq!(
            close,
            [(0, SweepVerdict::NoHello), (2, SweepVerdict::Stale)]
        );
        assert_eq!(next, Some(now + 1));
        let (close, next) = sweep(&[joined(now)], now, 10_000);
        assert!(close.is_empty());
        assert_eq!(next, Some(now + STALE_AFTER_MS + 1));
        assert_eq!(sweep(&[], now, 10_000), (vec![], None));
    }

    #[test]
    fn cleanup_plan() {
        let r = Retention::default();
        let all = Stored {
            transient: true,
            owner: true,
        };
        // Occupied: nothing is deleted; wake for the sockets or the next ban expiry.
        let p = plan(5, &r, true, Some(50), 0, &[ban("b", "p", "o", 40)], all);
        assert_eq!(
            (p.delete_transient, p.delete_all, p.next_alarm),
            (false, false, Some(40))
        );
        // Just emptied: wake when the transient data is due.
        let p = plan(10, &r, false, None, 10, &[], all);
        assert_eq!(
            (p.delete_transient, p.delete_all, p.next_alarm),
            (false, false, Some(10 + DAY))
        );
        // A day later: transient data goes, the owner stays until the room's time to live.
        let p = plan(10 + DAY, &r, false, None, 10, &[], all);
        assert_eq!(
            (p.delete_transient, p.delete_all, p.next_alarm),
            (true, false, Some(10 + 90 * DAY))
        );
        // A ban outlives the room's time to live... the owner stays as long as the ban.
        let b = [ban("b", "p", "o", 120 * DAY)];
        let p = plan(
            10 + 90 * DAY,
            &r,
            false,
            None,
            10,
            &b,
            Stored {
                transient: false,
                owner: true,
            },
        );
        assert_eq!((p.delete_all, p.next_alarm), (false, Some(120 * DAY)));
        // ...and once it lapses everything goes.
        let p = plan(
            120 * DAY,
            &r,
            false,
            None,
            10,
            &[],
            Stored {
                transient: false,
                owner: true,
            },
        );
        assert_eq!((p.delete_all, p.next_alarm), (true, None));
        // A room without an owner forgets everything after the idle cleanup.
        let p = plan(
            10 + DAY,
            &r,
            false,
            None,
            10,
            &[],
            Stored {
                transient: true,
                owner: false,
            },
        );
        assert_eq!((p.delete_all, p.next_alarm), (true, None));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn retention() -> impl Strategy<Value = Retention> {
            (
                1u64..100_000,
                1u64..1_000_000,
                1u64..1_000_000,
                1u64..1_000_000,
                1u32..100,
            )
                .prop_map(
                    |(
                        hello_timeout_ms,
                        idle_cleanup_ms,
                        ban_ttl_ms,
                        room_ttl_ms,
                        join_limit_per_minute,
                    )| Retention {
                        hello_timeout_ms,
                        idle_cleanup_ms,
                        ban_ttl_ms,
                        room_ttl_ms,
                        join_limit_per_minute,
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Left alone, an empty room always ends with nothing stored, never wakes in the past, and never
            /// forgets its owner while a ban is in force.
            #[test]
            fn an_empty_room_is_eventually_forgotten(
                r in retention(),
                expiries in proptest::collection::vec(0u64..3_000_000, 0..5),
                transient in any::<bool>(),
                owner in any::<bool>(),
                start in 0u64..1_000_000,
            ) {
                let mut bans: Vec<Ban> = expiries.iter().enumerate()
                    .map(|(i, e)| ban(&format!("b{i}"), &format!("p{i}"), "o", start + e)).collect();
                let mut stored = Stored { transient, owner };
                let mut now = start;
                for _ in 0..20 {
                    prune_bans(&mut bans, now);
                    let p = plan(now, &r, false, None, start, &bans, stored);
                    if p.delete_all {
                        prop_assert!(bans.is_empty());
                        return Ok(());
                    }
                    if p.delete_transient {
                        stored.transient = false;
                    }
                    let next = p.next_alarm.expect("something is left, so the alarm must come back");
                    prop_assert!(next > now, "alarm at {} is not after {}", next, now);
                    now = next;
                }
                prop_assert!(false, "still not forgotten after 20 alarms");
            }

            /// Any sequence of join attempts: an origin never gets more than its burst plus what refilled, and
            /// other origins are never affected.
            #[test]
            fn join_limiter_bounds(
                per_minute in 1u32..60,
                gaps in proptest::collection::vec(0u64..5_000, 1..200),
            ) {
                let mut j = JoinLimiter::default();
                let mut now = 0;
                let mut allowed = 0u64;
                for (i, g) in gaps.iter().enumerate() {
                    now += g;
                    if j.allow("flood", now, per_minute) {
                        allowed += 1;
                    }
                    let other = format!("other{i}");
                    prop_assert!(j.allow(&other, now, per_minute));
                }
                let bound = u64::from(per_minute) + now * u64::from(per_minute) / 60_000 + 1;
                prop_assert!(allowed <= bound, "{} allowed, bound {}", allowed, bound);
            }

            /// The sweep closes exactly the sockets past their deadline and wakes in the future.
            #[test]
            fn sweep_deadlines(
                facts in proptest::collection::vec((any::<bool>(), 0u64..200_000, 0u64..200_000), 0..6),
                now in 0u64..300_000,
                timeout in 1u64..60_000,
            ) {
                let sockets: Vec<SocketFacts> = facts.iter()
                    .map(|&(joined, a, s)| SocketFacts { joined, accepted_ms: a, last_seen_ms: s }).collect();
                let (close, next) = sweep(&sockets, now, timeout);
                prop_assert!(next.is_none_or(|n| n > now));
                prop_assert_eq!(next.is_some(), close.len() < sockets.len());
                for (i, s) in sockets.iter().enumerate() {
                    let closed = close.iter().any(|(c, _)| *c == i);
                    let silent = if s.joined { now.saturating_sub(s.last_seen_ms) > STALE_AFTER_MS }
                        else { now.saturating_sub(s.accepted_ms) >= timeout };
                    prop_assert_eq!(closed, silent);
                }
            }
        }
    }
}
