// Tunnel streams (shared/stream-mux.ts) between two muxes joined by a wire that encodes and decodes every frame with
// the real uplink codec: order, credit, half-close and reset, the checks that turn forged frames into violations, and
// properties over random writes, reads and chunkings.

import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { decodeCoreFrames, decodeEdgeFrames, encodeFrame } from '../shared/codec.js';
import {
  StreamMux,
  streamMaxWindowBytes,
  streamWindowBytes,
  type MuxStream,
  type StreamEndpoint,
  type StreamFrame,
} from '../shared/stream-mux.js';
import { frameType, type StreamResetReason } from '../shared/uplink-frames.js';

/** An endpoint that records what arrives and consumes it only when told to (a reader of its own pace). */
class Recorder implements StreamEndpoint {
  readonly chunks: Buffer[] = [];
  ended = false;
  resetReason: StreamResetReason | undefined;
  writableCalls = 0;
  held = 0;
  constructor(
    private readonly autoConsume: boolean,
    public stream?: MuxStream,
  ) {}
  data(chunk: Buffer): void {
    this.chunks.push(chunk);
    if (this.autoConsume) this.stream!.consumed(chunk.length);
    else this.held += chunk.length;
  }
  end(): void {
    this.ended = true;
  }
  reset(reason: StreamResetReason): void {
    this.resetReason = reason;
  }
  writable(): void {
    this.writableCalls++;
  }
  consumeAll(): void {
    const held = this.held;
    this.held = 0;
    this.stream!.consumed(held);
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Two muxes, edge and core side, and a wire between them that moves frames only when pumped. */
function pair(
  options: { autoConsume?: boolean; maxBufferedBytes?: number; budget?: number; roundTripMs?: number } = {},
) {
  const toCore: Buffer[] = [];
  const toEdge: Buffer[] = [];
  const accepted: Recorder[] = [];
  const violations: string[] = [];
  const make = (side: 'edge' | 'core', outgoing: Buffer[]): StreamMux =>
    new StreamMux({
      side,
      sendControl: (frame) => outgoing.push(encodeFrame(frame)),
      wake: () => undefined,
      onOpen: (stream) => {
        const recorder = new Recorder(options.autoConsume ?? true, stream);
        stream.attach(recorder);
        accepted.push(recorder);
      },
      maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024 * 1024,
      roundTripMs: () => options.roundTripMs,
    });
  const edge = make('edge', toCore);
  const core = make('core', toEdge);
  const deliver = (frames: Buffer[], decode: (bytes: Uint8Array) => unknown[], to: StreamMux): number => {
    const batch = frames.splice(0);
    if (batch.length === 0) return 0;
    for (const frame of decode(Buffer.concat(batch))) {
      const problem = to.receive(frame as StreamFrame);
      if (problem) violations.push(problem);
    }
    return batch.length;
  };
  /** Delivers what is on the wire now, both ways; returns how many frames moved. */
  const pumpOnce = (): number => deliver(toCore, decodeEdgeFrames, core) + deliver(toEdge, decodeCoreFrames, edge);
  /** Moves frames both ways until nothing is left to move. */
  const pump = (): void => {
    for (;;) {
      toCore.push(...edge.take(options.budget ?? 64 * 1024));
      toEdge.push(...core.take(options.budget ?? 64 * 1024));
      if (pumpOnce() === 0) return;
    }
  };
  const open = (tunnel = 'pg', autoConsume = true): Recorder => {
    const recorder = new Recorder(autoConsume);
    recorder.stream = edge.open(tunnel);
    recorder.stream.attach(recorder);
    return recorder;
  };
  return { edge, core, toCore, toEdge, accepted, violations, pump, pumpOnce, open };
}

const bytes = (length: number, seed = 1): Buffer =>
  Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed) % 251));

test('bytes arrive in order both ways, and half-closes pass through each way on their own', (t) => {
  const mesh = pair();
  const client = mesh.open();
  client.stream!.write(Buffer.from('request'));
  client.stream!.end();
  mesh.pump();
  const service = mesh.accepted[0]!;
  t.is(service.stream!.tunnel, 'pg');
  t.is(service.bytes.toString(), 'request');
  t.true(service.ended);
  t.false(client.ended, 'the other way is still open');
  service.stream!.write(Buffer.from('answer after the client shut its side'));
  service.stream!.end();
  mesh.pump();
  t.is(client.bytes.toString(), 'answer after the client shut its side');
  t.true(client.ended);
  t.is(mesh.edge.size, 0);
  t.is(mesh.core.size, 0);
  t.deepEqual(mesh.violations, []);
});

