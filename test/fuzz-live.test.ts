// Hostile input against a live mesh (one core, two edges): raw TCP bytes, broken HTTP upgrades, broken WebSocket framing,
// garbage on the core's uplink, and random HTTP requests. After each family both nodes must answer /healthz and
// bystanders subscribed before the fuzzing began must still get the next message at the next offset.

import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { C1, pack, unpack } from 'msgpackr';
import net from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import WebSocket from 'ws';
import { decodeCoreFrames, packValue } from '../shared/codec.js';
import { clientPath, frameType, protocolVersion, tunnelLinkPath, uplinkPath } from '../shared/protocol.js';
import { edgeFrameFields, frameProblem } from '../shared/uplink-frames.js';
import { startMesh, type Mesh } from './helpers/mesh.js';
import { RawClient, type Op } from './helpers/raw-client.js';
import { DEADLINE_MS, within } from './helpers/within.js';
import { publish } from './helpers/http-publish.js';

const bystanderTopic = 'fuzz.bystander';
const wsKey = 'dGhlIHNhbXBsZSBub25jZQ==';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const show = (data: Uint8Array | string): string => JSON.stringify(Buffer.from(data).toString('latin1').slice(0, 160));

// ── Raw TCP ──────────────────────────────────────────────────────────────────

/** One TCP connection written by hand; it records all the node sends and is destroyed in teardown. */
class RawConnection {
  private readonly chunks: Buffer[] = [];
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    // The node may reset a connection it refuses, and a write after that fails: both are allowed outcomes.
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async open(t: ExecutionContext, port: number): Promise<RawConnection> {
    const socket = net.connect(port, '127.0.0.1');
    t.teardown(() => socket.destroy());
    const connection = new RawConnection(socket);
    await within(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      `connect to port ${port}`,
    );
    return connection;
  }

  get response(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Resolves once the bytes are handed to the kernel, or the socket is gone. */
  write(chunk: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(chunk, () => resolve());
    });
  }

  /** Half-closes and waits until the node closes too; returns all it sent. */
  async finish(what: string): Promise<Buffer> {
    this.socket.end();
    await within(this.closed, `${what}: the node did not close the connection`);
    return this.response;
  }
}

/** The status of an HTTP response, if the bytes start with one. */
function statusOf(response: Buffer): number | undefined {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(response.subarray(0, 16).toString('latin1'));
  return match ? Number(match[1]) : undefined;
}

/** Close codes in the server's WebSocket frames after a 101. */
function closeCodesIn(response: Buffer): number[] {
  const end = response.indexOf('\r\n\r\n');
  const codes: number[] = [];
  for (let at = end < 0 ? response.length : end + 4; at + 2 <= response.length;) {
    const opcode = response[at]! & 0x0f;
    let length = response[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) [length, header] = [response.readUInt16BE(at + 2), 4];
    else if (length === 127) [length, header] = [Number(response.readBigUInt64BE(at + 2)), 10];
    if (at + header + length > response.length) break;
    if (opcode === 0x8 && length >= 2) codes.push(response.readUInt16BE(at + header));
    at += header + length;
  }
  return codes;
}

/** The node must not answer hostile input as its own failure: no HTTP 500, no WebSocket close 1011 or 4500. */
function assertNotInternal(response: Buffer, what: string): void {
  const status = statusOf(response);
  if (status !== undefined && status >= 500 && status !== 505)
    throw new Error(`${what} → HTTP ${status}: ${show(response)}`);
  const internal = closeCodesIn(response).filter((code) => code === 1011 || code === 4500);
  if (internal.length > 0) throw new Error(`${what} → WebSocket close ${internal[0]}`);
}

/** A complete, valid upgrade request for the node's WebSocket path. */
function upgradeRequest(target: Target, extraHeaders = ''): string {
  const protocol = target.kind === 'edge' ? 'Sec-WebSocket-Protocol: relaymesh.v1.json\r\n' : '';
  return (
    `GET ${target.path} HTTP/1.1\r\nHost: 127.0.0.1:${target.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${wsKey}\r\nSec-WebSocket-Version: 13\r\n${protocol}${extraHeaders}\r\n`
  );
}

/** One WebSocket frame as a client could send it; `length` overrides the announced payload length. */
function wsFrame(frame: {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Uint8Array;
  mask: Uint8Array | null;
  length?: bigint;
}): Buffer {
  const length = frame.length ?? BigInt(frame.payload.length);
  const head = [(frame.fin ? 0x80 : 0) | ((frame.rsv & 7) << 4) | (frame.opcode & 0x0f)];
  const maskBit = frame.mask ? 0x80 : 0;
  let extended = Buffer.alloc(0);
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 0x10000n) {
    head.push(maskBit | 126);
    extended = Buffer.alloc(2);
    extended.writeUInt16BE(Number(length));
  } else {
    head.push(maskBit | 127);
    extended = Buffer.alloc(8);
    extended.writeBigUInt64BE(length);
  }
  const payload = Buffer.from(frame.payload);
  if (frame.mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= frame.mask[i % 4]!;
  return Buffer.concat([Buffer.from(head), extended, frame.mask ? Buffer.from(frame.mask) : Buffer.alloc(0), payload]);
}

const masked = (opcode: number, payload: Uint8Array | string, fin = true): Buffer =>
  wsFrame({
    fin,
    rsv: 0,
    opcode,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    mask: Uint8Array.of(0x12, 0x34, 0x56, 0x78),
  });

// ── The mesh under test ──────────────────────────────────────────────────────

interface Target {
  kind: 'edge' | 'core';
  port: number;
  /** The node's WebSocket path. */
  path: string;
}

interface Fuzz {
  t: ExecutionContext;
  mesh: Mesh;
  targets: Target[];
  /** Inputs tried, by family. */
  counts: Map<string, number>;
  /** How the nodes answered, to show the fuzzing reached more than one outcome. */
  outcomes: Map<string, number>;
  /** Connections a family leaves open on purpose (idle, half-sent); checked against while open, then closed. */
  held: RawConnection[];
  family: string;
  /** Problems found; recorded rather than thrown, so that one family's finding does not hide the next family's. */
  failures: string[];
}

function count(fuzz: Fuzz, n = 1): void {
  fuzz.counts.set(fuzz.family, (fuzz.counts.get(fuzz.family) ?? 0) + n);
}

function note(fuzz: Fuzz, outcome: string): void {
  fuzz.outcomes.set(outcome, (fuzz.outcomes.get(outcome) ?? 0) + 1);
}

function expect(fuzz: Fuzz, ok: boolean, problem: string): void {
  if (!ok) fuzz.failures.push(`${fuzz.family}: ${problem}`);
}

