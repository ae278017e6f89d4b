// Backend hooks (docs/protocol.md §9): the edge asks the application's backend, one POST per decision over keep-alive
// connections (an undici pool per backend origin, with a connection for every call that may wait at once), whether a
// client may connect, subscribe or publish. A hook that fails refuses (fail closed); calls waiting at once are bounded
// edge-wide and per client address.

import type { Logger } from 'pino';
import { Pool } from 'undici';
import { RelayError } from '../shared/errors.js';
import { WaitingQuota } from './waiting-quota.js';
import { Permissions } from '../shared/permissions.js';
import { hookNames, type HookName, type HooksConfig } from '../shared/topology.js';

/** Why a hook call failed, as metrics count it. */
export type HookFailure = 'timeout' | 'connection' | 'status' | 'bad_answer' | 'limit';

export interface HookMetrics {
  /** A call ended: `allowed`, `refused`, or `failed` (with `reason`). */
  called(hook: HookName, outcome: 'allowed' | 'refused' | 'failed', seconds: number, reason?: HookFailure): void;
}

export interface BackendHooksOptions extends HooksConfig {
  /** The key sent as `Authorization: Bearer`; absent: none. */
  key?: string;
  maxPending: number;
  maxPendingPerAddress: number;
  metrics: HookMetrics;
  logger: Logger;
}

/** What a connect hook's `allow` may carry: they act as a token's claims. */
export interface ConnectAnswer {
  user?: string;
  permissions?: Permissions;
}

/**
 * An answer is a small JSON object, a publish hook's with the message it may put in place: more than this is not one
 * (so a broken backend cannot make an edge hold a gigabyte of answers for its waiting calls).
 */
const maxAnswerBytes: Record<HookName, number> = { connect: 64 * 1024, subscribe: 64 * 1024, publish: 1024 * 1024 };
/** Failures of one hook and reason are logged at most this often; the metrics count every one. */
const failureLogIntervalMs = 5000;

/** The parts of an answer the edge uses, checked. */
interface Answer {
  allow: boolean;
  user?: string;
  topics?: unknown;
  data?: unknown;
  hasData: boolean;
  message?: string;
}

export class BackendHooks {
  private readonly pools = new Map<string, Pool>();
  private readonly waiting: WaitingQuota;
  private readonly lastLogged = new Map<string, number>();
  private closed = false;

  /** Each configured hook's URL, parsed once. */
  private readonly urls: Partial<Record<HookName, URL>> = {};

  constructor(private readonly options: BackendHooksOptions) {
    this.waiting = new WaitingQuota(options.maxPending, options.maxPendingPerAddress);
    for (const hook of hookNames) if (options[hook] !== undefined) this.urls[hook] = new URL(options[hook]);
  }

  has(hook: HookName): boolean {
    return this.urls[hook] !== undefined;
  }

  /** Throws `unauthorized` when the backend refuses, `unavailable` when it cannot answer. */
  async connect(address: string, body: Record<string, unknown>): Promise<ConnectAnswer> {
    const answer = await this.call('connect', address, body);
    if (!answer.allow) throw new RelayError('unauthorized', answer.message ?? 'refused by the backend');
    return {
      ...(answer.user !== undefined ? { user: answer.user } : {}),
      ...(answer.topics !== undefined ? { permissions: Permissions.fromClaim(answer.topics) } : {}),
    };
  }

  /** Throws `forbidden` when the backend refuses, `unavailable` when it cannot answer. */
  async subscribe(address: string, body: Record<string, unknown>): Promise<void> {
    const answer = await this.call('subscribe', address, body);
    if (!answer.allow) throw new RelayError('forbidden', answer.message ?? 'refused by the backend');
  }

  /** The payload to publish: the backend's `data` when it replaces it. Throws as `subscribe` does. */
  async publish(address: string, body: Record<string, unknown>): Promise<{ data?: unknown; replaced: boolean }> {
    const answer = await this.call('publish', address, body);
    if (!answer.allow) throw new RelayError('forbidden', answer.message ?? 'refused by the backend');
    return answer.hasData ? { data: answer.data, replaced: true } : { replaced: false };
  }

