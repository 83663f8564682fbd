//! Identity proofs: how two browsers show each other that nobody sits between them, whoever runs the signaling
//! server.
//!
//! Each browser owns an ECDSA P-256 key pair (made with WebCrypto, the private key never leaves the browser). Its
//! identity id is derived from the public key ([`peer_id_from_public_key`]), so the id the worker introduces and
//! the key that proves it cannot be chosen independently.
//!
//! WebRTC encrypts the data channel with DTLS; each side announces the SHA-256 fingerprint of its DTLS
//! certificate in its SDP, and the browser refuses a DTLS peer whose certificate does not match the fingerprint
//! in the remote description. Whoever relays the SDP (the signaling server) can swap those fingerprints for its
//! own and sit in the middle of two DTLS connections. So, once the data channel is open, each side sends a
//! `proof`: its public key and a signature over [`proof_message`] (the room id and the fingerprint of its *own*
//! local description). The receiver checks ([`verify_proof`]):
//!
//! 1. the key and signature are well formed and the signature is valid for that key;
//! 2. the id derived from the key is the identity the worker introduced (and the `hello` claimed);
//! 3. the signed fingerprint is the one in the remote description the receiver actually used. A man in the
//!    middle cannot pass this: the real peer signed the fingerprint of *its* connection (to the attacker), and
//!    the attacker cannot sign its own fingerprint with the peer's key.
//!
//! A first meeting with an attacker's own identity passes these checks; that is what the [`safety_code`] (read
//! aloud and compared) and the per-room memory of the peer's key (in the client) are for.
//!
//! Everything here is pure and never panics on peer input: malformed input gives a [`VerifyError`].

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::ids::base64url;

/// Length of a raw uncompressed P-256 public key (`0x04 || X || Y`), as WebCrypto exports it (`"raw"`).
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of an ECDSA P-256 signature in IEEE P1363 form (`r || s`), as WebCrypto produces it.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a SHA-256 DTLS certificate fingerprint, in bytes.
pub const FINGERPRINT_LEN: usize = 32;
/// Number of digits of a [`safety_code`].
pub const SAFETY_CODE_DIGITS: usize = 20;

/// Domain separation for [`proof_message`]: a signature made for a Twain proof can never be mistaken for
/// anything else this key signs (and vice versa).
const PROOF_DOMAIN: &[u8] = b"twain identity proof v1\0";
/// Domain separation for [`safety_code`].
const SAFETY_DOMAIN: &[u8] = b"twain safety code v1\0";
/// SHA-256 rounds of the safety code: makes each guess of a key pair that would produce a chosen code thousands
/// of times more expensive, at a few milliseconds for the two honest browsers.
const SAFETY_ROUNDS: u32 = 4096;

/// Why a proof (or an input to it) was refused. Each message is a sentence for the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The public key is not base64url, not 65 bytes, or not a point on P-256.
    #[error("the other browser's public key is not a valid P-256 key")]
    MalformedKey,
    /// The signature is not base64url or not 64 bytes.
    #[error("the other browser's signature is not well formed")]
    MalformedSignature,
    /// The signed fingerprint is not of the form `sha-256 AB:CD:…` with 32 bytes.
    #[error("the fingerprint in the other browser's proof is not well formed")]
    MalformedFingerprint,
    /// The signature does not match the key and the signed data.
    #[error("the other browser's signature does not match its key")]
    BadSignature,
    /// The key belongs to another identity than the one introduced.
    #[error("the other browser proved a different identity than the one it joined with")]
    IdMismatch,
    /// The peer signed a DTLS fingerprint other than the one of the connection this browser uses.
    #[error("the other browser's encryption key is not the one this connection uses")]
    FingerprintMismatch,
    /// The session description has no SHA-256 `a=fingerprint` line.
    #[error("the connection description has no SHA-256 fingerprint")]
    NoFingerprint,
    /// The session description lists several different SHA-256 fingerprints.
    #[error("the connection description lists several different fingerprints")]
    AmbiguousFingerprint,
    /// The peer presented this browser's own key.
    #[error("the other browser presented this browser's own identity")]
    OwnKey,
}

/// A SHA-256 DTLS certificate fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; FINGERPRINT_LEN]);

