/**
 * src/apply/membership.ts, one test per rule of etcd's membership (etcdserver/api/membership):
 * ValidateConfigurationChange's refusals, what each change writes, Raft's configuration of a
 * table, IsReadyToAddVotingMember / IsReadyToRemoveVotingMember, and the context encoding. Then
 * the Applier: a change is stored, answered and handed to Raft; a refused one only answered.
 */
import t from 'tap';
import type { MemberId } from '../../src/base/index.js';
import {
  Applier, changedMember, checkMemberChange, confStateOf, currentMembers, decodeMemberContext,
  encodeMemberContext, readyToAddVoter, readyToRemoveVoter, withMember, type MemberContext,
} from '../../src/apply/index.js';
import { MemoryBackend } from '../../src/backend/index.js';
import { MVCC_TABLES, MvccStore, type StoredMember } from '../../src/mvcc/index.js';
import { encodeConfChange, type ConfChange } from '../../src/raft/index.js';

const member = (id: bigint, over: Partial<StoredMember> = {}): StoredMember => ({
  id, name: `m${id}`, peerUrls: [`http://10.0.0.${id}:2380`], clientUrls: [], isLearner: false, removed: false, ...over,
});
const ctx = (over: Partial<MemberContext> = {}): MemberContext => ({
  proposalId: 7, origin: 1n, peerUrls: ['http://10.0.0.9:2380'], name: '', isPromote: false, ...over,
});
const cc = (type: ConfChange['type'], id: bigint): ConfChange => ({ type, nodeId: id as MemberId });
const table = [member(1n), member(2n), member(3n, { removed: true }), member(4n, { isLearner: true })];

t.test('add: a new id with free peer URLs passes; a taken id, a removed id or a taken URL does not', async (t) => {
  t.equal(checkMemberChange(table, cc('addNode', 9n), ctx()), null);
  t.equal(checkMemberChange(table, cc('addNode', 2n), ctx()), 'ErrMemberExist');
  t.equal(checkMemberChange(table, cc('addNode', 3n), ctx()), 'ErrMemberNotFound', 'a removed id never comes back (etcd ErrIDRemoved)');
  t.equal(checkMemberChange(table, cc('addNode', 9n), ctx({ peerUrls: ['http://10.0.0.2:2380'] })), 'ErrPeerURLExist');
  t.equal(checkMemberChange(table, cc('addNode', 9n), ctx({ peerUrls: ['http://10.0.0.3:2380'] })), null,
    "a removed member's URL is free again");
});

t.test('learners: at most one (etcd 3.4 maxLearners)', async (t) => {
  t.equal(checkMemberChange(table, cc('addLearner', 9n), ctx()), 'ErrTooManyLearners');
  const noLearner = table.filter((m) => !m.isLearner);
  t.equal(checkMemberChange(noLearner, cc('addLearner', 9n), ctx()), null);
  t.same(changedMember(noLearner, cc('addLearner', 9n), ctx()), {
    id: 9n, name: '', peerUrls: ['http://10.0.0.9:2380'], clientUrls: [], isLearner: true, removed: false,
  });
});

t.test('promote: only a learner, only a current member', async (t) => {
  const promote = ctx({ isPromote: true });
  t.equal(checkMemberChange(table, cc('addNode', 4n), promote), null);
  t.equal(changedMember(table, cc('addNode', 4n), promote).isLearner, false);
  t.equal(checkMemberChange(table, cc('addNode', 1n), promote), 'ErrMemberNotLearner');
  t.equal(checkMemberChange(table, cc('addNode', 9n), promote), 'ErrMemberNotFound');
});

