/**
 * The simulator's event queue: a calendar (bucket) queue over integer times (microseconds),
 * ordered by (time, seq). Times within `SLOTS` of the cursor sit in a ring of FIFO buckets, one
 * per microsecond, with a bitmap of non-empty buckets so finding the next one skips 32 empty
 * buckets per step; later times wait in a binary heap and move into the ring as the cursor comes
 * within reach. Push and pop are O(1) for near events, which is the common case (message
 * delays of microseconds to milliseconds); far events (long timers) pay the heap's O(log n).
 *
 * Order: within a bucket, events are in push order, which is seq order because seq increases
 * with every push and a far event is moved into its bucket before any near event can be pushed
 * there (a time becomes "near" only when the cursor advances, and migration happens right then).
 */
import { assert } from '../base/index.js';
import { EventHeap } from './event-heap.js';
import type { Scheduled } from './event-heap.js';

const SLOTS = 1 << 14;
const MASK = SLOTS - 1;

export class CalendarQueue<T extends Scheduled> {
  readonly #slots: ((T | undefined)[] | undefined)[] = new Array<undefined>(SLOTS).fill(undefined);
  readonly #heads = new Int32Array(SLOTS);
  readonly #bits = new Uint32Array(SLOTS >>> 5);
  readonly #far: EventHeap<T>;
  readonly #sizeMax: number;
  /** The time of the last pop (or the start): no event is earlier, every near one is within SLOTS. */
  #cursor: number;
  #near = 0;

  constructor(startTime: number, sizeMax: number) {
    assert(Number.isSafeInteger(startTime) && startTime >= 0, `start time must be an integer: ${startTime}`);
    this.#cursor = startTime;
    this.#sizeMax = sizeMax;
    this.#far = new EventHeap<T>(sizeMax);
  }

  get size(): number {
    return this.#near + this.#far.size;
  }

  push(event: T): void {
    const time = event.time;
    if (!(Number.isSafeInteger(time) && time >= this.#cursor)) {
      assert(false, `event time ${time} is not an integer at or after ${this.#cursor}`);
    }
    if (this.#near + this.#far.size >= this.#sizeMax) assert(false, `event queue full (${this.#sizeMax})`);
    if (time - this.#cursor < SLOTS) this.#pushNear(event);
    else this.#far.push(event);
  }

  /** The next event, without removing it. */
  peek(): T | undefined {
    if (this.#near === 0) return this.#far.peek();
    const i = this.#nextSlot();
    return this.#slots[i]![this.#heads[i]!];
  }

  pop(): T | undefined {
    if (this.#near === 0) {
      const next = this.#far.peek();
      if (next === undefined) return undefined;
      this.#advanceTo(next.time);
    }
    const i = this.#nextSlot();
    const slot = this.#slots[i]!;
    const head = this.#heads[i]!;
    const event = slot[head]!;
    if (event.time !== this.#cursor) this.#advanceTo(event.time);
    slot[head] = undefined;
    this.#near--;
    if (head + 1 === slot.length) {
      // Emptied with length = 0, so V8 gives it a fresh (young) backing store: reusing a
      // long-lived array would put every new event behind a write barrier (measured slower).
      slot.length = 0;
      this.#heads[i] = 0;
      this.#bits[i >>> 5]! &= ~(1 << (i & 31));
    } else {
      this.#heads[i] = head + 1;
    }
    return event;
  }

  /** Removes every event for which `drop` holds (a member crash); keeps the order of the rest. */
  removeWhere(drop: (event: T) => boolean): number {
    const kept: T[] = [];
    let removed = 0;
    const collect = (event: T): void => {
      if (drop(event)) removed++;
      else kept.push(event);
    };
    for (let i = 0; i < SLOTS; i++) {
      const slot = this.#slots[i];
      if (slot === undefined) continue;
      for (let j = this.#heads[i]!; j < slot.length; j++) collect(slot[j]!);
      slot.length = 0;
      this.#heads[i] = 0;
    }
    this.#bits.fill(0);
    this.#near = 0;
    for (let e = this.#far.pop(); e !== undefined; e = this.#far.pop()) collect(e);
    kept.sort((a, b) => a.time - b.time || a.seq - b.seq);
    for (const event of kept) this.push(event);
    return removed;
  }

  #pushNear(event: T): void {
    const i = event.time & MASK;
    let slot = this.#slots[i];
    if (slot === undefined) {
      slot = [];
      this.#slots[i] = slot;
    }
    slot.push(event);
    this.#bits[i >>> 5]! |= 1 << (i & 31);
    this.#near++;
  }

  /** The ring index of the earliest non-empty bucket (there must be one). */
  #nextSlot(): number {
    let i = this.#cursor & MASK;
    let word = i >>> 5;
    let bits = this.#bits[word]! & (~0 << (i & 31));
    for (let scanned = 0; bits === 0; scanned++) {
      if (scanned > SLOTS >>> 5) assert(false, 'calendar queue bitmap lost its events');
      word = (word + 1) & ((SLOTS >>> 5) - 1);
      bits = this.#bits[word]!;
    }
    i = (word << 5) | (31 - Math.clz32(bits & -bits));
    return i;
  }

  /** Moves the cursor forward to `time` and pulls far events now within reach into the ring. */
  #advanceTo(time: number): void {
    this.#cursor = time;
    const far = this.#far;
    for (let next = far.peek(); next !== undefined && next.time - time < SLOTS; next = far.peek()) {
      this.#pushNear(far.pop()!);
    }
  }
}
