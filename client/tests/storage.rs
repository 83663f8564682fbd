//! IndexedDB storage, in a real browser: `cargo test --target wasm32-unknown-unknown -p twain-client --test storage`.
//! Every test uses its own database and deletes it at the end.

use gloo_timers::future::TimeoutFuture;
use js_sys::Array;
use twain_client::random::new_id;
use twain_client::storage::{
    FileRecord, FileState, MessageKind, Storage, StorageError, StoredMessage,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::Blob;

mod common;
use common::{cleanup, db_name, open};

wasm_bindgen_test_configure!(run_in_browser);

/// Lets the clock move on, so timestamps taken before and after differ.
async fn tick() {
    TimeoutFuture::new(3).await;
}

fn message(room: &str, id: &str, text: &str, ts: f64) -> StoredMessage {
    StoredMessage {
        id: id.to_string(),
        room_id: room.to_string(),
        kind: MessageKind::Chat,
        from_me: true,
        author: "Quiet Otter".to_string(),
        text: text.to_string(),
        ts,
        delivered: false,
        reply_to: None,
        deleted: false,
        edited: false,
    }
}

fn file(room: &str, transfer_id: &str) -> FileRecord {
    FileRecord {
        transfer_id: transfer_id.to_string(),
        room_id: room.to_string(),
        name: "photo.jpg".to_string(),
        mime: "image/jpeg".to_string(),
        size: 12.0,
        from_me: false,
        created_ms: js_sys::Date::now(),
        state: FileState::Transferring,
        bytes_done: 0.0,
        sha256: String::new(),
        download_name: "photo.jpg".to_string(),
        snapshot: None,
        message: None,
    }
}

fn blob(text: &str) -> Blob {
    let parts = Array::of1(&JsValue::from_str(text));
    Blob::new_with_str_sequence(&parts).expect("blob")
}

async fn blob_text(blob: &Blob) -> String {
    JsFuture::from(blob.text())
        .await
        .expect("read blob")
        .as_string()
        .expect("text")
}

async fn blob_texts(blobs: &[Blob]) -> Vec<String> {
    let mut texts = Vec::new();
    for blob in blobs {
        texts.push(blob_text(blob).await);
    }
    texts
}

fn ids(messages: &[StoredMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.id.as_str()).collect()
}

#[wasm_bindgen_test]
async fn identity_is_created_once_and_persists_across_reopen() {
    let name = db_name("identity");
    let storage = open(&name).await;
    let first = storage.load_or_create_identity().await.unwrap();
    assert_eq!(first.peer_id.len(), 22);
    assert!(twain_protocol::validate_name(&first.name).is_ok());
    assert!(first.created_ms > 0.0);
    assert_eq!(storage.load_or_create_identity().await.unwrap(), first);
    drop(storage);

    let storage = open(&name).await;
    assert_eq!(storage.load_or_create_identity().await.unwrap(), first);
    cleanup(storage, &name).await;

    // A fresh database gets a different identity.
    let other_name = db_name("identity-other");
    let other = open(&other_name).await;
    let second = other.load_or_create_identity().await.unwrap();
    assert_ne!(second.peer_id, first.peer_id);
    cleanup(other, &other_name).await;
}

#[wasm_bindgen_test]
async fn rename_trims_persists_and_rejects_bad_names() {
    let name = db_name("rename");
    let storage = open(&name).await;
    let before = storage.load_or_create_identity().await.unwrap();

    let renamed = storage.rename("  Ada Lovelace \n").await.unwrap();
    assert_eq!(renamed.name, "Ada Lovelace");
    assert_eq!(renamed.peer_id, before.peer_id);
    assert_eq!(renamed.created_ms, before.created_ms);

    for bad in [
        "",
        "   ",
        &"x".repeat(twain_protocol::MAX_NAME_CHARS + 1),
        "a\u{7}b",
    ] {
        match storage.rename(bad).await {
            Err(StorageError::InvalidName(reason)) => assert!(!reason.is_empty()),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    // The longest allowed name is fine.
    let longest = "é".repeat(twain_protocol::MAX_NAME_CHARS);
    assert_eq!(storage.rename(&longest).await.unwrap().name, longest);
    storage.rename("Ada Lovelace").await.unwrap();
    drop(storage);

    let storage = open(&name).await;
    let after = storage.load_or_create_identity().await.unwrap();
    assert_eq!(after.name, "Ada Lovelace");
    assert_eq!(after.peer_id, before.peer_id);
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn rooms_are_listed_newest_first_and_touch_updates() {
    let name = db_name("rooms");
    let storage = open(&name).await;
    assert!(storage.rooms().await.unwrap().is_empty());
    let (a, b, c) = (new_id(), new_id(), new_id());

    let room_a = storage.touch_room(&a, true).await.unwrap();
    assert!(room_a.created_by_me);
    assert_eq!(room_a.first_opened_ms, room_a.last_opened_ms);
    assert_eq!(room_a.peer_name, None);
    tick().await;
    storage.touch_room(&b, false).await.unwrap();
    tick().await;
    storage.touch_room(&c, false).await.unwrap();
    let order: Vec<String> = storage
        .rooms()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.room_id)
        .collect();
    assert_eq!(order, [c.clone(), b.clone(), a.clone()]);

    // Opening A again moves it to the top, keeps created_by_me and first_opened_ms.
    tick().await;
    let again = storage.touch_room(&a, false).await.unwrap();
    assert!(again.created_by_me);
    assert_eq!(again.first_opened_ms, room_a.first_opened_ms);
    assert!(again.last_opened_ms > room_a.last_opened_ms);
    // created_by_me can become true later, never false again.
    tick().await;
    assert!(storage.touch_room(&b, true).await.unwrap().created_by_me);

    let peer = new_id();
    let updated = storage
        .set_room_peer(&c, &peer, "Brave Fox")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.peer_id.as_deref(), Some(peer.as_str()));
    // An unknown room is not created by set_room_peer.
    let unknown = new_id();
    assert_eq!(
        storage
            .set_room_peer(&unknown, &peer, "Brave Fox")
            .await
            .unwrap(),
        None
    );
    assert_eq!(storage.room(&unknown).await.unwrap(), None);
    // Invalid room ids are refused.
    assert!(matches!(
        storage.touch_room("bad id!", true).await,
        Err(StorageError::Invalid(_))
    ));
    drop(storage);

    let storage = open(&name).await;
    let rooms = storage.rooms().await.unwrap();
    let order: Vec<&str> = rooms.iter().map(|r| r.room_id.as_str()).collect();
    assert_eq!(order, [b.as_str(), a.as_str(), c.as_str()]);
    assert!(rooms[0].created_by_me && rooms[1].created_by_me && !rooms[2].created_by_me);
    assert_eq!(rooms[2].peer_name.as_deref(), Some("Brave Fox"));
    assert_eq!(rooms[2].peer_id.as_deref(), Some(peer.as_str()));
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn messages_of_two_rooms_stay_separate_and_come_back_in_time_order() {
    let name = db_name("messages");
    let storage = open(&name).await;
    let (a, b) = (new_id(), new_id());
    storage.touch_room(&a, true).await.unwrap();
    storage.touch_room(&b, false).await.unwrap();

    // Inserted out of time order, interleaved between the rooms.
    storage
        .add_message(&message(&a, "a3", "third", 3000.0))
        .await
        .unwrap();
    storage
        .add_message(&message(&b, "b2", "second", 2000.0))
        .await
        .unwrap();
    storage
        .add_message(&message(&a, "a1", "first", 1000.0))
        .await
        .unwrap();
    storage
        .add_message(&message(&b, "b1", "first", 1500.0))
        .await
        .unwrap();
    storage
        .add_message(&message(&a, "a2", "second", 2000.0))
        .await
        .unwrap();
    let mut system = message(&a, "a0", "Brave Fox joined", 500.0);
    system.kind = MessageKind::System;
    system.from_me = false;
    storage.add_message(&system).await.unwrap();

    let in_a = storage.messages(&a).await.unwrap();
    assert_eq!(ids(&in_a), ["a0", "a1", "a2", "a3"]);
    assert_eq!(in_a[0], system);
    assert_eq!(in_a[3].text, "third");
    assert_eq!(ids(&storage.messages(&b).await.unwrap()), ["b1", "b2"]);
    assert!(storage.messages(&new_id()).await.unwrap().is_empty());

    // A time that cannot be ordered is refused.
    let err = storage
        .add_message(&message(&a, "nan", "x", f64::NAN))
        .await;
    assert!(matches!(err, Err(StorageError::Invalid(_))), "{err:?}");
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn adding_the_same_message_twice_does_not_duplicate_it() {
    let name = db_name("dedupe");
    let storage = open(&name).await;
    let room = new_id();
    let original = message(&room, "m1", "hello", 1000.0);
    storage.add_message(&original).await.unwrap();
    storage.add_message(&original).await.unwrap();
    assert_eq!(
        storage.messages(&room).await.unwrap(),
        vec![original.clone()]
    );

    // Once delivered, a re-sent copy does not make it undelivered again, and a copy that arrives later (stamped
    // with its arrival time) keeps the first time.
    assert!(storage.mark_delivered("m1").await.unwrap());
    storage
        .add_message(&message(&room, "m1", "hello", 5000.0))
        .await
        .unwrap();
    let stored = storage.messages(&room).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].delivered);
    assert_eq!(stored[0].ts, 1000.0);

    // The same id in another room is refused and changes nothing.
    let other_room = new_id();
    let clash = message(&other_room, "m1", "hijack", 2000.0);
    assert!(matches!(
        storage.add_message(&clash).await,
        Err(StorageError::Invalid(_))
    ));
    assert!(storage.messages(&other_room).await.unwrap().is_empty());
    assert_eq!(storage.messages(&room).await.unwrap()[0].text, "hello");
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn mark_delivered_persists_across_reopen() {
    let name = db_name("delivered");
    let storage = open(&name).await;
    let room = new_id();
    storage
        .add_message(&message(&room, "m1", "one", 1.0))
        .await
        .unwrap();
    storage
        .add_message(&message(&room, "m2", "two", 2.0))
        .await
        .unwrap();
    assert!(storage.mark_delivered("m2").await.unwrap());
    assert!(!storage.mark_delivered("no-such-message").await.unwrap());
    drop(storage);

    let storage = open(&name).await;
    let stored = storage.messages(&room).await.unwrap();
    assert_eq!(ids(&stored), ["m1", "m2"]);
    assert!(!stored[0].delivered);
    assert!(stored[1].delivered);
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn deleted_messages_leave_no_words_behind_and_stay_deleted() {
    let name = db_name("deleted");
    let storage = open(&name).await;
    let room = new_id();
    let quoting = StoredMessage {
        reply_to: Some("m0".into()),
        ..message(&room, "m1", "oops", 1.0)
    };
    for m in [quoting.clone(), message(&room, "m2", "mine only", 2.0)] {
        storage.add_message(&m).await.unwrap();
    }
    // Deleted by its author for both: the place stays, the words and the quote go.
    assert!(storage.erase_message("m1").await.unwrap());
    assert!(!storage.erase_message("no-such-message").await.unwrap());
    // Deleted for me: nothing stays.
    storage.delete_message("m2").await.unwrap();
    storage.delete_message("no-such-message").await.unwrap();
    drop(storage);

    let storage = open(&name).await;
    let stored = storage.messages(&room).await.unwrap();
    assert_eq!(ids(&stored), ["m1"]);
    assert!(stored[0].deleted && stored[0].text.is_empty() && stored[0].reply_to.is_none());
    // The same message arriving again (sent again after a reconnect) brings nothing back.
    storage.add_message(&quoting).await.unwrap();
    let stored = storage.messages(&room).await.unwrap();
    assert!(stored[0].deleted && stored[0].text.is_empty());
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn an_edited_message_keeps_its_new_text_and_mark() {
    let name = db_name("edited");
    let storage = open(&name).await;
    let room = new_id();
    let original = message(&room, "m1", "meet at 5", 1.0);
    storage.add_message(&original).await.unwrap();
    assert!(storage.edit_message("m1", "meet at 6").await.unwrap());
    assert!(
        !storage.edit_message("m1", "meet at 6").await.unwrap(),
        "the same text changes nothing"
    );
    assert!(!storage.edit_message("no-such-message", "x").await.unwrap());
    drop(storage);

    let storage = open(&name).await;
    let stored = storage.messages(&room).await.unwrap();
    assert_eq!(
        (stored[0].text.as_str(), stored[0].edited),
        ("meet at 6", true)
    );
    // Sent again after a reconnect (with the new text): still marked. Deleted: no edit brings it back.
    storage
        .add_message(&StoredMessage {
            text: "meet at 6".into(),
            ..original
        })
        .await
        .unwrap();
    assert!(storage.messages(&room).await.unwrap()[0].edited);
    assert!(storage.erase_message("m1").await.unwrap());
    assert!(!storage.edit_message("m1", "back").await.unwrap());
    assert!(storage.messages(&room).await.unwrap()[0].text.is_empty());
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn forget_room_removes_everything_of_that_room_only() {
    let name = db_name("forget");
    let storage = open(&name).await;
    let (a, b) = (new_id(), new_id());
    let (ta, tb) = (new_id(), new_id());
    for (room, transfer) in [(&a, &ta), (&b, &tb)] {
        storage.touch_room(room, true).await.unwrap();
        storage
            .add_message(&message(room, &format!("{room}-1"), "hi", 1.0))
            .await
            .unwrap();
        storage
            .add_message(&message(room, &format!("{room}-2"), "yo", 2.0))
            .await
            .unwrap();
        storage.put_file(&file(room, transfer)).await.unwrap();
        storage
            .put_chunk(transfer, 0, &blob("part 0"))
            .await
            .unwrap();
        storage
            .put_chunk(transfer, 1, &blob("part 1"))
            .await
            .unwrap();
    }

    storage.forget_room(&a).await.unwrap();
    drop(storage);
    let storage = open(&name).await;

    let rooms = storage.rooms().await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].room_id, b);
    assert!(storage.messages(&a).await.unwrap().is_empty());
    assert!(storage.files(&a).await.unwrap().is_empty());
    assert_eq!(storage.file(&ta).await.unwrap(), None);
    assert!(storage.chunks(&ta).await.unwrap().is_empty());
    assert_eq!(storage.chunk_count(&ta).await.unwrap(), 0);

    assert_eq!(storage.messages(&b).await.unwrap().len(), 2);
    assert_eq!(
        storage.files(&b).await.unwrap(),
        [storage.file(&tb).await.unwrap().unwrap()]
    );
    assert_eq!(
        blob_texts(&storage.chunks(&tb).await.unwrap()).await,
        ["part 0", "part 1"]
    );

    // Forgetting an unknown room is fine.
    storage.forget_room(&new_id()).await.unwrap();
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn chunk_blobs_round_trip_in_order_and_delete_frees_them() {
    let name = db_name("chunks");
    let storage = open(&name).await;
    let room = new_id();
    let (t1, t2) = (new_id(), new_id());
    let meta = file(&room, &t1);
    storage.put_file(&meta).await.unwrap();
    storage.put_file(&file(&room, &t2)).await.unwrap();
    assert_eq!(storage.file(&t1).await.unwrap().as_ref(), Some(&meta));

    // Stored out of order; batch 10 must come after batch 2 (numeric, not text, order).
    for index in [2u32, 0, 10, 1] {
        storage
            .put_chunk(&t1, index, &blob(&format!("batch {index}")))
            .await
            .unwrap();
    }
    storage
        .put_chunk(&t2, 0, &blob("other transfer"))
        .await
        .unwrap();
    // Rewriting a batch replaces it.
    storage
        .put_chunk(&t1, 1, &blob("batch 1 again"))
        .await
        .unwrap();

    let chunks = storage.chunks(&t1).await.unwrap();
    assert_eq!(
        blob_texts(&chunks).await,
        ["batch 0", "batch 1 again", "batch 2", "batch 10"]
    );
    assert_eq!(storage.chunk_count(&t1).await.unwrap(), 4);
    // The stored parts combine into one download without reading them.
    let whole = Blob::new_with_blob_sequence(&chunks.iter().collect::<Array>()).unwrap();
    assert_eq!(
        blob_text(&whole).await,
        "batch 0batch 1 againbatch 2batch 10"
    );

    // Progress updates go through put_file.
    let mut done = meta.clone();
    done.state = FileState::Complete;
    done.bytes_done = 12.0;
    storage.put_file(&done).await.unwrap();
    assert_eq!(
        storage
            .files(&room)
            .await
            .unwrap()
            .iter()
            .find(|f| f.transfer_id == t1),
        Some(&done)
    );

    // Data for an unknown transfer is refused (it could never be cleaned up).
    let err = storage.put_chunk(&new_id(), 0, &blob("orphan")).await;
    assert!(matches!(err, Err(StorageError::Invalid(_))), "{err:?}");

    storage.delete_transfer(&t1).await.unwrap();
    assert!(storage.chunks(&t1).await.unwrap().is_empty());
    assert_eq!(storage.chunk_count(&t1).await.unwrap(), 0);
    assert_eq!(storage.file(&t1).await.unwrap(), None);
    // The other transfer is untouched.
    assert_eq!(
        blob_texts(&storage.chunks(&t2).await.unwrap()).await,
        ["other transfer"]
    );
    assert_eq!(storage.files(&room).await.unwrap().len(), 1);
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn deleting_the_database_closes_open_connections() {
    let name = db_name("delete");
    let storage = open(&name).await;
    let first = storage.load_or_create_identity().await.unwrap();
    let still_open = storage.clone();
    drop(storage);

    // The connection held by `still_open` closes itself so the deletion can proceed.
    Storage::delete_database(&name).await.unwrap();
    assert_eq!(
        still_open.load_or_create_identity().await,
        Err(StorageError::VersionChanged)
    );

    let storage = open(&name).await;
    assert_ne!(
        storage.load_or_create_identity().await.unwrap().peer_id,
        first.peer_id
    );
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
fn quota_errors_are_recognised() {
    let quota = web_sys::DomException::new_with_message_and_name("disk full", "QuotaExceededError")
        .unwrap();
    let err = StorageError::from_js(&quota);
    assert_eq!(err, StorageError::QuotaExceeded);
    assert!(err.to_string().contains("storage is full"), "{err}");

    let other = web_sys::DomException::new_with_message_and_name("bad key", "DataError").unwrap();
    match StorageError::from_js(&other) {
        StorageError::Failed(detail) => assert_eq!(detail, "DataError: bad key"),
        err => panic!("{err:?}"),
    }
    assert_eq!(
        StorageError::from_js(
            &web_sys::DomException::new_with_message_and_name("", "VersionError").unwrap()
        ),
        StorageError::VersionChanged
    );
}

#[wasm_bindgen_test]
async fn batches_store_progress_with_the_data_and_survive_reopening() {
    use twain_protocol::transfer::{FileMeta, IncomingSnapshot, TransferId};
    let name = db_name("batches");
    let storage = open(&name).await;
    let room = new_id();
    let transfer = TransferId::from_random([3; 16]);
    let id = transfer.to_hex();
    let record = FileRecord {
        state: FileState::Pending,
        ..file(&room, &id)
    };
    storage.put_file(&record).await.unwrap();
    let meta = FileMeta {
        name: "photo.jpg".into(),
        size: 40_000,
        mime: "image/jpeg".into(),
        sha256: "ab".repeat(32),
    };
    let snapshot = IncomingSnapshot {
        transfer_id: transfer,
        meta,
        next_seq: 2,
        stored_bytes: 32_768,
    };
    storage
        .put_batch(&id, 0, &blob("first two chunks"), &snapshot)
        .await
        .unwrap();
    drop(storage);

    let storage = open(&name).await;
    let stored = storage.file(&id).await.unwrap().unwrap();
    assert_eq!(stored.state, FileState::Transferring);
    assert_eq!(stored.bytes_done, 32_768.0);
    assert_eq!(stored.snapshot.as_ref(), Some(&snapshot));
    assert_eq!(
        blob_texts(&storage.chunks(&id).await.unwrap()).await,
        ["first two chunks"]
    );

    // A batch for an unknown transfer is refused and nothing is written.
    let other = new_id();
    let err = storage.put_batch(&other, 0, &blob("x"), &snapshot).await;
    assert!(matches!(err, Err(StorageError::Invalid(_))), "{err:?}");
    assert!(storage.chunks(&other).await.unwrap().is_empty());

    // Deleting the data keeps the record (a failed transfer stays in the history).
    storage.delete_chunks(&id).await.unwrap();
    assert!(storage.chunks(&id).await.unwrap().is_empty());
    assert!(storage.file(&id).await.unwrap().is_some());
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn a_created_rooms_owner_key_is_stored_once_and_survives_reopen() {
    let name = db_name("owner");
    let storage = open(&name).await;
    let room = new_id();
    let key = twain_client::components::moderation::new_owner_key();
    assert!(twain_protocol::ids::validate_owner_key(&key).is_ok());
    // An unknown room is not created by it.
    assert_eq!(
        storage.set_room_owner_secret(&room, &key).await.unwrap(),
        None
    );
    assert_eq!(
        storage.touch_room(&room, true).await.unwrap().owner_secret,
        None
    );
    let stored = storage.set_room_owner_secret(&room, &key).await.unwrap();
    assert_eq!(stored.unwrap().owner_secret.as_deref(), Some(key.as_str()));
    // A key once stored is never replaced.
    let other = twain_client::components::moderation::new_owner_key();
    assert_ne!(other, key);
    storage.set_room_owner_secret(&room, &other).await.unwrap();
    drop(storage);
    let storage = open(&name).await;
    let room = storage.room(&room).await.unwrap().unwrap();
    assert_eq!(room.owner_secret.as_deref(), Some(key.as_str()));
    assert!(room.created_by_me);
    cleanup(storage, &name).await;
}
