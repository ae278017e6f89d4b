// The compiled command line as S9 runs it for `--workers`: `relaymesh core` and `relaymesh edge --workers N`, each a
// process of its own (the edge's workers its children), on a topology written with free ports. It reads what each
// process costs and how many client sockets each worker holds from /proc, as an operator would see them.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
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

/** Every worker's uplink up, summed over the workers by /metrics (prom-client sums gauges across a cluster). */
async function uplinksUp(httpUrl: string): Promise<number> {
  const response = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
  const text = await response.text();
  return [...text.matchAll(/^relaymesh_edge_uplink_up(?:\{[^}]*\})? (\d+)/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
}

/** `env` reaches the edge's processes (NODE_CLUSTER_SCHED_POLICY). */
export async function startCliEdge(workers: number, env: Record<string, string> = {}): Promise<CliEdge> {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-bench-'));
  const [corePort, edgePort] = [await freePort(), await freePort()];
  const edgeUrl = `ws://127.0.0.1:${edgePort}`;
  const topology = {
    cores: [{ id: 'central', listen: `127.0.0.1:${corePort}`, url: `ws://127.0.0.1:${corePort}`, region: 'bench' }],
    edges: [{ id: edgeId, listen: `127.0.0.1:${edgePort}`, url: edgeUrl, region: 'bench', cores: ['central'] }],
    // The benchmark's one publisher sends far more than a client may by default, and every client comes from few addresses.
    limits: { messagesPerSecond: 1_000_000, messageBurst: 1_000_000, maxConnectionsPerIp: 1_000_000 },
  };
  const file = join(dir, 'topology.json');
  await writeFile(file, JSON.stringify(topology));
  const children: BenchChild[] = [];
  const run = async (args: string[]): Promise<{ pid: number; running: () => boolean }> => {
    const spec: CliProcessSpec = { args: [cli, ...args, '--topology', file, '--log-level', process.env.BENCH_CLI_LOG ?? 'error'], env };
    const child = forkBench('./cli-process.ts', [JSON.stringify(spec)]);
    children.push(child);
    const pid = await child.next<number>('pid');
    return { pid, running: () => child.process.exitCode === null && child.process.signalCode === null };
  };
  const stop = async (): Promise<void> => {
    // Each wrapper stops its command (SIGTERM drains; the clients are gone by now, so it is quick), the edge first.
    for (const child of [...children].reverse()) await child.end();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const core = await run(['core', '--id', 'central']);
    const edge = await run(['edge', '--id', edgeId, '--workers', String(workers)]);
    const httpUrl = edgeUrl.replace(/^ws/, 'http');
    const deadline = Date.now() + startMs;
    for (;;) {
      if (!core.running() || !edge.running()) throw new Error('relaymesh core or edge exited at start');
      if ((await uplinksUp(httpUrl).catch(() => 0)) >= workers) break;
      if (Date.now() > deadline) throw new Error(`edge with ${workers} workers not ready within ${startMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const workerPids = workers > 1 ? childrenOf(edge.pid) : [edge.pid];
    if (workerPids.length !== workers) throw new Error(`${workerPids.length} worker processes, not ${workers}`);
    const baseline = await Promise.all(workerPids.map(sockets));
    return {
      url: edgeUrl,
      cpu: () => {
        const primaryMicros = cpuMicros(edge.pid);
        const workerMicros = workers > 1 ? workerPids.reduce((sum, pid) => sum + cpuMicros(pid), 0) : 0;
        return { edgeMicros: primaryMicros + workerMicros, primaryMicros, coreMicros: cpuMicros(core.pid) };
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