/** Runs a step; what it throws becomes a recorded failure. */
async function record(fuzz: Fuzz, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (error) {
    fuzz.failures.push(`${fuzz.family}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Throws unless every field of `expected` is deeply equal in `actual`. */
function assertLike(actual: Record<string, unknown>, expected: Record<string, unknown>, what: string): void {
  for (const [key, value] of Object.entries(expected)) {
    if (!isDeepStrictEqual(actual[key], value))
      throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** Sends `chunks` on a fresh connection, half-closes, and checks the node's answer is not an internal failure. */
async function exchange(fuzz: Fuzz, target: Target, chunks: readonly Uint8Array[], what: string): Promise<Buffer> {
  count(fuzz);
  const connection = await RawConnection.open(fuzz.t, target.port);
  for (const chunk of chunks) await connection.write(chunk);
  const response = await connection.finish(`${target.kind}: ${what}`);
  assertNotInternal(response, `${target.kind}: ${what}`);
  note(fuzz, `${target.kind} ${statusOf(response) ?? (response.length > 0 ? 'non-HTTP reply' : 'closed silently')}`);
  return response;
}

/** Sends `chunks` and leaves the connection open (idle, or mid-request) until the family's check is done. */
async function hold(fuzz: Fuzz, target: Target, chunks: readonly Uint8Array[]): Promise<void> {
  count(fuzz);
  const connection = await RawConnection.open(fuzz.t, target.port);
  for (const chunk of chunks) await connection.write(chunk);
  fuzz.held.push(connection);
}

async function health(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(DEADLINE_MS) });
  return { status: response.status, body: await response.json() };
}

/** Clients subscribed before any hostile input, one per format, on the fuzzed edge. */
interface Bystanders {
  clients: RawClient[];
  last: number;
}

async function startBystanders(t: ExecutionContext, mesh: Mesh): Promise<Bystanders> {
  const clients = [
    await RawClient.connected(t, mesh.edges[0]!.url, 'json'),
    await RawClient.connected(t, mesh.edges[0]!.url, 'msgpack'),
  ];
  let last = 0;
  for (const client of clients) {
    const subok = await client.subscribe(bystanderTopic, 'bystander');
    t.like(subok, { op: 'subok', topic: bystanderTopic });
    last = subok.offset as number;
  }
  return { clients, last };
}

/** Both nodes answer 200 on /healthz and every bystander gets the next message at the next offset. */
async function checkServing(fuzz: Fuzz, bystanders: Bystanders, label: string): Promise<void> {
  const { mesh } = fuzz;
  for (const node of [mesh.core, ...mesh.edges]) {
    const { status, body } = await health(mesh.http(node));
    if (status !== 200) throw new Error(`/healthz of ${node.id} → ${status} ${JSON.stringify(body)}`);
  }
  const data = { after: label, n: bystanders.last + 1 };
  const position = await publish(mesh.core, bystanderTopic, data);
  expect(
    fuzz,
    position.offset === bystanders.last + 1,
    `the bystander topic went from offset ${bystanders.last} to ${position.offset}`,
  );
  for (const client of bystanders.clients) {
    const msg = await client.next((op) => op.op === 'msg');
    assertLike(
      msg,
      { op: 'msg', topic: bystanderTopic, epoch: position.epoch, offset: position.offset, data },
      `${client.format} bystander`,
    );
    expect(fuzz, client.ws.readyState === WebSocket.OPEN, `the ${client.format} bystander was disconnected`);
    const other = client.received.filter((op) => op.op !== 'msg' && op.op !== 'welcome' && op.op !== 'subok');
    expect(fuzz, other.length === 0, `the ${client.format} bystander got ${JSON.stringify(other)}`);
  }
  bystanders.last = position.offset;
}

// ── Families ─────────────────────────────────────────────────────────────────

/** Random bytes as the start of a TCP connection: on their own, after a request line, or inside upgrade headers. */
async function randomBytesFamily(fuzz: Fuzz): Promise<void> {
  const seeds = { edge: 7101, core: 7102 };
  for (const target of fuzz.targets) {
    const input = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 512 }),
      fc.uint8Array({ maxLength: 256 }).map((tail) => Buffer.concat([bytes('GET /healthz HTTP/1.1\r\n'), tail])),
      fc
        .uint8Array({ maxLength: 256 })
        .map((tail) => Buffer.concat([bytes(upgradeRequest(target).slice(0, -2)), tail])),
    );
    await fc.assert(
      fc.asyncProperty(input, async (data) => {
        await exchange(fuzz, target, [data], `random bytes ${show(data)}`);
      }),
      { seed: seeds[target.kind], numRuns: 60, endOnFailure: true },
    );
  }
}

/** A valid upgrade request cut short; then the client either half-closes or just stays silent. */
async function truncatedUpgradeFamily(fuzz: Fuzz): Promise<void> {
  const seeds = { edge: 7201, core: 7202 };
  for (const target of fuzz.targets) {
    const request = bytes(upgradeRequest(target));
    const input = fc.record({ cut: fc.nat(), split: fc.nat(), idle: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(input, async ({ cut, split, idle }) => {
        const prefix = request.subarray(0, 1 + (cut % (request.length - 1)));
        const at = split % (prefix.length + 1);
        const chunks = [prefix.subarray(0, at), prefix.subarray(at)].filter((chunk) => chunk.length > 0);
        if (idle) await hold(fuzz, target, chunks);
        else await exchange(fuzz, target, chunks, `upgrade cut to ${show(prefix)}`);
      }),
      { seed: seeds[target.kind], numRuns: 30, endOnFailure: true },
    );
  }
}

/** Upgrade requests with bad or odd headers; `reject` ones must get a 4xx, the others anything but a 5xx. */
async function badUpgradeFamily(fuzz: Fuzz): Promise<void> {
  for (const target of fuzz.targets) {
    const base = upgradeRequest(target);
    const replace = (pattern: RegExp, replacement: string): string => base.replace(pattern, replacement);
    const cases: Array<{ title: string; request: string; reject: boolean }> = [
      { title: 'no Sec-WebSocket-Key', request: replace(/Sec-WebSocket-Key: .*\r\n/, ''), reject: true },
      { title: 'an empty key', request: replace(/Sec-WebSocket-Key: .*\r\n/, 'Sec-WebSocket-Key: \r\n'), reject: true },
      {
        title: 'a short key',
        request: replace(/Sec-WebSocket-Key: .*\r\n/, 'Sec-WebSocket-Key: abc\r\n'),
        reject: true,
      },
      {
        title: 'a key that is not base64',
        request: replace(/Sec-WebSocket-Key: .*\r\n/, 'Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n'),
        reject: true,
      },
      {
        title: 'a 1 KiB key',
        request: replace(/Sec-WebSocket-Key: .*\r\n/, `Sec-WebSocket-Key: ${'A'.repeat(1024)}==\r\n`),
        reject: true,
      },
      { title: 'two keys', request: replace(/\r\n\r\n$/, `\r\nSec-WebSocket-Key: ${wsKey}\r\n\r\n`), reject: true },
      { title: 'no version', request: replace(/Sec-WebSocket-Version: .*\r\n/, ''), reject: true },
      { title: 'version 12', request: replace(/Sec-WebSocket-Version: 13/, 'Sec-WebSocket-Version: 12'), reject: true },
      {
        title: 'version abc',
        request: replace(/Sec-WebSocket-Version: 13/, 'Sec-WebSocket-Version: abc'),
        reject: true,
      },
      {
        title: 'version 2^64',
        request: replace(/Sec-WebSocket-Version: 13/, 'Sec-WebSocket-Version: 18446744073709551616'),
        reject: true,
      },
      { title: 'Upgrade: h2c', request: replace(/Upgrade: websocket/, 'Upgrade: h2c'), reject: true },
      { title: 'Upgrade: websocket2', request: replace(/Upgrade: websocket/, 'Upgrade: websocket2'), reject: true },
      { title: 'no Upgrade header', request: replace(/Upgrade: websocket\r\n/, ''), reject: true },
      { title: 'no Connection header', request: replace(/Connection: Upgrade\r\n/, ''), reject: true },
      { title: 'POST', request: replace(/^GET/, 'POST'), reject: true },
      { title: 'HTTP/1.0', request: replace(/HTTP\/1\.1/, 'HTTP/1.0'), reject: false },
      { title: 'no Host', request: replace(/Host: .*\r\n/, ''), reject: false },
      {
        title: 'a malformed subprotocol list',
        request: replace(/\r\n\r\n$/, '\r\nSec-WebSocket-Protocol: a b,,"c\r\n\r\n'),
        reject: false,
      },
      {
        title: 'an unknown subprotocol',
        request: replace(/\r\n\r\n$/, '\r\nSec-WebSocket-Protocol: relaymesh.v9.xml\r\n\r\n'),
        reject: false,
      },
      {
        title: 'garbage extensions',
        request: replace(
          /\r\n\r\n$/,
          '\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99;;=\r\n\r\n',
        ),
        reject: false,
      },
      { title: 'an Origin of null', request: replace(/\r\n\r\n$/, '\r\nOrigin: null\r\n\r\n'), reject: false },
      { title: 'a body', request: `${replace(/\r\n\r\n$/, '\r\nContent-Length: 5\r\n\r\n')}hello`, reject: false },
      {
        title: 'chunked encoding',
        request: `${replace(/\r\n\r\n$/, '\r\nTransfer-Encoding: chunked\r\n\r\n')}zz\r\n`,
        reject: false,
      },
      { title: 'a wrong path', request: replace(/ \/v1\/\w+ /, ' /v1/nope '), reject: true },
      { title: 'the root path', request: replace(/ \/v1\/\w+ /, ' / '), reject: true },
      { title: 'a path with a bad percent escape', request: replace(/ \/v1\/\w+ /, ' /%zz%/% '), reject: true },
      // `new URL('//', base)` throws: the path must still get an HTTP answer.
      { title: 'the path //', request: replace(/ \/v1\/\w+ /, ' // '), reject: true },
      { title: 'the path ///v1/ws', request: replace(/ \/v1\/\w+ /, ` //${target.path} `), reject: true },
      { title: 'the path //[', request: replace(/ \/v1\/\w+ /, ' //[ '), reject: true },
      {
        title: 'an absolute-form target',
        request: replace(/ \/v1\/\w+ /, ` http://elsewhere${target.path} `),
        reject: false,
      },
      { title: 'an asterisk target', request: replace(/ \/v1\/\w+ /, ' * '), reject: true },
      { title: 'bare LF line ends', request: base.replaceAll('\r\n', '\n'), reject: false },
      {
        title: 'an obsolete folded header',
        request: replace(/\r\n\r\n$/, '\r\nX-Folded: a\r\n  b\r\n\r\n'),
        reject: false,
      },
    ];
    for (const { title, request, reject } of cases) {
      const response = await exchange(fuzz, target, [bytes(request)], `upgrade with ${title}`);
      const status = statusOf(response);
      if (reject)
        expect(
          fuzz,
          status !== undefined && status >= 400 && status < 500,
          `${target.kind}: upgrade with ${title} → ${show(response)}`,
        );
    }
    // The node answers a refused upgrade and its client resets the connection at once: the answer meets a dead socket.
    for (let i = 0; i < 30; i++) {
      count(fuzz);
      const connection = await RawConnection.open(fuzz.t, target.port);
      await connection.write(bytes(replace(/ \/v1\/\w+ /, ' /v1/nope ')));
      connection.socket.resetAndDestroy();
      await within(connection.closed, 'reset');
    }
  }
}

