//! File transfer in the browser: the IO around the sans-IO engine [`twain_protocol::transfer::Transfers`].
//!
//! # Contract
//!
//! One [`FilesDriver`] per room page owns one `Transfers` for the pairing (it outlives reconnects, so an
//! interrupted transfer resumes on the next connection) and does everything the engine asks, from a single async
//! pump task:
//!
//! - **Sending**: a picked `File` (a disk-backed handle, never its bytes) is hashed as it streams through one reused
//!   1 MiB buffer ([`io::hash_blobs`]), offered, then read on demand, one 1 MiB `Blob.slice` stream at a time, into a
//!   read-ahead ([`io::FileReader`]) that serves the engine's 128 KiB reads. The engine starts no read
//!   while the `twain-files` channel holds [`HIGH_WATER`](twain_protocol::transfer::HIGH_WATER) bytes; the pump
//!   then sleeps until `bufferedamountlow`. So the send queue stays around 1 MiB, far from Chromium's 16 MiB
//!   limit, and chat (on its own channel) never waits behind file data.
//! - **Receiving**: chunks go into the engine as they arrive; every ~4 MiB batch is written as one `Blob` record
//!   together with the resume snapshot in one IndexedDB transaction ([`Storage::put_batch`]), keyed by the
//!   batch's first chunk number (so a partial batch stored when the channel closed and the rest stored after the
//!   resume never overwrite each other), and the pump awaits that write before it polls again. The engine hashes
//!   chunks as they arrive; at the end the driver checks that the stored Blobs add up to the file's size
//!   ([`Output::Confirm`]). Only a transfer restored after a reload has its stored Blobs read back and hashed at
//!   the end (in a separate task, so sending continues meanwhile). After each batch V8 is nudged to collect the
//!   written `Blob`s, whose bytes Chromium otherwise keeps in memory until the next garbage collection
//!   ([`io::nudge_gc`]).
//! - **Resume**: unfinished incoming transfers are restored from their snapshots before the channel is used;
//!   channel events that arrive earlier wait (a bounded number). Outgoing transfers whose file is no longer open
//!   (this page was reloaded) are shown as interrupted; picking the same file again resumes them.
//! - **Trust**: on each new connection, transfers (new offers, and the automatic resume of unfinished ones) start
//!   only once the other browser proved its identity, or the person chose to continue after a failed check
//!   ([`FilesDriver::set_trusted`]): no file byte goes to a connection that may be intercepted.
//! - **UI**: engine events and a 4 Hz progress refresh become [`view::FilesAction`]s on a Yew reducer.
//!
//! Never holds a `RefCell` borrow across an `.await`.

pub mod io;
pub mod view;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use gloo_timers::callback::Interval;
use js_sys::{ArrayBuffer, Uint8Array};
use twain_protocol::transfer::{
    format_bytes, sanitize_file_name, CancelReason, Event, FileMeta, IncomingSnapshot, Output,
    Progress, ReadRequest, StoreBatch, TransferId, Transfers, MAX_FILE_BYTES,
};
use twain_protocol::ProtocolError;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{RtcDataChannel, RtcDataChannelState};
use yew::prelude::*;

use crate::net::session::{FilesEvent, Session};
use crate::storage::{FileRecord, FileState, Storage};
use view::{FileItem, FilesAction, FilesView, LiveHandle, LiveProgress, Phase, ProgressUpdate};

/// How often progress (percentage, rate, time left) is refreshed on the cards.
const REFRESH_MS: u32 = 250;
/// Channel events kept while stored transfers are being restored; a peer sends only a few frames before we
/// answer, so more than this means something is wrong and the rest are dropped.
const MAX_EARLY_EVENTS: usize = 1024;

/// Every this many stored batches (~4 MiB each), let V8 collect the `Blob`s of the stored ones ([`io::nudge_gc`]).
const GC_NUDGE_EVERY_BATCHES: u64 = 1;
const GC_NUDGE_BYTES: u32 = 64 * 1024 * 1024;

/// What a file card asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum FileCommand {
    /// Stop a transfer (either direction).
    Cancel(String),
    /// Ask the sender again for an interrupted incoming transfer.
    Retry(String),
    /// Remove an ended transfer from the conversation and free its stored data.
    Delete(String),
}

/// The sentence shown, without sending anything, for a file over the limit.
pub fn too_big_message(name: &str, size: u64) -> String {
    format!(
        "“{name}” is {}; Twain can send files up to {}.",
        format_bytes(size),
        format_bytes(MAX_FILE_BYTES)
    )
}

