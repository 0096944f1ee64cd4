/**
 * Golden tests: etcd's documented behaviour (shared/spec/etcd-v3-api.md §4, etcd-observed.md),
 * one test per rule, on MemoryBackend: range_end forms, revisions and compaction errors, Put's
 * lease / ignore_value / ignore_lease errors, Txn compares, nested txns, the duplicate-key and
 * max-ops rules, inner headers, keys longer than LMDB's key limit, lease attachments, HashKV.
 */
import t from 'tap';
import { MemoryBackend } from '../../src/backend/index.js';
import { fromUtf8, prefixEnd, utf8, ZERO_BYTE } from '../../src/base/index.js';
import { MVCC_TABLES, MvccStore } from '../../src/mvcc/index.js';
import type { MvccWriter, RangeRequest, Result, RangeResponse } from '../../src/mvcc/index.js';

const u = utf8;
const leases = new Set<bigint>([7n, 8n]);

const backends = new WeakMap<MvccStore, MemoryBackend>();

async function fresh(keys: string[] = []): Promise<MvccStore> {
  const backend = new MemoryBackend(MVCC_TABLES);
  const store = new MvccStore(backend, {
    leases: { exists: (id) => leases.has(id) }, limits: { compactionSliceRevisions: 2 },
  });
  for (const k of keys) await store.write((w) => w.put({ key: u(k), value: u(`v-${k}`) }));
  backends.set(store, backend);
  return store;
}

const keysOf = (r: Result<RangeResponse>): string[] | string =>
  r.ok ? r.kvs.map((kv) => fromUtf8(kv.key)) : r.code;
const write = async <T>(s: MvccStore, fn: (w: MvccWriter) => T): Promise<T> =>
  (await s.write(fn)).result;

t.test('range_end forms: single key, "\\0", prefix end, interval, end <= key', async (t) => {
  const s = await fresh(['a', 'ab', 'abc', 'b', 'c']);
  const r = (req: RangeRequest) => keysOf(s.range(req));
  t.same(r({ key: u('ab') }), ['ab'], 'empty range_end selects exactly key');
  t.same(r({ key: u('ab'), rangeEnd: ZERO_BYTE }), ['ab', 'abc', 'b', 'c'],
    '"\\0" = every key >= key');
  t.same(r({ key: ZERO_BYTE, rangeEnd: ZERO_BYTE }), ['a', 'ab', 'abc', 'b', 'c'], 'all keys');
  t.same(r({ key: u('ab'), rangeEnd: prefixEnd(u('ab')) }), ['ab', 'abc'], 'prefix');
  t.same(r({ key: u('a'), rangeEnd: u('b') }), ['a', 'ab', 'abc'], 'half-open interval');
  t.same(r({ key: u('c'), rangeEnd: u('b') }), [], 'end <= key selects nothing, no error');
  t.same(r({ key: new Uint8Array(0) }), 'ErrEmptyKey', 'empty key is rejected');
});

t.test('revisions: first write is 2, reads at old revisions, future and compacted', async (t) => {
  const s = await fresh();
  const p = await write(s, (w) => w.put({ key: u('k'), value: u('1') }));
  t.same(p.ok && p.header.revision, 2, 'fresh store is at 1, first write makes 2');
  await write(s, (w) => w.put({ key: u('k'), value: u('2') }));
  const old = s.range({ key: u('k'), revision: 2 });
  t.same(old.ok && [fromUtf8(old.kvs[0]!.value), old.header.revision], ['1', 3],
    'old value at revision 2; header carries the current revision');
  t.same(keysOf(s.range({ key: u('k'), revision: 4 })), 'ErrFutureRev');
  const c = await write(s, (w) => w.compact({ revision: 3 }));
  t.ok(c.ok, 'compact to the current revision is allowed');
  t.same(keysOf(s.range({ key: u('k'), revision: 2 })), 'ErrCompacted', 'below the horizon');
  t.same(keysOf(s.range({ key: u('k'), revision: 3 })), ['k'], 'at the horizon still readable');
  const again = await write(s, (w) => w.compact({ revision: 3 }));
  t.same(again, { ok: false, code: 'ErrCompacted' }, 'compact at or below the horizon fails');
  const future = await write(s, (w) => w.compact({ revision: 9 }));
  t.same(future, { ok: false, code: 'ErrFutureRev' });
});