/** 64 KiB of header lines, one 64 KiB header, a 64 KiB request target; on plain requests and on upgrades. */
async function oversizedHeadersFamily(fuzz: Fuzz): Promise<void> {
  const manyLines = Array.from({ length: 1024 }, (_, i) => `X-Fuzz-${i}: ${'v'.repeat(52)}\r\n`).join('');
  const oneLine = `X-Huge: ${'h'.repeat(64 * 1024)}\r\n`;
  for (const target of fuzz.targets) {
    const cases: Array<[string, string]> = [
      ['GET /healthz with 64 KiB of header lines', `GET /healthz HTTP/1.1\r\nHost: x\r\n${manyLines}\r\n`],
      ['an upgrade with 64 KiB of header lines', upgradeRequest(target, manyLines)],
      ['GET /healthz with one 64 KiB header', `GET /healthz HTTP/1.1\r\nHost: x\r\n${oneLine}\r\n`],
      ['an upgrade with one 64 KiB header', upgradeRequest(target, oneLine)],
      ['a 64 KiB request target', `GET /healthz?${'q'.repeat(64 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`],
      ['a 64 KiB header name', `GET /healthz HTTP/1.1\r\nHost: x\r\n${'N'.repeat(64 * 1024)}: v\r\n\r\n`],
      [
        'POST /v1/publish with 64 KiB of header lines',
        `POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n${manyLines}\r\n{}`,
      ],
      ['2,500 tiny headers', `GET /healthz HTTP/1.1\r\nHost: x\r\n${'a: b\r\n'.repeat(2500)}\r\n`],
    ];
    for (const [title, request] of cases) {
      const response = await exchange(fuzz, target, [bytes(request)], title);
      const status = statusOf(response);
      // The node may reset instead of answering once it stopped reading; if it answers, it refuses or serves.
      expect(fuzz, status === undefined || status < 500, `${target.kind}: ${title} → ${show(response)}`);
    }
  }
}

