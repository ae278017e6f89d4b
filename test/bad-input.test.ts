// End-to-end tests of bad client input (docs/protocol.md §2) against a real mesh: what closes the connection (4400, 1009, 4408),
// what is answered with `error` while the connection stays open, and that one bad client never disturbs a bystander on the same edge.

import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { pack } from 'msgpackr';
import WebSocket from 'ws';
import { startMesh, type Mesh, type MeshOptions } from './helpers/mesh.js';
import { within } from './helpers/within.js';
import { RawClient, type Op } from './helpers/raw-client.js';
import { publish } from './helpers/http-publish.js';

type Format = 'json' | 'msgpack';
const formats: readonly Format[] = ['json', 'msgpack'];

/** A well-behaved client on the first edge, subscribed before the bad client shows up. */
interface Bystander {
  client: RawClient;
  /** Publishes through the core and checks the bystander's very next `msg` is it, at the next offset. */
  expectDelivery(): Promise<void>;
}

async function startBystander(t: ExecutionContext, mesh: Mesh, format: Format = 'json'): Promise<Bystander> {
  const topic = 'bystander.feed';
  const client = await RawClient.connected(t, mesh.edges[0]!.url, format);
  const subok = await client.subscribe(topic, 'bystander');
  t.is(subok.op, 'subok', JSON.stringify(subok));
  let last = subok.offset as number;
  const expectDelivery = async (): Promise<void> => {
    const data = { n: last + 1 };
    const position = await publish(mesh.core, topic, data);
    t.is(position.offset, last + 1, 'the core sequenced the bystander topic consecutively');
    const msg = await client.next((op) => op.op === 'msg');
    t.like(msg, { op: 'msg', topic, epoch: position.epoch, offset: last + 1, data });
    t.is(client.ws.readyState, WebSocket.OPEN, 'the bystander is still connected');
    t.deepEqual(
      client.received.filter((op) => op.op === 'error'),
      [],
      'the bystander got no error',
    );
    last = position.offset;
  };
  await expectDelivery();
  return { client, expectDelivery };
}

async function meshWithBystander(
  t: ExecutionContext,
  options: MeshOptions = {},
): Promise<{ mesh: Mesh; edgeUrl: string; bystander: Bystander }> {
  const mesh = await startMesh(t, options);
  const bystander = await startBystander(t, mesh);
  return { mesh, edgeUrl: mesh.edges[0]!.url, bystander };
}

async function expectClose(client: RawClient, code: number, what: string): Promise<{ code: number; reason: string }> {
  const closed = await within(client.closed, `${what}: close`);
  if (closed.code !== code) throw new Error(`${what}: closed with ${closed.code} (${closed.reason}), expected ${code}`);
  return closed;
}

let probeCounter = 0;

/** Proves the connection is open and in order: a `ping` with a fresh id is answered by a `pong` echoing it. */
async function expectAlive(t: ExecutionContext, client: RawClient): Promise<void> {
  const id = `probe-${++probeCounter}`;
  client.send({ op: 'ping', id });
  const reply = await client.next((op) => op.id === id || op.op === 'error');
  t.deepEqual(reply, { op: 'pong', id });
}

/** Sends `op` and expects the next `error` with `code`, echoing `id` (or carrying none when `id` is undefined). */
async function expectError(
  t: ExecutionContext,
  client: RawClient,
  op: Record<string, unknown>,
  code: string,
  id: unknown,
): Promise<Op> {
  client.send(op);
  const error = await client.next((reply) => reply.op === 'error' || (id !== undefined && reply.id === id));
  t.is(error.op, 'error', `${JSON.stringify(op)} → ${JSON.stringify(error)}`);
  t.is(error.code, code, `${JSON.stringify(op)} → ${JSON.stringify(error)}`);
  t.is(typeof error.message, 'string');
  if (id === undefined) t.false('id' in error, `no id to echo: ${JSON.stringify(error)}`);
  else t.deepEqual(error.id, id);
  return error;
}

// ── Closes with 4400 ─────────────────────────────────────────────────────────

interface FatalCase {
  title: string;
  format: Format;
  /** Send `connect` (and wait for `welcome`) before the bad message. */
  connectFirst: boolean;
  send(ws: WebSocket): void;
}

const text =
  (payload: string) =>
  (ws: WebSocket): void =>
    ws.send(payload);
const binary =
  (payload: Uint8Array) =>
  (ws: WebSocket): void =>
    ws.send(payload, { binary: true });
