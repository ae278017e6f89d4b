// Tests of the subscription trie (shared/pattern-index.ts): a model test against brute-force matching, and no leaks.

import test from 'ava';
import fc from 'fast-check';
import { PatternIndex } from '../shared/pattern-index.js';
import { matches } from '../shared/topics.js';

function collect<V>(index: PatternIndex<V>, topic: string): V[] {
  const seen: V[] = [];
  index.forEachMatch(topic, (value) => seen.push(value));
  return seen;
}

/** The index's internal trie, for leak checks: children of the root. */
function rootChildren(index: PatternIndex<unknown>): number {
  const root = (index as unknown as { root: { children: Map<string, unknown> } }).root;
  return root.children.size;
}

test('examples: exact topics, `*`, `>` and duplicates', (t) => {
  const index = new PatternIndex<string>();
  t.true(index.add('a.b', 'exact'));
  t.true(index.add('a.*', 'star'));
  t.true(index.add('a.>', 'rest'));
  t.true(index.add('>', 'all'));
  t.true(index.add('*.b', 'star-b'));
  t.false(index.add('a.*', 'star'));
  t.is(index.size, 5);
  t.deepEqual(collect(index, 'a.b').sort(), ['all', 'exact', 'rest', 'star', 'star-b']);
  t.deepEqual(collect(index, 'a.c').sort(), ['all', 'rest', 'star']);
  t.deepEqual(collect(index, 'a').sort(), ['all']);
  t.deepEqual(collect(index, 'a.b.c').sort(), ['all', 'rest']);
  t.deepEqual(collect(index, 'x.b').sort(), ['all', 'star-b']);
  t.false(index.remove('a.*', 'other'));
  t.false(index.remove('a.x', 'star'));
  t.false(index.remove('q.r.s', 'star'));
  t.false(index.remove('q.>', 'star'));
  t.true(index.remove('a.*', 'star'));
  t.false(index.remove('a.*', 'star'));
  t.deepEqual(collect(index, 'a.c').sort(), ['all', 'rest']);
  for (const [sub, value] of [
    ['a.b', 'exact'],
    ['a.>', 'rest'],
    ['>', 'all'],
    ['*.b', 'star-b'],
  ] as const)
    t.true(index.remove(sub, value));
  t.is(index.size, 0);
  t.is(rootChildren(index), 0);
  t.deepEqual(collect(index, 'a.b'), []);
});

test('one value under several matching subscriptions is visited once per subscription', (t) => {
  const index = new PatternIndex<number>();
  index.add('a.b', 1);
  index.add('a.*', 1);
  index.add('>', 1);
  index.add('a.>', 2);
  t.deepEqual(collect(index, 'a.b').sort(), [1, 1, 1, 2]);
});

test('removing a prefix subscription keeps the longer ones', (t) => {
  const index = new PatternIndex<number>();
  index.add('a', 1);
  index.add('a.b', 2);
  index.add('a.b.>', 3);
  t.true(index.remove('a.b', 2));
  t.deepEqual(collect(index, 'a'), [1]);
  t.deepEqual(collect(index, 'a.b.c'), [3]);
  t.true(index.remove('a', 1));
  t.deepEqual(collect(index, 'a.b.c'), [3]);
  t.true(index.remove('a.b.>', 3));
  t.is(index.size, 0);
  t.is(rootChildren(index), 0);
});

// ── Model test ───────────────────────────────────────────────────────────────

const tokenArb = fc.constantFrom('a', 'b', 'c');
const topicArb = fc.array(tokenArb, { minLength: 1, maxLength: 4 }).map((tokens) => tokens.join('.'));
const subscriptionArb = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', 'c', '*'), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([tokens, rest]) => (rest ? [...tokens.slice(0, -1), '>'] : tokens).join('.'));
const valueArb = fc.integer({ min: 1, max: 4 });

type Command =
  | { kind: 'add'; subscription: string; value: number }
  | { kind: 'remove'; subscription: string; value: number }
  | { kind: 'match'; topic: string };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('add' as const), subscription: subscriptionArb, value: valueArb }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('remove' as const), subscription: subscriptionArb, value: valueArb }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('match' as const), topic: topicArb }) },
);

const key = (subscription: string, value: number): string => `${subscription}\u0000${value}`;

test('property: forEachMatch agrees with a brute-force filter over random adds and removes', (t) => {
  fc.assert(
    fc.property(
      fc.array(commandArb, { minLength: 1, maxLength: 120, size: 'max' }),
      fc.array(topicArb, { minLength: 5, maxLength: 5 }),
      (commands, probes) => {
        const index = new PatternIndex<number>();
        const model = new Map<string, { subscription: string; value: number }>();
        const check = (topic: string): boolean => {
          const expected = [...model.values()]
            .filter((entry) => matches(entry.subscription, topic))
            .map((entry) => entry.value)
            .sort();
          const actual = collect(index, topic).sort();
          return JSON.stringify(actual) === JSON.stringify(expected);
        };
        for (const command of commands) {
          if (command.kind === 'add') {
            const had = model.has(key(command.subscription, command.value));
            if (index.add(command.subscription, command.value) === had) return false;
            model.set(key(command.subscription, command.value), {
              subscription: command.subscription,
              value: command.value,
            });
          } else if (command.kind === 'remove') {
            const had = model.delete(key(command.subscription, command.value));
            if (index.remove(command.subscription, command.value) !== had) return false;
          } else if (!check(command.topic)) return false;
          if (index.size !== model.size) return false;
        }
        if (!probes.every(check)) return false;
        // Remove everything that is left, in insertion order: the index ends empty and pruned.
        for (const entry of model.values()) if (!index.remove(entry.subscription, entry.value)) return false;
        return (
          index.size === 0 && rootChildren(index) === 0 && probes.every((topic) => collect(index, topic).length === 0)
        );
      },
    ),
    { seed: 42, numRuns: 500 },
  );
  t.pass();
});

test('churn: adding then removing many subscriptions returns size to 0 and leaves no trie nodes', (t) => {
  const index = new PatternIndex<number>();
  const entries: Array<[string, number]> = [];
  for (let i = 0; i < 2000; i++) {
    const depth = 1 + (i % 5);
    const tokens = Array.from({ length: depth }, (_, d) =>
      d === depth - 1 && i % 7 === 0 ? '>' : (i + d) % 11 === 0 ? '*' : `t${(i * 31 + d) % 50}`,
    );
    const subscription = tokens.join('.');
    if (index.add(subscription, i % 13)) entries.push([subscription, i % 13]);
  }
  t.is(index.size, entries.length);
  t.true(rootChildren(index) > 0);
  // Remove in reverse and in a shuffled-ish order to exercise pruning from both ends.
  const order = entries.map((_, i) => i).sort((x, y) => ((x * 7919) % entries.length) - ((y * 7919) % entries.length));
  for (const i of order) t.true(index.remove(entries[i]![0], entries[i]![1]));
  t.is(index.size, 0);
  t.is(rootChildren(index), 0);
  for (let round = 0; round < 3; round++) {
    for (const [subscription, value] of entries) index.add(subscription, value);
    for (const [subscription, value] of entries.slice().reverse()) index.remove(subscription, value);
  }
  t.is(index.size, 0);
  t.is(rootChildren(index), 0);
});
