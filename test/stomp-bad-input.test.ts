// STOMP clients that break the protocol get ERROR (with a message header) and a close, counted in metrics, without
// disturbing anyone else; unsupported features (transactions, ack modes) are refused plainly; frame limits hold.

import test from 'ava';
import { pack } from 'msgpackr';
import { startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { RawStomp, connectStomp, header } from './helpers/stomp.js';
import { within } from './helpers/within.js';

const refusals: Array<{ title: string; connect: boolean; wire: Buffer; message: RegExp; code: number }> = [
  {
    title: 'a malformed frame',
    connect: true,
    wire: Buffer.from('SEND\ndestination /topic/a\n\nx\0'),
    message: /malformed header/,
    code: 4400,
  },
  {
    title: 'an unknown command',
    connect: true,
    wire: Buffer.from('PUBLISH\n\n\0'),
    message: /unknown command PUBLISH/,
    code: 4400,
  },
  {
    title: 'a frame before CONNECT',
    connect: false,
    wire: Buffer.from('SEND\ndestination:/topic/a\n\nx\0'),
    message: /CONNECT must come first/,
    code: 4400,
  },
  {
    title: 'a second CONNECT',
    connect: true,
    wire: Buffer.from('CONNECT\naccept-version:1.2\n\n\0'),
    message: /connected session/,
    code: 4400,
  },
  {
    title: 'an unsupported version',
    connect: false,
    wire: Buffer.from('CONNECT\naccept-version:2.0\n\n\0'),
    message: /versions are 1.0, 1.1 and 1.2/,
    code: 4400,
  },
  {
    title: 'a malformed heart-beat',
    connect: false,
    wire: Buffer.from('CONNECT\naccept-version:1.2\nheart-beat:soon\n\n\0'),
    message: /heart-beat/,
    code: 4400,
  },
  {
    title: 'an undefined escape',
    connect: true,
    wire: Buffer.from('SEND\ndestination:/topic/a\\t\n\nx\0'),
    message: /escape/,
    code: 4400,
  },
  {
    title: 'a transaction',
    connect: true,
    wire: Buffer.from('BEGIN\ntransaction:tx1\n\n\0'),
    message: /transactions are not supported/,
    code: 4400,
  },
  {
    title: 'a SEND in a transaction',
    connect: true,
    wire: Buffer.from('SEND\ndestination:/topic/a\ntransaction:tx1\n\nx\0'),
    message: /transactions are not supported/,
    code: 4400,
  },
  {
    title: 'ack:client',
    connect: true,
    wire: Buffer.from('SUBSCRIBE\nid:1\ndestination:/topic/a\nack:client\n\n\0'),
    message: /ack:client is not supported/,
    code: 4400,
  },
  { title: 'an ACK', connect: true, wire: Buffer.from('ACK\nid:1\n\n\0'), message: /ACK is not supported/, code: 4400 },
  {
    title: 'a destination outside /topic/',
    connect: true,
    wire: Buffer.from('SEND\ndestination:/queue/a\n\nx\0'),
    message: /destinations are \/topic\//,
    code: 4400,
  },
  {
    title: 'an invalid topic',
    connect: true,
    wire: Buffer.from('SEND\ndestination:/topic/a..b\n\nx\0'),
    message: /topic/,
    code: 4400,
  },
  {
    title: 'a JSON body that is not JSON',
    connect: true,
    wire: Buffer.from('SEND\ndestination:/topic/a\ncontent-type:application/json\n\n{nope\0'),
    message: /not valid JSON/,
    code: 4400,
  },
  {
    title: 'a SUBSCRIBE without an id',
    connect: true,
    wire: Buffer.from('SUBSCRIBE\ndestination:/topic/a\n\n\0'),
    message: /needs an id/,
    code: 4400,
  },
  {
    title: 'an UNSUBSCRIBE of nothing',
    connect: true,
    wire: Buffer.from('UNSUBSCRIBE\nid:9\n\n\0'),
    message: /no subscription with id 9/,
    code: 4400,
  },
  {
    title: 'a bad relaymesh-since',
    connect: true,
    wire: Buffer.from('SUBSCRIBE\nid:1\ndestination:/topic/a\nrelaymesh-since:yesterday\n\n\0'),
    message: /relaymesh-since/,
    code: 4400,
  },
];

test('every violation gets ERROR with a message header and a close; bystanders are undisturbed', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  const bystander = await connectStomp(t, edge.url);
  const watched = await bystander.subscribe('/topic/calm.topic');
  const native = await RawClient.connected(t, edge.url);
  await native.subscribe('calm.topic', 1);

  for (const [i, refusal] of refusals.entries()) {
    const raw = refusal.connect ? await RawStomp.connected(t, edge.url) : await RawStomp.open(t, edge.url);
    raw.ws.send(refusal.wire);
    const error = await raw.next((frame) => frame.command === 'ERROR', `ERROR for ${refusal.title}`);
    t.regex(header(error, 'message')!, refusal.message, refusal.title);
    t.is(error.body.toString(), header(error, 'message') ?? '', refusal.title);
    t.is((await within(raw.closed, 'close')).code, refusal.code, refusal.title);

    await bystander.publish('/topic/calm.topic', `still here ${i}`);
    t.is((await watched.messages.until(i + 1))[i]!.body, `still here ${i}`);
    t.is((await native.next((op) => op.op === 'msg')).data, `still here ${i}`);
  }
});

