// The pace of join and leave announcements per topic (core/presence-announcer.ts): within budget at once, beyond it
// coalesced per session so that watchers always end at each session's true state, in the topic's order.

import test from 'ava';
import fc from 'fast-check';
import { PresenceAnnouncer } from '../core/presence-announcer.js';

interface Sent {
  topic: string;
  session: string;
  joined: boolean;
  at: number;
}

function announcer(perSecond: number) {
  const clock = { ms: 0, now: () => clock.ms };
  const sent: Sent[] = [];
  const paced = new PresenceAnnouncer<string>(
    perSecond,
    (topic, session, _member, joined) => sent.push({ topic, session, joined, at: clock.ms }),
    clock,
  );
  return { clock, sent, paced };
}

test('within budget every change goes out at once', (t) => {
  const { sent, paced } = announcer(10);
  for (let i = 0; i < 20; i++) paced.offer('room', `s${i}`, 'm', true);
  t.is(sent.length, 20, 'a burst of two seconds worth');
  paced.close();
});

test('a session toggling in a loop costs the watchers at most the budget, and they end at its last state', (t) => {
  const { clock, sent, paced } = announcer(10);
  t.teardown(() => paced.close());
  for (let i = 0; i < 1000; i++) {
    paced.offer('room', 'toggler', 'm', i % 2 === 0);
    clock.ms += 1;
  }
  t.is(sent.length, 20);
  for (let i = 0; i < 10; i++) {
    clock.ms += 1000;
    paced.flush();
  }
  t.is(paced.heldCount, 0);
  // 1000 changes ended with a leave; the burst's last event was a leave too: nothing more to say.
  t.is(sent.length, 20);
  t.false(sent.at(-1)!.joined);
});

test('property: whatever the changes and times, each session ends announced in its true state, within the budget', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          topic: fc.constantFrom('a', 'b'),
          session: fc.constantFrom('s1', 's2', 's3', 's4'),
          gap: fc.nat(300),
        }),
        { maxLength: 300 },
      ),
      (changes) => {
        const perSecond = 5;
        const { clock, sent, paced } = announcer(perSecond);
        const present = new Map<string, boolean>();
        for (const { topic, session, gap } of changes) {
          clock.ms += gap;
          const key = `${topic}/${session}`;
          const joined = !(present.get(key) ?? false);
          present.set(key, joined);
          paced.offer(topic, session, 'm', joined);
          if (gap > 250) paced.flush();
        }
        for (let i = 0; i < 200 && paced.heldCount > 0; i++) {
          clock.ms += 1000;
          paced.flush();
        }
        paced.close();
        const announced = new Map<string, boolean>();
        for (const event of sent) {
          const key = `${event.topic}/${event.session}`;
          // Never the same state twice in a row: each event is a change.
          if ((announced.get(key) ?? false) === event.joined) return false;
          announced.set(key, event.joined);
        }
        for (const [key, joined] of present) if ((announced.get(key) ?? false) !== joined) return false;
        // Per topic, never more than the burst plus what the elapsed time refills.
        for (const topic of ['a', 'b']) {
          const times = sent.filter((event) => event.topic === topic).map((event) => event.at);
          for (let i = 0; i < times.length; i++)
            for (let j = i; j < times.length; j++)
              if (j - i + 1 > perSecond * 2 + ((times[j]! - times[i]!) * perSecond) / 1000 + 1e-9) return false;
        }
        return true;
      },
    ),
    { seed: 20261206, numRuns: 300 },
  );
  t.pass();
});
