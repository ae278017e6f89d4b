// Attack 2, stalled uplink: a fake edge (the core is open: any id may dial in) subscribes to a topic and stops
// reading, while big messages are published to that topic as fast as the core answers. It keeps sending status
// frames, which must not pass for liveness. When the core drops it, another fake edge takes its place.

import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { decodeCoreFrames, encodeFrame } from '../shared/codec.js';
import { frameType, protocolVersion, uplinkPath, type CoreFrame } from '../shared/protocol.js';
import { httpJson } from './attack-http.js';
import { httpOf, pause, type Attack, type AttackContext } from './attack-context.js';

export const floodTopic = 'flood.t';
const floodBytes = 100 * 1024;
/** Publishing loops, each one request at a time: "as fast as the core answers", with a few in parallel. */
const publishers = 4;
const statusEveryMs = 100;

export const stallAttack: Attack = async (context) => {
  await Promise.all([fakeEdges(context), ...Array.from({ length: publishers }, () => flood(context))]);
};

async function fakeEdges(context: AttackContext): Promise<void> {
  for (let n = 1; !context.signal.aborted; n++) {
    try {
      await fakeEdge(context, `fake-${n}-${randomBytes(3).toString('hex')}`);
    } catch (error) {
      context.counts.add(`fake edge failed: ${(error as Error).message}`);
    }
    await pause(200, context.signal);
  }
}

/** One fake edge, from its hello until the core drops it (or the attack ends). */
async function fakeEdge(context: AttackContext, id: string): Promise<void> {
  const { signal, counts } = context;
  const ws = new WebSocket(`${context.coreUrl}${uplinkPath}`, { perMessageDeflate: false });
  ws.binaryType = 'nodebuffer';
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const stop = (): void => ws.terminate();
  signal.addEventListener('abort', stop, { once: true });
  let status: NodeJS.Timeout | undefined;
  try {
    const frames: CoreFrame[] = [];
    const subscribed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no subok within 10 s')), 10_000);
      ws.on('message', (data: Buffer) => {
        try {
          frames.push(...decodeCoreFrames(data));
        } catch (error) {
          reject(error as Error);
        }
        if (frames.some((frame) => frame[0] === frameType.subok || frame[0] === frameType.error)) {
          clearTimeout(timer);
          resolve();
        }
      });
      void closed.then((code) => reject(new Error(`closed ${code} before subok`)));
    });
    // Awaited below, once the socket is open; a close before that must not count as an unhandled rejection.
    subscribed.catch(() => {});
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      void closed.then((code) => reject(new Error(`closed ${code} before open`)));
    });
    ws.send(
      Buffer.concat([
        encodeFrame([frameType.hello, protocolVersion, id, 'eu', randomBytes(8).toString('base64url'), '']),
        encodeFrame([frameType.sub, 1, floodTopic, null]),
      ]),
    );
    await subscribed;
    if (frames.some((frame) => frame[0] === frameType.error)) throw new Error('sub refused');
    // From here on nothing is read: the core's queue for this edge can only grow, and pings go unanswered.
    ws.pause();
    const stalledAt = performance.now();
    counts.add('fake edges stalled');
    const statusFrame = encodeFrame([frameType.edgeStatus, ['ws://127.0.0.1:1', false, 0, 100, 0, 0, 0, 0]]);
    // Writing is also how a socket that reads nothing learns it was dropped: the core's kernel answers with a reset.
    status = setInterval(() => ws.send(statusFrame, () => {}), statusEveryMs);
    const code = await closed;
    if (signal.aborted) return;
    counts.add(`fake edges dropped by the core (close ${code})`);
    counts.max('longest stall before the drop (ms)', performance.now() - stalledAt);
  } finally {
    clearInterval(status);
    signal.removeEventListener('abort', stop);
    ws.terminate();
  }
}

async function flood(context: AttackContext): Promise<void> {
  const body = JSON.stringify({ topic: floodTopic, data: 'f'.repeat(floodBytes) });
  const url = `${httpOf(context.coreUrl)}/v1/publish`;
  while (!context.signal.aborted) {
    try {
      const answer = await httpJson('POST', url, body);
      context.counts.add(`flood publish ${answer.status}`);
      if (answer.status !== 200) await pause(10, context.signal);
    } catch {
      context.counts.add('flood publish failed');
      await pause(50, context.signal);
    }
  }
}
