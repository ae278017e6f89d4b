// Bulk tunnel traffic from a process of its own, beside what the orchestrator measures (an interactive stream,
// pub/sub): one stream that uploads and one that downloads as fast as the path lets them, each bounded in bytes,
// until `stop`. It answers `stop` with the bytes each moved, so the report can show the bulk really ran.

import { connect, type Socket } from 'node:net';
import type { Address } from '../shared/topology.js';

export interface BulkSpec {
  address: Address;
  /** Bytes each stream moves at most (it is normally stopped before). */
  bytes: number;
}

export interface BulkMoved {
  up: number;
  down: number;
  ms: number;
}

const block = Buffer.alloc(1024 * 1024, 0x33);
const sockets: Socket[] = [];
const moved = { up: 0, down: 0 };
let startedAt = 0;

function open(address: Address, request: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...address, noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
    socket.write(request);
    sockets.push(socket);
  });
}

async function start(spec: BulkSpec): Promise<void> {
  const up = await open(spec.address, `sink ${spec.bytes}\n`);
  const down = await open(spec.address, `source ${spec.bytes}\n`);
  for (const socket of [up, down]) socket.on('error', () => undefined);
  down.on('data', (chunk: Buffer) => (moved.down += chunk.length));
  startedAt = performance.now();
  let left = spec.bytes;
  const send = (): void => {
    while (left > 0 && !up.destroyed) {
      const piece = left >= block.length ? block : block.subarray(0, left);
      left -= piece.length;
      const more = up.write(piece, (error) => {
        if (!error) moved.up += piece.length;
      });
      if (!more) return void up.once('drain', send);
    }
  };
  send();
}

process.on('message', (message: { start?: BulkSpec } | 'stop') => {
  if (message === 'stop') {
    for (const socket of sockets) socket.destroy();
    const result: BulkMoved = { ...moved, ms: performance.now() - startedAt };
    process.send!({ moved: result });
  } else if (message.start) {
    void start(message.start).then(
      () => process.send!({ started: true }),
      (error: Error) => process.send!({ failed: error.message }),
    );
  }
});
process.on('disconnect', () => process.exit(0));
