//! Two browsers over a simulated `twain-files` channel, in the style of str0m's `tests/common.rs`: each [`Peer`] is
//! a [`Transfers`] plus what the client would own (open files, an IndexedDB of batches and snapshots, the channel's
//! send queue), and [`progress`] lets both do what they can and carries bytes across.

use std::collections::{BTreeMap, HashMap, VecDeque};

use proptest::prelude::*;

use super::*;
use crate::wire::PeerFrame;

#[derive(Debug, Clone)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

impl Msg {
    fn len(&self) -> usize {
        match self {
            Msg::Text(t) => t.len(),
            Msg::Binary(b) => b.len(),
        }
    }
}

/// One browser: the state machine and the client's side effects, done synchronously.
#[derive(Default)]
struct Peer {
    t: Transfers,
    /// Files this side has open (what `Blob.slice` reads).
    files: HashMap<TransferId, Vec<u8>>,
    /// IndexedDB: batches keyed by (transfer, first_seq), and snapshots.
    storage: BTreeMap<(TransferId, u32), Vec<u8>>,
    snapshots: HashMap<TransferId, IncomingSnapshot>,
    /// Sent on the channel, not yet delivered: `bufferedAmount` is their total size.
    outbox: VecDeque<Msg>,
    /// Completed incoming files, reassembled from storage.
    received: HashMap<TransferId, Vec<u8>>,
    events: Vec<Event>,
    /// Errors returned for messages from the other side.
    errors: Vec<String>,
    /// The transfers each Read was for, in order.
    reads: Vec<(TransferId, u32)>,
    max_buffered: u64,
    /// When set, a batch write that would replace a stored batch with other bytes is recorded here.
    overwrites: Vec<(TransferId, u32)>,
}

impl Peer {
    fn buffered(&self) -> u64 {
        self.outbox.iter().map(|m| m.len() as u64).sum()
    }

    /// Picks a file and starts sending it, like the client: size check, hash, metadata, offer.
    fn send(&mut self, id: u8, name: &str, data: Vec<u8>) -> TransferId {
        let id = TransferId([id; 16]);
        check_size(name, data.len() as u64).unwrap();
        let meta = FileMeta::for_upload(
            name,
            data.len() as u64,
            "application/octet-stream",
            &Sha256::digest(&data),
        )
        .unwrap();
        self.files.insert(id, data);
        self.t.send_file(id, meta).unwrap();
        id
    }

    /// The stored batches of a transfer, in order; checks they are contiguous.
    fn stored_bytes(&self, id: TransferId) -> Vec<u8> {
        let mut out = Vec::new();
        for ((_, first_seq), bytes) in self.storage.range((id, 0)..=(id, u32::MAX)) {
            assert_eq!(
                FileMeta::chunk_offset(*first_seq),
                out.len() as u64,
                "stored batches are contiguous"
            );
            out.extend_from_slice(bytes);
        }
        out
    }

    /// Does everything the state machine asks until it waits. Returns whether anything was done.
    fn pump(&mut self) -> bool {
        let mut worked = false;
        loop {
            let buffered = self.buffered();
            self.max_buffered = self.max_buffered.max(buffered);
            match self.t.poll_output(buffered) {
                Output::Idle | Output::WaitForBufferedAmountLow => return worked,
                Output::SendFrame(f) => self.outbox.push_back(Msg::Text(f.encode())),
                Output::SendChunk(b) => self.outbox.push_back(Msg::Binary(b)),
                Output::Read(r) => {
                    self.reads.push((r.transfer_id, r.first_seq));
                    match self.files.get(&r.transfer_id) {
                        Some(file) => {
                            let end = (r.offset + u64::from(r.len)).min(file.len() as u64);
                            let start = r.offset.min(end);
                            let bytes = file[start as usize..end as usize].to_vec();
                            self.t.read_done(&r, &bytes);
                        }
                        None => self.t.read_failed(&r, "the file is gone"),
                    }
                }
                Output::Store(batch) => {
                    let key = (batch.transfer_id, batch.first_seq);
                    if self
                        .storage
                        .get(&key)
                        .is_some_and(|old| *old != batch.bytes)
                    {
                        self.overwrites.push(key);
                    }
                    assert_eq!(batch.offset, FileMeta::chunk_offset(batch.first_seq));
                    assert_eq!(
                        batch.snapshot.stored_bytes,
                        batch.offset + batch.bytes.len() as u64
                    );
                    self.storage.insert(key, batch.bytes);
                    self.snapshots.insert(batch.transfer_id, batch.snapshot);
                    self.t.stored(batch.transfer_id, batch.first_seq).unwrap();
                }
                Output::SaveSnapshot(s) => {
                    self.snapshots.insert(s.transfer_id, s);
                }
                Output::Confirm {
                    transfer_id,
                    digest,
                } => {
                    // What the client does: the stored batches must add up to the file.
                    let size = self.t.get(transfer_id).unwrap().meta.size;
                    let stored: usize = self
                        .storage
                        .range((transfer_id, 0)..=(transfer_id, u32::MAX))
                        .map(|(_, bytes)| bytes.len())
                        .sum();
                    if stored as u64 == size {
                        self.t.verified(transfer_id, digest).unwrap();
                    } else {
                        self.t
                            .store_failed(transfer_id, "part of it is missing from storage");
                    }
                }
                Output::Verify(id) => {
                    let mut h = Sha256::new();
                    for (_, bytes) in self.storage.range((id, 0)..=(id, u32::MAX)) {
                        h.update(bytes);
                    }
                    self.t.verified(id, h.finalize()).unwrap();
                }
                Output::Discard(id) => {
                    self.storage.retain(|(t, _), _| *t != id);
                    self.snapshots.remove(&id);
                }
                Output::Event(e) => {
                    if let Event::Received { transfer_id } = &e {
                        let bytes = self.stored_bytes(*transfer_id);
                        self.received.insert(*transfer_id, bytes);
                        self.snapshots.remove(transfer_id);
                    }
                    self.events.push(e);
                }
            }
            worked = true;
        }
    }

