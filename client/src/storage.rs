//! Everything Twain keeps in the browser, in IndexedDB. This is the only module that talks to IndexedDB.
//!
//! # Layout (database [`DB_NAME`], version [`DB_VERSION`])
//!
//! | store | key | value | indexes |
//! |---|---|---|---|
//! | `identity` | out-of-line: `"me"`, and `"keep-nothing"` | [`Identity`] plus its private `CryptoKey` (`storage/keys.rs`); the keep-nothing room hashes (`storage/privacy.rs`) | — |
//! | `rooms` | `room_id` | [`RoomRecord`] | — |
//! | `messages` | `id` | [`StoredMessage`] | `room_ts` on `[room_id, ts]` |
//! | `files` | `transfer_id` | [`FileRecord`] | `room_id` on `room_id` |
//! | `chunks` | out-of-line `[transfer_id, batch_index]` | a `Blob` (one stored batch of a file) | — |
//!
//! Records are plain JS objects (serde-wasm-bindgen, JSON-compatible). New fields must be `Option` or carry
//! `#[serde(default)]` so records written by an older version keep reading; unknown fields are ignored. A schema
//! change bumps [`DB_VERSION`] and adds one step to `upgrade` (which runs every step above the old version).
//!
//! The `room_ts` index serves both "all messages of a room" and their time order (ties broken by id), and allows
//! paging later without a migration. Chunks hold `Blob`s, never `ArrayBuffer`s, so a received file stays on disk:
//! build the download with `new Blob(chunks)` from [`Storage::chunks`].
//!
//! Rooms marked "keep nothing" never reach IndexedDB: every method below first asks `storage/volatile.rs`,
//! which keeps such a room's record, messages and files in this page's memory.
//!
//! Every write runs in one transaction and resolves only once the browser committed it, so a failure (including a
//! full disk, which some browsers only report when committing) comes back as a [`StorageError`].

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use js_sys::{Array, Promise, Reflect};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, Event, IdbDatabase, IdbFactory, IdbIndexParameters, IdbKeyRange, IdbObjectStore,
    IdbObjectStoreParameters, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode,
    IdbVersionChangeEvent,
};

use twain_protocol::transfer::IncomingSnapshot;

mod keys;
mod privacy;
mod volatile;

/// Name of the app's database.
pub const DB_NAME: &str = "twain";
/// Current schema version.
pub const DB_VERSION: u32 = 1;

const IDENTITY: &str = "identity";
const ROOMS: &str = "rooms";
const MESSAGES: &str = "messages";
const FILES: &str = "files";
const CHUNKS: &str = "chunks";
/// Index of `messages` on `[room_id, ts]`.
const MESSAGES_BY_ROOM: &str = "room_ts";
/// Index of `files` on `room_id`.
const FILES_BY_ROOM: &str = "room_id";
/// Key of the single record in `identity`.
const ME: &str = "me";

/// Who this browser is: a stable random peer id and the display name shown to the other side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Derived from `public_key` ([`twain_protocol::verify::peer_id_from_public_key`]).
    pub peer_id: String,
    pub name: String,
    pub created_ms: f64,
    /// Base64url of the raw P-256 public key of this browser's identity key pair.
    #[serde(default)]
    pub public_key: String,
}

/// A room this browser has opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub room_id: String,
    /// True if this browser created the room (true wins once set).
    pub created_by_me: bool,
    pub first_opened_ms: f64,
    pub last_opened_ms: f64,
    /// Last known name and id of the other peer.
    #[serde(default)]
    pub peer_name: Option<String>,
    #[serde(default)]
    pub peer_id: Option<String>,
    /// The other peer's public key (base64url, raw P-256) as last proven in this room and accepted.
    #[serde(default)]
    pub peer_public_key: Option<String>,
    /// The person marked `peer_public_key` as verified (they compared the safety code).
    #[serde(default)]
    pub peer_verified: bool,
    /// The room's owner key, if this browser created the room: sent in `hello` so the signaling worker knows this
    /// browser owns the room (it may remove or ban the other person). Never shown, never sent to the other peer.
    #[serde(default)]
    pub owner_secret: Option<String>,
}

impl RoomRecord {
    /// A room first opened at `now_ms`, with nothing known about the other person yet.
    pub fn new(room_id: &str, created_by_me: bool, now_ms: f64) -> RoomRecord {
        RoomRecord {
            room_id: room_id.to_string(),
            created_by_me,
            first_opened_ms: now_ms,
            last_opened_ms: now_ms,
            peer_name: None,
            peer_id: None,
            peer_public_key: None,
            peer_verified: false,
            owner_secret: None,
        }
    }
}

/// What a stored message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Written by one of the two peers.
    Chat,
    /// A notice from the app ("Quiet Otter joined").
    System,
}

