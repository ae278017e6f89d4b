// A native client and a STOMP client on two different edges share one topic, and payloads keep their kind across
// protocols: JSON stays JSON, text stays text, binary stays binary (edge/payload-mapping.ts).

import test from 'ava';
import { startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { connectStomp } from './helpers/stomp.js';

test('native (msgpack and json) and STOMP clients on two edges exchange messages with payloads preserved', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = mesh.edges;
  const native = await RawClient.connected(t, eu!.url, 'msgpack');
  await native.subscribe('mixed.topic', 1);
  const json = await RawClient.connected(t, eu!.url, 'json');
  await json.subscribe('mixed.topic', 1);
  const stomp = await connectStomp(t, us!.url);
  const { messages } = await stomp.subscribe('/topic/mixed.topic');

  // native → STOMP
  const binary = new Uint8Array([0, 1, 0, 255, 10]);
  const fromNative: unknown[] = [{ price: 1.08, tags: ['a'] }, 'plain text', binary, 42, null];
  for (const [i, data] of fromNative.entries()) {
    native.send({ op: 'pub', id: `n${i}`, topic: 'mixed.topic', data });
    await native.next((op) => op.id === `n${i}` && op.op === 'puback');
  }
  const got = await messages.until(fromNative.length);
  t.deepEqual(JSON.parse(got[0]!.body), { price: 1.08, tags: ['a'] });
  t.is(got[0]!.headers['content-type'], 'application/json');
  t.is(got[1]!.body, 'plain text');
  t.is(got[1]!.headers['content-type'], 'text/plain;charset=utf-8');
  t.deepEqual(new Uint8Array(got[2]!.binaryBody), binary);
  t.is(got[2]!.headers['content-type'], 'application/octet-stream');
  t.is(got[2]!.headers['content-length'], '5');
  t.is(got[3]!.body, '42');
  t.is(got[3]!.headers['content-type'], 'application/json');
  t.is(got[4]!.body, 'null');

  // STOMP → native
  await stomp.publish('/topic/mixed.topic', JSON.stringify({ from: 'stomp', n: [1, 2] }), {
    'content-type': 'application/json',
  });
  await stomp.publish('/topic/mixed.topic', 'just text');
  await stomp.publish('/topic/mixed.topic', new Uint8Array([255, 0, 254]), {
    'content-type': 'application/octet-stream',
  });
  await stomp.publish('/topic/mixed.topic', '{"looks":"like json"}', { 'content-type': 'text/plain' });
  const all = await native.messages(fromNative.length + 4);
  const fromStomp = all.slice(fromNative.length).map((op) => op.data);
  t.deepEqual(fromStomp[0], { from: 'stomp', n: [1, 2] });
  t.is(fromStomp[1], 'just text');
  t.deepEqual(new Uint8Array(fromStomp[2] as Uint8Array), new Uint8Array([255, 0, 254]));
  t.is(fromStomp[3], '{"looks":"like json"}');

  // A native json client sees the same values; binary as base64 with enc.
  const jsonAll = await json.messages(fromNative.length + 4);
  t.deepEqual(jsonAll[fromNative.length]!.data, { from: 'stomp', n: [1, 2] });
  t.is(jsonAll[fromNative.length + 2]!.data, Buffer.from([255, 0, 254]).toString('base64'));
  t.is(jsonAll[fromNative.length + 2]!.enc, 'base64');
  // Positions agree across protocols: the STOMP message-id is the native (epoch, offset).
  t.is(got[0]!.headers['message-id'], `${all[0]!.epoch as string}:${all[0]!.offset as number}`);
});
