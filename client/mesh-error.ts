// The error every MeshClient failure is: the protocol's error code, or what went wrong on the client's side.

import type { ErrorCode } from '../shared/errors.js';

export type MeshErrorCode = ErrorCode | 'closed' | 'timeout';

export class MeshError extends Error {
  constructor(
    readonly code: MeshErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MeshError';
  }
}
