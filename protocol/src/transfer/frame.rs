//! The binary chunk frame, sent on the `twain-files` data channel as a binary message.
//!
//! ```text
//! offset  size  field
//!      0     1  kind: 0x01 = chunk (other values are reserved and refused)
//!      1    16  transfer id (raw bytes)
//!     17     4  seq: chunk number, u32 big-endian, 0-based
//!     21   1..  payload: 1..=CHUNK_SIZE bytes of file content, at offset seq * CHUNK_SIZE
//! ```
//!
//! Decoding hostile bytes returns an error and never panics.

use super::{TransferId, CHUNK_SIZE};
use crate::ProtocolError;

/// Kind tag of a chunk frame.
pub const KIND_CHUNK: u8 = 0x01;
/// Bytes before the payload: kind, transfer id, seq.
pub const CHUNK_HEADER_BYTES: usize = 1 + 16 + 4;
/// Largest binary frame accepted.
pub const MAX_CHUNK_FRAME_BYTES: usize = CHUNK_HEADER_BYTES + CHUNK_SIZE;

/// One chunk of a file, borrowing its payload from the received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkFrame<'a> {
    pub transfer_id: TransferId,
    pub seq: u32,
    pub payload: &'a [u8],
}

impl<'a> ChunkFrame<'a> {
    /// Encodes the frame into a fresh buffer (header + payload, one allocation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHUNK_HEADER_BYTES + self.payload.len());
        out.extend_from_slice(&chunk_header(self.transfer_id, self.seq));
        out.extend_from_slice(self.payload);
        out
    }

    /// Decodes and checks a binary message: kind, header length, payload 1..=[`CHUNK_SIZE`] bytes.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, ProtocolError> {
        let Some(&kind) = bytes.first() else {
            return Err(ProtocolError::Malformed("the binary frame is empty".into()));
        };
        if kind != KIND_CHUNK {
            return Err(ProtocolError::Malformed(format!(
                "unknown binary frame kind 0x{kind:02x}"
            )));
        }
        if bytes.len() > MAX_CHUNK_FRAME_BYTES {
            return Err(ProtocolError::TooLarge {
                size: bytes.len(),
                limit: MAX_CHUNK_FRAME_BYTES,
            });
        }
        let (Some(id), Some(seq), Some(payload)) = (
            bytes.get(1..17),
            bytes.get(17..21),
            bytes.get(CHUNK_HEADER_BYTES..),
        ) else {
            return Err(ProtocolError::Malformed(format!(
                "the chunk frame is {} bytes, shorter than its {CHUNK_HEADER_BYTES}-byte header",
                bytes.len()
            )));
        };
        if payload.is_empty() {
            return Err(ProtocolError::Malformed("the chunk carries no data".into()));
        }
        let mut id_bytes = [0u8; 16];
        id_bytes.copy_from_slice(id);
        let mut seq_bytes = [0u8; 4];
        seq_bytes.copy_from_slice(seq);
        Ok(ChunkFrame {
            transfer_id: TransferId(id_bytes),
            seq: u32::from_be_bytes(seq_bytes),
            payload,
        })
    }
}

/// The 21-byte header of a chunk frame, for callers that assemble the message themselves.
pub fn chunk_header(transfer_id: TransferId, seq: u32) -> [u8; CHUNK_HEADER_BYTES] {
    let mut out = [0u8; CHUNK_HEADER_BYTES];
    out[0] = KIND_CHUNK;
    out[1..17].copy_from_slice(transfer_id.as_bytes());
    out[17..21].copy_from_slice(&seq.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: TransferId = TransferId([7; 16]);

    #[test]
    fn round_trip_and_layout() {
        let payload = [1u8, 2, 3];
        let frame = ChunkFrame {
            transfer_id: ID,
            seq: 0x0102_0304,
            payload: &payload,
        };
        let bytes = frame.encode();
        assert_eq!(bytes[0], KIND_CHUNK);
        assert_eq!(&bytes[1..17], &[7; 16]);
        assert_eq!(&bytes[17..21], &[1, 2, 3, 4]);
        assert_eq!(&bytes[21..], &payload);
        assert_eq!(ChunkFrame::decode(&bytes).unwrap(), frame);
        let full = vec![9u8; CHUNK_SIZE];
        let frame = ChunkFrame {
            transfer_id: ID,
            seq: u32::MAX,
            payload: &full,
        };
        assert_eq!(ChunkFrame::decode(&frame.encode()).unwrap(), frame);
    }

    fn check_err(bytes: &[u8], expected: &str) {
        let err = ChunkFrame::decode(bytes).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }

    #[test]
    fn hostile_frames_are_refused() {
        check_err(&[], "empty");
        check_err(&[0x02; 40], "unknown binary frame kind 0x02");
        check_err(&[0x7b, b'"'], "unknown binary frame kind 0x7b");
        check_err(&[KIND_CHUNK; 20], "shorter than its 21-byte header");
        check_err(&chunk_header(ID, 0), "no data");
        let mut huge = chunk_header(ID, 0).to_vec();
        huge.resize(MAX_CHUNK_FRAME_BYTES + 1, 0);
        assert!(matches!(
            ChunkFrame::decode(&huge),
            Err(ProtocolError::TooLarge { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ChunkFrame::decode(&bytes);
        }

        #[test]
        fn chunk_shaped_bytes_never_panic(seq in any::<u32>(), len in 0usize..CHUNK_SIZE + 40) {
            let mut bytes = chunk_header(ID, seq).to_vec();
            bytes.resize(CHUNK_HEADER_BYTES + len, 0xAA);
            match ChunkFrame::decode(&bytes) {
                Ok(f) => prop_assert!(f.seq == seq && !f.payload.is_empty() && f.payload.len() <= CHUNK_SIZE),
                Err(_) => prop_assert!(len == 0 || len > CHUNK_SIZE),
            }
        }
    }
}
