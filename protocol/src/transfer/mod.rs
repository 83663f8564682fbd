//! File transfer between the two browsers: sans-IO state machines for sending and receiving files of up to
//! [`MAX_FILE_BYTES`], with backpressure, batched storage, SHA-256 verification and resume after a reload.
//!
//! # Contract
//!
//! Nothing here does IO or reads a clock. The client owns the `twain-files` data channel (ordered, reliable), the
//! picked `File`s and IndexedDB; it feeds what happens into a [`Transfers`] (one per peer connection, holding a
//! [`Sender`] and a [`Receiver`]) and drains what to do from [`Transfers::poll_output`], like str0m's
//! `handle_*` / `poll_output`:
//!
//! ```text
//!   twain-files open / close      -> on_open() / on_close()
//!   text message on twain-files   -> handle_text(&str)       binary message -> handle_binary(&[u8])
//!   person picks a file           -> check_size, hash it with Sha256, FileMeta::for_upload, send_file(id, meta)
//!   person cancels / retries      -> cancel(id) / retry(id)
//!   after a reload                -> restore(snapshot) for each persisted IncomingSnapshot, then on_open()
//!   loop { match poll_output(channel.bufferedAmount) {
//!       SendFrame(f)  -> channel.send(f.encode())           SendChunk(b) -> channel.send(b) (binary)
//!       Read(r)       -> read r.len bytes at r.offset (Blob.slice), then read_done(&r, bytes) / read_failed
//!       Store(batch)  -> write batch.bytes + batch.snapshot in one IndexedDB transaction, then stored(id, seq)
//!       SaveSnapshot(s) -> persist s                          Discard(id) -> delete its batches and snapshot
//!       Confirm{id, digest} -> check its stored batches add up to the file's size, then verified(id, digest)
//!       Verify(id)    -> (restored transfers) hash its stored batches in order, then verified(id, digest)
//!       Event(e)      -> update the UI (on Received: the batches are the file; drop its snapshot)
//!       WaitForBufferedAmountLow -> stop; poll again on `bufferedamountlow` (threshold LOW_WATER)
//!       Idle          -> stop; poll again after the next input
//!   } }
//! ```
//!
//! Drive `poll_output` from one task (inputs only wake it) and carry outputs out in order (a `Discard` after the
//! `Store` before it). Peer input never panics: a
//! bad frame is refused with a [`ProtocolError`](crate::ProtocolError) whose text is a sentence, and leaves
//! every transfer as it was, so nothing already stored is lost.
//!
//! # Policy
//!
//! - **Two channels.** Chat stays on `twain`; file frames (JSON control and binary chunks) go on `twain-files`,
//!   so a file-offer always precedes its chunks and chunks arrive in order.
//! - **Backpressure.** A new read is started only while the channel's `bufferedAmount` is below [`HIGH_WATER`]
//!   (1 MiB); at or above it the sender waits for `bufferedamountlow` ([`LOW_WATER`], 256 KiB). At most one read
//!   of [`READ_CHUNKS`] chunks is outstanding, so the send queue never holds more than about
//!   `HIGH_WATER + READ_BYTES` (≈ 1.1 MiB), far below Chromium's 16 MiB limit, and a chat message on the other
//!   channel never waits behind megabytes of file data even without SCTP stream interleaving.
//! - **Fairness.** Transfers being sent take turns, one read (up to 128 KiB) each, round-robin. At most
//!   [`MAX_ACTIVE_TRANSFERS`] are offered at once; later ones wait in a queue and are offered as slots free up.
//! - **Auto-accept.** The receiver accepts every valid offer (no prompt, like most drop tools) and starts
//!   storing; the person can cancel. No chunk is sent before `file-accept`, so a refused file costs nothing.
//! - **Storage.** The receiver writes ~[`BATCH_BYTES`] batches starting at multiples of [`BATCH_CHUNKS`]
//!   (so rewriting a batch after a reload is idempotent), plus a partial batch when the channel closes. Progress
//!   counts the bytes received in order; what is stored trails it by the batch being filled and any being written.
//! - **Resume.** On reconnect the sender offers its unfinished transfers again and the receiver asks
//!   `file-resume` for what it holds; whichever arrives first restarts the stream at the receiver's `next_seq`,
//!   the duplicate is ignored. A sender that no longer has the file answers `file-unavailable`.
//!
//! The wire format and the resume sequence are written out in `docs/PROTOCOL.md` ("File transfer").

