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
  /**
   * sfc32's four words. A Uint32Array rather than four fields: V8 boxes a field holding an
   * unsigned 32-bit value above 2^30 in a heap number, so each draw allocated; a typed array
   * stores the words unboxed. The arithmetic (and so every sequence) is unchanged.
   */
  readonly #s = new Uint32Array(4);

  /** `seed` is any safe integer; its low 53 bits are mixed into the state. */
  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), `seed must be a safe integer: ${seed}`);
    const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
    const next = splitmix32((seed >>> 0) ^ Math.imul(hi, 0x27d4eb2d));
    const s = this.#s;
    s[0] = next();
    s[1] = next();
    s[2] = next();
    s[3] = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const s = this.#s;
    const a = s[0]!, b = s[1]!, c = s[2]!, d = s[3]!;
    const t = (((a + b) >>> 0) + d) >>> 0;
    s[3] = d + 1;
    s[0] = b ^ (b >>> 9);
    s[1] = c + (c << 3);
    const r = (c << 21) | (c >>> 11);
    s[2] = r + t;
    return t;
  }

  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  int(min: number, max: number): number {
    assert(Number.isSafeInteger(min) && Number.isSafeInteger(max), 'int bounds must be integers');
    // Hot path (per simulated message): the message is built only on failure.
    if (!(min <= max)) assert(false, `int: min ${min} > max ${max}`);
    const span = max - min + 1;
    if (span <= 0x1_0000_0000) return min + Math.floor(this.float() * span);
    return min + Math.floor((this.u32() * 0x1_0000_0000 + this.u32()) / 2 ** 64 * span);
  }

  chance(p: number): boolean {
    if (!(p >= 0 && p <= 1)) assert(false, `chance must be a probability: ${p}`);
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
