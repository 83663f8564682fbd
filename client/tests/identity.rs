//! The identity key pair and the data the user controls, in a real browser:
//! `cargo test --target wasm32-unknown-unknown -p twain-client --test identity`.
//! Every test uses its own database and deletes it at the end.

use js_sys::Array;
use twain_client::random::new_id;
use twain_client::storage::{FileRecord, FileState, MessageKind, Storage, StoredMessage};
use twain_protocol::ids::base64url;
use twain_protocol::transfer::{FileMeta, IncomingSnapshot, TransferId};
use twain_protocol::verify::{
    decode_public_key, peer_id_from_public_key, proof_message, verify_signature, Fingerprint,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::Blob;

mod common;
use common::{cleanup, db_name, open};

wasm_bindgen_test_configure!(run_in_browser);

fn message(room: &str, id: &str, text: &str) -> StoredMessage {
    StoredMessage {
        id: id.to_string(),
        room_id: room.to_string(),
        kind: MessageKind::Chat,
        from_me: false,
        author: "Quiet Otter".to_string(),
        text: text.to_string(),
        ts: js_sys::Date::now(),
        delivered: true,
        reply_to: None,
        deleted: false,
        edited: false,
    }
}

fn file(room: &str, transfer_id: &str, state: FileState, from_me: bool) -> FileRecord {
    FileRecord {
        transfer_id: transfer_id.to_string(),
        room_id: room.to_string(),
        name: "photo.jpg".to_string(),
        mime: "image/jpeg".to_string(),
        size: 12.0,
        from_me,
        created_ms: js_sys::Date::now(),
        state,
        bytes_done: 0.0,
        sha256: String::new(),
        download_name: "photo.jpg".to_string(),
        snapshot: None,
        message: None,
    }
}

fn blob(text: &str) -> Blob {
    Blob::new_with_str_sequence(&Array::of1(&JsValue::from_str(text))).expect("blob")
}

async fn blob_text(blob: &Blob) -> String {
    JsFuture::from(blob.text())
        .await
        .unwrap()
        .as_string()
        .unwrap()
}

/// Every record of every store, as JSON text: what is on disk.
async fn disk_text(storage: &Storage) -> String {
    let mut text = String::new();
    for store in ["identity", "rooms", "messages", "files", "chunks"] {
        let records = storage.raw_records(store).await.unwrap();
        for r in records.iter() {
            let json = js_sys::JSON::stringify(&r)
                .ok()
                .and_then(|s| s.as_string())
                .unwrap_or_default();
            text.push_str(&format!("{store}: {json}\n"));
        }
        if store == "chunks" {
            text.push_str(&format!("chunks: {}\n", records.length()));
        }
    }
    text
}

fn snapshot(transfer: TransferId) -> IncomingSnapshot {
    IncomingSnapshot {
        transfer_id: transfer,
        meta: FileMeta {
            name: "photo.jpg".into(),
            size: 40_000,
            mime: "image/jpeg".into(),
            sha256: "ab".repeat(32),
        },
        next_seq: 2,
        stored_bytes: 32_768,
    }
}

#[wasm_bindgen_test]
async fn the_identity_is_a_key_pair_whose_id_comes_from_the_public_key() {
    let name = db_name("keys");
    let storage = open(&name).await;
    let identity = storage.load_or_create_identity().await.unwrap();
    let raw = decode_public_key(&identity.public_key).expect("a valid P-256 public key");
    assert_eq!(raw.len(), 65);
    assert_eq!(identity.peer_id, peer_id_from_public_key(&raw));
    twain_protocol::ids::validate_peer_id(&identity.peer_id).unwrap();

    // The private key is a non-extractable CryptoKey: it can sign, nobody can read it.
    let key = storage.signing_key().await.unwrap();
    assert!(!key.extractable());
    assert_eq!(key.type_(), "private");
    let fp = Fingerprint([7; 32]);
    let room = new_id();
    let msg = proof_message(&room, &fp);
    let signature = twain_client::identity::sign(&key, &msg).await.unwrap();
    assert_eq!(signature.len(), 64);
    // WebCrypto's signature verifies with the pure-Rust check the peer runs.
    verify_signature(&raw, &msg, &signature).unwrap();
    assert!(verify_signature(
        &raw,
        &proof_message(&room, &Fingerprint([8; 32])),
        &signature
    )
    .is_err());

    // The same identity comes back, also after reopening; the stored key is the same key.
    assert_eq!(storage.load_or_create_identity().await.unwrap(), identity);
    drop(storage);
    let storage = open(&name).await;
    assert_eq!(storage.load_or_create_identity().await.unwrap(), identity);
    let again = storage.signing_key().await.unwrap();
    let signature = twain_client::identity::sign(&again, &msg).await.unwrap();
    verify_signature(&raw, &msg, &signature).unwrap();
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn renaming_keeps_the_key_and_the_id() {
    let name = db_name("rename-keys");
    let storage = open(&name).await;
    let before = storage.load_or_create_identity().await.unwrap();
    let renamed = storage.rename("Ada").await.unwrap();
    assert_eq!(renamed.name, "Ada");
    assert_eq!(renamed.public_key, before.public_key);
    assert_eq!(renamed.peer_id, before.peer_id);
    drop(storage);
    let storage = open(&name).await;
    let after = storage.load_or_create_identity().await.unwrap();
    assert_eq!(after, renamed);
    let raw = decode_public_key(&after.public_key).unwrap();
    let key = storage.signing_key().await.unwrap();
    let signature = twain_client::identity::sign(&key, b"still mine")
        .await
        .unwrap();
    verify_signature(&raw, b"still mine", &signature).unwrap();
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn a_keep_nothing_room_never_reaches_indexeddb() {
    let name = db_name("keep-nothing");
    let storage = open(&name).await;
    storage.load_or_create_identity().await.unwrap();
    let room = new_id();
    storage.set_keep_nothing(&room, true).await.unwrap();
    assert!(storage.keeps_nothing(&room));

    // Everything the room page and the file engine do in a room works...
    let record = storage.touch_room(&room, true).await.unwrap();
    assert!(record.created_by_me);
    storage
        .set_room_peer(&room, &new_id(), "Bright Heron")
        .await
        .unwrap();
    storage
        .remember_peer_key(&room, &base64url(&[4; 65]), true)
        .await
        .unwrap();
    let m = message(&room, &format!("{room}:peer:1"), "secret words");
    storage.add_message(&m).await.unwrap();
    assert!(storage.mark_delivered(&m.id).await.unwrap());
    assert_eq!(storage.messages(&room).await.unwrap(), vec![m.clone()]);
    let transfer = TransferId::from_random([9; 16]);
    let id = transfer.to_hex();
    storage
        .put_file(&file(&room, &id, FileState::Pending, false))
        .await
        .unwrap();
    storage
        .put_batch(&id, 0, &blob("secret file"), &snapshot(transfer))
        .await
        .unwrap();
    assert_eq!(
        storage.file(&id).await.unwrap().unwrap().state,
        FileState::Transferring
    );
    assert_eq!(storage.files(&room).await.unwrap().len(), 1);
    assert_eq!(storage.chunk_count(&id).await.unwrap(), 1);
    assert_eq!(
        blob_text(&storage.chunks(&id).await.unwrap()[0]).await,
        "secret file"
    );
    let room_record = storage.room(&room).await.unwrap().unwrap();
    assert_eq!(room_record.peer_name.as_deref(), Some("Bright Heron"));
    assert!(room_record.peer_verified);

    // ...and nothing of it is on disk: not the room id, not a message, not a file, not a byte.
    let disk = disk_text(&storage).await;
    assert!(!disk.contains(&room), "{disk}");
    assert!(!disk.contains("secret"), "{disk}");
    assert!(!disk.contains(&id), "{disk}");
    assert!(disk.contains("chunks: 0"), "{disk}");
    assert!(storage.rooms().await.unwrap().is_empty());

    // Reopening (a reload): the room still keeps nothing, and what this page held is gone.
    drop(storage);
    let storage = open(&name).await;
    assert!(storage.keeps_nothing(&room));
    assert!(storage.messages(&room).await.unwrap().is_empty());
    assert!(storage.files(&room).await.unwrap().is_empty());
    assert!(!storage.keeps_nothing(&new_id()));
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn turning_keep_nothing_on_moves_a_room_off_disk_and_off_brings_it_back() {
    let name = db_name("keep-nothing-toggle");
    let storage = open(&name).await;
    let room = new_id();
    let other = new_id();
    storage.touch_room(&room, false).await.unwrap();
    storage.touch_room(&other, false).await.unwrap();
    let m = message(&room, &format!("{room}:peer:1"), "before");
    storage.add_message(&m).await.unwrap();
    storage
        .add_message(&message(&other, &format!("{other}:peer:1"), "other room"))
        .await
        .unwrap();
    let id = TransferId::from_random([5; 16]).to_hex();
    storage
        .put_file(&file(&room, &id, FileState::Complete, false))
        .await
        .unwrap();
    storage
        .put_chunk(&id, 4, &blob("kept bytes"))
        .await
        .unwrap();

    storage.set_keep_nothing(&room, true).await.unwrap();
    let disk = disk_text(&storage).await;
    assert!(!disk.contains(&room), "{disk}");
    assert!(
        disk.contains("other room"),
        "another room is untouched: {disk}"
    );
    // The open page keeps working with what it had.
    assert_eq!(storage.messages(&room).await.unwrap(), vec![m.clone()]);
    assert_eq!(
        blob_text(&storage.chunks(&id).await.unwrap()[0]).await,
        "kept bytes"
    );
    let later = message(&room, &format!("{room}:me:2"), "during");
    storage.add_message(&later).await.unwrap();
    assert!(!disk_text(&storage).await.contains("during"));
    // Batch keys are kept: the same batch again replaces, not duplicates.
    storage
        .put_chunk(&id, 4, &blob("kept bytes"))
        .await
        .unwrap();
    assert_eq!(storage.chunk_count(&id).await.unwrap(), 1);

    storage.set_keep_nothing(&room, false).await.unwrap();
    assert!(!storage.keeps_nothing(&room));
    drop(storage);
    let storage = open(&name).await;
    assert!(!storage.keeps_nothing(&room));
    let texts: Vec<String> = storage
        .messages(&room)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["before", "during"]);
    assert_eq!(
        blob_text(&storage.chunks(&id).await.unwrap()[0]).await,
        "kept bytes"
    );
    assert!(storage.room(&room).await.unwrap().is_some());
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn clearing_history_and_received_files_keeps_the_rest() {
    let name = db_name("clear");
    let storage = open(&name).await;
    let room = new_id();
    let other = new_id();
    storage.touch_room(&room, false).await.unwrap();
    storage
        .add_message(&message(&room, &format!("{room}:a"), "one"))
        .await
        .unwrap();
    storage
        .add_message(&message(&other, &format!("{other}:a"), "elsewhere"))
        .await
        .unwrap();
    let received = TransferId::from_random([1; 16]).to_hex();
    let arriving = TransferId::from_random([2; 16]).to_hex();
    let sent = TransferId::from_random([3; 16]).to_hex();
    for (id, state, mine) in [
        (&received, FileState::Complete, false),
        (&arriving, FileState::Transferring, false),
        (&sent, FileState::Complete, true),
    ] {
        storage
            .put_file(&file(&room, id, state, mine))
            .await
            .unwrap();
        storage.put_chunk(id, 0, &blob("data")).await.unwrap();
    }

    storage.clear_history(&room).await.unwrap();
    assert!(storage.messages(&room).await.unwrap().is_empty());
    assert_eq!(storage.messages(&other).await.unwrap().len(), 1);
    assert_eq!(storage.files(&room).await.unwrap().len(), 3, "files stay");

    assert_eq!(storage.delete_received_files(&room).await.unwrap(), 1);
    assert_eq!(storage.file(&received).await.unwrap(), None);
    assert_eq!(storage.chunk_count(&received).await.unwrap(), 0);
    assert!(
        storage.file(&arriving).await.unwrap().is_some(),
        "a file still arriving stays"
    );
    assert!(
        storage.file(&sent).await.unwrap().is_some(),
        "a sent file is not a received one"
    );
    assert!(storage.room(&room).await.unwrap().is_some());

    // The peer key memory.
    assert_eq!(
        storage.room(&room).await.unwrap().unwrap().peer_public_key,
        None
    );
    let key = base64url(&[4; 65]);
    storage.remember_peer_key(&room, &key, true).await.unwrap();
    let record = storage.room(&room).await.unwrap().unwrap();
    assert_eq!(record.peer_public_key.as_deref(), Some(key.as_str()));
    assert!(record.peer_verified);
    assert_eq!(
        storage
            .remember_peer_key(&new_id(), &key, true)
            .await
            .unwrap(),
        None
    );
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
async fn the_export_zip_holds_the_data_and_the_received_files() {
    let name = db_name("export");
    let storage = open(&name).await;
    let identity = storage.load_or_create_identity().await.unwrap();
    let room = new_id();
    storage.touch_room(&room, false).await.unwrap();
    storage
        .add_message(&message(&room, &format!("{room}:a"), "exported words"))
        .await
        .unwrap();
    let received = TransferId::from_random([1; 16]).to_hex();
    storage
        .put_file(&file(&room, &received, FileState::Complete, false))
        .await
        .unwrap();
    storage
        .put_chunk(&received, 0, &blob("hello "))
        .await
        .unwrap();
    storage
        .put_chunk(&received, 64, &blob("world"))
        .await
        .unwrap();

    let zip = twain_client::export::export_zip(&storage, |_| {})
        .await
        .unwrap();
    let bytes =
        js_sys::Uint8Array::new(&JsFuture::from(zip.array_buffer()).await.unwrap()).to_vec();
    let text = String::from_utf8_lossy(&bytes);
    assert!(bytes.starts_with(b"PK\x03\x04"));
    assert!(text.contains("twain-export/data.json"));
    assert!(text.contains("exported words"));
    assert!(text.contains(&identity.public_key));
    assert!(!text.contains("signing_key"));
    assert!(text.contains(&format!("twain-export/files/{}/photo.jpg", &room[..8])));
    assert!(text.contains("hello world"), "the file's batches, in order");
    // End of central directory: two entries.
    let eocd = bytes.len() - 22;
    assert_eq!(&bytes[eocd..eocd + 4], b"PK\x05\x06");
    assert_eq!(u16::from_le_bytes([bytes[eocd + 10], bytes[eocd + 11]]), 2);
    cleanup(storage, &name).await;
}

#[wasm_bindgen_test]
fn zip_parts() {
    use twain_client::export::{unique_name, Crc32};
    let crc = |b: &[u8]| {
        let mut c = Crc32::default();
        c.update(b);
        c.finish()
    };
    assert_eq!(crc(b""), 0);
    assert_eq!(crc(b"123456789"), 0xCBF4_3926);
    let mut split = Crc32::default();
    split.update(b"1234");
    split.update(b"56789");
    assert_eq!(split.finish(), 0xCBF4_3926);

    let mut taken = std::collections::HashSet::new();
    assert_eq!(unique_name("f/a.txt".into(), &mut taken), "f/a.txt");
    assert_eq!(unique_name("f/a.txt".into(), &mut taken), "f/a (2).txt");
    assert_eq!(unique_name("f/a.txt".into(), &mut taken), "f/a (3).txt");
    assert_eq!(unique_name("f.d/noext".into(), &mut taken), "f.d/noext");
    assert_eq!(unique_name("f.d/noext".into(), &mut taken), "f.d/noext (2)");
}