const truncatedPing = pack({ op: 'ping', id: 'truncated', padding: 'x'.repeat(20) });

const fatalCases: FatalCase[] = [
  { title: 'a ping before connect', format: 'json', connectFirst: false, send: text('{"op":"ping","id":1}') },
  {
    title: 'a sub before connect',
    format: 'json',
    connectFirst: false,
    send: text('{"op":"sub","id":1,"topic":"a.b"}'),
  },
  {
    title: 'a pub before connect',
    format: 'json',
    connectFirst: false,
    send: text('{"op":"pub","id":1,"topic":"a.b","data":1}'),
  },
  { title: 'an unknown op before connect', format: 'json', connectFirst: false, send: text('{"op":"hello"}') },
  { title: 'unparsable JSON before connect', format: 'json', connectFirst: false, send: text('{"op":"connect"') },
  {
    title: 'a ping before connect (msgpack)',
    format: 'msgpack',
    connectFirst: false,
    send: binary(pack({ op: 'ping', id: 1 })),
  },
  { title: 'unparsable JSON', format: 'json', connectFirst: true, send: text('{"op":"ping",') },
  { title: 'an empty text frame', format: 'json', connectFirst: true, send: text('') },
  { title: 'a JSON array', format: 'json', connectFirst: true, send: text('[{"op":"ping","id":1}]') },
  { title: 'a JSON number', format: 'json', connectFirst: true, send: text('42') },
  { title: 'a JSON string', format: 'json', connectFirst: true, send: text('"ping"') },
  { title: 'JSON null', format: 'json', connectFirst: true, send: text('null') },
  { title: 'an object without op', format: 'json', connectFirst: true, send: text('{"id":1,"topic":"a.b"}') },
  { title: 'an op that is not a string', format: 'json', connectFirst: true, send: text('{"op":5,"id":1}') },
  { title: 'an unknown op', format: 'json', connectFirst: true, send: text('{"op":"subscribe","id":1,"topic":"a.b"}') },
  { title: 'an op name in the wrong case', format: 'json', connectFirst: true, send: text('{"op":"PING","id":1}') },
  {
    title: 'a binary frame to a json client',
    format: 'json',
    connectFirst: true,
    send: binary(Buffer.from('{"op":"ping","id":1}')),
  },
  {
    title: 'a text frame to a msgpack client',
    format: 'msgpack',
    connectFirst: true,
    send: text('{"op":"ping","id":1}'),
  },
  {
    title: 'the byte 0xC1 (never used in MessagePack)',
    format: 'msgpack',
    connectFirst: true,
    send: binary(Uint8Array.of(0xc1)),
  },
  {
    title: 'truncated MessagePack',
    format: 'msgpack',
    connectFirst: true,
    send: binary(truncatedPing.subarray(0, truncatedPing.length - 5)),
  },
  {
    title: 'a MessagePack str header longer than the frame',
    format: 'msgpack',
    connectFirst: true,
    send: binary(Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61)),
  },
  {
    title: 'an unknown MessagePack extension type',
    format: 'msgpack',
    connectFirst: true,
    send: binary(Uint8Array.of(0xd4, 0x05, 0x01)),
  },
  { title: 'an empty binary frame', format: 'msgpack', connectFirst: true, send: binary(new Uint8Array(0)) },
  {
    title: 'two MessagePack values in one frame',
    format: 'msgpack',
    connectFirst: true,
    send: binary(Buffer.concat([pack({ op: 'ping', id: 1 }), pack({ op: 'ping', id: 2 })])),
  },
  { title: 'a MessagePack array', format: 'msgpack', connectFirst: true, send: binary(pack([{ op: 'ping', id: 1 }])) },
  { title: 'a MessagePack number', format: 'msgpack', connectFirst: true, send: binary(pack(42)) },
  {
    title: 'MessagePack binary data',
    format: 'msgpack',
    connectFirst: true,
    send: binary(pack(Buffer.from('{"op":"ping"}'))),
  },
  {
    title: 'a MessagePack map without op',
    format: 'msgpack',
    connectFirst: true,
    send: binary(pack({ id: 1, topic: 'a.b' })),
  },
  {
    title: 'a MessagePack unknown op',
    format: 'msgpack',
    connectFirst: true,
    send: binary(pack({ op: 'publish', id: 1 })),
  },
  {
    title: 'a MessagePack map with a non-string key',
    format: 'msgpack',
    connectFirst: true,
    send: binary(Uint8Array.of(0x81, 0x91, 0x01, 0x02)),
  },
];

