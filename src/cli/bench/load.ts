/**
 * The load of one generator thread: its share of the clients, each a closed loop (send, wait for
 * the reply, record the latency, send again), optionally paced by a rate limiter shared by the
 * thread's clients. It runs in a worker (worker.ts) but knows nothing of threads: the caller
 * drives it through setup() -> run() -> result(), so a test can run it inline.
 *
 * Latencies are recorded in nanoseconds in a Histogram. For the watch workload the histogram
 * holds delivery latencies (put time carried in the first 8 bytes of each value, as epoch ms,
 * to the event's arrival), `ops` counts delivered events and `puts` the puts that caused them.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { assert, SeededRng } from '../../base/index.js';
import { GrpcChannel, PATH, type BidiStream } from './grpc-client.js';
import { Histogram, type HistogramSnapshot } from './histogram.js';
import type { BenchOptions } from './options.js';
import {
  deleteFrame, leaseGrantFrame, leaseKeepAliveFrame, putFrame, rangeFrame, readKeepAliveTtl,
  readLeaseGrant, readWatchResponse, txnPutFrame, watchCreateFrame,
} from './wire.js';

/** A thread stops issuing requests after this many failed ones (a dead server, say). */
export const ERRORS_MAX = 1000;
/** Leases of the keepalive workload live this long if a run is cut short. */
export const LEASE_TTL_SECONDS = 600;
/** Longest wait for watch events still in flight after the puts end. */
export const WATCH_DRAIN_MS_MAX = 10_000;

export interface LoadShare {
  readonly options: BenchOptions;
  readonly workerIndex: number;
  /** Number of clients (closed loops) in this thread. */
  readonly clients: number;
  /** Operations for this thread when the run is --total. */
  readonly quota: number | undefined;
  /** Watchers and watch streams in this thread (watch workload). */
  readonly watchers: number;
  readonly watchStreams: number;
}

export interface LoadResult {
  readonly ops: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** Epoch milliseconds of the first request and of the last reply. */
  readonly startMs: number;
  readonly endMs: number;
  readonly histogram: HistogramSnapshot;
  readonly puts: number;
}

export const epochMs = (): number => performance.timeOrigin + performance.now();

export function keyOf(prefix: string, keySize: number, i: number): Buffer {
  return Buffer.from(prefix + String(i).padStart(keySize, '0'), 'latin1');
}

/** The key range holding every key of `prefix` (etcd's prefix end: last byte + 1). */
export function prefixRange(prefix: string): [Buffer, Buffer] {
  if (prefix === '') return [Buffer.from('0'), Buffer.from(':')]; // every all-digit key
  const key = Buffer.from(prefix, 'latin1');
  const end = Buffer.from(key);
  let i = end.length - 1;
  while (i >= 0 && end[i] === 0xff) i--;
  assert(i >= 0, 'a prefix of 0xff bytes has no end');
  end[i] = (end[i] ?? 0) + 1;
  return [key, end.subarray(0, i + 1)];
}

interface LeaseEntry {
  stream: BidiStream;
  readonly frame: Buffer;
  /** Settles the keepalive in flight: no argument on a reply, an error when the stream ends. */
  waiter: ((err?: Error) => void) | undefined;
  /** Why the stream ended, once it has: later keepalives fail at once. */
  ended: Error | undefined;
}

export class Load {
  readonly #s: LoadShare;
  readonly #o: BenchOptions;
  readonly #rng: SeededRng;
  readonly #hist = new Histogram();
  readonly #value: Buffer;
  #channel: GrpcChannel | undefined;
  #seq: number;
  #issued = 0;
  #ops = 0;
  #puts = 0;
  #errors = 0;
  #firstError: string | undefined;
  #deadline = Infinity;
  #nextSlot = 0;
  #slotMs = 0;
  #stopped = false;
  #startMs = 0;
  #endMs = 0;
  #leaseStreams: LeaseEntry[] = [];
  #watchStreams: BidiStream[] = [];
  #onEvent: (() => void) | undefined;

  constructor(share: LoadShare) {
    this.#s = share;
    this.#o = share.options;
    this.#rng = new SeededRng(this.#o.seed * 1000 + share.workerIndex);
    this.#seq = share.workerIndex;
    this.#value = Buffer.alloc(this.#o.valSize, 0x78);
  }

