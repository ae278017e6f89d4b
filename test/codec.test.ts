// Tests of the serialisation code (shared/codec.ts, shared/client-op-parser.ts): uplink frames, client ops, msg ops, payloads.

import test from 'ava';
import fc from 'fast-check';
import { unpack } from 'msgpackr';
import { parseClientOp } from '../shared/client-op-parser.js';
import {
  decodeClientMessage,
  decodeCoreFrames,
  decodeEdgeFrames,
  encodeFrame,
  encodeServerOp,
  jsonMsgOp,
  msgpackMsgOp,
  packValue,
  parseJson,
  unpackValue,
} from '../shared/codec.js';
import { RelayError } from '../shared/errors.js';
import { frameType, type UplinkFrame } from '../shared/protocol.js';
import { coreFrameFields, edgeFrameFields, frameProblem } from '../shared/uplink-frames.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** One frame of every type, with edge-case values where the type allows them. */
const sampleFrames: UplinkFrame[] = [
  [frameType.hello, 1, 'eu-1', 'eu', 'k3Jd9_Qx', ''],
  [frameType.hello, 1, 'eu-1', 'eu', 'k3Jd9_Qx', 'dGhpcyBpcyBub3QgYSByZWFsIHByb29mIGF0IGFsbA'],
  [frameType.welcome, 'central'],
  [frameType.sub, 7, 'chat.*', null],
  [frameType.sub, 8, 'prices.eur-usd', ['AbC-12_x', 41]],
  [frameType.subok, 8, 'AbC-12_x', 0, false],
  [frameType.subok, 2 ** 32 + 5, 'e', Number.MAX_SAFE_INTEGER, true],
  [frameType.unsub, 'orders.>'],
  [frameType.pub, 9, 'chat.room-17', packValue({ text: 'hello', n: 1 })],
  [frameType.pub, 0, 'ünï.中文', new Uint8Array(0)],
  [frameType.puback, 9, 'AbC-12_x', 12],
  [frameType.msg, 'chat.room-17', 'AbC-12_x', 12, packValue('hi')],
  [frameType.msg, 'big.payload', 'e', 1, new Uint8Array(70_000).fill(7)],
  [frameType.history, 3, 'chat.room-17', 'AbC-12_x', 5, 9],
  [frameType.replay, 3, 5, packValue([1, 2, 3])],
  [frameType.historyEnd, 3, true],
  [frameType.historyEnd, 4, false],
  [frameType.error, 3, 'unavailable', 'no engine'],
  [frameType.digest, 12, 4_294_967_295, 0],
  [frameType.digestMismatch, ['chat.*', 'prices.eur-usd']],
  [frameType.digestMismatch, []],
  [frameType.challenge, 'Zm9vYmFyYmF6cXV4LW5vbmNlLTMyLWJ5dGVzLWxvbmc'],
  [frameType.edgeStatus, ['ws://127.0.0.1:8401', false, 3, 100_000, 2, 40, 10, 1]],
  [
    frameType.meshView,
    [['central', 'us', 'ws://127.0.0.1:7400', 2, 10, 20]],
    [['eu-1', 'eu', 'central', 'wss://eu.example.net', true, 0, 5, 0, 0, 0, 0]],
  ],
  [frameType.meshView, [], []],
  [frameType.cancel, 7],
  [frameType.streamOpen, 1, 'hq-db'],
  [frameType.streamData, 3, new Uint8Array(16_384).fill(9)],
  [frameType.streamWindow, 2, 131_072],
  [frameType.streamEnd, 5],
  [frameType.streamReset, 4, 'refused'],
  [frameType.presenceJoin, 'chat.room-17', 'Ng2sUnb4JYgZHCMAl54t4Q', 'user-42', false],
  [frameType.presenceJoin, 'chat.room-17', 's', '', true],
  [frameType.presenceLeave, 'chat.room-17', 'Ng2sUnb4JYgZHCMAl54t4Q', 'user-42'],
  [frameType.presenceSynced],
  [frameType.presenceQuery, 11, 'chat.room-17'],
  [frameType.presenceWatch, 'chat.room-17', true],
  [frameType.pubFrom, 8, 'orders', new Uint8Array([0xa1, 0x78]), 'eu-1:aGk:17'],
  [frameType.meshEdges, [['eu-1', 'eu', 'eu-hub', 'ws://eu-1.example', false, 3, 100, 2, 4, 9, 1]]],
  [
    frameType.presenceAnswer,
    11,
    5000,
    [
      ['s1', 'user-42', 'eu-1'],
      ['s2', '', 'us-1'],
    ],
  ],
  [frameType.presenceAnswer, 12, 0, []],
  [frameType.presenceEvent, 'chat.room-17', false, 's1', '', 'eu-1'],
];