for (const fatal of fatalCases) {
  test(`closes 4400 on ${fatal.title} (${fatal.format}); a bystander is undisturbed`, async (t) => {
    const { edgeUrl, bystander } = await meshWithBystander(t);
    const client = fatal.connectFirst
      ? await RawClient.connected(t, edgeUrl, fatal.format)
      : await RawClient.open(t, edgeUrl, fatal.format);
    fatal.send(client.ws);
    await expectClose(client, 4400, fatal.title);
    t.deepEqual(
      client.received.filter((op) => op.op !== 'welcome'),
      [],
      'nothing but the close answers a protocol violation',
    );
    await bystander.expectDelivery();
  });
}

// The first message must be `connect`; "anything else first closes with 4400" includes a known op with bad fields.
for (const format of formats) {
  test(`an ill-typed op before connect closes 4400 (${format})`, async (t) => {
    const { edgeUrl, bystander } = await meshWithBystander(t);
    const client = await RawClient.open(t, edgeUrl, format);
    client.send({ op: 'sub', id: 1 });
    const outcome = await within(
      Promise.race([client.closed, client.next((op) => op.op === 'error')]),
      'answer to sub without topic before connect',
    );
    t.like(outcome, { code: 4400 }, `got ${JSON.stringify(outcome)}`);
    await bystander.expectDelivery();
  });
}

// 0xC1 is "never used" in MessagePack: a frame holding it is not MessagePack, wherever the byte sits.
test('a msgpack pub whose data is the byte 0xC1 closes 4400', async (t) => {
  const { edgeUrl, bystander } = await meshWithBystander(t);
  const client = await RawClient.connected(t, edgeUrl, 'msgpack');
  const pubHead = pack({ op: 'pub', id: 1, topic: 'c1.data', data: null });
  // Replace the trailing nil (0xC0) of `data` with 0xC1.
  t.is(pubHead.at(-1), 0xc0);
  const frame = Buffer.from(pubHead);
  frame[frame.length - 1] = 0xc1;
  client.ws.send(frame, { binary: true });
  const outcome = await within(
    Promise.race([client.closed, client.next((op) => op.id === 1)]),
    'answer to pub with 0xC1',
  );
  t.like(outcome, { code: 4400 }, `got ${JSON.stringify(outcome)}`);
  await bystander.expectDelivery();
});

// ── Answered with `error`; the connection stays open ─────────────────────────

const longId = 'i'.repeat(257);
const badRequests: Array<{ title: string; op: Record<string, unknown>; id: unknown }> = [
  { title: 'sub without topic', op: { op: 'sub', id: 1 }, id: 1 },
  { title: 'sub with a numeric topic', op: { op: 'sub', id: 2, topic: 42 }, id: 2 },
  { title: 'sub with since a string', op: { op: 'sub', id: 3, topic: 'a.b', since: 'epoch:3' }, id: 3 },
  {
    title: 'sub with a negative since offset',
    op: { op: 'sub', id: 'neg', topic: 'a.b', since: { epoch: 'e1', offset: -1 } },
    id: 'neg',
  },
  {
    title: 'sub with a fractional since offset',
    op: { op: 'sub', id: 4, topic: 'a.b', since: { epoch: 'e1', offset: 1.5 } },
    id: 4,
  },
  {
    title: 'sub with an empty since epoch',
    op: { op: 'sub', id: 5, topic: 'a.b', since: { epoch: '', offset: 1 } },
    id: 5,
  },
  { title: 'sub with since missing its epoch', op: { op: 'sub', id: 6, topic: 'a.b', since: { offset: 1 } }, id: 6 },
  { title: 'unsub without topic', op: { op: 'unsub', id: 7 }, id: 7 },
  { title: 'pub without data', op: { op: 'pub', id: 8, topic: 'a.b' }, id: 8 },
  { title: 'pub without topic', op: { op: 'pub', id: 9, data: 1 }, id: 9 },
  { title: 'pub with a topic that is an array', op: { op: 'pub', id: 10, topic: ['a', 'b'], data: 1 }, id: 10 },
  { title: 'connect with a numeric token', op: { op: 'connect', id: 11, token: 5 }, id: 11 },
  { title: 'ping with an object id', op: { op: 'ping', id: { n: 1 } }, id: undefined },
  { title: 'ping with an array id', op: { op: 'ping', id: [1] }, id: undefined },
  { title: 'ping with a boolean id', op: { op: 'ping', id: true }, id: undefined },
  { title: 'sub with an object id', op: { op: 'sub', id: { n: 1 }, topic: 'a.b' }, id: undefined },
  { title: 'ping with an id over 256 characters', op: { op: 'ping', id: longId }, id: undefined },
];

