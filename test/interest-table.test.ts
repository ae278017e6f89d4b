// The edge's interest table (edge/interest-table.ts) against a fake uplink port and fake sessions, no sockets: one
// uplink `sub` per topic however many subscribers, the last leaver unsubscribes, each message once per session,
// messages before the core's answer sorted after it, replays from the cache or the core (cancelled when the client
// leaves), refusals, resets, and resumes the core said it cannot replay.

import test from 'ava';
import { pino } from 'pino';
import { RelayError } from '../shared/errors.js';
import type { Position, ServerOp } from '../shared/protocol.js';
import type { EncodedMessage } from '../edge/encoded-message.js';
import { InterestTable, type UplinkPort } from '../edge/interest-table.js';
import { LocalSubscription, type SubscriberSession } from '../edge/local-subscription.js';
import type { SubscribeAnswer } from '../edge/uplink.js';

interface SentSub {
  filter: string;
  since: Position | null;
  answer(answer: Partial<SubscribeAnswer>): void;
  refuse(error: RelayError): void;
}

interface HistoryCall {
  topic: string;
  from: number;
  to: number;
  signal: AbortSignal | undefined;
  resolve(found: Array<[number, Uint8Array]> | null): void;
}

/** An uplink that records what the table asks and lets the test answer as the core would. */
function fakeUplink() {
  const subs: SentSub[] = [];
  const unsubs: string[] = [];
  const histories: HistoryCall[] = [];
  const port: UplinkPort = {
    subscribe: (filter, since, onAnswer, onError) =>
      subs.push({
        filter,
        since,
        answer: (answer) => onAnswer({ epoch: 'E', offset: 0, recovered: false, replay: [], ...answer }),
        refuse: onError,
      }),
    unsubscribe: (filter) => unsubs.push(filter),
    history: (topic, _epoch, from, to, _holdMs, signal) =>
      new Promise((resolve) => histories.push({ topic, from, to, signal, resolve })),
  };
  return { port, subs, unsubs, histories };
}

let sessions = 0;

class FakeSession implements SubscriberSession {
  readonly id = `session-${++sessions}`;
  readonly presenceUser = '';
  fanoutStamp = 0;
  readonly ops: ServerOp[] = [];
  readonly delivered: Array<[string, number]> = [];
  readonly refusals: string[] = [];
  charged = 0;
  private readonly exact = new Map<string, LocalSubscription>();
  readonly transport = {
    sendOp: (op: ServerOp) => void this.ops.push(op),
    sendMessage: (message: EncodedMessage) => void this.delivered.push([message.topic, message.offset]),
    close: () => {},
  };

  subscribe(table: InterestTable, filter: string, since?: Position): LocalSubscription {
    const pattern = filter.includes('*') || filter.includes('>');
    const subscription = new LocalSubscription(this, filter, pattern, filter, since);
    if (!pattern) this.exact.set(filter, subscription);
    table.add(subscription);
    return subscription;
  }

  exactSubscription(topic: string): LocalSubscription | undefined {
    return this.exact.get(topic);
  }

  chargeReplay(bytes: number): void {
    this.charged += bytes;
  }

  refused(subscription: LocalSubscription, error: RelayError): void {
    this.refusals.push(`${subscription.filter}: ${error.code}`);
  }

  answered(): void {}

  offsets(topic: string): number[] {
    return this.delivered.filter(([t]) => t === topic).map(([, offset]) => offset);
  }
}

function table(recentMessages = 16) {
  const uplink = fakeUplink();
  const interest = new InterestTable({
    uplink: uplink.port,
    logger: pino({ level: 'silent' }),
    recentMessages,
    recentMaxBytes: 1 << 20,
    holdMs: 1000,
    maxTopics: 100,
  });
  const publish = (topic: string, offset: number, epoch = 'E'): void =>
    interest.onMessage(topic, epoch, offset, Uint8Array.of(0xa1, 0x78));
  return { ...uplink, interest, publish };
}

const payload = Uint8Array.of(0xa1, 0x78);
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("one uplink sub per topic however many subscribe; everyone is answered at the core's position; the last leaver unsubscribes", (t) => {
  const { interest, subs, unsubs } = table();
  const a = new FakeSession();
  const b = new FakeSession();
  const first = a.subscribe(interest, 'chat.room');
  const second = b.subscribe(interest, 'chat.room');
  t.is(subs.length, 1);
  subs[0]!.answer({ epoch: 'E', offset: 7 });
  for (const session of [a, b])
    t.like(session.ops[0], { op: 'subok', topic: 'chat.room', epoch: 'E', offset: 7, recovered: false });
  interest.remove(first);
  t.deepEqual(unsubs, []);
  interest.remove(second);
  t.deepEqual(unsubs, ['chat.room']);
  t.is(interest.topicCount, 0);
});

