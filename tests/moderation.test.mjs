// Room ownership, kick, bans, abuse limits and the room lifecycle, against a real `wrangler dev` (workerd) with plain
// WebSocket clients. Every test uses its own random room. Frames, close codes and retention: docs/PROTOCOL.md.
//
// Origins: every client here connects from 127.0.0.1; a test plays another network by sending its own
// CF-Connecting-IP header, which `wrangler dev` keeps (on Cloudflare the edge sets it and clients cannot).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startWrangler, connect, randomId } from './support/wrangler.mjs';

const V = 1;
const CLOSE = {
  MESSAGE_TOO_BIG: 1009,
  BANNED: 4004,
  KICKED: 4005,
  NO_HELLO: 4007,
  RATE_LIMITED: 4008,
  TOO_MANY_JOINS: 4009,
};
const MAX_SIGNAL_FRAME_BYTES = 32 * 1024;
const HARD_MAX_FRAME_BYTES = 64 * 1024;
// Lowered for the tests (defaults: 30 per minute, 10 s); see docs/PROTOCOL.md "Retention and limits".
const JOIN_LIMIT_PER_MINUTE = 20;
const HELLO_TIMEOUT_MS = 3_000;
const VARS = { JOIN_LIMIT_PER_MINUTE: String(JOIN_LIMIT_PER_MINUTE), HELLO_TIMEOUT_MS: String(HELLO_TIMEOUT_MS) };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ownerKey = () => randomBytes(32).toString('base64url');
/** A documentation address (RFC 5737) standing for "another network". */
const net = (n) => ({ 'CF-Connecting-IP': `198.51.100.${n}` });

let server;
let sockets = [];

before(async () => {
  server = await startWrangler({ build: 'worker', vars: VARS });
});

after(async () => {
  await server?.stop();
});

afterEach(async () => {
  await Promise.all(sockets.map((s) => s.close().catch(() => {})));
  sockets = [];
});

const roomUrl = (room = randomId()) => `${server.wsUrl}/ws/${room}`;

async function open(url, headers) {
  const ws = await connect(url, { headers });
  sockets.push(ws);
  return ws;
}

/** Opens a socket and says hello; resolves with the welcome, or with `closed` if the room refused. */
async function attempt(url, { peerId = randomId(), name = 'Quiet Otter', key, headers } = {}) {
  const ws = await open(url, headers);
  ws.send({ type: 'hello', v: V, peer_id: peerId, name, ...(key ? { owner_key: key } : {}) });
  const welcome = await ws.nextOfType('welcome').catch(() => null);
  if (!welcome) return { ws, peerId, name, closed: await ws.closed() };
  return { ws, peerId, name, key, welcome };
}

/** Like `attempt`, but must be admitted; an owner's first `bans` frame is taken into `bans`. */
async function join(url, opts) {
  const r = await attempt(url, opts);
  assert.ok(r.welcome, `expected to be admitted, got closed ${JSON.stringify(r.closed)}; ${r.ws.describe()}`);
  if (r.welcome.owner) r.bans = (await r.ws.nextOfType('bans')).list;
  return r;
}

/** A room with its owner A (from network 1) and a guest B (from network 2), paired. */
async function ownedPair() {
  const url = roomUrl();
  const a = await join(url, { name: 'Ann', key: ownerKey(), headers: net(1) });
  const b = await join(url, { name: 'Bob', headers: net(2) });
  await a.ws.nextOfType('peer-joined');
  return { url, a, b };
}

async function assertAlive(ws) {
  ws.send({ type: 'ping' });
  await ws.nextOfType('pong');
}

/** Asserts that nothing but `pong`s arrived on `ws` since `mark` (its frame count then). */
function assertQuietSince(ws, mark, allowed = ['pong']) {
  const extra = ws.frames.slice(mark).filter((f) => !allowed.includes(f.type));
  assert.deepEqual(extra, [], `unexpected frames: ${ws.describe()}`);
}

