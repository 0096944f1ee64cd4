/**
 * Codec CPU on the hot messages, in ns per operation (median of 3 runs): the hand-written codecs
 * strata uses against the reflection codecs and against @grpc/proto-loader (what grpc-js users
 * get). Run: npm run bench:codec. Bounded: about 2 s of CPU.
 */
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { hotCodecs, reflectCodec } from '../src/api/index.js';
import type { Init, KeyValue, RangeResponse, WatchResponse } from '../src/api/index.js';

const ITERATIONS = 100_000;

function bench(name: string, fn: () => unknown, iterations = ITERATIONS): number {
  for (let i = 0; i < iterations / 10; i++) fn();
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    runs.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  runs.sort((a, b) => a - b);
  const median = runs[1] as number;
  console.log(`${name.padEnd(52)} ${median.toFixed(0).padStart(7)} ns/op`);
  return median;
}

const key = Buffer.from('/registry/pods/default/nginx-0000000042');
const value = Buffer.alloc(256, 7);
const header = { cluster_id: 0x1234_5678_9abc_def0n, member_id: 0xfedc_ba98_7654_3210n,
  revision: 123_456, raft_term: 7 };
const kv = (i: number): Init<KeyValue> => ({ key: Buffer.from(`${key.toString()}${i}`),
  create_revision: 100 + i, mod_revision: 123_000 + i, version: 3, value, lease: 0n });
const range10: Init<RangeResponse> = { header, kvs: Array.from({ length: 10 }, (_, i) => kv(i)),
  count: 10 };
const watch1: Init<WatchResponse> = { header, watch_id: 1, events: [{ type: 0, kv: kv(1) }] };
const watch16: Init<WatchResponse> = { header, watch_id: 1,
  events: Array.from({ length: 16 }, (_, i) => ({ type: 0, kv: kv(i) })) };
const putWire = reflectCodec('etcdserverpb.PutRequest').encode({ key, value, lease: 0x7fffn });

const protoDir = fileURLToPath(new URL('../../src/api/proto/', import.meta.url));
const loaded = protoLoader.loadSync(['rpc.proto'], { includeDirs: [protoDir], keepCase: true,
  longs: String, enums: String, defaults: true, oneofs: true });
type M = protoLoader.MethodDefinition<object, object>;
const kvSvc = loaded['etcdserverpb.KV'] as Record<string, M>;
const put = kvSvc['Put'] as M;
const range = kvSvc['Range'] as M;
const loaderRange = range.responseDeserialize(Buffer.from(
  hotCodecs['etcdserverpb.RangeResponse'].encode(range10)));

console.log(`node ${process.version}; ${ITERATIONS} iterations per run, median of 3`);
console.log(`PutRequest ${putWire.length} B, RangeResponse(10 KVs) ` +
  `${hotCodecs['etcdserverpb.RangeResponse'].encode(range10).length} B`);
bench('PutRequest decode, hot', () => hotCodecs['etcdserverpb.PutRequest'].decode(putWire));
bench('PutRequest decode, reflection', () => reflectCodec('etcdserverpb.PutRequest')
  .decode(putWire));
bench('PutRequest decode, proto-loader longs:String', () => put.requestDeserialize(
  Buffer.from(putWire)));
const putRes = { header, prev_kv: kv(1) };
bench('PutResponse encode (with prev_kv), hot',
  () => hotCodecs['etcdserverpb.PutResponse'].encode(putRes));
bench('PutResponse encode (header only), hot',
  () => hotCodecs['etcdserverpb.PutResponse'].encode({ header }));
bench('PutResponse encode (header only), reflection',
  () => reflectCodec('etcdserverpb.PutResponse').encode({ header }));
bench('RangeResponse(10 KVs) encode, hot',
  () => hotCodecs['etcdserverpb.RangeResponse'].encode(range10), ITERATIONS / 5);
bench('RangeResponse(10 KVs) encode, reflection',
  () => reflectCodec('etcdserverpb.RangeResponse').encode(range10), ITERATIONS / 5);
bench('RangeResponse(10 KVs) encode, proto-loader',
  () => range.responseSerialize(loaderRange), ITERATIONS / 5);
bench('WatchResponse(1 event) encode, hot',
  () => hotCodecs['etcdserverpb.WatchResponse'].encode(watch1));
bench('WatchResponse(1 event) encode, reflection',
  () => reflectCodec('etcdserverpb.WatchResponse').encode(watch1));
bench('WatchResponse(16 events) encode, hot',
  () => hotCodecs['etcdserverpb.WatchResponse'].encode(watch16), ITERATIONS / 10);
bench('WatchResponse(16 events) encode, reflection',
  () => reflectCodec('etcdserverpb.WatchResponse').encode(watch16), ITERATIONS / 10);
