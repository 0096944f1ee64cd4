/**
 * bench-lease: leases end to end, through gRPC against a running strata member (started here on
 * free ports, or --endpoint=host:port), with hand-built frames on node:http2 so the client costs
 * little of the 2 shared cores:
 * - keepalives per second with 1,000 and then 100,000 live leases (STREAMS bidirectional
 *   LeaseKeepAlive streams, WINDOW keepalives in flight on each, for PHASE_MS each);
 * - the time to expire 100,000 leases: a fresh member (unless --endpoint) gets them with the
 *   minimum TTL and no keepalives; measured from the first lease's deadline until LeaseLeases is
 *   empty. Expiry is rate-limited by the member (etcd's 1,000 revokes/s, named
 *   limits.leaseRevokesPerSecondMax), so about 100 s is the expected figure, not a slowness.
 * Run: npm run bench:lease [-- --endpoint=127.0.0.1:2379] [--expire=100000] [--etcd]
 * (--etcd runs the same against a real etcd for comparison).
 */
import { connect } from 'node:http2';
import { GrpcChannel, PATH } from '../src/cli/bench/grpc-client.js';
import { startServer, type ServerProcess } from '../src/cli/bench/server-process.js';
import {
  leaseGrantFrame, leaseKeepAliveFrame, readKeepAliveTtl, readLeaseGrant,
} from '../src/cli/bench/wire.js';

const CONNECTIONS = 4;
const GRANTS_IN_FLIGHT = 256;
const STREAMS = 8;
const WINDOW = 128;
const PHASE_MS = 5_000;
const LONG_TTL_SECONDS = 3_600;
const SHORT_TTL_SECONDS = 2;
const POLL_MS = 1_000;
const LEASE_LEASES = '/etcdserverpb.Lease/LeaseLeases';

const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Grants `count` leases of `ttlSeconds`, GRANTS_IN_FLIGHT at a time; returns their id varints. */
async function grant(channel: GrpcChannel, count: number, ttlSeconds: number): Promise<Uint8Array[]> {
  const ids: Uint8Array[] = [];
  const frame = leaseGrantFrame(ttlSeconds);
  let issued = 0;
  const worker = async (): Promise<void> => {
    while (issued < count) {
      issued++;
      const body = await channel.unaryAsync(PATH.leaseGrant, frame);
      if (body === undefined) throw new Error('LeaseGrant answered without a body');
      const r = readLeaseGrant(body);
      if (r.id === undefined || r.error !== '') throw new Error(`LeaseGrant failed: ${r.error}`);
      ids.push(r.id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(GRANTS_IN_FLIGHT, count) }, worker));
  return ids;
}

/** Keepalives answered (TTL > 0) per second over PHASE_MS, leases taken round-robin. */
async function keepalivesPerSecond(channel: GrpcChannel, ids: readonly Uint8Array[]): Promise<number> {
  const frames = ids.map((id) => leaseKeepAliveFrame(id));
  let next = 0;
  let answered = 0;
  let gone = 0;
  let stopping = false;
  const streams = Array.from({ length: STREAMS }, () => new Promise<void>((resolve, reject) => {
    let inFlight = 0;
    const stream = channel.stream(PATH.leaseKeepAlive, (msg) => {
      inFlight--;
      if (readKeepAliveTtl(msg) > 0) answered++;
      else gone++;
      if (stopping) {
        if (inFlight === 0) stream.close();
        return;
      }
      send();
    }, (err) => (err === undefined || stopping ? resolve() : reject(err)));
    const send = (): void => {
      inFlight++;
      stream.write(frames[next]!);
      next = (next + 1) % frames.length;
    };
    for (let i = 0; i < WINDOW; i++) send();
  }));
  const start = performance.now();
  await sleep(PHASE_MS);
  stopping = true;
  const counted = answered;
  const seconds = (performance.now() - start) / 1_000;
  await Promise.race([Promise.all(streams), sleep(5_000)]);
  if (gone > 0) throw new Error(`${gone} keepalives found their lease gone`);
  return counted / seconds;
}