/** Each side's decoder, with the table of the frames that side receives. */
const sides = {
  core: { decode: decodeEdgeFrames, table: edgeFrameFields },
  edge: { decode: decodeCoreFrames, table: coreFrameFields },
};
/** The side that receives `frame`, and so decodes it. */
const receiverOf = (frame: UplinkFrame): 'core' | 'edge' =>
  Object.hasOwn(edgeFrameFields, frame[0]) ? 'core' : 'edge';
const decodeAtReceiver = (frame: UplinkFrame, bytes: Uint8Array = encodeFrame(frame)): UplinkFrame[] =>
  sides[receiverOf(frame)].decode(bytes);
const samplesFor = (side: 'core' | 'edge'): UplinkFrame[] => sampleFrames.filter((frame) => receiverOf(frame) === side);

/** Frames compared by value: decoded byte fields are Buffers, so compare them as plain arrays of numbers. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Array.from(value) };
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

/** Tunnel stream frames (types 19–23) are the same both ways. */
const isStreamFrame = (frame: UplinkFrame): boolean =>
  Object.hasOwn(edgeFrameFields, frame[0]) && Object.hasOwn(coreFrameFields, frame[0]);

function isRelayError(error: unknown): boolean {
  return error instanceof RelayError;
}

// ── Uplink frames ────────────────────────────────────────────────────────────

test('every frame type has a sample', (t) => {
  const covered = new Set(sampleFrames.map((frame) => frame[0]));
  for (const [name, type] of Object.entries(frameType)) t.true(covered.has(type), name);
});

test("each frame round-trips through encodeFrame and its receiver's decoder", (t) => {
  for (const frame of sampleFrames) {
    const decoded = decodeAtReceiver(frame);
    t.is(decoded.length, 1);
    t.deepEqual(plain(decoded[0]), plain(frame), `frame type ${frame[0]}`);
  }
});

test('frames concatenated in one buffer decode to the list', (t) => {
  for (const side of ['core', 'edge'] as const) {
    const samples = samplesFor(side);
    t.deepEqual(plain(sides[side].decode(Buffer.concat(samples.map((frame) => encodeFrame(frame))))), plain(samples));
    const reversed = samples.slice().reverse();
    t.deepEqual(plain(sides[side].decode(Buffer.concat(reversed.map((frame) => encodeFrame(frame))))), plain(reversed));
  }
});

test('each side refuses the frames of the other side: a core frame reaching the edge is as wrong as garbage', (t) => {
  for (const frame of sampleFrames) {
    if (isStreamFrame(frame)) continue;
    const other = receiverOf(frame) === 'core' ? sides.edge : sides.core;
    t.throws(
      () => other.decode(encodeFrame(frame)),
      { instanceOf: RelayError, message: /unexpected uplink frame type/ },
      `frame type ${frame[0]}`,
    );
  }
});

test('tunnel stream frames travel both ways: each side decodes them', (t) => {
  const streamFrames = sampleFrames.filter(isStreamFrame);
  t.is(streamFrames.length, 5);
  for (const frame of streamFrames) {
    for (const side of Object.values(sides)) t.deepEqual(plain(side.decode(encodeFrame(frame))), plain([frame]));
  }
});

test('property: random sequences of frames round-trip in one buffer', (t) => {
  for (const side of ['core', 'edge'] as const) {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...samplesFor(side)), { minLength: 1, maxLength: 20 }), (frames) => {
        const decoded = sides[side].decode(Buffer.concat(frames.map((frame) => encodeFrame(frame))));
        return JSON.stringify(plain(decoded)) === JSON.stringify(plain(frames));
      }),
      { seed: 42, numRuns: 300 },
    );
  }
  t.pass();
});