/// One line of a room's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Unique id (from the sender), the key of the record.
    pub id: String,
    pub room_id: String,
    pub kind: MessageKind,
    pub from_me: bool,
    /// Display name of the author at the time of writing.
    pub author: String,
    pub text: String,
    /// Milliseconds since the epoch; orders the room's history. Must be finite.
    pub ts: f64,
    /// For messages from me: the other peer confirmed receipt.
    pub delivered: bool,
    /// The key of the message this one answers, if any. It may be gone (history cleared on one side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Its author deleted it for both: the text is gone, the record stays to show where it was.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Its author changed the text after sending it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
}

impl StoredMessage {
    /// This message stored again over `old` (same id): `delivered` stays true once set, and the first time is
    /// kept (a copy sent again after a reconnect stays where it was).
    pub(crate) fn keep_from(&mut self, old: &StoredMessage) {
        self.delivered |= old.delivered;
        self.ts = old.ts;
        self.edited |= old.edited;
        if old.deleted {
            // Deleted stays deleted: a copy that arrives again (sent again after a reconnect) brings no text back.
            self.erase();
        }
    }

    /// The other person confirmed they have it. False if it was confirmed already.
    pub(crate) fn deliver(&mut self) -> bool {
        !std::mem::replace(&mut self.delivered, true)
    }

    /// Its author changed its text (nothing changes once it is deleted). False if nothing changed.
    pub(crate) fn edit(&mut self, text: &str) -> bool {
        if self.deleted || self.text == text {
            return false;
        }
        self.text = text.to_string();
        self.edited = true;
        true
    }

    /// What is left of a message that its author deleted for both. False if it was deleted already.
    pub(crate) fn erase(&mut self) -> bool {
        if self.deleted {
            return false;
        }
        self.deleted = true;
        self.text.clear();
        self.reply_to = None;
        true
    }
}

/// Where a file transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Offered or accepted, no data yet.
    Pending,
    /// Data is flowing; some batches may be stored.
    Transferring,
    /// Every batch is stored (or, when sending, sent and acknowledged).
    Complete,
    /// Stopped by an error.
    Failed,
    /// Stopped by one of the peers.
    Cancelled,
}

/// Metadata of a file transfer. Its data lives in the `chunks` store: a received file's batches, or the copy of a
/// picture this side sent (one part), kept so it still shows after a reload.
///
/// The file-transfer feature owns the meaning of these fields; add new ones as `Option`/`#[serde(default)]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    pub transfer_id: String,
    pub room_id: String,
    /// File name as offered by the sender (display only, never a path).
    pub name: String,
    /// MIME type as offered by the sender (may be empty).
    pub mime: String,
    /// Size in bytes.
    pub size: f64,
    pub from_me: bool,
    pub created_ms: f64,
    pub state: FileState,
    /// Bytes stored (receiving) or acknowledged (sending) so far.
    #[serde(default)]
    pub bytes_done: f64,
    /// SHA-256 of the content announced by the sender (64 hex digits).
    #[serde(default)]
    pub sha256: String,
    /// The name a received file is saved under ([`twain_protocol::transfer::sanitize_file_name`] of `name`).
    #[serde(default)]
    pub download_name: String,
    /// An unfinished received file: what is stored, so the transfer resumes after a reload.
    #[serde(default)]
    pub snapshot: Option<IncomingSnapshot>,
    /// Why the transfer ended without delivery (`Failed`/`Cancelled`), as a sentence for the person.
    #[serde(default)]
    pub message: Option<String>,
}

/// Why a storage operation failed. Each message is a sentence that can be shown to the user as is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    /// IndexedDB is missing, disabled or refused (e.g. some private windows, blocked site data).
    #[error("This browser does not let Twain save data (storage is unavailable or blocked): {0}")]
    Unavailable(String),
    /// The browser's quota for this site is used up (DOMException `QuotaExceededError`).
    #[error("Your browser's storage is full. Free some space (for example, forget old rooms) and try again.")]
    QuotaExceeded,
    /// Another tab opened a newer version of the database, so this tab's connection was closed.
    #[error("Twain was updated or reset in another tab. Reload this page to continue.")]
    VersionChanged,
    /// A display name broke the rules (empty, too long, control characters).
    #[error("That name can't be used: {0}.")]
    InvalidName(String),
    /// The caller passed something that cannot be stored (bad id, unknown transfer, non-finite time).
    #[error("This could not be saved: {0}.")]
    Invalid(String),
    /// A stored record did not have the expected shape.
    #[error("Some saved data could not be read: {0}.")]
    Corrupt(String),
    /// Any other failure reported by the browser.
    #[error("Saving or loading data failed: {0}.")]
    Failed(String),
}

