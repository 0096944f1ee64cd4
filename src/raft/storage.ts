/**
 * RaftStorage: the durable log as the core sees it. The core only reads (RaftStorageReader);
 * the shell writes (RaftStorageWriter) what each Ready tells it to persist. MemoryRaftStorage is
 * the in-memory twin of the LMDB log (src/runtime/node/lmdb-raft-storage.ts); one contract suite
 * (test/raft/storage-contract.ts) runs against both.
 *
 * Layout (as etcd's MemoryStorage): the log holds entries firstIndex()..lastIndex(); the entry
 * just before firstIndex() was compacted into the latest snapshot, whose index and term are
 * still answered by term(). A fresh log starts with an empty snapshot at index 0, term 0.
 */
import { assert, assertCount, EMPTY_BYTES } from '../base/index.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';
import { NONE } from './types.js';

export type StorageError = 'ErrCompacted' | 'ErrUnavailable';

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/**
 * The read side, used by the core. Calls are synchronous. Returned entries and snapshots belong to
 * the caller, who must not mutate them; implementations never reuse the buffers they return.
 */
export interface RaftStorageReader {
  /** The hard state and membership saved last (membership from the latest snapshot). */
  initialState(): InitialState;
  /**
   * Entries [lo, hi), cut after maxBytes of entry data but always at least one entry when
   * lo < hi. 'ErrCompacted' when lo < firstIndex(). Asserts hi <= lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] | 'ErrCompacted';
  /** Term of entry i for firstIndex()-1 <= i <= lastIndex(); otherwise an error value. */
  term(i: number): number | StorageError;
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot (index 0 when none was taken). */
  snapshot(): Snapshot;
}

/** What one Ready asks to persist, written atomically in this order. */
export interface PersistBatch {
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

/**
 * The write side, used by the shell. Every method resolves once its effect is durable (on disk
 * and fsynced for LMDB); reads reflect a write at the latest when its promise resolves. Writes
 * issued together share one fsync (group commit). The results are PromiseLike, not Promise: the
 * simulator's disk completes them synchronously from a scheduled event (src/sim/completion.ts),
 * so a shell must only chain `then` on them, never rely on microtask timing.
 */
export interface RaftStorageWriter {
  /**
   * Persists a Ready: applies `snapshot` (replacing the whole log), appends `entries` (dropping
   * any stored entries from the first new index on, the conflicting suffix), saves `hardState`.
   */
  persist(batch: PersistBatch): PromiseLike<void>;
  /** Records a snapshot of the application at `index` (firstIndex()-1 < index <= lastIndex()). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): PromiseLike<void>;
  /** Discards entries before `index` (index <= lastIndex()); term(index) stays answerable. */
  compact(index: number): PromiseLike<void>;
}

export interface RaftStorage extends RaftStorageReader, RaftStorageWriter {}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };

export function emptySnapshot(confState: ConfState): Snapshot {
  return { metadata: { index: 0, term: 0, confState }, data: EMPTY_BYTES };
}

/** Size counted against message and batch limits: the data bytes plus a fixed overhead. */
export function entrySize(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD_BYTES;
}

/** Approximate bytes an entry costs beyond its data (term, index, type, framing). */
export const ENTRY_OVERHEAD_BYTES = 16;

/** Cuts `entries` after maxBytes, keeping at least the first one. */
export function limitSize(entries: readonly Entry[], maxBytes: number): readonly Entry[] {
  if (entries.length <= 1) return entries;
  let size = entrySize(entries[0]!);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySize(entries[n]!);
    if (size > maxBytes) break;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}

/** Asserts entries are contiguous (index + 1 each) and terms never decrease. */
export function assertContiguous(entries: readonly Entry[], what: string): void {
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1]!, cur = entries[i]!;
    assert(cur.index === prev.index + 1, `${what}: index ${cur.index} after ${prev.index}`);
    assert(cur.term >= prev.term, `${what}: term ${cur.term} after ${prev.term} at ${cur.index}`);
  }
}