test('frames decode from a Uint8Array view at a non-zero offset', (t) => {
  const encoded = encodeFrame([frameType.puback, 1, 'e', 2]);
  const backing = new Uint8Array(encoded.length + 10);
  backing.set(encoded, 5);
  t.deepEqual(decodeCoreFrames(backing.subarray(5, 5 + encoded.length)), [[frameType.puback, 1, 'e', 2]]);
});

test('truncated frames throw a RelayError', (t) => {
  for (const frame of sampleFrames) {
    const encoded = encodeFrame(frame);
    for (let length = 0; length < encoded.length; length += length < 40 ? 1 : 997) {
      t.throws(
        () => decodeAtReceiver(frame, encoded.subarray(0, length)),
        { instanceOf: RelayError },
        `type ${frame[0]} cut at ${length}`,
      );
    }
  }
});

test('a buffer cut inside its second frame throws a RelayError', (t) => {
  const first = encodeFrame(sampleFrames[0]!);
  const second = encodeFrame(sampleFrames[3]!);
  const both = Buffer.concat([first, second]);
  t.is(decodeEdgeFrames(both.subarray(0, first.length)).length, 1);
  for (let length = first.length + 1; length < both.length; length++) {
    t.throws(() => decodeEdgeFrames(both.subarray(0, length)), { instanceOf: RelayError });
  }
});

test('ill-shaped frames throw a RelayError', (t) => {
  const bad: unknown[] = [
    null,
    42,
    'hello',
    {},
    { 0: 1 },
    [],
    [0],
    [99, 'x'],
    [-1],
    [1.5, 'x'],
    [frameType.hello, 1, 'eu-1', 'eu'],
    [frameType.hello, 1, 'eu-1', 'eu', 'i'],
    [frameType.hello, 1, 'eu-1', 'eu', 'i', '', 'extra'],
    [frameType.hello, 1, 'eu-1', 'eu', 'i', null],
    [frameType.hello, -1, 'eu-1', 'eu', 'i', ''],
    [frameType.hello, '1', 'eu-1', 'eu', 'i', ''],
    [frameType.challenge],
    [frameType.challenge, 42],
    [frameType.challenge, 'nonce', 'extra'],
    [frameType.digestMismatch, ['a', 1]],
    [frameType.sub, 1, 'a', ['e']],
    [frameType.sub, 1, 'a', ['e', -1]],
    [frameType.sub, 1, 'a', ['e', 1.5]],
    [frameType.sub, 1, 'a', [1, 1]],
    [frameType.sub, 1, 'a', 'e:1'],
    [frameType.subok, 1, 'e', 1, 1],
    [frameType.pub, 1, 'a', 'not bytes'],
    [frameType.pub, 1, 'a', [1, 2]],
    [frameType.msg, 'a', 'e', 2 ** 64, bytes(1)],
    [frameType.msg, 'a', 'e', Number.NaN, bytes(1)],
    [frameType.history, 1, 'a', 'e', 1],
    [frameType.replay, 1, 1, null],
    [frameType.historyEnd, 1, 'yes'],
    [frameType.error, 1, 'no_such_code', 'm'],
    [frameType.error, 1, 'internal'],
  ];
  for (const value of bad) {
    for (const { decode } of Object.values(sides))
      t.throws(() => decode(packValue(value)), { instanceOf: RelayError }, JSON.stringify(value));
  }
  // One bad frame spoils the whole message, even after good ones.
  t.throws(() => decodeEdgeFrames(Buffer.concat([encodeFrame(sampleFrames[0]!), packValue([frameType.hello])])), {
    instanceOf: RelayError,
  });
});

