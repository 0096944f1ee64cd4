/**
 * The RaftStorage contract, one suite run against every implementation (MemoryRaftStorage and
 * LmdbRaftStorage): bounds, terms of compacted and unavailable entries, truncation of a
 * conflicting suffix, hard state, snapshots replacing the log, compaction keeping the term of
 * the compacted index, size-limited reads, and (for durable ones) everything surviving a reopen.
 */
import type { Test } from 'tap';
import { memberId, utf8 } from '../../src/base/index.js';
import type { Entry, RaftStorage } from '../../src/raft/index.js';

export interface StorageFixture {
  readonly storage: RaftStorage;
  /** Closes and opens the same log again (durable implementations), or returns the same one. */
  reopen(): Promise<RaftStorage>;
  close(): Promise<void>;
}

const ent = (index: number, term: number, text = `e${index}`): Entry => ({ index, term, type: 'normal', data: utf8(text) });
const cs = { voters: [memberId(1n), memberId(2n), memberId(3n)], learners: [memberId(4n)] };

export function storageContract(t: Test, name: string, make: () => Promise<StorageFixture>): void {
  t.test(`${name}: a fresh log is empty with an index-0 snapshot`, async (t) => {
    const f = await make();
    const s = f.storage;
    t.equal(s.firstIndex(), 1);
    t.equal(s.lastIndex(), 0);
    t.equal(s.term(0), 0);
    t.equal(s.term(1), 'ErrUnavailable');
    t.same(s.initialState().confState, cs);
    t.equal(s.initialState().hardState.term, 0);
    await f.close();
  });

  t.test(`${name}: append, read back, truncate a conflicting suffix`, async (t) => {
    const f = await make();
    const s = f.storage;
    await s.persist({ snapshot: null, entries: [ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)], hardState: null });
    t.equal(s.lastIndex(), 4);
    t.same((s.entries(1, 5, 1e9) as Entry[]).map((e) => e.term), [1, 1, 2, 2]);
    t.equal(s.term(3), 2);
    await s.persist({ snapshot: null, entries: [ent(3, 3, 'x')], hardState: null });
    t.equal(s.lastIndex(), 3, 'entries after the conflict are gone');
    t.equal(s.term(3), 3);
    t.equal(s.term(4), 'ErrUnavailable');
    const got = s.entries(3, 4, 1e9) as Entry[];
    t.equal(new TextDecoder().decode(got[0]!.data), 'x');
    t.throws(() => s.entries(1, 6, 1e9), 'reading beyond the last index is a programmer error');
    await f.close();
  });

  t.test(`${name}: entries are cut after maxBytes but at least one is returned`, async (t) => {
    const f = await make();
    const s = f.storage;
    await s.persist({ snapshot: null, entries: [1, 2, 3, 4].map((i) => ent(i, 1, 'x'.repeat(100))), hardState: null });
    t.equal((s.entries(1, 5, 0) as Entry[]).length, 1);
    t.equal((s.entries(1, 5, 250) as Entry[]).length, 2);
    t.equal((s.entries(1, 5, 1e9) as Entry[]).length, 4);
    await f.close();
  });

  t.test(`${name}: hard state, compaction and snapshots survive a reopen`, async (t) => {
    const f = await make();
    let s = f.storage;
    const ents = Array.from({ length: 10 }, (_, i) => ent(i + 1, i < 5 ? 1 : 2));
    await s.persist({ snapshot: null, entries: ents, hardState: { term: 2, vote: memberId(2n), commit: 8 } });
    await s.createSnapshot(6, cs, utf8('state@6'));
    await s.compact(6);
    t.equal(s.firstIndex(), 7);
    t.equal(s.term(6), 2, 'the compacted index keeps its term');
    t.equal(s.term(5), 'ErrCompacted');
    t.equal(s.entries(5, 8, 1e9), 'ErrCompacted');
    s = await f.reopen();
    t.same(s.initialState().hardState, { term: 2, vote: 2n, commit: 8 });
    t.equal(s.firstIndex(), 7);
    t.equal(s.lastIndex(), 10);
    t.equal(s.term(6), 2);
    t.equal(s.snapshot().metadata.index, 6);
    t.equal(new TextDecoder().decode(s.snapshot().data), 'state@6');
    t.same((s.entries(7, 11, 1e9) as Entry[]).map((e) => e.index), [7, 8, 9, 10]);
    await f.close();
  });

  t.test(`${name}: a received snapshot replaces the whole log`, async (t) => {
    const f = await make();
    let s = f.storage;
    await s.persist({ snapshot: null, entries: [ent(1, 1), ent(2, 1)], hardState: null });
    const snap = { metadata: { index: 20, term: 4, confState: { voters: [memberId(1n)], learners: [] } }, data: utf8('s20') };
    await s.persist({ snapshot: snap, entries: [ent(21, 4)], hardState: { term: 4, vote: memberId(1n), commit: 20 } });
    t.equal(s.firstIndex(), 21);
    t.equal(s.lastIndex(), 21);
    t.equal(s.term(20), 4);
    t.equal(s.term(2), 'ErrCompacted');
    s = await f.reopen();
    t.equal(s.firstIndex(), 21);
    t.equal(s.lastIndex(), 21);
    t.same(s.initialState().confState, { voters: [1n], learners: [] });
    t.equal(s.term(21), 4);
    await f.close();
  });

  t.test(`${name}: many concurrent persists all land, in order`, async (t) => {
    const f = await make();
    let s = f.storage;
    const writes: PromiseLike<void>[] = [];
    for (let i = 1; i <= 50; i++) {
      writes.push(s.persist({ snapshot: null, entries: [ent(i, 1)], hardState: { term: 1, vote: memberId(1n), commit: i - 1 } }));
    }
    await Promise.all(writes);
    t.equal(s.lastIndex(), 50);
    s = await f.reopen();
    t.equal(s.lastIndex(), 50);
    // The commit index is volatile state: a durable log may store it lazily (term and vote never).
    const hs = s.initialState().hardState;
    t.same([hs.term, hs.vote], [1, 1n]);
    t.ok(hs.commit <= 49, `stored commit ${hs.commit} may trail 49, never pass it`);
    await f.close();
  });
}

export const CONTRACT_CONF_STATE = cs;
