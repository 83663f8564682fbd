//! "Keep nothing" rooms: everything of such a room lives in this page's memory, never in IndexedDB.
//!
//! [`Storage`](super::Storage) asks [`Volatile`] first in every method that reads or writes a room's record,
//! messages, file transfers or file data: for a keep-nothing room (or one of its transfers) the answer comes from
//! here (`Some(result)`), otherwise `None` and IndexedDB is used as usual. So the rest of the app (chat, file
//! transfers, calls' history lines) works unchanged in such a room, and nothing of it reaches the disk. It is gone
//! when the page closes or reloads.
//!
//! Which rooms keep nothing is remembered across reloads as a set of one-way hashes of their ids (see
//! [`super::privacy`]), never the ids themselves: the room id is the room's only secret.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use web_sys::Blob;

use super::{FileRecord, FileState, Result, RoomRecord, StorageError, StoredMessage};

/// A keep-nothing room's data.
#[derive(Default)]
pub(crate) struct VolatileRoom {
    pub record: Option<RoomRecord>,
    /// By message id.
    pub messages: HashMap<String, StoredMessage>,
}

/// A transfer of a keep-nothing room: its metadata and data batches.
pub(crate) struct VolatileFile {
    pub record: FileRecord,
    pub chunks: BTreeMap<u32, Blob>,
}

/// Everything of the keep-nothing rooms, in memory.
#[derive(Default)]
pub(crate) struct Volatile {
    /// Hashes of the ids of rooms that keep nothing (as stored; see [`super::privacy::room_hash`]).
    hashes: RefCell<HashSet<String>>,
    rooms: RefCell<HashMap<String, VolatileRoom>>,
    /// By transfer id.
    files: RefCell<HashMap<String, VolatileFile>>,
}

impl Volatile {
    pub(crate) fn set_hashes(&self, hashes: HashSet<String>) {
        *self.hashes.borrow_mut() = hashes;
    }

    pub(crate) fn hashes(&self) -> HashSet<String> {
        self.hashes.borrow().clone()
    }

    /// Whether `room_id` keeps nothing.
    pub(crate) fn keeps_nothing(&self, room_id: &str) -> bool {
        self.rooms.borrow().contains_key(room_id)
            || self
                .hashes
                .borrow()
                .contains(&super::privacy::room_hash(room_id))
    }

    /// Marks a room as keep-nothing (from now on its writes stay here).
    pub(crate) fn enable(&self, room_id: &str) {
        self.hashes
            .borrow_mut()
            .insert(super::privacy::room_hash(room_id));
        self.rooms
            .borrow_mut()
            .entry(room_id.to_string())
            .or_default();
    }

    /// Ends keep-nothing for a room and hands back what was kept in memory (to be saved, or dropped).
    pub(crate) fn disable(&self, room_id: &str) -> (VolatileRoom, Vec<VolatileFile>) {
        self.hashes
            .borrow_mut()
            .remove(&super::privacy::room_hash(room_id));
        let room = self.rooms.borrow_mut().remove(room_id).unwrap_or_default();
        let mut files = self.files.borrow_mut();
        let ids: Vec<String> = files
            .iter()
            .filter(|(_, f)| f.record.room_id == room_id)
            .map(|(id, _)| id.clone())
            .collect();
        let taken = ids.iter().filter_map(|id| files.remove(id)).collect();
        (room, taken)
    }

    /// Runs `f` on the room's data if the room keeps nothing.
    fn with_room<T>(&self, room_id: &str, f: impl FnOnce(&mut VolatileRoom) -> T) -> Option<T> {
        if !self.keeps_nothing(room_id) {
            return None;
        }
        let mut rooms = self.rooms.borrow_mut();
        Some(f(rooms.entry(room_id.to_string()).or_default()))
    }

    fn with_file<T>(&self, transfer_id: &str, f: impl FnOnce(&mut VolatileFile) -> T) -> Option<T> {
        self.files.borrow_mut().get_mut(transfer_id).map(f)
    }

    // ----- the counterparts of Storage's methods: `None` means "not a keep-nothing room, use IndexedDB" -----

    pub(crate) fn touch_room(
        &self,
        room_id: &str,
        created_by_me: bool,
    ) -> Option<Result<RoomRecord>> {
        self.with_room(room_id, |room| {
            let now = js_sys::Date::now();
            let record = room
                .record
                .get_or_insert_with(|| RoomRecord::new(room_id, created_by_me, now));
            record.created_by_me |= created_by_me;
            record.last_opened_ms = now;
            Ok(record.clone())
        })
    }

    pub(crate) fn update_room(
        &self,
        room_id: &str,
        f: impl FnOnce(&mut RoomRecord),
    ) -> Option<Result<Option<RoomRecord>>> {
        self.with_room(room_id, |room| {
            Ok(room.record.as_mut().map(|r| {
                f(r);
                r.clone()
            }))
        })
    }

    pub(crate) fn room(&self, room_id: &str) -> Option<Result<Option<RoomRecord>>> {
        self.with_room(room_id, |room| Ok(room.record.clone()))
    }

    /// Forgets what is kept of a room (the room stays keep-nothing).
    pub(crate) fn forget_room(&self, room_id: &str) {
        if let Some(room) = self.rooms.borrow_mut().get_mut(room_id) {
            *room = VolatileRoom::default();
        }
        self.files
            .borrow_mut()
            .retain(|_, f| f.record.room_id != room_id);
    }

    pub(crate) fn clear_history(&self, room_id: &str) -> Option<Result<()>> {
        self.with_room(room_id, |room| {
            room.messages.clear();
            Ok(())
        })
    }

