// A long conversation: what the receiving page's main thread spends when a message arrives and while a file
// arrives, and how long a reload takes to show the newest message, with a long history (2,000 messages) against a short one (20), side by side in interleaved rounds, in
// the same two browsers. The figure is CPU time of the page's main thread (CDP `Performance.getMetrics`
// ThreadTime), which does not count the time the thread waits for a core on this shared machine.
//
// The room shows the newest 300 messages at first ("Show earlier messages" brings the others), so the figures also
// say what loading and keeping the whole history costs.
//
// The history is written straight into the receiving browser's IndexedDB (copies of one real message of the room),
// then the page is reloaded, as after months of chatting. Waiting for a message checks only the last row's text,
// so the watching itself stays cheap in a 24,000-element page.
//
//   TWAIN_BENCH_HISTORY_ROUNDS    rounds (default 3); each opens a new room per history length
//   TWAIN_BENCH_HISTORY_MESSAGES  messages arriving per room (default 5)
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPeer } from '../tests/support/browser.mjs';
import { addHistory, send, waitConnected as connected } from '../tests/support/room.mjs';
import { closeAll, median } from './common.mjs';

const ROUNDS = Number(process.env.TWAIN_BENCH_HISTORY_ROUNDS || 3);
const MESSAGES = Number(process.env.TWAIN_BENCH_HISTORY_MESSAGES || 5);
const LENGTHS = [20, 2000];
const FILE_BYTES = 10_000_000;
const T = 120_000;


/** Waits until the conversation's last row contains `text` (cheap: one element looked at per check). */
const lastRowHas = (page, text) =>
  page.waitForFunction((text) => document.querySelector('ol.message-items')?.lastElementChild?.textContent.includes(text), text, {
    polling: 50,
    timeout: T,
  });

async function metrics(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
}

/** One room with a history of `length` messages on B: CPU per arriving message, and during a file. */
async function room(server, a, b, length, filePath, round) {
  await a.page.goto(server.url);
  await a.page.getByRole('button', { name: 'New room' }).click();
  await a.page.waitForURL(/#\/r\//, { timeout: T });
  await b.page.goto(a.page.url());
  await connected(a.page);
  await connected(b.page);
  const seed = `seed ${round}-${length}`;
  await send(a.page, seed);
  await lastRowHas(b.page, seed);
  await addHistory(b.page, seed, length, { link: true, alternate: true });
  const reloaded = performance.now();
  await b.page.reload();
  await lastRowHas(b.page, seed);
  const shown = performance.now() - reloaded;
  await connected(b.page);
  const rows = await b.page.evaluate(() => document.querySelector('ol.message-items').children.length);

  const cdp = await b.context.newCDPSession(b.page);
  await cdp.send('Performance.enable');
  const perMessage = [];
  for (let i = 0; i < MESSAGES; i++) {
    const text = `arriving ${i}`;
    const before = await metrics(cdp);
    await send(a.page, text);
    await lastRowHas(b.page, text);
    const after = await metrics(cdp);
    perMessage.push((after.ThreadTime - before.ThreadTime) * 1000);
  }

  const before = await metrics(cdp);
  const t0 = performance.now();
  await a.page.locator('input[type=file]').first().setInputFiles(filePath);
  await b.page.waitForFunction(
    () => [...document.querySelectorAll('article.file-card')].some((c) => c.textContent.includes('Received ·')),
    null,
    { polling: 100, timeout: T },
  );
  const wall = (performance.now() - t0) / 1000;
  const after = await metrics(cdp);
  await cdp.detach();
  return { rows, shown, perMessage: median(perMessage), file: after.ThreadTime - before.ThreadTime, wall };
}

export async function run({ server }) {
  const dir = mkdtempSync(join(tmpdir(), 'twain-bench-history-'));
  const filePath = join(dir, 'ten.bin');
  writeFileSync(filePath, Buffer.alloc(FILE_BYTES, 7));
  const a = await openPeer('bench-history-a');
  const b = await openPeer('bench-history-b');
  const results = new Map(LENGTHS.map((n) => [n, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const length of LENGTHS) {
        const r = await room(server, a, b, length, filePath, round);
        results.get(length).push(r);
        console.log(
          `   round ${round + 1}, ${String(length).padStart(4)} messages (${r.rows} rows): ` +
            `shown ${r.shown.toFixed(0)} ms after a reload, ${r.perMessage.toFixed(0)} ms per arriving message (median of ${MESSAGES}), ` +
            `${(r.file * 1000).toFixed(0)} ms during a 10 MB file (${r.wall.toFixed(1)} s)`,
        );
      }
    }
  } finally {
    await closeAll([a, b], [dir]);
  }
  const [short, long] = LENGTHS.map((n) => results.get(n));
  const msg = (rs) => median(rs.map((r) => r.perMessage));
  const file = (rs) => median(rs.map((r) => r.file * 1000));
  const shown = (rs) => median(rs.map((r) => r.shown));
  console.log(
    `   receiving page's main thread, CPU (medians): an arriving message ${msg(long).toFixed(0)} ms with ${LENGTHS[1]} ` +
      `messages vs ${msg(short).toFixed(0)} ms with ${LENGTHS[0]} (${(msg(long) / msg(short)).toFixed(1)}x); ` +
      `a 10 MB file ${file(long).toFixed(0)} ms vs ${file(short).toFixed(0)} ms (${(file(long) / file(short)).toFixed(1)}x)`,
  );
  console.log(
    `   reload to the newest message shown (wall clock, medians): ${shown(long).toFixed(0)} ms with ${LENGTHS[1]} messages ` +
      `vs ${shown(short).toFixed(0)} ms with ${LENGTHS[0]}`,
  );
}
