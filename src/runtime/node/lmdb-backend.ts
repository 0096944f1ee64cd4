/**
 * LmdbBackend: the Backend on an LMDB env through lmdb-js. One named LMDB database per table,
 * keys in `binary` encoding (plain memcmp order), values raw bytes (callers encode them, e.g. with
 * msgpackr positional arrays).
 *
 * Writes. A synchronous LMDB commit fsyncs on the calling thread (about 0.3-0.4 ms here), so
 * writes go to lmdb-js's asynchronous batch: every write issued while the previous commit is
 * being flushed lands in ONE LMDB transaction, which then commits and fsyncs once (group
 * commit). Two ways:
 * - A writer that waits for its commit: `fn` runs inside that transaction, in a child
 *   transaction so that a throw rolls back exactly `fn`.
 * - A writer that answers before its commit (`answerBeforeCommit`): `fn` runs at once against a
 *   WriteOverlay (src/backend/write-overlay.ts) shared by every LmdbBackend on the env on this
 *   thread; its puts and deletes are staged (lmdb-staging.ts) and reach lmdb-js later, written by
 *   its writer thread with no call back into JavaScript. A throw in `fn` undoes its staged writes
 *   alone. When the commit lands, the overlay lets go of what it staged.
 *
 * Reads open an LMDB read transaction (`useReadTransaction`) for the duration of `fn` and see
 * the overlay over it: on this thread, a write is visible from the moment `fn` returns. Other
 * threads (their own env object, their own overlay) see it once committed. Any thread may open
 * its own LmdbBackend on the same path; lmdb-js shares the native env within the process, and on
 * one thread the env object is shared with every other user of the path (lmdb-env.ts), the Raft
 * log among them.
 */
import type { Database, RootDatabase, Transaction } from 'lmdb';
import { assert } from '../../base/index.js';
import type {
  Backend, BackendEntry, RangeOptions, ReadTxn, WriteTxn,
} from '../../backend/index.js';
import { backendLimits } from '../../backend/index.js';
import type { OverlayBatch, WriteOverlay } from '../../backend/index.js';
import { ENV_TABLES_MAX, acquireEnv, releaseEnv } from './lmdb-env.js';
import type { EnvOptions } from './lmdb-env.js';
import { stagingOf } from './lmdb-staging.js';
import type { EnvStaging } from './lmdb-staging.js';

export interface LmdbBackendOptions extends EnvOptions {
  readonly tables: readonly string[];
  /**
   * Answer writers before their commit: `writeStaged`'s `visible` resolves as soon as `fn` has
   * run, and the batch waits to be handed to lmdb-js as etcd's apply loop waits to commit its
   * bbolt batch (lmdb-staging.ts). Only for a writer whose every reader is on this thread and
   * whose writes a log replays after a crash (the apply loop in the `single` placement): other
   * threads see a write only once committed, and a process crash loses what was not.
   */
  readonly answerBeforeCommit?: boolean;
  /** When the env's staged writes are handed over on this thread (stagingLimits by default). */
  readonly batch?: { readonly intervalMs: number; readonly entriesMax: number };
}

type Db = Database<Uint8Array, Uint8Array>;

const MIN_KEY = Uint8Array.of(0);

export class LmdbBackend implements Backend {
  readonly tables: readonly string[];
  private readonly env: RootDatabase;
  private readonly dbs = new Map<string, Db>();
  private readonly staging: EnvStaging;
  private readonly overlay: WriteOverlay;
  private readonly answerBeforeCommit: boolean;
  private closed = false;
  private writing = false;

  private constructor(env: RootDatabase, tables: readonly string[], answerBeforeCommit: boolean) {
    this.env = env;
    this.staging = stagingOf(env);
    this.overlay = this.staging.overlay;
    this.answerBeforeCommit = answerBeforeCommit;
    this.tables = [...tables];
    for (const name of tables) {
      const db = env.openDB<Uint8Array, Uint8Array>({
        name, keyEncoding: 'binary', encoding: 'binary',
      });
      this.dbs.set(name, db);
      if (!this.staging.dbs.has(name)) this.staging.dbs.set(name, db);
    }
  }

  /** The env: every LmdbBackend on it on this thread shares the MVCC key index. */
  get indexIdentity(): object {
    return this.env;
  }

  /**
   * Tells `observe` how long each commit of this thread's writes to the env took (from the
   * hand-over of staged writes, or from the call for a writer that waits for its commit).
   */
  observeCommits(observe: (seconds: number) => void): void {
    this.staging.observeCommit = observe;
  }