/// Wakes the pump. A flag plus a waker, so a wake-up that comes while the pump is busy is not lost.
#[derive(Default)]
struct Notify {
    flag: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    fn notify(&self) {
        self.flag.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    fn notified(&self) -> Notified<'_> {
        Notified(self)
    }
}

struct Notified<'a>(&'a Notify);

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.flag.replace(false) {
            Poll::Ready(())
        } else {
            *self.0.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Rate measurement of one transfer, and what its card last showed.
struct Track {
    progress: Progress,
    shown: Option<ProgressUpdate>,
}

/// Drives the file transfers of one room page. See the [module docs](self).
pub struct FilesDriver {
    room_id: String,
    storage: Rc<Storage>,
    session: Rc<RefCell<Option<Session>>>,
    dispatch: UseReducerDispatcher<FilesView>,
    transfers: RefCell<Transfers>,
    /// Files being sent, by transfer id.
    open_files: RefCell<HashMap<TransferId, web_sys::File>>,
    /// The open `twain-files` channel, if any.
    channel: RefCell<Option<RtcDataChannel>>,
    /// The identity check of the current connection passed (or the person continued anyway).
    trusted: Cell<bool>,
    /// `channel` is open but the engine was not told yet, waiting for `trusted`.
    open_pending: Cell<bool>,
    /// Text frames that arrived meanwhile (offers, resumes): handled once the engine is told (bounded).
    held: RefCell<Vec<FilesEvent>>,
    /// Stored transfers are restored; until then channel events wait in `early`.
    ready: Cell<bool>,
    early: RefCell<Vec<FilesEvent>>,
    wake: Notify,
    /// Picked files being hashed: id -> (bytes hashed, size).
    preparing: RefCell<HashMap<String, (u64, u64)>>,
    /// Outgoing transfers from before a reload (their file is gone), by id, to resume when it is picked again.
    orphans: RefCell<HashMap<String, FileRecord>>,
    tracks: RefCell<HashMap<String, Track>>,
    /// The newest progress, for the cards (phase changes go through the view).
    live: Rc<LiveProgress>,
    /// Readers of the files being sent, positioned where the next read starts.
    readers: RefCell<HashMap<TransferId, io::FileReader>>,
    /// Reused buffer for incoming chunks.
    scratch: RefCell<Vec<u8>>,
    /// Batches stored so far (see [`io::nudge_gc`]).
    stored_batches: Cell<u64>,
    stopped: Cell<bool>,
    ticker: RefCell<Option<Interval>>,
    self_ref: Weak<FilesDriver>,
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

impl FilesDriver {
    pub fn new(
        room_id: &str,
        storage: Rc<Storage>,
        session: Rc<RefCell<Option<Session>>>,
        dispatch: UseReducerDispatcher<FilesView>,
    ) -> Rc<FilesDriver> {
        Rc::new_cyclic(|weak| FilesDriver {
            room_id: room_id.to_string(),
            storage,
            session,
            dispatch,
            transfers: RefCell::new(Transfers::new()),
            open_files: RefCell::new(HashMap::new()),
            channel: RefCell::new(None),
            trusted: Cell::new(false),
            open_pending: Cell::new(false),
            held: RefCell::new(Vec::new()),
            ready: Cell::new(false),
            early: RefCell::new(Vec::new()),
            wake: Notify::default(),
            preparing: RefCell::new(HashMap::new()),
            orphans: RefCell::new(HashMap::new()),
            tracks: RefCell::new(HashMap::new()),
            live: Rc::default(),
            readers: RefCell::new(HashMap::new()),
            scratch: RefCell::new(Vec::new()),
            stored_batches: Cell::new(0),
            stopped: Cell::new(false),
            ticker: RefCell::new(None),
            self_ref: weak.clone(),
        })
    }

    /// Where the cards find their newest progress.
    pub fn live(&self) -> Rc<LiveProgress> {
        self.live.clone()
    }

    fn this(&self) -> Option<Rc<FilesDriver>> {
        self.self_ref.upgrade()
    }

    /// Loads the room's transfers, restores unfinished incoming ones, then starts the pump and the progress
    /// refresh.
    pub fn start(&self) {
        let Some(this) = self.this() else { return };
        spawn_local(async move {
            this.load().await;
            if this.stopped.get() {
                return;
            }
            let weak = this.self_ref.clone();
            *this.ticker.borrow_mut() = Some(Interval::new(REFRESH_MS, move || {
                if let Some(d) = weak.upgrade() {
                    d.refresh();
                }
            }));
            this.pump().await;
        });
    }

    /// The page goes away: the pump ends, open files are released.
    pub fn stop(&self) {
        self.stopped.set(true);
        self.ticker.borrow_mut().take();
        self.open_files.borrow_mut().clear();
        self.readers.borrow_mut().clear();
        self.channel.borrow_mut().take();
        self.wake.notify();
    }

    /// A file-channel event from the session.
    pub fn on_session_event(&self, event: FilesEvent) {
        if self.stopped.get() {
            return;
        }
        if !self.ready.get() {
            let mut early = self.early.borrow_mut();
            if early.len() < MAX_EARLY_EVENTS {
                early.push(event);
            }
            return;
        }
        self.apply(event);
    }

    fn apply(&self, event: FilesEvent) {
        match event {
            FilesEvent::Open => self.channel_opened(),
            FilesEvent::Closed => {
                self.held.borrow_mut().clear();
                if self.channel.borrow_mut().take().is_some() && !self.open_pending.replace(false) {
                    self.transfers.borrow_mut().on_close();
                }
            }
            FilesEvent::Message(data) if self.open_pending.get() => {
                // Until the identity check passes, keep the other side's control frames for later. No chunk can
                // be legitimate yet (none is sent before our accept or resume): drop those.
                let mut held = self.held.borrow_mut();
                if data.is_string() && held.len() < MAX_EARLY_EVENTS {
                    held.push(FilesEvent::Message(data));
                }
                return;
            }
            FilesEvent::Message(data) => {
                if !self.on_message(&data) {
                    return; // a chunk that only joined the batch being filled: nothing to do yet
                }
            }
            FilesEvent::BufferedLow => {}
        }
        self.wake.notify();
    }

    fn channel_opened(&self) {
        let dc = match self.session.try_borrow() {
            Ok(session) => session
                .as_ref()
                .and_then(|s| s.with_files_channel(|dc| dc.clone())),
            Err(_) => {
                // The session is being changed right now: look again once that is done.
                if let Some(this) = self.this() {
                    spawn_local(async move {
                        this.channel_opened();
                        this.wake.notify();
                    });
                }
                return;
            }
        };
        let Some(dc) = dc.filter(|dc| dc.ready_state() == RtcDataChannelState::Open) else {
            return;
        };
        let mut transfers = self.transfers.borrow_mut();
        // A new channel without a close of the old one: everything in flight on the old one is lost.
        if self.channel.borrow_mut().replace(dc).is_some() && !self.open_pending.get() {
            transfers.on_close();
        }
        if self.trusted.get() {
            self.open_pending.set(false);
            transfers.on_open();
        } else {
            self.open_pending.set(true);
        }
    }

    /// Whether the identity check of the current connection passed, or the person chose to continue after it
    /// failed. Until then an open channel carries no file frames; a new connection starts untrusted.
    pub fn set_trusted(&self, trusted: bool) {
        if self.trusted.replace(trusted) == trusted || self.stopped.get() {
            return;
        }
        if trusted && self.ready.get() && self.open_pending.replace(false) {
            self.transfers.borrow_mut().on_open();
            let held = std::mem::take(&mut *self.held.borrow_mut());
            for event in held {
                self.apply(event);
            }
            self.wake.notify();
        }
    }

    /// Feeds a message to the engine. Returns whether the pump should look for work.
    fn on_message(&self, data: &wasm_bindgen::JsValue) -> bool {
        let result = if let Some(text) = data.as_string() {
            self.transfers
                .borrow_mut()
                .handle_text(&text)
                .map(|()| true)
        } else if let Some(buffer) = data.dyn_ref::<ArrayBuffer>() {
            let array = Uint8Array::new(buffer);
            let mut scratch = self.scratch.borrow_mut();
            scratch.resize(array.length() as usize, 0);
            array.copy_to(&mut scratch);
            self.transfers.borrow_mut().handle_binary(&scratch)
        } else {
            Err(ProtocolError::Malformed(
                "a message of an unknown kind arrived".into(),
            ))
        };
        result.unwrap_or_else(|e| {
            self.notice(format!(
                "The other browser sent file data Twain could not accept: {e}."
            ));
            true
        })
    }

    /// Files the person picked, dropped or pasted: refuses those over the limit with a sentence (before reading
    /// anything), then hashes and offers the others one after another.
    pub fn pick(&self, files: Vec<web_sys::File>) {
        let mut accepted = Vec::new();
        for file in files {
            let name = file.name();
            let size = file.size() as u64;
            if size > MAX_FILE_BYTES {
                self.notice(too_big_message(&name, size));
                continue;
            }
            let id = TransferId::from_random(crate::random::random_bytes());
            let hex = id.to_hex();
            self.preparing.borrow_mut().insert(hex.clone(), (0, size));
            self.dispatch.dispatch(FilesAction::Upsert(FileItem {
                id: hex,
                download_name: sanitize_file_name(&name),
                name,
                size,
                from_me: true,
                ts: js_sys::Date::now(),
                phase: Phase::Preparing,
                done: 0,
                rate: None,
                seconds_left: None,
                local: Some(file.clone()),
                image: None,
            }));
            accepted.push((id, file));
        }
        if accepted.is_empty() {
            return;
        }
        let Some(this) = self.this() else { return };
        spawn_local(async move {
            for (id, file) in accepted {
                if this.stopped.get() {
                    return;
                }
                this.prepare(id, file).await;
            }
        });
    }

    /// Hashes a picked file and offers it (or resumes the interrupted transfer of the same file).
    async fn prepare(&self, id: TransferId, file: web_sys::File) {
        let hex = id.to_hex();
        if !self.preparing.borrow().contains_key(&hex) {
            return; // cancelled while waiting its turn
        }
        let name = file.name();
        let size = file.size() as u64;
        let mut image = None;
        let blob: web_sys::Blob = file.clone().into();
        let hashed = io::hash_blobs(
            &[blob],
            |done| match self.preparing.borrow_mut().get_mut(&hex) {
                Some(entry) => {
                    entry.0 = done;
                    true
                }
                None => false,
            },
            |head| image = io::sniff_image(head).filter(|_| size <= io::MAX_PREVIEW_BYTES),
        )
        .await;
        if self.preparing.borrow_mut().remove(&hex).is_none() || self.stopped.get() {
            return; // cancelled meanwhile
        }
        let digest = match hashed {
            Ok(digest) => digest,
            Err(e) => return self.fail_item(&hex, format!("“{name}” could not be read: {e}.")),
        };
        let meta = match FileMeta::for_upload(&name, size, &file.type_(), &digest) {
            Ok(meta) => meta,
            Err(e) => return self.fail_item(&hex, format!("“{name}” can't be sent: {e}.")),
        };

        // The same file as a transfer interrupted by a reload of this page: resume that one.
        let orphan = {
            let orphans = self.orphans.borrow();
            orphans
                .values()
                .find(|r| r.sha256 == meta.sha256 && r.size as u64 == meta.size)
                .map(|r| r.transfer_id.clone())
        };
        let (id, hex, record) = match orphan.and_then(|o| self.orphans.borrow_mut().remove(&o)) {
            Some(mut record) => {
                let Ok(old) = TransferId::parse(&record.transfer_id) else {
                    return self.fail_item(&hex, "This transfer could not be resumed.".into());
                };
                self.dispatch.dispatch(FilesAction::Remove(hex));
                record.state = FileState::Pending;
                record.message = None;
                (old, record.transfer_id.clone(), record)
            }
            None => {
                let record = FileRecord {
                    transfer_id: hex.clone(),
                    room_id: self.room_id.clone(),
                    name: meta.name.clone(),
                    mime: meta.mime.clone(),
                    size: meta.size as f64,
                    from_me: true,
                    created_ms: js_sys::Date::now(),
                    state: FileState::Pending,
                    bytes_done: 0.0,
                    sha256: meta.sha256.clone(),
                    download_name: sanitize_file_name(&meta.name),
                    snapshot: None,
                    message: None,
                };
                (id, hex, record)
            }
        };
        let mut item = FileItem::from_record(&record);
        item.phase = Phase::WaitingForPeer;
        item.local = Some(file.clone());
        item.image = image;
        self.dispatch.dispatch(FilesAction::Upsert(item));
        if let Err(e) = self.storage.put_file(&record).await {
            return self.fail_item(&hex, e.to_string());
        }
        if self.stopped.get() {
            return;
        }
        if image.is_some() {
            self.keep_own_copy(&hex, &file);
        }
        self.open_files.borrow_mut().insert(id, file);
        let offered = self.transfers.borrow_mut().send_file(id, meta);
        if offered.is_ok() {
            // Queued only when other files take every slot.
            let phase = self
                .transfers
                .borrow()
                .get(id)
                .map(|t| Phase::from_engine(t.state));
            if let Some(phase) = phase {
                self.dispatch.dispatch(FilesAction::Phase {
                    id: hex.clone(),
                    phase,
                });
            }
        }
        if let Err(e) = offered {
            self.open_files.borrow_mut().remove(&id);
            self.fail_item(&hex, format!("“{name}” can't be sent: {e}."));
            self.finish_record(&hex, FileState::Failed, Some(e.to_string()))
                .await;
            return;
        }
        self.wake.notify();
    }

    /// Keeps a copy of a picture being sent (at most [`io::MAX_PREVIEW_BYTES`]), so this side still shows it
    /// after a reload. The browser copies the file into storage by itself (nothing is read into this page), while
    /// the transfer starts. Without room for it the picture is still sent; only the later preview is missing.
    fn keep_own_copy(&self, hex: &str, file: &web_sys::File) {
        let storage = self.storage.clone();
        let (hex, blob) = (hex.to_string(), web_sys::Blob::from(file.clone()));
        spawn_local(async move {
            if let Err(e) = storage.put_chunk(&hex, 0, &blob).await {
                web_sys::console::warn_1(
                    &format!("no copy of a sent picture was kept: {e}").into(),
                );
            }
        });
    }

    fn fail_item(&self, hex: &str, message: String) {
        self.dispatch.dispatch(FilesAction::Phase {
            id: hex.to_string(),
            phase: Phase::Failed(message),
        });
    }

    /// A card's button.
    pub fn command(&self, command: FileCommand) {
        match command {
            FileCommand::Cancel(hex) => {
                let cancelled = "You cancelled the transfer.".to_string();
                if self.preparing.borrow_mut().remove(&hex).is_some() {
                    self.dispatch.dispatch(FilesAction::Phase {
                        id: hex,
                        phase: Phase::Cancelled(cancelled),
                    });
                    return;
                }
                let Ok(id) = TransferId::parse(&hex) else {
                    return;
                };
                if self.transfers.borrow_mut().cancel(id) {
                    self.wake.notify();
                } else if self.orphans.borrow_mut().remove(&hex).is_some() {
                    self.dispatch.dispatch(FilesAction::Phase {
                        id: hex.clone(),
                        phase: Phase::Cancelled(cancelled.clone()),
                    });
                    let Some(this) = self.this() else { return };
                    spawn_local(async move {
                        this.finish_record(&hex, FileState::Cancelled, Some(cancelled))
                            .await
                    });
                }
            }
            FileCommand::Retry(hex) => {
                let Ok(id) = TransferId::parse(&hex) else {
                    return;
                };
                if self.transfers.borrow_mut().retry(id) {
                    self.dispatch.dispatch(FilesAction::Phase {
                        id: hex,
                        phase: Phase::Receiving,
                    });
                    self.wake.notify();
                } else {
                    self.notice(
                        "The file can be asked for again once the other person is connected."
                            .into(),
                    );
                }
            }
            FileCommand::Delete(hex) => {
                let Some(this) = self.this() else { return };
                spawn_local(async move {
                    match this.storage.delete_transfer(&hex).await {
                        Ok(()) => {
                            this.orphans.borrow_mut().remove(&hex);
                            this.dispatch.dispatch(FilesAction::Remove(hex));
                        }
                        Err(e) => this.notice(e.to_string()),
                    }
                });
            }
        }
    }

    pub fn notice(&self, text: String) {
        self.dispatch.dispatch(FilesAction::Notice(text));
    }

    async fn load(&self) {
        let records = match self.storage.files(&self.room_id).await {
            Ok(records) => records,
            Err(e) => {
                self.notice(e.to_string());
                Vec::new()
            }
        };
        let mut items = Vec::with_capacity(records.len());
        for r in records {
            let mut item = FileItem::from_record(&r);
            let unfinished = matches!(r.state, FileState::Pending | FileState::Transferring);
            if unfinished && r.from_me {
                self.orphans
                    .borrow_mut()
                    .insert(r.transfer_id.clone(), r.clone());
            } else if unfinished {
                let restored = match r.snapshot.clone() {
                    Some(snapshot) => self
                        .transfers
                        .borrow_mut()
                        .restore(snapshot)
                        .map_err(|e| e.to_string()),
                    None => Err("its progress was not saved".into()),
                };
                if let Err(e) = restored {
                    let message = format!("“{}” could not be resumed: {e}.", r.name);
                    item.phase = Phase::Failed(message.clone());
                    let _ = self.storage.delete_chunks(&r.transfer_id).await;
                    self.finish_record(&r.transfer_id, FileState::Failed, Some(message))
                        .await;
                }
            }
            items.push(item);
        }
        self.dispatch.dispatch(FilesAction::Loaded(items));
        self.ready.set(true);
        let early = std::mem::take(&mut *self.early.borrow_mut());
        for event in early {
            self.apply(event);
        }
    }

    /// The single task that carries out what the engine asks, in order.
    async fn pump(&self) {
        while !self.stopped.get() {
            let buffered = self
                .channel
                .borrow()
                .as_ref()
                .map_or(0, |dc| u64::from(dc.buffered_amount()));
            let output = self.transfers.borrow_mut().poll_output(buffered);
            match output {
                Output::Idle | Output::WaitForBufferedAmountLow => self.wake.notified().await,
                Output::SendFrame(frame) => self.send_text(&frame.encode()),
                Output::SendChunk(bytes) => self.send_binary(&bytes),
                Output::Read(request) => self.read(request).await,
                Output::Store(batch) => self.store(batch).await,
                Output::SaveSnapshot(snapshot) => self.save_snapshot(snapshot).await,
                Output::Confirm {
                    transfer_id,
                    digest,
                } => self.confirm(transfer_id, digest).await,
                Output::Verify(id) => {
                    // Hashing a big file takes a while: sending and receiving go on meanwhile.
                    if let Some(this) = self.this() {
                        spawn_local(async move { this.verify(id).await });
                    }
                }
                Output::Discard(id) => {
                    if let Err(e) = self.storage.delete_chunks(&id.to_hex()).await {
                        self.notice(e.to_string());
                    }
                }
                Output::Event(event) => self.on_event(event).await,
            }
        }
    }

    fn send_text(&self, text: &str) {
        if let Some(dc) = self.channel.borrow().as_ref() {
            if let Err(e) = dc.send_with_str(text) {
                web_sys::console::warn_1(
                    &format!("file frame not sent: {}", io::js_error(&e)).into(),
                );
            }
        }
    }

    fn send_binary(&self, bytes: &[u8]) {
        if let Some(dc) = self.channel.borrow().as_ref() {
            if let Err(e) = dc.send_with_u8_array(bytes) {
                web_sys::console::warn_1(
                    &format!("file chunk not sent: {}", io::js_error(&e)).into(),
                );
            }
        }
    }

    async fn read(&self, request: ReadRequest) {
        let file = self.open_files.borrow().get(&request.transfer_id).cloned();
        let Some(file) = file else {
            self.transfers
                .borrow_mut()
                .read_failed(&request, "the file is no longer open");
            return;
        };
        let id = request.transfer_id;
        // Reads of one transfer follow each other; a resume elsewhere in the file starts a new reader.
        let kept = self.readers.borrow_mut().remove(&id);
        let reader = match kept {
            Some(reader) if reader.continues_at(request.offset) => Ok(reader),
            _ => io::FileReader::open(&file, request.offset),
        };
        let mut reader = match reader {
            Ok(reader) => reader,
            Err(e) => return self.transfers.borrow_mut().read_failed(&request, &e),
        };
        match reader.read_at(request.offset, request.len as usize).await {
            Ok(bytes) => self.transfers.borrow_mut().read_done(&request, bytes),
            Err(e) => return self.transfers.borrow_mut().read_failed(&request, &e),
        }
        if self.open_files.borrow().contains_key(&id) {
            self.readers.borrow_mut().insert(id, reader);
        }
    }

    async fn store(&self, batch: StoreBatch) {
        let StoreBatch {
            transfer_id,
            first_seq,
            bytes,
            snapshot,
            ..
        } = batch;
        let blob = io::blob_from_bytes(&bytes);
        drop(bytes);
        let result = match blob {
            Ok(blob) => self
                .storage
                .put_batch(&transfer_id.to_hex(), first_seq, &blob, &snapshot)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                let stored = self.stored_batches.get() + 1;
                self.stored_batches.set(stored);
                if stored.is_multiple_of(GC_NUDGE_EVERY_BATCHES) {
                    io::nudge_gc(GC_NUDGE_BYTES);
                }
                if let Err(e) = self.transfers.borrow_mut().stored(transfer_id, first_seq) {
                    web_sys::console::warn_1(&e.to_string().into());
                }
            }
            Err(e) => self.transfers.borrow_mut().store_failed(transfer_id, &e),
        }
    }

    async fn save_snapshot(&self, snapshot: IncomingSnapshot) {
        let meta = &snapshot.meta;
        let record = FileRecord {
            transfer_id: snapshot.transfer_id.to_hex(),
            room_id: self.room_id.clone(),
            name: meta.name.clone(),
            mime: meta.mime.clone(),
            size: meta.size as f64,
            from_me: false,
            created_ms: js_sys::Date::now(),
            state: FileState::Pending,
            bytes_done: snapshot.stored_bytes as f64,
            sha256: meta.sha256.clone(),
            download_name: sanitize_file_name(&meta.name),
            snapshot: Some(snapshot.clone()),
            message: None,
        };
        if let Err(e) = self.storage.put_file(&record).await {
            self.transfers
                .borrow_mut()
                .store_failed(snapshot.transfer_id, &e.to_string());
        }
    }

    /// A transfer hashed as it arrived is all stored: checks that every stored part is there (their sizes add up to
    /// the file's, read from the Blob handles without reading their bytes) before its digest is compared.
    async fn confirm(&self, id: TransferId, digest: [u8; 32]) {
        let Some(size) = self.transfers.borrow().get(id).map(|t| t.meta.size) else {
            return; // cancelled meanwhile
        };
        let result = match self.storage.chunks(&id.to_hex()).await {
            Ok(parts) => {
                let stored = io::parts_size(&parts);
                if stored == size {
                    Ok(digest)
                } else {
                    Err(format!(
                        "part of it is missing from storage ({} of {} stored)",
                        format_bytes(stored),
                        format_bytes(size)
                    ))
                }
            }
            Err(e) => Err(e.to_string()),
        };
        self.checked(id, result);
    }

    /// Reads back what was stored for a transfer and hashes it.
    async fn verify(&self, id: TransferId) {
        let result = match self.storage.chunks(&id.to_hex()).await {
            Ok(parts) => io::hash_blobs(&parts, |_| !self.stopped.get(), |_| {}).await,
            Err(e) => Err(e.to_string()),
        };
        if self.stopped.get() {
            return;
        }
        self.checked(id, result);
        self.wake.notify();
    }

    /// Hands the engine the digest of what was stored, or why it could not be checked.
    fn checked(&self, id: TransferId, result: Result<[u8; 32], String>) {
        match result {
            Ok(digest) => {
                if let Err(e) = self.transfers.borrow_mut().verified(id, digest) {
                    web_sys::console::warn_1(&e.to_string().into());
                }
            }
            Err(e) => self.transfers.borrow_mut().store_failed(id, &e),
        }
    }

    async fn on_event(&self, event: Event) {
        match event {
            Event::Incoming {
                transfer_id,
                meta,
                download_name,
            } => {
                let done = self
                    .transfers
                    .borrow()
                    .get(transfer_id)
                    .map_or(0, |t| t.bytes_done);
                self.dispatch.dispatch(FilesAction::Upsert(FileItem {
                    id: transfer_id.to_hex(),
                    name: meta.name,
                    download_name,
                    size: meta.size,
                    from_me: false,
                    ts: js_sys::Date::now(),
                    phase: Phase::Receiving,
                    done,
                    rate: None,
                    seconds_left: None,
                    local: None,
                    image: None,
                }));
            }
            Event::Received { transfer_id } => {
                let hex = transfer_id.to_hex();
                self.finish_record(&hex, FileState::Complete, None).await;
                self.ended(&hex, Phase::Received);
            }
            Event::Delivered { transfer_id } => {
                self.open_files.borrow_mut().remove(&transfer_id);
                self.readers.borrow_mut().remove(&transfer_id);
                let hex = transfer_id.to_hex();
                self.finish_record(&hex, FileState::Complete, None).await;
                self.ended(&hex, Phase::Delivered);
            }
            Event::Ended {
                transfer_id,
                reason,
                message,
                ..
            } => {
                self.open_files.borrow_mut().remove(&transfer_id);
                self.readers.borrow_mut().remove(&transfer_id);
                let hex = transfer_id.to_hex();
                let (state, phase) = if reason == CancelReason::Cancelled {
                    (FileState::Cancelled, Phase::Cancelled(message.clone()))
                } else {
                    (FileState::Failed, Phase::Failed(message.clone()))
                };
                self.finish_record(&hex, state, Some(message)).await;
                self.ended(&hex, phase);
            }
            Event::Interrupted { transfer_id } => {
                self.dispatch.dispatch(FilesAction::Phase {
                    id: transfer_id.to_hex(),
                    phase: Phase::Interrupted,
                });
            }
        }
    }

    fn ended(&self, hex: &str, phase: Phase) {
        self.tracks.borrow_mut().remove(hex);
        self.live.forget(hex);
        self.dispatch.dispatch(FilesAction::Phase {
            id: hex.to_string(),
            phase,
        });
    }

    /// Records how a transfer ended (it stays in the history with this state).
    async fn finish_record(&self, hex: &str, state: FileState, message: Option<String>) {
        match self.storage.file(hex).await {
            Ok(Some(mut record)) => {
                record.state = state;
                record.message = message;
                record.snapshot = None;
                if state == FileState::Complete {
                    record.bytes_done = record.size;
                } else if record.from_me {
                    // A copy of a picture that never arrived is not worth its space.
                    if let Err(e) = self.storage.delete_chunks(hex).await {
                        self.notice(e.to_string());
                    }
                }
                if let Err(e) = self.storage.put_file(&record).await {
                    self.notice(e.to_string());
                }
            }
            Ok(None) => {} // deleted meanwhile, or never stored (refused before it started)
            Err(e) => self.notice(e.to_string()),
        }
    }

    /// Refreshes percentage, rate and time left of every transfer in progress: the cards get them through
    /// [`LiveProgress`]; the view only when a phase changed.
    fn refresh(&self) {
        let now = now_ms();
        let mut updates = Vec::new();
        let mut phases = Vec::new();
        {
            let transfers = self.transfers.borrow();
            let preparing = self.preparing.borrow();
            let mut tracks = self.tracks.borrow_mut();
            let mut seen = HashSet::new();
            let rows = transfers
                .transfers()
                .map(|t| {
                    (
                        t.transfer_id.to_hex(),
                        Phase::from_engine(t.state),
                        t.bytes_done,
                        t.meta.size,
                    )
                })
                .chain(
                    preparing
                        .iter()
                        .map(|(id, (done, size))| (id.clone(), Phase::Preparing, *done, *size)),
                );
            for (id, phase, done, size) in rows {
                let track = tracks.entry(id.clone()).or_insert_with(|| Track {
                    progress: Progress::new(size),
                    shown: None,
                });
                track.progress.update(now, done);
                let moving = matches!(phase, Phase::Preparing | Phase::Sending | Phase::Receiving);
                let update = ProgressUpdate {
                    id: id.clone(),
                    phase,
                    done,
                    rate: track.progress.rate().filter(|_| moving),
                    seconds_left: track.progress.seconds_left().filter(|_| moving),
                };
                if track.shown.as_ref() != Some(&update) {
                    if track.shown.as_ref().map(|u| &u.phase) != Some(&update.phase) {
                        phases.push(update.clone());
                    }
                    track.shown = Some(update.clone());
                    updates.push(update);
                }
                seen.insert(id);
            }
            tracks.retain(|id, _| seen.contains(id));
            self.live.retain(|id| seen.contains(id));
        }
        if !phases.is_empty() {
            self.dispatch.dispatch(FilesAction::Progress(phases));
        }
        if !updates.is_empty() {
            self.live.publish(updates);
        }
    }
}

/// The room page's file transfers: what the cards show, the driver, and callbacks for the components (made
/// once, so cards don't re-render for a new callback on every render of the page).
#[derive(Clone)]
pub struct FilesHandle {
    pub view: UseReducerHandle<FilesView>,
    /// The newest progress of transfers in flight (see [`LiveProgress`]).
    pub live: LiveHandle,
    pub driver: Rc<FilesDriver>,
    callbacks: Rc<Callbacks>,
}

struct Callbacks {
    command: Callback<FileCommand>,
    pick: Callback<Vec<web_sys::File>>,
    notice: Callback<String>,
    dismiss: Callback<usize>,
}

impl FilesHandle {
    pub fn on_command(&self) -> Callback<FileCommand> {
        self.callbacks.command.clone()
    }

    pub fn on_pick(&self) -> Callback<Vec<web_sys::File>> {
        self.callbacks.pick.clone()
    }

    pub fn on_notice(&self) -> Callback<String> {
        self.callbacks.notice.clone()
    }

    pub fn on_dismiss(&self) -> Callback<usize> {
        self.callbacks.dismiss.clone()
    }
}

/// Creates the room page's [`FilesDriver`] (started by an effect, stopped when the page goes away). Feed it the
/// session's [`FilesEvent`]s with [`FilesDriver::on_session_event`].
#[hook]
pub fn use_files(
    room_id: &str,
    storage: Rc<Storage>,
    session: Rc<RefCell<Option<Session>>>,
) -> FilesHandle {
    let view = use_reducer(FilesView::default);
    let dispatch = view.dispatcher();
    let made = use_memo(room_id.to_string(), move |room_id| {
        let driver = FilesDriver::new(room_id, storage, session, dispatch.clone());
        let callbacks = Rc::new(Callbacks {
            command: {
                let driver = driver.clone();
                Callback::from(move |c| driver.command(c))
            },
            pick: {
                let driver = driver.clone();
                Callback::from(move |files| driver.pick(files))
            },
            notice: {
                let driver = driver.clone();
                Callback::from(move |text| driver.notice(text))
            },
            dismiss: Callback::from(move |i| dispatch.dispatch(FilesAction::DismissNotice(i))),
        });
        (driver, callbacks)
    });
    {
        let driver = made.0.clone();
        use_effect_with(room_id.to_string(), move |_| {
            driver.start();
            move || driver.stop()
        });
    }
    FilesHandle {
        view,
        live: LiveHandle(made.0.live()),
        driver: made.0.clone(),
        callbacks: made.1.clone(),
    }
}
