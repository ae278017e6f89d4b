// Turns benchmark results into tables of medians and ratios against the naive `ws` server (and, for fan-out and
// latency, NATS): plain text for the terminal and Markdown for BENCHMARKS.md.

import { latencyBesideNats, natsNote } from './nats-report.js';
import { presenceTables } from './presence-report.js';
import { tiersTables } from './tiers-report.js';
import { count, fixed, median, ratio, type Table } from './report-format.js';
import type { ChurnRow } from './scenarios/churn.js';
import type { EngineRow } from './scenarios/engine.js';
import type { FanoutRow } from './scenarios/fanout.js';
import type { IdleRow } from './scenarios/idle.js';
import type { LatencyRow } from './scenarios/latency.js';
import type { PresenceRow } from './scenarios/presence.js';
import type { TiersRow } from './scenarios/tiers.js';
import type { TunnelCpuRow, TunnelRow, TunnelTargetRow } from './scenarios/tunnel.js';
import type { WanRow } from './scenarios/wan.js';
import { candidateKinds, type CandidateKind } from './wires.js';

export interface BenchResults {
  idle: IdleRow[];
  fanout: FanoutRow[];
  latency: LatencyRow[];
  wan: WanRow[];
  churn: ChurnRow[];
  engine: EngineRow[];
  tunnel: TunnelRow[];
  /** Absent from results written before S8 existed (and from tests that build results by hand). */
  presence?: PresenceRow[];
  /** Absent from results written before S9 existed. */
  tiers?: TiersRow[];
}

/** Which command measured each scenario, and when (a report may merge several runs). */
export type Provenance = Partial<Record<keyof BenchResults, { command: string; date: string } | undefined>>;

export interface ReportContext {
  machine: { cpus: number; model: string; memoryGiB: number; node: string };
  command: string;
  date: string;
  quick: boolean;
  provenance?: Provenance;
}

function idleTable(rows: IdleRow[]): Table {
  const naive = new Map(
    rows.filter((row) => row.candidate === 'naive-ws').map((row) => [row.clients, row.rssBytesPerClient]),
  );
  return {
    scenario: 'idle',
    title: 'S1 idle footprint',
    note: 'Server memory per connected, subscribed client (after a full GC, against the same server without clients). relaymesh: the edge process.',
    header: ['clients', 'candidate', 'RSS KiB/client', 'heap KiB/client', 'RSS vs naive ws'],
    rows: rows.map((row) => [
      count(row.clients),
      row.candidate,
      fixed(row.rssBytesPerClient / 1024),
      fixed(row.heapBytesPerClient / 1024),
      ratio(row.rssBytesPerClient, naive.get(row.clients)),
    ]),
  };
}