impl Fingerprint {
    /// Parses the value of an `a=fingerprint:` attribute, e.g. `sha-256 AB:CD:…` (hash name case-insensitive,
    /// hex digits either case). Only SHA-256 is accepted: every browser uses it.
    pub fn parse(text: &str) -> Result<Fingerprint, VerifyError> {
        let mut parts = text.split_ascii_whitespace();
        let (Some(hash), Some(hex), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(VerifyError::MalformedFingerprint);
        };
        if !hash.eq_ignore_ascii_case("sha-256") {
            return Err(VerifyError::MalformedFingerprint);
        }
        let mut out = [0u8; FINGERPRINT_LEN];
        let mut count = 0;
        for byte in hex.split(':') {
            if count == FINGERPRINT_LEN || byte.len() != 2 {
                return Err(VerifyError::MalformedFingerprint);
            }
            out[count] =
                u8::from_str_radix(byte, 16).map_err(|_| VerifyError::MalformedFingerprint)?;
            count += 1;
        }
        if count != FINGERPRINT_LEN {
            return Err(VerifyError::MalformedFingerprint);
        }
        Ok(Fingerprint(out))
    }

    /// The fingerprint of a session description (SDP): every `a=fingerprint:sha-256 …` line, at session or media
    /// level, must carry the same value. Lines with other hash functions are ignored.
    pub fn from_sdp(sdp: &str) -> Result<Fingerprint, VerifyError> {
        let mut found: Option<Fingerprint> = None;
        for line in sdp.lines() {
            let line = line.trim_end_matches('\r');
            let Some(value) = line.strip_prefix("a=fingerprint:") else {
                continue;
            };
            let is_sha256 = value
                .split_ascii_whitespace()
                .next()
                .is_some_and(|h| h.eq_ignore_ascii_case("sha-256"));
            if !is_sha256 {
                continue;
            }
            let fp = Fingerprint::parse(value)?;
            match found {
                Some(prev) if prev != fp => return Err(VerifyError::AmbiguousFingerprint),
                _ => found = Some(fp),
            }
        }
        found.ok_or(VerifyError::NoFingerprint)
    }
}

impl std::fmt::Display for Fingerprint {
    /// The SDP form: `sha-256 AB:CD:…` (uppercase hex).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sha-256 ")?;
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// The exact bytes a proof signs: the domain prefix, then the room id and the fingerprint, each preceded by its
/// length as one byte, so no two (room, fingerprint) pairs give the same bytes.
///
/// `"twain identity proof v1\0" || len(room_id) || room_id (ASCII) || 32 || fingerprint (32 bytes)`
///
/// Room ids are at most [`crate::ids::ROOM_ID_MAX_LEN`] (64) bytes; a longer one is truncated to 255 bytes here
/// only to stay total (it never verifies against a valid room anyway).
pub fn proof_message(room_id: &str, fingerprint: &Fingerprint) -> Vec<u8> {
    let room = &room_id.as_bytes()[..room_id.len().min(255)];
    let mut msg = Vec::with_capacity(PROOF_DOMAIN.len() + 2 + room.len() + FINGERPRINT_LEN);
    msg.extend_from_slice(PROOF_DOMAIN);
    msg.push(room.len() as u8);
    msg.extend_from_slice(room);
    msg.push(FINGERPRINT_LEN as u8);
    msg.extend_from_slice(&fingerprint.0);
    msg
}

/// The identity id of a public key: unpadded base64url of the first 16 bytes of SHA-256 over the raw
/// uncompressed key (22 characters, a valid [`crate::ids::validate_peer_id`]).
pub fn peer_id_from_public_key(raw_public_key: &[u8]) -> String {
    let digest = Sha256::digest(raw_public_key);
    base64url(&digest[..16])
}

/// Decodes unpadded base64url, refusing padding, other alphabets and non-canonical trailing bits.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len() - 1;
        let all = n.to_be_bytes();
        out.extend_from_slice(&all[1..1 + produced]);
    }
    // Canonical: encoding again gives the same text (no stray bits in the last character).
    (base64url(&out) == text).then_some(out)
}

/// A proof as it travels in the `proof` frame (see [`crate::wire::PeerFrame::Proof`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof<'a> {
    /// Base64url of the raw uncompressed P-256 public key.
    pub public_key: &'a str,
    /// The fingerprint the sender signed, in SDP form (`sha-256 AB:…`).
    pub fingerprint: &'a str,
    /// Base64url of the P1363 signature over [`proof_message`].
    pub signature: &'a str,
}

