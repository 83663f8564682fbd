// Helpers shared by the benchmarks.
import { rmSync } from 'node:fs';

/** The median of the finite numbers in `xs` (NaN when there are none). */
export function median(xs) {
  const s = xs.filter(Number.isFinite).sort((x, y) => x - y);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Closes browsers opened with `openPeer` and removes their profiles, then the given temporary directories. */
export async function closeAll(peers, dirs = []) {
  for (const p of peers) await p.close();
  for (const p of peers) p.remove();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
