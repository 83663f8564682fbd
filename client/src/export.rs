//! "Everything" in the settings: export all data as one zip download, and delete all of it.
//!
//! The export is a stored (uncompressed) zip: `twain-export/data.json` (the identity's public part, every room,
//! message and file record) and `twain-export/files/<room>/<name>` for every received file that arrived
//! complete. The zip is a `Blob` assembled from small header parts and the stored file Blobs themselves, which
//! stay disk-backed: only one 1 MiB slice at a time is read into memory, to compute its CRC-32. ZIP32 limits
//! apply (4 GiB in total, 65 535 entries); a bigger export is refused with a sentence.

use std::collections::HashSet;

use js_sys::{Array, Uint8Array};
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag};

use crate::storage::{FileState, Storage, DB_NAME};

/// Bytes read at a time while computing a file's CRC-32.
const SLICE: f64 = 1024.0 * 1024.0;
const ZIP_MAX: u64 = u32::MAX as u64;

/// CRC-32 (IEEE 802.3, as zip uses it), incremental.
#[derive(Clone, Copy)]
pub struct Crc32(u32);

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

impl Default for Crc32 {
    fn default() -> Self {
        Crc32(0xFFFF_FFFF)
    }
}

impl Crc32 {
    pub fn update(&mut self, bytes: &[u8]) {
        let mut c = self.0;
        for &b in bytes {
            c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    pub fn finish(self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

/// One entry of the zip: its name, CRC-32 and size, and where its local header starts.
pub struct ZipEntry {
    pub name: String,
    pub crc: u32,
    pub size: u32,
    pub offset: u32,
}

/// MS-DOS time and date of `ms` (local time), as zip stores them.
fn dos_time(ms: f64) -> (u16, u16) {
    let d = js_sys::Date::new(&JsValue::from_f64(ms));
    let year = d.get_full_year().clamp(1980, 2107);
    let time = (d.get_hours() << 11) | (d.get_minutes() << 5) | (d.get_seconds() / 2);
    let date = ((year - 1980) << 9) | ((d.get_month() + 1) << 5) | d.get_date();
    (time as u16, date as u16)
}

/// The local file header of a stored entry (UTF-8 name flag set).
pub fn local_header(entry: &ZipEntry, (time, date): (u16, u16)) -> Vec<u8> {
    let name = entry.name.as_bytes();
    let mut h = Vec::with_capacity(30 + name.len());
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    h.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
    h.extend_from_slice(&0x0800u16.to_le_bytes()); // flags: UTF-8 names
    h.extend_from_slice(&0u16.to_le_bytes()); // stored
    h.extend_from_slice(&time.to_le_bytes());
    h.extend_from_slice(&date.to_le_bytes());
    h.extend_from_slice(&entry.crc.to_le_bytes());
    h.extend_from_slice(&entry.size.to_le_bytes());
    h.extend_from_slice(&entry.size.to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(name);
    h
}

/// The central directory and its end record for `entries`, which end at `offset`.
pub fn central_directory(entries: &[ZipEntry], (time, date): (u16, u16), offset: u32) -> Vec<u8> {
    let mut cd = Vec::new();
    for e in entries {
        let name = e.name.as_bytes();
        cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        cd.extend_from_slice(&20u16.to_le_bytes()); // made by
        cd.extend_from_slice(&20u16.to_le_bytes()); // needed
        cd.extend_from_slice(&0x0800u16.to_le_bytes());
        cd.extend_from_slice(&0u16.to_le_bytes());
        cd.extend_from_slice(&time.to_le_bytes());
        cd.extend_from_slice(&date.to_le_bytes());
        cd.extend_from_slice(&e.crc.to_le_bytes());
        cd.extend_from_slice(&e.size.to_le_bytes());
        cd.extend_from_slice(&e.size.to_le_bytes());
        cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&[0u8; 8]); // extra len, comment len, disk, internal attributes
        cd.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        cd.extend_from_slice(&e.offset.to_le_bytes());
        cd.extend_from_slice(name);
    }
    let size = cd.len() as u32;
    cd.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    cd.extend_from_slice(&[0u8; 4]); // this disk, disk with the directory
    cd.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    cd.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    cd.extend_from_slice(&size.to_le_bytes());
    cd.extend_from_slice(&offset.to_le_bytes());
    cd.extend_from_slice(&0u16.to_le_bytes());
    cd
}

fn js_err(e: JsValue) -> String {
    js_sys::Reflect::get(&e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "the browser refused".into())
}

fn bytes_part(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// CRC-32 of a Blob, reading it one slice at a time.
async fn blob_crc(blob: &Blob) -> Result<u32, String> {
    let mut crc = Crc32::default();
    let size = blob.size();
    let mut start = 0.0;
    while start < size {
        let end = (start + SLICE).min(size);
        let part = blob.slice_with_f64_and_f64(start, end).map_err(js_err)?;
        let buffer = JsFuture::from(part.array_buffer()).await.map_err(js_err)?;
        crc.update(&Uint8Array::new(&buffer).to_vec());
        start = end;
    }
    Ok(crc.finish())
}

/// A name no other entry has: `a.txt`, then `a (2).txt`…
pub fn unique_name(name: String, taken: &mut HashSet<String>) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > name.rfind('/').map_or(0, |s| s + 1) => (&name[..i], &name[i..]),
        _ => (name.as_str(), ""),
    };
    (2..)
        .map(|n| format!("{stem} ({n}){ext}"))
        .find(|candidate| taken.insert(candidate.clone()))
        .expect("some number is free")
}

/// Builds the export zip of everything `storage` holds. `progress` gets a sentence as it goes.
pub async fn export_zip(storage: &Storage, progress: impl Fn(String)) -> Result<Blob, String> {
    let text = |e: crate::storage::StorageError| e.to_string();
    let identity = storage.load_or_create_identity().await.map_err(text)?;
    let rooms = storage.rooms().await.map_err(text)?;
    let mut messages = storage.all_messages().await.map_err(text)?;
    messages.sort_by(|a, b| a.ts.total_cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
    let mut files = storage.all_files().await.map_err(text)?;
    files.sort_by(|a, b| a.created_ms.total_cmp(&b.created_ms));

    let now = js_sys::Date::now();
    let stamp = dos_time(now);
    let mut taken = HashSet::new();
    let parts = Array::new();
    let mut entries: Vec<ZipEntry> = Vec::new();
    let mut offset: u64 = 0;
    let mut file_list = Vec::new();
    let mut exported = Vec::new();

    for record in &files {
        let mut value = serde_json::to_value(record).map_err(|e| e.to_string())?;
        if let Some(obj) = value.as_object_mut() {
            obj.remove("snapshot"); // resume state, meaningless outside this browser
        }
        if !record.from_me && record.state == FileState::Complete {
            let room: String = record.room_id.chars().take(8).collect();
            let path = unique_name(
                format!("twain-export/files/{room}/{}", record.download_name),
                &mut taken,
            );
            if let Some(obj) = value.as_object_mut() {
                obj.insert(
                    "path".into(),
                    path.trim_start_matches("twain-export/").into(),
                );
            }
            exported.push((record.transfer_id.clone(), path));
        }
        file_list.push(value);
    }

    let data = json!({
        "format": "twain-export",
        "version": 1,
        "exported_ms": now,
        "identity": {
            "peer_id": identity.peer_id,
            "name": identity.name,
            "public_key": identity.public_key,
            "created_ms": identity.created_ms,
        },
        "rooms": rooms,
        "messages": messages,
        "files": file_list,
    });
    let data = serde_json::to_vec_pretty(&data).map_err(|e| e.to_string())?;
    let mut crc = Crc32::default();
    crc.update(&data);
    let entry = ZipEntry {
        name: "twain-export/data.json".into(),
        crc: crc.finish(),
        size: data.len() as u32,
        offset: 0,
    };
    let header = local_header(&entry, stamp);
    offset += (header.len() + data.len()) as u64;
    parts.push(&bytes_part(&header));
    parts.push(&bytes_part(&data));
    entries.push(entry);

    let total = exported.len();
    for (i, (transfer_id, path)) in exported.into_iter().enumerate() {
        progress(format!("Adding received file {} of {total}…", i + 1));
        let chunks = storage.chunks(&transfer_id).await.map_err(text)?;
        let blob =
            Blob::new_with_blob_sequence(&chunks.iter().collect::<Array>()).map_err(js_err)?;
        let size = blob.size() as u64;
        if offset + size + 1024 > ZIP_MAX || entries.len() >= usize::from(u16::MAX) {
            return Err(
                "There is too much to export in one zip (over 4 GB). Delete some received files first.".into(),
            );
        }
        let entry = ZipEntry {
            name: path,
            crc: blob_crc(&blob).await?,
            size: size as u32,
            offset: offset as u32,
        };
        let header = local_header(&entry, stamp);
        offset += header.len() as u64 + size;
        parts.push(&bytes_part(&header));
        parts.push(&blob);
        entries.push(entry);
    }
    parts.push(&bytes_part(&central_directory(
        &entries,
        stamp,
        offset as u32,
    )));
    let options = BlobPropertyBag::new();
    options.set_type("application/zip");
    // Drop the reference to the Array promptly; the Blob keeps its parts.
    Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(js_err)
}

/// Offers `blob` as a download named `file_name`.
pub fn download(blob: &Blob, file_name: &str) -> Result<(), String> {
    let url = web_sys::Url::create_object_url_with_blob(blob).map_err(js_err)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| "no anchor")?;
    a.set_href(&url);
    a.set_download(file_name);
    a.set_hidden(true);
    let body = document.body().ok_or("no body")?;
    body.append_child(&a).map_err(js_err)?;
    a.click();
    a.remove();
    // The download has started reading the URL; free it a little later.
    gloo_timers::callback::Timeout::new(60_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

/// Deletes everything Twain keeps in this browser (the database, the notification preference), then reloads: the
/// app starts fresh, with a new identity. Object URLs of this page die with the reload.
pub async fn delete_everything() -> Result<(), String> {
    crate::notify::disable();
    Storage::delete_database(DB_NAME)
        .await
        .map_err(|e| e.to_string())?;
    // A full load of the landing page: nothing of this page's state survives.
    if let Some(w) = web_sys::window() {
        let _ = w.location().replace("/");
    }
    Ok(())
}