for (const format of formats) {
  test(`ill-typed fields get error bad_request and the connection stays open (${format})`, async (t) => {
    const { edgeUrl, bystander } = await meshWithBystander(t);
    const client = await RawClient.connected(t, edgeUrl, format);
    for (const { title, op, id } of badRequests) {
      await t.notThrowsAsync(async () => {
        await expectError(t, client, op, 'bad_request', id);
        await expectAlive(t, client);
      }, title);
    }
    // Nothing of the bad ops took effect: a valid sub of the same topic is the first one.
    const subok = await client.subscribe('a.b', 'good');
    t.like(subok, { op: 'subok', id: 'good', topic: 'a.b', recovered: false });
    await bystander.expectDelivery();
  });

  test(`invalid topics get error invalid_topic with the request id (${format})`, async (t) => {
    const { edgeUrl, bystander } = await meshWithBystander(t);
    const client = await RawClient.connected(t, edgeUrl, format);
    const cases: Array<Record<string, unknown>> = [
      { op: 'sub', topic: 'a..b' },
      { op: 'sub', topic: 'a b' },
      { op: 'sub', topic: 'a\tb' },
      { op: 'sub', topic: 'a.>.b' },
      { op: 'sub', topic: 'a.b*' },
      { op: 'sub', topic: '' },
      { op: 'sub', topic: '.a' },
      { op: 'sub', topic: 'a.' },
      { op: 'sub', topic: 'x'.repeat(256) },
      { op: 'sub', topic: 'é'.repeat(128) },
      { op: 'pub', topic: 'a.*', data: 1 },
      { op: 'pub', topic: 'a.>', data: 1 },
      { op: 'pub', topic: '>', data: 1 },
      { op: 'pub', topic: 'a..b', data: 1 },
      { op: 'pub', topic: 'a b', data: 1 },
      { op: 'pub', topic: 'x'.repeat(256), data: 1 },
    ];
    let n = 0;
    for (const op of cases) {
      const id = `topic-${++n}`;
      await t.notThrowsAsync(
        () => expectError(t, client, { ...op, id }, 'invalid_topic', id),
        JSON.stringify(op).slice(0, 80),
      );
    }
    await expectAlive(t, client);
    // The boundary: 255 bytes is a topic.
    const longest = 'é'.repeat(127) + 'x';
    t.like(await client.subscribe(longest, 'longest'), { op: 'subok', id: 'longest', topic: longest });
    client.send({ op: 'pub', id: 'pub-longest', topic: longest, data: 'edge' });
    // The msg and the puback may come in either order.
    const [msg] = await client.messages(1);
    t.like(msg, { topic: longest, offset: 1, data: 'edge' });
    t.like(await client.next((op) => op.id === 'pub-longest'), { op: 'puback', offset: 1 });
    await bystander.expectDelivery();
  });

  test(`unsub of a topic not subscribed gets not_subscribed (${format})`, async (t) => {
    const { edgeUrl, bystander } = await meshWithBystander(t);
    const client = await RawClient.connected(t, edgeUrl, format);
    await expectError(t, client, { op: 'unsub', id: 'u1', topic: 'never.subscribed' }, 'not_subscribed', 'u1');
    t.like(await client.subscribe('once.subscribed', 's1'), { op: 'subok' });
    client.send({ op: 'unsub', id: 'u2', topic: 'once.subscribed' });
    t.deepEqual(await client.next((op) => op.id === 'u2'), { op: 'unsubok', id: 'u2' });
    await expectError(t, client, { op: 'unsub', id: 'u3', topic: 'once.subscribed' }, 'not_subscribed', 'u3');
    await expectAlive(t, client);
    await bystander.expectDelivery();
  });

  test(`a second connect renews the session (same id) and the session goes on (${format})`, async (t) => {
    const { mesh, edgeUrl, bystander } = await meshWithBystander(t);
    const client = await RawClient.connected(t, edgeUrl, format);
    const first = client.received.find((op) => op.op === 'welcome')!;
    client.send({ op: 'connect', id: 'again' });
    t.like(await client.next((op) => op.id === 'again'), { op: 'welcome', session: first.session });
    t.like(await client.subscribe('after.reconnect', 1), { op: 'subok', id: 1 });
    const position = await publish(mesh.core, 'after.reconnect', 'still here');
    t.like(await client.next((op) => op.op === 'msg'), {
      topic: 'after.reconnect',
      offset: position.offset,
      data: 'still here',
    });
    await bystander.expectDelivery();
  });

  test(`subscribing twice to the same topic gets bad_request; the first subscription delivers once (${format})`, async (t) => {
    const { mesh, edgeUrl, bystander } = await meshWithBystander(t);
    const client = await RawClient.connected(t, edgeUrl, format);
    t.like(await client.subscribe('twice.topic', 'first'), { op: 'subok', id: 'first' });
    await expectError(t, client, { op: 'sub', id: 'second', topic: 'twice.topic' }, 'bad_request', 'second');
    t.like(await client.subscribe('twice.*', 'pattern-1'), { op: 'subok', id: 'pattern-1' });
    await expectError(t, client, { op: 'sub', id: 'pattern-2', topic: 'twice.*' }, 'bad_request', 'pattern-2');
    const position = await publish(mesh.core, 'twice.topic', { once: true });
    t.like(await client.next((op) => op.op === 'msg'), {
      topic: 'twice.topic',
      offset: position.offset,
      data: { once: true },
    });
    // A duplicate would have been queued in the same fan-out, before the pong.
    await expectAlive(t, client);
    t.is(client.received.filter((op) => op.op === 'msg').length, 1);
    await bystander.expectDelivery();
  });
}

