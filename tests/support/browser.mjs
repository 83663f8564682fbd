// Headless Debian Chromium for end-to-end tests, driven by playwright-core. Each peer gets its own fresh
// profile directory (so its own IndexedDB), which can be reopened to simulate a browser restart.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.TWAIN_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=Translate,MediaRouter,OptimizationHints',
  // WebRTC on loopback only; inside the test network namespace candidates appear only with the fake-UI flag.
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

export const OUTPUT_DIR = join(process.cwd(), 'test-output');
mkdirSync(OUTPUT_DIR, { recursive: true });

/** A fresh, empty profile directory. */
export function freshProfile(label) {
  return mkdtempSync(join(tmpdir(), `twain-${label}-`));
}

/**
 * Opens a browser on a profile directory. Returns { context, page, profile, errors, close }.
 * `errors` collects console errors and uncaught page errors, so tests can assert a clean console.
 */
export async function openPeer(label, { profile = freshProfile(label), viewport = { width: 1100, height: 800 } } = {}) {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    // Camera and microphone must be granted: Chromium only offers its 127.0.0.1 host candidates to pages
    // allowed to capture media, and inside the loopback-only test namespace there is no other address.
    permissions: ['clipboard-read', 'clipboard-write', 'camera', 'microphone'],
  });
  const errors = [];
  const watch = (page) => {
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`[${label}] console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => errors.push(`[${label}] page error: ${err.message}`));
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  return {
    label,
    context,
    page,
    profile,
    errors,
    async close() {
      await context.close().catch(() => {});
    },
    remove() {
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

let shotIndex = 0;
/** Writes a numbered screenshot under test-output/<suite>/. */
export async function screenshot(page, suite, name) {
  const dir = join(OUTPUT_DIR, suite);
  mkdirSync(dir, { recursive: true });
  shotIndex += 1;
  const file = join(dir, `${String(shotIndex).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
