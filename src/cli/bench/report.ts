/**
 * Output of `strata bench`: a human table per run, one JSON line per run (stable keys, for
 * scripts), and a progress bar drawn on a terminal only.
 */
import type { RunResult } from './run.js';

const f = (n: number, digits: number): string => n.toFixed(digits);

export function humanTable(r: RunResult): string {
  const watch = r.workload === 'watch';
  const op = watch ? 'event' : 'op';
  const l = r.latencyMs;
  const rows: [string, string][] = [
    ['workload',
      `${r.workload} (${r.clients} clients, ${r.conns} conns, ${r.workers} load threads)`],
    [watch ? 'events' : 'requests', `${r.ops}${r.errors > 0 ? ` (${r.errors} errors)` : ''}`],
    ['elapsed', `${f(r.elapsedSeconds, 3)} s`],
    [watch ? 'events/s' : 'requests/s', f(r.throughput, 1)],
    ['latency ms', `min ${f(l.min, 3)}  mean ${f(l.mean, 3)}  p50 ${f(l.p50, 3)}  `
      + `p90 ${f(l.p90, 3)}  p99 ${f(l.p99, 3)}  p99.9 ${f(l.p999, 3)}  max ${f(l.max, 3)}`],
  ];
  if (r.puts !== undefined) rows.push(['puts', String(r.puts)]);
  if (r.serverCpuMicrosPerOp !== undefined && r.serverCpuSeconds !== undefined) {
    rows.push(['server CPU',
      `${f(r.serverCpuSeconds, 2)} s, ${f(r.serverCpuMicrosPerOp, 1)} us per ${op}`]);
  }
  rows.push(['client CPU', `${f(r.clientCpuMicrosPerOp, 1)} us per ${op} (this process)`]);
  if (r.firstError !== undefined) rows.push(['first error', r.firstError]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export function jsonLine(r: RunResult, extra: Record<string, unknown> = {}): string {
  const round = (n: number | undefined, d = 3): number | null =>
    (n === undefined ? null : Number(n.toFixed(d)));
  return JSON.stringify({
    ...extra,
    workload: r.workload, clients: r.clients, conns: r.conns, workers: r.workers,
    ops: r.ops, errors: r.errors, elapsed_s: round(r.elapsedSeconds),
    throughput: round(r.throughput, 1),
    latency_ms: Object.fromEntries(Object.entries(r.latencyMs).map(([k, v]) => [k, round(v, 4)])),
    puts: r.puts ?? null, server_cpu_s: round(r.serverCpuSeconds),
    server_cpu_us_per_op: round(r.serverCpuMicrosPerOp, 2),
    client_cpu_us_per_op: round(r.clientCpuMicrosPerOp, 2),
    first_error: r.firstError ?? null,
  });
}

/** A one-line progress bar redrawn in place; call done() to clear it. */
export class ProgressBar {
  #last = '';
  constructor(readonly out: NodeJS.WritableStream, readonly label: string,
    readonly enabled: boolean) {}
  update(ops: number, fraction: number): void {
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${ops} ops`;
    if (line === this.#last) return;
    this.#last = line;
    this.out.write(`\r${line}\x1b[K`);
  }
  done(): void {
    if (this.enabled && this.#last !== '') this.out.write('\r\x1b[K');
    this.#last = '';
  }
}