test('the creator owns the room: recognised by its key across reconnects, guests are not owners', async () => {
  const url = roomUrl();
  const key = ownerKey();
  const a = await join(url, { name: 'Ann', key });
  assert.equal(a.welcome.owner, true);
  assert.deepEqual(a.bans, [], 'the owner gets the bans after its welcome');
  const b = await join(url, { name: 'Bob' });
  assert.equal(b.welcome.owner, false);
  // A reconnects (new socket, same identity and key): still the owner.
  const a2 = await join(url, { peerId: a.peerId, name: 'Ann', key });
  assert.equal(a2.welcome.owner, true);
  await b.ws.close();
  // A wrong key proves nothing: admitted as a guest, not refused.
  const c = await join(url, { name: 'Cy', key: ownerKey() });
  assert.equal(c.welcome.owner, false);
  await assertAlive(c.ws);
  assert.ok(!c.ws.frames.some((f) => f.type === 'bans'), 'guests never see bans');
});

test('kick: the peer is closed with 4005, the owner gets peer-left, and the peer may come back', async () => {
  const { url, a, b } = await ownedPair();
  a.ws.send({ type: 'kick', peer_id: b.peerId });
  const closed = await b.ws.closed();
  assert.equal(closed.code, CLOSE.KICKED);
  assert.deepEqual(await a.ws.nextOfType('peer-left'), { type: 'peer-left', peer_id: b.peerId });
  const back = await join(url, { peerId: b.peerId, name: 'Bob', headers: net(2) });
  assert.equal(back.welcome.peer.peer_id, a.peerId);
  assert.equal((await a.ws.nextOfType('peer-joined')).peer.peer_id, b.peerId);
});

test('ban: 4004 now and on every later attempt, by identity or origin; the owner is never refused', async () => {
  const { url, a, b } = await ownedPair();
  a.ws.send({ type: 'ban', peer_id: b.peerId });
  assert.equal((await b.ws.closed()).code, CLOSE.BANNED);
  assert.deepEqual(await a.ws.nextOfType('peer-left'), { type: 'peer-left', peer_id: b.peerId });
  const { list } = await a.ws.nextOfType('bans');
  assert.equal(list.length, 1);
  const [ban] = list;
  assert.equal(ban.name, 'Bob');
  assert.match(ban.ban_id, /^[A-Za-z0-9_-]{22}$/);
  assert.ok(ban.expires_ms > ban.banned_ms && ban.expires_ms - ban.banned_ms === 30 * 24 * 3600 * 1000);
  assert.ok(!JSON.stringify(list).includes(b.peerId), 'the owner sees no identity id or origin');

  for (const [why, opts] of [
    ['same identity, same network (a reload)', { peerId: b.peerId, headers: net(2) }],
    ['same identity, another network', { peerId: b.peerId, headers: net(99) }],
    ['a fresh identity from the same network', { headers: net(2) }],
  ]) {
    const r = await attempt(url, opts);
    assert.equal(r.closed?.code, CLOSE.BANNED, why);
    assert.ok(!r.ws.frames.some((f) => f.type === 'welcome'), why);
  }
  assertQuietSince(a.ws, a.ws.frames.length);
  // Someone else, elsewhere, is not affected.
  const c = await join(url, { name: 'Cy', headers: net(3) });
  assert.equal(c.welcome.peer.peer_id, a.peerId);
  await c.ws.close();
  // The owner, even from the banned network (same NAT), proves itself with its key.
  await a.ws.close();
  const again = await join(url, { peerId: a.peerId, name: 'Ann', key: a.key, headers: net(2) });
  assert.equal(again.welcome.owner, true);
  assert.equal(again.bans.length, 1);
});

