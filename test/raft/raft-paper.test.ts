/**
 * One test per rule of the Raft paper (Figure 2 "Rules for Servers", "RequestVote RPC",
 * "AppendEntries RPC"; Figure 3; sections 5.2-5.4, 6, 9.6 PreVote, CheckQuorum), each named after
 * the sentence it checks, in the manner of etcd-io/raft's raft_paper_test.go. Each builds a small
 * cluster of pure cores (directly, or over the synchronous TestNetwork of helpers.ts), drives it
 * with messages and ticks, and asserts the state or the messages the rule demands.
 */
import t from 'tap';
import { SeededRng, utf8 } from '../../src/base/index.js';
import {
  MemoryRaftStorage, NONE, Raft, RaftConfigError, RawNode, message,
} from '../../src/raft/index.js';
import type { Entry, Message } from '../../src/raft/index.js';
import { TestNetwork, id, newNode, text } from './helpers.js';

function raft(n: number, voters: number[], opts: { preVote?: boolean; checkQuorum?: boolean } = {}, storage?: MemoryRaftStorage): Raft {
  return new Raft({
    id: id(n), storage: storage ?? new MemoryRaftStorage({ voters: voters.map(id), learners: [] }),
    rng: new SeededRng(n), electionTicks: 10, heartbeatTicks: 1, ...opts,
  });
}

function drain(r: Raft): Message[] {
  const out = [...r.msgs, ...r.msgsAfterPersist];
  r.msgs = [];
  r.msgsAfterPersist = [];
  return out;
}

function storageWith(voters: number[], terms: number[], hs?: { term: number; vote: number; commit: number }): MemoryRaftStorage {
  const s = new MemoryRaftStorage({ voters: voters.map(id), learners: [] });
  const ents: Entry[] = terms.map((term, i) => ({ term, index: i + 1, type: 'normal', data: utf8(`e${i + 1}`) }));
  s.append(ents);
  if (hs !== undefined) s.setHardState({ term: hs.term, vote: id(hs.vote), commit: hs.commit });
  return s;
}

// ---- Section 5.1 / Figure 2 "Rules for Servers: All Servers" ----------------------------------

t.test('If RPC request or response contains term T > currentTerm: set currentTerm = T, convert to follower', async (t) => {
  for (const role of ['follower', 'candidate', 'leader'] as const) {
    const r = raft(1, [1, 2, 3], { preVote: false });
    if (role !== 'follower') r.becomeCandidate();
    if (role === 'leader') r.becomeLeader();
    const before = r.term;
    r.step(message({ type: 'MsgApp', from: id(2), to: id(1), term: before + 5 }));
    t.equal(r.term, before + 5, `${role} takes the higher term`);
    t.equal(r.role, 'follower', `${role} becomes follower`);
    t.equal(r.lead, id(2), 'and follows the sender of the append');
  }
});

t.test('If a server receives a request with a stale term number, it rejects the request', async (t) => {
  const r = raft(1, [1, 2, 3]);
  r.becomeFollower(5, NONE);
  r.step(message({ type: 'MsgApp', from: id(2), to: id(1), term: 3, index: 0, logTerm: 0, entries: [{ term: 3, index: 1, type: 'normal', data: utf8('x') }] }));
  t.equal(r.log.lastIndex(), 0, 'the stale append is not applied');
  const out = drain(r);
  t.equal(out.length, 1);
  t.equal(out[0]!.type, 'MsgAppResp', 'the stale leader is told our term');
  t.equal(out[0]!.term, 5);
});

t.test('When servers start up, they begin as followers', async (t) => {
  const r = raft(1, [1, 2, 3]);
  t.equal(r.role, 'follower');
  t.equal(r.term, 0);
  t.equal(r.lead, NONE);
});

// ---- Section 5.2 Leader election ---------------------------------------------------------------

