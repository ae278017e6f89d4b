// `relaymesh edge --id ID --workers N`: N worker processes serve the edge's `listen` address (node:cluster hands out
// connections round-robin), and the primary holds the edge's one uplink as a hub whose edges are the workers, on
// loopback with a secret of this run. /metrics on any worker sums them all; SIGTERM drains every worker; a worker
// that dies is started again (its clients reconnect and resume).

import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import { startEdge } from '../edge/start-edge.js';
import { RelayError } from '../shared/errors.js';
import { startHubCore, type HubCore } from '../hub/start-hub.js';
import { idleReport, type EdgeReport } from '../shared/mesh-status.js';
import { fail, loadTopologyOrExit } from './exit.js';
import { createLogger } from './logger.js';
import type { RunSelection } from './mesh-runner.js';
import { edgeOptionsOf, hubOptionsOf } from './node-options.js';

/** Messages between the primary and its workers, beside prom-client's own. */
type WorkerMessage =
  { relaymesh: 'upstream'; problem: string | undefined } | { relaymesh: 'metrics'; request: number; text?: string };

/** Set by the primary for each worker. */
const env = { index: 'RELAYMESH_WORKER_INDEX', core: 'RELAYMESH_WORKER_CORE', secret: 'RELAYMESH_WORKER_SECRET' };

/** How long a worker's /metrics waits for the primary (which waits up to 5 s for the other workers). */
const metricsWaitMs = 8000;

/** Beyond its drain grace, what a worker has to stop before it is killed. */
const stopMarginMs = 10_000;

/** A worker that dies sooner than this after its start is started again only after this long (a crash loop). */
const crashLoopMs = 2000;

export async function runEdgeWorkers(selection: RunSelection & { only: { id: string } }, count: number): Promise<void> {
  if (cluster.isPrimary) await runPrimary(selection, count);
  else await runWorker(selection);
}

async function runPrimary(selection: RunSelection & { only: { id: string } }, count: number): Promise<void> {
  const topology = await loadTopologyOrExit(selection.topologyFile, { role: 'edge', id: selection.only.id });
  const logger = createLogger(selection.logLevel, selection.logFormat);
  const edge = topology.edges.find((node) => node.id === selection.only.id);
  if (!edge) fail(`${topology.file}: no edge with id "${selection.only.id}"`);
  if (edge.hub) fail(`${topology.file}: edge ${edge.id} is a hub, which runs as one process (no --workers)`);
  const secret = randomBytes(24).toString('base64url');
  const workerIds = Array.from({ length: count }, (_, index) => workerIdOf(edge.id, index));
  const options = hubOptionsOf(topology, edge.id, logger);
  const workers = new Map<number, Worker>();
  let problem: string | undefined = 'connecting';
  const tellWorkers = (message: WorkerMessage): void => {
    for (const worker of workers.values()) tell(worker, message);
  };
  let hub: HubCore;
  try {
    hub = await startHubCore(
      {
        ...options,
        // Only this run's workers connect here, with this run's secret.
        edgeSecrets: new Map(workerIds.map((id) => [id, secret])),
        knownEdges: new Map(workerIds.map((id) => [id, { url: edge.url, region: edge.region }])),
      },
      {
        report: (core) =>
          sumReports(
            edge.url,
            [...core.uplinks.values()].map((peer) => peer.report),
          ),
        hideEdges: true,
        onUpstream: (connected) => {
          problem = connected ? undefined : (hub?.engine.status().unavailable ?? 'no uplink to a core');
          tellWorkers({ relaymesh: 'upstream', problem });
        },
      },
    );
  } catch (error) {
    fail(`cannot start: ${(error as Error).message}`);
  }
  hub.start();
  const aggregator = new AggregatorRegistry();
  // The workers' figures summed, and the uplink's (the core side's own relaymesh_ families: its process is not an edge).
  const metricsText = async (): Promise<string> => {
    const uplink = (await hub.core.metrics.registry.getMetricsAsJSON()).filter((metric) =>
      metric.name.startsWith('relaymesh_'),
    );
    return `${await aggregator.clusterMetrics()}\n${await AggregatorRegistry.aggregate([uplink]).metrics()}`;
  };

  let stopping = false;
  const fork = (index: number): void => {
    const worker = cluster.fork({ [env.index]: String(index), [env.core]: hub.core.url, [env.secret]: secret });
    const started = Date.now();
    workers.set(index, worker);
    // Once it listens, it hears: whether the edge's uplink is up now, then every change.
    worker.on('listening', () => tell(worker, { relaymesh: 'upstream', problem }));
    // A worker going away while it is told something (EPIPE) is its exit's business, not a crash of the primary.
    worker.on('error', (error) => logger.debug({ worker: index, err: error.message }, 'worker channel error'));
    worker.on('message', (message: WorkerMessage) => {
      if (message.relaymesh !== 'metrics') return;
      const answer = (text?: string): void => tell(worker, { relaymesh: 'metrics', request: message.request, text });
      metricsText().then(answer, (error: Error) => {
        logger.warn({ err: error.message }, 'cannot gather the workers’ metrics');
        answer();
      });
    });
    worker.on('exit', (code, signal) => {
      if (workers.get(index) === worker) workers.delete(index);
      if (stopping) return;
      logger.error({ worker: index, code, signal }, 'worker died; starting it again');
      const delay = Date.now() - started < crashLoopMs ? crashLoopMs : 0;
      setTimeout(() => !stopping && fork(index), delay);
    });
  };
  for (let index = 0; index < count; index++) fork(index);
  process.stdout.write(
    `edge ${edge.id} (${edge.region}) listening on ${edge.url} with ${count} workers, clients at ${edge.url}/v1/ws\n`,
  );

  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: draining every worker');
    const exits = [...workers.values()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          worker.process.kill('SIGTERM');
          // A worker that does not finish its drain in time is stopped anyway.
          setTimeout(() => worker.process.kill('SIGKILL'), topology.limits.drainGraceMs + stopMarginMs).unref();
        }),
    );
    Promise.all(exits)
      .then(() => hub.close())
      .then(
        () => process.exit(0),
        (error: Error) => fail(`error while stopping: ${error.message}`),
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGUSR2', () => {
    for (const worker of workers.values()) worker.process.kill('SIGUSR2');
  });
}

