// Time from opening a room link to the data channel being open, as a person experiences it: A waits in a room,
// B opens the link and we measure until B's page says "Connected to …". Cold = a brand-new browser profile
// (downloads and compiles the wasm, creates an identity); warm = a reload of the same page.
import { openPeer } from '../tests/support/browser.mjs';
import { waitConnected as connected } from '../tests/support/room.mjs';
import { median } from './common.mjs';

const RUNS = Number(process.env.TWAIN_BENCH_CONNECT_RUNS || 7);
const T = 60_000;


export async function run({ server }) {
  const a = await openPeer('bench-a');
  const cold = [];
  const warm = [];
  try {
    await a.page.goto(server.url);
    await a.page.getByRole('button', { name: 'New room' }).click();
    await a.page.waitForURL(/#\/r\//, { timeout: T });
    const link = a.page.url();
    for (let i = 0; i < RUNS; i++) {
      const b = await openPeer(`bench-b${i}`);
      try {
        let t0 = performance.now();
        await b.page.goto(link);
        await connected(b.page);
        cold.push(performance.now() - t0);
        t0 = performance.now();
        await b.page.reload();
        await connected(b.page);
        warm.push(performance.now() - t0);
      } finally {
        await b.close();
        b.remove();
      }
      // Wait until A has seen B go, so the next run starts from "waiting".
      await a.page.locator('.room-title').getByRole('status').filter({ hasText: /left$|Waiting/ }).waitFor({ timeout: T });
    }
  } finally {
    await a.close();
    a.remove();
  }
  const fmt = (xs) =>
    `median ${median(xs).toFixed(0)} ms  (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n=${xs.length})`;
  console.log(`   open link -> data channel open, new browser profile: ${fmt(cold)}`);
  console.log(`   open link -> data channel open, page reload:         ${fmt(warm)}`);
}