t.test('compaction on a fresh store: 0 and 1 succeed, then 1 again is compacted', async (t) => {
  const s = await fresh();
  t.ok((await write(s, (w) => w.compact({ revision: 0 }))).ok);
  t.ok((await write(s, (w) => w.compact({ revision: 1 }))).ok);
  t.same(await write(s, (w) => w.compact({ revision: 1 })), { ok: false, code: 'ErrCompacted' });
});

t.test('nothing-changing writes do not advance the revision', async (t) => {
  const s = await fresh(['a']);
  const d = await write(s, (w) => w.deleteRange({ key: u('zz') }));
  t.same(d.ok && [d.deleted, d.header.revision], [0, 2]);
  const txn = await write(s, (w) => w.txn({ success: [{ requestRange: { key: u('a') } }] }));
  t.same(txn.ok && txn.header.revision, 2, 'a read-only txn keeps the revision');
  t.same(s.state().current, 2);
});

t.test('put: lease, ignore_value, ignore_lease and their errors', async (t) => {
  const s = await fresh();
  t.same(await write(s, (w) => w.put({ key: u('k'), value: u('x'), lease: 99n })),
    { ok: false, code: 'ErrLeaseNotFound' });
  t.same(await write(s, (w) => w.put({ key: u('k'), value: new Uint8Array(0), ignoreValue: true })),
    { ok: false, code: 'ErrKeyNotFound' });
  t.same(await write(s, (w) => w.put({ key: u('k'), value: u('x'), ignoreValue: true })),
    { ok: false, code: 'ErrValueProvided' });
  t.same(await write(s, (w) => w.put({ key: u('k'), value: u('x'), lease: 7n, ignoreLease: true })),
    { ok: false, code: 'ErrLeaseProvided' });
  await write(s, (w) => w.put({ key: u('k'), value: u('x'), lease: 7n }));
  s.read((v) => t.same(v.keysOfLease(7n).map(fromUtf8), ['k'], 'attached to lease 7'));
  const iv = await write(s, (w) => w.put({
    key: u('k'), value: new Uint8Array(0), ignoreValue: true, prevKv: true, lease: 8n,
  }));
  t.same(iv.ok && iv.prevKv && fromUtf8(iv.prevKv.value), 'x', 'prev_kv returned');
  const kv = s.range({ key: u('k') });
  t.same(kv.ok && [fromUtf8(kv.kvs[0]!.value), kv.kvs[0]!.lease, kv.kvs[0]!.version],
    ['x', 8n, 2], 'ignore_value kept the value; the lease moved');
  s.read((v) => {
    t.same(v.keysOfLease(7n), [], 'detached from lease 7');
    t.same(v.keysOfLease(8n).map(fromUtf8), ['k']);
  });
  await write(s, (w) => w.put({ key: u('k'), value: u('y'), ignoreLease: true }));
  const kept = s.range({ key: u('k') });
  t.same(kept.ok && kept.kvs[0]!.lease, 8n, 'ignore_lease kept the lease');
  await write(s, (w) => w.deleteRange({ key: u('k') }));
  s.read((v) => t.same(v.keysOfLease(8n), [], 'a delete detaches'));
});

t.test('delete and re-create starts a new incarnation', async (t) => {
  const s = await fresh(['k']);
  const d = await write(s, (w) => w.deleteRange({ key: u('k'), prevKv: true }));
  t.same(d.ok && [d.deleted, d.prevKvs.length, d.header.revision], [1, 1, 3]);
  await write(s, (w) => w.put({ key: u('k'), value: u('n') }));
  const r = s.range({ key: u('k') });
  t.same(r.ok && [r.kvs[0]!.createRevision, r.kvs[0]!.version], [4, 1]);
});

