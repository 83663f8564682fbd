//! Data the user controls: keep-nothing rooms, clearing a room's history or received files, remembering the
//! other person's key per room, and reading everything back for an export.
//!
//! # Keep-nothing rooms
//!
//! The set of rooms that keep nothing is stored in the `identity` store under the key [`KEEP_NOTHING`], as
//! one-way hashes of the room ids ([`room_hash`]): the room stays keep-nothing when it is opened again, yet the
//! stored data does not reveal the room id (the room's only secret). Nothing else of such a room is written;
//! see [`super::volatile`].

use std::collections::HashSet;

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, IdbTransactionMode};

use super::volatile::VolatileFile;
use super::{
    chunk_key, chunk_range, commit, finish, from_js, js, list_from_js, object_store, request,
    room_messages_range, to_js, FileRecord, Result, RoomRecord, Storage, StorageError,
    StoredMessage, CHUNKS, FILES, FILES_BY_ROOM, IDENTITY, MESSAGES, MESSAGES_BY_ROOM, ROOMS,
};

/// Key, in the `identity` store, of the list of keep-nothing room hashes.
const KEEP_NOTHING: &str = "keep-nothing";

/// The stored stand-in for a keep-nothing room id: unpadded base64url of SHA-256 over a domain prefix and the id.
pub(crate) fn room_hash(room_id: &str) -> String {
    let mut bytes = b"twain keep-nothing room\0".to_vec();
    bytes.extend_from_slice(room_id.as_bytes());
    twain_protocol::ids::base64url(&twain_protocol::transfer::Sha256::digest(&bytes))
}

impl Storage {
    /// Loads the set of keep-nothing rooms (called once when the database opens).
    pub(crate) async fn load_keep_nothing(&self) -> Result<()> {
        let tx = self.tx(&[IDENTITY], IdbTransactionMode::Readonly)?;
        let store = object_store(&tx, IDENTITY)?;
        let value = request(&js(store.get(&KEEP_NOTHING.into()))?, Some(&tx)).await?;
        let hashes: HashSet<String> = if value.is_undefined() {
            HashSet::new()
        } else {
            Array::from(&value)
                .iter()
                .filter_map(|v| v.as_string())
                .collect()
        };
        self.inner.volatile.set_hashes(hashes);
        Ok(())
    }

    async fn save_keep_nothing(&self) -> Result<()> {
        let list: Array = self
            .inner
            .volatile
            .hashes()
            .into_iter()
            .map(|h| JsValue::from_str(&h))
            .collect();
        let tx = self.tx(&[IDENTITY], IdbTransactionMode::Readwrite)?;
        let store = object_store(&tx, IDENTITY)?;
        js(store.put_with_key(&list, &KEEP_NOTHING.into()))?;
        finish(&tx).await
    }

    /// Whether this browser keeps nothing of `room_id`.
    pub fn keeps_nothing(&self, room_id: &str) -> bool {
        self.inner.volatile.keeps_nothing(room_id)
    }

    /// Turns "keep nothing" on or off for a room.
    ///
    /// On: from now on nothing of the room is written; what was already stored moves into this page's memory (so
    /// the open conversation and its files keep working) and is deleted from IndexedDB. Off: what this page holds
    /// of the room is saved, and the room is stored normally again.
    pub async fn set_keep_nothing(&self, room_id: &str, on: bool) -> Result<()> {
        twain_protocol::ids::validate_room_id(room_id)
            .map_err(|e| StorageError::Invalid(e.to_string()))?;
        let volatile = &self.inner.volatile;
        if on {
            if volatile.keeps_nothing(room_id) {
                return Ok(());
            }
            // Mark first, so a message arriving meanwhile goes to memory and not to a store being emptied.
            volatile.enable(room_id);
            if let Err(e) = self.save_keep_nothing().await {
                volatile.disable(room_id);
                return Err(e);
            }
            let (record, messages, files) = self.read_room_from_disk(room_id).await?;
            volatile.adopt(room_id, record, messages, files);
            self.forget_room_on_disk(room_id).await
        } else {
            if !volatile.keeps_nothing(room_id) {
                return Ok(());
            }
            let (room, files) = volatile.disable(room_id);
            self.save_keep_nothing().await?;
            self.write_room_to_disk(room_id, room, files).await
        }
    }

