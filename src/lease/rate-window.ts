/**
 * A sliding-window rate limit: at most `eventsMax` events in any window of `windowMs`
 * (an event at time e counts for every window (t - windowMs, t] that contains it). It keeps
 * the times of the last `eventsMax` events in a ring, so a check and a record are O(1).
 * Time comes from the caller and must not go back.
 */
import { assert } from '../base/index.js';

export class RateWindow {
  readonly eventsMax: number;
  readonly windowMs: number;
  readonly #times: Float64Array;
  /** Index of the oldest recorded event. */
  #head = 0;
  #count = 0;
  #lastMs = -Infinity;

  constructor(eventsMax: number, windowMs: number) {
    assert(Number.isSafeInteger(eventsMax), 'eventsMax must be an integer');
    assert(eventsMax >= 1, 'eventsMax must be at least 1');
    assert(windowMs > 0, 'windowMs must be positive');
    this.eventsMax = eventsMax;
    this.windowMs = windowMs;
    this.#times = new Float64Array(eventsMax);
  }

  /** Whether one more event at `nowMs` stays within the limit. */
  allows(nowMs: number): boolean {
    if (this.#count < this.eventsMax) return true;
    return this.#times[this.#head]! <= nowMs - this.windowMs;
  }

  /** Records an event at `nowMs`; the caller checked `allows(nowMs)`. */
  record(nowMs: number): void {
    assert(nowMs >= this.#lastMs, `rate window time went back: ${this.#lastMs} -> ${nowMs}`);
    assert(this.allows(nowMs), 'rate window exceeded');
    this.#lastMs = nowMs;
    if (this.#count < this.eventsMax) {
      this.#times[(this.#head + this.#count) % this.eventsMax] = nowMs;
      this.#count++;
    } else {
      this.#times[this.#head] = nowMs;
      this.#head = (this.#head + 1) % this.eventsMax;
    }
  }
}