type FrameSpec = Parameters<typeof wsFrame>[0];

const frameArb: fc.Arbitrary<FrameSpec> = fc.record({
  fin: fc.boolean(),
  rsv: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 1 }),
  opcode: fc.oneof(
    { arbitrary: fc.constantFrom(0x0, 0x1, 0x2, 0x8, 0x9, 0xa), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: 15 }), weight: 1 },
  ),
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc
      .constantFrom('{"op":"ping","id":1}', '{"op":"connect"}', '{"op":"sub","id":2,"topic":"fuzz.frames"}')
      .map((text) => Buffer.from(text)),
  ),
  mask: fc.oneof(
    { arbitrary: fc.uint8Array({ minLength: 4, maxLength: 4 }), weight: 4 },
    { arbitrary: fc.constant(null), weight: 1 },
  ),
});

/** A valid upgrade, then frames: random ones (masked or not), and hand-made violations of RFC 6455 and of the limits. */
async function wsFramesFamily(fuzz: Fuzz): Promise<void> {
  const seeds = { edge: 7301, core: 7302 };
  const big = (length: bigint): Buffer =>
    wsFrame({ fin: true, rsv: 0, opcode: 2, payload: new Uint8Array(0), mask: Uint8Array.of(1, 2, 3, 4), length });
  for (const target of fuzz.targets) {
    const upgrade = bytes(upgradeRequest(target));
    const connect =
      target.kind === 'edge'
        ? masked(1, '{"op":"connect"}')
        : masked(2, packValue(helloFrame(`fuzz-frames-${target.port}`)));
    const run = async (frames: Buffer[], what: string, idle = false): Promise<void> => {
      if (idle) return hold(fuzz, target, [upgrade, ...frames]);
      const response = await exchange(fuzz, target, [upgrade, ...frames], what);
      if (statusOf(response) !== 101) throw new Error(`${target.kind}: ${what}: the upgrade got ${show(response)}`);
    };
    await fc.assert(
      fc.asyncProperty(
        fc.record({ greet: fc.boolean(), frames: fc.array(frameArb, { minLength: 1, maxLength: 4 }), idle: fc.nat(9) }),
        async ({ greet, frames, idle }) => {
          const wire = [...(greet ? [connect] : []), ...frames.map(wsFrame)];
          await run(
            wire,
            `frames ${JSON.stringify(frames.map(({ fin, rsv, opcode, mask, payload }) => ({ fin, rsv, opcode, masked: mask !== null, length: payload.length })))}`,
            idle === 0,
          );
        },
      ),
      { seed: seeds[target.kind], numRuns: 60, endOnFailure: true },
    );

    const deep = `{"op":"pub","id":1,"topic":"fuzz.deep","data":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    const cases: Array<[string, Buffer[], boolean?]> = [
      [
        'an unmasked text frame',
        [wsFrame({ fin: true, rsv: 0, opcode: 1, payload: Buffer.from('{"op":"connect"}'), mask: null })],
      ],
      [
        'an unmasked frame after a valid one',
        [connect, wsFrame({ fin: true, rsv: 0, opcode: 2, payload: Buffer.from([1, 2, 3]), mask: null })],
      ],
      ['a length of 2^62', [big(2n ** 62n)]],
      ['a length of 2^63 (top bit set)', [big(2n ** 63n)]],
      ['a length of 2^53', [big(2n ** 53n)]],
      ['a length of 2^32, never sent', [big(2n ** 32n)], true],
      [
        'a 64-bit length used for 5 bytes',
        [Buffer.concat([Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4]), Buffer.alloc(5)])],
      ],
      ['a 126-byte ping', [masked(0x9, new Uint8Array(126))]],
      ['a 200-byte pong', [masked(0xa, new Uint8Array(200))]],
      ['a 65536-byte close', [masked(0x8, new Uint8Array(65_536))]],
      ['a fragmented ping', [masked(0x9, 'a', false)]],
      ['a close with code 999', [masked(0x8, Uint8Array.of(0x03, 0xe7))]],
      ['a close with a 1-byte payload', [masked(0x8, Uint8Array.of(0x03))]],
      ['a close with a bad UTF-8 reason', [masked(0x8, Uint8Array.of(0x03, 0xe8, 0xff, 0xfe))]],
      ['a text frame of bad UTF-8', [masked(0x1, Uint8Array.of(0xc3, 0x28))]],
      ['a continuation without a start', [masked(0x0, 'orphan')]],
      ['a new message inside a fragmented one', [masked(0x1, '{"op"', false), masked(0x2, 'x')]],
      [
        'a fragmented message that never ends',
        [connect, masked(0x1, '{"op":"ping",', false), masked(0x0, '"id":', false)],
        true,
      ],
      [
        'a message that never ends, in 1-byte fragments',
        [connect, masked(0x2, 'a', false), ...Array.from({ length: 200 }, () => masked(0x0, 'b', false))],
        true,
      ],
      [
        'fragments past the size limit',
        [connect, masked(0x1, 'x'.repeat(100_000), false), masked(0x0, 'y'.repeat(100_000), false), masked(0x0, 'z')],
      ],
      [
        'reserved opcodes 3 to 7 and 11 to 15',
        [3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((opcode) => masked(opcode, 'r')),
      ],
      [
        'all RSV bits set',
        [wsFrame({ fin: true, rsv: 7, opcode: 1, payload: Buffer.from('{}'), mask: Uint8Array.of(9, 9, 9, 9) })],
      ],
      ['a header cut in the middle', [Buffer.from([0x81, 0xfe, 0x01])], true],
      ['pub with data nested 50,000 deep', [connect, masked(target.kind === 'edge' ? 0x1 : 0x2, deep)]],
      [
        'MessagePack nested 100,000 deep',
        [connect, masked(0x2, Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0x01])]))],
      ],
    ];
    for (const [title, frames, idle] of cases) await run(frames, title, idle);
  }
}

// ── The core's uplink, with a real WebSocket client ──────────────────────────

type Frame = unknown[];

/** A hello the checker accepts: the frame grew a proof field once, so take whichever arity the checker knows. */
function helloFrame(edgeId: string, version: unknown = protocolVersion): Frame {
  for (const tail of [[''], [], ['', '']]) {
    const frame: Frame = [frameType.hello, protocolVersion, edgeId, 'fuzz', `instance-${edgeId}`, ...tail];
    if (frameProblem(frame, edgeFrameFields) !== undefined) continue;
    frame[1] = version;
    return frame;
  }
  throw new Error('no hello arity passes the uplink frame checker');
}

/** A stranger on the core's /v1/uplink: records every frame the core sends and how the socket closed. */
class UplinkStranger {
  readonly frames: Frame[] = [];
  readonly undecodable: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly waiters: Array<{ match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      let frames: Frame[];
      try {
        frames = decodeCoreFrames(data);
      } catch (error) {
        this.undecodable.push((error as Error).message);
        return;
      }
      for (const frame of frames) {
        this.frames.push(frame);
        const index = this.waiters.findIndex((waiter) => waiter.match(frame));
        if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(frame);
      }
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static async open(t: ExecutionContext, mesh: Mesh, path = uplinkPath): Promise<UplinkStranger> {
    const ws = new WebSocket(`${mesh.core.url}${path}`, { perMessageDeflate: false });
    t.teardown(() => ws.terminate());
    const stranger = new UplinkStranger(ws);
    await within(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
      'uplink open',
    );
    return stranger;
  }

  /** Opens and says hello; resolves once the core welcomed it. */
  static async identified(t: ExecutionContext, mesh: Mesh, edgeId: string, path = uplinkPath): Promise<UplinkStranger> {
    const stranger = await UplinkStranger.open(t, mesh, path);
    stranger.send(packValue(helloFrame(edgeId)));
    const outcome = await stranger.outcome((frame) => frame[0] === frameType.welcome, `hello as ${edgeId}`);
    if ('code' in outcome) throw new Error(`hello as ${edgeId}: closed ${outcome.code} ${outcome.reason}`);
    return stranger;
  }

  send(data: Uint8Array | string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary: typeof data !== 'string' });
  }

  /** The first frame from now on that matches, or the close, whichever comes first. */
  outcome(match: (frame: Frame) => boolean, what: string): Promise<Frame | { code: number; reason: string }> {
    const frame = new Promise<Frame>((resolve) => this.waiters.push({ match, resolve }));
    return within(Promise.race([frame, this.closed]), what);
  }

  async close(): Promise<void> {
    this.ws.terminate();
    await within(this.closed, 'uplink close');
  }
}

/** The input must close the stranger's uplink with 4400 (and nothing the core answers is `internal`). */
async function expectRefused(
  fuzz: Fuzz,
  stranger: UplinkStranger,
  data: Uint8Array | string,
  what: string,
): Promise<void> {
  count(fuzz);
  stranger.send(data);
  const outcome = await stranger.outcome(() => false, what);
  if (!('code' in outcome) || outcome.code !== 4400)
    throw new Error(`${what}: expected close 4400, got ${JSON.stringify(outcome)}`);
}

const fieldArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.nat(),
  fc.maxSafeNat(),
  fc.integer({ min: -1_000_000, max: -1 }),
  fc.double(),
  fc.string({ maxLength: 16 }),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 16 }),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
  fc.tuple(fc.string({ maxLength: 8 }), fc.nat()),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.nat(), { maxKeys: 2 }),
);
const uplinkTopicArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('fuzz.a', 'fuzz.*', 'fuzz.>', '>', 'a..b', 'a b', '', 'x'.repeat(300)),
);
/** Frames of the right type numbers: some well-typed with odd values, some with garbage fields. */
const uplinkFrameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.tuple(
    fc.constant(frameType.sub),
    fc.nat(),
    uplinkTopicArb,
    fc.oneof(fc.constant(null), fc.tuple(fc.string({ maxLength: 8 }), fc.maxSafeNat())),
  ),
  fc.tuple(fc.constant(frameType.unsub), uplinkTopicArb),
  fc.tuple(fc.constant(frameType.pub), fc.nat(), uplinkTopicArb, fc.uint8Array({ maxLength: 32 })),
  fc.tuple(
    fc.constant(frameType.history),
    fc.nat(),
    uplinkTopicArb,
    fc.string({ maxLength: 8 }),
    fc.maxSafeNat(),
    fc.maxSafeNat(),
  ),
  fc.tuple(fc.constant(frameType.digest), fc.maxSafeNat(), fc.maxSafeNat(), fc.maxSafeNat()),
  fc
    .tuple(fc.integer({ min: 1, max: 23 }), fc.array(fieldArb, { maxLength: 6 }))
    .map(([type, fields]): Frame => [type, ...fields]),
  fc.tuple(fieldArb, fc.array(fieldArb, { maxLength: 4 })).map(([type, fields]): Frame => [type, ...fields]),
);
/** Tunnel link frames: opens of tunnels that do not exist, data, windows, ends and resets of streams never opened. */
const tunnelLinkFrameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.tuple(fc.constant(frameType.streamOpen), fc.nat({ max: 9 }), fc.string({ maxLength: 8 })),
  fc.tuple(fc.constant(frameType.streamData), fc.nat({ max: 9 }), fc.uint8Array({ maxLength: 32 })),
  fc.tuple(fc.constant(frameType.streamWindow), fc.nat({ max: 9 }), fc.maxSafeNat()),
  fc.tuple(fc.constant(frameType.streamEnd), fc.nat({ max: 9 })),
  fc.tuple(fc.constant(frameType.streamReset), fc.nat({ max: 9 }), fc.constantFrom('refused', 'lost', 'nonsense')),
  fc
    .tuple(fc.integer({ min: 1, max: 23 }), fc.array(fieldArb, { maxLength: 6 }))
    .map(([type, fields]): Frame => [type, ...fields]),
);

async function uplinkFamily(fuzz: Fuzz): Promise<void> {
  const { t, mesh } = fuzz;
  const realUplinks = new Map(mesh.core.uplinks);
  const stranger = (): Promise<UplinkStranger> => UplinkStranger.open(t, mesh);

  // Random MessagePack values and random bytes, as the first message.
  const valueArb = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.array(fieldArb, { maxLength: 6 }), fieldArb);
  await fc.assert(
    fc.asyncProperty(valueArb, async (value) => {
      await expectRefused(fuzz, await stranger(), packValue(value), `msgpack value ${JSON.stringify(value)}`);
    }),
    { seed: 7401, numRuns: 40, endOnFailure: true },
  );
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 256 }), async (data) => {
      await expectRefused(fuzz, await stranger(), data, `bytes ${Buffer.from(data).toString('hex')}`);
    }),
    { seed: 7402, numRuns: 40, endOnFailure: true },
  );

  const claims: Array<[string, Uint8Array | string]> = [
    ['a text message', '[1,1,"x","r","i",""]'],
    ['an array32 claiming 2^32-1 items', Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01)],
    ['a map32 claiming 2^32-1 entries', Uint8Array.of(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61)],
    ['a bin32 claiming 4 GiB', Uint8Array.of(0xc6, 0xff, 0xff, 0xff, 0xff, 0x00)],
    ['an ext32 claiming 4 GiB', Uint8Array.of(0xc9, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00)],
    ['the byte 0xC1', Uint8Array.of(0xc1)],
    ['a frame nested 1,000,000 deep', Buffer.concat([Buffer.alloc(1_000_000, 0x91), Buffer.from([0x01])])],
    [
      'an array of a million nils',
      Buffer.concat([Uint8Array.of(0xdd, 0x00, 0x0f, 0x42, 0x40), Buffer.alloc(1_000_000, 0xc0)]),
    ],
  ];
  for (const [title, data] of claims) await expectRefused(fuzz, await stranger(), data, title);

  // Well-formed frames before hello, and hellos that are wrong.
  const early: Frame[] = [
    [frameType.sub, 1, 'fuzz.early', null],
    [frameType.unsub, 'fuzz.early'],
    [frameType.pub, 2, 'fuzz.early', packValue('early')],
    [frameType.history, 3, 'fuzz.early', 'e', 1, 2],
    [frameType.digest, 0, 0, 0],
    [frameType.welcome, 'core'],
    [frameType.puback, 1, 'e', 1],
  ];
  for (const frame of early)
    await expectRefused(fuzz, await stranger(), packValue(frame), `${JSON.stringify(frame)} before hello`);
  const hello = helloFrame('fuzz-hello');
  const badHellos: Frame[] = [
    helloFrame('fuzz-hello', protocolVersion + 1),
    helloFrame('fuzz-hello', 0),
    helloFrame('fuzz-hello', '1'),
    helloFrame('fuzz-hello', -1),
    helloFrame('fuzz-hello', 1.5),
    helloFrame('', protocolVersion),
    [frameType.hello],
    hello.slice(0, -1),
    [...hello, 'extra'],
    hello.map((field, i) => (i === 2 ? 42 : field)),
    hello.map((field, i) => (i === 3 ? null : field)),
    hello.map((field, i) => (i === 4 ? packValue('x') : field)),
    hello.map((field, i) => (i === 4 ? '' : field)),
  ];
  for (const frame of badHellos)
    await expectRefused(fuzz, await stranger(), packValue(frame), `hello ${JSON.stringify(frame)}`);
  await expectRefused(fuzz, await stranger(), packValue({ 0: 1, 1: 1, 2: 'map', 3: 'r', 4: 'i' }), 'a hello as a map');
  const twice = await UplinkStranger.identified(t, mesh, 'fuzz-twice');
  await expectRefused(fuzz, twice, packValue(helloFrame('fuzz-twice')), 'a second hello');
  expect(fuzz, (await mesh.core.engine.position('fuzz.early')).offset === 0, 'a pub before hello was sequenced');

  // After a good hello: frames of valid type numbers with odd or garbage fields, then a probe `sub` that must be answered
  // unless the garbage closed the uplink with 4400.
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(uplinkFrameArb, { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      async (frames, oneMessage) => {
        const id = ++run;
        const peer = await UplinkStranger.identified(t, mesh, `fuzz-peer-${id}`);
        try {
          count(fuzz, frames.length);
          if (oneMessage) peer.send(Buffer.concat(frames.map((frame) => packValue(frame))));
          else for (const frame of frames) peer.send(packValue(frame));
          const probeId = 2 ** 40 + id;
          peer.send(packValue([frameType.sub, probeId, `fuzz.probe.${id}`, null]));
          const outcome = await peer.outcome((frame) => frame[1] === probeId, `probe after ${JSON.stringify(frames)}`);
          note(fuzz, 'code' in outcome ? `uplink closed ${outcome.code}` : 'uplink probe answered');
          if ('code' in outcome) {
            if (outcome.code !== 4400)
              throw new Error(`${JSON.stringify(frames)} closed the uplink with ${outcome.code} ${outcome.reason}`);
          } else if (outcome[0] !== frameType.subok) {
            throw new Error(`${JSON.stringify(frames)}: the probe was answered ${JSON.stringify(outcome)}`);
          }
          const internal = peer.frames.find((frame) => frame[0] === frameType.error && frame[2] === 'internal');
          if (internal) throw new Error(`${JSON.stringify(frames)} → ${JSON.stringify(internal)}`);
          if (peer.undecodable.length > 0)
            throw new Error(`the core sent an undecodable uplink message: ${peer.undecodable[0]}`);
        } finally {
          await peer.close();
        }
      },
    ),
    { seed: 7403, numRuns: 60, endOnFailure: true },
  );

  // A tunnel link beside an identified uplink: stream frames of odd shapes, then a probe `streamOpen` of a tunnel that
  // does not exist, which must be refused unless the garbage closed the link with 4400.
  await fc.assert(
    fc.asyncProperty(fc.array(tunnelLinkFrameArb, { minLength: 1, maxLength: 4 }), async (frames) => {
      const id = ++run;
      const uplink = await UplinkStranger.identified(t, mesh, `fuzz-link-${id}`);
      const link = await UplinkStranger.identified(t, mesh, `fuzz-link-${id}`, tunnelLinkPath);
      try {
        count(fuzz, frames.length);
        for (const frame of frames) link.send(packValue(frame));
        const probe = 2 ** 31 + 1;
        link.send(packValue([frameType.streamOpen, probe, 'fuzz-none']));
        const outcome = await link.outcome((frame) => frame[1] === probe, `probe after ${JSON.stringify(frames)}`);
        note(fuzz, 'code' in outcome ? `tunnel link closed ${outcome.code}` : 'tunnel link probe answered');
        if ('code' in outcome) {
          if (outcome.code !== 4400)
            throw new Error(`${JSON.stringify(frames)} closed the tunnel link with ${outcome.code} ${outcome.reason}`);
        } else if (outcome[0] !== frameType.streamReset || outcome[2] !== 'refused') {
          throw new Error(`${JSON.stringify(frames)}: the probe was answered ${JSON.stringify(outcome)}`);
        }
      } finally {
        await link.close();
        await uplink.close();
      }
    }),
    { seed: 7404, numRuns: 30, endOnFailure: true },
  );

  for (const [edgeId, peer] of realUplinks)
    expect(fuzz, mesh.core.uplinks.get(edgeId) === peer, `the real uplink of ${edgeId} was displaced`);
}

/**
 * An identified uplink peer publishes payloads that are not one MessagePack value. Subscribers on a real edge, one per
 * format, must still get a well-formed `msg` or a `reset` for every offset the core sequenced, then the next good message.
 */
async function uplinkPayloadFamily(fuzz: Fuzz): Promise<void> {
  const { t, mesh } = fuzz;
  const topic = 'fuzz.payload';
  const json = await RawClient.connected(t, mesh.edges[0]!.url, 'json');
  // msgpack frames are decoded here by hand: RawClient would throw on a frame that is not MessagePack.
  const msgpackWs = new WebSocket(`${mesh.edges[0]!.url}${clientPath}`, ['relaymesh.v1.msgpack']);
  t.teardown(() => msgpackWs.terminate());
  const msgpackOps: Array<Op | { undecodable: string }> = [];
  let onOp = (): void => undefined;
  msgpackWs.on('message', (data: Buffer) => {
    try {
      msgpackOps.push(unpack(data) as Op);
    } catch {
      msgpackOps.push({ undecodable: data.toString('hex') });
    }
    onOp();
  });
  const msgpackNext = (match: (op: Op | { undecodable: string }) => boolean, what: string): Promise<void> =>
    within(
      new Promise<void>((resolve) => {
        onOp = () => {
          if (msgpackOps.some(match)) resolve();
        };
        onOp();
      }),
      what,
    );
  await within(
    new Promise((resolve, reject) => {
      msgpackWs.once('open', resolve);
      msgpackWs.once('error', reject);
    }),
    'msgpack subscriber open',
  );
  msgpackWs.send(pack({ op: 'connect' }));
  msgpackWs.send(pack({ op: 'sub', id: 's', topic }));
  await msgpackNext((op) => 'op' in op && op.op === 'subok', 'msgpack subok');
  assertLike(await json.subscribe(topic, 's'), { op: 'subok' }, 'json subscriber');

  const peer = await UplinkStranger.identified(t, mesh, 'fuzz-payload');
  const payloads: Array<[string, Uint8Array]> = [
    ['0xC1', Uint8Array.of(0xc1)],
    ['a truncated map', Uint8Array.of(0x82, 0xa1, 0x61)],
    ['two values', Uint8Array.of(0x01, 0x02)],
    ['nothing', new Uint8Array(0)],
  ];
  const sequenced: Array<[string, number]> = [];
  for (const [index, [title, payload]] of payloads.entries()) {
    count(fuzz);
    const id = 1000 + index;
    peer.send(packValue([frameType.pub, id, topic, payload]));
    const answer = await peer.outcome((frame) => frame[1] === id, `pub of ${title}`);
    if ('code' in answer) throw new Error(`pub of ${title} closed the uplink ${answer.code}`);
    note(fuzz, `uplink pub of a bad payload ${answer[0] === frameType.puback ? 'sequenced' : 'refused'}`);
    if (answer[0] === frameType.puback) sequenced.push([title, answer[3] as number]);
  }
  const good = await publish(mesh.core, topic, 'good');
  const gotGood = (op: Op | { undecodable: string }): boolean =>
    'op' in op && op.op === 'msg' && op.offset === good.offset;
  await Promise.all([
    json.next((op) => op.op === 'msg' && op.offset === good.offset),
    msgpackNext(gotGood, 'msgpack: the good message'),
  ]);
  // For each sequenced offset, what a subscriber saw of it: a `msg`, a `reset` covering it, or nothing.
  const seen = (ops: Array<Op | { undecodable: string }>, offset: number): string => {
    const op = ops.find(
      (candidate) =>
        'op' in candidate &&
        ((candidate.op === 'msg' && candidate.offset === offset) ||
          (candidate.op === 'reset' && (candidate.offset as number) >= offset)),
    );
    return op && 'op' in op ? op.op : 'nothing';
  };
  const undecodable = msgpackOps.filter((op) => 'undecodable' in op || op.data === C1).length;
  expect(fuzz, undecodable === 0, `${undecodable} frames to the msgpack subscriber were not MessagePack`);
  for (const [title, offset] of sequenced) {
    const outcome = { json: seen(json.received, offset), msgpack: seen(msgpackOps, offset) };
    expect(
      fuzz,
      outcome.json !== 'nothing' && outcome.msgpack !== 'nothing',
      `an uplink pub of ${title} (not one MessagePack value) was sequenced at offset ${offset}; the subscribers saw ${JSON.stringify(outcome)}`,
    );
  }
  await peer.close();
}

// ── HTTP ─────────────────────────────────────────────────────────────────────

const methodArb = fc.oneof(
  fc.constantFrom(
    'GET',
    'POST',
    'PUT',
    'DELETE',
    'PATCH',
    'HEAD',
    'OPTIONS',
    'TRACE',
    'PROPFIND',
    'M-SEARCH',
    'PURGE',
    'QUERY',
    'CONNECT',
  ),
  fc.stringMatching(/^[A-Z]{1,10}$/),
);
const pathArb = fc.oneof(
  fc.webPath(),
  fc.string({ maxLength: 40 }).map((text) => `/${encodeURI(text)}`),
  fc.constantFrom(
    '/healthz',
    '/healthz/',
    '/HEALTHZ',
    '/metrics',
    '/v1/publish',
    '/v1/publish?x=1',
    '/v1/locate',
    '/v1/ws',
    '/v1/uplink',
    '*',
    '//',
    '///',
    '//x',
    '/%',
    '/%00',
    '/..',
    '/../../etc/passwd',
    '/healthz#frag',
    '/%2e%2e/healthz',
  ),
);

async function httpFamily(fuzz: Fuzz): Promise<void> {
  const { mesh } = fuzz;
  const seeds = { edge: 7501, core: 7511 };
  for (const target of fuzz.targets) {
    await fc.assert(
      fc.asyncProperty(methodArb, pathArb, async (method, path) => {
        await exchange(
          fuzz,
          target,
          [bytes(`${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)],
          `${method} ${path}`,
        );
      }),
      { seed: seeds[target.kind], numRuns: 40, endOnFailure: true },
    );

    const node = target.kind === 'edge' ? mesh.edges[0]! : mesh.core;
    const topicArb = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('fuzz.http', 'fuzz.*', '>', 'a..b'));
    const bodyArb = fc.oneof(
      fc.string({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 64 }).map((data) => Buffer.from(data)),
      fc.json({ maxDepth: 3 }),
      fc
        .record({ topic: topicArb, data: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] })
        .map((item) => JSON.stringify(item)),
      fc
        .array(fc.record({ topic: topicArb, data: fc.jsonValue({ maxDepth: 2 }) }), { maxLength: 4 })
        .map((items) => JSON.stringify(items)),
    );
    const contentTypeArb = fc.oneof(
      fc.constantFrom(
        'application/json',
        'text/plain',
        'application/msgpack',
        'multipart/form-data; boundary=x',
        'application/x-www-form-urlencoded',
        'application/json; charset=utf-16',
      ),
      fc.stringMatching(/^[ -~]{0,40}$/),
    );
    await fc.assert(
      fc.asyncProperty(bodyArb, contentTypeArb, async (body, contentType) => {
        count(fuzz);
        const response = await fetch(`${mesh.http(node)}/v1/publish`, {
          method: 'POST',
          headers: { 'content-type': contentType },
          body,
          signal: AbortSignal.timeout(DEADLINE_MS),
        });
        const text = await response.text();
        if (response.status >= 500)
          throw new Error(`POST /v1/publish ${contentType} ${show(body)} → ${response.status} ${text}`);
      }),
      { seed: seeds[target.kind] + 1, numRuns: 40, endOnFailure: true },
    );

    const post = (headers: string, body = ''): Buffer =>
      bytes(`POST /v1/publish HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}`);
    const item = '{"topic":"fuzz.framing","data":1}';
    const framings: Array<[string, Buffer]> = [
      ['a Content-Length longer than the body', post('Content-Length: 1000\r\n', item)],
      ['a Content-Length shorter than the body', post('Content-Length: 5\r\n', item)],
      ['a negative Content-Length', post('Content-Length: -1\r\n', item)],
      ['a Content-Length of 1e3', post('Content-Length: 1e3\r\n', item)],
      ['two different Content-Lengths', post('Content-Length: 5\r\nContent-Length: 33\r\n', item)],
      ['a Content-Length of 2^64', post('Content-Length: 18446744073709551616\r\n', item)],
      [
        'both Content-Length and chunked',
        post(`Content-Length: ${item.length}\r\nTransfer-Encoding: chunked\r\n`, item),
      ],
      ['a bad chunk size', post('Transfer-Encoding: chunked\r\n', 'zz\r\nabc\r\n0\r\n\r\n')],
      ['a chunk size of 2^64-1', post('Transfer-Encoding: chunked\r\n', 'ffffffffffffffff\r\nabc')],
      [
        'a 64 KiB chunk extension',
        post('Transfer-Encoding: chunked\r\n', `5;${'e'.repeat(65_536)}\r\nhello\r\n0\r\n\r\n`),
      ],
      ['chunks without the last one', post('Transfer-Encoding: chunked\r\n', '3\r\n{"t\r\n')],
      ['Expect: 100-continue, then nothing', post('Expect: 100-continue\r\nContent-Length: 10\r\n')],
      ['a body over the limit, declared', post('Content-Length: 100000000\r\n', item)],
    ];
    for (const [title, request] of framings) await exchange(fuzz, target, [request], `POST /v1/publish with ${title}`);

    // A body trickled a byte at a time, with the node serving /healthz between the bytes, then abandoned.
    for (const chunked of [false, true]) {
      count(fuzz);
      const connection = await RawConnection.open(fuzz.t, target.port);
      await connection.write(post(chunked ? 'Transfer-Encoding: chunked\r\n' : 'Content-Length: 1000\r\n'));
      for (const byte of Buffer.from('{"topic":"fuzz.trickle","data":"')) {
        await connection.write(chunked ? bytes(`1\r\n${String.fromCharCode(byte)}\r\n`) : Uint8Array.of(byte));
        const { status } = await health(mesh.http(node));
        expect(fuzz, status === 200, `${target.kind}: /healthz while a body trickles in → ${status}`);
      }
      connection.socket.destroy();
      await within(connection.closed, 'trickle abort');
    }
  }
  expect(fuzz, (await mesh.core.engine.position('fuzz.trickle')).offset === 0, 'an abandoned body was published');
  expect(
    fuzz,
    (await mesh.core.engine.position('fuzz.framing')).offset === 0,
    'a POST with broken framing was published',
  );
}

