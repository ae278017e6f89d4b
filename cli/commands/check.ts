// `relaymesh check [F]`: validates a topology file; exit 0, or every problem and exit 1.

import type { CommandModule } from 'yargs';
import { loadTopologyOrExit } from '../exit.js';

export const checkCommand: CommandModule<object, { file: string }> = {
  command: 'check [file]',
  describe: 'Validate a topology file',
  builder: (y) =>
    y.positional('file', { type: 'string', default: 'topology.json', describe: 'the topology file' }) as never,
  handler: async ({ file }) => {
    const topology = await loadTopologyOrExit(file);
    process.stdout.write(`${topology.file}: ok (${topology.cores.length} core(s), ${topology.edges.length} edge(s))\n`);
  },
};
