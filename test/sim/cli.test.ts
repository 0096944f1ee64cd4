/**
 * `strata sim` end to end through runSim (src/cli/sim): --seed prints the seed's choices, a trace
 * hash and the verdict, and the same seed prints the same hash twice; a small sweep of a broken
 * build (stale-reads) on a two-thread piscina pool exits 1 and writes a shrunk failure file;
 * --replay of that file reproduces its trace hash and verdict; a user's workload module (the
 * example in scripts/) drives the clients; bad flags exit 2 naming the flag.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { runSim } from '../../src/cli/sim/index.js';

async function sim(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => { out += c.toString(); });
  stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const code = await runSim(argv, { stdout, stderr, isTTY: false });
  return { code, out, err };
}

t.test('--seed prints choices, a stable trace hash and the verdict', async (t) => {
  const a = await sim(['--seed', '3', '--ops', '10']);
  const b = await sim(['--seed', '3', '--ops', '10']);
  t.equal(a.code, 0, a.out);
  t.match(a.out, /^seed 3: 3 member\(s\), 4 clients/m);
  t.match(a.out, /clock rates: /);
  t.match(a.out, /network: loss /);
  t.match(a.out, /verdict: ok/);
  const hash = /trace hash: ([0-9a-f]{8})/.exec(a.out)?.[1];
  t.ok(hash !== undefined);
  t.match(b.out, `trace hash: ${hash}`);
});

t.test('a sweep of a broken build writes a shrunk failure that replays exactly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await sim(['--seeds', '12', '--from', '7', '--workers', '2', '--ops', '20', '--mutate', 'stale-reads', '--out', dir]);
  t.equal(r.code, 1, r.out + r.err);
  t.match(r.out, /12 seeds \(7\.\.18\), 3 members, 2 workers: [1-9]\d* violation/);
  t.match(r.out, /throughput: \d+ simulated operations\/s/);
  const files = readdirSync(dir);
  t.ok(files.length > 0, 'failure files written');
  const replay = await sim(['--replay', join(dir, files[0]!)]);
  t.match(replay.out, /, identical\)/);
  t.match(replay.out, /verdict: VIOLATION of Linearizability/);
});

t.test('a user workload module drives the clients', async (t) => {
  const module = new URL('../../scripts/sim-workload-example.js', import.meta.url).pathname;
  const r = await sim(['--seed', '4', '--ops', '10', '--workload', module]);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /40 operations \(20 linearizable get, \d+ txn/);
  t.match(r.out, /verdict: ok/);
});

t.test('bad flags exit 2 and name the flag', async (t) => {
  t.equal((await sim(['--seed', 'x'])).code, 2);
  t.match((await sim(['--seed', '1', '--members', '4'])).err, /--members must be 1, 3 or 5/);
  t.match((await sim(['--seed', '1', '--fault', 'meteor=1'])).err, /unknown fault meteor/);
  t.match((await sim(['--seeds', '1', '--seed', '1'])).err, /exactly one of/);
  t.equal((await sim(['--help'])).code, 0);
});
