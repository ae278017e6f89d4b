// End-to-end tests of the HTTP API (docs/protocol.md §4) on a real core and real edges: POST /v1/publish (single, batch,
// bad bodies, limits), /healthz (ready and not ready), /metrics, and HTTP publishes reaching WebSocket subscribers.

import { once } from 'node:events';
import { connect } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { startCore } from '../core/start-core.js';
import { startEdge } from '../edge/start-edge.js';
import { silentLogger, startMesh, type Mesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { within } from './helpers/within.js';

interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

async function request(url: string, init: RequestInit = {}): Promise<Reply> {
  const response = await fetch(url, init);
  const text = await response.text();
  const isJson = (response.headers.get('content-type') ?? '').includes('application/json');
  return { status: response.status, headers: response.headers, body: isJson ? (JSON.parse(text) as unknown) : text };
}

function publish(base: string, body: unknown): Promise<Reply> {
  return request(`${base}/v1/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function errorCode(reply: Reply): unknown {
  const body = reply.body as { error?: { code?: unknown; message?: unknown } } | null;
  return body?.error?.code;
}

function expectError(t: ExecutionContext, reply: Reply, status: number, code: string, what: string): void {
  t.is(reply.status, status, `${what}: ${JSON.stringify(reply.body)}`);
  t.is(errorCode(reply), code, `${what}: ${JSON.stringify(reply.body)}`);
  t.is(typeof (reply.body as { error: { message: unknown } }).error.message, 'string', what);
}

/** The nodes to test the publish API on: the core, and an edge that forwards over its uplink. */
function publishTargets(mesh: Mesh): Array<{ name: string; base: string }> {
  return [
    { name: 'core', base: mesh.http(mesh.core) },
    { name: 'edge', base: mesh.http(mesh.edges[0]!) },
  ];
}

for (const node of ['core', 'edge'] as const) {
  const target = (mesh: Mesh): string => (node === 'core' ? mesh.http(mesh.core) : mesh.http(mesh.edges[0]!));

  test(`POST /v1/publish on the ${node}: one message → 200 {epoch, offset}, consecutive per topic`, async (t) => {
    const mesh = await startMesh(t);
    const first = await publish(target(mesh), { topic: `single.${node}`, data: { n: 1 } });
    t.is(first.status, 200);
    t.true((first.headers.get('content-type') ?? '').startsWith('application/json'));
    const { epoch, offset } = first.body as { epoch: unknown; offset: unknown };
    t.is(typeof epoch, 'string');
    t.is(offset, 1);
    t.deepEqual(Object.keys(first.body as object).sort(), ['epoch', 'offset']);
    const second = await publish(target(mesh), { topic: `single.${node}`, data: 'two' });
    t.deepEqual(second.body, { epoch, offset: 2 });
    const other = await publish(target(mesh), { topic: `other.${node}`, data: null });
    t.deepEqual(other.body, { epoch, offset: 1 }, 'each topic has its own offsets');
  });

  test(`POST /v1/publish on the ${node}: a batch → an array of positions with consecutive offsets`, async (t) => {
    const mesh = await startMesh(t);
    await publish(target(mesh), { topic: 'batch.a', data: 0 });
    const reply = await publish(target(mesh), [
      { topic: 'batch.a', data: 1 },
      { topic: 'batch.a', data: 2 },
      { topic: 'batch.a', data: 3 },
      { topic: 'batch.b', data: 'b1' },
    ]);
    t.is(reply.status, 200, JSON.stringify(reply.body));
    const positions = reply.body as Array<{ epoch: string; offset: number }>;
    t.true(Array.isArray(positions));
    t.is(positions.length, 4);
    t.deepEqual(
      positions.map((position) => position.offset),
      [2, 3, 4, 1],
    );
    t.is(new Set(positions.map((position) => position.epoch)).size, 1, 'one epoch');
    const single = await publish(target(mesh), [{ topic: 'batch.c', data: 1 }]);
    t.true(Array.isArray(single.body), 'a batch of one is still an array');
    t.like(single.body, [{ offset: 1 }]);
  });

  test(`POST /v1/publish on the ${node}: bad bodies → 400 with the error code, nothing published`, async (t) => {
    const mesh = await startMesh(t);
    const base = target(mesh);
    expectError(t, await publish(base, '{"topic": "a.b", "data": '), 400, 'bad_request', 'invalid JSON');
    expectError(t, await publish(base, ''), 400, 'bad_request', 'empty body');
    expectError(t, await publish(base, { topic: 'a..b', data: 1 }), 400, 'invalid_topic', 'empty token');
    expectError(t, await publish(base, { topic: 'a.*', data: 1 }), 400, 'invalid_topic', 'pattern');
    expectError(t, await publish(base, { topic: 'x'.repeat(256), data: 1 }), 400, 'invalid_topic', '256-byte topic');
    expectError(t, await publish(base, { topic: 'a.b' }), 400, 'bad_request', 'missing data');
    expectError(t, await publish(base, { data: 1 }), 400, 'bad_request', 'missing topic');
    expectError(t, await publish(base, { topic: 7, data: 1 }), 400, 'bad_request', 'numeric topic');
    expectError(t, await publish(base, 42), 400, 'bad_request', 'a number');
    expectError(t, await publish(base, 'null'), 400, 'bad_request', 'null');
    expectError(t, await publish(base, []), 400, 'bad_request', 'empty batch');
    expectError(
      t,
      await publish(base, [{ topic: 'a.b', data: 1 }, 'x']),
      400,
      'bad_request',
      'batch with a non-object',
    );
    expectError(
      t,
      await publish(base, [
        { topic: 'a.b', data: 1 },
        { topic: 'a b', data: 2 },
      ]),
      400,
      'invalid_topic',
      'batch with a bad topic',
    );
    expectError(
      t,
      await publish(base, [{ topic: 'a.b', data: 1 }, { topic: 'a.b' }]),
      400,
      'bad_request',
      'batch with missing data',
    );
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ topic: 'a.b', data: i }));
    expectError(t, await publish(base, tooMany), 413, 'too_large', 'a batch of more than 1000');
    // A batch is checked as a whole before anything is published: a.b is still empty.
    t.like((await publish(base, { topic: 'a.b', data: 'first' })).body, { offset: 1 });
  });

  test(`GET /v1/publish on the ${node} → 405 with Allow: POST`, async (t) => {
    const mesh = await startMesh(t);
    const reply = await request(`${target(mesh)}/v1/publish`);
    t.is(reply.status, 405, JSON.stringify(reply.body));
    t.is(reply.headers.get('allow'), 'POST');
    t.is(errorCode(reply), 'bad_request');
    t.is((await request(`${target(mesh)}/v1/publish`, { method: 'PUT', body: '{}' })).status, 405);
  });

  test(`unknown paths on the ${node} → 404`, async (t) => {
    const mesh = await startMesh(t);
    // Edges serve the demo page at /; the core has nothing there.
    for (const path of [...(node === 'core' ? ['/'] : []), '/v1', '/v1/publish/extra', '/healthz/x', '/nope']) {
      const reply = await request(`${target(mesh)}${path}`);
      t.is(reply.status, 404, path);
      t.is(typeof errorCode(reply), 'string', path);
    }
  });
}

test('a body over the limit → 413 too_large, on the core and on the edge', async (t) => {
  const limit = 1024;
  const mesh = await startMesh(t, { core: { maxPublishBodyBytes: limit }, edge: { maxPublishBodyBytes: limit } });
  for (const { name, base } of publishTargets(mesh)) {
    const over = JSON.stringify({ topic: 'limit.body', data: 'x'.repeat(limit) });
    expectError(t, await publish(base, over), 413, 'too_large', `${name}: one body over the limit`);
    const batch = JSON.stringify(
      Array.from({ length: 20 }, (_, i) => ({ topic: 'limit.body', data: `item ${i} ${'y'.repeat(40)}` })),
    );
    t.true(batch.length > limit);
    expectError(t, await publish(base, batch), 413, 'too_large', `${name}: a batch over the limit`);
    // Without Content-Length (chunked), the limit is enforced while reading.
    const chunks = [over.slice(0, 600), over.slice(600)].map((part) => new TextEncoder().encode(part));
    const streamed = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks.shift();
        if (chunk) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const chunked = await request(`${base}/v1/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: streamed,
      duplex: 'half',
    } as RequestInit);
    expectError(t, chunked, 413, 'too_large', `${name}: a chunked body over the limit`);
    // Just under the limit is fine, and nothing of the refused bodies was published.
    const under = JSON.stringify({ topic: 'limit.body', data: 'z'.repeat(limit - 100) });
    t.true(under.length <= limit);
    const ok = await publish(base, under);
    t.is(ok.status, 200, `${name}: ${JSON.stringify(ok.body)}`);
  }
  t.like((await publish(mesh.http(mesh.core), { topic: 'limit.body', data: 'last' })).body, { offset: 3 });
});

