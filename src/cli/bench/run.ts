/**
 * One benchmark run: prefill if the workload reads or deletes existing keys, start the
 * generator threads (long-lived workers, each a Load), let them all set up, start them
 * together, merge their histograms and count the results. Server CPU is sampled from /proc
 * right before the start and right after the last reply when a server pid is known.
 *
 * Why long-lived workers and not piscina: a run is one long task per thread that must report
 * progress and take a stop message while it runs; in a piscina pool that is a task holding its
 * thread for the whole run, the same thing with a pool's queue and hand-offs around it.
 */
import { Worker } from 'node:worker_threads';
import { assert } from '../../base/index.js';
import { GrpcChannel, PATH } from './grpc-client.js';
import { Histogram } from './histogram.js';
import { keyOf, type LoadResult, type LoadShare } from './load.js';
import type { BenchOptions } from './options.js';
import { processCpuSeconds } from './proc-cpu.js';
import { putFrame } from './wire.js';

export type ToWorker =
  | { type: 'go'; durationMs: number | undefined; watch: boolean }
  | { type: 'drain'; expectedPerWatcher: number }
  | { type: 'stop' };

export type ToMain =
  | { type: 'ready' }
  | { type: 'progress'; ops: number; errors: number }
  | { type: 'puts-done'; puts: number }
  | { type: 'done'; result: LoadResult }
  | { type: 'failed'; error: string };

/** Most keys written before a range or delete run (its --key-space-size, up to this). */
export const PREFILL_KEYS_MAX = 1_000_000;
/** Requests in flight while prefilling. */
const PREFILL_IN_FLIGHT = 64;
/** Longest a worker may take to connect and set up its leases or watches. */
const SETUP_MS_MAX = 15_000;

export interface RunResult {
  readonly workload: string;
  readonly clients: number;
  readonly conns: number;
  readonly workers: number;
  readonly ops: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly elapsedSeconds: number;
  /** ops per second (for watch: events delivered per second). */
  readonly throughput: number;
  /** Latency in milliseconds (for watch: delivery latency). */
  readonly latencyMs: { readonly min: number; readonly mean: number; readonly p50: number;
    readonly p90: number; readonly p99: number; readonly p999: number; readonly max: number };
  /** Watch only: puts that caused the events. */
  readonly puts: number | undefined;
  /** Server CPU over the measured window, when its pid is known. */
  readonly serverCpuSeconds: number | undefined;
  readonly serverCpuMicrosPerOp: number | undefined;
  /** CPU of this whole process (every load thread) over the run, per op: the generator's cost. */
  readonly clientCpuMicrosPerOp: number;
}

export interface RunHooks {
  /** Ops done so far and the fraction of the run elapsed (0..1), a few times a second. */
  readonly onProgress?: (ops: number, fraction: number) => void;
}

function share(n: number, parts: number, i: number): number {
  return Math.floor(n / parts) + (i < n % parts ? 1 : 0);
}

export function sharesOf(o: BenchOptions): LoadShare[] {
  const shares: LoadShare[] = [];
  for (let w = 0; w < o.workers; w++) {
    const clients = share(o.clients, o.workers, w);
    const watchers = o.workload === 'watch' ? share(o.watchers, o.workers, w) : 0;
    const watchStreams = watchers === 0 ? 0 : Math.max(1, share(o.watchStreams, o.workers, w));
    shares.push({
      options: o, workerIndex: w, clients,
      quota: o.total === undefined ? undefined : share(o.total, o.workers, w),
      watchers, watchStreams: Math.min(watchStreams, watchers),
    });
  }
  assert(shares.reduce((a, s) => a + s.clients, 0) === o.clients, 'clients shared out exactly');
  return shares;
}

/** Writes keys 0 .. min(keySpaceSize, PREFILL_KEYS_MAX) - 1 so ranges and deletes find them. */
export async function prefill(o: BenchOptions): Promise<void> {
  const endpoint = o.endpoints[0];
  assert(endpoint !== undefined, 'at least one endpoint');
  const channel = await GrpcChannel.connect(endpoint, 1);
  const n = Math.min(o.keySpaceSize, PREFILL_KEYS_MAX);
  const value = Buffer.alloc(o.valSize, 0x78);
  let next = 0;
  try {
    await Promise.all(Array.from({ length: PREFILL_IN_FLIGHT }, async () => {
      while (next < n) {
        const i = next++;
        await channel.unaryAsync(PATH.put, putFrame(keyOf(o.prefix, o.keySize, i), value), false);
      }
    }));
  } finally {
    channel.close();
  }
}

class WorkerHandle {
  readonly worker: Worker;
  ops = 0;
  result: LoadResult | undefined;
  readonly #waiters = new Map<ToMain['type'], (m: ToMain) => void>();
  #failure: Error | undefined;
  #onFail: ((err: Error) => void) | undefined;

