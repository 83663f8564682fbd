// File cards and progress bars of the room page, found by role and accessible name (shared by the end-to-end
// suites that move files).
import assert from 'node:assert/strict';
import { messages } from './room.mjs';

/** Generous: a noisy 2-core machine moving tens of megabytes. */
export const FILE_T = 120_000;

/** The conversation's card of the file named `name`. */
export const fileCard = (page, name) => messages(page).getByRole('article', { name: `File ${name}`, exact: true });

/** Picks files with the "Attach file" button and the browser's file chooser. */
export async function attachFiles(page, paths) {
  const [chooser] = await Promise.all([
    page.waitForEvent('filechooser', { timeout: FILE_T }),
    page.getByRole('button', { name: 'Attach file' }).click(),
  ]);
  assert.ok(chooser.isMultiple(), 'several files can be picked at once');
  await chooser.setFiles(paths);
}

/** The percentage the progress bar named `label` shows now, or null when there is none. */
export async function percent(page, label) {
  const bar = page.getByRole('progressbar', { name: label, exact: true });
  if ((await bar.count()) === 0) return null;
  const value = await bar.first().getAttribute('aria-valuenow', { timeout: 1000 }).catch(() => null);
  return value === null ? null : Number(value);
}

/** Waits until the progress bar named `label` shows at least `min` percent (and less than `below`). */
export async function waitPercent(page, label, min, below = 101) {
  await page.waitForFunction(
    ([label, min, below]) => {
      const bar = [...document.querySelectorAll('[role=progressbar]')].find((e) => e.getAttribute('aria-label') === label);
      const v = bar && Number(bar.getAttribute('aria-valuenow'));
      return bar && v >= min && v < below;
    },
    [label, min, below],
    { timeout: FILE_T, polling: 50 },
  );
  return percent(page, label);
}

/** Runs one IndexedDB request on Twain's database, in the page: `what` is 'files' (every file record) or
 * 'parts' (the number of stored parts of the transfer `id`). */
export function queryDb(page, what, id) {
  return page.evaluate(
    ([what, id]) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('twain');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const req =
            what === 'files'
              ? db.transaction('files').objectStore('files').getAll()
              : db.transaction('chunks').objectStore('chunks').count(IDBKeyRange.bound([id, -Infinity], [id, Infinity]));
          req.onerror = () => reject(req.error);
          req.onsuccess = () => {
            db.close();
            resolve(req.result);
          };
        };
      }),
    [what, id],
  );
}

/** The stored record of the file named `name` in this browser, if any. */
export async function fileRecord(page, name) {
  return (await queryDb(page, 'files')).find((f) => f.name === name);
}

/** Bytes of the file named `name` that this browser has stored (its IndexedDB record; 0 when there is none). */
export async function storedBytes(page, name) {
  return (await fileRecord(page, name))?.bytes_done ?? 0;
}

/** Waits until this browser has stored part of the incoming file named `name` (the progress bar counts bytes
 * received; what is stored trails it by the batch being filled and any being written). Returns the bytes stored. */
export async function waitSomeStored(page, name) {
  const deadline = Date.now() + FILE_T;
  for (;;) {
    const bytes = await storedBytes(page, name);
    if (bytes > 0) return bytes;
    assert.ok(Date.now() < deadline, `nothing of ${name} was stored within ${FILE_T / 1000} s`);
    await page.waitForTimeout(100);
  }
}
