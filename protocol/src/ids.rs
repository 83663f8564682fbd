//! Room ids, identity (peer) ids, ban ids and room owner keys.
//!
//! All are unpadded base64url strings. Generated ids carry 128 random bits (22 characters), owner keys 256 bits
//! (43 characters); the caller supplies the randomness (getrandom in the browser and the worker) so this module
//! stays pure and testable.

use crate::ProtocolError;

/// Shortest accepted room id. Generated ids are [`GENERATED_ID_LEN`] characters long.
pub const ROOM_ID_MIN_LEN: usize = 16;
/// Longest accepted room id.
pub const ROOM_ID_MAX_LEN: usize = 64;
/// Shortest accepted identity id.
pub const PEER_ID_MIN_LEN: usize = 16;
/// Longest accepted identity id.
pub const PEER_ID_MAX_LEN: usize = 64;
/// Length of an id made from 16 random bytes.
pub const GENERATED_ID_LEN: usize = 22;
/// Shortest accepted owner key (128 bits). Generated keys are [`OWNER_KEY_LEN`] characters long.
pub const OWNER_KEY_MIN_LEN: usize = 22;
/// Longest accepted owner key.
pub const OWNER_KEY_MAX_LEN: usize = 64;
/// Length of an owner key made from 32 random bytes.
pub const OWNER_KEY_LEN: usize = 43;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes bytes as unpadded base64url.
pub fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Makes a new id (room or identity) from 16 random bytes.
pub fn new_id(random: [u8; 16]) -> String {
    base64url(&random)
}

