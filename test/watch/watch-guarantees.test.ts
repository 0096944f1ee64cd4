/**
 * etcd's watch guarantees, checked by the named checkers (ordered, unique, atomic, reliable,
 * resumable, prev_kv correct, bookmarkable) on histories recorded from randomized runs. A seeded
 * driver interleaves writes, creates (every range shape, past/future/compacted starts, filters,
 * prev_kv, fragment, progress_notify, explicit ids, end revisions, several ranges), cancels,
 * progress requests, ticks, partial drains with late acknowledgements (slow consumers against
 * tiny buffers), compactions, resumes and stream closes; then it settles the hub and checks every
 * watcher against a MemoryHistory model fed from the same batches. Seeds come from fast-check
 * (which shrinks the step count on failure) and from a fixed list; a failure prints its seed.
 */
import t from 'tap';
import fc from 'fast-check';
import { prefixEnd, utf8 } from '../../src/base/index.js';
import type { RecordedWatch } from '../../src/watch/index.js';
import { Harness } from './harness.js';
import { runScenario, tally } from './scenario.js';

t.test('every guarantee holds on fast-check-chosen seeded runs', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 400 }),
    (seed, steps) => {
      const violations = runScenario(seed, steps);
      if (violations.length > 0) throw new Error(violations.slice(0, 5).join('\n'));
    }), { numRuns: 150, seed: 7_140_001 });
  t.pass('150 runs, no violation');
});

t.test('every guarantee holds on long fixed seeds', async (t) => {
  for (const seed of [1, 2, 3, 42, 1234, 99_999]) {
    t.same(runScenario(seed, 2_000), [], `seed ${seed}`);
  }
  // The runs reached every path the guarantees are about.
  for (const [what, n] of Object.entries(tally)) t.ok(n > 0, `runs exercised ${what}: ${n}`);
});

t.test('the checkers catch broken histories (they can fail)', async (t) => {
  const { HistoryModel, checkOrdered, checkUnique, checkAtomic, checkReliable, checkPrevKv,
    checkBookmarkable, checkResumable } = await import('../../src/watch/index.js');
  const h = new Harness();
  h.open(1);
  const w = h.create(1, { key: utf8('a'), rangeEnd: prefixEnd(utf8('a')) })!;
  h.commit([{ put: 'a1' }, { put: 'a2' }]);
  h.commit([{ put: 'a1' }]);
  h.commit([{ put: 'a3' }]);
  h.settle();
  const model = new HistoryModel(h.store.batches);
  t.same(h.violations(), [], 'the real run is clean');
  const [r1, r2, r3] = w.responses;
  const mutate = (responses: typeof w.responses): RecordedWatch => ({ ...w, responses });
  t.ok(checkOrdered(mutate([r2!, r1!, r3!]), model).length > 0, 'ordered catches a swap');
  t.ok(checkUnique(mutate([r1!, r2!, r2!, r3!])).length > 0, 'unique catches a repeat');
  const half = { ...r1!, events: r1!.events.slice(0, 1) };
  const rest = { ...r1!, events: r1!.events.slice(1) };
  t.ok(checkAtomic(mutate([half, rest, r2!, r3!]), model).length > 0, 'atomic catches a split');
  t.ok(checkReliable(mutate([r1!, r3!]), model, 3).length > 0, 'reliable catches a gap');
  const withPrev = { ...r2!, events: [{ ...r2!.events[0]!, prevKv: r2!.events[0]!.kv }] };
  t.ok(checkPrevKv(mutate([r1!, withPrev, r3!]), model).length > 0, 'prev_kv catches extras');
  const progress = { ...r1!, events: [], headerRevision: 2 };
  t.ok(checkBookmarkable(mutate([r1!, progress, r2!, r3!])).length > 0,
    'bookmarkable catches a progress ahead of an event');
  const resumed: RecordedWatch = { ...w, request: { ...w.request, startRevision: 2 },
    responses: [r3!] };
  t.ok(checkResumable(w, resumed).length > 0, 'resumable catches a missing event');
});

t.test('a seed replays exactly: the same run gives the same responses', async (t) => {
  const digest = (seed: number): string => {
    let out = '';
    runScenario(seed, 600, (h) => {
      out = JSON.stringify(h.recorder.watches, (_, v: unknown) =>
        v instanceof Uint8Array ? Buffer.from(v).toString('hex')
          : typeof v === 'bigint' ? v.toString() : v);
    });
    return out;
  };
  const a = digest(77);
  t.ok(a.length > 1_000, 'the run recorded responses');
  t.equal(digest(77), a);
  t.not(digest(78), a, 'another seed gives another run');
});
