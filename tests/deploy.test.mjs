// `wrangler deploy --dry-run` on the repository's wrangler.toml: the deployable bundle builds offline, with the
// Durable Object binding and its migration, without talking to Cloudflare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './support/wrangler.mjs';

function run(cmd, args, env, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

test('wrangler deploy --dry-run bundles the worker offline', { timeout: 300_000 }, async (t) => {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'twain-deploy-'));
  t.after(() => rmSync(outdir, { recursive: true, force: true }));
  const env = {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    NO_COLOR: '1',
    // Only the worker: the client has its own build and tests; an existing dist/ is uploaded as is, a missing
    // one is created empty by `./twain build`.
    TWAIN_BUILD: process.env.TWAIN_BUILD ?? 'worker',
  };
  const wrangler = path.join(ROOT, 'node_modules', '.bin', 'wrangler');
  const { code, signal, out } = await run(wrangler, ['deploy', '--dry-run', '--outdir', outdir], env, 280_000);
  mkdirSync(path.join(ROOT, 'test-output'), { recursive: true });
  writeFileSync(path.join(ROOT, 'test-output', 'deploy-dry-run.log'), out);
  assert.equal(code, 0, `wrangler deploy --dry-run failed (${signal ?? code}):\n${out.slice(-4000)}`);
  assert.match(out, /--dry-run: exiting now/);
  assert.match(out, /env\.ROOMS \(Room\)\s+Durable Object/);
  const files = readdirSync(outdir);
  const wasm = files.find((f) => f.endsWith('.wasm'));
  assert.ok(files.includes('index.js'), `bundle files: ${files.join(', ')}`);
  assert.ok(wasm, `bundle files: ${files.join(', ')}`);
  const kib = statSync(path.join(outdir, wasm)).size / 1024;
  // Workers' free plan caps a compressed bundle at 3 MiB; the signaling worker is a few hundred KiB raw.
  assert.ok(kib < 1024, `worker wasm is ${kib.toFixed(0)} KiB`);
});
