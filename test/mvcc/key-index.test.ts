/**
 * The in-memory key index (src/mvcc/key-index.ts, sorted-map.ts):
 * - latin1Of keeps memcmp order (JS string order of the latin1 strings), at any length;
 * - SortedMap agrees with a plain model (a Map and a sorted key list) under random sets, deletes,
 *   gets and range scans, across chunk splits and chunk removals, and its structure stays sound;
 * - KeyHistory answers "the key's put at rev" with etcd's keyIndex rules (generations ended by
 *   tombstones), and compacts with etcd's rule, case by case from etcd's key_index_test;
 * - a store's index is shared by the stores of one backend identity, built at first use from the
 *   records, and a store whose write throws drops it so the next use rebuilds it.
 */
import fc from 'fast-check';
import t from 'tap';
import { compareBytes, utf8 } from '../../src/base/index.js';
import { MemoryBackend } from '../../src/backend/index.js';
import { KeyHistory, keyIndexOf } from '../../src/mvcc/key-index.js';
import { CHUNK_KEYS_MAX, latin1Of, SortedMap } from '../../src/mvcc/sorted-map.js';
import { MVCC_TABLES, MvccStore } from '../../src/mvcc/index.js';

const keyOf = (n: number): string => latin1Of(utf8(n.toString(36).padStart(2, '0')));

t.test('latin1Of keeps memcmp order and length', async (t) => {
  const bytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 4000, maxLength: 9000 }));
  fc.assert(fc.property(bytes, bytes, (a, b) => {
    const x = latin1Of(a);
    const y = latin1Of(b);
    const sign = Math.sign(compareBytes(a, b));
    return x.length === a.length && (x < y ? -1 : x > y ? 1 : 0) === sign
      && [...x].every((c, i) => c.charCodeAt(0) === a[i]);
  }), { numRuns: 300, seed: 5 });
  t.equal(latin1Of(Uint8Array.of(0x00, 0x80, 0xff)), '\u0000\u0080\u00ff');
});

t.test('SortedMap agrees with a model across splits and removals', async (t) => {
  const op = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), k: fc.nat(2500), v: fc.nat() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), k: fc.nat(2500) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('get' as const), k: fc.nat(2500) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('range' as const), k: fc.nat(2500), n: fc.nat(900) }) },
  );
  fc.assert(fc.property(fc.array(op, { minLength: 200, maxLength: 4000 }), (ops) => {
    const map = new SortedMap<number>();
    const model = new Map<string, { key: string; v: number }>();
    for (const o of ops) {
      const key = keyOf(o.k);
      const hex = key;
      if (o.kind === 'set') {
        map.set(key, o.v);
        model.set(hex, { key, v: o.v });
      } else if (o.kind === 'delete') {
        if (map.delete(key) !== model.delete(hex)) return false;
      } else if (o.kind === 'get') {
        if (map.get(key) !== model.get(hex)?.v) return false;
      } else {
        const end = keyOf(o.k + o.n);
        const got = [...map.range(key, end)].map(([k, v]) => `${k}=${v}`);
        const want = [...model.values()].filter((e) => e.key >= key && e.key < end)
          .sort((a, b) => (a.key < b.key ? -1 : 1)).map((e) => `${e.key}=${e.v}`);
        if (got.join() !== want.join()) return false;
      }
      if (map.size !== model.size) return false;
    }
    map.check();
    const all = [...map.range('')].map(([k]) => k);
    return all.join() === [...model.keys()].sort().join();
  }), { numRuns: 40, seed: 11 });
  t.pass('no disagreement');
});

t.test('SortedMap splits a chunk past its maximum and drops emptied chunks', async (t) => {
  const map = new SortedMap<number>();
  const n = CHUNK_KEYS_MAX * 3;
  for (let i = n - 1; i >= 0; i--) map.set(keyOf(i), i);
  map.check();
  t.equal(map.size, n);
  t.same([...map.range(keyOf(10), keyOf(13))].map(([, v]) => v), [10, 11, 12]);
  for (let i = 0; i < n; i += 2) map.delete(keyOf(i));
  map.check();
  t.equal(map.size, n / 2);
  for (let i = 1; i < n; i += 2) t.ok(map.delete(keyOf(i)) || t.fail(`delete ${i}`));
  map.check();
  t.equal(map.size, 0);
  t.same([...map.range('')], []);
  t.equal(map.get(keyOf(1)), undefined);
});

/** A history from etcd-style notation: [main, sub, created] triples; created 0 = tombstone. */
function history(...revs: Array<[number, number, number]>): KeyHistory {
  const h = new KeyHistory(utf8('foo'), 'foo');
  for (const [main, sub, created] of revs) h.add(main, sub, created);
  return h;
}

