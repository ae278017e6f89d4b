// The report's view of relaymesh beside NATS, its strongest open peer: which nats-server was measured, and S3's
// latency of the two side by side at each rate asked (– where one was not run, or had saturated below that rate).

import { count, fixed, ratio, type Table } from './report-format.js';
import type { LatencyRow } from './scenarios/latency.js';

/** How NATS ran, for a table's note (with a leading space). */
export function natsNote(rows: { candidate: string; version?: string }[]): string {
  const nats = rows.find((row) => row.candidate === 'nats');
  if (!nats) return ' NATS: not run (nats-server not installed).';
  const version = nats.version ?? '';
  const settings = version.includes('GOMAXPROCS') ? 'default settings otherwise' : 'default settings: Go on every core';
  return (
    ` NATS: nats-server ${version} (${settings}) as a hub and a leaf node connected to it, WebSocket subscribers on the leaf` +
    ' ("server"), the publisher on the hub over TCP ("core"), so each message crosses hub → leaf → clients as relaymesh’s crosses core → edge → clients.'
  );
}

export function latencyBesideNats(rows: LatencyRow[]): Table {
  const of = (kind: string): Map<string, LatencyRow> =>
    new Map(rows.filter((row) => row.candidate === kind).map((row) => [`${row.subscribers}|${row.rate}`, row]));
  const relaymesh = of('relaymesh');
  const nats = of('nats');
  const steps = [...new Set([...relaymesh.keys(), ...nats.keys()])]
    .map((key) => key.split('|').map(Number) as [number, number])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cell = (row: LatencyRow | undefined, value: (row: LatencyRow) => string): string => (row ? value(row) : '–');
  return {
    scenario: 'latency',
    title: 'S3 latency: relaymesh beside NATS',
    note: `The S3 steps of the two, side by side; "p99 vs NATS" is relaymesh's p99 ÷ NATS's.${natsNote(rows)}`,
    header: [
      'subscribers',
      'rate asked/s',
      'relaymesh achieved/s',
      'NATS achieved/s',
      'relaymesh p50 ms',
      'NATS p50 ms',
      'relaymesh p99 ms',
      'NATS p99 ms',
      'p99 vs NATS',
    ],
    rows: steps.map(([subscribers, rate]) => {
      const ours = relaymesh.get(`${subscribers}|${rate}`);
      const theirs = nats.get(`${subscribers}|${rate}`);
      return [
        count(subscribers),
        count(rate),
        cell(ours, (row) => count(row.achieved)),
        cell(theirs, (row) => count(row.achieved)),
        cell(ours, (row) => fixed(row.p50Ms)),
        cell(theirs, (row) => fixed(row.p50Ms)),
        cell(ours, (row) => fixed(row.p99Ms)),
        cell(theirs, (row) => fixed(row.p99Ms)),
        ours && theirs ? ratio(ours.p99Ms, theirs.p99Ms) : '–',
      ];
    }),
  };
}