t.test('remove and update: the member must be current; an update may not take another member\'s URL', async (t) => {
  t.equal(checkMemberChange(table, cc('removeNode', 2n), ctx()), null);
  t.equal(changedMember(table, cc('removeNode', 2n), ctx()).removed, true, 'a removed member is kept, marked');
  t.equal(checkMemberChange(table, cc('removeNode', 3n), ctx()), 'ErrMemberNotFound');
  t.equal(checkMemberChange(table, cc('removeNode', 9n), ctx()), 'ErrMemberNotFound');
  t.equal(checkMemberChange(table, cc('updateNode', 2n), ctx({ peerUrls: ['http://10.0.0.2:2380'] })), null, 'its own URL');
  t.equal(checkMemberChange(table, cc('updateNode', 2n), ctx({ peerUrls: ['http://10.0.0.1:2380'] })), 'ErrPeerURLExist');
  t.equal(checkMemberChange(table, cc('updateNode', 9n), ctx()), 'ErrMemberNotFound');
  t.same(changedMember(table, cc('updateNode', 2n), ctx()).peerUrls, ['http://10.0.0.9:2380']);
});

t.test("Raft's configuration of a table: current voters and learners, removed ones left out", async (t) => {
  t.same(confStateOf(table), { voters: [1n, 2n], learners: [4n] });
  t.same(currentMembers(table).map((m) => m.id), [1n, 2n, 4n]);
  t.same(withMember(table, member(0n)).map((m) => m.id), [0n, 1n, 2n, 3n, 4n], 'kept ordered by id');
});

t.test('strict reconfiguration: the started voters must keep a quorum', async (t) => {
  const all = (): boolean => true;
  const named = (m: StoredMember): boolean => m.name !== '';
  t.ok(readyToAddVoter([member(1n)], all), 'one member may always grow to two');
  const unstarted = [member(1n), member(2n, { name: '' })];
  t.notOk(readyToAddVoter(unstarted, named), '1 of 3 started is no quorum');
  t.notOk(readyToAddVoter([member(1n), member(2n), member(3n, { name: '' })], named), '2 started of 4 voters is no quorum');
  t.ok(readyToAddVoter([member(1n), member(2n), member(3n)], named), '3 started of 4 is');
  t.notOk(readyToAddVoter([member(1n), member(2n, { name: '' }), member(3n, { name: '' })], named));
  t.ok(readyToRemoveVoter([member(1n), member(2n), member(3n)], 3n, all));
  t.notOk(readyToRemoveVoter([member(1n), member(2n, { name: '' }), member(3n)], 3n, named), 'one started of two left');
  t.ok(readyToRemoveVoter([member(1n), member(2n, { name: '' }), member(3n)], 2n, named), 'an unstarted member may go');
  t.ok(readyToRemoveVoter(table, 4n, named), 'a learner may always go');
});

t.test('the context travels as it was written', async (t) => {
  const c = ctx({ origin: (1n << 64n) - 1n, isPromote: true, name: 'x' });
  t.same(decodeMemberContext(encodeMemberContext(c)), c);
  t.throws(() => decodeMemberContext(new TextEncoder().encode('{"proposalId":1}')));
});

t.test('the applier stores a change, answers it and hands it to Raft; a refused one is only answered', async (t) => {
  const store = new MvccStore(new MemoryBackend(MVCC_TABLES));
  await store.write((w) => { for (const m of [member(1n), member(2n)]) w.putMemberRecord(m); });
  const applier = new Applier(store);
  const entry = (index: number, change: ConfChange, c: MemberContext) => ({
    index, type: 'confChange' as const, data: encodeConfChange({ ...change, context: encodeMemberContext(c) }),
  });
  const batch = await applier.apply([
    entry(1, cc('addLearner', 9n), ctx({ proposalId: 1 })),
    entry(2, cc('addNode', 2n), ctx({ proposalId: 2, peerUrls: ['http://10.0.0.8:2380'] })),
  ]);
  t.same(batch.confChanges.map((c) => [c.type, c.nodeId]), [['addLearner', 9n]], 'only the change that passed goes to Raft');
  t.match(batch.results, [
    { id: 1, origin: 1n, outcome: { kind: 'member', member: { id: 9n, isLearner: true } } },
    { id: 2, origin: 1n, outcome: { ok: false, code: 'ErrMemberExist' } },
  ]);
  t.same(store.read((v) => v.memberRecords()).map((m) => m.id), [1n, 2n, 9n], 'stored in the batch');
  t.same(new Applier(store).members.map((m) => m.id), [1n, 2n, 9n], 'and read back by a new applier');
});