t.test('range options: limit/more/count, sort, keys_only, count_only, filters', async (t) => {
  const s = await fresh(['a', 'b', 'c']);
  await write(s, (w) => w.put({ key: u('a'), value: u('z') }));
  const lim = s.range({ key: u('a'), rangeEnd: u('d'), limit: 2 });
  t.same(lim.ok && [keysOf(lim), lim.more, lim.count], [['a', 'b'], true, 3]);
  t.same(keysOf(s.range({ key: u('a'), rangeEnd: u('d'), sortOrder: 'DESCEND' })), ['c', 'b', 'a']);
  t.same(keysOf(s.range({ key: u('a'), rangeEnd: u('d'), sortTarget: 'MOD' })), ['b', 'c', 'a'],
    'a non-key target with order NONE sorts ascending');
  t.same(keysOf(s.range({ key: u('a'), rangeEnd: u('d'), sortTarget: 'VERSION',
    sortOrder: 'DESCEND' })), ['a', 'b', 'c'], 'ties keep key order');
  const ko = s.range({ key: u('a'), keysOnly: true });
  t.same(ko.ok && [ko.kvs[0]!.value.length, ko.kvs[0]!.version], [0, 2]);
  const co = s.range({ key: u('a'), rangeEnd: u('d'), countOnly: true, limit: 1 });
  t.same(co.ok && [co.kvs.length, co.count, co.more], [0, 3, false]);
  const f = s.range({ key: u('a'), rangeEnd: u('d'), minModRevision: 3, maxCreateRevision: 3 });
  t.same(f.ok && [keysOf(f), f.count], [['a', 'b'], 3], 'count ignores the filters');
});

t.test('txn: compares on absent keys, every target, range compares', async (t) => {
  const s = await fresh(['a', 'ab']);
  const run = async (compare: Parameters<MvccWriter['txn']>[0]['compare']) => {
    const r = await write(s, (w) => w.txn({ compare: compare ?? [] }));
    return r.ok ? r.succeeded : r.code;
  };
  t.equal(await run([{ key: u('x'), target: 'CREATE', result: 'EQUAL', createRevision: 0 }]), true,
    'create_revision == 0 means absent');
  t.equal(await run([{ key: u('x'), target: 'VALUE', result: 'NOT_EQUAL', value: u('q') }]), false,
    'a VALUE compare on no key is false whatever the operator');
  t.equal(await run([{ key: u('a'), target: 'VERSION', result: 'GREATER', version: 0 }]), true);
  t.equal(await run([{ key: u('a'), target: 'MOD', result: 'LESS', modRevision: 3 }]), true);
  t.equal(await run([{ key: u('a'), target: 'LEASE', result: 'EQUAL', lease: 0n }]), true);
  t.equal(await run([{ key: u('a'), rangeEnd: u('b'), target: 'VALUE', result: 'EQUAL',
    value: u('v-a') }]), false, 'a range compare must hold for every key');
  t.equal(await run([{ key: u('a'), rangeEnd: u('b'), target: 'CREATE', result: 'GREATER',
    createRevision: 1 }]), true);
  t.equal(await run([{ key: new Uint8Array(0), target: 'VERSION', result: 'EQUAL' }]),
    'ErrEmptyKey');
});