test('each message once per session, however many of its topics and patterns match', (t) => {
  const { interest, subs, publish } = table();
  const session = new FakeSession();
  session.subscribe(interest, 'news.sport');
  session.subscribe(interest, 'news.*');
  session.subscribe(interest, 'news.>');
  for (const sub of subs) sub.answer({ offset: 0 });
  for (let offset = 1; offset <= 3; offset++) publish('news.sport', offset);
  publish('news.weather', 1);
  t.deepEqual(session.offsets('news.sport'), [1, 2, 3]);
  t.deepEqual(session.offsets('news.weather'), [1]);
  t.is(interest.deliveries, 4);
});

test("live messages that come before the core's answer follow it, in order and once, after the replay", (t) => {
  const { interest, subs, publish } = table();
  const session = new FakeSession();
  session.subscribe(interest, 'orders.eu', { epoch: 'E', offset: 2 });
  t.deepEqual(subs[0]!.since, { epoch: 'E', offset: 2 }, "the first subscriber's since rides the edge's own sub");
  publish('orders.eu', 6);
  publish('orders.eu', 5);
  subs[0]!.answer({
    offset: 5,
    recovered: true,
    replay: [
      [3, payload],
      [4, payload],
      [5, payload],
    ],
  });
  publish('orders.eu', 7);
  t.like(session.ops[0], { op: 'subok', recovered: true, offset: 5 });
  t.deepEqual(session.offsets('orders.eu'), [3, 4, 5, 6, 7]);
  t.true(session.charged > 0, 'the replay was charged to the session');
});

test('a resume within the recent cache is served here; older ones ask the core, and leaving cancels the fetch', async (t) => {
  const { interest, subs, histories, publish } = table(4);
  const holder = new FakeSession();
  holder.subscribe(interest, 'prices.x');
  subs[0]!.answer({ offset: 0 });
  for (let offset = 1; offset <= 12; offset++) publish('prices.x', offset);

  const cached = new FakeSession();
  cached.subscribe(interest, 'prices.x', { epoch: 'E', offset: 9 });
  t.like(cached.ops[0], { op: 'subok', recovered: true, offset: 12 });
  t.deepEqual(cached.offsets('prices.x'), [10, 11, 12]);
  t.is(histories.length, 0);

  const old = new FakeSession();
  const leaving = old.subscribe(interest, 'prices.x', { epoch: 'E', offset: 2 });
  t.is(histories.length, 1);
  t.like(histories[0], { topic: 'prices.x', from: 3, to: 12 });
  publish('prices.x', 13);
  t.deepEqual(old.offsets('prices.x'), [], 'live messages wait for the replay');
  interest.remove(leaving);
  t.true(histories[0]!.signal?.aborted, 'the core is told to stop');
  histories[0]!.resolve(null);
  await tick();
  t.deepEqual(old.ops, [], 'nothing comes for a subscription that left');
  t.deepEqual(interest.replays, { cache: 1, core: 1 });
});

test('a refusal reaches the waiting sessions, and a late one never drops a newer interest of the same topic', (t) => {
  const { interest, subs, unsubs } = table();
  const session = new FakeSession();
  const early = session.subscribe(interest, 'secret.x');
  interest.remove(early);
  const again = new FakeSession();
  again.subscribe(interest, 'secret.x');
  t.is(subs.length, 2);
  subs[0]!.refuse(new RelayError('forbidden', 'no'));
  t.deepEqual(session.refusals, [], 'the first interest is gone: nobody to tell');
  t.is(interest.topicCount, 1, 'the newer interest stands');
  subs[1]!.refuse(new RelayError('forbidden', 'no'));
  t.deepEqual(again.refusals, ['secret.x: forbidden']);
  t.is(interest.topicCount, 0);
  t.deepEqual(unsubs, ['secret.x', 'secret.x']);
});

test('a new epoch resets answered subscribers; a resume the core could not replay is answered at once the next time', (t) => {
  const { interest, subs, histories, publish } = table(2);
  const first = new FakeSession();
  first.subscribe(interest, 'feed.x', { epoch: 'E', offset: 1 });
  subs[0]!.answer({ offset: 50, recovered: false });
  t.like(first.ops[0], { op: 'subok', recovered: false, offset: 50 });
  // Offsets up to 1 cannot be replayed: another client from there does not send the core a history request.
  const second = new FakeSession();
  second.subscribe(interest, 'feed.x', { epoch: 'E', offset: 1 });
  t.like(second.ops[0], { op: 'subok', recovered: false, offset: 50 });
  t.is(histories.length, 0);
  publish('feed.x', 1, 'F');
  for (const session of [first, second])
    t.deepEqual(session.ops.at(-1), { op: 'reset', topic: 'feed.x', epoch: 'F', offset: 0 });
  t.deepEqual(first.offsets('feed.x'), [1]);
});
