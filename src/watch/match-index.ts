/**
 * KeyMatchIndex: which registered ranges contain a key, at a cost that depends on the key and on
 * the matches, not on the number of unrelated ranges.
 *
 * - Exact keys: a Map from a 32-bit FNV-1a hash of the key to the entries with that hash, each
 *   confirmed by comparing bytes: O(L) to hash, O(1) to look up.
 * - Prefixes: a Map from the hash of the prefix, plus the sorted list of prefix lengths in use.
 *   One pass over the key computes the hash of every prefix of it, and the map is consulted at
 *   each length in use: O(L + lengths + k), whatever the number of prefixes.
 * Hashing bytes directly avoids building a string per event (String.fromCharCode over a key
 * cost more than the whole lookup) and a Map keyed by small integers stays fast at 100k keys.
 * - Other intervals ([start, end) and [start, +inf)): a treap ordered by (start, seq) and
 *   augmented with the largest end in each subtree, so a stabbing query visits only subtrees
 *   that can hold a match: O((1 + k) log n) expected.
 *
 * Values are reported once per registered range containing the key; a caller that registers one
 * value under several ranges deduplicates (the hub stamps watchers per event).
 */
import { assert, bytesEqual, compareBytes } from '../base/index.js';
import type { RangeShape } from './key-range.js';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a of the first `length` bytes. */
export function hashBytes(bytes: Uint8Array, length = bytes.length): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME);
  return h >>> 0;
}

/** True when `key` starts with `prefix`. */
function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

interface TreapNode<T> {
  readonly start: Uint8Array;
  /** null: unbounded. */
  readonly end: Uint8Array | null;
  readonly seq: number;
  readonly priority: number;
  readonly value: T;
  left: TreapNode<T> | null;
  right: TreapNode<T> | null;
  /** Largest end in this subtree; null: unbounded. */
  maxEnd: Uint8Array | null;
}

/** A registration, returned by `add` and given back to `remove`. */
export type MatchEntry<T> =
  | HashedEntry<T>
  | { readonly kind: 'interval'; readonly node: TreapNode<T> };

interface HashedEntry<T> {
  readonly kind: 'exact' | 'prefix';
  readonly hash: number;
  /** The exact key, or the prefix. */
  readonly bytes: Uint8Array;
  readonly value: T;
}

/** True when an interval ending at `end` (exclusive; null unbounded) lies beyond `key`. */
function endsAfter(end: Uint8Array | null, key: Uint8Array): boolean {
  return end === null || compareBytes(end, key) > 0;
}

function maxOfEnds(a: Uint8Array | null, b: Uint8Array | null): Uint8Array | null {
  if (a === null || b === null) return null;
  return compareBytes(a, b) >= 0 ? a : b;
}