test('msgpack oddities: 0xC1, nil, extension types, uint64, NaN, empty input', (t) => {
  const odd: Array<[string, Uint8Array]> = [
    ['0xC1 alone', bytes(0xc1)],
    ['fixarray holding 0xC1', bytes(0x91, 0xc1)],
    ['frame type 0xC1', bytes(0x92, 0xc1, 0xa1, 0x63)],
    ['nil', bytes(0xc0)],
    ['empty', bytes()],
    ['fixext1 type 5', bytes(0xd4, 0x05, 0x00)],
    ['ext8 type 0x70', bytes(0xc7, 0x01, 0x70, 0x00)],
    ['timestamp ext -1', bytes(0xd6, 0xff, 0, 0, 0, 1)],
    ['welcome with uint64 max', bytes(0x92, 0x02, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)],
    ['puback with float64 NaN offset', bytes(0x94, 0x07, 0x01, 0xa1, 0x65, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0)],
    ['array32 claiming 2^32-1 items', bytes(0xdd, 0xff, 0xff, 0xff, 0xff)],
    ['str32 claiming 4 GiB', bytes(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61)],
    ['map with 0xC1 key', bytes(0x81, 0xc1, 0x01)],
    ['two nils', bytes(0xc0, 0xc0)],
  ];
  for (const [name, input] of odd) {
    for (const { decode } of Object.values(sides)) t.throws(() => decode(input), { instanceOf: RelayError }, name);
    const parsed = decodeClientMessage(input, true, 'msgpack');
    t.is(parsed.kind, 'fatal', name);
  }
});

// A frame type is an own numeric key of the checker's table: names of Object.prototype members, numeric strings
// and arrays must not get past it or crash it.
const prototypeKeyFrames: Array<[string, unknown]> = [
  ['["constructor", 1]', ['constructor', 1]],
  ['["toString"]', ['toString']],
  ['["valueOf"]', ['valueOf']],
  ['[{toString: 1}]', [{ toString: 1 }]],
  ['["1", 1, "eu-1", "eu"] (a string type)', ['1', 1, 'eu-1', 'eu']],
  ['[[2], "c"] (an array type)', [[frameType.welcome], 'c']],
];
for (const [name, frame] of prototypeKeyFrames) {
  test(`frame type ${name} is refused with a RelayError`, (t) => {
    for (const { decode } of Object.values(sides)) t.throws(() => decode(packValue(frame)), { instanceOf: RelayError });
  });
}

test('property: random bytes decode to checked frames or throw a RelayError, nothing else', (t) => {
  for (const { decode, table } of Object.values(sides)) {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (input) => {
        try {
          return decode(input).every((frame) => frameProblem(frame, table) === undefined);
        } catch (error) {
          return isRelayError(error);
        }
      }),
      { seed: 42, numRuns: 10_000 },
    );
  }
  t.pass();
});

test('property: mutated valid frames decode to checked frames or throw a RelayError', (t) => {
  const mutation = fc.tuple(
    fc.constantFrom(...sampleFrames.slice(0, -6)),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
  );
  fc.assert(
    fc.property(mutation, ([frame, edits]) => {
      const input = Buffer.from(encodeFrame(frame));
      for (const [at, value] of edits) input[at % input.length] = value;
      try {
        return decodeAtReceiver(frame, input).every(
          (decoded) => frameProblem(decoded, sides[receiverOf(frame)].table) === undefined,
        );
      } catch (error) {
        return isRelayError(error);
      }
    }),
    { seed: 42, numRuns: 20_000 },
  );
  t.pass();
});

/**
 * msgpackr renames a decoded `__proto__` map key to `__proto_` (its guard against prototype pollution), so values
 * holding that key do not round-trip; the properties below leave them out (see report).
 */
function hasProtoKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasProtoKey);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).some(([key, inner]) => key === '__proto__' || hasProtoKey(inner));
  }
  return false;
}
const jsonValueArb = (constraints?: fc.JsonSharedConstraints): fc.Arbitrary<fc.JsonValue> =>
  fc.jsonValue(constraints).filter((value) => !hasProtoKey(value));

test('a `__proto__` key in a payload is renamed by msgpackr, and never pollutes prototypes', (t) => {
  const decoded = unpackValue(packValue(JSON.parse('{"x":{"__proto__":{"polluted":1}}}'))) as {
    x: Record<string, unknown>;
  };
  t.is(Object.getPrototypeOf(decoded.x), Object.prototype);
  t.is(decoded.x.polluted, undefined);
  t.is(({} as Record<string, unknown>).polluted, undefined);
});

// ── Client messages ──────────────────────────────────────────────────────────

const kinds = new Set(['op', 'fatal', 'invalid']);

test('property: decodeClientMessage never throws on random msgpack bytes', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (input) =>
      kinds.has(decodeClientMessage(input, true, 'msgpack').kind),
    ),
    { seed: 42, numRuns: 20_000 },
  );
  t.pass();
});