test('a non-owner cannot kick, ban, unban or list bans, whatever frames it sends', async () => {
  const { url, a, b } = await ownedPair();
  const mark = a.ws.frames.length;
  const forged = [
    { type: 'kick', peer_id: a.peerId },
    { type: 'ban', peer_id: a.peerId },
    { type: 'ban', peer_id: b.peerId },
    { type: 'unban', ban_id: randomId() },
    { type: 'list-bans' },
    { type: 'kick', peer_id: a.peerId, owner: true, role: 'owner', owner_key: ownerKey() },
  ];
  for (const frame of forged) {
    b.ws.send(frame);
    const err = await b.ws.nextOfType('error');
    assert.equal(err.code, 'forbidden', JSON.stringify(frame));
  }
  // A second hello claiming ownership changes nothing either.
  b.ws.send({ type: 'hello', v: V, peer_id: b.peerId, name: 'Bob', owner_key: ownerKey() });
  assert.equal((await b.ws.nextOfType('error')).code, 'already-joined');
  await assertAlive(a.ws);
  await assertAlive(b.ws);
  assertQuietSince(a.ws, mark);
  b.ws.send({ type: 'signal', data: { still: 'paired' } });
  assert.deepEqual((await a.ws.nextOfType('signal')).data, { still: 'paired' });
  // Before hello, moderation frames are just "not joined".
  const pending = await open(url, net(5));
  pending.send({ type: 'ban', peer_id: a.peerId });
  assert.equal((await pending.nextOfType('error')).code, 'not-joined');
});

test('the owner cannot remove itself, and removing someone absent is no-peer', async () => {
  const url = roomUrl();
  const a = await join(url, { key: ownerKey() });
  a.ws.send({ type: 'ban', peer_id: a.peerId });
  assert.equal((await a.ws.nextOfType('error')).code, 'forbidden');
  a.ws.send({ type: 'kick', peer_id: randomId() });
  assert.equal((await a.ws.nextOfType('error')).code, 'no-peer');
  a.ws.send({ type: 'unban', ban_id: randomId() });
  assert.equal((await a.ws.nextOfType('error')).code, 'unknown-ban');
  await assertAlive(a.ws);
});

test('a ban of someone the worker does not see, named by the owner, holds their identity, and their network once they are back', async () => {
  // After a restart the owner may still be connected directly to someone whose socket is not back yet.
  const url = roomUrl();
  const a = await join(url, { name: 'Ann', key: ownerKey(), headers: net(1) });
  const away = randomId();
  a.ws.send({ type: 'ban', peer_id: away });
  assert.equal((await a.ws.nextOfType('error')).code, 'no-peer', 'without a name there is nobody to ban');
  a.ws.send({ type: 'ban', peer_id: away, name: 'n'.repeat(200) });
  assert.equal((await a.ws.nextOfType('error')).code, 'invalid', 'a name follows the rules of every name');
  a.ws.send({ type: 'ban', peer_id: away, name: '<b>Bob</b>' });
  const { list } = await a.ws.nextOfType('bans');
  assert.deepEqual(
    list.map((b) => b.name),
    ['<b>Bob</b>'],
  );
  assert.ok(!a.ws.frames.some((f) => f.type === 'peer-left'), 'nobody was here to leave');

  // Their network is not known yet: someone else from it gets in meanwhile.
  const c = await join(url, { name: 'Cy', headers: net(2) });
  await c.ws.close();
  await a.ws.nextOfType('peer-left');
  // They come back: refused; from then on their network is refused too, with a fresh identity as well.
  assert.equal((await attempt(url, { peerId: away, headers: net(2) })).closed?.code, CLOSE.BANNED);
  assert.equal((await attempt(url, { headers: net(2) })).closed?.code, CLOSE.BANNED, 'their network');
  const d = await join(url, { name: 'Dee', headers: net(3) });
  assert.equal(d.welcome.peer.peer_id, a.peerId, 'another network is not affected');
});

test('unban: the owner lifts a ban and the banned identity and network get in again', async () => {
  const { url, a, b } = await ownedPair();
  a.ws.send({ type: 'ban', peer_id: b.peerId });
  await b.ws.closed();
  const [ban] = (await a.ws.nextOfType('bans')).list;
  a.ws.send({ type: 'list-bans' });
  assert.deepEqual((await a.ws.nextOfType('bans')).list, [ban]);
  a.ws.send({ type: 'unban', ban_id: ban.ban_id });
  assert.deepEqual((await a.ws.nextOfType('bans')).list, []);
  const back = await join(url, { peerId: b.peerId, name: 'Bob', headers: net(2) });
  assert.equal(back.welcome.peer.peer_id, a.peerId);
});

