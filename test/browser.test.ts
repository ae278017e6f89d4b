// End-to-end tests in headless Chromium (Debian's, driven by playwright-core): the demo page an edge serves gets
// messages over WebSocket, and over HTTP streaming when the page has no WebSocket; a page on another origin
// connects only when the edge allows that origin; and the run leaves a screenshot of the demo page.

import test from 'ava';
import { mkdir, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { closeServer } from '../shared/listen.js';
import { startMesh, type Mesh } from './helpers/mesh.js';
import { publishBody } from './helpers/http-publish.js';

const artifacts = fileURLToPath(new URL('artifacts/', import.meta.url));
const waitMs = 15_000;

interface ReceivedMessage {
  offset: number;
  data: unknown;
  latency?: number;
}
interface DemoWindow {
  relaymeshDemo?: { subscribed: boolean; received: ReceivedMessage[]; client: { state: string } };
}
interface CrossOriginWindow {
  result?: { ok: true; edge: string } | { ok: false; code: string };
}

let browser: Browser | undefined;

test.before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
});

test.after.always(async () => {
  await browser?.close();
});

/** A page in a fresh context (no transport remembered in localStorage from another test), closed in teardown. */
async function newPage(t: { teardown(fn: () => Promise<void>): void }, init?: () => void): Promise<Page> {
  const context = await browser!.newContext();
  t.teardown(() => context.close());
  if (init) await context.addInitScript(init);
  return context.newPage();
}

/** Opens the demo page on an edge and waits until it is subscribed. */
async function openDemo(
  t: { teardown(fn: () => Promise<void>): void },
  mesh: Mesh,
  query: string,
  init?: () => void,
): Promise<Page> {
  const page = await newPage(t, init);
  await page.goto(`${mesh.http(mesh.edges[0]!)}/?tick=0&${query}`);
  await page.waitForFunction(() => (window as unknown as DemoWindow).relaymeshDemo?.subscribed === true, undefined, {
    timeout: waitMs,
  });
  return page;
}

async function receivedCount(page: Page, count: number): Promise<ReceivedMessage[]> {
  await page.waitForFunction(
    (n) => ((window as unknown as DemoWindow).relaymeshDemo?.received.length ?? 0) >= n,
    count,
    { timeout: waitMs },
  );
  return page.evaluate(() => (window as unknown as DemoWindow).relaymeshDemo!.received);
}

