// S7, tunnels: one stream's throughput each way (entry edge → core → service) against direct TCP and a naive
// per-connection WebSocket proxy, the same across an emulated 60 ms WAN, time to a first answer on a new stream,
// latency of an interactive stream and of pub/sub beside bulk streams on the same uplink, the entry edge's memory per
// stream, and pgbench through the mesh. Each figure is set against the target it was given.

import { loadavg } from 'node:os';
import { streamMaxWindowBytes, streamWindowBytes } from '../../shared/stream-mux.js';
import { selectOnlyTps, startPostgres, type Postgres } from '../postgres.js';
import { firstAnswer } from '../tunnel-client.js';
import {
  activeFootprint,
  besideBulk,
  idleFootprint,
  interactive,
  pubsub,
  transfer,
  type Direction,
  type Transfer,
  type TunnelPath,
} from '../tunnel-measures.js';
import type { BulkMoved } from '../tunnel-bulk-process.js';
import { startTunnelProcesses, type TunnelProcesses } from '../tunnel-processes.js';

export interface TunnelSizes {
  /** Bytes of each loopback transfer; the entry edge's RSS is sampled over relaymesh's. */
  transferBytes: number;
  /** Bytes of each transfer across the WAN. */
  wanBytes: number;
  /** Loopback transfers per path and direction (the median counts). */
  rounds: number;
  idleStreams: number;
  activeStreams: number;
  /** How long each timed phase runs: active streams, ping-pong, pub/sub. */
  phaseMs: number;
  /** New streams opened one after another, per path, across the WAN. */
  opens: number;
  pgSeconds: number;
  pgClients: number;
}

/** A figure set against its target. `value` undefined: not measured, and `note` says why. */
export interface TunnelTargetRow {
  kind: 'target';
  what: string;
  unit: string;
  value: number | undefined;
  compared: Array<{ name: string; value: number; unit?: string }>;
  target: string;
  /** undefined: a figure for the record, with no target. */
  met: boolean | undefined;
  note?: string;
}

/** Where the CPU went in one loopback transfer (medians over rounds): µs per MiB carried, per process. */
export interface TunnelCpuRow {
  kind: 'cpu';
  path: TunnelPath;
  direction: Direction;
  mbPerSecond: number;
  entry?: number;
  centre?: number;
  service: number;
  client: number;
}

export type TunnelRow = TunnelTargetRow | TunnelCpuRow;

export const wanOneWayMs = 60;
const rttMs = 2 * wanOneWayMs;
const mib = 1024 * 1024;
const paths: TunnelPath[] = ['direct TCP', 'naive ws proxy', 'relaymesh'];
const directions: Direction[] = ['client→service', 'service→client'];

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const mbPerSecond = (t: Transfer): number => t.bytes / 1e6 / (t.ms / 1000);

export async function runTunnel(size: TunnelSizes, progress: (line: string) => void): Promise<TunnelRow[]> {
  progress('S7 tunnels: starting PostgreSQL');
  const postgres = await startPostgres();
  if (typeof postgres === 'string') progress(`S7 tunnels: no PostgreSQL (${postgres}); pgbench is skipped`);
  const pg = typeof postgres === 'string' ? undefined : postgres;
  try {
    const loadBefore = loadavg()[0]!;
    const rows: TunnelRow[] = [];
    rows.push(...(await loopback(size, pg, typeof postgres === 'string' ? postgres : undefined, progress)));
    rows.push(...(await acrossWan(size, progress)));
    // Anything else running on the machine shares its 2 cores with the run: the report says how busy it was.
    rows.push({
      kind: 'target',
      what: 'machine load average (1 min) at the end of the run',
      unit: '',
      value: loadavg()[0]!,
      compared: [{ name: 'at its start', value: loadBefore, unit: '' }],
      target: 'for the record',
      met: undefined,
    });
    return rows;
  } finally {
    await pg?.stop();
  }
}

async function withProcesses<T>(
  oneWayMs: number,
  postgres: Postgres | undefined,
  body: (p: TunnelProcesses) => Promise<T>,
): Promise<T> {
  const p = await startTunnelProcesses(oneWayMs, postgres?.address);
  try {
    return await body(p);
  } finally {
    await p.stop();
  }
}

