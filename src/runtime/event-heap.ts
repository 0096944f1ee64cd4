/**
 * A binary min-heap of scheduled events ordered by (time, seq). `seq` is unique and increasing,
 * so equal times keep insertion order and the order of pops is a pure function of the pushes.
 */
import { assert } from '../base/index.js';

export interface Scheduled {
  readonly time: number;
  readonly seq: number;
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export class EventHeap<T extends Scheduled> {
  readonly #items: T[] = [];
  readonly #sizeMax: number;

  constructor(sizeMax: number) {
    assert(Number.isSafeInteger(sizeMax) && sizeMax > 0, `EventHeap sizeMax must be > 0: ${sizeMax}`);
    this.#sizeMax = sizeMax;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const items = this.#items;
    if (items.length >= this.#sizeMax) assert(false, `event heap full (${this.#sizeMax} events)`);
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (!before(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop()!;
    const n = items.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && before(items[right]!, items[left]!) ? right : left;
      const c = items[child]!;
      if (!before(c, last)) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
    return top;
  }

  /** Removes every event for which `drop` holds (used when a member crashes). */
  removeWhere(drop: (item: T) => boolean): number {
    const kept = this.#items.filter((item) => !drop(item));
    const removed = this.#items.length - kept.length;
    this.#items.length = 0;
    for (const item of kept) this.push(item);
    return removed;
  }
}
