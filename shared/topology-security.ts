// The security settings of a topology (docs/protocol.md §6): client-token checking, publish keys, TLS per node, the
// CA an edge trusts, edge secrets and origin allowlists. Secrets themselves live in environment variables; the
// file names the variables, and a variable that is not set is a problem of the file.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Checker, child, field, isRecord, record, text } from './topology-schema.js';

export const tokenAlgorithms = ['HS256', 'EdDSA', 'RS256'] as const;
export type TokenAlgorithm = (typeof tokenAlgorithms)[number];

export interface TokenAuthConfig {
  alg: TokenAlgorithm;
  /** HS256: the variable holding the shared secret. */
  secretEnv?: string;
  /** EdDSA, RS256: the public key (PEM), as an absolute path. */
  publicKeyFile?: string;
}

export interface AuthConfig {
  /** Absent: clients connect without a token and may use every topic. */
  tokens?: TokenAuthConfig;
  /** The variable holding comma-separated keys for POST /v1/publish; absent: publishing over HTTP is open. */
  publishKeysEnv?: string;
}

export interface TlsConfig {
  /** Absolute paths of PEM files. */
  cert: string;
  key: string;
}

export type Environment = Readonly<Record<string, string | undefined>>;

const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The name of an environment variable that is set (and not empty). */
export function envName(
  c: Checker,
  object: Record<string, unknown>,
  path: string,
  key: string,
  env: Environment,
): string | undefined {
  const name = text(c, object, path, key, 'the name of an environment variable', (s) => envNamePattern.test(s));
  if (name === undefined) return undefined;
  if (!env[name] && c.needs(child(path, key)))
    return c.fail(child(path, key), `the environment variable ${name} to be set`, `${name} not set`);
  return name;
}

/** A path to an existing file, relative to the topology file's folder. */
function filePath(
  c: Checker,
  object: Record<string, unknown>,
  path: string,
  key: string,
  dir: string,
): string | undefined {
  const value = text(c, object, path, key, 'a file path', (s) => s.length > 0);
  if (value === undefined) return undefined;
  const absolute = resolve(dir, value);
  if (!existsSync(absolute) && c.needs(child(path, key)))
    return c.fail(child(path, key), `an existing file (looked at ${absolute})`, value);
  return absolute;
}

export function checkAuth(c: Checker, root: Record<string, unknown>, dir: string, env: Environment): AuthConfig {
  const value = field(root, 'auth');
  if (value === undefined) return {};
  const auth = record(c, value, '$.auth', ['tokens', 'publishKeysEnv'], 'an auth object {tokens?, publishKeysEnv?}');
  if (!auth) return {};
  const result: AuthConfig = {};
  if (field(auth, 'publishKeysEnv') !== undefined) {
    const publishKeysEnv = envName(c, auth, '$.auth', 'publishKeysEnv', env);
    if (publishKeysEnv) result.publishKeysEnv = publishKeysEnv;
  }
  const tokensValue = field(auth, 'tokens');
  if (tokensValue === undefined) return result;
  const tokens = record(
    c,
    tokensValue,
    '$.auth.tokens',
    ['alg', 'secretEnv', 'publicKeyFile'],
    'a tokens object {alg, secretEnv | publicKeyFile}',
  );
  if (!tokens) return result;
  const alg = text(c, tokens, '$.auth.tokens', 'alg', `one of ${tokenAlgorithms.join(', ')}`, (s) =>
    (tokenAlgorithms as readonly string[]).includes(s),
  ) as TokenAlgorithm | undefined;
  if (alg === 'HS256') {
    if (field(tokens, 'publicKeyFile') !== undefined)
      c.fail(
        '$.auth.tokens.publicKeyFile',
        'no public key file with HS256 (it uses secretEnv)',
        field(tokens, 'publicKeyFile'),
      );
    const secretEnv = envName(c, tokens, '$.auth.tokens', 'secretEnv', env);
    if (secretEnv) result.tokens = { alg, secretEnv };
  } else if (alg) {
    if (field(tokens, 'secretEnv') !== undefined)
      c.fail('$.auth.tokens.secretEnv', `no secret with ${alg} (it uses publicKeyFile)`, field(tokens, 'secretEnv'));
    const publicKeyFile = filePath(c, tokens, '$.auth.tokens', 'publicKeyFile', dir);
    if (publicKeyFile) result.tokens = { alg, publicKeyFile };
  }
  return result;
}

