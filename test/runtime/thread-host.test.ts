/**
 * The thread host beyond the shared ring program: back-pressure across threads (the shared
 * depth counter makes `send` false at the high-water mark and `trySend` refuse, a full mailbox
 * throws, and pressure clears once the worker drains), supervision (an actor throwing in a
 * worker or on the main thread rejects `done` with an ActorFailure naming the actor and the
 * message type and carrying the original stack, and the host stops itself), a module that does
 * not export the named factory fails `start`, and a clean stop calls `stop` on actors and waits
 * for every worker to exit (no worker outlives the test; the file would time out otherwise).
 */
import t from 'tap';
import { AssertionError, assert } from '../../src/base/index.js';
import { ActorFailure } from '../../src/runtime/index.js';
import type { Actor, Message } from '../../src/runtime/index.js';
import { ThreadHost } from '../../src/runtime/node/index.js';
import type { ActorSpec } from '../../src/runtime/node/index.js';
import type { SinkReport } from './fixtures/sink.js';
import type { DeferrerReport } from './fixtures/deferrer.js';

const SINK_MODULE = new URL('./fixtures/sink.js', import.meta.url).href;
const RING_MODULE = new URL('./fixtures/ring.js', import.meta.url).href;
const sinkSpec = (address: string, replyTo: string): ActorSpec =>
  ({ address, module: SINK_MODULE, export: 'createSink', options: { replyTo } });

/** A main-thread actor handing each message it gets to a callback. */
class Probe implements Actor<Message> {
  stops = 0;
  constructor(readonly onMessage: (m: Message) => void) {}
  receive(m: Message): void {
    if (m.type === 'probe.boom') throw new Error('probe told to fail');
    this.onMessage(m);
  }
  stop(): void {
    this.stops++;
  }
}

