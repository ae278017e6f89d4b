// The fan-out benchmark: N subscribers on one server, M messages published with K in flight.
// Reports server CPU time per delivered message and deliveries per second, relaymesh against a naive `ws` server.

import WebSocket from 'ws';
import { forkBench } from './child.js';
import type { CandidateKind } from './server-process.js';

export interface FanoutScenario {
  subscribers: number;
  messages: number;
  inFlight: number;
  payloadBytes: number;
}

export interface FanoutResult extends FanoutScenario {
  candidate: CandidateKind;
  deliveries: number;
  cpuMicrosPerDelivery: number;
  deliveriesPerSecond: number;
  serverRssMiB: number;
}

const topic = 'bench.fanout';

export async function runFanout(candidate: CandidateKind, scenario: FanoutScenario): Promise<FanoutResult> {
  const server = forkBench('./server-process.ts', [candidate]);
  const load = { stop: () => {} } as { stop(): void };
  try {
    const { url } = await server.next<{ url: string }>('url');
    const loadChild = forkBench('./load-process.ts', [candidate, url, String(scenario.subscribers), topic]);
    load.stop = loadChild.stop;
    await loadChild.next('ready');
    const { publish, probe, close } = await openPublisher(candidate, url);
    const before = await server.ask<{ cpuMicros: number }>('cpu', 'cpuMicros');
    const started = performance.now();

    const pad = 'x'.repeat(Math.max(0, scenario.payloadBytes - 20));
    for (let seq = 1; seq <= scenario.messages; seq++) {
      await probe.until(seq - scenario.inFlight);
      publish(seq, pad);
    }
    const expected = scenario.subscribers * scenario.messages;
    const deadline = Date.now() + 120_000;
    let received = 0;
    while (received < expected) {
      if (Date.now() > deadline) throw new Error(`${candidate}: ${received} of ${expected} deliveries`);
      received = (await loadChild.ask<{ received: number }>('count', 'received')).received;
    }
    const elapsedMs = performance.now() - started;
    const after = await server.ask<{ cpuMicros: number; rss: number }>('cpu', 'cpuMicros');
    close();
    const deliveries = expected + scenario.messages;
    return {
      candidate, ...scenario, deliveries,
      cpuMicrosPerDelivery: (after.cpuMicros - before.cpuMicros) / deliveries,
      deliveriesPerSecond: deliveries / (elapsedMs / 1000),
      serverRssMiB: after.rss / 1024 / 1024,
    };
  } finally {
    load.stop();
    server.stop();
  }
}

interface Probe {
  until(seq: number): Promise<void>;
}

/** The publishing socket and a probe subscriber that tells how far deliveries have got (for the in-flight window). */
async function openPublisher(candidate: CandidateKind, url: string): Promise<{ publish(seq: number, pad: string): void; probe: Probe; close(): void }> {
  const relaymesh = candidate === 'relaymesh';
  const open = async (path: string, setup: (ws: WebSocket) => void): Promise<WebSocket> => {
    const ws = relaymesh ? new WebSocket(`${url}/v1/ws`, 'relaymesh.v1.json') : new WebSocket(`${url}${path}`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    setup(ws);
    return ws;
  };
  let seen = 0;
  let waiter: { seq: number; resolve(): void } | undefined;
  const probeSocket = await open('/sub', (ws) => {
    if (relaymesh) ws.send(JSON.stringify({ op: 'connect' }) + '');
  });
  await new Promise<void>((resolve) => {
    if (!relaymesh) return resolve();
    probeSocket.on('message', function ready(data) {
      if (String(data).includes('"welcome"')) probeSocket.send(JSON.stringify({ op: 'sub', id: 1, topic }));
      if (String(data).includes('"subok"')) {
        probeSocket.off('message', ready);
        resolve();
      }
    });
  });
  probeSocket.on('message', (data) => {
    const op = JSON.parse(String(data)) as { seq?: number; data?: { seq: number } };
    const seq = relaymesh ? op.data?.seq : op.seq;
    if (seq === undefined) return;
    seen = seq;
    if (waiter && seen >= waiter.seq) {
      waiter.resolve();
      waiter = undefined;
    }
  });
  const publisher = await open('/pub', (ws) => {
    if (relaymesh) ws.send(JSON.stringify({ op: 'connect' }));
  });
  return {
    publish: (seq, pad) => publisher.send(relaymesh ? JSON.stringify({ op: 'pub', topic, data: { seq, pad } }) : JSON.stringify({ seq, pad })),
    probe: {
      until: (seq) => (seen >= seq ? Promise.resolve() : new Promise((resolve) => { waiter = { seq, resolve }; })),
    },
    close: () => {
      probeSocket.terminate();
      publisher.terminate();
    },
  };
}
