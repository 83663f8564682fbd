// End-to-end: identities the signaling server cannot fake, and data the user controls. Real wrangler dev
// (workerd), real headless Chromium profiles, real WebCrypto keys, IndexedDB and RTCPeerConnections. Elements are
// located by role and visible text. Screenshots go to test-output/identity/.
//
// Attacks are played by the test, never by a switch in the app: a "man in the middle" is a third browser that
// terminates both WebRTC connections while Playwright rewrites the signaling it relays (page.routeWebSocket); a
// peer "built to sign another fingerprint" is a page whose WebCrypto and data channel are shimmed by an init
// script; a reset identity is a deleted identity record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, screenshot } from './support/browser.mjs';
import { T, suite, status, messages, assertText as waitText, waitConnected, rename, send, storedIdentity } from './support/room.mjs';
import { attachFiles, fileCard, percent, waitPercent, waitSomeStored, FILE_T } from './support/files.mjs';

const SUITE = 'identity';
const dir = mkdtempSync(join(tmpdir(), 'twain-identity-'));
const browsers = [];
const env = suite({
  async cleanup() {
    for (const b of browsers) await b.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  },
});
const peer = (label, opts) => env.peer(label, opts);

// ----- the page -----

const heading = (page) => page.locator('.room-title h1');
const composer = (page) => page.getByRole('textbox', { name: 'Message' });
const note = (page, text) => page.locator('.trust').getByRole('status').filter({ hasText: text });
const alert = (page, text) => page.getByRole('alert').filter({ hasText: text });
const MITM_WARNING = 'Someone may be intercepting this conversation.';
const CHANGED_WARNING = 'This is a different identity than last time.';

/** A opens a new room (optionally "keep nothing"), B joins it; both connected. */
async function pair(a, b, { keepNothing = false } = {}) {
  await a.page.goto(env.server.url);
  if (keepNothing) await a.page.getByRole('checkbox', { name: /Keep nothing/ }).check();
  await a.page.getByRole('button', { name: 'New room' }).click();
  await a.page.waitForURL(/#\/r\//, { timeout: T });
  const link = a.page.url();
  await b.page.goto(link);
  try {
    await waitConnected(a.page);
    await waitConnected(b.page);
  } catch (e) {
    for (const p of [a, b]) {
      await screenshot(p.page, SUITE, `${p.label}-not-connected`).catch(() => {});
      const pill = await status(p.page).first().textContent().catch(() => '?');
      e.message += `\n[${p.label}] status: ${pill}; errors: ${p.errors.join(' | ')}`;
    }
    throw e;
  }
  return link;
}

/** Every record of this browser's database, JSON-safe (Blobs as their size, CryptoKeys as their type). */
async function dumpDb(page) {
  return page.evaluate(async () => {
    const dbs = await indexedDB.databases();
    if (!dbs.some((d) => d.name === 'twain')) return null;
    const req = (r) => new Promise((res, rej) => ((r.onsuccess = () => res(r.result)), (r.onerror = () => rej(r.error))));
    const db = await req(indexedDB.open('twain'));
    const out = {};
    for (const name of db.objectStoreNames) {
      const store = db.transaction(name).objectStore(name);
      const [keys, values] = [await req(store.getAllKeys()), await req(store.getAll())];
      out[name] = values.map((v, i) => ({
        key: keys[i],
        value: JSON.parse(
          JSON.stringify(v, (_, x) =>
            x instanceof Blob ? `Blob(${x.size})` : x instanceof CryptoKey ? `CryptoKey(${x.type})` : x,
          ),
        ),
      }));
    }
    db.close();
    return out;
  });
}

/** Deletes this browser's identity record (its key pair) and reloads: the app makes a new identity. */
async function resetIdentity(page) {
  await page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('twain');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const tx = open.result.transaction('identity', 'readwrite');
          tx.objectStore('identity').delete('me');
          tx.oncomplete = () => {
            open.result.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
  );
  await page.reload();
}

/** The accessible name of the focused element (its aria-label, else its text). */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    return el?.getAttribute('aria-label') || el?.textContent.trim();
  });
}

async function safetyCode(page) {
  await page.getByRole('button', { name: 'Safety code' }).click();
  const dialog = page.getByRole('dialog', { name: 'Safety code' });
  await dialog.waitFor({ timeout: T });
  return (await dialog.getByLabel('Safety code digits').textContent()).trim();
}

// ----- tests -----

