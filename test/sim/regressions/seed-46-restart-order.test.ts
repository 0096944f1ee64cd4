/**
 * Regression, seed 46: a restart threw "stale event for m1/front kept". SimHost restarts a
 * member's actors in spawn order, bumping each one's epoch as it starts; the raft actor (then
 * spawned before the front) reported its state to the front at start, into the front's old epoch.
 * The cluster now spawns receivers (tap, front, apply) before raft. Seed 46 (with the heal-all
 * restart at 3,000 ms) must run to its verdict and pass.
 */
import t from 'tap';
import { DEFAULT_OPTIONS, planOf, runPlan } from '../../../src/sim/index.js';

t.test('seed 46 restarts members cleanly and passes every checker', async (t) => {
  const r = await runPlan(planOf({ ...DEFAULT_OPTIONS, seed: 46 }));
  t.equal(r.ok, true, r.violations[0]?.detail ?? '');
  t.ok(r.events.some((e) => e.includes('restart')), 'a member was restarted');
});