/** Resolves when `condition` holds, checking once per event-loop turn; rejects after `capMs`. */
async function eventually(condition: () => boolean, capMs = 10_000): Promise<void> {
  const deadline = performance.now() + capMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

t.test('back-pressure across threads: high water, refusal, overflow, recovery', async (t) => {
  const reports: SinkReport[] = [];
  const probe = new Probe((m) => reports.push(m as SinkReport));
  const host = await ThreadHost.start({
    placement: { threads: [{ actors: [sinkSpec('m1/sink', 'm1/probe')] }],
      main: [{ address: 'm1/probe', create: () => probe }] },
    mailbox: { depthMax: 100, highWater: 50 },
  });
  try {
    // All of these run in one synchronous turn: nothing is posted yet, so the depth only grows.
    const results: boolean[] = [];
    for (let n = 0; n < 60; n++) results.push(host.send('m1/sink', { type: 'sink.item', n }));
    t.same(results.indexOf(false), 49, 'send turns false when the depth reaches the high-water mark');
    t.ok(results.slice(49).every((r) => !r), 'and stays false above it');
    t.notOk(host.trySend('m1/sink', { type: 'sink.item', n: -1 }), 'trySend refuses when pressured');
    for (let n = 60; n < 100; n++) host.send('m1/sink', { type: 'sink.item', n });
    t.throws(() => host.send('m1/sink', { type: 'sink.item', n: 100 }), AssertionError,
      'the 101st message overflows the mailbox');
    await eventually(() => host.trySend('m1/sink', { type: 'sink.flush' }));
    await eventually(() => reports.length === 1);
    t.same(reports, [{ type: 'sink.counted', count: 100, lastN: 99 }],
      'the worker got exactly the accepted messages, in order');
  } finally {
    await host.stop();
  }
  await host.done;
  t.equal(probe.stops, 1, 'stop called once on the main-thread actor');
});

t.test('an actor throwing in a worker rejects done with actor, message type and stack', async (t) => {
  const host = await ThreadHost.start({
    placement: { threads: [{ actors: [sinkSpec('m1/sink', 'm1/probe')] }],
      main: [{ address: 'm1/probe', create: () => new Probe(() => undefined) }] },
    workerLogLevel: 'fatal',
  });
  host.send('m1/sink', { type: 'sink.item', n: 1 });
  host.send('m1/sink', { type: 'sink.boom' });
  const failure = await host.done.then(() => null, (e: unknown) => e);
  t.ok(failure instanceof ActorFailure, 'done rejected with an ActorFailure');
  const f = failure as ActorFailure;
  t.equal(f.actor, 'm1/sink');
  t.equal(f.messageType, 'sink.boom');
  t.match(f.causeStack, /sink told to fail/);
  t.match(f.causeStack, /fixtures\/sink\.(js|ts)/, 'the stack comes from the worker');
  t.match(f.message, /m1\/sink.*sink\.boom/);
  await host.stop();
  t.notOk(host.send('m1/sink', { type: 'sink.item', n: 2 }), 'a stopped host accepts nothing');
});

t.test('an actor throwing on the main thread stops the host the same way', async (t) => {
  const host = await ThreadHost.start({
    placement: { threads: [{ actors: [sinkSpec('m1/sink', 'm1/probe')] }],
      main: [{ address: 'm1/probe', create: () => new Probe(() => undefined) }] },
  });
  host.send('m1/probe', { type: 'probe.boom' });
  await t.rejects(host.done, { name: 'ActorFailure', actor: 'm1/probe', messageType: 'probe.boom' });
  await host.stop();
});

t.test('a missing factory export fails start and leaves no worker behind', async (t) => {
  await t.rejects(ThreadHost.start({
    placement: { threads: [{ actors: [{ address: 'm1/x', module: RING_MODULE, export: 'nope' }] }] },
  }), { name: 'ActorFailure', actor: 'm1/x', messageType: '<load>' });
});

t.test('a placement naming an actor twice is refused before any thread starts', async (t) => {
  await t.rejects(ThreadHost.start({
    placement: { threads: [{ actors: [sinkSpec('m1/a', 'm1/a')] }, { actors: [sinkSpec('m1/a', 'm1/a')] }] },
  }), AssertionError);
});

t.test('stop is idempotent and every worker has exited when it resolves', async (t) => {
  const host = await ThreadHost.start({
    placement: { threads: [{ actors: [sinkSpec('m1/a', 'm1/b')] }, { actors: [sinkSpec('m1/b', 'm1/a')] }] },
  });
  host.send('m1/a', { type: 'sink.flush' });
  const first = host.stop();
  t.equal(host.stop(), first, 'the same promise');
  await first;
  await host.done;
  const workers = process.getActiveResourcesInfo().filter((r) => r === 'Worker' || r === 'MessagePort');
  t.same(workers, [], 'no worker or port handles remain');
});

const DEFERRER_MODULE = new URL('./fixtures/deferrer.js', import.meta.url).href;

t.test('a deferred inbox: messages wait for the actor\'s own next delivery, in order, none lost', async (t) => {
  const reports: DeferrerReport[] = [];
  const host = await ThreadHost.start({
    placement: {
      threads: [{ actors: [{ address: 'm1/deferrer', module: DEFERRER_MODULE, export: 'createDeferrer',
        options: { replyTo: 'm1/probe' } }] }],
      main: [{ address: 'm1/probe', create: () => new Probe((m) => reports.push(m as DeferrerReport)) }],
    },
  });
  try {
    host.send('m1/deferrer', { type: 'defer.hold', ms: 300 });
    await eventually(() => reports.some((r) => r.type === 'defer.holding'));
    let n = 0;
    // Items sent over several turns while the inbox is deferred; Buffers arrive as Uint8Arrays.
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 10; i++) host.send('m1/deferrer', { type: 'defer.item', n: n++, data: Buffer.from([n & 0xff]) });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await eventually(() => reports.some((r) => r.type === 'defer.released'));
    const released = reports.find((r) => r.type === 'defer.released');
    assert(released?.type === 'defer.released', 'a release came');
    t.equal(released.itemsBeforeRelease, n, 'every item arrived before the release message itself');
    // Posted items would arrive within a few ms; deferred ones wait for the 300 ms timer.
    t.ok(released.firstItemMs >= 250, `no item arrived before the timer (${released.firstItemMs} ms)`);
    // Short holds in between, each ended by its timer: every item still arrives, in order.
    for (let turn = 0; turn < 200; turn++) {
      if (turn % 3 === 0) host.send('m1/deferrer', { type: 'defer.hold', ms: turn % 5 });
      for (let i = 0; i < 5; i++) host.send('m1/deferrer', { type: 'defer.item', n: n++, data: new Uint8Array(3) });
      if (turn % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    host.send('m1/deferrer', { type: 'defer.report' });
    await eventually(() => reports.some((r) => r.type === 'defer.seen'));
    const seen = reports.find((r) => r.type === 'defer.seen');
    assert(seen?.type === 'defer.seen', 'a report came');
    t.same(seen.ns, Array.from({ length: n }, (_, i) => i), 'every item, once, in order');
    t.same(seen.dataKinds, ['Uint8Array'], 'payloads are Uint8Arrays as with postMessage');
  } finally {
    await host.stop();
  }
});
