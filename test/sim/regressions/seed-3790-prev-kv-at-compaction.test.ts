/**
 * Regression, seed 3790 of the third 10,000-seed sweep: "wrong prev_kv on 17:6b31". A watcher
 * resumed at revision 17 right after a compaction at 17 caught up from history, and the event at
 * 17 came without prev_kv: its previous version (revision 8) was compacted away. etcd omits
 * prev_kv there too (it reads prev_kv at modRevision - 1 and drops it on ErrCompacted), so the
 * simulator's prev_kv checker now accepts a missing prev_kv at or below the compaction revision,
 * and still demands the right one everywhere else. Seed 3790 must pass.
 */
import t from 'tap';
import { DEFAULT_OPTIONS, planOf, runPlan } from '../../../src/sim/index.js';

t.test('seed 3790 passes every checker', async (t) => {
  const r = await runPlan(planOf({ ...DEFAULT_OPTIONS, seed: 3790 }));
  t.equal(r.ok, true, r.violations[0]?.detail ?? '');
  t.ok(r.watch.events > 0, 'watchers received events');
});
