// The MQTT codec: packets split across and packed into WebSocket messages, size limits (announced sizes refused
// before the body arrives), malformed input as a problem and never a throw, and both protocol levels.

import test from 'ava';
import fc from 'fast-check';
import type { Packet } from 'mqtt-packet';
import { MqttDecoder, encodePacket, readFixedHeader } from '../edge/mqtt/mqtt-codec.js';

const connect = (version: 4 | 5): Packet => ({
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: version,
  clean: true,
  clientId: 'c1',
  keepalive: 30,
  username: 'any',
  password: Buffer.from('token'),
});

/** A decoder past its CONNECT, as every packet but the first sees it. */
function connected(maxPacketBytes: number): MqttDecoder {
  const decoder = new MqttDecoder(maxPacketBytes);
  decoder.push(encodePacket(connect(4), 4), () => {});
  return decoder;
}

function decodeAll(decoder: MqttDecoder, chunks: Buffer[]): { packets: Packet[]; problem: string | undefined } {
  const packets: Packet[] = [];
  let problem: string | undefined;
  for (const chunk of chunks) problem ??= decoder.push(chunk, (packet) => packets.push(packet))?.kind;
  return { packets, problem };
}

test('CONNECT, SUBSCRIBE, PUBLISH and PINGREQ decode at both levels, in one message or byte by byte', (t) => {
  for (const version of [4, 5] as const) {
    const packets: Packet[] = [
      connect(version),
      { cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'a/+', qos: 1 }] },
      {
        cmd: 'publish',
        topic: 'a/b',
        payload: Buffer.from([0, 1, 2]),
        qos: 1,
        messageId: 8,
        dup: false,
        retain: true,
        ...(version === 5 ? { properties: { contentType: 'application/octet-stream' } } : {}),
      },
      { cmd: 'pingreq' },
    ];
    const bytes = Buffer.concat(packets.map((packet) => encodePacket(packet, version)));
    for (const chunks of [[bytes], [...bytes].map((byte) => Buffer.from([byte]))]) {
      const { packets: got, problem } = decodeAll(new MqttDecoder(1 << 16), chunks);
      t.is(problem, undefined);
      t.deepEqual(
        got.map((packet) => packet.cmd),
        ['connect', 'subscribe', 'publish', 'pingreq'],
      );
      const publish = got[2] as Extract<Packet, { cmd: 'publish' }>;
      t.deepEqual(
        [publish.topic, [...(publish.payload as Buffer)], publish.qos, publish.retain, publish.messageId],
        ['a/b', [0, 1, 2], 1, true, 8],
      );
      if (version === 5) t.is(publish.properties?.contentType, 'application/octet-stream');
      t.is((got[0] as Extract<Packet, { cmd: 'connect' }>).protocolVersion, version);
    }
  }
});

test('a packet over the limit is refused from its fixed header, before its body arrives', (t) => {
  const decoder = connected(100);
  const big = encodePacket(
    { cmd: 'publish', topic: 'a', payload: Buffer.alloc(200), qos: 0, dup: false, retain: false },
    4,
  );
  t.deepEqual(decoder.push(big.subarray(0, 3), () => t.fail())?.kind, 'too_large');
  // Stopped for good.
  t.is(
    decoder.push(encodePacket({ cmd: 'pingreq' }, 4), () => t.fail()),
    undefined,
  );
  const raised = connected(100);
  raised.maxPacketBytes = 1000;
  t.is(decodeAll(raised, [big]).packets.length, 1);
});

test('malformed input is a problem, not a throw', (t) => {
  const cases: Array<[string, Buffer]> = [
    ['a remaining length over four bytes', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ['a reserved packet type', Buffer.from([0x00, 0x00])],
    ['bad fixed-header flags', Buffer.from([0x80, 0x00])],
    ['QoS 3', Buffer.from([0x36, 0x03, 0x00, 0x01, 0x61])],
    ['a truncated CONNECT', Buffer.from([0x10, 0x03, 0x00, 0x04, 0x4d])],
    ['a wrong protocol name', encodePacket(connect(4), 4).fill(0x58, 4, 8)],
  ];
  for (const [what, bytes] of cases.slice(0, 4)) {
    const decoder = connected(1 << 16);
    t.regex(decoder.push(bytes, () => t.fail(what))?.message ?? '', /length|reserved|flags|QoS 3/, what);
  }
  for (const [what, bytes] of cases.slice(4))
    t.is(decodeAll(new MqttDecoder(1 << 16), [bytes]).problem, 'malformed', what);
  // The first packet must be a CONNECT: anything else is refused from its first byte.
  t.regex(
    new MqttDecoder(1 << 16).push(Buffer.from([0xc0]), () => t.fail())?.message ?? '',
    /first packet must be CONNECT/,
  );
});

test('readFixedHeader: partial until complete', (t) => {
  t.is(readFixedHeader(Buffer.from([0x30])), 'partial');
  t.is(readFixedHeader(Buffer.from([0x30, 0x80])), 'partial');
  t.deepEqual(readFixedHeader(Buffer.from([0x30, 0x80, 0x01])), { headerBytes: 3, remaining: 128 });
});

test('property: random bytes after a CONNECT never throw; packets cut anywhere decode the same', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat({ max: 80 }), { maxLength: 5 }), (noise, cuts) => {
      const bytes = Buffer.concat([encodePacket(connect(5), 5), Buffer.from(noise)]);
      const points = [...new Set(cuts.map((cut) => Math.min(cut, bytes.length)))].sort((a, b) => a - b);
      const chunks = [0, ...points].map((start, i, all) => bytes.subarray(start, all[i + 1] ?? bytes.length));
      const whole = decodeAll(new MqttDecoder(1 << 16), [bytes]);
      const split = decodeAll(new MqttDecoder(1 << 16), chunks);
      return (
        whole.problem === split.problem &&
        whole.packets.length === split.packets.length &&
        whole.packets[0]?.cmd === 'connect'
      );
    }),
    { seed: 42, numRuns: 2000 },
  );
  t.pass();
});
