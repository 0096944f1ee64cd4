/**
 * Randomness is injected and seeded. The generator is sfc32 seeded through splitmix32: 32-bit
 * integer arithmetic only (Math.imul, >>> 0), so a seed gives the same sequence on every
 * platform and Node version. Not for secrets.
 */
import { assert } from './assert.js';

export interface Rng {
  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number;
  /** A float in [0, 1). */
  float(): number;
  /** An integer in [min, max] inclusive. */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** A 64-bit unsigned value as a bigint. */
  u64(): bigint;
  /** An independent generator derived from this one (for a member, an actor, a fault stream). */
  fork(): Rng;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class SeededRng implements Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** `seed` is any safe integer; its low 53 bits are mixed into the state. */
  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), `seed must be a safe integer: ${seed}`);
    const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
    const next = splitmix32((seed >>> 0) ^ Math.imul(hi, 0x27d4eb2d));
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    const t = (((a + b) >>> 0) + d) >>> 0;
    this.#d = (d + 1) >>> 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) >>> 0;
    const r = (c << 21) | (c >>> 11);
    this.#c = (r + t) >>> 0;
    return t;
  }

  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  int(min: number, max: number): number {
    assert(Number.isSafeInteger(min) && Number.isSafeInteger(max), 'int bounds must be integers');
    assert(min <= max, `int: min ${min} > max ${max}`);
    const span = max - min + 1;
    if (span <= 0x1_0000_0000) return min + Math.floor(this.float() * span);
    return min + Math.floor((this.u32() * 0x1_0000_0000 + this.u32()) / 2 ** 64 * span);
  }

  chance(p: number): boolean {
    assert(p >= 0 && p <= 1, `chance must be a probability: ${p}`);
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty array');
    return items[this.int(0, items.length - 1)]!;
  }

  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  fork(): Rng {
    return new SeededRng(this.u32() * 0x20_0000 + (this.u32() >>> 11));
  }
}