test('a reader that does not consume stops its own stream at one window; another stream still flows', (t) => {
  const mesh = pair({ autoConsume: false });
  const stalled = mesh.open('bulk');
  const big = bytes(streamWindowBytes * 3);
  t.false(stalled.stream!.write(big), 'a writer far ahead is asked to pause');
  mesh.pump();
  const reader = mesh.accepted[0]!;
  t.is(reader.held, streamWindowBytes, 'exactly one window crossed');
  t.is(mesh.core.buffered, streamWindowBytes);

  const other = mesh.open('ssh');
  other.stream!.write(Buffer.from('keystroke'));
  mesh.pump();
  t.is(mesh.accepted[1]!.bytes.toString(), 'keystroke');

  reader.consumeAll();
  mesh.pump();
  reader.consumeAll();
  mesh.pump();
  reader.consumeAll();
  mesh.pump();
  t.deepEqual(reader.bytes, big);
  t.true(stalled.writableCalls > 0, 'the writer was told to go on');
  t.deepEqual(mesh.violations, []);
});

test('a reader that keeps up grants each chunk back at once; one still holding bytes waits for half a window', (t) => {
  const mesh = pair({ autoConsume: false });
  const writer = mesh.open('bulk');
  writer.stream!.write(bytes(48 * 1024));
  mesh.pump();
  const reader = mesh.accepted[0]!;
  const windowFrames = () =>
    mesh.toEdge.flatMap((frame) => decodeCoreFrames(frame)).filter((frame) => frame[0] === frameType.streamWindow);

  // 16 KiB passed on, 32 KiB still held: no grant yet, as a grant per chunk to a lagging reader buys nothing.
  reader.stream!.consumed(16 * 1024);
  t.deepEqual(windowFrames(), []);
  // Everything passed on: the reader is idle, so the sender gets the credit now instead of after a round trip more.
  reader.stream!.consumed(32 * 1024);
  reader.held = 0;
  t.deepEqual(
    windowFrames().map((frame) => frame[2]),
    [48 * 1024],
  );
  mesh.pump();
  // A few bytes passed on with nothing held are not worth a frame of their own.
  writer.stream!.write(Buffer.from('ls -l\n'));
  mesh.pump();
  reader.consumeAll();
  t.deepEqual(windowFrames(), []);
  t.deepEqual(mesh.violations, []);
});

test('a reset reaches the other side with its reason, drops what was queued, and late frames are ignored', (t) => {
  const mesh = pair({ autoConsume: false });
  const client = mesh.open();
  client.stream!.write(bytes(streamWindowBytes * 2));
  mesh.pump();
  client.stream!.reset('aborted');
  mesh.pump();
  const service = mesh.accepted[0]!;
  t.is(service.resetReason, 'aborted');
  t.is(mesh.core.buffered, 0, 'a reset stream gives back what it held');
  service.consumeAll();
  // Frames for the stream still on the wire when it closed are late, not forged.
  t.is(mesh.edge.receive([frameType.streamWindow, client.stream!.id, 1024]), undefined);
  t.is(mesh.core.receive([frameType.streamData, client.stream!.id, Buffer.from('late')]), undefined);
  t.deepEqual(mesh.violations, []);
});

test('the path going resets every stream with `lost`', (t) => {
  const mesh = pair();
  const first = mesh.open();
  const second = mesh.open();
  mesh.pump();
  mesh.edge.close();
  t.is(first.resetReason, 'lost');
  t.is(second.resetReason, 'lost');
  t.is(mesh.edge.size, 0);
});

test('when the buffered bytes of an uplink pass their bound, the streams holding most are reset as slow', (t) => {
  const mesh = pair({ autoConsume: false, maxBufferedBytes: streamWindowBytes + 1024 });
  const slow = mesh.open('slow');
  slow.stream!.write(bytes(streamWindowBytes));
  mesh.pump();
  const quick = mesh.open('quick');
  quick.stream!.write(bytes(4096));
  mesh.pump();
  t.is(slow.resetReason, 'slow');
  t.is(mesh.accepted[0]!.resetReason, 'slow');
  t.is(quick.resetReason, undefined);
  t.is(mesh.core.buffered, 4096);
});

