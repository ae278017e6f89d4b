// The chaos run (`npm run chaos`, `relaymesh bench chaos`): steady publishing while every uplink is cut or
// black-holed again and again; counts what clients lost, got twice or out of order, and how fast they caught up.

import { pino, type Logger } from 'pino';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge, type EdgeHandle } from '../edge/start-edge.js';
import { startTcpProxy, type TcpProxy } from '../test/helpers/tcp-proxy.js';
import { ChaosClient, Publisher, deadlineMs, now, waitUntil } from './chaos-traffic.js';

export type ChaosMode = 'cut' | 'blackhole';

export interface ChaosOptions {
  clientsPerEdge: number;
  /** Messages published at least; more when faults are still running once they are out (see `published`). */
  messages: number;
  /** Faults per uplink, spread evenly over the messages; every uplink gets each fault at once. */
  cuts: number;
  /** cut: the proxy resets the uplink's TCP connection. blackhole: it drops all data until the edge sees the link dead. */
  mode: ChaosMode;
  /** Publishes per second, default 200. */
  rateHz?: number;
  /** Edge uplink heartbeat, default 250 ms; the core checks its uplinks every 3 of them. */
  heartbeatMs?: number;
  /** Progress lines (one per fault); default none. */
  log?: (line: string) => void;
}

export interface ChaosClientResult {
  edge: string;
  received: number;
  /** Published offsets never received. */
  lost: number;
  /** Receptions of an offset already received. */
  duplicated: number;
  /** First receptions of an offset lower than one already received. */
  reordered: number;
  /** Offsets whose data is not what was published at that offset, or offsets never published. */
  mismatched: number;
  /** `reset` ops (the edge gave up on continuity) and `error` ops. */
  resets: number;
  errors: number;
  closed: boolean;
}

/** One fault as seen by one edge; times in ms from the fault. */
export interface ChaosFaultSample {
  fault: number;
  edge: string;
  /** Until the old uplink was seen dead (edge left `connected`, or the core dropped or replaced it). */
  detectMs: number;
  /** Until the link was usable again: 0 for a cut (the proxy takes the reconnect at once), `detectMs` for a black hole. */
  restoreMs: number;
  /** Until the edge was welcomed on a new uplink. */
  reconnectMs: number;
  /** Messages the core acknowledged between the fault and the reconnect (what the edge had to get back). */
  gap: number;
  /**
   * Catch-up: from the restore until every client of the edge held every message the core had acknowledged by the
   * moment the edge's new uplink was welcomed, i.e. the gap replayed and the clients live again. NaN if never.
   */
  catchUpMs: number;
}

export interface ChaosReport {
  mode: ChaosMode;
  edges: number;
  clients: number;
  published: number;
  durationMs: number;
  faults: ChaosFaultSample[];
  lost: number;
  duplicated: number;
  reordered: number;
  mismatched: number;
  resets: number;
  clientSocketsClosed: number;
  /** Per edge: sessions just after the clients subscribed and at the end. */
  sessions: Record<string, { before: number; after: number }>;
  /** Per edge at the end: in the core's uplink table (0 or 1), and TCP connections open through its proxy. */
  uplinksPerEdge: Record<string, { core: number; tcp: number }>;
  /** Log lines at level error or above from the core and edges. */
  errorsLogged: string[];
  clientResults: ChaosClientResult[];
  detect: Percentiles;
  reconnect: Percentiles;
  catchUp: Percentiles;
}

export interface Percentiles {
  p50: number;
  p99: number;
}

/** Messages published on working links between the end of one fault and the next. */
const quietMessages = 10;

interface ChaosMesh {
  core: CoreHandle;
  edges: EdgeHandle[];
  proxies: TcpProxy[];
  clients: ChaosClient[];
  errorsLogged: string[];
  close(): Promise<void>;
}

