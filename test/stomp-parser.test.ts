// The STOMP frame parser and serialiser: round trips, frames split at every byte boundary or packed together with
// heart-beats between them, header escaping per version, and strictness (bad headers, missing NUL, oversize).

import test from 'ava';
import fc from 'fast-check';
import { escapeHeader, serializeFrame, type StompFrame, type StompVersion } from '../edge/stomp/stomp-frame.js';
import { StompParser, type StompParseEvent, type StompParserLimits } from '../edge/stomp/stomp-parser.js';

const limits: StompParserLimits = { maxHeaderBytes: 4096, maxHeaders: 32, maxBodyBytes: 1024 };

function parse(chunks: Buffer[], version: StompVersion = '1.2', parserLimits = limits): StompParseEvent[] {
  const parser = new StompParser(parserLimits);
  parser.version = version;
  const events: StompParseEvent[] = [];
  for (const chunk of chunks) parser.push(chunk, (event) => events.push(event));
  return events;
}

const frames = (events: StompParseEvent[]): StompFrame[] =>
  events.flatMap((event) => (event.kind === 'frame' ? [event.frame] : []));
const errors = (events: StompParseEvent[]): string[] =>
  events.flatMap((event) => (event.kind === 'error' ? [event.message] : []));

test('a frame with a NUL-terminated body, one with content-length and NULs inside, heart-beats between', (t) => {
  const wire = Buffer.concat([
    Buffer.from('\n\r\nSEND\ndestination:/topic/a.b\n\nhello\0\n'),
    Buffer.from('SEND\r\ncontent-length:3\r\ncontent-type:application/octet-stream\r\n\r\n'),
    Buffer.from([0, 1, 0]),
    Buffer.from([0]),
    Buffer.from('DISCONNECT\nreceipt:7\n\n\0'),
  ]);
  const events = parse([wire]);
  t.deepEqual(errors(events), []);
  t.is(events.filter((event) => event.kind === 'heartbeat').length, 3);
  const [send, binary, disconnect] = frames(events);
  t.deepEqual(send, { command: 'SEND', headers: [['destination', '/topic/a.b']], body: Buffer.from('hello') });
  t.deepEqual(binary!.body, Buffer.from([0, 1, 0]));
  t.deepEqual(binary!.headers, [
    ['content-length', '3'],
    ['content-type', 'application/octet-stream'],
  ]);
  t.deepEqual(disconnect, { command: 'DISCONNECT', headers: [['receipt', '7']], body: Buffer.alloc(0) });
});

test('header escapes: 1.2 has \\r, 1.1 does not, 1.0 and CONNECT have none', (t) => {
  const frame = Buffer.from('SEND\nde\\cst:a\\nb\\\\c\\cd\n\n\0');
  t.deepEqual(frames(parse([frame], '1.1'))[0]!.headers, [['de:st', 'a\nb\\c:d']]);
  t.deepEqual(frames(parse([frame], '1.0'))[0]!.headers, [['de\\cst', 'a\\nb\\\\c\\cd']]);
  t.deepEqual(frames(parse([Buffer.from('CONNECT\npasscode:a\\cb\n\n\0')], '1.2'))[0]!.headers, [
    ['passcode', 'a\\cb'],
  ]);
  t.deepEqual(frames(parse([Buffer.from('SEND\nx:a\\rb\n\n\0')], '1.2'))[0]!.headers, [['x', 'a\rb']]);
  t.regex(errors(parse([Buffer.from('SEND\nx:a\\rb\n\n\0')], '1.1'))[0]!, /escape/);
  t.regex(errors(parse([Buffer.from('SEND\nx:a\\tb\n\n\0')], '1.2'))[0]!, /escape/);
  t.is(escapeHeader('a:b\\c\nd\re', 'SEND', '1.2'), 'a\\cb\\\\c\\nd\\re');
  t.is(escapeHeader('a:b\\c\nd\re', 'SEND', '1.1'), 'a\\cb\\\\c\\nd e');
  t.is(escapeHeader('a:b\nc', 'SEND', '1.0'), 'a:b c');
  t.is(escapeHeader('a:b', 'CONNECTED', '1.2'), 'a:b');
});

