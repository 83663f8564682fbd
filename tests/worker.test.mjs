// The signaling worker under a real `wrangler dev` (workerd), driven by plain WebSocket clients.
// One wrangler for the file; every test uses its own random room. Frames and close codes: docs/PROTOCOL.md.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startWrangler, connect, randomId } from './support/wrangler.mjs';

// Mirrors of twain_protocol::signal / room constants.
const V = 1;
const MAX_SIGNAL_FRAME_BYTES = 32 * 1024;
const CLOSE = { PROTOCOL_ERROR: 4000, ROOM_FULL: 4001, REPLACED: 4002, INVALID_ROOM: 4003, STALE: 4006, RATE_LIMITED: 4008 };
const STALE_AFTER_MS = 35_000;

let server;
let sockets = [];

before(async () => {
  server = await startWrangler({ build: 'worker' });
});

after(async () => {
  await server?.stop();
});

afterEach(async () => {
  await Promise.all(sockets.map((s) => s.close().catch(() => {})));
  sockets = [];
});

const roomUrl = (room = randomId()) => `${server.wsUrl}/ws/${room}`;

async function open(url) {
  const ws = await connect(url);
  sockets.push(ws);
  return ws;
}

/** Opens a socket, says hello and returns it with the welcome. */
async function join(url, { peerId = randomId(), name = 'Quiet Otter' } = {}) {
  const ws = await open(url);
  ws.send({ type: 'hello', v: V, peer_id: peerId, name });
  const welcome = await ws.nextOfType('welcome');
  return { ws, welcome, peerId, name };
}

/** A room with two joined peers, A first. */
async function pair() {
  const url = roomUrl();
  const a = await join(url, { name: 'Ann' });
  const b = await join(url, { name: 'Bob' });
  const joined = await a.ws.nextOfType('peer-joined');
  return { url, a, b, joined };
}

async function assertAlive(ws) {
  ws.send({ type: 'ping' });
  await ws.nextOfType('pong');
}

/** Sends a bad frame, expects an error frame with `code`, then checks the socket still answers. */
async function assertError(ws, frame, code, { joined = true } = {}) {
  ws.send(frame);
  const err = await ws.nextOfType('error');
  assert.equal(err.code, code, JSON.stringify(err));
  assert.equal(typeof err.message, 'string');
  assert.ok(err.message.length > 0);
  if (joined) {
    await assertAlive(ws);
  } else {
    ws.send({ type: 'ping' });
    assert.equal((await ws.nextOfType('error')).code, 'not-joined');
  }
}

test('hello alone: welcome with no peer and no ICE servers', async () => {
  const { welcome } = await join(roomUrl());
  assert.equal(welcome.v, V);
  assert.equal(welcome.peer, null);
  assert.equal(welcome.polite, false);
  assert.deepEqual(welcome.ice_servers, []);
  assert.ok(Number.isInteger(welcome.epoch) && welcome.epoch >= 1);
});

test('the second peer is polite and both learn about each other with the same epoch', async () => {
  const { a, b, joined } = await pair();
  assert.deepEqual(b.welcome.peer, { peer_id: a.peerId, name: 'Ann' });
  assert.equal(b.welcome.polite, true);
  assert.deepEqual(joined.peer, { peer_id: b.peerId, name: 'Bob' });
  assert.equal(joined.polite, false);
  assert.equal(joined.epoch, b.welcome.epoch);
  assert.ok(b.welcome.epoch > a.welcome.epoch, 'a new pairing gets a new epoch');
});

