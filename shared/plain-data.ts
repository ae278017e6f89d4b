// What a published `data` may be: plain JSON-like values (plus binary and dates from MessagePack), nested at most
// `maxDataDepth` levels. Anything else a decoder can produce (msgpackr's 0xC1 marker, BigInt, Map, Error…) is refused.

export const maxDataDepth = 64;

/** Why `value` cannot be published, or undefined when it can. */
export function plainDataProblem(value: unknown, depth = 0): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return undefined;
    case 'object':
      break;
    default:
      return `holds a value of type ${typeof value}`;
  }
  if (value === null || value instanceof Uint8Array || value instanceof Date) return undefined;
  if (depth >= maxDataDepth) return `is nested more than ${maxDataDepth} levels deep`;
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = plainDataProblem(item, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return 'holds a value that is neither JSON nor binary';
  for (const key in value) {
    const problem = plainDataProblem((value as Record<string, unknown>)[key], depth + 1);
    if (problem) return problem;
  }
  return undefined;
}
