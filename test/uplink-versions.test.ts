// Uplink protocol versions: a core accepts edges of the versions it knows (so cores can be upgraded before their
// edges), sends a version-1 edge no mesh view (it would not know the frame), and refuses versions it does not know.

import { once } from 'node:events';
import test, { type ExecutionContext } from 'ava';
import WebSocket from 'ws';
import { startCore } from '../core/start-core.js';
import { startEdge } from '../edge/start-edge.js';
import { decodeCoreFrames, encodeFrame } from '../shared/codec.js';
import { frameType, protocolVersion, uplinkPath, type UplinkFrame } from '../shared/protocol.js';
import { silentLogger } from './helpers/mesh.js';
import { firstMatch, within } from './helpers/within.js';

async function rawUplink(
  t: ExecutionContext,
  coreUrl: string,
  version: number,
): Promise<{
  ws: WebSocket;
  frames: UplinkFrame[];
  next(match: (frame: UplinkFrame) => boolean): Promise<UplinkFrame>;
}> {
  const ws = new WebSocket(`${coreUrl}${uplinkPath}`, { perMessageDeflate: false });
  t.teardown(() => ws.terminate());
  const frames: UplinkFrame[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data: Buffer) => {
    frames.push(...decodeCoreFrames(data));
    for (const wake of waiters.splice(0)) wake();
  });
  await once(ws, 'open');
  ws.send(encodeFrame([frameType.hello, version, `edge-v${version}`, 'eu', 'instance', '']));
  return { ws, frames, next: (match) => firstMatch(frames, waiters, match, 'an uplink frame') };
}

test('a version-1 edge is welcomed and never sent a mesh view; a current edge gets one', async (t) => {
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const old = await rawUplink(t, core.url, 1);
  await old.next((frame) => frame[0] === frameType.welcome);

  const edge = await startEdge({
    id: 'eu-2',
    region: 'eu',
    cores: [{ id: core.id, url: core.url }],
    logger: silentLogger,
  });
  t.teardown(() => edge.close());
  await edge.meshUntil((snapshot) => snapshot.cores.length === 1);
  // The core answers frames in order: once this `sub` is answered, anything sent to the old edge before it is here.
  old.ws.send(encodeFrame([frameType.sub, 1, 'barrier.topic', null]));
  await old.next((frame) => frame[0] === frameType.subok);
  t.false(old.frames.some((frame) => frame[0] === frameType.meshView));
  t.deepEqual(
    core.mesh().edges.map((status) => status.id),
    ['eu-2'],
    'an edge that never reported is not offered to clients',
  );
});

test('an edge speaking a newer uplink protocol than the core is refused with 4400, naming the versions', async (t) => {
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const future = await rawUplink(t, core.url, protocolVersion + 1);
  const [code, reason] = await within(once(future.ws, 'close') as Promise<[number, Buffer]>, 'the refusal');
  t.is(code, 4400);
  t.regex(
    reason.toString(),
    new RegExp(`uplink protocol ${protocolVersion + 1} is not between 1 and ${protocolVersion}`),
  );
});