// ── The test ─────────────────────────────────────────────────────────────────

test('fuzz: hostile bytes, upgrades, frames, uplink frames and HTTP requests leave a live edge and core serving', async (t) => {
  const mesh = await startMesh(t);
  const bystanders = await startBystanders(t, mesh);
  const targets: Target[] = [
    { kind: 'edge', port: mesh.edges[0]!.address.port, path: clientPath },
    { kind: 'core', port: mesh.core.address.port, path: uplinkPath },
  ];
  const fuzz: Fuzz = { t, mesh, targets, counts: new Map(), outcomes: new Map(), held: [], family: '', failures: [] };
  const families: Array<[string, (fuzz: Fuzz) => Promise<void>]> = [
    ['random bytes', randomBytesFamily],
    ['truncated upgrades', truncatedUpgradeFamily],
    ['bad upgrade headers', badUpgradeFamily],
    ['oversized headers', oversizedHeadersFamily],
    ['WebSocket frames', wsFramesFamily],
    ['uplink', uplinkFamily],
    ['uplink payloads', uplinkPayloadFamily],
    ['HTTP', httpFamily],
  ];
  for (const [name, family] of families) {
    fuzz.family = name;
    await record(fuzz, () => family(fuzz));
    // Idle and half-sent connections stay open while the nodes must go on serving everyone else.
    await record(fuzz, () => checkServing(fuzz, bystanders, name));
    const held = fuzz.held.splice(0);
    await record(fuzz, async () => {
      for (const connection of held) assertNotInternal(await connection.finish('held connection'), 'held connection');
    });
  }

  for (const edge of mesh.edges) {
    const fresh = await RawClient.connected(t, edge.url, 'json');
    const topic = `fuzz.fresh.${edge.id}`;
    t.like(await fresh.subscribe(topic, 'fresh'), { op: 'subok', id: 'fresh', topic });
    const position = await publish(mesh.core, topic, { fresh: edge.id });
    t.like(await fresh.next((op) => op.op === 'msg'), { topic, offset: position.offset, data: { fresh: edge.id } });
  }
  const total = [...fuzz.counts.values()].reduce((sum, n) => sum + n, 0);
  t.log(
    `fuzz: ${total} inputs, 0 crashes, ${fuzz.failures.length} findings (${[...fuzz.counts].map(([name, n]) => `${name} ${n}`).join(', ')})`,
  );
  t.log('outcomes:', Object.fromEntries(fuzz.outcomes));
  t.deepEqual(fuzz.failures, [], 'nothing the fuzzing found');
});
