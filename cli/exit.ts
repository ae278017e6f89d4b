// Ending a command with an error: the message on stderr and exit code 1 (cli/ is the only place that exits).

import { TopologyError, loadTopology, type NodeScope, type Topology } from '../shared/topology.js';

export function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/** The topology of `file` (for one node of it, when `scope` says which), or its problems and exit 1. */
export async function loadTopologyOrExit(file: string, scope?: NodeScope): Promise<Topology> {
  try {
    return await loadTopology(file, scope);
  } catch (error) {
    if (error instanceof TopologyError) fail(`${error.message}\n${error.problems.length} problem(s)`);
    throw error;
  }
}
