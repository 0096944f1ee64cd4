/**
 * An indexed binary min-heap of items ordered by (deadlineMs, then a tie-break the caller
 * gives). Each item remembers its own position, so removing an arbitrary item (a lease revoked
 * while it waits to be expired) is O(log n) instead of a lazy tombstone that would let the heap
 * grow past the number of leases.
 */
import { assert } from '../base/index.js';

export interface HeapItem {
  /** Position in the heap, or -1 when the item is not in it. Owned by the heap. */
  heapIndex: number;
  /** The order key. Must not change while the item is in the heap. */
  heapDeadlineMs: number;
}

export class DeadlineHeap<T extends HeapItem> {
  readonly #items: T[] = [];
  readonly #tieBreak: (a: T, b: T) => number;
  readonly itemsMax: number;

  constructor(itemsMax: number, tieBreak: (a: T, b: T) => number) {
    assert(Number.isSafeInteger(itemsMax) && itemsMax >= 1, 'itemsMax must be a positive integer');
    this.itemsMax = itemsMax;
    this.#tieBreak = tieBreak;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    assert(item.heapIndex === -1, 'item is already in a heap');
    assert(this.#items.length < this.itemsMax, `deadline heap full: ${this.itemsMax}`);
    item.heapIndex = this.#items.length;
    this.#items.push(item);
    this.#up(item.heapIndex);
  }

  pop(): T | undefined {
    const top = this.#items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  remove(item: T): void {
    const i = item.heapIndex;
    assert(i >= 0 && this.#items[i] === item, 'removing an item that is not in this heap');
    const last = this.#items.pop();
    assert(last !== undefined, 'heap underflow');
    item.heapIndex = -1;
    if (last === item) return;
    this.#items[i] = last;
    last.heapIndex = i;
    this.#down(i);
    this.#up(last.heapIndex);
  }

  #less(a: T, b: T): boolean {
    if (a.heapDeadlineMs !== b.heapDeadlineMs) return a.heapDeadlineMs < b.heapDeadlineMs;
    return this.#tieBreak(a, b) < 0;
  }

  #up(i: number): void {
    const items = this.#items;
    const item = items[i]!;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = items[parentIndex]!;
      if (!this.#less(item, parent)) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = parentIndex;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  #down(i: number): void {
    const items = this.#items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.#less(items[right]!, items[left]!)) child = right;
      const c = items[child]!;
      if (!this.#less(c, item)) break;
      items[i] = c;
      c.heapIndex = i;
      i = child;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
