/**
 * Proves the node:http2 gRPC server speaks gRPC as grpc-js (an independent implementation)
 * expects: unary, server-streaming and bidi calls through a real @grpc/grpc-js client over a real
 * socket on 127.0.0.1:0, deadlines, unknown methods, garbage and oversized requests (and that the
 * server keeps serving afterwards), status messages with non-ASCII text, cancellation seen by the
 * handler, write back-pressure, and, through a raw node:http2 client, the exact header shapes:
 * wrong content-type (415), compressed frames, trailers-only statuses, and keepalive pings.
 */
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import t from 'tap';
import { EtcdError, codecFor } from '../../src/api/index.js';
import type { PutResponse, RangeResponse } from '../../src/api/index.js';
import { GrpcStatusError, bidi, serverStream, unary } from '../../src/runtime/node/grpc-server.js';
import { MemoryKv, call, etcdClient, rawUnary, startServer } from './fixture.js';

const snapshotReq = codecFor('etcdserverpb.SnapshotRequest');
const snapshotRes = codecFor('etcdserverpb.SnapshotResponse');
const watchReq = codecFor('etcdserverpb.WatchRequest');
const watchRes = codecFor('etcdserverpb.WatchResponse');
const statusReq = codecFor('etcdserverpb.StatusRequest');
const statusRes = codecFor('etcdserverpb.StatusResponse');

/** Resolves when `signal` aborts; rejects after `ms` so a broken test cannot hang. */
function aborted(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(() => reject(new Error('signal never aborted')), ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); });
  });
}

const kv = new MemoryKv();
let lastSnapshotSignal: AbortSignal | undefined;
let snapshotWritesRefused = 0;
let hangSignal: AbortSignal | undefined;
const STATUS_MESSAGE = 'etcdserver: ünïcode % message\nline';

const started = await startServer({
  'etcdserverpb.KV': kv.methods(),
  'etcdserverpb.Maintenance': {
    // Server streaming: `n` chunks of 64 KiB each, honouring back-pressure; n = 0 streams until
    // the client cancels.
    Snapshot: serverStream(snapshotReq, snapshotRes, async (_req, c) => {
      lastSnapshotSignal = c.signal;
      const chunks = Number(c.metadata['x-chunks'] ?? '0');
      for (let i = 0; chunks === 0 || i < chunks; i++) {
        if (c.cancelled) return;
        const blob = new Uint8Array(64 * 1024).fill(i % 251);
        if (!c.write({ remaining_bytes: chunks === 0 ? 1 : chunks - i - 1, blob })) {
          snapshotWritesRefused++;
          await c.drained();
        }
      }
    }),
    // Never answers: for deadlines.
    Status: unary(statusReq, statusRes, (_req, c) => {
      hangSignal = c.signal;
      return new Promise<never>(() => {});
    }),
    Defragment: unary(codecFor('etcdserverpb.DefragmentRequest'),
      codecFor('etcdserverpb.DefragmentResponse'), () => {
        throw new GrpcStatusError(9, STATUS_MESSAGE);
      }),
    Hash: unary(codecFor('etcdserverpb.HashRequest'), codecFor('etcdserverpb.HashResponse'),
      () => { throw new Error('handler bug'); }),
  },
  'etcdserverpb.Watch': {
    // Bidi: answers each create with created=true and one event per request; ends on half-close.
    Watch: bidi(watchReq, watchRes, async (c) => {
      let id = 0;
      for await (const req of c.requests) {
        if (req.create_request !== undefined) {
          c.write({ header: { revision: kv.revision }, watch_id: id, created: true });
          c.write({ watch_id: id, events: [{ type: 1, kv: { key: req.create_request.key,
            mod_revision: 2 ** 53 - 1 } }] });
          id++;
        } else if (req.cancel_request !== undefined) {
          c.write({ watch_id: req.cancel_request.watch_id, canceled: true });
        }
      }
    }),
  },
}, { receiveBytesMax: 64 * 1024 });
const { server, address } = started;
t.teardown(() => server.close());

const kvClient = etcdClient('KV', address);
const maint = etcdClient('Maintenance', address);
const watchClient = etcdClient('Watch', address);
t.teardown(() => { kvClient.close(); maint.close(); watchClient.close(); });

