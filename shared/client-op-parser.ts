// Checks the shape of a decoded client message and turns it into a typed op.
// Not an op object at all is fatal (close 4400); a known op with bad fields is answered with `error` bad_request.

import { plainDataProblem } from './plain-data.js';
import { clientOpNames, type ClientOp, type ClientOpName, type Position, type RequestId } from './protocol.js';

export type ClientOpParse =
  | { kind: 'op'; op: ClientOp }
  | { kind: 'fatal'; reason: string }
  | { kind: 'invalid'; op: ClientOpName; id?: RequestId; message: string };

/** A plain object (not an array, not bytes): what an op must be. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

export function isRequestId(value: unknown): value is RequestId {
  return (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && value.length <= 256);
}

export function isOffset(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function parseSince(value: unknown): Position | string {
  if (!isRecord(value)) return '`since` must be an object {epoch, offset}';
  if (typeof value.epoch !== 'string' || value.epoch.length === 0 || value.epoch.length > 64)
    return '`since.epoch` must be a non-empty string';
  if (!isOffset(value.offset)) return '`since.offset` must be a non-negative integer';
  return { epoch: value.epoch, offset: value.offset };
}

export function parseClientOp(value: unknown): ClientOpParse {
  if (!isRecord(value)) return { kind: 'fatal', reason: 'a message must be an object with an `op`' };
  const name = value.op;
  if (typeof name !== 'string' || !clientOpNames.includes(name as ClientOpName)) {
    return {
      kind: 'fatal',
      reason: typeof name === 'string' ? `unknown op ${JSON.stringify(name.slice(0, 32))}` : 'missing `op`',
    };
  }
  const op = name as ClientOpName;
  const idGiven = value.id !== undefined;
  if (idGiven && !isRequestId(value.id)) return { kind: 'invalid', op, message: '`id` must be a number or a string' };
  const id = value.id as RequestId | undefined;
  const invalid = (message: string): ClientOpParse =>
    idGiven ? { kind: 'invalid', op, id, message } : { kind: 'invalid', op, message };
  const withId = <T extends ClientOp>(op: T): ClientOpParse => ({ kind: 'op', op: idGiven ? { ...op, id } : op });

  switch (op) {
    case 'connect':
      if (value.token !== undefined && typeof value.token !== 'string') return invalid('`token` must be a string');
      return withId(value.token === undefined ? { op: 'connect' } : { op: 'connect', token: value.token });
    case 'sub': {
      if (typeof value.topic !== 'string') return invalid('`topic` must be a string');
      if (value.joinLeave !== undefined && typeof value.joinLeave !== 'boolean')
        return invalid('`joinLeave` must be a boolean');
      const joinLeave = value.joinLeave === true ? { joinLeave: true } : {};
      if (value.since === undefined || value.since === null)
        return withId({ op: 'sub', topic: value.topic, ...joinLeave });
      const since = parseSince(value.since);
      if (typeof since === 'string') return invalid(since);
      return withId({ op: 'sub', topic: value.topic, since, ...joinLeave });
    }
    case 'unsub':
      if (typeof value.topic !== 'string') return invalid('`topic` must be a string');
      return withId({ op: 'unsub', topic: value.topic });
    case 'pub': {
      if (typeof value.topic !== 'string') return invalid('`topic` must be a string');
      if (!('data' in value) || value.data === undefined) return invalid('`data` is required');
      const problem = plainDataProblem(value.data);
      if (problem) return invalid(`\`data\` ${problem}`);
      return withId({ op: 'pub', topic: value.topic, data: value.data });
    }
    case 'ping':
      return withId({ op: 'ping' });
    case 'presence':
      if (typeof value.topic !== 'string') return invalid('`topic` must be a string');
      return withId({ op: 'presence', topic: value.topic });
  }
}
