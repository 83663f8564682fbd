//! The receiving side: accepts offers, checks every chunk, batches them for storage, asks for verification,
//! and resumes after a reconnect or a reload.
//!
//! Per transfer: `Receiving` (chunks arrive; batches go to storage) → `Verifying` (every byte stored; the client
//! checks what it stored) → gone (received, or cancelled and discarded). `Interrupted` means the sender no longer
//! has the file: what was stored stays, and a retry or the next reconnect asks again.
//!
//! # Checking the SHA-256
//!
//! Every accepted chunk is hashed as it goes into its batch, in file order, so when the last batch is stored the
//! digest of exactly the bytes handed to storage is known at once: no second pass over 200 MB at the end. The
//! client only confirms that every stored batch is there (their sizes add up, [`Output::Confirm`]) before the
//! digest is compared. A transfer restored after a reload has part of its bytes only on disk; those are not
//! hashed again on every page load. Instead, once everything is stored the client reads every stored batch back
//! and hashes it ([`Output::Verify`]), so bytes that spent time on disk are checked as they are there.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{
    cancel_message, ended_message, hash::hex, sanitize_file_name, CancelReason, ChunkFrame, Closed,
    Direction, Event, FileMeta, Outcome, Output, Sha256, TransferId, BATCH_BYTES, BATCH_CHUNKS,
    MAX_ACTIVE_TRANSFERS, MAX_KNOWN_INCOMING,
};
use crate::wire::PeerFrame;
use crate::ProtocolError;

/// What the receiver persists about an unfinished incoming transfer so it can resume after a reload: everything
/// before `next_seq` (`stored_bytes` bytes) is in storage. Serialize it with serde (JSON or serde-wasm-bindgen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingSnapshot {
    pub transfer_id: TransferId,
    pub meta: FileMeta,
    /// First chunk not stored.
    pub next_seq: u32,
    /// Bytes stored: the content of chunks `0..next_seq`.
    pub stored_bytes: u64,
}

/// A batch of consecutive chunks to store as one record, keyed by `(transfer_id, first_seq)`. Its bytes are the
/// file's bytes `offset..offset + bytes.len()`. Write it together with `snapshot` (the state once it is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreBatch {
    pub transfer_id: TransferId,
    pub first_seq: u32,
    pub offset: u64,
    pub bytes: Vec<u8>,
    pub snapshot: IncomingSnapshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InState {
    Receiving,
    Verifying,
    Interrupted,
}

#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(crate) id: TransferId,
    pub(crate) meta: FileMeta,
    pub(crate) download_name: String,
    pub(crate) state: InState,
    /// Next chunk expected from the channel.
    next_seq: u32,
    /// Received, not yet handed out for storage: chunks `pending_first_seq..next_seq`.
    pending: Vec<u8>,
    pending_first_seq: u32,
    /// Batches handed out for storage and not yet confirmed: (first_seq, end_seq).
    in_flight: VecDeque<(u32, u32)>,
    /// Chunks `0..stored_seq` are confirmed stored.
    stored_seq: u32,
    /// SHA-256 of chunks `0..next_seq`, when every one of them was received by this engine (not when some were
    /// restored from storage: those are checked by reading them back).
    hasher: Option<Sha256>,
}

impl Incoming {
    fn new(id: TransferId, meta: FileMeta, stored_seq: u32) -> Self {
        Incoming {
            hasher: (stored_seq == 0).then(Sha256::new),
            id,
            download_name: sanitize_file_name(&meta.name),
            meta,
            state: InState::Receiving,
            next_seq: stored_seq,
            pending: Vec::new(),
            pending_first_seq: stored_seq,
            in_flight: VecDeque::new(),
            stored_seq,
        }
    }

    fn snapshot_at(&self, stored_seq: u32) -> IncomingSnapshot {
        IncomingSnapshot {
            transfer_id: self.id,
            meta: self.meta.clone(),
            next_seq: stored_seq,
            stored_bytes: self.meta.bytes_before(stored_seq),
        }
    }

    /// Bytes received in order so far: stored, being stored, or waiting to fill the next batch. A resume asks
    /// for what follows them, so none of them is fetched again.
    pub(crate) fn received_bytes(&self) -> u64 {
        self.meta.bytes_before(self.next_seq)
    }

