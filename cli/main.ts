#!/usr/bin/env node
// The `relaymesh` command line (docs/protocol.md §7): one yargs command per file in cli/commands/.

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { defaultLogFormat, logFormats } from './logger.js';
import { benchCommand } from './commands/bench.js';
import { checkCommand } from './commands/check.js';
import { coreCommand, edgeCommand, upCommand } from './commands/run.js';
import { forwardCommand } from './commands/forward.js';
import { pubCommand } from './commands/pub.js';
import { statusCommand } from './commands/status.js';
import { subCommand } from './commands/sub.js';
import { tokenCommand } from './commands/token.js';

await yargs(hideBin(process.argv))
  .scriptName('relaymesh')
  .option('log-level', {
    type: 'string',
    default: process.env.RELAYMESH_LOG_LEVEL ?? 'info',
    describe: 'pino log level (logs go to stderr)',
    global: true,
  })
  .option('log-format', {
    choices: logFormats,
    default: defaultLogFormat(),
    describe: 'pretty lines for people, json for log collectors',
    global: true,
  })
  .command(upCommand)
  .command(coreCommand)
  .command(edgeCommand)
  .command(checkCommand)
  .command(pubCommand)
  .command(subCommand)
  .command(forwardCommand)
  .command(statusCommand)
  .command(tokenCommand)
  .command(benchCommand)
  .demandCommand(1, 'Name a command: relaymesh --help lists them.')
  .strict()
  .help()
  .fail((message, error) => {
    process.stderr.write(`relaymesh: ${error?.message ?? message}\nRun relaymesh --help for usage.\n`);
    process.exit(1);
  })
  .parseAsync();