test('forged frames are violations: beyond the window, after the end, never opened, out of order, window overflow', (t) => {
  const mesh = pair({ autoConsume: false });
  const client = mesh.open();
  mesh.pump();
  const id = client.stream!.id;
  t.regex(
    mesh.core.receive([frameType.streamData, id, Buffer.alloc(streamWindowBytes + 1)]) ?? '',
    /beyond its window/,
  );
  t.regex(mesh.core.receive([frameType.streamData, 99, Buffer.from('x')]) ?? '', /never opened/);
  t.regex(mesh.core.receive([frameType.streamData, id, Buffer.alloc(0)]) ?? '', /empty data/);
  t.regex(mesh.core.receive([frameType.streamOpen, id, 'pg']) ?? '', /out of order/);
  t.regex(mesh.core.receive([frameType.streamOpen, 4, 'pg']) ?? '', /out of order/, 'an even id is the core’s');
  t.is(mesh.edge.receive([frameType.streamWindow, id, streamMaxWindowBytes - streamWindowBytes]), undefined);
  t.regex(mesh.edge.receive([frameType.streamWindow, id, 1]) ?? '', /beyond its window/);
  t.regex(mesh.edge.receive([frameType.streamWindow, id, 0]) ?? '', /beyond its window/);
  t.regex(mesh.edge.receive([frameType.streamReset, 7, 'lost']) ?? '', /never opened/);
  t.is(mesh.core.receive([frameType.streamEnd, id]), undefined);
  t.regex(mesh.core.receive([frameType.streamEnd, id]) ?? '', /ended twice/);
  t.regex(mesh.core.receive([frameType.streamData, id, Buffer.from('x')]) ?? '', /after its end/);
});

test('an open nobody attaches to is refused', (t) => {
  const resets: StreamResetReason[] = [];
  const sent: Buffer[] = [];
  const core = new StreamMux({
    side: 'core',
    sendControl: (frame) => sent.push(encodeFrame(frame)),
    wake: () => undefined,
    onOpen: () => undefined,
    maxBufferedBytes: 1024,
  });
  t.is(core.receive([frameType.streamOpen, 1, 'nowhere']), undefined);
  for (const frame of decodeCoreFrames(Buffer.concat(sent)))
    if (frame[0] === frameType.streamReset) resets.push(frame[2]);
  t.deepEqual(resets, ['refused']);
});

test('data goes round-robin in chunks: a bulk stream cannot hold back a small one behind it', (t) => {
  const mesh = pair({ budget: 48 * 1024 });
  const bulk = mesh.open('bulk');
  bulk.stream!.write(bytes(200 * 1024));
  const small = mesh.open('small');
  small.stream!.write(Buffer.from('ping'));
  mesh.toCore.length = 0;
  const first = mesh.edge.take(48 * 1024).flatMap((frame) => decodeEdgeFrames(frame));
  const order = first.map((frame) => (frame[0] === frameType.streamData ? frame[1] : 0));
  t.deepEqual(order.slice(0, 2), [bulk.stream!.id, small.stream!.id]);
});

const operation = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), side: fc.boolean(), size: fc.integer({ min: 1, max: 100_000 }) }),
  fc.record({ kind: fc.constant('consume' as const), side: fc.boolean() }),
  fc.record({ kind: fc.constant('pump' as const), budget: fc.integer({ min: 1, max: 70_000 }) }),
  fc.record({ kind: fc.constant('end' as const), side: fc.boolean() }),
);

test('a reader that keeps up on a long round trip doubles its window each half window, up to the most a window may be', (t) => {
  // A round trip of a minute: every half window passes on "quickly".
  const mesh = pair({ autoConsume: false, roundTripMs: 60_000 });
  const writer = mesh.open('bulk');
  mesh.pump();
  const reader = mesh.accepted[0]!;
  const grants: number[] = [];
  let window = streamWindowBytes;
  while (window < streamMaxWindowBytes) {
    writer.stream!.write(bytes(window));
    mesh.pump();
    t.is(reader.held, window, 'the whole window crossed');
    reader.consumeAll();
    grants.push(...mesh.toEdge.flatMap((frame) => decodeCoreFrames(frame)).map((frame) => frame[2] as number));
    mesh.pump();
    window *= 2;
  }
  t.deepEqual(
    grants,
    [2, 4, 8, 16, 32].map((n) => n * streamWindowBytes).filter((grant) => grant <= streamMaxWindowBytes),
  );
  // At the most, grants give back what was passed on and no more.
  writer.stream!.write(bytes(streamMaxWindowBytes + 1000));
  mesh.pump();
  t.is(reader.held, streamMaxWindowBytes);
  t.deepEqual(mesh.violations, []);
});