test('protocol errors are counted by protocol; connections are counted by protocol', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  const raw = await RawStomp.open(t, edge.url, 'v11.stomp');
  raw.ws.send('nonsense\n\n\0');
  await within(raw.closed, 'close');
  await RawClient.connected(t, edge.url);
  const text = await edge.metrics.registry.metrics();
  t.regex(text, /relaymesh_edge_protocol_errors_total\{protocol="stomp",[^}]*\} 1/);
  t.regex(text, /relaymesh_edge_connections_total\{transport="websocket",protocol="stomp",[^}]*\} 1/);
  t.regex(text, /relaymesh_edge_connections_total\{transport="websocket",protocol="native",[^}]*\} 1/);
});

test('frames over the size limit close with ERROR, even when they span WebSocket messages', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { maxMessageBytes: 1024 } },
  });
  const edge = mesh.edges[0]!;
  const withLength = await RawStomp.connected(t, edge.url);
  withLength.ws.send('SEND\ndestination:/topic/a\ncontent-length:2000\n\n');
  t.regex(header(await withLength.next((frame) => frame.command === 'ERROR'), 'message')!, /over 1024 bytes/);
  await within(withLength.closed, 'close');

  const withoutNul = await RawStomp.connected(t, edge.url);
  for (let i = 0; i < 3; i++)
    withoutNul.ws.send(i === 0 ? `SEND\ndestination:/topic/a\n\n${'x'.repeat(500)}` : 'x'.repeat(500));
  t.regex(
    header(await withoutNul.next((frame) => frame.command === 'ERROR'), 'message')!,
    /over 1024 bytes \(or its NUL is missing\)/,
  );
  await within(withoutNul.closed, 'close');

  // Before CONNECT a stranger gets the small pre-connect room, not the whole limit.
  const stranger = await RawStomp.open(t, edge.url);
  stranger.ws.send(`CONNECT\naccept-version:1.2\nx:${'y'.repeat(800)}`);
  for (let i = 0; i < 5; i++) stranger.ws.send('y'.repeat(800));
  t.regex(header(await stranger.next((frame) => frame.command === 'ERROR'), 'message')!, /headers are over 4096 bytes/);
});

