/**
 * The binary record layouts of src/mvcc/codec.ts: every rev record (put or tombstone, any lease
 * including negative and 64-bit extremes, revisions up to 2^53 - 1) and the meta record decode to
 * exactly what was encoded (fast-check round trips); encoders reuse scratch buffers, so a record
 * must be put before the next encode; corrupt records fail an assertion instead of decoding to
 * something else.
 */
import fc from 'fast-check';
import t from 'tap';
import { AssertionError } from '../../src/base/index.js';
import {
  decodeKv, decodeMeta, encodeKv, encodeMeta, encodeTombstone, revKey,
} from '../../src/mvcc/codec.js';
import type { KeyValue } from '../../src/mvcc/index.js';

const bytes = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: 1, maxLength: max });
const revision = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));
const lease = fc.oneof(fc.constant(0n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.constantFrom(-1n, 2n ** 63n - 1n, -(2n ** 63n), 0x7fff_ffffn, 0x1_0000_0000n));

const keyValue: fc.Arbitrary<KeyValue> = fc.record({
  key: bytes(64), value: fc.uint8Array({ maxLength: 600 }), createRevision: revision,
  modRevision: revision, version: revision, lease,
});

/** A copy of what an encoder returned: it is a view of a scratch buffer the next encode reuses. */
const taken = (b: Uint8Array): Uint8Array => Uint8Array.from(b);

t.test('rev records round trip', async (t) => {
  fc.assert(fc.property(keyValue, (kv) => {
    t.same(decodeKv(taken(encodeKv(kv))), kv);
  }), { numRuns: 500 });
  fc.assert(fc.property(bytes(64), (key) => {
    t.same(decodeKv(taken(encodeTombstone(key))), { key, tombstone: true });
  }), { numRuns: 200 });
});

t.test('meta records round trip; a cursor that is not a revision key reads as none', async (t) => {
  const state = fc.record({
    current: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    compacted: fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
    appliedIndex: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    compactTarget: fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
    compactCursor: fc.option(fc.integer({ min: 1, max: 1 << 30 }).map((r) => revKey(r, 0)), { nil: null }),
  });
  fc.assert(fc.property(state, (m) => {
    t.same(decodeMeta(encodeMeta(m)), m);
  }), { numRuns: 200 });
  // The older layout kept an index key there.
  const old = encodeMeta({
    current: 9, compacted: 4, appliedIndex: 3, compactTarget: 4, compactCursor: Uint8Array.of(97),
  });
  t.equal(decodeMeta(old).compactCursor, null);
});

t.test('an encoder reuses its scratch buffer: put the record before the next encode', async (t) => {
  const a: KeyValue = {
    key: Uint8Array.of(1), value: Uint8Array.of(2), createRevision: 1, modRevision: 1, version: 1, lease: 0n,
  };
  const first = encodeKv(a);
  const copy = taken(first);
  encodeKv({ ...a, key: Uint8Array.of(3) });
  t.not(first.join(), copy.join(), 'the first view now shows the second record');
  const big = encodeKv({ ...a, value: new Uint8Array(100_000) });
  const next = encodeKv(a);
  t.equal(big.length, 37 + 1 + 100_000, 'a record above the scratch size gets its own buffer');
  t.not(big.buffer, next.buffer, 'and does not replace the scratch buffer');
});

t.test('corrupt records fail loudly', async (t) => {
  const kv: KeyValue = {
    key: Uint8Array.of(1, 2), value: Uint8Array.of(3), createRevision: 5, modRevision: 6, version: 2, lease: 7n,
  };
  const rev = taken(encodeKv(kv));
  t.throws(() => decodeKv(Uint8Array.of(7, ...rev.subarray(1))), AssertionError, 'unknown record tag');
  t.throws(() => decodeKv(rev.subarray(0, 20)), AssertionError, 'truncated header');
  const badLength = Uint8Array.from(rev);
  badLength[36] = 200;
  t.throws(() => decodeKv(badLength), AssertionError, 'key length past the record');
  const unsafe = Uint8Array.from(rev);
  unsafe[1] = 0xff;
  t.throws(() => decodeKv(unsafe), AssertionError, 'a revision beyond 2^53');
});