    fn receive(&mut self, msg: Msg) {
        let result = match &msg {
            Msg::Text(t) => self.t.handle_text(t),
            Msg::Binary(b) => self.t.handle_binary(b).map(|_| ()),
        };
        if let Err(e) = result {
            self.errors.push(e.to_string());
        }
    }

    /// The page reloads: memory is gone; storage, snapshots and (if `keep_files`) open files survive.
    fn reload(&mut self, keep_files: bool) {
        self.t = Transfers::new();
        self.outbox.clear();
        if !keep_files {
            self.files.clear();
        }
        let mut snapshots: Vec<_> = self.snapshots.values().cloned().collect();
        snapshots.sort_by_key(|s| s.transfer_id);
        for s in snapshots {
            // Through JSON, as the client persists it.
            let s: IncomingSnapshot =
                serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
            self.t.restore(s).unwrap();
        }
    }

    fn ended(&self, id: TransferId) -> Option<(CancelReason, bool, String)> {
        self.events.iter().find_map(|e| match e {
            Event::Ended {
                transfer_id,
                reason,
                by_peer,
                message,
                ..
            } if *transfer_id == id => Some((*reason, *by_peer, message.clone())),
            _ => None,
        })
    }

    fn has_event(&self, wanted: &Event) -> bool {
        self.events.contains(wanted)
    }
}

/// Carries up to `budget` bytes from `from` to `to` (at least one message if any is waiting).
fn deliver(from: &mut Peer, to: &mut Peer, budget: usize) -> bool {
    let mut carried = 0;
    while carried < budget.max(1) {
        let Some(msg) = from.outbox.pop_front() else {
            break;
        };
        carried += msg.len();
        to.receive(msg);
    }
    carried > 0
}

/// One step: both sides do what they can, then the network carries `budget` bytes each way.
fn progress(a: &mut Peer, b: &mut Peer, budget: usize) -> bool {
    let mut worked = a.pump();
    worked |= b.pump();
    worked |= deliver(a, b, budget);
    worked |= deliver(b, a, budget);
    worked
}

/// Runs until nothing moves (or `max_steps`); returns the steps taken.
fn run(a: &mut Peer, b: &mut Peer, budget: usize, max_steps: usize) -> usize {
    for step in 0..max_steps {
        if !progress(a, b, budget) {
            return step;
        }
    }
    panic!("still busy after {max_steps} steps");
}

fn connect(a: &mut Peer, b: &mut Peer) {
    a.t.on_open();
    b.t.on_open();
}

/// Both sides see the channel close; whatever was in flight is lost.
fn disconnect(a: &mut Peer, b: &mut Peer) {
    a.outbox.clear();
    b.outbox.clear();
    a.t.on_close();
    b.t.on_close();
}

/// Deterministic pseudo-random content.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn pair() -> (Peer, Peer) {
    let mut a = Peer::default();
    let mut b = Peer::default();
    connect(&mut a, &mut b);
    (a, b)
}

/// The most `bufferedAmount` can reach: the high-water mark, one read's frames, and a few control frames.
const QUEUE_BOUND: u64 =
    HIGH_WATER + READ_BYTES as u64 + (READ_CHUNKS as u64) * CHUNK_HEADER_BYTES as u64 + 8 * 1024;

#[test]
fn concurrent_files_both_ways() {
    let (mut a, mut b) = pair();
    let sizes = [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        2 * BATCH_BYTES + 12_345,
        3 * BATCH_BYTES + 1,
    ];
    let mut sent = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let data = content(i as u64, *size);
        let id = a.send(i as u8 + 1, &format!("file {i}.bin"), data.clone());
        sent.push((id, data));
    }
    let back = content(99, 500_000);
    let back_id = b.send(200, "reply.bin", back.clone());
    run(&mut a, &mut b, 64 * 1024, 10_000);

    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "{:?} {:?}",
        a.errors,
        b.errors
    );
    for (id, data) in &sent {
        assert_eq!(b.received.get(id), Some(data), "{id}");
        assert!(a.has_event(&Event::Delivered { transfer_id: *id }));
    }
    assert_eq!(a.received.get(&back_id), Some(&back));
    assert!(b.has_event(&Event::Delivered {
        transfer_id: back_id
    }));
    assert!(a.t.sender.is_empty() && b.t.receiver.is_empty() && a.t.transfers().count() == 0);
    assert!(a.max_buffered <= QUEUE_BOUND, "{}", a.max_buffered);
    assert!(a.max_buffered < MAX_SEND_QUEUE);
    // The big files took turns rather than going one after the other.
    let big = [sent[5].0, sent[6].0];
    let turns: Vec<_> = a
        .reads
        .iter()
        .map(|r| r.0)
        .filter(|id| big.contains(id))
        .take(6)
        .collect();
    assert_eq!(turns.len(), 6);
    assert!(turns.windows(2).all(|w| w[0] != w[1]), "{turns:?}");
    // The names the receiver saves under are sanitized.
    assert!(b.events.iter().any(|e| matches!(e,
        Event::Incoming { download_name, .. } if download_name == "file 0.bin")));
}

#[test]
fn more_files_than_slots_are_queued_then_sent() {
    let (mut a, mut b) = pair();
    let files: Vec<_> = (0..MAX_ACTIVE_TRANSFERS as u8 + 5)
        .map(|i| {
            let data = content(u64::from(i), 20_000 + usize::from(i));
            (a.send(i + 1, "f", data.clone()), data)
        })
        .collect();
    let queued =
        a.t.transfers()
            .filter(|t| t.state == TransferState::Queued)
            .count();
    assert_eq!(queued, 5);
    run(&mut a, &mut b, 32 * 1024, 10_000);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    for (id, data) in files {
        assert_eq!(b.received.get(&id), Some(&data));
    }
}

