//! [`Transfers`]: both directions of one `twain-files` channel behind one object, which is what the client holds.

use super::receiver::InState;
use super::sender::OutState;
use super::{
    cancel_message, Direction, FileMeta, IncomingSnapshot, Output, ReadRequest, Receiver, Sender,
    TransferId,
};
use crate::wire::{PeerFrame, MAX_PEER_FRAME_BYTES};
use crate::ProtocolError;

/// Where a transfer stands, for the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    /// Outgoing, waiting for a free slot ([`super::MAX_ACTIVE_TRANSFERS`] are in flight).
    Queued,
    /// Outgoing, offered; waiting for the other side to accept (or to reconnect).
    WaitingForPeer,
    /// Outgoing, chunks are being sent.
    Sending,
    /// Outgoing, every chunk sent; waiting for the other side to confirm it stored and verified them.
    Confirming,
    /// Incoming, chunks are arriving and being stored.
    Receiving,
    /// Incoming, everything stored; checking the SHA-256.
    Verifying,
    /// Incoming, the sender no longer has the file; what was stored is kept.
    Interrupted,
}

/// One transfer as the UI shows it. Feed `(now_ms, bytes_done)` to a [`super::Progress`] for rate and time left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferView<'a> {
    pub transfer_id: TransferId,
    pub direction: Direction,
    pub meta: &'a FileMeta,
    /// Outgoing: bytes handed to the channel. Incoming: bytes received in order (stored, or on their way to
    /// storage in batches of [`super::BATCH_BYTES`]): counting only stored bytes would leave the bar still for a whole
    /// batch, seconds on a slow connection.
    pub bytes_done: u64,
    pub state: TransferState,
}

/// Every file transfer over one peer connection, in both directions.
#[derive(Debug, Default)]
pub struct Transfers {
    pub sender: Sender,
    pub receiver: Receiver,
}

impl Transfers {
    pub fn new() -> Self {
        Self::default()
    }

    /// After a reload: re-creates an unfinished incoming transfer from its snapshot. Call before [`Self::on_open`].
    pub fn restore(&mut self, snapshot: IncomingSnapshot) -> Result<(), ProtocolError> {
        self.receiver.restore(snapshot)
    }

    /// The `twain-files` channel opened (first time or after a reconnect).
    pub fn on_open(&mut self) {
        self.receiver.on_connected();
        self.sender.on_connected();
    }

    /// The `twain-files` channel closed.
    pub fn on_close(&mut self) {
        self.receiver.on_disconnected();
        self.sender.on_disconnected();
    }

    /// Starts sending a file (metadata from [`FileMeta::for_upload`]; the id from 16 random bytes).
    pub fn send_file(
        &mut self,
        transfer_id: TransferId,
        meta: FileMeta,
    ) -> Result<(), ProtocolError> {
        self.sender.offer(transfer_id, meta)
    }

    /// The person cancels a transfer, either direction. Returns whether it existed.
    pub fn cancel(&mut self, transfer_id: TransferId) -> bool {
        self.sender.cancel(transfer_id) || self.receiver.cancel(transfer_id)
    }

    /// The person asks again for an interrupted incoming transfer.
    pub fn retry(&mut self, transfer_id: TransferId) -> bool {
        self.receiver.retry(transfer_id)
    }

    /// A text message from `twain-files`. An offer that can't be read is refused back to the sender, with the
    /// sentence, so it doesn't wait forever.
    pub fn handle_text(&mut self, text: &str) -> Result<(), ProtocolError> {
        match PeerFrame::decode(text) {
            Ok(frame) => {
                let sent = self.sender.handle_frame(&frame);
                let received = self.receiver.handle_frame(&frame);
                sent.and(received)
            }
            Err(e) => {
                if let Some(id) = unreadable_offer_id(text) {
                    self.receiver.refuse(id, &e);
                }
                Err(e)
            }
        }
    }

    /// A binary message from `twain-files`: a chunk. Returns whether it gave [`Self::poll_output`] something to
    /// do (most chunks only join the batch being filled, and the loop need not wake up for them).
    pub fn handle_binary(&mut self, bytes: &[u8]) -> Result<bool, ProtocolError> {
        self.receiver.handle_chunk(bytes)?;
        Ok(self.receiver.has_output())
    }

    /// See [`Sender::read_done`].
    pub fn read_done(&mut self, request: &ReadRequest, bytes: &[u8]) {
        self.sender.read_done(request, bytes)
    }

    /// See [`Sender::read_failed`].
    pub fn read_failed(&mut self, request: &ReadRequest, message: &str) {
        self.sender.read_failed(request, &cancel_message(message))
    }

    /// See [`Receiver::stored`].
    pub fn stored(&mut self, transfer_id: TransferId, first_seq: u32) -> Result<(), ProtocolError> {
        self.receiver.stored(transfer_id, first_seq)
    }

    /// See [`Receiver::store_failed`].
    pub fn store_failed(&mut self, transfer_id: TransferId, message: &str) {
        self.receiver
            .store_failed(transfer_id, &cancel_message(message))
    }

    /// See [`Receiver::verified`].
    pub fn verified(
        &mut self,
        transfer_id: TransferId,
        digest: [u8; 32],
    ) -> Result<(), ProtocolError> {
        self.receiver.verified(transfer_id, digest)
    }

    /// What to do next. `buffered_amount`: `bufferedAmount` of `twain-files`, read just before the call.
    /// Receiver work comes first: it is small and keeps the other side's transfers moving.
    pub fn poll_output(&mut self, buffered_amount: u64) -> Output {
        match self.receiver.poll_output() {
            Output::Idle => self.sender.poll_output(buffered_amount),
            out => out,
        }
    }

    /// Every unfinished transfer, outgoing first, in the order they started.
    pub fn transfers(&self) -> impl Iterator<Item = TransferView<'_>> {
        let out = self.sender.transfers.iter().map(|t| TransferView {
            transfer_id: t.id,
            direction: Direction::Outgoing,
            meta: &t.meta,
            bytes_done: t.meta.bytes_before(t.sent_seq),
            state: match t.state {
                OutState::Queued => TransferState::Queued,
                OutState::Offered => TransferState::WaitingForPeer,
                OutState::Sending => TransferState::Sending,
                OutState::Sent => TransferState::Confirming,
            },
        });
        let inc = self.receiver.incoming.iter().map(|t| TransferView {
            transfer_id: t.id,
            direction: Direction::Incoming,
            meta: &t.meta,
            bytes_done: t.received_bytes(),
            state: match t.state {
                InState::Receiving => TransferState::Receiving,
                InState::Verifying => TransferState::Verifying,
                InState::Interrupted => TransferState::Interrupted,
            },
        });
        out.chain(inc)
    }

    /// One transfer, either direction.
    pub fn get(&self, transfer_id: TransferId) -> Option<TransferView<'_>> {
        self.transfers().find(|t| t.transfer_id == transfer_id)
    }
}

/// The transfer id of a `file-offer` that failed validation, if it has a readable one.
fn unreadable_offer_id(text: &str) -> Option<TransferId> {
    if text.len() > MAX_PEER_FRAME_BYTES {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    if value.get("type")?.as_str()? != "file-offer" {
        return None;
    }
    TransferId::parse(value.get("transfer_id")?.as_str()?).ok()
}
