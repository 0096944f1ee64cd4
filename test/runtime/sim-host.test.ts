/**
 * The simulation host: seed determinism (same seed twice gives the same trace hash and delivery
 * count; different seeds give different interleavings), timers on the virtual clock (a timer
 * fires exactly at its due time, not before; cancelled timers never fire), per-link FIFO under
 * random delays, mailbox bounds and back-pressure (`send` turns false at the high-water mark,
 * `trySend` refuses, a send into a full mailbox throws), supervision (a throw stops the member
 * with an ActorFailure naming actor and message type; other members go on), and crash/restart
 * (mailboxes and timers dropped, actors re-created from their factories with fresh state).
 */
import t from 'tap';
import { AssertionError, MemoryLogger } from '../../src/base/index.js';
import { ActorFailure, SimHost } from '../../src/runtime/index.js';
import type { Actor, ActorContext, Message, TimerId } from '../../src/runtime/index.js';
import {
  Collector, createRingActor, expectedOutcome, ringAddresses, ringOptions,
} from './fixtures/ring.js';

function ringSim(seed: number, trace: boolean | { skipTypes: string[] } = true) {
  const sim = new SimHost({ seed, trace });
  const ring = ringAddresses(5, 5);
  let done = false;
  sim.spawn('m0/collector', () => new Collector(ring, 40, () => { done = true; }));
  ring.forEach((a, i) => sim.spawn(a, () => createRingActor(ringOptions(ring, 'm0/collector', i, 40, 9))));
  sim.runUntil(() => done);
  return { hash: sim.traceHash(), deliveries: sim.deliveries, now: sim.clock.now(), done };
}

t.test('the same seed gives the same trace hash, delivery count and end time', async (t) => {
  for (const seed of [1, 2, 99]) {
    const a = ringSim(seed);
    const b = ringSim(seed);
    t.ok(a.done, 'the ring finished');
    t.same(a, b, `seed ${seed} replays`);
  }
});

t.test('different seeds give different interleavings', async (t) => {
  const hashes = new Set([1, 2, 3, 4, 5].map((seed) => ringSim(seed).hash));
  t.ok(hashes.size > 1, `5 seeds gave ${hashes.size} distinct trace hashes`);
});

t.test('tracing can be turned off, or skip message types, without changing the run', async (t) => {
  const on = ringSim(3);
  const off = ringSim(3, false);
  const skip = ringSim(3, { skipTypes: ['ring.token'] });
  t.equal(off.deliveries, on.deliveries);
  t.equal(off.hash, '811c9dc5', 'nothing hashed: the FNV offset basis');
  t.not(skip.hash, on.hash);
  t.not(skip.hash, off.hash);
});

type TimerInbox = { type: 't.fire'; n: number } | { type: 't.set'; delayMs: number; n: number }
  | { type: 't.cancel'; n: number };

