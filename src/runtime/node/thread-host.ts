/**
 * The thread host: runs actors on worker_threads as a placement says, with real time.
 *
 * ```ts
 * const host = await ThreadHost.start({ placement: {
 *   threads: [{ actors: [raftSpec] }, { actors: [applySpec, watchSpec] }],
 *   main: [{ address: 'm1/front', create: () => new Front(server) }],
 * } });
 * host.done.catch((failure) => { ... });   // rejects with an ActorFailure if any actor throws
 * ...
 * await host.stop();                        // stops actors, closes ports, awaits worker exit
 * ```
 *
 * Each `threads` entry is one worker running the listed actors (loaded inside the worker from
 * their ActorSpec); `main` actors run on the calling thread (given as a spec or as a `create`
 * function). Every pair of threads gets its own MessageChannel; cross-thread messages are
 * batched per event-loop turn (see ThreadRuntime). If any actor throws, the whole host stops
 * (all its actors belong to the member it serves) and `done` rejects with an ActorFailure
 * naming the actor and the message type, carrying the original stack.
 */
import { randomInt } from 'node:crypto';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { assert, limits, nullLogger } from '../../base/index.js';
import type { LogLevel, Logger } from '../../base/index.js';
import { ActorFailure, assertAddress, mailboxBounds, runtimeLimits } from '../index.js';
import type { Address, AnyActor, Message } from '../index.js';
import type { FromWorker, ToWorker, WorkerInit } from './actor-worker.js';
import { loadActor } from './load-actor.js';
import type { ActorSpec } from './load-actor.js';
import { ByteRing } from './byte-ring.js';
import { SystemClock } from './system-clock.js';
import { ThreadRuntime } from './thread-runtime.js';
import type { FailureReport, Route, ThreadRuntimeConfig } from './thread-runtime.js';

/** An actor on the main thread, built in place (it may close over main-thread objects). */
export interface MainActorSpec {
  readonly address: Address;
  readonly create: () => AnyActor;
}

export interface Placement {
  /** One worker thread per entry, running the listed actors. */
  readonly threads: readonly { readonly actors: readonly ActorSpec[] }[];
  /** Actors on the main thread. */
  readonly main?: readonly (ActorSpec | MainActorSpec)[];
}

export interface ThreadHostOptions {
  readonly placement: Placement;
  /** The main thread's logger; nullLogger by default. */
  readonly logger?: Logger;
  /** Minimum level of the workers' JSON-lines loggers (stderr); 'warn' by default. */
  readonly workerLogLevel?: LogLevel;
  readonly mailbox?: { readonly depthMax?: number; readonly highWater?: number };
  /** Batch cross-thread messages per event-loop turn (default true; off only to measure). */
  readonly batching?: boolean;
  /** Messages per postMessage at most; limits.crossThreadBatchMax by default. */
  readonly batchMax?: number;
  /** Seeds the actors' Rngs; random by default. */
  readonly seed?: number;
}

/** How long stop() waits for a worker to confirm before terminating it. */
const WORKER_STOP_TIMEOUT_MS = 5_000;
/** Worker threads one host may start. */
const THREADS_MAX = 64;
/**
 * Bytes of each directed pair's ring (ThreadRuntime); a batch over half of it goes by postMessage.
 * A put is ~60 bytes serialized, so a full batch of crossThreadBatchMax puts fits ~8 times.
 */
const CROSS_THREAD_RING_BYTES = 256 * 1024;

const WORKER_URL = new URL('./actor-worker.js', import.meta.url);

interface WorkerHandle {
  readonly worker: Worker;
  readonly exited: Promise<void>;
  stopped: (() => void) | null;
}

export class ThreadHost {
  /** Resolves when the host stopped cleanly; rejects with the first ActorFailure. */
  readonly done: Promise<void>;
  readonly #runtime: ThreadRuntime;
  readonly #workers: WorkerHandle[];
  readonly #logger: Logger;
  #resolveDone!: () => void;
  #rejectDone!: (failure: ActorFailure) => void;
  #failure: ActorFailure | null = null;
  #stopping: Promise<void> | null = null;

  private constructor(runtime: ThreadRuntime, workers: WorkerHandle[], logger: Logger) {
    this.#runtime = runtime;
    this.#workers = workers;
    this.#logger = logger;
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
  }

