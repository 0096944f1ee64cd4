/**
 * bench-runtime: what the actor runtime costs. Prints one table:
 * - messages/s one way, producer to consumer with credit-based flow control (a window of
 *   messages in flight, the consumer returning credit every CREDIT_EVERY messages), for two
 *   actors on one thread, on two worker threads with batching, and without batching;
 * - round-trip latency p50/p99 of one ping at a time, in one thread and across two threads;
 * - deliveries/s of the simulation host on a token ring (many tokens in flight), with the trace
 *   hash on and off.
 * Each throughput figure is the median of RUNS runs. The whole run is bounded (< 60 s).
 * The actors below are exported so worker threads can load them from this same module; the
 * benchmark itself only runs on the main thread.
 */
import { isMainThread } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { assert } from '../src/base/index.js';
import { SimHost } from '../src/runtime/index.js';
import type { Actor, ActorContext, Address, AnyActor, Message } from '../src/runtime/index.js';
import { ThreadHost } from '../src/runtime/node/index.js';
import type { ActorSpec, MainActorSpec } from '../src/runtime/node/index.js';

const RUNS = 3;
const WINDOW = 16_384;
const CREDIT_EVERY = 1_024;
const RTT_ROUNDS = 20_000;

type Item = { type: 'b.item'; n: number };
type Credit = { type: 'b.credit'; n: number };
type Go = { type: 'b.go' };
type Done = { type: 'b.done'; atMs: number; count: number };
type Ping = { type: 'b.ping'; from: Address };
type Pong = { type: 'b.pong' };
type Rtt = { type: 'b.rtt'; samplesUs: number[] };

export interface ProducerOptions { readonly to: Address; readonly total: number }
export interface ConsumerOptions { readonly from: Address; readonly total: number; readonly report: Address }
export interface PingerOptions { readonly peer: Address; readonly rounds: number; readonly report: Address }

