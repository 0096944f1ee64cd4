/**
 * LmdbBackend: the Backend on an LMDB env through lmdb-js. One named LMDB database per table,
 * keys in `binary` encoding (plain memcmp order), values raw bytes (callers encode them, e.g. with
 * msgpackr positional arrays).
 *
 * Writes and durability. A synchronous LMDB commit fsyncs on the calling thread (about 0.3-0.4 ms
 * here, ~2,200 commits/s even with NO_SYNC_FLUSH), which would cap the apply loop. So `write(fn)`
 * queues `fn` on lmdb-js's asynchronous batch: every `write` issued while the previous commit is
 * being flushed runs, in call order, inside ONE LMDB write transaction, which then commits and
 * fsyncs once (group commit, with lmdb-js's default overlappingSync). Each `fn` runs synchronously
 * inside a child transaction, so a throw rolls back exactly that `fn` (a throw in a plain async
 * lmdb-js transaction would NOT roll back). The promise resolves after the commit is visible and
 * flushed, so "resolved" means committed and durable, as the Backend contract says.
 *
 * Reads open an LMDB read transaction (`useReadTransaction`) for the duration of `fn`: a snapshot
 * that never blocks the writer. Any thread may open its own LmdbBackend on the same path; lmdb-js
 * shares the native env within the process, and on one thread the env object is shared with
 * every other user of the path (lmdb-env.ts), the Raft log among them.
 */
import type { Database, RootDatabase, Transaction } from 'lmdb';
import { assert } from '../../base/index.js';
import type {
  Backend, BackendEntry, RangeOptions, ReadTxn, WriteTxn,
} from '../../backend/index.js';
import { backendLimits } from '../../backend/index.js';
import { ENV_TABLES_MAX, acquireEnv, releaseEnv } from './lmdb-env.js';
import type { EnvOptions } from './lmdb-env.js';

export interface LmdbBackendOptions extends EnvOptions {
  readonly tables: readonly string[];
}

type Db = Database<Uint8Array, Uint8Array>;

const MIN_KEY = Uint8Array.of(0);

export class LmdbBackend implements Backend {
  readonly tables: readonly string[];
  private readonly env: RootDatabase;
  private readonly dbs = new Map<string, Db>();
  private closed = false;
  private writing = false;

  private constructor(env: RootDatabase, tables: readonly string[]) {
    this.env = env;
    this.tables = [...tables];
    for (const name of tables) {
      const db = env.openDB<Uint8Array, Uint8Array>({
        name, keyEncoding: 'binary', encoding: 'binary',
      });
      this.dbs.set(name, db);
    }
  }

  /** The env: every LmdbBackend on it on this thread shares the MVCC key index. */
  get indexIdentity(): object {
    return this.env;
  }

  static open(options: LmdbBackendOptions): LmdbBackend {
    assert(options.tables.length > 0, 'a backend needs at least one table');
    assert(options.tables.length <= ENV_TABLES_MAX - 4, 'the env keeps room for the Raft log');
    return new LmdbBackend(acquireEnv(options), options.tables);
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

  write<T>(fn: (txn: WriteTxn) => T): Promise<T> {
    const staged = this.writeStaged(fn);
    return staged.durable.then(() => staged.visible);
  }

  /**
   * The env is opened with lmdb-js's `separateFlushed`, so a transaction's promise resolves at
   * commit (visible, and safe from a process crash) and `env.flushed` once that commit, and every
   * one before it, is fsynced.
   */
  writeStaged<T>(fn: (txn: WriteTxn) => T): { readonly visible: Promise<T>; readonly durable: Promise<void> } {
    assert(!this.closed, 'backend is closed');
    assert(!this.writing, 'write transactions do not nest');
    const visible = this.env.transaction(() => this.env.childTransaction(() => {
      this.writing = true;
      try {
        return fn(this.writeTxn);
      } finally {
        this.writing = false;
      }
    })) as Promise<T>;
    const durable = visible.then(() => this.env.flushed).then(() => undefined);
    return { visible, durable };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await releaseEnv(this.env);
  }

  private db(name: string): Db {
    return dbOf(this.dbs, name);
  }

  private readTxn(transaction: Transaction): ReadTxn {
    return new LmdbReadTxn(this.dbs, { transaction });
  }

  /** Inside a write batch lmdb-js routes reads to the write transaction by itself. */
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
}

function dbOf(dbs: ReadonlyMap<string, Db>, name: string): Db {
  const db = dbs.get(name);
  if (db === undefined) assert(false, `unknown table ${name}`);
  return db;
}

/** A read view: one object per read, its methods on the prototype (no closures per read). */
class LmdbReadTxn implements ReadTxn {
  constructor(
    private readonly dbs: ReadonlyMap<string, Db>,
    private readonly options: { readonly transaction: Transaction },
  ) {}

  get(name: string, key: Uint8Array): Uint8Array | undefined {
    return stable(getFast(dbOf(this.dbs, name), key, this.options));
  }

  peek(name: string, key: Uint8Array): Uint8Array | undefined {
    return view(getFast(dbOf(this.dbs, name), key, this.options));
  }

  range(name: string, options: RangeOptions): Iterable<BackendEntry> {
    return rangeOf(dbOf(this.dbs, name), options, this.options.transaction);
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