// ── Limits ───────────────────────────────────────────────────────────────────

for (const format of formats) {
  test(`a message over the size limit closes 1009; one at the limit is accepted (${format})`, async (t) => {
    const limit = 1024;
    const { edgeUrl, bystander } = await meshWithBystander(t, { edge: { limits: { maxMessageBytes: limit } } });
    const encode = (op: Record<string, unknown>): Buffer =>
      format === 'msgpack' ? pack(op) : Buffer.from(JSON.stringify(op));
    // A pub padded to exactly `size` bytes on the wire.
    const pubOfSize = (id: string, size: number): Buffer => {
      let padding = size;
      for (let attempt = 0; attempt < 5; attempt++) {
        const encoded = encode({ op: 'pub', id, topic: 'size.limit', data: 'x'.repeat(padding) });
        if (encoded.length === size) return encoded;
        padding -= encoded.length - size;
      }
      throw new Error(`cannot pad a pub to ${size} bytes`);
    };
    const good = await RawClient.connected(t, edgeUrl, format);
    good.ws.send(pubOfSize('at-limit', limit), { binary: format === 'msgpack' });
    t.like(await good.next((op) => op.id === 'at-limit'), { op: 'puback', id: 'at-limit', offset: 1 });

    const bad = await RawClient.connected(t, edgeUrl, format);
    bad.ws.send(pubOfSize('over-limit', limit + 1), { binary: format === 'msgpack' });
    await expectClose(bad, 1009, 'one byte over the limit');
    const worse = await RawClient.connected(t, edgeUrl, format);
    worse.send({ op: 'pub', id: 'way-over', topic: 'size.limit', data: 'y'.repeat(10 * limit) });
    await expectClose(worse, 1009, 'ten times the limit');
    t.false(good.received.some((op) => op.op === 'error'));

    await expectAlive(t, good);
    await bystander.expectDelivery();
  });
}

// A client silent for the connect timeout is closed. The timeout applies to the whole edge, bystander included,
// so it is long enough for a client that does connect at once to do so on a loaded machine.
test('no connect within the connect timeout closes 4408; a connected bystander stays', async (t) => {
  const { edgeUrl, bystander } = await meshWithBystander(t, { edge: { limits: { connectTimeoutMs: 1000 } } });
  const silent = await RawClient.open(t, edgeUrl, 'json');
  const msgpackSilent = await RawClient.open(t, edgeUrl, 'msgpack');
  await expectClose(silent, 4408, 'silent json client');
  await expectClose(msgpackSilent, 4408, 'silent msgpack client');
  t.deepEqual(silent.received, []);
  await bystander.expectDelivery();
});