#[test]
fn files_offered_before_the_channel_opens_wait_for_it() {
    let mut a = Peer::default();
    let mut b = Peer::default();
    let data = content(1, 40_000);
    let id = a.send(1, "early.txt", data.clone());
    assert_eq!(a.t.poll_output(0), Output::Idle);
    connect(&mut a, &mut b);
    run(&mut a, &mut b, 32 * 1024, 1_000);
    assert_eq!(b.received.get(&id), Some(&data));
}

/// Runs until `b` has stored at least `bytes` of transfer `id`.
fn run_until_stored(a: &mut Peer, b: &mut Peer, id: TransferId, bytes: u64) {
    for _ in 0..10_000 {
        if b.stored_bytes(id).len() as u64 >= bytes {
            return;
        }
        progress(a, b, 48 * 1024);
    }
    panic!("never stored {bytes} bytes");
}

#[test]
fn receiver_reload_resumes_from_the_first_missing_chunk() {
    let (mut a, mut b) = pair();
    let data = content(7, 3 * BATCH_BYTES + 5_000);
    let id = a.send(1, "movie.mp4", data.clone());
    let small = content(8, 100_000);
    let small_id = a.send(2, "small.txt", small.clone());
    run_until_stored(&mut a, &mut b, id, BATCH_BYTES as u64 + 1);
    let stored_before = b.stored_bytes(id);

    // The receiver's tab reloads mid-transfer: in-flight messages and unstored chunks are lost.
    disconnect(&mut a, &mut b);
    b.reload(true);
    let snapshot = b.snapshots[&id].clone();
    assert!(snapshot.next_seq > 0 && snapshot.next_seq.is_multiple_of(BATCH_CHUNKS));
    assert_eq!(b.t.get(id).unwrap().bytes_done, snapshot.stored_bytes);
    assert_eq!(a.t.get(id).unwrap().state, TransferState::WaitingForPeer);
    let reads_before = a.reads.len();
    connect(&mut a, &mut b);
    run(&mut a, &mut b, 48 * 1024, 10_000);

    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "{:?} {:?}",
        a.errors,
        b.errors
    );
    assert_eq!(b.received.get(&id), Some(&data));
    assert_eq!(b.received.get(&small_id), Some(&small));
    assert!(b.overwrites.is_empty());
    assert_eq!(&b.received[&id][..stored_before.len()], &stored_before[..]);
    // The sender did not start over: its first read of the big file after the reload was at the snapshot.
    let first = a.reads[reads_before..].iter().find(|r| r.0 == id).unwrap();
    assert_eq!(first.1, snapshot.next_seq);
    assert!(a.has_event(&Event::Delivered { transfer_id: id }));
    assert!(b.snapshots.is_empty());
}

#[test]
fn reconnect_without_reload_keeps_unstored_chunks() {
    let (mut a, mut b) = pair();
    let data = content(3, 2 * BATCH_BYTES + 777);
    let id = a.send(1, "a.bin", data.clone());
    run_until_stored(&mut a, &mut b, id, 1);
    for _ in 0..3 {
        progress(&mut a, &mut b, 48 * 1024);
    }
    // A network blip: both tabs survive. The partial batch is stored when the channel closes.
    disconnect(&mut a, &mut b);
    b.pump();
    let snapshot = b.snapshots[&id].clone();
    assert!(
        !snapshot.next_seq.is_multiple_of(BATCH_CHUNKS),
        "{snapshot:?}"
    );
    connect(&mut a, &mut b);
    run(&mut a, &mut b, 48 * 1024, 10_000);
    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "{:?} {:?}",
        a.errors,
        b.errors
    );
    assert_eq!(b.received.get(&id), Some(&data));
}

#[test]
fn both_tabs_reload_and_the_sender_reopens_the_file() {
    let (mut a, mut b) = pair();
    let data = content(4, 2 * BATCH_BYTES + 10);
    let id = a.send(1, "a.bin", data.clone());
    run_until_stored(&mut a, &mut b, id, BATCH_BYTES as u64);
    disconnect(&mut a, &mut b);
    b.reload(true);
    // The sender kept the File (say, in IndexedDB) and offers the same transfer again.
    let meta = a.t.get(id).unwrap().meta.clone();
    a.t = Transfers::new();
    a.t.send_file(id, meta).unwrap();
    connect(&mut a, &mut b);
    run(&mut a, &mut b, 48 * 1024, 10_000);
    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "{:?} {:?}",
        a.errors,
        b.errors
    );
    assert_eq!(b.received.get(&id), Some(&data));
}

/// Sends a file of 3 batches and a bit; once the first batch is stored, `trouble` happens to the receiver's
/// storage (with the receiver reloading first if `reload`), then the transfer runs to its end. Returns how the
/// receiver ended it, after checking both sides agree and nothing is kept.
fn end_after_storage_trouble(
    reload: bool,
    trouble: impl FnOnce(&mut Peer, TransferId),
) -> (CancelReason, String) {
    let (mut a, mut b) = pair();
    let id = a.send(1, "trouble.bin", content(9, 3 * BATCH_BYTES + 7));
    run_until_stored(&mut a, &mut b, id, BATCH_BYTES as u64);
    if reload {
        disconnect(&mut a, &mut b);
        b.reload(true);
    }
    trouble(&mut b, id);
    if reload {
        connect(&mut a, &mut b);
    }
    run(&mut a, &mut b, 48 * 1024, 10_000);
    let (reason, by_peer, message) = b.ended(id).unwrap();
    assert!(!by_peer, "{message}");
    assert!(b.storage.is_empty() && b.received.is_empty());
    assert_eq!(a.ended(id).unwrap().0, reason);
    (reason, message)
}

#[test]
fn a_batch_missing_from_storage_fails_the_transfer() {
    // The storage loses the first batch (a bug, or someone clearing it) while the rest arrives.
    let (reason, message) = end_after_storage_trouble(false, |b, id| {
        b.storage.remove(&(id, 0)).unwrap();
    });
    assert_eq!(reason, CancelReason::Failed, "{message}");
    assert!(
        message.contains("part of it is missing from storage"),
        "{message}"
    );
}

