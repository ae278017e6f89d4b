// The interest digest on both ends of an uplink: the core answers a digest that differs from what it routes to the
// edge with its set (and counts it), and an edge repairs from that set; each side tested against a fake peer
// that speaks real uplink frames over a real WebSocket.

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import WebSocket, { WebSocketServer } from 'ws';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge } from '../edge/start-edge.js';
import { decodeCoreFrames, decodeEdgeFrames, encodeFrame, packValue } from '../shared/codec.js';
import { InterestDigest, type DigestValue } from '../shared/interest-digest.js';
import { frameType, protocolVersion, uplinkPath, type UplinkFrame } from '../shared/protocol.js';
import { silentLogger } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';

const DEADLINE_MS = 10_000;

/** One end of an uplink spoken by hand: sends frames (several in one message, as nodes batch them) and records every frame received. */
class FramePeer {
  readonly frames: UplinkFrame[] = [];
  private readonly waiters = new Set<() => void>();

  /** `decode` takes what the other end sends (a core's frames for a fake edge); `onFrame` sees each frame as it arrives, to answer it. */
  constructor(
    readonly ws: WebSocket,
    decode: (data: Buffer) => UplinkFrame[],
    onFrame?: (frame: UplinkFrame, peer: FramePeer) => void,
  ) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => {
      for (const frame of decode(data)) {
        this.frames.push(frame);
        onFrame?.(frame, this);
      }
      for (const wake of [...this.waiters]) wake();
    });
  }

  static async dial(t: ExecutionContext, url: string): Promise<FramePeer> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    t.teardown(() => ws.terminate());
    const peer = new FramePeer(ws, decodeCoreFrames);
    await once(ws, 'open');
    return peer;
  }

  send(...frames: UplinkFrame[]): void {
    this.ws.send(Buffer.concat(frames.map((frame) => encodeFrame(frame))));
  }

  /** The first frame at index `from` or later that matches, with its index, once it has arrived. */
  find(match: (frame: UplinkFrame) => boolean, from = 0): Promise<{ frame: UplinkFrame; index: number }> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let index = from; index < this.frames.length; index++) {
          const frame = this.frames[index]!;
          if (!match(frame)) continue;
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve({ frame, index });
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(`no matching frame within ${DEADLINE_MS} ms; received ${JSON.stringify(this.frames.slice(-8))}`),
        );
      }, DEADLINE_MS);
      if (!check()) this.waiters.add(check);
    });
  }
}

function digestOf(...subscriptions: string[]): DigestValue {
  const digest = new InterestDigest();
  for (const subscription of subscriptions) digest.add(subscription);
  return digest.value;
}

const isType =
  (type: number) =>
  (frame: UplinkFrame): boolean =>
    frame[0] === type;

/** The core's `relaymesh_core_digest_mismatches_total` for one edge, read from its /metrics page. */
async function mismatchesCounted(core: CoreHandle, edgeId: string): Promise<number> {
  const text = await (await fetch(`${core.url.replace(/^ws/, 'http')}/metrics`)).text();
  const line = text
    .split('\n')
    .find((row) => row.startsWith('relaymesh_core_digest_mismatches_total{') && row.includes(`edge="${edgeId}"`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test("core: a matching digest goes unanswered; a differing one is answered with the core's set and counted", async (t) => {
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const edge = await FramePeer.dial(t, `${core.url}${uplinkPath}`);

  edge.send(
    [frameType.hello, protocolVersion, 'fake-edge', 'eu', 'fake-instance', ''],
    [frameType.sub, 1, 'a.b', null],
    [frameType.sub, 2, 'c.*', null],
    [frameType.digest, ...digestOf('a.b', 'c.*')],
  );
  // Frames are answered in order, so the answer to a later `sub` comes after any answer to the digest.
  edge.send([frameType.sub, 3, 'e.f', null]);
  const { index: barrier } = await edge.find((frame) => frame[0] === frameType.subok && frame[1] === 3);
  t.deepEqual(edge.frames[0], [frameType.welcome, 'central']);
  t.deepEqual(edge.frames.slice(0, barrier).filter(isType(frameType.digestMismatch)), []);
  t.is(await mismatchesCounted(core, 'fake-edge'), 0);

  // This edge forgot `e.f`: the core says what it routes to the edge.
  edge.send([frameType.digest, ...digestOf('a.b', 'c.*')]);
  const { frame: mismatch } = await edge.find(isType(frameType.digestMismatch), barrier + 1);
  t.is(mismatch.length, 2);
  t.deepEqual([...(mismatch[1] as string[])].sort(), ['a.b', 'c.*', 'e.f']);
  t.is(await mismatchesCounted(core, 'fake-edge'), 1);

  // Once both sides agree again, a digest is not answered (proved by the answer to a later `sub` coming first).
  edge.send([frameType.digest, ...digestOf('a.b', 'c.*', 'e.f')], [frameType.sub, 4, 'g.h', null]);
  const { index: secondBarrier } = await edge.find((frame) => frame[0] === frameType.subok && frame[1] === 4);
  t.is(edge.frames.filter(isType(frameType.digestMismatch)).length, 1);
  t.true(secondBarrier > barrier);
  t.is(await mismatchesCounted(core, 'fake-edge'), 1);
});

/** A core played by hand: welcomes the edge and answers every `sub` as a core whose streams are all at ('E', 0) would. */
async function startFakeCore(t: ExecutionContext): Promise<{ url: string; connection: Promise<FramePeer> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: uplinkPath, perMessageDeflate: false });
  t.teardown(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });
  await once(wss, 'listening');
  const connection = new Promise<FramePeer>((resolve) => {
    wss.once('connection', (ws) => {
      resolve(
        new FramePeer(ws, decodeEdgeFrames, (frame, peer) => {
          if (frame[0] === frameType.hello) peer.send([frameType.welcome, 'fake']);
          // As a real core would: a resubscription from ('E', 0) is recovered, with nothing to replay.
          if (frame[0] === frameType.sub) peer.send([frameType.subok, frame[1], 'E', 0, frame[3]?.[0] === 'E']);
        }),
      );
    });
  });
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, connection };
}

