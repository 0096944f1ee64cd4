/**
 * The simulated disk and its two storages (src/sim/sim-disk.ts, completion.ts). Proves that a
 * Completion runs its callbacks synchronously when settled (chains included), that writes become
 * durable in FIFO order at the fsync events the disk schedules, that a crash loses every unsynced
 * write (the Raft log keeps its durable entries; the backend rolls unsynced transactions back),
 * that torn writes keep a prefix, and that the ack-before-fsync mutation acknowledges early.
 * Driven by a real SimHost so timers are the simulator's own.
 */
import t from 'tap';
import { SeededRng, fromUtf8, memberId, utf8 } from '../../src/base/index.js';
import type { Entry } from '../../src/raft/index.js';
import { SimHost } from '../../src/runtime/index.js';
import { Completion, DiskActor, SimBackend, SimDisk, SimRaftStorage } from '../../src/sim/index.js';

const ent = (index: number, term = 1): Entry => ({ index, term, type: 'normal', data: utf8(`e${index}`) });

function setup(options: Partial<{ torn: boolean; ack: boolean }> = {}) {
  const host = new SimHost({ seed: 1 });
  const disk = new SimDisk({ fsyncMinMs: 1, fsyncMaxMs: 1, tornWrites: options.torn ?? false, ackBeforeFsync: options.ack ?? false });
  host.spawn('m1/disk', () => new DiskActor(disk));
  const raft = new SimRaftStorage(disk, { voters: [memberId(1n)], learners: [] });
  const backend = new SimBackend(disk, ['t']);
  return { host, disk, raft, backend };
}

t.test('a Completion settles its then-chain synchronously', async (t) => {
  const c = new Completion<number>();
  const seen: string[] = [];
  const chained = c.then((v) => Completion.of(v + 1)).then((v) => { seen.push(`chained ${v}`); return v; });
  c.then((v) => seen.push(`first ${v}`));
  t.same(seen, [], 'nothing runs before it settles');
  c.resolve(1);
  t.same(seen, ['chained 2', 'first 1'], 'callbacks ran inside resolve, adopted thenables included');
  let late = 0;
  chained.then((v) => { late = v; });
  t.equal(late, 2, 'a then on a settled completion runs at once');
  const bad = new Completion<void>();
  let reason: unknown;
  bad.then(() => undefined).then(undefined, (e: unknown) => { reason = e; });
  bad.reject('boom');
  t.equal(reason, 'boom', 'rejections pass through a then without a handler');
  t.throws(() => c.resolve(2), /settles once/);
});

t.test('writes become durable in order at their fsync, not before', async (t) => {
  const { host, raft } = setup();
  const order: number[] = [];
  raft.persist({ snapshot: null, entries: [ent(1)], hardState: null }).then(() => order.push(1));
  raft.persist({ snapshot: null, entries: [ent(2)], hardState: { term: 1, vote: memberId(1n), commit: 1 } }).then(() => order.push(2));
  t.equal(raft.lastIndex(), 0, 'nothing durable before the fsync');
  host.runFor(0.5);
  t.same(order, []);
  host.runFor(2);
  t.same(order, [1, 2]);
  t.equal(raft.lastIndex(), 2);
  t.equal(raft.hardState().commit, 1);
});

t.test('a crash loses unsynced Raft writes and unsynced backend transactions', async (t) => {
  const { host, disk, raft, backend } = setup();
  raft.persist({ snapshot: null, entries: [ent(1)], hardState: null });
  const w1 = backend.writeStaged((txn) => txn.put('t', utf8('a'), utf8('1')));
  let visible = false;
  w1.visible.then(() => { visible = true; });
  t.equal(visible, true, 'a backend write is visible at once');
  host.runFor(2);
  raft.persist({ snapshot: null, entries: [ent(2)], hardState: null });
  backend.writeStaged((txn) => {
    txn.put('t', utf8('a'), utf8('2'));
    txn.put('t', utf8('b'), utf8('new'));
  });
  t.equal(backend.read((r) => fromUtf8(r.get('t', utf8('a'))!)), '2', 'visible before it is durable');
  host.crash('m1');
  const r = disk.crash(new SeededRng(5));
  t.equal(r.lost, 2);
  t.equal(raft.lastIndex(), 1, 'the synced entry stays, the unsynced one is gone');
  t.equal(backend.read((x) => fromUtf8(x.get('t', utf8('a'))!)), '1', 'the unsynced transaction rolled back');
  t.equal(backend.read((x) => x.get('t', utf8('b'))), undefined);
  host.restart('m1');
  t.equal(disk.busy, false);
});

t.test('torn writes keep a prefix of the unsynced writes, the last WAL record cut short', async (t) => {
  let tornSeen = false;
  let keptSeen = false;
  for (let seed = 1; seed <= 40; seed++) {
    const { host, disk, raft } = setup({ torn: true });
    raft.persist({ snapshot: null, entries: [ent(1), ent(2), ent(3)], hardState: { term: 1, vote: memberId(1n), commit: 0 } });
    raft.persist({ snapshot: null, entries: [ent(4), ent(5)], hardState: { term: 2, vote: memberId(1n), commit: 3 } });
    host.crash('m1');
    const r = disk.crash(new SeededRng(seed));
    const last = raft.lastIndex();
    t.ok(last === 0 || last <= 5, 'a prefix survives');
    if (r.kept === 1) t.ok(last >= 3, 'a kept write is whole');
    if (r.torn) {
      tornSeen = true;
      t.not(raft.hardState().term, 2, "a torn record's hard state is lost");
    }
    if (r.kept > 0) keptSeen = true;
  }
  t.ok(tornSeen && keptSeen, 'both torn and kept writes happen over 40 seeds');
});

t.test('the ack-before-fsync mutation acknowledges before durability', async (t) => {
  const { host, disk, raft } = setup({ ack: true });
  let acked = false;
  raft.persist({ snapshot: null, entries: [ent(1)], hardState: null }).then(() => { acked = true; });
  t.equal(acked, true, 'acknowledged at once');
  host.crash('m1');
  disk.crash(new SeededRng(1));
  t.equal(raft.lastIndex(), 0, 'and lost by a crash');
});