test('two peers prove their identities, compare the safety code and mark each other verified', async () => {
  const a = await peer('id-alice');
  const b = await peer('id-bob');
  await pair(a, b);

  // First meeting: both proofs check out, quietly.
  await note(a.page, 'First time you meet').waitFor({ timeout: T });
  await note(b.page, 'First time you meet').waitFor({ timeout: T });
  assert.equal(await page_alerts(a.page), 0, 'no warning on an honest connection');

  // Both see the same safety code.
  const codeA = await safetyCode(a.page);
  const codeB = await safetyCode(b.page);
  assert.match(codeA, /^\d{4} \d{4} \d{4} \d{4} \d{4}$/);
  assert.equal(codeA, codeB, 'the two browsers derive the same safety code');
  const dialog = a.page.getByRole('dialog', { name: 'Safety code' });
  assert.ok((await dialog.textContent()).includes(await storedIdentity(a.page)), 'the dialog shows the identity ids');
  await screenshot(a.page, SUITE, 'safety-code');

  // By keyboard: the open code has the focus; Escape closes it and gives the focus back to its button; Enter
  // opens it again, and Enter marks the person verified.
  assert.equal(await focused(a.page), 'Mark as verified');
  await a.page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached', timeout: T });
  assert.equal(await focused(a.page), 'Safety code');
  await a.page.keyboard.press('Enter');
  await dialog.waitFor({ timeout: T });
  assert.equal(await focused(a.page), 'Mark as verified');
  await a.page.keyboard.press('Enter');
  await b.page.getByRole('button', { name: 'Mark as verified' }).click();
  await heading(a.page).getByText('Verified').waitFor({ timeout: T });
  await heading(b.page).getByText('Verified').waitFor({ timeout: T });
  await send(a.page, 'verified hello');
  await messages(b.page).getByText('verified hello', { exact: true }).waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'verified');

  // On return: the same person, quietly, and still verified.
  await a.page.reload();
  await waitConnected(a.page);
  await note(a.page, 'Same person as last time.').waitFor({ timeout: T });
  await heading(a.page).getByText('Verified').waitFor({ timeout: T });
  await note(b.page, 'Same person as last time.').waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'same-person');
  assert.equal(await page_alerts(a.page), 0);

  // Renaming keeps the identity (and so the verified state).
  const before = await storedIdentity(b.page);
  await rename(b.page, 'Bob Renamed');
  await waitText(status(a.page), /Connected to Bob Renamed/);
  assert.equal(await storedIdentity(b.page), before, 'renaming keeps the key and the id');
  await heading(a.page).getByText('Verified').waitFor({ timeout: T });

  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

async function page_alerts(page) {
  return page.getByRole('alert').filter({ hasText: /intercepting|different identity/ }).count();
}

test('a peer that resets its identity is flagged as a different identity on return', async () => {
  const a = await peer('reset-alice');
  const b = await peer('reset-bob');
  await pair(a, b);
  await note(a.page, 'First time you meet').waitFor({ timeout: T });
  await a.page.getByRole('button', { name: 'Safety code' }).click();
  await a.page.getByRole('button', { name: 'Mark as verified' }).click();
  await heading(a.page).getByText('Verified').waitFor({ timeout: T });
  const oldId = await storedIdentity(b.page);

  await resetIdentity(b.page);
  await waitConnected(b.page);
  assert.notEqual(await storedIdentity(b.page), oldId, 'a new key gives a new id');

  await alert(a.page, CHANGED_WARNING).waitFor({ timeout: T });
  assert.equal(await heading(a.page).getByText('Verified').count(), 0, 'a changed key is not verified');
  await screenshot(a.page, SUITE, 'different-identity');
  // Not an interception (the proof matches this connection): chatting goes on, the warning stays visible.
  await send(b.page, 'it is me, new browser');
  await messages(a.page).getByText('it is me, new browser', { exact: true }).waitFor({ timeout: T });

  // A accepts the new identity: it is remembered, and the next return is quiet again.
  await a.page.getByRole('button', { name: 'Accept the new identity' }).click();
  await note(a.page, 'You accepted').waitFor({ timeout: T });
  await b.page.reload();
  await waitConnected(b.page);
  await note(a.page, 'Same person as last time.').waitFor({ timeout: T });
  assert.equal(await page_alerts(a.page), 0);
});

/**
 * Proofs lost on the way: the first two `proof` frames this browser sends never leave it (its proof when the
 * channel opens, and its answer to the other browser's first ask).
 */
