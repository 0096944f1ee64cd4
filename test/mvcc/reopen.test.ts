/**
 * Restart state: a store on LMDB is closed mid-history (with a compaction half done) and
 * reopened; the current and compacted revisions, the applied index, every live revision's range
 * and HashKV are identical after reopening, and writing continues from the stored revision.
 * A data dir of the layout before the in-memory key index (two more tables, a compaction cursor
 * that was an index key) opens and reads the same. Uses a durable env (default sync) in a temp
 * dir, removed afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { toHex, utf8, ZERO_BYTE } from '../../src/base/index.js';
import { decodeMeta, encodeMeta, META_KEY } from '../../src/mvcc/codec.js';
import { MVCC_TABLES, MvccStore } from '../../src/mvcc/index.js';
import { LmdbBackend } from '../../src/runtime/node/lmdb-backend.js';

function snapshot(store: MvccStore): string {
  const meta = store.state();
  const parts: string[] = [JSON.stringify(meta, (_k, v: unknown) =>
    v instanceof Uint8Array ? toHex(v) : v)];
  for (let rev = Math.max(1, meta.compacted); rev <= meta.current; rev++) {
    const r = store.range({ key: ZERO_BYTE, rangeEnd: ZERO_BYTE, revision: rev });
    parts.push(r.ok ? r.kvs.map((kv) => `${toHex(kv.key)}=${toHex(kv.value)}/${kv.version}`)
      .join(',') : r.code);
  }
  const h = store.read((v) => v.hashKV(0));
  parts.push(h.ok ? String(h.hash) : h.code);
  return parts.join('\n');
}

t.test('close and reopen mid-history: identical state and HashKV', async (t) => {
  const path = mkdtempSync(join(tmpdir(), 'strata-reopen-'));
  t.teardown(() => rmSync(path, { recursive: true, force: true }));
  const options = { limits: { compactionSliceRevisions: 3 } };
  let backend = LmdbBackend.open({ path, tables: MVCC_TABLES });
  let store = new MvccStore(backend, options);
  for (let i = 0; i < 30; i++) {
    await store.write((w) => {
      w.put({ key: utf8(`k${i % 7}`), value: utf8(`v${i}`) });
      if (i % 5 === 4) w.deleteRange({ key: utf8(`k${i % 3}`) });
    }, { appliedIndex: 100 + i });
  }
  await store.write((w) => {
    w.compact({ revision: 20 });
    w.compactSlice();
  });
  const before = snapshot(store);
  t.equal(store.state().compactTarget, 20, 'physical compaction is still in progress');
  await backend.close();

  backend = LmdbBackend.open({ path, tables: MVCC_TABLES });
  store = new MvccStore(backend, options);
  t.equal(snapshot(store), before, 'same state after reopening');
  t.equal(store.state().appliedIndex, 129, 'applied index stored with the data');
  await store.write((w) => { while (w.compactSlice()); });
  t.equal(snapshot(store).split('\n').slice(1).join('\n'), before.split('\n').slice(1).join('\n'),
    'finishing the compaction changes no reads and no HashKV');
  const p = await store.write((w) => w.put({ key: utf8('new'), value: utf8('x') }));
  t.equal(p.revision, JSON.parse(before.split('\n')[0]!).current + 1, 'revisions continue');
  await backend.close();
});

t.test('a data dir of the older layout opens: the index comes from the revision records', async (t) => {
  const path = mkdtempSync(join(tmpdir(), 'strata-reopen-old-'));
  t.teardown(() => rmSync(path, { recursive: true, force: true }));
  const old = ['mvcc.index', 'mvcc.keyrev'];
  let backend = LmdbBackend.open({ path, tables: [...MVCC_TABLES, ...old] });
  let store = new MvccStore(backend);
  for (let i = 0; i < 12; i++) {
    await store.write((w) => w.put({ key: utf8(`k${i % 4}`), value: utf8(`v${i}`) }));
  }
  // The older layout's own tables, and a compaction it left half done with an index-key cursor.
  await backend.write((txn) => {
    txn.put('mvcc.index', utf8('k0'), utf8('an index record of the old layout'));
    txn.put('mvcc.keyrev', utf8('k0-rev'), utf8('x'));
    const meta = decodeMeta(txn.get('mvcc.meta', META_KEY));
    txn.put('mvcc.meta', META_KEY, encodeMeta({
      ...meta, compacted: 6, compactTarget: 6, compactCursor: utf8('k1'),
    }));
  });
  await backend.close();

  backend = LmdbBackend.open({ path, tables: MVCC_TABLES });
  store = new MvccStore(backend, { limits: { compactionSliceRevisions: 2 } });
  const state = store.state();
  t.equal(state.compactCursor, null, 'the old cursor reads as none');
  const before = snapshot(store);
  const r = store.range({ key: ZERO_BYTE, rangeEnd: ZERO_BYTE });
  t.same(r.ok && r.kvs.map((kv) => `${String.fromCharCode(...kv.key)}=${String.fromCharCode(...kv.value)}`),
    ['k0=v8', 'k1=v9', 'k2=v10', 'k3=v11']);
  // Put i is revision i + 2: at revision 6, puts 0..4.
  t.same(keysAt(store, 6), ['k0=v4', 'k1=v1', 'k2=v2', 'k3=v3'], 'reads at the compacted revision still work');
  await store.write((w) => { while (w.compactSlice()); });
  t.equal(snapshot(store).split('\n').slice(1).join('\n'), before.split('\n').slice(1).join('\n'),
    'the compaction finishes from the start and changes no reads');
  const left = backend.read((txn) => [...txn.range('mvcc.rev', {})].length);
  t.equal(left, 12 - 1, 'of the records at or below 6 only k0\'s first put (revision 2) goes');
  await backend.close();
});

function keysAt(store: MvccStore, revision: number): string[] | string {
  const r = store.range({ key: ZERO_BYTE, rangeEnd: ZERO_BYTE, revision });
  return r.ok ? r.kvs.map((kv) => `${String.fromCharCode(...kv.key)}=${String.fromCharCode(...kv.value)}`)
    : r.code;
}
