/**
 * The key index in memory (etcd's treeIndex of keyIndex): every key, in key order, with the
 * revisions of its history that compaction kept. The backend stores only the revision records
 * (`rev`, keyed by revision, so a write appends to one end of one table); the index is derived
 * from them: built by one scan at first use, and kept current by the writer itself.
 *
 * Each thread shares one index per backend (`keyIndexOf`), so the apply loop's store and the
 * front's readers on one thread hold one copy. A thread that does not write (the front, when
 * apply runs on a worker) catches its copy up from the revision records when a read sees revisions
 * it has not indexed (`sync`). Because the writer's copy runs ahead of what is committed, every
 * read looks up the key's revision at the read's own revision, never "the newest".
 */
import { assert, copyBytes } from '../base/index.js';
import type { Backend, ReadTxn } from '../backend/index.js';
import { decodeKv, revKey, revKeyMain, revKeySub, TABLES } from './codec.js';
import type { MetaState } from './codec.js';
import { latin1Of, SortedMap } from './sorted-map.js';

export interface Found {
  readonly main: number;
  readonly sub: number;
  /** The create revision of the put's generation. */
  readonly created: number;
}

/** Number slots per history entry: main, sub, created (0 for a tombstone). */
const SLOTS = 3;

/** Slot of the newest triple in `r` with main <= rev, or -1. */
function atOrBelow(r: readonly number[], rev: number): number {
  let lo = 0;
  let hi = r.length / SLOTS;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (r[mid * SLOTS]! <= rev) lo = mid + 1;
    else hi = mid;
  }
  return (lo - 1) * SLOTS;
}

/**
 * One key's revisions, ascending (etcd's keyIndex generations, flattened): a put records the
 * create revision of its generation, a tombstone records 0 and ends the generation. The newest
 * entry lives in fields of its own, so the common lookups (the current value, a key put once)
 * touch no array.
 */
export class KeyHistory {
  /** The newest entry; main is 0 when the history is empty. */
  private main = 0;
  private sub = 0;
  private created = 0;
  /** The older entries as flat (main, sub, created) triples, ascending; null when none. */
  private older: number[] | null = null;

  /**
   * `key` is the index's own copy, exact size (events and replies that carry it may cross threads,
   * where a view into a shared slab would clone the whole slab) and never mutated; `id` is its
   * latin1 string.
   */
  constructor(readonly key: Uint8Array, readonly id: string) {}

  get count(): number {
    return (this.main === 0 ? 0 : 1) + (this.older === null ? 0 : this.older.length / SLOTS);
  }

  add(main: number, sub: number, created: number): void {
    assert(main >= 1 && (this.main < main || (this.main === main && this.sub < sub)), 'revisions grow');
    if (this.main !== 0) (this.older ??= []).push(this.main, this.sub, this.created);
    this.main = main;
    this.sub = sub;
    this.created = created;
  }

  /** The put that holds the key's value at `rev`; undefined if the key is absent (or deleted) then. */
  findAt(rev: number): Found | undefined {
    if (this.main === 0) return undefined;
    if (rev >= this.main) {
      return this.created === 0 ? undefined : { main: this.main, sub: this.sub, created: this.created };
    }
    const r = this.older;
    if (r === null) return undefined;
    const at = atOrBelow(r, rev);
    if (at < 0) return undefined;
    const created = r[at + 2]!;
    return created === 0 ? undefined : { main: r[at]!, sub: r[at + 1]!, created };
  }

  has(main: number, sub: number): boolean {
    if (this.main === 0) return false;
    if (main === this.main && sub === this.sub) return true;
    const r = this.older;
    if (r === null) return false;
    for (let at = atOrBelow(r, main); at >= 0 && r[at] === main; at -= SLOTS) {
      if (r[at + 1] === sub) return true;
    }
    return false;
  }

  /**
   * etcd's compaction rule at revision `at`: keep every revision above `at`, and the newest at or
   * below `at` unless it is a tombstone. Returns whether anything is left.
   */
  compact(at: number): boolean {
    if (this.main === 0) return false;
    if (at >= this.main) {
      this.older = null;
      if (this.created === 0) this.main = 0;
      return this.main !== 0;
    }
    const r = this.older;
    if (r === null) return true;
    const newest = atOrBelow(r, at);
    if (newest < 0) return true;
    const keepFrom = r[newest + 2] === 0 ? newest + SLOTS : newest;
    if (keepFrom === r.length) this.older = null;
    else if (keepFrom > 0) this.older = r.slice(keepFrom);
    return true;
  }

