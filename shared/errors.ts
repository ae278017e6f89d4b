// The one table of protocol error codes and WebSocket close codes, and the error class that carries them.
// Everything that answers a client or an operator takes its codes from here, so the registry stays complete.

export const errorCodes = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'invalid_topic',
  'too_large',
  'rate_limited',
  'too_many_subscriptions',
  'not_subscribed',
  'unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (errorCodes as readonly string[]).includes(value);
}

/** Close codes of the client protocol (docs/protocol.md §2) and the uplink. */
export const closeCodes = {
  normal: 1000,
  goingAway: 1001,
  messageTooBig: 1009,
  protocolViolation: 4400,
  unauthorized: 4401,
  connectTimeout: 4408,
  /** Uplink only: another uplink holds this edge id, and this one did not prove it is that edge. */
  edgeIdInUse: 4409,
  internal: 4500,
  /** Tunnels: the service refused or did not answer. */
  serviceRefused: 4502,
  draining: 4503,
  /** Tunnels: the path through the mesh was lost. */
  pathLost: 4504,
  slowConsumer: 4508,
  rateLimited: 4529,
} as const;

/** HTTP status for each error code, for the HTTP API. */
export const httpStatusOf: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  invalid_topic: 400,
  too_large: 413,
  rate_limited: 429,
  too_many_subscriptions: 429,
  not_subscribed: 404,
  unavailable: 503,
  internal: 500,
};

export class RelayError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    // A refusal is an answer, not a bug: capturing a stack for each (a flood of refused ops makes thousands a second)
    // cost more than the rest of the refusal together.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'RelayError';
    this.code = code;
  }
}

/** The error as the protocol reports it: a RelayError keeps its code, anything else becomes `internal`. */
export function toRelayError(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  return new RelayError('internal', 'internal error');
}

/**
 * The close code for ending a connection over a refused request, where a protocol has no way to refuse it in place
 * (STOMP's ERROR, an MQTT PUBLISH at QoS 0): it tells the client whether coming back unchanged can help.
 */
export function closeCodeForError(code: ErrorCode): number {
  switch (code) {
    case 'unauthorized':
      return closeCodes.unauthorized;
    case 'rate_limited':
      return closeCodes.rateLimited;
    case 'too_large':
      return closeCodes.messageTooBig;
    case 'unavailable':
    case 'internal':
      return closeCodes.internal;
    default:
      return closeCodes.protocolViolation;
  }
}
