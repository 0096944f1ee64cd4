/**
 * A put costs the same however long its key's history is, and a read at an old revision touches
 * a bounded number of records (the fix for the key index that rewrote a key's whole history on
 * every put: quadratic work under etcd's benchmark default of one hot key). How: one key is put
 * 20,000 times in write transactions of 64 puts, on a MemoryBackend wrapped in a counter of the
 * bytes and entries every get / range / put / delete touches; the last 1,000 puts may touch no
 * more bytes than the first 1,000 beyond a little slack for wider integer encodings (msgpack
 * writes the growing version and revisions in more bytes). CPU work in bytes, never wall time.
 */
import t from 'tap';
import { utf8 } from '../../src/base/index.js';
import { MemoryBackend } from '../../src/backend/index.js';
import type {
  Backend, BackendEntry, RangeOptions, ReadTxn, StagedWrite, WriteTxn,
} from '../../src/backend/index.js';
import { MVCC_TABLES, MvccStore } from '../../src/mvcc/index.js';

/** Bytes and entries of keys and values crossing the backend interface, per table. */
class Counter {
  readonly bytes = new Map<string, number>();
  entries = 0;

  add(table: string, key: Uint8Array, value: Uint8Array | undefined): void {
    this.bytes.set(table, (this.bytes.get(table) ?? 0) + key.length + (value?.length ?? 0));
    this.entries++;
  }

  total(): number {
    let n = 0;
    for (const b of this.bytes.values()) n += b;
    return n;
  }

  reset(): void {
    this.bytes.clear();
    this.entries = 0;
  }
}

class CountingBackend implements Backend {
  readonly tables: readonly string[];

  constructor(private readonly inner: Backend, private readonly counter: Counter) {
    this.tables = inner.tables;
  }

  read<T>(fn: (txn: ReadTxn) => T): T {
    return this.inner.read((txn) => fn(this.wrapRead(txn)));
  }

  write<T>(fn: (txn: WriteTxn) => T): Promise<T> {
    return this.inner.write((txn) => fn(this.wrapWrite(txn)));
  }

  writeStaged<T>(fn: (txn: WriteTxn) => T): StagedWrite<T> {
    return this.inner.writeStaged((txn) => fn(this.wrapWrite(txn)));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private wrapRead(txn: ReadTxn): ReadTxn {
    const c = this.counter;
    return {
      get: (table, key) => {
        const value = txn.get(table, key);
        c.add(table, key, value);
        return value;
      },
      range: (table: string, options: RangeOptions) => (function* counted(): Generator<BackendEntry> {
        for (const e of txn.range(table, options)) {
          c.add(table, e.key, e.value);
          yield e;
        }
      })(),
    };
  }

  private wrapWrite(txn: WriteTxn): WriteTxn {
    const c = this.counter;
    return {
      ...this.wrapRead(txn),
      put: (table, key, value) => {
        c.add(table, key, value);
        txn.put(table, key, value);
      },
      delete: (table, key) => {
        c.add(table, key, undefined);
        return txn.delete(table, key);
      },
    };
  }
}

const PUTS = 20_000;
const BATCH = 64;
const WINDOW = 1_000;
/** Per put: a few integers (version, revisions) that msgpack writes in more bytes as they grow. */
const SLACK_BYTES_PER_PUT = 16;

t.test('the last 1,000 of 20,000 puts on one key touch no more bytes than the first 1,000', async (t) => {
  const counter = new Counter();
  const store = new MvccStore(new CountingBackend(new MemoryBackend(MVCC_TABLES), counter));
  const key = utf8('/registry/leases/kube-node-lease/hot');
  const value = new Uint8Array(64).fill(7);
  let first = 0;
  let failed = 0;
  for (let b = 0; b * BATCH < PUTS; b++) {
    const from = b * BATCH;
    const to = Math.min(PUTS, from + BATCH);
    // Count exactly the puts of a window: split a batch at the window edges.
    const edges = [from, to, WINDOW, PUTS - WINDOW].filter((x) => x >= from && x <= to);
    const cuts = [...new Set(edges)].sort((x, y) => x - y);
    for (let i = 0; i + 1 < cuts.length; i++) {
      if (cuts[i] === PUTS - WINDOW) counter.reset();
      await store.write((w) => {
        for (let j = cuts[i]!; j < cuts[i + 1]!; j++) if (!w.put({ key, value }).ok) failed++;
      });
      if (cuts[i + 1] === WINDOW) first = counter.total();
    }
  }
  const last = counter.total();
  t.comment(`bytes touched: first ${WINDOW} puts ${first}, last ${WINDOW} puts ${last}`);
  t.equal(failed, 0, 'every put succeeds');
  t.ok(first > 0, 'the counter sees the puts');
  t.ok(last <= first + WINDOW * SLACK_BYTES_PER_PUT, 'a put costs no more with a long history');
  t.same([...counter.bytes.keys()].sort(), ['mvcc.meta', 'mvcc.rev'],
    'a put touches its revision record (and the previous one) and the meta record, nothing else');

  const state = store.state();
  t.equal(state.current, PUTS + 1, 'one revision per put');
  const readAt = (revision: number): { entries: number; version: number | undefined } => {
    counter.reset();
    const r = store.range({ key, revision });
    return { entries: counter.entries, version: r.ok ? r.kvs[0]?.version : undefined };
  };
  for (const revision of [2, 3, 10_000, PUTS, PUTS + 1]) {
    const { entries, version } = readAt(revision);
    t.equal(version, revision - 1, `the value at revision ${revision} is put number ${revision - 1}`);
    // meta and one rev record: the key index is in memory.
    t.ok(entries <= 2, `a read at revision ${revision} touches ${entries} <= 2 records`);
  }
});

t.test('compaction leaves the records of one key put many times that reads still need', async (t) => {
  const counter = new Counter();
  const backend = new MemoryBackend(MVCC_TABLES);
  const store = new MvccStore(new CountingBackend(backend, counter), {
    limits: { compactionSliceRevisions: 100 },
  });
  const key = utf8('k');
  for (let b = 0; b < 10; b++) {
    await store.write((w) => {
      for (let j = 0; j < BATCH; j++) w.put({ key, value: utf8(String(b * BATCH + j)) });
    });
  }
  const at = store.state().current - 5;
  await store.write((w) => t.ok(w.compact({ revision: at }).ok, 'compacts'));
  let slices = 0;
  let more = true;
  while (more) {
    counter.reset();
    more = (await store.write((w) => w.compactSlice())).result;
    slices++;
    t.ok(counter.entries <= 4 * 100 + 16, 'a slice stays within its revision budget');
  }
  t.ok(slices >= 6, `one key's history spans ${slices} slices of 100 revisions`);
  const count = (table: string): number => backend.read((txn) => [...txn.range(table, {})].length);
  t.equal(count('mvcc.rev'), 6, 'kept: the newest record at the compact revision and the 5 above');
  const r = store.range({ key, revision: at });
  t.ok(r.ok && r.kvs[0]?.modRevision === at, 'the value at the compact revision still reads');
});
