// MQTT topic names and filters ↔ relaymesh topics and patterns: levels are tokens (`a/b/c` ↔ `a.b.c`), `+` ↔ `*`,
// a trailing `#` ↔ `>`. What cannot map both ways is refused rather than guessed (README "MQTT clients").

import { subscriptionProblem, topicProblem } from '../../shared/topics.js';

/** `parent`: for a filter ending in `/#`, the topic or pattern of the level above, which MQTT's `#` matches too. */
export type TopicMapping = { topic: string; parent?: string } | { problem: string; shared?: true };

/**
 * Why one MQTT level cannot be a relaymesh token: `.` would split it, `*` and `>` are relaymesh wildcards, and
 * U+0000 is not allowed in MQTT strings at all. Empty levels (`a//b`, `/a`) have no token to become.
 */
function levelProblem(level: string): string | undefined {
  if (level.length === 0) return 'has an empty level';
  if (level.includes('.')) return 'has `.` in a level';
  if (level.includes('*') || level.includes('>')) return 'has `*` or `>` in a level';
  if (level.includes('\u0000')) return 'has U+0000';
  return undefined;
}

/**
 * `$`-topics (`$SYS/…`) are a broker's own namespace, which MQTT keeps out of reach of `#` and `+` at the first level;
 * relaymesh has no such namespace and its `>` matches every topic, so they are refused both ways.
 */
function dollarProblem(levels: readonly string[]): string | undefined {
  return levels[0]?.startsWith('$') ? 'starts with `$` (reserved for broker topics such as $SYS)' : undefined;
}

/** An MQTT topic name (PUBLISH, will) → a relaymesh topic. */
export function topicFromMqtt(name: string): TopicMapping {
  const levels = name.split('/');
  const problem =
    dollarProblem(levels) ??
    levels.reduce<string | undefined>(
      (found, level) =>
        found ??
        (level.includes('+') || level.includes('#')
          ? 'has a wildcard (`+` or `#`), which only subscriptions may use'
          : levelProblem(level)),
      undefined,
    );
  if (problem) return { problem: `topic name ${problem}` };
  const topic = levels.join('.');
  const relayProblem = topicProblem(topic);
  return relayProblem ? { problem: `topic ${relayProblem}` } : { topic };
}

/** An MQTT topic filter (SUBSCRIBE, UNSUBSCRIBE) → a relaymesh topic or pattern. Shared subscriptions are refused. */
export function filterFromMqtt(filter: string): TopicMapping {
  if (filter.startsWith('$share/'))
    return { problem: 'shared subscriptions ($share/…) are not supported', shared: true };
  const levels = filter.split('/');
  const tokens: string[] = [];
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level === '+') tokens.push('*');
    else if (level === '#') {
      if (i !== levels.length - 1) return { problem: 'topic filter has `#` before its last level' };
      // MQTT's `a/#` also matches `a` itself; relaymesh's `>` needs at least one more token, so the parent is
      // returned for the adapter to subscribe as well (README "MQTT clients").
      tokens.push('>');
    } else if (level.includes('+') || level.includes('#')) {
      return { problem: 'topic filter has `+` or `#` inside a level' };
    } else {
      const problem = levelProblem(level);
      if (problem) return { problem: `topic filter ${problem}` };
      tokens.push(level);
    }
  }
  const dollar = dollarProblem(levels);
  if (dollar) return { problem: `topic filter ${dollar}` };
  const topic = tokens.join('.');
  const relayProblem = subscriptionProblem(topic);
  if (relayProblem) return { problem: `topic filter ${relayProblem}` };
  return tokens.length > 1 && tokens[tokens.length - 1] === '>'
    ? { topic, parent: tokens.slice(0, -1).join('.') }
    : { topic };
}

/**
 * A relaymesh topic → its MQTT topic name, or undefined when MQTT cannot name it: a token holding `/`, `+` or `#`
 * would read as several levels or a wildcard, and a `$` first token as a broker topic. MQTT clients never see those.
 */
export function topicToMqtt(topic: string): string | undefined {
  if (
    topic.startsWith('$') ||
    topic.includes('/') ||
    topic.includes('+') ||
    topic.includes('#') ||
    topic.includes('\u0000')
  )
    return undefined;
  return topic.replaceAll('.', '/');
}
