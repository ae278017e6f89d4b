// The Redis engine's key layout and Lua scripts. Each script runs atomically in Redis, so offsets, history and the
// pub/sub message of one publish can never interleave with another core's publish to the same topic.

/** The keys of one topic, and the channel its messages are published on, under the configured prefix. */
export interface TopicKeys {
  seq: string;
  stream: string;
  channel: string;
}

export function topicKeys(prefix: string, topic: string): TopicKeys {
  return { seq: `${prefix}seq:${topic}`, stream: `${prefix}stream:${topic}`, channel: `${prefix}msg:${topic}` };
}

export const epochKey = (prefix: string): string => `${prefix}epoch`;
export const dedupeKey = (prefix: string, key: string): string => `${prefix}pub:${key}`;
export const channelPrefix = (prefix: string): string => `${prefix}msg:`;
/** What one core knows of the mesh (JSON, expiring), and the set of cores that ever shared it. */
export const meshKey = (prefix: string, coreId: string): string => `${prefix}mesh:${coreId}`;
export const meshCoresKey = (prefix: string): string => `${prefix}meshcores`;

// Every script starts here: the epoch key is created by whichever core touches the store first, and is lost with the
// store's data, so an empty Redis means a new epoch for every stream (clients get `reset`, never wrong offsets).
const currentEpoch = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
`;

const nowMs = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/**
 * KEYS: epoch, seq, stream, dedupe. ARGV: candidate epoch, data, max messages, max age ms, channel, dedupe ttl ms (0: none).
 * Returns {epoch, offset, 1 when sequenced now or 0 when the dedupe key already held it}.
 * The entry id is `<offset>-0`, so reads address offsets directly; each entry stores the Redis time `t` for the age bound.
 */
export const publishScript = `${currentEpoch}
local ttl = tonumber(ARGV[6])
if ttl > 0 then
  local seen = redis.call('GET', KEYS[4])
  if seen then return {epoch, tonumber(seen), 0} end
end
local offset = redis.call('INCR', KEYS[2])
${nowMs}
local maxAge = tonumber(ARGV[4])
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[3], offset .. '-0', 't', now, 'd', ARGV[2])
while true do
  local oldest = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)[1]
  if oldest == nil or tonumber(oldest[2][2]) >= now - maxAge then break end
  redis.call('XDEL', KEYS[3], oldest[1])
end
-- A topic nobody publishes to loses its history after the age bound; its offset counter stays.
redis.call('PEXPIRE', KEYS[3], maxAge)
if ttl > 0 then redis.call('SET', KEYS[4], offset, 'PX', ttl) end
redis.call('PUBLISH', ARGV[5], offset .. ':' .. epoch .. ':' .. ARGV[2])
return {epoch, offset, 1}
`;

/** KEYS: epoch, seq. ARGV: candidate epoch. Returns {epoch, offset}. */
export const positionScript = `${currentEpoch}
return {epoch, tonumber(redis.call('GET', KEYS[2]) or '0')}
`;

/**
 * KEYS: epoch, seq, stream. ARGV: epoch, from, to, max age ms.
 * Returns the payloads of offsets [from, to], or nil unless every one of them is held in that epoch and young enough.
 */
export const readScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local from = tonumber(ARGV[2])
local to = tonumber(ARGV[3])
if from > to then
  if to <= last then return {} end
  return false
end
if from < 1 or to > last then return false end
local entries = redis.call('XRANGE', KEYS[3], from .. '-0', to .. '-0')
if #entries ~= to - from + 1 then return false end
${nowMs}
if tonumber(entries[1][2][2]) < now - tonumber(ARGV[4]) then return false end
local payloads = {}
for i, entry in ipairs(entries) do payloads[i] = entry[2][4] end
return payloads
`;

/**
 * KEYS: epoch, stream. ARGV: first offset, count.
 * Returns {epoch, offset, payload, offset, payload, ...}: what is still held from that offset on, for a core catching
 * up on messages its pub/sub connection missed.
 */
export const followScript = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then return {} end
local result = {epoch}
local entries = redis.call('XRANGE', KEYS[2], ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
for _, entry in ipairs(entries) do
  result[#result + 1] = string.match(entry[1], '^(%d+)')
  result[#result + 1] = entry[2][4]
end
return result
`;

/** Redis glob characters, escaped so a topic token holding one matches only itself. */
export function globOf(prefix: string, pattern: string): string {
  const escaped = pattern
    .split('.')
    .map((token) => (token === '*' || token === '>' ? '*' : token.replace(/[\\*?[\]]/g, '\\$&')))
    .join('.');
  return `${channelPrefix(prefix).replace(/[\\*?[\]]/g, '\\$&')}${escaped}`;
}