class TimerActor implements Actor<TimerInbox> {
  readonly fired: [number, number][] = [];
  readonly #ids = new Map<number, TimerId>();
  receive(m: TimerInbox, ctx: ActorContext<TimerInbox>): void {
    if (m.type === 't.set') this.#ids.set(m.n, ctx.setTimer(m.delayMs, { type: 't.fire', n: m.n }));
    else if (m.type === 't.cancel') ctx.cancelTimer(this.#ids.get(m.n)!);
    else this.fired.push([m.n, ctx.now()]);
  }
}

t.test('timers fire on the virtual clock at their due time; cancelled ones never', async (t) => {
  const sim = new SimHost({ seed: 1, crossMemberLatency: { minMs: 0, maxMs: 0 } });
  const actor = new TimerActor();
  sim.spawn('m1/timer', () => actor);
  sim.send('m1/timer', { type: 't.set', delayMs: 10, n: 1 });
  sim.send('m1/timer', { type: 't.set', delayMs: 5, n: 2 });
  sim.send('m1/timer', { type: 't.set', delayMs: 7, n: 3 });
  sim.send('m1/timer', { type: 't.cancel', n: 3 });
  sim.runUntil(9.999);
  t.same(actor.fired, [[2, 5]], 'only the 5 ms timer fired before 10 ms');
  sim.runUntil(10);
  t.same(actor.fired, [[2, 5], [1, 10]], 'the 10 ms timer fired at exactly 10 ms');
  sim.runUntil(1_000);
  t.equal(actor.fired.length, 2, 'the cancelled timer never fired');
  t.equal(sim.clock.now(), 1_000, 'runUntil(time) leaves the clock at that time');
  t.equal(sim.pending, 0);
});

class Recorder implements Actor<Message & { n?: number }> {
  readonly got: number[] = [];
  receive(m: Message & { n?: number }): void {
    if (m.n !== undefined) this.got.push(m.n);
  }
}

class Sender implements Actor<{ type: 'go'; count: number }> {
  receive(m: { type: 'go'; count: number }, ctx: ActorContext): void {
    for (let n = 0; n < m.count; n++) ctx.send('m2/rec', { type: 'rec.n', n });
  }
}

t.test('each link stays FIFO under random delays', async (t) => {
  const sim = new SimHost({ seed: 5, crossMemberLatency: { minMs: 0, maxMs: 50 } });
  const rec = new Recorder();
  sim.spawn('m2/rec', () => rec);
  sim.spawn('m1/send', () => new Sender());
  sim.send('m1/send', { type: 'go', count: 500 });
  sim.runUntil(() => rec.got.length === 500);
  t.same(rec.got, Array.from({ length: 500 }, (_, i) => i));
});

t.test('mailbox bounds: send turns false at high water, trySend refuses, a full mailbox throws',
  async (t) => {
    const sim = new SimHost({ seed: 1, mailbox: { depthMax: 10, highWater: 4 } });
    const rec = new Recorder();
    sim.spawn('m1/rec', () => rec);
    const results: boolean[] = [];
    for (let n = 0; n < 6; n++) results.push(sim.send('m1/rec', { type: 'rec.n', n }));
    t.same(results, [true, true, true, false, false, false], 'false once depth reaches 4');
    t.equal(sim.depth('m1/rec'), 6);
    t.notOk(sim.trySend('m1/rec', { type: 'rec.n', n: 99 }),
      'trySend refuses when pressured');
    t.equal(sim.depth('m1/rec'), 6, 'a refused message is not enqueued');
    for (let n = 6; n < 10; n++) sim.send('m1/rec', { type: 'rec.n', n });
    t.throws(() => sim.send('m1/rec', { type: 'rec.n', n: 10 }), AssertionError,
      'the 11th message overflows');
    sim.runUntil(() => sim.depth('m1/rec') === 0);
    t.same(rec.got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'the refused and overflowing messages are not there');
    t.ok(sim.send('m1/rec', { type: 'rec.n', n: 10 }), 'pressure is gone once drained');
  });

t.test('a throwing actor stops its member with an ActorFailure naming actor and message type',
  async (t) => {
    const logger = new MemoryLogger();
    const sim = new SimHost({ seed: 2, logger });
    const ring = ringAddresses(2, 2);
    ring.forEach((a, i) => sim.spawn(a, () => createRingActor(ringOptions(ring, 'm0/r0', i, 0, 1))));
    sim.send('m1/r1', { type: 'ring.boom' });
    const failure = t.throws(() => sim.runUntil(100)) as unknown;
    t.ok(failure instanceof ActorFailure);
    const f = failure as ActorFailure;
    t.equal(f.actor, 'm1/r1');
    t.equal(f.messageType, 'ring.boom');
    t.match(f.causeStack, /boom requested/);
    t.match(f.causeStack, /fixtures\/ring\.(js|ts)/, 'the stack points into the actor code');
    t.notOk(sim.isUp('m1'), 'its member stopped');
    t.ok(sim.isUp('m0'), 'other members go on');
    t.ok(logger.records.some((r) => r.level === 'error' && r.fields['actor'] === 'm1/r1'));
  });

t.test('a throw in start is reported as <start>', async (t) => {
  const sim = new SimHost({ seed: 2 });
  const err = t.throws(() => sim.spawn('m1/bad', () => ({
    start(): void { throw new Error('no start'); },
    receive(): void {},
  }))) as ActorFailure;
  t.equal(err.messageType, '<start>');
  t.equal(err.actor, 'm1/bad');
});

class Counter implements Actor<{ type: 'c.inc' } | { type: 'c.tick' }> {
  static created = 0;
  static log: string[] = [];
  count = 0;
  constructor() {
    Counter.created++;
  }
  start(ctx: ActorContext<{ type: 'c.inc' } | { type: 'c.tick' }>): void {
    ctx.setTimer(50, { type: 'c.tick' });
  }
  receive(m: { type: 'c.inc' } | { type: 'c.tick' }): void {
    if (m.type === 'c.inc') this.count++;
    Counter.log.push(`${m.type}:${this.count}`);
  }
}

t.test('crash drops mailboxes and timers; restart re-creates actors with fresh state', async (t) => {
  const sim = new SimHost({ seed: 4 });
  sim.spawn('m1/counter', () => new Counter());
  sim.spawn('m2/other', () => new Recorder());
  t.equal(Counter.created, 1);
  for (let i = 0; i < 3; i++) sim.send('m1/counter', { type: 'c.inc' });
  sim.runUntil(10);
  t.same(Counter.log, ['c.inc:1', 'c.inc:2', 'c.inc:3']);
  sim.send('m1/counter', { type: 'c.inc' });
  sim.send('m2/other', { type: 'rec.n', n: 1 });
  t.equal(sim.pending, 3, 'one message each and the pending tick');
  sim.crash('m1');
  t.equal(sim.pending, 1, 'the crashed member\'s mail and timer are gone');
  t.equal(sim.depth('m1/counter'), 0);
  sim.send('m1/counter', { type: 'c.inc' });
  t.equal(sim.pending, 1, 'mail to a crashed member is lost');
  sim.runUntil(100);
  t.same(Counter.log, ['c.inc:1', 'c.inc:2', 'c.inc:3'], 'nothing delivered while crashed');
  sim.restart('m1');
  t.equal(Counter.created, 2, 're-created from its factory');
  sim.send('m1/counter', { type: 'c.inc' });
  sim.runUntil(200);
  t.same(Counter.log.slice(3), ['c.inc:1', 'c.tick:1'], 'fresh state, and its start ran again');
  t.throws(() => sim.restart('m1'), AssertionError, 'restarting a running member is an error');
});

t.test('stop calls each actor\'s stop once, then the member is down', async (t) => {
  const sim = new SimHost({ seed: 1 });
  const c = new Collector([], 0, () => undefined);
  sim.spawn('m1/c', () => c);
  sim.stop('m1');
  t.ok(c.stopped);
  t.notOk(sim.isUp('m1'));
});

t.test('sends to unknown actors and malformed addresses are programmer errors', async (t) => {
  const sim = new SimHost({ seed: 1 });
  t.throws(() => sim.send('m1/nobody', { type: 'x' }), AssertionError);
  t.throws(() => sim.spawn('no-slash', () => new Recorder()), AssertionError);
  t.throws(() => sim.spawn('a/b/c', () => new Recorder()), AssertionError);
});

t.test('the ring outcome is the same on every seed', async (t) => {
  for (const seed of [11, 12, 13]) {
    const sim = new SimHost({ seed });
    const ring = ringAddresses(4, 2);
    let outcome: unknown = null;
    sim.spawn('m0/collector', () => new Collector(ring, 20, (o) => { outcome = o; }));
    ring.forEach((a, i) => sim.spawn(a, () => createRingActor(ringOptions(ring, 'm0/collector', i, 20, 7))));
    sim.runUntil(() => outcome !== null);
    t.same(outcome, expectedOutcome(4, 20, 7), `seed ${seed}`);
  }
});

t.test('after a restart, what an actor sends from start() reaches a sibling started after it', async (t) => {
  const sim = new SimHost({ seed: 3 });
  const got: string[] = [];
  let starts = 0;
  // a is spawned (so restarted) before b; only its second start, after the restart, sends.
  sim.spawn('m1/a', () => ({
    start(ctx: ActorContext<Message>) { if (++starts === 2) ctx.send('m1/b', { type: 'hello' }); },
    receive() {},
  }));
  sim.spawn('m1/b', () => ({ receive(m: Message) { got.push(m.type); } }));
  sim.runFor(5);
  sim.crash('m1');
  sim.restart('m1');
  sim.runFor(5);
  t.same(got, ['hello'], 'b, started after a, still gets what a sent from start()');
});
