// Checks the topology's `hooks` (docs/protocol.md §9): the backend URLs an edge asks before it lets a client connect,
// subscribe or publish, how long it waits, and the environment variable holding the key it sends.

import { Checker, child, field, isUrl, maxTimerMs, positiveInt, record, text } from './topology-schema.js';
import { envName, type Environment } from './topology-security.js';

export const hookNames = ['connect', 'subscribe', 'publish'] as const;
export type HookName = (typeof hookNames)[number];

export interface HooksConfig {
  /** http:// or https:// URLs, one per decision the backend makes; a decision without one is not asked. */
  connect?: string;
  subscribe?: string;
  publish?: string;
  /** How long an edge waits for an answer; past it the request is refused (fail closed). */
  timeoutMs: number;
  /** The environment variable holding the key sent as `Authorization: Bearer <key>`. */
  keyEnv?: string;
}

export const defaultHookTimeoutMs = 2000;

export function checkHooks(c: Checker, root: Record<string, unknown>, env: Environment): HooksConfig | undefined {
  const value = field(root, 'hooks');
  if (value === undefined) return undefined;
  const hooks = record(
    c,
    value,
    '$.hooks',
    [...hookNames, 'timeoutMs', 'keyEnv'],
    'a hooks object {connect?, subscribe?, publish?, timeoutMs?, keyEnv?}',
  );
  if (!hooks) return undefined;
  const config: HooksConfig = { timeoutMs: defaultHookTimeoutMs };
  for (const name of hookNames) {
    if (field(hooks, name) === undefined) continue;
    const url = text(c, hooks, '$.hooks', name, 'an http:// or https:// URL', (s) => isUrl(s, ['http:', 'https:']));
    if (url !== undefined) config[name] = url;
  }
  if (!hookNames.some((name) => field(hooks, name) !== undefined))
    c.fail('$.hooks', 'at least one of connect, subscribe, publish', value);
  const timeout = field(hooks, 'timeoutMs');
  if (timeout !== undefined) {
    const checked = positiveInt(c, timeout, child('$.hooks', 'timeoutMs'), maxTimerMs);
    if (checked !== undefined) config.timeoutMs = checked;
  }
  if (field(hooks, 'keyEnv') !== undefined) {
    const keyEnv = envName(c, hooks, '$.hooks', 'keyEnv', env);
    if (keyEnv !== undefined) config.keyEnv = keyEnv;
  }
  return config;
}
