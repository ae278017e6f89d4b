// Checks that a decoded uplink value is a well-formed frame, so the core and edge handlers can trust its types.

import { RelayError, isErrorCode } from './errors.js';
import { isCoreRow, isEdgeReportRow, isEdgeRow } from './mesh-status.js';
import { frameType } from './protocol.js';

type Check = (value: unknown) => boolean;

const str: Check = (v) => typeof v === 'string';
const uint: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const bool: Check = (v) => typeof v === 'boolean';
const bytes: Check = (v) => v instanceof Uint8Array;
const since: Check = (v) => v === null || (Array.isArray(v) && v.length === 2 && str(v[0]) && uint(v[1]));
const code: Check = (v) => isErrorCode(v);
const strings: Check = (v) => Array.isArray(v) && v.every((item) => typeof item === 'string');

// The fields after the type, per frame type.
const shapes: Record<number, Check[]> = {
  [frameType.hello]: [uint, str, str, str, str],
  [frameType.welcome]: [str],
  [frameType.sub]: [uint, str, since],
  [frameType.subok]: [uint, str, uint, bool],
  [frameType.unsub]: [str],
  [frameType.pub]: [uint, str, bytes],
  [frameType.puback]: [uint, str, uint],
  [frameType.msg]: [str, str, uint, bytes],
  [frameType.history]: [uint, str, str, uint, uint],
  [frameType.replay]: [uint, uint, bytes],
  [frameType.historyEnd]: [uint, bool],
  [frameType.error]: [uint, code, str],
  [frameType.digest]: [uint, uint, uint],
  [frameType.digestMismatch]: [strings],
  [frameType.challenge]: [str],
  [frameType.edgeStatus]: [isEdgeReportRow],
  [frameType.cancel]: [uint],
  [frameType.meshView]: [(v) => Array.isArray(v) && v.every(isCoreRow), (v) => Array.isArray(v) && v.every(isEdgeRow)],
};

export function checkUplinkFrame(value: unknown): void {
  if (!Array.isArray(value) || value.length === 0) throw new RelayError('bad_request', 'uplink frame is not an array');
  const type: unknown = value[0];
  // Only own numeric keys: `constructor` or `toString` must not look like a frame type.
  const shape = typeof type === 'number' && Object.hasOwn(shapes, type) ? shapes[type] : undefined;
  if (!shape) throw new RelayError('bad_request', `unknown uplink frame type (${typeof type === 'number' ? type : typeof type})`);
  if (value.length !== shape.length + 1) throw new RelayError('bad_request', `uplink frame ${value[0]} has ${value.length - 1} fields, expected ${shape.length}`);
  for (let i = 0; i < shape.length; i++) {
    if (!shape[i]!(value[i + 1])) throw new RelayError('bad_request', `uplink frame ${value[0]} has a bad field ${i + 1}`);
  }
}
