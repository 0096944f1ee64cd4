/**
 * Bad input at the gRPC boundary, compared with a real etcd: garbage protobuf, a truncated frame,
 * an unknown method, a non-gRPC content type, an oversized message, an empty key and a too-large
 * request. Each gets etcd's status code and message, and the member keeps serving: a good request
 * after each bad one succeeds.
 */
import t from 'tap';
import { etcdMissing, startRealEtcd } from '../helpers/real-etcd.js';
import { frame, openSession, rawCall, type RawResult } from '../helpers/raw-grpc.js';
import { startStrata } from '../helpers/strata-server.js';

/** PutRequest{key: "k", value: "v"} encoded by hand: field 1 bytes, field 2 bytes. */
const GOOD_PUT = frame(Buffer.from([0x0a, 0x01, 0x6b, 0x12, 0x01, 0x76]));
const PUT = '/etcdserverpb.KV/Put';

interface Case {
  readonly name: string;
  readonly path: string;
  readonly body: () => Buffer;
  readonly headers?: Record<string, string>;
}

function putOf(key: Buffer, value: Buffer): Buffer {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
    out.push(n);
    return out;
  };
  return frame(Buffer.concat([Buffer.from([0x0a, ...varint(key.length)]), key,
    Buffer.from([0x12, ...varint(value.length)]), value]));
}

const CASES: readonly Case[] = [
  { name: 'garbage protobuf', path: PUT, body: () => frame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])) },
  { name: 'truncated frame', path: PUT, body: () => GOOD_PUT.subarray(0, 7) },
  { name: 'unknown method', path: '/etcdserverpb.KV/Nope', body: () => GOOD_PUT },
  { name: 'unknown service', path: '/nope.Nope/Nope', body: () => GOOD_PUT },
  { name: 'grpc+proto content type', path: PUT, body: () => GOOD_PUT, headers: { 'content-type': 'application/grpc+proto' } },
  { name: 'empty key', path: PUT, body: () => putOf(Buffer.alloc(0), Buffer.from('v')) },
  { name: 'request too large', path: PUT, body: () => putOf(Buffer.from('big'), Buffer.alloc(1_600_000, 1)) },
  { name: 'message larger than max', path: PUT, body: () => putOf(Buffer.from('huge'), Buffer.alloc(2_500_000, 1)) },
];

function summary(r: RawResult): string {
  if (r.resetCode !== undefined) return `reset ${r.resetCode}`;
  // The text after "unmarshalling request: " is Go's protobuf decoder's own wording; strata's
  // decoder words it differently, so only the code and etcd's prefix are compared.
  const message = (r.grpcMessage ?? '').replace(/(error unmarshalling request: ).*/, '$1...');
  return `status ${r.status} grpc ${r.grpcStatus} "${message}"`;
}

t.test('bad gRPC input gets etcd\'s answer and the member keeps serving', { skip: etcdMissing() }, async (t) => {
  const etcd = await startRealEtcd();
  t.teardown(() => etcd.stop());
  const strata = await startStrata();
  t.teardown(() => strata.stop());
  const want = await openSession(etcd.endpoint);
  const got = await openSession(strata.endpoint);
  t.teardown(() => { want.close(); got.close(); });
  for (const c of CASES) {
    const a = await rawCall(want, c.path, c.body(), c.headers);
    const b = await rawCall(got, c.path, c.body(), c.headers);
    t.equal(summary(b), summary(a), c.name);
    const after = await rawCall(got, PUT, GOOD_PUT);
    t.equal(after.grpcStatus, 0, `${c.name}: a good put still succeeds`);
  }
  // A non-gRPC content type: etcd resets the stream; the session must survive it.
  const text = await rawCall(got, PUT, GOOD_PUT, { 'content-type': 'text/plain' });
  t.ok(text.resetCode !== undefined || (text.grpcStatus ?? 0) !== 0, 'text/plain is refused');
  const fresh = await openSession(strata.endpoint);
  t.teardown(() => fresh.close());
  t.equal((await rawCall(fresh, PUT, GOOD_PUT)).grpcStatus, 0, 'and the member keeps serving');
});
