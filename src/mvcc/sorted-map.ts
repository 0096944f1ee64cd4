/**
 * SortedMap: keys to values in key order, for the in-memory key index. A sorted list of sorted
 * chunks (as Python's sortedcontainers keeps one): a lookup is a binary search over the chunks'
 * first keys, then one inside a chunk; an insert or delete moves at most `CHUNK_KEYS_MAX` slots,
 * and a chunk splits in two when it grows past that. Iteration walks chunks in order. No tree to
 * rebalance, and a scan is a walk over plain arrays.
 *
 * Keys are byte strings as latin1 JS strings (`latin1Of`): one char per byte, so JS's string order
 * is memcmp order. A binary search over strings costs a quarter of one over Uint8Arrays (measured:
 * ~0.5 against ~2 us per lookup among 100,000 keys), because a string's chars sit in the string
 * object, where a Uint8Array's bytes are two pointers away, and each step of the search misses
 * the cache.
 */
import { assert } from '../base/index.js';

/** Bytes per String.fromCharCode call when converting long keys (its arguments go on the stack). */
const LATIN1_CHUNK_BYTES = 4096;

/**
 * The latin1 string of `bytes`: char i is byte i. One String.fromCharCode call makes a flat string
 * (a loop of `+=` makes a rope that every comparison flattens again: 1.7x slower lookups).
 */
export function latin1Of(bytes: Uint8Array): string {
  const n = bytes.length;
  if (n <= LATIN1_CHUNK_BYTES) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let s = '';
  for (let i = 0; i < n; i += LATIN1_CHUNK_BYTES) {
    const part = bytes.subarray(i, Math.min(n, i + LATIN1_CHUNK_BYTES));
    s += String.fromCharCode.apply(null, part as unknown as number[]);
  }
  return s;
}

/** Keys per chunk before it splits; a delete or insert moves at most this many array slots. */
export const CHUNK_KEYS_MAX = 512;

interface Chunk<V> {
  readonly keys: string[];
  readonly values: V[];
}

/** Index of the first key in `keys` that is >= `key` (keys.length if none). */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedMap<V> {
  /** firsts[i] is chunks[i].keys[0]; no chunk is empty. */
  readonly #firsts: string[] = [];
  readonly #chunks: Chunk<V>[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The chunk that holds `key` if anything does: the last whose first key is <= key (or 0). */
  #chunkOf(key: string): number {
    const firsts = this.#firsts;
    let lo = 0;
    let hi = firsts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (firsts[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? 0 : lo - 1;
  }

  get(key: string): V | undefined {
    if (this.#chunks.length === 0) return undefined;
    const c = this.#chunks[this.#chunkOf(key)]!;
    const at = lowerBound(c.keys, key);
    return at < c.keys.length && c.keys[at] === key ? c.values[at] : undefined;
  }

  /** Inserts or replaces. */
  set(key: string, value: V): void {
    if (this.#chunks.length === 0) {
      this.#chunks.push({ keys: [key], values: [value] });
      this.#firsts.push(key);
      this.#size = 1;
      return;
    }
    const ci = this.#chunkOf(key);
    const c = this.#chunks[ci]!;
    const at = lowerBound(c.keys, key);
    if (at < c.keys.length && c.keys[at] === key) {
      c.values[at] = value;
      return;
    }
    c.keys.splice(at, 0, key);
    c.values.splice(at, 0, value);
    this.#size++;
    if (at === 0) this.#firsts[ci] = key;
    if (c.keys.length > CHUNK_KEYS_MAX) {
      const half = c.keys.length >>> 1;
      const right: Chunk<V> = { keys: c.keys.splice(half), values: c.values.splice(half) };
      this.#chunks.splice(ci + 1, 0, right);
      this.#firsts.splice(ci + 1, 0, right.keys[0]!);
    }
  }

  /** Removes `key` if present; returns whether it was. */
  delete(key: string): boolean {
    if (this.#chunks.length === 0) return false;
    const ci = this.#chunkOf(key);
    const c = this.#chunks[ci]!;
    const at = lowerBound(c.keys, key);
    if (at === c.keys.length || c.keys[at] !== key) return false;
    c.keys.splice(at, 1);
    c.values.splice(at, 1);
    this.#size--;
    if (c.keys.length === 0) {
      this.#chunks.splice(ci, 1);
      this.#firsts.splice(ci, 1);
    } else if (at === 0) {
      this.#firsts[ci] = c.keys[0]!;
    }
    return true;
  }

  /**
   * Entries with start <= key < end (end absent: to the last key), ascending. Do not change the
   * map while iterating.
   */
  *range(start: string, end?: string): Generator<[string, V]> {
    const chunks = this.#chunks;
    if (chunks.length === 0) return;
    let ci = this.#chunkOf(start);
    let at = lowerBound(chunks[ci]!.keys, start);
    for (; ci < chunks.length; ci++, at = 0) {
      const { keys, values } = chunks[ci]!;
      for (; at < keys.length; at++) {
        const key = keys[at]!;
        if (end !== undefined && key >= end) return;
        yield [key, values[at]!];
      }
    }
  }

  /** Every value, in key order. Do not change the map while iterating. */
  *values(): Generator<V> {
    for (const c of this.#chunks) yield* c.values;
  }

  /** Checks the structure (tests). */
  check(): void {
    let n = 0;
    let prev: string | undefined;
    this.#chunks.forEach((c, i) => {
      assert(c.keys.length > 0 && c.keys.length <= CHUNK_KEYS_MAX, 'chunk size');
      assert(c.keys.length === c.values.length, 'keys and values pair up');
      assert(this.#firsts[i] === c.keys[0], 'firsts names each chunk\'s first key');
      for (const k of c.keys) {
        assert(prev === undefined || prev < k, 'keys ascend');
        prev = k;
      }
      n += c.keys.length;
    });
    assert(this.#firsts.length === this.#chunks.length && n === this.#size, 'size');
  }
}