t.test('If a follower receives no communication over the election timeout, it begins an election (votes for itself, sends RequestVote)', async (t) => {
  const r = raft(1, [1, 2, 3], { preVote: false });
  for (let i = 0; i < 2 * 10; i++) r.tick();
  t.equal(r.role, 'candidate');
  t.equal(r.term, 1, 'it increments its current term');
  t.equal(r.vote, id(1), 'it votes for itself');
  const out = drain(r);
  t.same(out.map((m) => `${m.type}->${m.to}`).sort(), ['MsgVote->2', 'MsgVote->3']);
  t.ok(r.msgsAfterPersist.length === 0 && out.every((m) => m.term === 1));
});

t.test('Election timeouts are chosen randomly from a fixed interval [electionTimeout, 2*electionTimeout)', async (t) => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 50; seed++) {
    const r = new Raft({ id: id(1), storage: new MemoryRaftStorage({ voters: [id(1), id(2), id(3)], learners: [] }), rng: new SeededRng(seed), electionTicks: 10, preVote: false });
    let ticks = 0;
    while (r.role === 'follower') { r.tick(); ticks++; }
    t.ok(ticks >= 10 && ticks < 20, `timeout ${ticks} in [10, 20)`);
    seen.add(ticks);
  }
  t.ok(seen.size > 3, 'timeouts differ between members');
});

t.test('Each server will vote for at most one candidate in a given term, on a first-come-first-served basis', async (t) => {
  const r = raft(1, [1, 2, 3], { preVote: false, checkQuorum: false });
  r.step(message({ type: 'MsgVote', from: id(2), to: id(1), term: 1, index: 0, logTerm: 0 }));
  r.step(message({ type: 'MsgVote', from: id(3), to: id(1), term: 1, index: 0, logTerm: 0 }));
  r.step(message({ type: 'MsgVote', from: id(2), to: id(1), term: 1, index: 0, logTerm: 0 }));
  const votes = r.msgsAfterPersist.map((m) => `${m.to}:${m.reject ? 'no' : 'yes'}`);
  t.same(votes, ['2:yes', '3:no', '2:yes'], 'the first candidate gets the vote, again on a retry; the second does not');
  t.equal(r.vote, id(2));
});

t.test('A candidate wins an election if it receives votes from a majority of the servers in the full cluster', async (t) => {
  for (const [size, grants, wins] of [[3, 1, true], [5, 1, false], [5, 2, true], [5, 0, false]] as const) {
    const voters = Array.from({ length: size }, (_, i) => i + 1);
    const r = raft(1, voters, { preVote: false });
    r.step(message({ type: 'MsgHup', from: id(1), to: id(1) }));
    t.equal(r.role, 'candidate');
    for (let g = 0; g < grants; g++) r.step(message({ type: 'MsgVoteResp', from: id(g + 2), to: id(1), term: 1 }));
    t.equal(r.role === 'leader', wins, `${grants} grants of ${size} (plus its own)`);
  }
});

t.test('A candidate that receives AppendEntries from a leader with term >= its own returns to follower state', async (t) => {
  const r = raft(1, [1, 2, 3], { preVote: false });
  r.becomeCandidate();
  r.step(message({ type: 'MsgApp', from: id(2), to: id(1), term: r.term, index: 0, logTerm: 0 }));
  t.equal(r.role, 'follower');
  t.equal(r.lead, id(2));
});

t.test('A candidate that loses the election (a majority rejects) returns to follower', async (t) => {
  const r = raft(1, [1, 2, 3], { preVote: false });
  r.becomeCandidate();
  r.step(message({ type: 'MsgVoteResp', from: id(2), to: id(1), term: 1, reject: true }));
  r.step(message({ type: 'MsgVoteResp', from: id(3), to: id(1), term: 1, reject: true }));
  t.equal(r.role, 'follower');
});

