// End-to-end: audio and video calls between the two peers, on the pairing's existing peer connection. Real wrangler
// dev, real headless Chromium with fake camera and microphone (a 640x480 test pattern and a beep), located by roles
// and visible text. Screenshots go to test-output/calls/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { screenshot } from './support/browser.mjs';
import { T, suite, messages, connectPair, nameOf, rename, remoteFrames, send, waitConnected } from './support/room.mjs';

const SUITE = 'calls';

// Each test's browsers close when it ends: two Chromiums with fake camera streams are plenty for 2 cores.
const env = suite({ closePeersAfterEach: true });

const button = (page, name) => page.getByRole('button', { name, exact: true });
const remoteVideo = (page) => page.locator('video[aria-label^="Video from"]');

/** Two people in a fresh room, connected peer to peer. `aInit` / `bInit` run in their pages before the app. */
async function pairUp(label, { aInit, bInit, aViewport, bViewport } = {}) {
  const a = await env.peer(`${label}-a`, aViewport ? { viewport: aViewport } : undefined);
  const b = await env.peer(`${label}-b`, bViewport ? { viewport: bViewport } : undefined);
  if (aInit) await a.context.addInitScript(aInit);
  if (bInit) await b.context.addInitScript(bInit);
  await connectPair(a, b, env.server.url);
  return { a, b, aName: await nameOf(a.page), bName: await nameOf(b.page) };
}

/** A starts a call and B accepts it; returns once both sides are in the call. */
async function callAndAccept(a, b, aName, { video = true } = {}) {
  await button(a.page, video ? 'Start video call' : 'Start audio call').click();
  const prompt = b.page.getByRole('dialog', { name: `Incoming ${video ? 'video' : 'audio'} call from ${aName}` });
  await prompt.waitFor({ timeout: T });
  await prompt.getByRole('button', { name: 'Accept' }).click();
  await prompt.waitFor({ state: 'detached', timeout: T });
  for (const p of [a, b]) await button(p.page, 'Hang up').waitFor({ timeout: T });
}

/** The remote stream carries a live audio track. */
async function remoteAudioLive(page) {
  await page.waitForFunction(
    () => {
      const stream = document.querySelector('video[aria-label^="Video from"]')?.srcObject;
      const audio = stream?.getAudioTracks?.()[0];
      return audio?.readyState === 'live';
    },
    null,
    { timeout: T },
  );
}

/** `from` sends a chat message and `to` receives it. */
async function say(from, to, text) {
  await send(from.page, text);
  await messages(to.page).getByText(text, { exact: true }).waitFor({ timeout: T });
}

async function historyLine(page, text) {
  await messages(page).getByText(text).first().waitFor({ timeout: T });
}

/**
 * Asserts that, without scrolling, `page` shows the call's picture, its Hang up button, the composer and the
 * newest message `newest` inside a conversation at least `minLog` px tall. Returns the picture's and the
 * conversation's boxes.
 */
async function callAndChatOnScreen(page, newest, minLog) {
  const { height } = page.viewportSize();
  const log = await messages(page).boundingBox();
  const boxes = {
    picture: await remoteVideo(page).boundingBox(),
    'Hang up': await button(page, 'Hang up').boundingBox(),
    composer: await page.getByRole('textbox', { name: 'Message' }).boundingBox(),
  };
  for (const [what, box] of Object.entries(boxes)) {
    assert.ok(box.y >= 0 && box.y + box.height <= height + 1, `${what} on screen: ${box.y}..${box.y + box.height} of ${height}`);
  }
  assert.ok(log.height >= minLog && log.y >= 0, `the conversation has room during the call (${log.height}px)`);
  const last = await messages(page).getByText(newest, { exact: true }).boundingBox();
  assert.ok(last.y >= log.y && last.y + last.height <= log.y + log.height + 1, 'the newest message is in view');
  return { picture: boxes.picture, log };
}

function noOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