    /// Everything IndexedDB holds of a room, with its file data as Blob handles (chunks in batch order, with
    /// their batch keys).
    #[allow(clippy::type_complexity)]
    async fn read_room_from_disk(
        &self,
        room_id: &str,
    ) -> Result<(
        Option<RoomRecord>,
        Vec<StoredMessage>,
        Vec<(FileRecord, Vec<(u32, Blob)>)>,
    )> {
        let tx = self.tx(
            &[ROOMS, MESSAGES, FILES, CHUNKS],
            IdbTransactionMode::Readonly,
        )?;
        let rooms = object_store(&tx, ROOMS)?;
        let record = request(&js(rooms.get(&room_id.into()))?, Some(&tx)).await?;
        let record = if record.is_undefined() {
            None
        } else {
            Some(from_js::<RoomRecord>(record)?)
        };
        let by_room = js(object_store(&tx, MESSAGES)?.index(MESSAGES_BY_ROOM))?;
        let all = request(
            &js(by_room.get_all_with_key(&room_messages_range(room_id)?.into()))?,
            Some(&tx),
        )
        .await?;
        let messages: Vec<StoredMessage> = list_from_js(all);
        let by_room = js(object_store(&tx, FILES)?.index(FILES_BY_ROOM))?;
        let all = request(&js(by_room.get_all_with_key(&room_id.into()))?, Some(&tx)).await?;
        let records: Vec<FileRecord> = list_from_js(all);
        let chunks = object_store(&tx, CHUNKS)?;
        let mut files = Vec::new();
        for record in records {
            let range = chunk_range(&record.transfer_id.as_str().into())?;
            let keys = request(&js(chunks.get_all_keys_with_key(&range))?, Some(&tx)).await?;
            let values = request(&js(chunks.get_all_with_key(&range))?, Some(&tx)).await?;
            let parts = Array::from(&keys)
                .iter()
                .zip(Array::from(&values).iter())
                .filter_map(|(key, value)| {
                    let index = Array::from(&key).get(1).as_f64()? as u32;
                    Some((index, value.dyn_into::<Blob>().ok()?))
                })
                .collect();
            files.push((record, parts));
        }
        Ok((record, messages, files))
    }

    async fn forget_room_on_disk(&self, room_id: &str) -> Result<()> {
        // `forget_room` also empties the room in memory: call the IndexedDB part only.
        let tx = self.tx(
            &[ROOMS, MESSAGES, FILES, CHUNKS],
            IdbTransactionMode::Readwrite,
        )?;
        let result = async {
            js(object_store(&tx, ROOMS)?.delete(&room_id.into()))?;
            self.delete_messages_in(&tx, room_id).await?;
            self.delete_files_in(&tx, room_id, |_| true).await?;
            Ok(())
        }
        .await;
        commit(&tx, result).await
    }

    async fn write_room_to_disk(
        &self,
        room_id: &str,
        room: super::volatile::VolatileRoom,
        files: Vec<VolatileFile>,
    ) -> Result<()> {
        let tx = self.tx(
            &[ROOMS, MESSAGES, FILES, CHUNKS],
            IdbTransactionMode::Readwrite,
        )?;
        let result: Result<()> = (|| {
            let record = room
                .record
                .unwrap_or_else(|| RoomRecord::new(room_id, false, js_sys::Date::now()));
            js(object_store(&tx, ROOMS)?.put(&to_js(&record)?))?;
            let messages = object_store(&tx, MESSAGES)?;
            for m in room.messages.values() {
                js(messages.put(&to_js(m)?))?;
            }
            let file_store = object_store(&tx, FILES)?;
            let chunks = object_store(&tx, CHUNKS)?;
            for f in &files {
                js(file_store.put(&to_js(&f.record)?))?;
                for (index, blob) in &f.chunks {
                    js(chunks.put_with_key(blob, &chunk_key(&f.record.transfer_id, *index)))?;
                }
            }
            Ok(())
        })();
        commit(&tx, result).await
    }