  /** Starts every worker, loads and starts every actor; rejects if any fails to load or start. */
  static async start(options: ThreadHostOptions): Promise<ThreadHost> {
    const { placement } = options;
    const logger = options.logger ?? nullLogger;
    const threadCount = placement.threads.length;
    assert(threadCount <= THREADS_MAX, `at most ${THREADS_MAX} worker threads, got ${threadCount}`);
    const routes = buildRoutes(placement);
    const depths = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, routes.length)))
      .subarray(0, routes.length);
    const deferrals = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, routes.length)))
      .subarray(0, routes.length);
    const rings = Array.from({ length: threadCount + 1 }, (_, from) =>
      Array.from({ length: threadCount + 1 }, (_, to) =>
        from === to ? null : ByteRing.allocate(CROSS_THREAD_RING_BYTES)));
    const base: Omit<ThreadRuntimeConfig, 'thread'> = {
      routes,
      depths,
      deferrals,
      rings,
      bounds: mailboxBounds(options.mailbox),
      batchMax: options.batchMax ?? limits.crossThreadBatchMax,
      batching: options.batching ?? true,
      seed: options.seed ?? randomInt(0, 2 ** 31),
    };
    const ports = channels(threadCount + 1);

    let pendingFailure: FailureReport | null = null;
    let host: ThreadHost | null = null;
    const onFailure = (report: FailureReport): void => {
      if (host !== null) host.#failed(report);
      else pendingFailure ??= report;
    };

    const mainActors: { address: Address; actor: AnyActor }[] = [];
    for (const spec of placement.main ?? []) {
      mainActors.push({
        address: spec.address,
        actor: 'create' in spec ? spec.create() : await loadActor(spec),
      });
    }
    const runtime = new ThreadRuntime({ ...base, thread: 0 }, new SystemClock(),
      logger.child({ thread: 0 }), onFailure);
    for (const { address, actor } of mainActors) runtime.addActor(address, actor);
    for (const [peer, port] of ports[0]!) runtime.connect(peer, port);

    const workers = placement.threads.map((thread, i) => spawnWorker({
      config: { ...base, thread: i + 1 },
      actors: thread.actors,
      logLevel: options.workerLogLevel ?? 'warn',
    }, ports[i + 1]!, onFailure));
    host = new ThreadHost(runtime, workers.map((w) => w.handle), logger);
    try {
      await Promise.all(workers.map((w) => w.ready));
    } catch (error) {
      // The failure is reported by this rejection; `done` was never handed to the caller.
      host.done.catch(() => undefined);
      await host.stop();
      throw error;
    }
    for (const w of workers) w.handle.worker.postMessage({ kind: 'start' } satisfies ToWorker);
    runtime.start();
    if (pendingFailure !== null) host.#failed(pendingFailure);
    return host;
  }

  /** Injects a message from outside the actors; the same result as ctx.send. */
  send<M extends Message>(to: Address, message: M): boolean {
    return this.#runtime.send('<host>', to, message, false);
  }

  /** Injects a message unless the target is pressured; the same result as ctx.trySend. */
  trySend<M extends Message>(to: Address, message: M): boolean {
    return this.#runtime.send('<host>', to, message, true);
  }

  /**
   * Stops every actor (calling `stop`), closes every port, and waits for every worker to exit.
   * Idempotent. Resolves `done` unless a failure already rejected it.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  async #stopAll(): Promise<void> {
    this.#runtime.stop();
    await Promise.all(this.#workers.map(async (handle) => {
      const confirmed = new Promise<void>((resolve) => {
        handle.stopped = resolve;
      });
      try {
        handle.worker.postMessage({ kind: 'stop' } satisfies ToWorker);
      } catch {
        // The worker is already gone; its exit promise settles below.
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, WORKER_STOP_TIMEOUT_MS);
      });
      await Promise.race([confirmed, timeout, handle.exited]);
      clearTimeout(timer);
      await handle.worker.terminate();
      await handle.exited;
    }));
    if (this.#failure === null) this.#resolveDone();
  }

  #failed(report: FailureReport): void {
    if (this.#failure !== null) return;
    const failure = new ActorFailure(report.actor, report.messageType, report.stack);
    this.#failure = failure;
    this.#logger.error('actor failed; host stopping', {
      actor: report.actor, messageType: report.messageType, error: report.stack,
    });
    this.#rejectDone(failure);
    void this.stop();
  }
}

function buildRoutes(placement: Placement): Route[] {
  const routes: Route[] = [];
  const seen = new Set<string>();
  const add = (address: Address, thread: number): void => {
    assertAddress(address);
    assert(!seen.has(address), `actor ${address} placed twice`);
    seen.add(address);
    routes.push({ address, thread, slot: routes.length });
  };
  for (const spec of placement.main ?? []) add(spec.address, 0);
  placement.threads.forEach((thread, i) => {
    assert(thread.actors.length > 0, `thread ${i + 1} has no actors`);
    for (const spec of thread.actors) add(spec.address, i + 1);
  });
  assert(routes.length <= runtimeLimits.actorsMax, `more than ${runtimeLimits.actorsMax} actors`);
  return routes;
}

/** One MessageChannel per pair of threads: result[t] maps each peer of t to t's port. */
function channels(threads: number): Map<number, MessagePort>[] {
  const result = Array.from({ length: threads }, () => new Map<number, MessagePort>());
  for (let a = 0; a < threads; a++) {
    for (let b = a + 1; b < threads; b++) {
      const { port1, port2 } = new MessageChannel();
      result[a]!.set(b, port1);
      result[b]!.set(a, port2);
    }
  }
  return result;
}

function spawnWorker(init: WorkerInit, ports: Map<number, MessagePort>,
  onFailure: (report: FailureReport) => void): { handle: WorkerHandle; ready: Promise<void> } {
  const worker = new Worker(WORKER_URL);
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const handle: WorkerHandle = { worker, exited, stopped: null };
  const thread = init.config.thread;
  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (message: FromWorker) => {
      switch (message.kind) {
        case 'ready':
          resolve();
          return;
        case 'stopped':
          handle.stopped?.();
          return;
        case 'failure':
          reject(new ActorFailure(message.report.actor, message.report.messageType,
            message.report.stack));
          onFailure(message.report);
          return;
      }
    });
    worker.on('error', (error) => {
      const report = { actor: `<thread ${thread}>`, messageType: '<uncaught>',
        stack: error.stack ?? String(error) };
      reject(new ActorFailure(report.actor, report.messageType, report.stack, error));
      onFailure(report);
    });
    void exited.then(() => reject(new Error(`worker thread ${thread} exited before it was ready`)));
  });
  // Rejections after `ready` settled are reported through onFailure; this keeps them handled.
  ready.catch(() => undefined);
  const portRecord: Record<number, MessagePort> = Object.fromEntries(ports);
  worker.postMessage({ kind: 'init', init, ports: portRecord } satisfies ToWorker, [...ports.values()]);
  return { handle, ready };
}
