// The origin allowlist of an edge (PROTOCOL.md §2, §3): browsers send `Origin`; a disallowed one gets 403 before
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
   * Adds CORS headers for an allowed browser origin; answers a preflight (OPTIONS) itself. Returns true when the
   * request is fully answered.
   */
  cors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    const allowed = origin !== undefined && this.allows(req);
    if (allowed) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
    }
    if (req.method !== 'OPTIONS' || origin === undefined) return false;
    if (!allowed) {
      res.writeHead(403, { 'content-length': 0 });
      res.end();
      return true;
    }
    res.writeHead(204, {
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type, last-event-id',
      'access-control-max-age': '600',
    });
    res.end();
    return true;
  }
}