#[test]
fn bytes_damaged_on_disk_before_a_reload_are_caught_by_reading_them_back() {
    // While the receiver was away, the first stored batch was damaged (same length).
    let (reason, message) = end_after_storage_trouble(true, |b, id| {
        b.storage.get_mut(&(id, 0)).unwrap()[10] ^= 1;
    });
    assert_eq!(reason, CancelReason::Damaged, "{message}");
}

#[test]
fn sender_without_the_file_interrupts_then_retry_resumes() {
    let (mut a, mut b) = pair();
    let data = content(5, 2 * BATCH_BYTES + 99);
    let id = a.send(1, "report.pdf", data.clone());
    run_until_stored(&mut a, &mut b, id, BATCH_BYTES as u64);
    let meta = a.t.get(id).unwrap().meta.clone();

    // The sender's tab reloads and loses the file.
    disconnect(&mut a, &mut b);
    a.reload(false);
    connect(&mut a, &mut b);
    run(&mut a, &mut b, 48 * 1024, 1_000);
    assert!(b.has_event(&Event::Interrupted { transfer_id: id }));
    let view = b.t.get(id).unwrap();
    assert_eq!(view.state, TransferState::Interrupted);
    assert!(view.bytes_done >= BATCH_BYTES as u64);
    let stored = b.stored_bytes(id);
    assert_eq!(&stored[..], &data[..stored.len()]);

    // Asking again while the sender still lacks it: interrupted again, nothing lost.
    assert!(b.t.retry(id));
    assert_eq!(b.t.get(id).unwrap().state, TransferState::Receiving);
    run(&mut a, &mut b, 48 * 1024, 1_000);
    assert_eq!(b.t.get(id).unwrap().state, TransferState::Interrupted);
    assert_eq!(b.stored_bytes(id), stored);
    assert!(!b.t.retry(TransferId([9; 16])));

    // The sender picks the same file again under the same id: the transfer completes from where it was.
    a.files.insert(id, data.clone());
    a.t.send_file(id, meta).unwrap();
    run(&mut a, &mut b, 48 * 1024, 10_000);
    assert_eq!(b.received.get(&id), Some(&data));
    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "{:?} {:?}",
        a.errors,
        b.errors
    );
}

#[test]
fn either_side_can_cancel() {
    // The sender cancels: the receiver discards what it stored; chunks still in flight are ignored quietly.
    let (mut a, mut b) = pair();
    let id = a.send(1, "big.bin", content(1, 3 * BATCH_BYTES));
    run_until_stored(&mut a, &mut b, id, BATCH_BYTES as u64);
    assert!(a.t.cancel(id));
    assert!(!a.t.cancel(id));
    run(&mut a, &mut b, 48 * 1024, 1_000);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(
        b.ended(id),
        Some((
            CancelReason::Cancelled,
            true,
            "The other side cancelled the transfer.".into()
        ))
    );
    assert_eq!(a.ended(id).unwrap().2, "You cancelled the transfer.");
    assert!(b.stored_bytes(id).is_empty() && !b.snapshots.contains_key(&id));

    // The receiver cancels: the sender stops.
    let (mut a, mut b) = pair();
    let id = a.send(2, "big.bin", content(2, 3 * BATCH_BYTES));
    let other = a.send(3, "other.bin", content(3, 300_000));
    run_until_stored(&mut a, &mut b, id, 1);
    assert!(b.t.cancel(id));
    run(&mut a, &mut b, 48 * 1024, 2_000);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(a.ended(id).unwrap().0, CancelReason::Cancelled);
    assert!(a.ended(id).unwrap().1);
    assert!(b.stored_bytes(id).is_empty());
    assert!(b.received.contains_key(&other));
    // A late resume or offer of the cancelled transfer is answered with the cancel.
    b.t.receiver
        .handle_frame(&PeerFrame::file_offer(
            id,
            &FileMeta::for_upload("big.bin", 1, "", &[0; 32]).unwrap(),
        ))
        .unwrap();
    assert!(matches!(
        b.t.poll_output(0),
        Output::SendFrame(PeerFrame::FileCancel {
            reason: CancelReason::Cancelled,
            ..
        })
    ));
}

#[test]
fn damaged_content_is_detected_and_discarded() {
    let (mut a, mut b) = pair();
    let data = content(6, 100_000);
    let id = a.send(1, "x.bin", data.clone());
    // The file changes on disk after it was hashed (same length).
    a.files.get_mut(&id).unwrap()[50_000] ^= 1;
    run(&mut a, &mut b, 48 * 1024, 1_000);
    let (reason, by_peer, message) = b.ended(id).unwrap();
    assert_eq!((reason, by_peer), (CancelReason::Damaged, false));
    assert_eq!(
        message,
        "x.bin arrived damaged (its SHA-256 does not match), so it was discarded."
    );
    assert_eq!(a.ended(id).unwrap().0, CancelReason::Damaged);
    assert!(a.ended(id).unwrap().2.contains("arrived damaged"));
    assert!(b.storage.is_empty() && b.received.is_empty());
}

#[test]
fn a_file_that_shrinks_while_sending_fails_cleanly() {
    let (mut a, mut b) = pair();
    let id = a.send(1, "log.txt", content(6, 200_000));
    a.files.get_mut(&id).unwrap().truncate(150_000);
    run(&mut a, &mut b, 48 * 1024, 1_000);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    let (reason, by_peer, message) = b.ended(id).unwrap();
    assert_eq!((reason, by_peer), (CancelReason::Failed, true));
    assert_eq!(
        message,
        "The other side stopped the transfer: log.txt changed or could not be read while it was being sent."
    );
    assert!(b.storage.is_empty());
}

#[test]
fn oversized_files_are_refused_before_anything_is_sent() {
    let mut s = Transfers::new();
    s.on_open();
    assert!(check_size("huge.iso", MAX_FILE_BYTES + 1).is_err());
    assert!(FileMeta::for_upload("huge.iso", MAX_FILE_BYTES + 1, "", &[0; 32]).is_err());
    let meta = FileMeta {
        name: "huge.iso".into(),
        size: MAX_FILE_BYTES + 1,
        mime: String::new(),
        sha256: "0".repeat(64),
    };
    let err = s.send_file(TransferId([1; 16]), meta).unwrap_err();
    assert!(err.to_string().contains("can't be sent"), "{err}");
    assert_eq!(s.poll_output(0), Output::Idle);
    assert_eq!(s.transfers().count(), 0);
}