async function loopback(
  size: TunnelSizes,
  postgres: Postgres | undefined,
  noPostgres: string | undefined,
  progress: (line: string) => void,
): Promise<TunnelRow[]> {
  // Memory on processes of its own: after the transfers, memory a GC frees but the allocator keeps would blur it, and
  // after a thousand streams the transfers would run on a heap the others do not have.
  const memory = await memoryRows(size, progress);
  return withProcesses(0, postgres, async (p) => {
    const transfers: Transfer[] = [];
    for (let round = 0; round < size.rounds; round++) {
      // Paths alternate from round to round, so drift on the machine does not favour one of them.
      for (const path of round % 2 ? [...paths].reverse() : paths) {
        for (const direction of directions) {
          progress(`S7 tunnels: ${path}, ${direction}, ${size.transferBytes / mib} MiB, round ${round + 1}`);
          transfers.push(await transfer(p, path, direction, size.transferBytes, path === 'relaymesh' && round === 0));
        }
      }
    }
    const rows = [...throughputRows(transfers, size.transferBytes), ...memory];
    rows.push(...(await latencyRows(p, size, 0, progress)));

    if (postgres) {
      const tps: Partial<Record<TunnelPath, number>> = {};
      for (const path of paths) {
        progress(`S7 tunnels: pgbench -S, ${size.pgClients} clients, ${path}`);
        const address =
          path === 'relaymesh' ? p.forward('pg') : path === 'naive ws proxy' ? p.naive('pg') : postgres.address;
        tps[path] = await selectOnlyTps(address, size.pgClients, size.pgSeconds);
      }
      rows.push({
        kind: 'target',
        what: `pgbench -S, ${size.pgClients} clients, ${size.pgSeconds} s`,
        unit: 'tps',
        value: tps.relaymesh,
        compared: [
          { name: 'direct TCP', value: tps['direct TCP']! },
          { name: 'naive ws proxy', value: tps['naive ws proxy']! },
        ],
        target: 'report both ways',
        met: undefined,
      });
    } else {
      rows.push({
        kind: 'target',
        what: 'pgbench -S',
        unit: 'tps',
        value: undefined,
        compared: [],
        target: 'report both ways',
        met: undefined,
        note: `skipped: PostgreSQL did not start (${noPostgres})`,
      });
    }
    return rows;
  });
}

/** The entry edge's memory per idle and per active stream, each measured on fresh processes. */
async function memoryRows(size: TunnelSizes, progress: (line: string) => void): Promise<TunnelRow[]> {
  progress(`S7 tunnels: ${size.idleStreams} idle streams`);
  const idle = await withProcesses(0, undefined, (p) => idleFootprint(p, size.idleStreams));
  // Streams flat out make garbage in proportion to the bytes they move, not to their number, and the heap grows to
  // hold it: what one more stream costs is the difference between a few streams and many, moving about as much.
  const few = Math.max(1, size.activeStreams / 4);
  const many = size.activeStreams;
  const footprint = async (streams: number) => {
    progress(`S7 tunnels: ${streams} active streams`);
    return withProcesses(0, undefined, (p) => activeFootprint(p, streams, size.phaseMs));
  };
  const fewActive = await footprint(few);
  const manyActive = await footprint(many);
  const perMore = (key: 'peakRssPerStream' | 'rssAfterGcPerStream' | 'arrayBuffersAfterGcPerStream') =>
    (manyActive[key] * many - fewActive[key] * few) / (many - few) / 1024;
  const activeLimit = (streamWindowBytes + 64 * 1024) / 1024;
  return [
    {
      kind: 'target',
      what: `entry edge RSS per idle stream (${size.idleStreams.toLocaleString('en')} streams, after GC)`,
      unit: 'KiB',
      value: idle.rss / 1024,
      compared: [{ name: 'heap', value: idle.heap / 1024, unit: 'KiB' }],
      target: '≤ 16 KiB',
      met: idle.rss / 1024 <= 16,
    },
    {
      kind: 'target',
      what: `entry edge RSS per active stream (peak with ${many} echo streams flat out − peak with ${few}, per stream)`,
      unit: 'KiB',
      value: perMore('peakRssPerStream'),
      compared: [
        { name: 'the same after a GC, still running', value: perMore('rssAfterGcPerStream'), unit: 'KiB' },
        { name: 'Buffers after that GC', value: perMore('arrayBuffersAfterGcPerStream'), unit: 'KiB' },
        { name: `peak RSS over the edge at rest ÷ ${many}`, value: manyActive.peakRssPerStream / 1024, unit: 'KiB' },
        { name: `echoed by ${many}`, value: manyActive.mbPerSecond, unit: 'MB/s' },
        { name: `by ${few}`, value: fewActive.mbPerSecond, unit: 'MB/s' },
      ],
      target: `≤ window + 64 KiB = ${activeLimit} KiB`,
      met: perMore('peakRssPerStream') <= activeLimit,
    },
  ];
}