/// What a valid proof establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPeer {
    /// The peer's raw public key (65 bytes).
    pub public_key: Vec<u8>,
    /// Its identity id.
    pub peer_id: String,
}

/// Decodes and checks a raw P-256 public key given as base64url.
pub fn decode_public_key(text: &str) -> Result<Vec<u8>, VerifyError> {
    let raw = base64url_decode(text).ok_or(VerifyError::MalformedKey)?;
    if raw.len() != PUBLIC_KEY_LEN || raw[0] != 0x04 {
        return Err(VerifyError::MalformedKey);
    }
    VerifyingKey::from_sec1_bytes(&raw).map_err(|_| VerifyError::MalformedKey)?;
    Ok(raw)
}

/// Checks a signature (P1363, `r || s`) over `message` with a raw P-256 public key, ECDSA with SHA-256.
pub fn verify_signature(
    raw_public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let key =
        VerifyingKey::from_sec1_bytes(raw_public_key).map_err(|_| VerifyError::MalformedKey)?;
    if signature.len() != SIGNATURE_LEN {
        return Err(VerifyError::MalformedSignature);
    }
    // Zero or out-of-range r or s are refused here.
    let signature = Signature::from_slice(signature).map_err(|_| VerifyError::BadSignature)?;
    key.verify(message, &signature)
        .map_err(|_| VerifyError::BadSignature)
}

/// Checks a peer's proof for this connection (see the [module docs](self)).
///
/// - `room_id`: the room of this connection;
/// - `remote_fingerprint`: the fingerprint in the remote description this browser applied;
/// - `expected_peer_id`: the identity the worker introduced (and the peer's `hello` claimed);
/// - `own_public_key`: this browser's raw public key (a peer presenting it is refused).
pub fn verify_proof(
    proof: &Proof<'_>,
    room_id: &str,
    remote_fingerprint: &Fingerprint,
    expected_peer_id: &str,
    own_public_key: &[u8],
) -> Result<VerifiedPeer, VerifyError> {
    let public_key = decode_public_key(proof.public_key)?;
    let signature = base64url_decode(proof.signature).ok_or(VerifyError::MalformedSignature)?;
    if signature.len() != SIGNATURE_LEN {
        return Err(VerifyError::MalformedSignature);
    }
    let signed = Fingerprint::parse(proof.fingerprint)?;
    verify_signature(&public_key, &proof_message(room_id, &signed), &signature)?;
    if public_key == own_public_key {
        return Err(VerifyError::OwnKey);
    }
    let peer_id = peer_id_from_public_key(&public_key);
    if peer_id != expected_peer_id {
        return Err(VerifyError::IdMismatch);
    }
    if signed != *remote_fingerprint {
        return Err(VerifyError::FingerprintMismatch);
    }
    Ok(VerifiedPeer {
        public_key,
        peer_id,
    })
}

/// Field rules of a `proof` frame ([`crate::wire::PeerFrame::Proof`]), checked when it is decoded: a valid P-256
/// key, a 64-byte signature, a SHA-256 fingerprint. Whether the proof is *true* is [`verify_proof`]'s job.
pub fn validate_proof_fields(
    public_key: &str,
    fingerprint: &str,
    signature: &str,
) -> Result<(), crate::ProtocolError> {
    let invalid = |e: VerifyError| crate::ProtocolError::Invalid(e.to_string());
    decode_public_key(public_key).map_err(invalid)?;
    match base64url_decode(signature) {
        Some(bytes) if bytes.len() == SIGNATURE_LEN => {}
        _ => return Err(invalid(VerifyError::MalformedSignature)),
    }
    Fingerprint::parse(fingerprint).map_err(invalid)?;
    Ok(())
}

