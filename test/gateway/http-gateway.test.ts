/**
 * Proves the client port serves gRPC and the HTTP/JSON gateway on one socket, and the gateway's
 * transport behaviour, with in-memory handlers registered on a real GrpcServer behind a real
 * ClientPort on 127.0.0.1:0: @grpc/grpc-js (HTTP/2 prior knowledge) and fetch (HTTP/1.1) call the
 * same handler on the same port; the h2 preface arriving one byte at a time is still recognised;
 * unary, server-streaming and bidi calls over HTTP (ndjson `{"result":...}` lines, requests read
 * as a stream of JSON objects); a watch-like call stays open after the body ends and is
 * cancelled (signal aborted, requests ended) when the client disconnects; errors before and
 * after a stream starts; etcd's statuses for invalid JSON, wrong types, bad base64, unknown paths,
 * wrong methods, unregistered methods and huge bodies; and the server keeps serving after each.
 * Also the pure pieces: JsonObjectSplitter, prefaceMatch, the HTTP status table, checkHealth.
 */
import net from 'node:net';
import t, { type Test } from 'tap';
import { EtcdError, codecFor } from '../../src/api/index.js';
import type { WatchRequest } from '../../src/api/index.js';
import {
  ClientPort, GrpcServer, GrpcStatusError, HttpGateway, JsonObjectSplitter, Status, bidi,
  gatewayHttpStatus, prefaceMatch, serverStream,
} from '../../src/runtime/node/index.js';
import { checkHealth, gatewayRoutes } from '../../actors/front/gateway-routes.js';
import { MemoryKv, call, etcdClient } from '../grpc/fixture.js';

const c = codecFor;
const kv = new MemoryKv();
let watchSignal: AbortSignal | undefined;
let watchRequestsEnded = false;
const watchCreated: number[] = [];

const grpcServer = new GrpcServer();
grpcServer.addService('etcdserverpb.KV', kv.methods());
grpcServer.addService('etcdserverpb.Maintenance', {
  Snapshot: serverStream(c('etcdserverpb.SnapshotRequest'), c('etcdserverpb.SnapshotResponse'),
    async (_req, call) => {
      for (let i = 0; i < 3; i++) call.write({ blob: new Uint8Array([i, i, i]), remaining_bytes: 2 - i });
      throw new EtcdError('ErrNoLeader');
    }),
});
grpcServer.addService('etcdserverpb.Watch', {
  Watch: bidi(c('etcdserverpb.WatchRequest'), c('etcdserverpb.WatchResponse'), async (call) => {
    watchSignal = call.signal;
    for await (const req of call.requests as AsyncIterable<WatchRequest>) {
      const start = req.create_request?.start_revision ?? -1;
      watchCreated.push(start);
      call.write({ watch_id: watchCreated.length - 1, created: true, compact_revision: start });
    }
    watchRequestsEnded = true;
  }),
});
grpcServer.addService('etcdserverpb.Lease', {
  LeaseKeepAlive: bidi(c('etcdserverpb.LeaseKeepAliveRequest'), c('etcdserverpb.LeaseKeepAliveResponse'),
    async (call) => {
      for await (const req of call.requests as AsyncIterable<{ ID: bigint }>) {
        call.write({ ID: req.ID, TTL: 30 });
      }
    }),
});
const gateway = new HttpGateway({
  routes: gatewayRoutes(), lookup: (s, m) => grpcServer.lookup(s, m), receiveBytesMax: 64 * 1024,
  endpoints: {
    health: async () => ({ healthy: true }),
    version: () => ({ etcdserver: '3.4.23', etcdcluster: '3.4.0' }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'up 1\n' }),
  },
});
const port = new ClientPort({ grpc: grpcServer, http: gateway.handle });
const portNumber = await port.listen(0, '127.0.0.1');
const base = `http://127.0.0.1:${portNumber}`;
t.teardown(() => port.close());

const post = (path: string, body: string | Uint8Array, init: RequestInit = {}): Promise<Response> =>
  fetch(`${base}${path}`, { method: 'POST', body, ...init });
const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function stillServes(t: Test): Promise<void> {
  const r = await post('/v3/kv/put', JSON.stringify({ key: b64('alive'), value: b64('yes') }));
  t.equal(r.status, 200, 'the server still serves');
  await r.text();
}

