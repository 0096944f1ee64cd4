/**
 * The simulated disk of one member, and the two storages the real actor shells write through:
 * SimRaftStorage (the Raft log, the `wal` env) and SimBackend (the `mvcc` env). Both hand the
 * shell Completions that the disk settles from its own scheduled events, so every continuation
 * of a write happens at a virtual time the seed chose ("slow disk" is a larger delay) and a
 * crash can lose exactly what was not yet fsynced.
 *
 * The disk is FIFO: a write is durable once it and every write before it reached the platter, as
 * with one fsync stream. It is driven by a tiny actor (`<member>/disk`) whose timers mark fsyncs
 * done; when the member crashes the host drops those timers, and `crash()` decides what of the
 * unsynced writes survives:
 * - none of them, by default;
 * - with torn writes on, a random prefix of them (in order) survives, and the last survivor of
 *   the Raft log may be cut short: a prefix of its entries without its hard state, as a torn
 *   etcd WAL tail is truncated at a record boundary. An mvcc transaction is atomic (LMDB).
 *
 * The mutation flag `ackBeforeFsync` makes the disk lie (the completion fires at once, the data
 * becomes durable only later): the simulator must catch that build as unsafe.
 */
import { assert, type Rng } from '../base/index.js';
import type {
  Backend, ReadTxn, StagedWrite, WriteTxn,
} from '../backend/index.js';
import { MemoryBackend } from '../backend/index.js';
import type {
  ConfState, Entry, InitialState, PersistBatch, RaftStorage, Snapshot, StorageError,
} from '../raft/index.js';
import { MemoryRaftStorage } from '../raft/index.js';
import type { Actor, ActorContext } from '../runtime/index.js';
import { Completion } from './completion.js';

/** Pending (unsynced) writes of one disk, at most: a shell that outruns it is a bug. */
export const DISK_PENDING_MAX = 65_536;

export interface DiskOptions {
  /** Delay of one fsync, uniform in [minMs, maxMs]. */
  readonly fsyncMinMs: number;
  readonly fsyncMaxMs: number;
  /** A crash may keep a random prefix of unsynced writes (and tear the last WAL record). */
  readonly tornWrites: boolean;
  /** Mutation: acknowledge a write before it is durable. */
  readonly ackBeforeFsync: boolean;
}

interface DiskOp {
  /** Virtual microseconds. */
  readonly durableAt: number;
  /** Makes the write durable (or, for the backend, forgets its undo record). */
  readonly commit: () => void;
  readonly hooks: WriteHooks;
  readonly done: Completion<void>;
}

/** What a crash does to a write that was not durable yet. */
export interface WriteHooks {
  /** Keeps part of the write (the WAL's torn last record); absent when it is all or nothing. */
  readonly tear?: (rng: Rng) => void;
  /** Undoes the write (the backend applied it at once); absent when nothing was applied. */
  readonly lose?: () => void;
}

export type DiskInbox = { readonly type: 'disk.fsynced' };

export class SimDisk {
  readonly #o: DiskOptions;
  #ctx: ActorContext<DiskInbox> | null = null;
  #pending: DiskOp[] = [];
  #head = 0;
  #lastDurableAt = 0;
  /** Writes made durable so far, for the report. */
  fsyncs = 0;

  constructor(options: DiskOptions) {
    assert(options.fsyncMinMs >= 0 && options.fsyncMaxMs >= options.fsyncMinMs, 'fsync delay range');
    this.#o = options;
  }

  /** Whether writes are waiting for their fsync (the durable state trails the member's). */
  get busy(): boolean {
    return this.#head < this.#pending.length;
  }

