// One client address holds only its share of an edge's topic table, however many sessions it opens: past
// limits.maxTopicsPerAddress it cannot add topics, while other addresses still subscribe, and topics it already holds
// stay open to its new sessions. IPv6 addresses count by their /64.

import test from 'ava';
import { AddressShares } from '../edge/address-shares.js';
import { addressKey } from '../shared/address-key.js';
import { startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';

test("one address cannot fill the edge's topic table: past its share its sessions get too_many_subscriptions, others still subscribe", async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { maxTopicsPerAddress: 5, maxTopicsPerEdge: 12 } },
  });
  const edge = mesh.edges[0]!;
  const first = await RawClient.connected(t, edge.url);
  const second = await RawClient.connected(t, edge.url);
  for (let i = 0; i < 3; i++) t.like(await first.subscribe(`fill.${i}`, `a${i}`), { op: 'subok' });
  for (let i = 3; i < 5; i++) t.like(await second.subscribe(`fill.${i}`, `b${i}`), { op: 'subok' });
  // Five distinct topics from this address: a sixth is refused, on either session, topic or pattern.
  t.like(await second.subscribe('fill.5', 'b5'), { op: 'error', code: 'too_many_subscriptions' });
  t.like(await first.subscribe('fill.*', 'a-pattern'), { op: 'error', code: 'too_many_subscriptions' });
  // A topic the address already holds is no new share.
  t.like(await second.subscribe('fill.0', 'b0'), { op: 'subok' });
  // Another address has its own share.
  const other = await RawClient.connected(t, edge.url, 'json', '127.0.0.2');
  for (let i = 0; i < 5; i++) t.like(await other.subscribe(`other.${i}`, `o${i}`), { op: 'subok' });
  // Leaving frees the share: once both sessions drop fill.0, a new topic fits.
  first.send({ op: 'unsub', id: 'u', topic: 'fill.0' });
  await first.next((op) => op.id === 'u');
  t.like(await second.subscribe('fill.6', 'b6'), { op: 'error', code: 'too_many_subscriptions' });
  second.send({ op: 'unsub', id: 'u', topic: 'fill.0' });
  await second.next((op) => op.id === 'u');
  t.like(await second.subscribe('fill.6', 'b6'), { op: 'subok' });
});

test('one address may make only so many topics new to the edge a second; known topics and other addresses are not held back', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { newTopicsPerSecondPerAddress: 1 } },
  });
  const edge = mesh.edges[0]!;
  const neighbour = await RawClient.connected(t, edge.url, 'json', '127.0.0.3');
  t.like(await neighbour.subscribe('known.t', 'k'), { op: 'subok' });
  // Five seconds' worth at once, sent together so that no token comes back in between.
  const churner = await RawClient.connected(t, edge.url, 'json', '127.0.0.2');
  for (let i = 0; i < 7; i++) churner.send({ op: 'sub', id: i, topic: `churn.${i}` });
  // Refusals come at once, suboks once the core answers: the last of them ends the batch.
  await churner.next((op) => op.op === 'subok' && op.id === 4);
  const answers = churner.received
    .filter((op) => typeof op.id === 'number')
    .sort((a, b) => Number(a.id) - Number(b.id));
  t.deepEqual(
    answers.map((op) => (op.op === 'error' ? op.code : op.op)),
    ['subok', 'subok', 'subok', 'subok', 'subok', 'rate_limited', 'rate_limited'],
  );
  t.like(await churner.subscribe('known.t', 'known'), { op: 'subok' }, 'a topic the edge holds costs nothing new');
  t.like(await neighbour.subscribe('fresh.t', 'fresh'), { op: 'subok' }, 'another address has its own rate');
});

test('address keys: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64', (t) => {
  t.is(addressKey('203.0.113.9'), '203.0.113.9');
  t.is(addressKey('::ffff:203.0.113.9'), '203.0.113.9');
  t.is(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.is(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  t.is(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.is(addressKey('::1'), '0:0:0:0::/64');
  t.is(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.is(addressKey(undefined), '');
});

test('shares are counted per address and forgotten when nothing is held', (t) => {
  const shares = new AddressShares(2, 100, 1);
  t.true(shares.holdTopic('2001:db8:1:2::1', 'a'));
  t.true(shares.holdTopic('2001:db8:1:2::2', 'b'), 'the same /64');
  t.false(shares.holdTopic('2001:db8:1:2::3', 'c'));
  t.true(shares.holdTopic('2001:db8:1:3::1', 'c'), 'another /64');
  t.true(shares.takePublish('10.0.0.1', 150), 'one publish always fits when none waits');
  t.false(shares.takePublish('10.0.0.1', 1));
  shares.releasePublish('10.0.0.1', 150);
  t.true(shares.takePublish('10.0.0.1', 60));
  t.true(shares.takePublish('10.0.0.1', 40));
  t.false(shares.takePublish('10.0.0.1', 1));
  shares.releasePublish('10.0.0.1', 100);
  t.deepEqual(
    Array.from({ length: 6 }, () => shares.takeNewTopic('10.0.0.9')),
    [true, true, true, true, true, false],
    'five seconds of a rate of one',
  );
  for (const [address, topic] of [
    ['2001:db8:1:2::1', 'a'],
    ['2001:db8:1:2::9', 'b'],
    ['2001:db8:1:3::1', 'c'],
  ] as const)
    shares.releaseTopic(address, topic);
  t.is(shares.addresses, 0);
});

test('new topics per address hold to their rate over time: a bucket in use never expires into a fresh burst', (t) => {
  let now = 1_000_000;
  const shares = new AddressShares(1_000_000, 100, 10, { now: () => now });
  let taken = 0;
  // Ten seconds, asking as fast as allowed every 100 ms: a burst of 50, then 10 a second.
  for (let step = 0; step <= 100; step++, now += 100) while (shares.takeNewTopic('10.0.0.9')) taken++;
  t.true(taken <= 50 + 10 * 10 + 1, `${taken} new topics in ten seconds`);
  t.true(taken >= 50 + 10 * 10 - 1, `${taken} new topics in ten seconds`);
});