/** A deterministic priority from the sequence number (no ambient randomness in a core). */
function priorityOf(seq: number): number {
  let z = (seq + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

function compareNodes<T>(a: TreapNode<T>, b: TreapNode<T>): number {
  const c = compareBytes(a.start, b.start);
  return c !== 0 ? c : a.seq - b.seq;
}

function update<T>(n: TreapNode<T>): void {
  let m = n.end;
  if (n.left !== null) m = maxOfEnds(m, n.left.maxEnd);
  if (n.right !== null) m = maxOfEnds(m, n.right.maxEnd);
  n.maxEnd = m;
}

function rotateRight<T>(n: TreapNode<T>): TreapNode<T> {
  const l = n.left;
  assert(l !== null, 'rotateRight needs a left child');
  n.left = l.right;
  l.right = n;
  update(n);
  update(l);
  return l;
}

function rotateLeft<T>(n: TreapNode<T>): TreapNode<T> {
  const r = n.right;
  assert(r !== null, 'rotateLeft needs a right child');
  n.right = r.left;
  r.left = n;
  update(n);
  update(r);
  return r;
}

function insert<T>(root: TreapNode<T> | null, node: TreapNode<T>): TreapNode<T> {
  if (root === null) return node;
  if (compareNodes(node, root) < 0) {
    root.left = insert(root.left, node);
    if (root.left.priority > root.priority) return rotateRight(root);
  } else {
    root.right = insert(root.right, node);
    if (root.right.priority > root.priority) return rotateLeft(root);
  }
  update(root);
  return root;
}

function removeNode<T>(root: TreapNode<T> | null, node: TreapNode<T>): TreapNode<T> | null {
  assert(root !== null, 'interval entry is not in the index');
  if (root === node) {
    if (root.left === null) return root.right;
    if (root.right === null) return root.left;
    if (root.left.priority > root.right.priority) {
      const top = rotateRight(root);
      top.right = removeNode(top.right, node);
      update(top);
      return top;
    }
    const top = rotateLeft(root);
    top.left = removeNode(top.left, node);
    update(top);
    return top;
  }
  if (compareNodes(node, root) < 0) root.left = removeNode(root.left, node);
  else root.right = removeNode(root.right, node);
  update(root);
  return root;
}

/** Visits every interval containing `key`; returns the number of tree nodes examined. */
function stab<T>(root: TreapNode<T> | null, key: Uint8Array, visit: (value: T) => void): number {
  let examined = 0;
  let node = root;
  while (node !== null) {
    examined++;
    if (!endsAfter(node.maxEnd, key)) return examined;
    examined += stab(node.left, key, visit);
    if (compareBytes(node.start, key) > 0) return examined;
    if (endsAfter(node.end, key)) visit(node.value);
    node = node.right;
  }
  return examined;
}

export class KeyMatchIndex<T> {
  readonly #exact = new Map<number, HashedEntry<T>[]>();
  readonly #prefixes = new Map<number, HashedEntry<T>[]>();
  /** Prefix length -> number of prefix entries of that length. */
  readonly #prefixLengthCounts = new Map<number, number>();
  /** The keys of #prefixLengthCounts, ascending; rebuilt when a length appears or goes. */
  #prefixLengths: number[] = [];
  #tree: TreapNode<T> | null = null;
  #nextSeq = 0;
  #size = 0;
  #intervalNodesExamined = 0;

  /** Interval-tree nodes examined by all queries so far (a work counter for tests). */
  get intervalNodesExamined(): number {
    return this.#intervalNodesExamined;
  }

  /** Number of registered ranges. */
  get size(): number {
    return this.#size;
  }

  add(shape: RangeShape, value: T): MatchEntry<T> {
    this.#size++;
    switch (shape.kind) {
      case 'exact': {
        const entry: HashedEntry<T> = {
          kind: 'exact', hash: hashBytes(shape.key), bytes: shape.key, value,
        };
        addTo(this.#exact, entry);
        return entry;
      }
      case 'prefix': {
        assert(shape.prefix.length > 0, 'a prefix range has a non-empty prefix');
        const entry: HashedEntry<T> = {
          kind: 'prefix', hash: hashBytes(shape.prefix), bytes: shape.prefix, value,
        };
        addTo(this.#prefixes, entry);
        this.#countLength(shape.prefix.length, +1);
        return entry;
      }
      case 'interval': {
        const seq = this.#nextSeq++;
        const node: TreapNode<T> = {
          start: shape.start, end: shape.end, seq, priority: priorityOf(seq), value,
          left: null, right: null, maxEnd: shape.end,
        };
        this.#tree = insert(this.#tree, node);
        return { kind: 'interval', node };
      }
    }
  }

  remove(entry: MatchEntry<T>): void {
    assert(this.#size > 0, 'remove from an empty index');
    this.#size--;
    switch (entry.kind) {
      case 'exact':
        removeFrom(this.#exact, entry);
        return;
      case 'prefix':
        removeFrom(this.#prefixes, entry);
        this.#countLength(entry.bytes.length, -1);
        return;
      case 'interval':
        this.#tree = removeNode(this.#tree, entry.node);
        return;
    }
  }

  /** Calls `visit` once for every registered range containing `key`. */
  match(key: Uint8Array, visit: (value: T) => void): void {
    const lengths = this.#prefixLengths;
    let next = 0;
    let h = FNV_OFFSET;
    // One pass hashes every prefix of the key; the map is consulted at the lengths in use.
    for (let i = 0; i < key.length; i++) {
      h = Math.imul(h ^ key[i]!, FNV_PRIME);
      if (next < lengths.length && lengths[next] === i + 1) {
        next++;
        const hits = this.#prefixes.get(h >>> 0);
        if (hits !== undefined) {
          for (const e of hits) {
            if (e.bytes.length === i + 1 && startsWith(key, e.bytes)) visit(e.value);
          }
        }
      }
    }
    const exact = this.#exact.get(h >>> 0);
    if (exact !== undefined) {
      for (const e of exact) if (bytesEqual(e.bytes, key)) visit(e.value);
    }
    if (this.#tree !== null) this.#intervalNodesExamined += stab(this.#tree, key, visit);
  }

  #countLength(length: number, delta: 1 | -1): void {
    const n = (this.#prefixLengthCounts.get(length) ?? 0) + delta;
    assert(n >= 0, 'prefix length count went negative');
    if (n === 0) this.#prefixLengthCounts.delete(length);
    else this.#prefixLengthCounts.set(length, n);
    if (n === 0 || (n === 1 && delta === 1)) {
      this.#prefixLengths = [...this.#prefixLengthCounts.keys()].sort((a, b) => a - b);
    }
  }
}

function addTo<T>(map: Map<number, HashedEntry<T>[]>, entry: HashedEntry<T>): void {
  const bucket = map.get(entry.hash);
  if (bucket === undefined) map.set(entry.hash, [entry]);
  else bucket.push(entry);
}

function removeFrom<T>(map: Map<number, HashedEntry<T>[]>, entry: HashedEntry<T>): void {
  const bucket = map.get(entry.hash);
  const at = bucket === undefined ? -1 : bucket.indexOf(entry);
  assert(bucket !== undefined && at >= 0, 'hash entry is not in the index');
  if (bucket.length === 1) map.delete(entry.hash);
  else bucket.splice(at, 1);
}
