// A load generator process: holds subscriber sockets to one candidate (up to ~19k per process, from one source
// address) and counts what they receive; or, for the churn scenario, keeps connecting and disconnecting clients.

import { RawWsClient } from './raw-ws-client.js';
import { wires, type CandidateKind } from './wires.js';

export interface LoadSpec {
  kind: CandidateKind;
  /** ws://host:port of the server the clients connect to. */
  url: string;
  topic: string;
  /** hold: open `count` subscribers and keep them; churn: keep `count` connected, replacing `churnPerSecond` of them each second. */
  mode: 'hold' | 'churn';
  count: number;
  localAddress: string;
  churnPerSecond?: number;
}

export interface LoadCounts {
  frames: number;
  bytes: number;
  open: number;
  /** Clients that connected and subscribed (churn: in all). */
  subscribed: number;
}

const spec = JSON.parse(process.argv[2]!) as LoadSpec;
const wire = wires[spec.kind];
const target = new URL(spec.url);
const clients = new Set<RawWsClient>();
let subscribed = 0;
let framesOfClosed = 0;
let bytesOfClosed = 0;

async function openSubscriber(): Promise<RawWsClient> {
  const client = await RawWsClient.connect({
    host: target.hostname,
    port: Number(target.port),
    path: wire.subscriberPath,
    protocol: wire.protocol,
    localAddress: spec.localAddress,
    stream: wire.stream,
  });
  await client.setup(wire.subscribe(spec.topic));
  clients.add(client);
  subscribed++;
  return client;
}

function closeClient(client: RawWsClient): void {
  clients.delete(client);
  framesOfClosed += client.frames;
  bytesOfClosed += client.bytes;
  client.close();
}

async function openMany(count: number): Promise<void> {
  const batch = 250;
  for (let opened = 0; opened < count; opened += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - opened) }, openSubscriber));
  }
}

function counts(): LoadCounts {
  let frames = framesOfClosed;
  let bytes = bytesOfClosed;
  for (const client of clients) {
    frames += client.frames;
    bytes += client.bytes;
  }
  return { frames, bytes, open: clients.size, subscribed };
}

let churning: NodeJS.Timeout | undefined;
await openMany(spec.count);
if (spec.mode === 'churn') {
  // Every tick: close the oldest few and open as many new ones.
  const perTick = Math.max(1, Math.round((spec.churnPerSecond ?? 100) / 10));
  churning = setInterval(() => {
    const oldest = [...clients].slice(0, perTick);
    for (const client of oldest) closeClient(client);
    void openMany(oldest.length).catch((error: Error) => process.send!({ failed: error.message }));
  }, 100);
}
process.send!({ ready: counts() });
process.on('message', (message) => {
  if (message === 'count') process.send!({ counts: counts() });
  if (message === 'stop-churn') {
    clearInterval(churning);
    process.send!({ stopped: counts() });
  }
});
process.on('disconnect', () => {
  clearInterval(churning);
  for (const client of clients) client.close();
  process.exit(0);
});
