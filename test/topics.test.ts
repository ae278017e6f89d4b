// Unit and property tests of topic and pattern syntax and matching (shared/topics.ts, docs/protocol.md §1).

import test from 'ava';
import fc from 'fast-check';
import {
  isPattern,
  isTopic,
  matches,
  maxTopicBytes,
  subscriptionProblem,
  topicProblem,
  utf8Length,
} from '../shared/topics.js';

// ── Examples ─────────────────────────────────────────────────────────────────

const validTopics = [
  'prices.eur-usd',
  'chat.room-17',
  'user.42.inbox',
  'a',
  'a.b.c.d.e.f',
  'ünïcödé.中文.😀',
  'with-dash_and_underscore.and:colon',
  'x'.repeat(maxTopicBytes),
];

const invalidTopics: Array<[unknown, string]> = [
  ['', 'empty'],
  ['.', 'empty tokens'],
  ['a.', 'trailing empty token'],
  ['.a', 'leading empty token'],
  ['a..b', 'empty middle token'],
  ['a b', 'space'],
  ['a.\tb', 'tab'],
  ['a.b\n', 'newline'],
  ['a.\u00a0', 'no-break space'],
  ['a.*', '`*` token in a topic'],
  ['a.>', '`>` token in a topic'],
  ['a*.b', '`*` inside a token'],
  ['a.b>', '`>` inside a token'],
  ['*', 'bare `*`'],
  ['>', 'bare `>`'],
  ['x'.repeat(maxTopicBytes + 1), '256 ASCII bytes'],
  ['é'.repeat(128), '128 two-byte chars = 256 bytes'],
  ['中'.repeat(86), '86 three-byte chars = 258 bytes'],
  ['😀'.repeat(64), '64 four-byte chars = 256 bytes'],
  [42, 'a number'],
  [null, 'null'],
  [undefined, 'undefined'],
  [['a'], 'an array'],
];

test('valid topics have no problem', (t) => {
  for (const topic of validTopics) {
    t.is(topicProblem(topic), undefined, topic);
    t.is(subscriptionProblem(topic), undefined, topic);
    t.true(isTopic(topic), topic);
    t.false(isPattern(topic), topic);
  }
});

test('invalid topics are refused with a reason', (t) => {
  for (const [text, why] of invalidTopics) {
    const problem = topicProblem(text);
    t.is(typeof problem, 'string', why);
    t.true((problem ?? '').length > 0, why);
    t.false(isTopic(text), why);
  }
});

test('the 255-byte limit counts UTF-8 bytes, not characters', (t) => {
  t.true(isTopic('é'.repeat(127))); // 254 bytes
  t.true(isTopic('é'.repeat(127) + 'x')); // 255 bytes
  t.false(isTopic('é'.repeat(127) + 'xx')); // 256 bytes
  t.false(isTopic('é'.repeat(128))); // 256 bytes, only 128 UTF-16 units
  t.true(isTopic('中'.repeat(85))); // 255 bytes
  t.false(isTopic('中'.repeat(85) + 'x'));
  t.true(isTopic('😀'.repeat(63) + 'abc')); // 252 + 3
  t.false(isTopic('😀'.repeat(63) + 'abcd')); // 256
  t.true(isTopic(`${'a'.repeat(127)}.${'b'.repeat(127)}`)); // dots count
  t.false(isTopic(`${'a'.repeat(128)}.${'b'.repeat(127)}`));
  t.is(topicProblem('x'.repeat(256)), `is longer than ${maxTopicBytes} bytes`);
});

test('valid subscriptions: topics and patterns', (t) => {
  for (const pattern of ['chat.*', 'orders.>', '*', '>', '*.*', '*.b.>', 'a.*.c', 'a.*.>', '*.>']) {
    t.is(subscriptionProblem(pattern), undefined, pattern);
    t.true(isPattern(pattern), pattern);
    t.false(isTopic(pattern), pattern);
    t.is(typeof topicProblem(pattern), 'string', pattern);
  }
});

test('invalid subscriptions are refused with a reason', (t) => {
  for (const pattern of [
    '',
    '>.a',
    'a.>.b',
    '>.>',
    'a.**',
    'a*',
    'a.b*',
    '>a',
    'a.>>',
    'a..*',
    '*.',
    'a .>',
    'x'.repeat(254) + '.>',
    7,
    null,
  ]) {
    t.is(typeof subscriptionProblem(pattern), 'string', String(pattern));
  }
  t.is(subscriptionProblem('a.>.b'), 'has `>` before its last token');
});

test('matches: examples', (t) => {
  const yes: Array<[string, string]> = [
    ['chat.*', 'chat.room-17'],
    ['orders.>', 'orders.eu'],
    ['orders.>', 'orders.eu.42.lines'],
    ['>', 'a'],
    ['>', 'a.b.c'],
    ['*', 'a'],
    ['*.b.*', 'a.b.c'],
    ['a.*.>', 'a.b.c'],
    ['user.42.inbox', 'user.42.inbox'],
  ];
  const no: Array<[string, string]> = [
    ['chat.*', 'chat'],
    ['chat.*', 'chat.room.17'],
    ['orders.>', 'orders'],
    ['*', 'a.b'],
    ['a.*.>', 'a.b'],
    ['user.42.inbox', 'user.42'],
    ['user.42', 'user.42.inbox'],
    ['user.42.inbox', 'user.43.inbox'],
    ['a.b', 'a.bc'],
    ['a.*', 'b.c'],
  ];
  for (const [pattern, topic] of yes) t.true(matches(pattern, topic), `${pattern} ~ ${topic}`);
  for (const [pattern, topic] of no) t.false(matches(pattern, topic), `${pattern} !~ ${topic}`);
});

