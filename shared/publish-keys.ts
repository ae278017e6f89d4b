// Publish keys for POST /v1/publish (docs/protocol.md §4): `Authorization: Bearer <key>`, compared in constant time.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RelayError } from './errors.js';

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

export class PublishKeys {
  private readonly digests: Buffer[] | undefined;

  /** `keys` undefined: publishing over HTTP is open. */
  constructor(keys: readonly string[] | undefined) {
    this.digests = keys?.map(digest);
  }

  /** Throws `unauthorized` unless the request carries a configured key. */
  check(req: IncomingMessage): void {
    if (!this.digests) return;
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) throw new RelayError('unauthorized', 'a publish key is required: Authorization: Bearer <key>');
    // Hashing first gives equal lengths, so timingSafeEqual compares in constant time whatever was sent.
    const given = digest(match[1]!.trim());
    if (!this.digests.some((known) => timingSafeEqual(known, given)))
      throw new RelayError('unauthorized', 'unknown publish key');
  }
}
