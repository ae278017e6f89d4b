// A pino logger whose lines a test reads back: each line as written (JSON), in order.

import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export function capturedLog(level: pino.LevelWithSilent = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino(
    { level },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  return { logger, lines };
}
