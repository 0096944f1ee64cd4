/**
 * Cross-checks the bench against another load generator: etcd's own `etcdctl check perf`
 * (Go, etcd's clientv3) on a fresh real etcd. Both drive the same shape of load: puts of
 * 256-byte random keys and 1 KiB values from N clients each on its own connection, capped at
 * the same rate, for 60 s (`check perf` always runs 60 s). For each we record the throughput,
 * the slowest request and the etcd server's CPU per put from /proc (each side charged for
 * connecting, the puts and one delete of its prefix at the end); the rounds alternate so
 * neither side gets all the quiet moments of a shared machine.
 */
import { spawn } from 'node:child_process';
import { GrpcChannel, PATH } from './grpc-client.js';
import { prefixRange } from './load.js';
import { parseBenchArgs } from './options.js';
import { deleteFrame } from './wire.js';
import { processCpuSeconds } from './proc-cpu.js';
import { runLoad } from './run.js';
import { startServer } from './server-process.js';

/** etcdctl's check perf loads (etcdctl/ctlv3/command/check.go). */
export const CHECK_PERF_LOADS = {
  s: { limit: 150, clients: 50 },
  m: { limit: 1000, clients: 200 },
  l: { limit: 8000, clients: 500 },
} as const;
const CHECK_PERF_SECONDS = 60;

export interface PerfFigures {
  readonly tool: string;
  readonly throughput: number;
  readonly slowestSeconds: number;
  readonly serverCpuMicrosPerOp: number;
  /** The load generator's own CPU per put. */
  readonly clientCpuMicrosPerOp: number;
}

/** How often the CPU of the etcdctl process is sampled (its last sample is its total). */
const CLIENT_CPU_SAMPLE_MS = 100;