/// The safety code of two public keys: the same on both sides (the order of the keys does not matter), so two
/// people can read it to each other and know they hold each other's keys.
///
/// SHA-256 over the domain prefix and the two raw keys in byte order, re-hashed `SAFETY_ROUNDS` (4,096) times; the
/// first 9 bytes, as a number modulo 10^20, give [`SAFETY_CODE_DIGITS`] digits, shown in groups of four:
/// `"0123 4567 8901 2345 6789"`. Twenty digits (about 66 bits) keep finding two attacker key pairs whose codes
/// collide out of reach of a birthday search, with the rounds making each try expensive.
pub fn safety_code(key_a: &[u8], key_b: &[u8]) -> String {
    let (first, second) = if key_a <= key_b {
        (key_a, key_b)
    } else {
        (key_b, key_a)
    };
    let mut hasher = Sha256::new();
    hasher.update(SAFETY_DOMAIN);
    hasher.update((first.len() as u32).to_be_bytes());
    hasher.update(first);
    hasher.update((second.len() as u32).to_be_bytes());
    hasher.update(second);
    let mut digest: [u8; 32] = hasher.finalize().into();
    for _ in 0..SAFETY_ROUNDS {
        let mut h = Sha256::new();
        h.update(digest);
        h.update(first);
        h.update(second);
        digest = h.finalize().into();
    }
    let mut n: u128 = 0;
    for b in &digest[..9] {
        n = (n << 8) | u128::from(*b);
    }
    let digits = format!("{:020}", n % 100_000_000_000_000_000_000u128);
    digits
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How often a browser still waiting for the other's proof asks for it again, in milliseconds.
pub const PROOF_ASK_INTERVAL_MS: u32 = 3_000;
/// How many times it asks again on one connection (the client gives up after about five intervals).
pub const MAX_PROOF_ASKS: u32 = 4;
/// How many asks it answers on one connection: an honest peer asks at most [`MAX_PROOF_ASKS`] times, so a
/// modified one cannot make this browser send proofs without end.
pub const MAX_PROOF_ANSWERS: u32 = MAX_PROOF_ASKS + 2;

/// When to send this browser's `proof` on one connection, so that a proof that was never sent (the signing
/// failed, the channel was busy reopening) or never checked does not turn into a false interception warning.
///
/// Sans-IO: the client calls the `on_*` methods and sends a proof whenever one returns `Some(ask)`, with the
/// frame's `ask` flag set to that value. `ask` means "I have not checked a proof of yours on this connection yet:
/// answer with yours". Only asks are answered, and an answer never asks (its sender has just checked the proof
/// that asked), so two browsers cannot keep each other sending. A new connection starts a new exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofExchange {
    /// A proof of the other browser was checked on this connection (whatever the result: asking again would
    /// not change it).
    checked_theirs: bool,
    asks_left: u32,
    answers_left: u32,
}

impl Default for ProofExchange {
    fn default() -> Self {
        Self::new()
    }
}

impl ProofExchange {
    pub fn new() -> Self {
        ProofExchange {
            checked_theirs: false,
            asks_left: MAX_PROOF_ASKS,
            answers_left: MAX_PROOF_ANSWERS,
        }
    }

    /// The chat channel opened: send our proof, asking for theirs unless it was already checked.
    pub fn on_open(&mut self) -> Option<bool> {
        Some(!self.checked_theirs)
    }

    /// [`PROOF_ASK_INTERVAL_MS`] passed: ask again while theirs is still missing, a bounded number of times.
    pub fn on_interval(&mut self) -> Option<bool> {
        if self.checked_theirs || self.asks_left == 0 {
            return None;
        }
        self.asks_left -= 1;
        Some(true)
    }

    /// Their proof arrived and was checked; `asked` is its `ask` flag. Answer with ours if they asked.
    pub fn on_checked(&mut self, asked: bool) -> Option<bool> {
        self.checked_theirs = true;
        if !asked || self.answers_left == 0 {
            return None;
        }
        self.answers_left -= 1;
        Some(false)
    }

    /// Whether a proof of the other browser was checked on this connection.
    pub fn has_checked_theirs(&self) -> bool {
        self.checked_theirs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;

    const ROOM: &str = "q7Xk2mP9vL3nR8sT1wY4zA";

    fn key(seed: u8) -> (SigningKey, Vec<u8>) {
        let sk = SigningKey::from_slice(&[seed; 32]).expect("a valid scalar");
        let raw = sk
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        assert_eq!(raw.len(), PUBLIC_KEY_LEN);
        (sk, raw)
    }

    fn fp(byte: u8) -> Fingerprint {
        Fingerprint([byte; FINGERPRINT_LEN])
    }

    struct Made {
        public_key: String,
        fingerprint: String,
        signature: String,
    }

    impl Made {
        fn proof(&self) -> Proof<'_> {
            Proof {
                public_key: &self.public_key,
                fingerprint: &self.fingerprint,
                signature: &self.signature,
            }
        }
    }