  constructor(s: LoadShare) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: s });
    this.worker.on('message', (m: ToMain) => this.#onMessage(m));
    this.worker.on('error', (err) => this.#fail(err));
    this.worker.on('exit', (code) => {
      if (this.result === undefined) this.#fail(new Error(`load worker exited with code ${code}`));
    });
  }

  #onMessage(m: ToMain): void {
    if (m.type === 'progress') this.ops = m.ops;
    if (m.type === 'done') this.result = m.result;
    if (m.type === 'failed') return this.#fail(new Error(m.error));
    const w = this.#waiters.get(m.type);
    this.#waiters.delete(m.type);
    w?.(m);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#onFail?.(err);
  }

  /** Resolves on the next message of `type`; rejects if the worker fails first. */
  next<T extends ToMain['type']>(type: T, timeoutMs = Infinity):
    Promise<Extract<ToMain, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (this.#failure !== undefined) return reject(this.#failure);
      const late = (): void => reject(new Error(`load worker: no ${type} within ${timeoutMs} ms`));
      const timer = timeoutMs === Infinity ? undefined : setTimeout(late, timeoutMs);
      this.#onFail = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      this.#waiters.set(type, (m) => {
        clearTimeout(timer);
        resolve(m as Extract<ToMain, { type: T }>);
      });
    });
  }

  send(m: ToWorker): void { this.worker.postMessage(m); }
}

/** Runs one workload as `o` describes and returns its figures. */
export async function runLoad(o: BenchOptions, hooks: RunHooks = {}): Promise<RunResult> {
  if (o.workload === 'range' || o.workload === 'delete' || o.workload === 'mixed') await prefill(o);
  const handles = sharesOf(o).map((s) => new WorkerHandle(s));
  try {
    await Promise.all(handles.map((h) => h.next('ready', SETUP_MS_MAX)));
    const durationMs = o.durationSeconds === undefined ? undefined : o.durationSeconds * 1000;
    const cpu0 = o.serverPid === undefined ? undefined : processCpuSeconds(o.serverPid);
    const client0 = process.cpuUsage();
    const t0 = Date.now();
    const progress = setInterval(() => {
      const ops = handles.reduce((a, h) => a + h.ops, 0);
      const fraction = durationMs !== undefined ? (Date.now() - t0) / durationMs
        : o.workload === 'watch' ? 0 : ops / (o.total ?? 1);
      hooks.onProgress?.(ops, Math.min(1, fraction));
    }, 250);
    try {
      const watch = o.workload === 'watch';
      const done = handles.map((h) => h.next(watch ? 'puts-done' : 'done'));
      for (const h of handles) h.send({ type: 'go', durationMs, watch });
      const ends = await Promise.all(done);
      if (watch) {
        const puts = ends.reduce((a, m) => a + (m.type === 'puts-done' ? m.puts : 0), 0);
        const finished = handles.map((h) => h.next('done'));
        for (const h of handles) h.send({ type: 'drain', expectedPerWatcher: puts });
        await Promise.all(finished);
      }
    } finally {
      clearInterval(progress);
    }
    const cpu1 = o.serverPid === undefined ? undefined : processCpuSeconds(o.serverPid);
    const client = process.cpuUsage(client0);
    const results = handles.map((h) => {
      assert(h.result !== undefined, 'every worker reported its result');
      return h.result;
    });
    const serverCpu = cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0;
    return summarize(o, results, serverCpu, (client.user + client.system) / 1e6);
  } finally {
    await Promise.all(handles.map((h) => h.worker.terminate()));
  }
}

export function summarize(o: BenchOptions, results: readonly LoadResult[],
  cpuSeconds: number | undefined, clientCpuSeconds: number): RunResult {
  const hist = new Histogram();
  let ops = 0, errors = 0, puts = 0;
  let start = Infinity, end = 0;
  let firstError: string | undefined;
  for (const r of results) {
    hist.merge(r.histogram);
    ops += r.ops;
    errors += r.errors;
    puts += r.puts;
    start = Math.min(start, r.startMs);
    end = Math.max(end, r.endMs);
    firstError ??= r.firstError;
  }
  const elapsedSeconds = Math.max(1e-9, (end - start) / 1000);
  const ms = (ns: number): number => ns / 1e6;
  return {
    workload: o.workload, clients: o.clients, conns: o.conns, workers: o.workers,
    ops, errors, firstError, elapsedSeconds, throughput: ops / elapsedSeconds,
    latencyMs: {
      min: ms(hist.min), mean: ms(hist.mean), p50: ms(hist.quantile(0.5)),
      p90: ms(hist.quantile(0.9)), p99: ms(hist.quantile(0.99)), p999: ms(hist.quantile(0.999)),
      max: ms(hist.max),
    },
    puts: o.workload === 'watch' ? puts : undefined,
    serverCpuSeconds: cpuSeconds,
    serverCpuMicrosPerOp: cpuSeconds === undefined || ops === 0 ? undefined
      : (cpuSeconds * 1e6) / ops,
    clientCpuMicrosPerOp: ops === 0 ? 0 : (clientCpuSeconds * 1e6) / ops,
  };
}
