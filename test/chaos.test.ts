// The chaos test: steady publishing while every uplink is cut five times, and separately black-holed five
// times; every client ends with every message exactly once and in order, keeps its socket, and the core ends
// with one uplink per edge. The same run as `relaymesh bench chaos`, smaller, with its figures asserted.

import test from 'ava';
import { runChaos, type ChaosMode } from '../bench/chaos.js';

const faults: Array<[ChaosMode, string]> = [
  ['cut', 'cut'],
  ['blackhole', 'black-holed'],
];

for (const [mode, done] of faults) {
  test.serial(
    `steady publishing while every uplink is ${done} five times: every message once and in order, no client socket closed`,
    async (t) => {
      const report = await runChaos({ mode, clientsPerEdge: 10, messages: 300, cuts: 5 });

      t.is(report.clients, 20);
      t.true(report.published >= 300);
      t.deepEqual(
        report.faults.map((sample) => `${sample.fault}:${sample.edge}`).sort(),
        [1, 2, 3, 4, 5].flatMap((fault) => [`${fault}:eu-1`, `${fault}:us-1`]),
        'every uplink went down and came back five times',
      );
      t.true(
        report.faults.every((sample) => sample.gap >= 0 && !Number.isNaN(sample.catchUpMs)),
        'every client caught up after every fault',
      );

      t.deepEqual(
        report.clientResults.filter(
          (client) =>
            client.lost + client.duplicated + client.reordered + client.mismatched + client.resets + client.errors > 0,
        ),
        [],
      );
      t.like(report, { lost: 0, duplicated: 0, reordered: 0, mismatched: 0, resets: 0 });
      t.true(report.clientResults.every((client) => client.received === report.published));

      t.is(report.clientSocketsClosed, 0);
      t.deepEqual(report.sessions, { 'eu-1': { before: 10, after: 10 }, 'us-1': { before: 10, after: 10 } });
      t.deepEqual(report.uplinksPerEdge, { 'eu-1': { core: 1, tcp: 1 }, 'us-1': { core: 1, tcp: 1 } });
      t.deepEqual(report.errorsLogged, []);
    },
  );
}
