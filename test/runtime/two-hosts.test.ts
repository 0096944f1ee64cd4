/**
 * One actor program, two hosts: the token ring of fixtures/ring.ts runs under the simulation
 * host (all members in one thread, virtual time) and under the thread host (ring actors spread
 * over two worker threads, the collector on the main thread, real time); both must reach the
 * outcome computed arithmetically by `expectedOutcome`, and so the same outcome as each other.
 */
import t from 'tap';
import { SimHost } from '../../src/runtime/index.js';
import { ThreadHost } from '../../src/runtime/node/index.js';
import type { ActorSpec } from '../../src/runtime/node/index.js';
import {
  Collector, createRingActor, expectedOutcome, ringAddresses, ringOptions,
} from './fixtures/ring.js';
import type { RingOutcome } from './fixtures/ring.js';

const SIZE = 6;
const TOKENS = 50;
const HOPS = 13;
const COLLECTOR = 'm0/collector';
const RING_MODULE = new URL('./fixtures/ring.js', import.meta.url).href;

function runSim(seed: number): RingOutcome {
  const sim = new SimHost({ seed });
  const ring = ringAddresses(SIZE, 3);
  let outcome: RingOutcome | null = null;
  sim.spawn(COLLECTOR, () => new Collector(ring, TOKENS, (o) => { outcome = o; }));
  ring.forEach((address, i) => sim.spawn(address,
    () => createRingActor(ringOptions(ring, COLLECTOR, i, TOKENS, HOPS))));
  sim.runUntil(() => outcome !== null);
  if (outcome === null) throw new Error('the simulation went idle before the ring finished');
  return outcome;
}

async function runThreads(): Promise<RingOutcome> {
  const ring = ringAddresses(SIZE, 3);
  const spec = (i: number): ActorSpec => ({
    address: ring[i]!, module: RING_MODULE, export: 'createRingActor',
    options: ringOptions(ring, COLLECTOR, i, TOKENS, HOPS),
  });
  let resolveOutcome!: (o: RingOutcome) => void;
  const outcome = new Promise<RingOutcome>((resolve) => { resolveOutcome = resolve; });
  const host = await ThreadHost.start({ placement: {
    threads: [{ actors: [spec(0), spec(2), spec(4)] }, { actors: [spec(1), spec(3)] }],
    main: [
      { address: COLLECTOR, create: () => new Collector(ring, TOKENS, resolveOutcome) },
      spec(5),
    ],
  } });
  try {
    return await Promise.race([outcome, host.done.then(() => { throw new Error('stopped early'); })]);
  } finally {
    await host.stop();
    await host.done;
  }
}

t.test('the token ring reaches the computed outcome under the simulation host', async (t) => {
  t.same(runSim(7), expectedOutcome(SIZE, TOKENS, HOPS));
});

t.test('the token ring reaches the same outcome under the thread host', async (t) => {
  const threads = await runThreads();
  t.same(threads, expectedOutcome(SIZE, TOKENS, HOPS));
  t.same(threads, runSim(8), 'thread host and simulation host agree');
});