test('A video-calls B: B sees and hears A, mute and camera-off show on the other side, hang-up ends it for both', async () => {
  const { a, b, aName, bName } = await pairUp('video');

  await button(a.page, 'Start video call').click();
  await a.page.getByText(`Calling ${bName}…`).waitFor({ timeout: T });
  const prompt = b.page.getByRole('dialog', { name: `Incoming video call from ${aName}` });
  await prompt.waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'calling');
  await screenshot(b.page, SUITE, 'incoming-prompt');
  await prompt.getByRole('button', { name: 'Accept' }).click();
  for (const p of [a, b]) await button(p.page, 'Hang up').waitFor({ timeout: T });

  // Media flows both ways on the existing connection: frames and a live audio track.
  await remoteFrames(b.page);
  await remoteAudioLive(b.page);
  await remoteFrames(a.page);
  await remoteAudioLive(a.page);
  assert.equal(await remoteVideo(b.page).getAttribute('aria-label'), `Video from ${aName}`);
  await b.page.getByRole('status').filter({ hasText: /In call with .* · \d+:\d\d/ }).waitFor({ timeout: T });
  for (const p of [a, b]) await historyLine(p.page, 'Video call started');
  await b.page.getByLabel('Call duration').filter({ hasText: /^0:0[1-9]|^0:[1-5]\d/ }).waitFor({ timeout: T });
  await screenshot(b.page, SUITE, 'in-call');

  // Mute: B is told; A's button flips; unmute clears it.
  await button(a.page, 'Mute microphone').click();
  await b.page.getByText(`${aName}'s microphone is muted`).waitFor({ timeout: T });
  await button(a.page, 'Unmute microphone').waitFor({ timeout: T });
  await screenshot(b.page, SUITE, 'peer-muted');
  await button(a.page, 'Unmute microphone').click();
  await b.page.getByText(`${aName}'s microphone is muted`).waitFor({ state: 'hidden', timeout: T });

  // Camera off: B sees a clear state instead of a frozen picture; camera on brings frames back.
  await button(a.page, 'Turn camera off').click();
  await b.page.getByText(`${aName}'s camera is off`).waitFor({ timeout: T });
  await button(a.page, 'Turn camera on').waitFor({ timeout: T });
  await screenshot(b.page, SUITE, 'peer-camera-off');
  await button(a.page, 'Turn camera on').click();
  await b.page.getByText(`${aName}'s camera is off`).waitFor({ state: 'hidden', timeout: T });
  await remoteFrames(b.page);

  // Chat keeps working during the call, both ways.
  await say(a, b, 'can you hear me?');
  await say(b, a, 'loud and clear');

  // On a desktop screen (1100x800) the picture and the conversation stand side by side, both whole.
  const { picture, log } = await callAndChatOnScreen(a.page, 'loud and clear', 200);
  assert.ok(picture.x + picture.width <= log.x, 'the picture is beside the conversation, not above it');
  assert.ok(picture.height >= 400, `the picture takes the window's height (${picture.height}px)`);
  await screenshot(a.page, SUITE, 'desktop-call-and-chat');

  // A hangs up: the call ends on both sides, with its duration in the history.
  await button(a.page, 'Hang up').click();
  for (const p of [a, b]) {
    await button(p.page, 'Start video call').waitFor({ timeout: T });
    await historyLine(p.page, /^Call ended · \d+:\d\d$/);
    assert.equal(await remoteVideo(p.page).count(), 0);
  }
  await screenshot(a.page, SUITE, 'after-hang-up');
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

test('a declined call shows as declined, a cancelled one as missed', async () => {
  const { a, b, aName } = await pairUp('decline');

  await button(a.page, 'Start audio call').click();
  const prompt = b.page.getByRole('dialog', { name: `Incoming audio call from ${aName}` });
  await prompt.waitFor({ timeout: T });
  await prompt.getByRole('button', { name: 'Decline' }).click();
  for (const p of [a, b]) {
    await historyLine(p.page, 'Call declined');
    await button(p.page, 'Start audio call').waitFor({ timeout: T });
  }
  await prompt.waitFor({ state: 'detached', timeout: T });
  await screenshot(a.page, SUITE, 'declined');

  // A gives up before B answers: B has a missed call.
  await button(a.page, 'Start video call').click();
  await b.page.getByRole('dialog', { name: `Incoming video call from ${aName}` }).waitFor({ timeout: T });
  await button(a.page, 'Hang up').click();
  await historyLine(b.page, `Missed call from ${aName}`);
  await historyLine(a.page, 'Call cancelled');
  await b.page.getByRole('dialog').waitFor({ state: 'detached', timeout: T });
  await screenshot(b.page, SUITE, 'missed');
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

test('both calling at once connects one call', async () => {
  const { a, b } = await pairUp('glare');
  await Promise.all([button(a.page, 'Start video call').click(), button(b.page, 'Start video call').click()]);
  for (const p of [a, b]) {
    await button(p.page, 'Hang up').waitFor({ timeout: T });
    await remoteFrames(p.page);
    await remoteAudioLive(p.page);
    await historyLine(p.page, 'Video call started');
  }
  for (const p of [a, b]) {
    assert.equal(await p.page.getByRole('dialog').count(), 0, `no prompt left in ${p.label}`);
    assert.equal(await messages(p.page).getByText('Video call started').count(), 1, `one call in ${p.label}`);
  }
  await button(b.page, 'Hang up').click();
  for (const p of [a, b]) await historyLine(p.page, /^Call ended · /);
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

test('a file transfer completes during a call, and screen sharing replaces the camera and hands back', async () => {
  const { a, b, aName } = await pairUp('transfer');
  await callAndAccept(a, b, aName);
  await remoteFrames(b.page);

  const bytes = randomBytes(3 * 1024 * 1024 + 123);
  await a.page.getByLabel('Files to send').setInputFiles({
    name: 'during-call.bin',
    mimeType: 'application/octet-stream',
    buffer: bytes,
  });
  await b.page.getByRole('article', { name: 'File during-call.bin' }).getByText(/^Received · /).waitFor({ timeout: T });
  await a.page.getByRole('article', { name: 'File during-call.bin' }).getByText(/^Delivered · /).waitFor({ timeout: T });
  // The call went on meanwhile.
  await button(b.page, 'Hang up').waitFor({ timeout: T });
  await remoteFrames(b.page);
  await screenshot(b.page, SUITE, 'file-during-call');

  // Screen share (the fake UI picks a screen by itself) replaces the camera; stopping hands back to it.
  await button(a.page, 'Share screen').click();
  await button(a.page, 'Stop sharing').waitFor({ timeout: T });
  await b.page.getByText(`${aName} is sharing their screen`).waitFor({ timeout: T });
  await remoteFrames(b.page);
  await screenshot(b.page, SUITE, 'screen-shared');
  await button(a.page, 'Stop sharing').click();
  await b.page.getByText(`${aName} is sharing their screen`).waitFor({ state: 'hidden', timeout: T });
  await button(a.page, 'Turn camera off').waitFor({ timeout: T });
  await remoteFrames(b.page);

  await button(b.page, 'Hang up').click();
  for (const p of [a, b]) await historyLine(p.page, /^Call ended · /);
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

test('the call ends cleanly when the peer reloads, and the next call works on the new connection (phone-sized)', async () => {
  const phone = { width: 375, height: 740 };
  const { a, b, aName: firstName, bName: bFirst } = await pairUp('reload', { aViewport: phone, bViewport: phone });
  // Long names (the longest allowed) wrap the titles, status lines and notes onto more lines.
  const aName = 'Maximiliana Bartholomew Featherstonehaugh'.slice(0, 40);
  const bName = 'Bartholomew Maximiliana Featherstonehaugh'.slice(0, 40);
  await rename(a.page, aName);
  await historyLine(b.page, `${firstName} is now called ${aName}.`);
  await rename(b.page, bName);
  await historyLine(a.page, `${bFirst} is now called ${bName}.`);
  await callAndAccept(a, b, aName);
  for (const p of [a, b]) {
    await remoteFrames(p.page);
    const overflow = await noOverflow(p.page);
    assert.ok(overflow <= 0, `${p.label}: no horizontal scrolling on a phone during a call (overflow ${overflow}px)`);
  }
  // Both phones show the call, the conversation and the composer at once: the guest's, and the owner's, which
  // also carries the owner's tools.
  await say(a, b, 'how does it look on your phone?');
  await callAndChatOnScreen(b.page, 'how does it look on your phone?', 80);
  await screenshot(b.page, SUITE, 'phone-in-call');
  await say(b, a, 'fine, and on yours?');
  await callAndChatOnScreen(a.page, 'fine, and on yours?', 80);
  await screenshot(a.page, SUITE, 'phone-in-call-owner');

  await b.page.reload();
  await historyLine(a.page, /^Call ended · \d+:\d\d$/);
  await button(a.page, 'Start video call').waitFor({ timeout: T });
  await waitConnected(a.page);
  await waitConnected(b.page);
  await say(a, b, 'still here after the reload');
  await say(b, a, 'me too');

  // A new call on the new pairing's connection, this time from B.
  await button(b.page, 'Start audio call').click();
  const prompt = a.page.getByRole('dialog', { name: `Incoming audio call from ${bName}` });
  await prompt.getByRole('button', { name: 'Accept' }).click();
  await remoteAudioLive(a.page);
  await remoteAudioLive(b.page);
  await a.page.getByText(`Audio call with ${bName}`).waitFor({ timeout: T });
  await historyLine(a.page, 'Audio call started');
  await screenshot(b.page, SUITE, 'phone-audio-call');

  // B turns its camera on in the audio call: a video track is added mid-call (a renegotiation) and A sees it.
  await button(b.page, 'Turn camera on').click();
  await button(b.page, 'Turn camera off').waitFor({ timeout: T });
  await remoteFrames(a.page);
  await a.page.getByText(`Audio call with ${bName}`).waitFor({ state: 'hidden', timeout: T });
  await screenshot(a.page, SUITE, 'audio-call-camera-on');

  // B leaves for good: A's call ends by itself.
  await b.close();
  await historyLine(a.page, /Call ended · /);
  await button(a.page, 'Start audio call').waitFor({ timeout: T });
  assert.deepEqual(a.errors, [], 'no console errors in A');
});

test('refused or missing camera and microphone give a sentence, and chat keeps working', async () => {
  // Each page's getUserMedia can be made to fail the way a browser does: window.__media = 'NotAllowedError'
  // (permission refused), 'NotFoundError' (no devices), 'no-camera' (a microphone but no camera), or unset.
  const init = `{
    const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    Object.defineProperty(navigator.mediaDevices, 'getUserMedia', {
      value: (c) => {
        const mode = window.__media;
        if (mode === 'no-camera' && c && c.video) return Promise.reject(new DOMException('no camera', 'NotFoundError'));
        if (mode && mode !== 'no-camera') return Promise.reject(new DOMException('refused by the test', mode));
        return real(c);
      },
    });
  }`;
  const { a, b, aName, bName } = await pairUp('denied', { aInit: init, bInit: init });
  const media = (p, mode) => p.page.evaluate((m) => (window.__media = m), mode);

  // A is not allowed: a sentence, no call, chat still fine.
  await media(a, 'NotAllowedError');
  await button(a.page, 'Start video call').click();
  await a.page.getByRole('alert').filter({ hasText: "Twain isn't allowed to use your camera or microphone" }).waitFor({
    timeout: T,
  });
  await button(a.page, 'Start video call').waitFor({ timeout: T });
  assert.equal(await b.page.getByRole('dialog').count(), 0, 'B was never rung');
  await screenshot(a.page, SUITE, 'not-allowed');
  await say(a, b, 'no call then');
  await a.page.getByRole('alert').getByRole('button', { name: 'Dismiss' }).click();
  await media(a, null);

  // B has no devices at all: accepting explains it, and A learns the call could not happen.
  await media(b, 'NotFoundError');
  await button(a.page, 'Start video call').click();
  let prompt = b.page.getByRole('dialog', { name: `Incoming video call from ${aName}` });
  await prompt.getByRole('button', { name: 'Accept' }).click();
  await b.page.getByRole('alert').filter({ hasText: 'No camera or microphone was found' }).waitFor({ timeout: T });
  await historyLine(a.page, `${bName} couldn't join: no camera or microphone available`);
  await button(a.page, 'Start video call').waitFor({ timeout: T });
  await screenshot(b.page, SUITE, 'not-found');
  await say(b, a, 'sorry, no devices here');
  await b.page.getByRole('alert').getByRole('button', { name: 'Dismiss' }).click();

  // B has a microphone but no camera: the video call goes ahead with B's audio, and A sees B's camera off.
  await media(b, 'no-camera');
  await button(a.page, 'Start video call').click();
  prompt = b.page.getByRole('dialog', { name: `Incoming video call from ${aName}` });
  await prompt.getByRole('button', { name: 'Accept' }).click();
  await b.page.getByRole('alert').filter({ hasText: 'No camera was found' }).waitFor({ timeout: T });
  await a.page.getByText(`${bName}'s camera is off`).waitFor({ timeout: T });
  await remoteAudioLive(a.page);
  await remoteFrames(b.page);
  await screenshot(a.page, SUITE, 'peer-without-camera');
  await button(b.page, 'Hang up').click();
  for (const p of [a, b]) await historyLine(p.page, /^Call ended · /);
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});
