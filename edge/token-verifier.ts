// Checks client tokens (docs/protocol.md §5) with jose: the configured algorithm and key only (never `none`), `exp`
// required. Results are cached until the token expires, so a reconnect storm costs one verification per token.

import { readFileSync } from 'node:fs';
import { LRUCache } from 'lru-cache';
import { errors as joseErrors, importSPKI, jwtVerify, type CryptoKey, type KeyObject } from 'jose';
import { RelayError } from '../shared/errors.js';
import { Permissions } from '../shared/permissions.js';
import type { TokenAuthConfig } from '../shared/topology.js';

export interface VerifiedToken {
  subject: string | undefined;
  permissions: Permissions;
  /** The tunnels it may open over WebSocket (the `tunnels` claim); "*" for all. */
  tunnels: readonly string[];
  /** When the token expires, in ms since the epoch. */
  expiresAt: number;
}

export interface TokenVerifier {
  verify(token: string | undefined): Promise<VerifiedToken>;
}

/** No authentication configured: every client may use every topic. */
export const openAccess: TokenVerifier = {
  verify: async () => ({
    subject: undefined,
    permissions: Permissions.open,
    tunnels: ['*'],
    expiresAt: Number.POSITIVE_INFINITY,
  }),
};

type VerificationKey = CryptoKey | KeyObject | Uint8Array;

export function createTokenVerifier(
  config: TokenAuthConfig,
  /** HS256: the secret; default the variable `config.secretEnv` names. */
  hs256Secret: string | undefined = process.env[config.secretEnv ?? ''],
): TokenVerifier {
  let key: Promise<VerificationKey>;
  if (config.alg === 'HS256') {
    const secret = hs256Secret;
    if (!secret) throw new Error(`token secret variable ${config.secretEnv} is not set`);
    key = Promise.resolve(new TextEncoder().encode(secret));
  } else {
    key = importSPKI(readFileSync(config.publicKeyFile!, 'utf8'), config.alg);
  }
  const cache = new LRUCache<string, VerifiedToken>({ max: 10_000 });

  return {
    async verify(token) {
      if (!token) throw new RelayError('unauthorized', 'a token is required');
      const cached = cache.get(token);
      if (cached) {
        if (cached.expiresAt <= Date.now()) throw new RelayError('unauthorized', 'token expired');
        return cached;
      }
      let payload;
      try {
        ({ payload } = await jwtVerify(token, await key, { algorithms: [config.alg], requiredClaims: ['exp'] }));
      } catch (error) {
        throw new RelayError(
          'unauthorized',
          error instanceof joseErrors.JWTExpired ? 'token expired' : 'invalid token',
        );
      }
      const verified: VerifiedToken = {
        subject: typeof payload.sub === 'string' ? payload.sub : undefined,
        permissions: Permissions.fromClaim(payload.topics),
        tunnels: tunnelsClaim(payload.tunnels),
        expiresAt: payload.exp! * 1000,
      };
      cache.set(token, verified, { ttl: Math.max(1, verified.expiresAt - Date.now()) });
      return verified;
    },
  };
}

/** `"tunnels": ["pg", …]` or `["*"]`; anything else allows none. */
function tunnelsClaim(claim: unknown): readonly string[] {
  return Array.isArray(claim) ? claim.filter((name): name is string => typeof name === 'string') : [];
}

/** Whether a verified token may open `tunnel`. */
export function mayOpenTunnel(token: VerifiedToken, tunnel: string): boolean {
  return token.tunnels.includes('*') || token.tunnels.includes(tunnel);
}
