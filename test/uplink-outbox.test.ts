// The uplink outbox (shared/uplink-outbox.ts) without a socket: control frames go at once, messages wait while the
// socket is over its low-water mark, bulk goes behind messages a chunk per turn, and bulk producers get room in turn.

import test from 'ava';
import { UplinkOutbox } from '../shared/uplink-outbox.js';

/** A socket stand-in: what was sent, how much it holds, and the `sent` callbacks the kernel would run. */
function fakeSocket() {
  const socket = {
    buffered: 0,
    messages: [] as string[][],
    pendingSent: [] as Array<() => void>,
    /** The kernel takes everything: the socket empties and every `sent` runs. */
    drain(): void {
      socket.buffered = 0;
      for (const sent of socket.pendingSent.splice(0)) sent();
    },
  };
  const outbox = new UplinkOutbox({
    send: (message, sent) => {
      socket.messages.push(message.toString().split('|').filter(Boolean));
      socket.buffered += message.length;
      socket.pendingSent.push(sent);
    },
    buffered: () => socket.buffered,
    lowWaterBytes: 100,
    bulkChunkBytes: 20,
  });
  return { socket, outbox };
}

const frame = (text: string): Buffer => Buffer.from(`${text}|`);
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('one message per turn, control first, then messages, then a chunk of bulk', async (t) => {
  const { socket, outbox } = fakeSocket();
  outbox.push(frame('bulk-1'), 'bulk');
  outbox.push(frame('msg-1'), 'message');
  outbox.push(frame('ctl-1'), 'control');
  outbox.push(frame('bulk-2'), 'bulk');
  outbox.push(frame('bulk-3'), 'bulk');
  outbox.push(frame('msg-2'), 'message');
  await turn();
  // 20 bytes of bulk per turn: two 7-byte frames.
  t.deepEqual(socket.messages, [['ctl-1', 'msg-1', 'msg-2', 'bulk-1', 'bulk-2']]);
  socket.drain();
  await turn();
  t.deepEqual(socket.messages[1], ['bulk-3']);
});

test('over the low-water mark only control frames go; the rest waits for the kernel, then follows in order', async (t) => {
  const { socket, outbox } = fakeSocket();
  outbox.push(frame('x'.repeat(150)), 'message');
  await turn();
  t.is(socket.messages.length, 1);
  outbox.push(frame('msg-a'), 'message');
  outbox.push(frame('ctl-a'), 'control');
  outbox.push(frame('bulk-a'), 'bulk');
  await turn();
  t.deepEqual(socket.messages[1], ['ctl-a']);
  t.true(outbox.pendingBytes >= 150 + 6 + 7 + 6, 'what waits is counted with what the socket holds');
  socket.drain();
  await turn();
  t.deepEqual(socket.messages[2], ['msg-a', 'bulk-a']);
});

test('bulk producers get room one at a time, only when no bulk waits and the socket is under its mark', async (t) => {
  const { socket, outbox } = fakeSocket();
  const served: string[] = [];
  const producer = async (name: string): Promise<void> => {
    for (let chunk = 1; chunk <= 2; chunk++) {
      await outbox.bulkRoom();
      served.push(`${name}${chunk}`);
      outbox.push(frame(`${name}${chunk}`.padEnd(30, '.')), 'bulk');
    }
  };
  const done = Promise.all([producer('a'), producer('b')]);
  for (let i = 0; i < 20 && served.length < 4; i++) {
    await turn();
    socket.drain();
  }
  await done;
  await turn();
  t.deepEqual(served, ['a1', 'b1', 'a2', 'b2'], 'in turn');
  t.deepEqual(
    socket.messages.flat().map((text) => text.replace(/\.+$/, '')),
    ['a1', 'b1', 'a2', 'b2'],
  );
});

test('a closed outbox sends nothing and never wakes a producer', async (t) => {
  const { socket, outbox } = fakeSocket();
  let woken = false;
  void outbox.bulkRoom().then(() => (woken = true));
  outbox.push(frame('msg'), 'message');
  outbox.close();
  outbox.push(frame('late'), 'control');
  await turn();
  await turn();
  t.deepEqual(socket.messages, []);
  t.false(woken);
  t.is(outbox.pendingBytes, 0);
});

test('hundreds of thousands of live frames at once (an edge reporting every member) go as several bounded messages', async (t) => {
  const sizes: number[] = [];
  const pending: Array<() => void> = [];
  const outbox = new UplinkOutbox({
    send: (message, sent) => {
      sizes.push(message.length);
      pending.push(sent);
    },
    buffered: () => 0,
  });
  const count = 300_000;
  for (let i = 0; i < count; i++) outbox.push(Buffer.alloc(56, 1), 'message');
  await turn();
  while (pending.length > 0) {
    pending.shift()!();
    await turn();
  }
  t.is(
    sizes.reduce((sum, size) => sum + size, 0),
    count * 56,
    'every frame sent once',
  );
  t.true(sizes.length > 1);
  t.true(Math.max(...sizes) <= 4 * 1024 * 1024, 'each message under the size a peer accepts');
});
