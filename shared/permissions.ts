// What a client may do, from its token's `topics` claims (docs/protocol.md §5): subscribe to topics and patterns that
// lie inside a permitted pattern (a wildcard never widens access), publish to topics a pattern permits.

import { matches, subscriptionProblem } from './topics.js';

/**
 * True when every topic `requested` (a topic or a pattern) can match is matched by `allowed`.
 * `*` inside `allowed` covers a `*` or a token of `requested`; `>` covers whatever follows; `requested`'s own
 * wildcards are only covered by the same or a wider wildcard.
 */
export function within(requested: string, allowed: string): boolean {
  const want = requested.split('.');
  const have = allowed.split('.');
  for (let i = 0; i < want.length; i++) {
    const granted = have[i];
    if (granted === '>') return true;
    if (granted === undefined) return false;
    const token = want[i];
    if (token === '>') return false;
    if (granted !== '*' && granted !== token) return false;
  }
  return want.length === have.length;
}

export interface TopicClaims {
  subscribe: readonly string[];
  publish: readonly string[];
}

export class Permissions {
  /** Everything is allowed: topologies without client authentication. */
  static readonly open = new Permissions({ subscribe: ['>'], publish: ['>'] });

  private constructor(private readonly claims: TopicClaims) {}

  /** From a token's `topics` claim; entries that are not valid patterns grant nothing. */
  static fromClaim(topics: unknown): Permissions {
    const list = (value: unknown): string[] =>
      Array.isArray(value)
        ? value.filter((item): item is string => typeof item === 'string' && subscriptionProblem(item) === undefined)
        : [];
    const claim = typeof topics === 'object' && topics !== null ? (topics as Record<string, unknown>) : {};
    return new Permissions({ subscribe: list(claim.subscribe), publish: list(claim.publish) });
  }

  canSubscribe(subscription: string): boolean {
    return this.claims.subscribe.some((allowed) => within(subscription, allowed));
  }

  canPublish(topic: string): boolean {
    return this.claims.publish.some((allowed) => matches(allowed, topic));
  }
}
