/**
 * `strata bench compare` end to end on one short matrix row: with a strata entry point that
 * cannot start, the etcd column is still measured (a real etcd on free ports, with its CPU per
 * op), the strata column is empty, the command says "strata did not start: ..." and exits 1.
 * Also: the /proc stat parser (a process name with spaces and parentheses), the parser of
 * `etcdctl check perf` output, and the table's ratios. The etcd part is skipped with the reason
 * when etcd is not installed.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { etcdMissing } from '../helpers/real-etcd.js';
import { runBench } from '../../src/cli/bench/index.js';
import { compareTable, MATRIX, medianRun } from '../../src/cli/bench/compare.js';
import { parseCheckPerf } from '../../src/cli/bench/check-perf.js';
import { parseStatTicks, processCpuSeconds } from '../../src/cli/bench/proc-cpu.js';
import type { RunResult } from '../../src/cli/bench/run.js';

const missing = etcdMissing();

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  return {
    stream: new Writable({ write(c: Buffer, _e, cb) { text += c.toString(); cb(); } }),
    text: () => text,
  };
}

t.test('compare measures etcd and reports that strata did not start', { skip: missing }, async (t) => {
  const out = sink();
  const err = sink();
  const code = await runBench(['compare', '--only', 'range serializable c=1', '--duration', '0.5',
    '--rounds', '1',
    '--strata-main', '/nonexistent/strata-main.js'], { stdout: out.stream, stderr: err.stream, isTTY: false });
  t.equal(code, 1);
  t.match(err.text(), /^strata did not start: strata exited \(1\) before it was ready: .*Cannot find module/m);
  const json = out.text().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  t.equal(json.length, 1);
  t.match(json[0], { server: 'etcd', row: 'range serializable c=1', workload: 'range', errors: 0 });
  t.ok(json[0].ops > 0 && json[0].server_cpu_us_per_op > 0, 'etcd figures with CPU per op');
  const row = out.text().split('\n').find((l) => l.startsWith('range serializable c=1'));
  t.ok(row !== undefined, 'the table has the row');
  t.match(row ?? '', /^range serializable c=1\s+\d+\s+-\s+-\s+[\d.]+\/[\d.]+\s+-/);
});

t.test('the matrix covers what the issue asks for', async (t) => {
  t.same(MATRIX.map((r) => r.label), [
    'put c=1', 'put c=16', 'put c=64', 'put c=256',
    'range linearizable c=1', 'range linearizable c=64', 'range serializable c=1', 'range serializable c=64',
    'txn-put 4 ops c=64', 'delete c=64', 'watch 100 watchers, 200 puts/s', 'lease keepalive c=64',
  ]);
});

t.test('compareTable shows ratios strata / etcd and hides runs with errors', async (t) => {
  const result = (throughput: number, p99: number, cpu: number, errors = 0): RunResult => ({
    workload: 'put', clients: 1, conns: 1, workers: 1, ops: 1000, errors, firstError: errors > 0 ? 'boom' : undefined,
    elapsedSeconds: 1, throughput, latencyMs: { min: 0, mean: 0, p50: 1, p90: 0, p99, p999: 0, max: 0 },
    puts: undefined, serverCpuSeconds: 1, serverCpuMicrosPerOp: cpu, clientCpuMicrosPerOp: 1,
  });
  const rows = MATRIX.slice(0, 2);
  const text = compareTable(rows, [result(1000, 2, 100), result(500, 4, 50)],
    [result(500, 4, 50), result(500, 4, 50, 100)]);
  const lines = text.split('\n');
  t.match(lines[2] ?? '', /^put c=1\s+1000\s+500\s+0\.50\s+1\.00\/2\.00\s+1\.00\/4\.00\s+2\.00\s+100\.0\s+50\.0\s+0\.50$/);
  t.match(lines[3] ?? '', /^put c=16\s+500\s+-\s+-/);
  t.match(text, /note: strata, put c=16: 100 errors, first: boom/);
});

t.test('medianRun takes each figure\'s median over the usable rounds', async (t) => {
  const run = (throughput: number, p99: number, errors = 0): RunResult => ({
    workload: 'put', clients: 1, conns: 1, workers: 1, ops: 1000, errors,
    firstError: errors > 0 ? 'boom' : undefined, elapsedSeconds: 1, throughput,
    latencyMs: { min: 0, mean: 0, p50: 1, p90: 0, p99, p999: 0, max: 0 },
    puts: undefined, serverCpuSeconds: 1, serverCpuMicrosPerOp: throughput / 10,
    clientCpuMicrosPerOp: 1,
  });
  const m = medianRun([run(100, 9), run(300, 1), 'timed out', run(200, 5), run(1e6, 0, 500)]);
  if (typeof m === 'string') throw new Error(m);
  t.equal(m.throughput, 200);
  t.equal(m.latencyMs.p99, 5);
  t.equal(m.serverCpuMicrosPerOp, 20);
  t.equal(m.firstError, 'boom', 'the failed round still shows in the notes');
  t.equal(medianRun(['timed out', 'refused']), 'timed out');
  const even = medianRun([run(100, 1), run(200, 3)]);
  t.equal(typeof even === 'object' ? even.throughput : 0, 150);
});

t.test('/proc stat parsing and this process\'s CPU', async (t) => {
  const line = '1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 1 0 100 0 0';
  t.equal(parseStatTicks(line), 325);
  t.throws(() => parseStatTicks('garbage'));
  const a = processCpuSeconds(process.pid);
  let x = 0;
  for (let i = 0; i < 3e7; i++) x += i % 7;
  t.ok(x > 0);
  t.ok(processCpuSeconds(process.pid) >= a, 'CPU time does not go backwards');
});

t.test('etcdctl check perf output parsing', async (t) => {
  t.same(parseCheckPerf('PASS: Throughput is 974 writes/s\nPASS: Slowest request took 0.468174s\nPASS: Stddev is 0.02s\n'),
    { throughput: 974, slowestSeconds: 0.468174 });
  t.same(parseCheckPerf('FAIL: Throughput too low: 6491 writes/s\nSlowest request took too long: 0.786915s\n'),
    { throughput: 6491, slowestSeconds: 0.786915 });
  t.throws(() => parseCheckPerf('Error: context deadline exceeded'), /unreadable/);
});