pub mod frame;
pub mod hash;
pub mod meta;
pub mod progress;
pub mod receiver;
pub mod sender;

mod endpoint;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use endpoint::{TransferState, TransferView, Transfers};
pub use frame::{chunk_header, ChunkFrame, CHUNK_HEADER_BYTES};
pub use hash::{hex, parse_sha256_hex, Sha256};
pub use meta::{check_size, sanitize_file_name, validate_file_name, FileMeta, TransferId};
pub use progress::{format_bytes, format_duration, Progress};
pub use receiver::{IncomingSnapshot, Receiver, StoreBatch};
pub use sender::{ReadRequest, Sender};

use crate::wire::PeerFrame;

/// Bytes of file content per chunk frame (the last chunk of a file may be shorter).
pub const CHUNK_SIZE: usize = 16 * 1024;
/// Largest file that can be sent: 200 MB. Bigger files are refused before anything is sent.
pub const MAX_FILE_BYTES: u64 = 200_000_000;
/// Chunks in the largest file.
pub const MAX_CHUNKS: u32 = MAX_FILE_BYTES.div_ceil(CHUNK_SIZE as u64) as u32;
/// The sender starts no new read while the channel's `bufferedAmount` is at or above this.
pub const HIGH_WATER: u64 = 1024 * 1024;
/// `bufferedAmountLowThreshold` for `twain-files`: the sender resumes when the queue drains below this.
pub const LOW_WATER: u64 = 256 * 1024;
/// Chromium closes a data channel whose send queue would exceed this; we stay far below it.
pub const MAX_SEND_QUEUE: u64 = 16 * 1024 * 1024;
/// Chunks read from the file at once (one `Blob.slice`).
pub const READ_CHUNKS: u32 = 8;
/// Bytes read from the file at once.
pub const READ_BYTES: usize = READ_CHUNKS as usize * CHUNK_SIZE;
/// The receiver stores what arrived in batches of about this many bytes (one IndexedDB record each). Measured
/// in headless Chromium writing 200 MiB as Blob records: 4 MiB records cost the browser ~30% less CPU than
/// 1 MiB ones (0.85 vs 1.25 s in the browser process, 0.9 vs 1.1 s in the page), and on a 2-core machine that
/// CPU is taken from the transfer itself. A reload loses at most one unstored batch, which is sent again.
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Chunks per stored batch.
pub const BATCH_CHUNKS: u32 = (BATCH_BYTES / CHUNK_SIZE) as u32;
/// Longest announced file name, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// Longest MIME type, in bytes.
pub const MAX_MIME_CHARS: usize = 255;
/// Longest `message` in a `file-cancel`, in characters.
pub const MAX_CANCEL_MESSAGE_CHARS: usize = 300;
/// Transfers in flight at once in each direction (each may hold one unstored batch in the receiver's memory).
pub const MAX_ACTIVE_TRANSFERS: usize = 8;
/// Unfinished incoming transfers a receiver keeps, including interrupted ones.
pub const MAX_KNOWN_INCOMING: usize = 64;
/// Ended transfers each side remembers, to answer a late offer or resume consistently.
pub const CLOSED_MEMORY: usize = 256;

const _: () = assert!(HIGH_WATER + (READ_BYTES as u64) * 2 < MAX_SEND_QUEUE);
const _: () = assert!(LOW_WATER < HIGH_WATER);
const _: () = assert!(BATCH_BYTES.is_multiple_of(CHUNK_SIZE));

/// Why a transfer ended without delivery (`reason` in `file-cancel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CancelReason {
    /// A person cancelled it.
    Cancelled,
    /// The receiver refused the offer: a rule was broken or too many files are in flight.
    Refused,
    /// The stored file's SHA-256 did not match the announced one.
    Damaged,
    /// Something failed on the side that cancelled: the file could not be read, storage is full...
    Failed,
    /// A reason this version does not know (sent by a newer peer).
    #[serde(other)]
    Other,
}

/// Which way a transfer goes, seen from this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Outgoing,
    Incoming,
}

