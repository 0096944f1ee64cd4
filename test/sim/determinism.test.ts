/**
 * The same seed gives the same run: two runs of one plan give the same trace hash, history and
 * verdict; different seeds give different hashes; a plan that went through JSON (a failure file)
 * replays to the same hash. Hashes are platform-independent (seeded sfc32, canonical encoding of
 * every delivery), so a seed's hash is the same on every machine running the same code. A
 * 1-member cluster (crashes only) runs and passes too.
 */
import t from 'tap';
import { DEFAULT_OPTIONS, planOf, runPlan, type Plan } from '../../src/sim/index.js';

t.test('one seed, one run: identical trace hash, history and verdict', async (t) => {
  const plan = planOf({ ...DEFAULT_OPTIONS, seed: 11 });
  const a = await runPlan(plan);
  const b = await runPlan(plan);
  t.equal(a.traceHash, b.traceHash);
  t.same(a.history, b.history);
  t.same(a.events, b.events);
  t.equal(a.deliveries, b.deliveries);
  t.ok(a.deliveries > 1_000, 'a real run');
});

t.test('different seeds, different runs', async (t) => {
  const hashes = new Set<string>();
  for (const seed of [1, 2, 3]) hashes.add((await runPlan(planOf({ ...DEFAULT_OPTIONS, seed }))).traceHash);
  t.equal(hashes.size, 3);
});

t.test('a plan that went through JSON replays exactly', async (t) => {
  const plan = planOf({ ...DEFAULT_OPTIONS, seed: 12, members: 5 });
  const copy = JSON.parse(JSON.stringify(plan)) as Plan;
  t.equal((await runPlan(copy)).traceHash, (await runPlan(plan)).traceHash);
});

t.test('single-member clusters run too', async (t) => {
  const r = await runPlan(planOf({ ...DEFAULT_OPTIONS, seed: 5, members: 1 }));
  t.equal(r.ok, true, r.violations[0]?.detail ?? '');
  t.ok(r.counts.ok > 10, `operations completed (${r.counts.ok}) though the member is often down`);
});
