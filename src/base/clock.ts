/**
 * Time is injected. A core never reads an ambient clock; it is given a Clock (or ticks). The
 * real clock lives in src/runtime/node (SystemClock); the simulator drives a SimClock.
 */
import { assert } from './assert.js';

export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin; may be fractional. */
  now(): number;
}

/** A virtual clock that only moves when told to. */
export class SimClock implements Clock {
  #nowMs: number;

  constructor(startMs = 0) {
    assert(Number.isFinite(startMs), 'SimClock start must be finite');
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  /** Moves time forward by `ms` (never back). */
  advance(ms: number): void {
    assert(ms >= 0, `SimClock cannot go back: ${ms}`);
    this.#nowMs += ms;
  }

  /** Sets the time to `ms`, which must not be earlier than now. */
  set(ms: number): void {
    // Called once per simulated event: the message is built only on failure.
    if (!(ms >= this.#nowMs)) assert(false, `SimClock cannot go back from ${this.#nowMs} to ${ms}`);
    this.#nowMs = ms;
  }
}