impl StorageError {
    /// Classifies an error value thrown or reported by IndexedDB (normally a `DOMException`).
    pub fn from_js(error: &JsValue) -> StorageError {
        let name = js_string(error, "name").unwrap_or_default();
        let message = js_string(error, "message").unwrap_or_default();
        // 22 is the legacy QUOTA_EXCEEDED_ERR code.
        let code = Reflect::get(error, &JsValue::from_str("code"))
            .ok()
            .and_then(|c| c.as_f64());
        if name == "QuotaExceededError" || code == Some(22.0) {
            return StorageError::QuotaExceeded;
        }
        if name == "VersionError" {
            return StorageError::VersionChanged;
        }
        let detail = match (name.is_empty(), message.is_empty()) {
            (false, false) => format!("{name}: {message}"),
            (false, true) => name,
            (true, false) => message,
            (true, true) => error
                .as_string()
                .unwrap_or_else(|| "unknown error".to_string()),
        };
        if detail.contains("QuotaExceededError") {
            return StorageError::QuotaExceeded;
        }
        StorageError::Failed(detail)
    }
}

fn js_string(value: &JsValue, field: &str) -> Option<String> {
    if !value.is_object() {
        return None;
    }
    Reflect::get(value, &JsValue::from_str(field))
        .ok()?
        .as_string()
}

type Result<T> = std::result::Result<T, StorageError>;

/// An open connection to Twain's database. Cheap to clone (all clones share one connection, closed when the last
/// clone is dropped).
#[derive(Clone)]
pub struct Storage {
    inner: Rc<Inner>,
}

struct Inner {
    db: IdbDatabase,
    /// Set when another tab asked to upgrade or delete the database and this connection closed itself.
    closed: Rc<Cell<bool>>,
    _on_version_change: Closure<dyn FnMut(Event)>,
    /// Everything of the keep-nothing rooms, in memory only.
    volatile: volatile::Volatile,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.db.set_onversionchange(None);
        self.db.close();
    }
}

impl PartialEq for Storage {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("name", &self.inner.db.name())
            .field("closed", &self.inner.closed.get())
            .finish()
    }
}

impl Storage {
    /// Opens (creating or upgrading if needed) the app's database, [`DB_NAME`].
    pub async fn open() -> Result<Storage> {
        Self::open_named(DB_NAME).await
    }

