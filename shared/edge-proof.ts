// Edge identity on the uplink: the core's challenge nonce and the HMAC an edge answers it with, so an edge proves
// its per-edge secret without sending it, and a proof captured on one connection is worthless on the next.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A fresh nonce for one uplink connection: 32 random bytes, base64url. */
export function challengeNonce(): string {
  return randomBytes(32).toString('base64url');
}

/** HMAC-SHA256(secret, `${nonce}:${edgeId}:${instance}`), base64url: what an edge sends in its hello. */
export function edgeProof(secret: string, nonce: string, edgeId: string, instance: string): string {
  return createHmac('sha256', secret).update(`${nonce}:${edgeId}:${instance}`).digest('base64url');
}

/** Whether `proof` is the edge's answer to `nonce`, compared in constant time (the strings, so no lenient base64 decoding). */
export function edgeProofMatches(
  proof: string,
  secret: string,
  nonce: string,
  edgeId: string,
  instance: string,
): boolean {
  const expected = Buffer.from(edgeProof(secret, nonce, edgeId, instance), 'utf8');
  const given = Buffer.from(proof, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
