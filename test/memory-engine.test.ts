// Tests of the in-memory engine (core/memory-engine.ts): offsets, positions, bounded history by count and age, listeners.

import test from 'ava';
import fc from 'fast-check';
import type { StoredMessage } from '../core/engine.js';
import { MemoryEngine } from '../core/memory-engine.js';

const payload = (n: number): Uint8Array => Uint8Array.of(n & 0xff, (n >> 8) & 0xff);
const offsets = (messages: StoredMessage[] | null): number[] | null =>
  messages?.map((message) => message.offset) ?? null;

function engineWithClock(options: { maxMessages: number; maxAgeMs: number; maxBytes?: number }): {
  engine: MemoryEngine;
  clock: { now: number };
} {
  const clock = { now: 1_000_000 };
  return { engine: new MemoryEngine({ ...options, now: () => clock.now }), clock };
}

test('offsets are consecutive from 1 per topic, independent per topic', async (t) => {
  const engine = new MemoryEngine({ maxMessages: 100, maxAgeMs: 60_000 });
  t.teardown(() => engine.close());
  const a1 = await engine.publish('a', payload(1));
  const b1 = await engine.publish('b', payload(2));
  const a2 = await engine.publish('a', payload(3));
  const a3 = await engine.publish('a', payload(4));
  const b2 = await engine.publish('b', payload(5));
  t.deepEqual([a1.offset, a2.offset, a3.offset], [1, 2, 3]);
  t.deepEqual([b1.offset, b2.offset], [1, 2]);
  for (const message of [a1, a2, a3, b1, b2]) t.is(message.epoch, engine.epoch);
  t.is(a2.topic, 'a');
  t.deepEqual(Array.from(a2.data), [3, 0]);
  t.deepEqual(await engine.position('a'), { epoch: engine.epoch, offset: 3 });
  t.deepEqual(await engine.position('b'), { epoch: engine.epoch, offset: 2 });
});

test('position of an unknown topic is offset 0 in the engine epoch', async (t) => {
  const engine = new MemoryEngine({ maxMessages: 10, maxAgeMs: 1000 });
  t.teardown(() => engine.close());
  t.deepEqual(await engine.position('never.seen'), { epoch: engine.epoch, offset: 0 });
  t.true(engine.epoch.length > 0);
});

test('each engine has its own epoch', (t) => {
  const epochs = new Set(Array.from({ length: 20 }, () => new MemoryEngine({ maxMessages: 1, maxAgeMs: 1 }).epoch));
  t.is(epochs.size, 20);
});

test('read: ranges within, empty, evicted, wrong epoch, future', async (t) => {
  const engine = new MemoryEngine({ maxMessages: 5, maxAgeMs: 60_000 });
  t.teardown(() => engine.close());
  for (let i = 1; i <= 3; i++) await engine.publish('t', payload(i));
  t.deepEqual(offsets(await engine.read('t', engine.epoch, 1, 3)), [1, 2, 3]);
  t.deepEqual(offsets(await engine.read('t', engine.epoch, 2, 3)), [2, 3]);
  t.deepEqual(offsets(await engine.read('t', engine.epoch, 2, 2)), [2]);
  const full = await engine.read('t', engine.epoch, 1, 3);
  t.deepEqual(
    full?.map((message) => Array.from(message.data)),
    [
      [1, 0],
      [2, 0],
      [3, 0],
    ],
  );
  t.true(full?.every((message) => message.topic === 't' && message.epoch === engine.epoch));
  // from > to: nothing to send, the caller is up to date.
  t.deepEqual(await engine.read('t', engine.epoch, 4, 3), []);
  t.deepEqual(await engine.read('t', engine.epoch, 3, 2), []);
  t.deepEqual(await engine.read('unknown', engine.epoch, 1, 0), []);
  // Future offsets are not held.
  t.is(await engine.read('t', engine.epoch, 3, 4), null);
  t.is(await engine.read('t', engine.epoch, 4, 4), null);
  t.is(await engine.read('unknown', engine.epoch, 1, 1), null);
  // Wrong epoch.
  t.is(await engine.read('t', `${engine.epoch}x`, 1, 3), null);
  t.is(await engine.read('t', '', 1, 3), null);
  t.is(await engine.read('t', 'other', 4, 3), null);
  // Offset 0 never existed.
  t.is(await engine.read('t', engine.epoch, 0, 3), null);
});

test('read: history evicted by count gives null; what is still held is returned', async (t) => {
  const engine = new MemoryEngine({ maxMessages: 3, maxAgeMs: 60_000 });
  t.teardown(() => engine.close());
  for (let i = 1; i <= 10; i++) await engine.publish('t', payload(i));
  t.deepEqual(offsets(await engine.read('t', engine.epoch, 8, 10)), [8, 9, 10]);
  t.is(await engine.read('t', engine.epoch, 7, 10), null);
  t.is(await engine.read('t', engine.epoch, 1, 1), null);
  t.deepEqual(offsets(await engine.read('t', engine.epoch, 9, 9)), [9]);
  t.deepEqual(await engine.position('t'), { epoch: engine.epoch, offset: 10 });
});