test('property: decodeClientMessage never throws on random text or random JSON', (t) => {
  const text = fc.oneof(
    fc.string({ maxLength: 64 }),
    fc.string({ unit: 'binary', maxLength: 64 }),
    fc.json(),
    jsonValueArb().map((value) => JSON.stringify(value)),
  );
  fc.assert(
    fc.property(text, (input) => kinds.has(decodeClientMessage(input, false, 'json').kind)),
    { seed: 42, numRuns: 20_000 },
  );
  t.pass();
});

const opName = fc.constantFrom('connect', 'sub', 'unsub', 'pub', 'ping', 'msg', 'nope');
const opLike = fc.record(
  {
    op: fc.oneof(opName, jsonValueArb({ maxDepth: 1 })),
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), jsonValueArb({ maxDepth: 1 })),
    topic: fc.oneof(fc.constantFrom('a.b', 'chat.*'), jsonValueArb({ maxDepth: 1 })),
    token: fc.oneof(fc.string({ maxLength: 4 }), jsonValueArb({ maxDepth: 1 })),
    data: jsonValueArb({ maxDepth: 2 }),
    since: fc.oneof(
      fc.record({ epoch: fc.string({ maxLength: 4 }), offset: fc.integer({ min: -2, max: 5 }) }),
      jsonValueArb({ maxDepth: 1 }),
    ),
  },
  { requiredKeys: [] },
);

test('property: op-like objects decode the same from JSON and from msgpack, never throwing', (t) => {
  fc.assert(
    fc.property(opLike, (value) => {
      const normal: unknown = JSON.parse(JSON.stringify(value));
      const fromJson = decodeClientMessage(JSON.stringify(normal), false, 'json');
      const fromMsgpack = decodeClientMessage(packValue(normal), true, 'msgpack');
      return kinds.has(fromJson.kind) && JSON.stringify(fromJson) === JSON.stringify(fromMsgpack);
    }),
    { seed: 42, numRuns: 5000 },
  );
  t.pass();
});

test('decodeClientMessage: frame kind and format must agree', (t) => {
  t.is(decodeClientMessage('{"op":"ping"}', true, 'json').kind, 'fatal');
  t.is(decodeClientMessage(Buffer.from('{"op":"ping"}'), true, 'json').kind, 'fatal');
  t.is(decodeClientMessage(packValue({ op: 'ping' }).toString('latin1'), false, 'msgpack').kind, 'fatal');
  t.is(decodeClientMessage(packValue({ op: 'ping' }), false, 'msgpack').kind, 'fatal');
  t.deepEqual(decodeClientMessage('{"op":"ping","id":1}', false, 'json'), { kind: 'op', op: { op: 'ping', id: 1 } });
  t.deepEqual(decodeClientMessage(Buffer.from('{"op":"ping","id":1}'), false, 'json'), {
    kind: 'op',
    op: { op: 'ping', id: 1 },
  });
  t.deepEqual(decodeClientMessage(packValue({ op: 'ping', id: 'x' }), true, 'msgpack'), {
    kind: 'op',
    op: { op: 'ping', id: 'x' },
  });
  t.is(decodeClientMessage('{"op":', false, 'json').kind, 'fatal');
  t.is(decodeClientMessage('', false, 'json').kind, 'fatal');
});

test('decodeClientMessage: msgpack sub with binary-free since and pub with binary data', (t) => {
  const sub = decodeClientMessage(
    packValue({ op: 'sub', id: 2, topic: 'a.b', since: { epoch: 'e', offset: 4 } }),
    true,
    'msgpack',
  );
  t.deepEqual(sub, { kind: 'op', op: { op: 'sub', id: 2, topic: 'a.b', since: { epoch: 'e', offset: 4 } } });
  const pub = decodeClientMessage(packValue({ op: 'pub', id: 3, topic: 'a.b', data: bytes(1, 2, 3) }), true, 'msgpack');
  t.is(pub.kind, 'op');
  if (pub.kind === 'op' && pub.op.op === 'pub') {
    t.true(pub.op.data instanceof Uint8Array);
    t.deepEqual(Array.from(pub.op.data as Uint8Array), [1, 2, 3]);
  } else t.fail('expected a pub op');
});