t.test('Leaders send periodic heartbeats to all followers in order to maintain their authority', async (t) => {
  const r = raft(1, [1, 2, 3], { preVote: false });
  r.becomeCandidate();
  r.becomeLeader();
  drain(r);
  r.tick();
  const hb = drain(r).filter((m) => m.type === 'MsgHeartbeat');
  t.same(hb.map((m) => Number(m.to)).sort(), [2, 3]);
});

// ---- Section 5.3 Log replication ---------------------------------------------------------------

t.test('The leader appends the command to its log as a new entry, then issues AppendEntries RPCs in parallel', async (t) => {
  const net = new TestNetwork(3);
  net.elect(1);
  net.raw(1).propose([utf8('x')]);
  const r = net.raw(1).raft;
  t.equal(text(r.log.unstable[r.log.unstable.length - 1]!), 'x');
  const apps = r.msgs.filter((m) => m.type === 'MsgApp');
  t.same(apps.map((m) => Number(m.to)).sort(), [2, 3], 'one append to each follower, sent without waiting for the disk');
});

t.test('A log entry is committed once the leader that created the entry has replicated it on a majority of the servers', async (t) => {
  const net = new TestNetwork(5);
  net.elect(1);
  net.isolate(4);
  net.isolate(5);
  net.raw(1).propose([utf8('x')]);
  net.settle();
  const last = net.raw(1).raft.log.lastIndex();
  t.equal(net.raw(1).raft.log.committed, last, 'committed on 3 of 5');
  net.isolate(3);
  net.raw(1).propose([utf8('y')]);
  net.settle();
  t.equal(net.raw(1).raft.log.committed, last, 'not committed on 2 of 5');
});

t.test('The leader includes the highest committed index in AppendEntries; once a follower learns an entry is committed, it applies it', async (t) => {
  const net = new TestNetwork(3);
  net.elect(1);
  net.raw(1).propose([utf8('a'), utf8('b')]);
  net.settle();
  for (const n of [1, 2, 3]) {
    t.same(net.node(n).applied.filter((e) => e.data.length > 0).map(text), ['a', 'b'], `member ${n} applied in order`);
  }
});

t.test('If a follower does not find an entry with the same index and term, it refuses the new entries', async (t) => {
  const r = raft(2, [1, 2, 3], {}, storageWith([1, 2, 3], [1, 1]));
  r.becomeFollower(3, id(1));
  r.step(message({ type: 'MsgApp', from: id(1), to: id(2), term: 3, index: 2, logTerm: 2, entries: [{ term: 3, index: 3, type: 'normal', data: utf8('x') }] }));
  const resp = drain(r)[0]!;
  t.equal(resp.type, 'MsgAppResp');
  t.ok(resp.reject, 'rejected: entry 2 has term 1, not 2');
  t.equal(resp.rejectHint, 2, 'hint: the follower log has index 2 with a term <= 2');
  t.equal(r.log.lastIndex(), 2);
});

t.test('If an existing entry conflicts with a new one (same index, different terms), delete it and all that follow it', async (t) => {
  const r = raft(2, [1, 2, 3], {}, storageWith([1, 2, 3], [1, 1, 2, 2]));
  r.becomeFollower(3, id(1));
  r.step(message({ type: 'MsgApp', from: id(1), to: id(2), term: 3, index: 2, logTerm: 1, entries: [{ term: 3, index: 3, type: 'normal', data: utf8('x') }] }));
  t.equal(r.log.lastIndex(), 3);
  t.equal(r.log.term(3), 3);
  t.equal(drain(r)[0]!.index, 3, 'acknowledges through the new last entry');
});