    async fn delete_messages_in(&self, tx: &web_sys::IdbTransaction, room_id: &str) -> Result<()> {
        let messages = object_store(tx, MESSAGES)?;
        let by_room = js(messages.index(MESSAGES_BY_ROOM))?;
        let range = room_messages_range(room_id)?;
        let ids = request(&js(by_room.get_all_keys_with_key(&range))?, Some(tx)).await?;
        for id in Array::from(&ids).iter() {
            js(messages.delete(&id))?;
        }
        Ok(())
    }

    /// Deletes the transfers of a room that `select` picks, with their data. Returns how many.
    async fn delete_files_in(
        &self,
        tx: &web_sys::IdbTransaction,
        room_id: &str,
        select: impl Fn(&FileRecord) -> bool,
    ) -> Result<u32> {
        let files = object_store(tx, FILES)?;
        let chunks = object_store(tx, CHUNKS)?;
        let by_room = js(files.index(FILES_BY_ROOM))?;
        let all = request(&js(by_room.get_all_with_key(&room_id.into()))?, Some(tx)).await?;
        let mut count = 0;
        for record in list_from_js::<FileRecord>(all) {
            if !select(&record) {
                continue;
            }
            let id: JsValue = record.transfer_id.as_str().into();
            js(files.delete(&id))?;
            js(chunks.delete(&chunk_range(&id)?.into()))?;
            count += 1;
        }
        Ok(count)
    }

    /// Deletes a room's messages (its received files and the room itself stay).
    pub async fn clear_history(&self, room_id: &str) -> Result<()> {
        if let Some(done) = self.inner.volatile.clear_history(room_id) {
            return done;
        }
        let tx = self.tx(&[MESSAGES], IdbTransactionMode::Readwrite)?;
        let result = self.delete_messages_in(&tx, room_id).await;
        commit(&tx, result).await
    }

    /// Deletes the files received in a room that are no longer arriving (complete, failed or cancelled), with
    /// their data. Returns how many were deleted. Files still arriving are kept so their transfer can finish.
    pub async fn delete_received_files(&self, room_id: &str) -> Result<u32> {
        let ended = |r: &FileRecord| {
            !r.from_me
                && !matches!(
                    r.state,
                    super::FileState::Pending | super::FileState::Transferring
                )
        };
        if self.inner.volatile.keeps_nothing(room_id) {
            let mut count = 0;
            for record in self.files(room_id).await? {
                if ended(&record) {
                    self.delete_transfer(&record.transfer_id).await?;
                    count += 1;
                }
            }
            return Ok(count);
        }
        let tx = self.tx(&[FILES, CHUNKS], IdbTransactionMode::Readwrite)?;
        let result = self.delete_files_in(&tx, room_id, ended).await;
        commit(&tx, result).await
    }

    /// Remembers the other person's public key in a room and whether it was verified (safety code compared).
    /// Does nothing (`Ok(None)`) if the room is unknown.
    pub async fn remember_peer_key(
        &self,
        room_id: &str,
        public_key: &str,
        verified: bool,
    ) -> Result<Option<RoomRecord>> {
        self.update_room(room_id, |r| {
            r.peer_public_key = Some(public_key.to_string());
            r.peer_verified = verified;
        })
        .await
    }

    /// Every stored message of every room (for an export), in no particular order.
    pub async fn all_messages(&self) -> Result<Vec<StoredMessage>> {
        self.get_all(MESSAGES).await
    }

    /// Every stored file transfer of every room (for an export).
    pub async fn all_files(&self) -> Result<Vec<FileRecord>> {
        self.get_all(FILES).await
    }

    async fn get_all<T: serde::de::DeserializeOwned>(&self, store: &str) -> Result<Vec<T>> {
        let tx = self.tx(&[store], IdbTransactionMode::Readonly)?;
        let all = request(&js(object_store(&tx, store)?.get_all())?, Some(&tx)).await?;
        Ok(list_from_js(all))
    }

    /// The raw records of a store, as the browser holds them (tests and diagnostics: what is on disk).
    pub async fn raw_records(&self, store: &str) -> Result<Array> {
        let tx = self.tx(&[store], IdbTransactionMode::Readonly)?;
        let all = request(&js(object_store(&tx, store)?.get_all())?, Some(&tx)).await?;
        Ok(Array::from(&all))
    }
}