// ── parseClientOp ────────────────────────────────────────────────────────────

test('parseClientOp: valid ops', (t) => {
  const cases: Array<[unknown, unknown]> = [
    [{ op: 'connect' }, { op: 'connect' }],
    [
      { op: 'connect', token: 'jwt' },
      { op: 'connect', token: 'jwt' },
    ],
    [
      { op: 'connect', id: 1, token: 'jwt' },
      { op: 'connect', token: 'jwt', id: 1 },
    ],
    [
      { op: 'sub', id: 1, topic: 'a.b' },
      { op: 'sub', topic: 'a.b', id: 1 },
    ],
    [
      { op: 'sub', topic: 'a.*' },
      { op: 'sub', topic: 'a.*' },
    ],
    [
      { op: 'sub', id: 'x', topic: 'a.b', since: null },
      { op: 'sub', topic: 'a.b', id: 'x' },
    ],
    [
      { op: 'sub', id: 2, topic: 'a.b', since: { epoch: 'e1', offset: 0 } },
      { op: 'sub', topic: 'a.b', since: { epoch: 'e1', offset: 0 }, id: 2 },
    ],
    [
      { op: 'sub', id: 2, topic: 'a.b', since: { epoch: 'e1', offset: 9, extra: true } },
      { op: 'sub', topic: 'a.b', since: { epoch: 'e1', offset: 9 }, id: 2 },
    ],
    [
      { op: 'unsub', id: 3, topic: 'a.b' },
      { op: 'unsub', topic: 'a.b', id: 3 },
    ],
    [
      { op: 'pub', id: 4, topic: 'a.b', data: { x: 1 } },
      { op: 'pub', topic: 'a.b', data: { x: 1 }, id: 4 },
    ],
    [
      { op: 'pub', id: 4, topic: 'a.b', data: null },
      { op: 'pub', topic: 'a.b', data: null, id: 4 },
    ],
    [
      { op: 'pub', topic: 'a.b', data: 0 },
      { op: 'pub', topic: 'a.b', data: 0 },
    ],
    [
      { op: 'pub', topic: 'a.b', data: '' },
      { op: 'pub', topic: 'a.b', data: '' },
    ],
    [
      { op: 'ping', id: 5 },
      { op: 'ping', id: 5 },
    ],
    [
      { op: 'ping', id: 'a'.repeat(256) },
      { op: 'ping', id: 'a'.repeat(256) },
    ],
    [
      { op: 'ping', id: -1.5 },
      { op: 'ping', id: -1.5 },
    ],
    [{ op: 'ping', unknownField: 1 }, { op: 'ping' }],
  ];
  for (const [input, op] of cases) t.deepEqual(parseClientOp(input), { kind: 'op', op }, JSON.stringify(input));
});

test('parseClientOp: known ops with bad fields are invalid, echoing a valid id', (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ op: 'connect', token: 5 }, 'token'],
    [{ op: 'connect', token: null }, 'token'],
    [{ op: 'sub' }, 'topic'],
    [{ op: 'sub', topic: 5 }, 'topic'],
    [{ op: 'sub', topic: 'a', since: 'e:1' }, 'since'],
    [{ op: 'sub', topic: 'a', since: [] }, 'since'],
    [{ op: 'sub', topic: 'a', since: { offset: 1 } }, 'since.epoch'],
    [{ op: 'sub', topic: 'a', since: { epoch: '', offset: 1 } }, 'since.epoch'],
    [{ op: 'sub', topic: 'a', since: { epoch: 'e'.repeat(65), offset: 1 } }, 'since.epoch'],
    [{ op: 'sub', topic: 'a', since: { epoch: 'e' } }, 'since.offset'],
    [{ op: 'sub', topic: 'a', since: { epoch: 'e', offset: -1 } }, 'since.offset'],
    [{ op: 'sub', topic: 'a', since: { epoch: 'e', offset: 1.5 } }, 'since.offset'],
    [{ op: 'sub', topic: 'a', since: { epoch: 'e', offset: '1' } }, 'since.offset'],
    [{ op: 'sub', topic: 'a', since: { epoch: 'e', offset: 2 ** 53 } }, 'since.offset'],
    [{ op: 'unsub' }, 'topic'],
    [{ op: 'unsub', topic: ['a'] }, 'topic'],
    [{ op: 'pub', topic: 'a' }, 'data'],
    [{ op: 'pub', topic: 'a', data: undefined }, 'data'],
    [{ op: 'pub', data: 1 }, 'topic'],
  ];
  for (const [input, field] of cases) {
    const withoutId = parseClientOp(input);
    t.is(withoutId.kind, 'invalid', JSON.stringify(input));
    t.false('id' in withoutId, JSON.stringify(input));
    if (withoutId.kind === 'invalid')
      t.true(withoutId.message.includes(`\`${field}\``), `${JSON.stringify(input)}: ${withoutId.message}`);
    for (const id of [17, 'req-1']) {
      const withId = parseClientOp({ ...input, id });
      t.is(withId.kind, 'invalid');
      if (withId.kind === 'invalid') t.is(withId.id, id);
    }
  }
});