function throughputRows(transfers: Transfer[], bytes: number): TunnelRow[] {
  const rows: TunnelRow[] = [];
  const cpu: TunnelRow[] = [];
  for (const direction of directions) {
    const of = (path: TunnelPath) => transfers.filter((t) => t.path === path && t.direction === direction);
    const rate = (path: TunnelPath) => median(of(path).map(mbPerSecond));
    const ours = rate('relaymesh');
    const direct = rate('direct TCP');
    rows.push({
      kind: 'target',
      what: `one stream ${direction}, loopback (${bytes / mib} MiB)`,
      unit: 'MB/s',
      value: ours,
      compared: [
        { name: 'direct TCP', value: direct },
        { name: 'naive ws proxy', value: rate('naive ws proxy') },
      ],
      target: '≥ 100 MB/s and ≥ 0.3× direct TCP',
      met: ours >= 100 && ours >= 0.3 * direct,
    });
    for (const path of paths) {
      const runs = of(path);
      const part = (key: 'entry' | 'centre') =>
        runs[0]!.cpuPerMiB[key] === undefined ? undefined : median(runs.map((t) => t.cpuPerMiB[key]!));
      cpu.push({
        kind: 'cpu',
        path,
        direction,
        mbPerSecond: rate(path),
        entry: part('entry'),
        centre: part('centre'),
        service: median(runs.map((t) => t.cpuPerMiB.service)),
        client: median(runs.map((t) => t.cpuPerMiB.client)),
      });
    }
  }
  // RSS over the sampled transfers: flat when the last quarter's peak is within 16 MiB of the first quarter's.
  const samples = transfers.filter((t) => t.rssSamples.length > 0);
  const quarterPeaks = samples.map((t) => {
    const quarter = Math.max(1, Math.floor(t.rssSamples.length / 4));
    return {
      first: Math.max(...t.rssSamples.slice(0, quarter)),
      last: Math.max(...t.rssSamples.slice(-quarter)),
      peak: Math.max(...t.rssSamples),
    };
  });
  const growth = Math.max(...quarterPeaks.map((q) => q.last - q.first)) / mib;
  rows.push({
    kind: 'target',
    what: `entry edge RSS growth over a ${bytes / mib} MiB transfer each way (last quarter's peak − first quarter's)`,
    unit: 'MiB',
    value: growth,
    compared: [
      { name: 'first quarter peak', value: Math.max(...quarterPeaks.map((q) => q.first)) / mib, unit: 'MiB' },
      { name: 'peak', value: Math.max(...quarterPeaks.map((q) => q.peak)) / mib, unit: 'MiB' },
    ],
    target: 'flat (growth ≤ 16 MiB)',
    met: growth <= 16,
  });
  return [...rows, ...cpu];
}

/** Interactive stream and pub/sub p99, alone and beside a bulk stream each way, with the WAN `oneWayMs` long. */
async function latencyRows(
  p: TunnelProcesses,
  size: TunnelSizes,
  oneWayMs: number,
  progress: (line: string) => void,
): Promise<TunnelRow[]> {
  const where = oneWayMs ? `${oneWayMs} ms WAN` : 'loopback';
  // Bounded in bytes too: more than the phase can move at either speed.
  const bulkBytes = oneWayMs ? 256 * mib : 16 * 1024 * mib;
  progress(`S7 tunnels: interactive stream, ${where}, alone and beside bulk`);
  const alone = await interactive(p, size.phaseMs);
  const beside = await besideBulk(p, p.forward('bench'), bulkBytes, () => interactive(p, size.phaseMs));
  const limit = 2 * oneWayMs + 5;
  progress(`S7 tunnels: pub/sub, ${where}, alone and beside bulk`);
  const pubAlone = await pubsub(p, size.phaseMs);
  const pubBeside = await besideBulk(p, p.forward('bench'), bulkBytes, () => pubsub(p, size.phaseMs));
  // The control: the same bulk on connections of its own (the naive proxy's), so the CPU it takes from the machine's
  // 2 cores is the same but nothing shares the uplink. What pub/sub loses beyond this is the uplink's head-of-line.
  const pubBesideApart = await besideBulk(p, p.naive('bench'), bulkBytes, () => pubsub(p, size.phaseMs));
  const bulkRate = (bulk: BulkMoved) => (bulk.up + bulk.down) / 1e6 / (bulk.ms / 1000);
  return [
    {
      kind: 'target',
      what: `interactive stream p99 beside a bulk stream each way, ${where}`,
      unit: 'ms',
      value: beside.result.p99,
      compared: [
        { name: 'p50', value: beside.result.p50, unit: 'ms' },
        { name: 'alone p99', value: alone.p99, unit: 'ms' },
        { name: 'alone p50', value: alone.p50, unit: 'ms' },
        { name: 'bulk both ways', value: bulkRate(beside.bulk), unit: 'MB/s' },
      ],
      target: `< 1 RTT + 5 ms = ${limit} ms`,
      met: beside.result.p99 < limit,
    },
    {
      kind: 'target',
      what: `pub/sub p99 through the entry edge beside a bulk stream each way, ${where}`,
      unit: 'ms',
      value: pubBeside.result.p99,
      compared: [
        { name: 'p50', value: pubBeside.result.p50, unit: 'ms' },
        { name: 'without bulk p99', value: pubAlone.p99, unit: 'ms' },
        { name: 'without bulk p50', value: pubAlone.p50, unit: 'ms' },
        { name: 'bulk both ways', value: bulkRate(pubBeside.bulk), unit: 'MB/s' },
        {
          name: 'beside the same bulk on connections of its own (naive proxy) p99',
          value: pubBesideApart.result.p99,
          unit: 'ms',
        },
        { name: 'that bulk both ways', value: bulkRate(pubBesideApart.bulk), unit: 'MB/s' },
      ],
      target: 'within 10% of without',
      met: pubBeside.result.p99 <= 1.1 * pubAlone.p99,
    },
  ];
}

