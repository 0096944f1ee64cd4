/**
 * Proves the codecs of src/api are correct against an independent implementation and each other:
 * - round trips of every hot message (PutRequest, RangeRequest, PutResponse, RangeResponse,
 *   WatchResponse) over generated values, with int64 extremes and empty / binary bytes;
 * - hand-written hot encoders produce byte-identical output to the reflection encoders, and hot
 *   decoders agree with reflection decoders;
 * - our bytes decode to the same values with @grpc/proto-loader (protobufjs 7, a separate copy,
 *   reading the vendored .proto text), and its bytes decode with ours;
 * - malformed input throws ordinary errors (never AssertionError), unknown fields are skipped,
 *   and out-of-range numbers are refused at encode time;
 * - the committed descriptor is what pbjs makes from the vendored protos today.
 */
import * as protoLoader from '@grpc/proto-loader';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import {
  BIGINT_FIELDS, codecFor, hotCodecs, protoRoot, reflectCodec,
} from '../../src/api/index.js';
import type { Init, PutRequest, RangeRequest, RangeResponse, WatchResponse } from '../../src/api/index.js';
import { protoDescriptor } from '../../src/api/proto.generated.js';
import { AssertionError } from '../../src/base/index.js';
import { repoRoot } from './spec-file.js';

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;
const runs = { numRuns: 300, seed: 0x5eed };

const bytes = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 40 }),
  fc.constant(new Uint8Array([0])), fc.constant(new Uint8Array([0xff, 0x00, 0x80])));
const i64 = fc.oneof(fc.constantFrom(0n, 1n, -1n, I64_MIN, I64_MAX, 2n ** 31n, 2n ** 32n),
  fc.bigInt({ min: I64_MIN, max: I64_MAX }));
const u64 = fc.oneof(fc.constantFrom(0n, 1n, U64_MAX, 2n ** 63n), fc.bigInt({ min: 0n, max: U64_MAX }));
const safe = fc.oneof(fc.constantFrom(0, 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1),
  fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const signedSafe = fc.oneof(safe, fc.constantFrom(-1, -(2 ** 53) + 1), fc.integer({ min: -1000, max: 0 }));

const header = fc.record({ cluster_id: u64, member_id: u64, revision: safe, raft_term: safe });
const keyValue = fc.record({ key: bytes, create_revision: safe, mod_revision: safe, version: safe,
  value: bytes, lease: i64 });
const putRequest = fc.record({ key: bytes, value: bytes, lease: i64, prev_kv: fc.boolean(),
  ignore_value: fc.boolean(), ignore_lease: fc.boolean() });
const rangeRequest = fc.record({ key: bytes, range_end: bytes, limit: signedSafe, revision: signedSafe,
  sort_order: fc.integer({ min: 0, max: 2 }), sort_target: fc.integer({ min: 0, max: 4 }),
  serializable: fc.boolean(), keys_only: fc.boolean(), count_only: fc.boolean(),
  min_mod_revision: safe, max_mod_revision: safe, min_create_revision: safe,
  max_create_revision: safe });
const rangeResponse = fc.record({ header, kvs: fc.array(keyValue, { maxLength: 6 }),
  more: fc.boolean(), count: safe }, { requiredKeys: ['kvs', 'more', 'count'] });
const putResponse = fc.record({ header, prev_kv: keyValue }, { requiredKeys: [] });
const event = fc.record({ type: fc.integer({ min: 0, max: 1 }), kv: keyValue, prev_kv: keyValue },
  { requiredKeys: ['type'] });
const watchResponse = fc.record({ header, watch_id: fc.oneof(fc.constant(-1), safe),
  created: fc.boolean(), canceled: fc.boolean(), compact_revision: safe,
  cancel_reason: fc.oneof(fc.constant(''), fc.string(), fc.constant('mvcc: ünïcödé')),
  fragment: fc.boolean(), events: fc.array(event, { maxLength: 5 }) },
{ requiredKeys: ['watch_id', 'created', 'canceled', 'compact_revision', 'cancel_reason',
  'fragment', 'events'] });

/** Normalises a decoded value for comparison: bytes to arrays, bigint and number kept apart. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

/** Fills the proto3 defaults an encoder input may leave out, to compare with a decode. */
function withDefaults(typeName: string, m: Record<string, unknown>): Record<string, unknown> {
  const type = protoRoot.lookupType(typeName);
  const out: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    f.resolve();
    const v = m[f.name];
    if (f.resolvedType !== null && 'fields' in f.resolvedType) {
      if (f.repeated) out[f.name] = ((v ?? []) as Record<string, unknown>[])
        .map((x) => withDefaults(f.resolvedType!.fullName.slice(1), x));
      else if (v !== undefined) out[f.name] = withDefaults(f.resolvedType.fullName.slice(1),
        v as Record<string, unknown>);
      continue;
    }
    if (v !== undefined) out[f.name] = v;
    else if (f.repeated) out[f.name] = [];
    else if (f.type === 'bytes') out[f.name] = new Uint8Array(0);
    else if (f.type === 'string') out[f.name] = '';
    else if (f.type === 'bool') out[f.name] = false;
    else if (/64$/.test(f.type)) out[f.name] = BIGINT_FIELDS.has(f.name) ? 0n : 0;
    else out[f.name] = 0;
  }
  return out;
}

