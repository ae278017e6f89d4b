// MQTT topic names and filters ↔ relaymesh topics and patterns: examples, refusals, and properties (round trip,
// and that a mapped filter matches exactly the mapped topics its MQTT filter matches).

import test from 'ava';
import fc from 'fast-check';
import { filterFromMqtt, topicFromMqtt, topicToMqtt } from '../edge/mqtt/mqtt-topics.js';
import { matches } from '../shared/topics.js';

const mapped = (mapping: { topic: string } | { problem: string }): string | undefined =>
  'topic' in mapping ? mapping.topic : undefined;

test('levels map to tokens, + to *, a trailing # to >', (t) => {
  t.is(mapped(topicFromMqtt('a/b/c')), 'a.b.c');
  t.is(mapped(topicFromMqtt('sensors/room-1/temp')), 'sensors.room-1.temp');
  t.is(mapped(filterFromMqtt('a/+/c')), 'a.*.c');
  t.is(mapped(filterFromMqtt('a/#')), 'a.>');
  t.is(mapped(filterFromMqtt('#')), '>');
  // `a/#` matches `a` too (MQTT 3.1.1 §4.7.1.2): the parent comes with it, for a companion subscription.
  t.deepEqual(filterFromMqtt('a/b/#'), { topic: 'a.b.>', parent: 'a.b' });
  t.deepEqual(filterFromMqtt('+/#'), { topic: '*.>', parent: '*' });
  t.deepEqual(filterFromMqtt('#'), { topic: '>' });
  t.deepEqual(filterFromMqtt('a/b'), { topic: 'a.b' });
  t.is(mapped(filterFromMqtt('+/+')), '*.*');
  t.is(topicToMqtt('a.b.c'), 'a/b/c');
  t.is(topicToMqtt('single'), 'single');
});

test('what cannot map is refused, with a reason', (t) => {
  for (const name of ['a//b', '/a', 'a/', 'a.b/c', 'a/*', 'a/>', 'a/+', 'a/#', '$SYS/broker', 'a b', '', 'a/\u0000']) {
    t.true('problem' in topicFromMqtt(name), `topic name ${JSON.stringify(name)}`);
  }
  for (const filter of ['a/#/b', 'a/b#', 'a/+b', 'a//b', '$SYS/#', 'a.b/#', '']) {
    t.true('problem' in filterFromMqtt(filter), `filter ${JSON.stringify(filter)}`);
  }
  const shared = filterFromMqtt('$share/group/a/b');
  t.true('problem' in shared && shared.shared === true);
  t.true('problem' in topicFromMqtt('x'.repeat(256)), 'over 255 bytes');
  for (const topic of ['a/b.c', '$internal.x', 'a.b+', 'a.#']) t.is(topicToMqtt(topic), undefined, topic);
});

const level = fc.string({
  unit: fc.constantFrom('a', 'b', 'z', '0', '-', '_', 'é', '$', ':'),
  minLength: 1,
  maxLength: 6,
});
const mqttTopic = fc
  .array(level, { minLength: 1, maxLength: 6 })
  .filter((levels) => !levels[0]!.startsWith('$'))
  .map((levels) => levels.join('/'));
const filterLevel = fc.oneof(level, fc.constant('+'));
const mqttFilter = fc
  .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 5 }), fc.boolean())
  .filter(([levels]) => !levels[0]!.startsWith('$'))
  .map(([levels, hash]) => [...levels, ...(hash ? ['#'] : [])].join('/'));

/** MQTT's own matching (3.1.1 §4.7), `a/#` matching `a` included. */
function mqttMatches(filter: string, name: string): boolean {
  const want = filter.split('/');
  const have = name.split('/');
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '#') return have.length >= i;
    if (i >= have.length || (want[i] !== '+' && want[i] !== have[i])) return false;
  }
  return want.length === have.length;
}

test('property: topic names round-trip', (t) => {
  fc.assert(
    fc.property(mqttTopic, (name) => {
      const topic = mapped(topicFromMqtt(name));
      return topic !== undefined && topicToMqtt(topic) === name && mapped(filterFromMqtt(name)) === topic;
    }),
    { seed: 42, numRuns: 1000 },
  );
  t.pass();
});

test('property: a mapped filter (with its parent) matches a mapped topic exactly when the MQTT filter matches the name', (t) => {
  fc.assert(
    fc.property(mqttFilter, mqttTopic, (filter, name) => {
      const mapping = filterFromMqtt(filter);
      const topic = mapped(topicFromMqtt(name));
      if (!('topic' in mapping) || topic === undefined) return false;
      const covered = (pattern: string | undefined): boolean =>
        pattern !== undefined && (pattern === topic || matches(pattern, topic));
      return (covered(mapping.topic) || covered(mapping.parent)) === mqttMatches(filter, name);
    }),
    { seed: 42, numRuns: 2000 },
  );
  t.pass();
});

test('property: any string maps or is refused, never throws; what maps is a valid relaymesh topic that maps back', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (text) => {
      const topic = mapped(topicFromMqtt(text));
      mapped(filterFromMqtt(text));
      return topic === undefined || topicToMqtt(topic) === text;
    }),
    { seed: 42, numRuns: 2000 },
  );
  t.pass();
});