  static open(options: LmdbBackendOptions): LmdbBackend {
    assert(options.tables.length > 0, 'a backend needs at least one table');
    assert(options.tables.length <= ENV_TABLES_MAX - 4, 'the env keeps room for the Raft log');
    const backend = new LmdbBackend(acquireEnv(options), options.tables, options.answerBeforeCommit === true);
    if (options.batch !== undefined) backend.staging.configure(options.batch);
    return backend;
  }

  read<T>(fn: (txn: ReadTxn) => T): T {
    assert(!this.closed, 'backend is closed');
    const transaction = this.env.useReadTransaction();
    try {
      return fn(this.readTxn(transaction));
    } finally {
      transaction.done();
    }
  }

  /** Waits for the commit and its flush: hands what is staged to lmdb-js at once. */
  write<T>(fn: (txn: WriteTxn) => T): Promise<T> {
    const staged = this.writeStaged(fn);
    void this.staging.handOver();
    return staged.durable.then(() => staged.visible);
  }

  /**
   * With `answerBeforeCommit`, `fn` runs now and its puts and deletes are staged for a later
   * hand-over to lmdb-js; `visible` resolves at once (unless too many hand-overs wait for their
   * commits: then at its commit), `durable` once the commit is flushed (the env is opened with
   * lmdb-js's `separateFlushed`). A failed commit rejects both: what was staged can no longer
   * reach the disk, so the caller must stop. Other writers: writeInTransaction.
   */
  writeStaged<T>(fn: (txn: WriteTxn) => T): { readonly visible: Promise<T>; readonly durable: Promise<void> } {
    assert(!this.closed, 'backend is closed');
    if (!this.answerBeforeCommit) return this.writeInTransaction(fn);
    const overlay = this.overlay;
    const batch = overlay.begin();
    const transaction = this.env.useReadTransaction();
    let result: T;
    try {
      result = fn(new LmdbWriteTxn(this.dbs, transaction, overlay, batch));
    } catch (error) {
      overlay.end(batch, false);
      // Settled in call order, as a committed batch would be, after the writes before it.
      const failed = this.staging.handOver().then(() => { throw error; });
      return { visible: failed, durable: failed };
    } finally {
      transaction.done();
    }
    overlay.end(batch, true);
    const early = this.staging.mayAnswerEarly;
    // A batch that staged nothing still answers from what earlier batches staged: it waits for
    // their commits as a batch of its own would.
    const committed = batch.ops.length > 0 ? this.staging.enqueue(batch, true) : this.staging.handOver();
    return {
      visible: early ? Promise.resolve(result) : committed.then(() => result),
      durable: committed.then(() => this.env.flushed).then(() => undefined),
    };
  }

  /**
   * A writer that waits for its commit anyway: `fn` runs inside lmdb-js's write transaction
   * (a child transaction, so a throw rolls back exactly `fn`), which commits with every write
   * queued while the previous commit was flushed. Staging would only add work here: measured in
   * the `worker` placement, where apply answers at commit, staging cost 145 us of CPU per put at
   * 64 clients against 109 this way. What this thread staged goes first, to keep call order.
   */
  private writeInTransaction<T>(fn: (txn: WriteTxn) => T): { readonly visible: Promise<T>; readonly durable: Promise<void> } {
    void this.staging.handOver();
    const visible = this.env.transaction(() => this.env.childTransaction(() => {
      assert(!this.writing, 'write transactions do not nest');
      this.writing = true;
      try {
        return fn(this.writeTxn);
      } finally {
        this.writing = false;
      }
    })) as Promise<T>;
    const observe = this.staging.observeCommit;
    if (observe !== undefined) {
      const started = performance.now();
      void visible.then(() => observe((performance.now() - started) / 1000), () => undefined);
    }
    const durable = visible.then(() => this.env.flushed).then(() => undefined);
    return { visible, durable };
  }

  /** Inside lmdb-js's write transaction, its reads see the transaction's writes by themselves. */
  private readonly writeTxn: WriteTxn = {
    get: (name, key) => stable(this.db(name).getBinaryFast(key)),
    peek: (name, key) => view(this.db(name).getBinaryFast(key)),
    range: (name, options) => rangeOf(this.db(name), options, undefined),
    put: (name, key, value) => {
      checkKey(key);
      this.db(name).putSync(key, value);
    },
    delete: (name, key) => {
      checkKey(key);
      return this.db(name).removeSync(key);
    },
  };

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await releaseEnv(this.env);
  }

  private db(name: string): Db {
    return dbOf(this.dbs, name);
  }

  private readTxn(transaction: Transaction): ReadTxn {
    return new LmdbReadTxn(this.dbs, transaction, this.overlay);
  }
}