#[test]
fn backpressure_and_round_robin() {
    let mut s = Sender::new();
    s.on_connected();
    let ids: Vec<_> = (1..=3u8).map(|i| TransferId([i; 16])).collect();
    for id in &ids {
        let meta = FileMeta::for_upload("f", 10 * READ_BYTES as u64, "", &[0; 32]).unwrap();
        s.offer(*id, meta).unwrap();
        assert!(matches!(
            s.poll_output(0),
            Output::SendFrame(PeerFrame::FileOffer { .. })
        ));
    }
    assert_eq!(
        s.poll_output(0),
        Output::Idle,
        "nothing is read before file-accept"
    );
    for id in &ids {
        s.handle_frame(&PeerFrame::FileAccept {
            transfer_id: *id,
            next_seq: 0,
        })
        .unwrap();
    }
    assert_eq!(s.poll_output(HIGH_WATER), Output::WaitForBufferedAmountLow);
    let mut order = Vec::new();
    for _ in 0..7 {
        let Output::Read(r) = s.poll_output(HIGH_WATER - 1) else {
            panic!()
        };
        // One read at a time.
        assert_eq!(s.poll_output(0), Output::Idle);
        order.push(r.transfer_id);
        s.read_done(&r, &vec![0; r.len as usize]);
        for _ in 0..r.count {
            assert!(matches!(s.poll_output(u64::MAX), Output::SendChunk(_)));
        }
    }
    assert_eq!(
        order,
        [ids[0], ids[1], ids[2], ids[0], ids[1], ids[2], ids[0]]
    );
    // Removing the transfer just served keeps the turn order.
    s.cancel(ids[0]);
    assert!(matches!(
        s.poll_output(0),
        Output::SendFrame(PeerFrame::FileCancel { .. })
    ));
    assert!(matches!(
        s.poll_output(0),
        Output::Event(Event::Ended { .. })
    ));
    let Output::Read(r) = s.poll_output(0) else {
        panic!()
    };
    assert_eq!(r.transfer_id, ids[1]);
    // A read that comes back after its transfer was cancelled is dropped.
    s.cancel(ids[1]);
    s.read_done(&r, &vec![0; r.len as usize]);
    let mut outputs = Vec::new();
    loop {
        match s.poll_output(0) {
            Output::Read(next) => {
                assert_eq!(next.transfer_id, ids[2]);
                break;
            }
            Output::SendChunk(_) => panic!("a chunk of a cancelled transfer was sent"),
            Output::Idle => panic!("stalled"),
            o => outputs.push(o),
        }
    }
    // A duplicate accept while streaming does not restart the stream; one beyond the end is refused.
    s.handle_frame(&PeerFrame::FileAccept {
        transfer_id: ids[2],
        next_seq: 0,
    })
    .unwrap();
    assert_eq!(s.progress(ids[2]).unwrap().0, 2 * READ_BYTES as u64);
    assert!(s
        .handle_frame(&PeerFrame::FileResume {
            transfer_id: ids[2],
            next_seq: MAX_CHUNKS
        })
        .is_err());
}

#[test]
fn resume_for_an_unknown_transfer_says_unavailable() {
    let mut s = Sender::new();
    s.on_connected();
    let id = TransferId([4; 16]);
    s.handle_frame(&PeerFrame::FileResume {
        transfer_id: id,
        next_seq: 3,
    })
    .unwrap();
    assert_eq!(
        s.poll_output(0),
        Output::SendFrame(PeerFrame::FileUnavailable { transfer_id: id })
    );
    // An accept for something we never offered is ignored.
    s.handle_frame(&PeerFrame::FileAccept {
        transfer_id: id,
        next_seq: 0,
    })
    .unwrap();
    assert_eq!(s.poll_output(0), Output::Idle);
}

// ----- The receiver against hostile input -----

const GOOD: TransferId = TransferId([0x11; 16]);

/// A receiver that accepted GOOD, a file of `size` bytes; returns it and the content.
fn receiving(size: usize) -> (Transfers, Vec<u8>) {
    let data = content(42, size);
    let meta = FileMeta::for_upload("good.bin", size as u64, "", &Sha256::digest(&data)).unwrap();
    let mut r = Transfers::new();
    r.on_open();
    r.handle_text(&PeerFrame::file_offer(GOOD, &meta).encode())
        .unwrap();
    drain(&mut r);
    (r, data)
}

fn drain(r: &mut Transfers) -> Vec<Output> {
    let mut out = Vec::new();
    loop {
        match r.poll_output(0) {
            Output::Idle => return out,
            o => out.push(o),
        }
    }
}

fn chunk(id: TransferId, seq: u32, payload: &[u8]) -> Vec<u8> {
    ChunkFrame {
        transfer_id: id,
        seq,
        payload,
    }
    .encode()
}

#[test]
fn receiving_progress_moves_with_each_chunk_before_its_batch_is_stored() {
    let (mut r, data) = receiving(BATCH_BYTES + CHUNK_SIZE);
    let done = |r: &Transfers| r.get(GOOD).map(|v| (v.bytes_done, v.state));
    assert_eq!(done(&r), Some((0, TransferState::Receiving)));
    for seq in 0..3u32 {
        let start = seq as usize * CHUNK_SIZE;
        r.handle_binary(&chunk(GOOD, seq, &data[start..start + CHUNK_SIZE]))
            .unwrap();
        let received = (seq as u64 + 1) * CHUNK_SIZE as u64;
        assert_eq!(done(&r), Some((received, TransferState::Receiving)));
    }
    // Nothing of it is stored yet: a reload would resume from the start.
    assert_eq!(r.receiver.snapshot(GOOD).unwrap().stored_bytes, 0);
    assert_eq!(drain(&mut r), []);
}

