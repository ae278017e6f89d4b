// One end of an uplink spoken by hand, for tests that play an edge (honest or not) against a real core: records
// every frame received and the close, and sends any frame, well-formed or not.

import { once } from 'node:events';
import type { ExecutionContext } from 'ava';
import WebSocket from 'ws';
import { decodeCoreFrames, encodeFrame } from '../../shared/codec.js';
import { frameType, tunnelLinkPath, uplinkPath, type CoreFrame, type UplinkFrame } from '../../shared/protocol.js';

const DEADLINE_MS = 10_000;

/** One end of an uplink spoken by hand: records every frame received and the close. */
export class RawUplink {
  readonly frames: CoreFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => {
      this.frames.push(...decodeCoreFrames(data));
      for (const wake of [...this.waiters]) wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  /** An uplink, or (`tunnels`) the tunnel link beside one. */
  static async dial(t: ExecutionContext, coreUrl: string, link: 'uplink' | 'tunnels' = 'uplink'): Promise<RawUplink> {
    const path = link === 'uplink' ? uplinkPath : tunnelLinkPath;
    const ws = new WebSocket(`${coreUrl}${path}`, { perMessageDeflate: false });
    t.teardown(() => ws.terminate());
    const peer = new RawUplink(ws);
    await once(ws, 'open');
    return peer;
  }

  send(...frames: UplinkFrame[]): void {
    this.ws.send(Buffer.concat(frames.map((frame) => encodeFrame(frame))));
  }

  /** The first frame received that matches, once it has arrived. */
  next(match: (frame: CoreFrame) => boolean): Promise<CoreFrame> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const frame = this.frames.find(match);
        if (!frame) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(frame);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching frame within ${DEADLINE_MS} ms; received ${JSON.stringify(this.frames)}`));
      }, DEADLINE_MS);
      if (!check()) this.waiters.add(check);
    });
  }

  /** The nonce of the core's challenge. */
  async challenge(): Promise<string> {
    const frame = await this.next((candidate) => candidate[0] === frameType.challenge);
    return frame[1] as string;
  }
}
