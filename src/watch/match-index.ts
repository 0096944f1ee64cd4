/**
 * KeyMatchIndex: which registered ranges contain a key, at a cost that depends on the key and on
 * the matches, not on the number of unrelated ranges.
 *
 * - Exact keys: a Map from the key's binary string (one char per byte) to its entries: O(1).
 * - Prefixes: a Map from the prefix's binary string, plus the set of prefix lengths in use; a
 *   key of length L is looked up once per distinct prefix length <= L: O(min(L, lengths) + k).
 * - Other intervals ([start, end) and [start, +inf)): a treap ordered by (start, seq) and
 *   augmented with the largest end in each subtree, so a stabbing query visits only subtrees
 *   that can hold a match: O((1 + k) log n) expected.
 *
 * Values are reported once per registered range containing the key; a caller that registers one
 * value under several ranges deduplicates (the hub stamps watchers per event).
 */
import { assert, compareBytes } from '../base/index.js';
import type { RangeShape } from './key-range.js';

/** Longest run of bytes passed to String.fromCharCode at once (stays below argument limits). */
const BINARY_STRING_CHUNK = 4_096;

/** The key as a string of char codes 0..255, usable as a Map key. */
export function binaryString(bytes: Uint8Array): string {
  if (bytes.length <= BINARY_STRING_CHUNK) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  let out = '';
  for (let i = 0; i < bytes.length; i += BINARY_STRING_CHUNK) {
    const part = bytes.subarray(i, i + BINARY_STRING_CHUNK);
    out += String.fromCharCode.apply(null, part as unknown as number[]);
  }
  return out;
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
  | { readonly kind: 'exact'; readonly str: string; readonly value: T }
  | { readonly kind: 'prefix'; readonly str: string; readonly value: T }
  | { readonly kind: 'interval'; readonly node: TreapNode<T> };

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
  readonly #exact = new Map<string, Set<MatchEntry<T>>>();
  readonly #prefixes = new Map<string, Set<MatchEntry<T>>>();
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
        const entry: MatchEntry<T> = { kind: 'exact', str: binaryString(shape.key), value };
        addTo(this.#exact, entry.str, entry);
        return entry;
      }
      case 'prefix': {
        assert(shape.prefix.length > 0, 'a prefix range has a non-empty prefix');
        const entry: MatchEntry<T> = { kind: 'prefix', str: binaryString(shape.prefix), value };
        addTo(this.#prefixes, entry.str, entry);
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
        removeFrom(this.#exact, entry.str, entry);
        return;
      case 'prefix':
        removeFrom(this.#prefixes, entry.str, entry);
        this.#countLength(entry.str.length, -1);
        return;
      case 'interval':
        this.#tree = removeNode(this.#tree, entry.node);
        return;
    }
  }

  /**
   * Calls `visit` once for every registered range containing `key`. `keyString` may be passed
   * when the caller already has `binaryString(key)`.
   */
  match(key: Uint8Array, visit: (value: T) => void, keyString = binaryString(key)): void {
    const exact = this.#exact.get(keyString);
    if (exact !== undefined) for (const e of exact) visit(valueOf(e));
    for (const length of this.#prefixLengths) {
      if (length > keyString.length) break;
      const hits = this.#prefixes.get(length === keyString.length
        ? keyString : keyString.slice(0, length));
      if (hits !== undefined) for (const e of hits) visit(valueOf(e));
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

function valueOf<T>(entry: MatchEntry<T>): T {
  assert(entry.kind !== 'interval', 'hash entries only');
  return entry.value;
}

function addTo<T>(map: Map<string, Set<MatchEntry<T>>>, str: string, entry: MatchEntry<T>): void {
  const set = map.get(str);
  if (set === undefined) map.set(str, new Set([entry]));
  else set.add(entry);
}

function removeFrom<T>(map: Map<string, Set<MatchEntry<T>>>, str: string,
  entry: MatchEntry<T>): void {
  const set = map.get(str);
  assert(set !== undefined && set.delete(entry), 'hash entry is not in the index');
  if (set.size === 0) map.delete(str);
}
