// What a server process that cannot be asked over IPC (nats-server) costs, read from /proc: the CPU time of all its
// threads, its resident memory and its open files, in the shape the Node servers answer `stats` with.

import { readdirSync, readFileSync } from 'node:fs';
import type { ServerStats } from './server-process.js';

/** USER_HZ: Linux reports CPU time in /proc in hundredths of a second, whatever the kernel's tick. */
const ticksPerSecond = 100;

export function pidStats(pid: number): ServerStats {
  // Fields after the command name, which is in brackets and may hold spaces: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return {
    cpuMicros: (ticks * 1_000_000) / ticksPerSecond,
    rss: rssKiB * 1024,
    // Not a JavaScript process: no heap of that kind to report.
    heapUsed: 0,
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}
