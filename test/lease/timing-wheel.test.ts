/**
 * src/lease timing wheel and its helpers. Proves the wheel's four rules (never early, never
 * missed, fires once, at most one tick late when driven every tick) with a fast-check property
 * against a model that keeps a plain list of deadlines and scans it, over tiny wheels (so
 * deadlines span many rotations and advances jump whole rotations) with cancels, reschedules and
 * a cap on timers fired per advance. Also checks the indexed deadline heap against a sort, the
 * sliding-window rate limit against a scan of recorded times, and etcd's lease id layout.
 */
import t from 'tap';
import fc from 'fast-check';
import { AssertionError, memberId } from '../../src/base/index.js';
import { LeaseIdGenerator, RateWindow, TimingWheel } from '../../src/lease/index.js';
import type { Timer } from '../../src/lease/index.js';
import { DeadlineHeap } from '../../src/lease/deadline-heap.js';
import type { HeapItem } from '../../src/lease/deadline-heap.js';

const wheel = (slotCount: number, tickMs: number, startMs = 0): TimingWheel<number> =>
  new TimingWheel<number>({ slotCount, tickMs, startMs, timersMax: 1_000_000 });

t.test('a timer fires at the first tick boundary at or after its deadline, not before', async (t) => {
  const w = wheel(8, 10);
  w.schedule(1, 25);
  t.same(w.advance(29), [], 'tick 2 (20 ms) is before the deadline');
  t.same(w.advance(30), [1], 'tick 3 (30 ms) is the first boundary at or after 25 ms');
  t.equal(w.size, 0);
});

t.test('a deadline several rotations away waits its rounds', async (t) => {
  const w = wheel(4, 10); // one rotation = 40 ms
  w.schedule(7, 1_000);
  for (let now = 10; now < 1_000; now += 10) t.same(w.advance(now), [], `nothing at ${now}`);
  t.same(w.advance(1_000), [7]);
});

t.test('an advance of many rotations at once fires every due timer and only those', async (t) => {
  const w = wheel(4, 10);
  for (let i = 0; i < 100; i++) w.schedule(i, 15 + i * 7);
  const fired = w.advance(400).sort((a, b) => a - b);
  const expected = [...Array(100).keys()].filter((i) => 15 + i * 7 <= 400);
  t.same(fired, expected);
  t.equal(w.size, 100 - expected.length);
});

t.test('cancel removes a timer and reschedule moves it, both O(1) on the same handle', async (t) => {
  const w = wheel(8, 10);
  const a = w.schedule(1, 50);
  const b = w.schedule(2, 50);
  w.cancel(a);
  w.cancel(a); // cancelling twice is harmless
  w.reschedule(b, 120);
  t.same(w.advance(100), []);
  t.same(w.advance(120), [2]);
  t.notOk(b.scheduled, 'a fired timer is no longer scheduled');
  w.reschedule(b, 130); // a fired timer can be reused
  t.same(w.advance(130), [2]);
});

t.test('a deadline already passed fires at the next advance', async (t) => {
  const w = wheel(8, 10);
  w.advance(100);
  w.schedule(3, 40);
  t.same(w.advance(100), [3], 'same time: overdue timers still fire');
});

t.test('firedMax caps one advance and the rest fire first in the next', async (t) => {
  const w = wheel(8, 10);
  for (let i = 0; i < 10; i++) w.schedule(i, 10 + i);
  const first = w.advance(100, 4);
  t.equal(first.length, 4);
  const second = w.advance(100, 100);
  t.equal(second.length, 6);
  t.same([...first, ...second].sort((a, b) => a - b), [...Array(10).keys()]);
});

t.test('the wheel refuses more timers than timersMax', async (t) => {
  const w = new TimingWheel<number>({ slotCount: 4, tickMs: 1, startMs: 0, timersMax: 2 });
  w.schedule(1, 5);
  w.schedule(2, 5);
  t.throws(() => w.schedule(3, 5), AssertionError);
});

type WheelOp =
  | { op: 'schedule'; offsetMs: number }
  | { op: 'cancel'; pick: number }
  | { op: 'reschedule'; pick: number; offsetMs: number }
  | { op: 'advance'; byMs: number; firedMax: number };

const wheelOp: fc.Arbitrary<WheelOp> = fc.oneof(
  fc.record({ op: fc.constant('schedule' as const), offsetMs: fc.integer({ min: -30, max: 900 }) }),
  fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }),
  fc.record({
    op: fc.constant('reschedule' as const), pick: fc.nat(), offsetMs: fc.integer({ min: -30, max: 900 }),
  }),
  fc.record({
    op: fc.constant('advance' as const), byMs: fc.integer({ min: 0, max: 400 }),
    firedMax: fc.oneof(fc.constant(Number.MAX_SAFE_INTEGER), fc.integer({ min: 1, max: 5 })),
  }),
);

