// One node of the mesh under attack (`relaymesh bench attack`) in a process of its own, so its memory is its own: a
// core, or an edge of that core, with the topology's default limits. Tells the parent its URL and answers `stats`.

import { pino } from 'pino';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge, type EdgeHandle } from '../edge/start-edge.js';
import { defaultHistory, defaultLimits, defaultUplink } from '../shared/topology.js';

export type AttackNodeKind = 'core' | 'edge';

export interface AttackNodeStats {
  rss: number;
  /** CPU time (user + system) since the start, µs. */
  cpuMicros: number;
  /** What the RSS is made of, as far as V8 knows: its heap, and Buffers outside it. */
  heapUsed: number;
  arrayBuffers: number;
  /** edge: client sessions open now, and clients cut as slow consumers (4508) since it started. */
  sessions?: number;
  slowConsumers?: number;
  /** edge: reconnects of its uplink since it started. */
  reconnects?: number;
  /** core: uplinks connected now. */
  uplinks?: number;
  /** Log lines at warn and above since the start, counted by message: what the node noticed of the attack. */
  warnings: Record<string, number>;
}

const kind = process.argv[2] as AttackNodeKind;
const warnings: Record<string, number> = {};
// Counted, not printed: the attacks make the nodes warn thousands of times, and the table is what the run is for.
const logger = pino(
  { level: 'warn' },
  {
    write(line: string) {
      let message = 'unreadable log line';
      try {
        message = String((JSON.parse(line) as { msg?: unknown }).msg);
      } catch {
        // Keep counting even if a line is not JSON.
      }
      warnings[message] = (warnings[message] ?? 0) + 1;
    },
  },
);

let core: CoreHandle | undefined;
let edge: EdgeHandle | undefined;
let url: string;
if (kind === 'core') {
  // What a topology with only defaults gives its core (cli/node-options.ts), minus knownEdges and edge secrets:
  // an open core takes an uplink under any id, which is what the fake edge of the stalled-uplink attack relies on.
  core = await startCore({
    id: 'core-1',
    region: 'eu',
    logger,
    history: defaultHistory,
    maxMessageBytes: defaultLimits.maxMessageBytes,
    headerTimeoutMs: defaultLimits.headerTimeoutMs,
    uplinkTimeoutMs: defaultUplink.heartbeatMs * 3,
    statusMs: defaultUplink.statusMs,
    maxUplinkQueueBytes: defaultUplink.maxQueueBytes,
    maxReplayBytes: defaultLimits.maxReplayBytes,
  });
  url = core.url;
} else {
  edge = await startEdge({
    id: 'edge-1',
    region: 'eu',
    cores: [{ id: 'core-1', url: process.argv[3]! }],
    logger,
    limits: defaultLimits,
    uplink: defaultUplink,
  });
  await edge.ready();
  url = edge.url;
}

async function stats(): Promise<AttackNodeStats> {
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  const answer: AttackNodeStats = {
    rss: memory.rss,
    cpuMicros: cpu.user + cpu.system,
    heapUsed: memory.heapUsed,
    arrayBuffers: memory.arrayBuffers,
    warnings: { ...warnings },
  };
  if (core) answer.uplinks = core.uplinks.size;
  if (edge) {
    answer.reconnects = edge.uplink.reconnects;
    answer.sessions = edge.sessionCount;
    answer.slowConsumers = (await edge.metrics.slowConsumers.get()).values.reduce((sum, value) => sum + value.value, 0);
  }
  return answer;
}

process.on('message', (message) => {
  if (message === 'stats') void stats().then((answer) => process.send!({ stats: answer }));
  // After a phase: garbage collected first (the parent forks with --expose-gc), what is left is what the node holds on to.
  if (message === 'collect') {
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
    void stats().then((answer) => process.send!({ collected: answer }));
  }
});
process.send!({ url });
// The parent gone (finished, or killed) means this run is over.
process.on('disconnect', () => process.exit(0));
