// End-to-end: files between two browsers. Real wrangler dev (workerd), two real headless Chromium profiles, real
// IndexedDB, files picked from disk with the file chooser, dropped and pasted. Elements are located by role and
// visible text. Screenshots go to test-output/files/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, linkSync, mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { startWrangler } from './support/wrangler.mjs';
import { openPeer, screenshot } from './support/browser.mjs';
import { attachFiles as attach, fileCard, fileRecord, percent, queryDb, waitPercent, waitSomeStored } from './support/files.mjs';
import { assertText, createRoom, messages, send, status, waitConnected as waitConnectedWithin } from './support/room.mjs';

const SUITE = 'files';
const T = 120_000; // generous: a noisy 2-core machine moving tens of megabytes
const MB = 1_000_000;

let server;
let dir;
const peers = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'twain-files-'));
  server = await startWrangler();
});

after(async () => {
  for (const p of peers) {
    // Shown when a test failed: what the pages reported helps to tell a bug from a slow machine.
    if (p.errors.length) console.log(`console errors of ${p.label}:\n  ${p.errors.join('\n  ')}`);
    await p.close();
    p.remove();
  }
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function peer(label, opts) {
  const p = await openPeer(label, opts);
  peers.push(p);
  return p;
}

// ----- files on disk -----

/** Writes `size` random bytes to `path`, streamed (never the whole file in memory); returns its SHA-256. */
async function randomFile(path, size) {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, 1 << 20);
    const chunk = randomBytes(n);
    hash.update(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
    left -= n;
  }
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}

async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** A small real PNG (a colour gradient), so the preview has something to decode. */
function gradientPng(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = Math.round((255 * x) / width);
      raw[row + 2 + x * 3] = Math.round((255 * y) / height);
      raw[row + 3 + x * 3] = 180;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ----- the page -----

const card = fileCard;
// This suite's generous timeout for the shared helpers.
const waitText = (locator, re, timeout = T) => assertText(locator, re, timeout);
const waitConnected = (page) => waitConnectedWithin(page, T);

/** Opens a room on A and joins it from B; both connected. */
async function pair(aLabel, bLabel) {
  const a = await peer(aLabel);
  const link = await createRoom(a.page, server.url);
  const b = await peer(bLabel);
  await b.page.goto(link);
  await waitConnected(a.page);
  await waitConnected(b.page);
  return { a, b, link };
}

/** Builds a DataTransfer holding one file in the page and keeps it as window.__twainFiles. */
async function stageFile(page, name, bytes, type) {
  await page.evaluate(
    ({ name, b64, type }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type }));
      window.__twainFiles = dt;
    },
    { name, b64: Buffer.from(bytes).toString('base64'), type },
  );
}

async function dragOver(page) {
  await page.evaluate(() =>
    document.querySelector('.messages').dispatchEvent(
      new DragEvent('dragover', { dataTransfer: window.__twainFiles, bubbles: true, cancelable: true }),
    ),
  );
}

async function drop(page) {
  await page.evaluate(() =>
    document.querySelector('.messages').dispatchEvent(
      new DragEvent('drop', { dataTransfer: window.__twainFiles, bubbles: true, cancelable: true }),
    ),
  );
}

async function paste(page) {
  await page.getByRole('textbox', { name: 'Message' }).focus();
  await page.evaluate(() =>
    document.activeElement.dispatchEvent(
      new ClipboardEvent('paste', { clipboardData: window.__twainFiles, bubbles: true, cancelable: true }),
    ),
  );
}

/** Clicks the card's Download link and returns the saved file's path and suggested name. */
async function download(page, name) {
  const [dl] = await Promise.all([
    page.waitForEvent('download', { timeout: T }),
    card(page, name).getByRole('link', { name: `Download ${name}` }).click(),
  ]);
  const path = await dl.path();
  assert.ok(path, `the download of ${name} completed (${await dl.failure()})`);
  return { path, name: dl.suggestedFilename() };
}

/** The transfer id of the file named `name` in this browser's storage. */
async function transferIdOf(page, name) {
  const file = await fileRecord(page, name);
  assert.ok(file, `${name} is stored`);
  return file.transfer_id;
}

