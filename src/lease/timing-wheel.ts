/**
 * A hashed timing wheel (Varghese & Lauck, scheme 6): `slotCount` slots, each a doubly linked
 * list of timers, one slot per tick of `tickMs`. A timer due at tick T lives in slot
 * T mod slotCount; a deadline further than one rotation away simply waits in its slot while the
 * wheel goes round (its absolute due tick, not a rounds counter, decides when it fires, so a
 * visit never has to decrement anything). schedule, cancel and reschedule are O(1); advancing
 * costs one step per elapsed tick (or one pass over every slot when more than a rotation has
 * elapsed) plus the timers it fires or passes over.
 *
 * Rules the wheel guarantees, and the property test in test/lease/timing-wheel.test.ts checks
 * against a scanning model:
 * - never early: a timer fires only in an `advance(nowMs)` with deadlineMs <= nowMs;
 * - never missed: every live timer with deadlineMs <= nowMs fires in that advance;
 * - bounded lateness: when advance is called at least once per tick, a timer fires at most one
 *   tick after its deadline;
 * - once: a timer fires at most once per schedule, and never after cancel.
 *
 * Time is whatever the caller says it is: the wheel never reads a clock.
 */
import { assert } from '../base/index.js';

/** A scheduled timer. Opaque to callers except for its payload; reuse it to reschedule. */
export class Timer<T> {
  readonly payload: T;
  /** @internal */ deadlineMs = 0;
  /** @internal */ dueTick = 0;
  /** @internal */ prev: Timer<T> | null = null;
  /** @internal */ next: Timer<T> | null = null;
  /** @internal */ slot = -1;

  constructor(payload: T) {
    this.payload = payload;
  }

  /** Whether the timer is waiting in a wheel. */
  get scheduled(): boolean {
    return this.slot !== -1;
  }

  get deadline(): number {
    return this.deadlineMs;
  }
}

export interface TimingWheelOptions {
  /** Slots in one rotation; a power of two is not required. */
  readonly slotCount: number;
  /** Milliseconds per tick: the resolution of the wheel and its lateness bound. */
  readonly tickMs: number;
  /** Time of the wheel's tick 0 boundary; the wheel starts there. */
  readonly startMs: number;
  /** Timers the wheel may hold at once (a named maximum, like every queue in strata). */
  readonly timersMax: number;
}

/** The overdue list lives in a slot index past the ring. */
const OVERDUE = -2;

export class TimingWheel<T> {
  readonly slotCount: number;
  readonly tickMs: number;
  readonly timersMax: number;
  readonly #heads: (Timer<T> | null)[];
  /** Timers scheduled with a deadline at or before the last processed tick. */
  #overdue: Timer<T> | null = null;
  /** The last tick whose slot has been processed. */
  #tick: number;
  #size = 0;

  constructor(options: TimingWheelOptions) {
    assert(Number.isSafeInteger(options.slotCount), 'slotCount must be an integer');
    assert(options.slotCount >= 1, 'slotCount must be at least 1');
    assert(Number.isFinite(options.tickMs), 'tickMs must be finite');
    assert(options.tickMs > 0, 'tickMs must be positive');
    assert(Number.isFinite(options.startMs), 'startMs must be finite');
    assert(Number.isSafeInteger(options.timersMax), 'timersMax must be an integer');
    assert(options.timersMax >= 1, 'timersMax must be at least 1');
    this.slotCount = options.slotCount;
    this.tickMs = options.tickMs;
    this.timersMax = options.timersMax;
    this.#heads = new Array<Timer<T> | null>(options.slotCount).fill(null);
    this.#tick = Math.floor(options.startMs / options.tickMs);
  }

  /** Timers waiting to fire. */
  get size(): number {
    return this.#size;
  }

  /** The last tick processed; the wheel's notion of now, in ticks. */
  get currentTick(): number {
    return this.#tick;
  }

  /** Creates a timer for `payload` and schedules it at `deadlineMs`. */
  schedule(payload: T, deadlineMs: number): Timer<T> {
    const timer = new Timer(payload);
    this.reschedule(timer, deadlineMs);
    return timer;
  }

