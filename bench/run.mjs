// `./twain bench`: runs every benchmark against one real `wrangler dev` and prints their figures.
// Figures are printed, never asserted. Runs inside a loopback-only network namespace (see ./twain).
//
//   ./twain bench            all benchmarks
//   ./twain bench connect    only the named ones (connect, size, files, history, load)
import { startWrangler } from '../tests/support/wrangler.mjs';

const all = {
  size: () => import('./size.mjs'),
  connect: () => import('./connect.mjs'),
  files: () => import('./files.mjs'),
  history: () => import('./history.mjs'),
  load: () => import('./load.mjs'),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length ? wanted : Object.keys(all);
for (const n of names) {
  if (!all[n]) {
    console.error(`unknown benchmark "${n}"; known: ${Object.keys(all).join(', ')}`);
    process.exit(2);
  }
}

// Loaded before wrangler dev starts: a benchmark may put static assets in place when it loads (files.mjs does).
const modules = new Map();
for (const name of names) {
  try {
    modules.set(name, await all[name]());
  } catch (e) {
    if (e.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    console.log(`\n== ${name}: not available in this checkout`);
  }
}

const server = await startWrangler();
let failed = false;
try {
  for (const [name, mod] of modules) {
    console.log(`\n== ${name}`);
    try {
      await mod.run({ server });
    } catch (e) {
      failed = true;
      console.log(`   ${name} failed: ${e.stack || e}`);
    }
  }
} finally {
  await server.stop();
}
process.exit(failed ? 1 : 0);