test('GET /healthz on the core and on each edge → 200 {status: ok, role, id}', async (t) => {
  const mesh = await startMesh(t);
  const core = await request(`${mesh.http(mesh.core)}/healthz`);
  t.is(core.status, 200);
  t.like(core.body, { status: 'ok', role: 'core', id: 'central' });
  for (const [edge, id] of [
    [mesh.edges[0]!, 'eu-1'],
    [mesh.edges[1]!, 'us-1'],
  ] as const) {
    const reply = await request(`${mesh.http(edge)}/healthz`);
    t.is(reply.status, 200);
    t.like(reply.body, { status: 'ok', role: 'edge', id });
  }
});

test('edge /healthz → 503 with status and reason once its core is gone', async (t) => {
  const core = await startCore({ id: 'central', logger: silentLogger });
  let coreClosed = false;
  t.teardown(async () => {
    if (!coreClosed) await core.close();
  });
  const edge = await startEdge({
    id: 'eu-1',
    region: 'eu',
    cores: [{ id: core.id, url: core.url }],
    logger: silentLogger,
    limits: { publishHoldMs: 200 },
  });
  t.teardown(() => edge.close());
  await edge.ready();
  const healthz = `${edge.url.replace(/^ws/, 'http')}/healthz`;
  t.is((await request(healthz)).status, 200);

  await core.close();
  coreClosed = true;
  // The edge learns of the loss from its socket; each try is a fresh request, no sleeping in between.
  let reply = await request(healthz);
  for (let tries = 1; reply.status === 200 && tries < 5000; tries++) reply = await request(healthz);
  t.is(reply.status, 503, JSON.stringify(reply.body));
  const body = reply.body as { status: unknown; reason: unknown; role: unknown; id: unknown };
  t.like(body, { role: 'edge', id: 'eu-1' });
  t.is(typeof body.status, 'string');
  t.not(body.status, 'ok');
  t.is(typeof body.reason, 'string');
  t.true((body.reason as string).length > 0);
  // A publish through an edge without uplink is held up to publishHoldMs, then refused as unavailable, never lost silently.
  expectError(
    t,
    await publish(edge.url.replace(/^ws/, 'http'), { topic: 'no.core', data: 1 }),
    503,
    'unavailable',
    'publish without uplink',
  );
  t.is((await request(`${edge.url.replace(/^ws/, 'http')}/metrics`)).status, 200, 'metrics still answer');
});

