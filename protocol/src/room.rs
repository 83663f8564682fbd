//! Room admission as pure functions over plain data, so the worker's Durable Object is a thin adapter.
//!
//! Rules:
//! - at most [`MAX_PEERS`] live peers;
//! - a newcomer with the identity of a peer already in the room replaces it (the older socket is closed with
//!   [`crate::signal::close::REPLACED`]): two tabs of one browser never chat with themselves, and the newer wins;
//! - a socket silent for longer than [`STALE_AFTER_MS`] (clients ping every
//!   [`crate::signal::PING_INTERVAL_MS`]) is a ghost: it is evicted rather than locking a returning peer out.

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
}