/** Core + two edges in this process, a fault proxy on each uplink, and the clients; `close` undoes whatever was built. */
async function buildMesh(options: ChaosOptions, topic: string): Promise<ChaosMesh> {
  const heartbeatMs = options.heartbeatMs ?? 250;
  const errorsLogged: string[] = [];
  const logger: Logger = pino({ level: 'error' }, { write: (line: string) => void errorsLogged.push(line.trim()) });
  const core = await startCore({ id: 'central', logger, uplinkTimeoutMs: heartbeatMs * 3 });
  const closers: Array<() => Promise<void> | void> = [() => core.close()];
  const mesh: ChaosMesh = {
    core,
    edges: [],
    proxies: [],
    clients: [],
    errorsLogged,
    async close() {
      for (const close of closers.reverse())
        await Promise.resolve()
          .then(close)
          .catch(() => {});
    },
  };
  try {
    for (const [id, region] of [
      ['eu-1', 'eu'],
      ['us-1', 'us'],
    ] as const) {
      const proxy = await startTcpProxy({ target: core.address });
      closers.push(() => proxy.close());
      mesh.proxies.push(proxy);
      const edge = await startEdge({
        id,
        region,
        cores: [{ id: core.id, url: proxy.url }],
        logger,
        uplink: { heartbeatMs, reconnectBaseMs: 20, reconnectMaxMs: 200 },
      });
      closers.push(() => edge.close());
      mesh.edges.push(edge);
    }
    await Promise.all(mesh.edges.map((edge) => edge.ready()));
    closers.push(() => mesh.clients.forEach((client) => client.ws.terminate()));
    for (const edge of mesh.edges) {
      const opened = await Promise.allSettled(
        Array.from({ length: options.clientsPerEdge }, () => ChaosClient.open(edge, topic)),
      );
      for (const result of opened) if (result.status === 'fulfilled') mesh.clients.push(result.value);
      const failed = opened.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
    }
    return mesh;
  } catch (error) {
    await mesh.close();
    throw error;
  }
}

/** One fault on every uplink at once; then, per edge: waits for detection, restores, waits for the reconnect and for its clients to catch up. */
async function fault(
  mesh: ChaosMesh,
  publisher: Publisher,
  index: number,
  options: ChaosOptions,
): Promise<FaultResult[]> {
  const oldPeers = mesh.edges.map((edge) => mesh.core.uplinks.get(edge.id));
  const ackedAtFault = publisher.lastOffset;
  const mode = options.mode;
  const at = now();
  for (const proxy of mesh.proxies) {
    if (mode === 'cut') proxy.cut();
    else proxy.blackhole(true);
  }
  return Promise.all(
    mesh.edges.map(async (edge, i) => {
      const proxy = mesh.proxies[i]!;
      const replaced = (): boolean => mesh.core.uplinks.get(edge.id) !== oldPeers[i];
      try {
        await waitUntil(
          () => edge.uplink.state !== 'connected' || replaced(),
          `fault ${index}: ${edge.id} noticing its dead uplink`,
        );
      } finally {
        if (mode === 'blackhole') proxy.blackhole(false);
      }
      const detectedAt = now();
      const restoredAt = mode === 'cut' ? at : detectedAt;
      if (edge.uplink.state !== 'connected') await edge.uplink.whenConnected(deadlineMs);
      const reconnectedAt = now();
      const target = publisher.lastOffset;
      await waitUntil(
        () => edge.uplink.connected && replaced() && mesh.core.uplinks.has(edge.id),
        `fault ${index}: the core taking ${edge.id}'s new uplink`,
      );
      // Welcomed is not yet recovered: the resubscription and its replay are still on the way, and a fault now
      // would swallow them. The fault is over once the edge's clients have everything up to the reconnect.
      const clients = mesh.clients.filter((client) => client.edge === edge.id);
      const caughtUp = await Promise.all(clients.map((client) => client.has(target, deadlineMs)));
      if (caughtUp.includes(false))
        options.log?.(
          `  ${mode} ${index} ${edge.id}: clients still lack offset ${target} ${deadlineMs} ms after the reconnect`,
        );
      return {
        fault: index,
        edge: edge.id,
        detectMs: detectedAt - at,
        restoreMs: restoredAt - at,
        reconnectMs: reconnectedAt - at,
        gap: target - ackedAtFault,
        catchUpMs: NaN,
        target,
        restoredAt,
      };
    }),
  );
}

