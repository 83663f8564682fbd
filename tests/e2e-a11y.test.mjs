// End-to-end: accessibility, checked by axe-core (the WCAG 2.1 A and AA rules) on every page and state a person
// meets: the start page, a room while waiting, connected with messages and files, the safety code, an incoming and
// a live video call, settings; on a desktop and a phone-sized screen, in light and dark colours. Real wrangler dev
// and headless Chromium; axe runs inside the page on what is rendered at that moment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { screenshot } from './support/browser.mjs';
import { T, suite, status, assertText, messages, createRoom, nameOf, remoteFrames, send, waitConnected, row, replyTo, askDelete } from './support/room.mjs';
import { attachFiles, fileCard, FILE_T } from './support/files.mjs';

const SUITE = 'a11y';
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const PHONE = { width: 375, height: 740 };

const dir = mkdtempSync(join(tmpdir(), 'twain-a11y-'));
const env = suite({ cleanup: () => rmSync(dir, { recursive: true, force: true }), closePeersAfterEach: true });

/** A browser whose pages carry axe-core from their first script on (an init script runs whatever the page allows). */
async function peer(label, opts) {
  const p = await env.peer(label, opts);
  await p.context.addInitScript({ content: AXE });
  return p;
}

/**
 * Runs axe on what `page` shows now and fails with a readable list of what breaks the WCAG 2.1 A/AA rules: each
 * rule, its impact, and the elements it found.
 */
async function audit(page, what) {
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations.map((v) => ({
      rule: v.id,
      impact: v.impact,
      help: v.help,
      where: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`),
    }));
  });
  const report = violations
    .map((v) => `- ${v.rule} (${v.impact}): ${v.help}\n${v.where.map((w) => `    ${w}`).join('\n')}`)
    .join('\n');
  assert.equal(violations.length, 0, `${what}: accessibility problems\n${report}`);
}

/** Audits `page` in light and in dark colours. */
async function auditBoth(page, what) {
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    await audit(page, `${what} (${colorScheme})`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

for (const [kind, viewport] of [
  ['desktop', undefined],
  ['phone', PHONE],
]) {
  test(`${kind}: the start page, a waiting room, a conversation with files, the safety code and settings pass axe`, async () => {
    const a = await peer(`${kind}-a`, viewport && { viewport });
    const b = await peer(`${kind}-b`, viewport && { viewport });
    await a.page.goto(env.server.url);
    await a.page.getByRole('button', { name: 'New room' }).waitFor({ timeout: T });
    await auditBoth(a.page, 'the start page');

    const link = await createRoom(a.page, env.server.url);
    await assertText(status(a.page), /Waiting for the other person/);
    await auditBoth(a.page, 'a room waiting for the other person');

    await b.page.goto(link);
    await waitConnected(a.page);
    await waitConnected(b.page);
    const aName = await nameOf(a.page);
    await send(a.page, 'Hello <b>there</b>, see https://example.com/page');
    await send(b.page, 'hi back');
    // A reply with its quote, and on A's side a reply being written (the quote above the message box).
    const hello = 'Hello <b>there</b>, see https://example.com/page';
    await row(b.page, hello).waitFor({ timeout: T });
    await replyTo(b.page, hello);
    await send(b.page, 'that page, yes');
    await row(a.page, 'that page, yes').getByRole('button', { name: /^In reply to You/ }).waitFor({ timeout: T });
    await replyTo(a.page, 'that page, yes');
    await a.page.getByRole('button', { name: 'Cancel reply' }).waitFor({ timeout: T });
    // And on B's side, the question before deleting a message.
    await askDelete(b.page, 'that page, yes');
    const picture = join(dir, `${kind}-dot.png`);
    writeFileSync(picture, Buffer.from(DOT_PNG, 'base64'));
    const note = join(dir, `${kind}-note.txt`);
    writeFileSync(note, 'a small text file\n');
    await attachFiles(a.page, [picture, note]);
    for (const name of [`${kind}-dot.png`, `${kind}-note.txt`]) {
      await fileCard(b.page, name).getByRole('link', { name: /^Download/ }).waitFor({ timeout: FILE_T });
    }
    await messages(b.page).getByRole('img').first().waitFor({ timeout: T });
    await b.page.getByText(`${aName} is typing…`).waitFor({ state: 'hidden', timeout: T });
    await auditBoth(a.page, "the owner's conversation with files");
    await auditBoth(b.page, "the guest's conversation with files");
    await screenshot(b.page, SUITE, `${kind}-conversation`);

    await b.page.getByRole('button', { name: 'Safety code' }).click();
    await b.page.getByRole('dialog', { name: 'Safety code' }).waitFor({ timeout: T });
    await auditBoth(b.page, 'the safety code');

    await a.page.goto(`${env.server.url}/#/settings`);
    await a.page.getByRole('heading', { name: 'Settings and your data' }).waitFor({ timeout: T });
    await auditBoth(a.page, 'settings');
  });
}

test('an incoming video call, and a live one on a desktop and on a phone, pass axe', async () => {
  const a = await peer('call-a');
  const b = await peer('call-b', { viewport: PHONE });
  await createRoom(a.page, env.server.url);
  await b.page.goto(a.page.url());
  await waitConnected(a.page);
  await waitConnected(b.page);
  const aName = await nameOf(a.page);
  await send(b.page, 'ready when you are');
  await a.page.getByRole('button', { name: 'Start video call' }).click();
  const prompt = b.page.getByRole('dialog', { name: `Incoming video call from ${aName}` });
  await prompt.waitFor({ timeout: T });
  await auditBoth(b.page, 'an incoming call');
  await auditBoth(a.page, 'calling');
  await prompt.getByRole('button', { name: 'Accept' }).click();
  for (const p of [a, b]) {
    await p.page.getByRole('button', { name: 'Hang up', exact: true }).waitFor({ timeout: T });
    await remoteFrames(p.page);
  }
  await auditBoth(a.page, 'a live video call on a desktop');
  await auditBoth(b.page, 'a live video call on a phone');
  await b.page.getByRole('button', { name: 'Hang up', exact: true }).click();
  for (const p of [a, b]) await p.page.getByRole('button', { name: 'Start video call' }).waitFor({ timeout: T });
});

/** A 1x1 PNG: the smallest picture that gets a preview. */
const DOT_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