test('GET /metrics on the core and on the edge → 200 Prometheus text with relaymesh_ metrics', async (t) => {
  const mesh = await startMesh(t);
  const edge = mesh.edges[0]!;
  await publish(mesh.http(mesh.core), { topic: 'metrics.core', data: 1 });
  await publish(mesh.http(mesh.core), { topic: 'metrics.core', data: 2 });
  await publish(mesh.http(edge), [
    { topic: 'metrics.edge', data: 1 },
    { topic: 'metrics.edge', data: 2 },
    { topic: 'metrics.edge', data: 3 },
  ]);

  const core = await request(`${mesh.http(mesh.core)}/metrics`);
  t.is(core.status, 200);
  t.true((core.headers.get('content-type') ?? '').startsWith('text/plain'), core.headers.get('content-type') ?? '');
  const coreText = core.body as string;
  t.regex(coreText, /^# HELP relaymesh_core_/m);
  t.regex(coreText, /^# TYPE relaymesh_core_published_total counter$/m);
  // Two over the core's HTTP API and three forwarded by the edge.
  t.regex(coreText, /^relaymesh_core_published_total\{[^}]*node="central"[^}]*\} 5$/m);

  const edgeReply = await request(`${mesh.http(edge)}/metrics`);
  t.is(edgeReply.status, 200);
  t.true((edgeReply.headers.get('content-type') ?? '').startsWith('text/plain'));
  const edgeText = edgeReply.body as string;
  t.regex(edgeText, /^# HELP relaymesh_edge_/m);
  t.regex(edgeText, /^relaymesh_edge_uplink_up\{[^}]*node="eu-1"[^}]*\} 1$/m);
  t.regex(edgeText, /^relaymesh_edge_published_total\{[^}]*node="eu-1"[^}]*\} 3$/m);
  t.notRegex(edgeText, /node="central"/, 'each node has its own registry');
});

