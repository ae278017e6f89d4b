// Checks the topology's `engine` setting: `memory` (the default) or `redis` with its url, an optional key prefix, and
// the password in an environment variable (secrets never appear in the file).

import { Checker, child, field, record, text } from './topology-schema.js';
import { envName, type Environment } from './topology-security.js';

export type EngineConfig =
  | { type: 'memory' }
  | {
      type: 'redis';
      /** redis://host[:port][/db] or rediss:// (TLS), without credentials. */
      url: string;
      /** Prefix of every Redis key and channel. Default `relaymesh:`. */
      keyPrefix: string;
      /** The environment variable holding the Redis password (and `username` for an ACL user), if Redis wants one. */
      passwordEnv?: string;
      username?: string;
    };

export const defaultKeyPrefix = 'relaymesh:';

const engineFields = ['type', 'url', 'keyPrefix', 'passwordEnv', 'username'];

export function checkEngine(c: Checker, root: Record<string, unknown>, env: Environment): EngineConfig {
  const value = field(root, 'engine');
  if (value === undefined) return { type: 'memory' };
  const engine = record(c, value, '$.engine', engineFields, 'an engine object {type} or {type: "redis", url}');
  if (engine === undefined) return { type: 'memory' };
  const type = field(engine, 'type');
  if (type === 'memory') {
    for (const key of engineFields.slice(1))
      if (field(engine, key) !== undefined)
        c.fail(child('$.engine', key), 'nothing: only the redis engine takes it', field(engine, key));
    return { type: 'memory' };
  }
  if (type !== 'redis') {
    c.fail('$.engine.type', '"memory" or "redis"', type);
    return { type: 'memory' };
  }
  const url = checkUrl(c, engine);
  const prefix = field(engine, 'keyPrefix');
  let keyPrefix = defaultKeyPrefix;
  if (prefix !== undefined)
    keyPrefix =
      text(
        c,
        engine,
        '$.engine',
        'keyPrefix',
        'a key prefix of 1 to 100 characters without whitespace',
        (s) => s.length >= 1 && s.length <= 100 && !/\s/.test(s),
      ) ?? defaultKeyPrefix;
  const passwordEnv =
    field(engine, 'passwordEnv') === undefined ? undefined : envName(c, engine, '$.engine', 'passwordEnv', env);
  const username =
    field(engine, 'username') === undefined
      ? undefined
      : text(
          c,
          engine,
          '$.engine',
          'username',
          'a Redis ACL user name',
          (s) => s.length > 0 && s.length <= 200 && !/[\s:@/]/.test(s),
        );
  return { type: 'redis', url, keyPrefix, ...(passwordEnv ? { passwordEnv } : {}), ...(username ? { username } : {}) };
}

/** A password in the url is refused without being echoed: problems are printed, and secrets never are. */
function checkUrl(c: Checker, engine: Record<string, unknown>): string {
  const value = field(engine, 'url');
  const credentials = typeof value === 'string' ? credentialsOf(value) : undefined;
  if (credentials) {
    c.fail(
      '$.engine.url',
      'a url without credentials: the password goes in the environment variable named by passwordEnv, the user in username',
      credentials,
    );
    return '';
  }
  return text(c, engine, '$.engine', 'url', 'a Redis URL redis://host[:port][/db] or rediss://…', isRedisUrl) ?? '';
}

/** The url with its credentials masked, when it holds any. */
function credentialsOf(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.password === '' && url.username === '') return undefined;
    url.username = url.username ? 'USER' : '';
    url.password = url.password ? 'PASSWORD' : '';
    return url.toString();
  } catch {
    return undefined;
  }
}

function isRedisUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return false;
  if (url.hostname === '' || url.password !== '' || url.username !== '' || url.search !== '' || url.hash !== '')
    return false;
  return url.pathname === '' || url.pathname === '/' || /^\/\d{1,2}$/.test(url.pathname);
}