    /// Opens (creating or upgrading if needed) a database with the app's schema under another name (tests).
    pub async fn open_named(name: &str) -> Result<Storage> {
        let factory = factory()?;
        let open: IdbOpenDbRequest = factory
            .open_with_u32(name, DB_VERSION)
            .map_err(|e| unavailable(&e))?;
        // `once_into_js`: if this future is dropped before the browser calls back, nothing dangles.
        let on_upgrade = Closure::once_into_js(move |event: IdbVersionChangeEvent| {
            let Some(request) = event
                .target()
                .and_then(|t| t.dyn_into::<IdbOpenDbRequest>().ok())
            else {
                return;
            };
            let (Ok(db), Some(tx)) = (request.result(), request.transaction()) else {
                return;
            };
            if upgrade(&db.unchecked_into(), &tx, event.old_version()).is_err() {
                // Aborting fails the open request, which reports the error below.
                let _ = tx.abort();
            }
        });
        open.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
        let result = request(&open, None).await;
        open.set_onupgradeneeded(None);
        let db: IdbDatabase = match result {
            Ok(db) => db.unchecked_into(),
            Err(StorageError::Failed(detail)) => return Err(StorageError::Unavailable(detail)),
            Err(e) => return Err(e),
        };

        let closed = Rc::new(Cell::new(false));
        let on_version_change = {
            let db = db.clone();
            let closed = closed.clone();
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                closed.set(true);
                db.close();
            })
        };
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        let storage = Storage {
            inner: Rc::new(Inner {
                db,
                closed,
                _on_version_change: on_version_change,
                volatile: volatile::Volatile::default(),
            }),
        };
        storage.load_keep_nothing().await?;
        Ok(storage)
    }

    /// Deletes a whole database (tests, or a "forget everything" button). Open connections in this page close
    /// themselves first; the returned future waits until the deletion is done.
    pub async fn delete_database(name: &str) -> Result<()> {
        let factory = factory()?;
        let req = factory.delete_database(name).map_err(|e| unavailable(&e))?;
        request(&req, None).await.map(|_| ())
    }

    // ----- identity: see `keys` (load_or_create_identity, rename, signing_key) -----

    // ----- rooms -----

    /// Records that the room was opened now: creates it, or updates `last_opened_ms` (and sets `created_by_me` if
    /// `created_by_me` is true; it is never reset to false).
    pub async fn touch_room(&self, room_id: &str, created_by_me: bool) -> Result<RoomRecord> {
        twain_protocol::ids::validate_room_id(room_id)
            .map_err(|e| StorageError::Invalid(e.to_string()))?;
        if let Some(done) = self.inner.volatile.touch_room(room_id, created_by_me) {
            return done;
        }
        let tx = self.tx(&[ROOMS], IdbTransactionMode::Readwrite)?;
        let store = object_store(&tx, ROOMS)?;
        let existing = request(&js(store.get(&room_id.into()))?, Some(&tx)).await?;
        let now = now();
        let room = if existing.is_undefined() {
            RoomRecord::new(room_id, created_by_me, now)
        } else {
            let mut room: RoomRecord = from_js(existing)?;
            room.created_by_me |= created_by_me;
            room.last_opened_ms = now;
            room
        };
        js(store.put(&to_js(&room)?))?;
        finish(&tx).await?;
        Ok(room)
    }

    /// Stores the owner key of a room this browser created (see [`RoomRecord::owner_secret`]); a key already stored
    /// is kept. Returns `None` (and stores nothing) if the room is unknown.
    pub async fn set_room_owner_secret(
        &self,
        room_id: &str,
        owner_secret: &str,
    ) -> Result<Option<RoomRecord>> {
        self.update_room(room_id, |r| {
            r.owner_secret
                .get_or_insert_with(|| owner_secret.to_string());
        })
        .await
    }

    /// Changes a known room's record in one transaction (in memory for a keep-nothing room). `None`: no such room,
    /// and nothing is stored.
    pub(crate) async fn update_room(
        &self,
        room_id: &str,
        update: impl Fn(&mut RoomRecord),
    ) -> Result<Option<RoomRecord>> {
        if let Some(done) = self.inner.volatile.update_room(room_id, &update) {
            return done;
        }
        let tx = self.tx(&[ROOMS], IdbTransactionMode::Readwrite)?;
        let store = object_store(&tx, ROOMS)?;
        let existing = request(&js(store.get(&room_id.into()))?, Some(&tx)).await?;
        if existing.is_undefined() {
            return Ok(None);
        }
        let mut room: RoomRecord = from_js(existing)?;
        update(&mut room);
        js(store.put(&to_js(&room)?))?;
        finish(&tx).await?;
        Ok(Some(room))
    }

    /// Remembers who the other peer of a room is. Returns `None` (and stores nothing) if the room is unknown, e.g.
    /// forgotten meanwhile.
    pub async fn set_room_peer(
        &self,
        room_id: &str,
        peer_id: &str,
        peer_name: &str,
    ) -> Result<Option<RoomRecord>> {
        self.update_room(room_id, |r| {
            r.peer_id = Some(peer_id.to_string());
            r.peer_name = Some(peer_name.to_string());
        })
        .await
    }

    /// One room, if known.
    pub async fn room(&self, room_id: &str) -> Result<Option<RoomRecord>> {
        if let Some(done) = self.inner.volatile.room(room_id) {
            return done;
        }
        let tx = self.tx(&[ROOMS], IdbTransactionMode::Readonly)?;
        let store = object_store(&tx, ROOMS)?;
        let value = request(&js(store.get(&room_id.into()))?, Some(&tx)).await?;
        if value.is_undefined() {
            Ok(None)
        } else {
            from_js(value).map(Some)
        }
    }

    /// All rooms, most recently opened first.
    pub async fn rooms(&self) -> Result<Vec<RoomRecord>> {
        let tx = self.tx(&[ROOMS], IdbTransactionMode::Readonly)?;
        let store = object_store(&tx, ROOMS)?;
        let all = request(&js(store.get_all())?, Some(&tx)).await?;
        let mut rooms: Vec<RoomRecord> = list_from_js(all);
        rooms.sort_by(|a, b| {
            b.last_opened_ms
                .total_cmp(&a.last_opened_ms)
                .then_with(|| b.first_opened_ms.total_cmp(&a.first_opened_ms))
                .then_with(|| a.room_id.cmp(&b.room_id))
        });
        Ok(rooms)
    }

    /// Deletes a room and everything of it: its messages, its file transfers and their stored data. Atomic.
    pub async fn forget_room(&self, room_id: &str) -> Result<()> {
        self.inner.volatile.forget_room(room_id);
        let tx = self.tx(
            &[ROOMS, MESSAGES, FILES, CHUNKS],
            IdbTransactionMode::Readwrite,
        )?;
        let result = async {
            let rooms = object_store(&tx, ROOMS)?;
            let messages = object_store(&tx, MESSAGES)?;
            let files = object_store(&tx, FILES)?;
            let chunks = object_store(&tx, CHUNKS)?;

            js(rooms.delete(&room_id.into()))?;

            let by_room = js(messages.index(MESSAGES_BY_ROOM))?;
            let range = room_messages_range(room_id)?;
            let ids = request(&js(by_room.get_all_keys_with_key(&range))?, Some(&tx)).await?;
            for id in Array::from(&ids).iter() {
                js(messages.delete(&id))?;
            }

            let by_room = js(files.index(FILES_BY_ROOM))?;
            let transfers = request(
                &js(by_room.get_all_keys_with_key(&room_id.into()))?,
                Some(&tx),
            )
            .await?;
            for transfer_id in Array::from(&transfers).iter() {
                js(files.delete(&transfer_id))?;
                let range = chunk_range(&transfer_id)?;
                js(chunks.delete(&range))?;
            }
            Ok(())
        }
        .await;
        commit(&tx, result).await
    }

    // ----- messages -----

    /// Stores a message. Storing the same id again replaces it (no duplicate), except that `delivered` stays true
    /// once set and the first time is kept (a copy sent again after a reconnect stays where it was). An id
    /// already used in another room is refused.
    pub async fn add_message(&self, message: &StoredMessage) -> Result<()> {
        if let Some(done) = self.inner.volatile.add_message(message) {
            return done;
        }
        if !message.ts.is_finite() {
            return Err(StorageError::Invalid(
                "the message has no valid time".to_string(),
            ));
        }
        let tx = self.tx(&[MESSAGES], IdbTransactionMode::Readwrite)?;
        let store = object_store(&tx, MESSAGES)?;
        let existing = request(&js(store.get(&message.id.as_str().into()))?, Some(&tx)).await?;
        let mut message = message.clone();
        if !existing.is_undefined() {
            let old: StoredMessage = from_js(existing)?;
            if old.room_id != message.room_id {
                return Err(StorageError::Invalid(
                    "a message with this id belongs to another room".to_string(),
                ));
            }
            message.keep_from(&old);
        }
        js(store.put(&to_js(&message)?))?;
        finish(&tx).await
    }

    /// Marks one of my messages as received by the other peer. Returns false if there is no such message.
    pub async fn mark_delivered(&self, message_id: &str) -> Result<bool> {
        let found = self
            .update_message(message_id, StoredMessage::deliver)
            .await?;
        Ok(found.is_some())
    }

    /// Reads message `message_id`, lets `change` change it, and writes it back if `change` says it did (in memory
    /// for a room that keeps nothing). `None` if there is no such message, else whether it changed.
    async fn update_message(
        &self,
        message_id: &str,
        mut change: impl FnMut(&mut StoredMessage) -> bool,
    ) -> Result<Option<bool>> {
        if let Some(changed) = self.inner.volatile.update_message(message_id, &mut change) {
            return Ok(Some(changed));
        }
        let tx = self.tx(&[MESSAGES], IdbTransactionMode::Readwrite)?;
        let store = object_store(&tx, MESSAGES)?;
        let existing = request(&js(store.get(&message_id.into()))?, Some(&tx)).await?;
        if existing.is_undefined() {
            return Ok(None);
        }
        let mut message: StoredMessage = from_js(existing)?;
        let changed = change(&mut message);
        if changed {
            js(store.put(&to_js(&message)?))?;
        }
        finish(&tx).await?;
        Ok(Some(changed))
    }

    /// Deletes a message of this browser's copy of the conversation (for me): nothing of it is left.
    pub async fn delete_message(&self, message_id: &str) -> Result<()> {
        if let Some(done) = self.inner.volatile.delete_message(message_id) {
            return done;
        }
        let tx = self.tx(&[MESSAGES], IdbTransactionMode::Readwrite)?;
        js(object_store(&tx, MESSAGES)?.delete(&message_id.into()))?;
        finish(&tx).await
    }

    /// Keeps only the place of a message that its author deleted for both: its text and quote are gone. Returns
    /// false if there is no such message.
    pub async fn erase_message(&self, message_id: &str) -> Result<bool> {
        let found = self
            .update_message(message_id, StoredMessage::erase)
            .await?;
        Ok(found.is_some())
    }

    /// Replaces the text of a message its author edited (see [`StoredMessage::edit`]). Returns false if there is
    /// no such message, or it is deleted.
    pub async fn edit_message(&self, message_id: &str, text: &str) -> Result<bool> {
        let changed = self.update_message(message_id, |m| m.edit(text)).await?;
        Ok(changed.unwrap_or(false))
    }

    /// The history of a room, oldest first (equal times ordered by id).
    pub async fn messages(&self, room_id: &str) -> Result<Vec<StoredMessage>> {
        if let Some(done) = self.inner.volatile.messages(room_id) {
            return done;
        }
        let tx = self.tx(&[MESSAGES], IdbTransactionMode::Readonly)?;
        let store = object_store(&tx, MESSAGES)?;
        let by_room = js(store.index(MESSAGES_BY_ROOM))?;
        let range = room_messages_range(room_id)?;
        let all = request(&js(by_room.get_all_with_key(&range))?, Some(&tx)).await?;
        Ok(list_from_js(all))
    }

    // ----- files -----

    /// Creates or replaces the metadata of a transfer.
    pub async fn put_file(&self, file: &FileRecord) -> Result<()> {
        if let Some(done) = self.inner.volatile.put_file(file) {
            return done;
        }
        let tx = self.tx(&[FILES], IdbTransactionMode::Readwrite)?;
        let store = object_store(&tx, FILES)?;
        js(store.put(&to_js(file)?))?;
        finish(&tx).await
    }

    /// The metadata of a transfer, if known.
    pub async fn file(&self, transfer_id: &str) -> Result<Option<FileRecord>> {
        if let Some(done) = self.inner.volatile.file(transfer_id) {
            return done;
        }
        let tx = self.tx(&[FILES], IdbTransactionMode::Readonly)?;
        let store = object_store(&tx, FILES)?;
        let value = request(&js(store.get(&transfer_id.into()))?, Some(&tx)).await?;
        if value.is_undefined() {
            Ok(None)
        } else {
            from_js(value).map(Some)
        }
    }

    /// All transfers of a room, oldest first.
    pub async fn files(&self, room_id: &str) -> Result<Vec<FileRecord>> {
        if let Some(done) = self.inner.volatile.files(room_id) {
            return done;
        }
        let tx = self.tx(&[FILES], IdbTransactionMode::Readonly)?;
        let store = object_store(&tx, FILES)?;
        let by_room = js(store.index(FILES_BY_ROOM))?;
        let all = request(&js(by_room.get_all_with_key(&room_id.into()))?, Some(&tx)).await?;
        let mut files: Vec<FileRecord> = list_from_js(all);
        files.sort_by(|a, b| {
            a.created_ms
                .total_cmp(&b.created_ms)
                .then_with(|| a.transfer_id.cmp(&b.transfer_id))
        });
        Ok(files)
    }

    /// Stores one batch of a received file, or the copy of a sent picture as batch 0. Replaces a batch stored
    /// under the same index. The transfer's metadata must exist (so [`Storage::forget_room`] can find the data).
    pub async fn put_chunk(&self, transfer_id: &str, batch_index: u32, blob: &Blob) -> Result<()> {
        if let Some(done) = self
            .inner
            .volatile
            .put_chunk(transfer_id, batch_index, blob)
        {
            return done;
        }
        let tx = self.tx(&[FILES, CHUNKS], IdbTransactionMode::Readwrite)?;
        let files = object_store(&tx, FILES)?;
        let chunks = object_store(&tx, CHUNKS)?;
        let known = request(&js(files.count_with_key(&transfer_id.into()))?, Some(&tx)).await?;
        if known.as_f64().unwrap_or(0.0) < 1.0 {
            return Err(StorageError::Invalid(format!(
                "the transfer {transfer_id} is unknown"
            )));
        }
        js(chunks.put_with_key(blob, &chunk_key(transfer_id, batch_index)))?;
        finish(&tx).await
    }

    /// Stores one batch of a received file together with the transfer's progress, in one transaction, so a
    /// reload resumes exactly after what is stored: sets `snapshot`, `bytes_done` (the snapshot's stored bytes)
    /// and the state `Transferring`. The transfer's metadata must exist.
    pub async fn put_batch(
        &self,
        transfer_id: &str,
        batch_index: u32,
        blob: &Blob,
        snapshot: &IncomingSnapshot,
    ) -> Result<()> {
        if let Some(done) = self
            .inner
            .volatile
            .put_batch(transfer_id, batch_index, blob, snapshot)
        {
            return done;
        }
        let tx = self.tx(&[FILES, CHUNKS], IdbTransactionMode::Readwrite)?;
        let result = async {
            let files = object_store(&tx, FILES)?;
            let chunks = object_store(&tx, CHUNKS)?;
            let existing = request(&js(files.get(&transfer_id.into()))?, Some(&tx)).await?;
            if existing.is_undefined() {
                return Err(StorageError::Invalid(format!(
                    "the transfer {transfer_id} is unknown"
                )));
            }
            let mut record: FileRecord = from_js(existing)?;
            record.state = FileState::Transferring;
            record.bytes_done = snapshot.stored_bytes as f64;
            record.snapshot = Some(snapshot.clone());
            js(files.put(&to_js(&record)?))?;
            js(chunks.put_with_key(blob, &chunk_key(transfer_id, batch_index)))?;
            Ok(())
        }
        .await;
        commit(&tx, result).await
    }

    /// Deletes the stored batches of a transfer, keeping its metadata (a failed transfer stays in the history).
    pub async fn delete_chunks(&self, transfer_id: &str) -> Result<()> {
        if let Some(done) = self.inner.volatile.delete_chunks(transfer_id) {
            return done;
        }
        let tx = self.tx(&[CHUNKS], IdbTransactionMode::Readwrite)?;
        let range = chunk_range(&transfer_id.into())?;
        js(object_store(&tx, CHUNKS)?.delete(&range))?;
        finish(&tx).await
    }

    /// The stored batches of a transfer, in batch order. The blobs stay disk-backed: combine them with
    /// `new Blob(chunks)` for a download rather than reading them into memory.
    pub async fn chunks(&self, transfer_id: &str) -> Result<Vec<Blob>> {
        if let Some(done) = self.inner.volatile.chunks(transfer_id) {
            return done;
        }
        let tx = self.tx(&[CHUNKS], IdbTransactionMode::Readonly)?;
        let store = object_store(&tx, CHUNKS)?;
        let range = chunk_range(&transfer_id.into())?;
        let all = request(&js(store.get_all_with_key(&range))?, Some(&tx)).await?;
        Array::from(&all)
            .iter()
            .map(|value| {
                value.dyn_into::<Blob>().map_err(|_| {
                    StorageError::Corrupt("a stored file part is not a Blob".to_string())
                })
            })
            .collect()
    }

    /// How many batches of a transfer are stored (to resume or check completeness).
    pub async fn chunk_count(&self, transfer_id: &str) -> Result<u32> {
        if let Some(done) = self.inner.volatile.chunk_count(transfer_id) {
            return done;
        }
        let tx = self.tx(&[CHUNKS], IdbTransactionMode::Readonly)?;
        let store = object_store(&tx, CHUNKS)?;
        let range = chunk_range(&transfer_id.into())?;
        let count = request(&js(store.count_with_key(&range))?, Some(&tx)).await?;
        Ok(count.as_f64().unwrap_or(0.0) as u32)
    }

    /// Deletes a transfer's metadata and all its stored batches. Atomic.
    pub async fn delete_transfer(&self, transfer_id: &str) -> Result<()> {
        if let Some(done) = self.inner.volatile.delete_transfer(transfer_id) {
            return done;
        }
        let tx = self.tx(&[FILES, CHUNKS], IdbTransactionMode::Readwrite)?;
        let result = async {
            let files = object_store(&tx, FILES)?;
            let chunks = object_store(&tx, CHUNKS)?;
            js(files.delete(&transfer_id.into()))?;
            let range = chunk_range(&transfer_id.into())?;
            js(chunks.delete(&range))?;
            Ok(())
        }
        .await;
        commit(&tx, result).await
    }

    // ----- plumbing -----

    fn tx(&self, stores: &[&str], mode: IdbTransactionMode) -> Result<IdbTransaction> {
        if self.inner.closed.get() {
            return Err(StorageError::VersionChanged);
        }
        let names: Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        self.inner
            .db
            .transaction_with_str_sequence_and_mode(&names, mode)
            .map_err(|e| {
                if self.inner.closed.get() {
                    StorageError::VersionChanged
                } else {
                    StorageError::from_js(&e)
                }
            })
    }
}

