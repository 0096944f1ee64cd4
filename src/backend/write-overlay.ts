/**
 * WriteOverlay: writes staged in memory in front of a backend whose commits land later (LMDB's
 * asynchronous batches), so that a write transaction runs at once, the next one reads what the
 * previous one wrote, and readers on the same thread see staged writes before they commit, as
 * etcd's readers see bbolt's uncommitted batch through its read buffer.
 *
 * Each staged write is a numbered batch. A table keeps, per key, the newest staged value (or a
 * deletion) and the number of the batch that staged it. When a batch's commit lands, `release`
 * drops the entries that batch was the last to stage; an entry a later batch restaged stays, so
 * overlay-over-base always shows the newest staged state: a key's newest write is either still
 * here or committed underneath. A throw inside a batch undoes that batch's entries alone.
 */
import { assert, compareBytes, copyBytes } from '../base/index.js';
import type { BackendEntry, RangeOptions } from './backend.js';

/** Index of the first key >= `key` in `keys` (ascending by unsigned bytes). */
export function lowerBound(keys: readonly Uint8Array[], key: Uint8Array): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A staged value: bytes, or `null` for a deletion. */
type Staged = Uint8Array | null;

class OverlayTable {
  readonly keys: Uint8Array[] = [];
  readonly values: Staged[] = [];
  readonly batches: number[] = [];

  find(key: Uint8Array): number {
    const at = lowerBound(this.keys, key);
    return at < this.keys.length && compareBytes(this.keys[at]!, key) === 0 ? at : -1;
  }

  set(key: Uint8Array, value: Staged, batch: number): void {
    const at = lowerBound(this.keys, key);
    if (at < this.keys.length && compareBytes(this.keys[at]!, key) === 0) {
      this.values[at] = value;
      this.batches[at] = batch;
      return;
    }
    this.keys.splice(at, 0, key);
    this.values.splice(at, 0, value);
    this.batches.splice(at, 0, batch);
  }

  removeAt(at: number): void {
    this.keys.splice(at, 1);
    this.values.splice(at, 1);
    this.batches.splice(at, 1);
  }

  /** Drops every entry whose batch number is RELEASED, in one pass. */
  sweep(): number {
    const { keys, values, batches } = this;
    let kept = 0;
    for (let i = 0; i < keys.length; i++) {
      if (batches[i] === RELEASED) continue;
      keys[kept] = keys[i]!;
      values[kept] = values[i]!;
      batches[kept] = batches[i]!;
      kept++;
    }
    const dropped = keys.length - kept;
    keys.length = kept;
    values.length = kept;
    batches.length = kept;
    return dropped;
  }
}

/** The batch number of an entry released and about to be swept (batch numbers start at 1). */
const RELEASED = 0;

/** One staged write as the base must replay it: in order, a put (bytes) or a delete (null). */
export interface StagedOp {
  readonly table: string;
  readonly key: Uint8Array;
  readonly value: Staged;
}

/** What `set` replaced, so a throwing batch can be undone. */
interface Undo {
  readonly table: OverlayTable;
  readonly key: Uint8Array;
  /** absent: the key was not in the overlay. */
  readonly had: { readonly value: Staged; readonly batch: number } | undefined;
}

export interface OverlayBatch {
  readonly seq: number;
  readonly ops: StagedOp[];
  readonly undo: Undo[];
}

export class WriteOverlay {
  readonly #tables = new Map<string, OverlayTable>();
  #seq = 0;
  #open: OverlayBatch | null = null;
  /** Batches staged and not yet released. */
  #pending = 0;
  /** Entries held, over every table. */
  #entries = 0;

  /** Batches staged whose commit has not landed. */
  get pendingBatches(): number {
    return this.#pending;
  }

  get entries(): number {
    return this.#entries;
  }

  /** The staged value of `key`: bytes, `null` if staged as deleted, `undefined` if not staged. */
  get(table: string, key: Uint8Array): Staged | undefined {
    const t = this.#tables.get(table);
    if (t === undefined || t.keys.length === 0) return undefined;
    const at = t.find(key);
    return at < 0 ? undefined : t.values[at];
  }

