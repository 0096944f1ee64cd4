/**
 * The front actor on the simulation host, with a scripted stand-in for raft: a proposal is sent
 * to raft encoded and answered when apply reports its result; a proposal raft drops is refused
 * with etcd's "no leader" and counted failed; one that outlives the request timeout gets "request
 * timed out"; the pending maximum answers "too many requests"; a read barrier shares one
 * read-index round among every read waiting when it starts, parks until apply reaches the index,
 * and a read that arrives after a round was sent waits for the next round; the applied hook (boot
 * catches the front's key index up with it) is told once per applied batch.
 */
import t from 'tap';
import { SimHost, type Actor, type ActorContext, type Message } from '../../src/runtime/index.js';
import { decodeProposal } from '../../src/apply/index.js';
import { FrontActor } from '../../actors/front/front-actor.js';
import type { FrontInbox } from '../../actors/front/messages.js';

const ME = 11n;

/** Records what the front sends to raft; the test answers by hand. */
class RaftStandIn implements Actor<Message> {
  readonly seen: Message[] = [];
  receive(message: Message): void { this.seen.push(message); }
}

function setup(overrides: Partial<ConstructorParameters<typeof FrontActor>[0]> = {}) {
  const sim = new SimHost({ seed: 1 });
  const raft = new RaftStandIn();
  const front = new FrontActor({
    memberId: ME, clusterId: 1n, raftAddress: 'm/raft', proposalIdBase: 1000,
    requestTimeoutMs: 7_000, pendingProposalsMax: 4, pendingReadsMax: 8, applied: 0, revision: 1,
    alarms: [], autoCompaction: { mode: 'periodic', retention: 0 }, watchStreamsMax: 1,
    ...overrides,
  });
  sim.spawn('m/raft', () => raft);
  sim.spawn('m/front', () => front);
  sim.runFor(5);
  const tell = (m: FrontInbox): void => { sim.send('m/front', m); sim.runFor(5); };
  return { sim, raft, front, tell };
}

const put = { kind: 'put' as const, req: { key: Uint8Array.of(1), value: Uint8Array.of(2) } };

t.test('a proposal goes to raft encoded and is answered by apply\'s result', async (t) => {
  const { sim, raft, front, tell } = setup();
  const answer = front.propose(put);
  sim.runFor(5);
  const sent = raft.seen.find((m) => m.type === 'raft.propose') as unknown as { ids: number[]; data: Uint8Array[] };
  const proposal = decodeProposal(sent.data[0]!);
  t.equal(proposal.origin, ME);
  t.same(proposal.command, put);
  tell({
    type: 'front.applied', appliedIndex: 1, revision: 2, compacted: 0, alarms: [], puts: [],
    results: [{ id: proposal.id, origin: ME, outcome: { kind: 'put', response: { header: { revision: 2 } } } }],
  });
  t.same(await answer, { kind: 'put', response: { header: { revision: 2 } } });
  t.equal(front.appliedIndex, 1);
  t.equal(front.proposalsPending, 0);
});

t.test('plain put results arrive flat, [id, revision] pairs, and answer as the full shape would', async (t) => {
  const { sim, raft, front, tell } = setup();
  const answers = [front.propose(put), front.propose(put)];
  sim.runFor(5);
  const ids = raft.seen.filter((m) => m.type === 'raft.propose')
    .flatMap((m) => (m as unknown as { ids: number[] }).ids);
  t.equal(ids.length, 2);
  tell({
    type: 'front.applied', appliedIndex: 2, revision: 3, compacted: 0, alarms: [], results: [],
    puts: [ids[0]!, 2, ids[1]!, 3],
  });
  t.same(await Promise.all(answers), [
    { kind: 'put', response: { header: { revision: 2 } } }, { kind: 'put', response: { header: { revision: 3 } } },
  ]);
  t.equal(front.proposalsPending, 0);
});

t.test('a dropped proposal gets "no leader" and counts as failed', async (t) => {
  const { sim, raft, front, tell } = setup();
  const answer = front.propose(put);
  sim.runFor(5);
  const sent = raft.seen.find((m) => m.type === 'raft.propose') as unknown as { ids: number[] };
  tell({ type: 'front.proposalsDropped', ids: sent.ids, code: 'ErrNoLeader' });
  await t.rejects(answer, { message: 'etcdserver: no leader' });
  t.equal(front.proposalsFailed, 1);
});

t.test('an unanswered proposal times out; the pending maximum refuses more', async (t) => {
  const { sim, front, tell } = setup();
  tell({ type: 'front.raftState', term: 2, leader: ME, role: 'leader', commit: 1, lastIndex: 1 });
  t.equal(front.leaderChanges, 1);
  const pending = [1, 2, 3, 4].map(() => front.propose(put));
  await t.rejects(front.propose(put), { message: 'etcdserver: too many requests' });
  sim.runFor(7_500);
  for (const p of pending) await t.rejects(p, { message: 'etcdserver: request timed out' });
  t.equal(front.proposalsFailed, 4);
  t.equal(front.proposalsPending, 0);
});

t.test('read barriers: one round in flight at a time, parked until applied, later reads share the next', async (t) => {
  const { sim, raft, front, tell } = setup();
  const done: string[] = [];
  const rounds = (): { readId: number }[] => raft.seen.filter((m) => m.type === 'raft.readIndex') as never;
  const a = front.readBarrier().then(() => done.push('a'));
  const b = front.readBarrier().then(() => done.push('b'));
  const c = front.readBarrier().then(() => done.push('c'));
  sim.runFor(5);
  t.equal(rounds().length, 1, 'the first read starts a round; b and c wait for it to end');
  tell({ type: 'front.readIndexed', readId: rounds()[0]!.readId, index: 5 });
  await new Promise((r) => setImmediate(r));
  t.same(done, [], 'a is parked until apply reaches index 5');
  t.equal(rounds().length, 2, 'b and c share the next round');
  tell({ type: 'front.applied', appliedIndex: 5, revision: 3, compacted: 0, alarms: [], results: [], puts: [] });
  await a;
  t.same(done, ['a']);
  tell({ type: 'front.readIndexed', readId: rounds()[1]!.readId, index: 4 });
  await Promise.all([b, c]);
  t.same(done.sort(), ['a', 'b', 'c'], 'an index already applied releases them at once');
  t.equal(rounds().length, 2, 'and no round is left to start');
});

t.test('onApplied is told once per applied batch, not for compaction-slice answers', async (t) => {
  let told = 0;
  const { tell } = setup({ onApplied: () => { told++; } });
  tell({ type: 'front.applied', appliedIndex: 1, revision: 2, compacted: 0, alarms: [], puts: [], results: [] });
  tell({ type: 'front.applied', appliedIndex: 2, revision: 3, compacted: 0, alarms: [], puts: [], results: [] });
  // A compaction slice's answers carry -1: no index or revision moved.
  tell({ type: 'front.applied', appliedIndex: -1, revision: -1, compacted: -1, alarms: [], puts: [], results: [] });
  t.equal(told, 2);
});