// The independent implementation: proto-loader (protobufjs 7) over the vendored .proto text,
// reached through its service method (de)serializers.
const protoDir = join(repoRoot(), 'src/api/proto');
const loaded = protoLoader.loadSync(['rpc.proto'], { includeDirs: [protoDir], keepCase: true,
  longs: String, enums: Number, bytes: Array, defaults: true, oneofs: false });
type Method = protoLoader.MethodDefinition<object, object>;
const kvService = loaded['etcdserverpb.KV'] as Record<string, Method>;
const watchService = loaded['etcdserverpb.Watch'] as Record<string, Method>;

/** Renders a value as proto-loader yields it (longs as strings, bytes as arrays). */
function asLoader(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(asLoader);
  if (typeof v === 'bigint' || typeof v === 'number') return String(v);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asLoader(x)]));
  }
  return v;
}

/**
 * proto-loader renders enums as numbers and an absent message as null (defaults: true); align
 * our rendering for those.
 */
function loaderView(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (k, x: unknown) => {
    if (x === null) return undefined;
    return (k === 'type' || k === 'sort_order' || k === 'sort_target') && typeof x === 'string'
      ? Number(x) : x;
  }));
}

t.test('hot encoders are byte-identical to reflection and decode back exactly', async (t) => {
  const cases: [string, fc.Arbitrary<Record<string, unknown>>][] = [
    ['etcdserverpb.RangeResponse', rangeResponse as fc.Arbitrary<Record<string, unknown>>],
    ['etcdserverpb.PutResponse', putResponse as fc.Arbitrary<Record<string, unknown>>],
    ['etcdserverpb.WatchResponse', watchResponse as fc.Arbitrary<Record<string, unknown>>],
  ];
  for (const [name, arb] of cases) {
    const hot = hotCodecs[name as keyof typeof hotCodecs] as unknown as {
      encode(m: unknown): Uint8Array; encodeFramed(m: unknown): Uint8Array;
      decode(b: Uint8Array): unknown };
    const slow = reflectCodec(name as 'etcdserverpb.RangeResponse') as unknown as {
      encode(m: unknown): Uint8Array; encodeFramed(m: unknown): Uint8Array;
      decode(b: Uint8Array): unknown };
    fc.assert(fc.property(arb, (m) => {
      const a = hot.encode(m);
      const b = slow.encode(m);
      if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) return false;
      if (!isFrameOf(hot.encodeFramed(m), a) || !isFrameOf(slow.encodeFramed(m), a)) return false;
      t.strictSame(plain(slow.decode(a)), plain(withDefaults(name, m)));
      return true;
    }), runs);
    t.pass(`${name}: ${runs.numRuns} cases`);
  }
});

/** Whether `frame` is `message` behind gRPC's prefix (flag 0, big-endian length). */
function isFrameOf(frame: Uint8Array, message: Uint8Array): boolean {
  const f = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  return f.length === message.length + 5 && f[0] === 0 && f.readUInt32BE(1) === message.length
    && Buffer.compare(f.subarray(5), Buffer.from(message)) === 0;
}

t.test('an encode that throws does not disturb the next one (the writer is shared)', async (t) => {
  const put = hotCodecs['etcdserverpb.PutResponse'];
  const range = codecFor('etcdserverpb.RangeResponse');
  const good = { header: { revision: 7, raft_term: 2 }, kvs: [{ key: Buffer.from('k'), version: 1 }] };
  const expected = reflectCodec('etcdserverpb.RangeResponse').encode(good);
  // Thrown mid-message, inside a fork (the prev_kv), and by a reflection encoder.
  t.throws(() => put.encode({ header: { revision: 1 }, prev_kv: { key: Buffer.from('k'), version: 1.5 } }), AssertionError);
  t.strictSame([...range.encode(good)], [...expected]);
  t.throws(() => range.encodeFramed({ header: { revision: 1 }, count: 0.5 }), AssertionError);
  t.ok(isFrameOf(range.encodeFramed(good), expected));
  t.throws(() => codecFor('etcdserverpb.TxnResponse').encode({ header: { revision: 0.5 } }), AssertionError);
  t.strictSame([...range.encode(good)], [...expected]);
  // A message larger than the writer keeps is encoded whole, and the next small one too.
  const big = { header: { revision: 1 }, kvs: [{ key: Buffer.from('k'), value: Buffer.alloc(100_000, 7) }] };
  t.equal(range.decode(range.encode(big)).kvs[0]?.value.length, 100_000);
  t.strictSame([...range.encode(good)], [...expected]);
});