class Producer implements Actor<Go | Credit> {
  #sent = 0;
  constructor(readonly o: ProducerOptions) {}
  receive(m: Go | Credit, ctx: ActorContext<Go | Credit>): void {
    this.#sendUpTo(m.type === 'b.go' ? WINDOW : m.n, ctx);
  }
  #sendUpTo(n: number, ctx: ActorContext<Go | Credit>): void {
    const end = Math.min(this.o.total, this.#sent + n);
    for (let i = this.#sent; i < end; i++) ctx.send<Item>(this.o.to, { type: 'b.item', n: i });
    this.#sent = end;
  }
}

class Consumer implements Actor<Item> {
  #count = 0;
  constructor(readonly o: ConsumerOptions) {}
  receive(m: Item, ctx: ActorContext<Item>): void {
    assert(m.n === this.#count, 'items arrive in order');
    this.#count++;
    if (this.#count % CREDIT_EVERY === 0) ctx.send<Credit>(this.o.from, { type: 'b.credit', n: CREDIT_EVERY });
    if (this.#count === this.o.total) {
      ctx.send<Done>(this.o.report, { type: 'b.done', atMs: ctx.now(), count: this.#count });
    }
  }
}

class Pinger implements Actor<Go | Pong> {
  readonly #samplesUs: number[] = [];
  #sentAt = 0;
  constructor(readonly o: PingerOptions) {}
  receive(m: Go | Pong, ctx: ActorContext<Go | Pong>): void {
    if (m.type === 'b.pong') {
      this.#samplesUs.push((ctx.now() - this.#sentAt) * 1_000);
      if (this.#samplesUs.length === this.o.rounds) {
        ctx.send<Rtt>(this.o.report, { type: 'b.rtt', samplesUs: this.#samplesUs });
        return;
      }
    }
    this.#sentAt = ctx.now();
    ctx.send<Ping>(this.o.peer, { type: 'b.ping', from: ctx.self });
  }
}

class Ponger implements Actor<Ping> {
  receive(m: Ping, ctx: ActorContext<Ping>): void {
    ctx.send<Pong>(m.from, { type: 'b.pong' });
  }
}

export const createProducer = (o: ProducerOptions): Actor<Go | Credit> => new Producer(o);
export const createConsumer = (o: ConsumerOptions): Actor<Item> => new Consumer(o);
export const createPinger = (o: PingerOptions): Actor<Go | Pong> => new Pinger(o);
export const createPonger = (): Actor<Ping> => new Ponger();

const MODULE = import.meta.url;
const spec = (address: Address, exportName: string, options: unknown): ActorSpec =>
  ({ address, module: MODULE, export: exportName, options });

/** The main-thread form of a spec: the same factory and options, called in place. */
function local<O>(s: ActorSpec, factory: (options: O) => Actor<never>): MainActorSpec {
  return { address: s.address, create: () => factory(s.options as O) as AnyActor };
}

/** A main-thread actor resolving a promise with the first message it receives. */
function reporter<T extends Message>(): { actor: Actor<T>; got: Promise<T> } {
  let resolve!: (m: T) => void;
  const got = new Promise<T>((r) => { resolve = r; });
  return { actor: { receive: (m: T) => resolve(m) }, got };
}

async function throughput(where: 'thread' | 'cross', total: number, batching: boolean): Promise<number> {
  const report = reporter<Done>();
  const producer = spec('b/producer', 'createProducer', { to: 'b/consumer', total });
  const consumer = spec('b/consumer', 'createConsumer', { from: 'b/producer', total, report: 'b/report' });
  const main = [{ address: 'b/report', create: () => report.actor }];
  // Main-thread actors are built in place: importing this module again from itself would wait
  // for its own top-level await.
  const placement = where === 'thread'
    ? { threads: [], main: [...main, local(producer, createProducer), local(consumer, createConsumer)] }
    : { threads: [{ actors: [producer] }, { actors: [consumer] }], main };
  const host = await ThreadHost.start({ placement, batching });
  try {
    const t0 = performance.timeOrigin + performance.now();
    host.send<Go>('b/producer', { type: 'b.go' });
    const done = await Promise.race([report.got, host.done.then(() => { throw new Error('stopped'); })]);
    assert(done.count === total, 'every item arrived');
    return total / ((done.atMs - t0) / 1_000);
  } finally {
    await host.stop();
  }
}

async function roundTrip(where: 'thread' | 'cross', batching: boolean): Promise<number[]> {
  const report = reporter<Rtt>();
  const pinger = spec('b/pinger', 'createPinger', { peer: 'b/ponger', rounds: RTT_ROUNDS, report: 'b/report' });
  const ponger = spec('b/ponger', 'createPonger', {});
  const main = [{ address: 'b/report', create: () => report.actor }, local(pinger, createPinger)];
  const placement = where === 'thread'
    ? { threads: [], main: [...main, local(ponger, createPonger)] }
    : { threads: [{ actors: [ponger] }], main };
  const host = await ThreadHost.start({ placement, batching });
  try {
    host.send<Go>('b/pinger', { type: 'b.go' });
    const rtt = await report.got;
    return rtt.samplesUs.sort((a, b) => a - b);
  } finally {
    await host.stop();
  }
}

type RingToken = { type: 'ring.token'; hop: number };

class SimRing implements Actor<RingToken> {
  constructor(readonly next: Address) {}
  receive(m: RingToken, ctx: ActorContext<RingToken>): void {
    ctx.send<RingToken>(this.next, { type: 'ring.token', hop: m.hop + 1 });
  }
}

function simThroughput(deliveries: number, trace: boolean): number {
  const sim = new SimHost({ seed: 42, trace });
  const ring = Array.from({ length: 8 }, (_, i) => `m${i % 2}/r${i}`);
  ring.forEach((a, i) => sim.spawn(a, () => new SimRing(ring[(i + 1) % ring.length]!)));
  for (let i = 0; i < 1_000; i++) sim.send<RingToken>(ring[i % ring.length]!, { type: 'ring.token', hop: 0 });
  const t0 = performance.now();
  sim.runUntil(() => sim.deliveries >= deliveries);
  return sim.deliveries / ((performance.now() - t0) / 1_000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function medianOf(run: () => Promise<number> | number): Promise<{ median: number; runs: number[] }> {
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await run());
  return { median: median(runs), runs };
}

const fmtRate = (r: number): string => `${(r / 1e6).toFixed(2)}M/s`;
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function main(): Promise<void> {
  const started = performance.now();
  const rows: [string, string, string][] = [];
  const rate = async (name: string, run: () => Promise<number> | number, target: string): Promise<void> => {
    const r = await medianOf(run);
    rows.push([name, `${fmtRate(r.median)} [${r.runs.map(fmtRate).join(' ')}]`, target]);
    process.stdout.write(`${name}: ${rows.at(-1)![1]}\n`);
  };
  await rate('one thread, actor to actor', () => throughput('thread', 5_000_000, true), '>= 5M/s');
  await rate('two threads, batched', () => throughput('cross', 4_000_000, true), '>= 2M/s');
  await rate('two threads, unbatched', () => throughput('cross', 1_000_000, false), '(about 0.6M/s)');
  await rate('sim host, trace hash on', () => simThroughput(3_000_000, true), '>= 5M/s');
  await rate('sim host, trace hash off', () => simThroughput(3_000_000, false), '>= 5M/s');
  const rtts = [['RTT one thread', 'thread', true], ['RTT two threads, batched', 'cross', true],
    ['RTT two threads, unbatched', 'cross', false]] as const;
  for (const [name, where, batching] of rtts) {
    const s = await roundTrip(where, batching);
    rows.push([name, `p50 ${pct(s, 0.5).toFixed(2)} us, p99 ${pct(s, 0.99).toFixed(2)} us`,
      where === 'cross' ? '<= 15 us' : '']);
    process.stdout.write(`${name}: ${rows.at(-1)![1]}\n`);
  }
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  process.stdout.write(`\n${'measure'.padEnd(w0)}  ${'result (median [runs])'.padEnd(w1)}  target\n`);
  for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}\n`);
  process.stdout.write(`\ntotal ${((performance.now() - started) / 1_000).toFixed(1)} s\n`);
}

if (isMainThread) await main();