/** Live leases: LeaseLeases over its own HTTP/2 session (the bench channel knows no such path). */
async function liveLeases(endpoint: string): Promise<number> {
  const session = connect(`http://${endpoint}`);
  const body = await new Promise<Buffer>((resolve, reject) => {
    const req = session.request({
      ':method': 'POST', ':path': LEASE_LEASES, 'content-type': 'application/grpc', te: 'trailers',
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => resolve(Buffer.concat(chunks).subarray(5)));
    req.end(Buffer.from([0, 0, 0, 0, 0]));
  }).finally(() => session.close());
  let count = 0;
  for (let i = 0; i < body.length;) {
    const tag = body[i++]!;
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const b = body[i++]!;
      len += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    if (tag === 0x12) count++;
    i += len;
  }
  return count;
}

async function expiry(channel: GrpcChannel, endpoint: string, count: number): Promise<{ grantS: number; expireS: number }> {
  const before = await liveLeases(endpoint);
  const started = performance.now();
  await grant(channel, count, SHORT_TTL_SECONDS);
  const granted = performance.now();
  const firstDeadline = started + SHORT_TTL_SECONDS * 1_000;
  let live = await liveLeases(endpoint);
  while (live > before) {
    await sleep(POLL_MS);
    live = await liveLeases(endpoint);
    process.stdout.write(`\r  ${live - before} of ${count} leases left   `);
  }
  process.stdout.write('\n');
  return { grantS: (granted - started) / 1_000, expireS: (performance.now() - firstDeadline) / 1_000 };
}

async function run(label: string, start: () => Promise<{ endpoint: string; stop(): Promise<void> }>,
  expireCount: number): Promise<void> {
  let server = await start();
  let channel = await GrpcChannel.connect(server.endpoint, CONNECTIONS);
  try {
    console.log(`${label} (${server.endpoint}): ${STREAMS} keepalive streams x ${WINDOW} in flight`);
    const t0 = performance.now();
    const ids = await grant(channel, 1_000, LONG_TTL_SECONDS);
    console.log(`  granted 1,000 leases in ${((performance.now() - t0) / 1_000).toFixed(1)} s`);
    console.log(`  keepalives/s with 1,000 live leases:   ${Math.round(await keepalivesPerSecond(channel, ids))}`);
    const t1 = performance.now();
    ids.push(...await grant(channel, 99_000, LONG_TTL_SECONDS));
    const grantRate = 99_000 / ((performance.now() - t1) / 1_000);
    console.log(`  granted 99,000 more leases at ${Math.round(grantRate)} grants/s`);
    console.log(`  keepalives/s with 100,000 live leases: ${Math.round(await keepalivesPerSecond(channel, ids))}`);
    if (expireCount > 0) {
      if (arg('endpoint') === undefined) {
        // A fresh member, so the 100,000 long leases above do not weigh on the expiry run.
        channel.close();
        await server.stop();
        server = await start();
        channel = await GrpcChannel.connect(server.endpoint, CONNECTIONS);
      }
      const e = await expiry(channel, server.endpoint, expireCount);
      console.log(`  ${expireCount.toLocaleString('en')} leases of ${SHORT_TTL_SECONDS} s granted in ` +
        `${e.grantS.toFixed(1)} s; all expired ${e.expireS.toFixed(1)} s after the first deadline ` +
        `(${Math.round(expireCount / e.expireS)} expiries/s)`);
    }
  } finally {
    channel.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const endpoint = arg('endpoint');
  const expireCount = Number(arg('expire') ?? 100_000);
  if (!Number.isSafeInteger(expireCount) || expireCount < 0) throw new Error('--expire takes a count');
  const running = async (): Promise<{ endpoint: string; stop(): Promise<void> }> =>
    ({ endpoint: endpoint!, stop: async () => {} });
  const started = (kind: 'strata' | 'etcd') => async (): Promise<ServerProcess> => startServer(kind);
  await run('strata', endpoint !== undefined ? running : started('strata'), expireCount);
  if (flag('etcd')) await run('etcd 3.4', started('etcd'), expireCount);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
