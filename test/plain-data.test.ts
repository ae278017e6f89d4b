// What a published `data` may be: JSON-like values, binary and dates, nested at most maxDataDepth levels.

import test from 'ava';
import { C1 } from 'msgpackr';
import { maxDataDepth, plainDataProblem } from '../shared/plain-data.js';

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { v: value };
  return value;
}

test('JSON-like values, binary and dates are publishable', (t) => {
  for (const value of [
    null,
    true,
    0,
    -1.5,
    'text',
    [],
    {},
    { a: [1, { b: 'c' }] },
    new Uint8Array([1]),
    Buffer.from('x'),
    new Date(0),
    Object.create(null),
  ]) {
    t.is(plainDataProblem(value), undefined);
  }
  t.is(plainDataProblem(nested(maxDataDepth)), undefined);
});

test('other decoded values and deep nesting are refused with a reason', (t) => {
  t.regex(plainDataProblem(nested(maxDataDepth + 1))!, /nested more than/);
  t.regex(plainDataProblem(10n)!, /bigint/);
  t.regex(plainDataProblem(undefined)!, /undefined/);
  t.regex(plainDataProblem([1, { a: new Map() }])!, /neither JSON nor binary/);
  t.regex(plainDataProblem({ error: new Error('x') })!, /neither JSON nor binary/);
  t.regex(plainDataProblem([C1])!, /neither JSON nor binary/);
});