test('read: many messages through a small window (exercises compaction)', async (t) => {
  const engine = new MemoryEngine({ maxMessages: 4, maxAgeMs: 60_000 });
  t.teardown(() => engine.close());
  for (let i = 1; i <= 1000; i++) {
    engine.append('t', payload(i));
    if (i % 37 === 0 || i > 990) {
      const from = Math.max(1, i - 3);
      t.deepEqual(
        offsets(await engine.read('t', engine.epoch, from, i)),
        Array.from({ length: i - from + 1 }, (_, k) => from + k),
      );
      if (from > 1) t.is(await engine.read('t', engine.epoch, from - 1, i), null);
    }
  }
  const last = await engine.read('t', engine.epoch, 997, 1000);
  t.deepEqual(
    last?.map((message) => message.data[0]),
    [997 & 0xff, 998 & 0xff, 999 & 0xff, 1000 & 0xff],
  );
});

test('read: history evicted by age gives null (injected clock)', async (t) => {
  const { engine, clock } = engineWithClock({ maxMessages: 100, maxAgeMs: 1000 });
  t.teardown(() => engine.close());
  await engine.publish('t', payload(1)); // at 1_000_000
  clock.now += 400;
  await engine.publish('t', payload(2)); // at 1_000_400
  clock.now += 400;
  await engine.publish('t', payload(3)); // at 1_000_800
  t.deepEqual(offsets(await engine.read('t', engine.epoch, 1, 3)), [1, 2, 3]);
  clock.now = 1_001_000; // exactly maxAgeMs after the first: still held
  t.deepEqual(offsets(await engine.read('t', engine.epoch, 1, 3)), [1, 2, 3]);
  clock.now = 1_001_001;
  t.is(await engine.read('t', engine.epoch, 1, 3), null);
  t.deepEqual(offsets(await engine.read('t', engine.epoch, 2, 3)), [2, 3]);
  clock.now = 1_001_801;
  t.is(await engine.read('t', engine.epoch, 3, 3), null);
  // Everything aged out: the position stays, a read from > to is still empty, the next publish continues.
  t.deepEqual(await engine.position('t'), { epoch: engine.epoch, offset: 3 });
  t.deepEqual(await engine.read('t', engine.epoch, 4, 3), []);
  const next = await engine.publish('t', payload(4));
  t.is(next.offset, 4);
  t.deepEqual(offsets(await engine.read('t', engine.epoch, 4, 4)), [4]);
  t.is(await engine.read('t', engine.epoch, 3, 4), null);
});

test('onMessage listeners see every message, in order, each listener in registration order', async (t) => {
  const engine = new MemoryEngine({ maxMessages: 2, maxAgeMs: 60_000 });
  t.teardown(() => engine.close());
  const seen: string[] = [];
  engine.onMessage((message) => seen.push(`first:${message.topic}:${message.offset}`));
  engine.onMessage((message) => seen.push(`second:${message.topic}:${message.offset}`));
  const returned = await engine.publish('a', payload(1));
  await engine.publish('b', payload(2));
  await engine.publish('a', payload(3));
  t.deepEqual(seen, ['first:a:1', 'second:a:1', 'first:b:1', 'second:b:1', 'first:a:2', 'second:a:2']);
  // The listener gets the same message that publish resolves to.
  let got: StoredMessage | undefined;
  engine.onMessage((message) => {
    got = message;
  });
  const latest = await engine.publish('a', payload(4));
  t.is(got, latest);
  t.is(returned.offset, 1);
});

// ── Model test ───────────────────────────────────────────────────────────────

type Step =
  | { kind: 'publish'; topic: string; advanceMs: number }
  | { kind: 'read'; topic: string; from: number; to: number; wrongEpoch: boolean };

// Mostly one topic, so that its history runs long enough to be compacted.
const topicArb = fc.constantFrom('a', 'a', 'a', 'a', 'b', 'c');
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('publish' as const),
      topic: topicArb,
      advanceMs: fc.integer({ min: 0, max: 40 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      topic: topicArb,
      from: fc.integer({ min: -1, max: 14 }),
      to: fc.integer({ min: -1, max: 14 }),
      wrongEpoch: fc.boolean(),
    }),
  },
);