function analyse(client: ChaosClient, publisher: Publisher): ChaosClientResult {
  const seen = new Set<number>();
  let duplicated = 0;
  let reordered = 0;
  let mismatched = 0;
  let highest = -Infinity;
  client.offsets.forEach((offset, i) => {
    if (seen.has(offset)) duplicated++;
    else {
      if (offset < highest) reordered++;
      if (publisher.seqAt.get(offset) !== client.seqs[i]) mismatched++;
      seen.add(offset);
    }
    highest = Math.max(highest, offset);
  });
  let lost = 0;
  for (const offset of publisher.seqAt.keys()) if (!seen.has(offset)) lost++;
  return {
    edge: client.edge,
    received: client.offsets.length,
    lost,
    duplicated,
    reordered,
    mismatched,
    resets: client.resets,
    errors: client.errors,
    closed: client.closed,
  };
}

export function percentiles(values: number[]): Percentiles {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  const rank = (p: number): number =>
    sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50: rank(50), p99: rank(99) };
}

type FaultResult = ChaosFaultSample & { target: number; restoredAt: number };

/** The fault schedule: evenly spread over the messages, but each only after the last is over and a few messages went by live. */
async function runFaults(
  mesh: ChaosMesh,
  publisher: Publisher,
  options: ChaosOptions,
  samples: FaultResult[],
): Promise<void> {
  try {
    let recoveredAt = 0;
    for (let k = 0; k < options.cuts; k++) {
      await publisher.whenPublished(
        Math.max(Math.floor((options.messages * (k + 1)) / (options.cuts + 1)), recoveredAt + quietMessages),
      );
      const results = await fault(mesh, publisher, k + 1, options);
      recoveredAt = publisher.published;
      samples.push(...results);
      for (const sample of results)
        options.log?.(
          `  ${options.mode} ${sample.fault}/${options.cuts} ${sample.edge}: detected ${sample.detectMs.toFixed(0)} ms, reconnected ${sample.reconnectMs.toFixed(0)} ms, gap ${sample.gap} messages`,
        );
    }
  } finally {
    publisher.faultsDone();
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  if (!(options.cuts >= 0 && options.messages > options.cuts && options.clientsPerEdge > 0))
    throw new RangeError('chaos: need clientsPerEdge > 0 and messages > cuts >= 0');
  const topic = `chaos.${options.mode}.${Date.now().toString(36)}`;
  const mesh = await buildMesh(options, topic);
  try {
    const sessionsBefore = mesh.edges.map((edge) => edge.sessionCount);
    const publisher = new Publisher(
      mesh.core.url.replace(/^ws/, 'http'),
      topic,
      options.messages,
      options.rateHz ?? 200,
    );
    const started = now();
    const samples: FaultResult[] = [];
    await Promise.all([publisher.run(), runFaults(mesh, publisher, options, samples)]);
    const durationMs = now() - started;
    // The last message went over stable links, behind everything else: once every client has it, nothing else is coming.
    await Promise.all(mesh.clients.map((client) => client.has(publisher.lastOffset, deadlineMs)));
    // A connection the proxy reset may take a moment to be counted gone; one that stays is reported.
    await Promise.all(
      mesh.proxies.map((proxy) =>
        waitUntil(() => proxy.connections === 1, 'one uplink connection per proxy', 2000).catch(() => {}),
      ),
    );
    for (const sample of samples) {
      const done = Math.max(
        ...mesh.clients
          .filter((client) => client.edge === sample.edge)
          .map((client) => client.completeAt(publisher.firstOffset, sample.target)),
      );
      sample.catchUpMs = Number.isFinite(done) ? Math.max(0, done - sample.restoredAt) : NaN;
    }
    return report(mesh, publisher, options.mode, samples, sessionsBefore, durationMs);
  } finally {
    await mesh.close();
  }
}

function report(
  mesh: ChaosMesh,
  publisher: Publisher,
  mode: ChaosMode,
  samples: FaultResult[],
  sessionsBefore: number[],
  durationMs: number,
): ChaosReport {
  const faults = samples.map(({ target: _target, restoredAt: _restoredAt, ...sample }) => sample);
  const clientResults = mesh.clients.map((client) => analyse(client, publisher));
  const sum = (key: 'lost' | 'duplicated' | 'reordered' | 'mismatched' | 'resets'): number =>
    clientResults.reduce((total, result) => total + result[key], 0);
  return {
    mode,
    edges: mesh.edges.length,
    clients: mesh.clients.length,
    published: publisher.published,
    durationMs,
    faults,
    lost: sum('lost'),
    duplicated: sum('duplicated'),
    reordered: sum('reordered'),
    mismatched: sum('mismatched'),
    resets: sum('resets'),
    clientSocketsClosed: clientResults.filter((result) => result.closed).length,
    sessions: Object.fromEntries(
      mesh.edges.map((edge, i) => [edge.id, { before: sessionsBefore[i]!, after: edge.sessionCount }]),
    ),
    uplinksPerEdge: Object.fromEntries(
      mesh.edges.map((edge, i) => [
        edge.id,
        { core: mesh.core.uplinks.has(edge.id) ? 1 : 0, tcp: mesh.proxies[i]!.connections },
      ]),
    ),
    errorsLogged: [...mesh.errorsLogged],
    clientResults,
    detect: percentiles(faults.map((sample) => sample.detectMs)),
    reconnect: percentiles(faults.map((sample) => sample.reconnectMs)),
    catchUp: percentiles(faults.map((sample) => sample.catchUpMs)),
  };
}

/** True when the run kept every promise: nothing lost, repeated, reordered or reset, no socket closed, one uplink per edge, no error. */
export function chaosClean(report: ChaosReport): boolean {
  return (
    report.lost +
      report.duplicated +
      report.reordered +
      report.mismatched +
      report.resets +
      report.clientSocketsClosed ===
      0 &&
    report.clientResults.every((client) => client.errors === 0) &&
    report.errorsLogged.length === 0 &&
    Object.values(report.uplinksPerEdge).every((uplinks) => uplinks.core === 1 && uplinks.tcp === 1) &&
    report.faults.every((sample) => !Number.isNaN(sample.catchUpMs))
  );
}

export function formatChaosTable(reports: ChaosReport[]): string {
  const ms = (value: Percentiles): string => `${value.p50.toFixed(0)} / ${value.p99.toFixed(0)}`;
  const rows = [
    [
      'mode',
      'clients',
      'published',
      'faults',
      'lost',
      'duplicated',
      'reordered',
      'resets',
      'wrong data',
      'sockets closed',
      'uplinks/edge (core, tcp)',
      'detect ms p50/p99',
      'reconnect ms p50/p99',
      'catch-up ms p50/p99',
      'errors logged',
    ],
  ];
  for (const report of reports) {
    rows.push([
      report.mode,
      String(report.clients),
      String(report.published),
      `${report.faults.length / report.edges} × ${report.edges} uplinks`,
      String(report.lost),
      String(report.duplicated),
      String(report.reordered),
      String(report.resets),
      String(report.mismatched),
      String(report.clientSocketsClosed),
      Object.values(report.uplinksPerEdge)
        .map((uplinks) => `${uplinks.core},${uplinks.tcp}`)
        .join(' '),
      ms(report.detect),
      ms(report.reconnect),
      ms(report.catchUp),
      String(report.errorsLogged.length),
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