  get ops(): number { return this.#ops; }
  get errors(): number { return this.#errors; }
  get puts(): number { return this.#puts; }

  /** Connects, and creates this thread's leases or watches. */
  async setup(): Promise<void> {
    const endpoint = this.#o.endpoints[this.#s.workerIndex % this.#o.endpoints.length];
    assert(endpoint !== undefined, 'at least one endpoint');
    const conns = Math.max(1, Math.round(this.#o.conns / this.#o.workers));
    this.#channel = await GrpcChannel.connect(endpoint, conns);
    if (this.#o.workload === 'lease-keepalive') await this.#setupLeases();
    if (this.#o.workload === 'watch') await this.#setupWatches();
  }

  /** Runs the closed loops until the quota or `durationMs` is used up, or stop() is called. */
  async run(durationMs: number | undefined): Promise<void> {
    const now = performance.now();
    this.#deadline = durationMs === undefined ? Infinity : now + durationMs;
    const threadRate = this.#o.rate / this.#o.workers;
    this.#slotMs = threadRate > 0 ? 1000 / threadRate : 0;
    this.#nextSlot = now;
    this.#startMs = epochMs();
    const loops = Array.from({ length: this.#s.clients }, (_, i) => this.#loop(i));
    await Promise.all(loops);
    if (this.#o.workload !== 'watch') this.#endMs = epochMs();
  }

  /** Watch only: waits until `expectedPerWatcher` events reached each watcher of this thread. */
  async drainWatch(expectedPerWatcher: number): Promise<void> {
    const want = expectedPerWatcher * this.#s.watchers;
    const until = performance.now() + WATCH_DRAIN_MS_MAX;
    while (this.#ops < want && performance.now() < until) {
      await new Promise<void>((resolve) => {
        this.#onEvent = resolve;
        setTimeout(resolve, 50).unref();
      });
    }
    this.#onEvent = undefined;
    if (this.#ops < want) {
      this.#fail(new Error(`watch: ${want - this.#ops} of ${want} events never arrived`));
    }
    this.#endMs = epochMs();
  }

  stop(): void { this.#stopped = true; }

  result(): LoadResult {
    return {
      ops: this.#ops, errors: this.#errors, firstError: this.#firstError,
      startMs: this.#startMs, endMs: this.#endMs, histogram: this.#hist.snapshot(),
      puts: this.#puts,
    };
  }

  close(): void {
    for (const l of this.#leaseStreams) l.stream.close();
    for (const w of this.#watchStreams) w.close();
    this.#channel?.close();
  }

  #fail(err: unknown): void {
    this.#errors++;
    this.#firstError ??= err instanceof Error ? err.message : String(err);
  }

  #more(): boolean {
    if (this.#stopped || this.#errors >= ERRORS_MAX) return false;
    if (this.#s.quota !== undefined) return this.#issued < this.#s.quota;
    return performance.now() < this.#deadline;
  }

  async #loop(client: number): Promise<void> {
    while (this.#more()) {
      this.#issued++;
      if (this.#slotMs > 0) {
        const slot = this.#nextSlot;
        this.#nextSlot = Math.max(slot + this.#slotMs, performance.now() - 1000);
        const wait = slot - performance.now();
        if (wait > 0) await sleep(wait);
      }
      const t0 = performance.now();
      try {
        await this.#op(client);
        if (this.#o.workload !== 'watch') {
          this.#hist.record((performance.now() - t0) * 1e6);
          this.#ops++;
        }
      } catch (err) {
        this.#fail(err);
      }
    }
  }

  #key(): Buffer {
    const o = this.#o;
    let i: number;
    if (o.sequentialKeys) {
      i = this.#seq % o.keySpaceSize;
      this.#seq += o.workers;
    } else {
      i = this.#rng.int(0, o.keySpaceSize - 1);
    }
    return keyOf(o.prefix, o.keySize, i);
  }

  /** `n` different keys (etcd rejects a txn that puts one key twice). */
  #distinctKeys(n: number): Buffer[] {
    const keys: Buffer[] = [];
    const seen = new Set<string>();
    for (let tries = 0; keys.length < n; tries++) {
      assert(tries < n * 100, 'the key space holds enough keys for one txn');
      const k = this.#key();
      const text = k.toString('latin1');
      if (seen.has(text)) continue;
      seen.add(text);
      keys.push(k);
    }
    return keys;
  }

  #unary(path: string, frame: Buffer): Promise<Buffer | undefined> {
    assert(this.#channel !== undefined, 'setup() before run()');
    return this.#channel.unaryAsync(path, frame, false);
  }

  #op(client: number): Promise<unknown> {
    const o = this.#o;
    switch (o.workload) {
      case 'put': return this.#unary(PATH.put, putFrame(this.#key(), this.#value));
      case 'range': return this.#range();
      case 'delete': return this.#unary(PATH.deleteRange, deleteFrame(this.#key()));
      case 'txn-put': {
        const puts = this.#distinctKeys(o.txnOps).map((key) => ({ key, value: this.#value }));
        return this.#unary(PATH.txn, txnPutFrame(puts));
      }
      case 'mixed':
        return this.#rng.chance(o.readRatio) ? this.#range()
          : this.#unary(PATH.put, putFrame(this.#key(), this.#value));
      case 'lease-keepalive': return this.#keepAlive(client);
      case 'watch': return this.#timedPut();
    }
  }

  #range(): Promise<unknown> {
    return this.#unary(PATH.range, rangeFrame(this.#key(), undefined, this.#o.consistency === 's'));
  }

  async #timedPut(): Promise<void> {
    const value = Buffer.from(this.#value);
    value.writeDoubleLE(epochMs(), 0);
    await this.#unary(PATH.put, putFrame(this.#key(), value));
    this.#puts++;
  }

  #keepAlive(client: number): Promise<void> {
    const l = this.#leaseStreams[client];
    assert(l !== undefined, 'one lease stream per client');
    assert(l.waiter === undefined, 'one keepalive in flight per client');
    if (l.ended !== undefined) return Promise.reject(l.ended);
    return new Promise((resolve, reject) => {
      l.waiter = (err) => (err === undefined ? resolve() : reject(err));
      l.stream.write(l.frame);
    });
  }

  async #setupLeases(): Promise<void> {
    const channel = this.#channel;
    assert(channel !== undefined, 'connected');
    for (let c = 0; c < this.#s.clients; c++) {
      const reply = await channel.unaryAsync(PATH.leaseGrant, leaseGrantFrame(LEASE_TTL_SECONDS));
      const grant = readLeaseGrant(reply ?? Buffer.alloc(0));
      if (grant.id === undefined || grant.error !== '') {
        throw new Error(`LeaseGrant failed: ${grant.error}`);
      }
      const entry: LeaseEntry = {
        frame: leaseKeepAliveFrame(grant.id), waiter: undefined, ended: undefined,
        stream: channel.stream(PATH.leaseKeepAlive, (msg) => {
          const w = entry.waiter;
          entry.waiter = undefined;
          w?.(readKeepAliveTtl(msg) <= 0 ? new Error('keepalive: lease not found') : undefined);
        }, (err) => {
          entry.ended = err ?? new Error('keepalive stream ended');
          const w = entry.waiter;
          entry.waiter = undefined;
          w?.(entry.ended);
        }),
      };
      this.#leaseStreams.push(entry);
    }
  }

  async #setupWatches(): Promise<void> {
    const channel = this.#channel;
    assert(channel !== undefined, 'connected');
    const [key, end] = prefixRange(this.#o.prefix);
    const frame = watchCreateFrame(key, end);
    if (this.#s.watchers === 0) return;
    let created = 0;
    const allCreated = new Promise<void>((resolve, reject) => {
      const onValue = (buf: Uint8Array, s: number, e: number): void => {
        if (e - s < 8) return;
        const sent = Buffer.from(buf.buffer, buf.byteOffset + s, 8).readDoubleLE(0);
        this.#hist.record((epochMs() - sent) * 1e6);
      };
      for (let st = 0; st < this.#s.watchStreams; st++) {
        const { watchers, watchStreams } = this.#s;
        const n = Math.floor(watchers / watchStreams) + (st < watchers % watchStreams ? 1 : 0);
        const stream = channel.stream(PATH.watch, (msg) => {
          const summary = readWatchResponse(msg, onValue);
          if (summary.created && ++created === this.#s.watchers) resolve();
          if (summary.canceled) this.#fail(new Error('watch canceled by the server'));
          this.#ops += summary.events;
          if (summary.events > 0) this.#onEvent?.();
        }, (err) => {
          if (err !== undefined) {
            this.#fail(err);
            reject(err);
          }
        });
        this.#watchStreams.push(stream);
        for (let i = 0; i < n; i++) stream.write(frame);
      }
    });
    await allCreated;
  }
}