const describe = (frame: UplinkFrame): string =>
  JSON.stringify(frame[0] === frameType.sub ? [frame[0], frame[2], frame[3]] : frame);

test("edge: sends the digest of its interest periodically, and repairs from the core's set on a mismatch", async (t) => {
  const fakeCore = await startFakeCore(t);
  const edge = await startEdge({
    id: 'e1',
    region: 'eu',
    cores: [{ id: 'fake', url: fakeCore.url }],
    uplink: { digestMs: 100, heartbeatMs: 60_000 },
    logger: silentLogger,
  });
  t.teardown(() => edge.close());
  await edge.ready();
  const core = await fakeCore.connection;
  t.deepEqual(core.frames[0]?.slice(0, 4), [frameType.hello, protocolVersion, 'e1', 'eu']);

  const client = await RawClient.connected(t, edge.url);
  t.like(await client.subscribe('x.y', 1), { op: 'subok', topic: 'x.y', epoch: 'E', offset: 0, recovered: false });
  t.like(await client.subscribe('p.*', 2), { op: 'subok', topic: 'p.*', recovered: false });
  const { index: subscribed } = await core.find((frame) => frame[0] === frameType.sub && frame[2] === 'p.*');

  // Every digest sent after the last `sub` covers both subscriptions.
  const expected = [frameType.digest, ...digestOf('x.y', 'p.*')];
  const first = await core.find(isType(frameType.digest), subscribed + 1);
  t.deepEqual(first.frame, expected);
  const second = await core.find(isType(frameType.digest), first.index + 1);
  t.deepEqual(second.frame, expected);

  // The core routes something nobody here wants, and lacks what the edge holds.
  const mark = core.frames.length;
  core.send([frameType.digestMismatch, ['phantom.topic']]);
  await core.find((frame) => frame[0] === frameType.unsub && frame[1] === 'phantom.topic', mark);
  await core.find((frame) => frame[0] === frameType.sub && frame[2] === 'x.y', mark);
  await core.find((frame) => frame[0] === frameType.sub && frame[2] === 'p.*', mark);
  const repair = core.frames
    .slice(mark)
    .filter((frame) => frame[0] !== frameType.digest)
    .map(describe)
    .sort();
  t.deepEqual(
    repair,
    [
      [frameType.sub, 'x.y', ['E', 0]],
      [frameType.sub, 'p.*', null],
      [frameType.unsub, 'phantom.topic'],
    ]
      .map((frame) => JSON.stringify(frame))
      .sort(),
  );

  // The fake core answered those `sub`s; messages after the answers reach the client once each.
  core.send(
    [frameType.msg, 'x.y', 'E', 1, packValue('hi')],
    [frameType.msg, 'p.q', 'E', 1, packValue('by pattern')],
    [frameType.msg, 'x.y', 'E', 2, packValue('marker')],
  );
  const messages = await client.messages(3);
  t.deepEqual(
    messages.map((op) => [op.topic, op.epoch, op.offset, op.data]),
    [
      ['x.y', 'E', 1, 'hi'],
      ['p.q', 'E', 1, 'by pattern'],
      ['x.y', 'E', 2, 'marker'],
    ],
  );
  t.deepEqual(
    client.received.filter((op) => op.op === 'reset' || op.op === 'error'),
    [],
  );

  // The repair changed nothing the edge holds: its digest is the same.
  const afterRepair = await core.find(isType(frameType.digest), core.frames.length);
  t.deepEqual(afterRepair.frame, expected);
});
