// Size of what a browser downloads (the client wasm, raw and gzipped) and of the worker.
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { ROOT } from '../tests/support/wrangler.mjs';

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

export async function run() {
  const rows = [];
  const add = (label, file) => {
    if (!existsSync(file)) return;
    const bytes = readFileSync(file);
    rows.push([label, kib(bytes.length), kib(gzipSync(bytes, { level: 9 }).length)]);
  };
  add('client wasm', path.join(ROOT, 'dist/pkg/twain_client_bg.wasm'));
  add('client JS glue', path.join(ROOT, 'dist/pkg/twain_client.js'));
  add('client CSS', path.join(ROOT, 'dist/style.css'));
  const workerDir = path.join(ROOT, 'signaling-worker/build');
  if (existsSync(workerDir)) {
    const walk = (dir) =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
      );
    for (const f of walk(workerDir).filter((f) => f.endsWith('.wasm'))) add('worker wasm', f);
  }
  console.log(`   ${'artifact'.padEnd(16)} ${'raw'.padStart(12)} ${'gzip -9'.padStart(12)}`);
  for (const [label, raw, gz] of rows) console.log(`   ${label.padEnd(16)} ${raw.padStart(12)} ${gz.padStart(12)}`);
}