t.test('When the leader finds an inconsistent follower log, it backs nextIndex up until they match and the follower log converges', async (t) => {
  const net = new TestNetwork(3);
  // Member 3 holds a divergent uncommitted tail from an old term 1 leader.
  net.node(3).storage.append([1, 2, 3].map((i) => ({ term: 1, index: i, type: 'normal' as const, data: utf8(`old${i}`) })));
  net.node(3).storage.setHardState({ term: 1, vote: id(3), commit: 0 });
  net.nodes.set(id(3), { ...net.node(3), raw: new RawNode({ id: id(3), storage: net.node(3).storage, rng: new SeededRng(3) }) });
  net.isolate(3);
  net.elect(1);
  net.raw(1).propose([utf8('a'), utf8('b'), utf8('c'), utf8('d')]);
  net.settle();
  net.recover();
  net.tickAll(3);
  const leaderLog = net.raw(1).raft.log;
  const followerLog = net.raw(3).raft.log;
  t.equal(followerLog.lastIndex(), leaderLog.lastIndex());
  for (let i = 1; i <= leaderLog.lastIndex(); i++) t.equal(followerLog.term(i), leaderLog.term(i), `term at ${i}`);
});

// ---- Section 5.4 Safety -------------------------------------------------------------------------

t.test('Section 5.4.1: the voter denies its vote if its own log is more up-to-date than that of the candidate', async (t) => {
  const cases = [
    { cand: [2, 2], voter: [1, 2, 3], grant: false, why: 'voter has a higher last term' },
    { cand: [1, 1, 1, 1], voter: [1, 1, 1, 1, 1], grant: false, why: 'same last term, voter log longer' },
    { cand: [1, 1, 1, 1, 1], voter: [1, 1, 1, 1, 1], grant: true, why: 'equal logs' },
    { cand: [1, 3], voter: [1, 2, 2, 2], grant: true, why: 'candidate has a higher last term' },
  ];
  for (const c of cases) {
    const r = raft(1, [1, 2, 3], { checkQuorum: false }, storageWith([1, 2, 3], c.voter));
    const lastTerm = c.cand[c.cand.length - 1]!;
    r.step(message({ type: 'MsgVote', from: id(2), to: id(1), term: 5, index: c.cand.length, logTerm: lastTerm }));
    t.equal(!drain(r)[0]!.reject, c.grant, c.why);
  }
});

t.test('Section 5.4.2: only log entries from the leader\'s current term are committed by counting replicas', async (t) => {
  // Leader 1 of term 3 holds an entry of term 2 that both followers acknowledge: not committed.
  const s = storageWith([1, 2, 3], [1, 2], { term: 2, vote: 1, commit: 1 });
  const r = raft(1, [1, 2, 3], { preVote: false }, s);
  r.becomeCandidate();
  r.becomeLeader();
  t.equal(r.term, 3);
  // The empty entry of term 3 is index 3; acknowledge index 2 only, on a quorum.
  r.step(message({ type: 'MsgAppResp', from: id(2), to: id(1), term: 3, index: 2 }));
  r.step(message({ type: 'MsgAppResp', from: id(3), to: id(1), term: 3, index: 2 }));
  t.equal(r.log.committed, 1, 'the term-2 entry is not committed by counting');
  r.step(message({ type: 'MsgAppResp', from: id(2), to: id(1), term: 3, index: 3 }));
  r.step(message({ type: 'MsgAppResp', from: id(3), to: id(1), term: 3, index: 3 }));
  t.equal(r.log.committed, 3, 'committing the term-3 entry commits the earlier one indirectly');
});

t.test('Leader Completeness: a member missing a committed entry cannot win an election', async (t) => {
  const net = new TestNetwork(3, { preVote: false, checkQuorum: false });
  net.elect(1);
  net.isolate(3);
  net.raw(1).propose([utf8('committed')]);
  net.settle();
  net.recover();
  net.isolate(1);
  net.raw(3).campaign();
  net.settle();
  t.not(net.raw(3).raft.role, 'leader', 'member 3 lacks the committed entry and loses');
  net.raw(2).campaign();
  net.settle();
  t.equal(net.raw(2).raft.role, 'leader', 'member 2 holds it and wins');
});

// ---- Durability (Ready ordering) --------------------------------------------------------------