    /// A proof as an honest browser makes it: `sk` signs `signed` for `room`.
    fn make(sk: &SigningKey, raw: &[u8], room: &str, signed: &Fingerprint) -> Made {
        let sig: Signature = sk.sign(&proof_message(room, signed));
        Made {
            public_key: base64url(raw),
            fingerprint: signed.to_string(),
            signature: base64url(&sig.to_bytes()),
        }
    }

    /// Checks `proof` as peer "me" (seed 9) would, expecting the peer `expected_id` on `remote`.
    fn check(
        proof: &Made,
        remote: &Fingerprint,
        expected_id: &str,
    ) -> Result<VerifiedPeer, VerifyError> {
        let (_, mine) = key(9);
        verify_proof(&proof.proof(), ROOM, remote, expected_id, &mine)
    }

    #[test]
    fn good_signature_verifies() {
        let (sk, raw) = key(1);
        let id = peer_id_from_public_key(&raw);
        let made = make(&sk, &raw, ROOM, &fp(0xAB));
        let ok = check(&made, &fp(0xAB), &id).unwrap();
        assert_eq!(ok.public_key, raw);
        assert_eq!(ok.peer_id, id);
    }

    #[test]
    fn wrong_key_is_refused() {
        let (sk, raw) = key(1);
        let (_, other) = key(2);
        let mut made = make(&sk, &raw, ROOM, &fp(0xAB));
        // The signature of key 1 presented with key 2.
        made.public_key = base64url(&other);
        assert_eq!(
            check(&made, &fp(0xAB), &peer_id_from_public_key(&other)),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn fingerprint_mismatch_is_refused() {
        // The peer honestly signed the fingerprint of its own connection, which is not the one we see: someone
        // in the middle terminates both DTLS connections.
        let (sk, raw) = key(1);
        let id = peer_id_from_public_key(&raw);
        let made = make(&sk, &raw, ROOM, &fp(0xAB));
        assert_eq!(
            check(&made, &fp(0xCD), &id),
            Err(VerifyError::FingerprintMismatch)
        );
        // Claiming the right fingerprint while the signature covers another one breaks the signature.
        let mut forged = make(&sk, &raw, ROOM, &fp(0xAB));
        forged.fingerprint = fp(0xCD).to_string();
        assert_eq!(
            check(&forged, &fp(0xCD), &id),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn another_room_is_refused() {
        let (sk, raw) = key(1);
        let made = make(&sk, &raw, "another-room-abcdefgh", &fp(0xAB));
        assert_eq!(
            check(&made, &fp(0xAB), &peer_id_from_public_key(&raw)),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn id_mismatch_is_refused() {
        let (sk, raw) = key(1);
        let (_, other) = key(2);
        let made = make(&sk, &raw, ROOM, &fp(0xAB));
        assert_eq!(
            check(&made, &fp(0xAB), &peer_id_from_public_key(&other)),
            Err(VerifyError::IdMismatch)
        );
    }

    #[test]
    fn own_key_is_refused() {
        let (sk, raw) = key(9);
        let made = make(&sk, &raw, ROOM, &fp(0xAB));
        assert_eq!(
            check(&made, &fp(0xAB), &peer_id_from_public_key(&raw)),
            Err(VerifyError::OwnKey)
        );
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        let (sk, raw) = key(1);
        let id = peer_id_from_public_key(&raw);
        let good = make(&sk, &raw, ROOM, &fp(0xAB));
        let variants: Vec<(Made, VerifyError)> = vec![
            (
                Made {
                    public_key: String::new(),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedKey,
            ),
            (
                Made {
                    public_key: "!!!".into(),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedKey,
            ),
            (
                Made {
                    public_key: base64url(&raw[..64]),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedKey,
            ),
            (
                Made {
                    public_key: base64url(&[4u8; 65]),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedKey,
            ),
            (
                Made {
                    signature: "x".into(),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedSignature,
            ),
            (
                Made {
                    signature: base64url(&[1u8; 63]),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedSignature,
            ),
            (
                Made {
                    signature: base64url(&[0u8; 64]),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::BadSignature,
            ),
            (
                Made {
                    signature: base64url(&[0xFF; 64]),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::BadSignature,
            ),
            (
                Made {
                    fingerprint: "sha-1 AB:CD".into(),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedFingerprint,
            ),
            (
                Made {
                    fingerprint: "sha-256".into(),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedFingerprint,
            ),
            (
                Made {
                    fingerprint: "sha-256 ZZ".into(),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedFingerprint,
            ),
            (
                Made {
                    fingerprint: format!("{} :AB", fp(0xAB)),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedFingerprint,
            ),
            (
                Made {
                    fingerprint: format!("{}:AB", fp(0xAB)),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedFingerprint,
            ),
            (
                Made {
                    fingerprint: "sha-256 é".into(),
                    ..make(&sk, &raw, ROOM, &fp(0xAB))
                },
                VerifyError::MalformedFingerprint,
            ),
        ];
        for (made, want) in variants {
            assert_eq!(
                check(&made, &fp(0xAB), &id),
                Err(want),
                "{:?}",
                made.proof()
            );
        }
        assert!(check(&good, &fp(0xAB), &id).is_ok());
        // Arbitrary bytes never panic.
        for text in [
            "",
            "=",
            "a",
            "ab=",
            "____",
            "\u{0}",
            "é",
            &"A".repeat(10_000),
        ] {
            let _ = base64url_decode(text);
            let _ = Fingerprint::parse(text);
            let _ = Fingerprint::from_sdp(text);
            let _ = decode_public_key(text);
            let made = Made {
                public_key: text.into(),
                fingerprint: text.into(),
                signature: text.into(),
            };
            assert!(check(&made, &fp(0), &id).is_err());
        }
    }

    #[test]
    fn fingerprint_from_sdp_session_or_media_level() {
        let f = fp(0x1F).to_string();
        let session_level =
            format!("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\na=fingerprint:{f}\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n");
        assert_eq!(Fingerprint::from_sdp(&session_level), Ok(fp(0x1F)));
        let media_level = format!(
            "v=0\r\ns=-\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=fingerprint:{}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:{f}\r\n",
            f.to_lowercase()
        );
        assert_eq!(Fingerprint::from_sdp(&media_level), Ok(fp(0x1F)));
        // Other hash functions are ignored, but a SHA-256 one must exist.
        let sha1_only = "v=0\na=fingerprint:sha-1 AB:CD:EF\n";
        assert_eq!(
            Fingerprint::from_sdp(sha1_only),
            Err(VerifyError::NoFingerprint)
        );
        let mixed = format!("v=0\na=fingerprint:sha-1 AB:CD:EF\na=fingerprint:{f}\n");
        assert_eq!(Fingerprint::from_sdp(&mixed), Ok(fp(0x1F)));
        // Two different SHA-256 fingerprints: refuse rather than pick one.
        let two = format!("a=fingerprint:{f}\r\na=fingerprint:{}\r\n", fp(0x20));
        assert_eq!(
            Fingerprint::from_sdp(&two),
            Err(VerifyError::AmbiguousFingerprint)
        );
        assert_eq!(Fingerprint::from_sdp(""), Err(VerifyError::NoFingerprint));
        assert_eq!(
            Fingerprint::from_sdp("a=fingerprint:sha-256 AB\r\n"),
            Err(VerifyError::MalformedFingerprint)
        );
    }

    #[test]
    fn a_chromium_sdp_parses() {
        let sdp = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:4ZcD\r\na=ice-pwd:2/1muCWoOi3uLifh0NuRHlf\r\na=ice-options:trickle\r\na=fingerprint:sha-256 75:74:5A:A6:A4:E5:52:F4:A7:67:4C:01:C7:EE:91:3F:21:3D:A2:E3:53:7B:6F:30:86:F2:30:AA:65:FB:04:24\r\na=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";
        let f = Fingerprint::from_sdp(sdp).unwrap();
        assert_eq!(f.0[0], 0x75);
        assert_eq!(f.0[31], 0x24);
        assert_eq!(
            f.to_string(),
            "sha-256 75:74:5A:A6:A4:E5:52:F4:A7:67:4C:01:C7:EE:91:3F:21:3D:A2:E3:53:7B:6F:30:86:F2:30:AA:65:FB:04:24"
        );
    }

    #[test]
    fn proof_message_is_unambiguous() {
        let a = proof_message("abcdefghijklmnopq", &fp(1));
        let b = proof_message("abcdefghijklmnop", &fp(1));
        assert_ne!(a, b);
        assert!(a.starts_with(PROOF_DOMAIN));
        assert_eq!(a.len(), PROOF_DOMAIN.len() + 1 + 17 + 1 + 32);
        assert_ne!(proof_message(ROOM, &fp(1)), proof_message(ROOM, &fp(2)));
    }

    #[test]
    fn peer_ids_come_from_keys() {
        let (_, a) = key(1);
        let (_, b) = key(2);
        let id = peer_id_from_public_key(&a);
        assert_eq!(id.len(), crate::ids::GENERATED_ID_LEN);
        crate::ids::validate_peer_id(&id).unwrap();
        assert_eq!(id, peer_id_from_public_key(&a));
        assert_ne!(id, peer_id_from_public_key(&b));
    }

    #[test]
    fn base64url_round_trips_and_is_strict() {
        for len in 0..70 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64url_decode(&base64url(&bytes)), Some(bytes));
        }
        assert_eq!(base64url_decode("Zg=="), None, "padding is refused");
        assert_eq!(
            base64url_decode("Zh"),
            None,
            "non-canonical trailing bits are refused"
        );
        assert_eq!(
            base64url_decode("Z+8"),
            None,
            "the standard alphabet is refused"
        );
        assert_eq!(base64url_decode("Z"), None);
    }

    #[test]
    fn proof_and_room_mode_frames() {
        use crate::wire::PeerFrame;
        let (sk, raw) = key(1);
        let made = make(&sk, &raw, ROOM, &fp(0xAB));
        let proof = |ask| PeerFrame::Proof {
            public_key: made.public_key.clone(),
            fingerprint: made.fingerprint.clone(),
            signature: made.signature.clone(),
            ask,
        };
        let frame = proof(false);
        let text = frame.encode();
        assert!(
            text.starts_with(r#"{"type":"proof","public_key":""#),
            "{text}"
        );
        assert_eq!(PeerFrame::decode(&text).unwrap(), frame);
        assert_eq!(frame.transfer_id(), None);
        // `ask` is sent only when true, and a proof without it (an older browser) does not ask.
        assert!(!text.contains("ask"), "{text}");
        let asking = proof(true);
        let asking_text = asking.encode();
        assert!(asking_text.ends_with(r#","ask":true}"#), "{asking_text}");
        assert_eq!(PeerFrame::decode(&asking_text).unwrap(), asking);
        let not_a_flag = asking_text.replace(r#""ask":true"#, r#""ask":"yes""#);
        assert!(PeerFrame::decode(&not_a_flag).is_err(), "{not_a_flag}");
        let mode = PeerFrame::RoomMode { keep_nothing: true };
        assert_eq!(mode.encode(), r#"{"type":"room-mode","keep_nothing":true}"#);
        assert_eq!(PeerFrame::decode(&mode.encode()).unwrap(), mode);

        let bad = |public_key: &str, fingerprint: &str, signature: &str| {
            let text = serde_json::json!({"type": "proof", "public_key": public_key,
                "fingerprint": fingerprint, "signature": signature})
            .to_string();
            assert!(PeerFrame::decode(&text).is_err(), "{text}");
        };
        bad("nope", &made.fingerprint, &made.signature);
        bad(&made.public_key, "sha-1 AB", &made.signature);
        bad(&made.public_key, &made.fingerprint, &base64url(&[1; 10]));
        bad(&made.public_key, &made.fingerprint, &"A".repeat(60_000));
        for text in [
            r#"{"type":"proof"}"#,
            r#"{"type":"proof","public_key":1,"fingerprint":"","signature":""}"#,
            r#"{"type":"room-mode"}"#,
            r#"{"type":"room-mode","keep_nothing":"yes"}"#,
        ] {
            assert!(PeerFrame::decode(text).is_err(), "{text}");
        }
    }

    #[test]
    fn safety_code_is_symmetric_and_distinguishes_keys() {
        let (_, a) = key(1);
        let (_, b) = key(2);
        let (_, c) = key(3);
        let code = safety_code(&a, &b);
        assert_eq!(code, safety_code(&b, &a));
        assert_ne!(code, safety_code(&a, &c));
        assert_ne!(code, safety_code(&c, &b));
        assert_eq!(code.len(), SAFETY_CODE_DIGITS + SAFETY_CODE_DIGITS / 4 - 1);
        let groups: Vec<&str> = code.split(' ').collect();
        assert_eq!(groups.len(), 5);
        assert!(groups
            .iter()
            .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit())));
    }

    /// Two browsers run [`ProofExchange`] over a channel that loses the proofs picked by `lost_a` (A to B) and
    /// `lost_b` (B to A): bit `i` set loses that side's `i`-th proof. Every proof that arrives is checked at once.
    /// Runs the client's schedule (open, then an interval tick until it gives up after five intervals) and
    /// returns both exchanges and how many proofs each side sent.
    fn exchange_over(lost_a: u32, lost_b: u32) -> ([ProofExchange; 2], [u32; 2]) {
        let mut sides = [ProofExchange::new(), ProofExchange::new()];
        let lost = [lost_a, lost_b];
        let mut sent = [0u32; 2];
        // Proofs in flight: (from, ask).
        let mut wire: std::collections::VecDeque<(usize, bool)> = Default::default();
        let send = |from: usize,
                    ask: bool,
                    sent: &mut [u32; 2],
                    wire: &mut std::collections::VecDeque<_>| {
            let index = sent[from];
            sent[from] += 1;
            if index >= 32 || lost[from] & (1 << index) == 0 {
                wire.push_back((from, ask));
            }
        };
        for (side, exchange) in sides.iter_mut().enumerate() {
            if let Some(ask) = exchange.on_open() {
                send(side, ask, &mut sent, &mut wire);
            }
        }
        let deliver = |sides: &mut [ProofExchange; 2],
                       sent: &mut [u32; 2],
                       wire: &mut std::collections::VecDeque<(usize, bool)>| {
            let mut steps = 0;
            while let Some((from, ask)) = wire.pop_front() {
                steps += 1;
                assert!(steps < 1_000, "the two sides keep each other sending");
                let to = 1 - from;
                if let Some(answer_ask) = sides[to].on_checked(ask) {
                    send(to, answer_ask, sent, wire);
                }
            }
        };
        deliver(&mut sides, &mut sent, &mut wire);
        for _tick in 1..=5 {
            for (side, exchange) in sides.iter_mut().enumerate() {
                if let Some(ask) = exchange.on_interval() {
                    send(side, ask, &mut sent, &mut wire);
                }
            }
            deliver(&mut sides, &mut sent, &mut wire);
        }
        (sides, sent)
    }

    #[test]
    fn proof_exchange_without_loss_sends_a_proof_and_one_answer_each() {
        let (sides, sent) = exchange_over(0, 0);
        assert!(sides.iter().all(ProofExchange::has_checked_theirs));
        // Both opened asking; each answered the other's ask once.
        assert_eq!(sent, [2, 2]);
    }

    #[test]
    fn proof_exchange_recovers_from_any_few_losses_and_always_stops() {
        let limit = 1 + MAX_PROOF_ASKS + MAX_PROOF_ANSWERS;
        for lost_a in 0..(1u32 << 8) {
            for lost_b in 0..(1u32 << 8) {
                let (sides, sent) = exchange_over(lost_a, lost_b);
                assert!(
                    sent.iter().all(|&n| n <= limit),
                    "lost {lost_a:08b}/{lost_b:08b}: sent {sent:?}, over {limit}"
                );
                if lost_a.count_ones() + lost_b.count_ones() <= MAX_PROOF_ASKS {
                    assert!(
                        sides.iter().all(ProofExchange::has_checked_theirs),
                        "lost {lost_a:08b}/{lost_b:08b}: a side never checked the other's proof"
                    );
                }
            }
        }
        // Losing every proof one way: the receiving side asks MAX_PROOF_ASKS times, then gives up.
        let (sides, sent) = exchange_over(0, u32::MAX);
        assert!(sides[1].has_checked_theirs() && !sides[0].has_checked_theirs());
        assert_eq!(sent[0], 1 + MAX_PROOF_ASKS);
    }

    #[test]
    fn proof_exchange_answers_asks_a_bounded_number_of_times() {
        let mut side = ProofExchange::new();
        assert_eq!(side.on_open(), Some(true));
        let answers = (0..100)
            .filter_map(|_| side.on_checked(true))
            .collect::<Vec<_>>();
        assert_eq!(
            answers,
            vec![false; MAX_PROOF_ANSWERS as usize],
            "answers never ask"
        );
        assert_eq!(
            side.on_checked(false),
            None,
            "a proof that does not ask is not answered"
        );
        assert_eq!(side.on_interval(), None, "no asking once theirs is checked");
        assert_eq!(
            side.on_open(),
            Some(false),
            "a reopened channel sends ours without asking"
        );
    }
}
