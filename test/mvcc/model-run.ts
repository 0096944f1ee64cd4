/**
 * The model-based property: random batches of put, delete, txn, compact, physical compaction
 * slices and ranges at random revisions go to an MvccStore and to the reference Model; every
 * answer, every change set, and the final history (a range at every live revision) must agree.
 * Runs against any backend factory, so one property covers MemoryBackend and LmdbBackend.
 */
import fc from 'fast-check';
import type { Backend } from '../../src/backend/index.js';
import { prefixEnd, toHex, ZERO_BYTE } from '../../src/base/index.js';
import { MvccStore } from '../../src/mvcc/index.js';
import type {
  ChangeSet, Compare, KeyValue, MvccWriter, PutResponse, RangeRequest, RangeResponse, RequestOp,
  Result, TxnRequest,
} from '../../src/mvcc/index.js';
import { Model } from './model.js';

const kvText = (kv: KeyValue): string => `${toHex(kv.key)}=${toHex(kv.value)}`
  + `@c${kv.createRevision}m${kv.modRevision}v${kv.version}l${kv.lease}`;

const norm = (x: unknown): string => JSON.stringify(x, (_k, v: unknown) => {
  if (v instanceof Uint8Array) return toHex(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v !== null && typeof v === 'object' && 'modRevision' in v && 'key' in v) {
    return kvText(v as KeyValue);
  }
  return v;
});

const keyArb = fc.uint8Array({ minLength: 1, maxLength: 4, min: 0x61, max: 0x63 })
  .chain((k) => fc.constantFrom(k, Uint8Array.of(...k, 0xff)));
const endArb = (key: Uint8Array): fc.Arbitrary<Uint8Array | undefined> => fc.oneof(
  fc.constant(undefined), fc.constant(prefixEnd(key)), fc.constant(ZERO_BYTE), keyArb);

const putArb = fc.record({
  key: keyArb, value: fc.uint8Array({ maxLength: 2 }), prevKv: fc.boolean(),
});
const deleteArb = keyArb.chain((key) => fc.record({
  key: fc.constant(key), rangeEnd: endArb(key), prevKv: fc.boolean(),
}));
const rangeArb = keyArb.chain((key) => fc.record({
  key: fc.constant(key), rangeEnd: endArb(key),
  revision: fc.integer({ min: -1, max: 40 }),
  limit: fc.integer({ min: 0, max: 3 }),
  sortOrder: fc.constantFrom('NONE', 'ASCEND', 'DESCEND'),
  sortTarget: fc.constantFrom('KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'),
  keysOnly: fc.boolean(), countOnly: fc.boolean(),
  minModRevision: fc.integer({ min: 0, max: 12 }), maxModRevision: fc.integer({ min: 0, max: 30 }),
  minCreateRevision: fc.integer({ min: 0, max: 12 }),
  maxCreateRevision: fc.integer({ min: 0, max: 30 }),
}, { requiredKeys: ['key'] })) as fc.Arbitrary<RangeRequest>;
const opArb: fc.Arbitrary<RequestOp> = fc.oneof(
  putArb.map((p) => ({ requestPut: p })),
  deleteArb.map((d) => ({ requestDeleteRange: d })) as fc.Arbitrary<RequestOp>,
  rangeArb.map((r) => ({ requestRange: r })),
);
const compareArb = keyArb.chain((key) => fc.record({
  key: fc.constant(key), rangeEnd: fc.option(fc.constant(prefixEnd(key)), { nil: undefined }),
  result: fc.constantFrom('EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'),
  target: fc.constantFrom('VERSION', 'CREATE', 'MOD', 'VALUE'),
  version: fc.integer({ min: 0, max: 3 }), createRevision: fc.integer({ min: 0, max: 10 }),
  modRevision: fc.integer({ min: 0, max: 10 }), value: fc.uint8Array({ maxLength: 2 }),
}, { requiredKeys: ['key', 'result', 'target'] })) as fc.Arbitrary<Compare>;
const txnArb = fc.record({
  compare: fc.array(compareArb, { maxLength: 2 }),
  success: fc.array(opArb, { maxLength: 3 }),
  failure: fc.array(opArb, { maxLength: 3 }),
});

