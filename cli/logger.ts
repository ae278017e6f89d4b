// The command line's logger: pino to stderr, as JSON lines for log collectors, or pretty (one coloured line per
// event) for a person at a terminal. Default: pretty when stderr is a terminal, JSON otherwise.

import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'pretty' | 'json';
export const logFormats: readonly LogFormat[] = ['pretty', 'json'];

export function defaultLogFormat(): LogFormat {
  const chosen = process.env.RELAYMESH_LOG_FORMAT;
  if (chosen === 'pretty' || chosen === 'json') return chosen;
  return process.stderr.isTTY ? 'pretty' : 'json';
}

export function createLogger(level: string, format: LogFormat): Logger {
  if (format === 'json') return pino({ level }, pino.destination(2));
  return pino(
    { level },
    pretty({
      destination: 2,
      colorize: process.stderr.isTTY,
      translateTime: 'HH:MM:ss.l',
      ignore: 'pid,hostname',
      singleLine: true,
      sync: true,
    }),
  );
}
