/**
 * Completion: a thenable the simulator settles synchronously. The actor shells chain `then` on
 * what storage returns (RaftStorage.persist, Backend.writeStaged); with a real Promise the chained
 * callback would run in a microtask, outside the simulation's event order. A Completion runs its
 * callbacks at the moment it is settled, which the simulated disk does from one of its scheduled
 * events, so the continuation (say, the raft actor's `raft.persisted` self-message) happens at a
 * virtual time chosen by the seed and nowhere else. A callback that returns a thenable is adopted,
 * as `Promise#then` does, so chains of `then` stay inside the same event.
 *
 * It deliberately does not catch a callback's throw: under simulation a throw is a bug in the
 * actor, and it must surface inside the event that ran it (the host stops that member loudly).
 */
import { assert } from '../base/index.js';

type Settled<T> =
  | { readonly state: 'pending' }
  | { readonly state: 'fulfilled'; readonly value: T }
  | { readonly state: 'rejected'; readonly reason: unknown };

export class Completion<T> implements PromiseLike<T> {
  #settled: Settled<T> = { state: 'pending' };
  #callbacks: (() => void)[] = [];

  /** A completion already fulfilled with `value`. */
  static of<T>(value: T): Completion<T> {
    const c = new Completion<T>();
    c.resolve(value);
    return c;
  }

  get pending(): boolean {
    return this.#settled.state === 'pending';
  }

  resolve(value: T): void {
    this.#settle({ state: 'fulfilled', value });
  }

  reject(reason: unknown): void {
    this.#settle({ state: 'rejected', reason });
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Completion<R1 | R2> {
    const next = new Completion<R1 | R2>();
    const run = (): void => {
      const s = this.#settled;
      if (s.state === 'fulfilled') {
        if (onFulfilled == null) next.resolve(s.value as unknown as R1);
        else next.#adopt(onFulfilled(s.value));
      } else if (s.state === 'rejected') {
        if (onRejected == null) next.reject(s.reason);
        else next.#adopt(onRejected(s.reason));
      }
    };
    if (this.#settled.state === 'pending') this.#callbacks.push(run);
    else run();
    return next;
  }

  #adopt(value: T | PromiseLike<T>): void {
    if (isThenable(value)) value.then((v) => this.resolve(v), (e: unknown) => this.reject(e));
    else this.resolve(value);
  }

  #settle(s: Settled<T>): void {
    assert(this.#settled.state === 'pending', 'a completion settles once');
    this.#settled = s;
    const callbacks = this.#callbacks;
    this.#callbacks = [];
    for (const cb of callbacks) cb();
  }
}

function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
