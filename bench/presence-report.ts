// S8's tables for the benchmark report: the fan-out with presence unused and watched, join / leave churn and
// `presence` answers, and what backend hooks add to connect, sub and pub.

import { count, fixed, median, ratio, type Table } from './report-format.js';
import type { PresenceChurnRow, PresenceQueryRow } from './presence-churn.js';
import type { PresenceFanoutRow } from './presence-fanout.js';
import { hookWarmup, type HookRow } from './presence-hooks.js';
import type { MachineLoadRow, PresenceRow } from './scenarios/presence.js';

function fanoutTable(rows: PresenceFanoutRow[], machine: MachineLoadRow | undefined): Table {
  const table: string[][] = [];
  const caseOf = (row: PresenceFanoutRow): string =>
    `${count(row.subscribers)} subs, ${row.payloadBytes} B, ${row.inFlight} in flight`;
  for (const name of new Set(rows.map(caseOf))) {
    const runs = rows.filter((row) => caseOf(row) === name);
    const plain = median(runs.filter((row) => row.variant === 'plain').map((row) => row.edgeMicrosPerDelivery));
    for (const variant of ['plain', 'joinLeave'] as const) {
      const of = runs.filter((row) => row.variant === variant);
      if (!of.length) continue;
      const edge = of.map((row) => row.edgeMicrosPerDelivery);
      table.push([
        name,
        variant === 'plain' ? 'plain sub' : `${of[0]!.watchers} with joinLeave`,
        fixed(median(edge)),
        `${fixed(Math.min(...edge))}–${fixed(Math.max(...edge))}`,
        fixed(median(of.map((row) => row.coreMicrosPerDelivery))),
        count(median(of.map((row) => row.deliveriesPerSecond))),
        ratio(median(edge), plain),
      ]);
    }
  }
  const rounds = new Set(rows.map((row) => row.round)).size;
  const load = machine
    ? ` Load average (1 min) ${fixed(machine.loadBefore)} when S8 started, ${fixed(machine.loadAfter)} when it ended.`
    : '';
  return {
    scenario: 'presence',
    title: 'S8 presence: fan-out cost',
    note:
      'CPU per delivery as in S2, on one topic whose subscribers are all presence members (any exact `sub` is); relaymesh only, an edge and a core each in its own process. ' +
      '"plain sub": nobody asked for join / leave; "with joinLeave": that many of the same subscribers resubscribed with `joinLeave: true`, on the same sockets. ' +
      'Measured once the joins of the first 1,000 members (announced at 100/s) have all gone out: the topic is then over the event cap, so no join / leave is sent while it is measured. ' +
      `The two alternate over ${rounds} rounds, each first as often: medians, and the edge's spread over rounds, which is what noise looks like here. ` +
      `The load generators share the machine's 2 cores with the servers.${load}`,
    header: [
      'case',
      'variant',
      'edge µs/delivery',
      'edge min–max over rounds',
      'core µs/delivery',
      'deliveries/s',
      'edge vs plain',
    ],
    rows: table,
  };
}

function churnRows(row: PresenceChurnRow): string[][] {
  const pairs = [
    `join + leave pairs/s (${count(row.churners)} sessions: sub, subok, unsub, unsubok in a loop)`,
    count(row.members),
    `${count(row.pairs / row.seconds)}/s`,
    fixed(row.edgeMicrosPerPair, 1),
    fixed(row.coreMicrosPerPair, 1),
    fixed(row.clientMicrosPerPair, 1),
    `${count(row.pairs)} pairs in ${fixed(row.seconds, 1)} s, until a \`presence\` answer counted ${count(row.members)} again (${count(row.settleMs)} ms after the last unsubok); ${row.failures} failed${row.firstFailure ? ` (${row.firstFailure})` : ''}`,
  ];
  if (row.eventsPerSecond === undefined) return [pairs];
  const converged =
    row.convergedMs === undefined
      ? `only ${row.watchersMatching} of ${row.watchers} watchers' views matched \`presence\` within 30 s of the churn's end`
      : `every watcher's view (its \`presence\` answer before the churn, then the joins and leaves it heard) matched the \`presence\` member list ${count(row.convergedMs)} ms after the churn's end`;
  const events = [
    `join / leave delivered/s to ${row.watchers} watchers while the churn ran`,
    count(row.members),
    `${count(row.eventsPerSecond)}/s`,
    '–',
    '–',
    '–',
    `${count(row.eventsPerSecond / row.watchers)} announced/s on the topic, against ${count((2 * row.pairs) / row.seconds)} joins + leaves/s; ${converged}`,
  ];
  return [pairs, events];
}

function queryRow(row: PresenceQueryRow): string[] {
  return [
    `\`presence\` answer p50 / p99 (${row.queries} questions, one at a time)`,
    count(row.members),
    `${fixed(row.p50Ms)} / ${fixed(row.p99Ms)} ms`,
    '–',
    '–',
    '–',
    `count ${count(row.count)}, ${count(row.listed)} members listed`,
  ];
}

