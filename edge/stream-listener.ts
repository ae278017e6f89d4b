// The HTTP streaming emulation (docs/protocol.md §3): POST /v1/session opens a session with a `connect`, GET …/stream
// is its event stream (resumable with Last-Event-ID within a grace period), POST …/send carries ops upstream.
// The sessions are the same ClientSession code as WebSocket clients: same ops, limits, permissions and errors.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { parseClientOp } from '../shared/client-op-parser.js';
import { RelayError, closeCodes, httpStatusOf } from '../shared/errors.js';
import { readJsonBody, sendJson } from '../shared/http.js';
import type { RedirectOp } from '../shared/protocol.js';
import type { LimitsConfig } from '../shared/topology.js';
import { ClientSession, type SessionContext } from './client-session.js';
import type { EdgeMetrics } from './metrics.js';
import type { IpLimiter } from './ip-limiter.js';
import { SseTransport, endStream } from './sse-transport.js';
import type { WsTransportOptions } from './ws-transport.js';

export interface StreamListenerOptions {
  limits: LimitsConfig;
  sessionContext: SessionContext;
  transportOptions: WsTransportOptions;
  metrics: EdgeMetrics;
  logger: Logger;
  /** How long a session outlives its broken stream, waiting for a resume. */
  graceMs: number;
  /** Sessions per client IP, shared with the WebSocket connections. */
  perIp: IpLimiter;
}

interface StreamSession {
  session: ClientSession;
  transport: SseTransport;
  /** Runs while no stream is attached; the session ends when it fires. */
  graceTimer: NodeJS.Timeout | undefined;
}

export const sessionPrefix = '/v1/session';

export class StreamListener {
  private readonly sessions = new Map<string, StreamSession>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly options: StreamListenerOptions) {
    this.heartbeat = setInterval(() => {
      for (const { transport } of this.sessions.values()) transport.heartbeat();
    }, options.limits.heartbeatMs);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Handles POST /v1/session, GET /v1/session/:id/stream and POST /v1/session/:id/send; false for other paths.
   * `refusal` says why a new session would be refused now (the edge drains, or is full), or nothing.
   */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    refusal: () => 'draining' | 'capacity' | undefined,
  ): Promise<void> | false {
    if (path === sessionPrefix && req.method === 'POST') return this.open(req, res, refusal());
    const match = /^\/v1\/session\/([A-Za-z0-9_-]{32})\/(stream|send)$/.exec(path);
    if (!match) return false;
    const entry = this.sessions.get(match[1]!);
    if (!entry)
      return Promise.resolve(
        sendJson(res, 404, {
          error: { code: 'bad_request', message: 'no such session (it ended, or its grace period ran out)' },
        }),
      );
    if (match[2] === 'stream' && req.method === 'GET') return Promise.resolve(this.stream(req, res, match[1]!, entry));
    if (match[2] === 'send' && req.method === 'POST') return this.send(req, res, entry);
    return Promise.resolve(
      sendJson(res, 405, { error: { code: 'bad_request', message: `use ${match[2] === 'stream' ? 'GET' : 'POST'}` } }),
    );
  }

  /**
   * Sends every session `redirect`, then gives the clients a moment to open their new connection. A stream client
   * that leaves only stops reading (its session waits out its grace period), so the wait is short and fixed.
   */
  async redirectAll(op: RedirectOp, graceMs: number): Promise<void> {
    if (this.sessions.size === 0) return;
    for (const { transport } of this.sessions.values()) transport.sendOp(op);
    await delay(Math.min(graceMs, 1000), undefined, { ref: false });
  }

  closeAll(code: number, reason: string): void {
    for (const { transport } of [...this.sessions.values()]) transport.close(code, reason);
  }

  terminate(): void {
    clearInterval(this.heartbeat);
    this.closeAll(closeCodes.draining, 'edge shutting down');
  }

  private async open(
    req: IncomingMessage,
    res: ServerResponse,
    refusal: 'draining' | 'capacity' | undefined,
  ): Promise<void> {
    if (refusal)
      throw new RelayError(
        'unavailable',
        refusal === 'draining' ? 'this edge is draining' : 'this edge holds as many clients as it may',
      );
    const parse = parseClientOp(await readJsonBody(req, this.options.limits.maxPreConnectMessageBytes));
    if (parse.kind !== 'op' || parse.op.op !== 'connect')
      throw new RelayError('bad_request', 'the body must be a `connect` op');
    const ip = req.socket.remoteAddress ?? '';
    if (!this.options.perIp.acquire(ip)) {
      this.options.metrics.rejectedConnections.inc({ reason: 'ip_limit' });
      throw new RelayError('rate_limited', 'too many connections from this address');
    }
    const id = randomBytes(24).toString('base64url');
    const transport = new SseTransport({
      ...this.options.transportOptions,
      onClosed: () => {
        this.options.perIp.release(ip);
        this.forget(id);
      },
    });
    const entry: StreamSession = {
      transport,
      session: new ClientSession(transport, this.options.sessionContext, ip, req.headers),
      graceTimer: undefined,
    };
    this.sessions.set(id, entry);
    this.options.metrics.connections.inc({ transport: 'http-stream', protocol: 'native' });
    const answer = new Promise<void>((resolve) => {
      entry.transport.onFirstOp = (op) => {
        if (op.op === 'welcome') {
          sendJson(res, 201, {
            ...op,
            op: undefined,
            stream: `${sessionPrefix}/${id}/stream`,
            send: `${sessionPrefix}/${id}/send`,
          });
          // The client has until the grace period ends to open its stream.
          this.startGrace(entry);
        } else if (op.op === 'error') {
          sendJson(res, httpStatusOf[op.code], { error: { code: op.code, message: op.message } });
        }
        resolve();
      };
    });
    entry.session.receive(parse);
    await answer;
  }

  private stream(req: IncomingMessage, res: ServerResponse, id: string, entry: StreamSession): void {
    const header = req.headers['last-event-id'];
    const lastEventId = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    if (!entry.transport.attach(res, lastEventId)) {
      // Events after Last-Event-ID are gone: this session cannot continue without a gap, so it ends; the client
      // opens a new one and resubscribes with `since`.
      const reason = 'the stream cannot be resumed from that event';
      endStream(res, closeCodes.slowConsumer, reason);
      entry.transport.close(closeCodes.slowConsumer, reason);
      return;
    }
    clearTimeout(entry.graceTimer);
    entry.graceTimer = undefined;
    res.on('close', () => {
      entry.transport.detach(res);
      if (this.sessions.get(id) === entry && !entry.transport.attached) this.startGrace(entry);
    });
  }

  private async send(req: IncomingMessage, res: ServerResponse, entry: StreamSession): Promise<void> {
    const body = await readJsonBody(req, this.options.limits.maxMessageBytes);
    const ops = Array.isArray(body) ? body : [body];
    for (const op of ops) entry.session.receive(parseClientOp(op));
    sendJson(res, 202, { accepted: ops.length });
  }

  private startGrace(entry: StreamSession): void {
    clearTimeout(entry.graceTimer);
    entry.graceTimer = setTimeout(() => {
      this.options.logger.debug(
        { session: entry.session.id },
        'stream not resumed within the grace period; session ends',
      );
      entry.transport.close(closeCodes.goingAway, 'stream not resumed in time');
    }, this.options.graceMs);
  }

  private forget(id: string): void {
    const entry = this.sessions.get(id);
    if (!entry) return;
    clearTimeout(entry.graceTimer);
    this.sessions.delete(id);
    entry.session.closedByTransport();
  }
}