t.test('txn: one revision, sub order, inner headers, nested txn sees pre-txn state', async (t) => {
  const s = await fresh(['a']);
  const { result, changes } = await s.write((w) => w.txn({
    compare: [{ key: u('a'), target: 'VERSION', result: 'EQUAL', version: 1 }],
    success: [
      { requestDeleteRange: { key: u('zz') } },
      { requestPut: { key: u('b'), value: u('1') } },
      { requestRange: { key: u('b') } },
      { requestTxn: {
        compare: [{ key: u('b'), target: 'VERSION', result: 'EQUAL', version: 0 }],
        success: [{ requestPut: { key: u('c'), value: u('2') } }],
        failure: [{ requestPut: { key: u('d'), value: u('3') } }],
      } },
    ],
  }));
  t.ok(result.ok && result.succeeded);
  if (!result.ok) return;
  t.same(result.header.revision, 3);
  const [del, put, range, nested] = result.responses;
  t.same(del && 'responseDeleteRange' in del && del.responseDeleteRange.header.revision, 2,
    'a delete that changed nothing before any change reports the old revision');
  t.same(put && 'responsePut' in put && put.responsePut.header.revision, 3);
  t.same(range && 'responseRange' in range && keysOf({ ok: true, ...range.responseRange }), ['b'],
    'a later range sees the earlier put');
  t.same(nested && 'responseTxn' in nested && [nested.responseTxn.succeeded,
    nested.responseTxn.header.revision], [true, 0], 'nested compare saw b absent; empty header');
  t.same(changes.map((c) => [c.revision, c.events.map((e) => fromUtf8(e.kv.key))]),
    [[3, ['b', 'c']]], 'one change set, events in execution order');
});

t.test('txn: duplicate-key rules and max ops', async (t) => {
  const s = await fresh();
  const code = async (req: Parameters<MvccWriter['txn']>[0]) => {
    const r = await write(s, (w) => w.txn(req));
    return r.ok ? 'ok' : r.code;
  };
  const put = (k: string) => ({ requestPut: { key: u(k), value: u('v') } });
  const del = (k: string, end?: string) => ({
    requestDeleteRange: end === undefined ? { key: u(k) } : { key: u(k), rangeEnd: u(end) },
  });
  t.equal(await code({ success: [put('a'), put('a')] }), 'ErrDuplicateKey', 'two puts');
  t.equal(await code({ success: [del('a', 'c'), put('b')] }), 'ErrDuplicateKey', 'put in a delete');
  t.equal(await code({ success: [put('a'), { requestTxn: { success: [put('a')] } }] }),
    'ErrDuplicateKey', 'nested put of a key the outer txn writes');
  t.equal(await code({ success: [del('a'), del('a')] }), 'ok', 'deleting twice is fine');
  t.equal(await code({ success: [put('a')], failure: [put('a')] }), 'ok', 'success vs failure');
  t.equal(await code({ success: [{ requestTxn: { success: [put('a')], failure: [put('a')] } }] }),
    'ok', 'then/else of one nested txn');
  t.equal(await code({ success: [{}] }), 'ErrKeyNotFound', 'an op with nothing set');
  const many = Array.from({ length: 129 }, (_, i) => put(`k${i}`));
  t.equal(await code({ success: many }), 'ErrTooManyOps');
  t.equal(await code({ compare: Array.from({ length: 129 }, () => ({
    key: u('a'), target: 'VERSION' as const, result: 'EQUAL' as const })) }), 'ErrTooManyOps',
  'more than 128 compares');
  t.equal(await code({ success: [put('x'), { requestPut: { key: u('y'), value: u('v'),
    lease: 5n } }] }), 'ErrLeaseNotFound', 'a failing pre-check fails the whole txn');
  t.same(keysOf(s.range({ key: u('x') })), [], 'and nothing was written');
});

t.test('keys longer than LMDB\'s key limit work, in key order', async (t) => {
  const s = await fresh();
  const long = (c: string, n: number) => u('p'.repeat(3000) + c.repeat(n));
  await write(s, (w) => {
    w.put({ key: long('b', 1), value: u('1') });
    w.put({ key: long('a', 2), value: u('2') });
    w.put({ key: u('p'), value: u('3') });
  });
  const r = s.range({ key: u('p'), rangeEnd: prefixEnd(u('p')) });
  t.same(r.ok && r.kvs.map((kv) => [kv.key.length, fromUtf8(kv.value)]),
    [[1, '3'], [3002, '2'], [3001, '1']]);
  const one = s.range({ key: long('a', 2) });
  t.same(one.ok && one.kvs.length, 1, 'exact lookup of a long key');
});