t.test('Persist before responding: vote grants and append acknowledgements wait for the disk', async (t) => {
  const n = newNode(2, [1, 2, 3], { checkQuorum: false });
  n.raw.step(message({ type: 'MsgVote', from: id(1), to: id(2), term: 1, index: 0, logTerm: 0 }));
  const rd = n.raw.ready();
  t.equal(rd.messages.length, 0);
  t.same(rd.messagesAfterPersist.map((m) => m.type), ['MsgVoteResp']);
  t.same(rd.hardState, { term: 1, vote: id(1), commit: 0 }, 'the vote is in the hard state to persist');
});

t.test('The leader counts its own copy of an entry only once it is durable (after advance)', async (t) => {
  const n = newNode(1, [1], {});
  n.raw.campaign();
  let rd = n.raw.ready();
  t.equal(n.raw.raft.role, 'leader');
  t.equal(rd.entries.length, 1);
  t.equal(rd.committedEntries.length, 0, 'not committed before it is persisted');
  n.storage.persistSync(rd);
  n.raw.advance(rd);
  rd = n.raw.ready();
  t.equal(rd.committedEntries.length, 1, 'committed once durable on the (single-member) quorum');
});

// ---- Section 6 Cluster membership changes -----------------------------------------------------

t.test('Section 6: a learner receives the log but its vote does not count toward a quorum', async (t) => {
  const net = new TestNetwork(1, {}, [2]);
  net.elect(1);
  net.raw(1).propose([utf8('x')]);
  net.settle();
  t.same(net.node(2).applied.filter((e) => e.data.length > 0).map(text), ['x'], 'the learner applied the entry');
  t.notOk(net.raw(2).raft.promotable(), 'a learner never campaigns');
  net.raw(2).campaign();
  net.settle();
  t.equal(net.raw(1).raft.role, 'leader');
});

t.test('Section 6: membership changes one server at a time: add a learner, promote it, remove a voter', async (t) => {
  const net = new TestNetwork(3);
  net.nodes.set(id(4), newNode(4, []));
  net.elect(1);
  t.ok(net.raw(1).proposeConfChange({ type: 'addLearner', nodeId: id(4) }).ok);
  const second = net.raw(1).proposeConfChange({ type: 'removeNode', nodeId: id(3) });
  t.notOk(second.ok, 'a second change is refused while the first is pending');
  net.settle();
  t.same(net.raw(1).raft.tracker.confState().learners, [id(4)]);
  net.tickAll(2);
  t.ok(net.node(4).applied.length > 0 || net.raw(4).raft.log.committed > 0, 'the learner catches up');
  t.ok(net.raw(1).proposeConfChange({ type: 'addNode', nodeId: id(4) }).ok);
  net.settle();
  t.same(net.raw(1).raft.tracker.confState(), { voters: [id(1), id(2), id(3), id(4)], learners: [] }, 'promoted');
  t.ok(net.raw(1).proposeConfChange({ type: 'removeNode', nodeId: id(3) }).ok);
  net.settle();
  t.same(net.raw(1).raft.tracker.confState().voters, [id(1), id(2), id(4)]);
  net.isolate(3);
  net.raw(1).propose([utf8('after')]);
  net.settle();
  t.ok(net.node(4).applied.some((e) => text(e) === 'after'), 'the promoted member is in the new quorum');
});

t.test('Section 6: a leader removed from the configuration steps down', async (t) => {
  const net = new TestNetwork(3);
  net.elect(1);
  net.raw(1).proposeConfChange({ type: 'removeNode', nodeId: id(1) });
  net.settle();
  t.not(net.raw(1).raft.role, 'leader');
  net.tickAll(30);
  const leaders = [2, 3].filter((n) => net.raw(n).raft.role === 'leader');
  t.equal(leaders.length, 1, 'the remaining members elect a leader');
});

// ---- PreVote and CheckQuorum ------------------------------------------------------------------

