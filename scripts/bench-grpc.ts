/**
 * Server CPU per unary gRPC call: strata's gRPC server (own HTTP/2) against @grpc/grpc-js's server, both
 * answering etcd Range and Put from memory with the same codecs. The client is grpc-js in a child
 * process keeping 64 calls in flight for a fixed time; the server's CPU comes from
 * process.cpuUsage() over that window. Run: npm run build && node dist/scripts/bench-grpc.js
 * [seconds per run, default 3]. Each server gets 2 runs per method, alternating.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { codecFor } from '../src/api/index.js';
import type { Init, RangeResponse } from '../src/api/index.js';
import { GrpcServer, unary } from '../src/runtime/node/grpc-server.js';

const IN_FLIGHT = 64;
const seconds = Number(process.argv[3] ?? process.argv[2] ?? 3);

const rangeReq = codecFor('etcdserverpb.RangeRequest');
const rangeRes = codecFor('etcdserverpb.RangeResponse');
const putReq = codecFor('etcdserverpb.PutRequest');
const putRes = codecFor('etcdserverpb.PutResponse');
const header = { cluster_id: 0x1234_5678_9abc_def0n, member_id: 0xfedc_ba98_7654_3210n,
  revision: 123_456, raft_term: 7 };
const oneKv: Init<RangeResponse> = { header, count: 1, kvs: [{ key: Buffer.from('/bench/key'),
  value: Buffer.alloc(256, 1), create_revision: 5, mod_revision: 99, version: 3 }] };

async function client(address: string, method: string, durationMs: number): Promise<void> {
  const c = new grpc.Client(address, grpc.credentials.createInsecure());
  const body = method === 'Range'
    ? Buffer.from(rangeReq.encode({ key: Buffer.from('/bench/key') }))
    : Buffer.from(putReq.encode({ key: Buffer.from('/bench/key'), value: Buffer.alloc(256, 2) }));
  const path = `/etcdserverpb.KV/${method}`;
  const end = Date.now() + durationMs;
  let calls = 0;
  let errors = 0;
  const loop = async (): Promise<void> => {
    while (Date.now() < end) {
      await new Promise<void>((resolve) => {
        c.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, (err) => {
          if (err !== null) errors++;
          else calls++;
          resolve();
        });
      });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
  c.close();
  process.stdout.write(JSON.stringify({ calls, errors }) + '\n');
}

function runClient(address: string, method: string): Promise<{ calls: number; errors: number }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'client', address,
    method, String(seconds * 1000)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(
      `client exited ${code}`))));
  });
}

async function startStrata(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new GrpcServer();
  server.addService('etcdserverpb.KV', {
    Range: unary(rangeReq, rangeRes, () => oneKv),
    Put: unary(putReq, putRes, () => ({ header })),
  });
  const port = await server.listen(0, '127.0.0.1');
  return { port, close: () => server.close() };
}

async function startGrpcJs(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new grpc.Server({ 'grpc.keepalive_time_ms': 7_200_000,
    'grpc.keepalive_timeout_ms': 20_000, 'grpc.max_receive_message_length': 2 * 1024 * 1024 });
  const def = (name: string, req: { decode(b: Uint8Array): unknown },
    res: { encode(m: never): Uint8Array }): grpc.MethodDefinition<unknown, unknown> => ({
    path: `/etcdserverpb.KV/${name}`, requestStream: false, responseStream: false,
    requestSerialize: () => Buffer.alloc(0), requestDeserialize: (b: Buffer) => req.decode(b),
    responseSerialize: (m: unknown) => { const u = res.encode(m as never);
      return Buffer.from(u.buffer, u.byteOffset, u.byteLength); },
    responseDeserialize: (b: Buffer) => b,
  });
  server.addService({ Range: def('Range', rangeReq, rangeRes), Put: def('Put', putReq, putRes) }, {
    Range: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, oneKv),
    Put: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { header }),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0',
    grpc.ServerCredentials.createInsecure(), (err, p) => (err !== null ? reject(err) : resolve(p))));
  return { port, close: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

async function measure(name: string, start: typeof startStrata, method: string): Promise<void> {
  const server = await start();
  const before = process.cpuUsage();
  const { calls, errors } = await runClient(`127.0.0.1:${server.port}`, method);
  const used = process.cpuUsage(before);
  await server.close();
  const us = (used.user + used.system) / Math.max(1, calls);
  console.log(`${name.padEnd(10)} ${method.padEnd(6)} ${String(calls).padStart(7)} calls ` +
    `${(calls / seconds).toFixed(0).padStart(6)}/s  server CPU ${us.toFixed(1).padStart(5)} us/call` +
    (errors > 0 ? `  (${errors} errors)` : ''));
}

if (process.argv[2] === 'client') {
  await client(process.argv[3] as string, process.argv[4] as string, Number(process.argv[5]));
} else {
  console.log(`node ${process.version}; ${IN_FLIGHT} calls in flight from a grpc-js client ` +
    `process, ${seconds} s per run`);
  for (let round = 0; round < 2; round++) {
    for (const method of ['Range', 'Put']) {
      await measure('strata', startStrata, method);
      await measure('grpc-js', startGrpcJs, method);
    }
  }
}
