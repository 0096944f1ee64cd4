/**
 * The applier, on a MemoryBackend: committed entries become MVCC writes with the applied index
 * stored alongside; a replay of entries at or below the applied index changes nothing; results
 * carry each proposal's id and origin; a NOSPACE alarm refuses puts but not deletes, is stored
 * with the batch (an applier opened later on the same store starts with it), and deactivating it
 * lets puts through again; a physical compaction is answered only once its
 * slices are done; proposals round-trip through their encoding.
 */
import t from 'tap';
import { utf8 } from '../../src/base/index.js';
import { MemoryBackend } from '../../src/backend/index.js';
import { MVCC_TABLES, MvccStore } from '../../src/mvcc/index.js';
import {
  Applier, decodeProposal, encodeProposal, storedAlarms, type Command, type CommittedEntry,
} from '../../src/apply/index.js';

const ME = 7n;

function entries(from: number, commands: readonly Command[]): CommittedEntry[] {
  return commands.map((command, i) => ({
    index: from + i, type: 'normal' as const,
    data: encodeProposal({ id: 1000 + from + i, origin: ME, command }),
  }));
}

const put = (k: string, v = 'v'): Command => ({ kind: 'put', req: { key: utf8(k), value: utf8(v) } });

t.test('proposals round-trip through their encoding', async (t) => {
  const c: Command = { kind: 'txn', req: { compare: [], success: [{ requestPut: { key: utf8('a'), value: utf8('b'), lease: 5n } }] } };
  const back = decodeProposal(encodeProposal({ id: 42, origin: 2n ** 63n, command: c }));
  t.equal(back.id, 42);
  t.equal(back.origin, 2n ** 63n);
  t.same(back.command, c);
});

t.test('a batch applies in order, stores the applied index, and a replay changes nothing', async (t) => {
  const store = new MvccStore(new MemoryBackend(MVCC_TABLES));
  const applier = new Applier(store);
  const batch = await applier.apply(entries(1, [put('a'), put('b'), { kind: 'deleteRange', req: { key: utf8('a') } }]));
  t.equal(batch.appliedIndex, 3);
  t.equal(batch.revision, 4);
  t.same(batch.results.map((r) => [r.id, r.origin]), [[1001, ME], [1002, ME], [1003, ME]]);
  t.equal(batch.changes.length, 3);
  t.equal(store.state().appliedIndex, 3);
  const replay = await applier.apply(entries(2, [put('b'), put('x')]));
  t.equal(replay.appliedIndex, 3, 'entries 2 and 3 are skipped...');
  t.equal(store.state().current, 4, '...and change nothing');
  const more = await applier.apply(entries(4, [put('c')]));
  t.equal(more.revision, 5);
  t.equal(more.appliedIndex, 4);
});

t.test('entries without a proposal (a new leader\'s empty entry) only move the applied index', async (t) => {
  const store = new MvccStore(new MemoryBackend(MVCC_TABLES));
  const applier = new Applier(store);
  const batch = await applier.apply([{ index: 1, type: 'normal', data: new Uint8Array(0) }]);
  t.equal(batch.results.length, 0);
  t.equal(batch.appliedIndex, 1);
  t.equal(batch.revision, 1);
});

t.test('NOSPACE refuses puts, lets deletes through, and lifts when deactivated', async (t) => {
  const store = new MvccStore(new MemoryBackend(MVCC_TABLES));
  const applier = new Applier(store);
  await applier.apply(entries(1, [put('a')]));
  const raised = await applier.apply(entries(2, [
    { kind: 'alarm', action: 'activate', memberId: ME, alarm: 'NOSPACE' }, put('b'),
    { kind: 'deleteRange', req: { key: utf8('a') } },
  ]));
  t.same(raised.alarms, [{ memberId: ME, alarm: 'NOSPACE' }]);
  t.same(raised.results[1]?.outcome, { ok: false, code: 'ErrNoSpace' });
  t.equal((raised.results[2]?.outcome as { kind: string }).kind, 'deleteRange');
  const restarted = new Applier(store);
  t.same(restarted.alarms, [{ memberId: ME, alarm: 'NOSPACE' }], 'the alarm is stored with the batch');
  t.same(storedAlarms(store), [{ memberId: ME, alarm: 'NOSPACE' }]);
  const lifted = await restarted.apply(entries(5, [
    { kind: 'alarm', action: 'deactivate', memberId: ME, alarm: 'NOSPACE' }, put('b'),
  ]));
  t.same(lifted.alarms, []);
  t.equal((lifted.results[1]?.outcome as { kind: string }).kind, 'put');
  t.same(new Applier(store).alarms, [], 'and so is its deactivation');
});

t.test('a physical compaction is answered once its slices are done', async (t) => {
  const store = new MvccStore(new MemoryBackend(MVCC_TABLES), { limits: { compactionSliceRevisions: 2 } });
  const applier = new Applier(store);
  await applier.apply(entries(1, ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((k) => put(k))));
  const first = await applier.apply(entries(8, [{ kind: 'compact', req: { revision: 6, physical: true } }]));
  t.same(first.results, [], 'not answered while slices remain');
  t.equal(applier.compacting(), true);
  const answered = [];
  for (let i = 0; i < 10 && applier.compacting(); i++) answered.push(...(await applier.compactStep()).results);
  t.equal(applier.compacting(), false);
  t.same(answered.map((r) => r.id), [1008], 'answered when the last slice is done');
});