t.test('HashKV: deterministic, equal with and without physical compaction', async (t) => {
  const build = async () => {
    const s = await fresh(['a', 'b', 'c']);
    await write(s, (w) => {
      w.put({ key: u('a'), value: u('2') });
      w.deleteRange({ key: u('b') });
    });
    await write(s, (w) => w.put({ key: u('d'), value: u('1') }));
    return s;
  };
  const x = await build();
  const y = await build();
  await x.write((w) => w.compact({ revision: 5 }));
  await y.write((w) => w.compact({ revision: 5 }));
  await x.write((w) => { while (w.compactSlice()); });
  const hx = x.read((v) => v.hashKV(0));
  const hy = y.read((v) => v.hashKV(0));
  t.ok(hx.ok && hy.ok);
  if (!hx.ok || !hy.ok) return;
  t.equal(hx.hash, hy.hash, 'physically compacted and not: same HashKV');
  t.same([hx.compactRevision, hx.hashRevision], [5, 7]);
  t.same(x.read((v) => v.hashKV(5)), { ok: false, code: 'ErrCompacted' }, 'bound is inclusive');
  t.same(x.read((v) => v.hashKV(8)), { ok: false, code: 'ErrFutureRev' });
  const z = await build();
  await z.write((w) => w.put({ key: u('e'), value: u('1') }));
  t.not(z.read((v) => v.hashKV(0)).ok && (z.read((v) => v.hashKV(0)) as { hash: number }).hash,
    hx.hash, 'a different history hashes differently');
});

t.test('Hash: equal for equal storage, different after a write', async (t) => {
  const a = await fresh(['a', 'b']);
  const b = await fresh(['a', 'b']);
  const hash = (s: MvccStore) => s.read((v) => v.hash(MVCC_TABLES)).hash;
  t.equal(hash(a), hash(b));
  await a.write((w) => w.put({ key: u('a'), value: u('x') }));
  t.not(hash(a), hash(b));
});

t.test('compaction runs in bounded slices and keeps what etcd keeps', async (t) => {
  const s = await fresh(['a', 'b', 'c', 'd', 'e']);
  await write(s, (w) => {
    w.put({ key: u('a'), value: u('2') });
    w.deleteRange({ key: u('b') });
  });
  await write(s, (w) => w.compact({ revision: 8 }));
  t.equal(s.state().compactTarget, 8, 'logical compaction recorded, physical pending');
  const slices: boolean[] = [];
  for (let i = 0; i < 10 && (slices.length === 0 || slices[slices.length - 1]); i++) {
    slices.push(await write(s, (w) => w.compactSlice()));
  }
  t.same(slices, [true, true, true, false], '7 revision records in slices of 2: four slices');
  t.same(s.state().compactTarget, -1);
  const r = s.range({ key: ZERO_BYTE, rangeEnd: ZERO_BYTE, revision: 8 });
  t.same(r.ok && r.kvs.map((kv) => `${fromUtf8(kv.key)}=${fromUtf8(kv.value)}`),
    ['a=2', 'c=v-c', 'd=v-d', 'e=v-e'], 'latest of each live key kept, deleted b gone');
  const history = s.read((v) => v.hashKV(0));
  t.ok(history.ok, 'HashKV after physical compaction');
  const records = backends.get(s)!.read((txn) => [...txn.range('mvcc.rev', {})].length);
  t.equal(records, 4, 'only a@7, c, d, e remain as revision records');
  t.same(keysOf(s.range({ key: u('b'), revision: 7 })), 'ErrCompacted');
});

t.test('delete events come in key order with their previous values', async (t) => {
  const s = await fresh(['c', 'a', 'b']);
  const { changes } = await s.write((w) => w.deleteRange({ key: u('a'), rangeEnd: u('z') }));
  t.same(changes.map((c) => c.events.map((e) =>
    `${e.type} ${fromUtf8(e.kv.key)}@${e.kv.modRevision} prev=${fromUtf8(e.prevKv!.value)}`)),
  [['DELETE a@5 prev=v-a', 'DELETE b@5 prev=v-b', 'DELETE c@5 prev=v-c']]);
});