t.test('unary Put and Range carry binary keys, values and 64-bit header ids', async (t) => {
  const key = Buffer.from([0, 0xff, 0x80, 0x61]);
  const value = Buffer.from([0xde, 0xad, 0, 0xbe, 0xef]);
  const put = await call<PutResponse & { header: Record<string, string> }>(kvClient, 'Put',
    { key, value, lease: '9223372036854775807' });
  t.equal(put.header.cluster_id, String(0xfedcba9876543210n));
  t.equal(put.header.member_id, '18446744073709551615');
  t.equal(put.header.raft_term, '7');
  const got = await call<{ kvs: { key: Buffer; value: Buffer; lease: string }[]; count: string }>(
    kvClient, 'Range', { key });
  t.equal(got.count, '1');
  t.same([...got.kvs[0]!.key], [...key]);
  t.same([...got.kvs[0]!.value], [...value]);
  t.equal(got.kvs[0]!.lease, '9223372036854775807');
  const empty = await call<{ kvs: unknown[]; count: string }>(kvClient, 'Range',
    { key: Buffer.from('absent') });
  t.equal(empty.kvs.length, 0);
  t.equal(empty.count, '0');
});

t.test('an EtcdError reaches the client with etcd code and message', async (t) => {
  const err = await call(kvClient, 'Put', { key: Buffer.alloc(0) }).catch((e: unknown) => e);
  t.match(err, { code: 3, details: 'etcdserver: key is not provided' });
  t.equal((err as grpc.ServiceError).code, new EtcdError('ErrEmptyKey').grpcCode);
});

t.test('status messages are percent-encoded and arrive intact', async (t) => {
  const err = await call(maint, 'Defragment', {}).catch((e: unknown) => e);
  t.match(err, { code: 9, details: STATUS_MESSAGE });
});

t.test('a handler bug answers Unknown and the server keeps serving', async (t) => {
  const err = await call(maint, 'Hash', {}).catch((e: unknown) => e);
  t.match(err, { code: grpc.status.UNKNOWN, details: 'handler bug' });
  await call(kvClient, 'Range', { key: Buffer.from('a') });
});

t.test('server streaming delivers every message in order under back-pressure', async (t) => {
  const chunks = 120;
  const md = new grpc.Metadata();
  md.set('x-chunks', String(chunks));
  const stream = (maint as unknown as { Snapshot: (r: unknown, m: grpc.Metadata) =>
    grpc.ClientReadableStream<{ remaining_bytes: string; blob: Buffer }> }).Snapshot({}, md);
  let i = 0;
  let ordered = true;
  for await (const msg of stream) {
    ordered &&= msg.remaining_bytes === String(chunks - i - 1) && msg.blob[0] === i % 251
      && msg.blob.length === 64 * 1024;
    i++;
  }
  t.equal(i, chunks);
  t.ok(ordered, 'chunks arrive in order and whole');
  t.ok(snapshotWritesRefused > 0, 'write() returned false at least once (7.5 MiB > windows)');
});

t.test('a client cancel aborts the server stream handler', async (t) => {
  const stream = (maint as unknown as { Snapshot: (r: unknown) =>
    grpc.ClientReadableStream<unknown> }).Snapshot({});
  await new Promise<void>((resolve) => stream.once('data', () => resolve()));
  const signal = lastSnapshotSignal;
  t.ok(signal !== undefined);
  stream.on('error', () => {});
  stream.cancel();
  await aborted(signal!, 5_000);
  t.ok(signal!.aborted, 'handler saw the cancel');
});

t.test('bidi Watch: creates answered in order, events carry int64 revisions, half-close ends',
  async (t) => {
    const stream = (watchClient as unknown as { Watch: () => grpc.ClientDuplexStream<unknown,
      { watch_id: string; created: boolean; canceled: boolean; events: { type: number;
        kv: { key: Buffer; mod_revision: string } }[] }> }).Watch();
    const got: { watch_id: string; created: boolean; canceled: boolean; events: unknown[] }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (m) => got.push(m));
      stream.on('end', () => resolve());
      stream.on('error', reject);
    });
    stream.write({ create_request: { key: Buffer.from('a') } });
    stream.write({ create_request: { key: Buffer.from('b'), end_revision: 9 } });
    stream.write({ cancel_request: { watch_id: 1 } });
    stream.end();
    await done;
    t.same(got.map((m) => [m.watch_id, m.created, m.canceled, m.events.length]), [
      ['0', true, false, 0], ['0', false, false, 1], ['1', true, false, 0], ['1', false, false, 1],
      ['1', false, true, 0],
    ]);
    const ev = (got[1]!.events[0] as { type: number; kv: { key: Buffer; mod_revision: string } });
    t.equal(ev.type, 1);
    t.equal(ev.kv.mod_revision, String(2 ** 53 - 1));
  });

t.test('a deadline ends the call with DEADLINE_EXCEEDED and aborts the handler', async (t) => {
  const err = await call(maint, 'Status', {}, { deadline: Date.now() + 150 })
    .catch((e: unknown) => e);
  t.match(err, { code: grpc.status.DEADLINE_EXCEEDED });
  t.ok(hangSignal !== undefined);
  await aborted(hangSignal!, 5_000);
});

