// Tests of the core's router (core/router.ts) with recording targets: once per target, only to matching ones, frame encoded once.

import test from 'ava';
import type { StoredMessage } from '../core/engine.js';
import { Router, type RouteTarget } from '../core/router.js';
import { decodeCoreFrames, packValue } from '../shared/codec.js';
import { frameType } from '../shared/protocol.js';

interface FakeTarget extends RouteTarget {
  name: string;
  frames: Buffer[];
}

function target(name: string): FakeTarget {
  return {
    name,
    routeStamp: 0,
    frames: [],
    deliver(frame: Buffer): void {
      this.frames.push(frame);
    },
  };
}

let nextOffset = 1;
function message(topic: string, data: unknown = { n: nextOffset }): StoredMessage {
  return { topic, epoch: 'ep-1', offset: nextOffset++, data: packValue(data) };
}

test('a target with an exact and several matching pattern subscriptions gets the message once', (t) => {
  const router = new Router<FakeTarget>();
  const edge = target('edge');
  t.true(router.add(edge, 'chat.room-17'));
  t.true(router.add(edge, 'chat.*'));
  t.true(router.add(edge, 'chat.>'));
  t.true(router.add(edge, '>'));
  t.true(router.add(edge, '*.room-17'));
  const sent = message('chat.room-17', { text: 'hi' });
  t.is(router.route(sent), 1);
  t.is(edge.frames.length, 1);
  const frames = decodeCoreFrames(edge.frames[0]!);
  t.is(frames.length, 1);
  const [type, topic, epoch, offset, data] = frames[0]! as unknown[];
  t.deepEqual([type, topic, epoch, offset], [frameType.msg, 'chat.room-17', 'ep-1', sent.offset]);
  t.true(data instanceof Uint8Array);
  t.true(Buffer.from(data as Uint8Array).equals(Buffer.from(sent.data)));
  // And again for the next message: the dedup stamp does not stick.
  t.is(router.route(message('chat.room-17')), 1);
  t.is(edge.frames.length, 2);
});

test('only targets with matching interest receive; route returns how many did', (t) => {
  const router = new Router<FakeTarget>();
  const exact = target('exact');
  const star = target('star');
  const rest = target('rest');
  const other = target('other');
  const idle = target('idle');
  router.add(exact, 'prices.eur-usd');
  router.add(star, 'prices.*');
  router.add(rest, 'prices.>');
  router.add(other, 'orders.>');
  router.add(other, 'prices.eur-usd.bid');
  t.is(router.route(message('prices.eur-usd')), 3);
  t.is(router.route(message('prices.eur-usd.bid')), 2); // rest and other
  t.is(router.route(message('prices')), 0);
  t.is(router.route(message('orders.1')), 1);
  t.is(router.route(message('nobody.here')), 0);
  t.deepEqual(
    [exact, star, rest, other, idle].map((each) => each.frames.length),
    [1, 1, 2, 2, 0],
  );
});

test('the frame is encoded once and the same Buffer goes to every target', (t) => {
  const router = new Router<FakeTarget>();
  const targets = Array.from({ length: 10 }, (_, i) => target(`edge-${i}`));
  targets.forEach((each, i) => router.add(each, i % 3 === 0 ? 'a.b' : i % 3 === 1 ? 'a.*' : '>'));
  t.is(router.route(message('a.b')), 10);
  const first = targets[0]!.frames[0]!;
  for (const each of targets) {
    t.is(each.frames.length, 1);
    t.is(each.frames[0], first);
  }
});

test('remove stops delivery, and only for that subscription and target', (t) => {
  const router = new Router<FakeTarget>();
  const one = target('one');
  const two = target('two');
  router.add(one, 'a.b');
  router.add(one, 'a.*');
  router.add(two, 'a.b');
  t.true(router.remove(one, 'a.b'));
  t.false(router.remove(one, 'a.b'));
  t.is(router.route(message('a.b')), 2); // one still has a.*
  t.true(router.remove(one, 'a.*'));
  t.false(router.remove(one, 'a.*'));
  t.is(router.route(message('a.b')), 1);
  t.true(router.remove(two, 'a.b'));
  t.is(router.route(message('a.b')), 0);
  t.deepEqual([one.frames.length, two.frames.length], [1, 2]);
  t.false(router.remove(two, 'never.added'));
  t.false(router.remove(two, 'never.*'));
});

test('add reports duplicates; a duplicate add still needs only one remove', (t) => {
  const router = new Router<FakeTarget>();
  const edge = target('edge');
  t.true(router.add(edge, 'x.y'));
  t.false(router.add(edge, 'x.y'));
  t.true(router.add(edge, 'x.>'));
  t.false(router.add(edge, 'x.>'));
  t.true(router.remove(edge, 'x.y'));
  t.true(router.remove(edge, 'x.>'));
  t.is(router.route(message('x.y')), 0);
  t.is(edge.frames.length, 0);
});

test('no interest: nothing is delivered', (t) => {
  const router = new Router<FakeTarget>();
  t.is(router.route(message('a')), 0);
});

test('many messages and targets: each target receives exactly the messages it matches, once each', (t) => {
  const router = new Router<FakeTarget>();
  const subscriptions = ['a', 'a.*', 'a.>', 'b.*', '*.c', '>', 'a.c', 'b.c.d'];
  const targets = subscriptions.map((_, i) => target(`t${i}`));
  // Each target subscribes to a window of three subscriptions, so many targets have overlapping interest.
  targets.forEach((each, i) => {
    for (let k = 0; k < 3; k++) router.add(each, subscriptions[(i + k) % subscriptions.length]!);
  });
  const topics = ['a', 'a.c', 'a.b.c', 'b.c', 'b.c.d', 'c', 'x.c'];
  const matchesAny = (i: number, topic: string): boolean => {
    const tokens = topic.split('.');
    return [0, 1, 2].some((k) => {
      const want = subscriptions[(i + k) % subscriptions.length]!.split('.');
      for (let j = 0; j < want.length; j++) {
        if (want[j] === '>') return tokens.length > j;
        if (j >= tokens.length || (want[j] !== '*' && want[j] !== tokens[j])) return false;
      }
      return want.length === tokens.length;
    });
  };
  for (const topic of topics) {
    const expected = targets.filter((_, i) => matchesAny(i, topic)).length;
    t.is(router.route(message(topic)), expected, topic);
  }
  targets.forEach((each, i) =>
    t.is(each.frames.length, topics.filter((topic) => matchesAny(i, topic)).length, each.name),
  );
});