test('join attempts per origin are limited with 4009; other origins are not; it recovers', async () => {
  const url = roomUrl();
  const a = await join(url, { key: ownerKey(), headers: net(10) });
  // Connect-and-drop in a quick loop from one network (the owner's socket above counted for another network).
  const started = Date.now();
  const flood = [];
  for (let i = 0; i < JOIN_LIMIT_PER_MINUTE + 5; i++) flood.push(await open(url, net(11)));
  const outcomes = await Promise.all(flood.map((ws) => ws.closed(1_000).then((c) => c.code, () => 'open')));
  const elapsed = Date.now() - started;
  for (const ws of flood) ws.terminate();
  const admitted = outcomes.filter((o) => o === 'open').length;
  assert.deepEqual(outcomes.slice(0, JOIN_LIMIT_PER_MINUTE), Array(JOIN_LIMIT_PER_MINUTE).fill('open'));
  assert.equal(outcomes[JOIN_LIMIT_PER_MINUTE], CLOSE.TOO_MANY_JOINS, JSON.stringify(outcomes));
  assert.ok(outcomes.every((o) => o === 'open' || o === CLOSE.TOO_MANY_JOINS), JSON.stringify(outcomes));
  // Attempts trickle back at JOIN_LIMIT_PER_MINUTE per minute while the loop ran.
  assert.ok(admitted <= JOIN_LIMIT_PER_MINUTE + Math.ceil(elapsed / (60_000 / JOIN_LIMIT_PER_MINUTE)), `${admitted} admitted in ${elapsed} ms`);
  // Other networks, and the peer already in the room, are unaffected.
  await assertAlive(a.ws);
  const b = await join(url, { name: 'Bob', headers: net(12) });
  assert.equal(b.welcome.peer.peer_id, a.peerId);
  await b.ws.close();
  // Abuse stops: one attempt comes back every 60 s / limit.
  const refill = 60_000 / JOIN_LIMIT_PER_MINUTE;
  const stopped = Date.now();
  let back = null;
  while (!back) {
    assert.ok(Date.now() - stopped < refill * 3, 'the origin never got a join back');
    await sleep(refill / 4);
    const r = await attempt(url, { name: 'Bob again', headers: net(11) }).catch(() => null);
    if (r?.welcome) back = r;
    else assert.equal(r?.closed?.code ?? CLOSE.TOO_MANY_JOINS, CLOSE.TOO_MANY_JOINS);
  }
  assert.equal(back.welcome.peer.peer_id, a.peerId);
});

test('frame size: over 32 KiB is refused with an error, over 64 KiB closes with 1009; nothing leaks', async () => {
  const { url, a, b } = await ownedPair();
  const mark = a.ws.frames.length;
  const sdp = (n) => ({ type: 'signal', data: { description: { type: 'offer', sdp: 'a'.repeat(n) } } });
  b.ws.send(sdp(MAX_SIGNAL_FRAME_BYTES));
  assert.equal((await b.ws.nextOfType('error')).code, 'too-large');
  await assertAlive(b.ws);
  b.ws.send(sdp(HARD_MAX_FRAME_BYTES + 1));
  assert.equal((await b.ws.closed()).code, CLOSE.MESSAGE_TOO_BIG);
  assert.equal((await a.ws.nextOfType('peer-left')).peer_id, b.peerId);
  assertQuietSince(a.ws, mark, ['pong', 'peer-left']);
  // Binary garbage of that size too.
  const c = await join(url, { name: 'Cy', headers: net(3) });
  c.ws.send(randomBytes(HARD_MAX_FRAME_BYTES + 10));
  assert.equal((await c.ws.closed()).code, CLOSE.MESSAGE_TOO_BIG);
  // The room still works.
  const d = await join(url, { name: 'Di', headers: net(4) });
  d.ws.send({ type: 'signal', data: { ok: true } });
  assert.deepEqual((await a.ws.nextOfType('signal')).data, { ok: true });
});

