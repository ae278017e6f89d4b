// S9's tables for the benchmark report: WAN copies without and with a hub, latency per hub hop, `--workers 1` against
// `--workers 2`, how node:cluster spreads connections, and what that suggests for bigger hosts.

import { count, fixed, median, type Table } from './report-format.js';
import type { MachineLoadRow } from './scenarios/presence.js';
import type { TiersRow } from './scenarios/tiers.js';
import type { TierHopRow } from './tiers-hops.js';
import type { TierPrimaryRow } from './tiers-primary.js';
import type { TierWanRow } from './tiers-wan.js';
import type { TierSpreadRow, TierWorkersRow } from './tiers-workers.js';

function wanTable(rows: TierWanRow[], machine: MachineLoadRow | undefined): Table {
  const load = machine
    ? ` Load average (1 min) ${fixed(machine.loadBefore)} when S9 started, ${fixed(machine.loadAfter)} when it ended.`
    : '';
  return {
    scenario: 'tiers',
    title: 'S9 tiers: WAN copies per message',
    note:
      'One core, each node in a process of its own: a region of 3 edges straight on the core, and a region of 3 edges behind a hub (`edges[].hub`) on the same core, each region subscribed to a topic of its own (its subscribers spread evenly over its edges); the publisher on an edge of its own. ' +
      'What the core sent toward each region per published message (payload bytes of its WebSocket messages on the region’s uplinks: the 3 edges’, or the hub’s alone, status and heartbeats included), with 4 messages in flight. ' +
      `"copies": bytes ÷ one copy, what one edge straight on the core received per message.${load}`,
    header: [
      'region',
      'subscribers',
      'payload B',
      'bytes/message',
      'frames/message',
      'copies/message',
      'bytes vs no hub',
    ],
    rows: rows.map((row) => {
      const without = rows.find((other) => !other.hub && other.payloadBytes === row.payloadBytes);
      return [
        row.hub ? `${row.edges} edges behind a hub` : `${row.edges} edges on the core`,
        count(row.subscribers),
        count(row.payloadBytes),
        count(row.bytesPerMessage),
        fixed(row.framesPerMessage),
        fixed(row.bytesPerMessage / row.copyBytes),
        without ? `${fixed(row.bytesPerMessage / without.bytesPerMessage)}×` : '–',
      ];
    }),
  };
}

function hopTable(rows: TierHopRow[]): Table {
  const paths = ['edge → core', 'edge → hub → core', 'edge → hub → hub → core'];
  const table: string[][] = [];
  for (const rate of new Set(rows.map((row) => row.messagesPerSecond))) {
    const of = (hubs: number): TierHopRow[] =>
      rows.filter((row) => row.messagesPerSecond === rate && row.hubs === hubs);
    const p50 = (hubs: number): number => median(of(hubs).map((row) => row.p50Ms));
    const p99 = (hubs: number): number => median(of(hubs).map((row) => row.p99Ms));
    const perHop = (value: (hubs: number) => number, hubs: number): string =>
      hubs === 0 ? '–' : fixed((value(hubs) - value(0)) / hubs);
    const depths = [...new Set(rows.map((row) => row.hubs))].sort((a, b) => a - b);
    for (const hubs of depths) {
      const runs = of(hubs).map((row) => row.p50Ms);
      table.push([
        paths[hubs] ?? `edge behind ${hubs} hubs`,
        count(rate),
        count(median(of(hubs).map((row) => row.achieved))),
        fixed(p50(hubs)),
        `${fixed(Math.min(...runs))}–${fixed(Math.max(...runs))}`,
        fixed(p99(hubs)),
        perHop(p50, hubs),
        perHop(p99, hubs),
      ]);
    }
  }
  const first = rows[0]!;
  return {
    scenario: 'tiers',
    title: 'S9 tiers: latency per hub hop',
    note:
      `Publish→delivery latency (open loop, from the intended send time, as S3) of 100 B messages to ${count(first.subscribers)} subscribers of one edge, 4 of them probes that subscribed first: the edge writes to them before the others, so the figure is the path (and the machine’s scheduling), not the fan-out S3 measures. ` +
      'One mesh, each node in a process of its own: an edge straight on the core, one behind a hub, one behind two chained hubs, each with the subscribers of a topic of its own; the publisher on an edge straight on the core, so the hubs are crossed on the way down only. ' +
      `At each rate the three take turns in ${new Set(rows.map((row) => row.round)).size} rounds of ${fixed(first.stepMs / 1000, 1)} s, the first of a round rotating: medians over rounds, and the p50’s spread over them, which is what noise looks like here. ` +
      'Added per hop: (this path − the edge on the core) ÷ hubs. Every process shares the 2 cores with the load generators: at the higher rate they are busy, and each hub is one more process waiting for a core.',
    header: [
      'path',
      'messages/s',
      'deliveries/s',
      'p50 ms',
      'p50 min–max',
      'p99 ms',
      'added p50 per hop ms',
      'added p99 per hop ms',
    ],
    rows: table,
  };
}