function fanoutTable(rows: FanoutRow[]): Table {
  const groups = new Map<string, FanoutRow[]>();
  for (const row of rows) {
    const key = `${row.subscribers}|${row.payloadBytes}|${row.inFlight}|${row.candidate}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const table: string[][] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const scenario = `${row.subscribers}|${row.payloadBytes}|${row.inFlight}`;
    if (seen.has(scenario)) continue;
    seen.add(scenario);
    const cpu = (kind: CandidateKind) => groups.get(`${scenario}|${kind}`);
    const naive = cpu('naive-ws');
    const naiveCpu = naive ? median(naive.map((r) => r.serverMicrosPerDelivery)) : undefined;
    // Medians of each process, then their sum (as the table shows them).
    const total = (runs: FanoutRow[] | undefined): number | undefined =>
      runs &&
      median(runs.map((r) => r.serverMicrosPerDelivery)) + median(runs.map((r) => r.coreMicrosPerDelivery ?? 0));
    const natsTotal = total(cpu('nats'));
    for (const kind of candidateKinds) {
      const runs = cpu(kind);
      if (!runs) continue;
      const server = median(runs.map((r) => r.serverMicrosPerDelivery));
      const core =
        runs[0]!.coreMicrosPerDelivery === undefined ? undefined : median(runs.map((r) => r.coreMicrosPerDelivery!));
      table.push([
        `${count(row.subscribers)} subs, ${row.payloadBytes} B, ${row.inFlight} in flight`,
        kind,
        fixed(server),
        core === undefined ? '–' : fixed(core),
        count(median(runs.map((r) => r.deliveriesPerSecond))),
        ratio(server, naiveCpu),
        ratio(server + (core ?? 0), naiveCpu),
        ratio(total(runs)!, natsTotal),
      ]);
    }
  }
  return {
    scenario: 'fanout',
    title: 'S2 fan-out cost',
    note:
      'Server CPU time per delivered message (median over rounds). relaymesh: "server" is the edge process, "core" the core process; the "total" columns add both, "total vs NATS" against NATS’s two processes.' +
      natsNote(rows),
    header: [
      'scenario',
      'candidate',
      'server µs/delivery',
      'core µs/delivery',
      'deliveries/s',
      'server vs naive',
      'total vs naive',
      'total vs NATS',
    ],
    rows: table,
  };
}

function latencyTables(rows: LatencyRow[]): Table[] {
  const best = candidateKinds.map((kind) => {
    const ran = rows.some((row) => row.candidate === kind);
    const ok = rows.filter((row) => row.candidate === kind && row.p99Ms < 10);
    return [kind, ok.length ? count(Math.max(...ok.map((row) => row.achieved))) : ran ? 'none' : '–'];
  });
  return [
    {
      scenario: 'latency',
      title: 'S3 latency',
      note: 'Publish→delivery latency at fixed delivery rates (open loop, from the intended send time), measured by 4 probe subscribers; each step 3 s.',
      header: ['candidate', 'subscribers', 'rate asked/s', 'achieved/s', 'p50 ms', 'p99 ms', 'p99.9 ms'],
      rows: rows.map((row) => [
        row.candidate,
        count(row.subscribers),
        count(row.rate),
        count(row.achieved),
        fixed(row.p50Ms),
        fixed(row.p99Ms),
        fixed(row.p999Ms),
      ]),
    },
    latencyBesideNats(rows),
    { title: 'S3 highest rate with p99 under 10 ms', note: '', header: ['candidate', 'deliveries/s'], rows: best },
  ];
}

function wanTable(rows: WanRow[]): Table {
  const naive = rows.find((row) => row.candidate === 'naive-ws');
  return {
    scenario: 'wan',
    title: 'S4 WAN savings',
    note: "What leaves the central node per published message: relaymesh's core feeding 2 edges (frames: one per edge, plus the acknowledgement to the publishing edge), against one central server holding every client.",
    header: ['candidate', 'subscribers', 'payload B', 'bytes/message', 'frames/message', 'bytes vs naive'],
    rows: rows.map((row) => [
      row.candidate,
      count(row.subscribers),
      String(row.payloadBytes),
      count(row.bytesPerMessage),
      fixed(row.messagesPerMessage, 1),
      ratio(row.bytesPerMessage, naive?.bytesPerMessage),
    ]),
  };
}

function churnTable(rows: ChurnRow[]): Table {
  return {
    scenario: 'churn',
    title: 'S5 churn',
    note: 'Broadcast to stable subscribers while other clients connect, subscribe and leave; growth measured after the churn (full GC).',
    header: [
      'candidate',
      'stable',
      'churn/s',
      'deliveries/s',
      'p99 ms',
      'heap growth MiB',
      'RSS growth MiB',
      'fd growth',
      'leftover sessions',
    ],
    rows: rows.map((row) => [
      row.candidate,
      count(row.stable),
      count(row.churnPerSecond),
      count(row.deliveriesPerSecond),
      fixed(row.p99Ms),
      fixed(row.heapGrowthMiB, 1),
      fixed(row.rssGrowthMiB, 1),
      String(row.fdGrowth),
      row.leftoverSessions === undefined ? '–' : String(row.leftoverSessions),
    ]),
  };
}

function engineTable(rows: EngineRow[]): Table {
  const memory = new Map(
    rows.filter((row) => row.engine === 'memory').map((row) => [row.inFlight, row.publishesPerSecond]),
  );
  return {
    scenario: 'engine',
    title: 'S6 engines',
    note: 'Sequencing one topic in one process: publishes per second and publish→onMessage latency, with a fixed number of publishes in flight. redis: a local redis-server started by the run (Lua script per publish, pub/sub back to the core).',
    header: ['engine', 'in flight', 'payload B', 'messages', 'publishes/s', 'p50 ms', 'p99 ms', 'vs memory'],
    rows: rows.map((row) => [
      row.engine,
      String(row.inFlight),
      String(row.payloadBytes),
      count(row.messages),
      count(row.publishesPerSecond),
      fixed(row.p50Ms, 3),
      fixed(row.p99Ms, 3),
      ratio(row.publishesPerSecond, memory.get(row.inFlight)),
    ]),
  };
}

/** A figure with few digits: counts with separators, small values with two decimals. */
function amount(value: number, unit: string): string {
  const digits = Math.abs(value) >= 1000 ? 0 : Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${digits === 0 ? count(value) : fixed(value, digits)}${unit ? ` ${unit}` : ''}`;
}

function tunnelTables(rows: TunnelRow[]): Table[] {
  const targets = rows.filter((row): row is TunnelTargetRow => row.kind === 'target');
  const cpu = rows.filter((row): row is TunnelCpuRow => row.kind === 'cpu');
  const compared = (row: TunnelTargetRow): string =>
    row.compared
      .map((other) => {
        // Only a figure of the row's own kind has a ratio: relaymesh ÷ it.
        const same = other.unit === undefined && row.value !== undefined;
        return `${other.name} ${amount(other.value, other.unit ?? row.unit)}${same ? ` (${ratio(row.value!, other.value)})` : ''}`;
      })
      .join('; ') || '–';
  const micros = (value: number | undefined): string => (value === undefined ? '–' : count(value));
  return [
    {
      scenario: 'tunnel',
      title: 'S7 tunnels',
      note:
        'Tunnel streams (docs/protocol.md §8), each node in a process of its own: the service, the core (it dials the service), the entry edge (a TCP forward); ' +
        'a naive ws proxy (one WebSocket per TCP connection, ws streams at both ends) and direct TCP to the same service beside them. ' +
        'The WAN is a userspace relay between the entry side and the core side that holds every byte 60 ms each way, and a new connection’s first bytes one round trip more (its TCP handshake); it has no bandwidth limit. ' +
        'Tunnel streams travel on each edge’s tunnel link, beside its uplink; windows start at 256 KiB and grow to 4 MiB for a reader that keeps up. ' +
        'Pub/sub beside bulk has a control: the same bulk on connections of its own (the naive proxy’s), which takes as much of the 2 cores but shares no connection; on loopback the bulk through relaymesh also shares the edge’s and core’s event loops with pub/sub. ' +
        'MB = 10⁶ bytes; in brackets, relaymesh ÷ that figure. Every process shares the 2 cores with the load generator.',
      header: ['what', 'relaymesh', 'compared with', 'target', 'met'],
      rows: targets.map((row) => [
        row.note ? `${row.what} (${row.note})` : row.what,
        row.value === undefined ? '–' : amount(row.value, row.unit),
        compared(row),
        row.target,
        row.met === undefined ? '–' : row.met ? 'yes' : 'no',
      ]),
    },
    {
      title: 'S7 tunnels: CPU per MiB carried',
      note: 'Loopback transfers of one stream (medians over rounds): CPU time of each process per MiB. Entry: the edge, or the naive proxy’s local half; centre: the core, or its remote half; client: the load generator.',
      header: ['path', 'direction', 'MB/s', 'entry µs/MiB', 'centre µs/MiB', 'service µs/MiB', 'client µs/MiB'],
      rows: cpu.map((row) => [
        row.path,
        row.direction,
        count(row.mbPerSecond),
        micros(row.entry),
        micros(row.centre),
        micros(row.service),
        micros(row.client),
      ]),
    },
  ];
}

function text(table: Table): string {
  const all = [table.header, ...table.rows];
  const widths = table.header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return `\n${table.title}\n${all.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')).join('\n')}\n`;
}

function markdown(table: Table, provenance: Provenance | undefined): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const run = table.scenario ? provenance?.[table.scenario] : undefined;
  const measured = run ? `Measured ${run.date.slice(0, 16).replace('T', ' ')} UTC with \`${run.command}\`.\n\n` : '';
  return `## ${table.title}\n\n${table.note ? `${table.note}\n\n` : ''}${measured}${line(table.header)}\n${line(table.header.map(() => '---'))}\n${table.rows.map(line).join('\n')}\n`;
}

