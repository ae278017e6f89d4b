// The benchmark's reader of what a NATS server sends (bench/nats-stream.ts): deliveries counted and payloads read back
// whatever the pieces the stream arrives in, PING answered, other lines passed on.

import test from 'ava';
import fc from 'fast-check';
import { NatsStream } from '../bench/nats-stream.js';

const msg = (subject: string, sid: number, payload: string): string =>
  `MSG ${subject} ${sid} ${Buffer.byteLength(payload)}\r\n${payload}\r\n`;

test('property: any split of a stream of deliveries counts each once and reads each payload whole', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (payloads, cuts) => {
        const sent: string[] = [];
        const stream = new NatsStream((text) => sent.push(text));
        const read: string[] = [];
        stream.onMessage = (payload) => read.push(payload.toString());
        const wire = Buffer.from(
          'INFO {"server_id":"x"}\r\nPING\r\n' + payloads.map((p, i) => msg('bench.t', i, p)).join(''),
        );
        const points = [...new Set(cuts.map((cut) => cut % (wire.length + 1)))].sort((a, b) => a - b);
        let counted = 0;
        let from = 0;
        for (const point of [...points, wire.length]) {
          counted += stream.push(wire.subarray(from, point));
          from = point;
        }
        return (
          counted === payloads.length &&
          stream.messages === payloads.length &&
          read.join('\u0000') === payloads.join('\u0000') &&
          sent.includes('PONG\r\n')
        );
      },
    ),
    { seed: 20261206, numRuns: 300 },
  );
  t.pass();
});

test('control lines other than MSG and PING go to onLine', (t) => {
  const stream = new NatsStream(() => {});
  const lines: string[] = [];
  stream.onLine = (line) => lines.push(line);
  stream.push(Buffer.from('INFO {"a":1}\r\n+OK\r\n-ERR \'x\'\r\n'));
  t.deepEqual(
    lines.map((line) => line.trim()),
    ['INFO {"a":1}', '+OK', "-ERR 'x'"],
  );
});
