/**
 * Lease safety (src/sim/sim-lease.ts checkLeases) on hand-made histories: a lease whose keys go in
 * one revision after its TTL passes; an early expiry (keys gone before TTL after the last
 * acknowledged keepalive) fails "No Early Expiry" with the times; a revocation that deletes only
 * some of a lease's keys, or deletes them over two revisions, fails "Lease Keys Go Together";
 * a client's own revoke may delete keys at any time after it was called; clock drift shortens
 * the bound by the drift and no more.
 */
import t from 'tap';
import { utf8 } from '../../src/base/index.js';
import { checkLeases, type LeaseRecord } from '../../src/sim/sim-lease.js';
import type { CommittedBatch, WatchEvent } from '../../src/watch/index.js';

const kv = (key: string, rev: number, lease: bigint) => ({
  key: utf8(key), value: utf8('v'), createRevision: rev, modRevision: rev, version: 1, lease,
});
const put = (key: string, rev: number, lease: bigint): WatchEvent => ({ type: 'PUT', kv: kv(key, rev, lease) });
const del = (key: string, rev: number, lease: bigint): WatchEvent => ({
  type: 'DELETE', kv: { ...kv(key, rev, 0n), value: new Uint8Array(0) }, prevKv: kv(key, rev - 1, lease),
});

function lease(over: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    id: 7n, script: { client: 0, ttlSeconds: 2, keys: 2, keepalives: 1, end: 'expire' }, grantCallMs: 100,
    grantedTtlSeconds: 2, keepaliveCallsMs: [1_000], revokeCallMs: null, ...over,
  };
}
const filled: CommittedBatch[] = [
  { revision: 2, events: [put('a', 2, 7n)] },
  { revision: 3, events: [put('b', 3, 7n)] },
];
/** Times each revision was first applied. */
const at = (times: Record<number, number>) => (rev: number): number => times[rev] ?? 0;

t.test('keys deleted together after the TTL pass', async (t) => {
  const h = [...filled, { revision: 4, events: [del('a', 4, 7n), del('b', 4, 7n)] }];
  t.equal(checkLeases([lease()], h, at({ 4: 3_100 }), 0), null);
});

t.test('an early expiry fails, with the times', async (t) => {
  const h = [...filled, { revision: 4, events: [del('a', 4, 7n), del('b', 4, 7n)] }];
  const v = checkLeases([lease()], h, at({ 4: 2_500 }), 0);
  t.equal(v?.checker, 'No Early Expiry');
  t.match(v?.detail ?? '', /lease 7 \(TTL 2 s, last acknowledged keepalive called at 1000\.000 ms\) lost its keys at 2500\.000 ms \(revision 4\), before 3000\.000 ms/);
});

t.test('clock drift shortens the bound by the drift and no more', async (t) => {
  const h = [...filled, { revision: 4, events: [del('a', 4, 7n), del('b', 4, 7n)] }];
  t.equal(checkLeases([lease()], h, at({ 4: 2_950 }), 0.05), null, '2 s / 1.05 after 1 s is 2,905 ms');
  t.not(checkLeases([lease()], h, at({ 4: 2_850 }), 0.05), null);
});

t.test("a client's own revoke may delete the keys at once", async (t) => {
  const h = [...filled, { revision: 4, events: [del('a', 4, 7n), del('b', 4, 7n)] }];
  t.equal(checkLeases([lease({ revokeCallMs: 1_200 })], h, at({ 4: 1_250 }), 0), null);
});

t.test('keys deleted apart, or some left attached, fail Lease Keys Go Together', async (t) => {
  const split = [...filled, { revision: 4, events: [del('a', 4, 7n)] }, { revision: 5, events: [del('b', 5, 7n)] }];
  const v = checkLeases([lease()], split, at({ 4: 5_000, 5: 5_000 }), 0);
  t.equal(v?.checker, 'Lease Keys Go Together');
  t.match(v?.detail ?? '', /revision 4 deleted a but left b attached/);
});
