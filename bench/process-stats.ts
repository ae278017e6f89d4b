// What a benchmark child process tells about itself when asked `stats` (or `stats-gc`, after a full GC when the
// process runs with --expose-gc): its CPU time so far, its memory and its open files.

import { readdirSync } from 'node:fs';
import type { ServerStats } from './server-process.js';

export function processStats(collectGarbage: boolean): ServerStats {
  if (collectGarbage) for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
  const usage = process.cpuUsage();
  const memory = process.memoryUsage();
  return {
    cpuMicros: usage.user + usage.system,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    arrayBuffers: memory.arrayBuffers,
    fds: readdirSync('/proc/self/fd').length,
  };
}

/** Answers the parent's `stats` and `stats-gc` questions over IPC. */
export function answerStats(): void {
  process.on('message', (message) => {
    if (message === 'stats' || message === 'stats-gc') process.send!({ stats: processStats(message === 'stats-gc') });
  });
}
