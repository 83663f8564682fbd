// End-to-end: the room owner removes and bans the other person from the UI. Real wrangler dev (workerd), real
// headless Chromium, real IndexedDB and RTCPeerConnections, located by roles and visible text. Screenshots go to
// test-output/moderation/.
//
// "Resetting the identity" is done by deleting the app's IndexedDB database (`twain`) from the page and reloading:
// the app then makes a brand-new identity, as a person clearing the site's data would get.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshot } from './support/browser.mjs';
import { T, suite, status, assertText, waitConnected, nameOf, storedIdentity } from './support/room.mjs';

const SUITE = 'moderation';
const REMOVED = 'The owner of this room removed you from it.';
const BANNED = 'The owner of this room has banned you. You cannot join it again.';

const env = suite();

/** A browser whose pages record every RTCPeerConnection they create, so tests can see them closed. */
async function peer(label) {
  const p = await env.peer(label);
  await p.context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    window.__pcs = [];
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        window.__pcs.push(this);
      }
    };
  });
  return p;
}

const ownerTools = (page) => page.getByRole('region', { name: 'Room owner' });
const connectionAlert = (page, text) => page.getByRole('alert').filter({ hasText: text });

/** Waits until every peer connection the page ever made is closed (none left open). */
async function allPeerConnectionsClosed(page) {
  await page.waitForFunction(
    () => window.__pcs.length > 0 && window.__pcs.every((pc) => pc.signalingState === 'closed'),
    null,
    { timeout: T },
  );
}

async function openPeerConnections(page) {
  return page.evaluate(() => window.__pcs.filter((pc) => pc.signalingState !== 'closed').length);
}

/** Deletes the app's whole database (identity, rooms, history), as clearing the site's data would. */
function deleteAppDatabase(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const req = indexedDB.deleteDatabase('twain');
        req.onsuccess = () => resolve();
        req.onerror = () => reject(req.error);
      }),
  );
}

