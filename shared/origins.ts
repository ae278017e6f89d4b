// The origin allowlist of an edge (docs/protocol.md §2, §3): browsers send `Origin`; a disallowed one gets 403 before
// any upgrade, and CORS answers follow the same list. Requests without `Origin` are not from a browser page.

import type { IncomingMessage, ServerResponse } from 'node:http';

export class OriginPolicy {
  private readonly allowed: ReadonlySet<string> | undefined;

  /** `origins` undefined: every origin is allowed. */
  constructor(origins: readonly string[] | undefined) {
    this.allowed = origins ? new Set(origins) : undefined;
  }

  get open(): boolean {
    return this.allowed === undefined;
  }

  allows(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origin === undefined || this.allowed === undefined || this.allowed.has(origin);
  }

  /**
   * Refuses (403) a request from a disallowed browser origin; adds CORS headers for an allowed one and answers its
   * preflight (OPTIONS). Returns true when the request is fully answered.
   */
  cors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    // A page from a disallowed origin gets nothing, preflight or not: simple requests skip the preflight.
    if (!this.allows(req)) {
      res.writeHead(403, { 'content-length': 0 });
      res.end();
      return true;
    }
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('vary', 'Origin');
    if (req.method !== 'OPTIONS') return false;
    res.writeHead(204, {
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type, last-event-id',
      'access-control-max-age': '600',
    });
    res.end();
    return true;
  }
}
