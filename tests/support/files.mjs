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
