// Who may open an uplink to a core: an edge the topology names (when the core knows the topology), proving its
// secret for this connection's nonce (when the core checks identity). Why a hello is refused is a metric label.

import { edgeProofMatches } from '../shared/edge-proof.js';

/**
 * Why an uplink was refused, the label of `relaymesh_core_uplinks_refused_total`; `no_uplink`: a tunnel link from an
 * edge process whose uplink is not on this core.
 */
export type UplinkRefusal = 'no_challenge' | 'unknown_edge' | 'no_proof' | 'bad_proof' | 'id_in_use' | 'no_uplink';

/** An edge of the topology, as a core knows it: where its clients go and its region, never taken from the edge itself. */
export interface KnownEdge {
  url: string;
  region: string;
  /** A hub's: the edges that may be behind it, for which it may relay (its own core checks the rest). */
  behind?: ReadonlySet<string>;
}

export interface IdentityRules {
  /** Edge id → the secret it proves; absent: the core checks no identity. */
  edgeSecrets?: ReadonlyMap<string, string>;
  /** The topology's edges; absent: any id. */
  knownEdges?: ReadonlyMap<string, KnownEdge>;
}

export interface Hello {
  edgeId: string;
  instance: string;
  proof: string;
  /** The nonce of this connection's challenge, if the core sent one. */
  nonce: string | undefined;
}

/** Why this hello may not open an uplink, or undefined when it may. */
export function identityProblem(rules: IdentityRules, hello: Hello): UplinkRefusal | undefined {
  if (rules.knownEdges && !rules.knownEdges.has(hello.edgeId)) return 'unknown_edge';
  const secrets = rules.edgeSecrets;
  if (!secrets) return undefined;
  if (hello.nonce === undefined) return 'no_challenge';
  const secret = secrets.get(hello.edgeId);
  if (secret === undefined) return 'unknown_edge';
  if (hello.proof === '') return 'no_proof';
  return edgeProofMatches(hello.proof, secret, hello.nonce, hello.edgeId, hello.instance) ? undefined : 'bad_proof';
}