test('property: publish and read agree with an array model (small history)', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 10, max: 100 }),
      fc.array(stepArb, { minLength: 1, maxLength: 250, size: 'max' }),
      async (maxMessages, maxAgeMs, steps) => {
        const { engine, clock } = engineWithClock({ maxMessages, maxAgeMs });
        const model = new Map<string, Array<{ offset: number; at: number; tag: number }>>();
        let tag = 0;
        for (const step of steps) {
          const history = model.get(step.topic) ?? [];
          model.set(step.topic, history);
          if (step.kind === 'publish') {
            clock.now += step.advanceMs;
            tag++;
            const message = await engine.publish(step.topic, payload(tag));
            const offset = history.length + 1;
            if (message.offset !== offset || message.data[0] !== (tag & 0xff)) return false;
            history.push({ offset, at: clock.now, tag });
            continue;
          }
          const epoch = step.wrongEpoch ? 'not-the-epoch' : engine.epoch;
          const actual = await engine.read(step.topic, epoch, step.from, step.to);
          const last = history.length;
          // The model: the newest maxMessages messages, and only those not older than maxAgeMs.
          const held = history
            .slice(Math.max(0, last - maxMessages))
            .filter((entry) => entry.at >= clock.now - maxAgeMs);
          const oldest = held.length > 0 ? held[0]!.offset : last + 1;
          let expected: number[] | null;
          if (step.wrongEpoch) expected = null;
          else if (step.from > step.to) expected = step.to <= last ? [] : null;
          else if (step.to > last || step.from < oldest) expected = null;
          else
            expected = held
              .filter((entry) => entry.offset >= step.from && entry.offset <= step.to)
              .map((entry) => entry.tag);
          const got = actual?.map((message) => message.data[0]!) ?? null;
          if (JSON.stringify(got) !== JSON.stringify(expected?.map((value) => value & 0xff) ?? null)) return false;
          if ((await engine.position(step.topic)).offset !== last) return false;
        }
        await engine.close();
        return true;
      },
    ),
    { seed: 42, numRuns: 1000 },
  );
  t.pass();
});

test('history.maxBytes bounds all topics together: the oldest messages anywhere go first', async (t) => {
  const { engine, clock } = engineWithClock({ maxMessages: 100, maxAgeMs: 60_000, maxBytes: 10 * 1064 });
  t.teardown(() => engine.close());
  const kib = new Uint8Array(1000);
  // 4 messages on a, then 4 on b, then 4 on c, each 1000 bytes (1064 counted): 12 do not fit in 10.
  for (const topic of ['a', 'b', 'c']) {
    for (let i = 0; i < 4; i++) {
      clock.now += 1;
      await engine.publish(topic, kib);
    }
  }
  t.deepEqual(engine.held, { topics: 3, bytes: 10 * 1064 });
  t.is(await engine.read('a', engine.epoch, 1, 4), null, 'the oldest two of a are gone');
  t.deepEqual(offsets(await engine.read('a', engine.epoch, 3, 4)), [3, 4]);
  t.deepEqual(offsets(await engine.read('b', engine.epoch, 1, 4)), [1, 2, 3, 4]);
  t.deepEqual(offsets(await engine.read('c', engine.epoch, 1, 4)), [1, 2, 3, 4]);
  // A message bigger than the whole bound is sequenced but not kept; the position still counts it.
  const huge = await engine.publish('d', new Uint8Array(20_000));
  t.is(huge.offset, 1);
  t.is(await engine.read('d', engine.epoch, 1, 1), null);
  t.true(engine.held.bytes <= 10 * 1064);
});

test('a topic whose history is gone and that nobody watches is forgotten; it comes back in a newer epoch', async (t) => {
  const { engine, clock } = engineWithClock({ maxMessages: 100, maxAgeMs: 1000 });
  t.teardown(() => engine.close());
  for (let i = 0; i < 3; i++) await engine.publish('gone', payload(i));
  await engine.publish('kept', payload(9));
  engine.watch('kept');
  engine.watch('kept.*');
  t.is(engine.held.topics, 2);
  clock.now += 2000;
  engine.sweep();
  t.is(engine.held.topics, 1, 'the unwatched topic without history is forgotten');
  t.deepEqual(await engine.position('kept'), { epoch: engine.epoch, offset: 1 }, 'a watched one keeps its position');
  // A client resuming the forgotten topic from offset 3 must not take the new offsets for old ones.
  const back = await engine.position('gone');
  t.not(back.epoch, engine.epoch);
  t.is(back.offset, 0);
  const again = await engine.publish('gone', payload(7));
  t.deepEqual({ epoch: again.epoch, offset: again.offset }, { epoch: back.epoch, offset: 1 });
  t.is(await engine.read('gone', engine.epoch, 4, 3), null, 'the old epoch is gone');
  // Forgetting many topics frees them: memory does not grow with the number of topics ever published.
  for (let i = 0; i < 1000; i++) await engine.publish(`burst.${i}`, payload(i));
  clock.now += 2000;
  engine.sweep();
  t.deepEqual(engine.held, { topics: 1, bytes: 0 }, 'only the watched topic is left, its history aged out');
});
