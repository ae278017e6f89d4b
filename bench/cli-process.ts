// Runs the compiled command line (`node dist/cli/main.js …`) for a benchmark, as a forked child of the run: it tells
// the parent the command's pid, and once the parent lets go of it or is gone (the IPC channel closes) it stops the
// command, SIGTERM then SIGKILL, so that a run that dies leaves no core or edge behind.

import { spawn } from 'node:child_process';

export interface CliProcessSpec {
  /** Node's arguments: the path of dist/cli/main.js (after any options of Node's own), then its arguments. */
  args: string[];
  env: Record<string, string>;
}

/** Less than BenchChild.end() gives this process before it kills it. */
const stopMs = 4000;

const spec = JSON.parse(process.argv[2]!) as CliProcessSpec;
const command = spawn(process.execPath, spec.args, {
  env: { ...process.env, ...spec.env },
  stdio: ['ignore', 'ignore', 'inherit'],
});
command.once('exit', (code, signal) => {
  if (process.connected) process.send!({ exited: code ?? signal });
  process.exit(0);
});
process.send!({ pid: command.pid });
process.on('disconnect', () => {
  command.kill('SIGTERM');
  setTimeout(() => command.kill('SIGKILL'), stopMs).unref();
});