  begin(): OverlayBatch {
    assert(this.#open === null, 'overlay batches do not nest');
    this.#open = { seq: ++this.#seq, ops: [], undo: [] };
    return this.#open;
  }

  /** Stages a put (`value` bytes) or a delete (`null`); keeps copies of both. */
  stage(batch: OverlayBatch, table: string, key: Uint8Array, value: Staged): void {
    assert(this.#open === batch, 'staging outside the open batch');
    let t = this.#tables.get(table);
    if (t === undefined) {
      t = new OverlayTable();
      this.#tables.set(table, t);
    }
    const keyCopy = copyBytes(key);
    const valueCopy = value === null ? null : copyBytes(value);
    const at = t.find(keyCopy);
    batch.undo.push({
      table: t, key: keyCopy,
      had: at < 0 ? undefined : { value: t.values[at]!, batch: t.batches[at]! },
    });
    if (at < 0) this.#entries++;
    t.set(keyCopy, valueCopy, batch.seq);
    batch.ops.push({ table, key: keyCopy, value: valueCopy });
  }

  /** Ends the open batch: kept (its commit is on its way) or undone (its function threw). */
  end(batch: OverlayBatch, keep: boolean): void {
    assert(this.#open === batch, 'ending a batch that is not open');
    this.#open = null;
    if (keep) {
      if (batch.ops.length > 0) this.#pending++;
      return;
    }
    for (let i = batch.undo.length - 1; i >= 0; i--) {
      const { table, key, had } = batch.undo[i]!;
      if (had !== undefined) {
        table.set(key, had.value, had.batch);
        continue;
      }
      const at = table.find(key);
      assert(at >= 0, 'undo of a staged key finds it');
      table.removeAt(at);
      this.#entries--;
    }
  }

  /**
   * `batches` committed in the base: drop what no later batch restaged. Entries are marked, then
   * each table is compacted once (removing them one by one from the front of the arrays, where
   * the oldest revisions sit, cost a copy of the table each).
   */
  release(batches: readonly OverlayBatch[]): void {
    const touched = new Set<OverlayTable>();
    for (const batch of batches) {
      assert(batch.ops.length > 0, 'only batches that staged something are released');
      this.#pending--;
      for (const op of batch.ops) {
        const t = this.#tables.get(op.table)!;
        const at = t.find(op.key);
        if (at >= 0 && t.batches[at] === batch.seq) {
          t.batches[at] = RELEASED;
          touched.add(t);
        }
      }
    }
    for (const t of touched) this.#entries -= t.sweep();
  }

  /**
   * The entries of [start, end) in `table`, overlay over `base` (the same range of the base,
   * in the same direction, without a limit), honouring `options.limit` after the merge.
   */
  range(table: string, options: RangeOptions, base: (unlimited: boolean) => Iterable<BackendEntry>): Iterable<BackendEntry> {
    const t = this.#tables.get(table);
    if (t === undefined) return base(false);
    const from = options.start === undefined ? 0 : lowerBound(t.keys, options.start);
    const to = options.end === undefined ? t.keys.length : lowerBound(t.keys, options.end);
    if (from >= to) return base(false);
    return merged(t, from, to, options, base(true));
  }
}

function* merged(
  t: OverlayTable, from: number, to: number, options: RangeOptions, base: Iterable<BackendEntry>,
): Generator<BackendEntry> {
  const reverse = options.reverse === true;
  const limit = options.limit ?? Infinity;
  // Copied first: the caller may stage writes between steps of a lazy iteration of another table.
  const keys = t.keys.slice(from, to);
  const values = t.values.slice(from, to);
  let i = reverse ? keys.length - 1 : 0;
  const step = reverse ? -1 : 1;
  const more = (): boolean => i >= 0 && i < keys.length;
  // Order of a before b in the walk's direction.
  const before = (a: Uint8Array, b: Uint8Array): number => (reverse ? compareBytes(b, a) : compareBytes(a, b));
  let n = 0;
  for (const entry of base) {
    for (; more() && before(keys[i]!, entry.key) < 0; i += step) {
      const v = values[i]!;
      if (v === null) continue;
      yield { key: keys[i]!, value: v };
      if (++n >= limit) return;
    }
    if (more() && compareBytes(keys[i]!, entry.key) === 0) {
      const v = values[i]!;
      i += step;
      if (v === null) continue;
      yield { key: entry.key, value: v };
    } else {
      yield entry;
    }
    if (++n >= limit) return;
  }
  for (; more(); i += step) {
    const v = values[i]!;
    if (v === null) continue;
    yield { key: keys[i]!, value: v };
    if (++n >= limit) return;
  }
}
