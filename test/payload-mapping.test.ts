// The one mapping between STOMP/MQTT bodies and relaymesh `data`: JSON stays JSON, text stays text, binary stays binary.

import test from 'ava';
import fc from 'fast-check';
import { packValue, unpackValue } from '../shared/codec.js';
import { EncodedMessage } from '../edge/encoded-message.js';
import { bodyToData, contentTypes, dataToBody, payloadBody } from '../edge/payload-mapping.js';

const bytes = (text: string): Buffer => Buffer.from(text);

test('a body with a content type maps by it', (t) => {
  t.deepEqual(bodyToData(bytes('{"a":[1,2]}'), 'application/json', 'text-or-binary'), { a: [1, 2] });
  t.deepEqual(bodyToData(bytes('42'), 'application/json;charset=utf-8', 'text-or-binary'), 42);
  t.deepEqual(bodyToData(bytes('{"x":1}'), 'application/vnd.api+json', 'text-or-binary'), { x: 1 });
  t.is(bodyToData(bytes('42'), 'text/plain', 'json-text-or-binary'), '42');
  t.is(bodyToData(bytes('héllo'), 'TEXT/plain; charset=UTF-8', 'text-or-binary'), 'héllo');
  t.deepEqual(
    bodyToData(Buffer.from([0xe9]), 'text/plain;charset=iso-8859-1', 'text-or-binary'),
    new Uint8Array([0xe9]),
  );
  t.deepEqual(
    bodyToData(bytes('{"a":1}'), 'application/octet-stream', 'json-text-or-binary'),
    new Uint8Array(bytes('{"a":1}')),
  );
  t.deepEqual(bodyToData(Buffer.from([0, 1, 0]), 'image/png', 'text-or-binary'), new Uint8Array([0, 1, 0]));
});

test('a body that contradicts its content type is a bad request', (t) => {
  t.throws(() => bodyToData(bytes('{nope'), 'application/json', 'text-or-binary'), { message: /not valid JSON/ });
  t.throws(() => bodyToData(Buffer.from([0xff, 0xfe]), 'application/json', 'text-or-binary'), { message: /UTF-8/ });
  t.throws(() => bodyToData(Buffer.from([0xff]), 'text/plain', 'text-or-binary'), { message: /UTF-8/ });
  const deep = '['.repeat(100) + ']'.repeat(100);
  t.throws(() => bodyToData(bytes(deep), 'application/json', 'text-or-binary'), { message: /nested/ });
});

test('a body without a content type is text or binary (STOMP), or JSON, text or binary (MQTT)', (t) => {
  t.is(bodyToData(bytes('{"a":1}'), undefined, 'text-or-binary'), '{"a":1}');
  t.deepEqual(bodyToData(bytes('{"a":1}'), undefined, 'json-text-or-binary'), { a: 1 });
  t.is(bodyToData(bytes('hello'), undefined, 'json-text-or-binary'), 'hello');
  t.is(bodyToData(bytes(''), undefined, 'json-text-or-binary'), '');
  t.deepEqual(bodyToData(Buffer.from([0xc3, 0x28]), undefined, 'text-or-binary'), new Uint8Array([0xc3, 0x28]));
  t.deepEqual(bodyToData(Buffer.from([0xc3, 0x28]), '', 'json-text-or-binary'), new Uint8Array([0xc3, 0x28]));
});

test('data maps to a body with its content type', (t) => {
  t.deepEqual(dataToBody({ a: 1 }), { body: bytes('{"a":1}'), contentType: contentTypes.json, text: true });
  t.deepEqual(dataToBody(null), { body: bytes('null'), contentType: contentTypes.json, text: true });
  t.deepEqual(dataToBody('hi'), { body: bytes('hi'), contentType: contentTypes.text, text: true });
  t.deepEqual(dataToBody(new Uint8Array([0, 255])), {
    body: Buffer.from([0, 255]),
    contentType: contentTypes.binary,
    text: false,
  });
  // Binary nested in JSON is base64, as native json clients see it.
  t.deepEqual(dataToBody({ b: new Uint8Array([1, 2]) }).body, bytes('{"b":"AQI="}'));
});

test('property: data → body → data is the identity for JSON values, strings and binary', (t) => {
  const json = fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown);
  const data = fc.oneof(
    json,
    fc.string({ unit: 'binary' }),
    fc.uint8Array({ maxLength: 64 }).map((b) => new Uint8Array(b)),
  );
  fc.assert(
    fc.property(data, (value) => {
      const { body, contentType } = dataToBody(value);
      const back = bodyToData(body, contentType, 'text-or-binary');
      t.deepEqual(value instanceof Uint8Array ? new Uint8Array(back as Uint8Array) : back, value);
    }),
    { seed: 42, numRuns: 500 },
  );
});

test('a fan-out message is decoded to its body once, however many subscribers', (t) => {
  const message = new EncodedMessage('a.b', 'e', 1, packValue({ n: 1 }));
  const first = message.encoded(payloadBody);
  t.is(message.encoded(payloadBody), first);
  t.deepEqual(unpackValue(packValue(JSON.parse(first.body.toString()))), { n: 1 });
  // A payload that does not decode reaches subscribers as its bytes instead of failing the fan-out.
  t.deepEqual(
    new EncodedMessage('a.b', 'e', 2, Buffer.from([0x92, 0x01])).encoded(payloadBody).contentType,
    contentTypes.binary,
  );
});