/** A plain HTTP server on another port: a page that loads the SDK from the edge and connects to it. */
async function startOtherOrigin(
  t: { teardown(fn: () => Promise<void>): void },
  edgeBase: () => string,
): Promise<{ origin: string }> {
  const server: Server = createServer((_req, res) => {
    const base = edgeBase();
    const html = `<!doctype html><meta charset="utf-8"><title>elsewhere</title><script type="module">
      import { MeshClient } from '${base}/relaymesh.js';
      const client = new MeshClient({ url: '${base}', reconnect: false });
      client.connect().then((welcome) => { window.result = { ok: true, edge: welcome.edge }; }, (error) => { window.result = { ok: false, code: error.code }; });
    </script>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => closeServer(server));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

test('an edge serves the SDK bundle at /relaymesh.js and the demo page at /', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const bundle = await fetch(`${mesh.http(mesh.edges[0]!)}/relaymesh.js`);
  t.is(bundle.status, 200);
  t.regex(bundle.headers.get('content-type') ?? '', /^text\/javascript/);
  t.regex(await bundle.text(), /export\s*\{[^}]*MeshClient/);
  const page = await fetch(`${mesh.http(mesh.edges[0]!)}/`);
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /^text\/html/);
  t.regex(await page.text(), /relaymesh/);
});

test('the demo page receives messages over WebSocket and shows its edge, region and transport', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const page = await openDemo(t, mesh, 'topic=browser.ws');
  t.is(await page.locator('#edge').textContent(), 'eu-1');
  t.is(await page.locator('#region').textContent(), 'eu');
  t.is(await page.locator('#transport').textContent(), 'websocket');

  await publishBody(mesh.core, { topic: 'browser.ws', data: { text: 'hello over websocket', sentAt: Date.now() } });
  await page.locator('#ticker li', { hasText: 'hello over websocket' }).waitFor({ timeout: waitMs });
  const [message] = await receivedCount(page, 1);
  t.deepEqual(message!.data, { text: 'hello over websocket', sentAt: (message!.data as { sentAt: number }).sentAt });
  t.true(typeof message!.latency === 'number' && message!.latency >= 0);
  t.regex((await page.locator('#ticker li .latency').first().textContent()) ?? '', /^\d+ ms$/);
});

test('with WebSocket removed from the page it falls back to HTTP streaming and receives the same messages (also with ?transport=http-stream)', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const withSocket = await openDemo(t, mesh, 'topic=browser.fallback');
  const withoutSocket = await openDemo(t, mesh, 'topic=browser.fallback', () => {
    delete (window as unknown as { WebSocket?: unknown }).WebSocket;
  });
  t.is(
    await withoutSocket.evaluate(() => typeof (window as unknown as { WebSocket?: unknown }).WebSocket),
    'undefined',
  );
  t.is(await withoutSocket.locator('#transport').textContent(), 'http-stream');
  const streamOnly = await openDemo(t, mesh, 'topic=browser.fallback&transport=http-stream');
  t.is(await streamOnly.locator('#transport').textContent(), 'http-stream');

  const items = [1, 2, 3].map((n) => ({
    topic: 'browser.fallback',
    data: { text: `message ${n}`, sentAt: Date.now() },
  }));
  await publishBody(mesh.core, items);
  const strip = (list: ReceivedMessage[]): unknown[] => list.map(({ offset, data }) => ({ offset, data }));
  const overSocket = await receivedCount(withSocket, 3);
  const overStream = await receivedCount(withoutSocket, 3);
  t.deepEqual(strip(await receivedCount(streamOnly, 3)), strip(overSocket));
  t.deepEqual(strip(overStream), strip(overSocket));
  t.deepEqual(
    overStream.map(({ data }) => (data as { text: string }).text),
    ['message 1', 'message 2', 'message 3'],
  );
});

test('a page on another origin connects when the edge allows that origin, and is refused when it does not', async (t) => {
  let allowingEdge = '';
  let refusingEdge = '';
  const allowedSite = await startOtherOrigin(t, () => allowingEdge);
  const refusedSite = await startOtherOrigin(t, () => refusingEdge);
  const allowing = await startMesh(t, {
    edges: [{ id: 'open-1', region: 'eu' }],
    edge: { origins: [allowedSite.origin] },
  });
  const refusing = await startMesh(t, {
    edges: [{ id: 'locked-1', region: 'eu' }],
    edge: { origins: [allowedSite.origin] },
  });
  allowingEdge = allowing.http(allowing.edges[0]!);
  refusingEdge = refusing.http(refusing.edges[0]!);

  const resultOf = async (page: Page, url: string): Promise<CrossOriginWindow['result']> => {
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as CrossOriginWindow).result !== undefined, undefined, {
      timeout: waitMs,
    });
    return page.evaluate(() => (window as unknown as CrossOriginWindow).result);
  };
  t.deepEqual(await resultOf(await newPage(t), `${allowedSite.origin}/`), { ok: true, edge: 'open-1' });
  const refused = await resultOf(await newPage(t), `${refusedSite.origin}/`);
  t.is(refused?.ok, false);
  t.is(refusing.edges[0]!.sessionCount, 0);
});

test('a screenshot of the demo page is written to test/artifacts/demo.png', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const page = await openDemo(t, mesh, 'topic=demo.ticker');
  await page.setViewportSize({ width: 1000, height: 700 });
  const now = Date.now();
  await publishBody(
    mesh.core,
    [
      'Markets open',
      'EUR/USD 1.0842',
      'Edge eu-1 serving 1 browser',
      'Hello from the core',
      'Ticket #1293 resolved',
    ].map((text) => ({ topic: 'demo.ticker', data: { text, sentAt: now } })),
  );
  await receivedCount(page, 5);
  await mkdir(artifacts, { recursive: true });
  const file = `${artifacts}demo.png`;
  await page.screenshot({ path: file, fullPage: true });
  t.true((await stat(file)).size > 1000);
});