test('the owner removes the peer (who rejoins), then bans them: the ban holds across reloads and a new identity until lifted', async () => {
  // A creates the room and is its owner; B joins.
  const a = await peer('owner');
  await a.page.goto(env.server.url);
  await a.page.getByRole('button', { name: 'New room' }).click();
  await a.page.waitForURL(/#\/r\/[A-Za-z0-9_-]{22}$/, { timeout: T });
  const link = a.page.url();
  // Alone in the room, the owner has nothing to remove or lift: no owner tools take room yet.
  await assertText(status(a.page), /Waiting for the other person/);
  assert.equal(await ownerTools(a.page).count(), 0, 'no owner tools while nobody else is here');
  const b = await peer('guest');
  await b.page.goto(link);
  await waitConnected(a.page);
  await waitConnected(b.page);
  const bobName = await nameOf(b.page);
  await ownerTools(a.page).getByRole('button', { name: 'Ban', exact: true }).waitFor({ timeout: T });
  assert.equal(await ownerTools(b.page).count(), 0, 'the guest has no owner tools');
  await screenshot(a.page, SUITE, 'owner-tools');

  // By keyboard: the question takes the focus on its safe answer, and Escape gives it back to the button.
  const focused = () => a.page.evaluate(() => document.activeElement?.textContent.trim());
  await ownerTools(a.page).getByRole('button', { name: 'Remove', exact: true }).focus();
  await a.page.keyboard.press('Enter');
  const confirmRemove = a.page.getByRole('alertdialog', { name: 'Confirm' });
  await confirmRemove.waitFor({ timeout: T });
  assert.equal(await focused(), 'Cancel');
  await a.page.keyboard.press('Escape');
  await confirmRemove.waitFor({ state: 'detached', timeout: T });
  assert.equal(await focused(), 'Remove');

  // Remove: confirmation, then B is out with a "Rejoin" button and both peer connections are closed.
  await ownerTools(a.page).getByRole('button', { name: 'Remove', exact: true }).click();
  await confirmRemove.getByText(`Remove ${bobName} from the room?`).waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'confirm-remove');
  await confirmRemove.getByRole('button', { name: 'Yes, remove' }).focus();
  await a.page.keyboard.press('Enter');
  // The buttons go with the person: the focus moves to the owner's panel, where the outcome is said.
  await a.page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Room owner', null, { timeout: T });
  await connectionAlert(b.page, REMOVED).waitFor({ timeout: T });
  await assertText(status(a.page), /left$/);
  await ownerTools(a.page).getByText(`You removed ${bobName} from the room.`).waitFor({ timeout: T });
  await allPeerConnectionsClosed(a.page);
  await allPeerConnectionsClosed(b.page);
  await screenshot(b.page, SUITE, 'removed');

  await connectionAlert(b.page, REMOVED).getByRole('button', { name: 'Rejoin' }).click();
  await waitConnected(a.page);
  await waitConnected(b.page);

  // The owner stays the owner across a reload (its key is in its IndexedDB).
  await a.page.reload();
  await waitConnected(a.page);
  await waitConnected(b.page);
  await ownerTools(a.page).getByRole('button', { name: 'Ban', exact: true }).waitFor({ timeout: T });

  // Ban: confirmation, then B is out for good (no button to try again) and both peer connections are closed.
  await ownerTools(a.page).getByRole('button', { name: 'Ban', exact: true }).click();
  const confirmBan = a.page.getByRole('alertdialog', { name: 'Confirm' });
  await confirmBan.getByText(`Ban ${bobName}?`).waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'confirm-ban');
  await confirmBan.getByRole('button', { name: 'Yes, ban' }).click();
  await connectionAlert(b.page, BANNED).waitFor({ timeout: T });
  assert.equal(await connectionAlert(b.page, BANNED).getByRole('button').count(), 0, 'nothing to retry when banned');
  await assertText(status(a.page), /left$/);
  await allPeerConnectionsClosed(a.page);
  await allPeerConnectionsClosed(b.page);
  await screenshot(b.page, SUITE, 'banned');
  await ownerTools(a.page).getByText(`You banned ${bobName} from this room.`).waitFor({ timeout: T });
  await ownerTools(a.page).getByText('Bans (1)').click();
  await ownerTools(a.page).getByRole('listitem').filter({ hasText: bobName }).waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'owner-bans');

  // B reloads: still banned, and never gets a peer connection.
  await b.page.reload();
  await connectionAlert(b.page, BANNED).waitFor({ timeout: T });
  assert.equal(await openPeerConnections(b.page), 0);

  // B resets its identity (deletes the app's database) and tries again: same network, still banned.
  const oldIdentity = await storedIdentity(b.page);
  await deleteAppDatabase(b.page);
  await b.page.goto(env.server.url);
  await b.page.getByRole('button', { name: 'New room' }).waitFor({ timeout: T });
  const newIdentity = await storedIdentity(b.page);
  assert.ok(oldIdentity && newIdentity && newIdentity !== oldIdentity, `identity ${oldIdentity} -> ${newIdentity}`);
  await b.page.goto(link);
  await connectionAlert(b.page, BANNED).waitFor({ timeout: T });
  assert.equal(await openPeerConnections(b.page), 0);
  await screenshot(b.page, SUITE, 'banned-new-identity');
  // The owner was never disturbed meanwhile.
  await assertText(status(a.page), /left$/);

  // The owner lifts the ban; B (with its new identity) gets in.
  await ownerTools(a.page).getByRole('button', { name: `Lift ban on ${bobName}` }).click();
  await ownerTools(a.page).getByText('Bans (0)').waitFor({ timeout: T });
  await ownerTools(a.page).getByText('Nobody is banned from this room.').waitFor({ timeout: T });
  await b.page.reload();
  await waitConnected(b.page);
  await waitConnected(a.page);
  await screenshot(a.page, SUITE, 'ban-lifted');

  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});