test('strictness: malformed commands and headers, a missing NUL, oversize frames', (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['lower-case command', Buffer.from('send\n\n\0'), /command/],
    ['binary command', Buffer.from([0x01, 0x0a, 0x0a, 0x00]), /command/],
    ['header without colon', Buffer.from('SEND\ndestination\n\n\0'), /no colon/],
    ['header with empty name', Buffer.from('SEND\n:x\n\n\0'), /empty name/],
    ['header not UTF-8', Buffer.concat([Buffer.from('SEND\nx:'), Buffer.from([0xff]), Buffer.from('\n\n\0')]), /UTF-8/],
    ['bad content-length', Buffer.from('SEND\ncontent-length:-1\n\n\0'), /content-length/],
    ['body longer than content-length', Buffer.from('SEND\ncontent-length:1\n\nab\0'), /NUL/],
    ['content-length over the limit', Buffer.from('SEND\ncontent-length:1025\n\n'), /over 1024/],
    ['no NUL within the limit', Buffer.from(`SEND\n\n${'x'.repeat(1025)}`), /over 1024.*NUL/],
    ['headers over the limit', Buffer.from(`SEND\nx:${'y'.repeat(5000)}`), /headers are over/],
    ['too many headers', Buffer.from(`SEND\n${'a:b\n'.repeat(33)}\n\0`), /more than 32/],
    ['stray CR', Buffer.from('\rSEND\n\n\0'), /CR/],
  ];
  for (const [name, wire, expected] of cases) {
    const events = parse([wire]);
    t.is(frames(events).length, 0, name);
    t.is(errors(events).length, 1, name);
    t.regex(errors(events)[0]!, expected, name);
  }
  // The first violation stops the parser: nothing after it is reported.
  t.deepEqual(
    parse([Buffer.from('bad\n\n\0SEND\n\n\0')]).map((event) => event.kind),
    ['error'],
  );
});

// ── Properties ───────────────────────────────────────────────────────────────

const command = fc.constantFrom('SEND', 'SUBSCRIBE', 'MESSAGE', 'UNSUBSCRIBE', 'ERROR', 'RECEIPT');
const headerText = fc.string({
  unit: fc.constantFrom('a', 'b', ':', '\\', '\n', '\r', 'é', '-', '1'),
  minLength: 1,
  maxLength: 12,
});
const frame = fc.record({
  command,
  headers: fc.array(
    fc.tuple(headerText, headerText).filter(([name]) => name !== 'content-length'),
    { maxLength: 5 },
  ),
  body: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
});

test('property: frames round-trip through serialise and parse, in one chunk or split at any byte', (t) => {
  fc.assert(
    fc.property(
      fc.array(frame, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.nat({ max: 3 }),
      (sent, cuts, heartbeats) => {
        const wire = Buffer.concat(
          sent.flatMap((f) => [
            serializeFrame(f.command, f.headers, f.body, '1.2'),
            Buffer.from('\n'.repeat(heartbeats)),
          ]),
        );
        const points = [...new Set(cuts.map((cut) => cut % (wire.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((start, i) => wire.subarray(start, [...points, wire.length][i]));
        const got = frames(parse(chunks, '1.2'));
        t.deepEqual(
          got.map((f) => ({
            command: f.command,
            headers: f.headers.filter(([name]) => name !== 'content-length'),
            body: f.body,
          })),
          sent,
        );
      },
    ),
    { seed: 42, numRuns: 400 },
  );
});

test('property: a frame split at every byte boundary parses the same', (t) => {
  const wire = Buffer.concat([
    serializeFrame(
      'SEND',
      [
        ['destination', '/topic/a:b'],
        ['receipt', 'r\n1'],
      ],
      Buffer.from([0, 0xff, 0, 10]),
      '1.2',
    ),
    Buffer.from('\r\n\n'),
    Buffer.from('SUBSCRIBE\nid:1\ndestination:/topic/x.>\n\n\0'),
  ]);
  const whole = parse([wire]);
  for (let cut = 0; cut <= wire.length; cut++)
    t.deepEqual(parse([wire.subarray(0, cut), wire.subarray(cut)]), whole, `cut at ${cut}`);
  t.deepEqual(parse([...wire].map((byte) => Buffer.from([byte]))), whole);
});

test('property: random bytes never throw; every input ends in frames, heart-beats or one error', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 5 }), (chunks) => {
      const events = parse(
        chunks.map((bytes) => Buffer.from(bytes)),
        '1.2',
        { maxHeaderBytes: 64, maxHeaders: 4, maxBodyBytes: 32 },
      );
      t.true(errors(events).length <= 1);
      if (errors(events).length === 1) t.is(events.at(-1)!.kind, 'error');
    }),
    { seed: 42, numRuns: 2000 },
  );
});
