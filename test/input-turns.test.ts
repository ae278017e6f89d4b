// Client input in turns (edge/input-turns.ts), without sockets: a socket's messages go at once up to its share of a
// turn, the rest wait with the socket paused and follow in order in later turns, and a turn handles a bounded number
// for all sockets together, so one burst delays the others by a turn, not by itself.

import test from 'ava';
import { InputTurns, type TurnInput } from '../edge/input-turns.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function socketOf(turns: InputTurns, name: string, log: string[]) {
  const flow = { paused: false };
  const input: TurnInput = {
    inputTurn: -1,
    inputHandled: 0,
    inputQueue: undefined,
    inputHead: 0,
    handleInput: (data) => log.push(`${name}:${data.toString()}`),
    pause: () => (flow.paused = true),
    resume: () => (flow.paused = false),
  };
  return {
    input,
    flow,
    send: (count: number, from = 0) => {
      for (let i = from; i < from + count; i++) turns.receive(input, Buffer.from(String(i)), false);
    },
  };
}

test('a socket gets 16 messages a turn; the rest wait in order, its socket paused until they are handled', async (t) => {
  const turns = new InputTurns();
  const log: string[] = [];
  const a = socketOf(turns, 'a', log);
  a.send(40);
  t.is(log.length, 16);
  t.true(a.flow.paused);
  await turn();
  t.is(log.length, 32);
  await turn();
  t.deepEqual(
    log,
    Array.from({ length: 40 }, (_, i) => `a:${i}`),
  );
  t.false(a.flow.paused, 'read again once nothing waits');
});

test('a turn handles 256 messages for all sockets together; a late socket still goes in the next turn', async (t) => {
  const turns = new InputTurns();
  const log: string[] = [];
  const crowd = Array.from({ length: 20 }, (_, i) => socketOf(turns, `s${i}`, log));
  for (const socket of crowd) socket.send(16);
  t.is(log.length, 256, 'sixteen sockets had their sixteen');
  const late = socketOf(turns, 'late', log);
  late.send(1);
  t.is(log.length, 256, 'the late one waits for the next turn');
  await turn();
  t.is(log.length, 20 * 16 + 1);
  t.true(log.includes('late:0'));
  t.true(crowd.every((socket) => !socket.flow.paused) && !late.flow.paused);
});

test('a closed socket drops what waits', async (t) => {
  const turns = new InputTurns();
  const log: string[] = [];
  const a = socketOf(turns, 'a', log);
  a.send(20);
  turns.close(a.input);
  await turn();
  t.is(log.length, 16);
});
