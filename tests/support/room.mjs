// Shared pieces of the end-to-end suites: one wrangler dev per test file, peers that are cleaned up, and the room
// page as a person sees it (located by roles and visible text).
import { before, after, afterEach } from 'node:test';
import { startWrangler } from './wrangler.mjs';
import { openPeer } from './browser.mjs';

/** Generous per-step timeout: a noisy 2-core machine. */
export const T = 60_000;

/**
 * Registers before/after hooks for a test file: a fresh `wrangler dev` and a list of peers closed at the end (or,
 * with `closePeersAfterEach`, after each test: browsers with fake camera streams are a lot for 2 cores).
 * Returns `{ server, peer(label, opts), restart() }`; `server` always points at the running wrangler.
 */
export function suite({ cleanup, closePeersAfterEach = false } = {}) {
  const env = {
    server: null,
    peers: [],
    async peer(label, opts) {
      const p = await openPeer(label, opts);
      env.peers.push(p);
      return p;
    },
    /** Stops wrangler, runs `whileDown`, then starts it again on the same port and state. */
    async restart(whileDown = async () => {}) {
      const { port, persistDir } = env.server;
      await env.server.stop();
      await whileDown();
      env.server = await startWrangler({ port, persistDir });
    },
  };
  const closePeers = async () => {
    while (env.peers.length) {
      const p = env.peers.pop();
      await p.close();
      p.remove();
    }
  };
  before(async () => {
    env.server = await startWrangler();
  });
  if (closePeersAfterEach) afterEach(closePeers);
  after(async () => {
    await closePeers();
    await env.server?.stop();
    await cleanup?.();
  });
  return env;
}

/** The connection-state pill of the room page. */
export const status = (page) => page.locator('.room-title').getByRole('status');

/** The conversation. */
export const messages = (page) => page.getByRole('log', { name: 'Messages' });

/** Waits until some element of `locator` shows text matching `re`. */
export async function assertText(locator, re, timeout = T) {
  await locator.filter({ hasText: re }).first().waitFor({ state: 'visible', timeout });
}

export async function waitConnected(page, timeout = T) {
  await assertText(status(page), /^Connected to /, timeout);
}

/** Presses "New room" on the landing page at `url` and returns the room link. */
export async function createRoom(page, url) {
  await page.goto(url);
  await page.getByRole('button', { name: 'New room' }).click();
  await page.waitForURL(/#\/r\/[A-Za-z0-9_-]{22}$/, { timeout: T });
  return page.url();
}

/** Opens a room in `a` (its creator) and in `b`, and waits until both are connected. Returns the link. */
export async function connectPair(a, b, url) {
  const link = await createRoom(a.page, url);
  await b.page.goto(link);
  await waitConnected(a.page);
  await waitConnected(b.page);
  return link;
}

/** The display name a room page says we appear as. */
export async function nameOf(page) {
  const text = await page.locator('summary').filter({ hasText: /^You appear as / }).textContent({ timeout: T });
  return text.replace('You appear as ', '').trim();
}

/** Renames this browser's identity from the room page ("You appear as ..."). */
export async function rename(page, name) {
  await page.locator('summary').filter({ hasText: /^You appear as / }).click();
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Save name' }).click();
}

/** The remote <video> of a call plays frames from the other side. */
export async function remoteFrames(page) {
  await page.waitForFunction(() => document.querySelector('video[aria-label^="Video from"]')?.videoWidth > 0, null, {
    timeout: T,
  });
}

/** The row of the conversation whose message text is exactly `text` (not a quote of it). */
export function row(page, text) {
  const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  return messages(page)
    .getByRole('listitem')
    .filter({ has: page.getByRole('paragraph').filter({ hasText: exact }) });
}

/** Presses one of the buttons of the message `text` (named `name`), which show when a person points at it. */
export async function messageAction(page, text, name) {
  const r = row(page, text);
  await r.hover();
  await r.getByRole('button', { name }).click();
}

/** Presses Reply on the message `text`. */
export const replyTo = (page, text) => messageAction(page, text, /^Reply to /);

/** Presses Edit on my message `text`. */
export const startEdit = (page, text) => messageAction(page, text, /^Edit /);

/** Presses Delete on the message `text`; returns the question that comes up in it. */
export async function askDelete(page, text) {
  await messageAction(page, text, /^Delete /);
  const question = row(page, text).getByRole('group', { name: 'Delete this message' });
  await question.waitFor({ timeout: T });
  return question;
}

/** Types a message into the composer and sends it with Enter. */
export async function send(page, text) {
  const box = page.getByRole('textbox', { name: 'Message' });
  // The composer is disabled for a moment whenever the connection is replaced (say the signaling server came back
  // and introduced the pair again), and text typed or an Enter pressed just then is lost, as a person would see.
  // So: type, check the text is there, press Enter, and wait until the box is empty (sent) or disabled (the
  // Enter was lost: the text is still there); in that case type and send again once it is enabled.
  for (let attempt = 1; attempt <= 5; attempt++) {
    await box.fill(text);
    if ((await box.inputValue()) !== text) continue;
    await box.press('Enter');
    const el = await box.elementHandle();
    await page.waitForFunction((area) => area.value === '' || area.disabled, el, { timeout: T });
    if ((await box.inputValue()) === '') return;
  }
  throw new Error(`could not send "${text}": the composer kept being disabled`);
}

/** What this browser's IndexedDB `twain` holds in `store`: the record at `key`, or every record without one. */
export function readStore(page, store, key) {
  return page.evaluate(
    ([store, key]) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('twain');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const objects = db.transaction(store).objectStore(store);
          const req = key === undefined ? objects.getAll() : objects.get(key);
          req.onerror = () => reject(req.error);
          req.onsuccess = () => (db.close(), resolve(req.result ?? null));
        };
      }),
    [store, key],
  );
}

/** The identity id this browser stores (IndexedDB `twain`, store `identity`, key `me`). */
export async function storedIdentity(page) {
  return (await readStore(page, 'identity', 'me'))?.peer_id ?? null;
}

/** Every message record this browser stores. */
export const storedMessages = (page) => readStore(page, 'messages');

/** Writes `n` messages into this browser's IndexedDB, older than the room's message `seed` and in order: copies of
 * its record saying "History 0", "History 1"... (with a web address each when `link`; every other one written by
 * this browser when `alternate`). Months of chatting, in a moment; reload the page to see them. Their keys are the
 * seed's with `h<k>` added to its message id, so two browsers that both have the seed get the same conversation. */
export function addHistory(page, seed, n, { link = false, alternate = false } = {}) {
  return page.evaluate(
    ([seed, n, link, alternate]) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('twain');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const tx = db.transaction('messages', 'readwrite');
          const store = tx.objectStore('messages');
          const all = store.getAll();
          all.onsuccess = () => {
            const model = all.result.filter((m) => m.text === seed).sort((x, y) => y.ts - x.ts)[0];
            for (let k = 0; k < n; k++) {
              store.put({
                ...model,
                id: `${model.id}h${k}`,
                from_me: alternate ? k % 2 === 0 : model.from_me,
                text: link ? `History ${k}, with a link: https://example.com/${k}` : `History ${k}`,
                ts: model.ts - (n - k) * 60_000,
              });
            }
          };
          tx.oncomplete = () => (db.close(), resolve());
          tx.onerror = () => reject(tx.error);
        };
      }),
    [seed, n, link, alternate],
  );
}