type Step =
  | { kind: 'put'; op: RequestOp }
  | { kind: 'delete'; op: RequestOp }
  | { kind: 'txn'; txn: TxnRequest }
  | { kind: 'compact'; back: number }
  | { kind: 'slice' }
  | { kind: 'range'; req: RangeRequest };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: putArb.map((p): Step => ({ kind: 'put', op: { requestPut: p } })) },
  {
    weight: 2,
    arbitrary: deleteArb.map((d) => ({ kind: 'delete', op: { requestDeleteRange: d } }) as Step),
  },
  { weight: 2, arbitrary: txnArb.map((t) => ({ kind: 'txn', txn: t }) as Step) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: -1, max: 6 }).map((back): Step => ({ kind: 'compact', back })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'slice' } as Step) },
  { weight: 3, arbitrary: rangeArb.map((req) => ({ kind: 'range', req }) as Step) },
);

/** etcd's duplicate rule for a flat branch. */
function duplicate(ops: readonly RequestOp[]): boolean {
  const puts = ops.flatMap((o) => (o.requestPut ? [o.requestPut.key] : []));
  if (new Set(puts.map(toHex)).size !== puts.length) return true;
  return ops.some((o) => o.requestDeleteRange !== undefined && puts.some((k) =>
    Model.inRange(k, o.requestDeleteRange!.key, o.requestDeleteRange!.rangeEnd)));
}

function modelTxn(model: Model, txn: TxnRequest): unknown {
  if (duplicate(txn.success ?? []) || duplicate(txn.failure ?? [])) {
    return { code: 'ErrDuplicateKey' };
  }
  const succeeded = (txn.compare ?? []).every((c) => model.holds(c));
  const ops = (succeeded ? txn.success : txn.failure) ?? [];
  for (const o of ops) {
    const r = o.requestRange;
    if (r !== undefined && (r.revision ?? 0) > 0) {
      if (r.revision! > model.current) return { code: 'ErrFutureRev' };
      if (r.revision! < model.compacted) return { code: 'ErrCompacted' };
    }
  }
  const before = model.current;
  const { change, results } = model.apply(ops);
  return { succeeded, revision: change?.revision ?? before, results, change };
}

function rangeResult(got: Result<RangeResponse>): unknown {
  return got.ok ? { kvs: got.kvs, more: got.more, count: got.count } : { code: got.code };
}

function putResult(got: Result<PutResponse>): unknown {
  return { put: got.ok ? got.header.revision : -1, prevKv: got.ok ? got.prevKv : undefined };
}

function storeTxn(w: MvccWriter, txn: TxnRequest): unknown {
  const r = w.txn(txn);
  if (!r.ok) return { code: r.code };
  const results = r.responses.map((x) => {
    if ('responsePut' in x) {
      return { put: x.responsePut.header.revision, prevKv: x.responsePut.prevKv };
    }
    if ('responseDeleteRange' in x) {
      const d = x.responseDeleteRange;
      return { deleted: d.deleted, rev: d.header.revision, prevKvs: d.prevKvs };
    }
    if ('responseRange' in x) {
      const rr = x.responseRange;
      return { kvs: rr.kvs, more: rr.more, count: rr.count };
    }
    return x;
  });
  return { succeeded: r.succeeded, revision: r.header.revision, results };
}

export interface ModelRunOptions {
  readonly runs: number;
  readonly seed: number;
  readonly indexKeyBytesMax: number;
  /** Revision records per compaction slice: small values split one key's history over slices. */
  readonly compactionSliceRevisions: number;
  readonly makeBackend: () => Promise<{ backend: Backend; done: () => Promise<void> }>;
}

/** `backend` as another thread sees it: the same contents, a key index of its own. */
function otherThread(backend: Backend): Backend {
  return {
    tables: backend.tables,
    indexIdentity: {},
    read: (fn) => backend.read(fn),
    write: (fn) => backend.write(fn),
    writeStaged: (fn) => backend.writeStaged(fn),
    close: async () => {},
  };
}