test('grown windows together stay within half the buffer bound, and give their growth back when they close', (t) => {
  const mesh = pair({ autoConsume: false, roundTripMs: 60_000, maxBufferedBytes: 4 * 1024 * 1024 });
  const writers = [mesh.open('a'), mesh.open('b')];
  mesh.pump();
  /** Lets stream `index` grow as far as it may, and gives its window: what crosses while its reader holds everything. */
  const grow = (index: number): number => {
    const reader = mesh.accepted[index]!;
    writers[index]!.stream!.write(bytes(16 * 1024 * 1024, index));
    for (let round = 0; round < 8; round++) {
      mesh.pump();
      reader.consumeAll();
    }
    mesh.pump();
    return reader.held;
  };
  const budget = 2 * 1024 * 1024;
  t.is(grow(0), streamWindowBytes + budget, 'the first stream takes the whole budget');
  t.is(grow(1), streamWindowBytes, 'none is left for the second');
  writers[0]!.stream!.reset('aborted');
  mesh.pump();
  t.is(grow(1), streamWindowBytes + budget, 'a closed stream gives its growth back');
  t.deepEqual(mesh.violations, []);
});

test('a window does not grow for a slow reader, nor before the round trip is known', (t) => {
  for (const roundTripMs of [0.000_001, undefined]) {
    const mesh = pair({ autoConsume: false, roundTripMs });
    const writer = mesh.open('bulk');
    writer.stream!.write(bytes(4 * streamWindowBytes));
    for (let turn = 0; turn < 8; turn++) {
      mesh.pump();
      const reader = mesh.accepted[0]!;
      t.true(reader.held <= streamWindowBytes, `held ${reader.held}`);
      reader.consumeAll();
    }
    t.is(mesh.accepted[0]!.bytes.length, 4 * streamWindowBytes);
  }
});

for (const roundTripMs of [undefined, 60_000]) {
  const window = roundTripMs ? 'windows that grow' : 'one window';
  test(`property: whatever the writes, reads and turns, bytes arrive exactly once and in order, within ${window}`, (t) => {
    propertyOfStreams(t, roundTripMs);
  });
}

function propertyOfStreams(t: ExecutionContext, roundTripMs: number | undefined): void {
  const bound = roundTripMs ? streamMaxWindowBytes : streamWindowBytes;
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 120 }), (operations) => {
      const mesh = pair({ autoConsume: false, roundTripMs });
      const client = mesh.open();
      mesh.pump();
      const service = mesh.accepted[0]!;
      const ends = [client, service];
      const written: Buffer[][] = [[], []];
      const ended = [false, false];
      let seed = 0;
      for (const op of operations) {
        const index = 'side' in op ? Number(op.side) : 0;
        const end = ends[index]!;
        if (op.kind === 'write') {
          const chunk = bytes(op.size, seed++);
          // Bytes written after this side's end are dropped.
          if (!ended[index]) written[index]!.push(chunk);
          end.stream!.write(chunk);
        } else if (op.kind === 'consume') end.consumeAll();
        else if (op.kind === 'end') {
          ended[index] = true;
          end.stream!.end();
        } else {
          mesh.toCore.push(...mesh.edge.take(op.budget));
          mesh.toEdge.push(...mesh.core.take(op.budget));
          mesh.pumpOnce();
        }
        if (client.held > bound || service.held > bound) return false;
      }
      // Then every reader reads everything.
      for (let round = 0; round < 100; round++) {
        client.consumeAll();
        service.consumeAll();
        mesh.pump();
      }
      return (
        mesh.violations.length === 0 &&
        service.bytes.equals(Buffer.concat(written[0]!)) &&
        client.bytes.equals(Buffer.concat(written[1]!))
      );
    }),
    { seed: 15, numRuns: 200 },
  );
  t.pass();
}

test('an open whose handler throws is refused, not left half open; a wait for credit counts even when the stream ends waiting', (t) => {
  const sent: StreamFrame[] = [];
  const waits: number[] = [];
  const mux = new StreamMux({
    side: 'core',
    sendControl: (frame) => sent.push(frame),
    wake: () => undefined,
    onOpen: () => {
      throw new Error('no handler today');
    },
    maxBufferedBytes: 1024 * 1024,
    counters: { creditWait: (_tunnel, ms) => waits.push(ms) },
  });
  t.throws(() => mux.receive([frameType.streamOpen, 1, 'pg']), { message: 'no handler today' });
  t.deepEqual(sent, [[frameType.streamReset, 1, 'refused']]);
  t.is(mux.size, 0);

  const stream = mux.open('pg');
  stream.write(bytes(streamWindowBytes + 1));
  mux.take(2 * streamWindowBytes);
  stream.reset('aborted');
  t.is(waits.length, 1, 'the wait ended with the stream, and was counted');
  t.true(waits[0]! >= 0);
});