  /** Every (main, sub, created) entry, oldest first (tests). */
  entries(): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    const r = this.older ?? [];
    for (let i = 0; i < r.length; i += SLOTS) out.push([r[i]!, r[i + 1]!, r[i + 2]!]);
    if (this.main !== 0) out.push([this.main, this.sub, this.created]);
    return out;
  }
}

export class KeyIndex {
  /** Key order, for ranges. */
  private keys = new SortedMap<KeyHistory>();
  /**
   * The same histories by key, for point lookups: one hash probe where the sorted map's binary
   * search misses the cache at every step (measured 1.3 us against ~0.3 among 100,000 keys).
   */
  private byId = new Map<string, KeyHistory>();
  /** The newest revision indexed: every record up to it is in the index. */
  revision = 0;
  /** The revision the index was compacted at (-1: never). */
  compacted = -1;

  get size(): number {
    return this.keys.size;
  }

  get(key: Uint8Array): KeyHistory | undefined {
    return this.byId.get(latin1Of(key));
  }

  /** Histories of keys in [start, end) (end absent: to the last key), in key order. */
  *between(start: Uint8Array, end: Uint8Array | undefined): Generator<KeyHistory> {
    const range = this.keys.range(latin1Of(start), end === undefined ? undefined : latin1Of(end));
    for (const [, h] of range) yield h;
  }

  /** Records a revision of `key` (the index keeps a copy of new keys). */
  add(key: Uint8Array, main: number, sub: number, created: number): KeyHistory {
    const id = latin1Of(key);
    let h = this.byId.get(id);
    if (h === undefined) {
      h = new KeyHistory(copyBytes(key), id);
      this.keys.set(id, h);
      this.byId.set(id, h);
    }
    h.add(main, sub, created);
    return h;
  }

  /** Compacts every key at `at` (etcd compacts its whole tree index in one step too). */
  compact(at: number): void {
    assert(at >= this.compacted, 'the index compacts forward');
    const emptied: string[] = [];
    for (const h of this.keys.values()) if (!h.compact(at)) emptied.push(h.id);
    for (const id of emptied) {
      this.keys.delete(id);
      this.byId.delete(id);
    }
    this.compacted = at;
  }

  /**
   * Brings the index up to the state `txn` sees (whose meta is `meta`): the revisions it lacks
   * come from the revision records. If the view was compacted beyond what the index has seen,
   * records it never indexed may be gone (compaction deletes them), so it starts over.
   */
  sync(txn: ReadTxn, meta: MetaState): void {
    if (meta.current > this.revision) {
      if (meta.compacted > this.revision) {
        this.keys = new SortedMap();
        this.byId = new Map();
        this.revision = 0;
        this.compacted = -1;
      }
      const range = txn.range(TABLES.rev, {
        start: revKey(this.revision + 1, 0), end: revKey(meta.current + 1, 0),
      });
      for (const e of range) {
        const rec = decodeKv(e.value);
        const created = 'tombstone' in rec ? 0 : rec.createRevision;
        this.add(rec.key, revKeyMain(e.key), revKeySub(e.key), created);
      }
      this.revision = meta.current;
    }
    if (meta.compacted > this.compacted) this.compact(meta.compacted);
  }

  /** Checks the index's structure (tests). */
  check(): void {
    this.keys.check();
    assert(this.byId.size === this.keys.size, 'both maps hold every key');
    for (const [id, h] of this.keys.range('')) {
      assert(id === h.id && latin1Of(h.key) === id && h.count > 0, 'every indexed key has a revision');
      assert(this.byId.get(id) === h, 'both maps hold the same history');
    }
  }
}

/**
 * What a backend's stores on one thread share: the backend's `indexIdentity` if it names one
 * (every LmdbBackend on an env and thread names the env), else the backend itself.
 */
const shared = new WeakMap<object, KeyIndex>();

const identityOf = (backend: Backend): object => backend.indexIdentity ?? backend;

/** The key index of `backend` on this thread, made (empty: its first sync builds it) on first use. */
export function keyIndexOf(backend: Backend): KeyIndex {
  let index = shared.get(identityOf(backend));
  if (index === undefined) {
    index = new KeyIndex();
    shared.set(identityOf(backend), index);
  }
  return index;
}

/**
 * Forgets `backend`'s index on this thread, after a write that changed it was rolled back: the
 * next use builds a new one from what the backend holds.
 */
export function dropKeyIndex(backend: Backend): void {
  shared.delete(identityOf(backend));
}
