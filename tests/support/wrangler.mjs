// Test support: a real `wrangler dev` (workerd) on 127.0.0.1, and a small WebSocket client for signaling tests.
//
//   const server = await startWrangler();                 // fresh port, fresh state dir
//   const again = await startWrangler({ persistDir: server.persistDir });  // after server.stop(): same state
//   const ws = await connect(`${server.wsUrl}/ws/${randomId()}`);
//   ws.send({ type: 'ping' }); await ws.next((f) => f.type === 'pong'); await ws.closed();
//
// Wrangler's output goes to test-output/wrangler-<port>-<time>.log. Everything stays on 127.0.0.1 and offline.
// Note: wrangler.toml's [build] watch_dir stays active, so editing client/, protocol/ or signaling-worker/ sources
// while tests run rebuilds and reloads the worker, which drops every open WebSocket (close 1006).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

/** The repository root (wrangler.toml lives here). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');
const OUTPUT = path.join(ROOT, 'test-output');

/** A fresh random id (room or identity): 16 random bytes as 22 base64url characters, like the client makes. */
export function randomId() {
  return randomBytes(16).toString('base64url');
}

/**
 * `count` distinct TCP ports that were free a moment ago on 127.0.0.1, none of them in `avoid`. All listeners stay
 * open until every port is picked, so two calls' worth of ports cannot come back as the same number (the kernel
 * may hand a port that was just closed straight out again: once the HTTP and the inspector port were equal).
 */
export async function freePorts(count, avoid = []) {
  const servers = [];
  const ports = [];
  try {
    for (let tries = 0; ports.length < count && tries < count + 20; tries++) {
      const srv = net.createServer();
      srv.unref();
      servers.push(srv);
      const port = await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => resolve(srv.address().port));
      });
      if (!avoid.includes(port) && !ports.includes(port)) ports.push(port);
    }
  } finally {
    await Promise.all(servers.map((srv) => new Promise((r) => srv.close(() => r()))));
  }
  if (ports.length < count) throw new Error(`could not find ${count} free ports on 127.0.0.1`);
  return ports;
}

const running = new Set();
const ownedDirs = new Set(); // state dirs made here: kept across stop()/restart, removed when the process exits
// If the test process dies without calling stop(), do not leave wrangler and workerd behind.
process.on('exit', () => {
  for (const pid of running) killGroup(pid, 'SIGKILL');
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
});

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // already gone
  }
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `wrangler dev` with the repository's wrangler.toml and waits until it answers HTTP.
 *
 * Options:
 * - `port`: listen port (default: a free one);
 * - `persistDir`: Durable Object state directory (default: a fresh temp dir, deleted when the test process
 *   exits); pass the previous server's `persistDir` to restart on the same state;
 * - `build`: `'all'` (default) or `'worker'` — what wrangler's `[build]` command (`./twain build`) builds, via
 *   `TWAIN_BUILD`; the worker tests need no client;
 * - `vars`: extra `--var` values (default `{ ICE_SERVERS: '[]' }`: no STUN/TURN in tests);
 * - `timeoutMs`: how long to wait for the first answer (default 120 s: a cold build runs first).
 *
 * Returns `{ url, wsUrl, port, persistDir, logPath, startupMs, reloads, stop() }`; `reloads` counts hot reloads
 * since it answered; `stop()` ends wrangler and workerd (the whole process group) and resolves once they are gone.
 */