t.test('hot decoders agree with reflection decoders', async (t) => {
  const cases: [string, fc.Arbitrary<Record<string, unknown>>][] = [
    ['etcdserverpb.PutRequest', putRequest as fc.Arbitrary<Record<string, unknown>>],
    ['etcdserverpb.RangeRequest', rangeRequest as fc.Arbitrary<Record<string, unknown>>],
  ];
  for (const [name, arb] of cases) {
    const hot = hotCodecs[name as keyof typeof hotCodecs] as unknown as {
      decode(b: Uint8Array): unknown };
    const slow = reflectCodec(name as 'etcdserverpb.PutRequest') as unknown as {
      encode(m: unknown): Uint8Array; decode(b: Uint8Array): unknown };
    fc.assert(fc.property(arb, (m) => {
      const wire = slow.encode(m);
      t.strictSame(plain(hot.decode(wire)), plain(m));
      t.strictSame(plain(slow.decode(wire)), plain(m));
    }), runs);
    t.pass(`${name}: ${runs.numRuns} cases`);
  }
});

t.test('proto-loader (protobufjs 7) reads our bytes and we read its bytes', async (t) => {
  const range = kvService['Range'] as Method;
  fc.assert(fc.property(rangeResponse, (m) => {
    const ours = codecFor('etcdserverpb.RangeResponse').encode(m);
    const theirs = range.responseDeserialize(Buffer.from(ours));
    t.strictSame(loaderView(theirs), loaderView(asLoader(withDefaults('etcdserverpb.RangeResponse', m))));
  }), { ...runs, numRuns: 100 });
  const put = kvService['Put'] as Method;
  fc.assert(fc.property(putRequest, (m) => {
    const theirs = put.requestSerialize(asLoader(m) as object);
    t.strictSame(plain(codecFor('etcdserverpb.PutRequest').decode(theirs)), plain(m));
  }), { ...runs, numRuns: 100 });
  const watch = watchService['Watch'] as Method;
  fc.assert(fc.property(watchResponse, (m) => {
    const ours = codecFor('etcdserverpb.WatchResponse').encode(m);
    const theirs = watch.responseDeserialize(Buffer.from(ours));
    t.strictSame(loaderView(theirs), loaderView(asLoader(withDefaults('etcdserverpb.WatchResponse', m))));
  }), { ...runs, numRuns: 100 });
});

t.test('int64 extremes cross exactly; unsafe numbers are refused at encode', async (t) => {
  const put = codecFor('etcdserverpb.PutRequest');
  for (const lease of [I64_MIN, I64_MAX, -1n, 0n]) {
    const m: PutRequest = { key: new Uint8Array([1]), value: new Uint8Array(0), lease,
      prev_kv: false, ignore_value: false, ignore_lease: false };
    t.equal(put.decode(put.encode(m)).lease, lease);
  }
  const rr = codecFor('etcdserverpb.RangeResponse');
  const big: Init<RangeResponse> = { header: { cluster_id: U64_MAX, member_id: 2n ** 63n,
    revision: 2 ** 53 - 1 }, count: 2 ** 53 - 1 };
  const back = rr.decode(rr.encode(big));
  t.equal(back.header?.cluster_id, U64_MAX);
  t.equal(back.header?.member_id, 2n ** 63n);
  t.equal(back.header?.revision, 2 ** 53 - 1);
  t.throws(() => rr.encode({ count: 2 ** 53 }), AssertionError);
  t.throws(() => rr.encode({ count: 1.5 }), AssertionError);
  t.throws(() => reflectCodec('etcdserverpb.RangeResponse').encode({ count: 2 ** 53 }),
    AssertionError);
  t.throws(() => rr.encode({ header: { cluster_id: 2n ** 64n } }), AssertionError);
  t.throws(() => rr.encode({ header: { raft_term: -1 } }), AssertionError, 'uint64 takes no negative');
  t.throws(() => reflectCodec('etcdserverpb.RangeResponse').encode({ header: { raft_term: -1 } }),
    AssertionError);
  t.throws(() => put.encode({ lease: I64_MIN - 1n }), AssertionError);
  // A client's revision beyond 2^53 is read as the nearest double, keeping its sign.
  const rq = reflectCodec('etcdserverpb.RangeRequest');
  const wire = protoRoot.lookupType('etcdserverpb.RangeRequest').encode({ revision:
    { low: 0, high: 0x40000000 } as unknown as number }).finish();
  t.equal(codecFor('etcdserverpb.RangeRequest').decode(wire).revision, 2 ** 62);
  t.equal(rq.decode(wire).revision, 2 ** 62);
});