test('utf8Length: examples, including surrogate pairs and lone surrogates', (t) => {
  for (const text of [
    '',
    'a',
    'é',
    '中',
    '😀',
    'a😀b',
    '\u07ff',
    '\u0800',
    '\uffff',
    '\ud800',
    '\udc00',
    '\ud800a',
    '\ud800é',
    '\ud800中',
    'a\udc00\ud800',
    '\ud83d\ude00\ud83d',
  ]) {
    t.is(utf8Length(text), Buffer.byteLength(text, 'utf8'), JSON.stringify(text));
  }
});

// ── Properties ───────────────────────────────────────────────────────────────

const tokenChar = fc.constantFrom(
  'a',
  'b',
  'z',
  '0',
  '9',
  '-',
  '_',
  ':',
  '#',
  '+',
  '/',
  'é',
  'ß',
  '中',
  '😀',
  '\u{10ffff}',
);
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 8 });
const topicArb = fc
  .array(token, { minLength: 1, maxLength: 8 })
  .map((tokens) => tokens.join('.'))
  .filter((topic) => Buffer.byteLength(topic) <= maxTopicBytes);

test('property: generated topics are valid and match themselves', (t) => {
  fc.assert(
    fc.property(
      topicArb,
      (topic) =>
        isTopic(topic) && subscriptionProblem(topic) === undefined && !isPattern(topic) && matches(topic, topic),
    ),
    { seed: 42, numRuns: 2000 },
  );
  t.pass();
});

/** A topic with some of its tokens replaced by `*` and, optionally, its last `rest` tokens replaced by one `>`. */
const topicAndPattern = topicArb.chain((topic) => {
  const tokens = topic.split('.');
  return fc
    .tuple(
      fc.array(fc.boolean(), { minLength: tokens.length, maxLength: tokens.length }),
      fc.integer({ min: 0, max: tokens.length }),
    )
    .map(([stars, rest]) => {
      const kept = tokens.slice(0, tokens.length - rest).map((tok, i) => (stars[i] ? '*' : tok));
      const pattern = rest > 0 ? [...kept, '>'].join('.') : kept.join('.');
      return { topic, pattern };
    });
});

test('property: a pattern built from a topic with `*` and a trailing `>` matches it', (t) => {
  fc.assert(
    fc.property(topicAndPattern, ({ topic, pattern }) => {
      if (subscriptionProblem(pattern) !== undefined) return false;
      return matches(pattern, topic);
    }),
    { seed: 42, numRuns: 3000 },
  );
  t.pass();
});

test('property: that pattern does not match the topic with one more token, unless it ends in `>`', (t) => {
  fc.assert(
    fc.property(
      topicAndPattern,
      token,
      ({ topic, pattern }, extra) => matches(pattern, `${topic}.${extra}`) === pattern.endsWith('>'),
    ),
    { seed: 42, numRuns: 2000 },
  );
  t.pass();
});

// A reference matcher: the pattern as a regular expression over the topic.
function referenceMatches(pattern: string, topic: string): boolean {
  const source = pattern
    .split('.')
    .map((tok) => (tok === '*' ? '[^.]+' : tok === '>' ? '.+' : tok.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&')))
    .join('\\.');
  return new RegExp(`^${source}$`, 'u').test(topic);
}

test('property: matches agrees with a regular-expression reference on a small alphabet', (t) => {
  const small = fc.constantFrom('a', 'b', 'c');
  const smallTopic = fc.array(small, { minLength: 1, maxLength: 4 }).map((tokens) => tokens.join('.'));
  const smallPattern = fc
    .tuple(fc.array(fc.constantFrom('a', 'b', 'c', '*'), { minLength: 1, maxLength: 4 }), fc.boolean())
    .map(([tokens, rest]) => (rest ? [...tokens.slice(0, -1), '>'] : tokens).join('.'));
  fc.assert(
    fc.property(
      smallPattern,
      smallTopic,
      (pattern, topic) =>
        subscriptionProblem(pattern) === undefined && matches(pattern, topic) === referenceMatches(pattern, topic),
    ),
    { seed: 42, numRuns: 5000 },
  );
  t.pass();
});

test('property: utf8Length equals Buffer.byteLength for any well-formed string', (t) => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary', maxLength: 100 }),
      (text) => utf8Length(text) === Buffer.byteLength(text, 'utf8'),
    ),
    { seed: 42, numRuns: 3000 },
  );
  t.pass();
});

test('property: utf8Length equals Buffer.byteLength for any sequence of UTF-16 units, lone surrogates included', (t) => {
  const unit = fc
    .oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0xd800, max: 0xdfff }))
    .map((code) => String.fromCharCode(code));
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 40 }), (text) => utf8Length(text) === Buffer.byteLength(text, 'utf8')),
    { seed: 42, numRuns: 3000 },
  );
  t.pass();
});

test('property: a topic is valid exactly when it is 1-255 UTF-8 bytes of non-empty tokens without whitespace, `*` or `>`', (t) => {
  const char = fc.constantFrom('a', 'é', '😀', '.', ' ', '\t', '*', '>', '中');
  fc.assert(
    fc.property(fc.string({ unit: char, maxLength: 140 }), (text) => {
      const expected =
        text.length > 0 &&
        Buffer.byteLength(text) <= maxTopicBytes &&
        text.split('.').every((tok) => tok.length > 0 && !/[\s*>]/.test(tok));
      return isTopic(text) === expected;
    }),
    { seed: 42, numRuns: 3000 },
  );
  t.pass();
});
