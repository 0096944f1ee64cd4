/**
 * The bench's HDR-style histogram: every percentile it reports is within its promised relative
 * error of the exact percentile got by sorting the same values (property test, fast-check), a
 * merge of two histograms answers as one histogram of all the values, and min / max / mean /
 * total are exact.
 */
import t from 'tap';
import fc from 'fast-check';
import { Histogram } from '../../src/cli/bench/histogram.js';

function exactQuantile(sorted: readonly number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] ?? 0;
}

const values = fc.array(fc.oneof(
  fc.integer({ min: 0, max: 5000 }),
  fc.integer({ min: 0, max: 2 ** 40 - 1 }),
  fc.integer({ min: 50_000, max: 5_000_000 }),
), { minLength: 1, maxLength: 400 });
const quantiles = [0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1];

t.test('each quantile is the exact one rounded down by at most 1/h of it', async (t) => {
  for (const bits of [4, 11]) {
    const h = 2 ** (bits - 1);
    fc.assert(fc.property(values, (vs) => {
      const hist = new Histogram(bits);
      for (const v of vs) hist.record(v);
      const sorted = [...vs].sort((a, b) => a - b);
      for (const q of quantiles) {
        const got = hist.quantile(q);
        const exact = exactQuantile(sorted, q);
        if (!(got <= exact && exact <= got * (1 + 1 / h))) {
          throw new Error(`bits ${bits} q ${q}: got ${got}, exact ${exact}`);
        }
      }
      return true;
    }), { numRuns: 200 });
  }
  t.pass('quantiles within bounds');
});

t.test('min, max, mean and total are exact; small values are exact', async (t) => {
  const hist = new Histogram();
  for (const v of [7, 3, 1000, 3, 12]) hist.record(v);
  t.equal(hist.total, 5);
  t.equal(hist.min, 3);
  t.equal(hist.max, 1000);
  t.equal(hist.mean, (7 + 3 + 1000 + 3 + 12) / 5);
  t.equal(hist.quantile(0.5), 7);
  t.equal(hist.quantile(0.2), 3);
  t.equal(hist.quantile(1), 1000);
  const empty = new Histogram();
  t.equal(empty.quantile(0.99), 0);
  t.equal(empty.min, 0);
});

t.test('values are floored and clamped into range', async (t) => {
  const hist = new Histogram();
  hist.record(-5);
  hist.record(2.9);
  hist.record(2 ** 60);
  t.equal(hist.min, 0);
  t.equal(hist.quantile(0.5), 2);
  t.equal(hist.max, 2 ** 40 - 1);
  t.throws(() => hist.record(Number.NaN));
});

t.test('merging equals recording everything in one histogram', async (t) => {
  fc.assert(fc.property(values, values, (a, b) => {
    const ha = new Histogram();
    const hb = new Histogram();
    const all = new Histogram();
    for (const v of a) { ha.record(v); all.record(v); }
    for (const v of b) { hb.record(v); all.record(v); }
    const viaSnapshot = Histogram.fromSnapshot(structuredClone(ha.snapshot()));
    viaSnapshot.merge(structuredClone(hb.snapshot()));
    ha.merge(hb);
    for (const merged of [ha, viaSnapshot]) {
      if (merged.total !== all.total || merged.min !== all.min || merged.max !== all.max) return false;
      if (merged.mean !== all.mean) return false;
      for (const q of quantiles) if (merged.quantile(q) !== all.quantile(q)) return false;
    }
    return true;
  }), { numRuns: 100 });
  t.throws(() => new Histogram(11).merge(new Histogram(10)), /precision/);
});
