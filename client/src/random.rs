//! Randomness for ids and generated names, from the browser's CSPRNG (`crypto.getRandomValues` via getrandom).

/// Returns `N` cryptographically secure random bytes.
///
/// # Panics
/// Only if the platform has no secure random source at all (no `crypto.getRandomValues`), in which case Twain
/// cannot make safe ids and must not continue.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("this browser has no secure random number generator");
    bytes
}

/// A random `u32`, e.g. for [`crate::names::friendly_name`].
pub fn random_u32() -> u32 {
    u32::from_le_bytes(random_bytes::<4>())
}

/// A new 128-bit random id (room, identity, message or transfer id): 22 base64url characters.
pub fn new_id() -> String {
    twain_protocol::ids::new_id(random_bytes::<16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), twain_protocol::ids::GENERATED_ID_LEN);
        assert!(twain_protocol::ids::validate_room_id(&a).is_ok());
        assert!(twain_protocol::ids::validate_peer_id(&a).is_ok());
    }

    #[test]
    fn bytes_are_not_all_zero() {
        // 32 zero bytes from a working CSPRNG has probability 2^-256.
        assert_ne!(random_bytes::<32>(), [0u8; 32]);
    }
}