function runEtcdctl(endpoint: string, load: string): Promise<{ text: string; cpuSeconds: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('etcdctl', [`--endpoints=${endpoint}`, 'check', 'perf', `--load=${load}`],
      { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let cpuSeconds = 0;
    const sampler = setInterval(() => {
      try {
        if (child.pid !== undefined) cpuSeconds = processCpuSeconds(child.pid);
      } catch { /* exited between samples: keep the last one */ }
    }, CLIENT_CPU_SAMPLE_MS);
    child.stdout.on('data', (c: Buffer) => { text += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { text += c.toString(); });
    child.on('error', (err) => { clearInterval(sampler); reject(err); });
    child.on('close', () => { clearInterval(sampler); resolve({ text, cpuSeconds }); });
  });
}

/** Reads "Throughput is N writes/s" (or "too low: N") and the slowest request from its output. */
export function parseCheckPerf(text: string): { throughput: number; slowestSeconds: number } {
  const t = /Throughput (?:is|too low:) (\d+) writes\/s/.exec(text);
  const s = /Slowest request took (?:too long: )?([\d.]+)s/.exec(text);
  if (t === null || s === null) {
    throw new Error(`unreadable etcdctl check perf output: ${text.slice(-500)}`);
  }
  return { throughput: Number(t[1]), slowestSeconds: Number(s[1]) };
}

type Load = keyof typeof CHECK_PERF_LOADS;

async function etcdctlRound(endpoint: string, pid: number, load: Load): Promise<PerfFigures> {
  const cpu0 = processCpuSeconds(pid);
  const { text, cpuSeconds: clientCpu } = await runEtcdctl(endpoint, load);
  const cpu = processCpuSeconds(pid) - cpu0;
  const { throughput, slowestSeconds } = parseCheckPerf(text);
  const puts = throughput * CHECK_PERF_SECONDS;
  // This includes connecting its clients and its final delete of the prefix; benchRound charges
  // the same things, so the two figures compare like with like.
  return { tool: 'etcdctl check perf', throughput, slowestSeconds,
    serverCpuMicrosPerOp: (cpu * 1e6) / puts, clientCpuMicrosPerOp: (clientCpu * 1e6) / puts };
}

async function benchRound(endpoint: string, pid: number, load: Load, round: number):
  Promise<PerfFigures> {
  const { limit, clients } = CHECK_PERF_LOADS[load];
  const parsed = parseBenchArgs(['put', '--endpoints', endpoint, '--server-pid', String(pid),
    '--clients', String(clients), '--conns', String(clients), '--rate', String(limit),
    '--duration', String(CHECK_PERF_SECONDS), '--key-size', '256', '--val-size', '1024',
    '--key-space-size', '1000000000000', '--prefix', `/strata-check-perf-${round}/`,
    '--seed', String(round + 1)]);
  if (!parsed.ok) throw new Error(parsed.error);
  // Charged like etcdctl's run: connecting the clients, the puts, and one DeleteRange of the
  // prefix at the end (check perf deletes its keys, and etcd's CPU for that is in its figure).
  const cpu0 = processCpuSeconds(pid);
  const r = await runLoad(parsed.value);
  if (r.errors > 0) throw new Error(`strata bench put: ${r.errors} errors, first: ${r.firstError}`);
  const channel = await GrpcChannel.connect(endpoint, 1);
  try {
    const [key, end] = prefixRange(parsed.value.prefix);
    await channel.unaryAsync(PATH.deleteRange, deleteFrame(key, end), false);
  } finally {
    channel.close();
  }
  const cpu = processCpuSeconds(pid) - cpu0;
  return {
    tool: 'strata bench put', throughput: r.throughput, slowestSeconds: r.latencyMs.max / 1000,
    serverCpuMicrosPerOp: (cpu * 1e6) / r.ops, clientCpuMicrosPerOp: r.clientCpuMicrosPerOp,
  };
}

/** Runs `rounds` alternating pairs on one fresh etcd; returns a small text report. */
export async function crossCheckPerf(log: (line: string) => void, load: Load = 'l', rounds = 2):
  Promise<string> {
  const etcd = await startServer('etcd');
  const rows: PerfFigures[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const pair = i % 2 === 0 ? [false, true] : [true, false];
      for (const ours of pair) {
        const f = ours ? await benchRound(etcd.endpoint, etcd.pid, load, i)
          : await etcdctlRound(etcd.endpoint, etcd.pid, load);
        log(describe(f));
        rows.push(f);
      }
    }
  } finally {
    await etcd.stop();
  }
  const mean = (tool: string, pick: (f: PerfFigures) => number): number => {
    const fs = rows.filter((r) => r.tool === tool);
    return fs.reduce((a, f) => a + pick(f), 0) / fs.length;
  };
  const { clients, limit } = CHECK_PERF_LOADS[load];
  const lines = [`load ${load}: ${clients} clients, rate cap ${limit}/s, 256 B keys, 1 KiB values, `
    + `${CHECK_PERF_SECONDS} s per round, ${rounds} alternating rounds each`,
  ...rows.map(describe)];
  for (const [name, pick] of [['throughput', (f: PerfFigures) => f.throughput],
    ['etcd CPU per put', (f: PerfFigures) => f.serverCpuMicrosPerOp]] as const) {
    const a = mean('strata bench put', pick);
    const b = mean('etcdctl check perf', pick);
    const within = Math.abs(a / b - 1) <= 0.15 ? 'within' : 'NOT within';
    lines.push(`${name}: strata bench / etcdctl = ${(a / b).toFixed(3)} (${within} 15%)`);
  }
  return lines.join('\n');
}

function describe(f: PerfFigures): string {
  return `${f.tool.padEnd(20)} ${f.throughput.toFixed(0).padStart(6)} writes/s  slowest `
    + `${f.slowestSeconds.toFixed(3)} s  etcd CPU ${f.serverCpuMicrosPerOp.toFixed(1)} us/put  `
    + `client CPU ${f.clientCpuMicrosPerOp.toFixed(1)} us/put`;
}
