// Signaling under load: many rooms joining and relaying at once against one `wrangler dev`, loopback only.
//
// N rooms x 2 sockets (plain `ws` clients speaking the real protocol: hello, welcome, peer-joined, signal, ping).
// Every socket joins (bounded concurrency), then every pair relays K signals each way at a steady pace; each
// relayed payload carries the room's tag, the sender's side and a sequence number, so the receiver can tell lost,
// duplicated and wrong-room deliveries apart, and the send time, for the per-relay latency (one process clock).
// Figures are printed, never asserted. Bounded: everything is torn down after a global deadline.
//
//   TWAIN_BENCH_LOAD_ROOMS     rooms (default 500: 1000 sockets)
//   TWAIN_BENCH_LOAD_RELAYS    signals per socket (default 20, so 2 x 20 per room)
//   TWAIN_BENCH_LOAD_RATE      signals per second per socket (default 4; the worker allows bursts of 120, 20/s)
//   TWAIN_BENCH_LOAD_DEADLINE  seconds before everything is cut (default 240)
import WebSocket from 'ws';
import { randomId } from '../tests/support/wrangler.mjs';

const ROOMS = Number(process.env.TWAIN_BENCH_LOAD_ROOMS || 500);
const RELAYS = Number(process.env.TWAIN_BENCH_LOAD_RELAYS || 20);
const RATE = Number(process.env.TWAIN_BENCH_LOAD_RATE || 4);
const DEADLINE_MS = Number(process.env.TWAIN_BENCH_LOAD_DEADLINE || 240) * 1000;
const CONNECT_CONCURRENCY = 64;
const JOIN_TIMEOUT_MS = 30_000;
const DRAIN_MS = 20_000; // after the last send, how long a relay may still arrive before it counts as lost
const PING_MS = 10_000; // like a client: a socket silent for 35 s may be evicted

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** One socket of the benchmark: joins, relays, counts what it receives. */
class Client {
  constructor(bench, room, side) {
    this.bench = bench;
    this.room = room; // { index, id }
    this.side = side; // 'a' or 'b'
    this.peerId = randomId();
    this.received = new Set();
    this.epoch = null;
  }

  /** Opens the socket and says hello; resolves with the join latency (open request -> welcome). */
  join(url) {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      this.ws = ws;
      const timer = setTimeout(() => reject(new Error('join timed out')), JOIN_TIMEOUT_MS);
      ws.on('open', () => {
        ws.send(JSON.stringify({ type: 'hello', v: 1, peer_id: this.peerId, name: `Bench ${this.side}` }));
      });
      ws.on('message', (data) => {
        let frame;
        try {
          frame = JSON.parse(data.toString());
        } catch {
          this.bench.errors.push('unreadable frame');
          return;
        }
        if (frame.type === 'welcome') {
          clearTimeout(timer);
          this.epoch = frame.epoch;
          resolve(performance.now() - started);
        } else {
          this.onFrame(frame);
        }
      });
      ws.on('close', (code) => {
        clearTimeout(timer);
        this.closed = code;
        if (!this.bench.closing) this.bench.errors.push(`room ${this.room.index}${this.side}: closed ${code}`);
        reject(new Error(`closed ${code} before welcome`));
      });
      ws.on('error', (e) => {
        if (!this.bench.closing) this.bench.errors.push(`room ${this.room.index}${this.side}: ${e.message}`);
      });
    });
  }

  onFrame(frame) {
    const b = this.bench;
    switch (frame.type) {
      case 'signal': {
        const m = frame.data?.bench;
        if (!m || m.room !== this.room.id) {
          b.wrongRoom += 1;
          return;
        }
        if (m.from === this.side) {
          b.echoed += 1; // our own signal came back: as wrong as another room's
          return;
        }
        if (this.received.has(m.seq)) {
          b.duplicates += 1;
          return;
        }
        this.received.add(m.seq);
        b.latencies.push(performance.now() - m.t);
        b.delivered += 1;
        b.lastDelivery = performance.now();
        break;
      }
      case 'peer-joined':
        this.epoch = frame.epoch;
        break;
      case 'pong':
        break;
      case 'error':
        b.errors.push(`room ${this.room.index}${this.side}: error ${frame.code}`);
        break;
      default:
        b.errors.push(`room ${this.room.index}${this.side}: unexpected ${frame.type}`);
    }
  }

  /** Sends RELAYS signals at RATE per second. */
  async relay() {
    for (let seq = 0; seq < RELAYS && !this.bench.closing; seq++) {
      if (this.ws.readyState !== WebSocket.OPEN) return;
      const data = { epoch: this.epoch, bench: { room: this.room.id, from: this.side, seq, t: performance.now() } };
      this.ws.send(JSON.stringify({ type: 'signal', data }));
      this.bench.sent += 1;
      await sleep(1000 / RATE);
    }
  }
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool(items, limit, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  });
  await Promise.all(workers);
}

