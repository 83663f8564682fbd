//! The sending side: offers files, reads them chunk by chunk on demand, and streams them with backpressure.
//!
//! Per transfer: `Queued` (over [`MAX_ACTIVE_TRANSFERS`]) → `Offered` (file-offer sent, waiting for file-accept
//! or file-resume) → `Sending` (reads and chunks) → `Sent` (every chunk handed to the channel, waiting for
//! file-complete) → gone (delivered or cancelled). Closing the channel puts every active transfer back to
//! `Offered`; opening it again re-sends the offers.

use std::collections::VecDeque;

use super::{
    cancel_message, ended_message, CancelReason, ChunkFrame, Closed, Direction, Event, FileMeta,
    Outcome, Output, TransferId, CHUNK_SIZE, HIGH_WATER, MAX_ACTIVE_TRANSFERS, READ_CHUNKS,
};
use crate::wire::PeerFrame;
use crate::ProtocolError;

/// Read `len` bytes at `offset` of the file of `transfer_id`: chunks `first_seq..first_seq + count`. Hand the
/// bytes back with [`Sender::read_done`] together with this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRequest {
    pub transfer_id: TransferId,
    pub first_seq: u32,
    pub count: u32,
    pub offset: u64,
    pub len: u32,
    /// Tells a stale read (of a transfer cancelled or restarted meanwhile) from the current one.
    pub token: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutState {
    Queued,
    Offered,
    Sending,
    Sent,
}

#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) id: TransferId,
    pub(crate) meta: FileMeta,
    pub(crate) state: OutState,
    /// Next chunk to read.
    next_seq: u32,
    /// Chunks handed to the channel.
    pub(crate) sent_seq: u32,
}

/// Sends any number of files to the other browser. See the [module docs](super) for the calling loop.
#[derive(Debug, Default)]
pub struct Sender {
    pub(crate) transfers: Vec<Outgoing>,
    connected: bool,
    /// Frames and events, emitted before any chunk.
    control: VecDeque<Output>,
    /// Encoded chunk frames read but not yet handed out: (transfer, seq, frame).
    chunks: VecDeque<(TransferId, u32, Vec<u8>)>,
    reading: Option<ReadRequest>,
    next_token: u64,
    last_served: Option<TransferId>,
    closed: Closed,
}