/// Whether `s` uses only the id alphabet: `A-Z a-z 0-9 - _`.
pub(crate) fn is_token(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a short token id (message id, call id...): 1..=`max` bytes of the id alphabet.
pub(crate) fn check_token(what: &str, id: &str, max: usize) -> Result<(), ProtocolError> {
    if id.is_empty() || id.len() > max || !is_token(id) {
        return Err(ProtocolError::Invalid(format!("the {what} is not valid")));
    }
    Ok(())
}

fn check_id(what: &str, id: &str, min: usize, max: usize) -> Result<(), ProtocolError> {
    if id.len() < min || id.len() > max {
        return Err(ProtocolError::Invalid(format!(
            "the {what} must be {min} to {max} characters long"
        )));
    }
    if !is_token(id) {
        return Err(ProtocolError::Invalid(format!(
            "the {what} may only contain letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

/// Makes a new room owner key from 32 random bytes. Only its SHA-256 ever leaves the room's Durable Object storage
/// (the key itself travels once per join, in `hello`).
pub fn new_owner_key(random: [u8; 32]) -> String {
    base64url(&random)
}

/// Validates an owner key from a `hello`.
pub fn validate_owner_key(key: &str) -> Result<(), ProtocolError> {
    check_id("owner key", key, OWNER_KEY_MIN_LEN, OWNER_KEY_MAX_LEN)
}

/// Validates a ban id from an `unban` (the worker makes them like identity ids).
pub fn validate_ban_id(id: &str) -> Result<(), ProtocolError> {
    check_id("ban id", id, PEER_ID_MIN_LEN, PEER_ID_MAX_LEN)
}

/// Validates a room id taken from a URL path or a pasted link.
pub fn validate_room_id(id: &str) -> Result<(), ProtocolError> {
    check_id("room code", id, ROOM_ID_MIN_LEN, ROOM_ID_MAX_LEN)
}

/// Validates an identity id.
pub fn validate_peer_id(id: &str) -> Result<(), ProtocolError> {
    check_id("identity id", id, PEER_ID_MIN_LEN, PEER_ID_MAX_LEN)
}

/// Finds the room id in what a user pasted: a full link (`https://host/#/r/<id>`), a path, or the bare code.
pub fn parse_room_input(input: &str) -> Result<String, ProtocolError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(ProtocolError::Invalid(
            "paste a room link or code first".into(),
        ));
    }
    let candidate = match input.rfind("/r/") {
        Some(pos) => &input[pos + 3..],
        None => input,
    };
    let candidate = candidate
        .split(['?', '#', '/'])
        .next()
        .unwrap_or_default()
        .trim();
    validate_room_id(candidate).map_err(|_| {
        ProtocolError::Invalid(
            "that is not a Twain room link or code: a code is at least 16 letters, digits, '-' or '_'".into(),
        )
    })?;
    Ok(candidate.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_known_values() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn generated_ids_are_valid_and_128_bits() {
        let id = new_id([0xAB; 16]);
        assert_eq!(id.len(), GENERATED_ID_LEN);
        validate_room_id(&id).unwrap();
        validate_peer_id(&id).unwrap();
        assert_ne!(new_id([1; 16]), new_id([2; 16]));
    }

    #[test]
    fn room_id_validation() {
        assert!(validate_room_id("abcdefghijklmnop").is_ok());
        assert!(validate_room_id("short").is_err());
        assert!(validate_room_id(&"a".repeat(65)).is_err());
        assert!(validate_room_id("abcdefghijklmno/").is_err());
        assert!(validate_room_id("abcdefghijklmno<").is_err());
        assert!(validate_room_id("abcdefghijklmnoé").is_err());
    }

    #[test]
    fn owner_keys_and_ban_ids() {
        let key = new_owner_key([7; 32]);
        assert_eq!(key.len(), OWNER_KEY_LEN);
        validate_owner_key(&key).unwrap();
        assert!(validate_owner_key("short").is_err());
        assert!(validate_owner_key(&"k".repeat(OWNER_KEY_MAX_LEN + 1)).is_err());
        assert!(validate_owner_key("abcdefghijklmnopqrstuvwxyz+/").is_err());
        validate_ban_id(&new_id([3; 16])).unwrap();
        assert!(validate_ban_id("").is_err());
    }

    #[test]
    fn parse_pasted_input() {
        let id = "q7Xk2mP9vL3nR8sT1wY4zA";
        assert_eq!(parse_room_input(id).unwrap(), id);
        assert_eq!(parse_room_input(&format!("  {id}\n")).unwrap(), id);
        assert_eq!(
            parse_room_input(&format!("http://127.0.0.1:8787/#/r/{id}")).unwrap(),
            id
        );
        assert_eq!(
            parse_room_input(&format!("https://twain.example/#/r/{id}?x=1")).unwrap(),
            id
        );
        assert!(parse_room_input("").is_err());
        assert!(parse_room_input("http://127.0.0.1:8787/").is_err());
        assert!(parse_room_input("<script>").is_err());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// Decodes unpadded base64url (test helper: the crate only ever encodes).
        fn decode(s: &str) -> Vec<u8> {
            let mut bits = 0u32;
            let mut n = 0;
            let mut out = Vec::new();
            for c in s.bytes() {
                let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
                bits = (bits << 6) | v;
                n += 6;
                if n >= 8 {
                    n -= 8;
                    out.push((bits >> n) as u8);
                    bits &= (1 << n) - 1;
                }
            }
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// base64url is reversible, has the expected length and uses only the URL-safe alphabet.
            #[test]
            fn base64url_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
                let text = base64url(&bytes);
                prop_assert_eq!(text.len(), (bytes.len() * 4).div_ceil(3));
                prop_assert!(text.bytes().all(|b| ALPHABET.contains(&b)));
                prop_assert_eq!(decode(&text), bytes);
            }

            /// Generated ids and keys always pass their own validation.
            #[test]
            fn generated_ids_validate(id in any::<[u8; 16]>(), key in any::<[u8; 32]>()) {
                let id = new_id(id);
                prop_assert!(validate_room_id(&id).is_ok());
                prop_assert!(validate_peer_id(&id).is_ok());
                prop_assert!(validate_ban_id(&id).is_ok());
                prop_assert!(validate_owner_key(&new_owner_key(key)).is_ok());
                prop_assert_eq!(parse_room_input(&format!("https://x.example/#/r/{id}")).unwrap(), id);
            }

            /// No input makes a validator panic, and whatever passes is plain URL-safe ASCII within the limits.
            #[test]
            fn validators_never_panic(text in prop_oneof![".{0,80}", "[A-Za-z0-9_-]{0,70}"]) {
                for (ok, min, max) in [
                    (validate_room_id(&text).is_ok(), ROOM_ID_MIN_LEN, ROOM_ID_MAX_LEN),
                    (validate_peer_id(&text).is_ok(), PEER_ID_MIN_LEN, PEER_ID_MAX_LEN),
                    (validate_ban_id(&text).is_ok(), PEER_ID_MIN_LEN, PEER_ID_MAX_LEN),
                    (validate_owner_key(&text).is_ok(), OWNER_KEY_MIN_LEN, OWNER_KEY_MAX_LEN),
                ] {
                    if ok {
                        prop_assert!((min..=max).contains(&text.len()));
                        prop_assert!(text.bytes().all(|b| ALPHABET.contains(&b)));
                    }
                }
                if let Ok(id) = parse_room_input(&text) {
                    prop_assert!(validate_room_id(&id).is_ok());
                    prop_assert!(text.contains(&id));
                }
            }
        }
    }
}