export async function run({ server }) {
  const bench = {
    errors: [],
    sent: 0,
    delivered: 0,
    duplicates: 0,
    wrongRoom: 0,
    echoed: 0,
    latencies: [],
    lastDelivery: 0,
    closing: false,
  };
  const rooms = Array.from({ length: ROOMS }, (_, index) => ({ index, id: randomId() }));
  const clients = rooms.flatMap((room) => [new Client(bench, room, 'a'), new Client(bench, room, 'b')]);
  const deadline = setTimeout(() => {
    bench.closing = true;
    bench.errors.push(`global deadline of ${DEADLINE_MS / 1000} s reached`);
    for (const c of clients) c.ws?.terminate();
  }, DEADLINE_MS);
  const keepalive = setInterval(() => {
    for (const c of clients) if (c.ws?.readyState === WebSocket.OPEN) c.ws.send('{"type":"ping"}');
  }, PING_MS);

  try {
    // Join: A then B in each room, many rooms at once.
    const joinLatencies = [];
    let joined = 0;
    const joinStart = performance.now();
    await pool(rooms, CONNECT_CONCURRENCY, async (room) => {
      const [a, b] = clients.slice(room.index * 2, room.index * 2 + 2);
      try {
        joinLatencies.push(await a.join(`${server.wsUrl}/ws/${room.id}`));
        joined += 1;
        joinLatencies.push(await b.join(`${server.wsUrl}/ws/${room.id}`));
        joined += 1;
      } catch (e) {
        bench.errors.push(`room ${room.index}: ${e.message}`);
      }
    });
    const joinSecs = (performance.now() - joinStart) / 1000;
    // Let the last peer-joined frames land so both sides hold the pairing's epoch.
    await sleep(500);

    // Relay: every socket of every complete room at once.
    const pairs = rooms.filter((r) => clients[r.index * 2].epoch !== null && clients[r.index * 2 + 1].epoch !== null);
    const relayStart = performance.now();
    await Promise.all(pairs.flatMap((r) => [clients[r.index * 2].relay(), clients[r.index * 2 + 1].relay()]));
    const expected = pairs.length * 2 * RELAYS;
    const drainUntil = performance.now() + DRAIN_MS;
    while (bench.delivered + bench.duplicates < expected && performance.now() < drainUntil && !bench.closing) {
      await sleep(50);
    }
    const relaySecs = ((bench.lastDelivery || performance.now()) - relayStart) / 1000;

    const lat = [...bench.latencies].sort((x, y) => x - y);
    const jl = [...joinLatencies].sort((x, y) => x - y);
    const ms = (v) => `${v.toFixed(1)} ms`;
    const lost = expected - bench.delivered;
    console.log(`   rooms ${ROOMS}, sockets ${clients.length} (joined ${joined}), ${RELAYS} signals per socket at ${RATE}/s`);
    console.log(
      `   joins: ${joined} in ${joinSecs.toFixed(1)} s = ${(joined / joinSecs).toFixed(0)} joins/s` +
        ` (${CONNECT_CONCURRENCY} rooms at a time); join latency p50 ${ms(percentile(jl, 50))}, p99 ${ms(percentile(jl, 99))}`,
    );
    console.log(
      `   relays: ${bench.delivered} of ${expected} delivered in ${relaySecs.toFixed(1)} s = ` +
        `${(bench.delivered / relaySecs).toFixed(0)} relays/s (offered ${(pairs.length * 2 * RATE).toFixed(0)}/s)`,
    );
    console.log(
      `   relay latency p50 ${ms(percentile(lat, 50))}, p99 ${ms(percentile(lat, 99))}, max ${ms(lat.at(-1) ?? NaN)}`,
    );
    console.log(
      `   lost relays ${lost}, wrong-room deliveries ${bench.wrongRoom + bench.echoed}, duplicates ${bench.duplicates}, ` +
        `errors ${bench.errors.length}`,
    );
    for (const e of bench.errors.slice(0, 10)) console.log(`     ${e}`);
    if (bench.errors.length > 10) console.log(`     ... and ${bench.errors.length - 10} more`);
  } finally {
    clearTimeout(deadline);
    clearInterval(keepalive);
    bench.closing = true;
    await Promise.all(
      clients.map(
        (c) =>
          new Promise((resolve) => {
            if (!c.ws || c.ws.readyState === WebSocket.CLOSED) return resolve();
            const t = setTimeout(() => {
              c.ws.terminate();
              resolve();
            }, 5_000);
            c.ws.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            c.ws.close(1000);
          }),
      ),
    );
  }
}