function churnTable(rows: Array<PresenceChurnRow | PresenceQueryRow>): Table {
  return {
    scenario: 'presence',
    title: 'S8 presence: joins, leaves and answers',
    note:
      'Members held by a load process on one topic while sessions of another keep subscribing and unsubscribing (each pair is one join and one leave); one edge and one core. ' +
      'Over 1,000 members joins and leaves are not announced (limits.presenceEventsMaxMembers), so events are counted on a smaller topic with watchers (`joinLeave: true`), each of which takes its view from a `presence` answer and then the events it hears. ' +
      'A core announces at most limits.presenceEventsPerSecond (100, burst 200) joins and leaves per topic and coalesces each session’s changes beyond it (a join and a leave that both waited cancel out): the watchers hear about that rate whatever the churn, and the check is that what they heard ends at the true members. ' +
      'CPU per pair: each process’s CPU over the churn and the catching up, divided by the pairs (load: the churning sessions’ process). Answers are timed in the orchestrating process, from sending `presence` to the answer’s last byte.',
    header: ['what', 'members', 'figure', 'edge µs/pair', 'core µs/pair', 'load µs/pair', 'notes'],
    rows: rows.flatMap((row) => (row.kind === 'churn' ? churnRows(row) : [queryRow(row)])),
  };
}

function hooksTable(rows: HookRow[]): Table {
  const of = (hooked: boolean): HookRow[] => rows.filter((row) => row.hooked === hooked);
  const at = (hooked: boolean, value: (row: HookRow) => number | undefined): number | undefined => {
    const values = of(hooked)
      .map(value)
      .filter((one): one is number => one !== undefined);
    return values.length ? median(values) : undefined;
  };
  const shown = (value: number | undefined, digits: number): string =>
    value === undefined ? '–' : digits ? fixed(value, digits) : count(value);
  const line = (
    what: string,
    value: (row: HookRow) => number | undefined,
    digits: number,
    compare: 'added' | 'ratio',
  ) => {
    const without = at(false, value);
    const withHooks = at(true, value);
    const difference =
      without === undefined || withHooks === undefined
        ? '–'
        : compare === 'ratio'
          ? ratio(withHooks, without)
          : `${withHooks >= without ? '+' : '−'}${fixed(Math.abs(withHooks - without), digits)}`;
    return [what, shown(without, digits), shown(withHooks, digits), difference];
  };
  const total = (hooked: boolean): number => of(hooked).reduce((sum, row) => sum + row.connectFailures, 0);
  const first = rows[0]!;
  const failures = rows.find((row) => row.firstFailure)?.firstFailure;
  return {
    scenario: 'presence',
    title: 'S8 backend hooks',
    note:
      'The same mesh (an edge and a core, each in its own process) without hooks, and with connect, subscribe and publish hooks all at a local HTTP backend in its own process that answers `{"allow": true}` (node:http, over the edge’s keep-alive connections). ' +
      `Latency is client-side, one operation at a time: ${count(first.samples)} of each after ${hookWarmup} untimed; sub is to a topic another session holds, so without a hook the edge answers it alone; pub waits for the core’s puback. ` +
      `Connects: ${first.processes} load processes each keeping ${first.concurrency} in progress (upgrade, connect→welcome, close) for ${fixed(first.seconds, 0)} s. ` +
      `Medians over ${new Set(rows.map((row) => row.round)).size} rounds that alternate which goes first; the backend, the servers and the load share the 2 cores.` +
      (failures ? ` First failure: ${failures}.` : ''),
    header: ['what', 'without hooks', 'with hooks', 'difference'],
    rows: [
      line('connect→welcome p50 ms', (row) => row.connectP50Ms, 2, 'added'),
      line('connect→welcome p99 ms', (row) => row.connectP99Ms, 2, 'added'),
      line('sub→subok p50 ms', (row) => row.subP50Ms, 2, 'added'),
      line('sub→subok p99 ms', (row) => row.subP99Ms, 2, 'added'),
      line('pub→puback p50 ms', (row) => row.pubP50Ms, 2, 'added'),
      line('pub→puback p99 ms', (row) => row.pubP99Ms, 2, 'added'),
      line('connects/s', (row) => row.connectsPerSecond, 0, 'ratio'),
      line('edge CPU µs per connect', (row) => row.edgeMicrosPerConnect, 0, 'ratio'),
      line('backend CPU µs per connect hook call', (row) => row.backendMicrosPerCall, 0, 'ratio'),
      line('load generators’ CPU µs per connect', (row) => row.clientMicrosPerConnect, 0, 'ratio'),
      ['failed connects, all rounds', ...[false, true].map((hooked) => count(total(hooked))), '–'],
    ],
  };
}

export function presenceTables(rows: PresenceRow[]): Table[] {
  const fanout = rows.filter((row): row is PresenceFanoutRow => row.kind === 'fanout');
  const churn = rows.filter(
    (row): row is PresenceChurnRow | PresenceQueryRow => row.kind === 'churn' || row.kind === 'query',
  );
  const hooks = rows.filter((row): row is HookRow => row.kind === 'hooks');
  const machine = rows.find((row): row is MachineLoadRow => row.kind === 'machine');
  return [
    ...(fanout.length ? [fanoutTable(fanout, machine)] : []),
    ...(churn.length ? [churnTable(churn)] : []),
    ...(hooks.length ? [hooksTable(hooks)] : []),
  ];
}