impl Sender {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts sending a file whose metadata came from [`FileMeta::for_upload`]. Offering an id again (after a
    /// reload, with the same file re-opened) resumes where the receiver stands.
    pub fn offer(&mut self, transfer_id: TransferId, meta: FileMeta) -> Result<(), ProtocolError> {
        meta.validate()?;
        if self.find(transfer_id).is_some() {
            return Err(ProtocolError::Invalid(format!(
                "{} is already being sent",
                meta.name
            )));
        }
        self.transfers.push(Outgoing {
            id: transfer_id,
            meta,
            state: OutState::Queued,
            next_seq: 0,
            sent_seq: 0,
        });
        self.promote();
        Ok(())
    }

    /// The person cancels an outgoing transfer. Returns whether it existed.
    pub fn cancel(&mut self, transfer_id: TransferId) -> bool {
        let Some(t) = self.remove(transfer_id) else {
            return false;
        };
        self.closed
            .insert(transfer_id, Outcome::Cancelled(CancelReason::Cancelled));
        if self.connected && t.state != OutState::Queued {
            self.control
                .push_back(Output::SendFrame(PeerFrame::FileCancel {
                    transfer_id,
                    reason: CancelReason::Cancelled,
                    message: String::new(),
                }));
        }
        self.ended(transfer_id, CancelReason::Cancelled, false, "");
        // After the cancel frame, so the receiver never sees one transfer too many.
        self.promote();
        true
    }

    /// Handles a frame from the other browser. Frames for the receiving side are ignored. A frame that breaks
    /// a rule is refused and changes nothing.
    pub fn handle_frame(&mut self, frame: &PeerFrame) -> Result<(), ProtocolError> {
        match frame {
            PeerFrame::FileAccept {
                transfer_id,
                next_seq,
            } => self.start(*transfer_id, *next_seq, false),
            PeerFrame::FileResume {
                transfer_id,
                next_seq,
            } => self.start(*transfer_id, *next_seq, true),
            PeerFrame::FileComplete { transfer_id } => {
                if self.remove(*transfer_id).is_some() {
                    self.closed.insert(*transfer_id, Outcome::Completed);
                    self.control.push_back(Output::Event(Event::Delivered {
                        transfer_id: *transfer_id,
                    }));
                    self.promote();
                }
                Ok(())
            }
            PeerFrame::FileCancel {
                transfer_id,
                reason,
                message,
            } => {
                if self.remove(*transfer_id).is_some() {
                    self.closed
                        .insert(*transfer_id, Outcome::Cancelled(*reason));
                    self.ended(*transfer_id, *reason, true, message);
                    self.promote();
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The receiver wants chunks from `next_seq` on.
    fn start(
        &mut self,
        id: TransferId,
        next_seq: u32,
        unprompted: bool,
    ) -> Result<(), ProtocolError> {
        let Some(i) = self.find(id) else {
            if unprompted {
                // Asked to resume something we don't have: say why, so the receiver can show it.
                let frame = match self.closed.get(id) {
                    Some(Outcome::Cancelled(reason)) => PeerFrame::FileCancel {
                        transfer_id: id,
                        reason,
                        message: String::new(),
                    },
                    _ => PeerFrame::FileUnavailable { transfer_id: id },
                };
                self.send(frame);
            }
            return Ok(());
        };
        let t = &mut self.transfers[i];
        let count = t.meta.chunk_count();
        if next_seq > count {
            return Err(ProtocolError::Invalid(format!(
                "the other side asked for chunk {next_seq} of {}, which has only {count}",
                t.meta.name
            )));
        }
        // Only an offered transfer starts: an accept or resume for one already streaming is the duplicate of
        // the pair sent around a reconnect, and restarting would send chunks twice.
        if t.state != OutState::Offered {
            return Ok(());
        }
        t.next_seq = next_seq;
        t.sent_seq = next_seq;
        t.state = if next_seq == count {
            OutState::Sent
        } else {
            OutState::Sending
        };
        Ok(())
    }

    /// The bytes of a [`ReadRequest`]. A stale read (the transfer was cancelled or restarted) is dropped; bytes
    /// of the wrong length mean the file changed or could not be read, which ends the transfer.
    pub fn read_done(&mut self, request: &ReadRequest, bytes: &[u8]) {
        if self.reading != Some(*request) {
            return;
        }
        self.reading = None;
        let Some(i) = self.find(request.transfer_id) else {
            return;
        };
        if self.transfers[i].state != OutState::Sending {
            return;
        }
        if bytes.len() != request.len as usize {
            let name = self.transfers[i].meta.name.clone();
            self.fail(
                request.transfer_id,
                &format!("{name} changed or could not be read while it was being sent."),
            );
            return;
        }
        for (k, payload) in bytes.chunks(CHUNK_SIZE).enumerate() {
            let seq = request.first_seq + k as u32;
            let frame = ChunkFrame {
                transfer_id: request.transfer_id,
                seq,
                payload,
            }
            .encode();
            self.chunks.push_back((request.transfer_id, seq, frame));
        }
    }

    /// Reading the file failed (it was deleted, permission revoked...): the transfer ends.
    pub fn read_failed(&mut self, request: &ReadRequest, message: &str) {
        if self.reading != Some(*request) {
            return;
        }
        self.reading = None;
        if let Some(i) = self.find(request.transfer_id) {
            let name = self.transfers[i].meta.name.clone();
            self.fail(
                request.transfer_id,
                &format!("{name} could not be read: {message}"),
            );
        }
    }

    /// The `twain-files` channel opened: (re-)offer every active transfer.
    pub fn on_connected(&mut self) {
        self.connected = true;
        for i in 0..self.transfers.len() {
            if self.transfers[i].state == OutState::Offered {
                let t = &self.transfers[i];
                self.control
                    .push_back(Output::SendFrame(PeerFrame::file_offer(t.id, &t.meta)));
            }
        }
    }

    /// The channel closed: everything in flight is lost; active transfers wait to be offered again.
    pub fn on_disconnected(&mut self) {
        self.connected = false;
        self.chunks.clear();
        self.reading = None;
        self.control.retain(|o| !matches!(o, Output::SendFrame(_)));
        for t in &mut self.transfers {
            if t.state != OutState::Queued {
                t.state = OutState::Offered;
            }
        }
    }

    /// What to do next. `buffered_amount` is the channel's current `bufferedAmount`, read just before calling.
    pub fn poll_output(&mut self, buffered_amount: u64) -> Output {
        if let Some(out) = self.control.pop_front() {
            return out;
        }
        if let Some((id, seq, frame)) = self.chunks.pop_front() {
            if let Some(i) = self.find(id) {
                let t = &mut self.transfers[i];
                t.sent_seq = seq + 1;
                if t.sent_seq == t.meta.chunk_count() {
                    t.state = OutState::Sent;
                }
            }
            return Output::SendChunk(frame);
        }
        if self.reading.is_some() || !self.connected {
            return Output::Idle;
        }
        let Some(i) = self.next_to_serve() else {
            return Output::Idle;
        };
        if buffered_amount >= HIGH_WATER {
            return Output::WaitForBufferedAmountLow;
        }
        let t = &mut self.transfers[i];
        let count = (t.meta.chunk_count() - t.next_seq).min(READ_CHUNKS);
        let offset = FileMeta::chunk_offset(t.next_seq);
        let end = FileMeta::chunk_offset(t.next_seq + count).min(t.meta.size);
        self.next_token += 1;
        let request = ReadRequest {
            transfer_id: t.id,
            first_seq: t.next_seq,
            count,
            offset,
            len: (end - offset) as u32,
            token: self.next_token,
        };
        t.next_seq += count;
        self.last_served = Some(t.id);
        self.reading = Some(request);
        Output::Read(request)
    }

    /// The transfer after the last one served that still has chunks to read (round-robin).
    fn next_to_serve(&self) -> Option<usize> {
        let n = self.transfers.len();
        let start = self
            .last_served
            .and_then(|id| self.find(id))
            .map_or(0, |i| i + 1);
        (0..n).map(|k| (start + k) % n).find(|&i| {
            let t = &self.transfers[i];
            t.state == OutState::Sending && t.next_seq < t.meta.chunk_count()
        })
    }

    fn find(&self, id: TransferId) -> Option<usize> {
        self.transfers.iter().position(|t| t.id == id)
    }

    fn remove(&mut self, id: TransferId) -> Option<Outgoing> {
        let i = self.find(id)?;
        let t = self.transfers.remove(i);
        self.chunks.retain(|(c, _, _)| *c != id);
        if self.reading.is_some_and(|r| r.transfer_id == id) {
            self.reading = None;
        }
        if self.last_served == Some(id) {
            // Keep the round-robin position: serve whatever came after the removed transfer next.
            self.last_served = i
                .checked_sub(1)
                .or_else(|| self.transfers.len().checked_sub(1))
                .map(|j| self.transfers[j].id);
        }
        Some(t)
    }

    /// Ends a transfer because of a local failure, telling the receiver.
    fn fail(&mut self, id: TransferId, message: &str) {
        if self.remove(id).is_none() {
            return;
        }
        self.closed
            .insert(id, Outcome::Cancelled(CancelReason::Failed));
        self.send(PeerFrame::FileCancel {
            transfer_id: id,
            reason: CancelReason::Failed,
            message: cancel_message(message),
        });
        self.control.push_back(Output::Event(Event::Ended {
            transfer_id: id,
            direction: Direction::Outgoing,
            reason: CancelReason::Failed,
            by_peer: false,
            message: message.to_string(),
        }));
        self.promote();
    }

    fn ended(&mut self, id: TransferId, reason: CancelReason, by_peer: bool, peer_message: &str) {
        self.control.push_back(Output::Event(Event::Ended {
            transfer_id: id,
            direction: Direction::Outgoing,
            reason,
            by_peer,
            message: ended_message(reason, by_peer, peer_message),
        }));
    }

    fn send(&mut self, frame: PeerFrame) {
        if self.connected {
            self.control.push_back(Output::SendFrame(frame));
        }
    }

    /// Offers queued transfers while fewer than [`MAX_ACTIVE_TRANSFERS`] are active.
    fn promote(&mut self) {
        let mut active = self
            .transfers
            .iter()
            .filter(|t| t.state != OutState::Queued)
            .count();
        for i in 0..self.transfers.len() {
            if active >= MAX_ACTIVE_TRANSFERS {
                break;
            }
            if self.transfers[i].state == OutState::Queued {
                self.transfers[i].state = OutState::Offered;
                active += 1;
                let frame = PeerFrame::file_offer(self.transfers[i].id, &self.transfers[i].meta);
                self.send(frame);
            }
        }
    }

    /// Bytes handed to the channel for an outgoing transfer, and its total.
    pub fn progress(&self, transfer_id: TransferId) -> Option<(u64, u64)> {
        self.find(transfer_id).map(|i| {
            let t = &self.transfers[i];
            (t.meta.bytes_before(t.sent_seq), t.meta.size)
        })
    }

    /// Whether nothing is being sent or waited for.
    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
    }
}