/**
 * The in-memory log: the twin of LmdbRaftStorage for tests and the simulator. Everything it holds
 * counts as durable; the simulator models lost writes by not calling persist() for a Ready whose
 * fsync had not finished when the member crashed.
 */
export class MemoryRaftStorage implements RaftStorage {
  #hardState: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot;
  /** #ents[0] is a dummy standing for the snapshot's (index, term); real entries follow. */
  #ents: Entry[];

  constructor(confState: ConfState = { voters: [], learners: [] }) {
    this.#snapshot = emptySnapshot(confState);
    this.#ents = [{ term: 0, index: 0, type: 'normal', data: EMPTY_BYTES }];
  }

  initialState(): InitialState {
    return { hardState: this.#hardState, confState: this.#snapshot.metadata.confState };
  }

  #offset(): number {
    return this.#ents[0]!.index;
  }

  firstIndex(): number {
    return this.#offset() + 1;
  }

  lastIndex(): number {
    return this.#offset() + this.#ents.length - 1;
  }

  term(i: number): number | StorageError {
    assertCount(i, 'term index');
    const offset = this.#offset();
    if (i < offset) return 'ErrCompacted';
    if (i - offset >= this.#ents.length) return 'ErrUnavailable';
    return this.#ents[i - offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] | 'ErrCompacted' {
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`);
    assert(hi <= this.lastIndex() + 1, `entries: hi ${hi} beyond last ${this.lastIndex()}`);
    const offset = this.#offset();
    if (lo <= offset) return 'ErrCompacted';
    return limitSize(this.#ents.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  persist(batch: PersistBatch): Promise<void> {
    this.persistSync(batch);
    return Promise.resolve();
  }

  /** persist() without the promise, for the single-threaded simulator. */
  persistSync(batch: PersistBatch): void {
    if (batch.snapshot !== null) this.applySnapshot(batch.snapshot);
    if (batch.entries.length > 0) this.append(batch.entries);
    if (batch.hardState !== null) this.setHardState(batch.hardState);
  }

  setHardState(hs: HardState): void {
    assertCount(hs.term, 'hardState.term');
    assertCount(hs.commit, 'hardState.commit');
    assert(hs.term >= this.#hardState.term, `hard state term went back to ${hs.term}`);
    this.#hardState = hs;
  }

  applySnapshot(snap: Snapshot): void {
    const index = snap.metadata.index;
    assert(index > this.#snapshot.metadata.index, `snapshot ${index} is not newer`);
    this.#snapshot = snap;
    this.#ents = [{ term: snap.metadata.term, index, type: 'normal', data: EMPTY_BYTES }];
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    assertContiguous(entries, 'append');
    const first = entries[0]!.index;
    const offset = this.#offset();
    assert(first > offset, `append at ${first} overwrites compacted entries up to ${offset}`);
    assert(first <= this.lastIndex() + 1, `append at ${first} leaves a gap after ${this.lastIndex()}`);
    // Entries already compacted cannot conflict; the rest replace the suffix from `first` on.
    this.#ents.length = first - offset;
    for (const e of entries) this.#ents.push(e);
  }

  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<void> {
    this.createSnapshotSync(index, confState, data);
    return Promise.resolve();
  }

  createSnapshotSync(index: number, confState: ConfState, data: Uint8Array): void {
    assert(index > this.#snapshot.metadata.index, `snapshot ${index} is not newer`);
    assert(index <= this.lastIndex(), `snapshot ${index} beyond last ${this.lastIndex()}`);
    const t = this.term(index);
    assert(typeof t === 'number', `snapshot ${index}: term ${String(t)}`);
    this.#snapshot = { metadata: { index, term: t, confState }, data };
  }

  compact(index: number): Promise<void> {
    this.compactSync(index);
    return Promise.resolve();
  }

  compactSync(index: number): void {
    const offset = this.#offset();
    if (index <= offset) return;
    assert(index <= this.lastIndex(), `compact ${index} beyond last ${this.lastIndex()}`);
    const kept = this.#ents.slice(index - offset);
    const head = kept[0]!;
    kept[0] = { term: head.term, index: head.index, type: 'normal', data: EMPTY_BYTES };
    this.#ents = kept;
  }
}
