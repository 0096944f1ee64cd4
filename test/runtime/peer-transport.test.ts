/**
 * The TCP peer transport between two members in one process: messages arrive intact and in order
 * both ways; sending to a peer that is not up is refused (false), and the transport dials it
 * again once it is; a member of another cluster is refused at its hello and nothing it sends is
 * delivered; frames over the limit close the connection; a member that joined and has no member
 * table yet takes a call from a member it does not know and answers it; a removed member that
 * calls is told so; unix:// peer URLs work as etcd's do.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { nullLogger, type MemberId } from '../../src/base/index.js';
import { message, type Message } from '../../src/raft/index.js';
import { PeerTransport, peerAddressOfUrl, type PeerAddress, type PeerTransportOptions } from '../../src/runtime/node/peer-transport.js';
import { freePort } from '../../src/cli/bench/server-process.js';

const A = 0xaaaan;
const B = 0xbbbbn;
const CLUSTER = 0xc1n;

type Snapshots = PeerTransportOptions['snapshots'];

async function pair(o: { clusterOfA?: bigint; frameBytesMax?: number; snapshotsOfB?: Snapshots } = {}) {
  const ports = { a: await freePort(), b: await freePort() };
  const got = { a: [] as Message[], b: [] as Message[] };
  const hellos: [bigint, readonly string[]][] = [];
  const opts = (self: bigint, other: bigint, port: number, otherPort: number, cluster: bigint, into: Message[]): PeerTransportOptions => ({
    selfId: self, clusterId: cluster, listen: { host: '127.0.0.1', port }, clientUrls: [`http://client-of-${self}`],
    onHello: (from, hello) => hellos.push([from, hello.clientUrls]),
    peers: new Map([[other, { host: '127.0.0.1', port: otherPort }]]),
    onFrame: (f) => { if (f.kind === 'raft') into.push(f.message); }, frameBytesMax: o.frameBytesMax ?? 1 << 20,
    messageLimits: { entriesMax: 64 }, logger: nullLogger,
  });
  const startA = () => PeerTransport.start(opts(A, B, ports.a, ports.b, o.clusterOfA ?? CLUSTER, got.a));
  const startB = () => PeerTransport.start({
    ...opts(B, A, ports.b, ports.a, CLUSTER, got.b), ...(o.snapshotsOfB !== undefined && { snapshots: o.snapshotsOfB }),
  });
  return { ports, got, hellos, startA, startB };
}

async function eventually(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const heartbeat = (from: bigint, to: bigint, term: number): Message =>
  message({ type: 'MsgHeartbeat', from: from as MemberId, to: to as MemberId, term, commit: term });

t.test('messages arrive intact and in order, both ways', async (t) => {
  const p = await pair();
  const [a, b] = await Promise.all([p.startA(), p.startB()]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await eventually('A connected to B', () => a.send(heartbeat(A, B, 0)));
  await eventually('B connected to A', () => b.send(heartbeat(B, A, 0)));
  const app = message({
    type: 'MsgApp', from: A as MemberId, to: B as MemberId, term: 3, logTerm: 2, index: 10, commit: 9,
    entries: [
      { term: 3, index: 11, type: 'normal', data: Uint8Array.of(1, 2, 3) },
      { term: 3, index: 12, type: 'confChange', data: new Uint8Array(100_000).fill(7) },
    ],
  });
  for (let i = 1; i <= 100; i++) t.ok(a.send(i === 50 ? app : heartbeat(A, B, i)), `send ${i}`);
  await eventually('B got them all', () => p.got.b.length >= 101);
  const terms = p.got.b.slice(1).map((m) => m.term);
  t.same(terms, Array.from({ length: 100 }, (_, i) => (i + 1 === 50 ? 3 : i + 1)), 'in order');
  const got = p.got.b.find((m) => m.type === 'MsgApp')!;
  t.same({ ...got, entries: [] }, { ...app, entries: [] }, 'the append intact');
  t.same(got.entries.map((e) => ({ ...e, data: Buffer.from(e.data).toString('hex') })),
    app.entries.map((e) => ({ ...e, data: Buffer.from(e.data).toString('hex') })), 'its entries intact');
  await eventually('A got B\'s', () => p.got.a.length >= 1);
  t.equal(p.got.a[0]!.from, B);
  t.same(p.hellos.map(([from, urls]) => `${from}:${urls.join()}`).sort(),
    [`${A}:http://client-of-${A}`, `${B}:http://client-of-${B}`], 'each said hello with its client URLs');
});

t.test('a peer that is down: refused, then dialed again once it is up', async (t) => {
  const p = await pair();
  const a = await p.startA();
  t.teardown(() => a.close());
  t.notOk(a.send(heartbeat(A, B, 1)), 'B is not up: dropped');
  const b = await p.startB();
  t.teardown(() => b.close());
  await eventually('A redialed B', () => a.send(heartbeat(A, B, 2)));
  await eventually('B got it', () => p.got.b.some((m) => m.term === 2));
  await b.close();
  await eventually('A saw B go', () => !a.send(heartbeat(A, B, 3)));
  const b2 = await p.startB();
  t.teardown(() => b2.close());
  await eventually('A redialed B again', () => a.send(heartbeat(A, B, 4)));
  await eventually('B got it', () => p.got.b.some((m) => m.term === 4));
});

t.test('a joined member without a table takes a call from a member it does not know, and answers it', async (t) => {
  const ports = { a: await freePort(), b: await freePort() };
  const got = { a: [] as Message[], b: [] as Message[] };
  let joining = true;
  const base = (self: bigint, port: number, into: Message[]): PeerTransportOptions => ({
    selfId: self, clusterId: CLUSTER, listen: { host: '127.0.0.1', port }, clientUrls: [],
    peerUrls: [`http://127.0.0.1:${port}`], peers: new Map(),
    onFrame: (f) => { if (f.kind === 'raft') into.push(f.message); }, frameBytesMax: 1 << 20,
    messageLimits: { entriesMax: 64 }, logger: nullLogger,
  });
  // B joined: it knows nobody yet. A (say, the leader) knows B.
  const b = await PeerTransport.start({ ...base(B, ports.b, got.b), acceptUnknown: () => joining });
  const a = await PeerTransport.start({ ...base(A, ports.a, got.a), peers: new Map([[B, { host: '127.0.0.1', port: ports.b }]]) });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await eventually('A reaches B', () => a.send(heartbeat(A, B, 1)));
  await eventually('B got it', () => got.b.length > 0);
  await eventually('B answers A at the peer URL A gave', () => b.send(heartbeat(B, A, 1)));
  await eventually('A got the answer', () => got.a.length > 0);
  joining = false;
  const c = await PeerTransport.start({
    ...base(0xccccn, await freePort(), []), peers: new Map([[B, { host: '127.0.0.1', port: ports.b }]]),
  });
  t.teardown(() => c.close());
  const before = got.b.length;
  for (let i = 0; i < 30; i++) {
    c.send(heartbeat(0xccccn, B, 1));
    await new Promise((r) => setTimeout(r, 10));
  }
  t.equal(got.b.filter((m) => m.from === 0xccccn).length, 0, 'once it has a table, strangers are refused again');
  t.ok(got.b.length >= before);
});

t.test('a removed member that calls is told it was removed (etcd: 410 Gone)', async (t) => {
  const ports = { a: await freePort(), b: await freePort() };
  let told: bigint | null = null;
  const base = (self: bigint, port: number): PeerTransportOptions => ({
    selfId: self, clusterId: CLUSTER, listen: { host: '127.0.0.1', port }, clientUrls: [], peers: new Map(),
    onFrame: () => undefined, frameBytesMax: 1 << 20, messageLimits: { entriesMax: 64 }, logger: nullLogger,
  });
  const a = await PeerTransport.start({ ...base(A, ports.a), isRemoved: (id) => id === B });
  const b = await PeerTransport.start({
    ...base(B, ports.b), peers: new Map([[A, { host: '127.0.0.1', port: ports.a }]]), onRemoved: (by) => { told = by; },
  });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await eventually('B told', () => told !== null);
  t.equal(told, A, 'by the member it called');
});

t.test('unix:// peer URLs: members talk over socket files (etcd takes host:port as the path)', async (t) => {
  // etcd's unix URLs name the socket by host:port, relative to the working directory.
  const dir = mkdtempSync(join(tmpdir(), 'strata-unix-'));
  const cwd = process.cwd();
  process.chdir(dir);
  t.teardown(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });
  const at = (name: string) => peerAddressOfUrl(`unix://${name}.sock:1`);
  t.same(peerAddressOfUrl('unix://etcd.unix:1'), { host: 'etcd.unix', port: 1, tls: false, path: 'etcd.unix:1' });
  const got: Message[] = [];
  const base = (self: bigint, listen: PeerAddress, peers: Map<bigint, PeerAddress>, into: Message[]): PeerTransportOptions => ({
    selfId: self, clusterId: CLUSTER, listen, clientUrls: [], peers,
    onFrame: (f) => { if (f.kind === 'raft') into.push(f.message); }, frameBytesMax: 1 << 20,
    messageLimits: { entriesMax: 64 }, logger: nullLogger,
  });
  writeFileSync(at('b').path!, 'a stale socket file is removed first');
  const b = await PeerTransport.start(base(B, at('b'), new Map([[A, at('a')]]), got));
  const a = await PeerTransport.start(base(A, at('a'), new Map([[B, at('b')]]), []));
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await eventually('A reaches B over its socket file', () => a.send(heartbeat(A, B, 4)));
  await eventually('B got it', () => got.length > 0);
  t.match(got[0], { type: 'MsgHeartbeat', from: A, term: 4 });
});

t.test('a member of another cluster is refused', async (t) => {
  const p = await pair({ clusterOfA: 0xdeadn });
  const [a, b] = await Promise.all([p.startA(), p.startB()]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  for (let i = 0; i < 50; i++) {
    a.send(heartbeat(A, B, i));
    await new Promise((r) => setTimeout(r, 10));
  }
  t.same(p.got.b, [], 'nothing from the stranger was delivered');
});

t.test('a peer that keeps being refused is logged once a minute, not once a redial', async (t) => {
  const ports = { a: await freePort(), b: await freePort() };
  const warnings: string[] = [];
  const logger = { ...nullLogger, warn: (m: string) => { warnings.push(m); }, child: () => logger };
  const base = (self: bigint, port: number): PeerTransportOptions => ({
    selfId: self, clusterId: CLUSTER, listen: { host: '127.0.0.1', port }, clientUrls: [], peers: new Map(),
    onFrame: () => undefined, frameBytesMax: 1 << 20, messageLimits: { entriesMax: 64 }, logger: nullLogger,
  });
  // A knows nobody: B's hello names an unknown member, refused every time B redials.
  const a = await PeerTransport.start({ ...base(A, ports.a), logger });
  const b = await PeerTransport.start({ ...base(B, ports.b), peers: new Map([[A, { host: '127.0.0.1', port: ports.a }]]) });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await eventually('a refusal', () => warnings.length > 0);
  await new Promise((r) => setTimeout(r, 500)); // B redials at 50, 100, 200 ms ...
  t.equal(warnings.filter((w) => w === 'refused a peer connection').length, 1);
});

t.test('a frame over the limit closes the connection', async (t) => {
  const p = await pair({ frameBytesMax: 1024 });
  const b = await p.startB();
  t.teardown(() => b.close());
  const closed = await new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: p.ports.b }, () => {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(1025);
      s.write(header);
    });
    const timer = setTimeout(() => { s.destroy(); resolve(false); }, 5_000);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  t.ok(closed);
});

t.test('snapshots: streamed whole and verified, or refused with a reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'source.mdb');
  const content = randomBytes(3 * 1024 * 1024 + 17);
  writeFileSync(file, content);
  const meta = { index: 5000, term: 2, voters: [A as MemberId, B as MemberId], learners: [] };
  const taken: { meta: unknown; bytes: Buffer }[] = [];
  let answer: string | null = null;
  const p = await pair({
    snapshotsOfB: {
      dir, bytesMax: 4 * 1024 * 1024,
      onSnapshot: async (from, m, path) => {
        t.equal(from, A);
        t.same(m, { ...meta, bytes: content.length });
        t.ok(readFileSync(path).equals(content), 'the file arrived whole before it is offered');
        return answer;
      },
      onTaken: (m, path) => taken.push({ meta: m, bytes: readFileSync(path) }),
    },
  });
  const [a, b] = await Promise.all([p.startA(), p.startB()]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const first = await a.sendSnapshot(B, meta, file);
  t.equal(first, null, `taken (${first})`);
  await eventually('handed over', () => taken.length === 1);
  t.ok(taken[0]!.bytes.equals(content));

  answer = 'not newer';
  t.equal(await a.sendSnapshot(B, meta, file), 'not newer', 'refused, with the reason');
  const big = join(dir, 'big.mdb');
  writeFileSync(big, Buffer.alloc(4 * 1024 * 1024 + 1));
  t.equal(await a.sendSnapshot(B, meta, big), 'connection closed', 'over the limit: the connection is closed');
  t.equal(taken.length, 1, 'nothing more was taken');
  t.same(readdir(dir), ['big.mdb', 'source.mdb'], 'refused snapshots leave no file behind');
});

t.test('a member that takes no snapshots closes a snapshot connection', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'source.mdb');
  writeFileSync(file, Buffer.alloc(1000));
  const p = await pair();
  const [a, b] = await Promise.all([p.startA(), p.startB()]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  t.equal(await a.sendSnapshot(B, { index: 1, term: 1, voters: [], learners: [] }, file), 'connection closed');
  t.ok(existsSync(file));
});

function readdir(dir: string): string[] {
  return readdirSync(dir).sort();
}
