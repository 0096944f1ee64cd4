/**
 * Flag parsing of `strata bench`: defaults modelled on etcd's benchmark, both flag spellings,
 * and one clear line of error for each kind of bad input (runBench exits 2 and writes exactly
 * one line to stderr).
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { parseBenchArgs, runBench } from '../../src/cli/bench/index.js';

t.test('defaults', async (t) => {
  const p = parseBenchArgs(['put']);
  if (!p.ok) throw new Error(p.error);
  t.match(p.value, {
    workload: 'put', endpoints: ['127.0.0.1:2379'], conns: 1, clients: 1, total: 10_000,
    durationSeconds: undefined, keySize: 8, valSize: 8, keySpaceSize: 1, sequentialKeys: false,
    rate: 0, consistency: 'l', workers: 1, serverPid: undefined, json: false,
  });
});

t.test('both spellings, booleans, endpoints with a scheme', async (t) => {
  const p = parseBenchArgs(['range', '--clients=64', '--conns', '4', '--duration', '2.5',
    '--consistency=s', '--sequential-keys', '--key-space-size', '1000',
    '--endpoints', 'http://127.0.0.1:1,localhost:2', '--workers=2']);
  if (!p.ok) throw new Error(p.error);
  t.match(p.value, {
    workload: 'range', clients: 64, conns: 4, durationSeconds: 2.5, total: undefined,
    consistency: 's', sequentialKeys: true, keySpaceSize: 1000, workers: 2,
    endpoints: ['127.0.0.1:1', 'localhost:2'],
  });
});

const BAD: readonly [readonly string[], RegExp][] = [
  [['put', '--clinets', '3'], /unknown flag --clinets/],
  [['put', '--clients'], /--clients needs a value/],
  [['put', '--clients', 'x'], /--clients needs a number, not "x"/],
  [['put', '--clients', '1.5'], /needs an integer/],
  [['put', '--clients', '0'], /--clients must be in \[1, /],
  [['put', '--total', '5', '--duration', '1'], /--total or --duration, not both/],
  [['range', '--consistency', 'x'], /--consistency takes l or s/],
  [['frobnicate'], /unknown workload "frobnicate"/],
  [[], /missing workload/],
  [['put', 'extra'], /unexpected argument "extra"/],
  [['put', '--endpoints', 'nohost'], /bad endpoint "nohost"/],
  [['put', '--key-space-size', '1000000000', '--key-size', '3'], /needs --key-size of at least 9/],
  [['txn-put', '--txn-ops', '4'], /needs --key-space-size of at least 4/],
  [['watch', '--val-size', '4'], /at least 8 for watch/],
  [['put', '--sequential-keys=maybe'], /takes true or false/],
  [['put', '--clients', '1', '--clients', '2'], /given twice/],
  [['put', '--workers', '2'], /cannot exceed --clients/],
];

t.test('each bad flag gives one line of error', async (t) => {
  for (const [argv, want] of BAD) {
    const p = parseBenchArgs(argv);
    t.equal(p.ok, false, argv.join(' '));
    if (!p.ok) {
      t.match(p.error, want);
      t.notMatch(p.error, /\n/);
    }
  }
});

t.test('runBench exits 2 with one stderr line on a bad flag', async (t) => {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void): Writable => new Writable({
    write(chunk: Buffer, _enc, cb) { f(chunk.toString()); cb(); },
  });
  const io = { stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }), isTTY: false };
  t.equal(await runBench(['put', '--bogus'], io), 2);
  t.equal(err, 'strata bench: unknown flag --bogus\n');
  t.equal(out, '');
  err = '';
  t.equal(await runBench(['compare', '--bogus'], io), 2);
  t.equal(err, 'strata bench compare: unknown flag --bogus\n');
});