test('parseClientOp: an ill-typed id is invalid without an id', (t) => {
  for (const id of [null, true, {}, [1], 'x'.repeat(257), Number.NaN, Number.POSITIVE_INFINITY, bytes(1)]) {
    const parsed = parseClientOp({ op: 'ping', id });
    t.is(parsed.kind, 'invalid', String(id));
    t.false('id' in parsed);
  }
});

test('parseClientOp: not an op object is fatal', (t) => {
  const cases: unknown[] = [
    null,
    undefined,
    0,
    'ping',
    true,
    [],
    [{ op: 'ping' }],
    ['ping'],
    bytes(1, 2),
    {},
    { id: 1 },
    { op: 5 },
    { op: null },
    { op: ['ping'] },
    { op: 'PING' },
    { op: 'nope' },
    { op: 'msg' },
    { op: 'welcome' },
    { op: 'toString' },
    { op: 'constructor' },
    { op: 'x'.repeat(10_000) },
  ];
  for (const value of cases) {
    const parsed = parseClientOp(value);
    t.is(parsed.kind, 'fatal', JSON.stringify(value) ?? String(value));
    if (parsed.kind === 'fatal') t.true(parsed.reason.length > 0 && parsed.reason.length < 200);
  }
});

// ── msg ops and payloads ─────────────────────────────────────────────────────

/** JSON-like values as a JSON client would see them: -0 becomes 0. */
function normalize(value: unknown): string {
  return JSON.stringify(value);
}

const epochArb = fc.string({ minLength: 1, maxLength: 12 });
const offsetArb = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const topicArb = fc.constantFrom('a', 'chat.room-17', 'ünï.中文.😀', 'x'.repeat(255));

test('property: msgpackMsgOp decodes to the msg op with the original JSON-like data', (t) => {
  fc.assert(
    fc.property(topicArb, epochArb, offsetArb, jsonValueArb(), (topic, epoch, offset, data) => {
      const decoded = unpack(msgpackMsgOp(topic, epoch, offset, packValue(data))) as Record<string, unknown>;
      return (
        JSON.stringify(Object.keys(decoded)) === JSON.stringify(['op', 'topic', 'epoch', 'offset', 'data']) &&
        decoded.op === 'msg' &&
        decoded.topic === topic &&
        decoded.epoch === epoch &&
        decoded.offset === offset &&
        normalize(decoded.data) === normalize(data)
      );
    }),
    { seed: 42, numRuns: 2000 },
  );
  t.pass();
});

test('property: msgpackMsgOp carries binary data as binary, and decodes with the codec too', (t) => {
  fc.assert(
    fc.property(topicArb, epochArb, offsetArb, fc.uint8Array({ maxLength: 300 }), (topic, epoch, offset, data) => {
      const op = msgpackMsgOp(topic, epoch, offset, packValue(data));
      const decoded = unpack(op) as Record<string, unknown>;
      const viaCodec = unpackValue(op) as Record<string, unknown>;
      return (
        decoded.data instanceof Uint8Array &&
        Buffer.from(decoded.data).equals(Buffer.from(data)) &&
        viaCodec.data instanceof Uint8Array &&
        Buffer.from(viaCodec.data).equals(Buffer.from(data)) &&
        decoded.offset === offset
      );
    }),
    { seed: 42, numRuns: 1000 },
  );
  t.pass();
});