t.test('malformed input throws plain errors, unknown fields are skipped', async (t) => {
  const decoders = [codecFor('etcdserverpb.PutRequest'), codecFor('etcdserverpb.RangeRequest'),
    codecFor('etcdserverpb.TxnRequest'), codecFor('etcdserverpb.WatchRequest')];
  const garbage = [[0x0a, 0x05, 0x61], [0x18, 0xff], [0x0f], [0x0b]];
  for (const d of decoders) {
    for (const g of garbage) {
      let err: unknown;
      try { d.decode(new Uint8Array(g)); } catch (e) { err = e; }
      t.ok(err instanceof Error && !(err instanceof AssertionError),
        `${d.typeName} rejects ${Buffer.from(g).toString('hex')}`);
    }
  }
  // An over-long varint (11 bytes) in a varint field: the hot decoders refuse it. (Reflection
  // decoders are protobufjs', which tolerate some malformations grpc-go rejects.)
  const overlong = new Uint8Array([0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x01]);
  t.throws(() => codecFor('etcdserverpb.PutRequest').decode(overlong), /invalid varint/);
  t.throws(() => codecFor('etcdserverpb.RangeRequest').decode(overlong), /invalid varint/);
  // Field 99 (varint) and field 100 (bytes) are unknown to PutRequest: skipped.
  const put = codecFor('etcdserverpb.PutRequest');
  const wire = Buffer.concat([Buffer.from(put.encode({ key: new Uint8Array([7]) })),
    Buffer.from([0x98, 0x06, 0x05, 0xa2, 0x06, 0x01, 0x00])]);
  t.same([...put.decode(wire).key], [7]);
  // Packed and unpacked repeated enums both decode (WatchCreateRequest.filters).
  const wc = codecFor('etcdserverpb.WatchCreateRequest');
  t.same(wc.decode(new Uint8Array([0x2a, 0x02, 0x00, 0x01])).filters, [0, 1]);
  t.same(wc.decode(new Uint8Array([0x28, 0x01, 0x28, 0x00])).filters, [1, 0]);
});

t.test('strata watch extensions and 3.6 fields are on the wire with their numbers', async (t) => {
  const wc = protoRoot.lookupType('etcdserverpb.WatchCreateRequest');
  t.equal(wc.fields['end_revision']?.id, 100);
  t.equal(wc.fields['extra_ranges']?.id, 101);
  t.equal(protoRoot.lookupType('etcdserverpb.HashKVResponse').fields['hash_revision']?.id, 4);
  const req = codecFor('etcdserverpb.WatchRequest');
  const m = req.decode(req.encode({ create_request: { key: new Uint8Array([1]), end_revision: 9,
    extra_ranges: [{ key: new Uint8Array([2]), range_end: new Uint8Array([3]) }] } }));
  t.equal(m.create_request?.end_revision, 9);
  t.same(plain(m.create_request?.extra_ranges), [{ key: [2], range_end: [3] }]);
  t.equal(m.cancel_request, undefined, 'the unset oneof member is absent');
});

t.test('the committed descriptor is what pbjs makes of the vendored protos', async (t) => {
  const root = repoRoot();
  const json = execFileSync(join(root, 'node_modules/.bin/pbjs'), ['-t', 'json', '--keep-case',
    ...['kv.proto', 'auth.proto', 'rpc.proto'].map((f) => join(root, 'src/api/proto', f))],
  { encoding: 'utf8' });
  t.strictSame(protoDescriptor, JSON.parse(json), 'run `npm run gen:proto` if this fails');
  const script = execFileSync('cat', [join(root, 'scripts/gen-proto.mjs')], { encoding: 'utf8' });
  const listed = /const BIGINT_FIELDS = \[([^\]]*)\]/.exec(script)?.[1]?.match(/'[^']+'/g)
    ?.map((s) => s.slice(1, -1));
  t.strictSame(new Set(listed), new Set(BIGINT_FIELDS), 'gen-proto and int64.ts agree on IDs');
});

t.test('decoded shapes match the hot types at the type level', async (t) => {
  const rr: RangeRequest = codecFor('etcdserverpb.RangeRequest').decode(new Uint8Array(0));
  const wr: WatchResponse = codecFor('etcdserverpb.WatchResponse').decode(new Uint8Array(0));
  t.equal(rr.limit, 0);
  t.same(wr.events, []);
  t.equal(wr.header, undefined);
});
