/**
 * The calendar queue pops exactly what a simple model pops: random interleavings of pushes
 * (near and far times, equal times, times just inside and outside the ring, big jumps) and pops,
 * with occasional removeWhere, are checked against a sorted-array model ordered by (time, seq).
 * Also: it refuses events in the past and beyond its maximum size.
 */
import t from 'tap';
import fc from 'fast-check';
import { AssertionError } from '../../src/base/index.js';
import { CalendarQueue } from '../../src/runtime/index.js';

interface Ev { time: number; seq: number }

type Op = { op: 'push'; delta: number } | { op: 'pop' } | { op: 'remove'; mod: number };

const delta = fc.oneof(
  fc.constant(0), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 16_000, max: 17_000 }),
  fc.integer({ min: 0, max: 200_000 }), fc.constant(16_383), fc.constant(16_384));
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: delta.map((d) => ({ op: 'push' as const, delta: d })) },
  { weight: 4, arbitrary: fc.constant({ op: 'pop' as const }) },
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 5 }).map((m) => ({ op: 'remove' as const, mod: m })) },
);

t.test('pops in (time, seq) order, like a sorted model, across ring and far heap', async (t) => {
  fc.assert(fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
    const q = new CalendarQueue<Ev>(0, 1_000_000);
    let model: Ev[] = [];
    let now = 0;
    let seq = 0;
    const take = (): boolean => {
      const got = q.pop();
      model.sort((a, b) => a.time - b.time || a.seq - b.seq);
      const want = model.shift();
      if (got !== want) return false;
      if (got !== undefined) now = got.time;
      return true;
    };
    for (const o of ops) {
      if (o.op === 'push') {
        const ev = { time: now + o.delta, seq: seq++ };
        q.push(ev);
        model.push(ev);
      } else if (o.op === 'pop') {
        if (q.peek() !== [...model].sort((a, b) => a.time - b.time || a.seq - b.seq)[0]) return false;
        if (!take()) return false;
      } else {
        const removed = q.removeWhere((e) => e.seq % o.mod === 0);
        const before = model.length;
        model = model.filter((e) => e.seq % o.mod !== 0);
        if (removed !== before - model.length) return false;
      }
      if (q.size !== model.length) return false;
    }
    while (model.length > 0) if (!take()) return false;
    return q.pop() === undefined;
  }), { numRuns: 300 });
  t.pass('property held');
});

t.test('events in the past, fractional times and overflow are refused', async (t) => {
  const q = new CalendarQueue<Ev>(100, 3);
  t.throws(() => q.push({ time: 99, seq: 0 }), AssertionError);
  t.throws(() => q.push({ time: 100.5, seq: 0 }), AssertionError);
  q.push({ time: 100, seq: 1 });
  q.push({ time: 1_000_000, seq: 2 });
  q.push({ time: 150, seq: 3 });
  t.throws(() => q.push({ time: 200, seq: 4 }), AssertionError, 'size maximum');
  t.same([q.pop()?.seq, q.pop()?.seq, q.pop()?.seq, q.pop()], [1, 3, 2, undefined]);
  t.throws(() => q.push({ time: 999_999, seq: 5 }), AssertionError, 'the cursor moved on');
});