export function checkTls(c: Checker, node: Record<string, unknown>, path: string, dir: string): TlsConfig | undefined {
  const value = field(node, 'tls');
  if (value === undefined) return undefined;
  const tlsPath = child(path, 'tls');
  const tls = record(c, value, tlsPath, ['cert', 'key'], 'a tls object {cert, key}');
  if (!tls) return undefined;
  const cert = filePath(c, tls, tlsPath, 'cert', dir);
  const key = filePath(c, tls, tlsPath, 'key', dir);
  return cert && key ? { cert, key } : undefined;
}

export function checkCa(c: Checker, edge: Record<string, unknown>, path: string, dir: string): string | undefined {
  return field(edge, 'ca') === undefined ? undefined : filePath(c, edge, path, 'ca', dir);
}

export function checkSecretEnv(
  c: Checker,
  edge: Record<string, unknown>,
  path: string,
  env: Environment,
): string | undefined {
  return field(edge, 'secretEnv') === undefined ? undefined : envName(c, edge, path, 'secretEnv', env);
}

/**
 * An edge's forward proxy: an http:// (or https://) URL of host and port only; its credentials, if it wants any, in the
 * environment variable `proxyAuthEnv` names (`user:password`), never in the file.
 */
export function checkProxy(
  c: Checker,
  edge: Record<string, unknown>,
  path: string,
  env: Environment,
): { proxy?: string; proxyAuthEnv?: string } {
  const value = field(edge, 'proxy');
  const result: { proxy?: string; proxyAuthEnv?: string } = {};
  if (field(edge, 'proxyAuthEnv') !== undefined) {
    if (value === undefined)
      c.fail(child(path, 'proxyAuthEnv'), 'no proxyAuthEnv without a proxy', field(edge, 'proxyAuthEnv'));
    const name = envName(c, edge, path, 'proxyAuthEnv', env);
    if (name) result.proxyAuthEnv = name;
  }
  if (value === undefined) return result;
  const proxy = text(
    c,
    edge,
    path,
    'proxy',
    'an http:// URL of a proxy, "http://host:port", without credentials (they go in proxyAuthEnv)',
    isProxyUrl,
  );
  if (proxy) result.proxy = proxy;
  return result;
}

function isProxyUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      /^https?:$/.test(url.protocol) &&
      url.host !== '' &&
      !url.username &&
      !url.password &&
      /^\/?$/.test(url.pathname) &&
      !url.search
    );
  } catch {
    return false;
  }
}

/** Origins as browsers send them: scheme://host[:port], no path. */
export function checkOrigins(c: Checker, edge: Record<string, unknown>, path: string): string[] | undefined {
  const value = field(edge, 'origins');
  if (value === undefined) return undefined;
  const originsPath = child(path, 'origins');
  if (!Array.isArray(value)) return c.fail(originsPath, 'an array of origins like "https://app.example.com"', value);
  const origins: string[] = [];
  value.forEach((origin: unknown, index) => {
    const normalised = typeof origin === 'string' ? normaliseOrigin(origin) : undefined;
    if (normalised === undefined)
      c.fail(`${originsPath}[${index}]`, 'an origin: scheme://host[:port] with nothing after it', origin);
    else origins.push(normalised);
  });
  return origins.length === value.length ? origins : undefined;
}

export function normaliseOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.origin === 'null' || `${url.origin}/` !== url.href.replace(/\/?$/, '/')) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/**
 * "Set for one edge, required for all", and required for all once clients or publishers must prove anything: an
 * uplink that proves nothing would be the way around the others' secrets, the client tokens and the publish keys
 * (whoever reaches a core could act as an edge, read every topic and publish anywhere).
 */
export function checkSecretsEverywhere(
  c: Checker,
  edges: ReadonlyArray<{ path: string; value: unknown }>,
  root: Record<string, unknown>,
): void {
  const withSecret = edges.filter(({ value }) => isRecord(value) && field(value, 'secretEnv') !== undefined);
  const auth = field(root, 'auth');
  const protectedBy = isRecord(auth)
    ? ['tokens', 'publishKeysEnv'].filter((key) => field(auth, key) !== undefined).map((key) => `auth.${key}`)
    : [];
  if (field(root, 'hooks') !== undefined) protectedBy.push('hooks');
  if (withSecret.length === edges.length || (withSecret.length === 0 && protectedBy.length === 0)) return;
  const expected =
    protectedBy.length > 0
      ? `a secretEnv, as ${protectedBy.join(' and ')} ${protectedBy.length > 1 ? 'are' : 'is'} set (an uplink without edge identity would bypass ${protectedBy.length > 1 ? 'them' : 'it'})`
      : 'a secretEnv, as other edges have one';
  for (const { value, path } of edges) {
    if (isRecord(value) && field(value, 'secretEnv') === undefined)
      c.fail(child(path, 'secretEnv'), expected, undefined);
  }
}