test('a frame split across WebSocket messages, several frames in one, heart-beats between: all understood', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const raw = await RawStomp.open(t, mesh.edges[0]!.url);
  const wire = Buffer.from(
    '\nCONNECT\naccept-version:1.1,1.2\n\n\0\r\nSUBSCRIBE\nid:s\ndestination:/topic/a.b\nreceipt:1\n\n\0\nSEND\ndestination:/topic/a.b\ncontent-type:application/octet-stream\ncontent-length:3\n\n\0\0\0\0',
  );
  for (let i = 0; i < wire.length; i += 7) raw.ws.send(wire.subarray(i, i + 7));
  const message = await raw.next((frame) => frame.command === 'MESSAGE');
  t.deepEqual(message.body, Buffer.from([0, 0, 0]));
  t.is(header(message, 'content-type'), 'application/octet-stream');
  t.deepEqual(
    raw.frames.map((frame) => frame.command),
    ['CONNECTED', 'RECEIPT', 'MESSAGE'],
  );
  // A native msgpack frame on a STOMP socket is just a malformed STOMP frame (once its line ends).
  raw.ws.send(Buffer.concat([pack({ op: 'ping' }), Buffer.from('\n')]));
  await raw.next((frame) => frame.command === 'ERROR');
});

test('STOMP 1.0 and 1.1 clients: CONNECT without accept-version is 1.0; 1.1 escapes headers without \\r', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  const old = await RawStomp.open(t, edge.url, 'v10.stomp');
  old.send('CONNECT', [['login', 'x']]);
  t.is(header(await old.next((frame) => frame.command === 'CONNECTED'), 'version'), '1.0');
  old.ws.send('SUBSCRIBE\ndestination:/topic/old.school\nreceipt:r\n\n\0');
  await old.next((frame) => frame.command === 'RECEIPT');
  old.ws.send('SEND\ndestination:/topic/old.school\n\nplain\0');
  const message = await old.next((frame) => frame.command === 'MESSAGE');
  t.is(header(message, 'subscription'), '/topic/old.school');
  t.is(message.body.toString(), 'plain');
  old.ws.send('UNSUBSCRIBE\ndestination:/topic/old.school\nreceipt:u\n\n\0');
  await old.next((frame) => header(frame, 'receipt-id') === 'u');

  const middle = await RawStomp.open(t, edge.url, 'v11.stomp');
  middle.ws.send('CONNECT\naccept-version:1.0,1.1\n\n\0');
  t.is(header(await middle.next((frame) => frame.command === 'CONNECTED'), 'version'), '1.1');
  middle.ws.send('SUBSCRIBE\nid:a\\cb\ndestination:/topic/mid.x\nreceipt:r\n\n\0');
  await middle.next((frame) => frame.command === 'RECEIPT');
  middle.ws.send('SEND\ndestination:/topic/mid.x\n\nhi\0');
  const got = await middle.next((frame) => frame.command === 'MESSAGE');
  // Our test parser reads 1.2 escapes, a superset of 1.1's: the id comes back escaped and unescaped to a:b.
  t.is(header(got, 'subscription'), 'a:b');
});

test('heart-beats: negotiated in CONNECTED, EOLs sent at the period, a silent client dropped', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }], edge: { limits: { heartbeatMs: 1000 } } });
  const raw = await RawStomp.connected(t, mesh.edges[0]!.url, [['heart-beat', '100,200']]);
  t.is(header(raw.frames[0]!, 'heart-beat'), '1000,1000');
  await raw.heartbeatsReach(2);
  // It promised a heart-beat every max(100, 1000) ms and sends nothing: dropped after two silent periods.
  const closed = await within(raw.closed, 'close of a silent client');
  t.is(closed.code, 1001);
  const error = raw.frames.find((frame) => frame.command === 'ERROR');
  t.regex(header(error!, 'message')!, /no heart-beat/);
});

test('a pending SEND is answered before the DISCONNECT receipt', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const raw = await RawStomp.connected(t, mesh.edges[0]!.url);
  raw.ws.send('SEND\ndestination:/topic/d.x\nreceipt:s1\n\nlast words\0DISCONNECT\nreceipt:d1\n\n\0');
  await within(raw.closed, 'close after DISCONNECT');
  t.deepEqual(
    raw.frames.map((frame) => [frame.command, header(frame, 'receipt-id')]),
    [
      ['CONNECTED', undefined],
      ['RECEIPT', 's1'],
      ['RECEIPT', 'd1'],
    ],
  );
});
