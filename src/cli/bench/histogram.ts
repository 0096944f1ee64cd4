/**
 * A small HDR-style latency histogram: log-linear buckets over non-negative integers (the bench
 * records nanoseconds). Values below 2h (h = 2^(precisionBits-1)) get a bucket each; above that,
 * each power of two is split into h equal buckets, so a bucket's width is at most 1/h of its
 * lowest value. A percentile is reported as the lowest value of the bucket holding that rank
 * (clamped to the recorded min and max), so for the exact value x at that rank,
 * reported <= x <= reported * (1 + 1/h). Histograms with the same shape merge by adding counts,
 * which is how workers' histograms are combined; `counts` is a plain Float64Array so it can be
 * transferred between threads without copying.
 *
 * Why our own and not hdr-histogram-js: the bench needs record / merge / percentile and nothing
 * else; this is about 150 lines with no dependency and is checked against sorting by a property
 * test (test/bench/histogram.test.ts).
 */
import { assert } from '../../base/index.js';

/** Relative precision 1/1024 (about three significant digits, like HdrHistogram's default). */
export const PRECISION_BITS_DEFAULT = 11;
/** Largest recordable value: 2^40 ns is about 18 minutes; larger values are clamped to it. */
export const VALUE_BITS_MAX = 40;

export interface HistogramSnapshot {
  readonly precisionBits: number;
  readonly counts: Float64Array;
  readonly total: number;
  readonly min: number;
  readonly max: number;
  readonly sum: number;
}

export class Histogram {
  readonly precisionBits: number;
  readonly counts: Float64Array;
  readonly #half: number;
  #total = 0;
  #min = Infinity;
  #max = 0;
  #sum = 0;

  constructor(precisionBits = PRECISION_BITS_DEFAULT) {
    assert(Number.isInteger(precisionBits), 'precisionBits must be an integer');
    assert(precisionBits >= 1, `precisionBits below 1: ${precisionBits}`);
    assert(precisionBits <= 16, `precisionBits above 16: ${precisionBits}`);
    this.precisionBits = precisionBits;
    this.#half = 2 ** (precisionBits - 1);
    this.counts = new Float64Array(bucketCount(precisionBits));
  }

  static fromSnapshot(s: HistogramSnapshot): Histogram {
    const h = new Histogram(s.precisionBits);
    assert(s.counts.length === h.counts.length, 'snapshot bucket count does not match its shape');
    h.counts.set(s.counts);
    h.#total = s.total;
    h.#min = s.min;
    h.#max = s.max;
    h.#sum = s.sum;
    return h;
  }

  get total(): number { return this.#total; }
  get min(): number { return this.#total === 0 ? 0 : this.#min; }
  get max(): number { return this.#max; }
  get mean(): number { return this.#total === 0 ? 0 : this.#sum / this.#total; }

  /** Records one value (rounded down to an integer, clamped to [0, 2^VALUE_BITS_MAX - 1]). */
  record(value: number): void {
    assert(!Number.isNaN(value), 'histogram value is NaN');
    const v = Math.min(Math.max(Math.floor(value), 0), 2 ** VALUE_BITS_MAX - 1);
    const i = indexOf(v, this.precisionBits, this.#half);
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.#total++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /** Adds another histogram of the same shape into this one. */
  merge(other: Histogram | HistogramSnapshot): void {
    assert(other.precisionBits === this.precisionBits, 'merging histograms of different precision');
    assert(other.counts.length === this.counts.length, 'merging histograms of different size');
    if (other.total === 0) return;
    for (let i = 0; i < this.counts.length; i++) {
      const c = other.counts[i] ?? 0;
      if (c !== 0) this.counts[i] = (this.counts[i] ?? 0) + c;
    }
    this.#total += other.total;
    this.#sum += other instanceof Histogram ? other.#sum : other.sum;
    this.#min = Math.min(this.#min, other.min);
    this.#max = Math.max(this.#max, other.max);
  }

  /** The value at quantile q in [0, 1] (q = 0.99 is p99); 0 when empty. */
  quantile(q: number): number {
    assert(q >= 0 && q <= 1, `quantile must be in [0, 1]: ${q}`);
    if (this.#total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) {
        const low = lowestOf(i, this.precisionBits, this.#half);
        return Math.min(Math.max(low, this.#min), this.#max);
      }
    }
    assert(false, 'histogram counts sum to less than its total');
  }

  snapshot(): HistogramSnapshot {
    return {
      precisionBits: this.precisionBits, counts: this.counts, total: this.#total,
      min: this.min, max: this.#max, sum: this.#sum,
    };
  }
}

function bucketCount(precisionBits: number): number {
  const half = 2 ** (precisionBits - 1);
  return indexOf(2 ** VALUE_BITS_MAX - 1, precisionBits, half) + 1;
}

/** Position of the highest set bit of a non-negative integer below 2^53. */
function msb(v: number): number {
  if (v < 0x1_0000_0000) return 31 - Math.clz32(v);
  return 32 + 31 - Math.clz32(Math.floor(v / 0x1_0000_0000));
}

function indexOf(v: number, precisionBits: number, half: number): number {
  if (v < 2 * half) return v;
  const shift = msb(v) - precisionBits + 1;
  const top = Math.floor(v / 2 ** shift);
  return half * shift + top;
}

function lowestOf(index: number, precisionBits: number, half: number): number {
  if (index < 2 * half) return index;
  const shift = Math.floor(index / half) - 1;
  const top = index - half * shift;
  assert(top >= half && top < 2 * half, 'bucket index decodes to a sub-bucket in range');
  assert(shift >= 1 && shift + precisionBits - 1 <= VALUE_BITS_MAX, 'bucket shift in range');
  return top * 2 ** shift;
}