test('signal frames are relayed unchanged, both ways', async () => {
  const { a, b } = await pair();
  const offer = {
    epoch: 2,
    description: { type: 'offer', sdp: `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n${'a=x\r\n'.repeat(1500)}` },
    nested: { list: [1, 2.5, null, true, 'ünïcødé ✓'], empty: {} },
  };
  a.ws.send({ type: 'signal', data: offer });
  assert.deepEqual(await b.ws.nextOfType('signal'), { type: 'signal', data: offer });
  const candidate = { epoch: 2, candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0' } };
  b.ws.send({ type: 'signal', data: candidate });
  assert.deepEqual(await a.ws.nextOfType('signal'), { type: 'signal', data: candidate });
  // Under the limit as sent, over it once numbers are re-encoded (1e9 -> 1000000000.0): refused, not relayed.
  const growing = `{"type":"signal","data":{"n":[${Array(7000).fill('1e9').join(',')}]}}`;
  assert.ok(growing.length < MAX_SIGNAL_FRAME_BYTES);
  await assertError(a.ws, growing, 'too-large');
  a.ws.send({ type: 'signal', data: { after: true } });
  assert.deepEqual((await b.ws.nextOfType('signal')).data, { after: true });
});

test('a third peer is refused with 4001 and the pair is undisturbed', async () => {
  const { url, a, b } = await pair();
  const c = await open(url);
  c.send({ type: 'hello', v: V, peer_id: randomId(), name: 'Cy' });
  assert.equal((await c.closed()).code, CLOSE.ROOM_FULL);
  assert.ok(!c.frames.some((f) => f.type === 'welcome'));
  await assertAlive(a.ws);
  await assertAlive(b.ws);
  a.ws.send({ type: 'signal', data: { still: 'paired' } });
  assert.deepEqual((await b.ws.nextOfType('signal')).data, { still: 'paired' });
});

test('the same identity reconnecting replaces its older socket without a peer-left', async () => {
  const { url, a, b, joined } = await pair();
  const b2 = await join(url, { peerId: b.peerId, name: 'Bob again' });
  assert.equal((await b.ws.closed()).code, CLOSE.REPLACED);
  assert.deepEqual(b2.welcome.peer, { peer_id: a.peerId, name: 'Ann' });
  assert.equal(b2.welcome.polite, true);
  const again = await a.ws.nextOfType('peer-joined');
  assert.deepEqual(again.peer, { peer_id: b.peerId, name: 'Bob again' });
  assert.equal(again.polite, false);
  assert.equal(again.epoch, b2.welcome.epoch);
  assert.ok(again.epoch > joined.epoch);
  // Round trips on both sockets after the old one's close has been processed: no trailing peer-left.
  await assertAlive(a.ws);
  await assertAlive(b2.ws);
  b2.ws.send({ type: 'signal', data: { from: 'b2' } });
  assert.deepEqual((await a.ws.nextOfType('signal')).data, { from: 'b2' });
  await assertAlive(a.ws);
  assert.ok(!a.ws.frames.some((f) => f.type === 'peer-left'), a.ws.describe());
});

test('closing a socket tells the other peer, and the peer can come back', async () => {
  const { url, a, b } = await pair();
  await b.ws.close();
  assert.deepEqual(await a.ws.nextOfType('peer-left'), { type: 'peer-left', peer_id: b.peerId });
  a.ws.send({ type: 'signal', data: { x: 1 } });
  assert.equal((await a.ws.nextOfType('error')).code, 'no-peer');

  const back = await join(url, { peerId: b.peerId, name: 'Bob' });
  assert.deepEqual(back.welcome.peer, { peer_id: a.peerId, name: 'Ann' });
  assert.equal(back.welcome.polite, true);
  const joined = await a.ws.nextOfType('peer-joined');
  assert.equal(joined.peer.peer_id, b.peerId);
  assert.equal(joined.epoch, back.welcome.epoch);
});

test('a rename is kept: the worker introduces the person by the new name from then on', async () => {
  const { url, a, b } = await pair();
  b.ws.send({ type: 'rename', name: 'Bob <the builder>' });
  // Frames of one socket are handled in order: once the pong is back, the rename is done.
  b.ws.send({ type: 'ping' });
  await b.ws.nextOfType('pong');
  await a.ws.close();
  const back = await join(url, { peerId: a.peerId, name: 'Ann' });
  assert.deepEqual(back.welcome.peer, { peer_id: b.peerId, name: 'Bob <the builder>' });

  // A name that is blank or too long is refused, and the old one stays.
  await assertError(b.ws, { type: 'rename', name: '   ' }, 'invalid');
  await assertError(b.ws, { type: 'rename', name: 'n'.repeat(200) }, 'invalid');
  await back.ws.close();
  const again = await join(url, { peerId: a.peerId, name: 'Ann' });
  assert.equal(again.welcome.peer.name, 'Bob <the builder>');
  // Not before joining.
  const early = await open(url);
  await assertError(early, { type: 'rename', name: 'Early' }, 'not-joined', { joined: false });
});

test('a dropped connection (no close frame) also gives peer-left', async () => {
  const { a, b } = await pair();
  b.ws.terminate();
  assert.deepEqual(await a.ws.nextOfType('peer-left', 20_000), { type: 'peer-left', peer_id: b.peerId });
});

test('after a leave a different identity can take the free seat', async () => {
  const { url, a, b } = await pair();
  await b.ws.close();
  await a.ws.nextOfType('peer-left');
  const c = await join(url, { name: 'Cy' });
  assert.equal(c.welcome.peer.peer_id, a.peerId);
  assert.equal((await a.ws.nextOfType('peer-joined')).peer.peer_id, c.peerId);
});

test('bad frames get an error frame and the socket keeps working', async () => {
  const url = roomUrl();
  const ws = await open(url);
  // Before hello.
  const pending = { joined: false };
  await assertError(ws, { type: 'signal', data: {} }, 'not-joined', pending);
  await assertError(ws, { type: 'ping' }, 'not-joined', pending);
  await assertError(ws, 'not json at all', 'malformed', pending);
  await assertError(ws, { type: 'hello', v: V, peer_id: 'too short', name: 'A' }, 'invalid', pending);
  await assertError(ws, { type: 'hello', v: V, peer_id: randomId(), name: 'x'.repeat(41) }, 'invalid', pending);
  await assertError(ws, { type: 'hello', v: V, peer_id: randomId(), name: '   ' }, 'invalid', pending);
  ws.send({ type: 'hello', v: V, peer_id: randomId(), name: 'Ann' });
  await ws.nextOfType('welcome');
  // After hello.
  await assertError(ws, '{"type":"signal","data":', 'malformed');
  await assertError(ws, { type: 'teleport' }, 'malformed');
  await assertError(ws, { type: 'signal', data: 'a string' }, 'invalid');
  await assertError(ws, { type: 'signal', data: { pad: 'x'.repeat(MAX_SIGNAL_FRAME_BYTES) } }, 'too-large');
  await assertError(ws, Buffer.from([1, 2, 3]), 'binary');
  await assertError(ws, { type: 'hello', v: V, peer_id: randomId(), name: 'Again' }, 'already-joined');
  await assertError(ws, { type: 'signal', data: { alone: true } }, 'no-peer');
});

test('error messages never echo the frame', async () => {
  const ws = await open(roomUrl());
  ws.send('{"secret-looking-key": ');
  const err = await ws.nextOfType('error');
  assert.ok(!err.message.includes('secret-looking-key'), err.message);
});

test('an unsupported protocol version is closed with 4000', async () => {
  const ws = await open(roomUrl());
  ws.send({ type: 'hello', v: 999, peer_id: randomId(), name: 'Future' });
  assert.equal((await ws.closed()).code, CLOSE.PROTOCOL_ERROR);
});

test('a flood is closed with 4008, the other peer is told, and the room still works', async () => {
  const { url, a, b } = await pair();
  for (let i = 0; i < 500; i++) b.ws.send({ type: 'ping' });
  const { code } = await b.ws.closed();
  assert.equal(code, CLOSE.RATE_LIMITED);
  const pongs = b.ws.frames.filter((f) => f.type === 'pong').length;
  assert.ok(pongs >= 100 && pongs < 500, `${pongs} pongs before the close`);
  assert.equal((await a.ws.nextOfType('peer-left')).peer_id, b.peerId);
  const c = await join(url, { name: 'Cy' });
  assert.equal(c.welcome.peer.peer_id, a.peerId);
  await assertAlive(c.ws);
  await assertAlive(a.ws);
});

test('an invalid room id is closed with 4003', async () => {
  for (const room of ['short', 'x'.repeat(65), 'has.dots.and.more.chars', '%3Cscript%3Eabcdefghijkl', '']) {
    const ws = await open(`${server.wsUrl}/ws/${room}`);
    assert.equal((await ws.closed()).code, CLOSE.INVALID_ROOM, `room ${JSON.stringify(room)}`);
  }
});

test('plain HTTP: /ws/ without an upgrade is 426, other paths 404', async () => {
  for (const path of ['/ws/x', `/ws/${randomId()}`]) {
    const res = await fetch(`${server.url}${path}`);
    await res.arrayBuffer();
    assert.equal(res.status, 426, path);
  }
  for (const path of ['/nope', '/ws', '/wsx/abc']) {
    const res = await fetch(`${server.url}${path}`);
    await res.arrayBuffer();
    assert.equal(res.status, 404, path);
  }
});

test('a room keeps its peers, roles and epoch across hibernation', { timeout: 60_000 }, async () => {
  const { url, a, b } = await pair();
  // workerd hibernates a Durable Object whose sockets are idle for ~10 s: its memory is gone, attachments stay.
  await new Promise((r) => setTimeout(r, 12_000));
  a.ws.send({ type: 'signal', data: { after: 'hibernation' } });
  assert.deepEqual((await b.ws.nextOfType('signal')).data, { after: 'hibernation' });
  const c = await open(url);
  c.send({ type: 'hello', v: V, peer_id: randomId(), name: 'Cy' });
  assert.equal((await c.closed()).code, CLOSE.ROOM_FULL);
  await b.ws.close();
  assert.equal((await a.ws.nextOfType('peer-left')).peer_id, b.peerId);
  const d = await join(url, { name: 'Di' });
  assert.equal(d.welcome.peer.peer_id, a.peerId);
  assert.ok(d.welcome.epoch > b.welcome.epoch);
});

test('a silent ghost is evicted as stale so a third identity can join', { timeout: 120_000 }, async () => {
  const { url, a, b } = await pair();
  const started = Date.now();
  const deadline = started + STALE_AFTER_MS + 30_000;
  let c;
  // A keeps pinging like a live client; B never sends anything again; C knocks every 2 s.
  while (!c) {
    assert.ok(Date.now() < deadline, 'the ghost was never evicted');
    await assertAlive(a.ws);
    const knock = await open(url);
    knock.send({ type: 'hello', v: V, peer_id: randomId(), name: 'Cy' });
    const outcome = await knock.nextOfType('welcome').then(
      (welcome) => ({ welcome }),
      async () => ({ closed: await knock.closed() }),
    );
    if (outcome.welcome) {
      c = { ws: knock, welcome: outcome.welcome };
    } else {
      assert.equal(outcome.closed.code, CLOSE.ROOM_FULL);
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
  const waited = Date.now() - started;
  assert.ok(waited >= STALE_AFTER_MS - 2_000, `evicted after only ${waited} ms`);
  assert.equal((await b.ws.closed()).code, CLOSE.STALE);
  assert.equal(c.welcome.peer.peer_id, a.peerId);
  assert.equal(c.welcome.polite, true);
  const left = await a.ws.nextOfType('peer-left');
  assert.equal(left.peer_id, b.peerId);
  const joined = await a.ws.nextOfType('peer-joined');
  assert.ok(
    a.ws.frames.indexOf(left) < a.ws.frames.indexOf(joined),
    'peer-left for the ghost comes before peer-joined for the newcomer',
  );
  assert.equal(joined.epoch, c.welcome.epoch);
});

// Last: restarts the server.
test('epochs survive a restart on the same state, and ICE_SERVERS is passed through or ignored', async () => {
  const url = roomUrl();
  const first = await join(url);
  await first.ws.close();
  const { persistDir } = server;
  await server.stop();

  const ice = [{ urls: ['stun:127.0.0.1:3478'] }, { urls: ['turn:127.0.0.1:3478'], username: 'u', credential: 'c' }];
  server = await startWrangler({ build: 'worker', persistDir, vars: { ICE_SERVERS: JSON.stringify(ice) } });
  const second = await join(roomUrl(url.split('/').pop()));
  assert.ok(second.welcome.epoch > first.welcome.epoch, 'the epoch counter is kept in storage');
  assert.deepEqual(second.welcome.ice_servers, ice);
  await second.ws.close();
  await server.stop();

  server = await startWrangler({ build: 'worker', persistDir, vars: { ICE_SERVERS: 'not json' } });
  const third = await join(roomUrl());
  assert.deepEqual(third.welcome.ice_servers, []);
});
