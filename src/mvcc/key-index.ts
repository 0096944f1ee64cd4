/**
 * The key index of one key (etcd's keyIndex), kept as two parts so that no operation costs more
 * as a key's history grows: its current state, one `index` record (IndexRecord), and its history,
 * one `keyrev` entry per revision (see codec.ts). A put writes one entry and rewrites the
 * constant-size record; "the key's revision at rev" reads the record alone when rev is at or above
 * the key's newest revision, and otherwise one reverse seek with limit 1 (O(log n) in the table).
 * These functions only read; the store does the writes.
 */
import { assert } from '../base/index.js';
import type { ReadTxn } from '../backend/index.js';
import { decodeKeyRev, keyRevKey, keyRevOf, TABLES } from './codec.js';
import type { IndexRecord } from './codec.js';

export interface Found {
  readonly main: number;
  readonly sub: number;
  readonly created: number;
}

interface Entry {
  readonly main: number;
  readonly sub: number;
  /** The generation's create revision; undefined for a tombstone. */
  readonly created: number | undefined;
}

/** The newest history entry of `indexKey` at or below `rev`, if any is left. */
function newestAtOrBelow(txn: ReadTxn, indexKey: Uint8Array, rev: number): Entry | undefined {
  const range = txn.range(TABLES.keyRev, {
    start: keyRevKey(indexKey, 0, 0), end: keyRevKey(indexKey, rev + 1, 0), reverse: true, limit: 1,
  });
  for (const e of range) {
    const { main, sub } = keyRevOf(indexKey, e.key);
    assert(main <= rev, 'the seek stays at or below rev');
    return { main, sub, created: decodeKeyRev(e.value) };
  }
  return undefined;
}

/** The revision that holds the key's value at `rev`, or undefined if absent (or deleted) then. */
export function findAt(
  txn: ReadTxn, indexKey: Uint8Array, rec: IndexRecord, rev: number,
): Found | undefined {
  if (rev >= rec.main) {
    const l = rec.latest;
    return l === undefined ? undefined : { main: rec.main, sub: rec.sub, created: l.createRevision };
  }
  const e = newestAtOrBelow(txn, indexKey, rev);
  if (e === undefined || e.created === undefined) return undefined;
  assert(e.created <= e.main, 'a generation is created at or before its revisions');
  return { main: e.main, sub: e.sub, created: e.created };
}

export interface Compacted {
  /** Revisions [main, sub] whose `keyrev` entries and `rev` records are to be removed, oldest first. */
  readonly drop: Array<readonly [number, number]>;
  /** Whether `drop` is all this key has to lose (false: come back with a fresh budget). */
  readonly complete: boolean;
  /** Whether the key has no history left afterwards, so its index record goes too. */
  readonly removeIndex: boolean;
}

/**
 * etcd's compaction rule for one key at revision `at`, at most `budget` (>= 1) revisions at a
 * time: keep every revision above `at`, and the newest revision at or below `at` unless it is a
 * tombstone. Drops go oldest first, so a partly compacted key reads the same at or above `at`
 * (the newest revision at or below `at` goes last, and only if it is a tombstone).
 */
export function compactAt(
  txn: ReadTxn, indexKey: Uint8Array, rec: IndexRecord, at: number, budget: number,
): Compacted {
  assert(Number.isSafeInteger(budget) && budget >= 1, 'a compaction budget is positive');
  const newest: Entry | undefined = rec.main <= at
    ? { main: rec.main, sub: rec.sub, created: rec.latest?.createRevision }
    : newestAtOrBelow(txn, indexKey, at);
  if (newest === undefined) return { drop: [], complete: true, removeIndex: false };
  const drop: Array<readonly [number, number]> = [];
  // All of the key's revisions are at or below `at`: all but the newest are older than it.
  const olderCount = rec.main <= at ? rec.revisions - 1 : undefined;
  const older = olderCount === 0 ? [] : txn.range(TABLES.keyRev, {
    start: keyRevKey(indexKey, 0, 0), end: keyRevKey(indexKey, newest.main, newest.sub),
    limit: budget + 1,
  });
  for (const e of older) {
    const { main, sub } = keyRevOf(indexKey, e.key);
    drop.push([main, sub]);
  }
  if (drop.length > budget) return { drop: drop.slice(0, budget), complete: false, removeIndex: false };
  if (olderCount !== undefined) assert(drop.length === olderCount, 'the index counts its revisions');
  if (newest.created !== undefined) return { drop, complete: true, removeIndex: false };
  if (drop.length === budget) return { drop, complete: false, removeIndex: false };
  drop.push([newest.main, newest.sub]);
  return { drop, complete: true, removeIndex: rec.main === newest.main && rec.sub === newest.sub };
}
