/**
 * Runs the RaftStorage contract (storage-contract.ts) against MemoryRaftStorage and against
 * LmdbRaftStorage in a temporary directory (removed afterwards); the LMDB run reopens the env to
 * prove that what a resolved write promised is on disk. LmdbRaftStorage runs it again with a tiny
 * in-memory tail, and is checked against MemoryRaftStorage as a model through random appends,
 * conflicting suffixes, compactions, snapshots and reopens; old msgpack log records stay readable
 * and a corrupt record fails loudly.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { Packr } from 'msgpackr';
import { EMPTY_BYTES, SeededRng, memberId, utf8 } from '../../src/base/index.js';
import { MemoryRaftStorage, RawNode, type Entry, type RaftStorage } from '../../src/raft/index.js';
import {
  HARD_STATE_COMMIT_LAG_MAX, LmdbRaftStorage, RAFT_LOG_TABLE, RAFT_META_TABLE, importRaftLog,
} from '../../src/runtime/node/lmdb-raft-storage.js';
import { LmdbBackend } from '../../src/runtime/node/lmdb-backend.js';
import { CONTRACT_CONF_STATE, storageContract } from './storage-contract.js';

storageContract(t, 'MemoryRaftStorage', async () => {
  const storage = new MemoryRaftStorage(CONTRACT_CONF_STATE);
  return { storage, reopen: async () => storage, close: async () => {} };
});

const dirs: string[] = [];
t.teardown(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

storageContract(t, 'LmdbRaftStorage', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-raft-'));
  dirs.push(dir);
  let storage = LmdbRaftStorage.open({ path: dir, bootstrap: CONTRACT_CONF_STATE });
  return {
    storage,
    reopen: async () => {
      await storage.close();
      storage = LmdbRaftStorage.open({ path: dir, bootstrap: { voters: [], learners: [] } });
      return storage;
    },
    close: async () => { await storage.close(); },
  };
});

// The same contract with an in-memory tail of 3 entries and ~2 small entries' bytes: reads cross
// from LMDB into the tail, and appends, truncations and compactions cut the tail at its edges.
// Again with the log's LMDB writes deferred, as in the `single` placement: reads past the tail
// then come from the env's overlay, and a reopen replays nothing the close did not commit.
for (const [label, options] of [
  ['tiny tail', { tailEntriesMax: 3, tailBytesMax: 40 }],
  ['tiny tail, LMDB deferred', { tailEntriesMax: 3, tailBytesMax: 40, deferLmdb: true }],
] as const) {
  storageContract(t, `LmdbRaftStorage (${label})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-raft-'));
    dirs.push(dir);
    let storage = LmdbRaftStorage.open({ path: dir, bootstrap: CONTRACT_CONF_STATE, ...options });
    return {
      storage,
      reopen: async () => {
        await storage.close();
        storage = LmdbRaftStorage.open({ path: dir, bootstrap: { voters: [], learners: [] }, ...options });
        return storage;
      },
      close: async () => { await storage.close(); },
    };
  });
}

const entry = (index: number, term: number, size: number): Entry => ({
  index, term, type: index % 7 === 0 ? 'confChange' : 'normal', data: new Uint8Array(size).fill(index & 0xff),
});

/** Every answer of `s` equals the model's: bounds, each term, every [lo, hi) under a few sizes. */
function sameAsModel(t: Test, s: RaftStorage, model: MemoryRaftStorage, what: string): void {
  t.equal(s.firstIndex(), model.firstIndex(), `${what}: first index`);
  t.equal(s.lastIndex(), model.lastIndex(), `${what}: last index`);
  const first = model.firstIndex(), last = model.lastIndex();
  for (let i = Math.max(0, first - 2); i <= last + 1; i++) {
    if (s.term(i) !== model.term(i)) t.fail(`${what}: term(${i}) ${String(s.term(i))} vs ${String(model.term(i))}`);
  }
  for (let lo = first - 1; lo <= last + 1; lo++) {
    for (const hi of [lo, lo + 1, lo + 3, last + 1]) {
      if (hi < lo || hi > last + 1 || lo < 1) continue;
      for (const maxBytes of [0, 60, 1e9]) {
        const a = s.entries(lo, hi, maxBytes), b = model.entries(lo, hi, maxBytes);
        if (JSON.stringify(summary(a)) !== JSON.stringify(summary(b))) {
          t.fail(`${what}: entries(${lo}, ${hi}, ${maxBytes}) ${JSON.stringify(summary(a))} vs ${JSON.stringify(summary(b))}`);
        }
      }
    }
  }
}

function summary(r: readonly Entry[] | 'ErrCompacted'): unknown {
  if (r === 'ErrCompacted') return r;
  return r.map((e) => [e.index, e.term, e.type, e.data.length, e.data[0] ?? -1]);
}