t.test('PreVote: a partitioned member does not raise its term, so rejoining does not disrupt the leader', async (t) => {
  const net = new TestNetwork(3);
  net.elect(1);
  const term = net.raw(1).raft.term;
  net.isolate(3);
  net.tickAll(100);
  t.equal(net.raw(3).raft.term, term, 'the isolated member pre-campaigned without raising its term');
  t.equal(net.raw(3).raft.role, 'preCandidate');
  net.recover();
  net.tickAll(5);
  t.equal(net.raw(1).raft.role, 'leader', 'the leader kept its leadership');
  t.equal(net.raw(1).raft.term, term);
  t.equal(net.raw(3).raft.lead, id(1));
});

t.test('CheckQuorum: a leader that has not heard from a quorum for an election timeout steps down', async (t) => {
  const net = new TestNetwork(3);
  net.elect(1);
  net.isolate(1);
  net.tickAll(25);
  t.not(net.raw(1).raft.role, 'leader');
});

t.test('CheckQuorum: a follower that heard from the leader within the election timeout ignores vote requests', async (t) => {
  const net = new TestNetwork(3, { preVote: false });
  net.elect(1);
  const term = net.raw(2).raft.term;
  net.raw(2).raft.step(message({ type: 'MsgVote', from: id(3), to: id(2), term: term + 1, index: 100, logTerm: 100 }));
  t.equal(net.raw(2).raft.term, term, 'the in-lease follower did not even take the higher term');
  t.equal(net.raw(2).raft.msgsAfterPersist.length, 0, 'and did not answer');
});

// ---- Reads, transfer, snapshots, proposals ----------------------------------------------------

t.test('ReadIndex: one heartbeat round confirms every read waiting at that moment', async (t) => {
  const net = new TestNetwork(3);
  net.elect(1);
  net.raw(1).propose([utf8('x')]);
  net.settle();
  const committed = net.raw(1).raft.log.committed;
  for (const ctx of ['r1', 'r2', 'r3']) net.raw(1).readIndex(utf8(ctx));
  const rd = net.raw(1).ready();
  const rounds = rd.messages.filter((m) => m.type === 'MsgHeartbeat' && m.context !== null);
  t.equal(rounds.length, 2, 'one heartbeat per follower covers the three reads');
  t.equal(rd.readStates.length, 0, 'no read is answered before a quorum acknowledges');
  net.node(1).storage.persistSync(rd);
  net.raw(1).advance(rd);
  for (const m of rd.messages) net.deliver(m);
  net.settle();
  t.same(net.node(1).reads, ['r1', 'r2', 'r3'].map((c) => `${c}@${committed}`));
  net.raw(2).readIndex(utf8('f1'));
  net.settle();
  t.same(net.node(2).reads, [`f1@${committed}`], 'a follower read is confirmed by the leader');
  net.isolate(1);
  net.raw(1).readIndex(utf8('lost'));
  net.settle();
  t.notOk(net.node(1).reads.includes(`lost@${committed}`), 'no quorum, no answer');
});

t.test('ReadIndex: a lone voter answers at once, learners or not (etcd-io/raft IsSingleton)', async (t) => {
  const r = new Raft({
    id: id(1), storage: new MemoryRaftStorage({ voters: [id(1)], learners: [id(2)] }),
    rng: new SeededRng(1), electionTicks: 10, heartbeatTicks: 1,
  });
  r.becomeCandidate();
  r.becomeLeader();
  // The leader's empty entry of its term commits with its own vote alone.
  r.log.commitTo(r.log.lastIndex());
  drain(r);
  r.step(message({ type: 'MsgReadIndex', to: id(1), from: id(1), context: utf8('q') }));
  t.same(r.readStates.map((s) => new TextDecoder().decode(s.requestCtx)), ['q'], 'no heartbeat round waits for the learner');
});