  /** The disk actor's start: a new incarnation of the member. */
  attach(ctx: ActorContext<DiskInbox>): void {
    assert(this.#pending.length === this.#head, 'a restarted disk has nothing in flight');
    this.#ctx = ctx;
  }

  /** Queues a write; its completion fires when it is durable (or at once, when the disk lies). */
  submit(commit: () => void, hooks: WriteHooks = {}): Completion<void> {
    const ctx = this.#ctx;
    assert(ctx !== null, 'disk is attached');
    assert(this.#pending.length - this.#head < DISK_PENDING_MAX, `more than ${DISK_PENDING_MAX} unsynced writes`);
    const o = this.#o;
    // Whole microseconds, the host's resolution, so the timer and the comparison agree.
    const nowUs = Math.round(ctx.now() * 1_000);
    const delayUs = Math.round((o.fsyncMinMs + ctx.rng.float() * (o.fsyncMaxMs - o.fsyncMinMs)) * 1_000);
    const durableAt = Math.max(this.#lastDurableAt, nowUs + delayUs);
    this.#lastDurableAt = durableAt;
    const done = new Completion<void>();
    this.#pending.push({ durableAt, commit, hooks, done });
    ctx.setTimer((durableAt - nowUs) / 1_000, { type: 'disk.fsynced' });
    if (o.ackBeforeFsync) done.resolve();
    return done;
  }

  /** The disk actor's timer: completes every write due by now, in order. */
  fsynced(now: number): void {
    const nowUs = Math.round(now * 1_000);
    while (this.#head < this.#pending.length) {
      const op = this.#pending[this.#head]!;
      if (op.durableAt > nowUs) break;
      this.#head++;
      op.commit();
      this.fsyncs++;
      if (op.done.pending) op.done.resolve();
    }
    if (this.#head === this.#pending.length) {
      this.#pending = [];
      this.#head = 0;
    }
  }

  /** The member crashed (its actors and timers are gone): decides what unsynced data survives. */
  crash(rng: Rng): { readonly lost: number; readonly kept: number; readonly torn: boolean } {
    const unsynced = this.#pending.slice(this.#head);
    this.#pending = [];
    this.#head = 0;
    this.#ctx = null;
    this.#lastDurableAt = 0;
    let kept = 0;
    let torn = false;
    if (this.#o.tornWrites && unsynced.length > 0) {
      kept = rng.int(0, unsynced.length);
      for (let i = 0; i < kept; i++) unsynced[i]!.commit();
      const next = unsynced[kept];
      if (next?.hooks.tear !== undefined && rng.chance(0.5)) {
        next.hooks.tear(rng);
        torn = true;
      }
    }
    // Writes never made durable are forgotten in reverse order (the backend undoes them).
    for (let i = unsynced.length - 1; i >= kept; i--) unsynced[i]!.hooks.lose?.();
    return { lost: unsynced.length - kept, kept, torn };
  }
}

/** The disk's actor: receives its own fsync timers. */
export class DiskActor implements Actor<DiskInbox> {
  readonly #disk: SimDisk;

  constructor(disk: SimDisk) {
    this.#disk = disk;
  }

  start(ctx: ActorContext<DiskInbox>): void {
    this.#disk.attach(ctx);
  }

  receive(message: DiskInbox, ctx: ActorContext<DiskInbox>): void {
    assert(message.type === 'disk.fsynced', 'disk message');
    this.#disk.fsynced(ctx.now());
  }
}

/**
 * The Raft log on the simulated disk: reads see what is durable (the core keeps the rest in its
 * unstable log until `advance`), writes become durable when the disk says so.
 */
export class SimRaftStorage implements RaftStorage {
  readonly #durable: MemoryRaftStorage;
  readonly #disk: SimDisk;

  constructor(disk: SimDisk, confState: ConfState) {
    this.#disk = disk;
    this.#durable = new MemoryRaftStorage(confState);
  }

  initialState(): InitialState { return this.#durable.initialState(); }
  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] | 'ErrCompacted' {
    return this.#durable.entries(lo, hi, maxBytes);
  }
  term(i: number): number | StorageError { return this.#durable.term(i); }
  firstIndex(): number { return this.#durable.firstIndex(); }
  lastIndex(): number { return this.#durable.lastIndex(); }
  snapshot(): Snapshot { return this.#durable.snapshot(); }
  hardState(): InitialState['hardState'] { return this.#durable.initialState().hardState; }

  persist(batch: PersistBatch): PromiseLike<void> {
    const durable = this.#durable;
    return this.#disk.submit(() => durable.persistSync(batch), {
      tear: (rng) => {
        if (batch.snapshot !== null || batch.entries.length === 0) return;
        durable.append(batch.entries.slice(0, rng.int(0, batch.entries.length - 1)));
      },
    });
  }

  createSnapshot(index: number, confState: ConfState, data: Uint8Array): PromiseLike<void> {
    const durable = this.#durable;
    return this.#disk.submit(() => {
      if (index > durable.snapshot().metadata.index && index <= durable.lastIndex()) {
        durable.createSnapshotSync(index, confState, data);
      }
    });
  }

  compact(index: number): PromiseLike<void> {
    const durable = this.#durable;
    return this.#disk.submit(() => durable.compactSync(Math.min(index, durable.snapshot().metadata.index)));
  }
}

interface Undo {
  readonly table: string;
  readonly key: Uint8Array;
  readonly value: Uint8Array | undefined;
}

/**
 * The mvcc env on the simulated disk: a MemoryBackend whose writes are visible at once and
 * durable when the disk says so. Each unsynced write keeps an undo log; a crash that loses it
 * rolls it back (newest first), which leaves exactly the state of the writes that survived.
 */
export class SimBackend implements Backend {
  readonly tables: readonly string[];
  readonly #inner: MemoryBackend;
  readonly #disk: SimDisk;
  /** Replaced when a crash rolls writes back: indexes derived from the old contents are stale. */
  #identity: object = {};

  get indexIdentity(): object {
    return this.#identity;
  }

  constructor(disk: SimDisk, tables: readonly string[]) {
    this.#disk = disk;
    this.#inner = new MemoryBackend(tables);
    this.tables = this.#inner.tables;
  }

  read<T>(fn: (txn: ReadTxn) => T): T {
    return this.#inner.read(fn);
  }

  write<T>(fn: (txn: WriteTxn) => T): Promise<T> {
    // Only the staged path is used by the shells; a plain write still waits for durability.
    const staged = this.writeStaged(fn);
    return new Promise<T>((resolve, reject) => {
      staged.durable.then(() => staged.visible.then(resolve, reject), reject);
    });
  }

  writeStaged<T>(fn: (txn: WriteTxn) => T): StagedWrite<T> {
    const undo: Undo[] = [];
    let result: { readonly value: T } | { readonly error: unknown } | null = null;
    // MemoryBackend runs `fn` at once (documented), so the result is known when write returns.
    void this.#inner.write((txn) => {
      try {
        result = { value: fn(recording(txn, undo)) };
      } catch (error) {
        result = { error };
        throw error;
      }
    }).then(undefined, () => undefined);
    const r = result as { readonly value: T } | { readonly error: unknown } | null;
    assert(r !== null, 'MemoryBackend ran the write at once');
    const visible = new Completion<T>();
    if ('error' in r) {
      visible.reject(r.error);
      return { visible, durable: Completion.of(undefined) };
    }
    visible.resolve(r.value);
    const inner = this.#inner;
    const durable = this.#disk.submit(() => { undo.length = 0; }, {
      lose: () => {
        this.#identity = {};
        void inner.write((txn) => {
          for (let i = undo.length - 1; i >= 0; i--) {
            const u = undo[i]!;
            if (u.value === undefined) txn.delete(u.table, u.key);
            else txn.put(u.table, u.key, u.value);
          }
        });
        undo.length = 0;
      },
    });
    return { visible, durable };
  }

  async close(): Promise<void> {
    await this.#inner.close();
  }
}

function recording(txn: WriteTxn, undo: Undo[]): WriteTxn {
  return {
    get: (table, key) => txn.get(table, key),
    range: (table, options) => txn.range(table, options),
    put(table, key, value) {
      const prev = txn.get(table, key);
      undo.push({ table, key: key.slice(), value: prev === undefined ? undefined : prev.slice() });
      txn.put(table, key, value);
    },
    delete(table, key) {
      const prev = txn.get(table, key);
      if (prev !== undefined) undo.push({ table, key: key.slice(), value: prev.slice() });
      return txn.delete(table, key);
    },
  };
}
