// The engine contract, run against both engines: offsets, positions, reads, bounded history, listeners, and (for the
// Redis engine, against a real redis-server) what only a shared store does: epochs that outlive a core, one offset
// sequence for several cores, publishes de-duplicated across cores, and patterns delivered once.

import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { Engine, StoredMessage } from '../core/engine.js';
import { MemoryEngine } from '../core/memory-engine.js';
import { RedisEngine } from '../core/redis-engine.js';
import { silentLogger } from './helpers/mesh.js';
import { RedisServer } from './helpers/redis-server.js';
import { within } from './helpers/within.js';

let redis: RedisServer;
test.before(async () => {
  redis = await RedisServer.launch();
});
test.after.always(() => redis?.stop());

interface History {
  maxMessages: number;
  maxAgeMs: number;
}

async function redisEngine(
  t: ExecutionContext,
  history: History,
  keyPrefix = `test:${randomUUID()}:`,
): Promise<RedisEngine> {
  const engine = new RedisEngine({ url: redis.url, keyPrefix, ...history, logger: silentLogger });
  t.teardown(() => engine.close());
  await engine.whenAvailable(10_000);
  return engine;
}

const kinds: Array<{ name: string; make(t: ExecutionContext, history: History): Promise<Engine> }> = [
  {
    name: 'memory',
    async make(t, history) {
      const engine = new MemoryEngine(history);
      t.teardown(() => engine.close());
      return engine;
    },
  },
  { name: 'redis', make: (t, history) => redisEngine(t, history) },
];

const payload = (n: number): Uint8Array => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, 0x3a);
const offsets = (messages: StoredMessage[] | null): number[] | null =>
  messages?.map((message) => message.offset) ?? null;

/** Collects what an engine emits, and waits for a count with a deadline. */
function listen(engine: Engine): { messages: StoredMessage[]; until(count: number): Promise<StoredMessage[]> } {
  const messages: StoredMessage[] = [];
  const waiters: Array<() => void> = [];
  engine.onMessage((message) => {
    messages.push(message);
    for (const waiter of waiters.splice(0)) waiter();
  });
  const until = async (count: number): Promise<StoredMessage[]> => {
    while (messages.length < count)
      await within(new Promise<void>((resolve) => waiters.push(resolve)), `${count} messages (got ${messages.length})`);
    return messages;
  };
  return { messages, until };
}