/// Feeding `bytes` is refused with an error containing `expected`, and changes nothing.
fn check_chunk_refused(r: &mut Transfers, bytes: &[u8], expected: &str) {
    let before = r.receiver.snapshot(GOOD);
    let view_before = r.get(GOOD).map(|v| (v.bytes_done, v.state));
    let err = r.handle_binary(bytes).unwrap_err();
    assert!(
        err.to_string().contains(expected),
        "expected {expected:?} in {err}"
    );
    assert_eq!(r.receiver.snapshot(GOOD), before);
    assert_eq!(r.get(GOOD).map(|v| (v.bytes_done, v.state)), view_before);
    assert_eq!(drain(r), []);
}

#[test]
fn hostile_chunks_are_refused_and_change_nothing() {
    let size = BATCH_BYTES + CHUNK_SIZE + 100; // a full batch and two chunks, the last one 100 bytes
    const B: u32 = BATCH_CHUNKS; // first chunk of the second batch
    const LAST: u32 = B + 1;
    let (mut r, data) = receiving(size);
    let piece = |seq: u32| {
        let start = seq as usize * CHUNK_SIZE;
        &data[start..(start + CHUNK_SIZE).min(size)]
    };
    check_chunk_refused(
        &mut r,
        &chunk(TransferId([9; 16]), 0, piece(0)),
        "never offered",
    );
    check_chunk_refused(
        &mut r,
        &chunk(GOOD, LAST + 1, &[1]),
        &format!("out of range: the file has {} chunks", LAST + 1),
    );
    check_chunk_refused(&mut r, &chunk(GOOD, u32::MAX, &[1]), "out of range");
    check_chunk_refused(
        &mut r,
        &chunk(GOOD, 1, piece(1)),
        "out of order (chunk 0 was expected)",
    );
    check_chunk_refused(
        &mut r,
        &chunk(GOOD, 0, &piece(0)[..100]),
        "carries 100 bytes instead of 16384",
    );
    check_chunk_refused(&mut r, &[], "empty");
    check_chunk_refused(&mut r, &[0x01, 0x11], "shorter than its 21-byte header");
    check_chunk_refused(&mut r, &[0xff; 30], "unknown binary frame kind");
    let mut oversized = chunk(GOOD, 0, piece(0));
    oversized.push(0);
    check_chunk_refused(&mut r, &oversized, "over the limit");

    // Good chunks up to the last: the first batch is stored.
    for seq in 0..=B {
        let work = r.handle_binary(&chunk(GOOD, seq, piece(seq))).unwrap();
        // Nothing to do until a chunk fills the batch (then its Store waits in the queue, undrained here).
        assert_eq!(work, seq >= B - 1, "chunk {seq}");
    }
    let out = drain(&mut r);
    assert_eq!(out.len(), 1);
    let Output::Store(batch) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!((batch.first_seq, batch.bytes.len()), (0, BATCH_BYTES));
    r.stored(GOOD, 0).unwrap();
    assert!(r.stored(GOOD, 0).is_err(), "a batch is confirmed once");
    check_chunk_refused(&mut r, &chunk(GOOD, 0, piece(0)), "out of order");
    check_chunk_refused(
        &mut r,
        &chunk(GOOD, B, piece(B)),
        &format!("out of order (chunk {LAST} was expected)"),
    );
    // The last chunk with more than the declared size.
    check_chunk_refused(
        &mut r,
        &chunk(GOOD, LAST, &[7; 101]),
        "beyond the announced size",
    );
    check_chunk_refused(
        &mut r,
        &chunk(GOOD, LAST, &[7; CHUNK_SIZE]),
        "beyond the announced size",
    );
    // The view still counts the B + 1 good chunks received.
    assert_eq!(
        r.get(GOOD).unwrap().bytes_done,
        BATCH_BYTES as u64 + CHUNK_SIZE as u64
    );

    // The right last chunk completes it, and the data is intact.
    r.handle_binary(&chunk(GOOD, LAST, piece(LAST))).unwrap();
    let out = drain(&mut r);
    let Output::Store(batch) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(batch.first_seq, B);
    assert_eq!(&batch.bytes[..], &data[BATCH_BYTES..]);
    check_chunk_refused(
        &mut r,
        &chunk(GOOD, LAST, piece(LAST)),
        "no more data was expected",
    );
    // Hashed as it arrived: once the last batch is stored, the client only confirms its batches are all there.
    r.stored(GOOD, B).unwrap();
    let digest = Sha256::digest(&data);
    assert_eq!(
        drain(&mut r),
        [Output::Confirm {
            transfer_id: GOOD,
            digest
        }]
    );
    assert_eq!(r.get(GOOD).unwrap().state, TransferState::Verifying);
    r.verified(GOOD, digest).unwrap();
    let out = drain(&mut r);
    assert!(out.contains(&Output::SendFrame(PeerFrame::FileComplete {
        transfer_id: GOOD
    })));
    assert!(out.contains(&Output::Event(Event::Received { transfer_id: GOOD })));
    // Late chunks of the finished transfer are ignored quietly.
    r.handle_binary(&chunk(GOOD, LAST, piece(LAST))).unwrap();
}

