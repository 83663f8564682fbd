//! Property tests of the identity-proof decoders in [`twain_protocol::verify`]: everything they read comes from the
//! other browser (a `proof` frame, a remote SDP), so no input may panic them, and what they accept is canonical.

use proptest::prelude::*;
use twain_protocol::ids::base64url;
use twain_protocol::verify::{
    base64url_decode, decode_public_key, validate_proof_fields, Fingerprint,
};

fn fingerprint_text(bytes: &[u8], lower: bool) -> String {
    let hex: Vec<String> = bytes
        .iter()
        .map(|b| {
            if lower {
                format!("{b:02x}")
            } else {
                format!("{b:02X}")
            }
        })
        .collect();
    format!("sha-256 {}", hex.join(":"))
}

/// Text shaped like the inputs: fingerprints of any length and case, SDP lines, base64url of any length.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,120}",
        "[A-Za-z0-9_=+/-]{0,100}",
        (proptest::collection::vec(any::<u8>(), 0..40), any::<bool>())
            .prop_map(|(b, lower)| fingerprint_text(&b, lower)),
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(|b| base64url(&b)),
        (
            proptest::collection::vec(any::<u8>(), 30..34),
            ".{0,20}",
            any::<bool>()
        )
            .prop_map(|(b, junk, twice)| {
                let line = format!("a=fingerprint:{}", fingerprint_text(&b, false));
                let extra = if twice { line.clone() } else { String::new() };
                format!("v=0\r\n{line}\r\n{junk}\r\nm=application 9\r\n{extra}\r\n")
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Base64url decoding never panics and accepts exactly the canonical encodings.
    #[test]
    fn base64url_decode_is_the_inverse_of_encode(bytes in proptest::collection::vec(any::<u8>(), 0..80), text in hostile()) {
        prop_assert_eq!(base64url_decode(&base64url(&bytes)), Some(bytes));
        if let Some(decoded) = base64url_decode(&text) {
            prop_assert_eq!(base64url(&decoded), text);
        }
    }

    /// Fingerprints: never a panic; a well-formed SHA-256 fingerprint parses to its bytes in either case.
    #[test]
    fn fingerprints_parse_or_refuse(text in hostile(), bytes in any::<[u8; 32]>(), lower in any::<bool>()) {
        let _ = Fingerprint::parse(&text);
        let _ = Fingerprint::from_sdp(&text);
        let good = fingerprint_text(&bytes, lower);
        prop_assert_eq!(Fingerprint::parse(&good).unwrap().0, bytes);
        let sdp = format!("v=0\r\na=fingerprint:{good}\r\nm=application 9\r\na=fingerprint:{good}\r\n");
        prop_assert_eq!(Fingerprint::from_sdp(&sdp).unwrap().0, bytes);
    }

    /// Public keys and proof fields from a peer: never a panic; only valid P-256 points pass.
    #[test]
    fn proof_fields_never_panic(key in hostile(), fingerprint in hostile(), signature in hostile()) {
        if let Ok(raw) = decode_public_key(&key) {
            prop_assert_eq!(raw.len(), 65);
            prop_assert_eq!(raw[0], 4);
        }
        let _ = validate_proof_fields(&key, &fingerprint, &signature);
    }
}