for (const format of formats) {
  test(`subscriptions over the per-session limit get too_many_subscriptions (${format})`, async (t) => {
    const { mesh, edgeUrl, bystander } = await meshWithBystander(t, {
      edge: { limits: { maxSubscriptionsPerSession: 2 } },
    });
    const client = await RawClient.connected(t, edgeUrl, format);
    t.like(await client.subscribe('limit.a', 'a'), { op: 'subok', id: 'a' });
    t.like(await client.subscribe('limit.*', 'pattern'), { op: 'subok', id: 'pattern' });
    await expectError(t, client, { op: 'sub', id: 'c', topic: 'limit.c' }, 'too_many_subscriptions', 'c');
    await expectError(t, client, { op: 'sub', id: 'd', topic: 'limit.>' }, 'too_many_subscriptions', 'd');
    // Unsubscribing frees a slot.
    client.send({ op: 'unsub', id: 'free', topic: 'limit.a' });
    t.like(await client.next((op) => op.id === 'free'), { op: 'unsubok' });
    t.like(await client.subscribe('limit.c', 'c2'), { op: 'subok', id: 'c2' });
    await expectError(t, client, { op: 'sub', id: 'e', topic: 'limit.e' }, 'too_many_subscriptions', 'e');
    // Another session has its own allowance.
    const other = await RawClient.connected(t, edgeUrl, format);
    t.like(await other.subscribe('limit.a', 'o1'), { op: 'subok' });
    t.like(await other.subscribe('limit.c', 'o2'), { op: 'subok' });
    const position = await publish(mesh.core, 'limit.c', 'c');
    t.like(await client.next((op) => op.op === 'msg'), { topic: 'limit.c', offset: position.offset });
    t.like(await other.next((op) => op.op === 'msg'), { topic: 'limit.c', offset: position.offset });
    await bystander.expectDelivery();
  });
}

test('a client that offers no subprotocol gets json', async (t) => {
  const { mesh, edgeUrl, bystander } = await meshWithBystander(t);
  const client = await RawClient.open(t, edgeUrl, 'none');
  t.is(client.ws.protocol, '');
  const frames: boolean[] = [];
  client.ws.on('message', (_data, isBinary) => frames.push(isBinary));
  client.send({ op: 'connect', id: 'c' });
  t.like(await client.next((op) => op.op === 'welcome'), { op: 'welcome', id: 'c', edge: 'eu-1', region: 'eu' });
  t.like(await client.subscribe('plain.json', 's'), { op: 'subok', id: 's', topic: 'plain.json', offset: 0 });
  const position = await publish(mesh.core, 'plain.json', { hello: 'json' });
  t.like(await client.next((op) => op.op === 'msg'), {
    topic: 'plain.json',
    offset: position.offset,
    data: { hello: 'json' },
  });
  t.true(frames.length >= 3);
  t.true(
    frames.every((isBinary) => !isBinary),
    'every frame is a text frame',
  );
  // And it is held to the json rules: a binary frame is a protocol violation.
  client.ws.send(pack({ op: 'ping', id: 1 }), { binary: true });
  await expectClose(client, 4400, 'binary frame to a client without subprotocol');
  await bystander.expectDelivery();
});

// ── Fuzz ─────────────────────────────────────────────────────────────────────

const opNames = ['connect', 'sub', 'unsub', 'pub', 'ping', 'msg', 'welcome', ''];
const topicArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('fuzz.a', 'fuzz.*', 'fuzz.>', '>', 'a..b', 'a b'),
);
const opArb = fc.record(
  {
    op: fc.oneof(
      { arbitrary: fc.constantFrom(...opNames), weight: 6 },
      { arbitrary: fc.jsonValue({ maxDepth: 1 }), weight: 1 },
    ),
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })),
    topic: fc.oneof(topicArb, fc.jsonValue({ maxDepth: 1 })),
    data: fc.jsonValue({ maxDepth: 3 }),
    since: fc.oneof(
      fc.record({ epoch: fc.string({ maxLength: 8 }), offset: fc.oneof(fc.integer(), fc.double()) }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    token: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
  },
  { requiredKeys: ['op'] },
);

type FuzzInput =
  | { kind: 'text'; format: Format; text: string }
  | { kind: 'bytes'; format: Format; bytes: Uint8Array }
  | { kind: 'op'; format: Format; op: Record<string, unknown> }
  | { kind: 'mutated'; format: Format; op: Record<string, unknown>; at: number; byte: number; cut: boolean };