async function runWorker(selection: RunSelection & { only: { id: string } }): Promise<void> {
  const topology = await loadTopologyOrExit(selection.topologyFile, { role: 'edge', id: selection.only.id });
  const index = Number(process.env[env.index]);
  const logger = createLogger(selection.logLevel, selection.logFormat).child({ worker: index });
  let upstreamProblem: string | undefined = 'connecting';
  const metricRequests = new Map<number, (text: string | undefined) => void>();
  let nextRequest = 0;
  process.on('message', (message: WorkerMessage) => {
    if (message.relaymesh === 'upstream') upstreamProblem = message.problem;
    if (message.relaymesh === 'metrics') {
      metricRequests.get(message.request)?.(message.text);
      metricRequests.delete(message.request);
    }
  });
  // prom-client answers the primary's aggregation requests (its listener comes with an instance) from the start, so a
  // starting worker does not hold up the others' /metrics; with this edge's registry once it runs.
  new AggregatorRegistry();
  const options = edgeOptionsOf(topology, selection.only.id, logger);
  const edge = await startEdge({
    ...options,
    workerId: workerIdOf(options.id, index),
    cores: [{ id: options.id, url: process.env[env.core]! }],
    secret: process.env[env.secret],
    proxy: undefined,
    ca: undefined,
    upstreamProblem: () => upstreamProblem,
    metricsRegistry: {
      contentType: AggregatorRegistry.PROMETHEUS_CONTENT_TYPE,
      metrics: () =>
        new Promise((resolve, reject) => {
          const request = nextRequest++;
          const unavailable = (): void =>
            reject(new RelayError('unavailable', 'the workers’ metrics cannot be gathered now; try again'));
          const timer = setTimeout(() => {
            metricRequests.delete(request);
            unavailable();
          }, metricsWaitMs);
          metricRequests.set(request, (text) => {
            clearTimeout(timer);
            if (text === undefined) unavailable();
            else resolve(text);
          });
          process.send!({ relaymesh: 'metrics', request } satisfies WorkerMessage);
        }),
    },
  }).catch((error: Error) => fail(`worker ${index} cannot start: ${error.message}`));
  AggregatorRegistry.setRegistries([edge.metrics.registry]);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    edge.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGUSR2', () => void edge.drain());
  // The primary gone (killed) leaves nobody to restart or drain this worker: it stops with it.
  process.on('disconnect', stop);
}

/** Sends to a worker that may be going away: a message it cannot take is dropped (its exit is handled). */
function tell(worker: Worker, message: WorkerMessage): void {
  if (worker.isConnected()) worker.send(message, undefined, () => {});
}

function workerIdOf(edgeId: string, index: number): string {
  return `${edgeId}.worker-${index}`;
}

/** The edge as its core sees it: every worker's clients, topics and counters together. */
function sumReports(url: string, reports: ReadonlyArray<EdgeReport | undefined>): EdgeReport {
  const sum = idleReport(url);
  for (const report of reports) {
    if (!report) continue;
    sum.draining ||= report.draining;
    sum.sessions += report.sessions;
    sum.capacity += report.capacity;
    sum.topics = Math.max(sum.topics, report.topics);
    sum.deliveries += report.deliveries;
    sum.messagesIn = Math.max(sum.messagesIn, report.messagesIn);
    sum.published += report.published;
  }
  return sum;
}