#[test]
fn hostile_offers_are_refused_with_a_reason() {
    let (mut r, _) = receiving(1000);
    let id = TransferId([0x22; 16]);
    let offer = |name: &str, size: u64| {
        format!(
            r#"{{"type":"file-offer","transfer_id":"{id}","name":{},"size":{size},"mime":"","sha256":"{}"}}"#,
            serde_json::to_string(name).unwrap(),
            "0".repeat(64)
        )
    };
    for (text, expected) in [
        (offer("../../evil.sh", 5), "path separator"),
        (offer("C:\\evil.sh", 5), "path separator"),
        (offer("bell\u{7}", 5), "control characters"),
        (
            offer(&"n".repeat(MAX_FILE_NAME_CHARS + 1), 5),
            "over the limit of 255",
        ),
        (
            offer("big", MAX_FILE_BYTES + 1),
            "files over 200 MB can't be sent",
        ),
    ] {
        let err = r.handle_text(&text).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
        let out = drain(&mut r);
        let [Output::SendFrame(PeerFrame::FileCancel {
            transfer_id,
            reason: CancelReason::Refused,
            message,
        })] = &out[..]
        else {
            panic!("{out:?}")
        };
        assert_eq!(*transfer_id, id);
        assert!(message.contains(expected), "{message}");
        assert!(r.get(id).is_none());
    }
    // Reusing a transfer id for another file changes nothing.
    let other = FileMeta::for_upload("other", 5, "", &[1; 32]).unwrap();
    let err = r
        .handle_text(&PeerFrame::file_offer(GOOD, &other).encode())
        .unwrap_err();
    assert!(err.to_string().contains("different file"), "{err}");
    assert_eq!(drain(&mut r), []);
    assert_eq!(r.get(GOOD).unwrap().meta.name, "good.bin");
    // Too many at once.
    for i in 1..MAX_ACTIVE_TRANSFERS as u8 {
        let meta = FileMeta::for_upload("f", 5, "", &[0; 32]).unwrap();
        r.handle_text(&PeerFrame::file_offer(TransferId([0x30 + i; 16]), &meta).encode())
            .unwrap();
    }
    let meta = FileMeta::for_upload("one too many", 5, "", &[0; 32]).unwrap();
    let err = r
        .handle_text(&PeerFrame::file_offer(id, &meta).encode())
        .unwrap_err();
    assert!(err.to_string().contains("too many files"), "{err}");
    // Chat frames on this channel are ignored; garbage is refused.
    r.handle_text(&PeerFrame::Typing { active: true }.encode())
        .unwrap();
    assert!(r.handle_text("{").is_err());
}

#[test]
fn snapshots_round_trip_and_bad_ones_are_refused() {
    let meta = FileMeta::for_upload("a.bin", 3 * BATCH_BYTES as u64, "", &[0; 32]).unwrap();
    let good = IncomingSnapshot {
        transfer_id: GOOD,
        meta: meta.clone(),
        next_seq: BATCH_CHUNKS,
        stored_bytes: BATCH_BYTES as u64,
    };
    let json = serde_json::to_string(&good).unwrap();
    assert!(json.contains(&GOOD.to_hex()), "{json}");
    assert_eq!(
        serde_json::from_str::<IncomingSnapshot>(&json).unwrap(),
        good
    );
    let mut r = Transfers::new();
    r.restore(good.clone()).unwrap();
    assert!(r.restore(good.clone()).is_err(), "twice");
    for bad in [
        IncomingSnapshot {
            stored_bytes: 5,
            ..good.clone()
        },
        IncomingSnapshot {
            next_seq: 3 * BATCH_CHUNKS + 1,
            stored_bytes: 3 * BATCH_BYTES as u64,
            ..good.clone()
        },
        IncomingSnapshot {
            transfer_id: TransferId([1; 16]),
            meta: FileMeta {
                name: "a/b".into(),
                ..meta.clone()
            },
            ..good.clone()
        },
    ] {
        assert!(Transfers::new().restore(bad).is_err());
    }
    // A snapshot of a fully stored file goes straight to verification.
    let mut r = Transfers::new();
    r.restore(IncomingSnapshot {
        next_seq: 3 * BATCH_CHUNKS,
        stored_bytes: 3 * BATCH_BYTES as u64,
        ..good
    })
    .unwrap();
    let out = drain(&mut r);
    assert!(out.contains(&Output::Verify(GOOD)), "{out:?}");
    assert_eq!(r.get(GOOD).unwrap().state, TransferState::Verifying);
}

#[test]
fn zero_byte_file_needs_no_chunks() {
    let data = content(42, 0);
    let meta = FileMeta::for_upload("good.bin", 0, "", &Sha256::digest(&data)).unwrap();
    let mut r = Transfers::new();
    r.on_open();
    r.handle_text(&PeerFrame::file_offer(GOOD, &meta).encode())
        .unwrap();
    let digest = Sha256::digest(&data);
    let out = drain(&mut r);
    assert!(
        out.contains(&Output::Confirm {
            transfer_id: GOOD,
            digest
        }),
        "{out:?}"
    );
    check_chunk_refused(&mut r, &chunk(GOOD, 0, &[1]), "no more data was expected");
    r.verified(GOOD, digest).unwrap();
    let out = drain(&mut r);
    assert!(out.contains(&Output::Event(Event::Received { transfer_id: GOOD })));
    assert!(out.contains(&Output::SendFrame(PeerFrame::FileComplete {
        transfer_id: GOOD
    })));
    assert!(r.get(GOOD).is_none());
    // Late chunks of the finished transfer are ignored quietly.
    r.handle_binary(&chunk(GOOD, 0, &[1])).unwrap();
}

// ----- Properties -----

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(|s| json!(s)),
        Just(json!(GOOD.to_hex())),
        Just(json!("0".repeat(64))),
        Just(json!([])),
    ]
}