const formatArb = fc.constantFrom<Format>('json', 'msgpack');
const fuzzArb: fc.Arbitrary<FuzzInput> = fc.oneof(
  fc.record({
    kind: fc.constant('text' as const),
    format: formatArb,
    text: fc.oneof(fc.string({ maxLength: 64 }), fc.string({ unit: 'binary', maxLength: 64 }), fc.json()),
  }),
  fc.record({ kind: fc.constant('bytes' as const), format: formatArb, bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant('op' as const), format: formatArb, op: opArb }),
  fc.record({ kind: fc.constant('op' as const), format: formatArb, op: opArb }),
  fc.record({
    kind: fc.constant('mutated' as const),
    format: formatArb,
    op: opArb,
    at: fc.nat(),
    byte: fc.integer({ min: 0, max: 255 }),
    cut: fc.boolean(),
  }),
);

function sendFuzz(client: RawClient, input: FuzzInput): void {
  switch (input.kind) {
    case 'text':
      return client.ws.send(input.text);
    case 'bytes':
      return client.ws.send(input.bytes, { binary: true });
    case 'op':
      return client.send(input.op);
    case 'mutated': {
      const encoded = Buffer.from(input.format === 'msgpack' ? pack(input.op) : JSON.stringify(input.op));
      if (encoded.length === 0) return client.ws.send(encoded, { binary: input.format === 'msgpack' });
      const at = input.at % encoded.length;
      const bytes = input.cut ? encoded.subarray(0, at) : ((encoded[at] = input.byte), encoded);
      // A json client's text frame must be UTF-8 (or `ws` closes 1007), so json mutations stay text by decoding.
      if (input.format === 'json') return client.ws.send(bytes.toString('utf8'));
      return client.ws.send(bytes, { binary: true });
    }
  }
}

test('fuzz: random strings, bytes and ops after connect never crash the edge', async (t) => {
  const { mesh, edgeUrl, bystander } = await meshWithBystander(t);
  const edge = mesh.edges[0]!;
  const outcomes = new Map<string, number>();
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fuzzArb, async (input) => {
      const client = await RawClient.connected(t, edgeUrl, input.format);
      try {
        sendFuzz(client, input);
        const id = `fuzz-probe-${++run}`;
        // The probe may hit a closing socket; its answer or the close settles the run.
        if (client.ws.readyState === WebSocket.OPEN) client.send({ op: 'ping', id });
        const outcome = await within(
          Promise.race([client.closed, client.next((op) => op.id === id)]),
          `fuzz run ${run}`,
        );
        if ('code' in outcome) {
          if (outcome.code !== 4400)
            throw new Error(`closed with ${outcome.code} (${outcome.reason}) on ${JSON.stringify(input)}`);
          outcomes.set('closed 4400', (outcomes.get('closed 4400') ?? 0) + 1);
        } else {
          if (outcome.op !== 'pong') throw new Error(`probe answered ${JSON.stringify(outcome)}`);
          // Bad input is the client's fault: never an `internal` error.
          const internal = client.received.find((op) => op.op === 'error' && op.code === 'internal');
          if (internal) throw new Error(`${JSON.stringify(input)} → ${JSON.stringify(internal)}`);
          outcomes.set('stayed open', (outcomes.get('stayed open') ?? 0) + 1);
        }
      } finally {
        client.ws.terminate();
      }
    }),
    { seed: 4242, numRuns: 120, endOnFailure: true },
  );
  t.log(Object.fromEntries(outcomes));
  t.true(
    (outcomes.get('closed 4400') ?? 0) > 0 && (outcomes.get('stayed open') ?? 0) > 0,
    'the fuzz reached both outcomes',
  );

  const health = await fetch(`${mesh.http(edge)}/healthz`);
  t.is(health.status, 200);
  t.like(await health.json(), { status: 'ok', role: 'edge', id: 'eu-1' });
  for (const format of formats) {
    const fresh = await RawClient.connected(t, edgeUrl, format);
    t.like(await fresh.subscribe(`after.fuzz.${format}`, 'fresh'), { op: 'subok', id: 'fresh' });
    const position = await publish(mesh.core, `after.fuzz.${format}`, { format });
    t.like(await fresh.next((op) => op.op === 'msg'), {
      topic: `after.fuzz.${format}`,
      offset: position.offset,
      data: { format },
    });
  }
  await bystander.expectDelivery();
});