function workersTable(rows: TierWorkersRow[]): Table {
  return {
    scenario: 'tiers',
    title: 'S9 tiers: relaymesh edge --workers 1 and 2',
    note:
      'The compiled command line: `relaymesh core` and `relaymesh edge --workers N` on one topology, each its own process (with 2, a primary holding the uplink and 2 worker processes, connections handed out round-robin). ' +
      `Publish→delivery at rising delivery rates as S3 (open loop, steps of ${fixed(rows[0]!.stepMs / 1000, 1)} s, 100 B, 4 probes in the middle of the fan-out order), ${count(rows[0]!.subscribers)} subscribers in 2 load processes, the publisher on an edge of its own on the same core (so the measured edge only delivers); the steps stop at saturation or a p99 over 1 s. ` +
      'CPU from /proc over each step, in cores: the edge’s processes together (primary and workers), the primary alone, the core. ' +
      'This machine has 2 cores for the edge’s processes, the core, the load generators and the probes together: a second worker has no core of its own here, so this shows its cost more than its gain.',
    header: [
      'workers',
      'rate asked/s',
      'achieved/s',
      'p50 ms',
      'p99 ms',
      'edge CPU cores',
      'primary cores',
      'core cores',
    ],
    rows: rows.map((row) => [
      String(row.workers),
      count(row.rate),
      count(row.achieved),
      fixed(row.p50Ms),
      fixed(row.p99Ms),
      fixed(row.edgeCores),
      row.workers > 1 ? fixed(row.primaryCores) : '–',
      fixed(row.coreCores),
    ]),
  };
}

function spreadTable(rows: TierSpreadRow[]): Table {
  return {
    scenario: 'tiers',
    title: 'S9 tiers: connections over 2 workers',
    note:
      'Client sockets each worker of `relaymesh edge --workers 2` held (from /proc, beyond those it held when ready) once the clients of the `--workers 2` run had connected (half the subscribers from one load process, 250 connecting at a time, then the 4 probes, then the other half from a second load process). ' +
      '`rr`: the primary accepts and hands each connection to a worker that has taken the last one it was given (node:cluster’s default on Linux), in the `--workers 2` run; `none` (NODE_CLUSTER_SCHED_POLICY=none): the workers accept from the shared socket themselves, as the kernel wakes them, in a run of its own.',
    header: ['policy', 'connections', 'worker 1', 'worker 2', 'busiest share'],
    rows: rows.map((row) => {
      const total = row.perWorker.reduce((sum, one) => sum + one, 0);
      return [
        row.policy,
        count(total),
        ...row.perWorker.map(count),
        total ? `${fixed((100 * Math.max(...row.perWorker)) / total, 1)} %` : '–',
      ];
    }),
  };
}

function primaryTable(rows: TierPrimaryRow[]): Table {
  return {
    scenario: 'tiers',
    title: 'S9 tiers: edge CPU per message, few subscribers',
    note:
      'After the steps above, on the same processes: a burst of messages (16 in flight, from the publisher’s edge) to a topic of 4 probes per worker, so the fan-out is small and the cost per message shows; CPU beyond each process’s idle rate of the second before, from the scheduler’s nanosecond counts. ' +
      'With workers, the primary decodes each message from the core once and writes a frame to each worker with a subscriber of the topic; each worker decodes its frame and writes to its probes.',
    header: [
      'workers',
      'messages',
      'workers with a probe',
      'primary µs/message',
      'workers µs/message',
      'edge total µs/message',
    ],
    rows: rows.map((row) => [
      String(row.workers),
      count(row.messages),
      row.workers > 1 ? String(row.workersReached) : '–',
      row.workers > 1 ? fixed(row.primaryMicrosPerMessage, 1) : '–',
      fixed(row.workers > 1 ? row.workersMicrosPerMessage : row.primaryMicrosPerMessage, 1),
      fixed(row.primaryMicrosPerMessage + (row.workers > 1 ? row.workersMicrosPerMessage : 0), 1),
    ]),
  };
}

/** The highest step that kept up (else the first): where CPU per delivery is least blurred by idle work. */
function topStep(rows: TierWorkersRow[], workers: number): TierWorkersRow | undefined {
  const of = rows.filter((row) => row.workers === workers);
  const kept = of.filter((row) => row.achieved >= 0.9 * row.rate);
  return (kept.length ? kept : of).at(-1);
}