/// Creates or migrates the schema inside the upgrade transaction, one step per version above `old_version`.
fn upgrade(
    db: &IdbDatabase,
    _tx: &IdbTransaction,
    old_version: f64,
) -> std::result::Result<(), JsValue> {
    if old_version < 1.0 {
        db.create_object_store(IDENTITY)?;

        let params = IdbObjectStoreParameters::new();
        params.set_key_path(&"room_id".into());
        db.create_object_store_with_optional_parameters(ROOMS, &params)?;

        let params = IdbObjectStoreParameters::new();
        params.set_key_path(&"id".into());
        let messages = db.create_object_store_with_optional_parameters(MESSAGES, &params)?;
        let key_path: Array = ["room_id", "ts"]
            .iter()
            .map(|s| JsValue::from_str(s))
            .collect();
        messages.create_index_with_str_sequence_and_optional_parameters(
            MESSAGES_BY_ROOM,
            &key_path,
            &IdbIndexParameters::new(),
        )?;

        let params = IdbObjectStoreParameters::new();
        params.set_key_path(&"transfer_id".into());
        let files = db.create_object_store_with_optional_parameters(FILES, &params)?;
        files.create_index_with_str_and_optional_parameters(
            FILES_BY_ROOM,
            "room_id",
            &IdbIndexParameters::new(),
        )?;

        db.create_object_store(CHUNKS)?;
    }
    // Version 2 goes here: `if old_version < 2.0 { ... }`, using `_tx.object_store(..)` for existing stores.
    Ok(())
}

