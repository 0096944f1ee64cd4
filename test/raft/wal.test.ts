/**
 * The Raft log's write-ahead file: records round-trip; a record cut short or corrupted by a crash
 * ends the replay there; files roll over and go once released. LmdbRaftStorage with its LMDB
 * writes deferred runs the RaftStorage contract "crashed": reopened from a copy of what LMDB had
 * committed plus the WAL files, so everything acknowledged must come back from the WAL alone
 * (storage.test.ts runs it reopened after a clean close).
 */
import t from 'tap';
import {
  cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memberId } from '../../src/base/index.js';
import type { Entry, HardState } from '../../src/raft/index.js';
import {
  LmdbRaftStorage, RaftWal, acquireEnv, readWal, releaseEnv, walDirOf,
} from '../../src/runtime/node/index.js';
import { CONTRACT_CONF_STATE, storageContract } from './storage-contract.js';

const dirs: string[] = [];
t.teardown(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'strata-wal-'));
  dirs.push(d);
  return d;
};

const entry = (index: number, term: number, size: number): Entry => ({
  index, term, type: index % 5 === 0 ? 'confChange' : 'normal', data: new Uint8Array(size).fill(index & 0xff),
});
const hard = (term: number, commit: number): HardState => ({ term, vote: memberId(0xabcdef0123456789n), commit });

t.test('records round-trip in order; a replay starts after a sequence number', async (t) => {
  const dir = tempDir();
  const wal = new RaftWal(dir, 1, { noSync: true });
  const a = wal.append(hard(2, 0), [entry(1, 2, 10), entry(2, 2, 0)]);
  const b = wal.append(null, [entry(3, 2, 300)]);
  const c = wal.append(hard(3, 3), []);
  t.same([a.seq, b.seq, c.seq], [1, 2, 3]);
  await Promise.all([a.durable, b.durable, c.durable]);
  await wal.close();
  const all = readWal(dir, 0);
  t.same(all.map((r) => r.seq), [1, 2, 3]);
  t.same(all[0]!.hardState, hard(2, 0), 'the hard state, vote included');
  t.same(all[0]!.entries.map((e) => [e.index, e.term, e.type, e.data.length]), [[1, 2, 'normal', 10], [2, 2, 'normal', 0]]);
  t.same(all[1]!.entries[0]!.data, new Uint8Array(300).fill(3), 'entry data');
  t.equal(all[1]!.hardState, null);
  t.same(readWal(dir, 2).map((r) => r.seq), [3], 'after seq 2');
});

t.test('a record cut short or corrupted ends the replay before it', async (t) => {
  const dir = tempDir();
  const wal = new RaftWal(dir, 1, { noSync: true });
  for (let i = 1; i <= 3; i++) await wal.append(null, [entry(i, 1, 50)]).durable;
  await wal.close();
  const [file] = readdirSync(dir);
  const path = join(dir, file!);
  const bytes = readFileSync(path);
  // Where each record ends (the file goes on with preallocated zeros).
  const ends: number[] = [];
  for (let at = 0; ends.length < 3; at = ends[ends.length - 1]!) ends.push(at + 8 + bytes.readUInt32BE(at));
  t.ok(bytes.length > ends[2]!, 'zeros follow the records');
  t.same(readWal(dir, 0).map((r) => r.seq), [1, 2, 3], 'the zeros end the replay');
  truncateSync(path, ends[2]! - 7);
  t.same(readWal(dir, 0).map((r) => r.seq), [1, 2], 'the torn last record is dropped');
  truncateSync(path, 5);
  t.same(readWal(dir, 0), [], 'a header cut short');
  const corrupt = Buffer.from(bytes);
  corrupt[ends[0]! + 20]! ^= 0xff;
  writeFileSync(path, corrupt);
  t.same(readWal(dir, 0).map((r) => r.seq), [1], 'a flipped byte in the second record');
});

t.test('files roll over past their size and go once released', async (t) => {
  const dir = tempDir();
  const wal = new RaftWal(dir, 1, { noSync: true, segmentBytesMax: 100 });
  for (let i = 1; i <= 6; i++) await wal.append(null, [entry(i, 1, 150)]).durable;
  t.equal(readdirSync(dir).length, 6, 'one record per file at this size');
  t.same(readWal(dir, 0).map((r) => r.seq), [1, 2, 3, 4, 5, 6], 'read across files');
  wal.release(3);
  t.same(readdirSync(dir).length, 3, 'files holding only records through 3 are gone');
  t.same(readWal(dir, 3).map((r) => r.seq), [4, 5, 6]);
  wal.release(6);
  t.equal(readdirSync(dir).length, 1, 'the file being appended stays');
  await wal.close();
});

/**
 * A crash: the new directory holds what LMDB committed (a backup of the env, which leaves out
 * what is still staged) and the WAL files as they are; the abandoned storage is closed only at
 * the end, so nothing staged reaches the copy.
 */
storageContract(t, 'LmdbRaftStorage (LMDB deferred, crash)', async () => {
  const tail = { tailEntriesMax: 3, tailBytesMax: 40, deferLmdb: true };
  let dir = tempDir();
  const abandoned: LmdbRaftStorage[] = [];
  let storage = LmdbRaftStorage.open({ path: dir, bootstrap: CONTRACT_CONF_STATE, ...tail });
  return {
    storage,
    reopen: async () => {
      const copy = tempDir();
      const env = acquireEnv({ path: dir });
      await env.backup(copy, false);
      await releaseEnv(env);
      mkdirSync(walDirOf(copy), { recursive: true });
      cpSync(walDirOf(dir), walDirOf(copy), { recursive: true });
      abandoned.push(storage);
      dir = copy;
      storage = LmdbRaftStorage.open({ path: dir, bootstrap: { voters: [], learners: [] }, ...tail });
      return storage;
    },
    close: async () => {
      await storage.close();
      for (const s of abandoned) await s.close();
    },
  };
});

t.test('a crash before LMDB holds the appends: entries and hard state come back from the WAL', async (t) => {
  const dir = tempDir();
  const s = LmdbRaftStorage.open({ path: dir, bootstrap: CONTRACT_CONF_STATE, deferLmdb: true });
  await s.persist({ snapshot: null, entries: [entry(1, 1, 20), entry(2, 1, 20), entry(3, 1, 20)], hardState: hard(1, 0) });
  // A new leader's entries replace 3 on: the conflicting suffix must be dropped on replay too.
  await s.persist({ snapshot: null, entries: [entry(3, 2, 5), entry(4, 2, 5)], hardState: hard(2, 2) });
  const copy = tempDir();
  const env = acquireEnv({ path: dir });
  await env.backup(copy, false);
  await releaseEnv(env);
  cpSync(walDirOf(dir), walDirOf(copy), { recursive: true });
  const back = LmdbRaftStorage.open({ path: copy, deferLmdb: true });
  t.same(back.initialState().hardState, hard(2, 2));
  t.equal(back.lastIndex(), 4);
  const got = back.entries(1, 5, 1e9);
  t.same(got === 'ErrCompacted' ? got : got.map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 2], [4, 2]]);
  t.same(readdirSync(walDirOf(copy)).length, 1, 'the replayed files are gone; a new one is open');
  await back.close();
  // Reopened again: LMDB now holds it all, the WAL adds nothing.
  const again = LmdbRaftStorage.open({ path: copy });
  t.equal(again.lastIndex(), 4);
  t.same(again.initialState().hardState, hard(2, 2));
  await again.close();
  await s.close();
});
