/**
 * The event history a lagging watcher catches up from: for random sequences of puts, deletes and
 * txns, reading the history back (in bounded slices) yields exactly the change sets the writes
 * produced, prev_kv included, whole revisions at a time; a start below the compaction point
 * answers "compacted".
 */
import t from 'tap';
import fc from 'fast-check';
import { utf8 } from '../../src/base/index.js';
import { MemoryBackend } from '../../src/backend/index.js';
import { MVCC_TABLES, MvccStore, type ChangeSet, type MvccEvent } from '../../src/mvcc/index.js';

const KEYS = ['a', 'b', 'c', 'd'].map(utf8);

type Op = { kind: 'put'; key: number; value: number } | { kind: 'del'; key: number } | { kind: 'txn'; keys: number[] };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: fc.nat(3), value: fc.nat(9) }),
  fc.record({ kind: fc.constant('del' as const), key: fc.nat(3) }),
  fc.record({ kind: fc.constant('txn' as const), keys: fc.uniqueArray(fc.nat(3), { minLength: 1, maxLength: 3 }) }),
);

async function run(ops: readonly Op[]): Promise<{ store: MvccStore; changes: ChangeSet[] }> {
  const store = new MvccStore(new MemoryBackend(MVCC_TABLES));
  const changes: ChangeSet[] = [];
  for (const o of ops) {
    const written = await store.write((w) => {
      if (o.kind === 'put') w.put({ key: KEYS[o.key]!, value: utf8(String(o.value)) });
      else if (o.kind === 'del') w.deleteRange({ key: KEYS[o.key]! });
      else w.txn({ success: o.keys.map((k) => ({ requestPut: { key: KEYS[k]!, value: utf8(`t${k}`) } })) });
    });
    changes.push(...written.changes);
  }
  return { store, changes };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const kvText = (kv: MvccEvent['kv'] | undefined): string => (kv === undefined ? '-'
  : `${hex(kv.key)}=${hex(kv.value)}@${kv.createRevision}/${kv.modRevision}/v${kv.version}/l${kv.lease}`);
const flat = (events: readonly MvccEvent[]): string =>
  events.map((e) => `${e.type} ${kvText(e.kv)} prev ${kvText(e.prevKv)}`).join('\n');

t.test('history replays exactly the change sets of the writes', async (t) => {
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 30 }), fc.integer({ min: 1, max: 5 }), async (ops, eventsMax) => {
    const { store, changes } = await run(ops);
    const head = store.state().current;
    const got: MvccEvent[] = [];
    for (let from = 2; from <= head;) {
      const r = store.read((v) => v.history({
        fromRevision: from, toRevision: head, wanted: () => true, eventsMax, bytesMax: 1 << 20, revisionsMax: 1000,
      }));
      if (r.compacted) throw new Error('not compacted');
      if (r.nextRevision <= from) throw new Error('history made no progress');
      got.push(...r.events);
      from = r.nextRevision;
    }
    const want = changes.flatMap((c) => c.events);
    return flat(got) === flat(want);
  }), { numRuns: 150 });
  t.pass('property held');
});

t.test('history filters by key, keeps revisions whole and reports compaction', async (t) => {
  const { store } = await run([
    { kind: 'put', key: 0, value: 1 }, { kind: 'txn', keys: [0, 1, 2] }, { kind: 'put', key: 1, value: 2 },
  ]);
  const onlyB = store.read((v) => v.history({
    fromRevision: 1, toRevision: 10, wanted: (k) => k[0] === 0x62, eventsMax: 100, bytesMax: 1 << 20, revisionsMax: 100,
  }));
  t.same(onlyB.compacted ? [] : onlyB.events.map((e) => e.kv.modRevision), [3, 4]);
  const oneEvent = store.read((v) => v.history({
    fromRevision: 3, toRevision: 10, wanted: () => true, eventsMax: 1, bytesMax: 1 << 20, revisionsMax: 100,
  }));
  t.equal(oneEvent.compacted ? -1 : oneEvent.events.length, 3, 'a txn revision is never split');
  t.equal(oneEvent.compacted ? -1 : oneEvent.nextRevision, 4);
  await store.write((w) => { w.compact({ revision: 3 }); });
  const old = store.read((v) => v.history({
    fromRevision: 2, toRevision: 10, wanted: () => true, eventsMax: 100, bytesMax: 1 << 20, revisionsMax: 100,
  }));
  t.same(old, { compacted: true, compactRevision: 3 });
});