/// What the client must do next; see the module docs for the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `frame.encode()` as a text message on `twain-files`.
    SendFrame(PeerFrame),
    /// Send these bytes as a binary message on `twain-files`.
    SendChunk(Vec<u8>),
    /// Read the outgoing file's bytes `offset..offset + len`, then call `read_done` (or `read_failed`).
    Read(ReadRequest),
    /// Write the batch and its snapshot (one IndexedDB transaction), then call `stored(transfer_id, first_seq)`.
    Store(StoreBatch),
    /// Persist this snapshot of a new incoming transfer (nothing stored yet), so a reload can resume it.
    SaveSnapshot(IncomingSnapshot),
    /// Every byte of a transfer received entirely by this engine is stored, and `digest` is the SHA-256 of the
    /// bytes handed to storage (hashed as they arrived; see [`receiver`]). Check that the stored batches are all
    /// there (their sizes add up to the file's), then call `verified(transfer_id, digest)`, or `store_failed`.
    Confirm {
        transfer_id: TransferId,
        digest: [u8; 32],
    },
    /// Every byte of a transfer restored after a reload is stored: read its batches in order, feed them to a
    /// [`Sha256`], then call `verified(transfer_id, digest)`.
    Verify(TransferId),
    /// Delete every stored batch and the snapshot of this incoming transfer.
    Discard(TransferId),
    /// Something for the person to see.
    Event(Event),
    /// `bufferedAmount` is at or above [`HIGH_WATER`]: poll again on `bufferedamountlow`.
    WaitForBufferedAmountLow,
    /// Nothing to do until the next input.
    Idle,
}

/// What the UI shows. Every sentence is ready to display as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new incoming file, already accepted: show a card. Chunks follow.
    Incoming {
        transfer_id: TransferId,
        meta: FileMeta,
        /// [`sanitize_file_name`] of the announced name: save under this.
        download_name: String,
    },
    /// Incoming file stored and verified: offer it as a download (its batches, in order, make the file).
    Received { transfer_id: TransferId },
    /// Outgoing file stored and verified by the other side.
    Delivered { transfer_id: TransferId },
    /// The transfer ended without delivery. For an incoming one, its stored data is discarded.
    Ended {
        transfer_id: TransferId,
        direction: Direction,
        reason: CancelReason,
        by_peer: bool,
        /// A sentence for the person.
        message: String,
    },
    /// Incoming transfer interrupted: the sender no longer has the file. What was stored is kept, and
    /// [`Transfers::retry`] (or the next reconnect) asks again.
    Interrupted { transfer_id: TransferId },
}

/// The sentence shown when a transfer ends: the peer's own message if it sent one, else one for the reason.
fn ended_message(reason: CancelReason, by_peer: bool, peer_message: &str) -> String {
    if by_peer && !peer_message.trim().is_empty() {
        return format!("The other side stopped the transfer: {peer_message}");
    }
    match (reason, by_peer) {
        (CancelReason::Cancelled, false) => "You cancelled the transfer.".into(),
        (CancelReason::Cancelled, true) => "The other side cancelled the transfer.".into(),
        (CancelReason::Refused, _) => "The other side refused the file.".into(),
        (CancelReason::Damaged, _) => {
            "The file arrived damaged (its SHA-256 does not match), so it was discarded.".into()
        }
        (CancelReason::Failed, true) | (CancelReason::Other, true) => {
            "The transfer failed on the other side.".into()
        }
        (CancelReason::Failed, false) | (CancelReason::Other, false) => {
            "The transfer failed.".into()
        }
    }
}

/// Cuts a sentence to [`MAX_CANCEL_MESSAGE_CHARS`] so it always fits in a `file-cancel`.
fn cancel_message(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_CANCEL_MESSAGE_CHARS)
        .collect()
}

/// How an ended transfer ended, remembered for late frames about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Cancelled(CancelReason),
}

/// The last [`CLOSED_MEMORY`] ended transfers.
#[derive(Debug, Clone, Default)]
struct Closed(std::collections::VecDeque<(TransferId, Outcome)>);

impl Closed {
    fn insert(&mut self, id: TransferId, outcome: Outcome) {
        self.0.retain(|(i, _)| *i != id);
        if self.0.len() >= CLOSED_MEMORY {
            self.0.pop_front();
        }
        self.0.push_back((id, outcome));
    }

    fn get(&self, id: TransferId) -> Option<Outcome> {
        self.0.iter().find(|(i, _)| *i == id).map(|(_, o)| *o)
    }
}