t.test("learnerProgress: the leader's view of each learner's match and its own (MemberPromote readiness)", async (t) => {
  const net = new TestNetwork(3, {}, [4]);
  net.elect(1);
  net.raw(1).propose([utf8('x')]);
  net.settle();
  const p = net.raw(1).learnerProgress();
  t.equal(p.leaderMatch, net.raw(1).raft.log.lastIndex());
  t.same(p.learners, [[id(4), p.leaderMatch]], 'a learner that keeps up matches the leader');
  t.same(net.raw(2).learnerProgress(), { leaderMatch: 0, learners: [] }, 'a follower cannot tell');
});

t.test('Leader transfer: the transferee receives TimeoutNow, campaigns at once and becomes leader', async (t) => {
  const net = new TestNetwork(3);
  net.elect(1);
  net.raw(1).propose([utf8('x')]);
  net.settle();
  net.raw(1).transferLeader(id(3));
  net.settle();
  t.equal(net.raw(3).raft.role, 'leader');
  t.equal(net.raw(1).raft.lead, id(3));
  t.ok(net.delivered.some((m) => m.type === 'MsgTimeoutNow' && m.to === id(3)));
});

t.test('Proposals at a follower are forwarded to the leader', async (t) => {
  const net = new TestNetwork(3);
  net.elect(1);
  t.ok(net.raw(2).propose([utf8('via-follower')]).ok);
  net.settle();
  t.ok(net.node(3).applied.some((e) => text(e) === 'via-follower'));
  t.ok(net.delivered.some((m) => m.type === 'MsgProp' && m.from === id(2) && m.to === id(1)));
});

t.test('Section 7: a follower behind the leader\'s compacted log is sent a snapshot and catches up', async (t) => {
  const net = new TestNetwork(3);
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 20; i++) net.raw(1).propose([utf8(`e${i}`)]);
  net.settle();
  const s1 = net.node(1).storage;
  const applied = net.raw(1).raft.log.applied;
  s1.createSnapshotSync(applied, net.raw(1).raft.tracker.confState(), utf8(`snap@${applied}`));
  s1.compactSync(applied);
  net.recover();
  net.tickAll(3);
  t.ok(net.delivered.some((m) => m.type === 'MsgSnap' && m.to === id(3)));
  t.equal(net.node(3).storage.snapshot().metadata.index, applied);
  net.raw(1).propose([utf8('after-snapshot')]);
  net.settle();
  t.ok(net.node(3).applied.some((e) => text(e) === 'after-snapshot'), 'replication resumes after the snapshot');
});

t.test('Replication pipelines appends up to the in-flight window, then waits', async (t) => {
  const net = new TestNetwork(2, { maxInflightMessages: 3, maxEntriesPerMessage: 1 });
  net.elect(1);
  net.filter = (m) => m.type !== 'MsgAppResp';
  for (let i = 0; i < 10; i++) net.raw(1).propose([utf8(`e${i}`)]);
  const rd = net.raw(1).ready();
  const apps = rd.messages.filter((m) => m.type === 'MsgApp' && m.entries.length > 0);
  t.equal(apps.length, 3, 'three appends in flight, no more');
  t.equal(net.raw(1).raft.tracker.progress.get(id(2))!.state, 'replicate');
});

t.test('Configuration is validated at construction and the bad field is named', async (t) => {
  const storage = new MemoryRaftStorage({ voters: [id(1)], learners: [] });
  const bad: Array<[string, object]> = [
    ['id', { id: 0n }],
    ['heartbeatTicks', { heartbeatTicks: 0 }],
    ['electionTicks', { electionTicks: 1, heartbeatTicks: 1 }],
    ['maxInflightMessages', { maxInflightMessages: 0 }],
    ['applied', { applied: 5 }],
  ];
  for (const [field, over] of bad) {
    let caught: unknown = null;
    try {
      new RawNode({ id: id(1), storage, rng: new SeededRng(1), ...over } as never);
    } catch (e) {
      caught = e;
    }
    t.ok(caught instanceof RaftConfigError, `${field}: a RaftConfigError`);
    t.equal((caught as RaftConfigError).field, field, `names ${field}`);
    t.match((caught as Error).message, field);
  }
});