// etcd's key_index_test fixture: put 2, 4, tombstone 6; put 8, 10, tombstone 12; put 14, 14.1, 16.
const fixture = (): KeyHistory => history(
  [2, 0, 2], [4, 0, 2], [6, 0, 0], [8, 0, 8], [10, 0, 8], [12, 0, 0], [14, 0, 14], [14, 1, 14], [16, 0, 14],
);

t.test('KeyHistory.findAt follows generations (etcd TestKeyIndexGet)', async (t) => {
  const h = fixture();
  const cases: Array<[number, [number, number, number] | undefined]> = [
    [17, [16, 0, 14]], [16, [16, 0, 14]], [15, [14, 1, 14]], [14, [14, 1, 14]],
    [13, undefined], [12, undefined], [11, [10, 0, 8]], [10, [10, 0, 8]], [9, [8, 0, 8]],
    [8, [8, 0, 8]], [7, undefined], [6, undefined], [5, [4, 0, 2]], [4, [4, 0, 2]],
    [3, [2, 0, 2]], [2, [2, 0, 2]], [1, undefined], [0, undefined],
  ];
  for (const [rev, want] of cases) {
    const f = h.findAt(rev);
    t.same(f === undefined ? undefined : [f.main, f.sub, f.created], want, `at ${rev}`);
  }
  t.ok(h.has(14, 1) && !h.has(14, 2) && !h.has(3, 0), 'has names exact revisions');
  t.throws(() => h.add(16, 0, 14), 'revisions grow');
});

t.test('KeyHistory.compact keeps what etcd keeps (TestKeyIndexCompactAndKeep)', async (t) => {
  // at -> the entries left (etcd's expected keyIndex after Compact(at)).
  const cases: Array<[number, number[]]> = [
    [1, [2, 4, 6, 8, 10, 12, 14, 14.1, 16]],
    [2, [2, 4, 6, 8, 10, 12, 14, 14.1, 16]],
    [3, [2, 4, 6, 8, 10, 12, 14, 14.1, 16]],
    [4, [4, 6, 8, 10, 12, 14, 14.1, 16]],
    [5, [4, 6, 8, 10, 12, 14, 14.1, 16]],
    [6, [8, 10, 12, 14, 14.1, 16]],
    [7, [8, 10, 12, 14, 14.1, 16]],
    [8, [8, 10, 12, 14, 14.1, 16]],
    [9, [8, 10, 12, 14, 14.1, 16]],
    [10, [10, 12, 14, 14.1, 16]],
    [11, [10, 12, 14, 14.1, 16]],
    [12, [14, 14.1, 16]],
    [13, [14, 14.1, 16]],
    [14, [14.1, 16]],
    [15, [14.1, 16]],
    [16, [16]],
    [17, [16]],
  ];
  for (const [at, want] of cases) {
    const h = fixture();
    t.ok(h.compact(at), `something is left at ${at}`);
    t.same(h.entries().map(([m, s]) => m + s / 10), want, `compact at ${at}`);
  }
  const deleted = history([2, 0, 2], [4, 0, 0]);
  t.notOk(deleted.compact(4), 'a key whose newest revision at the compaction is a tombstone is gone');
  t.equal(deleted.count, 0);
});

t.test('stores of one backend share one index, built from the records at first use', async (t) => {
  const backend = new MemoryBackend(MVCC_TABLES);
  const writer = new MvccStore(backend);
  await writer.write((w) => {
    w.put({ key: utf8('a'), value: utf8('1') });
    w.put({ key: utf8('b'), value: utf8('2') });
    w.deleteRange({ key: utf8('a') });
  });
  const index = keyIndexOf(backend);
  t.equal(index.size, 2, 'a deleted key stays indexed until compaction');
  const reader = new MvccStore(backend);
  const r = reader.range({ key: utf8('a'), rangeEnd: utf8('z') });
  t.ok(r.ok && r.kvs.map((kv) => kv.key.join()).join() === utf8('b').join(), 'a second store reads the same index');
  t.equal(keyIndexOf(backend), index, 'one index per identity');

  // A write that throws is rolled back by the backend; the index is dropped with it.
  await t.rejects(writer.write((w) => {
    w.put({ key: utf8('c'), value: utf8('3') });
    throw new Error('boom');
  }));
  t.not(keyIndexOf(backend), index, 'the index was dropped');
  const after = reader.range({ key: utf8('a'), rangeEnd: utf8('z'), revision: 0 });
  t.ok(after.ok && after.kvs.length === 1 && after.header.revision === 4, 'and rebuilt without the rolled-back put');
  t.equal(keyIndexOf(backend).size, 2);
  keyIndexOf(backend).check();
});