/** Throws (through fast-check, with the shrunk counterexample) at the first disagreement. */
export async function runModel(o: ModelRunOptions): Promise<void> {
  const batchArb = fc.array(fc.array(stepArb, { minLength: 1, maxLength: 3 }), { maxLength: 25 });
  await fc.assert(fc.asyncProperty(batchArb, async (batches) => {
    const { backend, done } = await o.makeBackend();
    const store = new MvccStore(backend, {
      limits: {
        indexKeyBytesMax: o.indexKeyBytesMax,
        compactionSliceRevisions: o.compactionSliceRevisions,
      },
    });
    // A second store that only reads, as the front does when apply runs on another thread: its
    // key index is its own (another identity), caught up from the records it reads. It reads after
    // some batches only, so it also falls behind across compactions.
    const replica = new MvccStore(otherThread(backend), {
      limits: { indexKeyBytesMax: o.indexKeyBytesMax },
    });
    const model = new Model();
    const fail = (what: string, got: unknown, want: unknown): never => {
      throw new Error(`${what}\n got: ${norm(got)}\nwant: ${norm(want)}`);
    };
    try {
      for (const batch of batches) {
        const wantChanges: ChangeSet[] = [];
        const { changes } = await store.write((w) => {
          for (const step of batch) {
            if (step.kind === 'put' || step.kind === 'delete') {
              const got = step.kind === 'put'
                ? w.put(step.op.requestPut!)
                : w.deleteRange(step.op.requestDeleteRange!);
              const before = model.current;
              const { change, results } = model.apply([step.op]);
              if (change) wantChanges.push(change);
              const want = results[0] as Record<string, unknown>;
              const gotN = 'deleted' in got
                ? { deleted: got.deleted, rev: got.header.revision, prevKvs: got.prevKvs }
                : putResult(got);
              if (norm(gotN) !== norm(want)) {
                fail(`write ${norm(step.op)} at ${before}`, gotN, want);
              }
            } else if (step.kind === 'txn') {
              const want = modelTxn(model, step.txn) as { change?: ChangeSet };
              if (want.change) wantChanges.push(want.change);
              const { change: _, ...wantRest } = want;
              const got = storeTxn(w, step.txn);
              if (norm(got) !== norm(wantRest)) fail(`txn ${norm(step.txn)}`, got, wantRest);
            } else if (step.kind === 'compact') {
              const rev = model.current - step.back;
              const want = model.compact(rev);
              const got = w.compact({ revision: rev });
              if ((got.ok ? undefined : got.code) !== want) fail(`compact ${rev}`, got, want);
            } else if (step.kind === 'slice') {
              w.compactSlice();
            } else {
              const got = w.range(step.req);
              const want = model.range(step.req);
              const gotN = rangeResult(got);
              if (norm(gotN) !== norm(want)) fail(`range ${norm(step.req)}`, gotN, want);
            }
          }
        });
        if (norm(changes) !== norm(wantChanges)) fail('change sets', changes, wantChanges);
        if (batch.length > 1) {
          const req = { key: ZERO_BYTE, rangeEnd: ZERO_BYTE };
          const got = rangeResult(replica.range(req));
          const want = model.range(req);
          if (norm(got) !== norm(want)) fail('replica range', got, want);
        }
      }
      // The whole live history reads back identically, after any amount of physical compaction.
      const hashBefore = store.read((v) => v.hashKV(0));
      await store.write((w) => { while (w.compactSlice()); });
      const hashAfter = store.read((v) => v.hashKV(0));
      if (norm(hashBefore) !== norm(hashAfter)) {
        fail('HashKV across compaction', hashAfter, hashBefore);
      }
      if (store.state().compactTarget !== -1) fail('compaction finished', store.state(), -1);
      for (let rev = Math.max(1, model.compacted); rev <= model.current; rev++) {
        const req = { key: ZERO_BYTE, rangeEnd: ZERO_BYTE, revision: rev };
        const got = store.range(req);
        const want = model.range(req);
        const gotN = rangeResult(got);
        if (norm(gotN) !== norm(want)) fail(`history at ${rev}`, gotN, want);
        const fromReplica = rangeResult(replica.range(req));
        if (norm(fromReplica) !== norm(want)) fail(`replica history at ${rev}`, fromReplica, want);
      }
      const replicaHash = replica.read((v) => v.hashKV(0));
      if (norm(replicaHash) !== norm(hashAfter)) fail('replica HashKV', replicaHash, hashAfter);
      return true;
    } finally {
      await done();
    }
  }), { numRuns: o.runs, seed: o.seed, endOnFailure: true });
}
