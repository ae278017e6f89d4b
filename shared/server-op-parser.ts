// Checks the shape of an op an edge sent a client and turns it into the typed ServerOp it is, or undefined when it is
// not one (unknown op, missing or ill-typed fields). Browser-safe: the SDK runs it on every frame it receives.

import { isOffset, isRecord, isRequestId } from './client-op-parser.js';
import { isErrorCode } from './errors.js';
import type { ServerOp } from './protocol.js';

const isString = (value: unknown): value is string => typeof value === 'string';

/** The fields each op must have, by name, with their checks (`id` is checked for every op that has it). */
const shapes: Record<ServerOp['op'], Record<string, (value: unknown) => boolean>> = {
  welcome: { session: isString, edge: isString, region: isString, heartbeatMs: isOffset },
  subok: { topic: isString, recovered: (value) => typeof value === 'boolean' },
  unsubok: {},
  puback: { epoch: isString, offset: isOffset },
  pong: {},
  msg: { topic: isString, epoch: isString, offset: isOffset },
  reset: { topic: isString, epoch: isString, offset: isOffset },
  error: { code: isString, message: isString },
  redirect: { url: isString, reason: isString },
  presenceok: { topic: isString, count: isOffset, members: (value) => Array.isArray(value) && value.every(isMember) },
  join: { topic: isString, session: isString, edge: isString },
  leave: { topic: isString, session: isString, edge: isString },
};

function isMember(value: unknown): boolean {
  return (
    isRecord(value) &&
    isString(value.session) &&
    isString(value.edge) &&
    (value.user === undefined || isString(value.user))
  );
}

export function parseServerOp(value: unknown): ServerOp | undefined {
  if (!isRecord(value) || !isString(value.op) || !Object.hasOwn(shapes, value.op)) return undefined;
  const op = value.op as ServerOp['op'];
  if (value.id !== undefined && !isRequestId(value.id)) return undefined;
  for (const [field, check] of Object.entries(shapes[op])) if (!check(value[field])) return undefined;
  // A subok carries a position for topics, none for patterns: both or neither.
  if (
    op === 'subok' &&
    (value.epoch !== undefined || value.offset !== undefined) &&
    !(isString(value.epoch) && isOffset(value.offset))
  )
    return undefined;
  if ((op === 'join' || op === 'leave') && value.user !== undefined && !isString(value.user)) return undefined;
  if (op === 'msg' && (!('data' in value) || (value.enc !== undefined && value.enc !== 'base64'))) return undefined;
  // A code from a newer edge is still an answer: the request fails as `internal` instead of waiting for ever.
  if (op === 'error' && !isErrorCode(value.code)) return { ...value, code: 'internal' } as unknown as ServerOp;
  return value as unknown as ServerOp;
}