export function renderReport(results: BenchResults, context: ReportContext): { terminal: string; markdown: string } {
  const tables = [
    ...(results.idle.length ? [idleTable(results.idle)] : []),
    ...(results.fanout.length ? [fanoutTable(results.fanout)] : []),
    ...(results.latency.length ? latencyTables(results.latency) : []),
    ...(results.wan.length ? [wanTable(results.wan)] : []),
    ...(results.churn.length ? [churnTable(results.churn)] : []),
    ...(results.engine?.length ? [engineTable(results.engine)] : []),
    ...(results.tunnel?.length ? tunnelTables(results.tunnel) : []),
    ...(results.presence?.length ? presenceTables(results.presence) : []),
    ...(results.tiers?.length ? tiersTables(results.tiers) : []),
  ];
  const { machine } = context;
  const head =
    `# Benchmarks\n\nMachine: ${machine.cpus} × ${machine.model}, ${machine.memoryGiB} GiB, Node ${machine.node}. Run all of it with \`npm run bench\` (about 30 minutes).\n` +
    'Each candidate runs in its own processes (relaymesh: a core and an edge; NATS, in S2 and S3: a hub and a leaf node); subscribers are raw WebSocket clients in separate load processes ' +
    '(at most 15,000 sockets each, from source addresses 127.0.0.2 and up) that count frames (NATS: messages, by the sizes in their lines) without decoding them. ' +
    'The load generator shares the 2 cores with the servers, so absolute rates are lower than on a dedicated machine; the ratios come from the same run.\n';
  return {
    terminal: tables.map(text).join(''),
    markdown: `${head}\n${tables.map((table) => markdown(table, context.provenance)).join('\n')}`,
  };
}
