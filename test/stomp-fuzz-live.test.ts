// Hostile STOMP input against a live edge: mutated and random frames, split at random points, after a CONNECT.
// Every socket ends in a frame we can parse (or stays open), never in an internal error, and bystanders (STOMP
// and native) still get the next message.

import test from 'ava';
import fc from 'fast-check';
import { startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { RawStomp, connectStomp } from './helpers/stomp.js';
import { within } from './helpers/within.js';

const valid = [
  'SUBSCRIBE\nid:1\ndestination:/topic/fuzz.a\nreceipt:r1\n\n\0',
  'SUBSCRIBE\nid:2\ndestination:/topic/fuzz.>\n\n\0',
  'SEND\ndestination:/topic/fuzz.a\ncontent-type:application/json\n\n{"a":1}\0',
  'SEND\ndestination:/topic/fuzz.b\ncontent-length:3\n\n\0\0\0\0',
  'UNSUBSCRIBE\nid:1\n\n\0',
  '\n',
  'DISCONNECT\nreceipt:d\n\n\0',
].map((text) => Buffer.from(text, 'latin1'));

const mutated = fc
  .tuple(
    fc.array(fc.constantFrom(...valid), { minLength: 1, maxLength: 5 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    fc.array(fc.nat(), { maxLength: 4 }),
  )
  .map(([frames, flips, cuts]) => {
    const wire = Buffer.concat(frames);
    for (const [at, byte] of flips) wire[at % wire.length] = byte;
    const points = [...new Set(cuts.map((cut) => cut % (wire.length + 1)))].sort((a, b) => a - b);
    return [0, ...points].map((start, i) => wire.subarray(start, [...points, wire.length][i]));
  });
// Random bytes end a line and a body, so that most of them complete a (broken) frame instead of waiting for more.
const random = fc.array(
  fc
    .uint8Array({ minLength: 1, maxLength: 64 })
    .map((bytes) => Buffer.concat([Buffer.from(bytes), Buffer.from('\n\n\0')])),
  { minLength: 1, maxLength: 3 },
);

test('mutated and random STOMP frames never crash the edge or disturb bystanders', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  const bystander = await connectStomp(t, edge.url);
  const watched = await bystander.subscribe('/topic/fuzz.bystander');
  const native = await RawClient.connected(t, edge.url);
  await native.subscribe('fuzz.bystander', 1);

  const samples = fc.sample(fc.oneof(mutated, random), { seed: 42, numRuns: 60 });
  const closes = new Map<number, number>();
  for (const [i, chunks] of samples.entries()) {
    const raw = await RawStomp.connected(t, edge.url);
    for (const chunk of chunks) raw.ws.send(chunk);
    await bystander.publish('/topic/fuzz.bystander', `after ${i}`);
    // A socket that was answered with ERROR (or its DISCONNECT receipt) closes with a code of STOMP's answers,
    // never with an internal error (4500).
    const answered = raw.frames.find(
      (frame) =>
        frame.command === 'ERROR' || (frame.command === 'RECEIPT' && frame.headers.some(([, value]) => value === 'd')),
    );
    if (answered) {
      const { code, reason } = await within(raw.closed, `sample ${i}: close after ${answered.command}`);
      closes.set(code, (closes.get(code) ?? 0) + 1);
      t.is(code, answered.command === 'ERROR' ? 4400 : 1000, `sample ${i}: close ${code} ${reason}`);
    }
    raw.ws.terminate();
    t.is((await watched.messages.until(i + 1))[i]!.body, `after ${i}`);
    t.is((await native.next((op) => op.op === 'msg')).data, `after ${i}`);
  }
  t.log('closes by code', Object.fromEntries(closes));
  t.true((closes.get(4400) ?? 0) > 10, 'the samples exercise the error paths');
  const health = await fetch(`${mesh.http(edge)}/healthz`);
  t.is(health.status, 200);
});