fn factory() -> Result<IdbFactory> {
    let value = Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
        .map_err(|e| unavailable(&e))?;
    if value.is_undefined() || value.is_null() {
        return Err(StorageError::Unavailable(
            "IndexedDB is missing".to_string(),
        ));
    }
    value
        .dyn_into::<IdbFactory>()
        .map_err(|_| StorageError::Unavailable("IndexedDB is missing".to_string()))
}

fn unavailable(error: &JsValue) -> StorageError {
    match StorageError::from_js(error) {
        StorageError::Failed(detail) => StorageError::Unavailable(detail),
        other => other,
    }
}

/// Maps a synchronous IndexedDB exception.
fn js<T>(result: std::result::Result<T, JsValue>) -> Result<T> {
    result.map_err(|e| StorageError::from_js(&e))
}

fn object_store(tx: &IdbTransaction, name: &str) -> Result<IdbObjectStore> {
    js(tx.object_store(name))
}

/// Waits for a request and returns its result. Its transaction stays usable afterwards (the continuation runs in
/// the microtask right after the success event), as long as nothing but IndexedDB requests is awaited in between.
async fn request(req: &IdbRequest, tx: Option<&IdbTransaction>) -> Result<JsValue> {
    let done = Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(done).await;
    req.set_onsuccess(None);
    req.set_onerror(None);
    match outcome {
        Ok(_) => js(req.result()),
        Err(_) => {
            let error = req.error().ok().flatten();
            // A request failing with AbortError is a symptom; the transaction's error says why (e.g. quota).
            let aborted = error.as_ref().is_some_and(|e| e.name() == "AbortError");
            let cause = if aborted {
                tx.and_then(|t| t.error()).or(error)
            } else {
                error
            };
            Err(match cause {
                Some(e) => StorageError::from_js(&e),
                None => StorageError::Failed("the browser reported an unknown error".to_string()),
            })
        }
    }
}