  /** Moves `timer` to `deadlineMs`, scheduling it if it was not (O(1)). */
  reschedule(timer: Timer<T>, deadlineMs: number): void {
    assert(Number.isFinite(deadlineMs), `deadline must be finite: ${deadlineMs}`);
    if (timer.scheduled) this.#unlink(timer);
    assert(this.#size < this.timersMax, `timing wheel full: ${this.timersMax} timers`);
    // The smallest tick whose start is at or after the deadline: firing at that tick's
    // processing (nowMs >= dueTick * tickMs) can never be early.
    const dueTick = Math.ceil(deadlineMs / this.tickMs);
    timer.deadlineMs = deadlineMs;
    timer.dueTick = dueTick;
    if (dueTick <= this.#tick) this.#link(timer, OVERDUE);
    else this.#link(timer, dueTick % this.slotCount);
  }

  /** Removes `timer` from the wheel; a no-op if it is not scheduled (O(1)). */
  cancel(timer: Timer<T>): void {
    if (timer.scheduled) this.#unlink(timer);
  }

  /**
   * Processes every tick up to floor(nowMs / tickMs) and returns the payloads of the timers
   * that fired, at most `firedMax` of them (a due timer beyond that stays scheduled and fires
   * in a later advance). Fired timers are unscheduled and may be rescheduled by the caller.
   * The order of the returned payloads is by tick, and arbitrary within a tick.
   */
  advance(nowMs: number, firedMax = Number.MAX_SAFE_INTEGER): T[] {
    assert(Number.isFinite(nowMs), `now must be finite: ${nowMs}`);
    const fired: T[] = [];
    const target = Math.floor(nowMs / this.tickMs);
    this.#drainOverdue(fired, firedMax);
    if (target <= this.#tick) return fired;
    if (this.#size === 0) {
      this.#tick = target;
      return fired;
    }
    if (target - this.#tick >= this.slotCount) {
      // More than a rotation has passed: one pass over every slot, firing by absolute tick.
      for (let s = 0; s < this.slotCount; s++) this.#fireSlot(s, target, fired, firedMax);
    } else {
      for (let t = this.#tick + 1; t <= target; t++) {
        this.#fireSlot(t % this.slotCount, t, fired, firedMax);
      }
    }
    if (fired.length >= firedMax) this.#spillDue(target);
    this.#tick = target;
    return fired;
  }

  #drainOverdue(fired: T[], firedMax: number): void {
    while (this.#overdue !== null && fired.length < firedMax) {
      const timer = this.#overdue;
      this.#unlink(timer);
      fired.push(timer.payload);
    }
  }

  #fireSlot(slot: number, upToTick: number, fired: T[], firedMax: number): void {
    let timer = this.#heads[slot] ?? null;
    while (timer !== null && fired.length < firedMax) {
      const next = timer.next;
      if (timer.dueTick <= upToTick) {
        this.#unlink(timer);
        fired.push(timer.payload);
      }
      timer = next;
    }
  }

  /**
   * After hitting firedMax, due timers may remain in slots the wheel is about to leave behind;
   * they move to the overdue list so the next advance fires them first, whatever its time.
   */
  #spillDue(target: number): void {
    const from = Math.max(this.#tick + 1, target - this.slotCount + 1);
    const passes = Math.min(this.slotCount, target - this.#tick);
    for (let i = 0; i < passes; i++) {
      const slot = (from + i) % this.slotCount;
      let timer = this.#heads[slot] ?? null;
      while (timer !== null) {
        const next = timer.next;
        if (timer.dueTick <= target) {
          this.#unlink(timer);
          this.#link(timer, OVERDUE);
        }
        timer = next;
      }
    }
  }

  #link(timer: Timer<T>, slot: number): void {
    const head = slot === OVERDUE ? this.#overdue : (this.#heads[slot] ?? null);
    timer.prev = null;
    timer.next = head;
    if (head !== null) head.prev = timer;
    if (slot === OVERDUE) this.#overdue = timer;
    else this.#heads[slot] = timer;
    timer.slot = slot;
    this.#size++;
  }

  #unlink(timer: Timer<T>): void {
    assert(timer.scheduled, 'unlinking a timer that is not scheduled');
    if (timer.prev !== null) timer.prev.next = timer.next;
    else if (timer.slot === OVERDUE) this.#overdue = timer.next;
    else this.#heads[timer.slot] = timer.next;
    if (timer.next !== null) timer.next.prev = timer.prev;
    timer.prev = null;
    timer.next = null;
    timer.slot = -1;
    this.#size--;
    assert(this.#size >= 0, 'timing wheel size went negative');
  }
}