test('a message published through one edge over HTTP reaches a subscriber on the other edge', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = [mesh.edges[0]!, mesh.edges[1]!];
  const subscriber = await RawClient.connected(t, us.url);
  const msgpackSubscriber = await RawClient.connected(t, us.url, 'msgpack');
  t.like(await subscriber.subscribe('cross.edge', 1), { op: 'subok', offset: 0 });
  t.like(await msgpackSubscriber.subscribe('cross.*', 1), { op: 'subok' });

  const single = await publish(mesh.http(eu), { topic: 'cross.edge', data: { from: 'eu', n: 1 } });
  t.is(single.status, 200);
  const position = single.body as { epoch: string; offset: number };
  t.like(await subscriber.next((op) => op.op === 'msg'), {
    op: 'msg',
    topic: 'cross.edge',
    epoch: position.epoch,
    offset: position.offset,
    data: { from: 'eu', n: 1 },
  });
  t.like(await msgpackSubscriber.next((op) => op.op === 'msg'), {
    topic: 'cross.edge',
    offset: position.offset,
    data: { from: 'eu', n: 1 },
  });

  const batch = await publish(mesh.http(eu), [
    { topic: 'cross.edge', data: 'b1' },
    { topic: 'cross.edge', data: 'b2' },
  ]);
  t.deepEqual(
    (batch.body as Array<{ offset: number }>).map((p) => p.offset),
    [2, 3],
  );
  const messages = await subscriber.messages(3);
  t.deepEqual(
    messages.map((op) => [op.offset, op.data]),
    [
      [1, { from: 'eu', n: 1 }],
      [2, 'b1'],
      [3, 'b2'],
    ],
  );
});

// Data nested deeper than the limit is the client's mistake, not the server's: a 4xx, not 500 internal.
for (const node of ['core', 'edge'] as const) {
  test(`deeply nested data on the ${node} → 400, not 500 internal`, async (t) => {
    const mesh = await startMesh(t);
    const base = node === 'core' ? mesh.http(mesh.core) : mesh.http(mesh.edges[0]!);
    const depth = 5000;
    const reply = await publish(base, `{"topic":"deep.data","data":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    t.true(reply.status >= 400 && reply.status < 500, `${reply.status} ${JSON.stringify(reply.body)}`);
  });
}

test('a body refused for its declared size is not read: the answer closes the connection', async (t) => {
  const mesh = await startMesh(t, { core: { maxPublishBodyBytes: 1024 }, edge: { maxPublishBodyBytes: 1024 } });
  for (const node of [mesh.core, mesh.edges[0]!]) {
    const socket = connect(node.address.port, node.address.host);
    t.teardown(() => socket.destroy());
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    // Only the head: a server that went on reading the declared 100 MB would never end this connection.
    socket.write(
      'POST /v1/publish HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n',
    );
    await within(once(socket, 'end'), 'the server ends the connection');
    t.regex(answer, /^HTTP\/1\.1 413 /);
    t.regex(answer, /\r\nconnection: close\r\n/i);
  }
});
