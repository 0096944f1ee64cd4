/**
 * bench-peer: what the TCP peer transport costs, two transports in one process over loopback.
 * Prints one table:
 * - appends/s one way, MsgApp of ENTRIES entries of VALUE_BYTES each, the sender keeping at most
 *   WINDOW messages unacknowledged (the receiver acknowledges every ACK_EVERY with a
 *   MsgAppResp), with MB/s and the process CPU per message (encode, frame, write, read, decode
 *   and validate both ends);
 * - heartbeat round trips p50/p99, one at a time (MsgHeartbeat out, MsgHeartbeatResp back).
 * Each figure is the median of RUNS runs; the whole run is bounded (< 60 s).
 */
import { performance } from 'node:perf_hooks';
import { nullLogger, type MemberId } from '../src/base/index.js';
import { message, type Entry, type Message } from '../src/raft/index.js';
import { PeerTransport, type PeerTransportOptions } from '../src/runtime/node/index.js';
import { freePort } from '../src/cli/bench/server-process.js';

const RUNS = 3;
const MESSAGES = 20_000;
const ENTRIES = 8;
const VALUE_BYTES = 256;
const WINDOW = 256;
const ACK_EVERY = 64;
const RTT_ROUNDS = 5_000;

const A = 1n as MemberId;
const B = 2n as MemberId;

interface Pair {
  readonly a: PeerTransport;
  readonly b: PeerTransport;
  onA: (m: Message) => void;
  onB: (m: Message) => void;
}

async function pair(): Promise<Pair> {
  const [pa, pb] = [await freePort(), await freePort()];
  const p = { onA: (_m: Message) => undefined, onB: (_m: Message) => undefined } as Pair;
  const opts = (self: bigint, other: bigint, port: number, otherPort: number, deliver: (m: Message) => void): PeerTransportOptions => ({
    selfId: self, clusterId: 7n, listen: { host: '127.0.0.1', port }, clientUrls: [],
    peers: new Map([[other, { host: '127.0.0.1', port: otherPort }]]),
    onFrame: (f) => { if (f.kind === 'raft') deliver(f.message); },
    frameBytesMax: 4 << 20, messageLimits: { entriesMax: 256 }, logger: nullLogger,
  });
  const [a, b] = await Promise.all([
    PeerTransport.start(opts(A, B, pa, pb, (m) => p.onA(m))),
    PeerTransport.start(opts(B, A, pb, pa, (m) => p.onB(m))),
  ]);
  const ready = async (t: PeerTransport, m: Message): Promise<void> => {
    while (!t.send(m)) await new Promise((r) => setTimeout(r, 5));
  };
  p.onA = () => undefined;
  p.onB = () => undefined;
  await ready(a, message({ type: 'MsgHeartbeat', from: A, to: B }));
  await ready(b, message({ type: 'MsgHeartbeatResp', from: B, to: A }));
  return Object.assign(p, { a, b });
}

async function throughput(p: Pair): Promise<{ perSec: number; mbPerSec: number; cpuUs: number }> {
  const value = new Uint8Array(VALUE_BYTES).fill(1);
  let sent = 0;
  let acked = 0;
  let received = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < MESSAGES && sent - acked < WINDOW) {
        const index = sent * ENTRIES;
        const entries: Entry[] = Array.from({ length: ENTRIES }, (_, k) => ({ term: 1, index: index + k + 1, type: 'normal', data: value }));
        if (!p.a.send(message({ type: 'MsgApp', from: A, to: B, term: 1, logTerm: 1, index, entries }))) break;
        sent++;
      }
      if (sent < MESSAGES && sent - acked < WINDOW) setTimeout(pump, 1);
    };
    p.onB = () => {
      received++;
      if (received % ACK_EVERY === 0 || received === MESSAGES) {
        p.b.send(message({ type: 'MsgAppResp', from: B, to: A, term: 1, index: received }));
      }
    };
    p.onA = (m) => {
      acked = m.index;
      if (acked === MESSAGES) resolve();
      else pump();
    };
    pump();
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    perSec: MESSAGES / seconds,
    mbPerSec: (MESSAGES * ENTRIES * VALUE_BYTES) / seconds / 1e6,
    cpuUs: (cpu.user + cpu.system) / MESSAGES,
  };
}

async function roundTrips(p: Pair): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < RTT_ROUNDS; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      p.onB = () => p.b.send(message({ type: 'MsgHeartbeatResp', from: B, to: A, term: 1 }));
      p.onA = () => resolve();
      p.a.send(message({ type: 'MsgHeartbeat', from: A, to: B, term: 1 }));
    });
    samples.push((performance.now() - t0) * 1000);
  }
  samples.sort((x, y) => x - y);
  return { p50: samples[Math.floor(samples.length * 0.5)]!, p99: samples[Math.floor(samples.length * 0.99)]! };
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

const p = await pair();
const runs = [];
for (let i = 0; i < RUNS; i++) runs.push(await throughput(p));
const rtts = [];
for (let i = 0; i < RUNS; i++) rtts.push(await roundTrips(p));
await Promise.all([p.a.close(), p.b.close()]);

process.stdout.write([
  `peer transport over loopback (${ENTRIES} entries of ${VALUE_BYTES} B per append, window ${WINDOW}; median of ${RUNS})`,
  '| figure | value |',
  '|---|---|',
  `| appends/s one way | ${median(runs.map((r) => r.perSec)).toFixed(0)} |`,
  `| entry payload MB/s | ${median(runs.map((r) => r.mbPerSec)).toFixed(1)} |`,
  `| process CPU per append, both ends | ${median(runs.map((r) => r.cpuUs)).toFixed(1)} us |`,
  `| heartbeat round trip p50 | ${median(rtts.map((r) => r.p50)).toFixed(1)} us |`,
  `| heartbeat round trip p99 | ${median(rtts.map((r) => r.p99)).toFixed(1)} us |`,
  '',
].join('\n'));