fn hostile_json() -> impl Strategy<Value = String> {
    let types = prop_oneof![
        Just("file-offer"),
        Just("file-accept"),
        Just("file-resume"),
        Just("file-complete"),
        Just("file-cancel"),
        Just("file-unavailable"),
        Just("chat"),
        Just("bogus"),
    ];
    let keys = prop_oneof![
        Just("transfer_id"),
        Just("name"),
        Just("size"),
        Just("mime"),
        Just("sha256"),
        Just("next_seq"),
        Just("reason"),
        Just("message"),
    ];
    prop_oneof![
        ".{0,200}",
        (types, proptest::collection::vec((keys, json_value()), 0..8)).prop_map(|(ty, fields)| {
            let mut map = serde_json::Map::new();
            map.insert("type".into(), ty.into());
            for (k, v) in fields {
                map.insert(k.into(), v);
            }
            serde_json::Value::Object(map).to_string()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Random text never panics either side; whatever decodes round-trips.
    #[test]
    fn random_json_never_panics(texts in proptest::collection::vec(hostile_json(), 1..6)) {
        let (mut r, _) = receiving(100_000);
        let mut s = Transfers::new();
        s.on_open();
        s.send_file(GOOD, FileMeta::for_upload("g", 100_000, "", &[0; 32]).unwrap()).unwrap();
        for text in &texts {
            if let Ok(frame) = PeerFrame::decode(text) {
                prop_assert_eq!(PeerFrame::decode(&frame.encode()).unwrap(), frame);
            }
            let _ = r.handle_text(text);
            let _ = s.handle_text(text);
            drain(&mut r);
            for _ in 0..50 {
                match s.poll_output(0) {
                    Output::Idle => break,
                    Output::Read(req) => s.read_done(&req, &vec![0; req.len as usize]),
                    _ => {}
                }
            }
        }
    }

    /// Random bytes and chunk-shaped frames never panic the receiver.
    #[test]
    fn random_binary_never_panics(
        frames in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                (any::<bool>(), 0u32..10, 0usize..CHUNK_SIZE + 2).prop_map(|(good, seq, len)| {
                    let id = if good { GOOD } else { TransferId([3; 16]) };
                    let mut b = chunk_header(id, seq).to_vec();
                    b.resize(CHUNK_HEADER_BYTES + len, 0x5a);
                    b
                }),
            ],
            1..12,
        )
    ) {
        let (mut r, _) = receiving(5 * CHUNK_SIZE + 3);
        for f in &frames {
            let _ = r.handle_binary(f);
            for out in drain(&mut r) {
                if let Output::Store(b) = out {
                    r.stored(b.transfer_id, b.first_seq).unwrap();
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Hostile {
    Bytes(Vec<u8>),
    /// A chunk for the good transfer (or another id) at any seq, of any length.
    Chunk {
        good: bool,
        seq: u32,
        len: usize,
        fill: u8,
    },
    Text(String),
    /// The very chunk the receiver expects next, with the wrong content: only the SHA-256 can catch it.
    Forged {
        fill: u8,
    },
    /// Legitimate-looking frames that end or stall the transfer: it must do so cleanly.
    Cancel,
    Unavailable,
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Hostile::Bytes),
        8 => (any::<bool>(), 0u32..80, 1usize..=CHUNK_SIZE, any::<u8>())
            .prop_map(|(good, seq, len, fill)| Hostile::Chunk { good, seq, len, fill }),
        4 => hostile_json().prop_map(Hostile::Text),
        2 => any::<u8>().prop_map(|fill| Hostile::Forged { fill }),
        1 => Just(Hostile::Cancel),
        1 => Just(Hostile::Unavailable),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Hostile frames interleaved with a good transfer never corrupt it: either it completes with the right
    /// bytes, or it ends (or is interrupted) cleanly; a stored batch is never rewritten with other bytes, and
    /// while every hostile frame was refused or ignored, everything stored is the true content and the transfer
    /// completes.
    #[test]
    fn hostile_frames_never_corrupt_a_good_transfer(
        size in 0usize..(BATCH_BYTES + 200_000),
        attacks in proptest::collection::vec((0usize..60, hostile()), 0..20),
    ) {
        let (mut a, mut b) = pair();
        let data = content(size as u64, size);
        let id = a.send(0x11, "good.bin", data.clone());
        prop_assert_eq!(id, GOOD);
        let mut any_accepted = false;
        for step in 0..2_000 {
            let mut worked = progress(&mut a, &mut b, 40 * 1024);
            for (_, attack) in attacks.iter().filter(|(s, _)| *s == step) {
                worked = true;
                let state = |b: &Peer| {
                    (b.t.get(GOOD).map(|v| (v.bytes_done, v.state)), b.t.receiver.next_expected(GOOD),
                     b.t.transfers().count(), b.events.len())
                };
                let before = state(&b);
                let result = match attack {
                    Hostile::Bytes(bytes) => b.t.handle_binary(bytes).map(|_| ()),
                    Hostile::Chunk { good, seq, len, fill } => {
                        let id = if *good { GOOD } else { TransferId([0x77; 16]) };
                        b.t.handle_binary(&chunk(id, *seq, &vec![*fill; *len])).map(|_| ())
                    }
                    Hostile::Text(text) => b.t.handle_text(text),
                    Hostile::Forged { fill } => match b.t.receiver.next_expected(GOOD) {
                        Some(seq) => {
                            let len = FileMeta::for_upload("x", size as u64, "", &[0; 32]).unwrap().chunk_len(seq);
                            b.t.handle_binary(&chunk(GOOD, seq, &vec![*fill; len.max(1)])).map(|_| ())
                        }
                        None => b.t.handle_binary(&chunk(GOOD, 0, &[*fill])).map(|_| ()),
                    },
                    Hostile::Cancel => b.t.handle_text(&PeerFrame::FileCancel {
                        transfer_id: GOOD, reason: CancelReason::Failed, message: String::new(),
                    }.encode()),
                    Hostile::Unavailable => b.t.handle_text(
                        &PeerFrame::FileUnavailable { transfer_id: GOOD }.encode()),
                };
                b.pump();
                if result.is_ok() && state(&b) != before {
                    any_accepted = true;
                }
            }
            if !any_accepted {
                let stored = b.stored_bytes(GOOD);
                prop_assert_eq!(&stored[..], &data[..stored.len()]);
            }
            if !worked && step > 60 {
                break;
            }
        }
        prop_assert!(b.overwrites.is_empty());
        if let Some(got) = b.received.get(&GOOD) {
            prop_assert_eq!(got, &data);
        } else if b.ended(GOOD).is_some() {
            prop_assert!(b.stored_bytes(GOOD).is_empty(), "an ended transfer's data is discarded");
        } else {
            let view = b.t.get(GOOD);
            prop_assert!(view.is_some(), "the transfer neither completed, ended nor remained");
        }
        if !any_accepted {
            // No hostile frame got through: the good transfer must have completed.
            prop_assert_eq!(b.received.get(&GOOD), Some(&data));
        }
    }
}
