// The compiled command line as S9 runs it for `--workers`: `relaymesh core` and `relaymesh edge --workers N`, each a
// process of its own (the edge's workers its children), on a topology written with free ports. It reads what each
// process costs and how many client sockets each worker holds from /proc, as an operator would see them. With
// RELAYMESH_BENCH_CLI_LOG_LEVEL=warn (or info), the nodes log at that level to stderr; by default, errors only. With
// RELAYMESH_BENCH_CPU_PROF=<dir>, every process (the workers too) writes a CPU profile there when it stops.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forkBench, type BenchChild } from './child.js';
import type { CliProcessSpec } from './cli-process.js';
import { freePort } from './free-port.js';

export interface CliEdgeCpu {
  /** The edge's processes together: the primary and its workers (one process without workers). */
  edgeMicros: number;
  /** The primary alone (the edge itself without workers). */
  primaryMicros: number;
  coreMicros: number;
}

export interface CliEdge {
  /** ws://… of the edge. */
  url: string;
  /** ws://… of another edge on the same core, for the publisher. */
  publisherUrl: string;
  cpu(): CliEdgeCpu;
  /** Sockets each worker holds beyond those it held once ready (the edge process itself without workers). */
  clientSockets(): Promise<number[]>;
  stop(): Promise<void>;
}

/** From bench/ run by tsx or from dist/bench/, the repository's compiled command line. */
const compiled = import.meta.url.endsWith('.js');
const cli = fileURLToPath(new URL(compiled ? '../cli/main.js' : '../dist/cli/main.js', import.meta.url));
const startMs = 60_000;
const edgeId = 'bench-edge';
const publisherId = 'bench-publisher';

async function sockets(pid: number): Promise<number> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  return links.filter((link) => link.startsWith('socket:')).length;
}

/**
 * CPU time of all of a process's threads in µs, from the scheduler's nanosecond counts (/proc/PID/task/TID/schedstat):
 * the primary's cost per message is a few ms a second, under the 10 ms ticks of /proc/PID/stat.
 */
function cpuMicros(pid: number): number {
  let nanos = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanos += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return nanos / 1000;
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    // pgrep exits 1 when there are none.
    return [];
  }
}

/**
 * Every worker's uplink up, summed over the workers by /metrics (prom-client sums gauges across a cluster). A request
 * of its own each time, closed after the answer: a kept-alive one would sit in a worker's sockets and skew the count.
 */
function uplinksUp(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 2000 }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () =>
        resolve(
          [...text.matchAll(/^relaymesh_edge_uplink_up(?:\{[^}]*\})? (\d+)/gm)].reduce(
            (sum, m) => sum + Number(m[1]),
            0,
          ),
        ),
      );
    });
    request.on('timeout', () => request.destroy(new Error('no answer')));
    request.on('error', reject);
  });
}

/** Polls until `ready` holds or the deadline passes; fails at once if a process of the run has exited. */
async function until(ready: () => Promise<boolean>, running: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + startMs;
  for (;;) {
    if (!running()) throw new Error(`a relaymesh process exited before ${what}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${startMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * `env` reaches the processes (NODE_CLUSTER_SCHED_POLICY). Besides the edge, a publisher's edge straight on the core:
 * the measured edge then only delivers, and its primary's work per message is the one decode and a frame per worker.
 */
export async function startCliEdge(workers: number, env: Record<string, string> = {}): Promise<CliEdge> {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-bench-'));
  const [corePort, edgePort, publisherPort] = [await freePort(), await freePort(), await freePort()];
  const edgeOf = (id: string, port: number) => {
    const url = `ws://127.0.0.1:${port}`;
    return { id, listen: `127.0.0.1:${port}`, url, region: 'bench', cores: ['central'] };
  };
  const topology = {
    cores: [{ id: 'central', listen: `127.0.0.1:${corePort}`, url: `ws://127.0.0.1:${corePort}`, region: 'bench' }],
    edges: [edgeOf(edgeId, edgePort), edgeOf(publisherId, publisherPort)],
    // The benchmark's one publisher sends far more than a client may by default, and every client comes from few addresses.
    limits: { messagesPerSecond: 1_000_000, messageBurst: 1_000_000, maxConnectionsPerIp: 1_000_000 },
  };
  const file = join(dir, 'topology.json');
  await writeFile(file, JSON.stringify(topology));
  const children: BenchChild[] = [];
  const run = async (args: string[]): Promise<number> => {
    const logLevel = process.env.RELAYMESH_BENCH_CLI_LOG_LEVEL ?? 'error';
    const profile = process.env.RELAYMESH_BENCH_CPU_PROF;
    const node = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
    const spec: CliProcessSpec = { args: [...node, cli, ...args, '--topology', file, '--log-level', logLevel], env };
    const child = forkBench('./cli-process.ts', [JSON.stringify(spec)]);
    children.push(child);
    return child.next<number>('pid');
  };
  const running = (): boolean =>
    children.every((child) => child.process.exitCode === null && child.process.signalCode === null);
  const stop = async (): Promise<void> => {
    // Each wrapper stops its command (SIGTERM drains; the clients are gone by now, so it is quick), the edges first.
    for (const child of [...children].reverse()) await child.end();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const corePid = await run(['core', '--id', 'central']);
    const edgePid = await run(['edge', '--id', edgeId, '--workers', String(workers)]);
    await run(['edge', '--id', publisherId]);
    await until(async () => (await uplinksUp(edgePort)) >= workers, running, `edge with ${workers} workers`);
    await until(async () => (await uplinksUp(publisherPort)) >= 1, running, 'the publisher’s edge');
    const workerPids = workers > 1 ? childrenOf(edgePid) : [edgePid];
    if (workerPids.length !== workers) throw new Error(`${workerPids.length} worker processes, not ${workers}`);
    const baseline = await Promise.all(workerPids.map(sockets));
    return {
      url: `ws://127.0.0.1:${edgePort}`,
      publisherUrl: `ws://127.0.0.1:${publisherPort}`,
      cpu: () => {
        const primaryMicros = cpuMicros(edgePid);
        const workerMicros = workers > 1 ? workerPids.reduce((sum, pid) => sum + cpuMicros(pid), 0) : 0;
        return { edgeMicros: primaryMicros + workerMicros, primaryMicros, coreMicros: cpuMicros(corePid) };
      },
      clientSockets: async () =>
        (await Promise.all(workerPids.map(sockets))).map((held, index) => held - baseline[index]!),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