t.test('LmdbRaftStorage with a small tail answers as the in-memory model through random appends, '
  + 'conflicts, compactions, snapshots and reopens', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-raft-'));
  dirs.push(dir);
  const rng = new SeededRng(7);
  const tail = { tailEntriesMax: 5, tailBytesMax: 200 };
  let s = LmdbRaftStorage.open({ path: dir, bootstrap: CONTRACT_CONF_STATE, ...tail });
  const model = new MemoryRaftStorage(CONTRACT_CONF_STATE);
  let term = 1;
  for (let step = 0; step < 120; step++) {
    const roll = rng.int(0, 99);
    const first = model.firstIndex(), last = model.lastIndex();
    if (roll < 60) {
      // Append, often overwriting a suffix (never below the first index).
      const from = rng.int(0, 2) === 0 && last >= first ? rng.int(first, last) : last + 1;
      if (from < last + 1) term++;
      const ents = Array.from({ length: rng.int(1, 6) }, (_, k) => entry(from + k, term, rng.int(0, 90)));
      // Raft's commit never goes back; a compaction point or a received snapshot is committed.
      const batch = { snapshot: null, entries: ents, hardState: { term, vote: memberId(1n), commit: first - 1 } };
      await s.persist(batch);
      model.persistSync(batch);
    } else if (roll < 75 && last > first) {
      const to = rng.int(first, last - 1);
      await s.createSnapshot(to, CONTRACT_CONF_STATE, EMPTY_BYTES);
      await s.compact(to);
      model.createSnapshotSync(to, CONTRACT_CONF_STATE, EMPTY_BYTES);
      model.compactSync(to);
    } else if (roll < 82) {
      // A snapshot from a leader replaces the log, with entries after it.
      term++;
      const at = last + rng.int(1, 4);
      const snap = { metadata: { index: at, term, confState: CONTRACT_CONF_STATE }, data: EMPTY_BYTES };
      const batch = { snapshot: snap, entries: [entry(at + 1, term, 10)], hardState: { term, vote: memberId(1n), commit: at } };
      await s.persist(batch);
      model.persistSync(batch);
    } else if (roll < 90) {
      await s.close();
      s = LmdbRaftStorage.open({ path: dir, ...tail });
    } else {
      // Writes issued together (one group commit) land in order.
      const a = Array.from({ length: 3 }, (_, k) => entry(last + 1 + k, term, 20));
      const writes = a.map((e) => ({ snapshot: null, entries: [e], hardState: null }));
      await Promise.all(writes.map((w) => s.persist(w)));
      for (const w of writes) model.persistSync(w);
    }
    sameAsModel(t, s, model, `step ${step}`);
  }
  t.pass('120 random steps agreed with the model');
  await s.close();
});

t.test('LmdbRaftStorage writes a commit-only hard state lazily, never below the snapshot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-raft-'));
  dirs.push(dir);
  const one = memberId(1n);
  let s = LmdbRaftStorage.open({ path: dir, bootstrap: { voters: [one], learners: [] } });
  const reopen = async (): Promise<LmdbRaftStorage> => {
    await s.close();
    s = LmdbRaftStorage.open({ path: dir });
    return s;
  };
  let next = 1;
  const append = async (n: number, hs: { term: number; commit: number }): Promise<void> => {
    const ents = Array.from({ length: n }, () => entry(next++, hs.term, 8));
    await s.persist({ snapshot: null, entries: ents, hardState: { term: hs.term, vote: one, commit: hs.commit } });
  };
  await append(10, { term: 1, commit: 0 });
  await append(10, { term: 1, commit: 10 });
  await append(10, { term: 1, commit: 20 });
  t.same((await reopen()).initialState().hardState, { term: 1, vote: one, commit: 0 },
    'a moved commit alone is not written');
  await append(1, { term: 2, commit: 25 });
  t.same((await reopen()).initialState().hardState, { term: 2, vote: one, commit: 25 },
    'a new term is written with its commit');
  await append(1, { term: 2, commit: 25 + HARD_STATE_COMMIT_LAG_MAX - 1 });
  t.equal((await reopen()).initialState().hardState.commit, 25, 'within the lag bound: not written');
  await append(1, { term: 2, commit: 25 + HARD_STATE_COMMIT_LAG_MAX });
  t.equal((await reopen()).initialState().hardState.commit, 25 + HARD_STATE_COMMIT_LAG_MAX,
    'the lag bound forces a write');

  // A snapshot beyond the stored commit raises it in the same write; the log restarts in a Raft node.
  const s2dir = mkdtempSync(join(tmpdir(), 'strata-raft-'));
  dirs.push(s2dir);
  await s.close();
  s = LmdbRaftStorage.open({ path: s2dir, bootstrap: { voters: [one], learners: [] } });
  next = 1;
  await append(10, { term: 1, commit: 0 });
  await append(10, { term: 1, commit: 15 });
  await s.createSnapshot(12, { voters: [one], learners: [] }, EMPTY_BYTES);
  await s.compact(12);
  await s.close();
  s = LmdbRaftStorage.open({ path: s2dir });
  t.same(s.initialState().hardState, { term: 1, vote: one, commit: 12 }, 'the stored commit reaches the snapshot');
  t.equal(s.firstIndex(), 13);
  // The raft actor starts the node at min(mvcc applied, stored commit), as here.
  const node = new RawNode({ id: one, storage: s, rng: new SeededRng(1), applied: Math.min(20, 12) });
  t.equal(node.status().commit, 12, 'a Raft node loads it (commit not below the snapshot)');
  // A commit that went back is a caller bug.
  await t.rejects(s.persist({ snapshot: null, entries: [], hardState: { term: 1, vote: one, commit: 3 } }),
    /commit went back/);
  await s.close();
});

