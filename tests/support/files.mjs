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

/** Bytes of the file named `name` that this browser has stored (its IndexedDB record; 0 when there is none). */
export function storedBytes(page, name) {
  return page.evaluate(
    (name) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('twain');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const all = db.transaction('files').objectStore('files').getAll();
          all.onerror = () => reject(all.error);
          all.onsuccess = () => {
            db.close();
            const file = all.result.find((f) => f.name === name);
            resolve(file ? file.bytes_done : 0);
          };
        };
      }),
    name,
  );
}

/** Waits until this browser has stored part of the incoming file named `name` (the progress bar counts bytes
 * received, up to one ~4 MiB batch ahead of what is stored). Returns the bytes stored. */
export async function waitSomeStored(page, name) {
  const deadline = Date.now() + FILE_T;
  for (;;) {
    const bytes = await storedBytes(page, name);
    if (bytes > 0) return bytes;
    assert.ok(Date.now() < deadline, `nothing of ${name} was stored within ${FILE_T / 1000} s`);
    await page.waitForTimeout(100);
  }
}