t.test('unknown service and method answer UNIMPLEMENTED with grpc-go wording', async (t) => {
  const a = await rawUnary(address, '/etcdserverpb.KV/Nope', Buffer.alloc(0))
    .catch((e: unknown) => e);
  t.match(a, { code: grpc.status.UNIMPLEMENTED,
    details: 'unknown method Nope for service etcdserverpb.KV' });
  const b = await rawUnary(address, '/etcdserverpb.Nope/Range', Buffer.alloc(0))
    .catch((e: unknown) => e);
  t.match(b, { code: grpc.status.UNIMPLEMENTED, details: 'unknown service etcdserverpb.Nope' });
});

t.test('garbage protobuf answers INTERNAL and the next call still works', async (t) => {
  const err = await rawUnary(address, '/etcdserverpb.KV/Range', Buffer.from([0x0a, 0x7f, 1]))
    .catch((e: unknown) => e);
  t.match(err, { code: grpc.status.INTERNAL, details: /^grpc: error unmarshalling request: / });
  const bad = await rawUnary(address, '/etcdserverpb.KV/Put', Buffer.from([0x0f]))
    .catch((e: unknown) => e);
  t.match(bad, { code: grpc.status.INTERNAL });
  const ok = await call<{ count: string }>(kvClient, 'Range', { key: Buffer.from('x') });
  t.equal(ok.count, '0');
});

t.test('an oversized request answers RESOURCE_EXHAUSTED as grpc-go words it', async (t) => {
  const big = Buffer.alloc(100 * 1024, 1);
  const err = await call(kvClient, 'Put', { key: Buffer.from('k'), value: big })
    .catch((e: unknown) => e);
  t.match(err, { code: grpc.status.RESOURCE_EXHAUSTED,
    details: /^grpc: received message larger than max \(\d+ vs\. 65536\)$/ });
  const ok = await call<{ count: string }>(kvClient, 'Range', { key: Buffer.from('k') });
  t.equal(ok.count, '0', 'the oversized put was not applied');
});

/** One raw HTTP/2 request; resolves with response headers, body and trailers. */
function raw(path: string, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<{
  headers: http2.IncomingHttpHeaders; body: Buffer; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, ...headers });
    let resHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => { resHeaders = h; });
    req.on('trailers', (h) => { trailers = h; });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => {
      session.close();
      resolve({ headers: resHeaders, body: Buffer.concat(chunks), trailers });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function frame(flag: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

t.test('a wrong content-type answers HTTP 415 with an InvalidArgument status', async (t) => {
  const res = await raw('/etcdserverpb.KV/Range', { 'content-type': 'application/json' },
    Buffer.from('{}'));
  t.equal(res.headers[':status'], 415);
  t.equal(res.headers['grpc-status'], '3');
  t.match(res.headers['grpc-message'], /invalid gRPC request content-type/);
});

t.test('a compressed frame without an encoding answers INTERNAL, trailers-only', async (t) => {
  const res = await raw('/etcdserverpb.KV/Range', { 'content-type': 'application/grpc' },
    frame(1, Buffer.from([0x0a, 0x01, 0x61])));
  t.equal(res.headers[':status'], 200);
  t.equal(res.headers['content-type'], 'application/grpc');
  t.equal(res.headers['grpc-status'], '13');
  t.equal(res.body.length, 0, 'no DATA in a trailers-only response');
});

t.test('a unary answer is headers, one frame, then grpc-status 0 trailers', async (t) => {
  const res = await raw('/etcdserverpb.KV/Range', { 'content-type': 'application/grpc+proto',
    te: 'trailers' }, frame(0, Buffer.from(codecFor('etcdserverpb.RangeRequest')
    .encode({ key: Buffer.from('zz') }))));
  t.equal(res.headers[':status'], 200);
  t.equal(res.headers['content-type'], 'application/grpc');
  t.equal(res.headers['grpc-status'], undefined);
  t.equal(res.trailers['grpc-status'], '0');
  t.equal(res.body[0], 0);
  t.equal(res.body.readUInt32BE(1), res.body.length - 5);
  const decoded: RangeResponse = codecFor('etcdserverpb.RangeResponse').decode(res.body.subarray(5));
  t.equal(decoded.header?.raft_term, 7);
});

t.test('a malformed grpc-timeout answers INTERNAL', async (t) => {
  const res = await raw('/etcdserverpb.KV/Range', { 'content-type': 'application/grpc',
    'grpc-timeout': '1x' }, frame(0, Buffer.alloc(0)));
  t.equal(res.headers['grpc-status'], '13');
  t.match(res.headers['grpc-message'], /malformed grpc-timeout/);
});

t.test('a request with a gzip encoding answers UNIMPLEMENTED', async (t) => {
  const res = await raw('/etcdserverpb.KV/Range', { 'content-type': 'application/grpc',
    'grpc-encoding': 'gzip' }, frame(0, Buffer.alloc(0)));
  t.equal(res.headers['grpc-status'], '12');
});