test('msgpackMsgOp equals encodeServerOp of the same msg op', (t) => {
  const data = { text: 'hi', n: [1, 2.5, null] };
  const fast = msgpackMsgOp('a.b', 'ep', 42, packValue(data));
  const slow = encodeServerOp({ op: 'msg', topic: 'a.b', epoch: 'ep', offset: 42, data }, 'msgpack');
  t.deepEqual(unpack(fast), unpack(slow));
});

test('property: jsonMsgOp gives the plain data for JSON-like payloads', (t) => {
  fc.assert(
    fc.property(topicArb, epochArb, offsetArb, jsonValueArb(), (topic, epoch, offset, data) => {
      const op = JSON.parse(jsonMsgOp(topic, epoch, offset, packValue(data)).toString()) as Record<string, unknown>;
      return (
        !('enc' in op) &&
        op.op === 'msg' &&
        op.topic === topic &&
        op.epoch === epoch &&
        op.offset === offset &&
        normalize(op.data) === normalize(data)
      );
    }),
    { seed: 42, numRuns: 2000 },
  );
  t.pass();
});

test('property: jsonMsgOp gives base64 with enc "base64" for binary payloads', (t) => {
  fc.assert(
    fc.property(epochArb, offsetArb, fc.uint8Array({ maxLength: 300 }), (epoch, offset, data) => {
      const op = JSON.parse(jsonMsgOp('a.b', epoch, offset, packValue(data)).toString()) as Record<string, unknown>;
      return (
        op.enc === 'base64' &&
        typeof op.data === 'string' &&
        Buffer.from(op.data, 'base64').equals(Buffer.from(data)) &&
        op.offset === offset
      );
    }),
    { seed: 42, numRuns: 1000 },
  );
  t.pass();
});

test('jsonMsgOp: binary nested in a payload becomes a base64 string, without enc', (t) => {
  const payload = packValue({ file: bytes(0xde, 0xad, 0xbe, 0xef), list: [bytes(1)], name: 'x' });
  const op = JSON.parse(jsonMsgOp('a', 'e', 1, payload).toString()) as Record<string, unknown>;
  t.false('enc' in op);
  t.deepEqual(op.data, { file: '3q2+7w==', list: ['AQ=='], name: 'x' });
});

test('encodeServerOp: json ops are JSON text, msgpack ops are maps', (t) => {
  const op = { op: 'puback', id: 'r1', epoch: 'e', offset: 3 } as const;
  t.deepEqual(JSON.parse(encodeServerOp(op, 'json').toString()), op);
  t.deepEqual(unpack(encodeServerOp(op, 'msgpack')), op);
  const binary = encodeServerOp({ op: 'msg', topic: 'a', epoch: 'e', offset: 1, data: bytes(1, 2) }, 'json');
  t.is((JSON.parse(binary.toString()) as { data: unknown }).data, 'AQI=');
});

test('property: packValue and unpackValue round-trip JSON-like values (up to -0)', (t) => {
  fc.assert(
    fc.property(jsonValueArb(), (value) => normalize(unpackValue(packValue(value))) === normalize(value)),
    { seed: 42, numRuns: 3000 },
  );
  t.pass();
});

test('packValue writes plain MessagePack that a default msgpackr reads', (t) => {
  const value = { a: [1, 'two', { three: 3 }], b: null, c: true, d: 1.5, e: -7, f: 2 ** 40 };
  t.deepEqual(unpack(packValue(value)), value);
  t.deepEqual(unpack(packValue([value, value])), [value, value]);
  // No record extension (0xd4 0x72 …): a map header comes first.
  t.is(packValue({ a: 1 })[0], 0x81);
});

test('property: unpackValue on random bytes returns a value or throws a RelayError', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (input) => {
      try {
        unpackValue(input);
        return true;
      } catch (error) {
        return isRelayError(error);
      }
    }),
    { seed: 42, numRuns: 10_000 },
  );
  t.pass();
});

test('parseJson: bad JSON becomes a RelayError bad_request', (t) => {
  t.deepEqual(parseJson('{"a":[1]}'), { a: [1] });
  const error = t.throws(() => parseJson('{'), { instanceOf: RelayError });
  t.is(error?.code, 'bad_request');
});