    pub(crate) fn add_message(&self, message: &StoredMessage) -> Option<Result<()>> {
        if !message.ts.is_finite() {
            return None; // IndexedDB's path refuses it with the usual error
        }
        if !self.keeps_nothing(&message.room_id) {
            // An id already used in a keep-nothing room must not land in IndexedDB either.
            let elsewhere = self
                .rooms
                .borrow()
                .values()
                .any(|r| r.messages.contains_key(&message.id));
            return elsewhere.then(|| {
                Err(StorageError::Invalid(
                    "a message with this id belongs to another room".to_string(),
                ))
            });
        }
        self.with_room(&message.room_id, |room| {
            let mut message = message.clone();
            if let Some(old) = room.messages.get(&message.id) {
                message.keep_from(old);
            }
            room.messages.insert(message.id.clone(), message);
            Ok(())
        })
    }

    pub(crate) fn delete_message(&self, message_id: &str) -> Option<Result<()>> {
        let mut rooms = self.rooms.borrow_mut();
        let room = rooms
            .values_mut()
            .find(|r| r.messages.contains_key(message_id))?;
        room.messages.remove(message_id);
        Some(Ok(()))
    }

    /// Changes a message of a room that keeps nothing (see `Storage::update_message`): `None` if it is not one.
    pub(crate) fn update_message(
        &self,
        message_id: &str,
        change: impl FnOnce(&mut StoredMessage) -> bool,
    ) -> Option<bool> {
        let mut rooms = self.rooms.borrow_mut();
        let message = rooms
            .values_mut()
            .find_map(|r| r.messages.get_mut(message_id))?;
        Some(change(message))
    }

    pub(crate) fn messages(&self, room_id: &str) -> Option<Result<Vec<StoredMessage>>> {
        self.with_room(room_id, |room| {
            let mut list: Vec<StoredMessage> = room.messages.values().cloned().collect();
            list.sort_by(|a, b| a.ts.total_cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
            Ok(list)
        })
    }

    pub(crate) fn put_file(&self, file: &FileRecord) -> Option<Result<()>> {
        if !self.keeps_nothing(&file.room_id) {
            return None;
        }
        let mut files = self.files.borrow_mut();
        match files.get_mut(&file.transfer_id) {
            Some(existing) => existing.record = file.clone(),
            None => {
                files.insert(
                    file.transfer_id.clone(),
                    VolatileFile {
                        record: file.clone(),
                        chunks: BTreeMap::new(),
                    },
                );
            }
        }
        Some(Ok(()))
    }

    pub(crate) fn file(&self, transfer_id: &str) -> Option<Result<Option<FileRecord>>> {
        self.with_file(transfer_id, |f| Ok(Some(f.record.clone())))
    }

    pub(crate) fn files(&self, room_id: &str) -> Option<Result<Vec<FileRecord>>> {
        if !self.keeps_nothing(room_id) {
            return None;
        }
        let mut list: Vec<FileRecord> = self
            .files
            .borrow()
            .values()
            .filter(|f| f.record.room_id == room_id)
            .map(|f| f.record.clone())
            .collect();
        list.sort_by(|a, b| {
            a.created_ms
                .total_cmp(&b.created_ms)
                .then_with(|| a.transfer_id.cmp(&b.transfer_id))
        });
        Some(Ok(list))
    }

    pub(crate) fn put_chunk(
        &self,
        transfer_id: &str,
        batch_index: u32,
        blob: &Blob,
    ) -> Option<Result<()>> {
        self.with_file(transfer_id, |f| {
            f.chunks.insert(batch_index, blob.clone());
            Ok(())
        })
    }

    pub(crate) fn put_batch(
        &self,
        transfer_id: &str,
        batch_index: u32,
        blob: &Blob,
        snapshot: &twain_protocol::transfer::IncomingSnapshot,
    ) -> Option<Result<()>> {
        self.with_file(transfer_id, |f| {
            f.record.state = FileState::Transferring;
            f.record.bytes_done = snapshot.stored_bytes as f64;
            f.record.snapshot = Some(snapshot.clone());
            f.chunks.insert(batch_index, blob.clone());
            Ok(())
        })
    }

    pub(crate) fn delete_chunks(&self, transfer_id: &str) -> Option<Result<()>> {
        self.with_file(transfer_id, |f| {
            f.chunks.clear();
            Ok(())
        })
    }

    pub(crate) fn chunks(&self, transfer_id: &str) -> Option<Result<Vec<Blob>>> {
        self.with_file(transfer_id, |f| Ok(f.chunks.values().cloned().collect()))
    }

    pub(crate) fn chunk_count(&self, transfer_id: &str) -> Option<Result<u32>> {
        self.with_file(transfer_id, |f| Ok(f.chunks.len() as u32))
    }

    pub(crate) fn delete_transfer(&self, transfer_id: &str) -> Option<Result<()>> {
        self.files.borrow_mut().remove(transfer_id).map(|_| Ok(()))
    }

    /// Adopts data read from IndexedDB when a room becomes keep-nothing (what is already here wins).
    pub(crate) fn adopt(
        &self,
        room_id: &str,
        record: Option<RoomRecord>,
        messages: Vec<StoredMessage>,
        files: Vec<(FileRecord, Vec<(u32, Blob)>)>,
    ) {
        if let Some(room) = self.rooms.borrow_mut().get_mut(room_id) {
            if room.record.is_none() {
                room.record = record;
            }
            for m in messages {
                room.messages.entry(m.id.clone()).or_insert(m);
            }
        }
        let mut kept = self.files.borrow_mut();
        for (record, chunks) in files {
            kept.entry(record.transfer_id.clone())
                .or_insert_with(|| VolatileFile {
                    record,
                    chunks: chunks.into_iter().collect(),
                });
        }
    }
}
