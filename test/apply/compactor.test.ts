/**
 * Auto compaction's policy, on a virtual clock, one test per rule of etcd 3.4's compactor:
 * periodic mode compacts to the revision of about one retention ago, sampling every tenth of
 * the (hour-capped) interval and first acting after one retention; revision mode compacts to
 * current - retention every five minutes when that is new; retention 0 disables it; a leader
 * change restarts the window.
 */
import t from 'tap';
import { Compactor, REVISION_COMPACT_INTERVAL_MS } from '../../src/apply/index.js';

const MIN = 60_000;

t.test('retention 0 never compacts', async (t) => {
  const c = new Compactor('periodic', 0, 0);
  t.equal(c.enabled, false);
  t.equal(c.tick(10 * MIN, 100, 0), null);
});

t.test('periodic: nothing before one retention; then the revision of one retention ago', async (t) => {
  const c = new Compactor('periodic', 10 * MIN, 0);
  const seen: (number | null)[] = [];
  // One revision per second of virtual time, ticked every 10 s.
  for (let ms = 0; ms <= 25 * MIN; ms += 10_000) {
    const got = c.tick(ms, 1 + ms / 1000, 0);
    if (got !== null) seen.push(ms / MIN, got);
  }
  t.same(seen.slice(0, 2), [10, 1], 'first compaction at 10 min, to the revision sampled at 0');
  t.same(seen.slice(2, 4), [20, 601], 'then every interval, to the revision of ~10 min before');
});

t.test('periodic: an hour-long retention samples every six minutes and compacts hourly', async (t) => {
  const c = new Compactor('periodic', 5 * 60 * MIN, 0);
  let compactions = 0;
  for (let ms = 0; ms <= 8 * 60 * MIN; ms += MIN) if (c.tick(ms, 1 + ms / MIN, 0) !== null) compactions++;
  t.equal(compactions, 4, 'at 5, 6, 7 and 8 hours');
});

t.test('revision: every five minutes to current - retention, only when new and above compacted', async (t) => {
  const c = new Compactor('revision', 100, 0);
  t.equal(c.tick(REVISION_COMPACT_INTERVAL_MS - 1, 500, 0), null, 'not before the interval');
  t.equal(c.tick(REVISION_COMPACT_INTERVAL_MS, 500, 0), 400);
  t.equal(c.tick(2 * REVISION_COMPACT_INTERVAL_MS, 500, 400), null, 'no new revisions, nothing to do');
  t.equal(c.tick(3 * REVISION_COMPACT_INTERVAL_MS, 90, 0), null, 'fewer revisions than the retention');
  t.equal(c.tick(4 * REVISION_COMPACT_INTERVAL_MS, 800, 400), 700);
});

t.test('a leader change restarts the window', async (t) => {
  const c = new Compactor('periodic', 10 * MIN, 0);
  for (let ms = 0; ms < 9 * MIN; ms += 10_000) c.tick(ms, 1 + ms / 1000, 0);
  c.reset(9 * MIN);
  t.equal(c.tick(10 * MIN, 601, 0), null, 'the old samples are gone');
  let got: number | null = null;
  let at = 0;
  for (let ms = 10 * MIN; got === null && ms <= 20 * MIN; ms += 10_000) {
    got = c.tick(ms, 1 + ms / 1000, 0);
    at = ms;
  }
  t.equal(at, 19 * MIN, 'one retention after the reset');
  t.equal(got, 601, 'to the first revision sampled after the reset');
});
