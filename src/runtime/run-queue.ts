/**
 * A FIFO of (target, message) pairs in two parallel ring arrays, so enqueueing a message
 * allocates nothing (the rings double when full, up to a named maximum). A thread host keeps one
 * per thread: a single FIFO for all local actors keeps every link's order and costs no
 * per-actor queue.
 */
import { assert } from '../base/index.js';

export class RunQueue<Target, Item> {
  #targets: (Target | undefined)[];
  #items: (Item | undefined)[];
  #head = 0;
  #length = 0;
  readonly #capacityMax: number;

  constructor(capacityMax: number, initialCapacity = 1_024) {
    assert(capacityMax >= initialCapacity, 'RunQueue capacityMax below its initial capacity');
    assert((initialCapacity & (initialCapacity - 1)) === 0, 'RunQueue capacity must be a power of 2');
    this.#capacityMax = capacityMax;
    this.#targets = new Array<Target | undefined>(initialCapacity).fill(undefined);
    this.#items = new Array<Item | undefined>(initialCapacity).fill(undefined);
  }

  get length(): number {
    return this.#length;
  }

  push(target: Target, item: Item): void {
    if (this.#length === this.#targets.length) this.#grow();
    const at = (this.#head + this.#length) & (this.#targets.length - 1);
    this.#targets[at] = target;
    this.#items[at] = item;
    this.#length++;
  }

  /** The target at the head; undefined when empty. Call `shiftItem` next to take its item. */
  peekTarget(): Target | undefined {
    return this.#length === 0 ? undefined : this.#targets[this.#head];
  }

  /** Removes the head pair and returns its item (the queue must not be empty). */
  shiftItem(): Item {
    assert(this.#length > 0, 'RunQueue.shiftItem on an empty queue');
    const at = this.#head;
    const item = this.#items[at] as Item;
    this.#targets[at] = undefined;
    this.#items[at] = undefined;
    this.#head = (at + 1) & (this.#targets.length - 1);
    this.#length--;
    return item;
  }

  clear(): void {
    this.#targets.fill(undefined);
    this.#items.fill(undefined);
    this.#head = 0;
    this.#length = 0;
  }

  #grow(): void {
    const size = this.#targets.length;
    assert(size * 2 <= this.#capacityMax, `run queue full (${this.#capacityMax} messages)`);
    const targets = new Array<Target | undefined>(size * 2).fill(undefined);
    const items = new Array<Item | undefined>(size * 2).fill(undefined);
    for (let i = 0; i < this.#length; i++) {
      const from = (this.#head + i) & (size - 1);
      targets[i] = this.#targets[from];
      items[i] = this.#items[from];
    }
    this.#targets = targets;
    this.#items = items;
    this.#head = 0;
  }
}
