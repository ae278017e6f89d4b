// Hostile MQTT input against a live edge: mutated valid packets (3.1.1 and 5) and random bytes, split at random
// points, after a CONNECT. Every socket ends with a close code of the protocol's answers, never an internal error
// (4500), and bystanders (MQTT and native) still get the next message.

import test from 'ava';
import fc from 'fast-check';
import { generate, type Packet } from 'mqtt-packet';
import { startMesh } from './helpers/mesh.js';
import { RawMqtt, connectMqtt } from './helpers/mqtt.js';
import { RawClient } from './helpers/raw-client.js';
import { within } from './helpers/within.js';

const packets: Packet[] = [
  {
    cmd: 'subscribe',
    messageId: 1,
    subscriptions: [
      { topic: 'fuzz/a', qos: 1 },
      { topic: 'fuzz/#', qos: 0 },
    ],
  },
  { cmd: 'publish', topic: 'fuzz/a', payload: Buffer.from('{"a":1}'), qos: 1, messageId: 2, dup: false, retain: true },
  { cmd: 'publish', topic: 'fuzz/b', payload: Buffer.from([0, 255]), qos: 0, dup: false, retain: false },
  { cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['fuzz/a'] },
  { cmd: 'puback', messageId: 1 },
  { cmd: 'pingreq' },
  { cmd: 'disconnect' },
];
const wires = {
  4: packets.map((packet) => generate(packet, { protocolVersion: 4 })),
  5: packets.map((packet) => generate(packet, { protocolVersion: 5 })),
};

const version = fc.constantFrom(4 as const, 5 as const);
const mutated = version
  .chain((level) =>
    fc.tuple(
      fc.constant(level),
      fc.array(fc.constantFrom(...wires[level]), { minLength: 1, maxLength: 5 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 4 }),
    ),
  )
  .map(([level, parts, flips, cuts]) => {
    const wire = Buffer.concat(parts);
    for (const [at, byte] of flips) wire[at % wire.length] = byte;
    const points = [...new Set(cuts.map((cut) => cut % (wire.length + 1)))].sort((a, b) => a - b);
    return { level, chunks: [0, ...points].map((start, i) => wire.subarray(start, [...points, wire.length][i])) };
  });
const random = fc
  .tuple(
    version,
    fc.array(
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
      { minLength: 1, maxLength: 3 },
    ),
  )
  .map(([level, chunks]) => ({ level, chunks }));

test('mutated and random MQTT packets never crash the edge or disturb bystanders', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  const bystander = await connectMqtt(t, edge.url, { protocolVersion: 5 });
  await bystander.client.subscribeAsync('fuzz/bystander', { qos: 1 });
  const native = await RawClient.connected(t, edge.url);
  await native.subscribe('fuzz.bystander', 1);

  const samples = fc.sample(fc.oneof(mutated, random), { seed: 42, numRuns: 150 });
  const closes = new Map<number, number>();
  for (const [i, { level, chunks }] of samples.entries()) {
    const raw = await RawMqtt.connected(t, edge.url, level);
    for (const chunk of chunks) raw.ws.send(chunk);
    // Zero bytes end every sample: they complete a packet left partial (or exceed its limit), then type 0 is refused.
    raw.ws.send(Buffer.alloc(80_000));
    raw.ws.send(Buffer.alloc(80_000));
    const { code, reason } = await within(raw.closed, `sample ${i}: close`);
    closes.set(code, (closes.get(code) ?? 0) + 1);
    t.true([1000, 1009, 4400].includes(code), `sample ${i}: close ${code} ${reason}`);
    await bystander.client.publishAsync('fuzz/bystander', `after ${i}`, { qos: 1 });
    t.is((await bystander.until(i + 1))[i]!.payload.toString(), `after ${i}`);
    t.is((await native.next((op) => op.op === 'msg')).data, `after ${i}`);
  }
  t.log('closes by code', Object.fromEntries(closes));
  t.true((closes.get(4400) ?? 0) > 10, 'the samples exercise the error paths');
  t.is((await fetch(`${mesh.http(edge)}/healthz`)).status, 200);
});