function sizingTable(rows: TierWorkersRow[], primary: TierPrimaryRow[]): Table {
  const single = rows.filter((row) => row.workers === 1);
  const perDelivery = (row: TierWorkersRow | undefined): number | undefined =>
    row ? (row.edgeCores * 1e6) / row.achieved : undefined;
  // The lowest rate writes each message on its own; the highest that kept up writes several to a client at once.
  const alone = perDelivery(single[0]);
  const batched = perDelivery(topStep(rows, 1));
  const two = primary.find((row) => row.workers === 2);
  const one = primary.find((row) => row.workers === 1);
  // The primary per message: batched in the burst, one at a time at the steps' top rate (beyond its idle rate).
  const twoTop = topStep(rows, 2);
  const primaryBatched = two?.primaryMicrosPerMessage;
  const primaryAlone = twoTop
    ? ((twoTop.primaryCores - twoTop.primaryIdleCores) * 1e6) / twoTop.messagesPerSecond
    : undefined;
  const measured =
    alone !== undefined && batched !== undefined && primaryBatched !== undefined && primaryAlone !== undefined
      ? `From this run: one edge process spent ${fixed(alone)} µs of CPU per delivery at ${count(single[0]!.achieved)} deliveries/s and ${fixed(batched)} µs at ${count(topStep(rows, 1)!.achieved)}/s; the primary of 2 workers ${fixed(primaryBatched, 0)} µs per message in the burst and ${fixed(primaryAlone, 0)} µs at ${fixed(twoTop!.messagesPerSecond, 0)} messages/s, each on its own (beyond its idle rate). `
      : '';
  const overhead =
    one && two
      ? ` (with few subscribers per message, the edge’s processes spent ${fixed(two.primaryMicrosPerMessage + two.workersMicrosPerMessage, 0)} µs per message with 2 workers, against ${fixed(one.primaryMicrosPerMessage, 0)} µs in one process)`
      : '';
  const hosts = [
    { cores: 2, workers: 1 },
    { cores: 4, workers: 3 },
    { cores: 8, workers: 7 },
    { cores: 16, workers: 15 },
    { cores: 32, workers: 30 },
  ];
  return {
    title: 'S9 tiers: sizing --workers on bigger hosts',
    note:
      'Reasoning, not a measurement. A worker is one event loop and uses one core at most; its cost grows with deliveries, about 10 µs each when every message is a write of its own to each client and under 1 µs when messages queue and go out to a client together (S2, and the steps above). ' +
      'The primary’s cost grows with messages × workers, not with clients: per published message it decodes the one uplink frame and writes a frame to each worker with a subscriber (with `rr` it also accepts every connection). ' +
      `Each worker decodes every message it gets as well, so workers pay off when deliveries per message dominate${overhead}. ` +
      'Hence about one worker per core, leaving one core for the primary and the kernel’s network work from 4 cores up, and two at 32 cores, where the primary writes 30 frames per message. ' +
      '10–20k clients per worker: a broadcast to all of a worker’s subscribers takes about clients × µs per delivery (with 10,000 subscribers the p50 is 50–120 ms in S3 and in the steps above), and memory is 6–7 KiB per client (S1), ~130 MiB for 20,000: past that, the latency of a busy topic grows long before memory runs short. ' +
      'limits.maxConnections (100,000) holds per worker. On 2 cores, as here, one process is the choice: a second worker has no core of its own. ' +
      measured +
      'The estimates scale these: deliveries/s = workers × 10⁶ ÷ µs per delivery, from messages written one at a time to messages batched (a ceiling: every worker’s core busy with deliveries alone); the primary at 1,000 messages/s = 1,000 × its µs per message (batched, then one at a time) × (1 + workers) ÷ 3 (a decode and a frame per worker, against the 1 + 2 measured).',
    header: [
      'host cores',
      '--workers',
      'clients (10–20k per worker)',
      'primary’s work per message',
      'deliveries/s (est.)',
      'primary at 1,000 messages/s (est.)',
    ],
    rows: hosts.map(({ cores, workers }) => [
      String(cores),
      String(workers),
      `${count(workers * 10_000)}–${count(workers * 20_000)}`,
      workers === 1 ? 'none (no primary)' : `1 decode + ${workers} frames`,
      alone && batched ? `${count((workers * 1e6) / alone)}–${count((workers * 1e6) / batched)}` : '–',
      workers === 1 || primaryBatched === undefined || primaryAlone === undefined
        ? '–'
        : `${[primaryBatched, primaryAlone].map((micros) => fixed((1000 * micros * (1 + workers)) / 3 / 1e4, 0)).join('–')} % of a core`,
    ]),
  };
}

export function tiersTables(rows: TiersRow[]): Table[] {
  const wan = rows.filter((row): row is TierWanRow => row.kind === 'wan');
  const hops = rows.filter((row): row is TierHopRow => row.kind === 'hop');
  const workers = rows.filter((row): row is TierWorkersRow => row.kind === 'workers');
  const spread = rows.filter((row): row is TierSpreadRow => row.kind === 'spread');
  const primary = rows.filter((row): row is TierPrimaryRow => row.kind === 'primary');
  const machine = rows.find((row): row is MachineLoadRow => row.kind === 'machine');
  return [
    ...(wan.length ? [wanTable(wan, machine)] : []),
    ...(hops.length ? [hopTable(hops)] : []),
    ...(workers.length ? [workersTable(workers)] : []),
    ...(primary.length ? [primaryTable(primary)] : []),
    ...(spread.length ? [spreadTable(spread)] : []),
    ...(workers.length ? [sizingTable(workers, primary)] : []),
  ];
}
