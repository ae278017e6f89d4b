// The attackers of one phase of `relaymesh bench attack`, in a process of their own so that their work does not
// delay the bystander's clock: loads, says `ready`, runs the attack from `go <epoch>` until `stop` (or its own
// deadline), reports its counts, exits.

import { setMaxListeners } from 'node:events';
import { closeHttp } from './attack-http.js';
import { Counts } from './attack-counts.js';
import { fillAttack } from './attack-fill.js';
import { replayAttack } from './attack-replay.js';
import { stallAttack } from './attack-stall.js';
import { unreadAttack } from './attack-unread.js';
import type { Attack, AttackName, AttackerOptions } from './attack-context.js';

const attacks: Record<AttackName, Attack> = {
  'replay-amplification': replayAttack,
  'stalled-uplink': stallAttack,
  'unread-streams': unreadAttack,
  'topic-filling': fillAttack,
};

/** How long the attack may take to close what it opened once stopped. */
const windDownMs = 5000;

const options = JSON.parse(process.argv[2]!) as AttackerOptions;
const counts = new Counts();
const controller = new AbortController();
// Every attacking socket listens for the end of the attack: hundreds of listeners are expected here.
setMaxListeners(0, controller.signal);
let running: Promise<void> = Promise.resolve();

function go(epoch: string): void {
  running = attacks[options.attack]({ ...options, epoch, signal: controller.signal, counts }).catch(
    (error: unknown) => {
      counts.add(`attack failed: ${(error as Error).message}`);
    },
  );
  process.send!({ started: true });
}

async function stop(): Promise<void> {
  if (controller.signal.aborted) return;
  controller.abort();
  await Promise.race([running, new Promise((resolve) => setTimeout(resolve, windDownMs))]);
  closeHttp();
  process.send!({ done: counts.values }, () => process.exit(0));
}

const deadline = setTimeout(() => void stop(), options.maxMs);
process.on('message', (message) => {
  if (typeof message === 'string' && message.startsWith('go ')) go(message.slice(3));
  if (message !== 'stop') return;
  clearTimeout(deadline);
  void stop();
});
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
