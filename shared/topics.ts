// Topic and pattern syntax (docs/protocol.md §1): validation and matching.
// Topics are dot-separated tokens; patterns add `*` (one token) and a trailing `>` (one or more tokens).

export const maxTopicBytes = 255;

/** Bytes of `text` in UTF-8, without allocating (this module also runs in browsers). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const whitespace = /\s/;

function tokenProblem(token: string, allowWildcards: boolean, isLast: boolean): string | undefined {
  if (token.length === 0) return 'has an empty token';
  if (allowWildcards && token === '*') return undefined;
  if (allowWildcards && token === '>') return isLast ? undefined : 'has `>` before its last token';
  if (whitespace.test(token)) return 'has whitespace in a token';
  if (token.includes('*') || token.includes('>')) {
    return allowWildcards
      ? 'uses `*` or `>` inside a token'
      : 'has a wildcard (`*` or `>`), which only subscriptions may use';
  }
  return undefined;
}

function problemOf(text: unknown, allowWildcards: boolean): string | undefined {
  if (typeof text !== 'string') return 'is not a string';
  if (text.length === 0) return 'is empty';
  if (utf8Length(text) > maxTopicBytes) return `is longer than ${maxTopicBytes} bytes`;
  const tokens = text.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const problem = tokenProblem(tokens[i]!, allowWildcards, i === tokens.length - 1);
    if (problem) return problem;
  }
  return undefined;
}

/** Why `text` is not a concrete topic, or undefined when it is one. */
export function topicProblem(text: unknown): string | undefined {
  return problemOf(text, false);
}

/** Why `text` is neither a topic nor a pattern, or undefined when it is one of them. */
export function subscriptionProblem(text: unknown): string | undefined {
  return problemOf(text, true);
}

export function isTopic(text: unknown): text is string {
  return problemOf(text, false) === undefined;
}

/** True for a valid subscription that uses a wildcard. Assumes `subscription` is valid. */
export function isPattern(subscription: string): boolean {
  return subscription.split('.').some((token) => token === '*' || token === '>');
}

/** Does `pattern` (or a concrete topic) match the concrete `topic`? */
export function matches(pattern: string, topic: string): boolean {
  const want = pattern.split('.');
  const have = topic.split('.');
  for (let i = 0; i < want.length; i++) {
    const token = want[i];
    if (token === '>') return have.length > i;
    if (i >= have.length) return false;
    if (token !== '*' && token !== have[i]) return false;
  }
  return want.length === have.length;
}