test('a socket that never says hello is closed with 4007 after the hello timeout', async () => {
  const url = roomUrl();
  const a = await join(url, { key: ownerKey() });
  const silent = await open(url, net(20));
  const chatty = await open(url, net(21)); // sends frames, but never a valid hello
  const started = Date.now();
  chatty.send('garbage');
  assert.equal((await chatty.nextOfType('error')).code, 'malformed');
  const closed = await chatty.closed(HELLO_TIMEOUT_MS + 10_000);
  assert.equal(closed.code, CLOSE.NO_HELLO);
  const waited = Date.now() - started;
  assert.ok(waited >= HELLO_TIMEOUT_MS - 500, `closed after ${waited} ms`);
  // The silent one is told and dropped. (workerd does not deliver the close frame to a socket that never sent
  // anything; the worker ignores it from now on all the same, so a late hello gets nowhere.)
  const told = await silent.nextOfType('error', HELLO_TIMEOUT_MS + 10_000);
  assert.equal(told.code, 'not-joined');
  assert.match(told.message, /no hello in time/);
  silent.send({ type: 'hello', v: V, peer_id: randomId(), name: 'Too late' });
  await assert.rejects(silent.nextOfType('welcome', 2_000));
  silent.terminate();
  // The owner's joined socket was not touched.
  await assertAlive(a.ws);
  assert.ok(!a.ws.frames.some((f) => f.type === 'peer-left'));
});

test('hostile frames and connection churn never crash the room, reach the peer, or lock anyone out', async () => {
  const { url, a, b } = await ownedPair();
  const mark = a.ws.frames.length;
  const hostile = [
    Buffer.from([0, 255, 1, 2, 3]),
    randomBytes(2_000),
    '\u0000\u0001',
    '{"type":',
    '[]',
    'null',
    '{"type":"welcome","v":1,"peer":null,"polite":true,"epoch":999,"ice_servers":[],"owner":true}',
    '{"type":"peer-left","peer_id":"x"}',
    { type: 'signal', data: [1, 2, 3] },
    { type: 'signal' },
    { type: 'hello', v: V, peer_id: a.peerId, name: 'Ann' },
    { type: 'ban', peer_id: a.peerId },
    { type: 'kick', peer_id: '../../../etc/passwd' },
    { type: 'unban', ban_id: { $ne: null } },
    { type: 'signal', data: { description: { type: 'offer', sdp: 'v=0\r\n'.repeat(8_000) } } },
    JSON.stringify({ type: 'signal', data: { deep: JSON.parse('['.repeat(200) + ']'.repeat(200)) } }),
    '{"type":"ping","type":"ban","peer_id":"' + a.peerId + '"}',
  ];
  for (const frame of hostile) b.ws.send(frame);
  // B gets an error for each and is still connected.
  for (let i = 0; i < hostile.length; i++) await b.ws.nextOfType('error');
  await assertAlive(b.ws);
  // Churn: sockets that connect and vanish, with or without a hello, from another network.
  for (let i = 0; i < 10; i++) {
    const ws = await open(url, net(30));
    if (i % 2) ws.send({ type: 'hello', v: V, peer_id: randomId(), name: 'Churn' });
    ws.terminate();
  }
  // A saw none of it and still works with B.
  await assertAlive(a.ws);
  assertQuietSince(a.ws, mark);
  b.ws.send({ type: 'signal', data: { after: 'abuse' } });
  assert.deepEqual((await a.ws.nextOfType('signal')).data, { after: 'abuse' });
  a.ws.send({ type: 'signal', data: { back: true } });
  assert.deepEqual((await b.ws.nextOfType('signal')).data, { back: true });
  // A flooding peer is cut off (4008) and a newcomer takes its seat.
  for (let i = 0; i < 300; i++) b.ws.send({ type: 'ping' });
  assert.equal((await b.ws.closed()).code, CLOSE.RATE_LIMITED);
  assert.equal((await a.ws.nextOfType('peer-left')).peer_id, b.peerId);
  const c = await join(url, { name: 'Cy', headers: net(31) });
  assert.equal(c.welcome.peer.peer_id, a.peerId);
  c.ws.send({ type: 'signal', data: { hi: 'A' } });
  assert.deepEqual((await a.ws.nextOfType('signal')).data, { hi: 'A' });
});