t.test('one port: grpc-js and fetch reach the same handler', async (t) => {
  const client = etcdClient('KV', `127.0.0.1:${portNumber}`);
  t.teardown(() => client.close());
  await call(client, 'Put', { key: Buffer.from('k'), value: Buffer.from('grpc') });
  const r = await post('/v3/kv/range', JSON.stringify({ key: b64('k') }));
  t.equal(r.status, 200);
  t.equal(r.headers.get('content-type'), 'application/json');
  t.equal(r.headers.get('access-control-allow-origin'), '*');
  const body = await r.json() as { kvs: { value: string; version: string }[]; count: string };
  t.equal(Buffer.from(body.kvs[0]?.value ?? '', 'base64').toString(), 'grpc', 'HTTP reads what gRPC wrote');
  t.equal(body.count, '1', 'int64 as a string');
  const put = await post('/v3beta/kv/put', JSON.stringify({ key: b64('k'), value: b64('http') }));
  t.equal(put.status, 200, '/v3beta is an alias');
  await put.text();
  const got = await call<{ kvs: { value: Buffer }[] }>(client, 'Range', { key: Buffer.from('k') });
  t.equal(got.kvs[0]?.value.toString(), 'http', 'gRPC reads what HTTP wrote');
});

t.test('a preface sent byte by byte is still HTTP/2; a short HTTP/1 line is HTTP/1', async (t) => {
  t.equal(prefaceMatch(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2');
  t.equal(prefaceMatch(Buffer.from('PRI * H')), 'undecided');
  t.equal(prefaceMatch(Buffer.from('POST /v3')), 'http1');
  t.equal(prefaceMatch(Buffer.from('P')), 'undecided');
  // A raw HTTP/1.1 request written in tiny pieces.
  const text = await new Promise<string>((resolve, reject) => {
    const s = net.connect(portNumber, '127.0.0.1');
    let out = '';
    s.on('data', (d) => { out += d.toString(); });
    s.on('end', () => resolve(out));
    s.on('error', reject);
    const req = 'GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    let i = 0;
    const next = (): void => {
      if (i >= req.length) return;
      s.write(req.slice(i, i + 3));
      i += 3;
      setTimeout(next, 1);
    };
    next();
  });
  t.match(text, /^HTTP\/1\.1 200 OK/);
  t.match(text, /\{"etcdserver":"3\.4\.23","etcdcluster":"3\.4\.0"\}/);
});

t.test('bad input gets etcd statuses and the server keeps serving', async (t) => {
  const cases: [string, string, number, number][] = [
    ['/v3/kv/range', '{"key":"Zm9v"', 400, 3],
    ['/v3/kv/range', 'xyz', 400, 3],
    ['/v3/kv/range', '[1]', 400, 3],
    ['/v3/kv/range', '{"key":123}', 400, 3],
    ['/v3/kv/range', '{"key":"!!!"}', 400, 3],
    ['/v3/kv/range', '{"limit":"abc"}', 400, 3],
    ['/v3/kv/range', '{"sort_order":"FOO"}', 400, 3],
    ['/v3/kv/range', '', 400, 3], // empty body = empty message: the handler's ErrEmptyKey
    ['/v3/auth/enable', '{}', 501, 12], // routed, but no Auth service registered
  ];
  for (const [path, body, status, code] of cases) {
    const r = await post(path, body);
    const json = await r.json() as { error: string; message: string; code: number };
    t.equal(r.status, status, `${body} -> ${status}`);
    t.equal(json.code, code);
    t.equal(json.error, json.message, 'error and message carry the same text');
  }
  const empty = await post('/v3/kv/range', '');
  t.same(await empty.json(), { error: 'etcdserver: key is not provided', message: 'etcdserver: key is not provided', code: 3 });

  const unknown = await post('/v3/kv/nope', '{}');
  t.equal(unknown.status, 404);
  t.equal(await unknown.text(), 'Not Found\n');
  const outside = await post('/v3alpha/kv/range', '{}');
  t.equal(outside.status, 404);
  t.equal(await outside.text(), '404 page not found\n');
  const get = await fetch(`${base}/v3/kv/range`);
  t.equal(get.status, 405);
  t.equal(await get.text(), 'Method Not Allowed\n');
  const postHealth = await post('/health', '');
  t.equal(postHealth.status, 405);
  await postHealth.text();
  const options = await fetch(`${base}/v3/kv/range`, { method: 'OPTIONS' });
  t.equal(options.status, 200);
  t.equal(options.headers.get('access-control-allow-methods'), 'POST, GET, OPTIONS, PUT, DELETE');
  await options.text();

  const huge = await post('/v3/kv/put', JSON.stringify({ key: b64('h'), value: Buffer.alloc(200_000).toString('base64') }));
  t.equal(huge.status, 429, 'a body past the limit: ResourceExhausted');
  t.match(await huge.json(), { code: 8, message: /^grpc: received message larger than max \(\d+ vs\. 65536\)$/ });
  await stillServes(t);
});

t.test('server stream: result lines, then an error line once started', async (t) => {
  const r = await post('/v3/maintenance/snapshot', '{}');
  t.equal(r.status, 200);
  const lines = (await r.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(lines.slice(0, 3), [
    { result: { remaining_bytes: '2', blob: 'AAAA' } },
    { result: { remaining_bytes: '1', blob: 'AQEB' } },
    { result: { blob: 'AgIC' } },
  ]);
  t.same(lines[3], { error: { grpc_code: 14, http_code: 503, message: 'etcdserver: no leader', http_status: 'Service Unavailable' } });
});

t.test('bidi: a body of several objects; keepalive ends with the body', async (t) => {
  const r = await post('/v3/lease/keepalive', '{"ID":"7587862231862498827"}\n{"ID":5}');
  t.equal(r.status, 200);
  t.equal(await r.text(), '{"result":{"ID":"7587862231862498827","TTL":"30"}}\n{"result":{"ID":"5","TTL":"30"}}\n');
  const bad = await post('/v3/lease/keepalive', '{"ID":"1"}{"ID":');
  const text = await bad.text();
  t.match(text, /"message":"unexpected EOF"/, 'a truncated object ends the stream with Unknown');
  await stillServes(t);
});

t.test('watch over HTTP stays open after the body and is cancelled by a disconnect', async (t) => {
  const abort = new AbortController();
  const r = await post('/v3/watch', '{"create_request":{"key":"YQ==","start_revision":"4"}}',
    { signal: abort.signal });
  t.equal(r.status, 200);
  const reader = r.body!.getReader();
  const first = await reader.read();
  t.same(JSON.parse(Buffer.from(first.value!).toString()), {
    result: { created: true, compact_revision: '4' },
  }, 'the first watcher has id 0, so no watch_id key');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(watchRequestsEnded, false, 'the request stream outlives the body');
  t.equal(watchSignal?.aborted, false);
  abort.abort();
  await reader.cancel().catch(() => undefined);
  const deadline = Date.now() + 5_000;
  while (!(watchSignal?.aborted === true && watchRequestsEnded) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.equal(watchSignal?.aborted, true, 'the handler sees the call cancelled');
  t.equal(watchRequestsEnded, true, 'and its requests end');
  await stillServes(t);
});

t.test('pure pieces', async (t) => {
  const got: string[] = [];
  const s = new JsonObjectSplitter(1024);
  const enc = new TextEncoder();
  const all = enc.encode(' {"a":"}{\\"x"} \n{"b":[{"c":1}]}{"é":2}');
  for (const byte of all) t.equal(s.push(Uint8Array.of(byte), (o) => got.push(o)), undefined);
  t.same(got.map((o) => JSON.parse(o) as unknown), [{ a: '}{"x' }, { b: [{ c: 1 }] }, { 'é': 2 }],
    'objects split by depth outside strings, multi-byte characters across chunks');
  t.ok(s.idle);
  t.match(new JsonObjectSplitter(1024).push(enc.encode('x'), () => {}), { grpcCode: 3 });
  t.match(new JsonObjectSplitter(8).push(enc.encode('{"aaaaaaaaaaa'), () => {}), { grpcCode: 8 });
  t.same([1, 3, 5, 8, 9, 12, 14, 16].map(gatewayHttpStatus), [408, 400, 404, 429, 412, 501, 503, 401],
    'grpc-gateway v1 statuses, FailedPrecondition 412 as etcd 3.4.23 answered');
  const range = async (): Promise<unknown> => ({});
  t.same(await checkHealth({ leader: 1n, alarms: [], range }), { healthy: true });
  t.match(await checkHealth({ leader: 0n, alarms: [], range }), { healthy: false, reason: 'no leader' });
  t.match(await checkHealth({ leader: 1n, alarms: [{ alarm: 'NOSPACE' }], range }), { healthy: false });
  t.match(await checkHealth({ leader: 1n, alarms: [], range: async () => { throw new GrpcStatusError(Status.UNAVAILABLE, 'etcdserver: request timed out'); } }),
    { healthy: false, reason: 'etcdserver: request timed out' });
});