    fn all_received(&self) -> bool {
        self.next_seq == self.meta.chunk_count()
    }

    /// Hands the pending bytes out as a batch.
    fn take_batch(&mut self) -> Option<StoreBatch> {
        if self.pending.is_empty() {
            return None;
        }
        let first_seq = self.pending_first_seq;
        let end_seq = self.next_seq;
        self.in_flight.push_back((first_seq, end_seq));
        self.pending_first_seq = end_seq;
        Some(StoreBatch {
            transfer_id: self.id,
            first_seq,
            offset: FileMeta::chunk_offset(first_seq),
            bytes: std::mem::take(&mut self.pending),
            snapshot: self.snapshot_at(end_seq),
        })
    }
}

/// Receives any number of files from the other browser. See the [module docs](super) for the calling loop.
#[derive(Debug, Default)]
pub struct Receiver {
    pub(crate) incoming: Vec<Incoming>,
    connected: bool,
    out: VecDeque<Output>,
    closed: Closed,
}

impl Receiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Re-creates an unfinished transfer from its persisted snapshot, after a reload. Call before
    /// [`on_connected`](Self::on_connected), which then asks the sender to resume. A snapshot that breaks a rule
    /// is refused (delete its data).
    pub fn restore(&mut self, snapshot: IncomingSnapshot) -> Result<(), ProtocolError> {
        snapshot.meta.validate()?;
        let IncomingSnapshot {
            transfer_id,
            meta,
            next_seq,
            stored_bytes,
        } = snapshot;
        if next_seq > meta.chunk_count() || stored_bytes != meta.bytes_before(next_seq) {
            return Err(ProtocolError::Invalid(format!(
                "the saved progress of {} is inconsistent",
                meta.name
            )));
        }
        if self.find(transfer_id).is_some() {
            return Err(ProtocolError::Invalid(format!(
                "{} is already being received",
                meta.name
            )));
        }
        if self.incoming.len() >= MAX_KNOWN_INCOMING {
            return Err(ProtocolError::Invalid(
                "too many unfinished files are saved".into(),
            ));
        }
        let t = Incoming::new(transfer_id, meta, next_seq);
        self.out.push_back(Output::Event(Event::Incoming {
            transfer_id,
            meta: t.meta.clone(),
            download_name: t.download_name.clone(),
        }));
        self.incoming.push(t);
        self.check_done(self.incoming.len() - 1);
        Ok(())
    }

    /// Handles a frame from the other browser. Frames for the sending side are ignored. A frame that breaks a
    /// rule is refused and changes nothing already received.
    pub fn handle_frame(&mut self, frame: &PeerFrame) -> Result<(), ProtocolError> {
        match frame {
            PeerFrame::FileOffer {
                transfer_id,
                name,
                size,
                mime,
                sha256,
            } => self.handle_offer(
                *transfer_id,
                FileMeta {
                    name: name.clone(),
                    size: *size,
                    mime: mime.clone(),
                    sha256: sha256.clone(),
                },
            ),
            PeerFrame::FileCancel {
                transfer_id,
                reason,
                message,
            } => {
                if self.remove(*transfer_id).is_some() {
                    self.closed
                        .insert(*transfer_id, Outcome::Cancelled(*reason));
                    self.out.push_back(Output::Discard(*transfer_id));
                    self.ended(*transfer_id, *reason, true, message);
                }
                Ok(())
            }
            PeerFrame::FileUnavailable { transfer_id } => {
                if let Some(i) = self.find(*transfer_id) {
                    let t = &mut self.incoming[i];
                    if t.state == InState::Receiving && !t.all_received() {
                        t.state = InState::Interrupted;
                        if let Some(batch) = t.take_batch() {
                            self.out.push_back(Output::Store(batch));
                        }
                        self.out.push_back(Output::Event(Event::Interrupted {
                            transfer_id: *transfer_id,
                        }));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn handle_offer(&mut self, id: TransferId, meta: FileMeta) -> Result<(), ProtocolError> {
        if let Err(e) = meta.validate() {
            self.refuse(id, &e);
            return Err(e);
        }
        match self.closed.get(id) {
            Some(Outcome::Completed) => {
                self.send(PeerFrame::FileComplete { transfer_id: id });
                return Ok(());
            }
            Some(Outcome::Cancelled(reason)) => {
                self.send(PeerFrame::FileCancel {
                    transfer_id: id,
                    reason,
                    message: String::new(),
                });
                return Ok(());
            }
            None => {}
        }
        if let Some(i) = self.find(id) {
            // Offered again after a reconnect: carry on from what we hold.
            let t = &mut self.incoming[i];
            if t.meta != meta {
                return Err(ProtocolError::Invalid(format!(
                    "the other side offered a different file under the id of {}",
                    t.meta.name
                )));
            }
            if t.state == InState::Interrupted {
                t.state = InState::Receiving;
            }
            let next_seq = t.next_seq;
            self.send(PeerFrame::FileAccept {
                transfer_id: id,
                next_seq,
            });
            return Ok(());
        }
        let receiving = self
            .incoming
            .iter()
            .filter(|t| t.state == InState::Receiving)
            .count();
        if receiving >= MAX_ACTIVE_TRANSFERS || self.incoming.len() >= MAX_KNOWN_INCOMING {
            let e = ProtocolError::Invalid(format!(
                "{} was refused: too many files are being received at once",
                meta.name
            ));
            self.refuse(id, &e);
            return Err(e);
        }
        let t = Incoming::new(id, meta, 0);
        self.out.push_back(Output::SaveSnapshot(t.snapshot_at(0)));
        self.out.push_back(Output::Event(Event::Incoming {
            transfer_id: id,
            meta: t.meta.clone(),
            download_name: t.download_name.clone(),
        }));
        self.incoming.push(t);
        self.send(PeerFrame::FileAccept {
            transfer_id: id,
            next_seq: 0,
        });
        self.check_done(self.incoming.len() - 1);
        Ok(())
    }

    /// Refuses an offer: tells the sender why (it shows the sentence) and keeps nothing.
    pub(crate) fn refuse(&mut self, id: TransferId, why: &ProtocolError) {
        if self.find(id).is_some() {
            return;
        }
        self.send(PeerFrame::FileCancel {
            transfer_id: id,
            reason: CancelReason::Refused,
            message: cancel_message(&why.to_string()),
        });
    }

    /// Handles a binary message: a chunk frame. It must be the next chunk of a transfer being received, with
    /// exactly the length its position implies. Anything else is refused and changes nothing.
    pub fn handle_chunk(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        let frame = ChunkFrame::decode(bytes)?;
        let Some(i) = self.find(frame.transfer_id) else {
            if self.closed.get(frame.transfer_id).is_some() {
                // Chunks already on the way when the transfer ended: expected, harmless.
                return Ok(());
            }
            return Err(ProtocolError::Invalid(
                "a file chunk arrived for a transfer that was never offered".into(),
            ));
        };
        let t = &mut self.incoming[i];
        let name = &t.meta.name;
        let count = t.meta.chunk_count();
        if t.state != InState::Receiving || t.all_received() {
            return Err(ProtocolError::Invalid(format!(
                "a chunk of {name} arrived, but no more data was expected for it"
            )));
        }
        if frame.seq >= count {
            return Err(ProtocolError::Invalid(format!(
                "chunk {} of {name} is out of range: the file has {count} chunks",
                frame.seq
            )));
        }
        if frame.seq != t.next_seq {
            return Err(ProtocolError::Invalid(format!(
                "chunk {} of {name} arrived out of order (chunk {} was expected)",
                frame.seq, t.next_seq
            )));
        }
        let expected = t.meta.chunk_len(frame.seq);
        let len = frame.payload.len();
        if len != expected {
            let end = FileMeta::chunk_offset(frame.seq) + len as u64;
            return Err(ProtocolError::Invalid(if end > t.meta.size {
                format!(
                    "chunk {} of {name} carries data beyond the announced size of {} bytes",
                    frame.seq, t.meta.size
                )
            } else {
                format!(
                    "chunk {} of {name} carries {len} bytes instead of {expected}",
                    frame.seq
                )
            }));
        }
        if t.pending.is_empty() {
            t.pending.reserve(
                BATCH_BYTES.min((t.meta.size - FileMeta::chunk_offset(frame.seq)) as usize),
            );
        }
        t.pending.extend_from_slice(frame.payload);
        if let Some(hasher) = &mut t.hasher {
            hasher.update(frame.payload);
        }
        t.next_seq += 1;
        if t.next_seq.is_multiple_of(BATCH_CHUNKS) || t.all_received() {
            if let Some(batch) = t.take_batch() {
                self.out.push_back(Output::Store(batch));
            }
        }
        Ok(())
    }

    /// The client stored the batch starting at `first_seq` (batches are confirmed in the order they were given).
    pub fn stored(&mut self, transfer_id: TransferId, first_seq: u32) -> Result<(), ProtocolError> {
        let Some(i) = self.find(transfer_id) else {
            return Ok(()); // Cancelled meanwhile; its Discard follows.
        };
        let t = &mut self.incoming[i];
        match t.in_flight.front() {
            Some(&(first, end)) if first == first_seq => {
                t.in_flight.pop_front();
                t.stored_seq = end;
            }
            _ => {
                return Err(ProtocolError::Invalid(format!(
                    "no batch of {} starting at chunk {first_seq} was waiting to be stored",
                    t.meta.name
                )))
            }
        }
        self.check_done(i);
        Ok(())
    }

    /// Storing a batch failed (quota, private mode...): the transfer ends and its data is discarded.
    pub fn store_failed(&mut self, transfer_id: TransferId, message: &str) {
        if let Some(i) = self.find(transfer_id) {
            let text = format!(
                "{} could not be saved: {message}",
                self.incoming[i].meta.name
            );
            self.fail(transfer_id, CancelReason::Failed, &text);
        }
    }

    /// The SHA-256 of everything stored for a transfer in [`Output::Verify`] (or the digest of
    /// [`Output::Confirm`]). A match completes it; a mismatch ends it as damaged and discards the data.
    pub fn verified(
        &mut self,
        transfer_id: TransferId,
        digest: [u8; 32],
    ) -> Result<(), ProtocolError> {
        let Some(i) = self.find(transfer_id) else {
            return Ok(());
        };
        let t = &self.incoming[i];
        if t.state != InState::Verifying {
            return Err(ProtocolError::Invalid(format!(
                "{} is not waiting for verification",
                t.meta.name
            )));
        }
        if hex(&digest) == t.meta.sha256 {
            self.remove(transfer_id);
            self.closed.insert(transfer_id, Outcome::Completed);
            self.send(PeerFrame::FileComplete { transfer_id });
            self.out
                .push_back(Output::Event(Event::Received { transfer_id }));
        } else {
            let text = format!(
                "{} arrived damaged (its SHA-256 does not match), so it was discarded.",
                t.meta.name
            );
            self.fail(transfer_id, CancelReason::Damaged, &text);
        }
        Ok(())
    }

    /// The person cancels an incoming transfer: its data is discarded. Returns whether it existed.
    pub fn cancel(&mut self, transfer_id: TransferId) -> bool {
        if self.remove(transfer_id).is_none() {
            return false;
        }
        self.closed
            .insert(transfer_id, Outcome::Cancelled(CancelReason::Cancelled));
        self.send(PeerFrame::FileCancel {
            transfer_id,
            reason: CancelReason::Cancelled,
            message: String::new(),
        });
        self.out.push_back(Output::Discard(transfer_id));
        self.ended(transfer_id, CancelReason::Cancelled, false, "");
        true
    }

    /// Asks the sender again for an interrupted transfer. Returns whether a request was made.
    pub fn retry(&mut self, transfer_id: TransferId) -> bool {
        let Some(i) = self.find(transfer_id) else {
            return false;
        };
        let t = &mut self.incoming[i];
        if t.state != InState::Interrupted || !self.connected {
            return false;
        }
        t.state = InState::Receiving;
        let next_seq = t.next_seq;
        self.send(PeerFrame::FileResume {
            transfer_id,
            next_seq,
        });
        true
    }

    /// The `twain-files` channel opened: ask the sender to resume every transfer that still needs data.
    pub fn on_connected(&mut self) {
        self.connected = true;
        for i in 0..self.incoming.len() {
            let t = &mut self.incoming[i];
            if t.state == InState::Verifying || t.all_received() {
                continue;
            }
            t.state = InState::Receiving;
            let frame = PeerFrame::FileResume {
                transfer_id: t.id,
                next_seq: t.next_seq,
            };
            self.send(frame);
        }
    }

    /// The channel closed. What arrived is handed out for storage now (a partial batch), so a reload loses
    /// nothing that was received.
    pub fn on_disconnected(&mut self) {
        self.connected = false;
        self.out.retain(|o| !matches!(o, Output::SendFrame(_)));
        for i in 0..self.incoming.len() {
            if let Some(batch) = self.incoming[i].take_batch() {
                self.out.push_back(Output::Store(batch));
            }
        }
    }

    /// Whether [`Self::poll_output`] has something to do.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// What to do next (never a backpressure wait: the receiver only sends small frames).
    pub fn poll_output(&mut self) -> Output {
        self.out.pop_front().unwrap_or(Output::Idle)
    }

    /// The persisted state of an unfinished incoming transfer.
    pub fn snapshot(&self, transfer_id: TransferId) -> Option<IncomingSnapshot> {
        self.find(transfer_id)
            .map(|i| self.incoming[i].snapshot_at(self.incoming[i].stored_seq))
    }

    /// Bytes received of an incoming transfer, and its total.
    pub fn progress(&self, transfer_id: TransferId) -> Option<(u64, u64)> {
        self.find(transfer_id).map(|i| {
            (
                self.incoming[i].received_bytes(),
                self.incoming[i].meta.size,
            )
        })
    }

    /// The next chunk expected for a transfer (tests forge chunks with it).
    #[cfg(test)]
    pub(crate) fn next_expected(&self, transfer_id: TransferId) -> Option<u32> {
        self.find(transfer_id).map(|i| self.incoming[i].next_seq)
    }

    /// Whether nothing is being received.
    pub fn is_empty(&self) -> bool {
        self.incoming.is_empty()
    }

    /// Once every byte is received and stored: asks the client to confirm the stored batches are all there (with
    /// the running digest), or, for a transfer restored from storage, to hash what it stored.
    fn check_done(&mut self, i: usize) {
        let t = &mut self.incoming[i];
        if t.state == InState::Receiving
            && t.all_received()
            && t.pending.is_empty()
            && t.in_flight.is_empty()
        {
            t.state = InState::Verifying;
            self.out.push_back(match t.hasher.take() {
                Some(hasher) => Output::Confirm {
                    transfer_id: t.id,
                    digest: hasher.finalize(),
                },
                None => Output::Verify(t.id),
            });
        }
    }

    fn fail(&mut self, id: TransferId, reason: CancelReason, message: &str) {
        if self.remove(id).is_none() {
            return;
        }
        self.closed.insert(id, Outcome::Cancelled(reason));
        self.send(PeerFrame::FileCancel {
            transfer_id: id,
            reason,
            message: cancel_message(message),
        });
        self.out.push_back(Output::Discard(id));
        self.out.push_back(Output::Event(Event::Ended {
            transfer_id: id,
            direction: Direction::Incoming,
            reason,
            by_peer: false,
            message: message.to_string(),
        }));
    }

    fn ended(&mut self, id: TransferId, reason: CancelReason, by_peer: bool, peer_message: &str) {
        self.out.push_back(Output::Event(Event::Ended {
            transfer_id: id,
            direction: Direction::Incoming,
            reason,
            by_peer,
            message: ended_message(reason, by_peer, peer_message),
        }));
    }

    fn send(&mut self, frame: PeerFrame) {
        if self.connected {
            self.out.push_back(Output::SendFrame(frame));
        }
    }

    fn find(&self, id: TransferId) -> Option<usize> {
        self.incoming.iter().position(|t| t.id == id)
    }

    fn remove(&mut self, id: TransferId) -> Option<Incoming> {
        let i = self.find(id)?;
        Some(self.incoming.remove(i))
    }
}