async function acrossWan(size: TunnelSizes, progress: (line: string) => void): Promise<TunnelRow[]> {
  return withProcesses(wanOneWayMs, undefined, async (p) => {
    const rows: TunnelRow[] = [];
    // The first window's bound: windows start there and grow for a reader that keeps up (shared/stream-mux.ts).
    const floor = streamWindowBytes / 1e6 / (rttMs / 1000);
    const ceiling = streamMaxWindowBytes / 1e6 / (rttMs / 1000);
    for (const direction of directions) {
      const moved: Partial<Record<TunnelPath, Transfer>> = {};
      for (const path of paths) {
        progress(`S7 tunnels: ${path}, ${direction}, ${size.wanBytes / mib} MiB across a ${wanOneWayMs} ms WAN`);
        moved[path] = await transfer(p, path, direction, size.wanBytes);
      }
      const ours = moved.relaymesh!;
      rows.push({
        kind: 'target',
        what: `one stream ${direction}, ${wanOneWayMs} ms one-way WAN entry edge ↔ core (${size.wanBytes / mib} MiB, once flowing)`,
        unit: 'MB/s',
        value: ours.steadyMbPerSecond,
        compared: [
          { name: 'end to end, with the open and the last answer', value: mbPerSecond(ours) },
          { name: 'direct TCP', value: moved['direct TCP']!.steadyMbPerSecond },
          { name: 'naive ws proxy', value: moved['naive ws proxy']!.steadyMbPerSecond },
          { name: `a window's most ÷ RTT`, value: ceiling },
        ],
        target: `≥ window ÷ RTT = ${floor.toFixed(2)} MB/s (the first window)`,
        met: ours.steadyMbPerSecond >= floor,
      });
    }

    progress(`S7 tunnels: ${size.opens} new streams per path across the WAN`);
    const opens: Record<TunnelPath, number[]> = { relaymesh: [], 'naive ws proxy': [], 'direct TCP': [] };
    for (let i = 0; i < size.opens; i++) {
      opens.relaymesh.push(await firstAnswer(p.forward('bench'), 30_000));
      opens['naive ws proxy'].push(await firstAnswer(p.naive('bench'), 30_000));
      opens['direct TCP'].push(await firstAnswer(p.direct, 30_000));
    }
    const ours = median(opens.relaymesh);
    const naive = median(opens['naive ws proxy']);
    rows.push({
      kind: 'target',
      what: `new stream: connect to first answer byte, ${wanOneWayMs} ms WAN (median of ${size.opens})`,
      unit: 'ms',
      value: ours,
      compared: [
        { name: 'naive ws proxy', value: naive, unit: 'ms' },
        { name: 'direct TCP across the WAN', value: median(opens['direct TCP']), unit: 'ms' },
      ],
      target: `one WAN round trip (${rttMs} ms) less than naive`,
      met: naive - ours >= rttMs * 0.9,
    });
    rows.push(...(await latencyRows(p, size, wanOneWayMs, progress)));
    return rows;
  });
}