/// Commits after several writes: waits for the commit if `result` is Ok, otherwise aborts so that no part of
/// the change is kept.
async fn commit<T>(tx: &IdbTransaction, result: Result<T>) -> Result<T> {
    match result {
        Ok(value) => finish(tx).await.map(|()| value),
        Err(e) => {
            // Fails harmlessly if the browser already aborted the transaction.
            let _ = tx.abort();
            Err(e)
        }
    }
}

/// Waits until a read-write transaction is committed. Reports why it was aborted otherwise; Chromium reports a
/// full disk only here (the transaction aborts with `QuotaExceededError` after every request succeeded).
async fn finish(tx: &IdbTransaction) -> Result<()> {
    let done = Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onabort(Some(&reject));
    });
    let outcome = JsFuture::from(done).await;
    tx.set_oncomplete(None);
    tx.set_onabort(None);
    outcome.map(|_| ()).map_err(|_| match tx.error() {
        Some(e) => StorageError::from_js(&e),
        None => StorageError::Failed("the change was cancelled".to_string()),
    })
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| StorageError::Invalid(e.to_string()))
}

fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T> {
    serde_wasm_bindgen::from_value(value).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// Decodes a `getAll` result, skipping (and logging) records that do not decode so one bad record cannot hide the
/// rest.
fn list_from_js<T: DeserializeOwned>(all: JsValue) -> Vec<T> {
    Array::from(&all)
        .iter()
        .filter_map(|value| match from_js(value) {
            Ok(item) => Some(item),
            Err(e) => {
                web_sys::console::warn_1(&format!("twain storage: skipped a record: {e}").into());
                None
            }
        })
        .collect()
}

fn key_pair(first: &JsValue, second: f64) -> JsValue {
    Array::of2(first, &JsValue::from_f64(second)).into()
}

/// Keys `[room_id, ts]` of one room in the `room_ts` index.
fn room_messages_range(room_id: &str) -> Result<IdbKeyRange> {
    let room = JsValue::from_str(room_id);
    js(IdbKeyRange::bound(
        &key_pair(&room, f64::NEG_INFINITY),
        &key_pair(&room, f64::INFINITY),
    ))
}

fn chunk_key(transfer_id: &str, batch_index: u32) -> JsValue {
    key_pair(&JsValue::from_str(transfer_id), f64::from(batch_index))
}

/// Keys `[transfer_id, batch_index]` of one transfer in `chunks`.
fn chunk_range(transfer_id: &JsValue) -> Result<IdbKeyRange> {
    js(IdbKeyRange::bound(
        &key_pair(transfer_id, f64::NEG_INFINITY),
        &key_pair(transfer_id, f64::INFINITY),
    ))
}
