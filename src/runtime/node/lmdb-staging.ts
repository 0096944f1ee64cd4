/**
 * The writes an env's LmdbBackends staged on this thread (one EnvStaging per env object): the
 * WriteOverlay every reader here sees, and the queue of staged batches not yet handed to
 * lmdb-js.
 *
 * A batch staged by a writer that waits for its commit is handed over at once (lmdb-js groups
 * every write issued while its previous commit is being flushed into one transaction). A batch
 * staged by a writer that answers before its commit (the apply loop in the `single` placement,
 * whose Raft log replays what a crash loses) waits in the queue, as etcd's apply loop writes into
 * bbolt's open batch transaction and commits it every 100 ms or 10,000 operations: the queue is
 * handed over when it is `stagingLimits.intervalMs` old or holds `entriesMax` writes, or when
 * anyone needs it committed (a durable write, a keyspace copy, closing the env). A Raft append
 * then commits alone, and the revision table's newest pages are written once per hand-over, not
 * once per Raft append.
 */
import type { Database, RootDatabase } from 'lmdb';
import { assert } from '../../base/index.js';
import { WriteOverlay } from '../../backend/index.js';
import type { OverlayBatch } from '../../backend/index.js';

export const stagingLimits = {
  /**
   * The longest a staged batch waits to be handed to lmdb-js by default (etcd's
   * --backend-batch-interval, which `configure` takes).
   */
  intervalMs: 100,
  /** Staged writes at most before the queue is handed over, by default (--backend-batch-limit). */
  entriesMax: 10_000,
  /**
   * Hand-overs whose commit has not landed, at most, while writers are answered before their
   * commits; past it a writer waits for its commit (a slow disk holds the apply loop back).
   */
  handOversInFlightMax: 8,
} as const;

type Db = Database<Uint8Array, Uint8Array>;

interface Waiter {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function waiter(): Waiter {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  // A failed commit is fatal to whoever awaits it; the waiter itself must not be unhandled.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export class EnvStaging {
  readonly overlay = new WriteOverlay();
  /** The env's tables by name, as the backends on this thread opened them. */
  readonly dbs = new Map<string, Db>();
  /** Told how long each hand-over took to commit (etcd_disk_backend_commit_duration_seconds). */
  observeCommit: ((seconds: number) => void) | undefined;
  readonly #env: RootDatabase;
  #queued: OverlayBatch[] = [];
  #queuedEntries = 0;
  /** Settles when the queued batches' commit lands. */
  #queuedCommit: Waiter | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #inFlight = 0;
  #intervalMs: number = stagingLimits.intervalMs;
  #entriesMax: number = stagingLimits.entriesMax;

  constructor(env: RootDatabase) {
    this.#env = env;
  }

  /** etcd's --backend-batch-interval and --backend-batch-limit. */
  configure(batch: { readonly intervalMs: number; readonly entriesMax: number }): void {
    assert(batch.intervalMs >= 1 && batch.entriesMax >= 1, 'a batch waits at least 1 ms and holds 1 write');
    this.#intervalMs = batch.intervalMs;
    this.#entriesMax = batch.entriesMax;
  }

  /** Whether a writer may be answered before its commit now (see handOversInFlightMax). */
  get mayAnswerEarly(): boolean {
    return this.#inFlight < stagingLimits.handOversInFlightMax;
  }

  /**
   * Queues `batch` (which staged at least one write); returns the promise of its commit.
   * `defer`: leave it queued until the interval, the entry limit or a caller needs it.
   */
  enqueue(batch: OverlayBatch, defer: boolean): Promise<void> {
    assert(batch.ops.length > 0, 'only batches that staged something are queued');
    this.#queued.push(batch);
    this.#queuedEntries += batch.ops.length;
    this.#queuedCommit ??= waiter();
    const committed = this.#queuedCommit.promise;
    if (!defer || this.#queuedEntries >= this.#entriesMax) this.handOver();
    else this.#timer ??= setTimeout(() => this.handOver(), this.#intervalMs);
    return committed;
  }

  /** Hands every queued batch to lmdb-js now, in order; returns when all issued writes commit. */
  handOver(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const batches = this.#queued;
    const done = this.#queuedCommit;
    if (done === null) return Promise.resolve(this.#env.committed).then(() => undefined);
    this.#queued = [];
    this.#queuedEntries = 0;
    this.#queuedCommit = null;
    const dbs = this.dbs;
    const started = performance.now();
    this.#inFlight++;
    const committed = this.#env.batch(() => {
      for (const batch of batches) {
        for (const op of batch.ops) {
          const db = dbs.get(op.table);
          assert(db !== undefined, `unknown table ${op.table}`);
          if (op.value === null) void db.remove(op.key);
          else void db.put(op.key, op.value);
        }
      }
    }) as Promise<unknown>;
    committed.then(() => {
      this.#inFlight--;
      this.overlay.release(batches);
      this.observeCommit?.((performance.now() - started) / 1000);
      done.resolve();
    }, (error: unknown) => done.reject(error));
    return done.promise;
  }
}

const stagings = new WeakMap<RootDatabase, EnvStaging>();

/** The staging of `env` on this thread, made on first use. */
export function stagingOf(env: RootDatabase): EnvStaging {
  let staging = stagings.get(env);
  if (staging === undefined) {
    staging = new EnvStaging(env);
    stagings.set(env, staging);
  }
  return staging;
}

/** Hands what this thread staged in `env` to lmdb-js; resolves once every write issued commits. */
export function commitStaged(env: RootDatabase): Promise<void> {
  return stagingOf(env).handOver();
}