function dbOf(dbs: ReadonlyMap<string, Db>, name: string): Db {
  const db = dbs.get(name);
  if (db === undefined) assert(false, `unknown table ${name}`);
  return db;
}

/**
 * A read view: the overlay over one LMDB read transaction. One object per read, its methods on
 * the prototype (no closures per read).
 */
class LmdbReadTxn implements ReadTxn {
  protected readonly options: { readonly transaction: Transaction };

  constructor(
    protected readonly dbs: ReadonlyMap<string, Db>,
    transaction: Transaction,
    protected readonly overlay: WriteOverlay,
  ) {
    this.options = { transaction };
  }

  get(name: string, key: Uint8Array): Uint8Array | undefined {
    const staged = this.overlay.get(name, key);
    if (staged !== undefined) return staged ?? undefined;
    return stable(getFast(dbOf(this.dbs, name), key, this.options));
  }

  peek(name: string, key: Uint8Array): Uint8Array | undefined {
    const staged = this.overlay.get(name, key);
    if (staged !== undefined) return staged ?? undefined;
    return view(getFast(dbOf(this.dbs, name), key, this.options));
  }

  range(name: string, options: RangeOptions): Iterable<BackendEntry> {
    const db = dbOf(this.dbs, name);
    return this.overlay.range(name, options, (unlimited) => rangeOf(
      db, unlimited ? { ...options, limit: undefined } : options, this.options.transaction,
    ));
  }
}

/** A write transaction: reads as a read view, writes staged in the overlay's open batch. */
class LmdbWriteTxn extends LmdbReadTxn implements WriteTxn {
  constructor(
    dbs: ReadonlyMap<string, Db>, transaction: Transaction, overlay: WriteOverlay,
    private readonly batch: OverlayBatch,
  ) {
    super(dbs, transaction, overlay);
  }

  put(name: string, key: Uint8Array, value: Uint8Array): void {
    checkKey(key);
    dbOf(this.dbs, name); // an unknown table fails here, as in a read, not at the hand-over
    this.overlay.stage(this.batch, name, key, value);
  }

  delete(name: string, key: Uint8Array): boolean {
    checkKey(key);
    const present = this.peek(name, key) !== undefined;
    if (present) this.overlay.stage(this.batch, name, key, null);
    return present;
  }
}

/**
 * getBinaryFast returns lmdb-js's reused buffer, with `length` overridden to the value's size;
 * the contract promises stable bytes, so copy them (into Node's pool: measured 4x cheaper here
 * than allocating an exact-size Uint8Array).
 */
function stable(bytes: Buffer | undefined): Uint8Array | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes.subarray(0, bytes.length));
}

/** The value's bytes in lmdb-js's reused buffer, as a view of exactly the value's size. */
function view(bytes: Buffer | undefined): Uint8Array | undefined {
  return bytes === undefined ? undefined : bytes.subarray(0, bytes.length);
}

/** lmdb-js accepts read options on getBinaryFast, but its typings omit them. */
function getFast(db: Db, key: Uint8Array, options: { readonly transaction: Transaction }): Buffer | undefined {
  const fast = db.getBinaryFast as (k: Uint8Array, o: { readonly transaction: Transaction }) => Buffer;
  return fast.call(db, key, options);
}

function checkKey(key: Uint8Array): void {
  assert(key.length > 0, 'backend keys are never empty');
  assert(key.length <= backendLimits.keyBytesMax, `backend key too long: ${key.length}`);
}

function rangeOf(
  db: Db, options: RangeOptions, transaction: Transaction | undefined,
): Iterable<BackendEntry> {
  assert(options.limit === undefined || options.limit > 0, 'range limit must be positive');
  const lmdbOptions: Record<string, unknown> = {};
  if (transaction !== undefined) lmdbOptions['transaction'] = transaction;
  if (options.limit !== undefined) lmdbOptions['limit'] = options.limit;
  if (options.reverse === true) {
    // lmdb-js walks down from `start` to `end`; ours are [start, end), so swap and fix bounds.
    lmdbOptions['reverse'] = true;
    if (options.end !== undefined) {
      lmdbOptions['start'] = options.end;
      lmdbOptions['exclusiveStart'] = true;
    }
    // Without a lower bound lmdb-js would stop short of the key 00; keys are never empty, so
    // 00 inclusive is the true minimum.
    lmdbOptions['end'] = options.start ?? MIN_KEY;
    lmdbOptions['inclusiveEnd'] = true;
  } else {
    if (options.start !== undefined) lmdbOptions['start'] = options.start;
    if (options.end !== undefined) lmdbOptions['end'] = options.end;
  }
  return db.getRange(lmdbOptions) as Iterable<BackendEntry>;
}
