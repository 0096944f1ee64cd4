/**
 * The Backend: synchronous transactions over named tables of byte keys, ordered by unsigned
 * byte comparison (memcmp). It is the narrow storage interface the MVCC store (and the lease,
 * auth and membership stores) write through; `MemoryBackend` serves the simulator and
 * `LmdbBackend` (src/runtime/node) serves real members. One contract suite checks both.
 *
 * Transactions:
 * - `read(fn)` runs `fn` synchronously against a consistent snapshot. A read never blocks the
 *   writer and never sees half of a write transaction.
 * - `write(fn)` runs `fn` synchronously inside one write transaction: reads inside it see its own
 *   writes and those of every earlier `write` call. `fn` may run at once (MemoryBackend; and
 *   LmdbBackend answering before commit, which stages the writes in memory) or later, when the
 *   backend's batch starts (LmdbBackend otherwise, which groups every write queued while the
 *   previous commit is being flushed into one LMDB transaction: group commit; the simulator's
 *   disk). Writes run in call order. If `fn` throws, everything it wrote is rolled back, the
 *   promise rejects, and other writes in the same batch are unaffected.
 *
 * Durability contract: the promise returned by `write` resolves (with `fn`'s result) once the
 * transaction is committed, meaning visible to every later `read` on any thread, AND durable
 * (flushed to disk by an fdatasync; for MemoryBackend, "durable" means "as durable as the
 * process"). Before the promise resolves a `read` may or may not see the write. Callers that
 * must answer clients only after their writes are visible (the apply loop) wait for it; callers
 * that only need ordering (the next batch) may issue the next `write` at once.
 *
 * Ownership of bytes: keys and values passed to `put` are copied by the backend before `put`
 * returns, so the caller may reuse its buffers. Bytes returned by `get` and by `range` are
 * stable: the caller may keep them after the transaction ends, and nobody (caller included) may
 * ever mutate them. They may be views into a larger buffer (LmdbBackend copies into Node's
 * Buffer pool, the cheapest allocation there is); whoever posts them to another thread should
 * copy them to their exact size first, or structured clone copies the whole backing buffer.
 */

/** Named limits of every backend (LMDB's are the binding ones). */
export const backendLimits = {
  /** LMDB's maximum key size with the default 4 KiB page. Keys must be 1..keyBytesMax bytes. */
  keyBytesMax: 1978,
} as const;

export interface RangeOptions {
  /** Inclusive lower bound; absent means the first key of the table. */
  readonly start?: Uint8Array | undefined;
  /** Exclusive upper bound; absent means past the last key of the table. */
  readonly end?: Uint8Array | undefined;
  /** Iterate from the highest key in [start, end) down to the lowest. */
  readonly reverse?: boolean | undefined;
  /** Stop after this many entries (must be positive); absent means no limit. */
  readonly limit?: number | undefined;
}

export interface BackendEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface ReadTxn {
  get(table: string, key: Uint8Array): Uint8Array | undefined;
  /**
   * `get` without the copy, for the hottest reads: the bytes are valid only until the next call
   * on any backend of this thread, so the caller decodes (and copies what it keeps) at once.
   * Optional: without it, callers use `get`.
   */
  peek?(table: string, key: Uint8Array): Uint8Array | undefined;
  /**
   * Entries with start <= key < end, ascending (or descending with `reverse`). The iterable is
   * lazy; do not write to the same table while iterating it (collect first).
   */
  range(table: string, options: RangeOptions): Iterable<BackendEntry>;
}

export interface WriteTxn extends ReadTxn {
  put(table: string, key: Uint8Array, value: Uint8Array): void;
  /** Removes the key if present; returns whether it was present. */
  delete(table: string, key: Uint8Array): boolean;
}

/**
 * The two moments of a staged write. PromiseLike, not Promise: the simulator's backend completes
 * them synchronously from scheduled events (src/sim/completion.ts), so callers only chain `then`.
 */
export interface StagedWrite<T> {
  readonly visible: PromiseLike<T>;
  readonly durable: PromiseLike<void>;
}

export interface Backend {
  /** The tables this backend was opened with; naming any other table is a programmer error. */
  readonly tables: readonly string[];
  /**
   * Backends of one thread that name the same object here share what the MVCC store derives from
   * their contents (its in-memory key index): every LmdbBackend on one env and thread names the
   * env. The object must change whenever the contents change other than through this thread's
   * writes to it (a simulated crash rolling writes back). Absent: the backend itself.
   */
  readonly indexIdentity?: object;
  read<T>(fn: (txn: ReadTxn) => T): T;
  write<T>(fn: (txn: WriteTxn) => T): Promise<T>;
  /**
   * `write` in two steps, for callers whose answers need visibility but not durability (the
   * apply loop, whose Raft log is the write-ahead log): `visible` resolves with `fn`'s result
   * once the transaction is committed (every later `read` on any thread sees it, and a crash of
   * the process cannot lose it), `durable` once it is flushed to disk as well. One exception,
   * chosen when the backend is opened (LmdbBackendOptions.answerBeforeCommit): `visible` as
   * soon as `fn` has run, when only readers on the writer's thread see it and a crash may lose
   * it, for a writer whose every reader is on its thread and whose log replays what is lost.
   */
  writeStaged<T>(fn: (txn: WriteTxn) => T): StagedWrite<T>;
  /** Waits for every write issued so far, then releases the backend. */
  close(): Promise<void>;
}
