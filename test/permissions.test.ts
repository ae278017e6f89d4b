// Token permissions: a subscription must lie inside a permitted pattern; wildcards never widen access.

import test from 'ava';
import fc from 'fast-check';
import { Permissions, within } from '../shared/permissions.js';
import { matches } from '../shared/topics.js';

test('within: examples', (t) => {
  t.true(within('prices.eur-usd', 'prices.>'));
  t.true(within('prices.fx.eur', 'prices.>'));
  t.true(within('prices.*', 'prices.>'));
  t.true(within('prices.>', 'prices.>'));
  t.true(within('user.42.inbox', 'user.42.*'));
  t.true(within('user.42.*', 'user.42.*'));
  t.true(within('user.*.inbox', 'user.*.inbox'));
  t.false(within('user.*.inbox', 'user.42.*'), 'a wildcard may not widen a literal grant');
  t.false(within('user.>', 'user.42.*'));
  t.false(within('>', 'prices.>'));
  t.false(within('prices', 'prices.>'), '`>` needs at least one token');
  t.false(within('user.42', 'user.42.*'));
  t.false(within('user.42.inbox.x', 'user.42.*'));
  t.false(within('prices.>', 'prices.*'));
});

// A small alphabet so that random topics and patterns overlap often.
const token = fc.constantFrom('a', 'b', 'c');
const topic = fc.array(token, { minLength: 1, maxLength: 4 }).map((tokens) => tokens.join('.'));
const pattern = fc
  .array(fc.constantFrom('a', 'b', '*'), { minLength: 1, maxLength: 4 })
  .chain((tokens) => fc.boolean().map((rest) => (rest ? [...tokens, '>'] : tokens).join('.')));

test('property: when `within(requested, allowed)`, every topic the requested subscription matches is allowed', (t) => {
  fc.assert(
    fc.property(pattern, pattern, fc.array(topic, { maxLength: 30 }), (requested, allowed, topics) => {
      if (!within(requested, allowed)) return true;
      return topics.every((candidate) => !matches(requested, candidate) || matches(allowed, candidate));
    }),
    { seed: 7, numRuns: 2000 },
  );
  t.pass();
});

test('permissions from a token claim: subscribe by containment, publish by match, junk grants nothing', (t) => {
  const permissions = Permissions.fromClaim({
    subscribe: ['prices.>', 'user.42.*', 'bad..pattern', 7],
    publish: ['chat.room-17'],
  });
  t.true(permissions.canSubscribe('prices.*'));
  t.true(permissions.canSubscribe('user.42.inbox'));
  t.false(permissions.canSubscribe('user.*.inbox'));
  t.false(permissions.canSubscribe('bad..pattern'));
  t.true(permissions.canPublish('chat.room-17'));
  t.false(permissions.canPublish('chat.room-18'));
  t.false(Permissions.fromClaim(undefined).canSubscribe('a'));
  t.true(Permissions.open.canSubscribe('>'));
  t.true(Permissions.open.canPublish('any.topic'));
});
