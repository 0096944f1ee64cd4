/**
 * Server CPU per call on the client port: a unary gRPC Range answered by GrpcServer listening
 * directly, the same server behind the ClientPort (which sniffs each connection's preface and
 * hands HTTP/2 to it), and the same handler reached over HTTP/1.1 through the JSON gateway.
 * The client runs in a child process (grpc-js with 64 calls in flight, or fetch with 64
 * keep-alive requests in flight) for a fixed time; the server's CPU comes from
 * process.cpuUsage() over that window. Run: npm run build && node dist/scripts/bench-client-port.js
 * [seconds per run, default 3]. Each setup runs twice, alternating.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { codecFor } from '../src/api/index.js';
import type { Init, RangeResponse } from '../src/api/index.js';
import { ClientPort, GrpcServer, HttpGateway, unary } from '../src/runtime/node/index.js';
import { gatewayRoutes } from '../actors/front/gateway-routes.js';

const IN_FLIGHT = 64;
const seconds = Number(process.argv[3] ?? process.argv[2] ?? 3);
const rangeReq = codecFor('etcdserverpb.RangeRequest');
const rangeRes = codecFor('etcdserverpb.RangeResponse');
const header = { cluster_id: 0x1234_5678_9abc_def0n, member_id: 0xfedc_ba98_7654_3210n,
  revision: 123_456, raft_term: 7 };
const oneKv: Init<RangeResponse> = { header, count: 1, kvs: [{ key: Buffer.from('/bench/key'),
  value: Buffer.alloc(256, 1), create_revision: 5, mod_revision: 99, version: 3 }] };

async function client(kind: string, port: number, durationMs: number): Promise<void> {
  const end = Date.now() + durationMs;
  let calls = 0;
  let errors = 0;
  const one: () => Promise<void> = kind === 'http' ? async () => {
    const r = await fetch(`http://127.0.0.1:${port}/v3/kv/range`, {
      method: 'POST', body: JSON.stringify({ key: Buffer.from('/bench/key').toString('base64') }),
    });
    await r.text();
    if (r.status === 200) calls++;
    else errors++;
  } : await (async () => {
    const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const body = Buffer.from(rangeReq.encode({ key: Buffer.from('/bench/key') }));
    return () => new Promise<void>((resolve) => {
      c.makeUnaryRequest('/etcdserverpb.KV/Range', (b: Buffer) => b, (b: Buffer) => b, body, (err) => {
        if (err !== null) errors++;
        else calls++;
        resolve();
      });
    });
  })();
  const loop = async (): Promise<void> => {
    while (Date.now() < end) await one();
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
  process.stdout.write(`${JSON.stringify({ calls, errors })}\n`);
  process.exit(0);
}

function runClient(kind: string, port: number): Promise<{ calls: number; errors: number }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'client', kind,
    String(port), String(seconds * 1000)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`client exited ${code}`))));
  });
}

async function start(viaPort: boolean): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new GrpcServer();
  server.addService('etcdserverpb.KV', { Range: unary(rangeReq, rangeRes, () => oneKv) });
  if (!viaPort) return { port: await server.listen(0, '127.0.0.1'), close: () => server.close() };
  const gateway = new HttpGateway({
    routes: gatewayRoutes(), lookup: (s, m) => server.lookup(s, m), receiveBytesMax: 2 << 20,
    endpoints: {
      health: async () => ({ healthy: true }), version: () => ({}),
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
    },
  });
  const cp = new ClientPort({ grpc: server, http: gateway.handle });
  return { port: await cp.listen(0, '127.0.0.1'), close: () => cp.close() };
}

async function measure(name: string, viaPort: boolean, kind: string): Promise<void> {
  const server = await start(viaPort);
  const before = process.cpuUsage();
  const { calls, errors } = await runClient(kind, server.port);
  const used = process.cpuUsage(before);
  await server.close();
  const us = (used.user + used.system) / Math.max(1, calls);
  console.log(`${name.padEnd(26)} ${String(calls).padStart(7)} calls ${(calls / seconds).toFixed(0).padStart(6)}/s` +
    `  server CPU ${us.toFixed(1).padStart(5)} us/call${errors > 0 ? `  (${errors} errors)` : ''}`);
}

if (process.argv[2] === 'client') {
  await client(process.argv[3] as string, Number(process.argv[4]), Number(process.argv[5]));
} else {
  console.log(`node ${process.version}; ${IN_FLIGHT} calls in flight, ${seconds} s per run, Range of one 256-byte value`);
  for (let round = 0; round < 2; round++) {
    await measure('gRPC, GrpcServer.listen', false, 'grpc');
    await measure('gRPC, ClientPort', true, 'grpc');
    await measure('HTTP/1.1 JSON, ClientPort', true, 'http');
  }
}
