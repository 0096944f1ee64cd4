/**
 * KeyMatchIndex against a linear scan with the plain range definition (rangeContains): fast-check
 * generates interleavings of adds (exact keys, prefixes, [key, end), key.. with "\0", keys full of
 * 0x00 and 0xff bytes) and removes, and after each step the index must report, for random probe
 * keys, exactly the multiset of registrations the scan finds. Also pins the range shapes and
 * shows that a query's work does not grow with unrelated ranges.
 */
import t from 'tap';
import fc from 'fast-check';
import { SeededRng, ZERO_BYTE, prefixEnd, toHex, utf8 } from '../../src/base/index.js';
import {
  KeyMatchIndex, type MatchEntry, hashBytes, normalizeRange, rangeContains, shapeOf,
} from '../../src/watch/index.js';
import type { KeyRange } from '../../src/watch/index.js';

const byteArb = fc.constantFrom(0x00, 0x01, 0x61, 0x62, 0x7f, 0x80, 0xfe, 0xff);
const keyArb = fc.array(byteArb, { minLength: 0, maxLength: 4 }).map((a) => Uint8Array.from(a));
const rangeArb: fc.Arbitrary<KeyRange> = fc.oneof(
  keyArb.map((key) => normalizeRange(key, undefined)),
  keyArb.map((key) => normalizeRange(key, prefixEnd(key.length === 0 ? ZERO_BYTE : key))),
  keyArb.map((key) => normalizeRange(key, ZERO_BYTE)),
  fc.tuple(keyArb, keyArb).map(([a, b]) => normalizeRange(a, b)),
);
type Step = { add: KeyRange } | { remove: number } | { probe: Uint8Array };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: rangeArb.map((add) => ({ add })) },
  { weight: 1, arbitrary: fc.nat(1000).map((remove) => ({ remove })) },
  { weight: 3, arbitrary: keyArb.map((probe) => ({ probe })) },
);

t.test('the index reports exactly the ranges a linear scan finds, through adds and removes',
  async (t) => {
    fc.assert(fc.property(fc.array(stepArb, { maxLength: 120 }), (steps) => {
      const index = new KeyMatchIndex<number>();
      const live: { id: number; range: KeyRange; entry: MatchEntry<number> }[] = [];
      let nextId = 0;
      for (const step of steps) {
        if ('add' in step) {
          const id = nextId++;
          live.push({ id, range: step.add, entry: index.add(shapeOf(step.add), id) });
        } else if ('remove' in step) {
          if (live.length === 0) continue;
          const [gone] = live.splice(step.remove % live.length, 1);
          index.remove(gone!.entry);
        } else {
          const got: number[] = [];
          index.match(step.probe, (id) => got.push(id));
          const want = live.filter((l) => rangeContains(l.range, step.probe)).map((l) => l.id);
          if (got.sort((a, b) => a - b).join() !== want.sort((a, b) => a - b).join()) {
            throw new Error(`probe ${toHex(step.probe)}: got ${got} want ${want}`);
          }
        }
        if (index.size !== live.length) throw new Error('size drifted');
      }
    }), { numRuns: 300, seed: 20_261_125 });
    t.pass('index agreed with the scan');
  });

t.test('range shapes: exact, prefix, unbounded and plain intervals', async (t) => {
  const k = utf8;
  t.same(shapeOf(normalizeRange(k('a'), undefined)).kind, 'exact');
  t.same(shapeOf(normalizeRange(k('a'), k('b'))).kind, 'prefix');
  t.same(shapeOf(normalizeRange(k('a'), k('c'))).kind, 'interval');
  t.same(shapeOf(normalizeRange(k('a'), ZERO_BYTE)),
    { kind: 'interval', start: k('a'), end: null });
  t.same(shapeOf(normalizeRange(new Uint8Array(0), ZERO_BYTE)),
    { kind: 'interval', start: ZERO_BYTE, end: null }, 'empty key is "\\0": every key');
  t.same(shapeOf(normalizeRange(Uint8Array.of(0xff), ZERO_BYTE)).kind, 'interval',
    'prefix 0xff has prefix end "\\0" and is the unbounded range from 0xff');
});

t.test('hash collisions are resolved by comparing bytes', async (t) => {
  // Birthday search over seeded random 6-byte keys for a full 32-bit FNV-1a collision (about
  // 80k keys expected; bounded at 1M).
  const rng = new SeededRng(1);
  const seen = new Map<number, Uint8Array>();
  let pair: [Uint8Array, Uint8Array] | undefined;
  for (let i = 0; i < 1_000_000 && pair === undefined; i++) {
    const key = Uint8Array.from({ length: 6 }, () => rng.int(0, 255));
    const h = hashBytes(key);
    const other = seen.get(h);
    if (other !== undefined) pair = [other, key];
    else seen.set(h, key);
  }
  t.ok(pair !== undefined, 'found two keys with the same hash');
  const [a, b] = pair!;
  t.equal(hashBytes(a), hashBytes(b));
  const index = new KeyMatchIndex<string>();
  index.add(shapeOf(normalizeRange(a, undefined)), 'exact a');
  index.add(shapeOf(normalizeRange(a, prefixEnd(a))), 'prefix a');
  const probe = (key: Uint8Array): string[] => {
    const got: string[] = [];
    index.match(key, (v) => got.push(v));
    return got.sort();
  };
  t.same(probe(b), [], 'the colliding key matches neither');
  t.same(probe(Uint8Array.of(...b, 1)), [], 'nor does a key under the colliding prefix');
  t.same(probe(a), ['exact a', 'prefix a']);
  t.same(probe(Uint8Array.of(...a, 1)), ['prefix a']);
});

t.test('a query examines O(log n) tree nodes and reports only matches among 40k ranges',
  async (t) => {
    // Counted work, not wall-clock time: the index counts the interval-tree nodes it examines.
    const index = new KeyMatchIndex<number>();
    for (let i = 0; i < 20_000; i++) {
      const key = utf8(`/r/${String(i).padStart(6, '0')}`);
      index.add(shapeOf(normalizeRange(key, i % 2 === 0 ? undefined : prefixEnd(key))), i);
      index.add(shapeOf(normalizeRange(key, utf8(`/r/${String(i).padStart(6, '0')}~`))), i);
    }
    let visits = 0;
    const before = index.intervalNodesExamined;
    index.match(utf8('/r/001234/x'), () => visits++);
    t.equal(visits, 1, 'only the interval holding the key');
    const examined = index.intervalNodesExamined - before;
    t.ok(examined <= 8 * Math.log2(20_000), `examined ${examined} of 20000 tree nodes`);
    visits = 0;
    index.match(utf8('/r/001235/x'), () => visits++);
    t.equal(visits, 2, 'the prefix and the interval');
    visits = 0;
    index.match(utf8('/q'), () => visits++);
    t.equal(visits, 0);
  });