  async close(): Promise<void> {
    // A session's queued publish may still ask after the edge stopped: it is refused, without a pool opened anew.
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy()));
  }

  private async call(hook: HookName, address: string, body: Record<string, unknown>): Promise<Answer> {
    if (this.closed) throw new RelayError('unavailable', 'the edge is stopping');
    const url = this.urls[hook]!;
    if (!this.waiting.take(address)) {
      this.options.metrics.called(hook, 'failed', 0, 'limit');
      throw new RelayError('unavailable', 'too many requests waiting for the backend; try again later');
    }
    const started = performance.now();
    try {
      const answer = await this.post(url, body, maxAnswerBytes[hook]);
      this.options.metrics.called(hook, answer.allow ? 'allowed' : 'refused', (performance.now() - started) / 1000);
      return answer;
    } catch (error) {
      const reason = failureOf(error);
      this.options.metrics.called(hook, 'failed', (performance.now() - started) / 1000, reason);
      this.logFailure(hook, reason, error);
      throw new RelayError('unavailable', `the backend did not answer the ${hook} hook (${reason})`);
    } finally {
      this.waiting.release(address);
    }
  }

  private async post(url: URL, body: Record<string, unknown>, maxBytes: number): Promise<Answer> {
    const { timeoutMs, key } = this.options;
    const response = await this.poolOf(url.origin).request({
      path: url.pathname + url.search,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(body, binaryAsBase64),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new HookError('status', `status ${response.statusCode}`);
    }
    let text = '';
    let size = 0;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw new HookError('bad_answer', `answer over ${maxBytes} bytes`);
      text += chunk.toString('utf8');
    }
    return answerOf(text);
  }

  /**
   * As many connections as calls may wait at once (`maxPending`, opened as needed, closed when idle): a backend that
   * holds some calls (one slow decision, or one address's whole share) must not queue everyone else's behind them.
   */
  private poolOf(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, { connections: this.options.maxPending });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** What went wrong, never what was sent: bodies carry tokens, users and payloads. */
  private logFailure(hook: HookName, reason: HookFailure, error: unknown): void {
    const now = Date.now();
    const key = `${hook}:${reason}`;
    if (now - (this.lastLogged.get(key) ?? 0) < failureLogIntervalMs) return;
    this.lastLogged.set(key, now);
    // An undici error's code (ECONNREFUSED, UND_ERR_SOCKET); a timeout's DOMException has a numeric one, not telling.
    const code = (error as { code?: unknown } | undefined)?.code;
    const cause = error instanceof HookError ? error.message : typeof code === 'string' ? code : reason;
    this.options.logger.warn({ hook, reason, cause }, 'backend hook failed; the request is refused');
  }
}

class HookError extends Error {
  constructor(
    readonly reason: HookFailure,
    message: string,
  ) {
    super(message);
  }
}

/** A msgpack client's binary data reaches the backend as a base64 string (JSON has no bytes). */
function binaryAsBase64(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  return raw instanceof Uint8Array ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') : value;
}

function failureOf(error: unknown): HookFailure {
  if (error instanceof HookError) return error.reason;
  const name = (error as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  return 'connection';
}

function answerOf(text: string): Answer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HookError('bad_answer', 'not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new HookError('bad_answer', 'not an object');
  const answer = value as Record<string, unknown>;
  if (typeof answer.allow !== 'boolean') throw new HookError('bad_answer', '`allow` is not a boolean');
  if (answer.user !== undefined && (typeof answer.user !== 'string' || answer.user.length > 256))
    throw new HookError('bad_answer', '`user` is not a string of at most 256 characters');
  if (answer.topics !== undefined && !isTopicClaims(answer.topics))
    throw new HookError('bad_answer', '`topics` is not {subscribe?: string[], publish?: string[]}');
  return {
    allow: answer.allow,
    ...(typeof answer.user === 'string' ? { user: answer.user } : {}),
    ...(answer.topics !== undefined ? { topics: answer.topics } : {}),
    hasData: Object.hasOwn(answer, 'data'),
    data: answer.data,
    ...(typeof answer.message === 'string' ? { message: answer.message.slice(0, 200) } : {}),
  };
}

function isTopicClaims(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const claims = value as Record<string, unknown>;
  const list = (entry: unknown): boolean =>
    entry === undefined || (Array.isArray(entry) && entry.every((item) => typeof item === 'string'));
  return list(claims.subscribe) && list(claims.publish);
}
