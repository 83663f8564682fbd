// End-to-end: the walking skeleton as two people use it. Real wrangler dev (workerd), real headless Chromium,
// real IndexedDB and RTCPeerConnections, located by roles and visible text. Screenshots go to test-output/chat/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshot } from './support/browser.mjs';
import { T, suite, status, messages, assertText, waitConnected, createRoom, connectPair, nameOf, rename, send, addHistory, row, replyTo, askDelete, startEdit, storedMessages } from './support/room.mjs';

const SUITE = 'chat';
const env = suite();
const peer = (label, opts) => env.peer(label, opts);

async function myName(page) {
  const you = page.getByRole('heading', { name: 'You', exact: true });
  await you.waitFor({ timeout: T });
  return (await page.locator('section', { has: you }).locator('strong').first().textContent()).trim();
}

test('two people chat peer to peer, with typing, ticks, history, reconnect and a refused third', async () => {
  const a = await peer('alice');
  await a.page.goto(env.server.url);
  const aliceName = await myName(a.page);
  assert.ok(aliceName.length > 0, 'a generated name is shown');
  await screenshot(a.page, SUITE, 'landing');

  // A creates a room and is told to wait, with a link to share.
  await a.page.getByRole('button', { name: 'New room' }).click();
  await a.page.waitForURL(/#\/r\/[A-Za-z0-9_-]{22}$/, { timeout: T });
  const link = a.page.url();
  const roomId = link.split('/r/')[1];
  assert.ok(roomId.length >= 22, 'room id carries at least 128 bits');
  await assertText(status(a.page), /Waiting for the other person/);
  const shown = await a.page.getByRole('textbox', { name: 'Room link' }).inputValue();
  assert.equal(shown, link);
  await assert.rejects(
    a.page.getByRole('textbox', { name: 'Message' }).fill('x', { timeout: 2000 }),
    'the composer is disabled while alone',
  );
  await a.page.getByText('Twain has no offline delivery').waitFor({ timeout: T });
  await messages(a.page).getByText("No messages yet. Say hello once you're connected.", { exact: true }).waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'waiting');

  // B opens the link: both connect peer to peer.
  const b = await peer('bob');
  await b.page.goto(link);
  await waitConnected(a.page);
  await waitConnected(b.page);
  const bobName = await nameOf(b.page);
  await assertText(status(a.page), new RegExp(`Connected to ${escape(bobName)}`));
  await assertText(status(b.page), new RegExp(`Connected to ${escape(aliceName)}`));
  await messages(b.page).getByText('No messages yet. Say hello.', { exact: true }).waitFor({ timeout: T });
  await messages(a.page).getByText(`${bobName} joined the room.`).waitFor({ timeout: T });
  await screenshot(b.page, SUITE, 'connected');

  // Typing indicator, then the message, then the delivered tick.
  const aBox = a.page.getByRole('textbox', { name: 'Message' });
  await aBox.pressSequentially('Hello Bob', { delay: 20 });
  await b.page.getByText(`${aliceName} is typing…`).waitFor({ timeout: T });
  await screenshot(b.page, SUITE, 'typing');
  await aBox.press('Enter');
  await messages(b.page).getByText('Hello Bob', { exact: true }).waitFor({ timeout: T });
  await messages(a.page).getByText('Delivered').waitFor({ timeout: T });
  await b.page.getByText(`${aliceName} is typing…`).waitFor({ state: 'hidden', timeout: T });

  // And back, with HTML that must stay text.
  const hostile = '<img src=x onerror="window.__pwned=1"> <b>bold?</b>';
  const bBox = b.page.getByRole('textbox', { name: 'Message' });
  await bBox.fill(hostile);
  await b.page.getByRole('button', { name: 'Send', exact: true }).click();
  await messages(a.page).getByText(hostile, { exact: true }).waitFor({ timeout: T });
  assert.equal(await a.page.evaluate(() => window.__pwned), undefined, 'peer text is never parsed as HTML');
  assert.equal(await messages(a.page).locator('img, b').count(), 0);

  // A web address becomes a link (its text is the address, opened in a new tab without a referrer); a script
  // address does not.
  await send(b.page, 'The guide: https://example.com/guide?x=1. Not this: javascript:alert(1)');
  const web = messages(a.page).getByRole('link', { name: 'https://example.com/guide?x=1', exact: true });
  await web.waitFor({ timeout: T });
  assert.equal(await web.getAttribute('href'), 'https://example.com/guide?x=1');
  assert.equal(await web.getAttribute('target'), '_blank');
  assert.match(await web.getAttribute('rel'), /noopener/);
  assert.match(await web.getAttribute('rel'), /noreferrer/);
  assert.equal(await messages(a.page).getByRole('link').count(), 1, 'only the web address is a link');
  await messages(a.page).getByText('The guide: https://example.com/guide?x=1. Not this: javascript:alert(1)').waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'chatting');

  // A keyboard user on that link stays on it while new messages arrive (the rows already shown are kept, not
  // built again).
  await web.focus();
  await send(b.page, 'Did you open it?');
  await messages(a.page).getByText('Did you open it?', { exact: true }).waitFor({ timeout: T });
  await send(b.page, 'It has pictures');
  await messages(a.page).getByText('It has pictures', { exact: true }).waitFor({ timeout: T });
  assert.equal(
    await a.page.evaluate(() => document.activeElement?.getAttribute('href') ?? document.activeElement?.tagName),
    'https://example.com/guide?x=1',
    'the focused link keeps the focus when messages arrive',
  );

  // B renames: A sees the new name.
  await rename(b.page, 'Bob <the builder>');
  await messages(a.page).getByText(`${bobName} is now called Bob <the builder>.`).waitFor({ timeout: T });
  await assertText(status(a.page), /Connected to Bob <the builder>/);

  // A reloads: history is back and the peer reconnects by itself.
  await a.page.reload();
  await messages(a.page).getByText('Hello Bob', { exact: true }).waitFor({ timeout: T });
  await messages(a.page).getByText(hostile, { exact: true }).waitFor({ timeout: T });
  await waitConnected(a.page);
  await waitConnected(b.page);
  await messages(a.page).getByText('Delivered').waitFor({ timeout: T });
  await send(a.page, 'after reload');
  await messages(b.page).getByText('after reload', { exact: true }).waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'after-reload');
  // The rename was told once: after A's reload the worker introduced B by the new name, so it is not news again.
  assert.equal(await messages(a.page).getByText(/ is now called Bob <the builder>\.$/).count(), 1);
  await assertText(status(a.page), /Connected to Bob <the builder>/);
  // Presence lines tell what happened while each was there: B saw A leave and come back; A, reloading, saw
  // nobody arrive (B was there all along), and B, who came in while A waited, saw no arrival either.
  await messages(b.page).getByText(`${aliceName} joined the room.`).waitFor({ timeout: T });
  assert.equal(await messages(b.page).getByText(`${aliceName} left the room.`).count(), 1);
  assert.equal(await messages(b.page).getByText(/ joined the room\.$/).count(), 1);
  assert.equal(await messages(a.page).getByText(/ joined the room\.$/).count(), 1, 'only the live arrival of B');

  // A third person is refused with the reason.
  const c = await peer('carol');
  await c.page.goto(link);
  await c.page.getByRole('alert').filter({ hasText: 'This room already has two people in it.' }).waitFor({ timeout: T });
  await assertText(status(c.page), /Room full/);
  await screenshot(c.page, SUITE, 'third-refused');
  await waitConnected(a.page);
  await waitConnected(b.page);

  // B leaves: A is told, and the composer explains why it is disabled.
  await b.close();
  await assertText(status(a.page), /left$/);
  await a.page.getByText('left the room. Keep this page open').waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'peer-left');

  for (const p of [a, c]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

test('the page runs under a strict Content-Security-Policy: its own script, wasm and stylesheet only, nothing inline, no eval', async () => {
  const res = await fetch(`${env.server.url}/`);
  await res.arrayBuffer();
  const csp = res.headers.get('content-security-policy') ?? '';
  for (const directive of ["default-src 'none'", "script-src 'self' 'wasm-unsafe-eval';", "style-src 'self';", "connect-src 'self';", "frame-ancestors 'none'", "base-uri 'none'"]) {
    assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
  }
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  // The browser enforces it: Twain starts and opens a room, while eval and an injected inline script are refused.
  // (Every other end-to-end test checks for a clean console: a refused resource of Twain's own would show there.)
  const a = await peer('csp');
  await createRoom(a.page, env.server.url);
  await assertText(status(a.page), /Waiting for the other person/);
  const attempts = await a.page.evaluate(async () => {
    // In a task of the page's own: DevTools lifts the eval rule for the code it evaluates itself.
    const evaluated = await new Promise((resolve) =>
      setTimeout(() => {
        try {
          resolve(eval('"ran"'));
        } catch (e) {
          resolve(e.name);
        }
      }),
    );
    const script = document.createElement('script');
    script.textContent = 'window.__injected = "ran"';
    document.head.append(script);
    const style = document.createElement('style');
    style.textContent = '.csp-probe { color: rgb(1, 2, 3) }';
    document.head.append(style);
    const probe = document.createElement('p');
    probe.className = 'csp-probe';
    document.body.append(probe);
    const styled = getComputedStyle(probe).color === 'rgb(1, 2, 3)' ? 'applied' : 'refused';
    return { eval: evaluated, inline: window.__injected ?? 'refused', style: styled };
  });
  assert.deepEqual(attempts, { eval: 'EvalError', inline: 'refused', style: 'refused' });
});

test('a second tab of the same browser takes over the room, visibly, and can hand it back', async () => {
  const a = await peer('alice2');
  const b = await peer('bob2');
  const link = await connectPair(a, b, env.server.url);

  const tab2 = await a.context.newPage();
  await tab2.goto(link);
  await waitConnected(tab2);
  await a.page.getByText('You opened this room in another tab').waitFor({ timeout: T });
  await screenshot(a.page, SUITE, 'replaced-by-other-tab');
  // Never a chat with yourself: the peer still sees one person.
  await waitConnected(b.page);
  await send(b.page, 'which tab?');
  await messages(tab2).getByText('which tab?', { exact: true }).waitFor({ timeout: T });

  await a.page.getByRole('button', { name: 'Use Twain in this tab' }).click();
  await waitConnected(a.page);
  await tab2.getByText('You opened this room in another tab').waitFor({ timeout: T });
});

test('history survives a browser restart and the room is listed on the landing page', async () => {
  const a = await peer('alice3');
  const b = await peer('bob3');
  await connectPair(a, b, env.server.url);
  await send(b.page, 'remember me');
  await messages(a.page).getByText('remember me', { exact: true }).waitFor({ timeout: T });

  const profile = a.profile;
  await a.close();
  const again = await peer('alice3-restarted', { profile });
  await again.page.goto(env.server.url);
  const bobName = await nameOf(b.page);
  await again.page.getByRole('link', { name: `Room with ${bobName}` }).click();
  await messages(again.page).getByText('remember me', { exact: true }).waitFor({ timeout: T });
  await waitConnected(again.page);
  await screenshot(again.page, SUITE, 'after-restart');
});

test('chat is peer to peer: it keeps flowing while the signaling server is down, and both rejoin when it is back', async () => {
  const a = await peer('alice4');
  const b = await peer('bob4');
  const link = await connectPair(a, b, env.server.url);

  // The copy-link button puts the room link on the clipboard.
  await a.page.getByRole('button', { name: 'Copy link' }).click();
  await a.page.getByText('Link copied').waitFor({ timeout: T });
  assert.equal(await a.page.evaluate(() => navigator.clipboard.readText()), link);

  // Every status each page shows from now on.
  for (const p of [a.page, b.page]) {
    await p.evaluate(() => {
      const title = document.querySelector('.room-title');
      const now = () => title.querySelector('[role=status]')?.textContent;
      window.__statuses = [now()];
      new MutationObserver(() => {
        if (now() !== window.__statuses.at(-1)) window.__statuses.push(now());
      }).observe(title, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
  }
  await env.restart(async () => {
    // No server at all: messages still go browser to browser.
    await send(a.page, 'no server needed');
    await messages(b.page).getByText('no server needed', { exact: true }).waitFor({ timeout: T });
    await messages(a.page).getByText('Delivered').waitFor({ timeout: T });
    await screenshot(b.page, SUITE, 'server-down-still-chatting');
  });
  // Once both sockets are back, the server introduces the pair again, which replaces the peer connection (each
  // page shows "Connecting" again). The first browser back was told the other is not in the room yet while
  // their direct connection still worked: it keeps it, so nobody "left" (before, that page said so until the
  // other socket was back).
  for (const p of [a.page, b.page]) {
    await p.waitForFunction(
      () => window.__statuses.some((t) => t.startsWith('Connecting')) && window.__statuses.at(-1).startsWith('Connected to'),
      null,
      { timeout: 2 * T },
    );
    const seen = await p.evaluate(() => window.__statuses);
    assert.ok(!seen.some((text) => / left$/.test(text)), `no "left" status during the restart: ${seen.join(' -> ')}`);
    assert.equal(await messages(p).getByText(/left the room/).count(), 0);
  }
  // Chat goes on over the new connection.
  await send(b.page, 'server is back');
  await messages(a.page).getByText('server is back', { exact: true }).waitFor({ timeout: 2 * T });
  await messages(b.page).getByText('Delivered').nth(0).waitFor({ timeout: 2 * T });
  await assertText(messages(b.page).locator('li.msg.mine').last(), /Delivered/, 2 * T);
});

/** Connects two new peers (A owns the room), then restarts the signaling server so that A is back on it and B is
 * not (B's next sockets go nowhere), while their direct connection goes on. Returns once the server has welcomed
 * A, alone: `{ a, b, bobName }`. */
async function pairWithBOffServer(n) {
  const a = await peer(`alice${n}`);
  const b = await peer(`bob${n}`);
  await connectPair(a, b, env.server.url);
  const bobName = await nameOf(b.page);
  // A's signaling goes through this relay, which tells when the server welcomes A back.
  let welcomed;
  const welcome = new Promise((resolve) => (welcomed = resolve));
  await a.page.routeWebSocket(/\/ws\//, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((text) => upstream.send(text));
    upstream.onMessage((text) => {
      const frame = JSON.parse(text);
      if (frame.type === 'welcome') welcomed(frame);
      ws.send(text);
    });
  });
  await b.page.routeWebSocket(/\/ws\//, () => {});
  await env.restart();
  const frame = await welcome;
  assert.equal(frame.peer, null, 'the server does not know B is still here');
  return { a, b, bobName };
}

/** Waits until `page` says `name` left: the status, and the line in the conversation. */
async function saysLeft(page, name) {
  await assertText(status(page), new RegExp(`^${name} left$`), 2 * T);
  await messages(page).getByText(`${name} left the room.`, { exact: true }).waitFor({ timeout: T });
}

test('while the signaling server says the other person is away, a working connection is kept until they really leave', async () => {
  const { a, b, bobName } = await pairWithBOffServer(5);
  // A is back on the server and alone there, but still connected to B directly: nothing is torn down.
  await send(b.page, 'still here');
  await messages(a.page).getByText('still here', { exact: true }).waitFor({ timeout: T });
  await assertText(messages(b.page).locator('li.msg.mine').last(), /Delivered/);
  await waitConnected(a.page);
  // B closes the room: the direct connection ends, and A says B left.
  await b.page.goto('about:blank');
  await saysLeft(a.page, bobName);
});

test('a connection kept for a person who stays off the signaling server ends after a grace period', async () => {
  const { a, b, bobName } = await pairWithBOffServer(7);
  await send(a.page, 'are you there?');
  await messages(b.page).getByText('are you there?', { exact: true }).waitFor({ timeout: T });
  // B's page stays open but never returns to the server (as a modified client might, to dodge the owner's
  // tools): A ends the connection by itself after 45 s.
  await saysLeft(a.page, bobName);
});

test('a person who leaves while the signaling server is down is said to have left once it is back', async () => {
  const a = await peer('alice9');
  const b = await peer('bob9');
  await connectPair(a, b, env.server.url);
  const bobName = await nameOf(b.page);
  await env.restart(async () => {
    // B closes the room while nobody can tell A: A only sees its direct connection end.
    await b.page.goto('about:blank');
    await assertText(status(a.page), /^Reconnecting/, 2 * T);
  });
  // Back on the server, A is welcomed alone: B left, in the status and in the conversation.
  await saysLeft(a.page, bobName);
  assert.equal(await messages(a.page).getByText(`${bobName} left the room.`, { exact: true }).count(), 1);
});

for (const [n, button, done] of [
  [6, 'Remove', (name) => `You removed ${name} from the room.`],
  [8, 'Ban', (name) => `You banned ${name} from this room.`],
]) {
  test(`the owner can still ${button.toLowerCase()} a person the restarted server does not see: the connection ends`, async () => {
    const { a, b, bobName } = await pairWithBOffServer(n);
    await waitConnected(a.page);
    const tools = a.page.getByRole('region', { name: 'Room owner' });
    await tools.getByRole('button', { name: button, exact: true }).click();
    await a.page.getByRole('alertdialog', { name: 'Confirm' }).getByRole('button', { name: /^Yes, / }).click();
    await tools.getByText(done(bobName)).waitFor({ timeout: T });
    await saysLeft(a.page, bobName);
    // B's side of the connection is gone too: B cannot send any more.
    await b.page.getByRole('textbox', { name: 'Message' }).and(b.page.locator(':disabled')).waitFor({ timeout: 2 * T });
    if (button !== 'Ban') return;
    // The ban is recorded under B's name, and holds when B comes back to the server.
    await tools.getByText('Bans (1)').click();
    await tools.getByRole('listitem').filter({ hasText: bobName }).waitFor({ timeout: T });
    const back = await b.context.newPage();
    await back.goto(a.page.url());
    await back.getByRole('alert').filter({ hasText: 'The owner of this room has banned you.' }).waitFor({ timeout: T });
    await back.close();
  });
}

test('the room works on a phone-sized screen: the conversation and the composer fit on it', async () => {
  const phone = { viewport: { width: 375, height: 700 } };
  const a = await peer('phone', phone);
  await createRoom(a.page, env.server.url);
  await assertText(status(a.page), /Waiting for the other person/);
  const overflow = (p) => p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok((await overflow(a.page)) <= 0, `no horizontal scrolling on a phone (overflow ${await overflow(a.page)}px)`);
  await screenshot(a.page, SUITE, 'phone');

  // Connected, the owner's page carries the most: identity note, owner tools, call buttons. Still, with a long
  // conversation, the newest message and the composer are on screen without scrolling the page.
  const b = await peer('phone-b', phone);
  await b.page.goto(a.page.url());
  await waitConnected(a.page);
  await waitConnected(b.page);
  for (let i = 1; i <= 15; i++) await send(i % 2 ? b.page : a.page, `phone message ${i}`);
  await messages(a.page).getByText('phone message 15', { exact: true }).waitFor({ timeout: T });
  for (const p of [a.page, b.page]) {
    const box = await p.getByRole('textbox', { name: 'Message' }).boundingBox();
    assert.ok(box.y >= 0 && box.y + box.height <= 700, `the composer is on screen (${box.y}..${box.y + box.height})`);
    const log = await messages(p).boundingBox();
    assert.ok(log.height >= 150, `the conversation has room (${log.height}px)`);
    const last = await messages(p).getByText('phone message 15', { exact: true }).boundingBox();
    assert.ok(last.y >= log.y && last.y + last.height <= log.y + log.height + 1, 'the newest message is in view');
    assert.ok((await overflow(p)) <= 0, 'no horizontal scrolling when connected');
  }
  await screenshot(a.page, SUITE, 'phone-connected');

  // Answering a long message puts its quote above the box, on one line: the box stays on screen, nothing is wider
  // than the phone, and the reply shows its quote on both sides.
  const long = `A long message that goes on: ${'and on, '.repeat(25)}to the end.`;
  await send(b.page, long);
  await replyTo(a.page, long);
  await a.page.getByRole('button', { name: 'Cancel reply' }).waitFor({ timeout: T });
  const withQuote = await a.page.getByRole('textbox', { name: 'Message' }).boundingBox();
  assert.ok(withQuote.y + withQuote.height <= 700, `the composer is on screen with a quote (${withQuote.y}..)`);
  assert.ok((await overflow(a.page)) <= 0, 'no horizontal scrolling with a quote above the box');
  await screenshot(a.page, SUITE, 'phone-replying');
  await send(a.page, 'a reply on a phone');
  await row(b.page, 'a reply on a phone').getByRole('button', { name: /^In reply to You: A long message/ }).waitFor({ timeout: T });
  assert.ok((await overflow(b.page)) <= 0, 'no horizontal scrolling with a quote in the conversation');
  await screenshot(b.page, SUITE, 'phone-reply');

  // A longer draft grows the composer (up to a limit, then it scrolls), and it stays on screen.
  const box = a.page.getByRole('textbox', { name: 'Message' });
  const oneLine = (await box.boundingBox()).height;
  await box.fill('first line\nsecond line\nthird line');
  const threeLines = (await box.boundingBox()).height;
  assert.ok(threeLines > oneLine * 1.5, `the composer grew with the draft (${oneLine} -> ${threeLines}px)`);
  await box.fill('line\n'.repeat(40));
  const many = await box.boundingBox();
  assert.ok(many.height < 200 && many.y + many.height <= 700, `a long draft scrolls inside the composer (${many.height}px)`);
  await box.fill('');
});

/** Polls `check` (async, true when the state is reached) until it holds; fails with `what` after `timeout`. */
async function until(check, what, timeout = T) {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Turns the mouse wheel over the top of the conversation (where no button floats). */
async function wheel(page, dy) {
  await messages(page).hover({ position: { x: 40, y: 20 } });
  await page.mouse.wheel(0, dy);
}

/** Whether the message `text` is inside the visible part of the conversation. */
async function inView(page, text) {
  const log = await messages(page).boundingBox();
  const box = await messages(page).getByText(text, { exact: true }).boundingBox();
  return Boolean(log && box) && box.y >= log.y - 1 && box.y + box.height <= log.y + log.height + 1;
}

test('reading older messages is not interrupted: new ones wait behind a button, and sending jumps to the newest', async () => {
  const phone = { viewport: { width: 390, height: 844 } };
  const a = await peer('reader', phone);
  const b = await peer('writer', phone);
  await connectPair(a, b, env.server.url);
  for (let i = 1; i <= 12; i++) await send(b.page, `older message ${i}`);
  await messages(a.page).getByText('older message 12', { exact: true }).waitFor({ timeout: T });
  await until(() => inView(a.page, 'older message 12'), 'the newest message is in view');

  // A scrolls up to read (mouse wheel over the conversation) while B writes on: the view stays put.
  await wheel(a.page, -5000);
  await until(() => inView(a.page, 'older message 1'), 'A reads the first message');
  await send(b.page, 'news while you read');
  await a.page.getByRole('button', { name: '1 new message', exact: true }).waitFor({ timeout: T });
  await send(b.page, 'more news');
  const jump = a.page.getByRole('button', { name: '2 new messages', exact: true });
  await jump.waitFor({ timeout: T });
  assert.ok(await inView(a.page, 'older message 1'), 'the view stays where A is reading');
  assert.equal(await inView(a.page, 'more news'), false, 'the new message waits below');
  await screenshot(a.page, SUITE, 'new-messages-below');

  // The button brings A to the newest message and goes away; from there the view follows again.
  await jump.click();
  await until(() => inView(a.page, 'more news'), 'the newest message is in view after the jump');
  await a.page.getByRole('button', { name: /new message/ }).waitFor({ state: 'detached', timeout: T });
  await send(b.page, 'following again');
  await until(() => inView(a.page, 'following again'), 'the view follows new messages again');
  // A longer draft makes the conversation shorter: it still shows the newest message.
  const composer = a.page.getByRole('textbox', { name: 'Message' });
  const logHeight = (await messages(a.page).boundingBox()).height;
  await composer.fill('a draft\nof three\nlines');
  await until(async () => (await messages(a.page).boundingBox()).height < logHeight - 20, 'the conversation got shorter');
  await until(() => inView(a.page, 'following again'), 'the newest message is in view above the taller composer');
  await composer.fill('');

  // Scrolling back down by hand also clears the button.
  await wheel(a.page, -5000);
  await until(() => inView(a.page, 'older message 1'), 'A reads the first message again');
  await send(b.page, 'one more');
  await a.page.getByRole('button', { name: '1 new message', exact: true }).waitFor({ timeout: T });
  await wheel(a.page, 10000);
  await until(() => inView(a.page, 'one more'), 'A scrolled down to the newest message');
  await a.page.getByRole('button', { name: /new message/ }).waitFor({ state: 'detached', timeout: T });

  // Scrolled up, sending a message of one's own jumps to it.
  await wheel(a.page, -5000);
  await until(() => inView(a.page, 'older message 1'), 'A reads the first message once more');
  await send(a.page, 'my reply');
  await until(() => inView(a.page, 'my reply'), 'my own message is in view');
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

test('a long conversation opens with its newest messages; earlier ones come on request, where the person reads', async () => {
  const a = await peer('long-a');
  const b = await peer('long-b');
  await connectPair(a, b, env.server.url);
  await send(a.page, 'the newest');
  await messages(b.page).getByText('the newest', { exact: true }).waitFor({ timeout: T });
  await addHistory(b.page, 'the newest', 700);
  await b.page.reload();
  await messages(b.page).getByText('the newest', { exact: true }).waitFor({ timeout: T });
  await until(() => inView(b.page, 'the newest'), 'the newest message is in view');

  // The newest 300 messages are there; older ones wait behind a button at the top.
  const log = messages(b.page);
  const shown = (text) => log.getByText(text, { exact: true }).count();
  assert.equal(await shown('History 699'), 1);
  assert.equal(await shown('History 401'), 1);
  assert.equal(await shown('History 400'), 0, 'older messages are not shown yet');
  const earlier = log.getByRole('button', { name: 'Show earlier messages' });
  await earlier.waitFor({ timeout: T });
  const more = await log.getByRole('listitem').filter({ has: b.page.getByRole('button', { name: 'Show earlier messages' }) }).textContent();
  assert.match(more, /^Show earlier messages \(\d+ more\)$/);
  const hidden = Number(more.match(/\d+/)[0]);
  assert.ok(hidden >= 401, `at least the 401 oldest history messages are behind the button (${hidden})`);

  // Scrolled to the top, the person asks for more: what they were reading stays where it was.
  await log.evaluate((el) => (el.scrollTop = 0));
  await until(() => inView(b.page, 'History 401'), 'the oldest shown message is in view');
  const before = (await log.getByText('History 401', { exact: true }).boundingBox()).y;
  await screenshot(b.page, SUITE, 'show-earlier');
  await earlier.click();
  await log.getByText('History 101', { exact: true }).waitFor({ timeout: T });
  const after = (await log.getByText('History 401', { exact: true }).boundingBox()).y;
  assert.ok(Math.abs(after - before) <= 2, `History 401 stayed in place (${before} -> ${after})`);
  await screenshot(b.page, SUITE, 'earlier-messages');

  // A message arriving meanwhile (at the bottom) pushes nothing out at the top.
  await log.evaluate((el) => (el.scrollTop = 0));
  await send(a.page, 'meanwhile');
  await messages(b.page).getByText('meanwhile', { exact: true }).waitFor({ state: 'attached', timeout: T });
  assert.equal(await shown('History 101'), 1, 'the oldest shown message is still there');
  await until(() => inView(b.page, 'History 101'), 'the person still reads at the top');

  // The last press shows the first message, and the button goes.
  await earlier.click();
  await log.getByText('History 0', { exact: true }).waitFor({ timeout: T });
  assert.equal(await earlier.count(), 0, 'nothing is left to show');

  // New messages still arrive at the bottom, in view.
  await send(a.page, 'still here');
  await messages(b.page).getByText('still here', { exact: true }).waitFor({ timeout: T });
  await log.evaluate((el) => (el.scrollTop = el.scrollHeight));
  await until(() => inView(b.page, 'still here'), 'the new message is in view at the bottom');

  // Back at the bottom, following the newest messages, with over 600 shown: the next render (here, the arrival or
  // the end of "new messages") puts the oldest ones back behind the button, so a conversation left open does not
  // grow without end.
  await send(a.page, 'left open for hours');
  await messages(b.page).getByText('left open for hours', { exact: true }).waitFor({ timeout: T });
  await earlier.waitFor({ timeout: T });
  assert.equal(await shown('History 0'), 0, 'the oldest messages are behind the button again');
  assert.equal(await shown('History 699'), 1, 'the newest page is still shown');
  const histories = await log.getByText(/^History \d+$/).count();
  assert.ok(histories >= 290 && histories <= 300, `about a page of messages is shown (${histories} of the history)`);
  await until(() => inView(b.page, 'left open for hours'), 'the newest message is in view');
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The quote above the reply `text`: a button that shows the quoted message, named after it (`name`). */
const quoteIn = (page, text, name = /^In reply to /) => row(page, text).getByRole('button', { name });

test('a reply quotes the message it answers on both sides, after a reload too, and takes the person to it', async () => {
  const a = await peer('reply-a');
  const b = await peer('reply-b');
  await connectPair(a, b, env.server.url);
  const [aName, bName] = [await nameOf(a.page), await nameOf(b.page)];
  await send(a.page, 'the seed');
  await messages(b.page).getByText('the seed', { exact: true }).waitFor({ timeout: T });
  // The same 400 earlier messages on both sides, written by A: more than a page, so the oldest are not shown.
  await addHistory(a.page, 'the seed', 400);
  await addHistory(b.page, 'the seed', 400);
  await a.page.reload();
  await b.page.reload();
  await waitConnected(a.page);
  await waitConnected(b.page);
  await send(b.page, 'Which day works for you?');
  await send(b.page, 'Also, bring the map');
  await messages(a.page).getByText('Also, bring the map', { exact: true }).waitFor({ timeout: T });

  // A answers B's question: the box says what it answers and has the focus; Escape drops the quote.
  const aBox = a.page.getByRole('textbox', { name: 'Message' });
  await replyTo(a.page, 'Which day works for you?');
  const replying = a.page.locator('form').filter({ has: aBox }).getByText(`Replying to ${bName}`);
  await replying.waitFor({ timeout: T });
  assert.equal(await aBox.evaluate((el) => el === document.activeElement), true, 'the message box has the focus');
  await aBox.press('Escape');
  await replying.waitFor({ state: 'detached', timeout: T });
  await replyTo(a.page, 'Which day works for you?');
  await replying.waitFor({ timeout: T });
  await send(a.page, 'Tuesday');
  await replying.waitFor({ state: 'detached', timeout: T });
  // A's side names B; B's side says it was B's own message. Both come from each side's own copy.
  await quoteIn(a.page, 'Tuesday', new RegExp(`^In reply to ${escape(bName)}: Which day works for you\\?$`)).waitFor({ timeout: T });
  await quoteIn(b.page, 'Tuesday', /^In reply to You: Which day works for you\?$/).waitFor({ timeout: T });

  // B answers its own message; the cancel button drops a quote too.
  await replyTo(b.page, 'Tuesday');
  await b.page.getByRole('button', { name: 'Cancel reply' }).click();
  await b.page.getByText('Replying to ', { exact: false }).waitFor({ state: 'detached', timeout: T });
  await replyTo(b.page, 'Also, bring the map');
  await b.page.getByText('Replying to yourself').waitFor({ timeout: T });
  await send(b.page, 'and a torch');
  await quoteIn(a.page, 'and a torch', new RegExp(`^In reply to ${escape(bName)}: Also, bring the map$`)).waitFor({ timeout: T });
  await quoteIn(b.page, 'and a torch', /^In reply to You: Also, bring the map$/).waitFor({ timeout: T });

  // A answers one of the oldest messages, which B does not show yet.
  await messages(a.page).getByRole('button', { name: 'Show earlier messages' }).click();
  await replyTo(a.page, 'History 3');
  await send(a.page, 'about that old one');
  const quote = quoteIn(b.page, 'about that old one', new RegExp(`^In reply to ${escape(aName)}: History 3$`));
  await quote.waitFor({ timeout: T });
  assert.equal(await row(b.page, 'History 3').count(), 0, 'B does not show the quoted message yet');
  // Only the conversation scrolls, not the page (hidden words for screen readers in its rows once stretched it).
  for (const p of [a, b]) {
    const [page, view] = await p.page.evaluate(() => [document.documentElement.scrollHeight, innerHeight]);
    assert.ok(page <= view + 1, `${p.label}: the page is ${page} px tall in a ${view} px window`);
  }
  await screenshot(b.page, SUITE, 'replies');
  await quote.click();
  await row(b.page, 'History 3').waitFor({ timeout: T });
  await until(() => inViewLocator(b.page, row(b.page, 'History 3')), 'the quoted message is in view');
  assert.equal(
    await b.page.evaluate(() => document.activeElement?.querySelector('p')?.textContent),
    'History 3',
    'the quoted message has the focus',
  );
  // Nothing new pulled B back down while B reads up there.
  await send(a.page, 'meanwhile, below');
  await messages(b.page).getByText('meanwhile, below', { exact: true }).waitFor({ state: 'attached', timeout: T });
  assert.ok(await inViewLocator(b.page, row(b.page, 'History 3')), 'B still reads the quoted message');
  await screenshot(b.page, SUITE, 'quoted-message-shown');

  // Quotes are stored: after a reload they are still there, and so is a quote of a quote's message.
  await b.page.reload();
  await quoteIn(b.page, 'Tuesday', /^In reply to You: Which day works for you\?$/).waitFor({ timeout: T });
  await quoteIn(b.page, 'about that old one', new RegExp(`^In reply to ${escape(aName)}: History 3$`)).waitFor({ timeout: T });
  await waitConnected(b.page);
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

/** In B's page: chat frames whose text starts with "forged" go out with a made-up `reply`. */
function forgeReplies() {
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (message) {
    if (typeof message === 'string' && message.startsWith('{"type":"chat"')) {
      const frame = JSON.parse(message);
      if (frame.text === 'forged: no such message') frame.reply = { id: 'NoSuchMessageAnywhere', by_sender: false };
      if (frame.text === 'forged: a bad id') frame.reply = { id: '<b>x</b>', by_sender: true };
      if (frame.text.startsWith('forged')) return send.call(this, JSON.stringify(frame));
    }
    return send.call(this, message);
  };
}

test('a modified peer cannot quote what was never said: unknown quotes show as missing, bad ones are refused', async () => {
  const a = await peer('forge-a');
  const b = await peer('forge-b');
  await connectPair(a, b, env.server.url);
  await b.page.evaluate(forgeReplies);
  await send(b.page, 'forged: no such message');
  await assertText(
    row(a.page, 'forged: no such message'),
    /In reply to a message that is no longer in this conversation/,
  );
  assert.equal(await quoteIn(a.page, 'forged: no such message').count(), 0, 'no quote to press');
  await send(b.page, 'forged: a bad id');
  await assertText(a.page.getByRole('alert'), /The other browser sent something Twain could not accept: .*message id/);
  assert.equal(await messages(a.page).getByText('forged: a bad id').count(), 0, 'the refused message is not shown');
  // The conversation goes on.
  await send(b.page, 'still talking');
  await messages(a.page).getByText('still talking', { exact: true }).waitFor({ timeout: T });
});

/** Whether `locator` is inside the visible part of the conversation. */
async function inViewLocator(page, locator) {
  const log = await messages(page).boundingBox();
  const box = await locator.boundingBox();
  return Boolean(log && box) && box.y >= log.y - 1 && box.y + box.height <= log.y + log.height + 1;
}

test('a message can be deleted for me, or for both while connected, and nothing of its words is left on disk', async () => {
  const a = await peer('delete-a');
  const b = await peer('delete-b');
  await connectPair(a, b, env.server.url);
  const bName = await nameOf(b.page);
  await send(a.page, 'oops, wrong chat');
  await send(a.page, 'keep this one');
  await row(b.page, 'keep this one').waitFor({ timeout: T });
  await replyTo(b.page, 'oops, wrong chat');
  await send(b.page, 'what was that?');
  await quoteIn(a.page, 'what was that?', /^In reply to You: oops, wrong chat$/).waitFor({ timeout: T });

  // A deletes its own message for both. The question comes first, with the focus on its first answer; Escape
  // closes it and gives the focus back.
  let question = await askDelete(a.page, 'oops, wrong chat');
  const everyone = question.getByRole('button', { name: 'Delete for everyone' });
  assert.equal(await everyone.evaluate((el) => el === document.activeElement), true, 'the first answer has the focus');
  await assertText(question, new RegExp(`also asks ${escape(bName)}'s browser to delete its copy`));
  await a.page.keyboard.press('Escape');
  await question.waitFor({ state: 'detached', timeout: T });
  const deleteButton = row(a.page, 'oops, wrong chat').getByRole('button', { name: /^Delete / });
  assert.equal(await deleteButton.evaluate((el) => el === document.activeElement), true, 'the focus is back on Delete');
  question = await askDelete(a.page, 'oops, wrong chat');
  await screenshot(a.page, SUITE, 'delete-question');
  await question.getByRole('button', { name: 'Delete for everyone' }).click();
  await messages(a.page).getByText('You deleted this message.', { exact: true }).waitFor({ timeout: T });
  await messages(b.page).getByText('This message was deleted.', { exact: true }).waitFor({ timeout: T });
  for (const p of [a, b]) assert.equal(await messages(p.page).getByText('oops, wrong chat').count(), 0, p.label);
  for (const p of [a, b]) {
    await row(p.page, 'what was that?').getByText('In reply to a deleted message', { exact: true }).waitFor({ timeout: T });
  }
  await screenshot(b.page, SUITE, 'deleted-for-both');

  // B deletes A's other message, for B only: someone else's message offers no "for everyone".
  question = await askDelete(b.page, 'keep this one');
  assert.equal(await question.getByRole('button', { name: 'Delete for everyone' }).count(), 0);
  await question.getByRole('button', { name: 'Delete for me' }).click();
  await row(b.page, 'keep this one').waitFor({ state: 'detached', timeout: T });
  assert.equal(await row(a.page, 'keep this one').count(), 1, 'A still has it');

  // The same after a reload, and neither browser stores the deleted words.
  for (const p of [a, b]) await p.page.reload();
  for (const p of [a, b]) await row(p.page, 'what was that?').waitFor({ timeout: T });
  await messages(a.page).getByText('You deleted this message.', { exact: true }).waitFor({ timeout: T });
  await messages(b.page).getByText('This message was deleted.', { exact: true }).waitFor({ timeout: T });
  assert.equal(await row(b.page, 'keep this one').count(), 0);
  const texts = async (p) => (await storedMessages(p.page)).map((m) => m.text);
  for (const p of [a, b]) assert.ok(!(await texts(p)).some((t) => t.includes('oops')), `${p.label} stores no deleted words`);
  assert.ok(!(await texts(b)).includes('keep this one'), 'B no longer stores what B deleted');
  assert.ok((await texts(a)).includes('keep this one'), 'A still stores it');

  // With B gone, deleting for both waits for B: the button is off, and the question says why.
  await waitConnected(a.page);
  await b.page.goto('about:blank');
  await assertText(status(a.page), /Waiting for|left/);
  question = await askDelete(a.page, 'keep this one');
  assert.equal(await question.getByRole('button', { name: 'Delete for everyone' }).isDisabled(), true);
  await assertText(question, new RegExp(`Delete for everyone needs ${escape(bName)} here\\.`));
  await question.getByRole('button', { name: 'Cancel' }).click();
  await question.waitFor({ state: 'detached', timeout: T });
  assert.equal(await row(a.page, 'keep this one').count(), 1);
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

test('one of my messages can be changed while we are both here: both sides show the new text, marked edited', async () => {
  const a = await peer('edit-a');
  const b = await peer('edit-b');
  await connectPair(a, b, env.server.url);
  const aName = await nameOf(a.page);
  await send(a.page, 'meet at 5');
  await row(b.page, 'meet at 5').waitFor({ timeout: T });
  await replyTo(b.page, 'meet at 5');
  await send(b.page, 'ok, see you');
  await quoteIn(a.page, 'ok, see you', /^In reply to You: meet at 5$/).waitFor({ timeout: T });
  // Only one's own messages can be changed.
  await row(b.page, 'meet at 5').hover();
  assert.equal(await row(b.page, 'meet at 5').getByRole('button', { name: /^Edit / }).count(), 0);

  // A starts changing it: the box holds its text, with the focus; Escape leaves the message as it was.
  const box = a.page.getByRole('textbox', { name: 'Message' });
  await startEdit(a.page, 'meet at 5');
  const banner = a.page.locator('form').filter({ has: box }).getByText('Editing your message');
  await banner.waitFor({ timeout: T });
  assert.equal(await box.inputValue(), 'meet at 5');
  assert.equal(await box.evaluate((el) => el === document.activeElement), true, 'the message box has the focus');
  await a.page.getByRole('button', { name: 'Save', exact: true }).waitFor({ timeout: T });
  await box.press('Escape');
  await banner.waitFor({ state: 'detached', timeout: T });
  assert.equal(await box.inputValue(), '', 'the box is empty again');
  await a.page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: T });

  // Now for real: both sides show the new text, marked edited, and B's quote follows it.
  await startEdit(a.page, 'meet at 5');
  await banner.waitFor({ timeout: T });
  await box.fill('meet at 6 instead');
  await screenshot(a.page, SUITE, 'editing');
  await box.press('Enter');
  await banner.waitFor({ state: 'detached', timeout: T });
  for (const p of [a, b]) {
    await assertText(row(p.page, 'meet at 6 instead'), /edited/);
    assert.equal(await row(p.page, 'meet at 5').count(), 0, `${p.label} no longer shows the old text`);
  }
  await quoteIn(b.page, 'ok, see you', new RegExp(`^In reply to ${escape(aName)}: meet at 6 instead$`)).waitFor({ timeout: T });
  await screenshot(b.page, SUITE, 'edited');

  // After a reload too, and that is what both browsers store.
  for (const p of [a, b]) await p.page.reload();
  for (const p of [a, b]) {
    await assertText(row(p.page, 'meet at 6 instead'), /edited/);
    const stored = (await storedMessages(p.page)).filter((m) => m.text.startsWith('meet at'));
    assert.deepEqual(stored.map((m) => [m.text, m.edited]), [['meet at 6 instead', true]], p.label);
  }
  for (const p of [a, b]) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
});

test("a modified peer cannot delete or change the other person's messages: unsend and edit name only its own", async () => {
  const a = await peer('unsend-a');
  const b = await peer('unsend-b');
  // B's page keeps its chat channel at hand, to send what it likes on it.
  await b.context.addInitScript(() => {
    const send = RTCDataChannel.prototype.send;
    RTCDataChannel.prototype.send = function (message) {
      if (this.label === 'twain') window.__chat = this;
      return send.call(this, message);
    };
  });
  await connectPair(a, b, env.server.url);
  await send(a.page, 'my words stay mine');
  await row(b.page, 'my words stay mine').waitFor({ timeout: T });
  // B finds the id of A's message (its key ends with it) and asks A to delete it.
  const id = (await storedMessages(b.page)).find((m) => m.text === 'my words stay mine').id.split(':').pop();
  await b.page.evaluate((id) => window.__chat.send(JSON.stringify({ type: 'unsend', id })), id);
  // Nor can it change A's words.
  await b.page.evaluate((id) => window.__chat.send(JSON.stringify({ type: 'edit', id, text: 'words put in your mouth' })), id);
  await b.page.evaluate(() => window.__chat.send(JSON.stringify({ type: 'unsend', id: 'a b' })));
  await assertText(a.page.getByRole('alert'), /The other browser sent something Twain could not accept: .*message id/);
  await send(b.page, 'after the attempt');
  await row(a.page, 'after the attempt').waitFor({ timeout: T });
  assert.equal(await row(a.page, 'my words stay mine').count(), 1, "A's message is still there");
  assert.equal(await messages(a.page).getByText(/deleted|edited|words put in your mouth/).count(), 0);
  assert.ok((await storedMessages(a.page)).some((m) => m.text === 'my words stay mine' && !m.deleted));
});