/** Number of stored parts (IndexedDB `chunks` records) of a transfer, by id. */
const partsOfTransfer = (page, id) => queryDb(page, 'parts', id);

/** Number of stored file parts (IndexedDB `chunks` records) of the transfer named `name`, in this browser (0 when
 * there is no such transfer). */
async function storedParts(page, name) {
  const file = await fileRecord(page, name);
  return file ? partsOfTransfer(page, file.transfer_id) : 0;
}


// ----- the tests -----

test('a 50 MB file and small ones cross at once while chatting, survive a reload of the receiver and stay downloadable', async (t) => {
  const bigPath = join(dir, 'big file.bin');
  const bigSha = await randomFile(bigPath, 50 * MB);
  const png = gradientPng(96, 64);
  const hugePath = join(dir, 'huge.bin');
  writeFileSync(hugePath, '');
  truncateSync(hugePath, 201 * MB); // sparse: never read, refused on size alone

  const { a, b } = await pair('files-a', 'files-b');
  await a.page.getByText('Or drop or paste files here. Up to 200 MB each').waitFor({ timeout: T });

  // A picks the big file with the file chooser; B drops a picture and pastes an empty file, at the same time.
  await attach(a.page, [bigPath]);
  await stageFile(b.page, 'dot.png', png, 'image/png');
  await dragOver(b.page);
  await b.page.getByRole('status').filter({ hasText: /^Drop files to send them to / }).waitFor({ timeout: T });
  await screenshot(b.page, SUITE, 'drop-hint');
  await drop(b.page);
  await b.page.getByText(/^Drop files to send them to /).waitFor({ state: 'hidden', timeout: T });
  await stageFile(b.page, 'empty.txt', Buffer.alloc(0), 'text/plain');
  await paste(b.page);

  // Progress is visible on both sides while the big file moves.
  await waitPercent(b.page, 'Receiving big file.bin', 1, 100);
  await waitPercent(a.page, 'Sending big file.bin', 1, 100);

  // Chat keeps flowing during the transfer, both ways.
  await send(a.page, 'Is the big one arriving?');
  await messages(b.page).getByText('Is the big one arriving?', { exact: true }).waitFor({ timeout: T });
  const duringChat = await percent(b.page, 'Receiving big file.bin');
  await send(b.page, 'Yes, and chat still works');
  await messages(a.page).getByText('Yes, and chat still works', { exact: true }).waitFor({ timeout: T });
  assert.ok(duringChat !== null && duringChat < 100, `chat arrived while the file was still moving (${duringChat}%)`);

  // Percentage, amounts and rate on both sides.
  const line = /\d+% · [\d.]+ MB of 50\.0 MB · [\d.]+ (MB|kB)\/s/;
  await waitText(card(b.page, 'big file.bin'), line);
  await waitText(card(a.page, 'big file.bin'), line);

  // B reloads in the middle of the big file: it resumes from what B stored, not from the start. (The bar counts
  // what arrived; what is stored trails it by the batch being filled, which a reload loses.)
  const stored = await waitSomeStored(b.page, 'big file.bin');
  const before = await percent(b.page, 'Receiving big file.bin');
  t.diagnostic(`B reloads at ${before}% of the big file, ${stored} bytes of it stored`);
  assert.ok(before !== null && before < 95, `still in the middle of the transfer when B reloads (${before}%)`);
  await b.page.reload();
  const restored = await waitPercent(b.page, 'Receiving big file.bin', 0);
  const storedPercent = Math.floor((stored * 100) / (50 * MB));
  assert.ok(restored >= storedPercent, `after the reload B starts from its stored ${restored}% (${storedPercent}% was stored before)`);
  await waitConnected(b.page);
  await screenshot(b.page, SUITE, 'resumed-after-reload');
  await waitPercent(a.page, 'Sending big file.bin', 1, 100);
  await screenshot(a.page, SUITE, 'sending');
  await waitText(card(b.page, 'big file.bin'), /Received · 50\.0 MB/);
  await waitText(card(a.page, 'big file.bin'), /Delivered · 50\.0 MB/);
  assert.ok((await storedParts(b.page, 'big file.bin')) >= 12, 'B stored the file in ~4 MiB parts');

  // The small files crossed the other way meanwhile; the picture is previewed inline.
  await waitText(card(a.page, 'dot.png'), /Received · /);
  await waitText(card(a.page, 'empty.txt'), /Received · 0 bytes/);
  await waitText(card(b.page, 'dot.png'), /Delivered · /);
  await waitText(card(b.page, 'empty.txt'), /Delivered · 0 bytes/);
  await card(a.page, 'dot.png').getByRole('img', { name: 'Preview of dot.png' }).waitFor({ timeout: T });
  await a.page.waitForFunction(() => [...document.images].some((i) => i.alt === 'Preview of dot.png' && i.naturalWidth === 96), null, { timeout: T });
  await screenshot(a.page, SUITE, 'received-picture');
  const dot = await download(a.page, 'dot.png');
  assert.equal(dot.name, 'dot.png');
  assert.equal(await sha256File(dot.path), sha256(png), 'the picture arrived intact');
  const empty = await download(a.page, 'empty.txt');
  assert.equal(statSync(empty.path).size, 0, 'a zero-byte file arrives as a zero-byte file');

  // B's downloaded bytes are exactly A's file.
  const got = await download(b.page, 'big file.bin');
  assert.equal(got.name, 'big file.bin');
  assert.equal(await sha256File(got.path), bigSha, 'same SHA-256 on both sides');
  await screenshot(b.page, SUITE, 'received');

  // A file over 200 MB is refused with a sentence, before anything is read or sent.
  await attach(a.page, [hugePath]);
  await a.page.getByRole('alert').filter({ hasText: '“huge.bin” is 201 MB; Twain can send files up to 200 MB.' }).waitFor({ timeout: T });
  assert.equal(await card(a.page, 'huge.bin').count(), 0, 'no card for the refused file');
  await screenshot(a.page, SUITE, 'too-big');
  await send(a.page, 'after the big one');
  await messages(b.page).getByText('after the big one', { exact: true }).waitFor({ timeout: T });
  assert.equal(await card(b.page, 'huge.bin').count(), 0, 'nothing about the refused file reached B');

  // Either side can cancel: B stops a file A is sending; both say so.
  const cancelPath = join(dir, 'cancel me.bin');
  linkSync(bigPath, cancelPath);
  await attach(a.page, [cancelPath]);
  await waitPercent(b.page, 'Receiving cancel me.bin', 1, 100);
  await card(b.page, 'cancel me.bin').getByRole('button', { name: 'Cancel cancel me.bin' }).click();
  await waitText(card(b.page, 'cancel me.bin'), /You cancelled the transfer\./);
  await waitText(card(a.page, 'cancel me.bin'), /The other side cancelled the transfer\./);
  assert.equal(await storedParts(b.page, 'cancel me.bin'), 0, 'a cancelled file keeps no data');

  // The other person leaves; after a reload B still has the file, downloadable and intact.
  await a.close();
  await waitText(status(b.page), /left$/);
  await b.page.reload();
  await waitText(card(b.page, 'big file.bin'), /Received · 50\.0 MB/);
  const again = await download(b.page, 'big file.bin');
  assert.equal(await sha256File(again.path), bigSha, 'still intact after a reload, with the peer gone');
  await screenshot(b.page, SUITE, 'downloadable-after-reload');

  // B sent the picture: after the reload it still shows it, from the copy kept when sending. A file that is not a
  // picture keeps no copy on the sender's side.
  await waitText(card(b.page, 'dot.png'), /Delivered · /);
  await b.page.waitForFunction(() => [...document.images].some((i) => i.alt === 'Preview of dot.png' && i.naturalWidth === 96), null, { timeout: T });
  const own = await download(b.page, 'dot.png');
  assert.equal(await sha256File(own.path), sha256(png), 'the kept copy is the picture');
  assert.equal(await storedParts(b.page, 'empty.txt'), 0, 'no copy of a sent file that is not a picture');
  const dotId = await transferIdOf(b.page, 'dot.png');
  assert.equal(await partsOfTransfer(b.page, dotId), 1, 'the copy is one stored part');
  await card(b.page, 'dot.png').getByRole('button', { name: 'Delete dot.png' }).click();
  await card(b.page, 'dot.png').waitFor({ state: 'detached', timeout: T });
  assert.equal(await partsOfTransfer(b.page, dotId), 0, 'deleting a sent picture frees its copy');

  // Deleting it frees its storage.
  await card(b.page, 'big file.bin').getByRole('button', { name: 'Delete big file.bin' }).click();
  await card(b.page, 'big file.bin').waitFor({ state: 'detached', timeout: T });
  assert.equal(await storedParts(b.page, 'big file.bin'), 0, 'its stored parts are gone');

  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

test('a sender reload interrupts a transfer; attaching the same file resumes it; damaged data is refused', async () => {
  const path = join(dir, 'resume.bin');
  await randomFile(path, 30 * MB);
  const { a, b } = await pair('resume-a', 'resume-b');

  await attach(a.page, [path]);
  await waitPercent(b.page, 'Receiving resume.bin', 20, 90);
  await a.page.reload();
  await waitConnected(a.page);

  // The receiver keeps what arrived and says why it stopped; the sender explains how to resume.
  await waitText(card(b.page, 'resume.bin'), /Interrupted at \d+%: .* no longer has this file open/);
  await card(b.page, 'resume.bin').getByRole('button', { name: 'Ask again for resume.bin' }).waitFor({ timeout: T });
  await waitText(card(a.page, 'resume.bin'), /Attach the same file again to resume\./);
  await screenshot(b.page, SUITE, 'interrupted');
  const kept = await percent(b.page, 'Receiving resume.bin');

  // Meanwhile something damages what B stored (the first stored part is replaced by other bytes), and B's page
  // is reloaded: the bytes that were on disk are now only on disk.
  await b.page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('twain');
        open.onsuccess = () => {
          const db = open.result;
          const tx = db.transaction(['files', 'chunks'], 'readwrite');
          const all = tx.objectStore('files').getAll();
          all.onsuccess = () => {
            const file = all.result.find((f) => f.name === 'resume.bin');
            const key = [file.transfer_id, 0];
            const first = tx.objectStore('chunks').get(key);
            // Same length, other bytes.
            first.onsuccess = () => tx.objectStore('chunks').put(new Blob([new Uint8Array(first.result.size).fill(7)]), key);
          };
          tx.oncomplete = () => {
            db.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
  );

  await b.page.reload();
  await waitConnected(b.page);
  await waitText(card(b.page, 'resume.bin'), /Interrupted at \d+%: .* no longer has this file open/);

  // A attaches the same file again: the same transfer resumes where B stopped (no second card on either side).
  await attach(a.page, [path]);
  await waitText(card(a.page, 'resume.bin'), /arrived damaged/);
  assert.equal(await card(a.page, 'resume.bin').count(), 1, 'one card: the transfer resumed');
  assert.equal(await card(b.page, 'resume.bin').count(), 1, 'one card: the transfer resumed');

  // B reads back what it had stored before the reload and checks the whole file against the announced SHA-256:
  // a mismatch is an error, never a download. (That the
  // damaged first part made it into the checked file also shows the transfer resumed after it, where B had
  // stopped, instead of starting over: a restart would have rewritten that part.)
  await card(b.page, 'resume.bin').getByRole('alert').filter({ hasText: 'arrived damaged (its SHA-256 does not match)' }).waitFor({ timeout: T });
  assert.ok(kept > 0, `B had kept part of the file (${kept}%)`);
  assert.equal(await card(b.page, 'resume.bin').getByRole('link', { name: /Download/ }).count(), 0);
  assert.equal(await storedParts(b.page, 'resume.bin'), 0, 'the damaged data is discarded');
  await screenshot(b.page, SUITE, 'damaged');

  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});