export async function startWrangler({ port, persistDir, build, vars, timeoutMs = 120_000 } = {}) {
  if (!persistDir) {
    persistDir = mkdtempSync(path.join(os.tmpdir(), 'twain-wrangler-'));
    ownedDirs.add(persistDir);
  }
  mkdirSync(OUTPUT, { recursive: true });
  const env = {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
  };
  if (build) env.TWAIN_BUILD = build;
  // Build first (a no-op when nothing changed), then run wrangler on a copy of wrangler.toml without `[build]`:
  // with the build section wrangler also watches the sources and hot-reloads mid-test, which cuts every WebSocket
  // (and once crashed workerd on a busy inspector port right at start-up).
  execFileSync(path.join(ROOT, 'twain'), ['build'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  writeFileSync(TEST_CONFIG, testConfig());
  const varArgs = Object.entries({ ICE_SERVERS: '[]', ...vars }).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
  // A port picked here can be taken by another process before workerd binds it; then wrangler exits at once.
  // Such a start is tried again on fresh ports (the requested port is kept: a restart must come back on it).
  for (let attempt = 1; ; attempt++) {
    const [httpPort, inspectorPort] = port ? [port, ...(await freePorts(1, [port]))] : await freePorts(2);
    try {
      return await launch({ port: httpPort, inspectorPort, persistDir, env, varArgs, timeoutMs });
    } catch (e) {
      if (!(e instanceof EarlyExit) || attempt >= 3) throw e;
      process.stderr.write(`[wrangler] start ${attempt} failed (${e.message.split('\n')[0]}); trying again\n`);
    }
  }
}

class EarlyExit extends Error {}

async function launch({ port, inspectorPort, persistDir, env, varArgs, timeoutMs }) {
  const logPath = path.join(OUTPUT, `wrangler-${port}-${Date.now()}.log`);
  const log = createWriteStream(logPath);
  const args = [
    'dev',
    '--config', TEST_CONFIG,
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--inspector-ip', '127.0.0.1',
    '--inspector-port', String(inspectorPort),
    '--persist-to', persistDir,
    '--show-interactive-dev-session=false',
    ...varArgs,
  ];
  log.write(`$ wrangler ${args.join(' ')}\n`);
  const child = spawn(WRANGLER, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child.pid);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  // A hot reload (a watched source changed) cuts every open WebSocket: say so, or the 1006s look like bugs.
  const server = { reloads: 0 };
  let ready = false;
  child.stdout.on('data', (chunk) => {
    if (ready && /Reloading local server/.test(chunk)) {
      server.reloads += 1;
      process.stderr.write(`[wrangler:${port}] hot reload: a watched source file changed; open WebSockets are cut\n`);
    }
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let exitInfo = null;
  exited.then((info) => (exitInfo = info));
  child.once('error', (e) => (exitInfo = { error: e.message })); // e.g. wrangler not installed: run `npm ci`

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!running.has(child.pid)) return;
    killGroup(child.pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (groupAlive(child.pid) && Date.now() < deadline) await sleep(50);
    if (groupAlive(child.pid)) {
      killGroup(child.pid, 'SIGKILL');
      while (groupAlive(child.pid)) await sleep(50);
    }
    await Promise.race([exited, sleep(2_000)]);
    running.delete(child.pid);
    await new Promise((r) => log.end(r));
  };

  const started = Date.now();
  for (;;) {
    if (exitInfo) {
      await stop();
      throw new EarlyExit(`wrangler exited (${JSON.stringify(exitInfo)}) before answering; log: ${logPath}\n${tail(logPath)}`);
    }
    if (Date.now() - started > timeoutMs) {
      await stop();
      throw new Error(`wrangler did not answer within ${timeoutMs} ms; log: ${logPath}\n${tail(logPath)}`);
    }
    try {
      const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      break; // any HTTP answer means workerd is serving
    } catch {
      await sleep(100);
    }
  }
  ready = true;
  const startupMs = Date.now() - started;
  log.write(`[test] answering after ${startupMs} ms\n`);
  return Object.assign(server, { url, wsUrl: url.replace(/^http/, 'ws'), port, persistDir, logPath, startupMs, stop });
}

/** wrangler.toml as tests use it: the same worker, assets and bindings, without the `[build]` table. */
const TEST_CONFIG = path.join(ROOT, '.wrangler-test.toml');
function testConfig() {
  const lines = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8').split('\n');
  const out = [];
  let skipping = false;
  for (const line of lines) {
    if (/^\s*\[/.test(line)) skipping = /^\s*\[build\]\s*$/.test(line);
    if (!skipping) out.push(line);
  }
  return `# Generated by tests/support/wrangler.mjs from wrangler.toml (without [build]); do not edit.\n${out.join('\n')}`;
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * A WebSocket test client: queues every frame it receives (text frames parsed as JSON) so tests can wait for the
 * next frame matching a predicate, and records how the socket closed.
 */
export class TestSocket {
  constructor(ws) {
    this.ws = ws;
    /** Every frame received, in order (parsed JSON, or `{ raw }` when not JSON). */
    this.frames = [];
    this.pending = []; // received but not yet taken by next()
    this.waiters = new Set();
    /** `{ code, reason }` once closed. */
    this.closeInfo = null;
    ws.on('message', (data, isBinary) => {
      let frame;
      if (isBinary) frame = { binary: data };
      else {
        const text = data.toString('utf8');
        try {
          frame = JSON.parse(text);
        } catch {
          frame = { raw: text };
        }
      }
      this.frames.push(frame);
      this.pending.push(frame);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString('utf8') };
      this.wake();
    });
    ws.on('error', () => {}); // surfaced as a close (1006)
  }

  wake() {
    for (const w of [...this.waiters]) w();
  }

  /** Sends an object as JSON, or a string / Buffer as is. */
  send(frame) {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Resolves with the first not-yet-taken frame matching `predicate` (frames before it stay queued). */
  next(predicate = () => true, timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.pending.findIndex(predicate);
        if (i >= 0) {
          const [frame] = this.pending.splice(i, 1);
          done();
          resolve(frame);
        } else if (this.closeInfo) {
          done();
          reject(new Error(`socket closed (${JSON.stringify(this.closeInfo)}) before the awaited frame; got ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching frame within ${timeoutMs} ms; got ${this.describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for the next frame of this `type`. */
  nextOfType(type, timeoutMs) {
    return this.next((f) => f.type === type, timeoutMs);
  }

  /** Resolves with `{ code, reason }` when the socket is closed. */
  closed(timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.closeInfo) {
          done();
          resolve(this.closeInfo);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`socket still open after ${timeoutMs} ms; got ${this.describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Closes from this side and waits for the close to complete. */
  async close(code = 1000, timeoutMs = 10_000) {
    if (!this.closeInfo) this.ws.close(code);
    return this.closed(timeoutMs);
  }

  /** Drops the TCP connection without a close frame (like a crashed tab). */
  terminate() {
    this.ws.terminate();
  }

  describe() {
    const shown = this.frames.slice(-10).map((f) => JSON.stringify(f).slice(0, 200));
    return `${this.frames.length} frame(s), last: [${shown.join(', ')}]`;
  }
}

/**
 * Opens a WebSocket and resolves once it is open (the server may still close it right after). `headers` are sent
 * with the upgrade request; e.g. `{ 'CF-Connecting-IP': '198.51.100.7' }` plays a client from another address
 * (`wrangler dev` keeps a client's own CF-Connecting-IP; on Cloudflare the edge overwrites it).
 */
export function connect(url, { timeoutMs = 10_000, headers } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const socket = new TestSocket(ws);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`WebSocket ${url} did not open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`WebSocket ${url} refused with HTTP ${res.statusCode}`));
      ws.terminate();
    });
    ws.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
