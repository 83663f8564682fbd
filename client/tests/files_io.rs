//! Reading and hashing Blobs the way file transfer does, in a real browser:
//! `cargo test --target wasm32-unknown-unknown -p twain-client --test files_io`.

use twain_client::files::io::{blob_from_bytes, hash_blobs, FileReader, READ_AHEAD_BYTES};
use twain_protocol::transfer::Sha256;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Bytes that differ at every position (a pattern repeating every 251 bytes).
fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

#[wasm_bindgen_test]
async fn file_reader_serves_sequential_reads_from_its_read_ahead() {
    let data = content(3 * READ_AHEAD_BYTES + 12_345);
    let blob = blob_from_bytes(&data).unwrap();
    let mut reader = FileReader::open(&blob, 0).unwrap();
    // The sender's reads: 128 KiB each, in order, across several read-ahead refills.
    let step = 128 * 1024;
    let mut offset = 0u64;
    while (offset as usize) < data.len() {
        assert!(reader.continues_at(offset));
        let got = reader.read_at(offset, step).await.unwrap().to_vec();
        let end = (offset as usize + step).min(data.len());
        assert_eq!(got.len(), end - offset as usize, "read at {offset}");
        assert!(got == data[offset as usize..end], "bytes at {offset}");
        offset = end as u64;
    }
    // Past the end: nothing.
    assert!(reader.read_at(offset, step).await.unwrap().is_empty());
}

#[wasm_bindgen_test]
async fn file_reader_rereads_a_range_it_still_holds_and_opens_mid_file() {
    let data = content(2 * READ_AHEAD_BYTES);
    let blob = blob_from_bytes(&data).unwrap();
    let mut reader = FileReader::open(&blob, 0).unwrap();
    let first = reader.read_at(0, 1000).await.unwrap().to_vec();
    assert!(first == data[..1000]);
    // A resend of the same range (after a reconnect) is served again.
    assert!(reader.continues_at(0));
    assert!(reader.read_at(0, 1000).await.unwrap() == &data[..1000]);
    // A resume far ahead starts a new reader there.
    let at = READ_AHEAD_BYTES as u64 + 777;
    assert!(!reader.continues_at(at + READ_AHEAD_BYTES as u64));
    let mut later = FileReader::open(&blob, at).unwrap();
    let got = later.read_at(at, 5000).await.unwrap().to_vec();
    assert!(got == data[at as usize..at as usize + 5000]);
}

#[wasm_bindgen_test]
async fn hash_of_parts_is_the_hash_of_the_whole() {
    let data = content(READ_AHEAD_BYTES * 2 + 99);
    let parts = [
        blob_from_bytes(&data[..5]).unwrap(),
        blob_from_bytes(&data[5..READ_AHEAD_BYTES + 3]).unwrap(),
        blob_from_bytes(&data[READ_AHEAD_BYTES + 3..]).unwrap(),
    ];
    let mut head = Vec::new();
    let mut progress = Vec::new();
    let digest = hash_blobs(
        &parts,
        |done| {
            progress.push(done);
            true
        },
        |first| head = first.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(digest, Sha256::digest(&data));
    assert_eq!(progress.last(), Some(&(data.len() as u64)));
    assert!(progress.windows(2).all(|w| w[0] < w[1]));
    assert!(!head.is_empty() && head[..] == data[..head.len()]);
    // Stopping from the progress callback is an error, not a digest.
    assert!(hash_blobs(&parts, |_| false, |_| {}).await.is_err());
    // An empty file hashes to the SHA-256 of nothing.
    let empty = hash_blobs(&[blob_from_bytes(&[]).unwrap()], |_| true, |_| {})
        .await
        .unwrap();
    assert_eq!(empty, Sha256::new().finalize());
}