t.test('the wheel fires exactly the timers a scanning model says are due: never early, never missed, once', async (t) => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 20 }), fc.array(wheelOp, { maxLength: 120 }),
    (slotCount, tickMs, ops) => {
      const w = wheel(slotCount, tickMs);
      const model = new Map<number, number>(); // live timer id -> deadline
      const handles = new Map<number, Timer<number>>();
      let now = 0;
      let nextId = 0;
      const live = (): number[] => [...model.keys()];
      for (const o of ops) {
        if (o.op === 'schedule') {
          const id = nextId++;
          handles.set(id, w.schedule(id, now + o.offsetMs));
          model.set(id, now + o.offsetMs);
        } else if (o.op === 'cancel' || o.op === 'reschedule') {
          const ids = [...handles.keys()];
          if (ids.length === 0) continue;
          const id = ids[o.pick % ids.length]!;
          const h = handles.get(id)!;
          if (o.op === 'cancel') {
            w.cancel(h);
            model.delete(id);
          } else {
            w.reschedule(h, now + o.offsetMs);
            model.set(id, now + o.offsetMs);
          }
        } else {
          now += o.byMs;
          const nowTick = Math.floor(now / tickMs);
          const due = live().filter((id) => Math.ceil(model.get(id)! / tickMs) <= nowTick);
          const fired = w.advance(now, o.firedMax);
          if (fired.length !== Math.min(o.firedMax, due.length)) return false; // missed or capped wrong
          if (new Set(fired).size !== fired.length) return false; // fired twice
          for (const id of fired) {
            if (!due.includes(id)) return false;
            if (model.get(id)! > now) return false; // early
            model.delete(id);
          }
        }
        if (w.size !== model.size) return false;
      }
      return true;
    },
  ), { numRuns: 400 });
  t.pass('property held');
});

t.test('driven every tick, a timer fires less than one tick after its deadline', async (t) => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 50 }),
    fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 200 }),
    (slotCount, tickMs, deadlines) => {
      const w = wheel(slotCount, tickMs);
      deadlines.forEach((d, i) => w.schedule(i, d));
      const firedAt = new Map<number, number>();
      for (let now = 0; firedAt.size < deadlines.length; now += tickMs) {
        for (const id of w.advance(now)) firedAt.set(id, now);
      }
      return deadlines.every((d, i) => {
        const at = firedAt.get(i)!;
        return at >= d && at - d < tickMs;
      });
    },
  ), { numRuns: 200 });
  t.pass('property held');
});

interface Item extends HeapItem {
  readonly n: number;
}

t.test('the deadline heap pops by (deadline, tie-break) and removes from the middle', async (t) => {
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), fc.array(fc.nat(), { maxLength: 50 }),
    (deadlines, removals) => {
      const heap = new DeadlineHeap<Item>(1_000, (a, b) => a.n - b.n);
      const items: Item[] = deadlines.map((d, n) => ({ heapIndex: -1, heapDeadlineMs: d, n }));
      for (const it of items) heap.push(it);
      const removed = new Set<number>();
      for (const r of removals) {
        if (items.length === 0) break;
        const it = items[r % items.length]!;
        if (it.heapIndex === -1) continue;
        heap.remove(it);
        removed.add(it.n);
      }
      const expected = items.filter((i) => !removed.has(i.n))
        .sort((a, b) => a.heapDeadlineMs - b.heapDeadlineMs || a.n - b.n).map((i) => i.n);
      const popped: number[] = [];
      for (let it = heap.pop(); it !== undefined; it = heap.pop()) popped.push(it.n);
      return JSON.stringify(popped) === JSON.stringify(expected);
    },
  ));
  t.pass('property held');
});

t.test('the rate window allows at most eventsMax events in any window', async (t) => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 10 }), fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 300 }),
    (eventsMax, gaps) => {
      const rw = new RateWindow(eventsMax, 1_000);
      const times: number[] = [];
      let now = 0;
      for (const g of gaps) {
        now += g;
        const inWindow = times.filter((e) => e > now - 1_000).length;
        if (rw.allows(now) !== inWindow < eventsMax) return false;
        if (rw.allows(now)) {
          rw.record(now);
          times.push(now);
        }
      }
      return true;
    },
  ));
  t.pass('property held');
});

t.test('server-chosen lease ids follow etcd idutil: member bits, time, counter; positive, unique', async (t) => {
  const member = memberId(0x8e9e05c52164694dn);
  const startMs = 1_700_000_000_123;
  const gen = new LeaseIdGenerator(member, startMs);
  const first = gen.next();
  const expected = (0x694dn << 48n) | (((BigInt(startMs) & ((1n << 40n) - 1n)) << 8n) + 1n);
  t.equal(first, expected & ((1n << 63n) - 1n));
  const seen = new Set<bigint>([first]);
  let nonPositive = 0;
  for (let i = 0; i < 10_000; i++) {
    const id = gen.next();
    if (id <= 0n) nonPositive++;
    seen.add(id);
  }
  t.equal(nonPositive, 0, 'every id is a positive int64');
  t.equal(seen.size, 10_001, 'no repeats');
  const top = new LeaseIdGenerator(memberId(0xffffn), 0);
  t.ok(top.next() > 0n, 'a member id with the top bit set still yields a positive int64');
});