function loseFirstTwoProofs() {
  window.__proofs = { sent: 0, lost: 0 };
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (message) {
    if (typeof message === 'string' && message.startsWith('{"type":"proof"')) {
      window.__proofs.sent += 1;
      if (window.__proofs.lost < 2) {
        window.__proofs.lost += 1;
        return undefined;
      }
    }
    return send.call(this, message);
  };
}

test('a lost identity proof is asked for again, so a good connection raises no warning', async () => {
  const a = await peer('lost-alice');
  const b = await peer('lost-bob');
  await b.context.addInitScript(loseFirstTwoProofs);
  await pair(a, b);

  // A asks again until B's proof arrives, well before it would give up: no interception warning.
  await note(a.page, 'First time you meet').waitFor({ timeout: T });
  await note(b.page, 'First time you meet').waitFor({ timeout: T });
  assert.equal(await page_alerts(a.page), 0);
  assert.equal(await page_alerts(b.page), 0);
  const proofs = await b.page.evaluate(() => window.__proofs);
  assert.equal(proofs.lost, 2);
  assert.ok(proofs.sent >= 3, `B sent its proof again when asked (${proofs.sent} in all)`);
  // Each side checked the other's key: the same safety code on both.
  assert.equal(await safetyCode(a.page), await safetyCode(b.page));

  // Nothing is held: chat flows both ways.
  await send(a.page, 'no warning on a good connection');
  await messages(b.page).getByText('no warning on a good connection', { exact: true }).waitFor({ timeout: T });
  await send(b.page, 'and back');
  await messages(a.page).getByText('and back', { exact: true }).waitFor({ timeout: T });
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

/**
 * The "test build that signs another fingerprint": WebCrypto signs a made-up DTLS fingerprint and the proof frame
 * claims it. The signature is genuine, the key is the peer's own, only the fingerprint is not this connection's.
 */
function signAnotherFingerprint() {
  const fake = new Uint8Array(32).fill(0x42);
  const fakeText = 'sha-256 ' + Array.from(fake, (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(':');
  const domain = new TextEncoder().encode('twain identity proof v1\0');
  const sign = SubtleCrypto.prototype.sign;
  SubtleCrypto.prototype.sign = function (algorithm, key, data) {
    const bytes = new Uint8Array(data); // a copy: never write into the app's memory
    if (bytes.length > domain.length + 32 && domain.every((x, i) => bytes[i] === x)) {
      bytes.set(fake, bytes.length - 32);
    }
    return sign.call(this, algorithm, key, bytes);
  };
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (message) {
    if (typeof message === 'string' && message.startsWith('{"type":"proof"')) {
      const frame = JSON.parse(message);
      frame.fingerprint = fakeText;
      message = JSON.stringify(frame);
    }
    return send.call(this, message);
  };
}

test('a proof for another connection raises the interception warning and holds sending', async () => {
  const a = await peer('fp-alice');
  const b = await peer('fp-bob');
  await b.context.addInitScript(signAnotherFingerprint);
  const link = await pair(a, b);

  await alert(a.page, MITM_WARNING).waitFor({ timeout: T });
  await alert(a.page, "not the one this connection uses").waitFor({ timeout: T });
  // B checked A's honest proof: no warning there.
  await note(b.page, 'First time you meet').waitFor({ timeout: T });
  assert.equal(await page_alerts(b.page), 0);

  // Sending is held until A decides: composer, files and calls.
  await a.page.getByText('Sending is paused').waitFor({ timeout: T });
  assert.ok(await composer(a.page).isDisabled(), 'the composer is disabled');
  assert.equal(await composer(a.page).getAttribute('placeholder'), 'Sending is paused');
  assert.ok(await a.page.getByRole('button', { name: 'Attach file' }).isDisabled(), 'files are held');
  await screenshot(a.page, SUITE, 'interception-warning');

  // "Continue anyway": sending works again, with a quieter reminder.
  await a.page.getByRole('button', { name: 'Continue anyway' }).click();
  await note(a.page, 'You chose to continue anyway').waitFor({ timeout: T });
  await send(a.page, 'sent after the warning');
  await messages(b.page).getByText('sent after the warning', { exact: true }).waitFor({ timeout: T });
  // The fingerprint claim is not remembered as this room's key: nothing was verified.
  const db = await dumpDb(a.page);
  const room = db.rooms.find((r) => link.endsWith(r.key));
  assert.equal(room.value.peer_public_key ?? null, null, 'a failed proof is not remembered');

  // A sends a file; B reloads in the middle of it. The new connection fails A's check again, so the transfer,
  // which would resume by itself, waits for A's decision: no file byte goes to a connection that may be
  // intercepted. B (whose check of A passed) asks to resume and gets nothing.
  const path = join(dir, 'held.bin');
  writeFileSync(path, randomBytes(30_000_000));
  await attachFiles(a.page, [path]);
  await waitPercent(b.page, 'Receiving held.bin', 10, 80);
  await waitSomeStored(b.page, 'held.bin');
  await b.page.reload();
  await alert(a.page, MITM_WARNING).waitFor({ timeout: T });
  await waitText(fileCard(a.page, 'held.bin'), /Paused at \d+% until you decide about the warning above\./);
  await waitConnected(b.page);
  const kept = await waitPercent(b.page, 'Receiving held.bin', 1, 100);
  // A chat message from B reaches A (A can still read): the connection works, yet the file stays where it was.
  // Asserting that something does not happen needs a window: 3 s, in which the rest of the file would arrive at
  // any rate this machine reaches (the bar also goes away if the file completes).
  await send(b.page, 'is the file coming?');
  await messages(a.page).getByText('is the file coming?', { exact: true }).waitFor({ timeout: T });
  const moved = await b.page
    .waitForFunction(
      ([label, kept]) => {
        const bar = [...document.querySelectorAll('[role=progressbar]')].find((e) => e.getAttribute('aria-label') === label);
        return !bar || Number(bar.getAttribute('aria-valuenow')) > kept;
      },
      ['Receiving held.bin', kept],
      { timeout: 3000, polling: 50 },
    )
    .then(
      () => true,
      () => false,
    );
  assert.equal(moved, false, `no file data while A has not decided (B stays at ${kept}%)`);
  assert.equal(await percent(b.page, 'Receiving held.bin'), kept);
  await waitText(fileCard(a.page, 'held.bin'), /Paused at \d+%/);
  await screenshot(a.page, SUITE, 'file-held-by-warning');
  // A continues: the transfer resumes and completes.
  await a.page.getByRole('button', { name: 'Continue anyway' }).click();
  await waitText(fileCard(b.page, 'held.bin'), /Received · 30\.0 MB/, FILE_T);
  await waitText(fileCard(a.page, 'held.bin'), /Delivered · 30\.0 MB/, FILE_T);

  // "Leave" goes back to the landing page.
  await b.page.reload();
  await alert(a.page, MITM_WARNING).waitFor({ timeout: T });
  await a.page.getByRole('button', { name: 'Leave' }).click();
  await a.page.getByRole('heading', { name: 'Your rooms' }).waitFor({ timeout: T });
});

// ----- a real man in the middle -----

/**
 * Runs in the attacker's page: two RTCPeerConnections, one facing A (pretending to be B) and one facing B
 * (pretending to be A). Each offers to a polite side (which waits for the impolite one's offer) and answers the
 * offers it gets; the two data channels are relayed between them.
 */
function mitmPage() {
  const sides = {};
  const make = (name) => {
    const pc = new RTCPeerConnection({ iceServers: [] });
    const channels = {};
    for (const [label, id] of [['twain', 0], ['twain-files', 1]]) {
      const dc = pc.createDataChannel(label, { negotiated: true, id, ordered: true });
      dc.binaryType = 'arraybuffer';
      channels[id] = dc;
    }
    pc.onicecandidate = (e) => e.candidate && window.mitmOut(name, { candidate: e.candidate.toJSON() });
    sides[name] = { pc, channels, queue: Promise.resolve() };
  };
  make('a');
  make('b');
  window.mitmStates = () => ({ a: sides.a.pc.connectionState, b: sides.b.pc.connectionState });
  window.mitmLog = [];
  const other = { a: 'b', b: 'a' };
  for (const name of ['a', 'b']) {
    for (const id of [0, 1]) {
      sides[name].channels[id].onmessage = (e) => {
        const out = sides[other[name]].channels[id];
        if (out.readyState === 'open') out.send(e.data);
        else (sides[name].pending ||= []).push([id, e.data]);
      };
      sides[name].channels[id].onopen = () => {
        for (const [i, data] of sides[other[name]].pending || []) {
          if (i === id) sides[name].channels[id].send(data);
        }
      };
    }
  }
  window.mitmIn = (name, data) => {
    window.mitmLog.push(`${name}:${data.description ? data.description.type : 'candidate'}`);
    const side = sides[name];
    side.queue = side.queue.then(async () => {
      if (data.description) {
        await side.pc.setRemoteDescription(data.description);
        if (data.description.type !== 'offer') return;
        await side.pc.setLocalDescription();
        window.mitmOut(name, { description: side.pc.localDescription.toJSON() });
      } else if (data.candidate) {
        await side.pc.addIceCandidate(data.candidate).catch(() => {});
      }
    });
  };
  window.mitmOffer = (name) => {
    const side = sides[name];
    side.queue = side.queue.then(async () => {
      await side.pc.setLocalDescription();
      window.mitmOut(name, { description: side.pc.localDescription.toJSON() });
    });
  };
}

test('a signaling server that sits in the middle is detected on both sides', async () => {
  const a = await peer('mitm-alice');
  const b = await peer('mitm-bob');
  // The attacker: a third browser, driven through Playwright.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  browsers.push(browser);
  const attacker = await browser.newPage();
  await attacker.goto(env.server.url + '/attacker'); // an http page (WebRTC hides local addresses from about:blank)
  const toA = []; // frames the attacker wants A's socket to receive
  let aSocket = null;
  let serverSocket = null;
  let epoch = null;
  await attacker.exposeFunction('mitmOut', (side, data) => {
    const frame = { type: 'signal', data: { ...data, epoch } };
    if (side === 'a') aSocket?.send(JSON.stringify(frame)); // as if from B
    else serverSocket?.send(JSON.stringify(frame)); // as if from A, relayed by the worker to B
  });
  await attacker.evaluate(mitmPage);

  // Everything A says to the worker and hears from it goes through the attacker.
  await a.page.routeWebSocket(/\/ws\//, (ws) => {
    aSocket = ws;
    const upstream = ws.connectToServer();
    serverSocket = upstream;
    ws.onMessage((text) => {
      const frame = JSON.parse(text);
      if (frame.type === 'signal') {
        attacker.evaluate(([d]) => window.mitmIn('a', d), [frame.data]).catch(() => {});
      } else {
        upstream.send(text);
      }
    });
    upstream.onMessage((text) => {
      const frame = JSON.parse(text);
      if (frame.type === 'welcome' || frame.type === 'peer-joined') epoch = frame.epoch;
      if (frame.type === 'peer-joined' || (frame.type === 'welcome' && frame.peer)) {
        // The worker's roles: the polite side waits for an offer, so the attacker makes it.
        const politeSide = frame.polite ? 'a' : 'b';
        attacker.evaluate(([side]) => window.mitmOffer(side), [politeSide]).catch(() => {});
      }
      if (frame.type === 'signal') {
        attacker.evaluate(([d]) => window.mitmIn('b', d), [frame.data]).catch(() => {});
      } else {
        ws.send(text);
      }
    });
  });

  const link = await pair(a, b).catch(async (e) => {
    e.message += `\nattacker: ${JSON.stringify(await attacker.evaluate(() => [window.mitmStates(), window.mitmLog]))}`;
    throw e;
  });
  // The connection works (the attacker relays every frame) but neither proof matches it.
  await alert(a.page, MITM_WARNING).waitFor({ timeout: T });
  await alert(b.page, MITM_WARNING).waitFor({ timeout: T });
  await alert(a.page, 'not the one this connection uses').waitFor({ timeout: T });
  assert.ok(await composer(a.page).isDisabled());
  assert.ok(await composer(b.page).isDisabled());
  await screenshot(b.page, SUITE, 'man-in-the-middle');
  // The attacker did terminate both DTLS connections, and relays the chat: the check is what gives it away.
  assert.deepEqual(await attacker.evaluate(() => window.mitmStates()), { a: 'connected', b: 'connected' });
  await a.page.getByRole('button', { name: 'Continue anyway' }).click();
  await send(a.page, 'relayed by the attacker');
  await messages(b.page).getByText('relayed by the attacker', { exact: true }).waitFor({ timeout: T });
  assert.ok(link.includes('#/r/'));
});

// ----- keep nothing -----

test('a keep-nothing room leaves nothing in IndexedDB, and the other person is told', async () => {
  const a = await peer('ephemeral-alice');
  const b = await peer('ephemeral-bob');
  const link = await pair(a, b, { keepNothing: true });
  const roomId = link.split('/r/')[1];
  await note(b.page, 'is not keeping any history of this room').waitFor({ timeout: T });

  await send(a.page, 'ephemeral from A');
  await send(b.page, 'ephemeral from B');
  await messages(b.page).getByText('ephemeral from A', { exact: true }).waitFor({ timeout: T });
  await messages(a.page).getByText('ephemeral from B', { exact: true }).waitFor({ timeout: T });
  await messages(b.page).getByText('Delivered').first().waitFor({ timeout: T });
  // A file from B reaches A, and is stored nowhere on A's disk either.
  const file = join(dir, 'ephemeral note.txt');
  writeFileSync(file, 'a file nobody keeps');
  const [chooser] = await Promise.all([
    b.page.waitForEvent('filechooser', { timeout: T }),
    b.page.getByRole('button', { name: 'Attach file' }).click(),
  ]);
  await chooser.setFiles([file]);
  const card = messages(a.page).getByRole('article', { name: 'File ephemeral note.txt', exact: true });
  await waitText(card, /Received · /);
  await screenshot(a.page, SUITE, 'keep-nothing');

  const disk = JSON.stringify(await dumpDb(a.page));
  assert.ok(!disk.includes(roomId), `the room id is not on disk: ${disk}`);
  for (const text of ['ephemeral from A', 'ephemeral from B', 'ephemeral note.txt', 'a file nobody keeps']) {
    assert.ok(!disk.includes(text), `"${text}" is not on disk`);
  }
  const db = await dumpDb(a.page);
  for (const store of ['rooms', 'messages', 'files', 'chunks']) {
    assert.equal(db[store].length, 0, `A's ${store} store is empty`);
  }
  // B keeps its history as usual.
  const bDisk = JSON.stringify(await dumpDb(b.page));
  assert.ok(bDisk.includes('ephemeral from A'), 'B keeps its own history');

  // After a reload the room still keeps nothing, and the conversation is gone.
  await a.page.reload();
  await waitConnected(a.page);
  assert.ok(await a.page.getByRole('checkbox', { name: /Keep nothing/ }).isChecked());
  assert.equal(await messages(a.page).getByText('ephemeral from A', { exact: true }).count(), 0);
  await send(b.page, 'after the reload');
  await messages(a.page).getByText('after the reload', { exact: true }).waitFor({ timeout: T });
  const after = await dumpDb(a.page);
  assert.equal(after.messages.length, 0);
  assert.ok(!JSON.stringify(after).includes(roomId));
  // It is not listed among the rooms either.
  await a.page.goto(env.server.url);
  await a.page.getByText('Rooms you open appear here').waitFor({ timeout: T });
});

// ----- export and delete everything -----

/** The entries of a stored (uncompressed) zip: name -> bytes. */
function readZip(buf) {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, 'a zip end record');
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const out = {};
  for (let i = 0; i < count; i++) {
    assert.equal(buf.readUInt32LE(at), 0x02014b50);
    const size = buf.readUInt32LE(at + 24);
    const nameLen = buf.readUInt16LE(at + 28);
    const skip = nameLen + buf.readUInt16LE(at + 30) + buf.readUInt16LE(at + 32);
    const local = buf.readUInt32LE(at + 42);
    const name = buf.subarray(at + 46, at + 46 + nameLen).toString('utf8');
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    out[name] = buf.subarray(start, start + size);
    at += 46 + skip;
  }
  return out;
}

test('export everything as a zip, then delete everything: the data is gone and a new identity starts', async () => {
  const a = await peer('export-alice');
  const b = await peer('export-bob');
  const link = await pair(a, b);
  await send(b.page, 'please keep this');
  await messages(a.page).getByText('please keep this', { exact: true }).waitFor({ timeout: T });
  const file = join(dir, 'report.txt');
  writeFileSync(file, 'the report body\n'.repeat(1000));
  const [chooser] = await Promise.all([
    b.page.waitForEvent('filechooser', { timeout: T }),
    b.page.getByRole('button', { name: 'Attach file' }).click(),
  ]);
  await chooser.setFiles([file]);
  await waitText(messages(a.page).getByRole('article', { name: 'File report.txt', exact: true }), /Received · /);
  const oldId = await storedIdentity(a.page);

  // Settings, reachable from the top bar.
  await a.page.getByRole('link', { name: 'Settings' }).click();
  await a.page.getByRole('heading', { name: 'Settings and your data' }).waitFor({ timeout: T });
  await a.page.getByText(/This site uses .* of the .* your browser allows it\./).waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'settings');

  const [download] = await Promise.all([
    a.page.waitForEvent('download', { timeout: T }),
    a.page.getByRole('button', { name: 'Export all data' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^twain-export-\d{4}-\d\d-\d\d\.zip$/);
  const zipPath = join(dir, 'export.zip');
  await download.saveAs(zipPath);
  await a.page.getByText('Export ready').waitFor({ timeout: T });
  // An independent zip reader checks every CRC.
  execFileSync('unzip', ['-tq', zipPath]);
  const zip = readZip(readFileSync(zipPath));
  const data = JSON.parse(zip['twain-export/data.json'].toString('utf8'));
  assert.equal(data.identity.peer_id, oldId);
  assert.ok(data.rooms.some((r) => link.endsWith(r.room_id)), 'the room is exported');
  assert.ok(data.messages.some((m) => m.text === 'please keep this'), 'the messages are exported');
  const entry = data.files.find((f) => f.name === 'report.txt');
  assert.ok(entry?.path, 'the received file is listed with its path in the zip');
  assert.equal(zip[`twain-export/${entry.path}`].toString('utf8'), readFileSync(file, 'utf8'));
  assert.ok(!JSON.stringify(data).includes('signing_key'), 'the private key never leaves');

  // The room's own controls, reached from the room page.
  await a.page.goto(link);
  await waitConnected(a.page);
  await a.page.getByText("This room's data").click();
  await a.page.getByRole('link', { name: /Clear history, delete files or forget this room/ }).click();
  const controls = a.page.getByRole('group', { name: /: data$/ });
  await controls.waitFor({ timeout: T });
  await controls.getByRole('button', { name: 'Clear history' }).click();
  await controls.getByRole('button', { name: 'Clear history' }).click(); // the confirmation
  await a.page.getByRole('status').filter({ hasText: "The room's history was deleted." }).waitFor({ timeout: T });
  await a.page.locator('details', { has: controls }).evaluate((d) => (d.open = true));
  await controls.getByRole('button', { name: 'Delete received files' }).click();
  await controls.getByRole('button', { name: 'Delete files' }).click();
  await a.page.getByRole('status').filter({ hasText: '1 received file was deleted.' }).waitFor({ timeout: T });
  let disk = await dumpDb(a.page);
  assert.equal(disk.messages.length, 0, 'the history is gone');
  assert.equal(disk.files.length, 0, 'the received file is gone');
  assert.equal(disk.chunks.length, 0, 'its data too');
  assert.equal(disk.rooms.length, 1, 'the room stays');
  await a.page.locator('details', { has: controls }).evaluate((d) => (d.open = true));
  await controls.getByRole('button', { name: 'Leave and forget' }).click();
  await controls.getByRole('button', { name: 'Leave and forget' }).click();
  await a.page.getByText('Twain keeps no room in this browser.').waitFor({ timeout: T });
  disk = await dumpDb(a.page);
  assert.equal(disk.rooms.length, 0, 'the room is forgotten');

  // Delete everything, after a confirmation.
  await a.page.getByRole('button', { name: 'Delete everything' }).click();
  await a.page.getByRole('button', { name: 'Delete everything now' }).click();
  await a.page.waitForURL((url) => url.hash === '' && url.pathname === '/', { timeout: T });
  await a.page.getByRole('heading', { name: 'Your rooms' }).waitFor({ timeout: T });
  await a.page.getByText('Rooms you open appear here').waitFor({ timeout: T });
  const db = await dumpDb(a.page);
  for (const store of ['rooms', 'messages', 'files', 'chunks']) {
    assert.equal(db[store].length, 0, `${store} is empty after deleting everything`);
  }
  const newId = await storedIdentity(a.page);
  assert.ok(newId && newId !== oldId, 'a new identity starts');
  assert.ok(!JSON.stringify(db).includes('please keep this'));
  await screenshot(a.page, SUITE, 'after-delete-all');
});

// ----- attention -----

test('while the tab is hidden, unread messages show in the title and notify when allowed', async () => {
  const a = await peer('notify-alice');
  const b = await peer('notify-bob');
  // Granting replaces the permission overrides: keep the media ones, without which Chromium hides its local
  // addresses from WebRTC (and nothing connects on loopback).
  await a.context.grantPermissions(['notifications', 'camera', 'microphone'], { origin: env.server.url });
  await a.context.addInitScript(() => {
    // Record notifications (headless Chromium shows none) and let the test hide the page.
    window.__notes = [];
    const Real = window.Notification;
    window.Notification = class extends Real {
      constructor(title, options) {
        super(title, options);
        window.__notes.push({ title, body: options?.body });
      }
    };
    window.__setHidden = (hidden) => {
      Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
      Object.defineProperty(document, 'visibilityState', { value: hidden ? 'hidden' : 'visible', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    };
  });
  await a.page.goto(env.server.url + '/#/settings');
  await a.page.getByRole('button', { name: 'Turn on notifications' }).click();
  await a.page.getByRole('button', { name: 'Turn off notifications' }).waitFor({ timeout: T });
  const link = await pair(a, b);
  assert.ok(link);
  const title = await a.page.title();

  await a.page.evaluate(() => window.__setHidden(true));
  await send(b.page, 'are you there?');
  await send(b.page, 'hello?');
  await a.page.waitForFunction(() => document.title.startsWith('(2) '), null, { timeout: T });
  const notes = await a.page.evaluate(() => window.__notes);
  assert.equal(notes.length, 2);
  assert.match(notes[0].title, /\(Twain\)$/);
  assert.equal(notes[1].body, 'hello?');

  // An incoming call rings as a notification too.
  await b.page.getByRole('button', { name: 'Start audio call', exact: true }).click();
  await a.page.waitForFunction(() => window.__notes.some((n) => n.title.includes('is calling')), null, { timeout: T });
  await b.page.getByRole('button', { name: 'Hang up', exact: true }).click().catch(() => {});

  await a.page.evaluate(() => window.__setHidden(false));
  await a.page.waitForFunction((t) => document.title === t, title, { timeout: T });
  // Visible: no count, no notification.
  await send(b.page, 'seen live');
  await messages(a.page).getByText('seen live', { exact: true }).waitFor({ timeout: T });
  assert.equal(await a.page.title(), title);
  assert.equal((await a.page.evaluate(() => window.__notes)).filter((n) => !n.title.includes('is calling')).length, 2);
});

// ----- a full disk -----

/**
 * A full disk, as IndexedDB reports it: every write throws QuotaExceededError while `window.__diskFull` is set.
 * (Chromium 156 ignores CDP's Storage.overrideQuotaForOrigin, and filling a real disk to its quota is no test.)
 */
function diskFullSwitch() {
  for (const method of ['put', 'add']) {
    const real = IDBObjectStore.prototype[method];
    IDBObjectStore.prototype[method] = function (...args) {
      if (window.__diskFull) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return real.apply(this, args);
    };
  }
}

test('when storage is full, saving fails with a clear sentence and nothing already stored is lost', async () => {
  const a = await peer('quota-alice');
  const b = await peer('quota-bob');
  await a.context.addInitScript(diskFullSwitch);
  await pair(a, b);
  await send(b.page, 'stored before the disk filled up');
  await messages(a.page).getByText('stored before the disk filled up', { exact: true }).waitFor({ timeout: T });
  await b.page.getByText('Delivered').first().waitFor({ timeout: T });

  await a.page.evaluate(() => (window.__diskFull = true));
  await send(b.page, 'arrives while the disk is full');
  await messages(a.page).getByText('arrives while the disk is full', { exact: true }).waitFor({ timeout: T });
  await alert(a.page, "Your browser's storage is full.").waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'storage-full');

  // A file cannot be stored either: the transfer ends cleanly, on both sides, with the reason.
  const file = join(dir, 'too much.bin');
  writeFileSync(file, Buffer.alloc(300_000, 7));
  const [chooser] = await Promise.all([
    b.page.waitForEvent('filechooser', { timeout: T }),
    b.page.getByRole('button', { name: 'Attach file' }).click(),
  ]);
  await chooser.setFiles([file]);
  const cardA = messages(a.page).getByRole('article', { name: 'File too much.bin', exact: true });
  await waitText(cardA, /storage is full/i);
  const cardB = messages(b.page).getByRole('article', { name: 'File too much.bin', exact: true });
  await waitText(cardB, /storage is full|not delivered|failed|could not/i);
  await screenshot(a.page, SUITE, 'storage-full-file');

  // Space again (a reload clears the switch): what was stored before is all there; the file left nothing behind.
  await a.page.reload();
  await messages(a.page).getByText('stored before the disk filled up', { exact: true }).waitFor({ timeout: T });
  const db = await dumpDb(a.page);
  assert.equal(db.chunks.length, 0, 'no partial file data is left');
  await waitConnected(a.page);
  await send(b.page, 'space again');
  await messages(a.page).getByText('space again', { exact: true }).waitFor({ timeout: T });
});