for (const kind of kinds) {
  test(`${kind.name}: offsets are consecutive from 1 per topic, with one epoch`, async (t) => {
    const engine = await kind.make(t, { maxMessages: 100, maxAgeMs: 60_000 });
    const first = await engine.position('a');
    t.is(first.offset, 0);
    t.true(first.epoch.length > 0);
    const a1 = await engine.publish('a', payload(1));
    const b1 = await engine.publish('b', payload(2));
    const a2 = await engine.publish('a', payload(3));
    t.deepEqual([a1.offset, a2.offset, b1.offset], [1, 2, 1]);
    for (const message of [a1, a2, b1]) t.is(message.epoch, first.epoch);
    t.deepEqual(await engine.position('a'), { epoch: first.epoch, offset: 2 });
    t.deepEqual(await engine.position('b'), { epoch: first.epoch, offset: 1 });
  });

  test(`${kind.name}: read gives held ranges, and null for future, evicted, wrong-epoch or offset-0 ranges`, async (t) => {
    const engine = await kind.make(t, { maxMessages: 3, maxAgeMs: 60_000 });
    const { epoch } = await engine.position('t');
    for (let i = 1; i <= 5; i++) await engine.publish('t', payload(i));
    t.deepEqual(offsets(await engine.read('t', epoch, 3, 5)), [3, 4, 5]);
    t.deepEqual(
      (await engine.read('t', epoch, 4, 4))?.map((message) => Array.from(message.data)),
      [[4, 0, 0x3a]],
    );
    t.true((await engine.read('t', epoch, 3, 5))?.every((message) => message.topic === 't' && message.epoch === epoch));
    t.deepEqual(await engine.read('t', epoch, 6, 5), [], 'from > to: up to date');
    t.deepEqual(await engine.read('unknown', epoch, 1, 0), []);
    t.is(await engine.read('t', epoch, 2, 5), null, 'offset 2 was evicted by count');
    t.is(await engine.read('t', epoch, 5, 6), null, 'offset 6 does not exist yet');
    t.is(await engine.read('t', `${epoch}x`, 3, 5), null, 'another epoch');
    t.is(await engine.read('t', epoch, 0, 5), null);
    t.is(await engine.read('unknown', epoch, 1, 1), null);
  });

  test(`${kind.name}: history older than the age bound is no longer read`, async (t) => {
    const engine = await kind.make(t, { maxMessages: 100, maxAgeMs: 150 });
    const { epoch } = await engine.position('aged');
    await engine.publish('aged', payload(1));
    // Ageing takes time: read until the message is gone, yielding between reads, with a deadline (no fixed sleep,
    // and no claim about how soon a loaded machine gets to read it while still young).
    const deadline = Date.now() + 10_000;
    while ((await engine.read('aged', epoch, 1, 1)) !== null) {
      if (Date.now() > deadline) return t.fail('the message never aged out');
      await new Promise((resolve) => setImmediate(resolve));
    }
    const second = await engine.publish('aged', payload(2));
    t.is(second.offset, 2, 'offsets go on after the history aged out');
    t.is(await engine.read('aged', epoch, 1, 2), null, 'a range that starts in aged-out history is not held');
  });

  test(`${kind.name}: watched topics and patterns reach onMessage once each, in offset order`, async (t) => {
    const engine = await kind.make(t, { maxMessages: 100, maxAgeMs: 60_000 });
    const heard = listen(engine);
    // Both an exact topic and two patterns that match it: still one onMessage per message.
    for (const subscription of ['chat.room-1', 'chat.*', 'chat.>']) engine.watch(subscription);
    for (const subscription of ['chat.room-1', 'chat.*', 'chat.>']) await engine.ready(subscription);
    for (let i = 1; i <= 20; i++) await engine.publish(i % 2 ? 'chat.room-1' : 'chat.room-2', payload(i));
    await engine.publish('chat.room-3.deep', payload(99));
    await heard.until(21);
    const room1 = heard.messages.filter((message) => message.topic === 'chat.room-1');
    t.deepEqual(
      offsets(room1),
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    t.deepEqual(
      offsets(heard.messages.filter((message) => message.topic === 'chat.room-2')),
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    t.deepEqual(Array.from(room1[0]!.data), Array.from(payload(1)));
    t.is(heard.messages.filter((message) => message.topic === 'chat.room-3.deep').length, 1);
  });

  test(`${kind.name}: reads agree with a model of bounded history (property, fixed seed)`, async (t) => {
    const maxMessages = 4;
    const engine = await kind.make(t, { maxMessages, maxAgeMs: 600_000 });
    const { epoch } = await engine.position('p.a');
    const last = new Map<string, number>();
    const step = fc.oneof(
      fc.record({ kind: fc.constant('pub' as const), topic: fc.constantFrom('p.a', 'p.b') }),
      fc.record({
        kind: fc.constant('read' as const),
        topic: fc.constantFrom('p.a', 'p.b'),
        from: fc.integer({ min: 0, max: 14 }),
        span: fc.integer({ min: -1, max: 5 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 25 }), async (steps) => {
        for (const s of steps) {
          const held = last.get(s.topic) ?? 0;
          if (s.kind === 'pub') {
            const message = await engine.publish(s.topic, payload(held + 1));
            if (message.offset !== held + 1) return false;
            last.set(s.topic, held + 1);
            continue;
          }
          const to = s.from + s.span;
          const got = offsets(await engine.read(s.topic, epoch, s.from, to));
          let want: number[] | null;
          if (s.from > to) want = to <= held ? [] : null;
          else if (s.from < 1 || to > held || s.from <= held - maxMessages) want = null;
          else want = Array.from({ length: to - s.from + 1 }, (_, i) => s.from + i);
          if (JSON.stringify(got) !== JSON.stringify(want)) return false;
        }
        return true;
      }),
      { seed: 4242, numRuns: 40 },
    );
    t.pass();
  });
}

test('redis: the epoch and the offsets outlive the engine (a core restart)', async (t) => {
  const keyPrefix = `test:${randomUUID()}:`;
  const history = { maxMessages: 100, maxAgeMs: 60_000 };
  const first = await redisEngine(t, history, keyPrefix);
  const one = await first.publish('orders.eu', payload(1));
  await first.publish('orders.eu', payload(2));
  await first.close();
  const second = await redisEngine(t, history, keyPrefix);
  t.deepEqual(await second.position('orders.eu'), { epoch: one.epoch, offset: 2 });
  t.deepEqual(offsets(await second.read('orders.eu', one.epoch, 1, 2)), [1, 2]);
  t.is((await second.publish('orders.eu', payload(3))).offset, 3);
});

test('redis: two engines share one offset sequence, and each hears what the other sequenced', async (t) => {
  const keyPrefix = `test:${randomUUID()}:`;
  const history = { maxMessages: 1000, maxAgeMs: 60_000 };
  const a = await redisEngine(t, history, keyPrefix);
  const b = await redisEngine(t, history, keyPrefix);
  const heardA = listen(a);
  const heardB = listen(b);
  a.watch('shared.topic');
  b.watch('shared.>');
  await Promise.all([a.ready('shared.topic'), b.ready('shared.>')]);
  const published = await Promise.all(
    Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).publish('shared.topic', payload(i))),
  );
  t.deepEqual(
    published.map((message) => message.offset).sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
  const expected = Array.from({ length: 50 }, (_, i) => i + 1);
  t.deepEqual(offsets(await heardA.until(50)), expected);
  t.deepEqual(offsets(await heardB.until(50)), expected);
});

test('redis: a publish resent under the same key to another core is sequenced once', async (t) => {
  const keyPrefix = `test:${randomUUID()}:`;
  const history = { maxMessages: 100, maxAgeMs: 60_000 };
  const a = await redisEngine(t, history, keyPrefix);
  const b = await redisEngine(t, history, keyPrefix);
  const heard = listen(b);
  b.watch('dedupe.t');
  await b.ready('dedupe.t');
  const first = await a.publish('dedupe.t', payload(1), 'eu-1:abc:7');
  const again = await b.publish('dedupe.t', payload(1), 'eu-1:abc:7');
  const other = await b.publish('dedupe.t', payload(2), 'eu-1:abc:8');
  t.is(first.offset, 1);
  t.is(again.offset, 1, 'the same position as the first time');
  t.is(other.offset, 2);
  t.deepEqual(offsets(await heard.until(2)), [1, 2]);
  t.deepEqual(await b.position('dedupe.t'), { epoch: first.epoch, offset: 2 });
});

test('redis: a pattern glob that over-matches is filtered, and topics with glob characters match only themselves', async (t) => {
  const engine = await redisEngine(t, { maxMessages: 100, maxAgeMs: 60_000 });
  const heard = listen(engine);
  engine.watch('a.*');
  engine.watch('x[1].?');
  await Promise.all([engine.ready('a.*'), engine.ready('x[1].?')]);
  await engine.publish('a.b.c', payload(1));
  await engine.publish('x1.?', payload(2));
  await engine.publish('x[1].z', payload(3));
  await engine.publish('x[1].?', payload(4));
  await engine.publish('a.b', payload(5));
  const messages = await heard.until(2);
  t.deepEqual(
    messages.map((message) => message.topic),
    ['x[1].?', 'a.b'],
  );
});

test('redis: unwatched topics are not delivered', async (t) => {
  const engine = await redisEngine(t, { maxMessages: 100, maxAgeMs: 60_000 });
  const heard = listen(engine);
  engine.watch('w.one');
  await engine.ready('w.one');
  engine.unwatch('w.one');
  engine.watch('w.two');
  await engine.ready('w.two');
  await engine.publish('w.one', payload(1));
  await engine.publish('w.two', payload(2));
  t.deepEqual(
    (await heard.until(1)).map((message) => message.topic),
    ['w.two'],
  );
});