// Restarts the shared server: keep it last but one in this file.
test('a ban survives a wrangler dev restart (Durable Object storage), and so does the owner', async () => {
  const { url, a, b } = await ownedPair();
  a.ws.send({ type: 'ban', peer_id: b.peerId });
  await b.ws.closed();
  const [ban] = (await a.ws.nextOfType('bans')).list;
  await a.ws.close();
  sockets = [];
  const { persistDir } = server;
  await server.stop();
  server = await startWrangler({ build: 'worker', vars: VARS, persistDir });
  const room = url.split('/').pop();
  const again = await attempt(roomUrl(room), { peerId: b.peerId, name: 'Bob', headers: net(2) });
  assert.equal(again.closed?.code, CLOSE.BANNED);
  const fresh = await attempt(roomUrl(room), { name: 'New me', headers: net(2) });
  assert.equal(fresh.closed?.code, CLOSE.BANNED);
  const owner = await join(roomUrl(room), { peerId: a.peerId, name: 'Ann', key: a.key, headers: net(1) });
  assert.equal(owner.welcome.owner, true);
  assert.deepEqual(owner.bans, [ban]);
});

// Its own server, with retention periods of seconds instead of days.
test('lifecycle: an empty room forgets its pairing data, keeps bans and owner while needed, then everything', { timeout: 90_000 }, async () => {
  await server.stop();
  const IDLE_CLEANUP_MS = 1_500;
  const ROOM_TTL_MS = 3_000;
  const BAN_TTL_MS = 10_000;
  server = await startWrangler({
    build: 'worker',
    vars: { ...VARS, IDLE_CLEANUP_MS: String(IDLE_CLEANUP_MS), ROOM_TTL_MS: String(ROOM_TTL_MS), BAN_TTL_MS: String(BAN_TTL_MS) },
  });
  const { url, a, b } = await ownedPair();
  assert.equal(b.welcome.epoch, 2);
  a.ws.send({ type: 'ban', peer_id: b.peerId });
  await b.ws.closed();
  const [ban] = (await a.ws.nextOfType('bans')).list;
  assert.equal(ban.expires_ms - ban.banned_ms, BAN_TTL_MS);
  await a.ws.close();
  const emptied = Date.now();

  // After the idle cleanup: the pairing counter starts over, the owner and the ban are kept.
  await sleep(IDLE_CLEANUP_MS + 1_500);
  const owner = await join(url, { peerId: a.peerId, name: 'Ann', key: a.key, headers: net(1) });
  assert.equal(owner.welcome.owner, true);
  assert.equal(owner.welcome.epoch, 1, 'the pairing counter was forgotten');
  assert.deepEqual(owner.bans, [ban]);
  const banned = await attempt(url, { peerId: b.peerId, headers: net(2) });
  assert.equal(banned.closed?.code, CLOSE.BANNED);
  await owner.ws.close();
  assert.ok(Date.now() - emptied < BAN_TTL_MS, 'the checks above ran before the ban lapsed');

  // Once the ban lapsed and the room was empty long enough, everything is gone: the old owner's claim with it,
  // so the next key to come claims the room, and the banned person gets in.
  await sleep(Math.max(0, ban.expires_ms - Date.now()) + ROOM_TTL_MS + 1_500);
  const claimer = await join(url, { name: 'Newcomer', key: ownerKey(), headers: net(7) });
  assert.equal(claimer.welcome.owner, true, 'the room forgot its owner');
  assert.equal(claimer.welcome.epoch, 1);
  assert.deepEqual(claimer.bans, []);
  const unbanned = await join(url, { peerId: b.peerId, name: 'Bob', headers: net(2) });
  assert.equal(unbanned.welcome.peer.name, 'Newcomer');
});