t.test('LmdbRaftStorage reads logs written as msgpack records (before the binary layout)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-raft-'));
  dirs.push(dir);
  const env = open({ path: dir });
  const log = env.openDB<Uint8Array, Uint8Array>({ name: RAFT_LOG_TABLE, keyEncoding: 'binary', encoding: 'binary' });
  const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });
  for (let i = 1; i <= 3; i++) {
    const key = new Uint8Array(8);
    key[7] = i;
    await log.put(key, packr.pack([1, i, i === 2 ? 1 : 0, utf8(`old${i}`)]));
  }
  await env.close();
  const s = LmdbRaftStorage.open({ path: dir });
  t.equal(s.lastIndex(), 3);
  t.equal(s.term(2), 1);
  const got = s.entries(1, 4, 1e9) as Entry[];
  t.same(got.map((e) => [e.index, e.type, new TextDecoder().decode(e.data)]),
    [[1, 'normal', 'old1'], [2, 'confChange', 'old2'], [3, 'normal', 'old3']]);
  await s.persist({ snapshot: null, entries: [{ index: 4, term: 2, type: 'normal', data: utf8('new4') }], hardState: null });
  await s.close();
  const again = LmdbRaftStorage.open({ path: dir, tailEntriesMax: 1 });
  t.same((again.entries(3, 5, 1e9) as Entry[]).map((e) => new TextDecoder().decode(e.data)), ['old3', 'new4']);
  await again.close();
});

t.test('a corrupt log record fails loudly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-raft-'));
  dirs.push(dir);
  const s = LmdbRaftStorage.open({ path: dir, tailEntriesMax: 1 });
  await s.persist({ snapshot: null, entries: [1, 2].map((i) => entry(i, 1, 4)), hardState: null });
  await s.close();
  const env = open({ path: dir });
  const log = env.openDB<Uint8Array, Uint8Array>({ name: RAFT_LOG_TABLE, keyEncoding: 'binary', encoding: 'binary' });
  const key = new Uint8Array(8);
  key[7] = 1;
  const bad = Uint8Array.from(log.getBinary(key)!);
  bad[17] = 9; // the index field now says 9
  await log.put(key, bad);
  await env.close();
  const again = LmdbRaftStorage.open({ path: dir, tailEntriesMax: 1 });
  t.throws(() => again.entries(1, 3, 1e9), /says index/);
  t.throws(() => again.term(1), /says index/);
  await again.close();
});

t.test('a log kept in its own env (older data dirs) is imported whole into the member env', async (t) => {
  const [built, legacy, member] = [0, 1, 2].map(() => {
    const d = mkdtempSync(join(tmpdir(), 'strata-raft-'));
    dirs.push(d);
    return d;
  }) as [string, string, string];
  // A log as the storage writes it, then copied under the old databases' names into an env of its own.
  const s = LmdbRaftStorage.open({ path: built, bootstrap: CONTRACT_CONF_STATE });
  await s.persist({ snapshot: null, entries: [1, 2, 3].map((i) => entry(i, 2, 8)), hardState: { term: 2, vote: memberId(1n), commit: 3 } });
  await s.close();
  const src = open({ path: built, maxDbs: 64 });
  const old = open({ path: legacy, maxDbs: 64 });
  for (const [from, to] of [[RAFT_LOG_TABLE, 'log'], [RAFT_META_TABLE, 'meta']] as const) {
    const a = src.openDB<Uint8Array, Uint8Array>({ name: from, keyEncoding: 'binary', encoding: 'binary' });
    const b = old.openDB<Uint8Array, Uint8Array>({ name: to, keyEncoding: 'binary', encoding: 'binary' });
    for (const { key, value } of a.getRange({})) await b.put(key as Uint8Array, value);
  }
  await src.close();
  await old.close();
  // The member env already has mvcc data and a stale log: the import replaces the log only.
  const backend = LmdbBackend.open({ path: member, tables: ['kv'] });
  await backend.write((w) => w.put('kv', utf8('k'), utf8('v')));
  const stale = LmdbRaftStorage.open({ path: member });
  await stale.persist({ snapshot: null, entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1, 4)), hardState: null });
  await stale.close();
  t.same(await importRaftLog(legacy, member), { entries: 3 });
  const got = LmdbRaftStorage.open({ path: member });
  t.equal(got.lastIndex(), 3, 'the imported log replaced the stale one');
  t.same(got.initialState().hardState, { term: 2, vote: memberId(1n), commit: 3 });
  t.same((got.entries(1, 4, 1e9) as Entry[]).map((e) => e.term), [2, 2, 2]);
  await got.close();
  t.same(backend.read((r) => r.get('kv', utf8('k'))), utf8('v'), 'the mvcc tables are untouched');
  await backend.close();
});
